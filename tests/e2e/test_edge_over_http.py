"""The development host as Azure's front end would be (issue 7 items 2, 5, 8, 13, 20), over real
sockets: client address, headers, body limits, deadlines, unknown methods."""
from __future__ import annotations

import os
import socket
import time

import pytest
import requests
from devhost_process import start_devhost, stop_devhost


@pytest.fixture
def edgehost(azurite, tmp_path):
    """A development host with short deadlines and a per-client issue limit of 2."""
    host = start_devhost(tmp_path, {
        "TABLES_CONNECTION_STRING": azurite.connection_string,
        "TABLE_PREFIX": f"g{os.getpid()}x{time.monotonic_ns() % 10**9}",
        "DEVHOST_BODY_TIMEOUT_SECONDS": "1", "DEVHOST_HEADER_TIMEOUT_SECONDS": "1",
        "LOGIN_ISSUE_LIMIT_PER_CLIENT": "2", "CORS_ALLOWED_ORIGINS": "https://addin.example"})
    yield host
    stop_devhost(host)


def raw_exchange(host, data: bytes, *, then_wait: bool = True) -> bytes:
    """Send ``data`` on a fresh connection and read until the host closes it (10 s at most)."""
    port = int(host.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        if data:
            connection.sendall(data)
        received = b""
        while then_wait:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def test_issue7_item2_a_spoofed_x_forwarded_for_does_not_dodge_the_per_client_limit(edgehost):
    statuses = []
    for number in range(3):
        response = requests.post(edgehost.url("/api/v1/auth/email-code"), timeout=10,
                                 json={"mailbox": f"person{number}@ziekenhuis-a.example"},
                                 headers={"X-Forwarded-For": f"198.51.100.{number + 1}"})
        statuses.append(response.status_code)
    assert statuses == [202, 202, 429]


def test_issue7_item5_security_headers_no_server_banner_and_a_fixed_cors_grant(edgehost):
    for response in (requests.get(edgehost.url("/api/v1/health"), timeout=10),
                     requests.get(edgehost.url("/elsewhere"), timeout=10),           # the host's own 404
                     requests.get(edgehost.url("/api/v1/session"), timeout=10)):
        assert "server" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    preflight = requests.options(edgehost.url("/api/v1/drafts/validate"), timeout=10, headers={
        "Origin": "https://addin.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-evil, content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "https://addin.example"
    assert preflight.headers["access-control-allow-headers"] == \
        "Authorization, Content-Type, Accept-Language, X-Correlation-Id"


def test_issue7_item8_large_bodies_are_refused_by_length_and_never_read_whole(edgehost):
    # Content-Length of 100 MB, nothing sent after the head: answered at once, connection closed.
    head = (b"POST /api/v1/drafts/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n")
    answer = raw_exchange(edgehost, head)
    assert answer.startswith(b"HTTP/1.1 413 ") and b"connection: close" in answer.lower()
    # Chunked, no length: refused once past the cap (1 MiB), while more is still coming.
    port = int(edgehost.base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(b"POST /api/v1/drafts/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b" " * 64 * 1024)
        answer = b""
        try:
            for _ in range(40):  # up to 2.5 MiB offered
                connection.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                data = connection.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]


def test_issue7_item13_a_body_that_never_finishes_is_408_and_an_idle_connection_is_closed(edgehost):
    head = (b"POST /api/v1/auth/email-code HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{\"mailbox\": ")
    answer = raw_exchange(edgehost, head)
    assert answer.startswith(b"HTTP/1.1 408 ") and b"request_timeout" in answer
    # Nothing sent at all, or half a head: the host closes the connection (recv returns b"").
    assert raw_exchange(edgehost, b"") == b""
    assert raw_exchange(edgehost, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n") == b""


def test_issue7_item20_unknown_methods_are_405_on_known_paths(edgehost):
    for method in ("TRACE", "CONNECT", "PROPFIND"):
        response = requests.request(method, edgehost.url("/api/v1/session"), timeout=10)
        assert response.status_code == 405, method
        assert response.headers["allow"] == "DELETE, GET"
        assert response.json()["code"] == "method_not_allowed"
    assert requests.request("TRACE", edgehost.url("/api/v1/nope"), timeout=10).status_code == 404
    patch = requests.patch(edgehost.url("/api/v1/session"), timeout=10)
    assert patch.status_code == 405 and patch.headers["allow"] == "DELETE, GET"
