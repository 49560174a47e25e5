"""Helpers of the browser tier (conftest.py): the pane page with the Office.js double, login
through the API, the per-state checks (screenshot, 320 px overflow, axe-core)."""
from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from devhost_process import DevHost  # noqa: E402

DIST = ROOT / "addin" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "addin" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / "test-artifacts" / "browser"
OFFICE_JS = "https://appsforoffice.microsoft.com/**"
DOUBLE = (Path(__file__).parent / "office_double.js").read_text("utf-8")
PANE_WIDTH = 320
# Collects what the Content-Security-Policy refuses, from before the page's first script.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__cspViolations.push(
    `${e.effectiveDirective} ${e.blockedURI || "inline"} ${e.sourceFile || ""}:${e.lineNumber}`));
"""


def new_prefix() -> str:
    return f"b{os.getpid()}x{time.monotonic_ns() % 10**9}"


def latest_code(outbox: Path, after: set[Path]) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = sorted(set(outbox.glob("*.eml")) - after)
        if new:
            match = re.search(r"X-Dev-Login-Code: (\d{6})", new[-1].read_text("utf-8"))
            if match:
                return match.group(1)
        time.sleep(0.05)
    raise AssertionError("no login mail arrived in the outbox")


def api_login(host: DevHost, mailbox: str) -> dict[str, Any]:
    """A session through the API (the UI login has its own test)."""
    before = set(host.outbox.glob("*.eml"))
    challenge = requests.post(host.url("/api/v1/auth/email-code"), json={"mailbox": mailbox}, timeout=10).json()
    code = latest_code(host.outbox, before)
    answer = requests.post(host.url("/api/v1/auth/email-code/verify"), timeout=10,
                           json={"challenge_id": challenge["challenge_id"], "code": code, "device_id": "browser-test"})
    assert answer.status_code == 200, answer.text
    return answer.json()


@dataclass
class Pane:
    page: Any
    host: DevHost
    mailbox: str
    name: str
    errors: list[str] = field(default_factory=list)  # uncaught errors of the page
    csp_console: list[str] = field(default_factory=list)  # console messages about the Content-Security-Policy

    def csp_violations(self) -> list[str]:
        """What the page's Content-Security-Policy refused (securitypolicyviolation events and console)."""
        events = self.page.evaluate("window.__cspViolations || []")
        return [*events, *self.csp_console]

    def state(self) -> dict[str, Any]:
        return self.page.evaluate("JSON.parse(JSON.stringify(window.__office.state))")

    def check(self, state: str) -> None:
        """Screenshot, no horizontal overflow at 320 px, no serious or critical axe violation."""
        page = self.page
        page.wait_for_timeout(50)  # one frame for layout after the last change (not a timing assertion)
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / f"{self.name}--{state}.png"), full_page=True)
        overflow = page.evaluate("""() => {
            const width = document.documentElement.clientWidth;
            const wide = [...document.querySelectorAll('body *')].filter((el) => {
                const box = el.getBoundingClientRect();
                return box.width > 0 && box.right > width + 0.5 && getComputedStyle(el).position !== 'fixed';
            }).map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + ' '
                           + (el.textContent || '').slice(0, 40));
            return { scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 5) };
        }""")
        assert overflow["scroll"] <= PANE_WIDTH and not overflow["wide"], f"{state}: horizontal overflow {overflow}"
        # axe-core comes in as an init script (open_pane): a script tag would be inline script,
        # which the add-in's Content-Security-Policy refuses, as it should.
        assert page.evaluate("typeof window.axe === 'object'"), "axe-core not loaded"
        violations = page.evaluate("""async () => {
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
              .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
        }""")
        assert violations == [], f"{state}: axe violations {json.dumps(violations, indent=1)}"
        assert self.errors == [], f"{state}: uncaught errors in the page: {self.errors}"
        assert self.csp_violations() == [], f"{state}: Content-Security-Policy violations {self.csp_violations()}"


def open_pane(browser: Any, host: DevHost, name: str, mailbox: str, *, session: dict[str, Any] | None = None,
              page_name: str = "taskpane.html", **office: Any) -> Pane:
    """A page of the add-in at the task pane's width, with the Office.js double holding ``office``."""
    context = browser.new_context(viewport={"width": PANE_WIDTH, "height": 900}, locale="nl-NL")
    # Routes run newest first: the Office.js double before the rule that nothing else leaves the machine.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    context.route(OFFICE_JS, lambda route: route.fulfill(status=200, content_type="text/javascript", body=DOUBLE))
    state = {"mailbox": mailbox, **office}
    script = f"window.__officeState = {json.dumps(state)};" + CSP_LISTENER
    if session is not None:
        stored = {"token": session["session_token"], "mailbox": session["mailbox"], "expiresAt": session["expires_at"],
                  "loginMethod": session["login_method"]}
        key = json.dumps("sendsecure.session." + mailbox.lower())
        script += f"localStorage.setItem({key}, {json.dumps(json.dumps(stored))});"
    context.add_init_script(script)
    context.add_init_script(path=str(AXE))  # not subject to the page's CSP (as a script tag would be)
    page = context.new_page()
    pane = Pane(page, host, mailbox, name)
    page.on("pageerror", lambda error: pane.errors.append(str(error)))
    page.on("console", lambda message: pane.csp_console.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(host.url(f"/addin/{page_name}"))
    return pane
