"""Issue 10 item 6 (S9): the reference check's envelope fetch against a loopback HTTP server:
the credential goes in the Authorization header, and each answer maps to deliver, reject or defer."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sendsecure.gateway.check import Rejected
from sendsecure.gateway.fetch import EnvelopeClient, EnvelopeUnavailable

CREDENTIAL = "ssc_gateway.a." + "A" * 43


class Api:
    def __init__(self) -> None:
        self.status = 200
        self.body: Any = {"envelope_id": "e", "tenant_id": "t", "revoked": False, "revoked_at": None,
                          "record": {"envelope_id": "e"},
                          "phones": [{"address": "p@x.example", "phone": "+31612345678"}]}
        self.seen: list[tuple[str, str]] = []
        self.extra_headers: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.seen.append((self.path, self.headers.get("Authorization", "")))
                raw = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in outer.extra_headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def api() -> Iterator[Api]:
    running = Api()
    yield running
    running.stop()


def test_issue10_item6_fetch_sends_the_credential_and_keeps_phones_outside_the_record(api: Api) -> None:
    client = EnvelopeClient(api.url, CREDENTIAL)
    assert client.keys_url == api.url + "/gateway/keys"
    assert client.record("abc/..") == {"envelope_id": "e"}
    assert api.seen == [("/api/v1/gateway/envelopes/abc%2F..", f"Bearer {CREDENTIAL}")]
    assert client.phones == {"p@x.example": "+31612345678"}


@pytest.mark.parametrize(("status", "body", "outcome"), [
    (404, {}, "envelope_unknown"), (200, "revoked", "revoked"), (401, {}, "defer"), (403, {}, "defer"),
    (503, {}, "defer"), (200, {"no": "envelope"}, "defer"),
])
def test_issue10_item6_fetch_answers_map_to_reject_or_defer(api: Api, status: int, body: Any, outcome: str) -> None:
    api.status = status
    if body == "revoked":
        api.body = {**api.body, "revoked": True, "revoked_at": "2026-12-01T10:00:00Z", "phones": []}
    elif body:
        api.body = body
    client = EnvelopeClient(api.url, CREDENTIAL)
    if outcome == "defer":
        with pytest.raises(EnvelopeUnavailable):
            client.record("e")
    else:
        with pytest.raises(Rejected) as rejected:
            client.record("e")
        assert rejected.value.reason == outcome


def test_issue10_item6_fetch_refuses_plain_http_off_the_loopback_and_a_dead_host_defers() -> None:
    with pytest.raises(ValueError):
        EnvelopeClient("http://gateway.example/api/v1", CREDENTIAL)
    with pytest.raises(EnvelopeUnavailable):
        EnvelopeClient("http://127.0.0.1:1/api/v1", CREDENTIAL, timeout=2).record("e")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_s9_a_redirect_is_not_followed_and_the_credential_goes_nowhere_else(status: int) -> None:
    """The scheme is checked on --api only; a redirect (to another host, or to http) would carry the
    gateway's credential along: the fetch defers instead."""
    first, elsewhere = Api(), Api()
    try:
        first.status = status
        first.extra_headers["Location"] = elsewhere.url + "/gateway/envelopes/e"
        with pytest.raises(EnvelopeUnavailable, match="redirect"):
            EnvelopeClient(first.url, CREDENTIAL).record("e")
        assert len(first.seen) == 1 and elsewhere.seen == []
    finally:
        first.stop()
        elsewhere.stop()
