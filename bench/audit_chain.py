"""Benchmark the tamper-evident audit log (issue 11 "Measure"; SPEC S6, X7) against Azurite.

    python bench/audit_chain.py [--sequential 1000] [--threads 16] [--per-thread 150] [--verify-rows 100000]

- Write cost per event, one caller at a time: ``AuditLog.record`` (chain: HMAC, one entity group
  insert of the row; the chain's head written in the background at most every 0.2 s) against what it
  replaced (one plain insert of the row).
- Under 16 concurrent callers in one process (the send load of one worker): latency per call,
  events per second, and the group commit's batch sizes; the plain insert the same way.
- Verify ``--verify-rows`` rows of one tenant and day (four writers' chains, rows made as
  ``record`` makes them, stored in full batches to fill quickly): seconds, and rows per second;
  the day's seal (reads the day again) and verifying the sealed day likewise.

``--send-ab N``: instead, N rounds of ``bench/send_inprocess.py`` (one ``POST /messages/send`` in
this process, its CPU and wall time) with the chain and with ``AuditLog.record`` swapped for what
it did before (one plain insert of the row), alternating, same tree: the chain's cost in a send.

Starts its own Azurite (in memory) on a free loopback port and stops it by its pid. The machine
is shared, so compare the ratios in one run rather than absolute figures across runs. Writes
bench/results/audit_chain.json.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devhost.azurite import Azurite  # noqa: E402

TENANT = "bench-zorg"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summary(latencies_ms: list[float], seconds: float) -> dict[str, float]:
    return {"events": len(latencies_ms), "p50_ms": round(percentile(latencies_ms, 0.5), 3),
            "p99_ms": round(percentile(latencies_ms, 0.99), 3), "mean_ms": round(statistics.fmean(latencies_ms), 3),
            "events_per_s": round(len(latencies_ms) / seconds, 1)}


def sequential(write: Callable[[int], None], count: int) -> dict[str, float]:
    latencies = []
    started = time.perf_counter()
    for index in range(count):
        t0 = time.perf_counter()
        write(index)
        latencies.append((time.perf_counter() - t0) * 1000)
    return summary(latencies, time.perf_counter() - started)


def concurrent(write: Callable[[int], None], threads: int, per_thread: int) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(number: int) -> None:
        mine = []
        barrier.wait()
        for index in range(per_thread):
            t0 = time.perf_counter()
            write(number * per_thread + index)
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return summary(latencies, time.perf_counter() - started)


def plain_record(self, event: str, *, tenant_id: str | None, actor: str | None, outcome: str, **details) -> None:
    """``AuditLog.record`` before the chain: one plain insert of the row."""
    from sendsecure.adapters import storage
    from sendsecure.audit import audit_entity
    from sendsecure.context import CALLER_CORRELATION_ID, CORRELATION_ID
    from sendsecure.core.clock import utcnow

    self._tables.insert(storage.AUDIT, audit_entity(
        event, tenant_id=tenant_id, actor=actor, outcome=outcome, at=utcnow(), correlation_id=CORRELATION_ID.get(),
        details=details, caller_correlation_id=CALLER_CORRELATION_ID.get()))


def send_ab(rounds: int) -> int:
    import re
    import subprocess

    figures: dict[str, list[dict[str, float]]] = {"plain_insert": [], "chain": []}
    for _ in range(rounds):
        for mode in ("plain_insert", "chain"):
            out = subprocess.run([sys.executable, __file__, "--send-one", mode], capture_output=True, text=True,
                                 timeout=600).stdout
            found = re.search(r"CPU ([\d.]+) µs, wall ([\d.]+) µs", out)
            if found:
                figures[mode].append({"cpu_us": float(found[1]), "wall_us": float(found[2])})
                print(mode, found[0])
    result = {"benchmark": "audit_chain --send-ab", "rounds": rounds, "runs": figures,
              "median": {mode: {k: statistics.median(r[k] for r in runs) for k in ("cpu_us", "wall_us")}
                         for mode, runs in figures.items() if runs}}
    out_file = ROOT / "bench" / "results" / "audit_chain_send_ab.json"
    out_file.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(json.dumps(result["median"], indent=2), f"\nwritten: {out_file}")
    return 0


def send_one(mode: str) -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    import send_inprocess  # type: ignore[import-not-found]

    from sendsecure.audit import AuditLog

    if mode == "plain_insert":
        AuditLog.record = plain_record  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="bench-audit-ab-") as tmp:
        return int(send_inprocess.main(["--calls", "200", "--repeats", "3", "--output", str(Path(tmp) / "x.json")]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--send-ab", type=int, metavar="ROUNDS", help="the chain's cost in a send (see above)")
    parser.add_argument("--send-one", choices=("plain_insert", "chain"), help=argparse.SUPPRESS)
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--per-thread", type=int, default=150)
    parser.add_argument("--verify-rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    if args.send_one:
        return send_one(args.send_one)
    if args.send_ab:
        return send_ab(args.send_ab)
    result: dict = {"benchmark": "audit_chain", "args": vars(args)}
    with Azurite() as azurite, tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        os.environ.update(TABLES_CONNECTION_STRING=azurite.connection_string, TABLE_PREFIX="bench",
                          LOCAL_KEY_DIR=str(Path(tmp) / "keys"), MAIL_TRANSPORT="outbox",
                          MAIL_OUTBOX_DIR=str(Path(tmp) / "outbox"))
        from sendsecure import runtime
        from sendsecure.adapters import storage
        from sendsecure.audit import audit_entity
        from sendsecure.audit.chain import CHAIN_KEY_PURPOSE, day_of, head_entity, link
        from sendsecure.core.clock import utcnow
        from sendsecure.provision import provision

        runtime.reset()
        provision([TENANT])
        tables, keys = runtime.tables(), runtime.derived_keys()
        log = runtime.audit_log()
        batches: list[int] = []
        insert_all = tables.insert_all

        def counted(name, entities, **kwargs):
            if name == storage.AUDIT:
                batches.append(len(entities))
            return insert_all(name, entities, **kwargs)

        tables.insert_all = counted  # type: ignore[method-assign]

        def chained(index: int) -> None:
            log.record("send.accepted", tenant_id=TENANT, actor="p", outcome="created", envelope=f"e{index}", routes=3)

        def plain(index: int) -> None:   # what record() did before the chain: one insert of the row
            tables.insert(storage.AUDIT, audit_entity("send.accepted", tenant_id=TENANT + "-plain", actor="p",
                                                      outcome="created", at=utcnow(), correlation_id="c",
                                                      details={"envelope": f"e{index}", "routes": 3}))

        for write in (plain, chained):   # warm both paths
            for index in range(50):
                write(index)
        batches.clear()
        result["sequential"] = {"plain_insert": sequential(plain, args.sequential),
                                "chain": sequential(chained, args.sequential)}
        batches.clear()
        result["concurrent"] = {"plain_insert": concurrent(plain, args.threads, args.per_thread),
                                "chain": concurrent(chained, args.threads, args.per_thread)}
        result["concurrent"]["chain"]["batches"] = len(batches)   # transactions (single rows are plain inserts)
        result["concurrent"]["chain"]["mean_batch"] = round(statistics.fmean(batches), 2) if batches else 0
        result["concurrent"]["chain"]["max_batch"] = max(batches) if batches else 0
        for kind in ("sequential", "concurrent"):
            r = result[kind]
            r["extra_ms_per_event_p50"] = round(r["chain"]["p50_ms"] - r["plain_insert"]["p50_ms"], 3)
            r["extra_ms_per_event_p99"] = round(r["chain"]["p99_ms"] - r["plain_insert"]["p99_ms"], 3)
        print(json.dumps({k: result[k] for k in ("sequential", "concurrent")}, indent=2))

        # 100,000 rows of one tenant and day: four writers' chains, built as record() builds them
        # (audit_entity, link, the head) but stored in full batches of 99, so filling is quick.
        verify_tenant = TENANT + "-verify"
        chain_key = keys.key(CHAIN_KEY_PURPOSE)
        per = args.verify_rows // 4
        started = time.perf_counter()

        def fill(number: int) -> None:
            writer = f"b{number:011d}"
            prev, seq = "", -1
            batch: list[dict] = []
            for index in range(per):
                entity = audit_entity("phone.read", tenant_id=verify_tenant, actor=f"p{index}", outcome="returned",
                                      at=utcnow(), correlation_id=f"c{index}", details={"count": 1})
                seq += 1
                prev = link(chain_key, entity, writer, seq, prev)["hash"]
                batch.append(entity)
                if len(batch) == storage.BATCH_LIMIT - 1 or index == per - 1:
                    head = head_entity(chain_key, entity["PartitionKey"], writer, seq, prev, utcnow())
                    insert_all(storage.AUDIT, batch, upsert=(head,))
                    batch = []

        pool = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        written = per * 4
        write_seconds = time.perf_counter() - started
        trail = runtime.audit_trail()
        day = day_of(utcnow())
        started = time.perf_counter()
        verdict = trail.verify(verify_tenant, day, day)
        verify_seconds = time.perf_counter() - started
        assert verdict.intact and verdict.rows == written, verdict.as_dict()
        started = time.perf_counter()
        trail.seal(verify_tenant, now=datetime.now(UTC) + timedelta(days=1, hours=1))
        seal_seconds = time.perf_counter() - started
        started = time.perf_counter()
        sealed = trail.verify(verify_tenant, day, day, now=datetime.now(UTC) + timedelta(days=1, hours=1))
        sealed_seconds = time.perf_counter() - started
        assert sealed.intact, sealed.as_dict()
        result["verify"] = {"rows": written, "write_seconds": round(write_seconds, 2),
                            "write_rows_per_s": round(written / write_seconds),
                            "verify_seconds": round(verify_seconds, 2),
                            "verify_rows_per_s": round(written / verify_seconds),
                            "seal_seconds": round(seal_seconds, 2), "verify_sealed_seconds": round(sealed_seconds, 2)}
        print(json.dumps(result["verify"], indent=2))
        runtime.reset()
    out = ROOT / "bench" / "results" / "audit_chain.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
