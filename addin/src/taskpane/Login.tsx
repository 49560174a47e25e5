import { Button, Field, Input, MessageBar, MessageBarBody, Spinner, Text } from "@fluentui/react-components";
import { useEffect, useRef, useState } from "react";
import { ApiError } from "../api";
import { loginWithEntra } from "../login";
import { ENTRA_CLIENT_ID } from "../config";
import type { Session } from "../types";
import { usePane } from "./context";
import { describeError, waitInWords } from "./errors";
import { useStyles } from "./styles";

interface Props { onSession(session: Session): void; onStandardSend?: () => void }

/** A1 (e-mail code) and A2 (Entra, when the build has a client id and the tenant uses it). */
export function Login({ onSession, onStandardSend }: Props) {
  const { api, store, mailbox, t } = usePane();
  const styles = useStyles();
  const [challenge, setChallenge] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [failed, setFailed] = useState(false);
  const [entra, setEntra] = useState(Boolean(ENTRA_CLIENT_ID));
  const [attempt, setAttempt] = useState(0);
  const codeInput = useRef<HTMLInputElement>(null);

  useEffect(() => {
    if (!entra) return;
    let live = true;
    (async () => {
      const { entraAccessToken } = await import("../entra");
      const outcome = await loginWithEntra(api, mailbox, store.deviceId(), entraAccessToken);
      if (!live) return;
      if (outcome.kind === "session") onSession(outcome.session);
      else if (outcome.kind === "email_code") setEntra(false);
      else if (outcome.kind === "unavailable") {  // busy, not refused: no "standard sending" offer
        setError(t("login.unavailable", { wait: waitInWords(outcome.retryAfter ?? 30, t) }));
      }
      else { setError(t(outcome.kind === "mismatch" ? "login.account_mismatch" : "login.failed_standard")); setFailed(true); }
    })();
    return () => { live = false; };
  }, [entra, attempt]);

  useEffect(() => { if (challenge) codeInput.current?.focus(); }, [challenge]);  // keyboard users go on typing

  async function requestCode() {
    setBusy(true); setError(null);
    try {
      const answer = await api.requestCode(mailbox);
      setChallenge(answer.challenge_id);
      setCode("");
      setNotice(t("login.code_sent", { mailbox }));
    } catch (err) {
      setError(describeError(err, t)); setFailed(true);
    } finally { setBusy(false); }
  }

  async function verify(event: React.FormEvent) {
    event.preventDefault();
    if (!challenge) return;
    const digits = code.replace(/\s/g, "");
    if (!/^\d{6}$/.test(digits)) { setError(t("login.code_format")); return; }
    setBusy(true); setError(null);
    try {
      onSession(await api.verifyCode(challenge, digits, store.deviceId()));
    } catch (err) {
      setFailed(true);
      if (err instanceof ApiError && err.code === "invalid_code") {
        const left = err.attemptsLeft ?? 0;
        setError(left > 0 ? t("login.invalid_code", { n: left }) : t("login.invalid_code_none"));
      } else setError(describeError(err, t));
    } finally { setBusy(false); }
  }

  if (!mailbox) return <MessageBar intent="warning"><MessageBarBody>{t("login.no_mailbox")}</MessageBarBody></MessageBar>;
  return (
    <section className={styles.section} aria-labelledby="login-title">
      <h2 id="login-title" className={styles.h2}>{t("app.title")}</h2>
      {entra && !error && <Spinner size="small" label={t("login.entra_busy")} />}
      {!entra && !challenge && <>
        <Text>{t("login.intro", { mailbox })}</Text>
        <div><Button appearance="primary" onClick={requestCode} disabled={busy}>{t("login.send_code")}</Button></div>
      </>}
      {!entra && challenge && <form onSubmit={verify} className={styles.section} noValidate>
        {notice && <MessageBar intent="info"><MessageBarBody>{notice}</MessageBarBody></MessageBar>}
        <Field label={t("login.code_label")} validationMessage={error ?? undefined} validationState={error ? "error" : "none"}>
          <Input ref={codeInput} value={code} onChange={(_, d) => setCode(d.value)} inputMode="numeric"
                 autoComplete="one-time-code" maxLength={12} name="code" />
        </Field>
        <div className={styles.row}>
          <Button appearance="primary" type="submit" disabled={busy}>{t("login.submit")}</Button>
          <Button appearance="secondary" onClick={requestCode} disabled={busy}>{t("login.new_code")}</Button>
        </div>
      </form>}
      {error && (!challenge || entra) && <MessageBar intent="error"><MessageBarBody>{error}</MessageBarBody></MessageBar>}
      {entra && error && <div><Button onClick={() => { setError(null); setFailed(false); setAttempt((n) => n + 1); }}>{t("login.entra_retry")}</Button></div>}
      {failed && onStandardSend && <>
        <Text className={styles.small}>{t("login.failed_standard")}</Text>
        <div><Button onClick={onStandardSend}>{t("send.standard")}</Button></div>
      </>}
    </section>
  );
}
