"""An azure-core transport on the standard library's ``http.client``, with a shared pool of
keep-alive connections: Table Storage's HTTP (``storage.table_transport``). Key Vault and App
Configuration keep the SDK's requests transport (``storage.deadline_transport``): off the hot path.

Why not the SDK's default ``RequestsTransport``: under load each Table call spent about 0.65 ms of
the worker's CPU in requests and urllib3 (preparing the request, merging session settings, cookie
handling, header dictionaries, the pool's bookkeeping) around the same ``http.client`` exchange,
about two thirds of a Table call's cost (docs/sending.md "Figures"). This transport sends the
SDK's prepared request as it is and gives back azure-core's own ``RestHttpClientTransportResponse``
(the type azure-core uses for ``http.client`` responses), so the SDK's pipeline (authentication,
retries, error mapping) is unchanged. What it does not do, and the SDK clients here never ask
for: proxies (``trust_env`` was off before too), client certificates, streamed downloads (a
body is read whole; responses here are small), redirects (the SDK's policy handles 3xx).

Failures are azure-core's errors, as the requests transport raised them: a connection that cannot
be made ``ServiceRequestError`` (``ServiceRequestTimeoutError`` when it timed out), a request
sent but not answered, or answered with a body cut short or stalled, ``ServiceResponseError``
(``ServiceResponseTimeoutError``); a connection that failed is closed, never pooled. A pooled
connection the server closed while idle is noticed before use (readable at EOF) and replaced;
one that fails on its first write is retried once on a new connection, as nothing reached the
server.
"""
from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from typing import Any
from urllib.parse import urlsplit

from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse

_Key = tuple[str, str, int]


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """The idle connection's peer closed it (or sent something unasked): do not reuse it."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class HttpClientTransport(HttpTransport):
    """``transport=`` for azure-core clients. ``connection_timeout`` bounds connecting (and TLS),
    ``read_timeout`` each wait for the answer; the pipeline may pass either per request."""

    def __init__(self, *, connection_timeout: float = 10.0, read_timeout: float = 10.0,
                 connection_verify: bool | str = True, pool_size: int = 64) -> None:
        self._connection_timeout = connection_timeout
        self._read_timeout = read_timeout
        self._verify = connection_verify
        self._pool_size = pool_size
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}
        self._lock = threading.Lock()
        self._ssl: ssl.SSLContext | None = None

    # ----- HttpTransport -----------------------------------------------------------------
    def __enter__(self) -> HttpClientTransport:
        return self

    def __exit__(self, *args: Any) -> None:
        self.close()

    def open(self) -> None:
        pass

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def send(self, request: Any, **kwargs: Any) -> Any:
        connect_timeout = kwargs.get("connection_timeout") or self._connection_timeout
        read_timeout = kwargs.get("read_timeout") or self._read_timeout
        if isinstance(connect_timeout, tuple):
            connect_timeout, read_timeout = connect_timeout
        verify = kwargs.get("connection_verify", self._verify)
        if kwargs.get("connection_cert") or kwargs.get("proxies"):
            raise ValueError("HttpClientTransport sends no client certificate and uses no proxy")
        url = urlsplit(request.url)
        scheme = url.scheme.lower()
        if scheme not in ("http", "https") or not url.hostname:
            raise ServiceRequestError(f"cannot send to a {scheme or 'relative'} URL")
        port = url.port or (443 if scheme == "https" else 80)
        key: _Key = (scheme, url.hostname, port)
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        body = _body(request)
        headers = dict(request.headers)
        for attempt in (1, 2):
            connection, reused = self._take(key, connect_timeout, verify)
            try:
                answer = self._exchange(connection, request.method, target, body, headers,
                                        connect_timeout, read_timeout)
            except _NotSent as error:
                connection.close()
                if reused and attempt == 1:
                    continue  # a stale pooled connection: nothing reached the server, try a new one
                raise ServiceRequestError(error.__cause__ or error, error=error.__cause__) from None
            except BaseException:
                connection.close()
                raise
            response = RestHttpClientTransportResponse(request=request, internal_response=answer)
            try:
                response.read()  # the whole body, so the connection can serve the next request
            except TimeoutError as error:
                connection.close()
                raise ServiceResponseTimeoutError(error, error=error) from None
            except (OSError, http.client.HTTPException) as error:  # cut short: IncompleteRead, reset
                connection.close()
                raise ServiceResponseError(error, error=error) from None
            if answer.will_close:
                connection.close()
            else:
                self._give_back(key, connection)
            return response
        raise ServiceRequestError("no connection")  # not reached

    # ----- connections -------------------------------------------------------------------
    def _take(self, key: _Key, connect_timeout: float, verify: Any) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            idle = self._idle.get(key)
            while idle:
                pooled = idle.pop()
                if not _dropped(pooled):
                    return pooled, True
                pooled.close()
        scheme, host, port = key
        connection: http.client.HTTPConnection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout, context=self._context(verify))
        else:
            connection = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        try:
            connection.connect()
        except TimeoutError as error:
            connection.close()
            raise ServiceRequestTimeoutError(error, error=error) from None
        except (OSError, http.client.HTTPException) as error:
            connection.close()
            raise ServiceRequestError(error, error=error) from None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, False

    def _give_back(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < self._pool_size:
                idle.append(connection)
                return
        connection.close()

    def _context(self, verify: Any) -> ssl.SSLContext:
        if verify is True:  # the same trust as the requests transport before: certifi's CA bundle
            if self._ssl is None:
                import certifi

                self._ssl = ssl.create_default_context(cafile=certifi.where())
            return self._ssl
        if verify is False:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=str(verify))

    @staticmethod
    def _exchange(connection: http.client.HTTPConnection, method: str, target: str, body: bytes | None,
                  headers: dict[str, str], connect_timeout: float, read_timeout: float) -> http.client.HTTPResponse:
        try:
            connection.sock.settimeout(connect_timeout)
            connection.request(method, target, body=body, headers=headers)
        except (OSError, http.client.HTTPException) as error:
            raise _NotSent() from error
        try:
            connection.sock.settimeout(read_timeout)
            return connection.getresponse()
        except TimeoutError as error:
            raise ServiceResponseTimeoutError(error, error=error) from None
        except (OSError, http.client.HTTPException) as error:
            raise ServiceResponseError(error, error=error) from None


class _NotSent(Exception):
    """The request could not be written: nothing reached the server."""


def _body(request: Any) -> bytes | None:
    content = getattr(request, "content", None)
    if content is None:
        content = request.data
    if content is None:
        return None
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, (bytes, bytearray)):
        return bytes(content)
    raise ServiceRequestError(f"unsupported request body {type(content).__name__}")
