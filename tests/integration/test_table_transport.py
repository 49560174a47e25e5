"""The ``http.client`` transport of Table Storage (sendsecure/adapters/transport.py; issue 10,
load): keep-alive reuse, stale and closed connections, timeouts, refusals and TLS, against a
local server on 127.0.0.1 that can be told to misbehave. The Table SDK over this transport
against Azurite is exercised by every integration test that stores anything (test_storage_faults
for the dependency-down paths)."""
from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.rest import HttpRequest
from httpsfake import self_signed_context

from sendsecure.adapters.transport import HttpClientTransport


class Server:
    """HTTP/1.1 on 127.0.0.1: answers every request with 200 and the request's body, keeps the
    connection open unless told otherwise. ``mode``: ``keep`` (keep-alive), ``close_after``
    (answer, then close the socket without saying so), ``say_close`` (``Connection: close``),
    ``silent`` (read the request, never answer), ``hang_up`` (read the request, close),
    ``short_body`` (promise 100 bytes, send 10, close), ``slow_body`` (the head, then silence)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.mode = "keep"
        self.connections = 0
        self.requests: list[bytes] = []
        self._open: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            if self.tls is not None:
                try:
                    sock = self.tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            self.connections += 1
            self._open.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += sock.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.requests.append(head.split(b"\r\n")[0] + b" " + body)
                if self.mode == "silent":
                    time.sleep(5)
                    return
                if self.mode == "hang_up":
                    return
                if self.mode in ("short_body", "slow_body"):
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                                 + (b'{"cut":"sh' if self.mode == "short_body" else b""))
                    if self.mode == "slow_body":
                        time.sleep(5)
                    return
                extra = b"Connection: close\r\n" if self.mode == "say_close" else b""
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body)
                if self.mode in ("close_after", "say_close"):
                    return
        except OSError:
            return
        finally:
            sock.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass


@pytest.fixture
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def _post(transport: HttpClientTransport, port: int, body: bytes = b'{"a":1}', scheme: str = "http", **kwargs):
    return transport.send(HttpRequest("POST", f"{scheme}://127.0.0.1:{port}/t?x=1", content=body,
                                      headers={"Content-Type": "application/json"}), **kwargs)


def test_issue10_transport_answers_and_reuses_one_keep_alive_connection(server: Server) -> None:
    transport = HttpClientTransport(connection_timeout=2, read_timeout=2)
    for n in range(3):
        response = _post(transport, server.port, f'{{"n":{n}}}'.encode())
        assert response.status_code == 200
        assert response.json() == {"n": n}
        assert response.headers["content-type"] == "application/json"
    assert server.connections == 1
    assert server.requests[0].startswith(b"POST /t?x=1 HTTP/1.1 ")
    transport.close()


def test_issue10_transport_replaces_a_pooled_connection_the_server_closed(server: Server) -> None:
    server.mode = "close_after"  # keep-alive promised, then the socket closed (idle timeout)
    transport = HttpClientTransport(connection_timeout=2, read_timeout=2)
    assert _post(transport, server.port).status_code == 200
    time.sleep(0.05)  # let the close arrive; the next call must notice it, not fail
    assert _post(transport, server.port, b'{"b":2}').json() == {"b": 2}
    assert server.connections == 2
    transport.close()


def test_issue10_transport_does_not_reuse_a_connection_the_server_said_it_closes(server: Server) -> None:
    server.mode = "say_close"
    transport = HttpClientTransport(connection_timeout=2, read_timeout=2)
    for _ in range(2):
        assert _post(transport, server.port).status_code == 200
    assert server.connections == 2
    transport.close()


def test_issue10_transport_no_answer_is_a_response_timeout_within_the_read_timeout(server: Server) -> None:
    server.mode = "silent"
    transport = HttpClientTransport(connection_timeout=2, read_timeout=0.3)
    with pytest.raises(ServiceResponseTimeoutError):
        _post(transport, server.port)
    # a per-request deadline (the storage adapter passes one) is honoured the same way
    with pytest.raises(ServiceResponseTimeoutError):
        _post(transport, server.port, read_timeout=0.2)


def test_issue10_transport_a_hang_up_after_the_request_is_a_response_error(server: Server) -> None:
    server.mode = "hang_up"
    transport = HttpClientTransport(connection_timeout=2, read_timeout=2)
    with pytest.raises(ServiceResponseError):
        _post(transport, server.port)


@pytest.mark.parametrize("mode, error", [("short_body", ServiceResponseError),
                                         ("slow_body", ServiceResponseTimeoutError)])
def test_issue10_transport_a_body_cut_short_or_stalled_is_a_response_error(server: Server, mode: str, error) -> None:
    server.mode = mode
    transport = HttpClientTransport(connection_timeout=2, read_timeout=0.3)
    with pytest.raises(error):
        _post(transport, server.port)
    server.mode = "keep"   # the broken connection was not pooled: the next call gets a new one
    assert _post(transport, server.port, b'{"after":1}').json() == {"after": 1}
    assert server.connections == 2


def test_issue10_transport_refused_connection_is_a_request_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, not listening: connecting is refused
        with pytest.raises(ServiceRequestError) as raised:
            _post(HttpClientTransport(connection_timeout=1, read_timeout=1), port)
    assert not isinstance(raised.value, ServiceRequestTimeoutError)


def test_issue10_transport_refuses_options_it_cannot_honour(server: Server) -> None:
    transport = HttpClientTransport()
    with pytest.raises(ValueError):
        _post(transport, server.port, connection_cert="client.pem")
    with pytest.raises(ServiceRequestError):
        transport.send(HttpRequest("GET", "ftp://127.0.0.1/x"))


def test_issue10_transport_verifies_tls_and_accepts_a_trusted_certificate(tmp_path: Path) -> None:
    context, cert = self_signed_context(tmp_path, "table")
    tls_server = Server(tls=context)
    try:
        with pytest.raises(ServiceRequestError):  # not trusted by default
            _post(HttpClientTransport(connection_timeout=2, read_timeout=2), tls_server.port, scheme="https")
        trusting = HttpClientTransport(connection_timeout=2, read_timeout=2, connection_verify=str(cert))
        assert _post(trusting, tls_server.port, b'{"tls":true}', scheme="https").json() == {"tls": True}
        trusting.close()
    finally:
        tls_server.close()
