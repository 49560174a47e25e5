"""Fetching a domain book source over HTTPS (SPEC D1; docs/domain-book-sync.md "Fetching").

One client library, ``requests`` (already pinned for Graph), one ``Session`` per fetcher:

- TLS verification is always on: ``ca_bundle`` names a PEM file of the authorities to trust (the
  development host's throw-away CA, a test's), empty means the ``certifi`` bundle. There is no
  switch to turn it off.
- Conditional requests: the ``ETag`` and ``Last-Modified`` of the last good answer go out as
  ``If-None-Match`` / ``If-Modified-Since``; ``304`` is ``unchanged`` (one request, no body).
- Bounds: ``timeout`` is each attempt's whole budget (connect, head and body), checked between
  reads, with the socket's own timeout as the bound of one read; ``max_bytes`` caps the decoded
  body (a ``Content-Length`` above it is refused before reading).
- Retries: at most ``attempts`` attempts for what may pass (no answer, a reset, a truncated body,
  a timeout, 408, 429, 5xx), waiting ``backoff * 2**n`` (with jitter; a server's ``Retry-After``
  up to 60 s) in between. Anything else (404, 403, a redirect to ``http://``, too large, an address
  that cannot be used) fails at once. Redirects (at most 3) are followed by hand, and only to
  ``https://`` on the same host and port as the source's address: a source taken over must not
  point the sync at another (internal) HTTPS service; a redirect elsewhere fails the source at once.
- The caller's deadline (``time_left``, the sync's run): no attempt starts after it, an attempt's
  budget is at most what is left, and no wait is begun that would end past it; the source then
  fails as transient (``the run's deadline``).
- Whatever ``requests`` or ``urllib3`` raise becomes a ``SourceFetchError``: a malformed address (a
  redirect's ``Location`` such as ``https://[::1``, a host label over 63 characters, a port out of
  range) fails at once, anything else may pass and is retried. One source's trouble never ends
  the sync.

Nothing here logs a body; errors name the host and the reason only. urllib3 logs each request
line at DEBUG, query included (a source's SAS token): a filter on its logger cuts the query off.
"""
from __future__ import annotations

import http.client
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from sendsecure.errors import ascii_number

logger = logging.getLogger(__name__)

TRANSIENT_STATUS = frozenset((408, 425, 429, 500, 502, 503, 504))
MAX_REDIRECTS = 3
READ_SIZE = 65536
MAX_RETRY_AFTER = 60.0


class SourceFetchError(Exception):
    """A source could not be fetched; ``reason`` is safe to log and to report."""

    def __init__(self, reason: str, *, transient: bool = False, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient
        self.retry_after = retry_after      # the server's Retry-After (seconds), if it sent one
        self.requests = 0                   # HTTP requests made before giving up


@dataclass(frozen=True)
class Fetched:
    """The answer: ``body`` is ``None`` when the source is unchanged (304)."""

    body: bytes | None
    etag: str
    last_modified: str
    requests: int          # HTTP requests made, retries and redirects included

    @property
    def unchanged(self) -> bool:
        return self.body is None


class _WithoutQueries(logging.Filter):
    """urllib3's request lines (DEBUG) and retry warnings carry the request's path with its query,
    which may hold a source's token (review F1): the query is replaced by ``?...``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.split("?", 1)[0] + "?..." if isinstance(arg, str) and "?" in arg else arg
                                for arg in record.args)
        return True


_WITHOUT_QUERIES = _WithoutQueries()


class SourceFetcher:
    def __init__(self, *, ca_bundle: str = "", timeout: float = 30.0, max_bytes: int = 32 * 1024 * 1024,
                 attempts: int = 3, backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> None:
        import requests

        self.timeout = timeout
        self.max_bytes = max_bytes
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self._sleep = sleep
        self._verify: str | bool = ca_bundle or True
        self._session = requests.Session()
        self._session.trust_env = False          # no proxy or .netrc from the environment
        self._session.headers["User-Agent"] = "sendsecure-booksync"
        self._session.headers["Accept-Encoding"] = "gzip"
        logging.getLogger("urllib3.connectionpool").addFilter(_WITHOUT_QUERIES)   # once: same object

    def fetch(self, url: str, etag: str = "", last_modified: str = "", *,
              time_left: Callable[[], float] | None = None) -> Fetched:
        """``url`` fetched (conditionally when validators are given); ``time_left`` answers the seconds
        left before the caller's deadline. ``SourceFetchError`` when it cannot be had."""
        host = _host(url)
        left = time_left or _unbounded
        requests_made = 0
        last: SourceFetchError | None = None
        for attempt in range(self.attempts):
            if last is not None:
                delay = self.backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)
                if last.retry_after is not None:
                    delay = max(delay, last.retry_after)
                if delay >= left():
                    last = SourceFetchError(f"{last.reason}; no time for another attempt before the run's deadline",
                                            transient=True)
                    break
                self._sleep(delay)
            budget = min(self.timeout, left())
            if budget <= 0:
                last = SourceFetchError("not fetched: the run's deadline had passed", transient=True)
                break
            try:
                fetched, made = self._attempt(url, etag, last_modified, budget)
                return Fetched(fetched.body, fetched.etag, fetched.last_modified, requests_made + made)
            except _Failed as failed:
                requests_made += failed.requests
                last = failed.error
                if not failed.error.transient:
                    break
                logger.info("book source at %s: attempt %d failed (%s)", host, attempt + 1, failed.error.reason)
        assert last is not None
        error = SourceFetchError(f"{host}: {last.reason}", transient=last.transient)
        error.requests = requests_made
        raise error from None

    # ----- one attempt ------------------------------------------------------------------

    def _attempt(self, url: str, etag: str, last_modified: str, timeout: float) -> tuple[Fetched, int]:
        import requests
        import urllib3.exceptions

        started = time.monotonic()
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        made = 0
        origin = _origin(url)
        for _hop in range(MAX_REDIRECTS + 1):
            if not url.startswith("https://"):
                raise _Failed(SourceFetchError("a redirect to a non-https address"), made)
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise _Failed(SourceFetchError("timed out", transient=True), made)
            made += 1
            try:
                response = self._session.get(url, headers=headers, stream=True, allow_redirects=False,
                                             verify=self._verify, timeout=(min(left, 10.0), min(left, 10.0)))
            except requests.exceptions.SSLError:
                raise _Failed(SourceFetchError("TLS verification failed"), made) from None
            except requests.exceptions.Timeout:
                raise _Failed(SourceFetchError("timed out", transient=True), made) from None
            except ValueError as error:
                # requests' InvalidURL, InvalidSchema, InvalidHeader; urllib3's LocationParseError (a host
                # label over 63 characters, found only when connecting); UnicodeError of the IDNA codec.
                raise _Failed(SourceFetchError(f"an address that cannot be used ({type(error).__name__})"),
                              made) from None
            except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                    OSError) as error:
                raise _Failed(SourceFetchError(f"no answer ({type(error).__name__})", transient=True), made) from None
            with response:
                if response.status_code in (301, 302, 303, 307, 308) and response.headers.get("Location"):
                    try:
                        url = _redirect_target(url, response.headers["Location"])
                    except SourceFetchError as error:
                        raise _Failed(error, made) from None
                    if url.startswith("https://") and _origin(url) != origin:
                        logger.warning("book source at %s redirects to another host, %s: not followed",
                                       origin[0], _host(url))
                        raise _Failed(SourceFetchError("a redirect to another host or port (not followed)"), made)
                    continue
                if response.status_code == 304:
                    return Fetched(None, response.headers.get("ETag", etag),
                                   response.headers.get("Last-Modified", last_modified), made), made
                if response.status_code != 200:
                    raise _Failed(SourceFetchError(
                        f"answered {response.status_code}", transient=response.status_code in TRANSIENT_STATUS,
                        retry_after=_retry_after(response.headers.get("Retry-After"))), made)
                body = self._read(response, started, made, timeout)
                return Fetched(body, response.headers.get("ETag", ""), response.headers.get("Last-Modified", ""),
                               made), made
        raise _Failed(SourceFetchError("too many redirects"), made)

    def _read(self, response: Any, started: float, made: int, timeout: float) -> bytes:
        import requests
        import urllib3.exceptions

        declared = ascii_number(response.headers.get("Content-Length", "").strip())
        if declared is not None and declared > self.max_bytes:
            raise _Failed(SourceFetchError(f"larger than {self.max_bytes} bytes"), made)
        parts: list[bytes] = []
        size = 0
        raw = response.raw
        try:
            while True:
                if time.monotonic() - started > timeout:
                    raise _Failed(SourceFetchError("timed out reading the body", transient=True), made)
                part = raw.read1(READ_SIZE, decode_content=True)
                if not part:
                    break
                size += len(part)
                if size > self.max_bytes:
                    raise _Failed(SourceFetchError(f"larger than {self.max_bytes} bytes"), made)
                parts.append(part)
        except (urllib3.exceptions.HTTPError, requests.exceptions.RequestException, http.client.HTTPException,
                OSError, ValueError) as error:   # ValueError: a read on a connection closed under it
            reason = "the body was cut short" if isinstance(error, urllib3.exceptions.ProtocolError) \
                else f"reading the body failed ({type(error).__name__})"
            raise _Failed(SourceFetchError(reason, transient=True), made) from None
        body = b"".join(parts)
        if declared is not None and len(body) != declared and not response.headers.get("Content-Encoding"):
            raise _Failed(SourceFetchError("the body was cut short", transient=True), made)
        return body


class _Failed(Exception):
    def __init__(self, error: SourceFetchError, requests: int) -> None:
        super().__init__(error.reason)
        self.error, self.requests = error, requests


def _unbounded() -> float:
    return math.inf


def _redirect_target(current: str, location: str) -> str:
    """The absolute address a redirect's ``Location`` names; a malformed one (``https://[::1``, a port
    out of range, no host) fails the source at once instead of raising ``ValueError`` out of the run."""
    try:
        target = urljoin(current, location)
        parts = urlsplit(target)
        if not parts.hostname or parts.port == 0:      # .port raises ValueError when out of range
            raise ValueError(target)
    except ValueError:
        raise SourceFetchError("a redirect to a malformed address") from None
    return target


def _origin(url: str) -> tuple[str, int]:
    """(host, port) of an https address: redirects are followed only where this stays the same."""
    try:
        parts = urlsplit(url)
        return parts.hostname or "", parts.port or 443
    except ValueError:
        return "", 0


def _host(url: str) -> str:
    """The host of ``url`` for a message (never its path, query or user info); "?" when unparsable."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _retry_after(value: str | None) -> float | None:
    seconds = ascii_number((value or "").strip())
    return min(float(seconds), MAX_RETRY_AFTER) if seconds is not None else None
