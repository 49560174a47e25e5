// Pure logic of the panel and the handler: the draft's fingerprint, the order the verdict is shown
// in (W1), colours and which findings belong to which recipient or attachment.
import type { Colour, Country, Draft, Finding, Verdict, VerdictRecipient } from "./types";

/** A stable digest of what the verdict depends on (not a security measure: a cache key). */
export function fingerprint(draft: Draft): string {
  const list = (rs: Draft["to"]) => rs.map((r) => `${r.address.toLowerCase()}|${r.type ?? ""}`).join(",");
  const phones = Object.keys(draft.phones).sort().map((k) => `${k.toLowerCase()}=${draft.phones[k]}`).join(",");
  const text = [draft.from ?? "", list(draft.to), list(draft.cc), list(draft.bcc), draft.subject,
    draft.attachments.map((a) => `${a.name}|${a.size}|${a.inline ? 1 : 0}`).join(","), phones].join("\n");
  let h1 = 0x811c9dc5, h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 16777619) >>> 0;
    h2 = Math.imul(h2 ^ c, 2246822519) >>> 0;
  }
  return `${text.length.toString(36)}.${h1.toString(36)}.${h2.toString(36)}`;
}

const RANK: Record<Finding["severity"], number> = { blocking: 3, warning: 2, info: 1, ok: 0 };
const COLOUR_RANK: Record<Colour, number> = { red: 2, blue: 1, green: 0 };

/** The findings about one target (`recipients/3`, `attachments/0`, `sender`, `attachments`). */
export function findingsFor(verdict: Verdict, target: string): Finding[] {
  return verdict.findings.filter((f) => f.target === target);
}

/** The findings not about one recipient or attachment (draft-wide: BCC use, subject, book). */
export function generalFindings(verdict: Verdict): Finding[] {
  return verdict.findings.filter((f) => !f.target || !/^(recipients|attachments)\/\d+$/.test(f.target) && f.target !== "sender");
}

/** The colour of a group of findings: red when any asks for action, blue when informative, else green. */
export function colourOf(findings: Finding[], fallback: Colour = "green"): Colour {
  return findings.reduce<Colour>((worst, f) => (COLOUR_RANK[f.colour] > COLOUR_RANK[worst] ? f.colour : worst), fallback);
}

export interface RecipientRow { index: number; recipient: VerdictRecipient; findings: Finding[]; colour: Colour; needsAction: boolean }

/** W1: recipients needing action (a finding above ok, or a phone to give) first, then the validated ones. */
export function recipientGroups(verdict: Verdict): { action: RecipientRow[]; validated: RecipientRow[] } {
  const rows = verdict.recipients.map((recipient, index): RecipientRow => {
    const findings = findingsFor(verdict, `recipients/${index}`);
    const needsAction = findings.some((f) => f.severity !== "ok") || recipient.phone_input !== "none";
    return { index, recipient, findings, colour: colourOf(findings, needsAction ? "blue" : "green"), needsAction };
  });
  const severity = (row: RecipientRow) => Math.max(0, ...row.findings.map((f) => RANK[f.severity]));
  const action = rows.filter((r) => r.needsAction).sort((a, b) => severity(b) - severity(a) || a.index - b.index);
  return { action, validated: rows.filter((r) => !r.needsAction) };
}

/** W1: attachments are shown open when one of them (or their total) needs action. */
export function attachmentsNeedAction(verdict: Verdict): boolean {
  return verdict.findings.some((f) => f.severity === "blocking" && (f.target ?? "").startsWith("attachments"));
}

export function hasBlocking(verdict: Verdict): boolean {
  return verdict.findings.some((f) => f.severity === "blocking");
}

/** The first finding's words for a short notice (blocking first, then warnings). */
export function mainReason(verdict: Verdict): string | null {
  const sorted = [...verdict.findings].sort((a, b) => RANK[b.severity] - RANK[a.severity]);
  const first = sorted.find((f) => f.severity === "blocking" || f.severity === "warning");
  return first ? first.message : null;
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

/** P1: a number typed (not saved) as it goes in `draft.phones`, which has no country: international
 *  numbers as typed; a national number of the country the server assumes (the language's default)
 *  as typed; of another picked country with its calling code before it (one leading trunk 0
 *  dropped). Null: nothing typed. */
export function typedPhone(value: string, region: string, defaultRegion: string, countries: Country[]): string | null {
  const text = value.trim();
  if (!text) return null;
  if (text.startsWith("+") || text.startsWith("00") || region === defaultRegion) return text;
  const country = countries.find((c) => c.region === region);
  return country ? `+${country.calling_code} ${text.replace(/^0/, "")}` : text;
}

const PHONE_PROBLEMS = new Set(["invalid_phone", "not_mobile"]);

/** The typed numbers a send takes: those the verdict did not find invalid (an invalid one stays in
 *  the panel, is never stored, and its finding blocks the send anyway). */
export function phonesForSend(typed: Record<string, string>, verdict: Verdict): Record<string, string> {
  const refused = new Set(verdict.findings.filter((f) => PHONE_PROBLEMS.has(f.code) && f.target)
    .map((f) => verdict.recipients[Number(f.target!.split("/")[1])]?.address.toLowerCase()));
  return Object.fromEntries(Object.entries(typed).filter(([address]) => !refused.has(address.toLowerCase())));
}
