"""The application's cost of one ``POST /messages/send``, in this process (issue 10, Measure).

No HTTP server: starts its own Azurite, provisions the demo tenants and publishes the sample book
as the development host does, logs in through the login functions, then calls the registered
function ``send_message`` with the 10-recipient draft of ``drafts_load.py`` and a NEW
``message_id`` each call, ``--calls`` times after a warm-up, ``--repeats`` rounds. Reports per
send the median CPU time of this process (``time.process_time``), the median wall time (this
process + Azurite's answers) and how many Table Storage calls of each kind one send makes (the
TableStore's methods counted in this process). ``--profile`` prints the cProfile top.

    python bench/send_inprocess.py [--endpoint send|on-send] [--calls 300] [--repeats 5] [--profile]

``--endpoint on-send``: the on-send of send_load.py that creates an envelope (auto-send draft).

Writes bench/results/send_inprocess.json (``--output`` for another name). What HTTP adds (the
development host, 16 connections) is in send_load.py's figures, not here.
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import json
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from drafts_load import DRAFT  # noqa: E402
from loadtools import RESULTS  # noqa: E402
from onsend_inprocess import _setup, registered_app  # noqa: E402
from send_load import ON_SEND_DRAFT  # noqa: E402

COUNTED = ("get", "insert", "upsert", "update_if_present", "replace_if_unchanged", "delete", "submit", "query")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile top of a send")
    parser.add_argument("--endpoint", choices=("send", "on-send"), default="send",
                        help="send: POST /messages/send; on-send: an on-send that creates an envelope")
    parser.add_argument("--output", default=None, help="file name under bench/results/ "
                        "(default send_inprocess.json, onsend_envelope_inprocess.json)")
    args = parser.parse_args(argv)

    import logging

    import azure.functions as func

    from devhost.azurite import Azurite
    from sendsecure.adapters import storage

    counts: collections.Counter[str] = collections.Counter()
    for name in COUNTED:  # count the calls one send makes (the bench's own wrapper, not the app's code)
        original = getattr(storage.TableStore, name)

        def counted(self, table, *a, _original=original, _name=name, **k):
            counts[f"{_name} {table}"] += 1
            return _original(self, table, *a, **k)
        setattr(storage.TableStore, name, counted)

    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp_name, Azurite() as azurite:
        tmp = Path(tmp_name)
        _setup(tmp, azurite.connection_string)
        functions, request, token = registered_app(tmp)
        on_send = args.endpoint == "on-send"
        send = functions["check_on_send" if on_send else "send_message"]
        expected = 200 if on_send else 201

        def build() -> func.HttpRequest:
            message_id = f"<{uuid.uuid4().hex}@bench.example>"
            if on_send:
                return request("POST", "/api/v1/drafts/on-send",
                               json.dumps({**ON_SEND_DRAFT, "message_id": message_id}).encode(), token=token)
            body = {"message_id": message_id, "draft": DRAFT}
            return request("POST", "/api/v1/messages/send", json.dumps(body).encode(), token=token)

        first = send(build())
        if first.status_code != expected or (on_send and not json.loads(first.get_body()).get("envelope")):
            raise RuntimeError(f"{args.endpoint}: HTTP {first.status_code}: {first.get_body()[:300]!r}")

        def timed() -> tuple[float, float]:
            requests = [build() for _ in range(args.calls)]
            cpu, wall = time.process_time(), time.perf_counter()
            for req in requests:
                response = send(req)
                if response.status_code != expected:
                    raise RuntimeError(f"{args.endpoint}: HTTP {response.status_code}")
            return ((time.process_time() - cpu) * 1e6 / args.calls, (time.perf_counter() - wall) * 1e6 / args.calls)

        timed()  # warm caches and code paths
        counts.clear()
        cpu_rounds, wall_rounds = [], []
        for _ in range(args.repeats):
            cpu, wall = timed()
            cpu_rounds.append(round(cpu, 1))
            wall_rounds.append(round(wall, 1))
        per_send = {name: round(count / (args.calls * args.repeats), 3) for name, count in sorted(counts.items())}
        result = {"benchmark": "send_inprocess", "endpoint": args.endpoint, "calls": args.calls,
                  "repeats": args.repeats,
                  "draft": {"recipients": 10, "attachments": len(DRAFT["attachments"])},
                  "cpu_us": {"median": statistics.median(cpu_rounds), "rounds": cpu_rounds},
                  "wall_us": {"median": statistics.median(wall_rounds), "rounds": wall_rounds},
                  "table_calls_per_send": per_send}
        print(f"per send (median of {args.repeats} x {args.calls}): CPU {result['cpu_us']['median']} µs, "
              f"wall {result['wall_us']['median']} µs")
        print("Table calls per send:", json.dumps(per_send))
        if args.profile:
            requests = [build() for _ in range(args.calls)]
            profiler = cProfile.Profile()
            profiler.enable()
            for req in requests:
                send(req)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)
    output = args.output or ("onsend_envelope_inprocess.json" if args.endpoint == "on-send" else "send_inprocess.json")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / output).write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"written: {RESULTS / output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
