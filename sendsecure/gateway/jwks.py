"""The deployment's published keys for the gateway check, from a file or a URL, cached on disk.

A URL (``GET /api/v1/gateway/keys``; https, or http on the loopback for the development host) is
fetched at most every ``max_age`` seconds; a stamp signed by a key the cached copy does not hold
fetches it again (at most every ``min_refresh`` seconds), so a rotation is picked up at once and a
flood of forged key ids costs no more than one fetch per ``min_refresh``. When the URL does not
answer, the last copy is used however old (keys are only ever added or withdrawn, and the check
stays offline); without any copy the answer is ``KeysUnavailable`` (defer the message, not reject).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sendsecure.core.signing import SigningKeyError, VerificationKeys

MAX_BYTES = 1024 * 1024
LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class KeysUnavailable(Exception):
    """No usable copy of the JWKS: the message should be deferred and tried again."""


def is_url(location: str) -> bool:
    return location.startswith(("https://", "http://"))


def _check_url(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in LOOPBACK):
        raise KeysUnavailable("the JWKS URL must be https (http only on the loopback, for development)")


def _parse(raw: bytes) -> VerificationKeys:
    try:
        keys = VerificationKeys.from_jwks(json.loads(raw))
    except (ValueError, SigningKeyError) as exc:
        raise KeysUnavailable(f"the JWKS cannot be read: {exc}") from None
    if not len(keys):
        raise KeysUnavailable("the JWKS holds no usable Ed25519 signing key")
    return keys


class JwksSource:
    def __init__(self, location: str, *, cache_dir: Path | None = None, max_age: float = 3600,
                 min_refresh: float = 300, timeout: float = 5, clock: Callable[[], float] = time.time) -> None:
        self.location = location
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.timeout = timeout
        self.clock = clock
        self.cache_file: Path | None = None
        if is_url(location):
            _check_url(location)
            folder = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sendsecure"
            name = hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]
            self.cache_file = Path(folder) / f"jwks-{name}.json"

    def keys(self) -> VerificationKeys:
        """The keys: the file as it is now, or the cached copy of the URL (fetched when stale)."""
        if self.cache_file is None:
            return self._read_file()
        cached = self._cached()
        if cached is not None and self.clock() - cached[0] < self.max_age:
            return _parse(cached[1])
        return self._fetch(cached)

    def refresh(self) -> VerificationKeys:
        """The keys again, after a stamp named a key id the copy does not hold."""
        if self.cache_file is None:
            return self._read_file()
        cached = self._cached()
        if cached is not None and self.clock() - cached[0] < self.min_refresh:
            return _parse(cached[1])
        return self._fetch(cached)

    def _read_file(self) -> VerificationKeys:
        try:
            return _parse(Path(self.location).read_bytes()[: MAX_BYTES + 1])
        except OSError as exc:
            raise KeysUnavailable(f"the JWKS file cannot be read: {exc.strerror}") from None

    def _cached(self) -> tuple[float, bytes] | None:
        assert self.cache_file is not None
        try:
            data = json.loads(self.cache_file.read_text(encoding="utf-8"))
            return float(data["fetched_at"]), json.dumps(data["jwks"]).encode("utf-8")
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _fetch(self, cached: tuple[float, bytes] | None) -> VerificationKeys:
        assert self.cache_file is not None
        request = urllib.request.Request(self.location, headers={"Accept": "application/json"})
        try:
            with open_url(request, self.timeout) as answer:
                raw = answer.read(MAX_BYTES + 1)
            if len(raw) > MAX_BYTES:
                raise KeysUnavailable("the JWKS is larger than 1 MiB")
            keys = _parse(raw)
        except (urllib.error.URLError, OSError, KeysUnavailable):
            if cached is not None:
                return _parse(cached[1])  # offline: the last copy
            raise KeysUnavailable("the JWKS URL does not answer and no copy is cached") from None
        self._store(raw)
        return keys

    def _store(self, raw: bytes) -> None:
        assert self.cache_file is not None
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"url": self.location, "fetched_at": self.clock(), "jwks": json.loads(raw)})
        handle, temporary = tempfile.mkstemp(dir=self.cache_file.parent, prefix=".jwks-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(temporary, self.cache_file)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: it stays the HTTP error it is. The scheme was checked on the
    configured URL only, and the envelope fetch carries the gateway's credential, which must go
    nowhere else (not to another host, not over http)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def open_url(request: urllib.request.Request, timeout: float) -> Any:
    """``urlopen`` without following redirects (the JWKS and the envelope fetch)."""
    return urllib.request.build_opener(_NoRedirect()).open(request, timeout=timeout)  # noqa: S310 (scheme checked)
