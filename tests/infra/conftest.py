"""Shared by the infrastructure tests: a CA for the local App Configuration server, and checkov
run once per session over infra/ (it takes some 20-40 s on this machine)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


@pytest.fixture(scope="session")
def infra_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def infra_ca_bundle(infra_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    infra_ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(scope="session")
def checkov_report() -> list[dict[str, Any]]:
    """checkov's JSON report over infra/ (framework bicep), no skips applied: the tests decide."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("checkov")), "--directory", str(INFRA), "--framework", "bicep",
         "--output", "json", "--quiet", "--compact", "--skip-download", "--no-guide"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(ROOT / ".run"), "BC_SKIP_MAPPING": "TRUE",
             "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false", "LOG_LEVEL": "ERROR"},
    )
    if result.returncode not in (0, 1):
        raise AssertionError(f"checkov did not run: {result.stderr[-2000:]}")
    data = json.loads(result.stdout) if result.stdout.strip() else []
    return data if isinstance(data, list) else [data]
