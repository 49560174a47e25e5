// The on-send decision (V-O4, S2) and the precomputation that keeps it warm. Kept free of React
// and Fluent: it is bundled into the small handler Outlook loads on Send.
import { Api, ApiError } from "./api";
import { fingerprint, mainReason } from "./draft";
import { translate } from "./i18n";
import { decided, draftBody, messageId, newMessageId, readDraft, stampHeaders } from "./office";
import type { Store } from "./store";
import type { Language } from "./types";

/** The task pane button's id in the manifest: Smart Alerts opens it from the dialog. */
export const TASKPANE_COMMAND_ID = "msgComposeOpenPaneButton";
/** The on-send handler's time limit for one call to the back end (V-O4: Outlook shows "taking longer
 *  than expected" after 5 s, add-in loading included): then it blocks with `onsend.unavailable`. */
export const ONSEND_TIMEOUT_MS = 3_000;

export interface Outcome {
  allowEvent: boolean;
  errorMessage?: string;
  cancelLabel?: string;
  commandId?: string;
  /** How it was decided: from the panel's own send, the precomputed cache, the server, or without a session. */
  source: "panel" | "cache" | "server" | "no_session" | "error";
}

export interface Context {
  item: Office.MessageCompose;
  store: Store;
  mailbox: string;
  language: Language;
  api?: Api;
}

function apiFor(context: Context): Api | null {
  const session = context.store.session(context.mailbox);
  if (!session) return null;
  const api = context.api ?? new Api();
  api.token = session.token;
  api.language = context.language;
  api.timeoutMs = ONSEND_TIMEOUT_MS;
  return api;
}

function blocked(context: Context, message: string, source: Outcome["source"]): Outcome {
  return { allowEvent: false, errorMessage: message.slice(0, 500), cancelLabel: translate(context.language, "onsend.open"),
           commandId: TASKPANE_COMMAND_ID, source };
}

/** OnNewMessageCompose / OnMessageRecipientsChanged / OnMessageAttachmentsChanged: ask the
 * back end now (no message id: nothing is created) and keep the decision for the Send. */
export async function precompute(context: Context): Promise<void> {
  const api = apiFor(context);
  if (!api) return;
  const draft = draftBody(await readDraft(context.item));
  if (!draft.to.length && !draft.cc.length && !draft.bcc.length) return;
  try {
    const answer = await api.onSend(draft);
    context.store.saveDecision({ fingerprint: fingerprint(draft), action: answer.action, reasons: answer.reasons,
                                 message: mainReason(answer.verdict) ?? "" });
  } catch {
    // A failed precomputation only means the Send asks the back end itself.
  }
}

/** OnMessageSend: allow (stamping the envelope's headers for a secure send) or block with the reason. */
export async function decide(context: Context): Promise<Outcome> {
  const draft = draftBody(await readDraft(context.item));
  const print = fingerprint(draft);
  if ((await decided(context.item)) === print) return { allowEvent: true, source: "panel" };
  const api = apiFor(context);
  if (!api) return blocked(context, translate(context.language, "onsend.login"), "no_session");
  const cached = context.store.decision(print);
  if (cached?.action === "intercept") {
    return blocked(context, cached.message || translate(context.language, "onsend.intercept"), "cache");
  }
  if (cached?.action === "allow" && cached.reasons.includes("security_by_default_off")) {
    return { allowEvent: true, source: "cache" };  // standard sending: no envelope to stamp
  }
  try {
    let answer;
    try {
      answer = await api.onSend(draft, await messageId(context.item));
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "message_id_conflict")) throw error;
      // The item's id went with another draft whose envelope never left ("Niet verzenden" in
      // Outlook's dialog, then an edit): a new id for the item, once.
      answer = await api.onSend(draft, await newMessageId(context.item));
    }
    if (answer.action === "allow") {
      if (answer.envelope) await stampHeaders(context.item, answer.envelope.headers);
      return { allowEvent: true, source: "server" };
    }
    context.store.saveDecision({ fingerprint: print, action: answer.action, reasons: answer.reasons,
                                 message: mainReason(answer.verdict) ?? "" });
    return blocked(context, mainReason(answer.verdict) ?? translate(context.language, "onsend.intercept"), "server");
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      context.store.forgetSession(context.mailbox);
      return blocked(context, translate(context.language, "onsend.login"), "no_session");
    }
    if (error instanceof ApiError && error.code === "message_revoked") {
      return blocked(context, translate(context.language, "onsend.revoked"), "server");
    }
    return blocked(context, translate(context.language, "onsend.unavailable"), "error");
  }
}
