import { Badge, Button, Checkbox, MessageBar, MessageBarBody, Spinner, Text } from "@fluentui/react-components";
import { useCallback, useEffect, useRef, useState } from "react";
import { ApiError } from "../api";
import { attachmentsNeedAction, colourOf, findingsFor, fingerprint, formatSize, generalFindings, hasBlocking,
         phonesForSend, recipientGroups, type RecipientRow } from "../draft";
import type { MessageKey } from "../i18n";
import { composeItem, draftBody, markDecided, messageId, newMessageId, onItemChange, readDraft, removeAttachment,
         sendItem, stampHeaders } from "../office";
import type { Colour, Country, Draft, Envelope, Finding, UserSettings, Verdict } from "../types";
import { usePane } from "./context";
import { describeError } from "./errors";
import { PhoneEntry } from "./Phone";
import { useStyles } from "./styles";

type Phase = { kind: "idle" } | { kind: "countdown"; left: number } | { kind: "sending" } | { kind: "sent"; secure: boolean };

/** Numbers measured in the browser tests and bench/addin.py. */
export const metrics: { firstVerdictMs?: number } = ((globalThis as Record<string, unknown>).__sendsecureMetrics ??= {}) as never;

function ColourBadge({ colour }: { colour: Colour }) {
  const { t } = usePane();
  const appearance = { red: "danger", blue: "brand", green: "success" } as const;
  return <Badge appearance="filled" color={appearance[colour]}>{t(`verdict.colour.${colour}` as MessageKey)}</Badge>;
}

function FindingList({ findings }: { findings: Finding[] }) {
  const styles = useStyles();
  const shown = findings.filter((f) => f.severity !== "ok");
  if (!shown.length) return null;
  return <ul className={styles.list}>{shown.map((f, i) =>
    <li key={i}><Text size={200}>{f.message}</Text></li>)}</ul>;
}

export function Compose({ settings }: { settings: UserSettings }) {
  const { api, language, t } = usePane();
  const styles = useStyles();
  const item = composeItem()!;
  const [verdict, setVerdict] = useState<Verdict | null>(null);
  const [draft, setDraft] = useState<Draft | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [refreshFailed, setRefreshFailed] = useState(false);  // the verdict could not be fetched: "Opnieuw proberen"
  const [countries, setCountries] = useState<Country[]>([]);
  const [showValidated, setShowValidated] = useState(false);
  const [showAbout, setShowAbout] = useState(true);
  const [showAttachments, setShowAttachments] = useState<boolean | null>(null);
  const [confirmEmpty, setConfirmEmpty] = useState(false);
  const [phase, setPhase] = useState<Phase>({ kind: "idle" });
  const [status, setStatus] = useState<string>("");
  const generation = useRef(0);
  const timer = useRef<ReturnType<typeof setInterval> | null>(null);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const typed = useRef<Record<string, string>>({});  // P1: numbers typed, not saved (address -> number)
  const typedTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const retryTimer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const retriedAutomatically = useRef(false);  // a 503 is retried once by itself, after its Retry-After
  const counting = phase.kind === "countdown";
  useEffect(() => { if (counting) cancelButton.current?.focus(); }, [counting]);

  /** The verdict asked again; `keepError` keeps a send's error on screen (it explains the new verdict). */
  const refresh = useCallback(async (keepError = false) => {
    const mine = ++generation.current;
    try {
      const read = await readDraft(item, { ...typed.current });  // the verdict judges typed numbers too
      forgetRemoved(read);
      const answer = await api.validate(draftBody(read));
      if (mine !== generation.current) return;
      setDraft(read); setVerdict(answer); setRefreshFailed(false);
      if (!keepError) setError(null);
      retriedAutomatically.current = false;
      metrics.firstVerdictMs ??= performance.now();
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;  // Api.onUnauthenticated: the login screen (A3)
      if (mine !== generation.current) return;
      setError(describeError(err, t)); setRefreshFailed(true);
      if (err instanceof ApiError && err.status === 503 && !retriedAutomatically.current) {
        retriedAutomatically.current = true;
        if (retryTimer.current) clearTimeout(retryTimer.current);
        retryTimer.current = setTimeout(() => { retryTimer.current = null; void latest.current(); },
                                        (err.retryAfter ?? 5) * 1000);
      }
    }
  }, [api, item, t]);
  const latest = useRef(refresh);
  latest.current = refresh;

  useEffect(() => { void refresh(); }, [refresh]);
  useEffect(() => {
    // Registered once; each change runs the newest refresh (language or session may have changed).
    onItemChange(() => void latest.current());
    const onFocus = () => void latest.current();  // the subject has no change event: look again on return
    window.addEventListener("focus", onFocus);
    return () => window.removeEventListener("focus", onFocus);
  }, []);
  useEffect(() => { api.countries(language).then(setCountries).catch(() => setCountries([])); }, [api, language]);
  useEffect(() => () => {
    if (timer.current) clearInterval(timer.current);
    if (typedTimer.current) clearTimeout(typedTimer.current);
    if (retryTimer.current) clearTimeout(retryTimer.current);
  }, []);

  function retry() {
    if (retryTimer.current) clearTimeout(retryTimer.current);
    retryTimer.current = null;
    setError(null); setRefreshFailed(false);
    void refresh();
  }

  /** Numbers typed for recipients no longer in the draft are dropped (never sent, never stored). */
  function forgetRemoved(read: { to: { address: string }[]; cc: { address: string }[]; bcc: { address: string }[] }) {
    const listed = new Set([...read.to, ...read.cc, ...read.bcc].map((r) => r.address.toLowerCase()));
    if (Object.keys(typed.current).every((key) => listed.has(key))) return;
    typed.current = Object.fromEntries(Object.entries(typed.current).filter(([key]) => listed.has(key)));
  }

  /** A number typed or changed: the verdict is asked again after a short pause (it stores nothing). */
  function onTyped(address: string, phone: string | null) {
    const key = address.toLowerCase();
    if ((typed.current[key] ?? null) === phone) return;
    const next = { ...typed.current };
    if (phone === null) delete next[key]; else next[key] = phone;
    typed.current = next;
    if (typedTimer.current) clearTimeout(typedTimer.current);
    typedTimer.current = setTimeout(() => { typedTimer.current = null; void latest.current(); }, 400);
  }

  async function sendSecure() {
    setPhase({ kind: "sending" }); setStatus(t("send.sending"));
    try {
      // P1: typed numbers the verdict accepted go with the send (the server stores them); the
      // decided mark is the draft as the on-send handler reads it (it has no typed numbers).
      const read = await readDraft(item);
      const body = draftBody(read);
      const phones = verdict ? phonesForSend(typed.current, verdict) : {};
      const payload = { ...body, phones };
      let envelope: Envelope;
      try {
        envelope = await api.send(await messageId(item), payload, confirmEmpty);
      } catch (err) {
        if (!(err instanceof ApiError && err.code === "message_id_conflict")) throw err;
        // The item's id went with another draft whose envelope never left (its send was stopped,
        // then the draft changed): a new id, once; a second conflict is shown.
        envelope = await api.send(await newMessageId(item), payload, confirmEmpty);
      }
      await stampHeaders(item, envelope.headers);
      await markDecided(item, fingerprint(body));
      setPhase({ kind: "sent", secure: true }); setStatus(t("send.sent"));
      await sendItem(item);
    } catch (err) {
      setPhase({ kind: "idle" });
      if (err instanceof ApiError && err.status === 401) return;  // Api.onUnauthenticated: the login screen (A3)
      if (err instanceof ApiError && err.status === 422 && err.problem.verdict) setVerdict(err.problem.verdict as Verdict);
      // The subject was emptied after the last verdict (no change event): ask again, so the
      // "send without subject" box (V-M1) appears.
      if (err instanceof ApiError && err.code === "subject_confirmation_required") void refresh(true);
      setError(describeError(err, t)); setStatus("");
    }
  }

  function startSecure() {
    const delay = settings.send_delay_seconds;
    if (!delay) { void sendSecure(); return; }
    let left = delay;
    setPhase({ kind: "countdown", left }); setStatus("");  // the timer shows it; focus goes to Annuleren
    timer.current = setInterval(() => {
      left -= 1;
      if (left > 0) { setPhase({ kind: "countdown", left }); return; }
      clearInterval(timer.current!); timer.current = null;
      void sendSecure();
    }, 1000);
  }

  function cancelCountdown() {
    if (timer.current) clearInterval(timer.current);
    timer.current = null;
    setPhase({ kind: "idle" }); setStatus(t("send.cancelled"));
  }

  async function sendStandard() {
    try {
      const body = draftBody(await readDraft(item));
      await markDecided(item, fingerprint(body));
      setPhase({ kind: "sent", secure: false }); setStatus(t("send.sent_standard"));
      await sendItem(item);
    } catch (err) { setError(describeError(err, t)); }
  }

  const live = <div aria-live="polite" role="status" className={styles.small}>{status}</div>;
  const retryButton = refreshFailed &&
    <div><Button onClick={retry} disabled={phase.kind !== "idle"}>{t("common.retry")}</Button></div>;
  if (!verdict || !draft) {
    if (!error) return <><Spinner size="small" label={t("verdict.loading")} />{live}</>;
    // No verdict: the error, "Opnieuw proberen", and both send buttons in their place, disabled.
    return <>
      <MessageBar intent="error"><MessageBarBody>{error}</MessageBarBody></MessageBar>
      {retryButton}
      <div className={styles.footer}>
        <Button appearance="primary" disabled>{t("send.secure")}</Button>
        <Button disabled>{t("send.standard")}</Button>
      </div>
      {live}
    </>;
  }

  const groups = recipientGroups(verdict);
  const senderFindings = findingsFor(verdict, "sender");
  const general = generalFindings(verdict);
  const attachmentAction = attachmentsNeedAction(verdict);
  const attachmentsOpen = showAttachments ?? attachmentAction;
  const needsSubjectConfirm = verdict.findings.some((f) => f.rule === "V-M1");
  const blocking = hasBlocking(verdict);
  const canSecure = verdict.can_send_secure && !blocking && (!needsSubjectConfirm || confirmEmpty) && verdict.recipients.length > 0;
  const busy = phase.kind !== "idle";

  // Each card (and its phone field's state) belongs to its recipient, not to a position: removing
  // one recipient must not hand its typed number to the next (P1, W2).
  const seen = new Map<string, number>();
  const recipientCard = (row: RecipientRow) => {
    const r = row.recipient;
    const base = `${r.field}:${r.address.toLowerCase()}`;
    const repeat = seen.get(base) ?? 0;
    seen.set(base, repeat + 1);
    return (
      <li key={repeat ? `${base}#${repeat}` : base} className={`${styles.card} ${styles[row.colour]}`} data-testid="recipient" data-colour={row.colour}>
        <div className={styles.row} style={{ justifyContent: "space-between" }}>
          <Text weight="semibold">{r.address}</Text><ColourBadge colour={row.colour} />
        </div>
        <Text className={styles.small}>
          {t(`verdict.route.${r.route}` as MessageKey)}{r.access_code ? `, ${t(`verdict.code.${r.access_code}` as MessageKey)}` : ""}
          {r.nta7516 === null ? "" : ` · ${t(r.nta7516 ? "verdict.nta_yes" : "verdict.nta_no")}`}
        </Text>
        <FindingList findings={row.findings} />
        {r.phone_input !== "none" && <PhoneEntry recipient={r} countries={countries} onSaved={() => void refresh()}
                                                onTyped={onTyped} />}
      </li>
    );
  };

  return (
    <>
      {verdict.installation_type && <section className={`${styles.card} ${styles.blue}`} aria-labelledby="h-about">
        <div className={styles.row} style={{ justifyContent: "space-between", alignItems: "center" }}>
          <h2 id="h-about" className={styles.h2}>
            {t("about.title", { type: t(`installation.${verdict.installation_type}` as MessageKey) })}</h2>
          <Button size="small" appearance="subtle" aria-expanded={showAbout} onClick={() => setShowAbout(!showAbout)}>
            {t(showAbout ? "about.hide" : "about.show")}</Button>
        </div>
        {showAbout && <Text size={200}>{t(`about.${verdict.installation_type}` as MessageKey)}</Text>}
      </section>}
      <div className={styles.section}>
        {!verdict.domain_book.available && !verdict.findings.some((f) => f.code === "domain_book_unavailable") &&
          <MessageBar intent="warning"><MessageBarBody>{t("verdict.no_book")}</MessageBarBody></MessageBar>}
        {error && <MessageBar intent="error"><MessageBarBody>{error}</MessageBarBody></MessageBar>}
        {retryButton}
        {general.filter((f) => f.severity !== "ok").map((f, i) =>
          <MessageBar key={i} intent={f.severity === "blocking" ? "error" : f.severity === "warning" ? "warning" : "info"}>
            <MessageBarBody>{f.message}</MessageBarBody></MessageBar>)}
        {verdict.auto_send && <Text className={styles.small}>{t("verdict.auto_send")}</Text>}
        {!verdict.recipients.length && <Text>{t("verdict.no_recipients")}</Text>}
      </div>

      {groups.action.length > 0 && <section className={styles.section} aria-labelledby="h-actions">
        <h2 id="h-actions" className={styles.h2}>{t("verdict.actions")}</h2>
        <ul className={styles.list}>{groups.action.map(recipientCard)}</ul>
      </section>}

      <section className={`${styles.card} ${styles[colourOf(senderFindings)]}`} aria-labelledby="h-sender" data-testid="sender">
        <h2 id="h-sender" className={styles.h2}>{t("verdict.sender")}</h2>
        <div className={styles.row} style={{ justifyContent: "space-between" }}>
          <Text>{verdict.sender.address}</Text><ColourBadge colour={colourOf(senderFindings)} />
        </div>
        {verdict.sender.nta7516 !== null && <Text className={styles.small}>{t(verdict.sender.nta7516 ? "verdict.nta_yes" : "verdict.nta_no")}</Text>}
        <FindingList findings={senderFindings} />
      </section>

      {groups.validated.length > 0 && <section className={styles.section}>
        <Button appearance="transparent" className={styles.toggle} aria-expanded={showValidated}
                onClick={() => setShowValidated(!showValidated)}>
          {t(showValidated ? "verdict.hide_validated" : "verdict.show_validated", { n: groups.validated.length })}
        </Button>
        {showValidated && <ul className={styles.list}>{groups.validated.map(recipientCard)}</ul>}
      </section>}

      {verdict.attachments.count > 0 && <section className={styles.section}>
        <Button appearance="transparent" className={styles.toggle} aria-expanded={attachmentsOpen}
                onClick={() => setShowAttachments(!attachmentsOpen)}
                style={attachmentAction ? { color: "#a4262c" } : undefined}>
          {t(attachmentsOpen ? "verdict.hide_attachments" : "verdict.show_attachments", { n: verdict.attachments.count })}
        </Button>
        {attachmentsOpen && <>
          <Text className={styles.small}>{formatSize(verdict.attachments.total_size)} / {formatSize(verdict.attachments.limit)}</Text>
          <ul className={styles.list}>{verdict.attachments.items.map((a, i) => {
            const findings = findingsFor(verdict, `attachments/${i}`);
            const colour = colourOf(findings, a.blocked ? "red" : "green");
            const outlookId = draft.attachments[i]?.id;
            return <li key={i} className={`${styles.card} ${styles[colour]}`} data-testid="attachment" data-colour={colour}>
              <div className={styles.row} style={{ justifyContent: "space-between" }}>
                <Text>{a.name} ({formatSize(a.size)})</Text>
                {outlookId && <Button size="small" appearance="subtle" aria-label={t("verdict.remove_attachment", { name: a.name })}
                  onClick={async () => { await removeAttachment(item, outlookId).catch(() => undefined); void refresh(); }}>✕</Button>}
              </div>
              <FindingList findings={findings} />
            </li>;
          })}</ul>
        </>}
      </section>}

      {needsSubjectConfirm && <Checkbox checked={confirmEmpty} onChange={(_, d) => setConfirmEmpty(Boolean(d.checked))}
                                        label={t("verdict.confirm_subject")} />}

      <div className={styles.footer}>
        {phase.kind === "countdown"
          ? <>
              <Text role="timer" aria-live="off">{t("send.countdown", { n: phase.left })}</Text>
              <Button appearance="primary" onClick={cancelCountdown} ref={cancelButton}>{t("send.cancel")}</Button>
            </>
          : <>
              <Button appearance="primary" disabled={!canSecure || busy} onClick={startSecure}>{t("send.secure")}</Button>
              {verdict.standard_send_offered &&
                <Button disabled={busy} onClick={() => void sendStandard()}>{t("send.standard")}</Button>}
            </>}
        {live}
      </div>
    </>
  );
}
