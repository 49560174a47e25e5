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
import asyncio
import email
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MAILBOX = "jan@demo-zorg.example"  # demo tenant (tenants/demo.json), e-mail code login
TARGET_P99_MS = 20.0
WARMUP_SECONDS = 2
HEALTH_TIMEOUT = 60.0
REQUEST_TIMEOUT = 10.0


# ----- development host -----------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def azurite_pids() -> set[int]:
    """Process ids whose command line names azurite-table (``pgrep -f azurite-table``)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"azurite-table" in cmdline:
            found.add(int(entry.name))
    return found


def descendants(pid: int) -> set[int]:
    """All live descendants of ``pid`` (from /proc/<pid>/task/*/children)."""
    result: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in result:
                    result.add(child)
                    todo.append(child)
    return result


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


class DevHost:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.outbox = workdir / "outbox"
        self.log_path = workdir / "devhost.log"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.children: set[int] = set()  # Azurite (node) and the like, seen while running

    def start(self) -> "DevHost":
        env = {k: v for k, v in os.environ.items() if k not in ("TABLES_CONNECTION_STRING", "TABLES_ENDPOINT")}
        env.update(LOG_LEVEL="warning", LOCAL_KEY_DIR=str(self.workdir / "keys"), PYTHONUNBUFFERED="1")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", "--port", str(self.port), "--outbox", str(self.outbox)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + HEALTH_TIMEOUT
        last = "no answer"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                self.children |= descendants(self.process.pid)
                if self.process.poll() is not None:
                    raise RuntimeError(f"devhost exited with {self.process.returncode} at start:\n{self.log_tail()}")
                try:
                    response = client.get(f"{self.base}/api/v1/health")
                    if response.status_code == 200:
                        self.children |= descendants(self.process.pid)
                        return self
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    last = type(error).__name__
                time.sleep(0.2)
        raise RuntimeError(f"devhost did not answer /api/v1/health with 200 within {HEALTH_TIMEOUT:g} s "
                           f"(last: {last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, stop_signal: int = signal.SIGTERM) -> dict:
        """Signal the devhost by pid, wait, kill if needed; then make sure no child of ours survives.

        The devhost is meant to stop its Azurite itself; if a child outlives it, that is
        reported (``children_outlived_devhost``) and then ended here: first its own process
        group (Azurite runs in one), then the process.
        """
        report = {"stop_signal": signal.Signals(stop_signal).name, "exit_code": None, "killed": False,
                  "children_outlived_devhost": [], "children_ended_by_bench": []}
        process, self.process = self.process, None
        if process is not None:
            self.children |= descendants(process.pid)
            if process.poll() is None:
                process.send_signal(stop_signal)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    report["killed"] = True
                    process.wait(timeout=10)
            report["exit_code"] = process.returncode
            self._log.close()
        _wait_gone(self.children, 5.0)
        survivors = sorted(pid for pid in self.children if alive(pid))
        report["children_outlived_devhost"] = survivors
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in survivors:
                try:
                    if os.getpgid(pid) == pid:
                        os.killpg(pid, sig)
                    else:
                        os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if _wait_gone(survivors, 5.0):
                break
        report["children_ended_by_bench"] = survivors
        return report


def _wait_gone(pids: set[int] | list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def log_in(base: str, outbox: Path) -> str:
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        response = client.post("/api/v1/auth/email-code", json={"mailbox": MAILBOX})
        if response.status_code != 202:
            raise RuntimeError(f"email-code: HTTP {response.status_code}: {response.text[:300]}")
        challenge_id = response.json()["challenge_id"]
        code = None
        deadline = time.monotonic() + 10
        while code is None and time.monotonic() < deadline:
            mails = sorted(outbox.glob("*.eml"), key=lambda p: (p.stat().st_mtime_ns, p.name))
            if mails:
                message = email.message_from_bytes(mails[-1].read_bytes())
                code = message.get("X-Dev-Login-Code")
            if code is None:
                time.sleep(0.1)
        if not code:
            raise RuntimeError(f"no login code in {outbox}")
        response = client.post("/api/v1/auth/email-code/verify", json={"challenge_id": challenge_id, "code": code})
        if response.status_code != 200:
            raise RuntimeError(f"verify: HTTP {response.status_code}: {response.text[:300]}")
        token = response.json()["session_token"]
        check = client.get("/api/v1/session", headers={"Authorization": f"Bearer {token}"})
        if check.status_code != 200:
            raise RuntimeError(f"session: HTTP {check.status_code}: {check.text[:300]}")
        return token


# ----- load generators -------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not match:
        raise ValueError(f"cannot read wrk duration {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk(output: str) -> dict:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p50 = re.search(r"^\s+50(?:\.000)?%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99(?:\.000)?%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()))) if sockets else {}
    return {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + sum(socket_errors.values()),
    }


def run_wrk(url: str, token: str | None, connections: int, seconds: float) -> dict:
    threads = max(1, min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(round(seconds))}s", "--latency",
               "--timeout", f"{int(REQUEST_TIMEOUT)}s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    command.append(url)
    proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return parse_wrk(proc.stdout)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, int(round(fraction * len(sorted_values) + 0.5)) - 1))
    return sorted_values[index]  # nearest rank


def _summary(latencies: list[float], elapsed: float, non_200: int, exceptions: int) -> dict:
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "non_2xx_3xx": non_200,
        "socket_errors": {"exceptions": exceptions},
        "errors": non_200 + exceptions,
    }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; (status, server keeps the connection open)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, keep = 0, False, True
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, keep


async def _raw_load(url: str, token: str | None, connections: int, seconds: float) -> dict:
    """Minimal HTTP/1.1 keep-alive client on asyncio streams: one connection per worker."""
    parts = httpx.URL(url)
    host, port = parts.host, parts.port or 80
    request = (f"GET {parts.raw_path.decode('ascii')} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n").encode("latin-1")
    latencies: list[float] = []
    counts = {"non_200": 0, "exceptions": 0}
    started = time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), REQUEST_TIMEOUT)
                begin = time.perf_counter()
                writer.write(request)
                status, keep = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT)
                latencies.append(time.perf_counter() - begin)
                if status != 200:
                    counts["non_200"] += 1
                if not keep:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError,
                    ValueError, IndexError):
                counts["exceptions"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return _summary(latencies, time.perf_counter() - started, counts["non_200"], counts["exceptions"])


async def _httpx_load(url: str, token: str | None, connections: int, seconds: float) -> dict:
    """httpx.AsyncClient (HTTP/1.1 keep-alive), one shared pool. Costs ~1-2 ms of client CPU a
    request: on 2 cores it saturates at a few hundred requests/s and its latencies are mostly
    its own (see the module doc); kept for comparison."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    counts = {"non_200": 0, "exceptions": 0}
    async with httpx.AsyncClient(http1=True, http2=False, limits=limits, timeout=REQUEST_TIMEOUT,
                                 headers=headers) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                begin = time.perf_counter()
                try:
                    response = await client.get(url)
                    await response.aread()
                except httpx.HTTPError:
                    counts["exceptions"] += 1
                    continue
                latencies.append(time.perf_counter() - begin)
                if response.status_code != 200:
                    counts["non_200"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return _summary(latencies, elapsed, counts["non_200"], counts["exceptions"])


def _run_async(load, url: str, token: str | None, connections: int, seconds: float) -> dict:
    async def bounded() -> dict:
        return await asyncio.wait_for(load(url, token, connections, seconds), seconds + REQUEST_TIMEOUT + 10)
    try:
        import uvloop  # as the server uses: fewer cycles spent on the generator side
    except ImportError:
        return asyncio.run(bounded())
    return uvloop.run(bounded())


def run_python(url: str, token: str | None, connections: int, seconds: float) -> dict:
    return _run_async(_raw_load, url, token, connections, seconds)


def run_httpx(url: str, token: str | None, connections: int, seconds: float) -> dict:
    return _run_async(_httpx_load, url, token, connections, seconds)


# ----- benchmark --------------------------------------------------------------------------

def measure(name: str, url: str, token: str | None, args: argparse.Namespace, generator) -> dict:
    print(f"\n{name}: warm-up {WARMUP_SECONDS} s", flush=True)
    generator(url, token, args.connections, WARMUP_SECONDS)
    runs = []
    for i in range(args.runs):
        run = generator(url, token, args.connections, args.seconds)
        runs.append(run)
        print(f"  run {i + 1}/{args.runs}: {run['rps']:8.1f} req/s  p50 {run['p50_ms']:6.2f} ms  "
              f"p99 {run['p99_ms']:6.2f} ms  requests {run['requests']}  errors {run['errors']}", flush=True)
    return {
        "url": url,
        "median_rps": round(statistics.median(r["rps"] for r in runs), 1),
        "median_p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
        "median_p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
        "total_requests": sum(r["requests"] for r in runs),
        "total_errors": sum(r["errors"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--generator", choices=("auto", "wrk", "python", "httpx"), default="auto",
                        help="auto: wrk if it is on PATH, else python (a minimal asyncio HTTP/1.1 client); "
                             "httpx: httpx.AsyncClient, which is client-bound on 2 cores")
    parser.add_argument("--skip-health", action="store_true", help="do not measure /api/v1/health")
    parser.add_argument("--stop-signal", choices=("TERM", "INT"), default="TERM",
                        help="signal that stops the devhost at the end (then KILL if it hangs)")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds < 1 or args.runs < 1:
        parser.error("--connections, --seconds and --runs must be at least 1")

    choice = args.generator
    if choice == "auto":
        choice = "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (apt-get install wrk)")
    generator_name, generator = {
        "wrk": ("wrk", run_wrk),
        "python": ("python (asyncio streams, HTTP/1.1 keep-alive)", run_python),
        "httpx": ("python (asyncio + httpx.AsyncClient)", run_httpx),
    }[choice]
    print(f"generator: {generator_name}; {args.connections} connections, {args.seconds} s x {args.runs} runs")

    # SIGTERM/SIGHUP to us must still stop the devhost: turn them into KeyboardInterrupt.
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)

    azurite_before = azurite_pids()
    result: dict = {"benchmark": "session_load", "generator": generator_name, "connections": args.connections,
                    "seconds": args.seconds, "runs": args.runs}
    with tempfile.TemporaryDirectory(prefix="bench-session-") as tmp:
        host = DevHost(Path(tmp))
        stop_report = None
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
            stop_report = host.stop(signal.SIGINT if args.stop_signal == "INT" else signal.SIGTERM)
            # pgrep -f azurite-table, new ones only; others on this machine may start their own.
            leftover = sorted(azurite_pids() - azurite_before)
            own_left = sorted(pid for pid in host.children if alive(pid))
            result["shutdown"] = {**stop_report, "own_processes_left": own_left,
                                  "new_azurite_processes_left_not_ours": sorted(set(leftover) - host.children),
                                  "devhost_stopped_its_azurite": not stop_report["children_outlived_devhost"]}
            print(f"\ndevhost stopped with SIG{args.stop_signal} (exit {stop_report['exit_code']}"
                  f"{', killed' if stop_report['killed'] else ''})")
            if stop_report["children_outlived_devhost"]:
                print(f"  WARNING: the devhost left its child process(es) {stop_report['children_outlived_devhost']}"
                      f" (Azurite) running; ended by the benchmark")
            print(f"  processes of ours left behind: {own_left or 'none'}")
            if set(leftover) - host.children:
                print(f"  (new azurite-table processes not started by this benchmark: "
                      f"{sorted(set(leftover) - host.children)})")

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
