"""Start and stop the development host as a subprocess (by its own pid) for the e2e tier."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from devhost.processes import alive  # noqa: F401  (the e2e tests import it from here)
from devhost.processes import descendants as children  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class DevHost:
    base: str
    outbox: Path
    process: subprocess.Popen

    def url(self, path: str) -> str:
        return self.base + path


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def start_devhost(tmp_path: Path, extra_env: dict[str, str]) -> DevHost:
    from devhost.azurite import free_port

    port = free_port()
    outbox = tmp_path / "outbox"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_", "TABLE_PREFIX", "MAIL_", "LOGIN_"))}
    env.update({"LOG_LEVEL": "warning", "LOCAL_KEY_DIR": str(tmp_path / "keys"),
                "TENANT_DEFINITIONS": str(ROOT / "tests" / "data" / "tenants.json"),
                # the operator settings file in the test's folder, never the repository's .run/operator.env
                "DEVHOST_OPERATOR_ENV": str(tmp_path / "operator.env"), **extra_env})
    log = open(tmp_path / "devhost.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port), "--outbox", str(outbox)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    host = DevHost(f"http://127.0.0.1:{port}", outbox, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("development host exited:\n" + (tmp_path / "devhost.log").read_text())
        try:
            if requests.get(host.url("/api/v1/health"), timeout=5).status_code == 200:
                return host
        except requests.RequestException:  # not listening yet, or too busy to answer in time
            pass
        time.sleep(0.2)
    stop_devhost(host)
    raise RuntimeError("development host did not become healthy within 60 s")


def stop_devhost(host: DevHost) -> int:
    if host.process.poll() is None:
        host.process.send_signal(signal.SIGINT)
        try:
            host.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            host.process.kill()
            host.process.wait(timeout=10)
    return host.process.returncode
