"""On-send latency while Table Storage is frozen (issue 7 item 10): p99 must stay under 2 s.

Starts an in-memory Azurite of its own and ``python -m devhost`` on it (free loopback ports),
logs in as jan@demo-zorg.example, checks that on-send answers 200, then per run: freezes Azurite
with SIGSTOP (alive and accepting connections, never answering: the fault the attack run found),
sends on-send requests from ``--connections`` threads for ``--seconds``, resumes Azurite with
SIGCONT (in a ``finally``) and waits until on-send answers 200 again. Each request has a client
timeout of 10 s; a request that hits it counts as a timeout (the hang this guards against).

Two scenarios: ``warm`` (default settings: the worker still holds the session for
SESSION_CACHE_SECONDS, the user's settings, the tenants and the last good book, so many answers
are verdicts from memory) and ``cold`` (SESSION_CACHE_SECONDS=0, BOOK_CHECK_SECONDS=0: every
request needs storage, so every answer is a 503 at the on-send deadline: the worst case).

Reports per run p50, p99 and max latency and the answers (200 verdicts from what the worker
still had, 503 with Retry-After, timeouts), and the median over the runs. Writes
bench/results/onsend_frozen.json.

    python bench/onsend_frozen.py [--connections 8] [--seconds 10] [--runs 3] [--only warm|cold]

Traffic goes to 127.0.0.1 only; Azurite and the devhost are stopped by their own pids.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtools import RESULTS, log_in  # noqa: E402

from devhost.azurite import Azurite, free_port  # noqa: E402

TARGET_P99_MS = 2000.0
CLIENT_TIMEOUT = 10.0
DRAFT = {"to": [{"address": "piet@huisarts.example"}, {"address": "collega@demo-zorg.example"}],
         "cc": [], "bcc": [], "subject": "Verwijzing", "attachments": [{"name": "brief.pdf", "size": 183211}]}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


SCENARIOS = {"warm": {}, "cold": {"SESSION_CACHE_SECONDS": "0", "BOOK_CHECK_SECONDS": "0"}}


def start_devhost(workdir: Path, azurite: Azurite, extra: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_", "BOOK_", "TABLE"))}
    env.update({"TABLES_CONNECTION_STRING": azurite.connection_string, "LOG_LEVEL": "warning",
                "LOCAL_KEY_DIR": str(workdir / "keys"), "PYTHONUNBUFFERED": "1", **extra})
    log = open(workdir / "devhost.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--outbox",
                                str(workdir / "outbox")], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError((workdir / "devhost.log").read_text()[-2000:])
            try:
                if client.get(f"{base}/api/v1/health").status_code == 200:
                    return process, base, workdir / "outbox"
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("devhost did not become healthy within 60 s")


def load(base: str, token: str, connections: int, seconds: float) -> dict:
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        with httpx.Client(base_url=base, timeout=CLIENT_TIMEOUT,
                          headers={"Authorization": f"Bearer {token}"}) as client:
            while time.monotonic() < stop_at:
                started = time.monotonic()
                try:
                    response = client.post("/api/v1/drafts/on-send", json=DRAFT)
                    outcome = str(response.status_code)
                    if response.status_code == 503 and "Retry-After" not in response.headers:
                        outcome = "503-without-retry-after"
                except httpx.TimeoutException:
                    outcome = "timeout"
                except httpx.HTTPError as error:
                    outcome = type(error).__name__
                elapsed = (time.monotonic() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    statuses[outcome] = statuses.get(outcome, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + CLIENT_TIMEOUT + 5)
    return {"requests": len(latencies), "p50_ms": round(percentile(latencies, 0.50), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1), "max_ms": round(max(latencies), 1),
            "answers": dict(sorted(statuses.items()))}


def wait_until_served(base: str, token: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=5, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline:
            try:
                if client.post("/api/v1/drafts/on-send", json=DRAFT).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise RuntimeError("on-send did not recover after SIGCONT")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=sorted(SCENARIOS))
    args = parser.parse_args()

    scenarios = {}
    for name, extra in SCENARIOS.items():
        if args.only and name != args.only:
            continue
        runs = scenario(extra, args)
        scenarios[name] = {
            "runs": runs,
            "median_p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "worst_max_ms": max(r["max_ms"] for r in runs),
            "timeouts": sum(r["answers"].get("timeout", 0) for r in runs),
        }
        print(name, json.dumps({k: v for k, v in scenarios[name].items() if k != "runs"}))
    summary = {"benchmark": "on-send with Table Storage frozen (SIGSTOP)", "connections": args.connections,
               "seconds": args.seconds, "target_p99_ms": TARGET_P99_MS, "scenarios": scenarios,
               "target_met": all(s["median_p99_ms"] < TARGET_P99_MS and s["timeouts"] == 0
                                 for s in scenarios.values())}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "onsend_frozen.json").write_text(json.dumps(summary, indent=2) + "\n", "utf-8")
    print("target met" if summary["target_met"] else "TARGET MISSED")
    return 0 if summary["target_met"] else 1


def scenario(extra: dict[str, str], args: argparse.Namespace) -> list[dict]:
    with tempfile.TemporaryDirectory(prefix="onsend-frozen-") as folder, Azurite() as azurite:
        process, base, outbox = start_devhost(Path(folder), azurite, extra)
        try:
            token = log_in(base, outbox)
            wait_until_served(base, token)
            runs = []
            for run in range(args.runs):
                os.killpg(azurite.process.pid, signal.SIGSTOP)
                try:
                    result = load(base, token, args.connections, args.seconds)
                finally:
                    os.killpg(azurite.process.pid, signal.SIGCONT)
                wait_until_served(base, token)
                runs.append(result)
                print(f"  run {run + 1}: {result}")
            return runs
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
