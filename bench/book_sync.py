"""Benchmark the domain book sync (issue 13; docs/domain-book-sync.md "Costs").

    python bench/book_sync.py [--entries 50000] [--runs 3] [--before REF]

A made-up book of --entries entries (bench/generate_book.py) is served over HTTPS on loopback
(devhost/booksources.py: ETag, Last-Modified, 304) and synced into Azurite by the real code:
1. full sync: wall time, Table write requests (a batch is one) and entities written, peak
   resident memory the run added;
2. re-sync with nothing changed: requests to the sources, Table writes (target 0);
3. re-sync with 1 % of the entries changed (--entries / 100 domains of the ZorgMail list
   renamed, spread evenly over it): Table entities written as a fraction of the full sync (target <= 10 %);
4. a worker loading the new generation (pointer to snapshot: segments read, deltas applied,
   sources merged, look-alike index built), cold and while holding the generation before:
   medians over --runs; the Python memory at the peak of a cold load and what the worker keeps
   (tracemalloc). With ``--before REF`` (e.g. ``main`` before this
   change) the same figures of that revision's one-partition layout, published from the same
   entries, for comparison.
Writes are counted at the TableStore (every write method), independently of the sync's own
count. Writes bench/results/book_sync.json; exits 1 when a target is missed.
"""
from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate_book import generate  # noqa: E402

WRITE_METHODS = ("insert", "upsert", "replace_if_unchanged", "update_if_present", "submit", "delete", "_delete_batch")


class Counted:
    """Counts the Table writes of a TableStore: requests and entities."""

    def __init__(self, tables: Any) -> None:
        self.requests = 0
        self.entities = 0
        for name in WRITE_METHODS:
            setattr(tables, name, self._wrap(name, getattr(tables, name)))

    def _wrap(self, name: str, real: Any) -> Any:
        def write(*args: Any, **kwargs: Any) -> Any:
            self.requests += 1
            if name == "submit":
                self.entities += len(args[1])
            elif name == "_delete_batch":
                self.entities += len(args[2])
            else:
                self.entities += 1
            return real(*args, **kwargs)
        return write

    def reset(self) -> tuple[int, int]:
        figures = (self.requests, self.entities)
        self.requests = self.entities = 0
        return figures


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def change_one_percent(list_file: Path, entries: int) -> int:
    """Rename ``entries // 100`` domains of the list, evenly spread over it; returns how many."""
    lines = list_file.read_text(encoding="utf-8").splitlines(keepends=True)
    words_total = sum(len(line.split()) for line in lines if not line.startswith("###"))
    step = max(1, words_total // max(1, entries // 100))
    count = renamed = 0
    out = []
    for line in lines:
        if line.startswith("###"):
            out.append(line)
            continue
        words = []
        for word in line.split():
            count += 1
            rename = count % step == 0 and renamed < entries // 100
            renamed += rename
            words.append(("renamed-" + word) if rename else word)
        out.append(" ".join(words) + "\n")
    list_file.write_text("".join(out), encoding="utf-8")
    return renamed


def load_figures(new_store: Any, pointer: Any, runs: int, previous: Any = None) -> dict[str, Any]:
    """A worker (a fresh store each run) loading ``pointer``: cold, and with ``previous`` (the
    generation before) already held. Memory: the Python allocations at the peak of a cold load and
    what the worker keeps afterwards (snapshot and, in the new layout, its bases)."""
    figures: dict[str, Any] = {}
    for label, held in (("cold", None), ("holding_previous", previous)):
        if label == "holding_previous" and previous is None:
            continue
        loads = []
        for _ in range(runs):
            store = new_store()
            if held is not None:
                store.load(held)
            gc.collect()
            started = time.perf_counter()
            store.load(pointer)
            loads.append(time.perf_counter() - started)
        figures[f"load_seconds_median_{label}"] = round(statistics.median(loads), 3)
        figures[f"load_seconds_runs_{label}"] = [round(x, 3) for x in loads]
    gc.collect()
    tracemalloc.start()
    store = new_store()
    book = store.load(pointer)
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del book, store
    figures["load_peak_python_mb"] = round(peak / 2**20, 1)
    figures["kept_python_mb"] = round(kept / 2**20, 1)
    return figures


def before_figures(ref: str, tables: Any, entries: dict, version: str, runs: int) -> dict[str, Any]:
    """The one-partition layout of ``ref``'s bookstore, publishing and loading the same entries."""
    source = subprocess.run(["git", "show", f"{ref}:sendsecure/bookstore.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "bookstore_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("bookstore_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bookstore_before"] = module
    spec.loader.exec_module(module)
    store = module.DomainBookStore(tables, check_seconds=0)
    started = time.perf_counter()
    pointer = store.publish("before", entries, version)
    figures = {"ref": ref, "publish_seconds": round(time.perf_counter() - started, 3),
               "entities": pointer.chunk_count + 1}
    figures.update(load_figures(lambda: module.DomainBookStore(tables, check_seconds=0), pointer, runs))
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", help="a git revision whose bookstore layout to measure for comparison")
    args = parser.parse_args(argv)

    from devhost.azurite import Azurite
    from devhost.booksources import serve_definition

    work = Path(tempfile.mkdtemp(prefix="book-sync-"))
    files = generate(args.entries, work / "sources")
    server, definition, ca_bundle = serve_definition(files, work / "served")
    os.environ.update({"TABLE_PREFIX": "benchsync", "BOOK_SYNC_CA_BUNDLE": str(ca_bundle),
                       "DOMAIN_BOOK_SOURCES": str(definition)})
    figures: dict[str, Any] = {"benchmark": "book_sync", "entries_generated": args.entries}
    try:
        with Azurite() as azurite:
            os.environ["TABLES_CONNECTION_STRING"] = azurite.connection_string
            from sendsecure import runtime
            from sendsecure.bookstore import DomainBookStore

            runtime.reset()
            runtime.tables().create_missing_tables()
            counted = Counted(runtime.tables())
            sync = runtime.book_sync()

            def run(label: str) -> dict[str, Any]:
                counted.reset()
                before_requests = sum(server.requests.values())
                rss_before = peak_rss_mb()
                started = time.perf_counter()
                answer = sync.run()
                wall = time.perf_counter() - started
                requests, entities = counted.reset()
                report = answer.variants[0]
                result = {"wall_seconds": round(wall, 3), "table_write_requests": requests,
                          "table_entities_written": entities, "source_requests": sum(server.requests.values())
                          - before_requests, "outcome": report.outcome, "entries": report.entries,
                          "added": report.added, "removed": report.removed, "changed": report.changed,
                          "peak_rss_added_mb": round(peak_rss_mb() - rss_before, 1)}
                print(f"{label}: {json.dumps(result)}")
                return result

            full = figures["full_sync"] = run("full sync")
            full_pointer = runtime.books().pointer("zorgmail")
            unchanged = figures["resync_unchanged"] = run("re-sync, nothing changed")
            renamed = change_one_percent(work / "sources" / "zorgmail.txt", args.entries)
            server.put("zorgmail.txt", (work / "sources" / "zorgmail.txt").read_bytes())
            one = figures["resync_one_percent"] = run(f"re-sync, {renamed} domains renamed (1 %)")
            one["writes_fraction_of_full"] = round(one["table_entities_written"] / full["table_entities_written"], 4)
            one["requests_fraction_of_full"] = round(one["table_write_requests"] / full["table_write_requests"], 4)

            reader = DomainBookStore(runtime.tables(), check_seconds=0)
            pointer = reader.pointer("zorgmail")
            assert pointer is not None
            figures["worker_load"] = load_figures(lambda: DomainBookStore(runtime.tables(), check_seconds=0),
                                                  pointer, args.runs, full_pointer)
            figures["worker_load"]["segments"] = len(pointer.segments())
            figures["worker_load"]["entities"] = pointer.chunk_count + 1
            print(f"worker load of the new generation: {json.dumps(figures['worker_load'])}")
            if args.before:
                entries = reader.entries_of(pointer)
                figures["before"] = before_figures(args.before, runtime.tables(), entries, pointer.version, args.runs)
                print(f"before ({args.before}): {json.dumps(figures['before'])}")
    finally:
        server.stop()
    figures["targets"] = {
        "resync_unchanged_writes": {"target": 0, "measured": unchanged["table_entities_written"]},
        "resync_one_percent_writes_fraction": {"target": 0.10, "measured": one["writes_fraction_of_full"]},
    }
    missed = unchanged["table_entities_written"] != 0 or one["writes_fraction_of_full"] > 0.10
    out = ROOT / "bench" / "results" / "book_sync.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written {out.relative_to(ROOT)}" + ("; TARGET MISSED" if missed else "; targets met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
