import { Button, MessageBar, MessageBarBody, Spinner, Text } from "@fluentui/react-components";
import { useEffect, useState } from "react";
import { ApiError } from "../api";
import type { MessageKey } from "../i18n";
import { readItemInfo } from "../office";
import { canRetry, revokeBody, rowColour, senderView, withOutcomes, type ReadItemInfo, type SenderView } from "../revoke";
import { usePane } from "./context";
import { describeError } from "./errors";
import { useStyles } from "./styles";

/** X6 and S5 in read mode: the delivery status of a sent item, revoking it and retrying a failed recall. */
export function Read() {
  const { api, mailbox, t } = usePane();
  const styles = useStyles();
  const [item, setItem] = useState<ReadItemInfo | null | undefined>(undefined);
  const [view, setView] = useState<SenderView | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [confirm, setConfirm] = useState(false);
  const [status, setStatus] = useState("");
  const envelopeId = item?.envelopeId ?? null;

  useEffect(() => { readItemInfo().then(setItem).catch(() => setItem(null)); }, []);
  useEffect(() => {
    if (!envelopeId) return;
    api.message(envelopeId).then((answer) => setView(senderView(answer))).catch((err) => {
      setError(err instanceof ApiError && err.status === 404 ? t("read.unavailable") : describeError(err, t));
    });
  }, [api, envelopeId]);

  async function revoke(retry: boolean) {
    setBusy(true); setError(null); setStatus(retry ? t("read.retrying") : "");
    try {
      setView(withOutcomes(view, await api.revoke(envelopeId!, revokeBody(item!, mailbox, retry))));
    } catch (err) {
      // Revoked before (another panel, another device): the answer carries the stored outcomes.
      if (err instanceof ApiError && err.code === "already_revoked") setView(withOutcomes(view, err.problem));
      else setError(describeError(err, t));
    } finally { setBusy(false); setConfirm(false); setStatus(""); }
  }

  if (item === undefined) return <Spinner size="small" />;
  if (!envelopeId) return <Text>{t("read.not_secure")}</Text>;
  const known = (key: string) => (t(key as MessageKey) === key ? null : t(key as MessageKey));
  const failed = view ? view.rows.filter((r) => r.outcome === "failed").length : 0;
  return (
    <section className={styles.section} aria-labelledby="h-read">
      <h2 id="h-read" className={styles.h2}>{t("read.title")}</h2>
      {error && <MessageBar intent="warning"><MessageBarBody>{error}</MessageBarBody></MessageBar>}
      {view && <>
        <h3 className={styles.h2}>{t("read.status")}</h3>
        <ul className={styles.list}>{view.rows.map((r) => {
          const colour = rowColour(r);
          return <li key={r.address} className={`${styles.card} ${styles[colour]}`} data-testid="delivery" data-colour={colour}
                     data-outcome={r.outcome ?? undefined}>
            <Text>{r.address}</Text>
            <Text className={styles.small}>{known(`status.${r.event}`) ?? r.event}</Text>
            {r.outcome && <Text className={styles.small}>
              {t("read.revoke_outcome", { outcome: known(`read.outcome.${r.outcome}`) ?? r.outcome })}</Text>}
          </li>;
        })}</ul>
        {view.revokedAt ? <>
            <Text>{t("read.revoked", { at: new Date(view.revokedAt).toLocaleString() })}</Text>
            {canRetry(view) && <div className={styles.section}>
              <MessageBar intent="error"><MessageBarBody>{t("read.retry_note", { n: failed })}</MessageBarBody></MessageBar>
              <div><Button disabled={busy} onClick={() => void revoke(true)}>{t("read.retry")}</Button></div>
            </div>}
          </>
          : confirm ? <div className={styles.row}>
              <Text>{t("read.revoke_confirm")}</Text>
              <Button appearance="primary" disabled={busy} onClick={() => void revoke(false)}>{t("read.revoke")}</Button>
              <Button onClick={() => setConfirm(false)}>{t("settings.cancel")}</Button>
            </div>
          : <div><Button onClick={() => setConfirm(true)}>{t("read.revoke")}</Button></div>}
      </>}
      <div aria-live="polite" role="status" className={styles.small}>{status}</div>
    </section>
  );
}
