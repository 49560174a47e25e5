import { describe, expect, it } from "vitest";
import { OfficeMockObject } from "office-addin-mock";
import { envelopeIdOfReadItem } from "../src/office";
import { DECISION_TTL_MS, Store, type KeyValue } from "../src/store";

function readItem(headers: string) {
  (globalThis as Record<string, unknown>).Office = new OfficeMockObject({
    host: "outlook",
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    context: { mailbox: { item: {
      getAllInternetHeadersAsync: (cb: (r: unknown) => void) => cb({ status: "succeeded", value: headers }),
    } } },
  });
}

describe("X6: read mode finds the envelope of a sent item", () => {
  it("test_x6_envelope_id_from_the_x_sendsecure_envelope_header", async () => {
    readItem("Subject: Brief\r\nx-sendsecure-envelope: env_abc123 \r\nX-SendSecure-Stamp: s.t.p\r\n");
    expect(await envelopeIdOfReadItem()).toBe("env_abc123");
  });
  it("an item sent without Send Secure has none", async () => {
    readItem("Subject: Brief\r\nX-Other: 1\r\n");
    expect(await envelopeIdOfReadItem()).toBeNull();
  });
});

describe("the precomputed decision", () => {
  it("is used for the same draft within its time and not after", () => {
    const map = new Map<string, string>();
    const kv: KeyValue = { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
    let now = 1_000_000;
    const store = new Store(kv, () => now);
    store.saveDecision({ fingerprint: "f1", action: "intercept", reasons: ["phone_required"], message: "m" });
    expect(store.decision("f1")?.action).toBe("intercept");
    expect(store.decision("f2")).toBeNull();
    now += DECISION_TTL_MS + 1;
    expect(store.decision("f1")).toBeNull();
  });
});
