import { describe, expect, it } from "vitest";
import { Api } from "../src/api";
import { loginWithEntra } from "../src/login";
import { fakeFetch } from "./helpers";

const session = { session_token: "sst_e", expires_at: "2999-01-01T00:00:00Z", mailbox: "eva@kliniek-c.example",
                  tenant_id: "kliniek-c", login_method: "entra" };

describe("A2: login with Entra (nested app authentication)", () => {
  it("test_a2_presents_the_entra_token_as_bearer_with_mailbox_and_device", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 200, body: session }));
    const outcome = await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "eva@kliniek-c.example", "dev-1",
                                         async () => "entra-access-token");
    expect(outcome).toEqual({ kind: "session", session });
    expect(calls[0]).toMatchObject({ url: "/api/v1/auth/entra", method: "POST",
      body: { mailbox: "eva@kliniek-c.example", device_id: "dev-1" } });
    expect(calls[0].headers.Authorization).toBe("Bearer entra-access-token");
  });
  it("test_a2_another_account_than_outlooks_is_an_account_mismatch", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 403, body: { code: "account_mismatch" } }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d", async () => "t"))
      .toEqual({ kind: "mismatch" });
  });
  it.each(["login_method_not_allowed", "tenant_not_onboarded"])("a tenant that does not log in with Entra (%s) gets the e-mail code", async (code) => {
    const { fetchImpl } = fakeFetch(() => ({ status: 403, body: { code } }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d", async () => "t"))
      .toEqual({ kind: "email_code" });
  });
  it("a mailbox of another tenant than the token's is a mismatch too", async () => {
    const { fetchImpl } = fakeFetch(() => ({ status: 403, body: { code: "tenant_mismatch" } }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d", async () => "t"))
      .toEqual({ kind: "mismatch" });
  });
  it.each(["token_before_holder_change", "token_expired"])("test_a2_a_token_refused_for_its_age (%s) is fetched anew once, and that one decides", async (code) => {
    let n = 0;
    const { calls, fetchImpl } = fakeFetch(() => (++n === 1 ? { status: 401, body: { code } }
                                                            : { status: 403, body: { code: "account_mismatch" } }));
    const asked: boolean[] = [];
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d",
                                async (_mailbox, fresh) => { asked.push(Boolean(fresh)); return fresh ? "t2" : "t1"; }))
      .toEqual({ kind: "mismatch" });
    expect(asked).toEqual([false, true]);
    expect(calls.map((c) => c.headers.Authorization)).toEqual(["Bearer t1", "Bearer t2"]);
  });
  it("test_a2_a_fresh_token_refused_again_is_not_fetched_a_third_time", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 401, body: { code: "token_before_holder_change" } }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d", async () => "t"))
      .toEqual({ kind: "failed" });
    expect(calls).toHaveLength(2);
  });
  it.each([[429, "rate_limited"], [503, "dependency_unavailable"]])("a %s on /auth/entra is 'try again later', not the failed login that offers standard sending", async (status, code) => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status, body: { code }, headers: { "Retry-After": "20" } }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d", async () => "t"))
      .toEqual({ kind: "unavailable", retryAfter: 20 });
    expect(calls).toHaveLength(1);
  });
  it("no token (popup closed, NAA unsupported): failed, so standard sending is offered, and nothing is sent", async () => {
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 200, body: session }));
    expect(await loginWithEntra(new Api(null, "/api/v1", fetchImpl), "a@b.example", "d",
                                async () => { throw new Error("user_cancelled"); })).toEqual({ kind: "failed" });
    expect(calls).toHaveLength(0);
  });
});
