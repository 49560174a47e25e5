"""The domain book in Table Storage: content-addressed segments, the pointer, and the per-worker
snapshot (SPEC D1-D4, V-O3; docs/domain-book-sync.md).

Storage:
- ``domainbook``: immutable **segments**, ``PartitionKey = seg-<sha256 of the content, 32 hex>``,
  ``RowKey`` = chunk number; each entity holds up to ~30,000 characters of JSON items (a string
  property may hold 64 KiB of UTF-16): an entry row (a JSON array) or, in a delta, a removed key
  (a JSON string). Fifty chunks go in one batch (at most 100 entities and 4 MiB per batch). The
  same content is the same segment, so an unchanged source is never written again, and a source
  shared by two variants (the register) is stored once.
- ``domainbookmeta``: ``PartitionKey = "current"``, ``RowKey = <variant>``: the **pointer**:
  per source (in definition order) its base segment and optional delta segment (the changes
  since that base), with the validators of its last good fetch (ETag, Last-Modified, content
  hash) and its entry count; the book's version (a content hash), sync time, counts, last error,
  and the segments this variant stopped using (``retired``, with the time). ``RowKey = _lease``
  is the sync's lease (sendsecure/booksync.py).

A generation is what a pointer names; it is complete before the pointer flips, so a reader sees
the old book or the new one, never a mix (D3).

Reading: each worker holds one immutable ``DomainBook`` per variant. At most every
``check_seconds`` it reads the pointer (one small entity); only when the generation changed
does it load the new one (each source's base, its delta applied, the sources merged in order),
while other requests keep using the old snapshot. A storage failure or an incomplete generation
keeps the last good snapshot (D3); with no snapshot at all the caller gets
``DependencyUnavailable`` and the verdict says the book is unavailable (V-O3).
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sendsecure.adapters import storage
from sendsecure.core.booksources import hide_url_secrets
from sendsecure.core.cache import TtlCache
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.domainbook import BookEntry, DomainBook, merge_entries
from sendsecure.errors import DependencyUnavailable

logger = logging.getLogger(__name__)

CURRENT = "current"
LEASE_ROW = "_lease"
SEGMENT_PREFIX = "seg-"
CHUNK_CHARS = 30000
BATCH_ENTITIES = 50
PUBLISHED = "(published)"   # the one source of a book handed to ``publish`` (tests, benchmarks)


# ----- the pointer ----------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceState:
    """One source of a generation: where its entries are and how it was last fetched."""

    name: str
    base: str = ""              # segment id ("" when the source never had good content)
    base_chunks: int = 0
    base_entries: int = 0
    delta: str = ""             # segment id of the changes since ``base``, or ""
    delta_chunks: int = 0
    entries: int = 0            # entries of this source (base with its delta applied)
    rejected: int = 0           # lines of the last accepted content that were left out
    sha256: str = ""            # of the last accepted content
    etag: str = ""
    last_modified: str = ""
    error: str = ""             # why the last fetch was not taken ("" when it was)

    def segments(self) -> list[str]:
        return [s for s in (self.base, self.delta) if s]

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", 0) or k == "name"}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SourceState:
        return cls(**{k: v for k, v in value.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class BookPointer:
    variant: str
    generation: str             # "" when no generation was ever published (only an error recorded)
    version: str
    synced_at: datetime | None  # when every source was last fetched and accepted
    entry_count: int
    chunk_count: int
    sources: tuple[SourceState, ...] = ()
    retired: dict[str, str] = field(default_factory=dict)   # segment id -> ISO time it went out of use
    last_error: str = ""
    last_error_at: datetime | None = None
    etag: str = field(default="", compare=False)            # the row's, for conditional writes

    def segments(self) -> set[str]:
        return {s for source in self.sources for s in source.segments()}

    def to_entity(self) -> dict[str, Any]:
        entity: dict[str, Any] = {
            "PartitionKey": CURRENT, "RowKey": self.variant, "generation": self.generation,
            "version": self.version, "entry_count": self.entry_count, "chunk_count": self.chunk_count,
            "sources": json.dumps([s.to_json() for s in self.sources], separators=(",", ":")),
            "retired": json.dumps(self.retired, separators=(",", ":")), "last_error": self.last_error,
        }
        if self.synced_at is not None:
            entity["synced_at"] = self.synced_at
        if self.last_error_at is not None:
            entity["last_error_at"] = self.last_error_at
        return entity

    @classmethod
    def from_entity(cls, row: dict[str, Any]) -> BookPointer:
        metadata = getattr(row, "metadata", None) or {}
        synced_at, error_at = row.get("synced_at"), row.get("last_error_at")
        return cls(
            variant=row["RowKey"], generation=row.get("generation", ""), version=row.get("version", ""),
            synced_at=as_utc(synced_at) if synced_at else None, entry_count=row.get("entry_count", 0),
            chunk_count=row.get("chunk_count", 0),
            sources=tuple(SourceState.from_json(s) for s in json.loads(row.get("sources") or "[]")),
            retired=json.loads(row.get("retired") or "{}"), last_error=row.get("last_error", ""),
            last_error_at=as_utc(error_at) if error_at else None, etag=metadata.get("etag", ""),
        )


def generation_of(sources: Iterable[SourceState]) -> str:
    """A generation's id: a hash of where its sources' entries are."""
    layout = [[s.name, s.base, s.delta] for s in sources]
    return hashlib.sha256(json.dumps(layout).encode()).hexdigest()[:16]


# ----- segments -------------------------------------------------------------------------------

def _row_json(entry: BookEntry) -> str:
    return json.dumps(entry.to_row(), ensure_ascii=False, separators=(",", ":"))


def chunk_items(items: list[str], limit: int = CHUNK_CHARS) -> list[str]:
    """JSON arrays of already serialised items, each at most ``limit`` characters."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for item in items:
        if current and size + len(item) + 1 > limit:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(item)
        size += len(item) + 1
    if current or not chunks:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


def chunk_rows(entries: dict[str, BookEntry], limit: int = CHUNK_CHARS) -> list[str]:
    """JSON arrays of entry rows (sorted by key), each at most ``limit`` characters."""
    return chunk_items([_row_json(entries[key]) for key in sorted(entries)], limit)


@dataclass(frozen=True)
class Segment:
    id: str
    chunks: list[str]


def base_segment(entries: dict[str, BookEntry]) -> Segment:
    return _segment(chunk_rows(entries))


def delta_segment(upserts: dict[str, BookEntry], removed: Iterable[str]) -> Segment:
    items = [_row_json(upserts[key]) for key in sorted(upserts)]
    items += [json.dumps(key, ensure_ascii=False) for key in sorted(removed)]
    return _segment(chunk_items(items))


def _segment(chunks: list[str]) -> Segment:
    digest = hashlib.sha256("\n".join(chunks).encode("utf-8")).hexdigest()[:32]
    return Segment(SEGMENT_PREFIX + digest, chunks)


def apply_items(entries: dict[str, BookEntry], items: Iterable[Any], names: dict[str, str] | None = None) -> None:
    """Apply a segment's items: a row sets its entry, a string removes that key. ``names`` shares
    the few distinct network, supplier and source strings between entries (memory)."""
    names = {} if names is None else names
    for item in items:
        if isinstance(item, str):
            entries.pop(item, None)
            continue
        key, organisation, network, community, nta, supplier, source = item
        entries[key] = BookEntry(key, organisation, names.setdefault(network, network), bool(community), bool(nta),
                                 names.setdefault(supplier, supplier), names.setdefault(source, source))


# ----- the store ------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookStatus:
    """What health and info show of one variant (D3)."""

    available: bool
    version: str | None
    synced_at: datetime | None
    entries: int | None
    last_error: str | None
    last_error_at: datetime | None


class DomainBookStore:
    def __init__(self, tables: storage.TableStore, check_seconds: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._tables = tables
        self.check_seconds = check_seconds
        self._snapshots: dict[str, tuple[DomainBook, str]] = {}   # variant -> (book, generation)
        self._pointers: dict[str, BookPointer] = {}               # variant -> the pointer last read
        self._checked: TtlCache[str, bool] = TtlCache(check_seconds, maxsize=64, clock=clock)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._bases: dict[str, dict[str, BookEntry]] = {}      # base segment -> entries, for the next load
        self._base_users: dict[str, set[str]] = {}             # variant -> the bases its snapshot uses

    @property
    def tables(self) -> storage.TableStore:
        return self._tables

    # ----- pointers and segments (the sync writes through these) --------------------------

    def pointer(self, variant: str) -> BookPointer | None:
        row = self._tables.get(storage.BOOK_META, CURRENT, variant)
        return BookPointer.from_entity(row) if row is not None else None

    def pointers(self) -> dict[str, BookPointer]:
        """Every variant's pointer (one query)."""
        rows = self._tables.query(storage.BOOK_META, "PartitionKey eq @p", {"p": CURRENT})
        return {row["RowKey"]: BookPointer.from_entity(row) for row in rows if not row["RowKey"].startswith("_")}

    def read_segment(self, segment: str, chunks: int) -> list[Any]:
        """The items of a segment; ``DependencyUnavailable`` if it is not complete."""
        rows = list(self._tables.query(storage.BOOK, "PartitionKey eq @p", {"p": segment}))
        if len(rows) != chunks:
            raise DependencyUnavailable("The domain book generation is incomplete.")
        items: list[Any] = []
        for row in sorted(rows, key=lambda r: r["RowKey"]):
            items.extend(json.loads(row["entries"]))
        return items

    def write_segment(self, segment: Segment) -> int:
        """Write a segment's chunks (upserts: a half-written earlier copy is completed); returns
        the number of transactions."""
        batches = 0
        for start in range(0, len(segment.chunks), BATCH_ENTITIES):
            self._tables.submit(storage.BOOK, [
                ("upsert", {"PartitionKey": segment.id, "RowKey": f"{number:05d}", "entries": segment.chunks[number]})
                for number in range(start, min(start + BATCH_ENTITIES, len(segment.chunks)))
            ])
            batches += 1
        return batches

    def stored_segments(self) -> set[str]:
        """The partitions in the book table (keys only), segments and leftovers alike."""
        rows = self._tables.query(storage.BOOK, "PartitionKey ne ''", select=["PartitionKey", "RowKey"])
        return {row["PartitionKey"] for row in rows}

    def delete_segment(self, segment: str) -> int:
        return self._tables.delete_where(storage.BOOK, "PartitionKey eq @p", {"p": segment})

    def source_entries(self, source: SourceState) -> dict[str, BookEntry]:
        entries: dict[str, BookEntry] = {}
        if source.base:
            apply_items(entries, self.read_segment(source.base, source.base_chunks))
        if source.delta:
            apply_items(entries, self.read_segment(source.delta, source.delta_chunks))
        return entries

    def base_entries(self, source: SourceState) -> dict[str, BookEntry]:
        entries: dict[str, BookEntry] = {}
        if source.base:
            apply_items(entries, self.read_segment(source.base, source.base_chunks))
        return entries

    def publish(self, variant: str, entries: dict[str, BookEntry], version: str,
                synced_at: datetime | None = None) -> BookPointer:
        """Write ``entries`` as a one-source generation and flip the pointer, without the sync's
        lease (tests and benchmarks; the sync is sendsecure/booksync.py)."""
        synced_at = synced_at or utcnow()
        segment = base_segment(entries)
        current = self.pointer(variant)
        if current is None or segment.id not in current.segments():
            self.write_segment(segment)
        source = SourceState(PUBLISHED, base=segment.id, base_chunks=len(segment.chunks),
                             base_entries=len(entries), entries=len(entries))
        retired = dict(current.retired) if current else {}
        if current is not None:
            for old in current.segments() - {segment.id}:
                retired[old] = synced_at.isoformat()
        pointer = BookPointer(variant, generation_of([source]), version, synced_at, len(entries),
                              len(segment.chunks), (source,), retired)
        self._tables.upsert(storage.BOOK_META, pointer.to_entity(), merge=False)
        return pointer

    # ----- reading ---------------------------------------------------------------------

    def entries_of(self, pointer: BookPointer, bases: dict[str, dict[str, BookEntry]] | None = None
                   ) -> dict[str, BookEntry]:
        """The merged entries of a generation: each source's base with its delta, in order.

        ``bases`` (segment id -> its entries, never changed) are bases already held; the ones read
        here are added to it. The segments to read are read at once (a few requests in parallel)."""
        bases = {} if bases is None else bases
        refs = [(s.base, s.base_chunks) for s in pointer.sources if s.base and s.base not in bases]
        refs += [(s.delta, s.delta_chunks) for s in pointer.sources if s.delta]
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(refs)))) as pool:
            tasks = {segment: pool.submit(contextvars.copy_context().run, self.read_segment, segment, chunks)
                     for segment, chunks in dict(refs).items()}
            items = {segment: task.result() for segment, task in tasks.items()}
        names: dict[str, str] = {}
        per_source = []
        for source in pointer.sources:
            if not source.base:
                continue
            if source.base not in bases:
                bases[source.base] = {}
                apply_items(bases[source.base], items[source.base], names)
            entries = bases[source.base]
            if source.delta:
                entries = dict(entries)
                apply_items(entries, items[source.delta], names)
            per_source.append(entries)
        if len(per_source) == 1:
            return dict(per_source[0])
        return merge_entries([entry for entries in per_source for entry in entries.values()])

    def load(self, pointer: BookPointer) -> DomainBook:
        """The snapshot of a generation. The bases of the generation a worker holds are kept (a
        few MB: dicts of entries the snapshot holds anyway), so a new generation that changed a
        source by a delta costs reading the deltas, not the book."""
        if not pointer.generation:
            raise DependencyUnavailable("No domain book has been published yet.")
        with self._guard:
            bases = dict(self._bases)
        entries = self.entries_of(pointer, bases)
        if len(entries) != pointer.entry_count:
            raise DependencyUnavailable("The domain book generation is incomplete.")
        book = DomainBook.build(pointer.variant, pointer.version, pointer.synced_at or utcnow(), entries)
        with self._guard:
            self._base_users[pointer.variant] = {s.base for s in pointer.sources if s.base}
            keep = set().union(*self._base_users.values())
            self._bases = {segment: held for segment, held in {**self._bases, **bases}.items() if segment in keep}
        return book

    def current(self, variant: str) -> DomainBook:
        """The snapshot to validate with; ``DependencyUnavailable`` if there is none."""
        held = self._snapshots.get(variant)
        if held is not None and self._checked.get(variant):
            return held[0]
        lock = self._lock(variant)
        if held is None:
            lock.acquire()
        elif not lock.acquire(blocking=False):
            return held[0]  # another request is checking or loading; keep using what we have
        try:
            held = self._snapshots.get(variant)
            if held is not None and self._checked.get(variant):
                return held[0]
            try:
                pointer = self.pointer(variant)
                if pointer is None:
                    raise DependencyUnavailable("No domain book has been published yet.")
                self._pointers[variant] = pointer
                if held is None or held[1] != pointer.generation:
                    book = self.load(pointer)
                    self._snapshots[variant] = (book, pointer.generation)
                    held = self._snapshots[variant]
                elif pointer.synced_at is not None and held[0].synced_at != pointer.synced_at:
                    book = held[0]   # same content, newer sync time
                    refreshed = DomainBook(book.variant, book.version, pointer.synced_at, book.entries, book.lookalikes)
                    held = self._snapshots[variant] = (refreshed, pointer.generation)
                self._checked.put(variant, True)
                return held[0]
            except DependencyUnavailable as error:
                if held is None:
                    raise
                logger.warning("domain book %s: check failed (%s); keeping the last good book",
                               variant, type(error).__name__)
                self._checked.put(variant, True)
                return held[0]
        finally:
            lock.release()

    def status(self, variant: str) -> BookStatus:
        """The snapshot's version and sync time with the last error the pointer records (any URL in it
        as its source name: an error stored by a version that named URL sources by their whole URL
        shows no query or user info until the next sync replaces it; review F1)."""
        try:
            book: DomainBook | None = self.current(variant)
        except Exception as exc:  # noqa: BLE001 - a status reports, it does not fail
            logger.info("domain book %s unavailable (%s)", variant, type(exc).__name__)
            book = None
        pointer = self._pointers.get(variant)
        error = hide_url_secrets(pointer.last_error) if pointer is not None and pointer.last_error else None
        error_at = pointer.last_error_at if error and pointer is not None else None
        if book is None:
            return BookStatus(False, None, None, None, error, error_at)
        return BookStatus(True, book.version, book.synced_at, len(book.entries), error, error_at)

    def _lock(self, variant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(variant, threading.Lock())

    def forget(self) -> None:
        """Drop this worker's snapshots (tests)."""
        self._snapshots.clear()
        self._pointers.clear()
        self._checked.clear()
        with self._guard:
            self._bases.clear()
            self._base_users.clear()


def publish_from_sources(store: DomainBookStore, definition_file: str | Path, variants: list[str]) -> list[BookPointer]:
    """Sync ``variants`` from the sources ``definition_file`` names (files, or https URLs with the
    settings' fetcher) through the domain book sync; returns their pointers."""
    from sendsecure.booksync import BookSync

    sync = BookSync(store, definition_file)
    sync.run(variants)
    pointers = store.pointers()
    return [pointers[variant] for variant in variants if variant in pointers]
