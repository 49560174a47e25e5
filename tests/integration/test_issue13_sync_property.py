"""Issue 13 (D3): after any sequence of syncs with random edits and random failures (a source
missing, emptied, shrunk, with garbage; Table Storage failing at any write), the served book is
the one of the last sync that succeeded: each source's last accepted content, merged in order."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_issue13_booksync import Clock, Writes

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.bookstore import DomainBookStore
from sendsecure.booksync import LEASE_SECONDS, BookSync, SyncBusy
from sendsecure.core.booksources import build_book, parse_source, shrink_refusal
from sendsecure.errors import Conflict, DependencyUnavailable

DOMAINS = [f"huisarts-{n:02d}.example" for n in range(40)]
REGISTER = [f"kliniek-{n:02d}.example" for n in range(15)]
SOURCES = (("list.txt", "zorgmail_text"), ("register.csv", "nta_register_csv"))
_variants = itertools.count(1)
CLOCK = Clock()

# One edit of one source: None keeps it, "missing" deletes the file, else (chosen rows, garbage?).
edit = st.one_of(st.none(), st.just("missing"),
                 st.tuples(st.frozensets(st.integers(0, 39), max_size=40), st.booleans()))
step = st.tuples(edit, edit, st.one_of(st.none(), st.integers(0, 7)))


def content(name: str, rows: frozenset[int], garbage: bool) -> str:
    if name == "list.txt":
        lines = ["### property test"] + [DOMAINS[n] for n in sorted(rows)]
    else:
        lines = ["domain,organisation,supplier,nta7516"] + [f"{REGISTER[n % 15]},Kliniek {n % 15},Zorgpost BV,ja"
                                                            for n in sorted(rows)]
    if garbage:
        lines.insert(len(lines) // 2 + 1, "!!! garbage @@@ line" if name == "list.txt" else "a,b")
    return "\n".join(lines) + "\n"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=5))
def test_issue13_property_served_book_equals_the_last_successful_sync(app_env, tmp_path, monkeypatch, steps):
    variant = f"p{next(_variants)}"
    folder = tmp_path / variant
    folder.mkdir()
    definition = folder / "variants.json"
    sources = [{"path": "list.txt", "format": "zorgmail_text", "network": "zorgmail"},
               {"path": "register.csv", "format": "nta_register_csv"}]
    definition.write_text(json.dumps({variant: {"sources": sources}}))
    writes = Writes(runtime.tables(), monkeypatch)
    sync = BookSync(runtime.books(), definition, grace_seconds=0, clock=CLOCK)
    accepted: dict[str, str] | None = None           # the model: each source's last accepted text
    texts: dict[str, str | None] = {name: None for name, _ in SOURCES}
    for edits in steps:
        *changes, fail_at = edits
        for (name, _), change in zip(SOURCES, changes, strict=True):
            if change == "missing":
                texts[name] = None
            elif change is not None:
                texts[name] = content(name, *change)
            _write(folder / name, texts[name])
        candidate = _accept(accepted, texts)
        writes.calls, writes.fail_at = 0, fail_at
        CLOCK.advance(LEASE_SECONDS + 1)
        try:
            sync.run([variant])
            accepted = candidate if candidate is not None else accepted
        except (DependencyUnavailable, SyncBusy):
            assert fail_at is not None
        finally:
            writes.fail_at = None
        worker = DomainBookStore(runtime.tables(), check_seconds=0)
        if accepted is None:
            with pytest.raises(DependencyUnavailable):
                worker.current(variant)
        else:
            assert worker.current(variant).entries == _book(variant, accepted)


def _write(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(text)


def _entries(name: str, fmt: str, text: str) -> int:
    return len(parse_source(fmt, text, network="zorgmail", source=name).entries)


def _accept(accepted: dict[str, str] | None, texts: dict[str, str | None]) -> dict[str, str] | None:
    """The sources' texts the sync takes (None: no generation can be made)."""
    result = {}
    for name, fmt in SOURCES:
        text = texts[name]
        previous = accepted[name] if accepted else None
        ok = text is not None and shrink_refusal(_entries(name, fmt, previous) if previous else 0,
                                                 _entries(name, fmt, text), 0.2) is None
        if ok:
            assert text is not None
            result[name] = text
        elif previous is not None:
            result[name] = previous
        else:
            return None                               # a first generation needs every source
    return result


def _book(variant: str, texts: dict[str, str]) -> dict:
    return build_book(variant, [(name, parse_source(fmt, texts[name], network="zorgmail", source=name))
                                for name, fmt in SOURCES]).entries




def _zorgmail_definition(tmp_path: Path) -> tuple[Path, Path]:
    """A ``zorgmail`` variant of the list and the register as files: (their folder, the definition)."""
    folder = tmp_path / "zorgmail"
    folder.mkdir()
    definition = folder / "variants.json"
    definition.write_text(json.dumps({"zorgmail": {"sources": [
        {"path": "list.txt", "format": "zorgmail_text", "network": "zorgmail"},
        {"path": "register.csv", "format": "nta_register_csv"}]}}))
    return folder, definition


@pytest.mark.parametrize("flip_failure", [DependencyUnavailable("injected"), Conflict("lease taken over")])
def test_d3_a_flip_that_fails_after_the_garbage_collection_keeps_the_served_book_whole(
        app_env, tmp_path, monkeypatch, flip_failure):
    """The case the property test found: a source replaced by a new base retires its old base; with
    no grace period that segment was due at once and deleted before the flip, so when the flip then
    failed the pointer still served it ("generation is incomplete")."""
    folder, definition = _zorgmail_definition(tmp_path)
    clock = Clock()
    sync = BookSync(runtime.books(), definition, grace_seconds=0, clock=clock)
    first = {"list.txt": content("list.txt", frozenset(range(20)), False),
             "register.csv": content("register.csv", frozenset(range(10)), False)}
    for name, text in first.items():
        _write(folder / name, text)
    sync.run(["zorgmail"])
    _write(folder / "list.txt", content("list.txt", frozenset(range(20, 40)), False))   # a new base
    tables = runtime.tables()
    real_submit = tables.submit

    def submit(name: str, operations: Any) -> Any:
        if name == storage.BOOK_META:                   # the flip (and the lease's release)
            raise flip_failure
        return real_submit(name, operations)

    monkeypatch.setattr(tables, "submit", submit)
    clock.advance(LEASE_SECONDS + 1)
    with pytest.raises((DependencyUnavailable, SyncBusy)):
        sync.run(["zorgmail"])
    monkeypatch.setattr(tables, "submit", real_submit)
    worker = DomainBookStore(runtime.tables(), check_seconds=0)
    assert worker.current("zorgmail").entries == _book("zorgmail", first)
    # The old base is deleted by a later run, once no stored pointer names it.
    clock.advance(LEASE_SECONDS + 1)
    sync.run(["zorgmail"])
    clock.advance(LEASE_SECONDS + 1)
    sync.run(["zorgmail"])
    pointer = runtime.books().pointer("zorgmail")
    assert pointer is not None and runtime.books().stored_segments() == pointer.segments()


def test_d3_a_run_that_outlived_its_lease_deletes_no_segment_of_the_run_that_took_over(app_env, tmp_path,
                                                                                       monkeypatch):
    """Run A stalls past LEASE_SECONDS while it writes; run B takes the lease over, writes its own
    segments and flips. A's garbage collection must not take B's segments (unknown to A's plan)
    for leftovers of a dead run: a run that no longer holds its lease deletes nothing."""
    folder, definition = _zorgmail_definition(tmp_path)
    clock = Clock()
    run_a = BookSync(runtime.books(), definition, grace_seconds=0, clock=clock)
    run_b = BookSync(runtime.books(), definition, grace_seconds=0, clock=clock)
    _write(folder / "list.txt", content("list.txt", frozenset(range(20)), False))
    _write(folder / "register.csv", content("register.csv", frozenset(range(10)), False))
    run_a.run(["zorgmail"])
    _write(folder / "list.txt", content("list.txt", frozenset(range(20, 40)), False))   # A writes a new base
    books = runtime.books()
    real_write = books.write_segment
    stalled = []

    def stalled_write(segment: Any) -> Any:
        if not stalled:                                  # A stalls; meanwhile B takes over and flips
            stalled.append(segment)
            clock.advance(LEASE_SECONDS + 1)
            _write(folder / "register.csv", content("register.csv", frozenset(range(15)), False))
            run_b.run(["zorgmail"])
        return real_write(segment)

    monkeypatch.setattr(books, "write_segment", stalled_write)
    clock.advance(LEASE_SECONDS + 1)
    with pytest.raises(SyncBusy):                         # A's flip finds the lease taken over
        run_a.run(["zorgmail"])
    monkeypatch.setattr(books, "write_segment", real_write)

    served = DomainBookStore(runtime.tables(), check_seconds=0).current("zorgmail")   # B's book, whole
    assert served.entries == _book("zorgmail", {"list.txt": content("list.txt", frozenset(range(20, 40)), False),
                                                "register.csv": content("register.csv", frozenset(range(15)),
                                                                        False)})
