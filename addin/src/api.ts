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

export class Api {
  constructor(public token: string | null = null, private base: string = API_BASE,
              private fetchImpl: Fetch = (i, init) => fetch(i, init), public language: Language | null = null) {}

  async call<T>(method: string, path: string, body?: unknown, bearer?: string): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const token = bearer ?? this.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    if (this.language) headers["Accept-Language"] = this.language;
    let response: Response;
    try {
      response = await this.fetchImpl(this.base + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit",
      });
    } catch {
      throw new ApiError(0, "network_error", "network");
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
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
