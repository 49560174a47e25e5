import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

const template = readFileSync(new URL("../manifest.template.json", import.meta.url), "utf8");
const manifest = JSON.parse(template);

describe("the unified manifest", () => {
  const events = manifest.extensions[0].autoRunEvents[0].events as { type: string; actionId: string; options?: { sendMode: string } }[];
  it("test_v_o4_on_send_is_a_smart_alert_with_soft_block", () => {
    expect(events.find((e) => e.type === "messageSending")).toEqual(
      { type: "messageSending", actionId: "onMessageSendHandler", options: { sendMode: "softBlock" } });
  });
  it("keeps the verdict current on compose, recipient and attachment changes", () => {
    expect(events.map((e) => e.type).sort()).toEqual(
      ["messageAttachmentsChanged", "messageRecipientsChanged", "messageSending", "newMessageComposeCreated"]);
  });
  it("every event's action exists in the event runtime, and commands.ts associates each one", () => {
    const runtime = manifest.extensions[0].runtimes.find((r: { id: string }) => r.id === "EventRuntime");
    const actions = runtime.actions.map((a: { id: string }) => a.id);
    const source = readFileSync(new URL("../src/commands.ts", import.meta.url), "utf8");
    for (const event of events) {
      expect(actions).toContain(event.actionId);
      expect(source).toContain(`associate("${event.actionId}"`);
    }
  });
  it("the task pane button that Smart Alerts opens is the one in the manifest", async () => {
    const { TASKPANE_COMMAND_ID } = await import("../src/onsend");
    expect(template).toContain(`"id": "${TASKPANE_COMMAND_ID}"`);
  });
  it("validation stays offline: the manifest's schema ships with office-addin-manifest", async () => {
    const { AppManifestUtils } = await import("@microsoft/app-manifest");
    const utils = AppManifestUtils as unknown as { getLocalSchemaSuffix(url: string): string | undefined };
    expect(utils.getLocalSchemaSuffix(manifest.$schema)).toBeTruthy();
  });
});
