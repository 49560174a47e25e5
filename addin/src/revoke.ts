// Read mode (X6, S5): the revoke request's body and the sender's view as the panel shows it, apart
// from the screen (unit-tested). API: docs/sending.md "Revoke, recall and the sender's view".
export type RecallOutcome = "recalled" | "not_found" | "failed" | "out_of_reach";
export const RECALL_OUTCOMES: RecallOutcome[] = ["recalled", "not_found", "failed", "out_of_reach"];

export interface RevokeBody { internet_message_id?: string; sender?: string; retry_failed?: boolean }
export interface RevokeAnswer { envelope_id: string; revoked_at: string; recipients: { address: string; outcome: RecallOutcome }[] }

/** What Office.js tells of the sent item in read mode. */
export interface ReadItemInfo { envelopeId: string | null; internetMessageId: string | null; from: string | null }

/** The revoke body: the Internet message id (so own-organisation copies can be found and recalled),
 *  the From mailbox when it is not the session's own (a shared mailbox, A4), retry_failed on a retry. */
export function revokeBody(item: ReadItemInfo, sessionMailbox: string, retry = false): RevokeBody {
  const body: RevokeBody = {};
  if (item.internetMessageId) body.internet_message_id = item.internetMessageId;
  const from = (item.from ?? "").trim();
  if (from && from.toLowerCase() !== sessionMailbox.trim().toLowerCase()) body.sender = from;
  if (retry) body.retry_failed = true;
  return body;
}

/** One recipient as shown: the gateway's latest event (X6) and the recall outcome, if revoked. */
export interface DeliveryRow { address: string; event: string; at: string | null; outcome: RecallOutcome | null }
export interface SenderView { revokedAt: string | null; rows: DeliveryRow[] }

type Json = Record<string, unknown>;

function outcomeOf(value: unknown): RecallOutcome | null {
  return typeof value === "string" && (RECALL_OUTCOMES as string[]).includes(value) ? value as RecallOutcome : null;
}

/** `GET /messages/{id}`: recipients with `status: {event, at} | null` and `recall: outcome | null`. */
export function senderView(answer: Json): SenderView {
  const rows = ((answer.recipients ?? []) as Json[]).map((r): DeliveryRow => {
    const status = r.status && typeof r.status === "object" ? r.status as Json : null;
    return { address: String(r.address ?? ""), event: status ? String(status.event) : "pending",
             at: status && typeof status.at === "string" ? status.at : null, outcome: outcomeOf(r.recall) };
  });
  return { revokedAt: typeof answer.revoked_at === "string" ? answer.revoked_at : null, rows };
}

/** A revoke's answer (200, or 409 `already_revoked`, which carries the same members) merged into the view. */
export function withOutcomes(view: SenderView | null, given: RevokeAnswer | Json): SenderView {
  const answer = given as Json;
  const outcomes = new Map(((answer.recipients ?? []) as Json[]).map((r) => [String(r.address).toLowerCase(), outcomeOf(r.outcome)]));
  const rows = view?.rows.length ? view.rows.map((r) => ({ ...r, outcome: outcomes.get(r.address.toLowerCase()) ?? r.outcome }))
    : [...outcomes].map(([address, outcome]) => ({ address, event: "pending", at: null, outcome }));
  const revokedAt = typeof answer.revoked_at === "string" ? answer.revoked_at : view?.revokedAt ?? null;
  return { revokedAt, rows };
}

/** Retry is offered when the message is revoked and any recall failed. */
export function canRetry(view: SenderView): boolean {
  return view.revokedAt !== null && view.rows.some((r) => r.outcome === "failed");
}

/** Green for delivered or opened, red for bounced or a failed recall, blue otherwise. */
export function rowColour(row: DeliveryRow): "green" | "red" | "blue" {
  if (row.event === "bounced" || row.outcome === "failed") return "red";
  return ["delivered", "relayed_nta7516", "opened"].includes(row.event) ? "green" : "blue";
}
