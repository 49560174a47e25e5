// What the add-in keeps in the browser: the session (per Outlook mailbox, A3), the device id and
// the precomputed on-send decisions. The task pane and the event runtime of Outlook on the web run
// on the same origin, so both read the same localStorage; elsewhere a memory map stands in.
import type { Language, OnSendAnswer, UserSettings } from "./types";

export interface KeyValue { getItem(key: string): string | null; setItem(key: string, value: string): void; removeItem(key: string): void }

function defaultStorage(): KeyValue {
  try {
    const storage = globalThis.localStorage;
    storage.setItem("sendsecure.probe", "1");
    storage.removeItem("sendsecure.probe");
    return storage;
  } catch {
    const map = new Map<string, string>();
    return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
  }
}

export interface StoredSession { token: string; mailbox: string; expiresAt: string; loginMethod: string }
export interface PrecomputedDecision { fingerprint: string; action: OnSendAnswer["action"]; reasons: string[]; message: string; at: number }

const PREFIX = "sendsecure.";
/** A precomputed decision is used for this long (the panel re-validates on every change anyway). */
export const DECISION_TTL_MS = 10 * 60 * 1000;

export class Store {
  constructor(private kv: KeyValue = defaultStorage(), private now: () => number = Date.now) {}

  private get<T>(key: string): T | null {
    const raw = this.kv.getItem(PREFIX + key);
    if (!raw) return null;
    try { return JSON.parse(raw) as T; } catch { return null; }
  }
  private set(key: string, value: unknown): void { this.kv.setItem(PREFIX + key, JSON.stringify(value)); }

  session(mailbox: string): StoredSession | null {
    const stored = this.get<StoredSession>("session." + mailbox.toLowerCase());
    if (!stored || Date.parse(stored.expiresAt) <= this.now()) return null;
    return stored;
  }
  saveSession(mailbox: string, session: StoredSession): void { this.set("session." + mailbox.toLowerCase(), session); }
  forgetSession(mailbox: string): void { this.kv.removeItem(PREFIX + "session." + mailbox.toLowerCase()); }

  deviceId(): string {
    let id = this.get<string>("device");
    if (!id) {
      id = globalThis.crypto?.randomUUID?.() ?? `d-${this.now()}-${Math.random().toString(36).slice(2)}`;
      this.set("device", id);
    }
    return id;
  }

  /** The last send delay the back end gave (S7): used when the settings cannot be read. */
  sendDelay(mailbox: string): UserSettings["send_delay_seconds"] | null {
    const value = this.get<number>("delay." + mailbox.toLowerCase());
    return value === 0 || value === 5 || value === 10 ? value : null;
  }
  saveSendDelay(mailbox: string, seconds: UserSettings["send_delay_seconds"]): void { this.set("delay." + mailbox.toLowerCase(), seconds); }

  language(): Language | null { return this.get<Language>("language"); }
  saveLanguage(language: Language): void { this.set("language", language); }

  decision(fingerprint: string): PrecomputedDecision | null {
    const stored = this.get<PrecomputedDecision>("decision");
    if (!stored || stored.fingerprint !== fingerprint || this.now() - stored.at > DECISION_TTL_MS) return null;
    return stored;
  }
  saveDecision(decision: Omit<PrecomputedDecision, "at">): void { this.set("decision", { ...decision, at: this.now() }); }
}
