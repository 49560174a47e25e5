"""Table Storage adapter: the only module that talks to the Tables SDK directly.

Locally the app uses a connection string (Azurite); in Azure an endpoint and the app's
managed identity (no keys in app settings). Clients are built once per worker, nothing
connects at import, and a dependency that is down surfaces as ``DependencyUnavailable``
quickly (short timeouts, one retry) instead of hanging the caller.

Deadlines (issue 7 item 10): every HTTP attempt of every Table (and Key Vault) call is bounded by
``STORAGE_TIMEOUT_SECONDS`` and by the request's deadline (``sendsecure.context.deadline``),
whichever is nearer; the bound is applied in the transport, so it also holds for callers that use
a table client directly (batches). A storage that accepts connections but never answers (frozen)
costs a request at most its deadline, then 503.

Missing tables (issue 7 item 11): a table that disappeared (storage restarted empty, deleted by
hand) is created again on the first call that finds it missing, with an error in the log, and that
call is retried once; health lists the tables and reports the missing ones.

Errors (issue 9 item 4): nothing of the SDK leaves this module. No answer (refused, reset, timeout,
TLS, the request's deadline), 408, 429 and 5xx are ``DependencyUnavailable`` (503, with the
storage's ``Retry-After``); every other refusal (403 for a lost role assignment, 400) is too, and is
logged as an error with the status and the storage's error code. A lost optimistic-concurrency race
or an existing key is ``Conflict``. An entity that is not there is ``None`` from ``get`` and
``False`` from ``update_if_present``, never an exception.

Deleting many rows: ``delete_where`` queries the keys and deletes them in batches (entity group
transactions: up to 100 entities of one partition per request), so a purge of 1,000 rows in ten
partitions costs some ten round trips, not 1,000.
"""
from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sendsecure.errors import ConfigurationError, Conflict, DependencyUnavailable, retry_after_seconds
from sendsecure.settings import Settings

logger = logging.getLogger(__name__)

# Logical table names; the deployed name is TABLE_PREFIX + name.
TENANTS = "tenants"
SESSIONS = "sessions"
LOGIN_CODES = "logincodes"
LOGIN_GUARDS = "loginguards"
AUDIT = "audit"
BOOK = "domainbook"
BOOK_META = "domainbookmeta"
USER_SETTINGS = "usersettings"
PHONES = "phones"
ENVELOPES = "envelopes"
ENVELOPE_EVENTS = "envelopeevents"  # the gateway's delivery events (X6), sendsecure/gatewayservice.py
SENT_MESSAGES = "sentmessages"  # the envelopes by sender person, newest first (X6), sendsecure/envelopes.py
AUDIT_SEALS = "auditseals"  # each tenant's signed day seals and retention checkpoint (X7)
MAILBOX_HOLDERS = "mailboxholders"  # the person (tid + oid) holding each Entra mailbox (A2), sendsecure/holders.py
TABLE_NAMES = (TENANTS, SESSIONS, LOGIN_CODES, LOGIN_GUARDS, AUDIT, BOOK, BOOK_META, USER_SETTINGS, PHONES, ENVELOPES,
               ENVELOPE_EVENTS, SENT_MESSAGES, AUDIT_SEALS, MAILBOX_HOLDERS)


POOL_SIZE = 64  # above the worker's thread count, so concurrent requests reuse connections
BATCH_LIMIT = 100  # entities per entity group transaction (one partition each)
TRANSIENT_STATUS = frozenset((408, 429, 500, 502, 503, 504))
_ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.]{1,64}")
_NO_CONTENT = "return-no-content"  # an insert need not send the entity back
_BATCH_CONFLICTS = frozenset(("UpdateConditionNotSatisfied", "EntityAlreadyExists", "ConditionNotMet"))


def if_unchanged(etag: str) -> dict[str, Any]:
    """Options of a batch ``("update", entity, options)``: replace only if the ETag still matches."""
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode

    return {"mode": UpdateMode.REPLACE, "etag": etag, "match_condition": MatchConditions.IfNotModified}


def _bounded(kwargs: dict[str, Any], connection_timeout: float, read_timeout: float) -> dict[str, Any]:
    """The per-attempt timeouts of a transport's ``send``, cut to the request's deadline."""
    from sendsecure.context import time_left

    connect = kwargs.get("connection_timeout") or connection_timeout
    read = kwargs.get("read_timeout") or read_timeout
    if isinstance(connect, tuple):  # (connect, read) given by a caller
        connect, read = connect
        kwargs.pop("read_timeout", None)
    kwargs["connection_timeout"] = time_left(connect)
    kwargs["read_timeout"] = time_left(read)
    return kwargs


def deadline_transport(connection_timeout: float, read_timeout: float, **options: Any):
    """The SDK's requests transport with a connection pool as large as the worker's concurrency,
    no environment look-ups (proxy, .netrc) per request, and every attempt bounded by the timeouts
    and by the request's deadline (``sendsecure.context.time_left``). ``options`` go to
    ``RequestsTransport`` (e.g. ``connection_verify``). Key Vault and App Configuration use it;
    Table Storage uses ``table_transport``."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class DeadlineTransport(RequestsTransport):
        def send(self, request, **kwargs):
            return super().send(request, **_bounded(kwargs, connection_timeout, read_timeout))

    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE,
                          max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return DeadlineTransport(session=session, session_owner=False, use_env_settings=False,
                             connection_timeout=connection_timeout, read_timeout=read_timeout, **options)


def table_transport(connection_timeout: float, read_timeout: float):
    """Table Storage's transport: ``http.client`` with a shared keep-alive pool
    (``sendsecure.adapters.transport``: about 0.35 ms of CPU less per call than requests), every
    attempt bounded by the timeouts and by the request's deadline, behind a ``NotAnswering``
    guard (below)."""
    from azure.core.exceptions import ServiceRequestError, ServiceResponseError

    from sendsecure.adapters.transport import HttpClientTransport

    class DeadlineTableTransport(HttpClientTransport):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            self.guard = NotAnswering()

        def send(self, request, **kwargs):
            kwargs = _bounded(kwargs, connection_timeout, read_timeout)
            # A failure within the full timeouts is storage's; one cut short by the request's
            # deadline says nothing about storage (an on-send's 1 s budget, a slow moment).
            whole = kwargs["connection_timeout"] >= connection_timeout and kwargs["read_timeout"] >= read_timeout
            probe = self.guard.admit()
            answered: bool | None = None
            try:
                response = super().send(request, **kwargs)
                answered = True
                return response
            except (ServiceRequestError, ServiceResponseError):
                answered = False if whole else None
                if probe:   # the known outage goes on: no news, so no log line per request
                    raise StorageNotAnswering("Table Storage is not answering (probe)") from None
                raise
            finally:
                self.guard.record(probe, answered)

    return DeadlineTableTransport(connection_timeout=connection_timeout, read_timeout=read_timeout,
                                  pool_size=POOL_SIZE)


class StorageNotAnswering(ConnectionError):
    """Refused by ``NotAnswering`` without asking storage (not an ``AzureError``: not retried)."""


class NotAnswering:
    """Fail fast while Table Storage is known not to answer (the fault review of 2026-12-01).

    Each request waits for storage up to its deadline, on one of the worker's few function
    threads; with storage frozen those threads fill and every later request (on-send, health)
    waits in the queue for one, far past its own deadline. So after ``threshold`` attempts in a row
    that storage did not answer within the *whole* timeouts (not ones cut short by a request's
    deadline), only one attempt at a time goes out (the probe); the others fail at once
    (``StorageNotAnswering``, which the SDK's retry policy does not retry: 503 with Retry-After).
    The first answer, from the probe or any attempt already under way, closes it again. No timer:
    storage that comes back is noticed by the next probe. A probe goes out at most once per
    ``probe_interval`` seconds (from the start of the last one): storage that refuses connections
    fails a probe at once, and every request would otherwise be one (the outage review of the
    night of 2026-12-01: a warning per request with Azurite gone)."""

    def __init__(self, threshold: int = 2, probe_interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._interval = probe_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._probing = False
        self._probe_started = 0.0
        self._next_probe = 0.0     # after a failed probe: the next one not before this

    @property
    def open(self) -> bool:
        return self._failures >= self._threshold

    def admit(self) -> bool:
        """Whether this attempt is the probe; raises when storage is known not to answer and a
        probe is already out."""
        with self._lock:
            if self._failures < self._threshold:
                return False
            now = self._clock()
            if self._probing or now < self._next_probe:
                raise StorageNotAnswering("Table Storage is not answering (known); not asked again yet")
            self._probing = True
            self._probe_started = now
            return True

    def record(self, probe: bool, answered: bool | None) -> None:
        with self._lock:
            if probe:
                self._probing = False
                if answered is False:
                    self._next_probe = self._probe_started + self._interval
            if answered:
                if self._failures >= self._threshold:
                    logger.warning("Table Storage answers again")
                self._failures = 0
            elif answered is False:
                self._failures += 1
                if self._failures == self._threshold:
                    logger.error("Table Storage is not answering: one attempt at a time until it does, the "
                                 "others fail at once (503)")


def azure_credential(kind: str, client_id: str) -> Any:
    """The identity every adapter uses against Azure (``AZURE_CREDENTIAL``): the app's managed identity
    (user-assigned when ``AZURE_CLIENT_ID`` is set, else system-assigned), or ``azurecli``: the Azure
    CLI's login, for an operator's command (provision, offboard) from a workstation or the pipeline."""
    if kind == "azurecli":
        from azure.identity import AzureCliCredential

        return AzureCliCredential()
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id or None)


def _transport(timeout: int):
    return table_transport(timeout, timeout)


def _table_missing(error: Exception) -> bool:
    return getattr(error, "error_code", None) == "TableNotFound"


@contextmanager
def _storage_errors() -> Iterator[None]:
    """Every SDK (and socket, and deadline) failure escaping the block as the application's error."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except (TimeoutError, ConnectionError) as error:  # DeadlineExceeded from the transport included
        if not isinstance(error, StorageNotAnswering):  # that one was logged once, when it began
            logger.warning("Table Storage did not answer (%s)", type(error).__name__)
        raise DependencyUnavailable("Table Storage does not answer.") from None
    except AzureError as error:
        raise _application_error(error) from None


def _application_error(error: Exception) -> Exception:
    from azure.core.exceptions import (
        HttpResponseError,
        ResourceExistsError,
        ResourceModifiedError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(error, (ResourceExistsError, ResourceModifiedError)):
        return Conflict()
    if getattr(error, "error_code", None) in _BATCH_CONFLICTS:  # a batch's condition or existing key
        return Conflict()
    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        logger.warning("Table Storage did not answer (%s)", type(error).__name__)
        return DependencyUnavailable("Table Storage does not answer.")
    status = error.status_code if isinstance(error, HttpResponseError) else None
    code = getattr(error, "error_code", None)
    code = code if isinstance(code, str) and _ERROR_CODE_RE.fullmatch(code) else "-"
    if status in TRANSIENT_STATUS:
        response = getattr(error, "response", None)
        retry_after = retry_after_seconds(response.headers.get("Retry-After") if response is not None else None)
        logger.warning("Table Storage answered %d (%s); retry after %d s", status, code, retry_after)
        return DependencyUnavailable("Table Storage is busy or unavailable.", retry_after=retry_after)
    logger.error("Table Storage refused a request: %s %s (%s)", status if status is not None else "no status",
                 code, type(error).__name__)
    return DependencyUnavailable("Table Storage refused the request.")


class Contended(DependencyUnavailable):
    """``mutate`` lost every race: too many concurrent writers on one entity; nothing was written."""


class TableStore:
    def __init__(self, settings: Settings) -> None:
        if not settings.tables_configured:
            raise ConfigurationError("set TABLES_CONNECTION_STRING (local) or TABLES_ENDPOINT (Azure)")
        self._settings = settings
        self._service: Any = None
        self._tables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _service_client(self):
        if self._service is None:
            from azure.data.tables import TableServiceClient

            s = self._settings
            transport = _transport(s.storage_timeout_seconds)
            self.guard: NotAnswering = transport.guard   # the fail-fast guard (health and tests read it)
            options = dict(transport=transport, retry_total=1, retry_connect=1,
                           retry_backoff_factor=0.2)
            if s.tables_connection_string:
                self._service = TableServiceClient.from_connection_string(s.tables_connection_string, **options)
            else:
                credential = azure_credential(s.azure_credential, s.managed_identity_client_id)
                self._service = TableServiceClient(endpoint=s.tables_endpoint, credential=credential, **options)
        return self._service

    def table(self, name: str):
        """The client for a logical table, created on first use in this worker."""
        client = self._tables.get(name)
        if client is not None:
            return client
        # Not under the lock: a call that waits for a frozen storage must not make the others wait
        # past their own deadlines; two threads creating the same table is harmless.
        client = self._service_client().create_table_if_not_exists(self._settings.table_prefix + name)
        with self._lock:
            return self._tables.setdefault(name, client)

    def _recreate(self, name: str) -> None:
        """A table this worker used is gone: create it again (data in it is lost; say so)."""
        from azure.core.exceptions import ResourceExistsError

        logger.error("table %s is missing (storage restarted empty or the table was deleted); creating it "
                     "again, its earlier rows are gone", self._settings.table_prefix + name)
        with self._lock:
            self._tables.pop(name, None)
        try:
            self._service_client().create_table(self._settings.table_prefix + name)
        except ResourceExistsError:
            pass

    def _on_table(self, name: str, operation: Callable[[Any], Any], *, any_404: bool = False) -> Any:
        """``operation(table client)``; a missing table is created again and the call retried once.

        ``any_404``: the operation cannot miss an entity, so any 404 means the table is missing
        (an insert's 404 does not always carry the error code)."""
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        try:
            return operation(self.table(name))
        except ResourceNotFoundError as error:
            if not (any_404 or _table_missing(error)):
                raise
        except TableTransactionError as error:   # a batch says it with its own error type
            if not (error.status_code == 404 and _table_missing(error)):
                raise
        self._recreate(name)
        return operation(self.table(name))

    def missing_tables(self) -> list[str]:
        """The logical tables that do not exist in storage (one listing)."""
        prefix = self._settings.table_prefix
        with _storage_errors():
            if prefix:
                listed = self._service_client().query_tables(
                    "TableName ge @low and TableName lt @high", parameters={"low": prefix, "high": prefix + "~"})
            else:
                listed = self._service_client().list_tables()
            present = {table.name for table in listed}
        return [name for name in TABLE_NAMES if prefix + name not in present]

    def create_missing_tables(self) -> list[str]:
        """Create every table that does not exist (provisioning); returns the logical names created."""
        missing = self.missing_tables()
        for name in missing:
            with self._lock:
                self._tables.pop(name, None)
            with _storage_errors():
                self.table(name)
        return missing

    def ping(self) -> None:
        """Raise ``DependencyUnavailable`` unless storage answers a cheap read."""
        from azure.core.exceptions import ResourceNotFoundError

        with _storage_errors():
            try:
                self.table(TENANTS).get_entity("meta", "ping")
            except ResourceNotFoundError:
                return

    # ----- entity helpers ---------------------------------------------------------------

    def get(self, name: str, partition: str, row: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        with _storage_errors():
            try:
                return self._on_table(name, lambda table: table.get_entity(partition, row))
            except ResourceNotFoundError:
                return None

    def insert(self, name: str, entity: dict[str, Any]) -> None:
        """Create a new entity; ``Conflict`` if the key exists (append-only tables rely on it)."""
        with _storage_errors():
            self._on_table(name, lambda table: table.create_entity(entity, response_preference=_NO_CONTENT),
                           any_404=True)

    def upsert(self, name: str, entity: dict[str, Any], *, merge: bool = True) -> None:
        from azure.data.tables import UpdateMode

        mode = UpdateMode.MERGE if merge else UpdateMode.REPLACE
        with _storage_errors():
            self._on_table(name, lambda table: table.upsert_entity(entity, mode=mode), any_404=True)

    def update_if_present(self, name: str, entity: dict[str, Any]) -> bool:
        """Merge properties into an existing entity (``If-Match: *``); ``False`` if it is gone.

        Unlike ``upsert`` this never creates a row, so it cannot bring back one deleted elsewhere.
        """
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with _storage_errors():
            try:
                self.table(name).update_entity(entity, mode=UpdateMode.MERGE)
            except ResourceNotFoundError:
                return False
        return True

    def replace_if_unchanged(self, name: str, entity: dict[str, Any], etag: str) -> None:
        """Replace an entity read earlier, only if nobody changed it since (its ETag)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        with _storage_errors():
            try:
                self._on_table(name, lambda table: table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                ))
            except ResourceNotFoundError:
                raise Conflict() from None

    def delete(self, name: str, partition: str, row: str) -> None:
        with _storage_errors():
            self.table(name).delete_entity(partition, row)  # deleting a missing entity is not an error

    def submit(self, name: str, operations: list[tuple[str, dict[str, Any]]]
               | list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
        """One entity group transaction (``("create" | "upsert" | "delete", entity)``, or with
        options such as ``if_unchanged(etag)``; at most ``BATCH_LIMIT``, one partition): all of it
        or nothing (``Conflict`` when a condition fails). Returns each operation's metadata (etag)."""
        with _storage_errors():
            return [dict(result) for result in self._on_table(name, lambda table: table.submit_transaction(operations))]

    def insert_all(self, name: str, entities: list[dict[str, Any]], *,
                   upsert: tuple[dict[str, Any], ...] = ()) -> None:
        """Create entities of one partition, and insert-or-replace the ``upsert`` ones, in one entity
        group transaction (at most ``BATCH_LIMIT`` together): all of it or none; ``Conflict`` if a
        created key exists (then nothing is written)."""
        from azure.data.tables import TableTransactionError

        if len(entities) == 1 and not upsert:
            self.insert(name, entities[0])   # one row: a plain create (a transaction costs the SDK ~2 ms CPU)
            return
        operations = [("create", e) for e in entities] + [("upsert", e) for e in upsert]
        with _storage_errors():
            try:
                self._on_table(name, lambda table: table.submit_transaction(operations))
            except TableTransactionError as error:
                if error.status_code == 409:
                    raise Conflict() from None
                raise

    def delete_where(self, name: str, filter: str, parameters: dict[str, Any] | None = None, *,
                     select: list[str] | None = None,
                     keep: Callable[[dict[str, Any]], bool] | None = None) -> int:
        """Delete the entities matching ``filter`` (and not kept by ``keep(row)``, which sees the
        ``select``ed properties) in batches of up to ``BATCH_LIMIT`` per partition; returns how many.

        A row deleted meanwhile by someone else fails its batch; that batch is then deleted one by
        one (deleting a missing entity is not an error)."""
        fields = ["PartitionKey", "RowKey", *(f for f in select or () if f not in ("PartitionKey", "RowKey"))]
        pending: dict[str, list[str]] = {}
        removed = 0
        for row in self.query(name, filter, parameters, select=fields):
            if keep is not None and keep(row):
                continue
            keys = pending.setdefault(row["PartitionKey"], [])
            keys.append(row["RowKey"])
            if len(keys) == BATCH_LIMIT:
                removed += self._delete_batch(name, row["PartitionKey"], pending.pop(row["PartitionKey"]))
        for partition, keys in pending.items():
            removed += self._delete_batch(name, partition, keys)
        return removed

    def _delete_batch(self, name: str, partition: str, keys: list[str]) -> int:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableTransactionError

        if len(keys) == 1:
            self.delete(name, partition, keys[0])
            return 1
        with _storage_errors():
            try:
                self.table(name).submit_transaction(
                    [("delete", {"PartitionKey": partition, "RowKey": key}) for key in keys])
                return len(keys)
            except (TableTransactionError, ResourceNotFoundError) as error:
                if getattr(error, "status_code", None) != 404:
                    raise
        for key in keys:  # one of them went meanwhile: the rest one by one
            self.delete(name, partition, key)
        return len(keys)

    def query(self, name: str, filter: str, parameters: dict[str, Any] | None = None, select: list[str] | None = None,
              results_per_page: int | None = None):
        """The matching entities, lazily; a missing table is created again and reads as empty.
        ``results_per_page``: rows per storage round trip (a caller that wants a few asks for few)."""
        from azure.core.exceptions import ResourceNotFoundError

        with _storage_errors():
            pages = self.table(name).query_entities(filter, parameters=parameters or {}, select=select,
                                                    results_per_page=results_per_page)
            try:
                yield from pages
            except ResourceNotFoundError as error:
                if not _table_missing(error):
                    raise
                self._recreate(name)

    def mutate(
        self,
        name: str,
        partition: str,
        row: str,
        change: Callable[[dict[str, Any]], dict[str, Any] | None],
        attempts: int = 16,
    ) -> dict[str, Any]:
        """Read-modify-write one entity under optimistic concurrency.

        ``change`` gets the current properties (``{}`` if the entity does not exist) and returns
        the new ones, or ``None`` to leave the entity as it is. Lost races are retried, so
        concurrent callers never overwrite each other's counts. After a lost race a caller waits a
        random moment (full jitter, growing to 50 ms), so a burst on one row (a guesser's counters)
        settles instead of exhausting the attempts in lock step.
        """
        for attempt in range(attempts):
            if attempt:
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
            current = self.get(name, partition, row)
            state = dict(current) if current is not None else {}
            new = change(state)
            if new is None:
                return state
            new = {**new, "PartitionKey": partition, "RowKey": row}
            try:
                if current is None:
                    self.insert(name, new)
                else:
                    self.replace_if_unchanged(name, new, current.metadata["etag"])  # type: ignore[attr-defined]  # get gives the SDK's TableEntity
                return new
            except Conflict:
                continue
        raise Contended("Storage is too busy to record this safely; try again.", retry_after=1)
