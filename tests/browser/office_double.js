// A test double of Office.js for the browser tests (served in place of Microsoft's CDN script):
// a message compose item (or a read item) whose state the test sets in window.__officeState
// before the page loads, and helpers in window.__office to change recipients, fire events and
// read what the add-in did (stamped headers, custom properties, sends).
(function () {
  const defaults = { mode: "compose", mailbox: "jan@ziekenhuis-a.example", displayLanguage: "nl-NL",
                     to: [], cc: [], bcc: [], subject: "", from: null, attachments: [], readHeaders: "",
                     internetMessageId: "" };
  const state = Object.assign({}, defaults, window.__officeState || {});
  state.stamped = null; state.sent = 0; state.properties = state.properties || {}; state.session = {};
  const handlers = {};
  const actions = {};
  const ok = (value) => ({ status: "succeeded", value });
  const later = (cb, result) => { if (cb) setTimeout(() => cb(result), 0); };
  const detail = (r) => ({ emailAddress: r.address, displayName: r.name || r.address, recipientType: r.type || "externalUser" });
  const field = (name) => ({
    getAsync: (a, b) => later(typeof a === "function" ? a : b, ok(state[name].map(detail))),
    setAsync: (list, a, b) => { state[name] = list.map((x) => typeof x === "string" ? { address: x } : x); fire("olkRecipientsChanged"); later(typeof a === "function" ? a : b, ok()); },
  });
  function fire(type) { (handlers[type] || []).forEach((h) => h({ type })); }
  const composeItem = {
    itemType: "message",
    to: field("to"), cc: field("cc"), bcc: field("bcc"),
    subject: { getAsync: (a, b) => later(typeof a === "function" ? a : b, ok(state.subject)),
               setAsync: (s, a, b) => { state.subject = s; later(typeof a === "function" ? a : b, ok()); } },
    from: { getAsync: (a, b) => later(typeof a === "function" ? a : b, ok(state.from ? detail({ address: state.from }) : detail({ address: state.mailbox }))) },
    getAttachmentsAsync: (a, b) => later(typeof a === "function" ? a : b, ok(state.attachments.map((x, i) => ({
      id: x.id || "att" + i, name: x.name, size: x.size, isInline: Boolean(x.inline), attachmentType: "file" })))),
    removeAttachmentAsync: (id, a, b) => {
      state.attachments = state.attachments.filter((x, i) => (x.id || "att" + i) !== id);
      fire("olkAttachmentsChanged"); later(typeof a === "function" ? a : b, ok());
    },
    loadCustomPropertiesAsync: (a, b) => later(typeof a === "function" ? a : b, ok({
      get: (k) => state.properties[k], set: (k, v) => { state.pendingProperties = Object.assign({}, state.pendingProperties, { [k]: v }); },
      remove: (k) => { delete state.properties[k]; },
      saveAsync: (c) => { Object.assign(state.properties, state.pendingProperties || {}); state.pendingProperties = null; later(c, ok()); },
    })),
    internetHeaders: { setAsync: (h, a, b) => { state.stamped = Object.assign({}, state.stamped, h); later(typeof a === "function" ? a : b, ok()); } },
    sessionData: {
      setAsync: (k, v, a, b) => { state.session[k] = v; later(typeof a === "function" ? a : b, ok()); },
      getAsync: (k, a, b) => later(typeof a === "function" ? a : b, k in state.session ? ok(state.session[k])
        : { status: "failed", error: { message: "not found" } }),
    },
    sendAsync: (a, b) => { state.sent += 1; later(typeof a === "function" ? a : b, ok()); },
    addHandlerAsync: (type, h, a, b) => { (handlers[type] = handlers[type] || []).push(h); later(typeof a === "function" ? a : b, ok()); },
  };
  const readItem = {
    itemType: "message",
    getAllInternetHeadersAsync: (a, b) => later(typeof a === "function" ? a : b, ok(state.readHeaders)),
    internetMessageId: state.internetMessageId || "",  // Exchange's id of the sent item (read mode)
    from: detail({ address: state.from || state.mailbox }),  // read mode: a property, not getAsync
  };
  window.Office = {
    AsyncResultStatus: { Succeeded: "succeeded", Failed: "failed" },
    EventType: { RecipientsChanged: "olkRecipientsChanged", AttachmentsChanged: "olkAttachmentsChanged" },
    context: { displayLanguage: state.displayLanguage, requirements: { isSetSupported: () => true },
               mailbox: { item: state.mode === "read" ? readItem : composeItem, userProfile: { emailAddress: state.mailbox } } },
    onReady: (cb) => { const info = { host: "Outlook", platform: "OfficeOnline" }; if (cb) setTimeout(() => cb(info), 0); return Promise.resolve(info); },
    actions: { associate: (name, fn) => { actions[name] = fn; } },
  };
  window.__office = {
    state,
    setRecipients(name, list) { state[name] = list; fire("olkRecipientsChanged"); },
    setSubject(subject) { state.subject = subject; },
    addAttachment(a) { state.attachments.push(a); fire("olkAttachmentsChanged"); },
    /** Run an associated event handler; resolves with the options it passed to event.completed. */
    fire(name) {
      return new Promise((resolve) => {
        const started = performance.now();
        actions[name]({ completed: (options) => resolve(Object.assign({ ms: performance.now() - started }, options || {})) });
      });
    },
    has(name) { return typeof actions[name] === "function"; },
  };
})();
