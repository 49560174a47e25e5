"""The domain book in Table Storage, in generations, and the per-worker snapshot (SPEC D1-D4).

Storage:
- ``domainbook``: one partition per generation, ``PartitionKey = <variant>.<generation>``; each
  entity (``RowKey`` = chunk number) holds up to ~30,000 characters of JSON rows (a string
  property may hold 64 KiB of UTF-16). Fifty chunks go in one batch (at most 100 entities and
  4 MiB per batch), so 50,000 entries are about 150 entities in 3 batches, not 50,000 writes.
- ``domainbookmeta``: ``PartitionKey = "current"``, ``RowKey = <variant>``: the generation
  readers must use, its version (a content hash), sync time, entry and chunk counts.

Publishing writes a complete new generation first and then flips the pointer, so a reader sees
the old book or the new one, never a mix (D3). The previous generation is kept for readers
still loading it; older ones are deleted. Publishing the same content again only updates the
sync time.

Reading: each worker holds one immutable ``DomainBook`` per variant. At most every
``check_seconds`` it reads the pointer (one small entity); only when the generation changed
does it load the new one, while other requests keep using the old snapshot. A storage failure
during a check keeps the last good snapshot (D3); with no snapshot at all the caller gets
``DependencyUnavailable`` and the verdict says the book is unavailable (V-O3).
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sendsecure.adapters import storage
from sendsecure.core.cache import TtlCache
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.domainbook import BookEntry, DomainBook
from sendsecure.errors import DependencyUnavailable

logger = logging.getLogger(__name__)

CURRENT = "current"
CHUNK_CHARS = 30000
BATCH_ENTITIES = 50


@dataclass(frozen=True)
class BookPointer:
    variant: str
    generation: str
    version: str
    synced_at: datetime
    entry_count: int
    chunk_count: int


def chunk_rows(entries: dict[str, BookEntry], limit: int = CHUNK_CHARS) -> list[str]:
    """JSON arrays of entry rows, each at most ``limit`` characters."""
    chunks: list[str] = []
    current: list[str] = []
    size = 2
    for key in sorted(entries):
        row = json.dumps(entries[key].to_row(), ensure_ascii=False, separators=(",", ":"))
        if current and size + len(row) + 1 > limit:
            chunks.append("[" + ",".join(current) + "]")
            current, size = [], 2
        current.append(row)
        size += len(row) + 1
    if current or not chunks:
        chunks.append("[" + ",".join(current) + "]")
    return chunks


class DomainBookStore:
    def __init__(self, tables: storage.TableStore, check_seconds: float = 10.0) -> None:
        self._tables = tables
        self.check_seconds = check_seconds
        self._snapshots: dict[str, tuple[DomainBook, str]] = {}   # variant -> (book, generation)
        self._checked: TtlCache[str, bool] = TtlCache(check_seconds, maxsize=64)  # variants checked lately
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    # ----- writing ---------------------------------------------------------------------

    def pointer(self, variant: str) -> BookPointer | None:
        row = self._tables.get(storage.BOOK_META, CURRENT, variant)
        if row is None:
            return None
        return BookPointer(variant, row["generation"], row["version"], as_utc(row["synced_at"]),
                           row["entry_count"], row["chunk_count"])

    def publish(self, variant: str, entries: dict[str, BookEntry], version: str,
                synced_at: datetime | None = None) -> BookPointer:
        synced_at = synced_at or utcnow()
        current = self.pointer(variant)
        if current is not None and current.version == version:
            self._tables.upsert(storage.BOOK_META, {"PartitionKey": CURRENT, "RowKey": variant, "synced_at": synced_at})
            return BookPointer(variant, current.generation, version, synced_at, current.entry_count,
                               current.chunk_count)
        generation = f"{synced_at:%Y%m%dT%H%M%S}{uuid.uuid4().hex[:8]}"
        partition = f"{variant}.{generation}"
        chunks = chunk_rows(entries)
        for start in range(0, len(chunks), BATCH_ENTITIES):
            self._tables.submit(storage.BOOK, [
                ("create", {"PartitionKey": partition, "RowKey": f"{number:05d}", "entries": chunks[number]})
                for number in range(start, min(start + BATCH_ENTITIES, len(chunks)))
            ])
        pointer = BookPointer(variant, generation, version, synced_at, len(entries), len(chunks))
        self._tables.upsert(storage.BOOK_META, {
            "PartitionKey": CURRENT, "RowKey": variant, "generation": generation, "version": version,
            "synced_at": synced_at, "entry_count": len(entries), "chunk_count": len(chunks),
            "previous_generation": current.generation if current else "",
        }, merge=False)
        self._delete_old_generations(variant, keep={generation, current.generation if current else ""})
        logger.info("domain book %s: generation %s published (%d entries)", variant, generation, len(entries))
        return pointer

    def _delete_old_generations(self, variant: str, keep: set[str]) -> None:
        prefix = f"{variant}."
        self._tables.delete_where(storage.BOOK, "PartitionKey ge @low and PartitionKey lt @high",
                                  {"low": prefix, "high": variant + "/"},
                                  keep=lambda row: row["PartitionKey"][len(prefix):] in keep)

    # ----- reading ---------------------------------------------------------------------

    def load(self, pointer: BookPointer) -> DomainBook:
        partition = f"{pointer.variant}.{pointer.generation}"
        rows = list(self._tables.query(storage.BOOK, "PartitionKey eq @p", {"p": partition}))
        if len(rows) != pointer.chunk_count:
            raise DependencyUnavailable("The domain book generation is incomplete.")
        entries: dict[str, BookEntry] = {}
        for row in sorted(rows, key=lambda r: r["RowKey"]):
            for values in json.loads(row["entries"]):
                entry = BookEntry.from_row(values)
                entries[entry.key] = entry
        return DomainBook.build(pointer.variant, pointer.version, pointer.synced_at, entries)

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
                if held is None or held[1] != pointer.generation:
                    book = self.load(pointer)
                    self._snapshots[variant] = (book, pointer.generation)
                    held = self._snapshots[variant]
                elif held[0].synced_at != pointer.synced_at:  # same content, newer sync time
                    book = held[0]
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

    def _lock(self, variant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(variant, threading.Lock())

    def forget(self) -> None:
        """Drop this worker's snapshots (tests)."""
        self._snapshots.clear()
        self._checked.clear()


def publish_from_sources(store: DomainBookStore, definition_file: str | Path, variants: list[str]) -> list[BookPointer]:
    """Load variants from their source files (the sync's parsers) and publish them."""
    from sendsecure.core.booksources import load_variant

    pointers = []
    for variant in variants:
        loaded = load_variant(variant, definition_file)
        pointers.append(store.publish(variant, loaded.entries, loaded.version))
    return pointers
