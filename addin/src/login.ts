// A2: the Entra login's decisions, apart from the screen (unit-tested with a fake token source).
import { ApiError, type Api } from "./api";
import type { Session } from "./types";

export type EntraOutcome =
  | { kind: "session"; session: Session }
  | { kind: "email_code" }   // the tenant does not use Entra: the e-mail code instead
  | { kind: "mismatch" }     // another account than Outlook's (§2.1.3.2): its own notice
  | { kind: "unavailable"; retryAfter: number | null }  // 429/503: try again later (not a failed login)
  | { kind: "failed" };      // no token or refused: standard sending is offered (§2.1.3.2 "Let op")

// A cached token the back end refuses for its age: one more try with a token fetched anew. A token
// issued before the mailbox passed to another person (docs/login.md "The person behind a mailbox"),
// or one that expired in the cache. The fresh token then decides (for a former holder: a mismatch).
const FETCH_ANEW = new Set(["token_before_holder_change", "token_expired"]);

export async function loginWithEntra(api: Api, mailbox: string, deviceId: string,
                                     accessToken: (mailbox: string, fresh?: boolean) => Promise<string>,
                                     ): Promise<EntraOutcome> {
  for (const fresh of [false, true]) {
    let token: string;
    try {
      token = await accessToken(mailbox, fresh);
    } catch {
      return { kind: "failed" };
    }
    try {
      return { kind: "session", session: await api.entra(mailbox, deviceId, token) };
    } catch (error) {
      const code = error instanceof ApiError ? error.code : "";
      if (error instanceof ApiError && (error.status === 429 || error.status === 503)) {
        return { kind: "unavailable", retryAfter: error.retryAfter };
      }
      if (code === "account_mismatch" || code === "tenant_mismatch") return { kind: "mismatch" };
      if (code === "login_method_not_allowed" || code === "tenant_not_onboarded") return { kind: "email_code" };
      if (!fresh && FETCH_ANEW.has(code)) continue;
      return { kind: "failed" };
    }
  }
  return { kind: "failed" };
}
