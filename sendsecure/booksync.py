"""The domain book sync (SPEC D1, D3; issue 13; docs/domain-book-sync.md).

``BookSync.run()`` brings every variant of the definition file up to date from its sources and
answers what changed (``BookSyncAnswer``). The timer (functions/booksync.py, every 15 minutes by
default) and ``POST /api/v1/admin/domain-book/sync`` run the same code.

1. **Plan** (reads only): every pointer in one query; each source fetched conditionally with the
   validators of its last good content (an https URL: ``If-None-Match`` / ``If-Modified-Since``;
   a file: its content hash). A URL is fetched at most once per run, however many variants use it
   (``_RunFetches``; conditionally only when every variant's validators agree), and no fetch, retry
   or wait goes past the run's deadline (``deadline_seconds`` from its start, well under the
   Functions timeout): a source left over fails as transient. Sources are parsed only when their
   bytes changed, then checked: garbage lines
   are counted and left out; empty content, content that is not in its format, or a source that
   shrank by more than ``max_shrink`` is **refused**, a fetch that fails after its retries has
   **failed**; either way that source keeps its last good content. A variant's first generation
   needs every source. A changed source becomes a delta segment against its base (the entries
   added, changed and removed) while the changes are at most ``COMPACT_AT`` of the base, else a
   new base; segments are content-addressed, so what exists is not written again.
2. **Nothing to write** (every source unchanged, no error to record or clear, the sync time
   less than ``TOUCH_SECONDS`` old, no garbage due): the run ends with 0 writes.
3. **Status only** (sync time, validators, last error; no segment changes): the pointer is
   replaced under its ETag, no lease (a lost race just means another run wrote it).
4. **New segments** (or old ones due for deletion): under the **lease**, a ``domainbookmeta`` row
   (``_lease``) taken by insert or, when stale, by a replace under its ETag. Pointers are read
   again; if another run flipped meanwhile the plan is made again. Then the new segments are
   written, segments out of use for ``grace_seconds`` (and leftovers of runs that died before
   their flip) are deleted, never one the stored pointers still name (the flip may yet fail), and
   the pointers flip in **one entity group transaction** together with the release of the lease
   under its ETag: if the lease was taken over meanwhile, nothing flips. A failure at any write
   before the flip leaves every pointer as it was: readers keep the last good book (and the lease
   is released, or expires after ``LEASE_SECONDS``).
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sendsecure.adapters import storage
from sendsecure.adapters.sourcefetch import Fetched, SourceFetcher, SourceFetchError
from sendsecure.bookstore import (
    CURRENT,
    LEASE_ROW,
    BookPointer,
    DomainBookStore,
    Segment,
    SourceState,
    base_segment,
    delta_segment,
    generation_of,
)
from sendsecure.core.booksources import (
    SourceFormatError,
    SourceSpec,
    book_version,
    change_counts,
    diff_entries,
    parse_source,
    read_definition,
    shrink_refusal,
    source_name,
    stored_source_identity,
    variant_names,
)
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.domainbook import BookEntry, merge_entries
from sendsecure.core.models import BookSyncAnswer, BookSyncSource, BookSyncVariant
from sendsecure.errors import Conflict, DependencyUnavailable

logger = logging.getLogger(__name__)

COMPACT_AT = 0.10          # a delta above this share of its base's entries becomes a new base
TOUCH_SECONDS = 3600       # an unchanged sync writes the sync time at most this often
LEASE_SECONDS = 300        # a run holding the lease longer than this may be taken over
LISTED_REJECTIONS = 10


class SyncBusy(Conflict):
    """409: another sync holds the lease."""

    code, title = "sync_in_progress", "Another domain book sync is running; try again later"


@dataclass
class _SourcePlan:
    spec: SourceSpec
    state: SourceState | None            # None: no content at all (first sync, nothing usable)
    outcome: str
    entries: dict[str, BookEntry] | None = None   # new content (changed sources only)
    rejected: int = 0
    rejections: list[str] = field(default_factory=list)
    error: str | None = None
    requests: int = 0


@dataclass
class _VariantPlan:
    variant: str
    old: BookPointer | None
    new: BookPointer | None              # None: nothing to write for this variant
    segments: list[Segment]
    report: BookSyncVariant


class _RunFetches:
    """A run's fetches: each URL at most once (variants share sources; a run that plans again after
    another run's flip does not fetch again), within the run's deadline.

    ``prepare`` is told, per URL, the validators each variant's last good content has; they go out
    only when all agree (else one unconditional fetch serves every variant, each comparing the
    body's hash with its own content). A stored ``304`` serves a variant only when it was asked with
    that variant's validators (else, rarely: another run changed the state meanwhile, it is asked
    again); a stored body or failure serves every variant."""

    def __init__(self, fetcher: Callable[[], SourceFetcher], time_left: Callable[[], float]) -> None:
        self._fetcher = fetcher                  # made on first use: a book of files needs none
        self._time_left = time_left
        self._asked: dict[str, set[tuple[str, str]]] = {}
        self._done: dict[str, tuple[tuple[str, str], Fetched | SourceFetchError]] = {}

    def prepare(self, wanted: list[tuple[str, tuple[str, str]]]) -> None:
        self._asked = {}
        for url, validators in wanted:
            self._asked.setdefault(url, set()).add(validators)

    def fetch(self, url: str, validators: tuple[str, str]) -> tuple[Fetched, tuple[str, str], bool]:
        """(the answer, the validators it was asked with, whether this call made its requests)."""
        done = self._done.get(url)
        if done is not None:
            asked, result = done
            if isinstance(result, SourceFetchError):
                raise SourceFetchError(result.reason, transient=result.transient)   # requests: counted once
            if not result.unchanged or asked == validators:
                return result, asked, False
        agreed = self._asked.get(url, {validators})
        sent = next(iter(agreed)) if len(agreed) == 1 else ("", "")
        try:
            result = self._fetcher().fetch(url, *sent, time_left=self._time_left)
        except SourceFetchError as error:
            self._done[url] = (sent, error)
            raise
        self._done[url] = (sent, result)
        return result, sent, True


@dataclass
class _Lease:
    holder: str
    etag: str
    released: bool = False


class BookSync:
    def __init__(self, store: DomainBookStore, definition_file: str | Path, fetcher: SourceFetcher | None = None, *,
                 max_shrink: float = 0.2, grace_seconds: float = 600, deadline_seconds: float = 90,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.deadline = timedelta(seconds=deadline_seconds)
        self.definition_file = Path(definition_file)
        self._fetcher = fetcher
        self.max_shrink = max_shrink
        self.grace = timedelta(seconds=grace_seconds)
        self._clock = clock
        self._writes = 0
        self._transactions = 0
        self._running = threading.Lock()

    @classmethod
    def from_settings(cls, store: DomainBookStore) -> BookSync:
        from sendsecure.settings import get_settings

        s = get_settings()
        return cls(store, s.domain_book_sources, max_shrink=s.book_max_shrink_percent / 100,
                   grace_seconds=s.book_grace_seconds, deadline_seconds=s.book_sync_deadline_seconds)

    @property
    def fetcher(self) -> SourceFetcher:
        if self._fetcher is None:
            from sendsecure.settings import get_settings

            s = get_settings()
            self._fetcher = SourceFetcher(ca_bundle=s.book_sync_ca_bundle, timeout=s.book_sync_timeout_seconds,
                                          max_bytes=s.book_sync_max_bytes, attempts=s.book_sync_attempts,
                                          backoff=s.book_sync_backoff_ms / 1000)
        return self._fetcher

    # ----- the run ------------------------------------------------------------------------

    def run(self, variants: list[str] | None = None) -> BookSyncAnswer:
        """Sync ``variants`` (default: every variant of the definition file). Raises ``SyncBusy``
        when another run holds the lease and ``DependencyUnavailable`` when storage fails (the
        last good book stays); a source's trouble is reported in the answer, not raised."""
        if not self._running.acquire(blocking=False):
            raise SyncBusy("A domain book sync is running in this worker.", retry_after=60)
        try:
            return self._run(variants)
        finally:
            self._running.release()

    def _run(self, variants: list[str] | None) -> BookSyncAnswer:
        started = time.perf_counter()
        self._writes = self._transactions = 0
        names = variants if variants is not None else variant_names(self.definition_file)
        specs = {variant: read_definition(variant, self.definition_file) for variant in names}
        requests = 0
        lease: _Lease | None = None
        deadline = self._clock() + self.deadline
        fetches = _RunFetches(lambda: self.fetcher, lambda: (deadline - self._clock()).total_seconds())
        try:
            for attempt in range(2):
                now = self._clock()
                pointers = self.store.pointers()
                previous = {variant: _previous_states(specs[variant], pointers.get(variant)) for variant in names}
                fetches.prepare([(spec.url, _validators(previous[variant].get(spec.name)))
                                 for variant in names for spec in specs[variant] if spec.url is not None])
                plans = [self._plan_variant(variant, specs[variant], pointers.get(variant), previous[variant],
                                            fetches, now) for variant in names]
                requests += sum(source.requests for plan in plans for source in plan.report.sources)
                if not self._needs_lease(plans, pointers, now):
                    self._write_status(plans)
                    break
                if lease is None:
                    lease = self._acquire(now)
                    if attempt == 0 and self._moved(pointers, self.store.pointers()):
                        continue   # another run flipped between our plan and the lease: plan again
                self._flip(plans, pointers, lease, now)
                break
        finally:
            if lease is not None and not lease.released:
                self._release(lease)
        answer = BookSyncAnswer(variants=[plan.report for plan in plans], source_requests=requests,
                                table_writes=self._writes, table_transactions=self._transactions,
                                seconds=round(time.perf_counter() - started, 3))
        for report in answer.variants:
            logger.info("domain book %s: %s, version %s, %d entries (+%d -%d ~%d), %d source(s) changed%s",
                        report.variant, report.outcome, report.version, report.entries, report.added,
                        report.removed, report.changed, report.sources_changed,
                        f"; {report.error}" if report.error else "")
        return answer

    # ----- planning -----------------------------------------------------------------------

    def _plan_variant(self, variant: str, specs: list[SourceSpec], old: BookPointer | None,
                      previous: dict[str, SourceState], fetches: _RunFetches, now: datetime) -> _VariantPlan:
        sources = [self._plan_source(spec, previous.get(spec.name), fetches) for spec in specs]
        problems = [f"{plan.spec.name}: {plan.error}" for plan in sources if plan.error]
        error = "; ".join(problems)[:1000]
        complete = all(plan.state is not None for plan in sources)
        changed = any(plan.outcome == "changed" for plan in sources)
        layout_changed = old is None or [s.name for s in old.sources] != [p.spec.name for p in sources]
        segments: list[Segment] = []
        old_entries = new_entries = None
        if complete and (changed or layout_changed or not (old and old.generation)):
            old_sources = {s.name: self.store.source_entries(s) for s in old.sources if s.base} \
                if old and old.generation else {}
            per_source = []
            for plan in sources:
                assert plan.state is not None
                if plan.outcome == "changed" and plan.entries is not None:
                    plan.state, segment = self._store_form(plan.state, plan.entries, previous.get(plan.spec.name))
                    if segment is not None:
                        segments.append(segment)
                    per_source.append(plan.entries)
                else:
                    per_source.append(old_sources.get(plan.spec.name) or self.store.source_entries(plan.state))
            new_entries = merge_entries([entry for entries in per_source for entry in entries.values()])
            old_entries = merge_entries([e for entries in old_sources.values() for e in entries.values()]) \
                if old_sources else {}
        states = [plan.state for plan in sources if plan.state is not None]
        all_good = complete and not problems
        synced_at = now if all_good else (old.synced_at if old else None)
        new: BookPointer | None
        if new_entries is not None:
            version = book_version(new_entries)
            chunks = sum(s.base_chunks + s.delta_chunks for s in states)
            new = BookPointer(variant, generation_of(states), version, synced_at, len(new_entries), chunks,
                              tuple(states), self._retire(old, states, now),
                              error, now if error else None)
        elif old is not None:
            sources_now = tuple(states) if complete else _carried_over(old, sources)
            new = replace(old, synced_at=synced_at, sources=sources_now, last_error=error,
                          last_error_at=(now if error else None))
        else:   # no generation yet and not every source usable: only the error is recorded
            new = BookPointer(variant, "", "", None, 0, 0, (), {}, error or "no usable content", now)
        if old is not None:
            # An unchanged book's sync time is written at most every TOUCH_SECONDS.
            fresh = old.synced_at is not None and now - old.synced_at < timedelta(seconds=TOUCH_SECONDS)
            if _same(new, old, ignore_synced_at=fresh and all_good):
                new = None
        added, removed, changed_count = change_counts(old_entries, new_entries) \
            if old_entries is not None and new_entries is not None else (0, 0, 0)
        served = new or old
        if not (served and served.generation):
            outcome = "failed"
        elif problems or not complete:
            outcome = "partial"
        elif old is None or served.version != old.version:
            outcome = "changed"
        else:
            outcome = "unchanged"
        report = BookSyncVariant(
            variant=variant, outcome=outcome,   # type: ignore[arg-type]
            version=(served.version or None) if served else None,
            previous_version=(old.version or None) if old else None,
            entries=served.entry_count if served else 0, added=added, removed=removed, changed=changed_count,
            sources_changed=sum(1 for plan in sources if plan.outcome == "changed"),
            sources_unchanged=sum(1 for plan in sources if plan.outcome == "unchanged"),
            sources=[BookSyncSource(name=plan.spec.name, outcome=plan.outcome,  # type: ignore[arg-type]
                                    entries=plan.state.entries if plan.state else 0, rejected=plan.rejected,
                                    rejections=plan.rejections, error=plan.error, requests=plan.requests)
                     for plan in sources],
            error=error or None)
        return _VariantPlan(variant, old, new, segments, report)

    def _plan_source(self, spec: SourceSpec, previous: SourceState | None, fetches: _RunFetches) -> _SourcePlan:
        usable = previous if previous is not None and previous.base else None
        requests = 0
        try:
            if spec.url is not None:
                fetched, asked, made = fetches.fetch(spec.url, _validators(usable))
                requests = fetched.requests if made else 0
                if fetched.unchanged:
                    if usable is None or asked != _validators(usable):
                        raise SourceFetchError("answered 304 although nothing was asked conditionally")
                    state = replace(usable, etag=fetched.etag, last_modified=fetched.last_modified, error="")
                    return _SourcePlan(spec, state, "unchanged", requests=requests, rejected=state.rejected)
                body, etag, last_modified = fetched.body or b"", fetched.etag, fetched.last_modified
            else:
                assert spec.path is not None
                try:
                    body = spec.path.read_bytes()
                except OSError:
                    raise SourceFetchError("cannot read the file") from None
                etag = last_modified = ""
            digest = hashlib.sha256(body).hexdigest()
            if usable is not None and digest == usable.sha256:
                state = replace(usable, etag=etag, last_modified=last_modified, error="")
                return _SourcePlan(spec, state, "unchanged", requests=requests, rejected=state.rejected)
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise SourceFormatError("not UTF-8 text") from None
            result = parse_source(spec.format, text, network=spec.network, source=spec.name)
            rejections = [f"line {line}: {reason}" for line, reason in result.rejected[:LISTED_REJECTIONS]]
            refusal = shrink_refusal(usable.entries if usable else 0, len(result.entries), self.max_shrink)
            if refusal is not None:
                return self._kept(spec, usable, "refused", refusal, requests, result.rejected_count, rejections)
            state = SourceState(spec.name, entries=len(result.entries), rejected=result.rejected_count,
                                sha256=digest, etag=etag, last_modified=last_modified)
            return _SourcePlan(spec, state, "changed", {e.key: e for e in result.entries}, result.rejected_count,
                               rejections, requests=requests)
        except SourceFetchError as failure:
            return self._kept(spec, usable, "failed", failure.reason, requests + failure.requests)
        except SourceFormatError as refusal:
            return self._kept(spec, usable, "refused", str(refusal), requests)

    def _kept(self, spec: SourceSpec, usable: SourceState | None, outcome: str, reason: str, requests: int,
              rejected: int = 0, rejections: list[str] | None = None) -> _SourcePlan:
        logger.warning("domain book source %s %s: %s; its last good content stays", spec.name, outcome, reason)
        state = replace(usable, error=reason) if usable is not None else None
        return _SourcePlan(spec, state, outcome, None, rejected, rejections or [], reason, requests)

    def _store_form(self, state: SourceState, entries: dict[str, BookEntry],
                    previous: SourceState | None) -> tuple[SourceState, Segment | None]:
        """The source's new state and the segment to store: a delta against its base while small."""
        if previous is not None and previous.base:
            base = self.store.base_entries(previous)
            upserts, removed = diff_entries(base, entries)
            if len(upserts) + len(removed) <= COMPACT_AT * max(previous.base_entries, 1):
                kept = replace(state, base=previous.base, base_chunks=previous.base_chunks,
                               base_entries=previous.base_entries)
                if not upserts and not removed:
                    return kept, None
                segment = delta_segment(upserts, removed)
                return replace(kept, delta=segment.id, delta_chunks=len(segment.chunks)), segment
        segment = base_segment(entries)
        return replace(state, base=segment.id, base_chunks=len(segment.chunks), base_entries=len(entries),
                       delta="", delta_chunks=0), segment

    def _retire(self, old: BookPointer | None, states: list[SourceState], now: datetime) -> dict[str, str]:
        if old is None:
            return {}
        using = {segment for state in states for segment in state.segments()}
        retired = {segment: at for segment, at in old.retired.items() if segment not in using}
        for segment in old.segments() - using:
            retired.setdefault(segment, now.isoformat())
        return retired

    # ----- writing ------------------------------------------------------------------------

    def _needs_lease(self, plans: list[_VariantPlan], pointers: dict[str, BookPointer], now: datetime) -> bool:
        for plan in plans:
            if plan.new is not None and (plan.segments or plan.old is None
                                         or plan.new.segments() != plan.old.segments()):
                return True
        return bool(self._due(pointers, now))

    def _due(self, pointers: dict[str, BookPointer], now: datetime) -> set[str]:
        referenced = {segment for pointer in pointers.values() for segment in pointer.segments()}
        due: set[str] = set()
        waiting: set[str] = set()
        for pointer in pointers.values():
            for segment, at in pointer.retired.items():
                (due if as_utc(datetime.fromisoformat(at)) + self.grace <= now else waiting).add(segment)
        return due - waiting - referenced

    def _write_status(self, plans: list[_VariantPlan]) -> None:
        for plan in plans:
            if plan.new is None:
                continue
            try:
                if plan.old is None:
                    self.store.tables.insert(storage.BOOK_META, plan.new.to_entity())
                else:
                    self.store.tables.replace_if_unchanged(storage.BOOK_META, plan.new.to_entity(), plan.old.etag)
                self._count(1, 1)
            except Conflict:
                logger.info("domain book %s: another run wrote the pointer meanwhile", plan.variant)

    def _moved(self, before: dict[str, BookPointer], after: dict[str, BookPointer]) -> bool:
        return {k: p.etag for k, p in before.items()} != {k: p.etag for k, p in after.items()}

    def _flip(self, plans: list[_VariantPlan], pointers: dict[str, BookPointer], lease: _Lease,
              now: datetime) -> None:
        complete = {segment for pointer in pointers.values() for segment in pointer.segments()}
        written: set[str] = set()
        for plan in plans:
            for segment in plan.segments:
                if segment.id not in complete | written:
                    self._count(len(segment.chunks), self.store.write_segment(segment))
                    written.add(segment.id)
        new = dict(pointers)
        new.update({plan.variant: plan.new for plan in plans if plan.new is not None})
        deleted = self._collect_garbage(new, pointers, now) if self._still_held(lease) else set()
        flips: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for variant, pointer in new.items():
            if deleted & set(pointer.retired):
                pointer = new[variant] = replace(pointer, retired={k: v for k, v in pointer.retired.items()
                                                                   if k not in deleted})
            if pointer is not pointers.get(variant):
                flips.append(("upsert", pointer.to_entity(), {"mode": "replace"}))
        # The flip releases the lease in the same transaction (nothing is written after it).
        lease_row = {"PartitionKey": CURRENT, "RowKey": LEASE_ROW, "holder": "",
                     "expires_at": now - timedelta(seconds=1)}
        try:
            self.store.tables.submit(storage.BOOK_META,
                                     [("update", lease_row, storage.if_unchanged(lease.etag)), *flips])
        except Conflict:
            raise SyncBusy("Another domain book sync took over this run's lease; nothing flipped.",
                           retry_after=60) from None
        self._count(1 + len(flips), 1)
        lease.released = True

    def _collect_garbage(self, pointers: dict[str, BookPointer], stored: dict[str, BookPointer],
                         now: datetime) -> set[str]:
        """Delete segments out of use for the grace period, and partitions no pointer knows (a run
        that died before its flip, an older layout); returns the retired ones deleted.

        ``pointers`` are the ones about to be flipped to, ``stored`` the ones readers are served
        until then. This runs before the flip, and the flip may still fail (storage, a lease
        taken over): a segment a stored pointer names is never deleted here, even when the new
        pointers retire it and the grace period is over (or zero). A later run deletes it."""
        serving = {segment for pointer in stored.values() for segment in pointer.segments()}
        due = self._due(pointers, now) - serving
        known = serving | {segment for pointer in (*pointers.values(), *stored.values())
                           for segment in (*pointer.segments(), *pointer.retired)}
        deleted: set[str] = set()
        try:
            leftovers = self.store.stored_segments() - known
            for segment in sorted(due | leftovers):
                removed = self.store.delete_segment(segment)
                self._count(removed, -(-removed // storage.BATCH_LIMIT))
                deleted.add(segment)
        except DependencyUnavailable as error:
            logger.warning("domain book: deleting old segments failed (%s); the next run tries again",
                           type(error).__name__)
        return deleted & due

    # ----- the lease ----------------------------------------------------------------------

    def _acquire(self, now: datetime) -> _Lease:
        tables = self.store.tables
        holder = uuid.uuid4().hex
        entity = {"PartitionKey": CURRENT, "RowKey": LEASE_ROW, "holder": holder,
                  "expires_at": now + timedelta(seconds=LEASE_SECONDS)}
        row = tables.get(storage.BOOK_META, CURRENT, LEASE_ROW)
        try:
            if row is None:
                tables.insert(storage.BOOK_META, entity)
            elif as_utc(row["expires_at"]) > now:
                raise SyncBusy("Another domain book sync is running.", retry_after=60)
            else:
                if row.get("holder"):
                    logger.warning("domain book: taking over a stale sync lease")
                tables.replace_if_unchanged(storage.BOOK_META, entity, row.metadata["etag"])  # type: ignore[attr-defined]
        except Conflict:
            raise SyncBusy("Another domain book sync is running.", retry_after=60) from None
        self._count(1, 1)
        taken = tables.get(storage.BOOK_META, CURRENT, LEASE_ROW)
        if taken is None or taken.get("holder") != holder:
            raise SyncBusy("Another domain book sync is running.", retry_after=60)
        return _Lease(holder, taken.metadata["etag"])  # type: ignore[attr-defined]

    def _still_held(self, lease: _Lease) -> bool:
        """Whether this run still holds its lease, by the row and by the clock: a run that stalled
        past ``LEASE_SECONDS`` may have been taken over, and the run that took over may use again a
        segment this one would delete, so such a run deletes nothing (a later run does)."""
        try:
            row = self.store.tables.get(storage.BOOK_META, CURRENT, LEASE_ROW)
        except DependencyUnavailable:
            return False
        held = row is not None and row.get("holder") == lease.holder and as_utc(row["expires_at"]) > self._clock()
        if not held:
            logger.warning("domain book: this run's lease expired or was taken over; old segments are left "
                           "for the next run")
        return held

    def _release(self, lease: _Lease) -> None:
        entity = {"PartitionKey": CURRENT, "RowKey": LEASE_ROW, "holder": "",
                  "expires_at": self._clock() - timedelta(seconds=1)}
        try:
            self.store.tables.replace_if_unchanged(storage.BOOK_META, entity, lease.etag)
            self._count(1, 1)
        except (Conflict, DependencyUnavailable) as error:
            logger.info("domain book: lease not released (%s); it expires by itself", type(error).__name__)

    def _count(self, entities: int, transactions: int) -> None:
        self._writes += entities
        self._transactions += transactions


def _same(a: BookPointer, b: BookPointer, *, ignore_synced_at: bool = False) -> bool:
    first, second = a.to_entity(), b.to_entity()
    if ignore_synced_at:
        first.pop("synced_at", None)
        second.pop("synced_at", None)
    return first == second


def _carried_over(old: BookPointer, sources: list[_SourcePlan]) -> tuple[SourceState, ...]:
    """An incomplete variant's sources (some source has no content yet): the stored ones, each
    replaced by this run's state of the same source, also one stored under an older name."""
    stored = {state.name: state for state in old.sources}
    now: dict[str, SourceState] = {}
    for plan in sources:
        found = _stored_state(plan.spec, stored)
        if plan.state is not None and found is not None:
            now[found.name] = plan.state
    return tuple(now.get(state.name, state) for state in old.sources)


def _validators(state: SourceState | None) -> tuple[str, str]:
    """(ETag, Last-Modified) a source's fetch sends: those of its last good content, if any."""
    return (state.etag, state.last_modified) if state is not None and state.base else ("", "")


def _previous_states(specs: list[SourceSpec], old: BookPointer | None) -> dict[str, SourceState]:
    """The last state of each source, by its name (for a URL its identity: the URL without query and
    user info, so a new SAS token or password finds the state, validators and all, and the shrink
    check compares with it). A state stored under an older name of the source (``_stored_state``) is
    renamed and its validators and content hash are dropped: the source is fetched in full once, still
    checked against its entry count, and stored again under its name (its entries carry the name as
    ``source``; a whole URL leaves storage with its old segment)."""
    stored = {state.name: state for state in old.sources} if old else {}
    states: dict[str, SourceState] = {}
    for spec in specs:
        state = _stored_state(spec, stored)
        if state is not None and state.name != spec.name:
            logger.info("domain book source %s: its state was stored under an older name; it is fetched in "
                        "full once and stored under its name", spec.name)
            state = replace(state, name=spec.name, etag="", last_modified="", sha256="")
        if state is not None:
            states[spec.name] = state
    return states


def _stored_state(spec: SourceSpec, stored: dict[str, SourceState]) -> SourceState | None:
    """The stored state of ``spec``, as stored: under its name, else (a URL) under a name an earlier
    version gave it: the whole URL (before review F1) or its name with a hash of the whole URL (until
    names became identities), also of a URL with another token (``stored_source_identity``). When two
    stored states have its identity (a definition that listed one list with two tokens), the one of
    this very URL is taken, else none (it is fetched as a new source; logged)."""
    state = stored.get(spec.name)
    if state is not None or spec.url is None:
        return state
    candidates = [state for name, state in stored.items() if stored_source_identity(name) == spec.name]
    if len(candidates) > 1:
        exact = [state for state in candidates if state.name in (spec.url, _hashed_name(spec.url))]
        if len(exact) != 1:
            logger.warning("domain book source %s: %d states are stored under older names of it; none is "
                           "taken, it is fetched as a new source", spec.name, len(candidates))
            return None
        candidates = exact
    return candidates[0] if candidates else None


def _hashed_name(url: str) -> str:
    """What ``source_name(url)`` was from review F1 until names became identities."""
    name = source_name(url)
    return name if name == url else f"{name} [{hashlib.sha256(url.encode()).hexdigest()[:8]}]"
