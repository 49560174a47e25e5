// A2: the Entra login's decisions, apart from the screen (unit-tested with a fake token source).
import { ApiError, type Api } from "./api";
import type { Session } from "./types";

export type EntraOutcome =
  | { kind: "session"; session: Session }
  | { kind: "email_code" }   // the tenant does not use Entra: the e-mail code instead
  | { kind: "mismatch" }     // another account than Outlook's (§2.1.3.2): its own notice
  | { kind: "failed" };      // no token or refused: standard sending is offered (§2.1.3.2 "Let op")

export async function loginWithEntra(api: Api, mailbox: string, deviceId: string,
                                     accessToken: (mailbox: string) => Promise<string>): Promise<EntraOutcome> {
  let token: string;
  try {
    token = await accessToken(mailbox);
  } catch {
    return { kind: "failed" };
  }
  try {
    return { kind: "session", session: await api.entra(mailbox, deviceId, token) };
  } catch (error) {
    const code = error instanceof ApiError ? error.code : "";
    if (code === "account_mismatch" || code === "tenant_mismatch") return { kind: "mismatch" };
    if (code === "login_method_not_allowed" || code === "tenant_not_onboarded") return { kind: "email_code" };
    return { kind: "failed" };
  }
}
