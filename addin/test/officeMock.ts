// Office.js for the unit tests: office-addin-mock's OfficeMockObject around a compose item whose
// async calls answer from plain data (as Outlook's callbacks do).
import { OfficeMockObject } from "office-addin-mock";

export interface MockState {
  to: { address: string; name?: string; type?: string }[];
  cc: { address: string }[];
  bcc: { address: string }[];
  subject: string;
  attachments: { id: string; name: string; size: number; isInline: boolean }[];
  properties: Record<string, unknown>;
  headers: Record<string, string> | null;
  session: Record<string, string>;
  sent: number;
}

export function installOffice(partial: Partial<MockState> = {}, mailbox = "jan@ziekenhuis-a.example") {
  const state: MockState = { to: [], cc: [], bcc: [], subject: "", attachments: [], properties: {}, headers: null,
                             session: {}, sent: 0, ...partial };
  const ok = (value?: unknown) => ({ status: "succeeded", value });
  const last = (args: unknown[]) => args[args.length - 1] as (r: unknown) => void;
  const recipients = (name: "to" | "cc" | "bcc") => ({
    getAsync: (...args: unknown[]) => last(args)(ok(state[name].map((r) => ({
      emailAddress: r.address, displayName: (r as { name?: string }).name ?? "", recipientType: (r as { type?: string }).type ?? "externalUser" })))),
  });
  const mock = new OfficeMockObject({
    host: "outlook",  // office-addin-mock: Outlook objects need no load()/sync()
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    EventType: { RecipientsChanged: "olkRecipientsChanged", AttachmentsChanged: "olkAttachmentsChanged" },
    context: {
      displayLanguage: "nl-NL",
      mailbox: {
        userProfile: { emailAddress: mailbox },
        item: {
          to: recipients("to"), cc: recipients("cc"), bcc: recipients("bcc"),
          subject: { getAsync: (...args: unknown[]) => last(args)(ok(state.subject)) },
          getAttachmentsAsync: (...args: unknown[]) => last(args)(ok(state.attachments)),
          loadCustomPropertiesAsync: (...args: unknown[]) => last(args)(ok({
            get: (k: string) => state.properties[k],
            set: (k: string, v: unknown) => { state.properties[k] = v; },
            saveAsync: (cb: (r: unknown) => void) => cb(ok()),
          })),
          internetHeaders: { setAsync: (headers: Record<string, string>, ...args: unknown[]) => { state.headers = headers; last(args)(ok()); } },
          sessionData: {
            setAsync: (k: string, v: string, ...args: unknown[]) => { state.session[k] = v; last(args)(ok()); },
            getAsync: (k: string, ...args: unknown[]) => last(args)(k in state.session ? ok(state.session[k])
              : { status: "failed", error: { message: "not set" } }),
          },
          removeAttachmentAsync: (id: string, ...args: unknown[]) => {
            state.attachments = state.attachments.filter((a) => a.id !== id); last(args)(ok());
          },
          sendAsync: (...args: unknown[]) => { state.sent += 1; last(args)(ok()); },
        },
      },
    },
  });
  (globalThis as Record<string, unknown>).Office = mock;
  return { state, item: (mock as unknown as typeof Office).context.mailbox.item as unknown as Office.MessageCompose };
}
