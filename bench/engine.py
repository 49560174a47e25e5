"""Benchmark the validation engine and the domain book snapshot (issue 3, SPEC D4).

    python bench/engine.py [--entries 50000] [--runs 5] [--verdicts 1000]

Figures (medians over --runs repetitions; the machine is noisy):
1. the engine alone: one verdict for a draft of 100 recipients of mixed categories (25 own
   organisation, 25 community, 25 NTA route, 25 external of which 10 look-alikes) and 20
   attachments against a book of --entries entries: median time per verdict, warm (the same
   draft again, as the add-in re-validates while the user types) and cold (every per-address
   cache emptied before each verdict: it computes LOOKALIKE_PROBES look-alike answers of the 25
   new external domains and reports the rest as not yet checked, issue 7 item 9);
2. the snapshot: resident memory it adds, and the time to build it from parsed entries;
3. against Azurite: loading the published generation into a snapshot, and the same verdict
   computed the naive way (one Table query per recipient) against the snapshot: the ratio.
Writes bench/results/engine.json.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate_book import generate  # noqa: E402

from sendsecure.core import rules  # noqa: E402
from sendsecure.core.booksources import load_variant  # noqa: E402
from sendsecure.core.domainbook import BookEntry, DomainBook  # noqa: E402
from sendsecure.core.drafts import parse_draft  # noqa: E402
from sendsecure.core.models import as_data  # noqa: E402
from sendsecure.core.rules import TenantPolicy, evaluate  # noqa: E402
from sendsecure.core.tenants import InstallationType  # noqa: E402

OWN = "ziekenhuis-a.example"


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mixed_draft(book: DomainBook) -> dict:
    community = [k for k, e in book.entries.items() if e.community and "@" not in k]
    nta = [k for k, e in book.entries.items() if not e.community and e.nta7516]
    recipients = [f"medewerker{n}@{OWN}" for n in range(25)]
    recipients += [f"arts{n}@{community[n * 7 % len(community)]}" for n in range(25)]
    recipients += [f"zorg{n}@{nta[n * 3 % len(nta)]}" for n in range(25)]
    recipients += [f"patient{n}@mail{n}.example" for n in range(15)]
    for n in range(10):  # look-alikes: one letter changed in a community domain
        domain = community[n * 11 % len(community)]
        recipients.append(f"typo{n}@{domain[0]}x{domain[2:]}")
    fields = ["to", "cc", "bcc"]
    draft: dict = {"to": [], "cc": [], "bcc": [], "subject": "Verwijzing patiënt (EN)"}
    for n, address in enumerate(recipients):
        draft[fields[0] if n < 60 else fields[1]].append({"address": address, "name": f"Ontvanger {n}", "type": "user"})
    draft["attachments"] = [{"name": f"bijlage-{n}.{'pdf' if n % 5 else 'docx'}", "size": 200_000 + n, "inline": False}
                            for n in range(20)]
    return draft


def clear_caches(book: DomainBook) -> None:
    rules._normalised.cache_clear()
    rules.attachment_extension.cache_clear()
    rules._MESSAGES.clear()
    book._lookalike_answers.clear()


def time_verdicts(draft, policy, book, count: int, cold: bool) -> float:
    timings = []
    for _ in range(count):
        if cold:
            clear_caches(book)
        start = time.perf_counter()
        evaluate(draft, policy=policy, session_mailbox=f"an@{OWN}", book=book, stored_phones={}, language="nl")
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def azurite_figures(loaded, draft_data, policy, runs: int) -> dict:
    from devhost.azurite import Azurite

    os.environ["TABLE_PREFIX"] = "bench"
    with Azurite() as azurite:
        os.environ["TABLES_CONNECTION_STRING"] = azurite.connection_string
        from sendsecure import runtime

        runtime.reset()
        store = runtime.books()
        started = time.perf_counter()
        pointer = store.publish("zorgmail", loaded.entries, loaded.version)
        publish_seconds = time.perf_counter() - started
        loads = []
        for _ in range(runs):
            started = time.perf_counter()
            book = store.load(pointer)
            loads.append(time.perf_counter() - started)

        # The naive layout: one entity per entry, one query per recipient.
        table = runtime.tables().table("naivebook")
        items = list(loaded.entries.values())
        partitions: dict[str, list] = {}
        for entry in items:
            key = entry.key.replace("@", "!")
            partitions.setdefault(key[:2], []).append(("upsert", {
                "PartitionKey": key[:2], "RowKey": key, "organisation": entry.organisation,
                "network": entry.network, "community": entry.community, "nta7516": entry.nta7516}))
        for operations in partitions.values():
            for start in range(0, len(operations), 100):
                table.submit_transaction(operations[start:start + 100])
        draft = parse_draft(draft_data)

        def naive_verdict() -> None:
            from azure.core.exceptions import ResourceNotFoundError

            for recipient in draft.recipients:
                address = recipient.address.lower()
                for key in (address.replace("@", "!"), address.rpartition("@")[2]):
                    try:
                        table.get_entity(key[:2], key)
                        break
                    except ResourceNotFoundError:
                        continue
            evaluate(draft, policy=policy, session_mailbox=f"an@{OWN}", book=book, stored_phones={}, language="nl")

        naive = []
        for _ in range(runs):
            started = time.perf_counter()
            naive_verdict()
            naive.append(time.perf_counter() - started)
        snapshot = time_verdicts(draft, policy, book, 200, cold=False)
        runtime.reset()
        return {
            "publish_50k_seconds": round(publish_seconds, 3),
            "generation_load_seconds_median": round(statistics.median(loads), 3),
            "naive_verdict_ms_median": round(statistics.median(naive) * 1000, 1),
            "snapshot_verdict_us_median": round(snapshot * 1e6, 1),
            "naive_over_snapshot_ratio": round(statistics.median(naive) / snapshot),
            "chunks": pointer.chunk_count,
            "table_entities_naive": len(items),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--verdicts", type=int, default=1000)
    parser.add_argument("--skip-azurite", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="book-"))
    definition = generate(args.entries, folder)
    started = time.perf_counter()
    loaded = load_variant("zorgmail", definition)
    parse_seconds = time.perf_counter() - started
    loaded.entries.setdefault(OWN, BookEntry(OWN, "Ziekenhuis A", "zorgmail", True, True))

    # As in a worker: one snapshot built, then verdicts against it.
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    book = DomainBook.build("zorgmail", loaded.version, datetime.now(UTC), dict(loaded.entries))
    first_build = time.perf_counter() - started
    gc.collect()
    added_mb = (rss_bytes() - before) / 1e6

    policy = TenantPolicy(InstallationType.VIEWER_SMS_OPTIONAL, frozenset({OWN}), True)
    draft_data = mixed_draft(book)
    draft = parse_draft(draft_data)
    verdict = as_data(evaluate(draft, policy=policy, session_mailbox=f"an@{OWN}", book=book, stored_phones={},
                               language="nl"))
    categories = {c: sum(r["category"] == c for r in verdict["recipients"])
                  for c in ("own_organisation", "community", "nta7516", "external")}
    first_incomplete = sum(f["code"] == "lookalike_check_incomplete" for f in verdict["findings"])
    warm = [time_verdicts(draft, policy, book, args.verdicts, cold=False) for _ in range(args.runs)]
    # Warm: every look-alike answer is known (LOOKALIKE_PROBES per request fill them in over the
    # first verdicts, as the add-in's re-validations do); the figures below are of that verdict.
    verdict = as_data(evaluate(draft, policy=policy, session_mailbox=f"an@{OWN}", book=book, stored_phones={},
                               language="nl"))
    cold = [time_verdicts(draft, policy, book, max(50, args.verdicts // 10), cold=True) for _ in range(args.runs)]

    builds = [first_build]
    for _ in range(args.runs - 1):
        started = time.perf_counter()
        DomainBook.build("zorgmail", loaded.version, datetime.now(UTC), dict(loaded.entries))
        builds.append(time.perf_counter() - started)
    figures = {
        "benchmark": "engine",
        "entries": len(book.entries),
        "recipients": len(verdict["recipients"]),
        "categories": categories,
        "lookalike_warnings": sum(f["code"] == "lookalike_domain" for f in verdict["findings"]),
        "findings": len(verdict["findings"]),
        "lookalike_probes_per_request": rules.LOOKALIKE_PROBES,
        "first_verdict_lookalike_check_incomplete": first_incomplete,
        "attachments": verdict["attachments"]["count"],
        "verdict_us_median_warm": round(statistics.median(warm) * 1e6, 1),
        "verdict_us_runs_warm": [round(t * 1e6, 1) for t in warm],
        "verdict_us_median_cold": round(statistics.median(cold) * 1e6, 1),
        "target_us": 300,
        "source_parse_seconds": round(parse_seconds, 3),
        "snapshot_build_seconds_median": round(statistics.median(builds), 3),
        "snapshot_rss_added_mb": round(added_mb, 1),
        "target_rss_mb": 100,
    }
    if not args.skip_azurite:
        figures["azurite"] = azurite_figures(loaded, draft_data, policy, args.runs)
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results" / "engine.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
