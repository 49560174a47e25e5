import { describe, expect, it } from "vitest";
import { OfficeMockObject } from "office-addin-mock";
import { Api } from "../src/api";
import { readItemInfo } from "../src/office";
import { canRetry, revokeBody, rowColour, senderView, withOutcomes } from "../src/revoke";
import { fakeFetch } from "./helpers";

const ME = "jan@ziekenhuis-a.example";
const INTERNET_ID = "<AM0PR01MB0001.x@eurprd01.prod.exchangelabs.com>";

function readItem(item: Record<string, unknown>) {
  (globalThis as Record<string, unknown>).Office = new OfficeMockObject({
    host: "outlook",
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    context: { mailbox: { item: {
      getAllInternetHeadersAsync: (cb: (r: unknown) => void) => cb({ status: "succeeded", value: "X-SendSecure-Envelope: e1\r\n" }),
      ...item,
    } } },
  });
}

describe("S5: the revoke request", () => {
  it("test_issue_addinfix_item1_revoke_sends_the_internet_message_id", async () => {
    readItem({ internetMessageId: INTERNET_ID, from: { emailAddress: ME } });
    const info = await readItemInfo();
    expect(info).toEqual({ envelopeId: "e1", internetMessageId: INTERNET_ID, from: ME });
    expect(revokeBody(info, ME)).toEqual({ internet_message_id: INTERNET_ID });
    const { calls, fetchImpl } = fakeFetch(() => ({ status: 200, body: { envelope_id: "e1", revoked_at: "t", recipients: [] } }));
    await new Api("tok", "/api/v1", fetchImpl).revoke("e1", revokeBody(info, ME));
    expect(calls[0]).toMatchObject({ method: "POST", url: "/api/v1/messages/e1/revoke", body: { internet_message_id: INTERNET_ID } });
    expect(calls[0].headers["Content-Type"]).toBe("application/json");
  });
  it("test_issue_addinfix_item1_a_shared_mailbox_is_sent_as_sender", () => {
    const item = { envelopeId: "e1", internetMessageId: INTERNET_ID, from: "Secretariaat@Ziekenhuis-a.example" };
    expect(revokeBody(item, ME)).toEqual({ internet_message_id: INTERNET_ID, sender: "Secretariaat@Ziekenhuis-a.example" });
    expect(revokeBody({ ...item, from: "JAN@ziekenhuis-a.example" }, ME)).toEqual({ internet_message_id: INTERNET_ID });
  });
  it("test_issue_addinfix_item1_retry_asks_retry_failed", () => {
    expect(revokeBody({ envelopeId: "e1", internetMessageId: null, from: null }, ME, true)).toEqual({ retry_failed: true });
  });
});

describe("X6/S5: the sender's view and the outcomes", () => {
  const answer = { envelope_id: "e1", revoked: false, revoked_at: null, recipients: [
    { address: "collega@ziekenhuis-a.example", status: { event: "delivered", at: "2026-12-01T10:00:00Z" }, recall: null },
    { address: "piet@gmail.example", status: null, recall: null }] };
  it("test_issue_addinfix_item1_view_reads_the_status_object_and_recall", () => {
    const view = senderView(answer);
    expect(view.revokedAt).toBeNull();
    expect(view.rows.map((r) => [r.event, r.outcome, rowColour(r)])).toEqual([["delivered", null, "green"], ["pending", null, "blue"]]);
    const revoked = senderView({ ...answer, revoked: true, revoked_at: "2026-12-01T11:00:00Z",
      recipients: answer.recipients.map((r, i) => ({ ...r, recall: i ? "out_of_reach" : "failed" })) });
    expect(revoked.rows.map((r) => r.outcome)).toEqual(["failed", "out_of_reach"]);
    expect(rowColour(revoked.rows[0])).toBe("red");
    expect(canRetry(revoked)).toBe(true);
  });
  it("test_issue_addinfix_item1_outcomes_merged_and_retry_only_when_one_failed", () => {
    const view = senderView(answer);
    expect(canRetry(view)).toBe(false);
    const after = withOutcomes(view, { envelope_id: "e1", revoked_at: "2026-12-01T11:00:00Z", recipients: [
      { address: "Collega@ziekenhuis-a.example", outcome: "recalled" }, { address: "piet@gmail.example", outcome: "out_of_reach" }] });
    expect(after.rows.map((r) => [r.address, r.event, r.outcome])).toEqual([
      ["collega@ziekenhuis-a.example", "delivered", "recalled"], ["piet@gmail.example", "pending", "out_of_reach"]]);
    expect(canRetry(after)).toBe(false);
    // a 409 already_revoked problem carries revoked_at and recipients: shown the same way
    const conflict = withOutcomes(null, { code: "already_revoked", revoked_at: "2026-12-01T11:00:00Z",
                                          recipients: [{ address: "a@ziekenhuis-a.example", outcome: "failed" }] });
    expect(conflict.rows).toEqual([{ address: "a@ziekenhuis-a.example", event: "pending", at: null, outcome: "failed" }]);
    expect(canRetry(conflict)).toBe(true);
  });
});
