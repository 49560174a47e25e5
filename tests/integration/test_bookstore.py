"""The domain book in Table Storage: generations, the pointer flip, the per-worker snapshot (SPEC D3, D4, V-O3)."""
from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.bookstore import DomainBookStore, chunk_rows
from sendsecure.core.domainbook import BookEntry
from sendsecure.core.drafts import parse_draft
from sendsecure.core.rules import TenantPolicy, evaluate
from sendsecure.core.tenants import InstallationType
from sendsecure.errors import DependencyUnavailable

DOMAINS = [f"praktijk-{n:03d}.example" for n in range(300)]


def book_with(network: str, count: int = 300) -> dict[str, BookEntry]:
    entries = {d: BookEntry(d, f"Praktijk {d}", network, True, False) for d in DOMAINS[:count]}
    entries["ziekenhuis-a.example"] = BookEntry("ziekenhuis-a.example", "Ziekenhuis A", network, True, True)
    return entries


def test_d3_publish_then_read_the_same_book(app_env):
    store = runtime.books()
    entries = book_with("zorgmail")
    pointer = store.publish("zorgmail", entries, "version-1")
    book = store.current("zorgmail")
    assert book.version == "version-1" and book.entries == entries
    assert pointer.entry_count == len(entries) and pointer.chunk_count >= 1


def test_d3_large_book_is_stored_in_chunks_within_table_limits(app_env):
    entries = {f"domein-{n:05d}-met-een-lange-naam.example": BookEntry(
        f"domein-{n:05d}-met-een-lange-naam.example", "Organisatie " * 3, "zorgmail", True, n % 2 == 0)
        for n in range(5000)}
    chunks = chunk_rows(entries)
    assert all(len(chunk) <= 30000 for chunk in chunks)   # a string property holds 64 KiB of UTF-16
    store = runtime.books()
    pointer = store.publish("zorgmail", entries, "big")
    assert pointer.chunk_count == len(chunks) > 1
    assert store.current("zorgmail").entries == entries


def test_d3_same_content_publishes_no_new_generation(app_env):
    store = runtime.books()
    first = store.publish("zorgmail", book_with("zorgmail"), "same")
    later = datetime.now(UTC) + timedelta(hours=1)
    second = store.publish("zorgmail", book_with("zorgmail"), "same", synced_at=later)
    assert second.generation == first.generation and second.synced_at == later


def test_d4_worker_reloads_only_when_the_generation_changes(app_env, monkeypatch):
    store = DomainBookStore(runtime.tables(), check_seconds=0)
    store.publish("zorgmail", book_with("a"), "va")
    loads = []
    original = store.load
    monkeypatch.setattr(store, "load", lambda pointer: loads.append(pointer.generation) or original(pointer))
    first = store.current("zorgmail")
    assert store.current("zorgmail") is first and len(loads) == 1      # pointer checked, nothing loaded
    store.publish("zorgmail", book_with("b"), "vb")
    assert store.current("zorgmail").version == "vb" and len(loads) == 2


def test_d4_version_check_is_cached_for_check_seconds(app_env):
    store = DomainBookStore(runtime.tables(), check_seconds=3600)
    store.publish("zorgmail", book_with("a"), "va")
    assert store.current("zorgmail").version == "va"
    store.publish("zorgmail", book_with("b"), "vb")
    assert store.current("zorgmail").version == "va"                  # still within the check interval


def test_d3_incomplete_generation_keeps_the_last_good_book(app_env):
    store = DomainBookStore(runtime.tables(), check_seconds=0)
    store.publish("zorgmail", book_with("a"), "va")
    assert store.current("zorgmail").version == "va"
    # A pointer to a generation whose segments are not all there (a sync that died half way).
    pointer = store.pointer("zorgmail")
    assert pointer is not None
    broken = replace(pointer, generation="broken", version="vx",
                     sources=(replace(pointer.sources[0], base="seg-missing"),))
    runtime.tables().upsert(storage.BOOK_META, broken.to_entity(), merge=False)
    assert store.current("zorgmail").version == "va"


def test_v_o3_no_book_published_is_dependency_unavailable(app_env):
    with pytest.raises(DependencyUnavailable):
        DomainBookStore(runtime.tables(), check_seconds=0).current("sigra")


def test_d3_generation_swap_while_validating_never_mixes_two_books(app_env):
    """Readers validate continuously while books A and B are published in turn."""
    writer_store = DomainBookStore(runtime.tables(), check_seconds=0)
    reader_store = DomainBookStore(runtime.tables(), check_seconds=0)
    writer_store.publish("zorgmail", book_with("net-a"), "book-a")
    policy = TenantPolicy(InstallationType.VIEWER, frozenset({"ziekenhuis-a.example"}))
    draft = parse_draft({"to": [{"address": f"arts@{d}"} for d in DOMAINS[:100]], "subject": "Verwijzing"})
    mixed, verdicts, stop = [], [], threading.Event()

    def reader() -> None:
        while not stop.is_set():
            book = reader_store.current("zorgmail")
            verdict = evaluate(draft, policy=policy, session_mailbox="an@ziekenhuis-a.example", book=book,
                               stored_phones={}, language="nl")
            networks = {r.network for r in verdict.recipients}
            version = verdict.domain_book.version or ""
            expected = {"book-a": {"net-a"}, "book-b": {"net-b"}}[version]
            verdicts.append(version)
            if networks != expected:
                mixed.append(networks)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for round_number in range(6):
            writer_store.publish("zorgmail", book_with("net-b" if round_number % 2 == 0 else "net-a"),
                                 "book-b" if round_number % 2 == 0 else "book-a")
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not mixed
    assert {"book-a", "book-b"} <= set(verdicts)   # the readers really saw both books
