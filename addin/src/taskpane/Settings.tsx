import { Button, Field, Link, Radio, RadioGroup, Select, Text } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { ADDIN_VERSION } from "../config";
import { LANGUAGES, type MessageKey } from "../i18n";
import type { Info, Language, UserSettings } from "../types";
import { usePane } from "./context";
import { describeError } from "./errors";
import { useStyles } from "./styles";

const LANGUAGE_NAMES: Record<Language, string> = { nl: "Nederlands", en: "English", de: "Deutsch" };

/** W3/U1-U3: language, send delay, information with versions and the manual's links. */
export function Settings({ settings, onClose }: { settings: UserSettings; onClose(saved?: UserSettings): void }) {
  const { api, t, logout } = usePane();
  const styles = useStyles();
  const [language, setLanguage] = useState<Language>(settings.language);
  const [delay, setDelay] = useState<string>(String(settings.send_delay_seconds));
  const [info, setInfo] = useState<Info | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => { api.info().then(setInfo).catch(() => setInfo(null)); }, [api]);

  async function save() {
    try {
      onClose(await api.putSettings({ language, send_delay_seconds: Number(delay) as 0 | 5 | 10 }));
    } catch (err) { setError(describeError(err, t)); }
  }

  return (
    <section className={styles.section} aria-labelledby="h-settings">
      <h2 id="h-settings" className={styles.h2}>{t("settings.title")}</h2>
      <Field label={t("settings.language")}>
        <Select value={language} onChange={(_, d) => setLanguage(d.value as Language)}>
          {LANGUAGES.map((l) => <option key={l} value={l} lang={l}>{LANGUAGE_NAMES[l]}</option>)}
        </Select>
      </Field>
      <Field label={t("settings.delay")}>
        <RadioGroup value={delay} onChange={(_, d) => setDelay(d.value)}>
          {["0", "5", "10"].map((v) => <Radio key={v} value={v} label={t(`settings.delay.${v}` as MessageKey)} />)}
        </RadioGroup>
      </Field>
      {error && <Text role="alert">{error}</Text>}
      <div className={styles.row}>
        <Button appearance="primary" onClick={save}>{t("settings.save")}</Button>
        <Button onClick={() => onClose()}>{t("settings.cancel")}</Button>
      </div>
      <h2 className={styles.h2}>{t("settings.info")}</h2>
      <dl className={styles.small} style={{ margin: 0 }}>
        <dt>{t("settings.addin_version")}</dt><dd>{ADDIN_VERSION}</dd>
        {info && <>
          <dt>{t("settings.backend_version")}</dt><dd>{info.version}</dd>
          <dt>{t("settings.book_variant")}</dt><dd>{info.domain_book_variant}</dd>
          <dt>{t("settings.installation_type")}</dt><dd>{t(`installation.${info.installation_type}` as MessageKey)}</dd>
          <dt>{t("settings.login_method")}</dt><dd>{t(`login_method.${info.login_method}` as MessageKey)}</dd>
        </>}
      </dl>
      {info && <div className={styles.row}>
        <Link href={info.manual_url} target="_blank" rel="noopener">{t("settings.manual")}</Link>
        <Link href={info.release_notes_url} target="_blank" rel="noopener">{t("settings.release_notes")}</Link>
      </div>}
      <div><Button appearance="subtle" onClick={logout}>{t("settings.logout")}</Button></div>
    </section>
  );
}
