"""Test session: Azurite started once (by its own pid, stopped at the end), fresh settings per test.

Tiers: tests/unit (pure, no services), tests/functions (registered functions called through
``app.get_functions()``), tests/integration (Azurite), tests/e2e (development host over HTTP).
"""
from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Property tests explore new random examples on every local run; in CI (CI=true) they replay a
# fixed sequence, so a green build stays green and a failure is reproducible.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")
TEST_TENANTS = ROOT / "tests" / "data" / "tenants.json"
_prefixes = itertools.count(1)


@pytest.fixture(scope="session")
def azurite():
    from devhost.azurite import Azurite

    with Azurite() as server:
        yield server


@pytest.fixture
def app_env(azurite, tmp_path, monkeypatch):
    """Settings for one test: its own tables (a fresh prefix), outbox and key folder, provisioned."""
    from sendsecure import runtime
    from sendsecure.core.tenants import load_tenant_files
    from sendsecure.provision import provision

    env = {
        "TABLES_CONNECTION_STRING": azurite.connection_string,
        "TABLE_PREFIX": f"t{os.getpid()}x{next(_prefixes)}",
        "MAIL_TRANSPORT": "outbox",
        "MAIL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "LOCAL_KEY_DIR": str(tmp_path / "keys"),
        "TENANT_DEFINITIONS": str(TEST_TENANTS),
        "PURGE_SCHEDULE": "0 17 3 * * *",
    }
    for name in [n for n in os.environ if n.startswith(("LOGIN_", "SESSION_", "MAIL_", "GRAPH_", "SMTP_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    tenants = load_tenant_files([TEST_TENANTS])
    # The explicit provisioning step (keys are never made by a request): the master key, one
    # phone key per tenant, every table.
    provision([t.id for t in tenants])
    runtime.tenant_directory().save(tenants)
    yield env
    if runtime.audit_log.cache_info().currsize:  # write the test's pending chain heads now, while its
        runtime.audit_log().flush()              # storage is up (not from a background thread later)
    runtime.reset()


@pytest.fixture
def outbox(app_env):
    from helpers import Outbox

    return Outbox(Path(app_env["MAIL_OUTBOX_DIR"]))


@pytest.fixture
def sample_book(app_env):
    """The shipped sample domain book, both variants, published through the sync's parsers."""
    from sendsecure import runtime
    from sendsecure.bookstore import publish_from_sources

    return publish_from_sources(runtime.books(), ROOT / "domainbook" / "variants.json", ["zorgmail", "sigra"])


@pytest.fixture(scope="session")
def functions():
    """The app's functions by name, through ``app.get_functions()`` (which may run once per app)."""
    import function_app

    return {fn.get_function_name(): fn for fn in function_app.app.get_functions()}
