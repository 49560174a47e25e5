"""Issue 7 items 10 and 11 at the storage adapter: deadlines on every call (a frozen Azurite, a
stalled Key Vault) and tables that disappeared."""
from __future__ import annotations

import concurrent.futures
import os
import signal

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.context import deadline
from sendsecure.errors import dependency_failure

CLIENT_BOUND = 5.0  # the caller's own patience; the deadline under test is far below it


def drop_table(name: str) -> None:
    runtime.tables()._service_client().delete_table(os.environ["TABLE_PREFIX"] + name)


@pytest.mark.parametrize("operation", ["get", "insert", "upsert", "query", "mutate"])
def test_issue7_item11_a_table_that_disappeared_is_created_again(app_env, operation, caplog):
    tables = runtime.tables()
    tables.upsert(storage.USER_SETTINGS, {"PartitionKey": "p", "RowKey": "before"})  # the client is cached
    drop_table(storage.USER_SETTINGS)

    entity = {"PartitionKey": "p", "RowKey": "after"}
    {"get": lambda: tables.get(storage.USER_SETTINGS, "p", "before"),
     "insert": lambda: tables.insert(storage.USER_SETTINGS, entity),
     "upsert": lambda: tables.upsert(storage.USER_SETTINGS, entity),
     "query": lambda: list(tables.query(storage.USER_SETTINGS, "PartitionKey eq 'p'")),
     "mutate": lambda: tables.mutate(storage.USER_SETTINGS, "p", "after", lambda state: {"n": 1})}[operation]()

    assert storage.USER_SETTINGS not in tables.missing_tables()
    assert any(r.levelname == "ERROR" and "missing" in r.getMessage() for r in caplog.records)


def test_issue7_item11_health_names_the_missing_tables(app_env):
    from sendsecure.http import health

    assert health.check()["storage"] == "ok"
    drop_table(storage.TENANTS)
    drop_table(storage.SESSIONS)

    report = health.check()
    assert report["status"] == "unavailable" and report["storage"] == "tables_missing"
    assert set(report["missing_tables"]) == {storage.TENANTS, storage.SESSIONS}


@pytest.fixture
def frozen_storage(app_env, monkeypatch):
    """A TableStore on an Azurite of its own, frozen with SIGSTOP (SIGCONT in the finally)."""
    from devhost.azurite import Azurite

    with Azurite() as own:
        monkeypatch.setenv("TABLES_CONNECTION_STRING", own.connection_string)
        runtime.reset()
        runtime.tables().create_missing_tables()
        os.killpg(own.process.pid, signal.SIGSTOP)
        try:
            yield runtime.tables()
        finally:
            os.killpg(own.process.pid, signal.SIGCONT)


def test_issue7_item10_every_storage_call_ends_by_the_deadline_when_storage_is_frozen(frozen_storage):
    def bounded(call):
        with deadline(0.5):
            call()

    calls = [lambda: frozen_storage.get(storage.SESSIONS, "p", "r"),
             lambda: frozen_storage.insert(storage.AUDIT, {"PartitionKey": "p", "RowKey": "r"}),
             lambda: list(frozen_storage.query(storage.PHONES, "PartitionKey eq 'p'")),
             lambda: frozen_storage.missing_tables()]
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        futures = [pool.submit(bounded, call) for call in calls]
        for future in futures:
            error = future.exception(timeout=CLIENT_BOUND)  # a TimeoutError here is the hang of issue 7.10
            assert dependency_failure(error) is not None  # what the HTTP edge turns into 503 + Retry-After
