"""Append-only, tamper-evident audit log (SPEC S6, X7; NTA 7516 6.4.2, NEN 7513: what, when,
who, on whose behalf). docs/audit-and-tenants.md describes the format and the decisions.

Every service writes through ``AuditLog.record(event, tenant_id=, actor=, outcome=, **details)``:
one row per event. Actors are pseudonyms (keyed hashes), never addresses, and no codes, tokens,
phone numbers or subjects are written.

Rows form chains (``sendsecure.audit.chain``): one per tenant, UTC day and writer, where the
writer is a random id of this ``AuditLog`` (one per process) and one of its ``LANES``, so processes
never contend for a position. A call queues on a lane nobody is writing, else on the shortest
queue; whoever holds that lane's lock writes everything queued so far in one call (group commit:
a plain create for one row, else one entity group transaction of at most 99 rows, one partition)
with create-only keys ``<writer>.<seq>``, then wakes the first caller still queued to take over.
Each caller returns once its own row is stored (or raises what its batch raised). A create that finds
its key taken (a lost answer whose batch did land, or another instance with the same writer id)
re-reads the chain's end from storage and tries again: a chain never forks.

``correlation_id`` is the server's own id of the request (the caller cannot choose what the log
ties together); a well-formed ``X-Correlation-Id`` of the caller is kept beside it as
``caller_correlation_id``.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sendsecure.adapters import storage
from sendsecure.audit.chain import (
    CHAIN_KEY_PURPOSE,
    HEAD_WRITE_LIMIT,
    day_before,
    day_of,
    head_entity,
    head_key,
    link,
    parse_row_key,
    partition_of,
    row_key,
)
from sendsecure.context import CALLER_CORRELATION_ID, CORRELATION_ID
from sendsecure.core import clock
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.errors import Conflict, DependencyUnavailable

logger = logging.getLogger(__name__)

# The events of the login area; later areas add theirs.
LOGIN_CODE_REQUESTED = "login.code_requested"
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
LOGIN_LOCKED_OUT = "login.locked_out"
LOGOUT = "logout"
# Sending (issue 10): accepted (outcome created / repeated, with the envelope id, the way out
# ``via`` send / on_send, counts per route, the signing key id) and refused (with the reason code).
SEND_ACCEPTED = "send.accepted"
SEND_REFUSED = "send.refused"
# Tenant definitions (S6 "tenant change"): onboarded, changed (with the changed fields), offboarded.
TENANT_ONBOARDED = "tenant.onboarded"
TENANT_CHANGED = "tenant.changed"
TENANT_OFFBOARDED = "tenant.offboarded"
# The log itself (NEN 7513: reading the log is access too): an administrator read or verified a
# range; the timer sealed a day or purged days past retention.
AUDIT_READ = "audit.read"
AUDIT_VERIFIED = "audit.verified"
AUDIT_SEALED = "audit.sealed"
AUDIT_PURGED = "audit.purged"

_ALLOWED_DETAIL_TYPES = (str, int, bool, float)
# Properties of the chain itself; a detail may not use these names either.
_CHAIN_FIELDS = ("chain", "seq", "prev_hash", "hash")
MAX_ATTEMPTS = 16
HEAD_INTERVAL = 1.0   # seconds: a growing chain's head is written at most this often, this late
LANES = 16            # chains per tenant and day in one process: a free one is nearly always there (a
                      # plain insert; a transaction costs the SDK ~2 ms CPU), up to 16 writes in flight
HAND_OVER_SECONDS = 0.05   # a queued caller checks again at least this often (a safety net: it is woken)


def _wall_clock() -> datetime:
    """A head's ``written_at``: compared with storage's own clock (``check_head``), so always the
    real time, also where a test sets the events' time (``sendsecure.audit.utcnow``)."""
    return clock.utcnow()


def audit_entity(event: str, *, tenant_id: str | None, actor: str | None, outcome: str, at: datetime,
                 correlation_id: str, details: dict[str, Any], caller_correlation_id: str = "") -> dict[str, Any]:
    """The row for one event before it is linked into its chain (pure, so the format is tested
    without storage): partition ``<tenant>.<YYYYMMDD>``; ``record`` sets the chain's row key."""
    at = as_utc(at).astimezone(UTC)
    entity: dict[str, Any] = {
        "PartitionKey": partition_of(tenant_id, day_of(at)),
        "RowKey": f"unlinked.{uuid.uuid4().hex}",
        "event": event,
        "outcome": outcome,
        "at": at,
        "tenant_id": tenant_id or "",
        "actor": actor or "",
        "correlation_id": correlation_id,
        "caller_correlation_id": caller_correlation_id,
    }
    for key, value in details.items():
        if value is None:
            continue
        if key in entity or key in _CHAIN_FIELDS:
            raise ValueError(f"audit detail {key} would overwrite a field of the record")
        if not isinstance(value, _ALLOWED_DETAIL_TYPES):
            raise TypeError(f"audit detail {key} must be a plain value")
        entity[key] = value
    return entity


class ChainKeys(Protocol):
    def key(self, purpose: str) -> bytes: ...


@dataclass(eq=False)
class _Pending:
    entity: dict[str, Any]
    done: bool = False
    error: BaseException | None = None
    wake: threading.Event = field(default_factory=threading.Event)

    def finish(self, error: BaseException | None = None) -> None:
        self.error, self.done = error, True
        self.wake.set()


@dataclass(eq=False)
class _Chain:
    partition: str
    writer: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    pending: deque[_Pending] = field(default_factory=deque)
    # The last stored (seq, hash); a new chain id has nothing stored (-1), and after a failure or
    # a taken key the end is read again (None).
    end: tuple[int, str] | None = (-1, "")
    head_seq: int = -2                   # the seq the stored head names (-2: no head known yet)


class AuditLog:
    """The one audit service. ``writer`` is this instance's chain id (random; a test may pass one).

    The chain's head is written with the chain's first batch (same transaction), then by a
    background thread at most every ``HEAD_INTERVAL`` seconds while the chain grows (coalesced,
    off the callers' path: a send writes one row, as before the chain). ``flush()`` writes the
    heads now (tests, shutdown)."""

    def __init__(self, tables: storage.TableStore, keys: ChainKeys, *, writer: str | None = None) -> None:
        self._tables = tables
        self._keys = keys
        self.writer = writer or secrets.token_hex(6)
        self._chains: dict[tuple[str, int], _Chain] = {}
        self._lock = threading.Lock()
        self._heads_due = threading.Event()
        self._heads_lock = threading.Lock()
        self._head_thread: threading.Thread | None = None

    def record(self, event: str, *, tenant_id: str | None, actor: str | None, outcome: str, **details: Any) -> None:
        entity = audit_entity(
            event, tenant_id=tenant_id, actor=actor, outcome=outcome,
            at=utcnow(), correlation_id=CORRELATION_ID.get(), details=details,
            caller_correlation_id=CALLER_CORRELATION_ID.get(),
        )
        item = _Pending(entity)
        partition = entity["PartitionKey"]
        lanes = [self._chain(partition, lane) for lane in range(LANES)]
        # A lane nobody is writing, else the shortest queue (its writer takes ours into its batch).
        chain = next((lane for lane in lanes if not lane.lock.locked()), None) or \
            min(lanes, key=lambda lane: len(lane.pending))
        chain.pending.append(item)          # deque: appends and pops are atomic
        while not item.done:
            if chain.lock.acquire(blocking=False):
                try:
                    while not item.done:
                        self._commit(chain)
                finally:
                    chain.lock.release()
                self._hand_over(chain)
            else:
                # Woken when a batch stored ours, or when the writer left and it is our turn.
                item.wake.wait(HAND_OVER_SECONDS)
                item.wake.clear()
        if item.error is not None:
            raise item.error

    @staticmethod
    def _hand_over(chain: _Chain) -> None:
        """After a writer leaves: wake the first caller still queued, so it takes the lock (whoever
        queued while the lock was held is therefore never left waiting for a writer)."""
        try:
            first = chain.pending[0]
        except IndexError:
            return
        first.wake.set()

    # ----- the chain's state in this process ------------------------------------------------------

    def lane_writer(self, lane: int) -> str:
        """The chain id of a lane: lane 0 is ``writer``, lane k ``writer`` + k (13 characters, so
        never another instance's 12-character id)."""
        return self.writer if lane == 0 else f"{self.writer}{lane}"

    def _chain(self, partition: str, lane: int) -> _Chain:
        key = (partition, lane)
        chain = self._chains.get(key)
        if chain is not None:
            return chain
        with self._lock:
            chain = self._chains.get(key)
            if chain is None:
                # Chains of days before yesterday are finished: forget them (a late event reopens one).
                oldest = day_before(partition.rpartition(".")[2])
                for old in [k for k, c in self._chains.items() if c.partition.rpartition(".")[2] < oldest
                            and not c.pending and c.end is not None and (c.end[0] < 0 or c.head_seq >= c.end[0])]:
                    del self._chains[old]
                chain = self._chains[key] = _Chain(partition, self.lane_writer(lane))
        return chain

    def _key(self) -> bytes:
        return self._keys.key(CHAIN_KEY_PURPOSE)

    def _commit(self, chain: _Chain) -> None:
        """Write the queued rows of ``chain`` (up to a batch), holding its lock."""
        batch = [chain.pending.popleft() for _ in range(min(len(chain.pending), storage.BATCH_LIMIT - 1))]
        if not batch:
            return
        try:
            for attempt in range(MAX_ATTEMPTS):
                if chain.end is None:
                    self._resume(chain)
                assert chain.end is not None
                key = self._key()
                seq, prev = chain.end
                for item in batch:
                    seq += 1
                    link(key, item.entity, chain.writer, seq, prev)
                    prev = item.entity["hash"]
                # The chain's first batch in storage carries its head, so rows never exist without one.
                head = (head_entity(key, chain.partition, chain.writer, seq, prev, _wall_clock()),) \
                    if chain.head_seq < -1 else ()
                started = time.monotonic()
                try:
                    self._tables.insert_all(storage.AUDIT, [item.entity for item in batch], upsert=head)
                except Conflict:
                    logger.warning("audit chain %s %s: position taken, re-reading its end (attempt %d)",
                                   chain.partition, chain.writer, attempt + 1)
                    chain.end = None
                    continue
                if head:
                    # A head stored long after its written_at would look put back (check_head): a
                    # slow write is followed by a fresh head at the next interval.
                    chain.head_seq = seq if time.monotonic() - started <= HEAD_WRITE_LIMIT.total_seconds() else -1
                    logger.info("audit chain opened: %s writer %s", chain.partition, chain.writer)  # an outside anchor
                chain.end = (seq, prev)
                break
            else:
                raise DependencyUnavailable("The audit log is too busy to record this safely; try again.",
                                            retry_after=1)
        except BaseException as error:
            # Nothing of the batch is known to be stored (a lost answer may have stored it all):
            # read the chain's end again before the next batch.
            chain.end = None
            for item in batch:
                item.finish(error)
            return
        for item in batch:
            item.finish()
        if chain.head_seq < seq:
            self._heads_are_due()

    def _resume(self, chain: _Chain) -> None:
        """Where the chain ends in storage: its head, and any rows after it; -1 for a new chain."""
        head = self._tables.get(storage.AUDIT, chain.partition, head_key(chain.writer))
        seq = int(head["seq"]) if head is not None else -1
        last_hash = str(head["last_hash"]) if head is not None else ""
        chain.head_seq = seq if head is not None else -2
        start = row_key(chain.writer, max(seq, 0))
        for row in self._tables.query(storage.AUDIT, "PartitionKey eq @p and RowKey ge @low and RowKey lt @high",
                                      {"p": chain.partition, "low": start, "high": chain.writer + "/"},
                                      select=["RowKey", "hash"]):
            parsed = parse_row_key(row["RowKey"])
            if parsed is not None and parsed[1] >= seq:
                seq, last_hash = parsed[1], str(row["hash"])
        chain.end = (seq, last_hash)

    # ----- heads, off the callers' path ----------------------------------------------------------------

    def _heads_are_due(self) -> None:
        self._heads_due.set()
        with self._lock:
            if self._head_thread is None:
                self._head_thread = threading.Thread(target=self._head_loop, name=f"audit-heads-{self.writer}",
                                                     daemon=True)
                self._head_thread.start()

    def _head_loop(self) -> None:
        """Writes due heads; ends after a quiet minute (the next growing chain starts it again)."""
        while True:
            if self._heads_due.wait(timeout=60):
                time.sleep(HEAD_INTERVAL)   # coalesce: one head per chain per interval, however many rows
                self._heads_due.clear()
                try:
                    self.flush()
                except Exception as error:  # noqa: BLE001 - a background thread: log, never die
                    logger.warning("audit heads not written (%s); retried later", type(error).__name__)
                    self._heads_due.set()
                continue
            with self._lock:
                if not self._heads_due.is_set():
                    self._head_thread = None
                    return

    def flush(self) -> None:
        """Write the head of every chain that grew since its head was written: one call per
        partition (the lanes' heads together; best effort: a failure is logged and retried at the
        next interval)."""
        with self._heads_lock:
            due: dict[str, list[tuple[_Chain, tuple[int, str]]]] = {}
            for chain in list(self._chains.values()):
                end = chain.end
                if end is not None and chain.head_seq >= -1 and end[0] > chain.head_seq:
                    due.setdefault(chain.partition, []).append((chain, end))
            for partition, chains in due.items():
                now = _wall_clock()
                heads = [head_entity(self._key(), partition, chain.writer, *end, now) for chain, end in chains]
                started = time.monotonic()
                try:
                    if len(heads) == 1:
                        self._tables.upsert(storage.AUDIT, heads[0], merge=False)
                    else:
                        self._tables.insert_all(storage.AUDIT, [], upsert=tuple(heads))
                except DependencyUnavailable:
                    logger.warning("audit chains %s of writer %s: heads not written; retried in %.1f s", partition,
                                   self.writer, HEAD_INTERVAL)
                    self._heads_due.set()
                    continue
                if time.monotonic() - started > HEAD_WRITE_LIMIT.total_seconds():
                    # Stored, but perhaps long after its written_at: written again, fresh, next interval.
                    logger.warning("audit chains %s of writer %s: heads written slowly; written again", partition,
                                   self.writer)
                    self._heads_due.set()
                    continue
                for chain, end in chains:
                    chain.head_seq = max(chain.head_seq, end[0])


__all__ = [
    "AUDIT_PURGED", "AUDIT_READ", "AUDIT_SEALED", "AUDIT_VERIFIED", "LOGIN_CODE_REQUESTED", "LOGIN_FAILED",
    "LOGIN_LOCKED_OUT", "LOGIN_SUCCEEDED", "LOGOUT", "SEND_ACCEPTED", "SEND_REFUSED", "TENANT_CHANGED",
    "TENANT_OFFBOARDED", "TENANT_ONBOARDED", "AuditLog", "audit_entity",
]
