"""The development host as a hospital's IT department met it on a fresh clone (review of
2026-12-01): a closed terminal (SIGHUP) or Ctrl-C during the start leaves no Azurite and no
book-sources folder behind; operator commands reach a running host through the settings file it
writes; a busy port is reported before anything starts."""
from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
from devhost_process import ROOT, alive, children, cmdline, start_devhost


def azurite_children(pid: int) -> list[int]:
    return [child for child in children(pid) if "azurite-table" in cmdline(child)]


def wait_for_exit(process: subprocess.Popen, timeout: float = 30) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
        raise


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def settle(pids: set[int] | list[int], timeout: float = 10) -> list[int]:
    """The pids still alive after up to ``timeout`` s; any left are killed (nothing outlives the test)."""
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(pid for pid in pids if alive(pid))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.parametrize("workers", ["1", "2"])
def test_fresh_clone_1_a_closed_terminal_sighup_stops_azurite_and_cleans_up(tmp_path, workers):
    # No TABLES_CONNECTION_STRING: the host starts its own Azurite, as `make run` does.
    host = start_devhost(tmp_path, {"FUNCTIONS_WORKER_PROCESS_COUNT": workers})
    pid = host.process.pid
    sources_dir = ROOT / ".run" / f"booksources-{pid}"
    processes = children(pid)
    azurites = azurite_children(pid)
    try:
        assert len(azurites) == 1 and sources_dir.is_dir()
        host.process.send_signal(signal.SIGHUP)
        exit_code = wait_for_exit(host.process)
    finally:  # whatever happened above, nothing of it keeps running
        stop(host.process)
        left = settle(processes)
    assert left == [], f"left running after SIGHUP (Azurite: {azurites})"
    assert not sources_dir.exists()
    assert not (tmp_path / "operator.env").exists()
    assert exit_code in (0, 128 + signal.SIGTERM, 128 + signal.SIGHUP)


def test_fresh_clone_1_ctrl_c_while_azurite_starts_leaves_nothing_behind(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_", "TABLE_PREFIX", "MAIL_", "LOGIN_"))}
    env.update({"LOG_LEVEL": "info", "LOCAL_KEY_DIR": str(tmp_path / "keys"),
                "TENANT_DEFINITIONS": str(ROOT / "tests" / "data" / "tenants.json"),
                "DEVHOST_OPERATOR_ENV": str(tmp_path / "operator.env")})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "devhost.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port),
                                    "--outbox", str(tmp_path / "outbox")],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    sources_dir = ROOT / ".run" / f"booksources-{process.pid}"
    seen: set[int] = set()
    try:
        # Ctrl-C (SIGINT to the host; Azurite has a session of its own) as soon as Azurite's node
        # process exists, which is well before it listens (over a second on this machine).
        deadline = time.monotonic() + 60
        while not seen and time.monotonic() < deadline and process.poll() is None:
            seen.update(azurite_children(process.pid))
            time.sleep(0.01)
        assert seen, "Azurite was not started:\n" + log.read_text()
        process.send_signal(signal.SIGINT)
        while process.poll() is None and time.monotonic() < deadline:
            seen.update(children(process.pid))
            time.sleep(0.01)
        exit_code = wait_for_exit(process)
    finally:
        seen |= children(process.pid)
        stop(process)
        left = settle(seen)
    assert left == [], "left running after Ctrl-C during the start:\n" + log.read_text()
    assert not sources_dir.exists()
    assert not (tmp_path / "operator.env").exists()
    assert exit_code != 0
    assert "Traceback" not in log.read_text()


def test_fresh_clone_2_operator_commands_run_against_the_host_through_its_settings_file(tmp_path):
    # Its own Azurite on a port nobody was told: the file is the only way to it.
    host = start_devhost(tmp_path, {})
    settings_file = tmp_path / "operator.env"
    try:
        assert stat.S_IMODE(settings_file.stat().st_mode) == 0o600
        # As docs/operations.md says, from a shell that has none of the host's settings.
        command = (f"set -a; . {settings_file}; set +a; "
                   f"exec {sys.executable} -m sendsecure.audit verify --tenant zorg-a")
        result = subprocess.run(["bash", "-c", command], cwd=ROOT, capture_output=True, text=True, timeout=60,
                                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path),
                                     # a machine shared with other test runs: no 503 for a slow Azurite
                                     "STORAGE_TIMEOUT_SECONDS": "30"})
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("intact:"), result.stdout + result.stderr
    finally:
        host.process.send_signal(signal.SIGINT)
        wait_for_exit(host.process)
    assert not settings_file.exists()


def test_fresh_clone_7_a_busy_port_is_reported_before_anything_starts(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TABLES_", "TABLE_PREFIX"))}
    env.update({"LOCAL_KEY_DIR": str(tmp_path / "keys"), "DEVHOST_OPERATOR_ENV": str(tmp_path / "operator.env"),
                "LOG_LEVEL": "info"})
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "devhost", "--port", str(port)], cwd=ROOT, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert f"port {port} is in use; run `PORT={port + 1} make run`" in output
    for started_thing in ("domain book sources on", "Azurite", "tenants loaded"):
        assert started_thing not in output
    assert not (ROOT / ".run" / f"booksources-{process.pid}").exists()
    assert not (tmp_path / "operator.env").exists() and not (tmp_path / "keys").exists()
    assert time.monotonic() - started < 20
