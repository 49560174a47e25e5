"""Cold import time of ``function_app`` (the Functions worker's cold start, app part).

Runs ``python -X importtime -c "import function_app"`` N times as a subprocess from the
project folder with this interpreter, parses the cumulative microseconds of the
``function_app`` line and reports median / min / max in ms, the modules that dominate the
median run, and whether any heavy SDK (which must stay lazy) was imported.

    python bench/import_time.py [--runs 15] [--target-ms 300]

Writes bench/results/import_time.json.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MODULE = "function_app"
TARGET_MS = 300.0
# Heavy SDKs that must only be imported on first use, never at app import.
MUST_STAY_LAZY = ("azure.data.tables", "azure.identity", "msal", "requests", "azure.core")
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def parse(stderr: str) -> list[tuple[str, int, int, int]]:
    """(module, self_us, cumulative_us, depth) for each ``-X importtime`` line, in order."""
    rows = []
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            self_us, cumulative_us, indent, name = match.groups()
            rows.append((name, int(self_us), int(cumulative_us), (len(indent) - 1) // 2))
    return rows


def one_run(timeout: float) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # normal .pyc use, as a deployed worker has
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {MODULE}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
    wall_ms = (time.perf_counter() - started) * 1000
    rows = parse(proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join(line for line in proc.stderr.splitlines() if not line.startswith("import time:"))
        raise RuntimeError(f"import {MODULE} failed (exit {proc.returncode}):\n{tail[-2000:]}")
    mine = [r for r in rows if r[0] == MODULE]
    if not mine:
        raise RuntimeError(f"no '{MODULE}' line in -X importtime output")
    return {"cumulative_us": mine[-1][2], "wall_ms": wall_ms, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--target-ms", type=float, default=TARGET_MS)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds allowed per run")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    # One untimed run first: writes/refreshes .pyc files so every measured run is alike.
    one_run(args.timeout)
    runs = []
    for i in range(args.runs):
        run = one_run(args.timeout)
        runs.append(run)
        print(f"  run {i + 1:2d}/{args.runs}: {run['cumulative_us'] / 1000:7.1f} ms", flush=True)

    values_ms = sorted(r["cumulative_us"] / 1000 for r in runs)
    median_ms = statistics.median(values_ms)
    # The run closest to the median represents the "typical" breakdown.
    median_run = min(runs, key=lambda r: abs(r["cumulative_us"] / 1000 - median_ms))
    rows = median_run["rows"]
    # A module may show up more than once (nested partial imports): keep its largest figure.
    cumulative: dict[str, int] = {}
    self_time: dict[str, int] = {}
    for name, self_us, cumulative_us, _depth in rows:
        cumulative[name] = max(cumulative.get(name, 0), cumulative_us)
        self_time[name] = max(self_time.get(name, 0), self_us)
    top = sorted(((n, us) for n, us in cumulative.items() if n != MODULE), key=lambda x: -x[1])[:10]
    top_self = sorted(self_time.items(), key=lambda x: -x[1])[:10]
    # What function_app's own imports cost: its direct children (depth 1) in the median run.
    # Children are printed before their parent, after the previous top-level module.
    end = max(i for i, r in enumerate(rows) if r[0] == MODULE)
    start = max((i for i in range(end) if rows[i][3] == 0), default=-1) + 1
    children = sorted(((n, c) for n, _s, c, d in rows[start:end] if d == 1), key=lambda x: -x[1])
    imported = {name for name, *_ in rows}
    heavy = {name: any(m == name or m.startswith(name + ".") for m in imported) for name in MUST_STAY_LAZY}
    heavy_loaded = sorted(name for name, present in heavy.items() if present)
    passed = median_ms <= args.target_ms

    result = {
        "benchmark": "import_time",
        "module": MODULE,
        "python": sys.version.split()[0],
        "runs": args.runs,
        "median_ms": round(median_ms, 1),
        "min_ms": round(values_ms[0], 1),
        "max_ms": round(values_ms[-1], 1),
        "all_ms": [round(v, 1) for v in values_ms],
        "median_process_wall_ms": round(statistics.median(r["wall_ms"] for r in runs), 1),
        "modules_imported": len(imported),
        "top_cumulative_ms": [{"module": n, "ms": round(us / 1000, 1)} for n, us in top],
        "direct_imports_ms": [{"module": n, "ms": round(us / 1000, 1)} for n, us in children],
        "top_self_ms": [{"module": n, "ms": round(us / 1000, 1)} for n, us in top_self],
        "heavy_sdks_imported": heavy_loaded,
        "heavy_sdks_lazy": not heavy_loaded,
        "target_ms": args.target_ms,
        "pass": passed and not heavy_loaded,
    }

    print(f"\nimport {MODULE} ({args.runs} runs, python {result['python']}):")
    print(f"  cumulative: median {result['median_ms']} ms, min {result['min_ms']} ms, max {result['max_ms']} ms"
          f"  (whole process, median: {result['median_process_wall_ms']} ms)")
    print(f"  modules imported: {result['modules_imported']}")
    print("  top 10 by cumulative time (median run):")
    for item in result["top_cumulative_ms"]:
        print(f"    {item['ms']:8.1f} ms  {item['module']}")
    print("  function_app's direct imports (cumulative, median run):")
    for item in result["direct_imports_ms"]:
        print(f"    {item['ms']:8.1f} ms  {item['module']}")
    print("  top 10 by self time (median run):")
    for item in result["top_self_ms"]:
        print(f"    {item['ms']:8.1f} ms  {item['module']}")
    print(f"  heavy SDKs imported: {', '.join(heavy_loaded) if heavy_loaded else 'none'}"
          f" ({'OK, lazy' if not heavy_loaded else 'FAIL: must stay lazy'})")
    print(f"  target: median <= {args.target_ms:g} ms -> {'PASS' if passed else 'FAIL'}")
    print(f"  overall: {'PASS' if result['pass'] else 'FAIL'}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "import_time.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(f"  written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
