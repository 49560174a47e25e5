// The one client of the back end (API.md): JSON in and out, problem+json errors as ApiError.
import { API_BASE } from "./config";
import type { RevokeAnswer, RevokeBody } from "./revoke";
import type {
  Country, Draft, Info, OnSendAnswer, Session, StoredPhone, UserSettings, Verdict, Envelope, Language,
} from "./types";

export class ApiError extends Error {
  constructor(public status: number, public code: string, message: string, public problem: Record<string, unknown> = {},
              public retryAfter: number | null = null) {
    super(message);
  }
  get attemptsLeft(): number | null {
    return typeof this.problem.attempts_left === "number" ? this.problem.attempts_left : null;
  }
}

export type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

/** How long the panel waits for one answer before it shows an error with "Opnieuw proberen" (V-O4:
 *  the back end answers in well under a second; this only ends a hang). */
export const DEFAULT_TIMEOUT_MS = 15_000;

export class Api {
  /** Called once for every 401 on a call made with the session token (A3: the session ended): the
   *  panel sets it to go back to the login screen. Login calls (their own 401s) never call it. */
  public onUnauthenticated: (() => void) | null = null;
  /** The time limit of one call; the on-send handler sets a short one (onsend.ts). */
  public timeoutMs = DEFAULT_TIMEOUT_MS;

  constructor(public token: string | null = null, private base: string = API_BASE,
              private fetchImpl: Fetch = (i, init) => fetch(i, init), public language: Language | null = null) {}

  async call<T>(method: string, path: string, body?: unknown, bearer?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = bearer ?? this.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (this.language) headers["Accept-Language"] = this.language;
    const controller = new AbortController();
    let timedOut = false;
    // The timer races the fetch itself too: a fetch that ignores the signal still ends the wait.
    let expire: () => void = () => undefined;
    const expired = new Promise<never>((_, reject) => {
      expire = () => { timedOut = true; controller.abort(); reject(new Error("timeout")); };
    });
    const timer = setTimeout(expire, this.timeoutMs);
    let response: Response;
    let text: string;
    try {
      try {
        response = await Promise.race([this.fetchImpl(this.base + path, {
          method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit",
          signal: controller.signal,
        }), expired]);
        text = response.status === 204 ? "" : await Promise.race([response.text(), expired]);
      } catch {
        throw timedOut ? new ApiError(0, "timeout", "timeout") : new ApiError(0, "network_error", "network");
      }
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 401 && token && token === this.token && !bearer) this.onUnauthenticated?.();
    if (response.status === 204) return undefined as T;
    let json: unknown = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = null; }
    if (!response.ok) {
      const problem = (json && typeof json === "object" ? json : {}) as Record<string, unknown>;
      const retry = Number(response.headers.get("Retry-After"));
      throw new ApiError(response.status, String(problem.code ?? `http_${response.status}`),
                         String(problem.detail ?? problem.title ?? response.statusText), problem,
                         Number.isFinite(retry) && retry > 0 ? retry : null);
    }
    return json as T;
  }

  requestCode(mailbox: string) { return this.call<{ challenge_id: string; expires_in: number }>("POST", "/auth/email-code", { mailbox }); }
  verifyCode(challenge_id: string, code: string, device_id: string) {
    return this.call<Session>("POST", "/auth/email-code/verify", { challenge_id, code, device_id });
  }
  entra(mailbox: string, device_id: string, accessToken: string) {
    return this.call<Session>("POST", "/auth/entra", { mailbox, device_id }, accessToken);
  }
  session() { return this.call<Omit<Session, "session_token">>("GET", "/session"); }
  logout() { return this.call<void>("DELETE", "/session"); }
  validate(draft: Draft) { return this.call<Verdict>("POST", "/drafts/validate", draft); }
  onSend(draft: Draft, message_id?: string) {
    return this.call<OnSendAnswer>("POST", "/drafts/on-send", message_id ? { ...draft, message_id } : draft);
  }
  send(message_id: string, draft: Draft, confirm_empty_subject = false) {
    return this.call<Envelope>("POST", "/messages/send", { message_id, draft, confirm_empty_subject });
  }
  message(envelopeId: string) { return this.call<Record<string, unknown>>("GET", `/messages/${encodeURIComponent(envelopeId)}`); }
  /** S5: the body per docs/sending.md (internet_message_id, sender for a shared mailbox, retry_failed). */
  revoke(envelopeId: string, body: RevokeBody) {
    return this.call<RevokeAnswer>("POST", `/messages/${encodeURIComponent(envelopeId)}/revoke`, body);
  }
  putPhone(address: string, phone: string, region?: string) {
    return this.call<StoredPhone>("PUT", "/phones", region ? { address, phone, region } : { address, phone });
  }
  lookupPhones(addresses: string[]) { return this.call<{ phones: StoredPhone[] }>("POST", "/phones/lookup", { addresses }); }
  removePhone(address: string) { return this.call<void>("POST", "/phones/remove", { address }); }
  countries(lang: Language) { return this.call<Country[]>("GET", `/phone-countries?lang=${lang}`); }
  settings() { return this.call<UserSettings>("GET", "/settings"); }
  putSettings(settings: UserSettings) { return this.call<UserSettings>("PUT", "/settings", settings); }
  info() { return this.call<Info>("GET", "/info"); }
}
