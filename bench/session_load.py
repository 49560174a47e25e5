"""Load on ``GET /api/v1/session`` (valid session token) against the development host.

Starts ``python -m devhost`` on a free loopback port (it starts its own in-memory Azurite),
logs in with an e-mail code from the development outbox, then runs ``wrk`` (if it is on
PATH) or a Python load generator (asyncio, HTTP/1.1 keep-alive) for ``--seconds`` with
``--connections`` connections, ``--runs`` times after a short warm-up. Reports the median of
requests/s, p50 and p99 over the runs, the errors, and the target (p99 < 20 ms, no errors).
``GET /api/v1/health`` (one Table Storage read per request) is measured the same way as a
comparison unless ``--skip-health``.

    python bench/session_load.py [--connections 16] [--seconds 20] [--runs 3]
                                 [--generator auto|wrk|python] [--skip-health]

Generators: ``wrk`` (Debian package ``wrk``) is preferred. The Python fallback is a minimal
HTTP/1.1 client on asyncio streams (one keep-alive connection per worker, uvloop if present):
against a trivial ASGI app it gives the same figures as wrk (~8-9k req/s, p50 ~1.8 ms on 2
cores). ``--generator httpx`` uses ``httpx.AsyncClient`` instead; it is kept for comparison
only, because httpx spends 1-2 ms of CPU per request and its shared pool queues under 16
concurrent requests: against the same trivial app it reaches ~250 req/s with p50 ~40 ms,
so it measures itself, not the server.

Writes bench/results/session_load.json. Sends traffic to 127.0.0.1 only; every step is
bounded in time and the development host (and so its Azurite) is stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtools import (  # noqa: E402  (shared with drafts_load.py)
    RESULTS,
    DevHost,
    add_generator_argument,
    azurite_pids,
    install_stop_handlers,
    log_in,
    measure,
    pick_generator,
    stop_host,
)

TARGET_P99_MS = 20.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    add_generator_argument(parser)
    parser.add_argument("--skip-health", action="store_true", help="do not measure /api/v1/health")
    parser.add_argument("--stop-signal", choices=("TERM", "INT"), default="TERM",
                        help="signal that stops the devhost at the end (then KILL if it hangs)")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds < 1 or args.runs < 1:
        parser.error("--connections, --seconds and --runs must be at least 1")

    generator_name, generator = pick_generator(parser, args.generator)
    print(f"generator: {generator_name}; {args.connections} connections, {args.seconds} s x {args.runs} runs")

    install_stop_handlers()

    azurite_before = azurite_pids()
    result: dict = {"benchmark": "session_load", "generator": generator_name, "connections": args.connections,
                    "seconds": args.seconds, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="bench-session-") as tmp:
        host = DevHost(Path(tmp))
        try:
            started = time.monotonic()
            host.start()
            print(f"devhost up on {host.base} in {time.monotonic() - started:.1f} s")
            token = log_in(host.base, host.outbox)
            print("logged in: session token obtained")
            result["session"] = measure("GET /api/v1/session", f"{host.base}/api/v1/session", token, args, generator)
            if not args.skip_health:
                result["health"] = measure("GET /api/v1/health", f"{host.base}/api/v1/health", None, args, generator)
        except BaseException:
            print(f"devhost log (tail):\n{host.log_tail()}", file=sys.stderr)
            raise
        finally:
            result["shutdown"] = stop_host(host, azurite_before, args.stop_signal)

    session = result["session"]
    passed = session["median_p99_ms"] < args.target_p99_ms and session["total_errors"] == 0
    result["target"] = {"p99_ms_below": args.target_p99_ms, "errors": 0}
    result["pass"] = passed

    print(f"\nresults ({generator_name}, medians over {args.runs} runs of {args.seconds} s, "
          f"{args.connections} connections):")
    for key in ("session", "health"):
        if key in result:
            r = result[key]
            print(f"  GET /api/v1/{key:8s} {r['median_rps']:8.1f} req/s  p50 {r['median_p50_ms']:6.2f} ms  "
                  f"p99 {r['median_p99_ms']:6.2f} ms  errors {r['total_errors']} / {r['total_requests']}")
    print(f"  target /session: p99 < {args.target_p99_ms:g} ms and no errors -> {'PASS' if passed else 'FAIL'}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "session_load.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
