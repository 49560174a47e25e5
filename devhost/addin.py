"""The built Outlook add-in (``addin/dist``, see docs/addin.md) served at ``/addin/`` beside the API,
so ``make run`` is a complete system: the task pane and the event handler call ``/api/v1`` on the
same origin. GET and HEAD of files under the folder only; anything else goes to the app. Every
answer carries the add-in's Content-Security-Policy (docs/addin.md "Content-Security-Policy").
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ADDIN_DIST = Path(__file__).resolve().parent.parent / "addin" / "dist"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".json": "application/json", ".png": "image/png", ".css": "text/css; charset=utf-8",
          ".svg": "image/svg+xml", ".ico": "image/x-icon"}
_HEADERS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]

OFFICE_JS_ORIGIN = "https://appsforoffice.microsoft.com"   # Office.js from Microsoft's CDN (required)
ENTRA_LOGIN_ORIGIN = "https://login.microsoftonline.com"   # MSAL: metadata, tokens, its silent iframe
# The origins Outlook frames the task pane in: Outlook on the web (work and school, both hosts),
# its new address (outlook.cloud.microsoft), Outlook.com, and the new Outlook for Windows (which
# is Outlook on the web in WebView2). Classic Outlook for Windows and Outlook for Mac open the
# pane as the top document, so no ancestor applies there.
OUTLOOK_FRAME_ANCESTORS = ("https://outlook.office.com", "https://outlook.office365.com",
                           "https://outlook.cloud.microsoft", "https://outlook.live.com")


def api_origin(api_base: str) -> str | None:
    """The origin of an absolute ``API_BASE`` (the build setting); None when relative (same origin)."""
    parts = urlsplit(api_base)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else None


def content_security_policy(api_base: str = "/api/v1") -> str:
    """The add-in pages' policy: scripts only from this origin and Office.js's CDN (no inline
    script, no eval); styles inline too (Fluent's Griffel writes style elements, Office.js sets
    inline styles); connections to this origin, the API's and Entra's login; no plugins, no base
    or form targets; framed only by Outlook."""
    other = api_origin(api_base)
    connect = " ".join(["'self'", *([other] if other else []), ENTRA_LOGIN_ORIGIN])
    return "; ".join([
        "default-src 'none'",
        f"script-src 'self' {OFFICE_JS_ORIGIN}",
        "style-src 'self' 'unsafe-inline'",
        f"connect-src {connect}",
        "img-src 'self' data:",
        "font-src 'self'",
        f"frame-src {ENTRA_LOGIN_ORIGIN}",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors " + " ".join(OUTLOOK_FRAME_ANCESTORS),
    ])


class AddinFiles:
    """ASGI: ``prefix/...`` from ``root``, everything else to ``app``."""

    def __init__(self, app: Callable[..., Any], root: Path = ADDIN_DIST, prefix: str = "/addin",
                 api_base: str | None = None) -> None:
        self.app, self.root, self.prefix = app, root.resolve(), prefix.rstrip("/")
        policy = content_security_policy(api_base or os.environ.get("API_BASE") or "/api/v1")
        self.headers = [*_HEADERS, (b"content-security-policy", policy.encode())]

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
            return 405, [(b"allow", b"GET, HEAD"), (b"content-length", b"0"), *self.headers], b""
        name = relative.strip("/") or "taskpane.html"
        target = (self.root / name).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            body = b"Not found" if self.root.is_dir() else \
                b"The add-in is not built: run make run (or npm run build in addin/)."
            return 404, [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                         *self.headers], body
        body = target.read_bytes()
        # HTML and the manifest name the current bundles: always revalidated; bundles may be cached briefly.
        cache = b"no-cache" if target.suffix in (".html", ".json") else b"max-age=300"
        return 200, [(b"content-type", _TYPES.get(target.suffix, "application/octet-stream").encode()),
                     (b"content-length", str(len(body)).encode()), (b"cache-control", cache), *self.headers], body
