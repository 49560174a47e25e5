"""The browser tier: the built add-in (addin/dist) in Debian's headless chromium, driven by Playwright
against the development host, with Office.js replaced by a test double of the compose item
(office_double.js, served in place of Microsoft's CDN script).

Needs ``make addin-build`` and /usr/bin/chromium: without them these tests are skipped, except
under ``make test`` (SENDSECURE_BROWSER_TESTS=required), which builds, installs and requires them.
Each state is saved as a screenshot in test-artifacts/browser/ (gitignored), checked for
horizontal overflow at the task pane's 320 px and checked with axe-core (no serious or critical
violation).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from devhost_process import DevHost, start_devhost, stop_devhost  # noqa: E402

DIST = ROOT / "addin" / "dist"
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "addin" / "node_modules" / "axe-core" / "axe.min.js"
ARTEFACTS = ROOT / "test-artifacts" / "browser"
OFFICE_JS = "https://appsforoffice.microsoft.com/**"
DOUBLE = (Path(__file__).parent / "office_double.js").read_text("utf-8")
PANE_WIDTH = 320


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: the add-in in headless chromium (tests/browser)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def needs_build() -> None:
    """The built add-in and chromium: skipped without them, but failed under ``make test``."""
    missing = [what for what, present in (("addin/dist (make addin-build)", (DIST / "taskpane.html").is_file()),
                                          ("/usr/bin/chromium (make chromium)", CHROMIUM.exists()),
                                          ("addin/node_modules/axe-core", AXE.is_file())) if not present]
    if missing:
        reason = "the browser tests need: " + ", ".join(missing)
        if os.environ.get("SENDSECURE_BROWSER_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)


def _prefix() -> str:
    return f"b{os.getpid()}x{time.monotonic_ns() % 10**9}"


@pytest.fixture(scope="module")
def devhost(azurite, tmp_path_factory, needs_build) -> Iterator[DevHost]:
    host = start_devhost(tmp_path_factory.mktemp("devhost"), {
        "TABLES_CONNECTION_STRING": azurite.connection_string, "TABLE_PREFIX": _prefix()})
    yield host
    stop_devhost(host)


@pytest.fixture(scope="module")
def browser(needs_build) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Debian's chromium, never a downloaded one; as root the sandbox cannot start.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield browser
        browser.close()


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
        if not page.evaluate("typeof window.axe === 'object'"):
            page.add_script_tag(path=str(AXE))
        violations = page.evaluate("""async () => {
            const result = await axe.run(document, { resultTypes: ['violations'] });
            return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
              .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                             nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
        }""")
        assert violations == [], f"{state}: axe violations {json.dumps(violations, indent=1)}"


def open_pane(browser: Any, host: DevHost, name: str, mailbox: str, *, session: dict[str, Any] | None = None,
              page_name: str = "taskpane.html", **office: Any) -> Pane:
    """A page of the add-in at the task pane's width, with the Office.js double holding ``office``."""
    context = browser.new_context(viewport={"width": PANE_WIDTH, "height": 900}, locale="nl-NL")
    # Routes run newest first: the Office.js double before the rule that nothing else leaves the machine.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1)"), lambda route: route.abort())
    context.route(OFFICE_JS, lambda route: route.fulfill(status=200, content_type="text/javascript", body=DOUBLE))
    state = {"mailbox": mailbox, **office}
    script = f"window.__officeState = {json.dumps(state)};"
    if session is not None:
        stored = {"token": session["session_token"], "mailbox": session["mailbox"], "expiresAt": session["expires_at"],
                  "loginMethod": session["login_method"]}
        key = json.dumps("sendsecure.session." + mailbox.lower())
        script += f"localStorage.setItem({key}, {json.dumps(json.dumps(stored))});"
    context.add_init_script(script)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(host.url(f"/addin/{page_name}"))
    pane = Pane(page, host, mailbox, name)
    pane.errors = errors  # type: ignore[attr-defined]
    return pane
