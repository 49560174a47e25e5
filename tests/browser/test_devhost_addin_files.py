"""Issue 14 item 6: the development host serves the built add-in at /addin/ beside the API (in
process, on a folder made here: needs neither node nor a browser)."""
from __future__ import annotations

import asyncio
from pathlib import Path

from devhost.addin import AddinFiles


def _call(app: AddinFiles, method: str, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path, "headers": []}, receive, send))
    return sent[0]["status"], dict(sent[0].get("headers", [])), sent[1]["body"] if len(sent) > 1 else b""


def _built(tmp_path: Path) -> AddinFiles:
    (tmp_path / "assets").mkdir()
    (tmp_path / "taskpane.html").write_text("<!doctype html><title>pane</title>")
    (tmp_path / "taskpane.js").write_text("console.log(1)")
    (tmp_path / "assets" / "icon-16.png").write_bytes(b"\x89PNG")
    (tmp_path.parent / "secret.txt").write_text("outside")

    async def api(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"api"})

    return AddinFiles(api, tmp_path)


def test_issue14_item6_devhost_serves_the_addin_files_with_their_types(tmp_path):
    app = _built(tmp_path)
    status, headers, body = _call(app, "GET", "/addin/taskpane.html")
    assert (status, headers[b"content-type"]) == (200, b"text/html; charset=utf-8")
    assert headers[b"cache-control"] == b"no-cache"
    assert body.startswith(b"<!doctype html>") and headers[b"x-content-type-options"] == b"nosniff"
    assert _call(app, "GET", "/addin/taskpane.js")[1][b"content-type"] == b"text/javascript; charset=utf-8"
    assert _call(app, "GET", "/addin/assets/icon-16.png")[1][b"content-type"] == b"image/png"
    assert _call(app, "GET", "/addin/")[2].startswith(b"<!doctype html>")  # the task pane by default
    status, _, body = _call(app, "HEAD", "/addin/taskpane.js")
    assert (status, body) == (200, b"")


def test_issue14_item6_devhost_addin_files_stay_inside_their_folder(tmp_path):
    app = _built(tmp_path)
    assert _call(app, "GET", "/addin/../secret.txt")[0] == 404
    assert _call(app, "GET", "/addin/%2e%2e/secret.txt")[0] == 404
    assert _call(app, "GET", "/addin/missing.js")[0] == 404
    assert _call(app, "POST", "/addin/taskpane.html")[0] == 405


def test_issue14_item6_everything_else_goes_to_the_api(tmp_path):
    app = _built(tmp_path)
    assert _call(app, "GET", "/api/v1/health")[:3:2] == (299, b"api")
    assert _call(app, "GET", "/addinx")[0] == 299


def test_issue14_item6_an_unbuilt_addin_says_how_to_build_it(tmp_path):
    app = AddinFiles(lambda *a: None, tmp_path / "dist")
    status, _, body = _call(app, "GET", "/addin/taskpane.html")
    assert status == 404 and b"make run" in body


def _directives(policy: bytes) -> dict[str, list[str]]:
    return {name: rest for name, *rest in (part.split() for part in policy.decode().split(";"))}


def test_issue_addinfix_item3_devhost_addin_pages_carry_the_content_security_policy(tmp_path):
    app = _built(tmp_path)
    policy = _directives(_call(app, "GET", "/addin/taskpane.html")[1][b"content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'", "https://appsforoffice.microsoft.com"]  # no inline script, no eval
    assert policy["connect-src"] == ["'self'", "https://login.microsoftonline.com"]
    assert policy["frame-ancestors"] == ["https://outlook.office.com", "https://outlook.office365.com",
                                         "https://outlook.cloud.microsoft", "https://outlook.live.com"]
    assert policy["object-src"] == policy["base-uri"] == ["'none'"]
    assert b"content-security-policy" in _call(app, "GET", "/addin/missing.js")[1]


def test_issue_addinfix_item3_an_api_on_another_origin_is_allowed_to_connect(tmp_path):
    app = AddinFiles(lambda *a: None, tmp_path, api_base="https://api.sendsecure.example/api/v1")
    (tmp_path / "taskpane.html").write_text("<!doctype html>")
    policy = _directives(_call(app, "GET", "/addin/taskpane.html")[1][b"content-security-policy"])
    assert policy["connect-src"] == ["'self'", "https://api.sendsecure.example", "https://login.microsoftonline.com"]
