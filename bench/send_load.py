"""Load on ``POST /api/v1/messages/send`` and on an on-send that creates an envelope (issue 10, Measure).

Starts ``python -m devhost`` on a free loopback port (its own in-memory Azurite, the sample domain
book), logs in as jan@demo-zorg.example (demo tenant: viewer_sms_optional, security by default on)
with an e-mail code from the development outbox, checks once that each endpoint answers as it
should (send: 201 with an envelope and its stamp headers; on-send: ``allow`` with the envelope),
then loads each (each endpoint on a fresh devhost: Azurite's in-memory store grows with every row
and its CPU per call with it) for ``--seconds`` with ``--connections`` keep-alive connections, ``--runs`` times
after a 2 s warm-up, every request with a NEW ``message_id`` (so every request signs, stamps and
inserts one envelope, plus its audit row): wrk with a Lua ``request()`` that numbers the
messages per thread (or the Python generator with the same numbering is not offered: only wrk
varies the body per request here).

- ``send``: the 10-recipient draft of bench/drafts_load.py (2 own, 5 community, 1 NTA route,
  2 external, one with a typed mobile number: stored by the first send, unchanged afterwards).
  Target p99 < 60 ms, no errors.
- ``on-send``: a 10-recipient draft Outlook's Send lets through with an envelope (``auto_send``:
  own organisation and community only, subject, attachments within the limits). Target p99 < 50 ms.

    python bench/send_load.py [--connections 16] [--seconds 30] [--runs 3] [--only send|on-send]

Writes bench/results/send_load.json (medians of the runs). Traffic to 127.0.0.1 only; the devhost
is stopped by its pid at the end and the benchmark checks that no Azurite it started is left.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drafts_load import DRAFT as SEND_DRAFT  # noqa: E402
from drafts_load import log_problems, process_cpu_seconds  # noqa: E402
from loadtools import (  # noqa: E402
    MAILBOX,
    REQUEST_TIMEOUT,
    RESULTS,
    DevHost,
    _lua_string,
    azurite_pids,
    install_stop_handlers,
    log_in,
    measure,
    parse_wrk,
    stop_host,
    wrk_script,
)

CONTENT_TYPE = "application/json"
OK = (200, 299)
TARGETS = {"send": 60.0, "on-send": 50.0}
ENDPOINTS = {"send": "/api/v1/messages/send", "on-send": "/api/v1/drafts/on-send"}
PLACEHOLDER = "@@MESSAGE_ID@@"

ON_SEND_DRAFT = {
    "from": MAILBOX,
    "to": [{"address": a, "type": "user"} for a in (
        "a.devries@demo-zorg.example", "dr.bakker@ziekenhuis-a.example", "recept@apotheek-bolderhuis.example",
        "intake@fysiotherapie-duinrand.example", "info@diagnostiek-heidebos.example")],
    "cc": [{"address": a, "type": "user"} for a in (
        "secretariaat@poli.demo-zorg.example", "dr.jansen@gezondheidscentrum-oost.example",
        "b.dekker@ziekenhuis-a.example", "balie@apotheek-bolderhuis.example", "poli@diagnostiek-heidebos.example")],
    "bcc": [],
    "subject": "Verwijzing",
    "attachments": SEND_DRAFT["attachments"],
}


def body_template(name: str) -> bytes:
    """The request body with ``PLACEHOLDER`` where each request's message id goes."""
    if name == "send":
        data: dict = {"message_id": PLACEHOLDER, "draft": SEND_DRAFT}
    else:
        data = {**ON_SEND_DRAFT, "message_id": PLACEHOLDER}
    return json.dumps(data).encode()


def unique_script(method: str, template: bytes, headers: dict[str, str], ok: tuple[int, int]) -> str:
    """loadtools' wrk script plus a ``request()`` that puts a new message id in every body:
    ``<run nonce>-<thread>-<n>`` (threads numbered in ``setup``)."""
    head, _, tail = template.partition(PLACEHOLDER.encode())
    nonce = uuid.uuid4().hex[:12]
    return wrk_script(method, template, headers, ok) + f"""
local base_setup = setup
local thread_count = 0
setup = function(thread)
  thread_count = thread_count + 1
  thread:set("thread_no", thread_count)
  base_setup(thread)
end

local sent = 0
request = function()
  sent = sent + 1
  local id = {_lua_string(nonce.encode())} .. "-" .. tostring(thread_no) .. "-" .. tostring(sent)
  return wrk.format(nil, nil, nil, {_lua_string(head)} .. id .. {_lua_string(tail)})
end
"""


def run_wrk_unique(url: str, token: str | None, connections: int, seconds: float, method: str = "POST",
                   body: bytes | None = None, content_type: str | None = None, ok: tuple[int, int] = OK) -> dict:
    headers = {"Content-Type": content_type or CONTENT_TYPE}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    command = ["wrk", f"-t{max(1, min(2, connections))}", f"-c{connections}", f"-d{int(round(seconds))}s",
               "--latency", "--timeout", f"{int(REQUEST_TIMEOUT)}s"]
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:  # private (0700): the token is in it
        script = Path(tmp) / "request.lua"
        script.write_text(unique_script(method, body or b"", headers, ok), "utf-8")
        proc = subprocess.run([*command, "-s", str(script), url], capture_output=True, text=True,
                              timeout=seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip()[:500]}")
    return parse_wrk(proc.stdout)


def check_once(base: str, token: str, only: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE}
    report: dict = {}
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        for name, path in ENDPOINTS.items():
            if only and name != only:
                continue
            body = body_template(name).replace(PLACEHOLDER.encode(), f"check-{uuid.uuid4().hex}".encode())
            response = client.post(path, content=body, headers=headers)
            data = response.json()
            envelope = data if name == "send" else data.get("envelope")
            if response.status_code not in (200, 201) or not envelope or "headers" not in envelope:
                raise RuntimeError(f"{path}: HTTP {response.status_code} without an envelope: {response.text[:800]}")
            routes = sorted({r["route"] for r in envelope["recipients"]})
            print(f"check {name}: HTTP {response.status_code}, {len(envelope['recipients'])} recipients, routes "
                  f"{routes}, stamp {len(envelope['headers']['X-SendSecure-Stamp'])} characters, "
                  f"answer {len(response.content)} bytes")
            report[name] = {"status": response.status_code, "recipients": len(envelope["recipients"]),
                            "routes": routes, "request_bytes": len(body), "response_bytes": len(response.content),
                            "stamp_chars": len(envelope["headers"]["X-SendSecure-Stamp"])}
    return report


def _tree(pid: int) -> dict[str, list[int]]:
    """The development host's processes by part: ``azurite`` (Azurite's node) and ``app`` (the host
    and its worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    parts: dict[str, list[int]] = {"app": [], "azurite": []}
    stack = [pid]
    while stack:
        current = stack.pop()
        try:
            command = Path(f"/proc/{current}/cmdline").read_bytes()
        except OSError:
            continue
        parts["azurite" if b"azurite" in command else "app"].append(current)
        stack.extend(children.get(current, []))
    return parts


def with_tree_cpu(generator, pid: int):
    """Wrap a generator: each run also gets the CPU ms per request of the app's processes and of
    Azurite's (on one machine they share the cores; in Azure, Table Storage is elsewhere)."""
    def cpu(parts):
        total = {}
        for part, pids in parts.items():
            seconds = 0.0
            for member in pids:
                try:
                    seconds += process_cpu_seconds(member)
                except OSError:
                    pass
            total[part] = seconds
        return total

    def run(url, token, connections, seconds, **request):
        parts = _tree(pid)
        before = cpu(parts)
        result = generator(url, token, connections, seconds, **request)
        after = cpu(parts)
        for part in parts:
            used = after[part] - before[part]
            result[f"{part}_cpu_ms_per_request"] = round(used * 1000 / result["requests"], 3) if result["requests"] \
                else None
        return result
    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=tuple(ENDPOINTS))
    parser.add_argument("--workers", type=int, default=1,
                        help="FUNCTIONS_WORKER_PROCESS_COUNT of the development host (default 1)")
    parser.add_argument("--output", default="send_load.json", help="file name under bench/results/")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds < 1 or args.runs < 1:
        parser.error("--connections, --seconds and --runs must be at least 1")
    install_stop_handlers()
    azurite_before = azurite_pids()
    result: dict = {"benchmark": "send_load", "generator": "wrk (a new message_id per request)",
                    "connections": args.connections, "seconds": args.seconds, "runs": args.runs, "mailbox": MAILBOX,
                    "workers": args.workers}
    # Each endpoint on a fresh development host: Azurite keeps every row in memory, and its CPU per
    # call grows with its heap, so an endpoint measured after another would pay for the other's rows.
    for name, path in ENDPOINTS.items():
        if args.only and name != args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
            host = DevHost(Path(tmp), {"FUNCTIONS_WORKER_PROCESS_COUNT": str(args.workers)})
            try:
                started = time.monotonic()
                host.start()
                print(f"devhost up on {host.base} in {time.monotonic() - started:.1f} s (pid {host.process.pid})")
                token = log_in(host.base, host.outbox)
                result.setdefault("check", {}).update(check_once(host.base, token, only=name))
                timed = with_tree_cpu(run_wrk_unique, host.process.pid)
                result[name] = measure(f"POST {path} (new message_id each)", f"{host.base}{path}", token, args,
                                       timed, method="POST", body=body_template(name), content_type=CONTENT_TYPE,
                                       ok=OK)
                runs = result[name]["runs"]
                for part in ("app", "azurite"):
                    result[name][f"median_{part}_cpu_ms_per_request"] = sorted(
                        r[f"{part}_cpu_ms_per_request"] or 0 for r in runs)[len(runs) // 2]
                result[name]["target_p99_ms"] = TARGETS[name]
                result[name]["pass"] = result[name]["median_p99_ms"] < TARGETS[name] and \
                    result[name]["total_errors"] == 0
            except BaseException:
                print(f"devhost log (tail):\n{host.log_tail()}", file=sys.stderr)
                raise
            finally:
                result.setdefault("shutdown", {})[name] = stop_host(host, azurite_before, "TERM")
                result.setdefault("devhost_log", {})[name] = log_problems(host.log_text())

    print(f"\nresults (medians over {args.runs} runs of {args.seconds} s, {args.connections} connections):")
    for name, path in ENDPOINTS.items():
        if name in result:
            r = result[name]
            print(f"  POST {path:24s} {r['median_rps']:8.1f} req/s  p50 {r['median_p50_ms']:7.2f} ms  "
                  f"p99 {r['median_p99_ms']:7.2f} ms  errors {r['total_errors']} / {r['total_requests']}  "
                  f"target p99 < {r['target_p99_ms']:g} ms -> {'PASS' if r['pass'] else 'FAIL'}")
            print(f"  {'':29s} CPU per request: app {r['median_app_cpu_ms_per_request']} ms, "
                  f"Azurite {r['median_azurite_cpu_ms_per_request']} ms ({args.workers} worker(s))")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / args.output
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
