import { Button, Field, Input, Select, Text } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { typedPhone } from "../draft";
import type { Country, VerdictRecipient } from "../types";
import { usePane } from "./context";
import { describeError } from "./errors";
import { useStyles } from "./styles";

/** P3: the default country follows the user's language. */
export const DEFAULT_REGION = { nl: "NL", en: "GB", de: "DE" } as const;

interface Props {
  recipient: VerdictRecipient; countries: Country[]; onSaved(): void;
  /** P1: the number typed and not saved (null: none), sent in the draft's phones. */
  onTyped(address: string, phone: string | null): void;
}

/** W2/P1: phone entry with a country picker, undo and save; the stored number pre-filled (V-R9). */
export function PhoneEntry({ recipient, countries, onSaved, onTyped }: Props) {
  const { api, language, t } = usePane();
  const styles = useStyles();
  const initial = recipient.stored_phone ?? "";
  const [value, setValue] = useState(initial);
  const [region, setRegion] = useState<string>(DEFAULT_REGION[language]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const id = `phone-${recipient.address.replace(/[^a-z0-9]/gi, "-")}`;
  useEffect(() => {
    onTyped(recipient.address, value.trim() === initial ? null : typedPhone(value, region, DEFAULT_REGION[language], countries));
  }, [value, region, initial, language, countries]);

  async function save() {
    setBusy(true); setError(null); setSaved(null);
    try {
      const stored = await api.putPhone(recipient.address, value.trim(), value.trim().startsWith("+") ? undefined : region);
      setValue(stored.phone);
      setSaved(t("phone.saved", { number: stored.national_format || stored.phone }));
      onSaved();
    } catch (err) {
      setError(describeError(err, t));
    } finally { setBusy(false); }
  }

  async function remove() {
    setBusy(true); setError(null); setSaved(null);
    try {
      await api.removePhone(recipient.address);
      setValue(""); onSaved();
    } catch (err) {
      setError(t("phone.remove_failed", { reason: describeError(err, t) }));  // the number is still stored
    } finally { setBusy(false); }
  }

  return (
    <div className={styles.section}>
      <div className={styles.section}>
        <Field label={t("phone.country")} className={styles.fill}>
          <Select className={styles.fill} value={region} onChange={(_, d) => setRegion(d.value)} id={`${id}-region`}>
            {countries.map((c) => <option key={c.region} value={c.region}>{c.name} (+{c.calling_code})</option>)}
            {!countries.some((c) => c.region === region) && <option value={region}>{region}</option>}
          </Select>
        </Field>
        <Field className={styles.fill} label={t("phone.label", { address: recipient.address })}
               required={recipient.phone_input === "required"}
               validationState={error ? "error" : saved ? "success" : "none"} validationMessage={error ?? saved ?? undefined}>
          <Input id={id} type="tel" inputMode="tel" autoComplete="off" value={value}
                 onChange={(_, d) => { setValue(d.value); setSaved(null); }} />
        </Field>
      </div>
      <div className={styles.row}>
        <Button appearance="primary" size="small" onClick={save} disabled={busy || !value.trim()}>{t("phone.save")}</Button>
        <Button size="small" onClick={() => { setValue(initial); setError(null); setSaved(null); }}
                disabled={busy || value === initial}>{t("phone.undo")}</Button>
        {recipient.stored_phone && <Button size="small" appearance="subtle" disabled={busy}
          onClick={() => void remove()}>
          {t("phone.remove")}</Button>}
      </div>
      {recipient.stored_phone && !saved && <Text className={styles.small}>{t("phone.stored", { number: recipient.stored_phone })}</Text>}
    </div>
  );
}
