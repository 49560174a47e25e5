import { describe, expect, it } from "vitest";
import { Api, ApiError } from "../src/api";
import { fakeFetch } from "./helpers";

describe("the API client", () => {
  it("test_a1_invalid_code_is_an_error_with_attempts_left", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 401, body: { code: "invalid_code", detail: "wrong", attempts_left: 3 } }));
    const error = await new Api(null, "/api/v1", fetchImpl).verifyCode("c", "123456", "d").catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code, error.attemptsLeft]).toEqual([401, "invalid_code", 3]);
  });
  it("reads Retry-After of 429 and 503", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 429, body: { code: "rate_limited" }, headers: { "Retry-After": "42" } }));
    const error = await new Api(null, "/api/v1", fetchImpl).requestCode("a@b.example").catch((e) => e);
    expect([error.code, error.retryAfter]).toEqual(["rate_limited", 42]);
  });
  it("a network failure is an ApiError of status 0, never an unhandled rejection", async () => {
    const error = await new Api(null, "/api/v1", async () => { throw new TypeError("failed"); }).info().catch((e) => e);
    expect([error.status, error.code]).toEqual([0, "network_error"]);
  });
  it("sends the session as a bearer token, JSON bodies with their type, personal data only in bodies", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 200, body: { phones: [] } }));
    await new Api("sst_x", "/api/v1", fetchImpl, "en").lookupPhones(["piet@gmail.example"]);
    expect(calls[0].url).toBe("/api/v1/phones/lookup");
    expect(calls[0].headers).toMatchObject({ Authorization: "Bearer sst_x", "Content-Type": "application/json", "Accept-Language": "en" });
    expect(calls[0].body).toEqual({ addresses: ["piet@gmail.example"] });
  });
  it("on-send carries the message id in the body only when there is one (precomputation creates nothing)", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 200, body: { action: "intercept", reasons: [], verdict: {} } }));
    const api = new Api("t", "/api/v1", fetchImpl);
    const draft = { to: [], cc: [], bcc: [], subject: "", attachments: [], phones: {} };
    await api.onSend(draft);
    await api.onSend(draft, "<m@x>");
    expect("message_id" in (calls[0].body as object)).toBe(false);
    expect((calls[1].body as { message_id: string }).message_id).toBe("<m@x>");
  });
});

describe("A3 and V-O4: every 401 ends the session; every call has a time limit", () => {
  it("a 401 on any call made with the session calls onUnauthenticated (not only the verdict)", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 401, body: { code: "unauthenticated", detail: "A valid session is required" } }));
    const api = new Api("sst_gone", "/api/v1", fetchImpl);
    let ended = 0;
    api.onUnauthenticated = () => { ended += 1; };
    const draft = { to: [], cc: [], bcc: [], subject: "", attachments: [], phones: {} };
    await api.send("<m@x>", draft).catch(() => undefined);
    await api.putPhone("piet@gmail.example", "0612345678").catch(() => undefined);
    await api.message("env_1").catch(() => undefined);
    expect(ended).toBe(3);
  });
  it("a login call's own 401 (a wrong code, a refused Entra token) is not a session that ended", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 401, body: { code: "invalid_code", attempts_left: 2 } }));
    const api = new Api(null, "/api/v1", fetchImpl);
    let ended = 0;
    api.onUnauthenticated = () => { ended += 1; };
    await api.verifyCode("c", "123456", "d").catch(() => undefined);
    await api.entra("a@b.example", "d", "entra-token").catch(() => undefined);
    expect(ended).toBe(0);
  });
  it("a call that hangs ends after timeoutMs as ApiError timeout, and aborts the fetch", async () => {
    let signal: AbortSignal | undefined;
    const api = new Api("t", "/api/v1", (_u, init) => { signal = init?.signal ?? undefined; return new Promise<Response>(() => {}); });
    api.timeoutMs = 50;
    const started = Date.now();
    const error = await api.info().catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect([error.status, error.code]).toEqual([0, "timeout"]);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(signal?.aborted).toBe(true);
  });
});
