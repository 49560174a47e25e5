"""Where an on-send request's CPU goes, through the development host (issue 9 item 7).

Starts ``python -m devhost`` (one worker, its own Azurite), logs in, and loads
``POST /api/v1/drafts/on-send`` with the 10-recipient draft of ``drafts_load.py`` (wrk or the
asyncio client, ``--connections``) while ``py-spy record`` samples the devhost for ``--seconds``
(the thread holding the GIL, ``--gil``: the event loop or a function thread, whichever runs
Python; ``--all-threads`` counts every running thread, which also counts threads that wait for
a core or the GIL as busy).
Prints and writes the hotspots: for each ``file:function`` the share of samples it is on top
of the stack (self) and anywhere on it (inclusive), and the share by layer (server, adapter,
azure.functions, app, engine, JSON...). py-spy must be installed (requirements-dev).

    python bench/profile_onsend.py [--seconds 15] [--connections 16] [--endpoint on-send|session]

Writes bench/results/profile_<endpoint>.json; ``--folded FILE`` keeps the folded stacks too (for
a flame graph: ``flamegraph.pl`` or speedscope).
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drafts_load import DRAFT  # noqa: E402
from loadtools import (  # noqa: E402
    RESULTS,
    DevHost,
    add_generator_argument,
    azurite_pids,
    install_stop_handlers,
    log_in,
    pick_generator,
    stop_host,
)

ROOT = Path(__file__).resolve().parent.parent
ENDPOINTS = {"on-send": "/api/v1/drafts/on-send", "session": "/api/v1/session"}

# Layers, by the first matching piece of a frame's file name (order matters).
LAYERS = [
    ("engine (sendsecure/core)", "sendsecure/core/"),
    ("devhost adapter", "devhost/"),
    ("uvicorn / httptools", "uvicorn/"),
    ("uvloop / asyncio", "asyncio/"),
    ("azure.functions (HttpRequest/Response)", "azure/functions/"),
    ("JSON", "json/"),
    ("threads (pool hand-off)", "threading.py"),
    ("threads (pool hand-off)", "concurrent/futures/"),
    ("app: functions/", "/functions/"),
    ("app: sendsecure (services, http edge)", "sendsecure/"),
    ("app: function_app", "function_app.py"),
]


def frame_key(frame: str) -> str:
    """``function (path/to/file.py:line)`` -> ``relative/file.py:function``."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    for prefix in (str(ROOT) + "/", "site-packages/", "lib/python3.11/"):
        if prefix in path:
            path = path.split(prefix, 1)[1]
    return f"{path}:{name}"


def layer(key: str) -> str:
    for label, piece in LAYERS:
        if piece in key:
            return label
    return "other"


def analyse(folded: Path, top: int) -> dict:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in folded.read_text("utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame_key(f) for f in stack.split(";") if " (" in f]  # drops the "process"/"thread" roots
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        layers[layer(frames[-1])] += count
        for key in set(frames):
            inclusive[key] += count

    def share(counter: Counter[str]) -> list[dict]:
        return [{"where": key, "share": round(value / total, 4)} for key, value in counter.most_common(top)]

    return {"samples": total, "self": share(own), "inclusive": share(inclusive),
            "by_layer_self": {key: round(value / total, 4) for key, value in layers.most_common()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--folded", type=Path, help="also write the folded stacks here")
    parser.add_argument("--endpoint", choices=tuple(ENDPOINTS), default="on-send")
    parser.add_argument("--all-threads", action="store_true",
                        help="sample every running thread, not only the one holding the GIL (counts threads "
                             "waiting for a core or the GIL as busy)")
    add_generator_argument(parser)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        parser.error("py-spy is not installed (make install: requirements-dev)")
    _, generator = pick_generator(parser, args.generator)
    install_stop_handlers()

    body = json.dumps(DRAFT).encode()
    request = ({"method": "POST", "body": body, "content_type": "application/json", "ok": (200, 299)}
               if args.endpoint == "on-send" else {})
    azurite_before = azurite_pids()
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        folded = args.folded or Path(tmp) / "profile.folded"
        host = DevHost(Path(tmp), {"FUNCTIONS_WORKER_PROCESS_COUNT": "1"})
        try:
            host.start()
            assert host.process is not None
            token = log_in(host.base, host.outbox)
            url = host.base + ENDPOINTS[args.endpoint]
            generator(url, token, args.connections, 2, **request)  # warm-up
            spy = subprocess.Popen([py_spy, "record", "--pid", str(host.process.pid), "--format", "raw",
                                    "--rate", str(args.rate), "--duration", str(args.seconds + 2),
                                    "--threads", "--nonblocking", "-o", str(folded),
                                    *([] if args.all_threads else ["--gil"])],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1)
            run = generator(url, token, args.connections, args.seconds, **request)
            try:
                _, error = spy.communicate(timeout=args.seconds + 30)
            except subprocess.TimeoutExpired:
                spy.kill()
                _, error = spy.communicate(timeout=10)
            if spy.returncode != 0 or not folded.exists():
                raise RuntimeError(f"py-spy failed ({spy.returncode}): {error.decode(errors='replace')[-500:]}")
        finally:
            stop_host(host, azurite_before, "TERM")

        # --threads adds a "thread (0x...)" root per stack: drop it so stacks of all threads add up.
        lines = []
        for line in folded.read_text("utf-8", errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            frames = [f for f in stack.split(";") if not f.startswith(("thread (", "process "))]
            lines.append(";".join(frames) + " " + count)
        folded.write_text("\n".join(lines) + "\n", "utf-8")
        result = {"benchmark": "profile_onsend", "endpoint": ENDPOINTS[args.endpoint], "seconds": args.seconds,
                  "connections": args.connections, "rate": args.rate, "load": run, **analyse(folded, args.top)}
    out = RESULTS / f"profile_{args.endpoint}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"{ENDPOINTS[args.endpoint]}: {run['rps']:.0f} req/s during sampling; {result['samples']} samples")
    print("by layer (self):")
    for key, value in result["by_layer_self"].items():
        print(f"  {value:6.1%}  {key}")
    print("self (top):")
    for row in result["self"][:25]:
        print(f"  {row['share']:6.1%}  {row['where']}")
    print("inclusive (top):")
    for row in result["inclusive"][:args.top]:
        print(f"  {row['share']:6.1%}  {row['where']}")
    print(f"written: {out}" + (f", {args.folded}" if args.folded else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
