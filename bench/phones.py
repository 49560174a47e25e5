"""Benchmark stored phones (issue 4, SPEC V-R9, P4).

    python bench/phones.py [--runs 7] [--stored 100]

Figures (medians; the machine is noisy):
- stored phones for a draft of 100 external recipients against Azurite: how many table queries
  it takes (must be one) and the median latency, with --stored numbers in the person's partition;
  and the latency when the worker still holds the person's rows (PHONE_CACHE_SECONDS);
- sealing and opening one number (AES-256-GCM with its associated data) in microseconds;
- normalising one typed number with phonenumbers, uncached, in microseconds.
Writes bench/results/phones.json.
"""
from __future__ import annotations

import argparse
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

from devhost.azurite import Azurite  # noqa: E402


def per_call_us(function, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        function()
    return (time.perf_counter() - started) / count * 1e6


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stored", type=int, default=100)
    args = parser.parse_args()

    from sendsecure.core import phones as phone_module
    from sendsecure.phonebook import associated_data, open_sealed, seal

    key = os.urandom(32)
    aad = associated_data("tenant", "person", "recipient")
    sealed = seal(key, "+31612345678", aad)
    seal_us = statistics.median(per_call_us(lambda: seal(key, "+31612345678", aad), 2000) for _ in range(args.runs))
    open_us = statistics.median(per_call_us(lambda: open_sealed(key, sealed, aad), 2000) for _ in range(args.runs))
    normalise = phone_module.normalise_phone.__wrapped__
    normalise_us = statistics.median(per_call_us(lambda: normalise("06 12345678", "NL"), 500) for _ in range(args.runs))

    with Azurite() as azurite, tempfile.TemporaryDirectory() as keys:
        # No per-worker cache of the person's rows: every draft takes the query path.
        os.environ.update({"TABLES_CONNECTION_STRING": azurite.connection_string, "TABLE_PREFIX": "bench",
                           "KEY_STORE": "local", "LOCAL_KEY_DIR": keys, "PHONE_CACHE_SECONDS": "0"})
        from sendsecure import runtime
        from sendsecure.sessions import Session

        runtime.reset()
        from sendsecure.provision import provision

        provision(["zorg-a"])  # keys and tables, as deployment and onboarding do (requests make none)
        now = datetime.now(UTC)
        session = Session("zorg-a", "alice@ziekenhuis-a.example", "email_code", "d", now, now, now)
        book = runtime.phonebook()
        for n in range(args.stored):
            book.put(session, f"patient{n}@extern{n % 7}.example", f"06{12000000 + n:08d}", None, "nl")
        recipients = [f"patient{n}@extern{n % 7}.example" for n in range(0, 200, 2)]   # 100, half stored
        tables = runtime.tables()
        queries = []
        original = tables.query

        def counting(*positional, **named):
            queries.append(positional[0])
            return original(*positional, **named)

        tables.query = counting
        book.for_draft(session, recipients)   # warm: key cached, connection open
        queries.clear()
        timings = []
        for _ in range(args.runs * 3):
            started = time.perf_counter()
            found = book.for_draft(session, recipients)
            timings.append(time.perf_counter() - started)
        queries_per_draft = len(queries) / (args.runs * 3)
        # The same with the per-worker cache of the person's rows (the add-in re-validating a draft).
        os.environ["PHONE_CACHE_SECONDS"] = "10"
        runtime.reset()
        book = runtime.phonebook()
        book.for_draft(session, recipients)
        cached = []
        for _ in range(args.runs * 3):
            started = time.perf_counter()
            book.for_draft(session, recipients)
            cached.append(time.perf_counter() - started)
        runtime.reset()

    figures = {
        "benchmark": "phones",
        "recipients": len(recipients),
        "stored_in_partition": args.stored,
        "found_per_draft": len(found),
        "table_queries_per_draft": queries_per_draft,
        "stored_phones_ms_median": round(statistics.median(timings) * 1000, 2),
        "stored_phones_cached_ms_median": round(statistics.median(cached) * 1000, 2),
        "seal_us_median": round(seal_us, 1),
        "open_us_median": round(open_us, 1),
        "normalise_us_median": round(normalise_us, 1),
    }
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results" / "phones.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if queries_per_draft == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
