import { ApiError } from "../api";
import type { Translate } from "../i18n";

/** Any failure in words for the user (never a bare status code). */
export function describeError(error: unknown, t: Translate): string {
  if (error instanceof ApiError) {
    if (error.status === 0) return t("error.network");
    if (error.status === 503) return t("error.unavailable", { s: error.retryAfter ?? 30 });
    if (error.status === 429) return t("login.rate_limited", { s: error.retryAfter ?? 60 });
    const fieldMessages = Array.isArray(error.problem.errors)
      ? (error.problem.errors as { message?: string }[]).map((e) => e.message).filter(Boolean) : [];
    return fieldMessages.length ? fieldMessages.join(" ") : error.message;
  }
  return t("error.generic", { detail: error instanceof Error ? error.message : String(error) });
}
