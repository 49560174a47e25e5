"""On-send (10-recipient draft) against ``GET /session`` in the same run, with 1 and 2 worker processes.

Issue 9 items 7 and 8. For each worker count (``FUNCTIONS_WORKER_PROCESS_COUNT``, as the
Functions host reads it) starts ``python -m devhost`` on a free loopback port (its own
in-memory Azurite, the sample domain book), logs in as jan@demo-zorg.example, checks once that
on-send answers 200 for ``drafts_load.DRAFT`` (10 recipients, 3 attachments), and then loads
``GET /api/v1/session`` and ``POST /api/v1/drafts/on-send`` alternately, ``--runs`` times each
after a warm-up, with ``--connections`` keep-alive connections for ``--seconds``. Reports per
endpoint the median requests/s, p50 and p99 over the runs and the CPU the devhost's Python
processes (parent and workers, not Azurite) spent per request, and per worker count:

- the ratio on-send / session throughput (target: at least 0.5) and on-send p99 (target:
  under 25 ms at 16 connections);
- the speed-up of 2 workers over 1 for each endpoint.

    python bench/workers_load.py [--workers 1 2] [--connections 16] [--seconds 10] [--runs 3]
                                 [--generator auto|wrk|python]

Writes bench/results/workers_load.json. Traffic goes to 127.0.0.1 only; every step is bounded
in time; the devhost is stopped by its pid with SIGTERM after each worker count and the
benchmark checks that nothing it started is left running.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drafts_load import DRAFT, log_problems  # noqa: E402
from loadtools import (  # noqa: E402
    REQUEST_TIMEOUT,
    RESULTS,
    WARMUP_SECONDS,
    DevHost,
    add_generator_argument,
    azurite_pids,
    descendants,
    install_stop_handlers,
    log_in,
    pick_generator,
    stop_host,
)

TARGET_RATIO = 0.5       # on-send throughput / GET /session throughput, same run
TARGET_P99_MS = 25.0     # on-send at 16 connections
CONTENT_TYPE = "application/json"


def python_processes(root: int) -> list[int]:
    """The devhost and its Python descendants (the workers), not Azurite's node processes."""
    pids = [root]
    for pid in sorted(descendants(root)):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"python" in cmdline.split(b"\0", 1)[0]:
            pids.append(pid)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def one_run(generator, url: str, token: str, args: argparse.Namespace, pids: list[int], **request) -> dict:
    before, wall = cpu_seconds(pids), time.monotonic()
    result = generator(url, token, args.connections, args.seconds, **request)
    cpu, wall = cpu_seconds(pids) - before, time.monotonic() - wall
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / result["requests"], 3) if result["requests"] else None
    result["server_cpu_cores"] = round(cpu / wall, 2) if wall > 0 else None
    return result


def summary(runs: list[dict]) -> dict:
    return {
        "median_rps": round(statistics.median(r["rps"] for r in runs), 1),
        "median_p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "median_p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "median_server_cpu_ms_per_request": statistics.median(r["server_cpu_ms_per_request"] or 0 for r in runs),
        "total_requests": sum(r["requests"] for r in runs),
        "total_errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def measure_workers(workers: int, args: argparse.Namespace, generator) -> dict:
    body = json.dumps(DRAFT).encode()
    azurite_before = azurite_pids()
    result: dict = {"workers": workers}
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        host = DevHost(Path(tmp), {"FUNCTIONS_WORKER_PROCESS_COUNT": str(workers)})
        try:
            started = time.monotonic()
            host.start()
            token = log_in(host.base, host.outbox)
            with httpx.Client(base_url=host.base, timeout=REQUEST_TIMEOUT) as client:
                check = client.post("/api/v1/drafts/on-send", content=body,
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE})
            if check.status_code != 200 or "action" not in check.json():
                raise RuntimeError(f"on-send: HTTP {check.status_code}: {check.text[:300]}")
            assert host.process is not None
            pids = python_processes(host.process.pid)
            result["python_processes"] = len(pids)
            print(f"\n{workers} worker(s): devhost up in {time.monotonic() - started:.1f} s, "
                  f"{len(pids)} Python process(es)", flush=True)
            endpoints = {
                "session": (f"{host.base}/api/v1/session", {}),
                "on-send": (f"{host.base}/api/v1/drafts/on-send",
                            {"method": "POST", "body": body, "content_type": CONTENT_TYPE, "ok": (200, 299)}),
            }
            for url, request in endpoints.values():  # warm every worker's caches and code paths
                generator(url, token, args.connections, WARMUP_SECONDS, **request)
            runs: dict[str, list[dict]] = {name: [] for name in endpoints}
            for number in range(args.runs):  # alternate, so drift on the shared machine hits both
                for name, (url, request) in endpoints.items():
                    run = one_run(generator, url, token, args, pids, **request)
                    runs[name].append(run)
                    print(f"  run {number + 1}/{args.runs} {name:8s} {run['rps']:8.1f} req/s"
                          f"  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms  errors {run['errors']}  "
                          f"CPU {run['server_cpu_ms_per_request']} ms/request on {run['server_cpu_cores']} cores",
                          flush=True)
            for name, url_request in endpoints.items():
                result[name] = {"url": url_request[0], **summary(runs[name])}
        except BaseException:
            print(f"devhost log (tail):\n{host.log_tail()}", file=sys.stderr)
            raise
        finally:
            result["shutdown"] = stop_host(host, azurite_before, "TERM")
            result["devhost_log"] = log_problems(host.log_text())
    on_send, session = result["on-send"], result["session"]
    result["ratio_on_send_to_session"] = round(on_send["median_rps"] / session["median_rps"], 3)
    result["target"] = {"ratio_at_least": TARGET_RATIO, "on_send_p99_ms_below": TARGET_P99_MS, "errors": 0}
    result["pass"] = (result["ratio_on_send_to_session"] >= TARGET_RATIO and on_send["median_p99_ms"] < TARGET_P99_MS
                      and on_send["total_errors"] == 0 and session["total_errors"] == 0)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--output", default="workers_load.json", help="file name under bench/results/")
    add_generator_argument(parser)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds < 1 or args.runs < 1 or min(args.workers) < 1:
        parser.error("--workers, --connections, --seconds and --runs must be at least 1")
    generator_name, generator = pick_generator(parser, args.generator)
    print(f"generator: {generator_name}; {args.connections} connections, {args.seconds} s x {args.runs} runs; "
          f"{os.cpu_count()} cores")
    install_stop_handlers()

    by_workers = {str(n): measure_workers(n, args, generator) for n in args.workers}
    result = {"benchmark": "workers_load", "generator": generator_name, "connections": args.connections,
              "seconds": args.seconds, "runs": args.runs, "cores": os.cpu_count(),
              "draft": {"recipients": 10, "attachments": len(DRAFT["attachments"])}, "by_workers": by_workers}
    if "1" in by_workers and "2" in by_workers:
        result["speedup_2_over_1"] = {
            name: round(by_workers["2"][name]["median_rps"] / by_workers["1"][name]["median_rps"], 2)
            for name in ("session", "on-send")}

    print(f"\nresults ({generator_name}, medians over {args.runs} runs of {args.seconds} s, "
          f"{args.connections} connections):")
    for workers, r in by_workers.items():
        for name in ("session", "on-send"):
            e = r[name]
            print(f"  {workers} worker(s) {name:8s} {e['median_rps']:8.1f} req/s  p50 {e['median_p50_ms']:6.2f} ms  "
                  f"p99 {e['median_p99_ms']:6.2f} ms  errors {e['total_errors']}/{e['total_requests']}  "
                  f"CPU {e['median_server_cpu_ms_per_request']} ms/request")
        print(f"  {workers} worker(s): on-send/session {r['ratio_on_send_to_session']} (target >= {TARGET_RATIO}), "
              f"on-send p99 {r['on-send']['median_p99_ms']} ms (target < {TARGET_P99_MS:g}) -> "
              f"{'PASS' if r['pass'] else 'FAIL'}; processes left: {r['shutdown']['own_processes_left'] or 'none'}")
    if "speedup_2_over_1" in result:
        print(f"  2 workers over 1: {result['speedup_2_over_1']}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.output
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
