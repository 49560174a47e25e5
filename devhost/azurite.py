"""Start and stop Azurite's table service (npm package ``azurite``, in memory, loopback only).

Used by the development run, the test session and the benchmarks. The process is ours: we
start it on a free port, wait until it answers, and stop it by its own process id.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft); not a secret.
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def connection_string(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"TableEndpoint=http://127.0.0.1:{port}/{ACCOUNT};")


class Azurite:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")

    @property
    def connection_string(self) -> str:
        return connection_string(self.port)

    def start(self, timeout: float = 30.0) -> Azurite:
        binary = ROOT / "node_modules" / ".bin" / "azurite-table"
        if not binary.exists():
            raise RuntimeError("Azurite is not installed: run `npm ci` in the project folder (make does this)")
        self.process = subprocess.Popen(
            [str(binary), "--inMemoryPersistence", "--silent", "--disableTelemetry", "--skipApiVersionCheck",
             "--tableHost", "127.0.0.1", "--tablePort", str(self.port)],
            cwd=self._workdir.name, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"Azurite exited at start: {error.strip()[:500]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Azurite did not listen on 127.0.0.1:{self.port} within {timeout} s")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)  # its own process group: node and its children
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self._workdir.cleanup()
