"""A local HTTPS book-source server for the sync's tests (issue 13): the development host's
``SourceServer`` (ETag, Last-Modified, 304, request counts) with faults queued per file name."""
from __future__ import annotations

import socket
import struct
import time
from collections import defaultdict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

from devhost.booksources import SourceServer


class FaultyServer(SourceServer):
    """``faults[name]`` is a queue: each request to ``name`` takes the next fault, if any:
    ``reset`` (connection reset, no answer), ``truncate`` (half the body, then close), ``slow``
    (``slow_seconds`` before the head), ``trickle`` (the body a few bytes at a time), ``500``,
    ``503`` (with Retry-After: 0), ``maintenance`` (503 with Retry-After: 60), ``404``, ``redirect``
    (to itself), ``redirect-http`` and ``location <value>`` (a 302 with that ``Location`` header, as
    it is: malformed, another host). ``on_request(name)``, when set, is called at every request (a
    test advances its clock there: a request that takes that long, without waiting).
    ``etags = False`` drops ETag (Last-Modified only)."""

    def __init__(self, files: dict[str, bytes] | None = None, **kwargs: Any) -> None:
        super().__init__(files, **kwargs)
        self.faults: dict[str, list[str]] = defaultdict(list)
        self.slow_seconds = 3.0
        self.etags = True
        self.on_request: Callable[[str], None] | None = None
        self._server.handle_error = lambda *args: None  # type: ignore[method-assign]  # resets are the point

    def before_answer(self, handler: BaseHTTPRequestHandler, name: str) -> bool:
        if self.on_request is not None:
            self.on_request(name)
        if not self.etags and "If-None-Match" in handler.headers:
            del handler.headers["If-None-Match"]
        queue = self.faults.get(name)
        fault = queue.pop(0) if queue else None
        if fault is None:
            if not self.etags:
                original = handler.send_header

                def send_header(key: str, value: str) -> None:
                    if key != "ETag":
                        original(key, value)

                handler.send_header = send_header  # type: ignore[method-assign]
            return False
        body = self.files.get(name, b"")
        if fault == "reset":
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            return True
        if fault == "slow":
            time.sleep(self.slow_seconds)
            return False
        if fault in ("redirect", "redirect-http"):
            scheme = "https" if fault == "redirect" else "http"
            handler.send_response(302)
            handler.send_header("Location", f"{scheme}://127.0.0.1:{self.port}/{name}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        if fault.startswith("location "):
            handler.send_response(302)
            handler.send_header("Location", fault.split(" ", 1)[1])
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return True
        if fault in ("500", "503", "404", "maintenance"):
            payload = b"error\n"
            handler.send_response(503 if fault == "maintenance" else int(fault))
            handler.send_header("Content-Length", str(len(payload)))
            if fault in ("503", "maintenance"):
                handler.send_header("Retry-After", "60" if fault == "maintenance" else "0")
            handler.end_headers()
            handler.wfile.write(payload)
            return True
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if fault == "truncate":
            handler.wfile.write(body[: len(body) // 2])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return True
        if fault == "trickle":
            try:
                for start in range(0, len(body), 16):
                    handler.wfile.write(body[start:start + 16])
                    handler.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass
            handler.close_connection = True
            return True
        raise AssertionError(f"unknown fault {fault}")
