"""The development host's domain book sources over HTTPS on loopback (issue 13 item 6).

``serve_definition(definition, workdir)`` starts a ``SourceServer`` for the folder of a variant
definition file, with a throw-away certificate authority (``trustme``) whose certificate goes to
``workdir/ca.pem``, and writes ``workdir/variants.json``: the same variants with each ``path``
source turned into its ``https://127.0.0.1:<port>/...`` URL. The host then sets
``DOMAIN_BOOK_SOURCES`` to that file and ``BOOK_SYNC_CA_BUNDLE`` to the CA, and syncs from the
URLs through the real path (conditional requests, TLS verification, the checks).

``SourceServer`` answers ``GET /<name>`` with the bytes of ``files[name]``, an ``ETag`` (a hash
of the bytes) and a ``Last-Modified``, and ``304`` to a matching ``If-None-Match`` (or, without
one, an ``If-Modified-Since`` not older than the file); it counts requests per name. Tests
subclass it to add faults (``before_answer``).
"""
from __future__ import annotations

import hashlib
import json
import ssl
import threading
from collections import Counter
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit


class SourceServer:
    def __init__(self, files: dict[str, bytes] | None = None, *, ca: Any = None) -> None:
        import trustme

        self.ca = ca or trustme.CA()
        self.files: dict[str, bytes] = dict(files or {})
        self.modified: dict[str, datetime] = {name: _now() for name in self.files}
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="book-sources", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{quote(name)}"

    def write_ca(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.ca.cert_pem.write_to_path(str(path))
        return path

    def put(self, name: str, body: bytes) -> None:
        with self.lock:
            if self.files.get(name) != body:
                self.files[name] = body
                self.modified[name] = _now()

    def start(self) -> SourceServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SourceServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def before_answer(self, handler: BaseHTTPRequestHandler, name: str) -> bool:
        """A hook for tests: return True when the request was answered (or dropped) here."""
        return False


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


def _handler(server: SourceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            name = unquote(urlsplit(self.path).path.lstrip("/"))
            with server.lock:
                server.requests[name] += 1
                body, modified = server.files.get(name), server.modified.get(name)
            if server.before_answer(self, name):
                return
            if body is None or modified is None:
                self._answer(404, b"not found\n", {})
                return
            etag = etag_of(body)
            headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
            match = self.headers.get("If-None-Match")
            since = self.headers.get("If-Modified-Since")
            if match is not None:
                unchanged = etag in [tag.strip() for tag in match.split(",")]
            elif since:
                try:
                    unchanged = modified <= parsedate_to_datetime(since)
                except (TypeError, ValueError):
                    unchanged = False
            else:
                unchanged = False
            if unchanged:
                self.send_response(304)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                return
            self._answer(200, body, headers)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve_definition(definition: Path, workdir: Path) -> tuple[SourceServer, Path, Path]:
    """Serve the path sources of ``definition`` over HTTPS; returns (server, the definition with
    URLs, the CA bundle)."""
    data = json.loads(definition.read_text(encoding="utf-8"))
    folder = definition.resolve().parent
    files: dict[str, bytes] = {}
    for body in data.values():
        for source in body.get("sources", []):
            if "path" in source:
                path = (folder / source["path"]).resolve()
                if path.is_relative_to(folder) and path.is_file():
                    name = path.relative_to(folder).as_posix()
                    files[name] = path.read_bytes()
                    source["url"] = name    # made absolute below, once the port is known
                    del source["path"]
                else:
                    source["path"] = str(path)  # outside the folder: read as a file, from anywhere
    server = SourceServer(files).start()
    for body in data.values():
        for source in body.get("sources", []):
            if "url" in source and not source["url"].startswith("https://"):
                source["url"] = server.url(source["url"])
    workdir.mkdir(parents=True, exist_ok=True)
    served = workdir / "variants.json"
    served.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return server, served, server.write_ca(workdir / "ca.pem")
