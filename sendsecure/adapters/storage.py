"""Table Storage adapter: the only module that talks to the Tables SDK directly.

Locally the app uses a connection string (Azurite); in Azure an endpoint and the app's
managed identity (no keys in app settings). Clients are built once per worker, nothing
connects at import, and a dependency that is down surfaces as ``DependencyUnavailable``
quickly (short timeouts, one retry) instead of hanging the caller.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable

from sendsecure.errors import ConfigurationError, DependencyUnavailable
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
TABLE_NAMES = (TENANTS, SESSIONS, LOGIN_CODES, LOGIN_GUARDS, AUDIT, BOOK, BOOK_META, USER_SETTINGS, PHONES)


POOL_SIZE = 64  # above the worker's thread count, so concurrent requests reuse connections


def _transport(timeout: int):
    """The SDK's requests transport with a connection pool as large as the worker's concurrency,
    no environment look-ups (proxy, .netrc) per request, and short timeouts."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_SIZE,
                          max_retries=Retry(total=False, redirect=False, raise_on_status=False))
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter)
    return RequestsTransport(session=session, session_owner=False, use_env_settings=False,
                             connection_timeout=timeout, read_timeout=timeout)


class Conflict(Exception):
    """An optimistic-concurrency write lost the race (the entity changed or already exists)."""


class Contended(DependencyUnavailable):
    """``mutate`` lost every race: too many concurrent writers on one entity; nothing was written."""


class TableStore:
    def __init__(self, settings: Settings) -> None:
        if not settings.tables_configured:
            raise ConfigurationError("set TABLES_CONNECTION_STRING (local) or TABLES_ENDPOINT (Azure)")
        self._settings = settings
        self._service = None
        self._tables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _service_client(self):
        if self._service is None:
            from azure.data.tables import TableServiceClient

            s = self._settings
            options = dict(transport=_transport(s.storage_timeout_seconds), retry_total=1, retry_connect=1,
                           retry_backoff_factor=0.2)
            if s.tables_connection_string:
                self._service = TableServiceClient.from_connection_string(s.tables_connection_string, **options)
            else:
                from azure.identity import ManagedIdentityCredential

                credential = ManagedIdentityCredential(client_id=s.managed_identity_client_id or None)
                self._service = TableServiceClient(endpoint=s.tables_endpoint, credential=credential, **options)
        return self._service

    def table(self, name: str):
        """The client for a logical table, created on first use in this worker."""
        client = self._tables.get(name)
        if client is not None:
            return client
        with self._lock:
            client = self._tables.get(name)
            if client is None:
                client = self._service_client().create_table_if_not_exists(self._settings.table_prefix + name)
                self._tables[name] = client
        return client

    def ping(self) -> None:
        """Raise ``DependencyUnavailable`` unless storage answers a cheap read."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            self.table(TENANTS).get_entity("meta", "ping")
        except ResourceNotFoundError:
            return
        except AzureError:
            raise DependencyUnavailable("Table Storage does not answer.") from None

    # ----- entity helpers ---------------------------------------------------------------

    def get(self, name: str, partition: str, row: str) -> dict[str, Any] | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.table(name).get_entity(partition, row)
        except ResourceNotFoundError:
            return None

    def insert(self, name: str, entity: dict[str, Any]) -> None:
        """Create a new entity; ``Conflict`` if the key exists (append-only tables rely on it)."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self.table(name).create_entity(entity)
        except ResourceExistsError:
            raise Conflict() from None

    def upsert(self, name: str, entity: dict[str, Any], *, merge: bool = True) -> None:
        from azure.data.tables import UpdateMode

        self.table(name).upsert_entity(entity, mode=UpdateMode.MERGE if merge else UpdateMode.REPLACE)

    def update_if_present(self, name: str, entity: dict[str, Any]) -> bool:
        """Merge properties into an existing entity (``If-Match: *``); ``False`` if it is gone.

        Unlike ``upsert`` this never creates a row, so it cannot bring back one deleted elsewhere.
        """
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self.table(name).update_entity(entity, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            return False
        return True

    def replace_if_unchanged(self, name: str, entity: dict[str, Any], etag: str) -> None:
        """Replace an entity read earlier, only if nobody changed it since (its ETag)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
        from azure.data.tables import UpdateMode

        try:
            self.table(name).update_entity(
                entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            raise Conflict() from None

    def delete(self, name: str, partition: str, row: str) -> None:
        self.table(name).delete_entity(partition, row)  # deleting a missing entity is not an error

    def query(self, name: str, filter: str, parameters: dict[str, Any] | None = None, select: list[str] | None = None):
        return self.table(name).query_entities(filter, parameters=parameters or {}, select=select)

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
                    self.replace_if_unchanged(name, new, current.metadata["etag"])
                return new
            except Conflict:
                continue
        raise Contended("Storage is too busy to record this safely; try again.", retry_after=1)
