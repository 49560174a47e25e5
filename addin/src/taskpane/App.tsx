import { Button, FluentProvider, webLightTheme } from "@fluentui/react-components";
import { useEffect, useMemo, useState } from "react";
import { Api } from "../api";
import { pickLanguage, translator } from "../i18n";
import { composeItem, draftBody, markDecided, readDraft, sendItem, userMailbox } from "../office";
import { fingerprint } from "../draft";
import { Store } from "../store";
import type { Language, Session, UserSettings } from "../types";
import { Compose } from "./Compose";
import { Pane, type PaneContext } from "./context";
import { Login } from "./Login";
import { Read } from "./Read";
import { Settings } from "./Settings";
import { useStyles } from "./styles";

export function App() {
  const store = useMemo(() => new Store(), []);
  const mailbox = useMemo(() => userMailbox(), []);
  const [language, setLanguage] = useState<Language>(() => pickLanguage(store.language(),
    typeof Office !== "undefined" ? Office.context?.displayLanguage : null, navigator.language));
  const [token, setToken] = useState<string | null>(() => store.session(mailbox)?.token ?? null);
  const [settings, setSettings] = useState<UserSettings | null>(null);
  const [screen, setScreen] = useState<"main" | "settings">("main");
  const api = useMemo(() => {
    const client = new Api(token, undefined, undefined, language);
    client.onUnauthenticated = sessionEnded;  // any 401 on any call: back to the login screen (A3)
    return client;
  }, [token, language]);
  const t = useMemo(() => translator(language), [language]);
  const styles = useStyles();
  const compose = composeItem() !== null;

  function changeLanguage(next: Language) { store.saveLanguage(next); setLanguage(next); }
  /** The session is gone (a 401, A3): forget it and show the login screen (no DELETE: nothing to end). */
  function sessionEnded() {
    store.forgetSession(mailbox); setToken(null); setSettings(null); setScreen("main");
  }
  function logout() {
    void api.logout().catch(() => undefined);
    sessionEnded();
  }
  function onSession(session: Session) {
    store.saveSession(mailbox, { token: session.session_token, mailbox: session.mailbox, expiresAt: session.expires_at,
                                 loginMethod: session.login_method });
    setToken(session.session_token);
  }
  async function standardSend() {
    const item = composeItem();
    if (!item) return;
    await markDecided(item, fingerprint(draftBody(await readDraft(item))));
    await sendItem(item);
  }

  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  useEffect(() => {
    if (!token) return;
    api.settings().then((s) => {
      store.saveSendDelay(mailbox, s.send_delay_seconds);
      setSettings(s); if (s.language !== language) changeLanguage(s.language);
    }).catch((err) => {  // 401: sessionEnded; otherwise the last known delay, never silently none (S7)
      if (err?.status !== 401) setSettings({ language, send_delay_seconds: store.sendDelay(mailbox) ?? 0 });
    });
  }, [token]);

  const context: PaneContext = { api, store, mailbox, language, t, setLanguage: changeLanguage, logout };
  let body;
  if (!token) body = <Login onSession={onSession} onStandardSend={compose ? () => void standardSend() : undefined} />;
  else if (!settings) body = null;
  else if (screen === "settings") body = <Settings settings={settings} onClose={(saved) => {
    if (saved) { store.saveSendDelay(mailbox, saved.send_delay_seconds); setSettings(saved); changeLanguage(saved.language); }
    setScreen("main");
  }} />;
  else body = compose ? <Compose settings={settings} /> : <Read />;

  return (
    <FluentProvider theme={webLightTheme}>
      <Pane.Provider value={context}>
        <div className={styles.root}>
          <header className={styles.header}>
            <h1 className={styles.headerTitle}>{t("app.title")}</h1>
            {token && screen === "main" && <Button appearance="transparent" aria-label={t("settings.open")}
              style={{ color: "inherit", minWidth: 0 }} onClick={() => setScreen("settings")}>⚙</Button>}
          </header>
          <main className={styles.main}>{body}</main>
        </div>
      </Pane.Provider>
    </FluentProvider>
  );
}
