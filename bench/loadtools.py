"""Shared pieces of the HTTP load benchmarks (``session_load.py``, ``drafts_load.py``).

- ``DevHost``: ``python -m devhost`` as a subprocess on a free loopback port (it starts its own
  in-memory Azurite), stopped by its pid; the processes it started are tracked so the caller
  can check that none (Azurite) outlives it.
- ``log_in``: an e-mail code login through the development outbox, giving a session token.
- load generators, all with the signature ``generator(url, token, connections, seconds,
  method="GET", body=None, content_type=None, ok=(200, 200))``:
  ``run_wrk`` (wrk; a GET without body runs plain wrk, anything else a generated Lua script
  that sets method, body and headers and counts responses outside ``ok`` itself),
  ``run_python`` (a minimal HTTP/1.1 keep-alive client on asyncio streams) and ``run_httpx``
  (httpx.AsyncClient, client-bound on 2 cores; for comparison only).
  Each returns ``{requests, rps, p50_ms, p99_ms, non_2xx_3xx, socket_errors, errors}``.
- ``measure``: warm-up plus ``--runs`` runs of one endpoint, medians over the runs.
- ``stop_host``: stop the devhost and report what was left running.

Traffic goes to 127.0.0.1 only; every step is bounded in time.
"""
from __future__ import annotations

import argparse
import asyncio
import email
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devhost.processes import alive, descendants  # noqa: E402,F401  (the benchmarks import them from here)

RESULTS = Path(__file__).resolve().parent / "results"
MAILBOX = "jan@demo-zorg.example"  # demo tenant (tenants/demo.json), e-mail code login
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


class DevHost:
    def __init__(self, workdir: Path, extra_env: dict[str, str] | None = None) -> None:
        self.extra_env = dict(extra_env or {})  # e.g. FUNCTIONS_WORKER_PROCESS_COUNT
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.outbox = workdir / "outbox"
        self.log_path = workdir / "devhost.log"
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.children: set[int] = set()  # Azurite (node) and the like, seen while running

    def start(self) -> DevHost:
        env = {k: v for k, v in os.environ.items() if k not in ("TABLES_CONNECTION_STRING", "TABLES_ENDPOINT")}
        env.update(LOG_LEVEL="warning", LOCAL_KEY_DIR=str(self.workdir / "keys"), PYTHONUNBUFFERED="1")
        env.update(self.extra_env)
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

    def log_text(self) -> str:
        try:
            return self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

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


def stop_host(host: DevHost, azurite_before: set[int], stop_signal_name: str = "TERM") -> dict:
    """Stop the devhost with SIG<stop_signal_name>, print and return the shutdown report."""
    stop_report = host.stop(signal.SIGINT if stop_signal_name == "INT" else signal.SIGTERM)
    # pgrep -f azurite-table, new ones only; others on this machine may start their own.
    leftover = sorted(azurite_pids() - azurite_before)
    own_left = sorted(pid for pid in host.children if alive(pid))
    shutdown = {**stop_report, "own_processes_left": own_left,
                "new_azurite_processes_left_not_ours": sorted(set(leftover) - host.children),
                "devhost_stopped_its_azurite": not stop_report["children_outlived_devhost"]}
    print(f"\ndevhost stopped with SIG{stop_signal_name} (exit {stop_report['exit_code']}"
          f"{', killed' if stop_report['killed'] else ''})")
    if stop_report["children_outlived_devhost"]:
        print(f"  WARNING: the devhost left its child process(es) {stop_report['children_outlived_devhost']}"
              f" (Azurite) running; ended by the benchmark")
    print(f"  processes of ours left behind: {own_left or 'none'}")
    if set(leftover) - host.children:
        print(f"  (new azurite-table processes not started by this benchmark: "
              f"{sorted(set(leftover) - host.children)})")
    return shutdown


def log_in(base: str, outbox: Path, mailbox: str = MAILBOX) -> str:
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        response = client.post("/api/v1/auth/email-code", json={"mailbox": mailbox})
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


def install_stop_handlers() -> None:
    """SIGTERM/SIGHUP to the benchmark must still stop the devhost: turn them into KeyboardInterrupt."""
    def interrupted(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)


# ----- load generators -------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not match:
        raise ValueError(f"cannot read wrk duration {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


_LUA_NON_OK = "lua responses outside ok:"


def parse_wrk(output: str) -> dict:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    p50 = re.search(r"^\s+50(?:\.000)?%\s+(\S+)", output, re.M)
    p99 = re.search(r"^\s+99(?:\.000)?%\s+(\S+)", output, re.M)
    if not (rps and total and p50 and p99):
        raise RuntimeError(f"cannot parse wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = (dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
                     if sockets else {})
    result = {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": _ms(p50.group(1)),
        "p99_ms": _ms(p99.group(1)),
        "non_2xx_3xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors,
        "errors": (int(non_2xx.group(1)) if non_2xx else 0) + sum(socket_errors.values()),
    }
    lua = re.search(re.escape(_LUA_NON_OK) + r"\s+(\d+)\s*(.*)$", output, re.M)
    if lua:  # the script counted every status outside ok (wrk itself counts only >= 400)
        statuses = dict(re.findall(r"(\d{3})=(\d+)", lua.group(2)))
        result["non_ok_responses"] = int(lua.group(1))
        result["non_ok_statuses"] = {code: int(count) for code, count in statuses.items()}
        result["errors"] = int(lua.group(1)) + sum(socket_errors.values())
    return result


def _lua_string(data: bytes) -> str:
    """A Lua string literal for arbitrary bytes (printable ASCII as is, the rest as \\ddd)."""
    out = []
    for byte in data:
        if 32 <= byte < 127 and byte not in (34, 92):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def wrk_script(method: str, body: bytes | None, headers: dict[str, str], ok: tuple[int, int]) -> str:
    """wrk Lua script: the request, plus a per-thread count of statuses outside ``ok``."""
    lines = [f"wrk.method = {_lua_string(method.encode('ascii'))}"]
    if body is not None:
        lines.append(f"wrk.body = {_lua_string(body)}")
    for name, value in headers.items():
        lines.append(f"wrk.headers[{_lua_string(name.encode('latin-1'))}] = {_lua_string(value.encode('latin-1'))}")
    lines.append(f"""
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non_ok = 0
  statuses = {{}}
end

function response(status, headers, body)
  if status < {ok[0]} or status > {ok[1]} then
    non_ok = non_ok + 1
    local key = tostring(status)
    statuses[key] = (statuses[key] or 0) + 1
  end
end

function done(summary, latency, requests)
  local total, counts = 0, {{}}
  for _, thread in ipairs(threads) do
    total = total + thread:get("non_ok")
    for code, count in pairs(thread:get("statuses")) do
      counts[code] = (counts[code] or 0) + count
    end
  end
  local parts = {{}}
  for code, count in pairs(counts) do
    table.insert(parts, code .. "=" .. count)
  end
  io.write("{_LUA_NON_OK} " .. total .. " " .. table.concat(parts, " ") .. "\\n")
end
""")
    return "\n".join(lines)


def run_wrk(url: str, token: str | None, connections: int, seconds: float, method: str = "GET",
            body: bytes | None = None, content_type: str | None = None, ok: tuple[int, int] = (200, 200)) -> dict:
    """wrk; a plain GET runs without a script (wrk counts statuses >= 400 as errors), anything
    else with a Lua script (method, body, headers; counts every status outside ``ok``)."""
    threads = max(1, min(2, connections))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{int(round(seconds))}s", "--latency",
               "--timeout", f"{int(REQUEST_TIMEOUT)}s"]
    if method == "GET" and body is None:
        if token:
            command += ["-H", f"Authorization: Bearer {token}"]
        command.append(url)
        proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30)
    else:
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if token:
            headers["Authorization"] = f"Bearer {token}"
        with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:  # private (0700): the token is in it
            script = Path(tmp) / "request.lua"
            script.write_text(wrk_script(method, body, headers, ok), "utf-8")
            command += ["-s", str(script), url]
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


async def _raw_load(url: str, token: str | None, connections: int, seconds: float, method: str = "GET",
                    body: bytes | None = None, content_type: str | None = None,
                    ok: tuple[int, int] = (200, 200)) -> dict:
    """Minimal HTTP/1.1 keep-alive client on asyncio streams: one connection per worker."""
    parts = httpx.URL(url)
    host, port = parts.host, parts.port or 80
    head = (f"{method} {parts.raw_path.decode('ascii')} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else ""))
    if body is not None:
        head += (f"Content-Type: {content_type}\r\n" if content_type else "") + f"Content-Length: {len(body)}\r\n"
    request = (head + "\r\n").encode("latin-1") + (body or b"")
    latencies: list[float] = []
    counts = {"non_200": 0, "exceptions": 0}
    low, high = ok
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
                if not low <= status <= high:
                    counts["non_200"] += 1
                if not keep:
                    writer.close()
                    reader = writer = None
            except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError,
                    IndexError):
                counts["exceptions"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    return _summary(latencies, time.perf_counter() - started, counts["non_200"], counts["exceptions"])


async def _httpx_load(url: str, token: str | None, connections: int, seconds: float, method: str = "GET",
                      body: bytes | None = None, content_type: str | None = None,
                      ok: tuple[int, int] = (200, 200)) -> dict:
    """httpx.AsyncClient (HTTP/1.1 keep-alive), one shared pool. Costs ~1-2 ms of client CPU a
    request: on 2 cores it saturates at a few hundred requests/s and its latencies are mostly
    its own (see session_load.py); kept for comparison."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if content_type:
        headers["Content-Type"] = content_type
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    counts = {"non_200": 0, "exceptions": 0}
    low, high = ok
    async with httpx.AsyncClient(http1=True, http2=False, limits=limits, timeout=REQUEST_TIMEOUT,
                                 headers=headers) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                begin = time.perf_counter()
                try:
                    response = await client.request(method, url, content=body)
                    await response.aread()
                except httpx.HTTPError:
                    counts["exceptions"] += 1
                    continue
                latencies.append(time.perf_counter() - begin)
                if not low <= response.status_code <= high:
                    counts["non_200"] += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    return _summary(latencies, elapsed, counts["non_200"], counts["exceptions"])


def _run_async(load, url: str, token: str | None, connections: int, seconds: float, **request) -> dict:
    async def bounded() -> dict:
        return await asyncio.wait_for(load(url, token, connections, seconds, **request),
                                      seconds + REQUEST_TIMEOUT + 10)
    try:
        import uvloop  # as the server uses: fewer cycles spent on the generator side
    except ImportError:
        return asyncio.run(bounded())
    return uvloop.run(bounded())


def run_python(url: str, token: str | None, connections: int, seconds: float, **request) -> dict:
    return _run_async(_raw_load, url, token, connections, seconds, **request)


def run_httpx(url: str, token: str | None, connections: int, seconds: float, **request) -> dict:
    return _run_async(_httpx_load, url, token, connections, seconds, **request)


GENERATORS = {
    "wrk": ("wrk", run_wrk),
    "python": ("python (asyncio streams, HTTP/1.1 keep-alive)", run_python),
    "httpx": ("python (asyncio + httpx.AsyncClient)", run_httpx),
}


def add_generator_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--generator", choices=("auto", "wrk", "python", "httpx"), default="auto",
                        help="auto: wrk if it is on PATH, else python (a minimal asyncio HTTP/1.1 client); "
                             "httpx: httpx.AsyncClient, which is client-bound on 2 cores")


def pick_generator(parser: argparse.ArgumentParser, choice: str):
    """(name, generator function) for ``--generator``; errors out if wrk is asked for but missing."""
    if choice == "auto":
        choice = "wrk" if shutil.which("wrk") else "python"
    if choice == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not on PATH (apt-get install wrk)")
    return GENERATORS[choice]


# ----- benchmark --------------------------------------------------------------------------

def measure(name: str, url: str, token: str | None, args: argparse.Namespace, generator, **request) -> dict:
    """Warm-up, then ``args.runs`` runs of ``args.seconds`` with ``args.connections``; medians."""
    print(f"\n{name}: warm-up {WARMUP_SECONDS} s", flush=True)
    generator(url, token, args.connections, WARMUP_SECONDS, **request)
    runs = []
    for i in range(args.runs):
        run = generator(url, token, args.connections, args.seconds, **request)
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
