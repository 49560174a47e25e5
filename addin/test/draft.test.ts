import { describe, expect, it } from "vitest";
import { attachmentsNeedAction, colourOf, fingerprint, generalFindings, mainReason, phonesForSend, recipientGroups,
         typedPhone } from "../src/draft";
import type { Draft, Finding, VerdictRecipient } from "../src/types";
import { verdict } from "./helpers";

const draft = (over: Partial<Draft> = {}): Draft => ({ to: [{ address: "a@b.example" }], cc: [], bcc: [], subject: "S",
  attachments: [], phones: {}, ...over });
const recipient = (address: string, over: Partial<VerdictRecipient> = {}): VerdictRecipient => ({
  address, field: "to", category: "community", route: "direct", access_code: null, phone_input: "none",
  stored_phone: null, nta7516: true, ...over });
const finding = (target: string, severity: Finding["severity"], colour: Finding["colour"], rule = "V-R3"): Finding =>
  ({ rule, code: "x", severity, colour, message: `${rule} ${target}`, target });

describe("fingerprint (the on-send cache key)", () => {
  it("is stable for the same draft and ignores address case", () => {
    expect(fingerprint(draft())).toBe(fingerprint(draft({ to: [{ address: "A@B.example" }] })));
  });
  it("changes with recipients, subject, attachments and typed phones", () => {
    const base = fingerprint(draft());
    expect(fingerprint(draft({ cc: [{ address: "c@d.example" }] }))).not.toBe(base);
    expect(fingerprint(draft({ subject: "T" }))).not.toBe(base);
    expect(fingerprint(draft({ attachments: [{ name: "a.pdf", size: 1, inline: false }] }))).not.toBe(base);
    expect(fingerprint(draft({ phones: { "a@b.example": "+31612345678" } }))).not.toBe(base);
  });
});

describe("W1: the order of the verdict", () => {
  const v = verdict({
    recipients: [recipient("ok@zorg.example"), recipient("warn@gmail.example", { category: "external", route: "viewer",
      access_code: "email", phone_input: "optional" }), recipient("block@gmail.example", { category: "external",
      route: "viewer", access_code: "sms", phone_input: "required" })],
    findings: [finding("recipients/0", "ok", "green"), finding("recipients/1", "warning", "blue"),
               finding("recipients/2", "blocking", "red"), finding("attachments/0", "blocking", "red", "V-A2"),
               { rule: "V-R6", code: "cc_without_to", severity: "blocking", colour: "red", message: "m", target: "draft" }],
  });
  it("test_w1_recipients_needing_action_come_first_blocking_before_warning", () => {
    const groups = recipientGroups(v);
    expect(groups.action.map((r) => r.recipient.address)).toEqual(["block@gmail.example", "warn@gmail.example"]);
    expect(groups.action.map((r) => r.colour)).toEqual(["red", "blue"]);
  });
  it("test_w1_validated_recipients_are_their_own_group_in_green", () => {
    const groups = recipientGroups(v);
    expect(groups.validated.map((r) => [r.recipient.address, r.colour])).toEqual([["ok@zorg.example", "green"]]);
  });
  it("test_w1_attachments_open_when_one_blocks", () => {
    expect(attachmentsNeedAction(v)).toBe(true);
    expect(attachmentsNeedAction(verdict())).toBe(false);
  });
  it("draft-wide findings are shown apart, per-recipient ones are not", () => {
    expect(generalFindings(v).map((f) => f.rule)).toEqual(["V-R6"]);
  });
  it("the colour of a group is its most urgent finding's", () => {
    expect(colourOf([finding("x", "ok", "green"), finding("x", "warning", "blue")])).toBe("blue");
    expect(colourOf([finding("x", "warning", "blue"), finding("x", "blocking", "red")])).toBe("red");
    expect(colourOf([])).toBe("green");
  });
  it("the reason shown on Send is the most severe finding's message", () => {
    expect(mainReason(v)).toMatch(/^V-R3 recipients\/2|^V-A2|^V-R6/);
    expect(mainReason(verdict({ findings: [finding("sender", "ok", "green")] }))).toBeNull();
  });
});

describe("P1: numbers typed and not saved go with the send", () => {
  const countries = [{ region: "NL", name: "Nederland", calling_code: 31 }, { region: "BE", name: "België", calling_code: 32 }];
  it("test_issue_addinfix_item2_typed_phone_as_sent_in_draft_phones", () => {
    expect(typedPhone("  ", "NL", "NL", countries)).toBeNull();
    expect(typedPhone("06 12345678", "NL", "NL", countries)).toBe("06 12345678");    // the server's default country
    expect(typedPhone("+32 470 12 34 56", "NL", "NL", countries)).toBe("+32 470 12 34 56");
    expect(typedPhone("0470 12 34 56", "BE", "NL", countries)).toBe("+32 470 12 34 56");  // another country picked
  });
  it("test_issue_addinfix_item2_invalid_typed_numbers_stay_in_the_panel", () => {
    const recipient = (address: string) => ({ address, field: "to" as const, category: "external", route: "viewer",
      access_code: "sms" as const, phone_input: "required" as const, stored_phone: null, nta7516: null });
    const v = verdict({
      recipients: [recipient("piet@gmail.example"), recipient("kees@gmail.example")],
      findings: [{ rule: "V-R3", code: "invalid_phone", severity: "blocking", colour: "red", message: "m", target: "recipients/1" }],
    });
    expect(phonesForSend({ "piet@gmail.example": "06 12345678", "kees@gmail.example": "12345" }, v))
      .toEqual({ "piet@gmail.example": "06 12345678" });
  });
});
