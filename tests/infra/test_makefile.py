"""The Makefile's commands (README): what `make run` does, read with `make -n` (nothing is run)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def dry_run(*args: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("ADDIN_ORIGIN", "PORT", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**base, **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


def addin_build_line(output: str) -> str:
    (line,) = [line for line in output.splitlines() if "npm run --silent build" in line]
    return line


def test_fresh_clone_8_make_run_builds_the_add_in_for_the_port_it_serves_on():
    assert "ADDIN_ORIGIN='https://localhost:7072'" in addin_build_line(dry_run("run", PORT="7072"))
    assert "PORT=7072" in dry_run("run", PORT="7072")
    assert "ADDIN_ORIGIN='https://localhost:7071'" in addin_build_line(dry_run("run"))


def test_fresh_clone_8_an_add_in_origin_that_is_set_wins():
    line = addin_build_line(dry_run("run", PORT="7072", ADDIN_ORIGIN="https://addin.example"))
    assert "ADDIN_ORIGIN='https://addin.example'" in line
