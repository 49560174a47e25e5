"""Offline check that the locks are in step with their inputs (run by .ci/run before the tests).

Every pin in requirements.in must be in requirements.txt, every pin of both .in files in
requirements-dev.txt, and the dev lock must hold the runtime lock's versions. A failure means
an .in file was edited without `make lock` (or a lock by hand).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\#]+)")


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        match = PIN.match(line.strip())
        if match:
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def main() -> int:
    runtime_in, dev_in = pins("requirements.in"), pins("requirements-dev.in")
    runtime_lock, dev_lock = pins("requirements.txt"), pins("requirements-dev.txt")
    problems = [
        f"{lock}: {name}=={version} expected, found {found.get(name, 'nothing')}"
        for lock, wanted, found in [
            ("requirements.txt", runtime_in, runtime_lock),
            ("requirements-dev.txt", {**runtime_in, **dev_in, **runtime_lock}, dev_lock),
        ]
        for name, version in sorted(wanted.items())
        if found.get(name) != version
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("The locks are out of step with the .in files: run `make lock` and commit.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
