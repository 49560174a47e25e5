// The event runtime's entry (manifest autoRunEvents): the handlers Outlook calls by name.
import { pickLanguage } from "./i18n";
import { composeItem, userMailbox } from "./office";
import { decide, precompute, type Context } from "./onsend";
import { Store } from "./store";

function context(): Context | null {
  const item = composeItem();
  if (!item) return null;
  const store = new Store();
  return { item, store, mailbox: userMailbox(), language: pickLanguage(store.language(), Office.context?.displayLanguage) };
}

async function onMessageSendHandler(event: Office.AddinCommands.Event): Promise<void> {
  const started = performance.now();
  const ctx = context();
  if (!ctx) { event.completed({ allowEvent: true }); return; }
  let outcome;
  try {
    outcome = await decide(ctx);
  } catch {
    outcome = { allowEvent: false, errorMessage: "Send Secure: " + (ctx.language === "nl" ? "controle mislukt." : "check failed."),
                source: "error" as const };
  }
  const { source, ...options } = outcome;
  (globalThis as Record<string, unknown>).__sendsecureLastDecision = { ...outcome, ms: performance.now() - started, source };
  event.completed(options as Office.SmartAlertsEventCompletedOptions);
}

async function precomputeHandler(event: Office.AddinCommands.Event): Promise<void> {
  const ctx = context();
  try { if (ctx) await precompute(ctx); } finally { event.completed(); }
}

Office.onReady(() => undefined);
Office.actions.associate("onMessageSendHandler", onMessageSendHandler);
Office.actions.associate("onNewMessageComposeHandler", precomputeHandler);
Office.actions.associate("onMessageRecipientsChangedHandler", precomputeHandler);
Office.actions.associate("onMessageAttachmentsChangedHandler", precomputeHandler);
