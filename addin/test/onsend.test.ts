import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { fingerprint } from "../src/draft";
import { DECIDED_KEY, draftBody, MESSAGE_ID_PROPERTY, messageId, readDraft } from "../src/office";
import { decide, ONSEND_TIMEOUT_MS, precompute, TASKPANE_COMMAND_ID, type Context } from "../src/onsend";
import { Store, type KeyValue } from "../src/store";
import { fakeFetch, verdict } from "./helpers";
import { installOffice } from "./officeMock";

const MAILBOX = "jan@ziekenhuis-a.example";
function memory(): KeyValue {
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}
const loggedIn = () => {
  const store = new Store(memory());
  store.saveSession(MAILBOX, { token: "sst_t", mailbox: MAILBOX, expiresAt: "2999-01-01T00:00:00Z", loginMethod: "email_code" });
  return store;
};
const blockingVerdict = verdict({ can_send_secure: false, findings: [{ rule: "V-R3", code: "phone_required",
  severity: "blocking", colour: "red", message: "Vul een mobiel nummer in voor piet@gmail.example.", target: "recipients/0" }] });

describe("V-O4/S2: the on-send handler", () => {
  let office: ReturnType<typeof installOffice>;
  afterEach(() => { vi.useRealTimers(); });
  beforeEach(() => { office = installOffice({ to: [{ address: "piet@gmail.example" }], subject: "Verwijzing" }); });
  const context = (store: Store, fetchImpl?: Parameters<typeof fakeFetch>[0]): { ctx: Context; calls: ReturnType<typeof fakeFetch>["calls"] } => {
    const fake = fakeFetch(fetchImpl ?? (() => ({ status: 500 })));
    return { ctx: { item: office.item, store, mailbox: MAILBOX, language: "nl", api: new Api(null, "/api/v1", fake.fetchImpl) }, calls: fake.calls };
  };

  it("test_v_o4_without_session_blocks_with_the_login_notice_and_opens_the_panel", async () => {
    const { ctx, calls } = context(new Store(memory()));
    const outcome = await decide(ctx);
    expect(outcome).toMatchObject({ allowEvent: false, commandId: TASKPANE_COMMAND_ID, source: "no_session" });
    expect(outcome.errorMessage).toMatch(/niet ingelogd/);
    expect(calls).toHaveLength(0);
  });

  it("test_s2_allow_stamps_the_envelope_headers_and_keeps_the_message_id_on_the_item", async () => {
    const headers = { "X-SendSecure-Envelope": "env_1", "X-SendSecure-Stamp": "stamp" };
    const { ctx, calls } = context(loggedIn(), () => ({ status: 200, body: { action: "allow", reasons: ["auto_send"],
      verdict: verdict({ auto_send: true }), envelope: { envelope_id: "env_1", message_id: "m", headers } } }));
    const outcome = await decide(ctx);
    expect(outcome).toEqual({ allowEvent: true, source: "server" });
    expect(office.state.headers).toEqual(headers);
    const sentId = (calls[0].body as { message_id: string }).message_id;
    expect(office.state.properties[MESSAGE_ID_PROPERTY]).toBe(sentId);
    expect(await messageId(office.item)).toBe(sentId);  // S4: a retry reuses the id
  });

  it("test_v_o4_intercept_blocks_with_the_reason_in_words", async () => {
    const { ctx } = context(loggedIn(), () => ({ status: 200, body: { action: "intercept", reasons: ["phone_required"], verdict: blockingVerdict } }));
    const outcome = await decide(ctx);
    expect(outcome).toMatchObject({ allowEvent: false, source: "server", commandId: TASKPANE_COMMAND_ID,
                                    errorMessage: "Vul een mobiel nummer in voor piet@gmail.example." });
    expect(office.state.headers).toBeNull();
  });

  it("test_issue14_precomputed_intercept_answers_the_send_without_a_round_trip", async () => {
    const store = loggedIn();
    const first = context(store, () => ({ status: 200, body: { action: "intercept", reasons: ["phone_required"], verdict: blockingVerdict } }));
    await precompute(first.ctx);
    expect("message_id" in (first.calls[0].body as object)).toBe(false);
    const second = context(store);
    const outcome = await decide(second.ctx);
    expect(outcome).toMatchObject({ allowEvent: false, source: "cache" });
    expect(second.calls).toHaveLength(0);
  });

  it("a precomputed decision is not used once the draft changed", async () => {
    const store = loggedIn();
    await precompute(context(store, () => ({ status: 200, body: { action: "intercept", reasons: [], verdict: blockingVerdict } })).ctx);
    office.state.to.push({ address: "collega@ziekenhuis-a.example" });
    const again = context(store, () => ({ status: 200, body: { action: "allow", reasons: ["own_organisation_only"], verdict: verdict() } }));
    expect(await decide(again.ctx)).toEqual({ allowEvent: true, source: "server" });
    expect(again.calls).toHaveLength(1);
  });

  it("test_a3_an_expired_session_is_forgotten_and_the_user_asked_to_log_in", async () => {
    const store = loggedIn();
    const { ctx } = context(store, () => ({ status: 401, body: { code: "unauthenticated" } }));
    expect(await decide(ctx)).toMatchObject({ allowEvent: false, source: "no_session" });
    expect(store.session(MAILBOX)).toBeNull();
  });

  it("the back end down: blocked with words, not a bare error", async () => {
    const { ctx } = context(loggedIn(), () => ({ status: 503, body: { code: "dependency_unavailable" }, headers: { "Retry-After": "5" } }));
    const outcome = await decide(ctx);
    expect(outcome).toMatchObject({ allowEvent: false, source: "error" });
    expect(outcome.errorMessage).toMatch(/side panel/);
  });

  it("test_s5_a_revoked_message_is_blocked_with_that_reason", async () => {
    const { ctx } = context(loggedIn(), () => ({ status: 409, body: { code: "message_revoked" } }));
    const outcome = await decide(ctx);
    expect(outcome).toMatchObject({ allowEvent: false, source: "server" });
    expect(outcome.errorMessage).toMatch(/ingetrokken/);
  });

  it("test_v_o4_a_back_end_that_does_not_answer_blocks_after_about_3_s_with_the_unavailable_text", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    let signal: AbortSignal | undefined;
    const api = new Api(null, "/api/v1", (_u, init) => { signal = init?.signal ?? undefined; return new Promise<Response>(() => {}); });
    let outcome: Awaited<ReturnType<typeof decide>> | undefined;
    const pending = decide({ item: office.item, store: loggedIn(), mailbox: MAILBOX, language: "nl", api }).then((o) => { outcome = o; });
    await vi.advanceTimersByTimeAsync(ONSEND_TIMEOUT_MS - 100);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(200);
    await pending;
    expect(ONSEND_TIMEOUT_MS).toBeLessThanOrEqual(3000);
    expect(outcome).toMatchObject({ allowEvent: false, source: "error", commandId: TASKPANE_COMMAND_ID });
    expect(outcome!.errorMessage).toMatch(/kan dit bericht nu niet controleren/);
    expect(signal?.aborted).toBe(true);
  });

  it("test_s4_message_id_conflict_makes_a_new_message_id_for_the_item_and_asks_once_more", async () => {
    office.state.properties[MESSAGE_ID_PROPERTY] = "<old@sendsecure>";
    const headers = { "X-SendSecure-Envelope": "env_2", "X-SendSecure-Stamp": "stamp" };
    const { ctx, calls } = context(loggedIn(), (call) => ((call.body as { message_id: string }).message_id === "<old@sendsecure>"
      ? { status: 409, body: { code: "message_id_conflict", detail: "This message id was sent with another draft" } }
      : { status: 200, body: { action: "allow", reasons: [], verdict: verdict(), envelope: { envelope_id: "env_2", message_id: "m", headers } } }));
    expect(await decide(ctx)).toEqual({ allowEvent: true, source: "server" });
    expect(calls).toHaveLength(2);
    const fresh = (calls[1].body as { message_id: string }).message_id;
    expect(fresh).not.toBe("<old@sendsecure>");
    expect(office.state.properties[MESSAGE_ID_PROPERTY]).toBe(fresh);
    expect(office.state.headers).toEqual(headers);
  });

  it("a second message_id_conflict is not retried again: blocked with words", async () => {
    const { ctx, calls } = context(loggedIn(), () => ({ status: 409, body: { code: "message_id_conflict" } }));
    expect(await decide(ctx)).toMatchObject({ allowEvent: false, source: "error" });
    expect(calls).toHaveLength(2);
  });

  it("a draft the panel already sent (secure or standard) passes without asking again", async () => {
    const print = fingerprint(draftBody(await readDraft(office.item)));
    office.state.session[DECIDED_KEY] = print;
    const { ctx, calls } = context(loggedIn());
    expect(await decide(ctx)).toEqual({ allowEvent: true, source: "panel" });
    expect(calls).toHaveLength(0);
  });
});

describe("the draft read from Outlook", () => {
  it("maps Outlook's recipients, subject and attachments to API.md's draft", async () => {
    const { item } = installOffice({ to: [{ address: "piet@gmail.example", name: "Piet", type: "externalUser" }],
      bcc: [{ address: "x@zorg.example" }], subject: "Verwijzing",
      attachments: [{ id: "a1", name: "brief.pdf", size: 183211, isInline: false }] });
    const draft = draftBody(await readDraft(item, { "piet@gmail.example": "+31612345678" }));
    expect(draft).toEqual({
      to: [{ address: "piet@gmail.example", name: "Piet", type: "externalUser" }], cc: [],
      bcc: [{ address: "x@zorg.example", name: undefined, type: "externalUser" }], subject: "Verwijzing",
      attachments: [{ name: "brief.pdf", size: 183211, inline: false }], phones: { "piet@gmail.example": "+31612345678" },
    });
  });
});

describe("the store", () => {
  it("test_a3_a_session_is_per_mailbox_and_ends_at_its_expiry", () => {
    let now = Date.parse("2026-12-01T10:00:00Z");
    const store = new Store(memory(), () => now);
    store.saveSession(MAILBOX, { token: "t", mailbox: MAILBOX, expiresAt: "2026-12-01T11:00:00Z", loginMethod: "email_code" });
    expect(store.session("JAN@ziekenhuis-a.example")?.token).toBe("t");
    expect(store.session("ander@ziekenhuis-a.example")).toBeNull();
    now = Date.parse("2026-12-01T11:00:01Z");
    expect(store.session(MAILBOX)).toBeNull();
  });
});
