"""Load on ``POST /api/v1/drafts/on-send`` and ``POST /api/v1/drafts/validate`` against the development host.

Starts ``python -m devhost`` on a free loopback port (it starts its own in-memory Azurite and
publishes the sample domain book of ``domainbook/variants.json``), logs in as
jan@demo-zorg.example (demo tenant: viewer_sms_optional, security by default on, book variant
zorgmail) with an e-mail code from the development outbox, checks once that both endpoints
answer 200 with a verdict for the draft below, then loads each endpoint for ``--seconds``
with ``--connections`` keep-alive connections, ``--runs`` times after a 2 s warm-up. Reports
the median of requests/s, p50 and p99 over the runs and the errors (any non-2xx response,
socket errors and timeouts), and the target: on-send p99 < 50 ms with no errors.

    python bench/drafts_load.py [--connections 16] [--seconds 30] [--runs 3]
                                [--generator auto|wrk|python|httpx] [--only on-send|validate]

The draft (``DRAFT``, application/json, subject "Verwijzing"): 10 recipients from the sample
book -- 2 own organisation (demo-zorg.example, poli.demo-zorg.example), 5 community
(zorgmail, e-zorg and zorgring-nhn domains and one address-book address), 1 NTA 7516
register-only domain (nta7516 "ja", so the NTA route), 2 external (one with a typed mobile
number in ``phones``) -- and 3 attachments (pdf, pdf, docx; 150-420 KB).

Generators (shared with session_load.py in loadtools.py): ``wrk`` with a generated Lua
script (method, body, Content-Type, Authorization; the script also counts every non-2xx
status), or the minimal asyncio HTTP/1.1 client. The devhost's CPU time per request
(user+system of its process, from /proc) is recorded per run as a diagnostic.

Writes bench/results/drafts_load.json. Sends traffic to 127.0.0.1 only; every step is bounded
in time; the devhost is stopped by its pid with SIGTERM at the end and the benchmark checks
that no Azurite it started is left running.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loadtools import (  # noqa: E402
    MAILBOX,
    REQUEST_TIMEOUT,
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

TARGET_P99_MS = 50.0
CONTENT_TYPE = "application/json"
OK = (200, 299)  # any 2xx is a success; everything else counts as an error

ENDPOINTS = {
    "on-send": "/api/v1/drafts/on-send",
    "validate": "/api/v1/drafts/validate",
}

# Recipients from the sample book (domainbook/sample/*), with the category they should get for
# jan@demo-zorg.example (tenant demo-zorg; the sender's domain is NTA 7516 "ja" in the register).
RECIPIENTS = [
    ("to", "a.devries@demo-zorg.example", "A. de Vries", "own_organisation"),       # own mail domain
    ("cc", "secretariaat@poli.demo-zorg.example", "Secretariaat Poli", "own_organisation"),
    ("to", "dr.bakker@ziekenhuis-a.example", "Dr. Bakker", "community"),            # zorgmail.txt
    ("to", "recept@apotheek-bolderhuis.example", "Apotheek Bolderhuis", "community"),
    ("cc", "intake@fysiotherapie-duinrand.example", "Fysiotherapie Duinrand", "community"),  # e-zorg.txt
    ("cc", "info@diagnostiek-heidebos.example", "Diagnostiek Heidebos", "community"),        # zorgring-nhn.txt
    ("cc", "dr.jansen@gezondheidscentrum-oost.example", "Dr. Jansen", "community"),          # address-book.csv
    ("to", "poli.cardiologie@nta-ziekenhuis-d.example", "Poli Cardiologie", "nta7516"),     # register only, ja
    ("to", "m.jansen1962@gmail.example", "M. Jansen", "external"),                  # phone typed below
    ("cc", "p.smit@hotmail.example", "P. Smit", "external"),
]

DRAFT = {
    "from": MAILBOX,
    "to": [{"address": a, "name": n, "type": "user"} for f, a, n, _ in RECIPIENTS if f == "to"],
    "cc": [{"address": a, "name": n, "type": "user"} for f, a, n, _ in RECIPIENTS if f == "cc"],
    "bcc": [],
    "subject": "Verwijzing",
    "attachments": [
        {"name": "Verwijsbrief cardiologie.pdf", "size": 284_512, "inline": False},
        {"name": "Labuitslagen 2024-05.pdf", "size": 412_930, "inline": False},
        {"name": "Behandelplan.docx", "size": 156_204, "inline": False},
    ],
    "phones": {"m.jansen1962@gmail.example": "06 12345678"},
}


def check_once(base: str, token: str) -> dict:
    """Both endpoints answer 200 with a verdict for DRAFT; print categories and the on-send action."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE}
    body = json.dumps(DRAFT).encode()
    report: dict = {}
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        answers = {name: client.post(path, content=body, headers=headers) for name, path in ENDPOINTS.items()}
    for name, response in answers.items():
        if response.status_code != 200:
            raise RuntimeError(f"{ENDPOINTS[name]}: HTTP {response.status_code}: {response.text[:500]}")
    decision = answers["on-send"].json()
    verdict = answers["validate"].json()
    if "action" not in decision or "recipients" not in decision.get("verdict", {}):
        raise RuntimeError(f"on-send answered 200 without a decision and verdict: {answers['on-send'].text[:500]}")
    if "recipients" not in verdict or "can_send_secure" not in verdict:
        raise RuntimeError(f"validate answered 200 without a verdict: {answers['validate'].text[:500]}")

    expected = {address: category for _, address, _, category in RECIPIENTS}
    print("\ncheck: both endpoints answer 200 with a verdict")
    print(f"  request body {len(body)} bytes; response bytes: on-send {len(answers['on-send'].content)}, "
          f"validate {len(answers['validate'].content)}")
    print("  recipients (validate):")
    mismatches = []
    for recipient in verdict["recipients"]:
        want = expected.get(recipient["address"])
        flag = "" if want == recipient["category"] else f"   <- expected {want}"
        if flag:
            mismatches.append(recipient["address"])
        print(f"    {recipient['field']:3s} {recipient['address']:45s} {recipient['category']:17s} "
              f"route {recipient['route']:8s} access code {recipient['access_code']}{flag}")
    findings = [f"{f['code']} ({f['severity']}, {f['target']})" for f in verdict["findings"]]
    print(f"  can_send_secure {verdict['can_send_secure']}, auto_send {verdict['auto_send']}, "
          f"domain book {verdict['domain_book']['variant']} {verdict['domain_book']['version']}")
    print(f"  findings: {', '.join(findings) or 'none'}")
    print(f"  on-send action: {decision['action']} (reasons: {', '.join(decision['reasons'])})")
    report.update(
        request_bytes=len(body),
        response_bytes={name: len(response.content) for name, response in answers.items()},
        categories={r["address"]: r["category"] for r in verdict["recipients"]},
        category_mismatches=mismatches,
        can_send_secure=verdict["can_send_secure"],
        auto_send=verdict["auto_send"],
        domain_book=verdict["domain_book"],
        findings=[f["code"] for f in verdict["findings"]],
        on_send_action=decision["action"],
        on_send_reasons=decision["reasons"],
    )
    return report


def process_cpu_seconds(pid: int) -> float:
    """user + system CPU time of one process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_server_cpu(generator, pid: int):
    """Wrap a generator: each run also gets the devhost's CPU ms per request and CPU share."""
    def run(url, token, connections, seconds, **request):
        cpu_before, wall_before = process_cpu_seconds(pid), time.monotonic()
        result = generator(url, token, connections, seconds, **request)
        cpu = process_cpu_seconds(pid) - cpu_before
        wall = time.monotonic() - wall_before
        result["server_cpu_ms_per_request"] = round(cpu * 1000 / result["requests"], 3) if result["requests"] else None
        result["server_cpu_cores"] = round(cpu / wall, 2) if wall > 0 else None
        return result
    return run


_LOG_PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback")


def log_problems(text: str, limit: int = 20) -> dict:
    """WARNING/ERROR/CRITICAL and traceback lines of the devhost log, counted by message shape."""
    lines = [line for line in text.splitlines() if _LOG_PROBLEM.search(line)]
    shapes: dict[str, int] = {}
    for line in lines:
        shape = re.sub(r"^\S+ \S+ ", "", line)               # the timestamp
        shape = re.sub(r"\d+", "N", shape)[:200]
        shapes[shape] = shapes.get(shape, 0) + 1
    return {"lines": len(lines), "by_message": dict(sorted(shapes.items(), key=lambda kv: -kv[1])[:limit]),
            "first": lines[:limit]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    add_generator_argument(parser)
    parser.add_argument("--only", choices=tuple(ENDPOINTS), help="measure one endpoint only")
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds < 1 or args.runs < 1:
        parser.error("--connections, --seconds and --runs must be at least 1")

    generator_name, generator = pick_generator(parser, args.generator)
    print(f"generator: {generator_name}; {args.connections} connections, {args.seconds} s x {args.runs} runs")

    install_stop_handlers()

    body = json.dumps(DRAFT).encode()
    azurite_before = azurite_pids()
    result: dict = {"benchmark": "drafts_load", "generator": generator_name, "connections": args.connections,
                    "seconds": args.seconds, "runs": args.runs, "mailbox": MAILBOX,
                    "draft": {"recipients": len(RECIPIENTS), "attachments": len(DRAFT["attachments"]),
                              "request_bytes": len(body), "content_type": CONTENT_TYPE}}
    with tempfile.TemporaryDirectory(prefix="bench-drafts-") as tmp:
        host = DevHost(Path(tmp))
        try:
            started = time.monotonic()
            host.start()
            print(f"devhost up on {host.base} in {time.monotonic() - started:.1f} s (pid {host.process.pid})")
            token = log_in(host.base, host.outbox)
            print("logged in: session token obtained")
            result["check"] = check_once(host.base, token)
            timed = with_server_cpu(generator, host.process.pid)
            for name, path in ENDPOINTS.items():
                if args.only and name != args.only:
                    continue
                result[name] = measure(f"POST {path}", f"{host.base}{path}", token, args, timed,
                                       method="POST", body=body, content_type=CONTENT_TYPE, ok=OK)
                runs = result[name]["runs"]
                result[name]["median_server_cpu_ms_per_request"] = sorted(
                    r["server_cpu_ms_per_request"] or 0 for r in runs)[len(runs) // 2]
        except BaseException:
            print(f"devhost log (tail):\n{host.log_tail()}", file=sys.stderr)
            raise
        finally:
            result["shutdown"] = stop_host(host, azurite_before, "TERM")
            result["devhost_log"] = log_problems(host.log_text())

    passed = None
    if "on-send" in result:
        on_send = result["on-send"]
        passed = on_send["median_p99_ms"] < args.target_p99_ms and on_send["total_errors"] == 0
    result["target"] = {"endpoint": "on-send", "p99_ms_below": args.target_p99_ms, "errors": 0}
    result["pass"] = passed

    print(f"\nresults ({generator_name}, medians over {args.runs} runs of {args.seconds} s, "
          f"{args.connections} connections):")
    for name, path in ENDPOINTS.items():
        if name in result:
            r = result[name]
            print(f"  POST {path:24s} {r['median_rps']:8.1f} req/s  p50 {r['median_p50_ms']:7.2f} ms  "
                  f"p99 {r['median_p99_ms']:7.2f} ms  errors {r['total_errors']} / {r['total_requests']}  "
                  f"(devhost CPU {r['median_server_cpu_ms_per_request']} ms/request)")
    log = result["devhost_log"]
    print(f"  devhost log: {log['lines']} warning/error line(s)"
          + "".join(f"\n    {count} x {shape}" for shape, count in log["by_message"].items()))
    shutdown = result["shutdown"]
    print(f"  azurite left by the benchmark: {shutdown['own_processes_left'] or 'none'}"
          f" (devhost stopped its own Azurite: {shutdown['devhost_stopped_its_azurite']})")
    if passed is not None:
        print(f"  target on-send: p99 < {args.target_p99_ms:g} ms and no errors -> {'PASS' if passed else 'FAIL'}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "drafts_load.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
