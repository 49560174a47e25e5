import { ApiError } from "../api";
import type { MessageKey, Translate } from "../i18n";

/** Problem codes the add-in can receive (API.md, sendsecure/errors.py), in the user's words (U1). */
const CODE_KEYS: Record<string, MessageKey> = {
  subject_confirmation_required: "error.subject_confirmation_required",
  draft_blocked: "error.draft_blocked",
  message_id_conflict: "error.message_id_conflict",
  message_revoked: "error.message_revoked",
  not_sender: "error.not_sender",
  already_revoked: "error.already_revoked",
  unauthenticated: "error.unauthenticated",
  invalid_body: "error.invalid_body",
  invalid_query: "error.invalid_body",
  unsupported_media_type: "error.invalid_body",
  payload_too_large: "error.too_large",
  not_found: "error.not_found",
  conflict: "error.conflict",
  timeout: "error.timeout",
  network_error: "error.network",
};

/** Codes whose field messages the back end writes in the caller's language (Accept-Language):
 *  a phone number refused on Opslaan (sendsecure/phonebook.py, findings.json). */
const LOCALISED_FIELD_CODES = new Set(["invalid_phone", "not_mobile"]);

const BY_STATUS: Record<number, MessageKey> = {
  0: "error.network", 400: "error.invalid_body", 401: "error.unauthenticated", 403: "error.forbidden",
  404: "error.not_found", 409: "error.conflict", 413: "error.too_large", 415: "error.invalid_body",
};

/** A wait in words: "1 seconde", "30 seconden", "2 minuten" (Retry-After, clamped to an hour). */
export function waitInWords(seconds: number, t: Translate): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 120) return s === 1 ? t("time.second") : t("time.seconds", { n: s });
  const m = Math.ceil(s / 60);
  return t("time.minutes", { n: m });
}

/** Any failure in words for the user in the user's language: never a bare status code and never the
 *  back end's English `detail` (only the phone number's own messages, which it writes localised). */
export function describeError(error: unknown, t: Translate): string {
  if (error instanceof ApiError) {
    if (error.status === 429) return t("error.rate_limited", { wait: waitInWords(error.retryAfter ?? 60, t) });
    if (error.status === 503 || error.status === 502 || error.status === 504) {
      return t("error.unavailable", { wait: waitInWords(error.retryAfter ?? 30, t) });
    }
    const key = CODE_KEYS[error.code];
    if (key) return t(key);
    if (LOCALISED_FIELD_CODES.has(error.code) && Array.isArray(error.problem.errors)) {
      const fieldMessages = (error.problem.errors as { message?: unknown }[])
        .map((e) => (typeof e?.message === "string" ? e.message : "")).filter(Boolean);
      if (fieldMessages.length) return fieldMessages.join(" ");
    }
    const byStatus = BY_STATUS[error.status];
    if (byStatus) return t(byStatus);
  }
  return t("error.generic");
}
