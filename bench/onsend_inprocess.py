"""The application's CPU for one on-send and one ``GET /session``, in this process (issue 9 item 7).

No HTTP server: starts its own Azurite, provisions the demo tenants and publishes the sample
book as the development host does, logs in through the login functions, and then calls the
registered functions ``check_on_send`` (the 10-recipient draft of ``drafts_load.py``) and
``get_session`` directly with a built ``func.HttpRequest``, ``--calls`` times each after a
warm-up, ``--repeats`` rounds. Reports the median CPU time per call (``time.process_time``,
so a busy machine matters less than for wall time) and the difference: what on-send costs the
application beyond the session check every request pays. ``--profile`` prints the cProfile
top of on-send.

    python bench/onsend_inprocess.py [--calls 3000] [--repeats 5] [--profile]

Writes bench/results/onsend_inprocess.json (``--output`` for another name). The server side
(uvicorn, the development host's adapter, the socket write) is in workers_load.py's figures,
not here.
"""
from __future__ import annotations

import argparse
import cProfile
import email
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from drafts_load import DRAFT  # noqa: E402
from loadtools import MAILBOX, RESULTS  # noqa: E402


def _setup(tmp: Path, connection_string: str) -> None:
    os.environ.update({
        "TABLES_CONNECTION_STRING": connection_string,
        "MAIL_TRANSPORT": "outbox",
        "MAIL_OUTBOX_DIR": str(tmp / "outbox"),
        "MAIL_OUTBOX_LOG_CODES": "true",
        "LOCAL_KEY_DIR": str(tmp / "keys"),
        "LOG_LEVEL": "warning",
        "PURGE_SCHEDULE": "0 17 3 * * *",
    })
    from sendsecure import runtime
    from sendsecure.bookstore import publish_from_sources
    from sendsecure.core.tenants import DomainBookVariant, load_tenant_files
    from sendsecure.provision import provision
    from sendsecure.settings import get_settings

    runtime.reset()
    settings = get_settings()
    tenants = load_tenant_files([p for p in settings.tenant_definitions.split(os.pathsep) if p])
    provision([t.id for t in tenants])
    runtime.tenant_directory().save(tenants)
    publish_from_sources(runtime.books(), settings.domain_book_sources, [v.value for v in DomainBookVariant])


def _synchronous(function):
    import inspect

    while inspect.iscoroutinefunction(function):
        function = function.__wrapped__
    return function


def registered_app(tmp: Path):
    """After ``_setup``: the app's registered functions by name, a request builder (the headers the
    add-in sends) and a session token of MAILBOX, logged in through the login functions."""
    import azure.functions as func

    from function_app import app

    # On-send and health are async (they run on threads of their own, httpapi.on_own_threads): in
    # process the bench calls their synchronous work, the function's own cost; the thread hop is
    # part of what bench/send_load.py measures through the development host.
    functions = {f.get_function_name(): _synchronous(f.get_user_function()) for f in app.get_functions()}

    def request(method: str, path: str, body: bytes = b"", token: str | None = None) -> func.HttpRequest:
        headers = {"content-type": "application/json", "x-forwarded-for": "192.0.2.10",
                   "accept-language": "nl-NL,nl;q=0.9,en;q=0.8"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        return func.HttpRequest(method, f"http://127.0.0.1{path}", headers=headers, params={},
                                route_params={}, body=body)

    challenge = json.loads(functions["request_login_code"](
        request("POST", "/api/v1/auth/email-code", json.dumps({"mailbox": MAILBOX}).encode())).get_body())
    mail = sorted((tmp / "outbox").glob("*.eml"))[-1]
    code = email.message_from_bytes(mail.read_bytes())["X-Dev-Login-Code"]
    answer = functions["verify_login_code"](request("POST", "/api/v1/auth/email-code/verify", json.dumps(
        {"challenge_id": challenge["challenge_id"], "code": code}).encode()))
    return functions, request, json.loads(answer.get_body())["session_token"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile top of on-send")
    parser.add_argument("--output", default="onsend_inprocess.json", help="file name under bench/results/")
    args = parser.parse_args(argv)

    import logging

    from devhost.azurite import Azurite

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as tmp_name, Azurite() as azurite:
        tmp = Path(tmp_name)
        _setup(tmp, azurite.connection_string)
        functions, request, token = registered_app(tmp)

        body = json.dumps(DRAFT).encode()
        calls = {
            "session": (functions["get_session"], lambda: request("GET", "/api/v1/session", token=token)),
            "on-send": (functions["check_on_send"],
                        lambda: request("POST", "/api/v1/drafts/on-send", body, token=token)),
        }
        for name, (function, build) in calls.items():
            response = function(build())
            if response.status_code != 200:
                raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.get_body()[:300]!r}")

        def timed(function, build) -> float:
            requests = [build() for _ in range(args.calls)]
            started = time.process_time()
            for req in requests:
                function(req)
            return (time.process_time() - started) * 1e6 / args.calls

        for function, build in calls.values():  # warm caches and code paths
            timed(function, build)
        rounds: dict[str, list[float]] = {name: [] for name in calls}
        for _ in range(args.repeats):
            for name, (function, build) in calls.items():
                rounds[name].append(round(timed(function, build), 1))
        result = {"benchmark": "onsend_inprocess", "calls": args.calls, "repeats": args.repeats,
                  "draft": {"recipients": 10, "attachments": len(DRAFT["attachments"])},
                  **{f"{name}_cpu_us": {"median": statistics.median(values), "rounds": values}
                     for name, values in rounds.items()}}
        result["on_send_extra_cpu_us"] = round(result["on-send_cpu_us"]["median"] - result["session_cpu_us"]["median"],
                                               1)
        print(f"CPU per call (median of {args.repeats} x {args.calls}): on-send {result['on-send_cpu_us']['median']} "
              f"µs, GET /session {result['session_cpu_us']['median']} µs, on-send extra "
              f"{result['on_send_extra_cpu_us']} µs")
        if args.profile:
            function, build = calls["on-send"]
            requests = [build() for _ in range(args.calls)]
            profiler = cProfile.Profile()
            profiler.enable()
            for req in requests:
                function(req)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"written: {RESULTS / args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
