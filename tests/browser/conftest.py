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

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from addin_pane import AXE, CHROMIUM, DIST, new_prefix
from devhost_process import DevHost, start_devhost, stop_devhost


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


@pytest.fixture(scope="module")
def devhost(azurite, tmp_path_factory, needs_build) -> Iterator[DevHost]:
    host = start_devhost(tmp_path_factory.mktemp("devhost"), {
        "TABLES_CONNECTION_STRING": azurite.connection_string, "TABLE_PREFIX": new_prefix()})
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


