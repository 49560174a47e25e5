import { Button, MessageBar, MessageBarBody, Spinner, Text } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { ApiError } from "../api";
import type { MessageKey } from "../i18n";
import { envelopeIdOfReadItem } from "../office";
import { usePane } from "./context";
import { describeError } from "./errors";
import { useStyles } from "./styles";

interface RecipientStatus { address: string; status?: string; events?: { event: string; at: string }[]; outcome?: string }

/** X6 and S5 in read mode: the delivery status of a sent item and revoking it. */
export function Read() {
  const { api, t } = usePane();
  const styles = useStyles();
  const [envelopeId, setEnvelopeId] = useState<string | null | undefined>(undefined);
  const [view, setView] = useState<Record<string, unknown> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);

  useEffect(() => { envelopeIdOfReadItem().then(setEnvelopeId).catch(() => setEnvelopeId(null)); }, []);
  useEffect(() => {
    if (!envelopeId) return;
    api.message(envelopeId).then(setView).catch((err) => {
      setError(err instanceof ApiError && err.status === 404 ? t("read.unavailable") : describeError(err, t));
    });
  }, [api, envelopeId]);

  async function revoke() {
    setBusy(true);
    try {
      const answer = await api.revoke(envelopeId!);
      const outcomes = new Map(answer.recipients.map((r) => [r.address.toLowerCase(), r.outcome]));
      const shown = ((view?.recipients ?? []) as RecipientStatus[]).map((r) => ({ ...r, outcome: outcomes.get(r.address.toLowerCase()) }));
      setView({ ...(view ?? {}), revoked_at: answer.revoked_at, recipients: shown.length ? shown : answer.recipients });
    } catch (err) { setError(describeError(err, t)); } finally { setBusy(false); setConfirm(false); }
  }

  if (envelopeId === undefined) return <Spinner size="small" />;
  if (envelopeId === null) return <Text>{t("read.not_secure")}</Text>;
  const recipients = (view?.recipients ?? []) as RecipientStatus[];
  const revokedAt = (view?.revoked_at ?? (view?.revoke as { revoked_at?: string } | undefined)?.revoked_at) as string | undefined;
  return (
    <section className={styles.section} aria-labelledby="h-read">
      <h2 id="h-read" className={styles.h2}>{t("read.title")}</h2>
      {error && <MessageBar intent="warning"><MessageBarBody>{error}</MessageBarBody></MessageBar>}
      {view && <>
        <h3 className={styles.h2}>{t("read.status")}</h3>
        <ul className={styles.list}>{recipients.map((r) => {
          const last = r.events?.length ? r.events[r.events.length - 1].event : undefined;
          const status = r.status ?? last ?? "pending";
          const known = (key: string) => (t(key as MessageKey) === key ? null : t(key as MessageKey));
          const colour = status === "bounced" || r.outcome === "failed" ? "red"
            : ["delivered", "relayed_nta7516", "opened"].includes(status) ? "green" : "blue";
          return <li key={r.address} className={`${styles.card} ${styles[colour]}`} data-testid="delivery" data-colour={colour}>
            <Text>{r.address}</Text>
            <Text className={styles.small}>{known(`status.${status}`) ?? status}</Text>
            {r.outcome && <Text className={styles.small}>
              {t("read.revoke_outcome", { outcome: known(`read.outcome.${r.outcome}`) ?? r.outcome })}</Text>}
          </li>;
        })}</ul>
        {revokedAt ? <Text>{t("read.revoked", { at: new Date(revokedAt).toLocaleString() })}</Text>
          : confirm ? <div className={styles.row}>
              <Text>{t("read.revoke_confirm")}</Text>
              <Button appearance="primary" disabled={busy} onClick={revoke}>{t("read.revoke")}</Button>
              <Button onClick={() => setConfirm(false)}>{t("settings.cancel")}</Button>
            </div>
          : <div><Button onClick={() => setConfirm(true)}>{t("read.revoke")}</Button></div>}
      </>}
    </section>
  );
}
