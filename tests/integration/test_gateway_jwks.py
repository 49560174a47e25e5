"""Issue 10 item 6, X3: the gateway check's JWKS from a URL (a loopback HTTP server), cached on disk."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sendsecure.core.signing import jwks_document, signing_key_from_seed
from sendsecure.gateway.jwks import JwksSource, KeysUnavailable

OLD = signing_key_from_seed(b"\x01" * 32)
NEW = signing_key_from_seed(b"\x02" * 32)


class KeysServer:
    def __init__(self) -> None:
        self.document: Any = jwks_document([OLD])
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.hits += 1
                body = json.dumps(outer.document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/gateway/keys"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[KeysServer]:
    running = KeysServer()
    yield running
    running.stop()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_x3_jwks_url_is_fetched_once_then_served_from_the_cache(server: KeysServer, tmp_path: Path) -> None:
    clock = Clock()
    source = JwksSource(server.url, cache_dir=tmp_path, clock=clock, max_age=3600, min_refresh=300)
    assert source.keys().kids == (OLD.kid,)
    assert source.keys().kids == (OLD.kid,)
    assert server.hits == 1
    assert source.cache_file is not None and source.cache_file.exists()
    clock.now += 3601
    server.document = jwks_document([NEW, OLD])
    assert source.keys().kids == (NEW.kid, OLD.kid) and server.hits == 2


def test_s3_rotation_unknown_kid_refetches_at_most_every_min_refresh(server: KeysServer, tmp_path: Path) -> None:
    clock = Clock()
    source = JwksSource(server.url, cache_dir=tmp_path, clock=clock, min_refresh=300)
    source.keys()
    server.document = jwks_document([NEW, OLD])
    assert source.refresh().kids == (OLD.kid,) and server.hits == 1    # just fetched: no new fetch
    clock.now += 301
    assert source.refresh().kids == (NEW.kid, OLD.kid) and server.hits == 2


def test_x3_offline_gateway_uses_its_last_copy_however_old(server: KeysServer, tmp_path: Path) -> None:
    clock = Clock()
    JwksSource(server.url, cache_dir=tmp_path, clock=clock).keys()
    server.stop()
    clock.now += 10 * 86400
    assert JwksSource(server.url, cache_dir=tmp_path, clock=clock, timeout=2).keys().kids == (OLD.kid,)
    with pytest.raises(KeysUnavailable):
        JwksSource(server.url, cache_dir=tmp_path / "empty", clock=clock, timeout=2).keys()


def test_x3_a_broken_jwks_answer_keeps_the_last_good_copy(server: KeysServer, tmp_path: Path) -> None:
    clock = Clock()
    source = JwksSource(server.url, cache_dir=tmp_path, clock=clock)
    source.keys()
    server.document = {"keys": [{"kty": "RSA"}]}
    clock.now += 3601
    assert source.keys().kids == (OLD.kid,)
    with pytest.raises(KeysUnavailable):
        JwksSource(server.url, cache_dir=tmp_path / "fresh", clock=clock).keys()


def test_x3_jwks_url_must_be_https_off_the_loopback() -> None:
    with pytest.raises(KeysUnavailable):
        JwksSource("http://keys.example/api/v1/gateway/keys")
    JwksSource("https://keys.example/api/v1/gateway/keys", cache_dir=Path("/nonexistent"))
