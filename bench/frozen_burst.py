"""A burst of requests while Table Storage is frozen (the fault review of 2026-12-01; docs/operations.md "Deadlines").

Starts ``python -m devhost`` (its own in-memory Azurite, one worker), logs in, then ``--runs``
times: freezes Azurite with SIGSTOP, waits ``--cold`` seconds so the worker's session and
settings copies expire (every request must read storage), sends a burst of ``--burst`` requests at
once (four on-sends to one health, more than the worker's function threads), records each
answer's status and time, thaws Azurite and checks that an on-send answers 200 again.

The promise under test: on-send answers within about its deadline (``ON_SEND_DEADLINE_MS``,
about 1 s) and health within 1.5 s, also when more requests than threads arrive while storage is
frozen (the Table transport's ``NotAnswering`` guard). Without the guard both waited in the
queue for a thread: up to about 10 s.

    python bench/frozen_burst.py [--burst 50] [--runs 3] [--cold 11]

Writes bench/results/frozen_burst.json (per run and the medians of the runs' medians and maxima).
Traffic to 127.0.0.1 only; the devhost is stopped by its pid, Azurite is thawed in any case.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtools import RESULTS, DevHost, azurite_pids, descendants, install_stop_handlers, log_in, stop_host  # noqa: E402
from send_load import body_template  # noqa: E402


def _azurite_of(pid: int) -> int:
    for child in sorted(descendants(pid)):
        try:
            if "azurite" in Path(f"/proc/{child}/cmdline").read_text(errors="replace"):
                return child
        except OSError:
            continue
    raise RuntimeError("the devhost's Azurite was not found")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", type=float, default=11.0, help="seconds frozen before the burst")
    args = parser.parse_args(argv)
    install_stop_handlers()
    before = azurite_pids()
    body = json.loads(body_template("on-send").decode().replace("PLACEHOLDER", "warm"))
    result: dict = {"benchmark": "frozen_burst", "burst": args.burst, "cold_seconds": args.cold, "runs": []}
    with tempfile.TemporaryDirectory(prefix="bench-frozen-") as tmp:
        host = DevHost(Path(tmp))
        try:
            host.start()
            token = log_in(host.base, host.outbox)
            auth = {"Authorization": f"Bearer {token}"}
            node = _azurite_of(host.process.pid)
            for run in range(args.runs):
                def call(i: int, run: int = run) -> tuple[str, int, float]:
                    started = time.monotonic()
                    with httpx.Client(timeout=60) as client:
                        if i % 5 == 4:
                            kind, answer = "health", client.get(f"{host.base}/api/v1/health")
                        else:
                            kind, answer = "on-send", client.post(f"{host.base}/api/v1/drafts/on-send", headers=auth,
                                                                  json={**body, "message_id": f"r{run}-{i}"})
                    return kind, answer.status_code, time.monotonic() - started

                os.kill(node, signal.SIGSTOP)
                try:
                    time.sleep(args.cold)
                    with concurrent.futures.ThreadPoolExecutor(args.burst) as pool:
                        answers = list(pool.map(call, range(args.burst)))
                finally:
                    os.kill(node, signal.SIGCONT)
                with httpx.Client(timeout=30) as client:
                    after = client.post(f"{host.base}/api/v1/drafts/on-send", headers=auth,
                                        json={**body, "message_id": f"after-{run}"}).status_code
                row: dict = {"after_thaw_status": after}
                for kind in ("on-send", "health"):
                    times = [t for k, _, t in answers if k == kind]
                    row[kind] = {"statuses": sorted({s for k, s, _ in answers if k == kind}),
                                 "median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}
                result["runs"].append(row)
                print(f"run {run + 1}: on-send {row['on-send']}, health {row['health']}, after thaw {after}")
        finally:
            result["shutdown"] = stop_host(host, before, "TERM")
    for kind in ("on-send", "health"):
        result[f"{kind}_median_of_max_s"] = statistics.median(r[kind]["max_s"] for r in result["runs"])
        result[f"{kind}_median_of_median_s"] = statistics.median(r[kind]["median_s"] for r in result["runs"])
    print(f"medians over {args.runs} runs: on-send max {result['on-send_median_of_max_s']} s, "
          f"health max {result['health_median_of_max_s']} s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "frozen_burst.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
