"""The development host with several worker processes (issue 9 item 8): FUNCTIONS_WORKER_PROCESS_COUNT
workers share one socket, each answers with its own app, Azurite and provisioning happen once in
the parent, and SIGINT or SIGTERM leaves no process behind; and (item 7) its HTTP protocol sends
each response in one write."""
from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from devhost_process import ROOT, alive, children, cmdline, start_devhost

MAILBOX = "alice@ziekenhuis-a.example"  # tests/data/tenants.json: e-mail code login


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def log_in(host) -> str:
    response = requests.post(host.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX}, timeout=10)
    assert response.status_code == 202, response.text
    challenge = response.json()["challenge_id"]
    deadline = time.monotonic() + 10
    code = None
    while code is None and time.monotonic() < deadline:
        for mail in host.outbox.glob("*.eml"):
            code = email.message_from_bytes(mail.read_bytes()).get("X-Dev-Login-Code")
        time.sleep(0.05)
    response = requests.post(host.url("/api/v1/auth/email-code/verify"), timeout=10,
                             json={"challenge_id": challenge, "code": code})
    assert response.status_code == 200, response.text
    return response.json()["session_token"]


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_issue9_item8_two_workers_answer_and_stop_with_azurite(tmp_path, stop_signal):
    # No TABLES_CONNECTION_STRING: the devhost starts its own Azurite, so its shutdown is checked too.
    host = start_devhost(tmp_path, {"FUNCTIONS_WORKER_PROCESS_COUNT": "2"})
    parent = host.process.pid
    try:
        processes = children(parent)
        azurites = [pid for pid in processes if "azurite-table" in cmdline(pid) and parent_of(pid) == parent]
        assert len(azurites) == 1  # started once, by the parent, not by each worker

        token = log_in(host)  # the code is issued and verified by whichever workers take the calls
        seen: dict[int, int] = {}
        for _ in range(200):  # a fresh connection each time; the kernel hands them to either worker
            response = requests.get(host.url("/api/v1/session"), headers={"Authorization": f"Bearer {token}",
                                                                          "Connection": "close"}, timeout=10)
            assert response.status_code == 200, response.text
            worker = int(response.headers["X-Devhost-Worker"])
            seen[worker] = seen.get(worker, 0) + 1
            if len(seen) == 2:
                break
        assert len(seen) == 2, f"only worker(s) {sorted(seen)} answered 200 fresh connections"
        for worker in seen:
            assert worker != parent and parent_of(worker) == parent  # worker processes of the devhost
        processes = children(parent)
    finally:
        host.process.send_signal(stop_signal)
        try:
            exit_code = host.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            host.process.kill()
            host.process.wait(timeout=10)
            raise
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in processes) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = sorted(pid for pid in processes if alive(pid))
    for pid in left:  # leave nothing running, whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert left == []
    assert exit_code in (0, 128 + stop_signal, -stop_signal)


@pytest.mark.parametrize("count", ["0", "11", "two"])
def test_issue9_item8_a_worker_count_outside_the_functions_hosts_range_is_refused(count, tmp_path):
    env = {**os.environ, "FUNCTIONS_WORKER_PROCESS_COUNT": count, "LOCAL_KEY_DIR": str(tmp_path / "keys")}
    result = subprocess.run([sys.executable, "-m", "devhost", "--port", "1"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "FUNCTIONS_WORKER_PROCESS_COUNT" in result.stderr


class _Transport:
    """Just enough of an asyncio transport to count what the protocol writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 7071), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
def test_issue9_item7_the_devhost_sends_each_response_in_one_write(method):
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from devhost.protocol import DeadlineHttpToolsProtocol

    async def app(scope, receive, send):
        await receive()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
        await send({"type": "http.response.body", "body": b"hello"})

    async def exchange() -> _Transport:
        config = Config(app=app, http=DeadlineHttpToolsProtocol, lifespan="off", log_level="warning")
        config.load()
        protocol = DeadlineHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        body = b"x=1" if method == "POST" else b""
        protocol.data_received(f"{method} / HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                               + body)
        for _ in range(50):
            if protocol.cycle is not None and protocol.cycle.response_complete:
                break
            await asyncio.sleep(0)
        protocol.connection_lost(None)
        return transport

    transport = asyncio.run(exchange())
    assert len(transport.writes) == 1  # uvicorn alone: the head, then the body
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n" if method == "HEAD" else b"\r\n\r\nhello")


def test_issue9_item7_function_threads_run_at_most_their_size_at_once_and_hand_back_errors():
    import asyncio
    import threading

    from devhost.asgi import FunctionThreads

    pool = FunctionThreads(2)
    running, most = 0, 0
    lock = threading.Lock()
    release = threading.Event()

    def handler(number: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1
        if number == 3:
            raise ValueError("function failed")
        return number * 10

    def two_running() -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with lock:
                if running == 2:
                    return True
            time.sleep(0.01)
        return False

    async def calls() -> list:
        futures = [pool.run(handler, number) for number in range(5)]
        assert await asyncio.to_thread(two_running)  # the other three wait for a thread
        release.set()
        return await asyncio.gather(*futures, return_exceptions=True)

    answers = asyncio.run(calls())
    pool.shutdown()
    assert answers[:3] == [0, 10, 20] and answers[4] == 40
    assert isinstance(answers[3], ValueError)
    assert most == 2  # PYTHON_THREADPOOL_THREAD_COUNT bounds the functions running at once


def test_issue9_item7_a_request_gone_before_its_function_ends_is_no_error():
    import asyncio
    import threading

    from devhost.asgi import FunctionThreads

    pool = FunctionThreads(1)
    started, release = threading.Event(), threading.Event()

    def handler(_: object) -> str:
        started.set()
        release.wait(10)
        return "late"

    async def gone() -> str:
        loop = asyncio.get_running_loop()
        errors: list = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        future = pool.run(handler, None)
        await asyncio.to_thread(started.wait, 10)
        future.cancel()
        release.set()
        # One thread: the next call's outcome comes after the first one's, so both have been settled.
        answer = await pool.run(lambda value: value, "next")
        assert future.cancelled() and errors == []
        return answer

    assert asyncio.run(gone()) == "next"
    pool.shutdown()
