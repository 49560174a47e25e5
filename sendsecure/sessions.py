"""Sessions (SPEC A3, A5): opaque bearer tokens for one person's mailbox on one device.

- A token has 256 random bits; only its SHA-256 is stored (row key), so a copy of the table
  holds no usable token. A fast hash is right here: the token is random, not a password.
- A session ends after ``idle`` seconds without use (sliding, 30 days), after its absolute
  lifetime (90 days) or at logout. The last-use time is written at most once per ``touch``
  seconds (an hour), not per request.
- Each worker caches validated sessions for ``cache_seconds`` (default 5) so that a burst of
  calls from the add-in costs no storage round trip. Logout removes the row and this worker's
  copy at once; another worker may accept the ended token until its copy is that old. Set
  ``SESSION_CACHE_SECONDS=0`` to read storage on every request.
- Every request also finds the session's tenant onboarded and still using the session's login
  method (issue 8 item 1), in the worker's tenant directory (in memory, refreshed every
  ``TENANT_CACHE_SECONDS``), so the check costs no storage round trip.
- The hourly last-use write updates the row only if it is still there (``If-Match: *``); a row
  deleted by another worker (logout, offboarding, purge) means logged out, never a new row.
- An Entra session also names the mailbox's holder (``holder``: the pseudonym of tid + oid) and
  since when they hold it (``holder_since``; sendsecure/holders.py), so the sender's message list
  and revoke need no read per request to leave out an earlier holder's messages. A row without
  them (written before holders existed, or an e-mail code session) reads as ``None``: the mailbox
  is the person, since the beginning. ``end_mailbox`` ends a mailbox's sessions when it changes
  hands.
- A session's *person key* (``Session.holder_key``, ``person_key``) says whose stored numbers and
  settings it reads and writes: ``""`` (the data keyed by the mailbox alone, as before holders
  existed) for an e-mail code session, a session without holder fields and the first holder
  recorded (``holder_since`` = ``BEGINNING``: their data stays where it was, no migration); the
  holder's pseudonym for any later holder. A late write of an earlier holder (a request in flight,
  another worker's copy of their session) so lands in their own place, never the next holder's.
"""
from __future__ import annotations

import hashlib
import math
import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sendsecure.adapters import storage
from sendsecure.core.cache import TtlCache
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.errors import Unauthenticated

if TYPE_CHECKING:
    from collections.abc import Collection

    from sendsecure.adapters.keys import Pseudonyms
    from sendsecure.audit import AuditLog
    from sendsecure.core.models import SessionAnswer
    from sendsecure.tenantstore import TenantDirectory

TOKEN_PREFIX = "sst_"
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)   # ``holder_since`` of a mailbox's first recorded holder


def person_key(holder: str | None, since: datetime | None) -> str:
    """Whose data within a mailbox (see the module's docstring): ``""`` without a holder or for
    the first holder recorded (since ``BEGINNING``), else the holder's pseudonym."""
    if not holder or since is None or as_utc(since) <= BEGINNING:
        return ""
    return holder


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Session:
    tenant_id: str
    mailbox: str
    login_method: str
    device_id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime  # absolute end
    holder: str | None = None            # Entra: the holder's pseudonym (tid + oid); None: the mailbox is the person
    holder_since: datetime | None = None  # Entra: since when the holder holds the mailbox; None: always

    @property
    def holder_key(self) -> str:
        """The person key of this session's stored numbers and settings (``person_key``)."""
        return person_key(self.holder, self.holder_since)

    def idle_expires_at(self, idle_seconds: int) -> datetime:
        return min(self.last_used_at + timedelta(seconds=idle_seconds), self.expires_at)

    def is_valid(self, now: datetime, idle_seconds: int) -> bool:
        return now < self.idle_expires_at(idle_seconds)


@dataclass(frozen=True)
class SessionPolicy:
    idle_seconds: int
    absolute_seconds: int
    touch_seconds: int
    cache_seconds: float


class SessionService:
    def __init__(self, tables: storage.TableStore, policy: SessionPolicy,
                 tenants: TenantDirectory | None = None, *, audit_log: AuditLog, pseudonyms: Pseudonyms) -> None:
        self._tables = tables
        self.policy = policy
        self._tenants = tenants
        self._audit = audit_log
        self._pseudonyms = pseudonyms
        ttl = policy.cache_seconds
        # Kept up to twice the window: one request refreshes a stale copy while others use it.
        self._cache: TtlCache[str, Session] = TtlCache(ttl, grace=ttl if math.isfinite(ttl) else 0.0)
        self._unknown: TtlCache[str, bool] = TtlCache(ttl)  # tokens are random: unknown stays unknown
        self._refreshing: set[str] = set()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(digest: str) -> tuple[str, str]:
        return digest[:2], digest

    def create(self, *, tenant_id: str, mailbox: str, login_method: str, device_id: str,
               now: datetime | None = None, holder: str | None = None,
               holder_since: datetime | None = None) -> tuple[str, Session]:
        now = now or utcnow()
        token = new_token()
        session = Session(
            tenant_id=tenant_id, mailbox=mailbox, login_method=login_method, device_id=device_id,
            created_at=now, last_used_at=now, expires_at=now + timedelta(seconds=self.policy.absolute_seconds),
            holder=holder, holder_since=holder_since,
        )
        partition, row = self._keys(token_hash(token))
        entity = {
            "PartitionKey": partition, "RowKey": row, "tenant_id": tenant_id, "mailbox": mailbox,
            "login_method": login_method, "device_id": device_id, "created_at": now,
            "last_used_at": now, "expires_at": session.expires_at,
        }
        if holder is not None and holder_since is not None:
            entity.update(holder=holder, holder_since=holder_since)
        self._tables.insert(storage.SESSIONS, entity)
        return token, session

    def discard(self, token: str) -> None:
        """Remove a session just created whose login turned out not to stand (not audited as a logout)."""
        digest = token_hash(token)
        self._forget(digest)
        self._tables.delete(storage.SESSIONS, *self._keys(digest))

    def end_mailbox(self, tenant_id: str, mailbox: str, *, keep_holder: str | None = None,
                    replaced: Collection[str] | None = None, count_only: bool = False) -> int:
        """End every session of a mailbox in a tenant (its holder changed, A2/A3), except those of
        ``keep_holder``; with ``replaced``, only the sessions without a holder or of one of these
        holders (a person who took the mailbox over meanwhile keeps theirs); returns how many
        (``count_only``: how many would end, ending none). A query over the table (no index by
        mailbox): a change of holder is rare. Other workers' cached copies end within
        ``cache_seconds``, as after a logout."""
        ended: list[str] = []

        def keep(row: dict[str, object]) -> bool:
            holder = row.get("holder") or None
            kept = (keep_holder is not None and holder == keep_holder) \
                or (replaced is not None and holder is not None and holder not in replaced)
            if not kept:
                ended.append(str(row["RowKey"]))
            return kept

        if count_only:
            rows = self._tables.query(storage.SESSIONS, "tenant_id eq @t and mailbox eq @m",
                                      {"t": tenant_id, "m": mailbox}, select=["PartitionKey", "RowKey", "holder"])
            return sum(1 for row in rows if not keep(row))

        count = self._tables.delete_where(storage.SESSIONS, "tenant_id eq @t and mailbox eq @m",
                                          {"t": tenant_id, "m": mailbox}, select=["holder"], keep=keep)
        for digest in ended:
            self._forget(digest)
        return count

    def authenticate(self, token: str, now: datetime | None = None) -> Session:
        """The live session for a bearer token, or ``Unauthenticated``."""
        now = now or utcnow()
        digest = token_hash(token)
        cached = self._cached(digest)
        fetched = cached is None
        if cached is None:
            try:
                session = self._load(digest)
            finally:
                with self._lock:
                    self._refreshing.discard(digest)
        else:
            session = cached
        if not session.is_valid(now, self.policy.idle_seconds):
            self._forget(digest)
            self._tables.delete(storage.SESSIONS, *self._keys(digest))
            raise Unauthenticated("The session has expired; log in again.")
        if self._tenants is not None:
            tenant = self._tenants.get(session.tenant_id)
            if tenant is None or tenant.login_method.value != session.login_method:
                self._forget(digest)
                raise Unauthenticated("Your organisation no longer uses this way of logging in; log in again.")
        if now - session.last_used_at >= timedelta(seconds=self.policy.touch_seconds):
            session = replace(session, last_used_at=now)
            partition, row = self._keys(digest)
            if not self._tables.update_if_present(storage.SESSIONS,
                                                  {"PartitionKey": partition, "RowKey": row, "last_used_at": now}):
                self._forget(digest)
                raise Unauthenticated("The session has ended; log in again.")
        self._remember(digest, session, fetched)
        return session

    def _load(self, digest: str) -> Session:
        partition, row = self._keys(digest)
        entity = self._tables.get(storage.SESSIONS, partition, row)
        if entity is None:
            self._unknown.put(digest, True)
            raise Unauthenticated("The session is unknown or has ended; log in again.")
        return Session(
            tenant_id=entity["tenant_id"], mailbox=entity["mailbox"], login_method=entity["login_method"],
            device_id=entity.get("device_id", ""), created_at=as_utc(entity["created_at"]),
            last_used_at=as_utc(entity["last_used_at"]), expires_at=as_utc(entity["expires_at"]),
            holder=entity.get("holder") or None,
            holder_since=as_utc(entity["holder_since"]) if entity.get("holder_since") is not None else None,
        )

    def end(self, token: str) -> Session:
        """Logout (A3): the row and this worker's copy go, and the logout is audited."""
        from sendsecure import audit

        session = self.authenticate(token)
        digest = token_hash(token)
        self._forget(digest)
        self._tables.delete(storage.SESSIONS, *self._keys(digest))
        self._audit.record(audit.LOGOUT, tenant_id=session.tenant_id,
                           actor=self._pseudonyms.of("mailbox", session.mailbox), outcome="session_ended")
        return session

    def answer(self, session: Session, token: str | None = None) -> SessionAnswer:
        """The one answer about a session: ``GET /session``; with its token, ``verify``'s."""
        from msgspec.structs import asdict

        from sendsecure.core.models import LoginAnswer, SessionAnswer

        idle = self.policy.idle_seconds
        answer = SessionAnswer(mailbox=session.mailbox, tenant_id=session.tenant_id,
                               login_method=session.login_method, device_id=session.device_id,
                               expires_at=session.expires_at.isoformat(),
                               idle_expires_at=session.idle_expires_at(idle).isoformat(), idle_timeout_seconds=idle)
        return answer if token is None else LoginAnswer(**asdict(answer), session_token=token)

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete sessions past their absolute end or idle timeout; returns how many."""
        now = now or utcnow()
        idle_cutoff = now - timedelta(seconds=self.policy.idle_seconds)
        return self._tables.delete_where(storage.SESSIONS, "expires_at le @now or last_used_at le @idle",
                                         {"now": now, "idle": idle_cutoff})

    # ----- per-worker cache -------------------------------------------------------------

    def _cached(self, digest: str) -> Session | None:
        """A cached session, or ``None`` when the caller must read storage.

        When a copy is older than ``cache_seconds`` one request refreshes it while concurrent
        requests keep using the copy (up to twice that age), so an expiring entry costs one
        storage read, not one per request in flight. Unknown tokens are remembered as unknown.
        """
        if not self._cache.enabled:
            return None
        if self._unknown.get(digest):
            raise Unauthenticated("The session is unknown or has ended; log in again.")
        found = self._cache.entry(digest)
        if found is None:
            return None
        session, age = found
        if age < self._cache.ttl:
            return session
        with self._lock:
            if digest in self._refreshing:
                return session
            self._refreshing.add(digest)
        return None

    def _remember(self, digest: str, session: Session, fetched: bool) -> None:
        if fetched:
            self._cache.put(digest, session)
        else:  # served from the copy: a new last use replaces it, keeping the copy's age
            held = self._cache.entry(digest)
            if held is not None and held[0] is not session:
                self._cache.replace(digest, session)

    def _forget(self, digest: str) -> None:
        self._cache.pop(digest)
