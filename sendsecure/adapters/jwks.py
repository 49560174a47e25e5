"""Entra ID's signing keys: the authority's OpenID configuration and JWKS, cached per worker.

One ``EntraKeys`` per worker (``runtime.entra_keys``). On first use it reads
``{authority}/organizations/v2.0/.well-known/openid-configuration`` (the issuer template
``https://login.microsoftonline.com/{tenantid}/v2.0`` and ``jwks_uri``) and then the JWKS, both
over HTTPS with certificate verification (``ca_bundle`` pins the trusted roots; a test points it
at its own certificate, nothing turns verification off). PyJWT's ``PyJWKClient`` fetches and
parses the key set (no redirects, a timeout); this class decides when:

- the set is fetched again at least every ``max_age`` seconds (a day: Microsoft's advice), so a
  withdrawn key stops verifying within a day;
- a token naming a key id the set does not hold fetches it again at once (a rotation), but at
  most once per ``min_refresh`` seconds (a minute), so forged key ids cost one fetch a minute;
- a fetch that fails (refused, timeout, TLS, not JSON, no keys) makes every caller that needs a
  fetch answer ``KeysUnavailable`` for ``retry_after`` seconds without trying again (503 with
  Retry-After upstream; never a 401), while a set already held keeps verifying until ``max_age``.

Concurrent callers share one fetch (a lock); ``clock`` is injectable for the tests.
"""
from __future__ import annotations

import json
import logging
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jwt import PyJWK, PyJWKClient, PyJWKSet
from jwt.exceptions import PyJWKClientError, PyJWKError, PyJWKSetError

logger = logging.getLogger(__name__)

DISCOVERY_PATH = "/organizations/v2.0/.well-known/openid-configuration"
MAX_DISCOVERY_BYTES = 256 * 1024


class KeysUnavailable(Exception):
    """The authority's keys cannot be fetched now; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the Entra signing keys are unavailable")
        self.retry_after = retry_after


class UnknownKey(Exception):
    """The token names a key the authority does not publish (after a refresh, or within the
    minute after the last one)."""


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Certificate and host name verification on; roots from ``ca_bundle`` or certifi's."""
    if not ca_bundle:
        import certifi

        ca_bundle = certifi.where()
    return ssl.create_default_context(cafile=ca_bundle)


@dataclass(frozen=True)
class Discovery:
    issuer_template: str
    jwks_uri: str


class EntraKeys:
    def __init__(self, authority: str, *, ca_bundle: str | None = None, timeout: float = 5.0,
                 max_age: float = 86400.0, min_refresh: float = 60.0, retry_after: int = 10,
                 clock: Callable[[], float] = time.monotonic) -> None:
        parts = urllib.parse.urlsplit(authority)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("the Entra authority must be an https URL")
        self.authority = authority.rstrip("/")
        self.timeout = timeout
        self.max_age = max_age
        self.min_refresh = min_refresh
        self.retry_after = retry_after
        self.clock = clock
        self._context = tls_context(ca_bundle)
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._client: PyJWKClient | None = None
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None     # the last successful fetch of the set
        self._failed_at: float | None = None      # the last failed fetch
        self.fetches = 0                           # successful and failed, for tests and benchmarks

    # ----- what the service asks --------------------------------------------------------

    def issuer_template(self) -> str:
        self._ensure_fresh()
        assert self._discovery is not None
        return self._discovery.issuer_template

    def key(self, kid: str) -> PyJWK:
        """The RSA signing key ``kid`` names: ``UnknownKey`` or ``KeysUnavailable`` otherwise."""
        self._ensure_fresh()
        found = self._keys.get(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._keys.get(kid)
            if found is not None:  # another request fetched it meanwhile
                return found
            assert self._fetched_at is not None
            if self.clock() - self._fetched_at < self.min_refresh:
                raise UnknownKey(kid)
            self._fetch_locked()
        found = self._keys.get(kid)
        if found is None:
            raise UnknownKey(kid)
        return found

    # ----- fetching ---------------------------------------------------------------------

    def _ensure_fresh(self) -> None:
        fetched_at = self._fetched_at
        if fetched_at is not None and self.clock() - fetched_at < self.max_age:
            return
        with self._lock:
            fetched_at = self._fetched_at
            if fetched_at is not None and self.clock() - fetched_at < self.max_age:
                return
            self._fetch_locked()

    def _fetch_locked(self) -> None:
        now = self.clock()
        if self._failed_at is not None and now - self._failed_at < self.retry_after:
            raise KeysUnavailable(max(1, int(self.retry_after - (now - self._failed_at)) + 1))
        self.fetches += 1
        try:
            discovery = self._discovery if self._discovery is not None and self._fetched_at is not None \
                and now - self._fetched_at < self.max_age else self._discover()
            client = self._client if self._client is not None and self._client.uri == discovery.jwks_uri \
                else PyJWKClient(discovery.jwks_uri, cache_jwk_set=False, timeout=self.timeout,
                                 ssl_context=self._context, headers={"Accept": "application/json"})
            key_set = client.get_jwk_set(refresh=True)
            keys = _rsa_signing_keys(key_set)
        except (OSError, ValueError, PyJWKError, PyJWKClientError, PyJWKSetError) as error:
            self._failed_at = self.clock()
            logger.warning("Entra keys: fetch failed (%s)", type(error).__name__)
            raise KeysUnavailable(self.retry_after) from None
        self._discovery, self._client, self._keys = discovery, client, keys
        self._fetched_at, self._failed_at = self.clock(), None
        logger.info("Entra keys: %d signing keys fetched", len(keys))

    def _discover(self) -> Discovery:
        request = urllib.request.Request(self.authority + DISCOVERY_PATH, headers={"Accept": "application/json"})
        opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=self._context))
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                raw = answer.read(MAX_DISCOVERY_BYTES + 1)
        except urllib.error.HTTPError as error:
            error.close()
            raise ValueError(f"OpenID configuration answered {error.code}") from None
        if len(raw) > MAX_DISCOVERY_BYTES:
            raise ValueError("OpenID configuration too large")
        data: Any = json.loads(raw)
        issuer = data.get("issuer") if isinstance(data, dict) else None
        jwks_uri = data.get("jwks_uri") if isinstance(data, dict) else None
        if not isinstance(issuer, str) or "{tenantid}" not in issuer or not isinstance(jwks_uri, str):
            raise ValueError("OpenID configuration without an issuer template or jwks_uri")
        if urllib.parse.urlsplit(jwks_uri).scheme != "https":
            raise ValueError("jwks_uri is not https")
        return Discovery(issuer_template=issuer, jwks_uri=jwks_uri)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def _rsa_signing_keys(key_set: PyJWKSet) -> dict[str, PyJWK]:
    keys = {key.key_id: key for key in key_set.keys
            if key.key_id and key.key_type == "RSA" and key.public_key_use in ("sig", None)}
    if not keys:
        raise ValueError("the JWKS holds no RSA signing key")
    return keys
