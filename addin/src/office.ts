// The Outlook side: the compose item read as the API's draft, the message id kept on the item
// (a custom property, so a retry after a reload reuses it: S4), the envelope's internet headers,
// the "already decided" mark for the send the panel starts, and sending.
import type { ReadItemInfo } from "./revoke";
import type { Draft, DraftRecipient, RecipientType } from "./types";

export const MESSAGE_ID_PROPERTY = "sendsecure_message_id";
/** sessionData key: the fingerprint of a draft the panel has sent (securely or by standard sending). */
export const DECIDED_KEY = "sendsecure_decided";

type Item = Office.MessageCompose;

function call<T>(start: (done: (result: Office.AsyncResult<T>) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    start((result) => {
      if (result.status === Office.AsyncResultStatus.Succeeded) resolve(result.value);
      else reject(new Error(result.error?.message ?? "Office call failed"));
    });
  });
}

export function composeItem(): Item | null {
  const item = Office.context?.mailbox?.item as unknown as Item | undefined;
  return item && typeof (item as Item).to?.getAsync === "function" ? item : null;
}

export function userMailbox(): string {
  return Office.context?.mailbox?.userProfile?.emailAddress ?? "";
}

function recipients(list: Office.EmailAddressDetails[]): DraftRecipient[] {
  return list.map((r) => ({ address: r.emailAddress, name: r.displayName || undefined,
                            type: (r.recipientType || "other") as RecipientType }));
}

/** The draft as API.md describes it; `from` only when Outlook tells it (shared mailboxes, A4). */
export async function readDraft(item: Item, phones: Record<string, string> = {}): Promise<Draft> {
  const [to, cc, bcc, subject, attachments, from] = await Promise.all([
    call<Office.EmailAddressDetails[]>((d) => item.to.getAsync(d)),
    call<Office.EmailAddressDetails[]>((d) => item.cc.getAsync(d)),
    call<Office.EmailAddressDetails[]>((d) => item.bcc.getAsync(d)),
    call<string>((d) => item.subject.getAsync(d)),
    typeof item.getAttachmentsAsync === "function"
      ? call<Office.AttachmentDetailsCompose[]>((d) => item.getAttachmentsAsync(d)) : Promise.resolve([]),
    item.from && typeof item.from.getAsync === "function"
      ? call<Office.EmailAddressDetails>((d) => item.from.getAsync(d)).catch(() => null) : Promise.resolve(null),
  ]);
  const [toList, ccList, bccList] = [recipients(to), recipients(cc), recipients(bcc)];
  // Typed numbers go only with recipients still in the draft (P1: a removed one's is not stored).
  const listed = new Set([...toList, ...ccList, ...bccList].map((r) => r.address.toLowerCase()));
  const draft: Draft = {
    to: toList, cc: ccList, bcc: bccList, subject: subject ?? "",
    attachments: attachments.map((a) => ({ id: a.id, name: a.name, size: a.size, inline: Boolean(a.isInline) })),
    phones: Object.fromEntries(Object.entries(phones).filter(([address]) => listed.has(address.toLowerCase()))),
  };
  if (from?.emailAddress) draft.from = from.emailAddress;
  return draft;
}

/** The API's draft body: attachment ids are Outlook's, not the API's. */
export function draftBody(draft: Draft): Draft {
  return { ...draft, attachments: draft.attachments.map(({ name, size, inline }) => ({ name, size, inline })) };
}

/** The message id of this item: made once and kept on the item (S4: a retry reuses it). */
export async function messageId(item: Item): Promise<string> {
  const props = await call<Office.CustomProperties>((d) => item.loadCustomPropertiesAsync(d));
  const existing = props.get(MESSAGE_ID_PROPERTY);
  if (typeof existing === "string" && existing) return existing;
  return storeNewId(props);
}

/** A new message id for this item, kept in place of the old one: only after a 409
 *  `message_id_conflict`, i.e. the old id's envelope was made for another draft and never left
 *  (its send was stopped, "Niet verzenden", and the draft changed since). */
export async function newMessageId(item: Item): Promise<string> {
  return storeNewId(await call<Office.CustomProperties>((d) => item.loadCustomPropertiesAsync(d)));
}

async function storeNewId(props: Office.CustomProperties): Promise<string> {
  const id = `<${globalThis.crypto.randomUUID()}@sendsecure>`;
  props.set(MESSAGE_ID_PROPERTY, id);
  await call<void>((d) => props.saveAsync(d));
  return id;
}

export async function stampHeaders(item: Item, headers: Record<string, string>): Promise<void> {
  await call<void>((d) => item.internetHeaders.setAsync(headers, d));
}

export async function markDecided(item: Item, fingerprint: string): Promise<void> {
  if (!item.sessionData) return;
  await call<void>((d) => item.sessionData.setAsync(DECIDED_KEY, fingerprint, d));
}

export async function decided(item: Item): Promise<string | null> {
  if (!item.sessionData) return null;
  try {
    return await call<string>((d) => item.sessionData.getAsync(DECIDED_KEY, d));
  } catch {
    return null;  // not set
  }
}

export async function removeAttachment(item: Item, id: string): Promise<void> {
  await call<void>((d) => item.removeAttachmentAsync(id, d));
}

export async function sendItem(item: Item): Promise<void> {
  await call<void>((d) => item.sendAsync(d));
}

/** Read mode: the envelope id stamped on a sent item (X-SendSecure-Envelope), if any. */
export async function envelopeIdOfReadItem(): Promise<string | null> {
  return (await readItemInfo()).envelopeId;
}

/** Read mode: the envelope id, the Internet message id (Exchange's, for the recall) and the From
 *  mailbox (a shared mailbox's Sent Items: not the user's own, A4) of the item. */
export async function readItemInfo(): Promise<ReadItemInfo> {
  const item = Office.context?.mailbox?.item as unknown as Office.MessageRead | undefined;
  if (!item || typeof item.getAllInternetHeadersAsync !== "function") return { envelopeId: null, internetMessageId: null, from: null };
  const headers = await call<string>((d) => item.getAllInternetHeadersAsync(d));
  const match = /^x-sendsecure-envelope:\s*(\S+)\s*$/im.exec(headers);
  return { envelopeId: match ? match[1] : null, internetMessageId: item.internetMessageId || null,
           from: item.from?.emailAddress || null };
}

export function onItemChange(handler: () => void): void {
  const mailbox = Office.context?.mailbox;
  const item = mailbox?.item as unknown as Item | undefined;
  if (!item || typeof item.addHandlerAsync !== "function") return;
  for (const type of [Office.EventType.RecipientsChanged, Office.EventType.AttachmentsChanged]) {
    try { item.addHandlerAsync(type, handler); } catch { /* older Outlook: the panel still refreshes on focus */ }
  }
}
