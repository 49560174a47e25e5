"""A local HTTPS server that speaks the App Configuration key-value calls of
``sendsecure/adapters/appconfig.py`` (there is no App Configuration emulator to install here).

- ``GET /kv?key=<prefix>*``: the key-values whose key starts with the prefix, one page;
- ``DELETE /kv/{key}``: 200 with the deleted key-value, 204 when there was none.

Every request needs ``api-version`` and ``Authorization: Bearer <token>`` (401 otherwise).
``mode = "unavailable"`` answers 503 after authentication. 127.0.0.1 only, with a certificate
from the test's trustme CA; the real azure-appconfiguration client talks to it.
"""
from __future__ import annotations

import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import trustme


class FakeAppConfig:
    def __init__(self, token: str = "token") -> None:
        self.token = token
        self.items: dict[str, dict[str, Any]] = {}
        self.mode = ""
        self.seen: list[tuple[str, str]] = []
        self._server: ThreadingHTTPServer | None = None

    def put(self, key: str, value: str, content_type: str = "application/json") -> None:
        """What ``infra/tenant.bicep``'s key-value resource writes."""
        self.items[key] = {"key": key, "label": None, "value": value, "content_type": content_type,
                           "etag": f"e{len(self.items)}", "locked": False, "tags": {},
                           "last_modified": "2026-12-01T10:00:00+00:00"}

    @property
    def endpoint(self) -> str:
        assert self._server is not None
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def start(self, ca: trustme.CA) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.microsoft.appconfig.kvset+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _guard(self) -> dict[str, list[str]] | None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                fake.seen.append((self.command, self.path))
                if "api-version" not in query:
                    self._answer(400, {"title": "api-version is required"})
                    return None
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._answer(401, {"title": "Unauthorized"})
                    return None
                if fake.mode == "unavailable":
                    self._answer(503, {"title": "Service Unavailable"})
                    return None
                return query

            def do_GET(self) -> None:
                query = self._guard()
                if query is None:
                    return
                if urlsplit(self.path).path != "/kv":
                    self._answer(404, {"title": "Not Found"})
                    return
                prefix = query.get("key", ["*"])[0].rstrip("*")
                self._answer(200, {"items": [v for k, v in sorted(fake.items.items()) if k.startswith(prefix)]})

            def do_DELETE(self) -> None:
                if self._guard() is None:
                    return
                key = unquote(urlsplit(self.path).path[len("/kv/"):])
                item = fake.items.pop(key, None)
                if item is None:
                    self._answer(204)
                else:
                    self._answer(200, item)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
