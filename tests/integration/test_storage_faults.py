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
from sendsecure.errors import DependencyUnavailable

CLIENT_BOUND = 5.0  # the caller's own patience; the deadline under test is far below it


def drop_table(name: str) -> None:
    runtime.tables()._service_client().delete_table(os.environ["TABLE_PREFIX"] + name)


@pytest.mark.parametrize("operation", ["get", "insert", "upsert", "query", "mutate", "insert_all", "submit"])
def test_issue7_item11_a_table_that_disappeared_is_created_again(app_env, operation, caplog):
    tables = runtime.tables()
    tables.upsert(storage.USER_SETTINGS, {"PartitionKey": "p", "RowKey": "before"})  # the client is cached
    drop_table(storage.USER_SETTINGS)

    entity = {"PartitionKey": "p", "RowKey": "after"}
    {"get": lambda: tables.get(storage.USER_SETTINGS, "p", "before"),
     "insert": lambda: tables.insert(storage.USER_SETTINGS, entity),
     "upsert": lambda: tables.upsert(storage.USER_SETTINGS, entity),
     "query": lambda: list(tables.query(storage.USER_SETTINGS, "PartitionKey eq 'p'")),
     "mutate": lambda: tables.mutate(storage.USER_SETTINGS, "p", "after", lambda state: {"n": 1}),
     # found by the fault review: a batch says "table missing" with its own error type
     "insert_all": lambda: tables.insert_all(storage.USER_SETTINGS, [entity, {**entity, "RowKey": "also"}]),
     "submit": lambda: tables.submit(storage.USER_SETTINGS, [("upsert", entity)])}[operation]()

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
            # the adapter's own error, which the HTTP edge turns into 503 + Retry-After (issue 9 item 4)
            assert isinstance(error, DependencyUnavailable) and error.retry_after


# ----- issue 9 item 4: the adapter speaks the application's language ------------------------

AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def store_at(port: int) -> storage.TableStore:
    from sendsecure.settings import from_environment

    connection = (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};"
                  f"TableEndpoint=http://127.0.0.1:{port}/devstoreaccount1;")
    return storage.TableStore(from_environment({"TABLES_CONNECTION_STRING": connection,
                                                "STORAGE_TIMEOUT_SECONDS": "2"}))


@pytest.fixture
def refusing_storage():
    """A local HTTP server that answers every request with ``answer`` = (status, headers)."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        answer: tuple[int, dict[str, str]] = (503, {})

        def _reply(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, headers = Handler.answer
            body = b'{"odata.error":{"code":"ServerBusy","message":{"value":"busy"}}}'
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _reply

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Handler, store_at(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_issue9_item4_storage_that_refuses_connections_is_dependency_unavailable():
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tables = store_at(port)
    calls = [lambda: tables.get(storage.SESSIONS, "p", "r"), lambda: list(tables.query(storage.PHONES, "x eq 1")),
             lambda: tables.delete_where(storage.PHONES, "x eq 1"), lambda: tables.missing_tables()]
    for call in calls:
        with pytest.raises(DependencyUnavailable) as raised:  # not the SDK's ServiceRequestError
            call()
        assert raised.value.retry_after


def test_issue7_item10_storage_gone_logs_when_the_outage_begins_not_per_request(caplog):
    """Connections refused (Azurite killed): a few warnings and one error when it begins, then
    503s without a log line each (docs/operations.md "Deadlines")."""
    import logging
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tables = store_at(port)
    with caplog.at_level(logging.WARNING, logger="sendsecure.adapters.storage"):
        for _ in range(30):
            with pytest.raises(DependencyUnavailable):
                tables.get(storage.SESSIONS, "p", "r")
    lines = [r for r in caplog.records if r.name == "sendsecure.adapters.storage"]
    assert len(lines) <= 4, [r.getMessage() for r in lines]
    assert [r.getMessage() for r in lines if r.levelno == logging.ERROR] == [
        "Table Storage is not answering: one attempt at a time until it does, the others fail at once (503)"]


def test_issue9_item4_throttled_storage_is_dependency_unavailable_with_its_retry_after(refusing_storage):
    handler, tables = refusing_storage
    handler.answer = (503, {"Retry-After": "1"})
    with pytest.raises(DependencyUnavailable) as raised:
        tables.get(storage.SESSIONS, "p", "r")
    assert raised.value.retry_after == 1 and raised.value.status == 503


def test_issue9_item4_storage_that_refuses_the_request_is_dependency_unavailable_and_logged(refusing_storage, caplog):
    handler, tables = refusing_storage
    handler.answer = (403, {})
    with pytest.raises(DependencyUnavailable):
        tables.upsert(storage.USER_SETTINGS, {"PartitionKey": "p", "RowKey": "r"})
    assert any(r.levelname == "ERROR" and "403" in r.getMessage() for r in caplog.records)


def test_issue9_item4_a_lost_race_is_the_application_conflict(app_env):
    from sendsecure.errors import Conflict

    tables = runtime.tables()
    tables.insert(storage.USER_SETTINGS, {"PartitionKey": "race", "RowKey": "r", "n": 1})
    stale = tables.get(storage.USER_SETTINGS, "race", "r")
    tables.upsert(storage.USER_SETTINGS, {"PartitionKey": "race", "RowKey": "r", "n": 2})
    with pytest.raises(Conflict):
        tables.replace_if_unchanged(storage.USER_SETTINGS, {"PartitionKey": "race", "RowKey": "r", "n": 3},
                                    stale.metadata["etag"])
    with pytest.raises(Conflict):
        tables.insert(storage.USER_SETTINGS, {"PartitionKey": "race", "RowKey": "r"})


@pytest.fixture
def transactions(monkeypatch):
    """The entity group transactions sent, as lists of (operation, entity)."""
    from azure.data.tables import TableClient

    sent: list[list] = []
    original = TableClient.submit_transaction

    def counting(self, operations, **kwargs):
        sent.append(list(operations))
        return original(self, operations, **kwargs)

    monkeypatch.setattr(TableClient, "submit_transaction", counting)
    return sent


def test_issue9_item4_delete_where_deletes_in_batches_of_at_most_100_per_partition(app_env, transactions):
    tables = runtime.tables()
    for partition, count in (("a", 150), ("b", 100), ("keep", 3)):
        for start in range(0, count, 100):
            tables.submit(storage.LOGIN_GUARDS, [
                ("upsert", {"PartitionKey": partition, "RowKey": f"{n:04d}", "old": True})
                for n in range(start, min(count, start + 100))])
    transactions.clear()

    removed = tables.delete_where(storage.LOGIN_GUARDS, "PartitionKey eq 'a' or PartitionKey eq 'b'")

    assert removed == 250
    assert sorted(len(batch) for batch in transactions) == [50, 100, 100]  # 3 round trips, not 250
    assert all(len({entity["PartitionKey"] for _, entity in batch}) == 1 for batch in transactions)
    left = {row["PartitionKey"] for row in tables.query(storage.LOGIN_GUARDS, "PartitionKey ge ''")}
    assert left == {"keep"}


def test_issue9_item4_delete_where_keeps_what_keep_says_and_survives_rows_deleted_meanwhile(app_env):
    tables = runtime.tables()
    tables.submit(storage.LOGIN_GUARDS, [("upsert", {"PartitionKey": "p", "RowKey": f"{n:02d}", "locked": n % 2 == 0})
                                         for n in range(10)])

    def keep(row):
        tables.delete(storage.LOGIN_GUARDS, "p", "09")  # another worker's purge, between query and batch
        return row["locked"]

    removed = tables.delete_where(storage.LOGIN_GUARDS, "PartitionKey eq 'p'", select=["locked"], keep=keep)

    assert removed == 5
    assert sorted(row["RowKey"] for row in tables.query(storage.LOGIN_GUARDS, "PartitionKey eq 'p'")) == \
        ["00", "02", "04", "06", "08"]


def test_issue7_item10_storage_not_answering_holds_one_attempt_at_a_time_and_recovers(app_env, monkeypatch, caplog):
    """Found by the fault review: with storage frozen every request held a function thread up to its
    deadline, so on-send and health queued far past theirs. After two attempts storage left
    unanswered, only one attempt (the probe) goes out; the others fail at once; an answer closes it."""
    from devhost.azurite import Azurite

    with Azurite() as own:
        monkeypatch.setenv("TABLES_CONNECTION_STRING", own.connection_string)
        monkeypatch.setenv("STORAGE_TIMEOUT_SECONDS", "1")
        runtime.reset()
        tables = runtime.tables()
        tables.create_missing_tables()
        os.killpg(own.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(DependencyUnavailable):        # two attempts (the SDK retries once), both unanswered
                tables.get(storage.SESSIONS, "p", "r")
            assert tables.guard.open
            probe = tables.guard.admit()                       # a probe is out (another thread's request)
            caplog.clear()
            with pytest.raises(DependencyUnavailable):
                tables.get(storage.SESSIONS, "p", "r")
            assert not any("did not answer" in r.getMessage() for r in caplog.records)   # storage was not asked
            tables.guard.record(probe, None)
        finally:
            os.killpg(own.process.pid, signal.SIGCONT)
        assert tables.get(storage.SESSIONS, "p", "r") is None  # thawed: the next attempt is the probe, and answers
        assert not tables.guard.open
