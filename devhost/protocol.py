"""uvicorn's httptools protocol with a deadline for the request head (development host).

uvicorn times out idle keep-alive connections only after a response; a connection that never
sends a request, or sends its headers a byte at a time, would hold its file descriptor for as
long as the client likes. Here the head (request line and headers) must be complete within
``header_timeout`` seconds of the connection opening or of the request's first byte, else the
connection is closed. The body has its own deadline in the ASGI adapter (408).

It also sends each response in one write: uvicorn writes the head and then the body, two
``send`` calls (and two packets for the client to read) per response; here the head waits for
the body (or the end of the response, or a close) and both go out together.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

logger = logging.getLogger("devhost")
_INTERIM = b"HTTP/1.1 1"  # 100 Continue: sent at once, the client waits for it


class _OneWriteResponse:
    """The transport as a response cycle sees it: the response head is held until the next
    write, the end of the response or a close, and then sent together with it."""

    __slots__ = ("_transport", "_head")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is not None:
            data, self._head = self._head + data, None
        elif data.startswith(b"HTTP/") and not data.startswith(_INTERIM):
            self._head = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...
        return getattr(self._transport, name)


class DeadlineHttpToolsProtocol(HttpToolsProtocol):
    header_timeout: float = 10.0
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_deadline()

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()
        # The cycle's task is created but has not run yet (pipelined ones wait in a queue).
        if self.cycle is not None and not isinstance(self.cycle.transport, _OneWriteResponse):
            self.cycle.transport = _OneWriteResponse(self.transport)  # type: ignore[assignment]

    def on_response_complete(self) -> None:
        cycle = self.cycle
        if cycle is not None and isinstance(cycle.transport, _OneWriteResponse):
            cycle.transport.flush()  # a HEAD answer or an empty one: the head alone
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        if self._head_deadline is None:
            self._head_deadline = self.loop.call_later(self.header_timeout, self._head_expired)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_expired(self) -> None:
        self._head_deadline = None
        if not self.transport.is_closing():
            logger.warning("closed a connection: no complete request head within %g s", self.header_timeout)
            self.transport.close()
