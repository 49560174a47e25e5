import type { Fetch } from "../src/api";
import type { Verdict } from "../src/types";

export interface Recorded { url: string; method: string; body: unknown; headers: Record<string, string> }

/** A fetch that answers from a table of handlers and records every call. */
export function fakeFetch(answer: (call: Recorded) => { status: number; body?: unknown; headers?: Record<string, string> }) {
  const calls: Recorded[] = [];
  const fetchImpl: Fetch = async (url, init) => {
    const call = { url, method: init?.method ?? "GET", body: init?.body ? JSON.parse(String(init.body)) : undefined,
                   headers: (init?.headers ?? {}) as Record<string, string> };
    calls.push(call);
    const { status, body, headers } = answer(call);
    const type = status >= 400 ? "application/problem+json" : "application/json";
    return new Response(status === 204 || body === undefined ? null : JSON.stringify(body),
                        { status, headers: { "Content-Type": type, ...headers } });
  };
  return { calls, fetchImpl };
}

export function verdict(overrides: Partial<Verdict> = {}): Verdict {
  return {
    can_send_secure: true, auto_send: false, standard_send_offered: false, notification_language: "nl",
    domain_book: { available: true, variant: "zorgmail", version: "v1" },
    sender: { address: "jan@ziekenhuis-a.example", in_domain_book: true, nta7516: true },
    recipients: [], attachments: { count: 0, total_size: 0, limit: 20971520, items: [] }, findings: [],
    ...overrides,
  };
}
