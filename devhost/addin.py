"""The built Outlook add-in (``addin/dist``, see docs/addin.md) served at ``/addin/`` beside the API,
so ``make run`` is a complete system: the task pane and the event handler call ``/api/v1`` on the
same origin. GET and HEAD of files under the folder only; anything else goes to the app.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

ADDIN_DIST = Path(__file__).resolve().parent.parent / "addin" / "dist"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".json": "application/json", ".png": "image/png", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".ico": "image/x-icon"}
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]


class AddinFiles:
    """ASGI: ``prefix/...`` from ``root``, everything else to ``app``."""

    def __init__(self, app: Callable[..., Any], root: Path = ADDIN_DIST, prefix: str = "/addin") -> None:
        self.app, self.root, self.prefix = app, root.resolve(), prefix.rstrip("/")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            await self.app(scope, receive, send)
            return
        status, headers, body = self.answer(scope["method"].upper(), path[len(self.prefix):])
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"].upper() == "HEAD" else body})

    def answer(self, method: str, relative: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        if method not in ("GET", "HEAD"):
            return 405, [(b"allow", b"GET, HEAD"), (b"content-length", b"0"), *_HEADERS], b""
        name = relative.strip("/") or "taskpane.html"
        target = (self.root / name).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            body = b"Not found" if self.root.is_dir() else \
                b"The add-in is not built: run make run (or npm run build in addin/)."
            return 404, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                         *_HEADERS], body
        body = target.read_bytes()
        # HTML and the manifest name the current bundles: always revalidated; bundles may be cached briefly.
        cache = b"no-cache" if target.suffix in (".html", ".json") else b"max-age=300"
        return 200, [(b"content-type", _TYPES.get(target.suffix, "application/octet-stream").encode()),
                     (b"content-length", str(len(body)).encode()), (b"cache-control", cache), *_HEADERS], body
