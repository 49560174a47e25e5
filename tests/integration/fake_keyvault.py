"""A local HTTPS server that speaks the Key Vault secrets REST calls ``KeyVaultKeyStore`` makes.

There is no Key Vault emulator from Microsoft, so the tests run the real azure-keyvault-secrets
client (challenge authentication, paging, the delete poller, error mapping) against this fake:

- ``GET /secrets/{name}`` and ``GET /secrets/{name}/{version}``: the secret bundle, 404
  ``SecretNotFound`` when missing;
- ``PUT /secrets/{name}``: a new version (32 hex digits), 409 while the name is soft-deleted;
- ``GET /secrets/{name}/versions``: the versions without values, in pages of ``page_size`` with a
  ``nextLink`` (sorted by version string, as Key Vault does, not by age); 404 for an unknown name;
- ``DELETE /secrets/{name}``: moves every version to the deleted secrets (soft delete) and
  answers the deleted secret bundle with ``recoveryId``;
- ``GET /deletedsecrets/{name}`` (polled until the deletion is done; 404 while
  ``deletion_pending``) and ``DELETE /deletedsecrets/{name}`` (purge, 204; 403 when
  ``purge_forbidden``; 409 while the deletion is pending).

Every request needs ``api-version``. A request without ``Authorization: Bearer <token>`` gets
Key Vault's 401 challenge; only ``token`` is accepted. ``mode`` switches failures on after
authentication: ``"throttle"`` (429, ``Retry-After: 7``), ``"unavailable"`` (503) or ``"stall"``
(no answer until the test ends). ``stop()`` shuts the server down (a vault that is gone).
Listens on 127.0.0.1 only, with a certificate from the test's trustme CA.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import trustme
from httpsfake import JsonHandler, LocalHttps, trustme_context

TENANT = "00000000-0000-0000-0000-000000000000"
CHALLENGE = f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", resource="https://vault.azure.net"'
RECOVERY_LEVEL = "Recoverable+Purgeable"
RETENTION_DAYS = 90


@dataclass
class StoredVersion:
    version: str
    value: str
    content_type: str | None
    created: int
    enabled: bool = True


@dataclass
class Seen:
    method: str
    path: str
    authorized: bool
    status: int = 0


@dataclass
class FakeKeyVault:
    token: str = field(default_factory=lambda: "kv-token-" + secrets.token_urlsafe(16))
    base_url: str = ""
    secrets: dict[str, list[StoredVersion]] = field(default_factory=dict)  # in order of creation
    deleted: dict[str, tuple[list[StoredVersion], int]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # requests that did not look like the SDK's
    mode: str | None = None  # None | "throttle" | "unavailable" | "stall"
    purge_forbidden: bool = False
    deletion_pending: int = 0  # answer this many GET /deletedsecrets with 404 (deletion in progress)
    page_size: int = 2
    clock: Callable[[], int] = field(default_factory=lambda: (lambda: int(time.time())))
    after_answer: Callable[[str, str], None] | None = None  # (method, path), called with ``lock`` held
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _https: LocalHttps | None = None

    # ----- what tests read --------------------------------------------------------------------

    def request_count(self) -> int:
        with self.lock:
            return len(self.seen)

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every authorized request, in order."""
        with self.lock:
            return [(s.method, s.path) for s in self.seen if s.authorized]

    def versions(self, name: str) -> list[str]:
        with self.lock:
            return [v.version for v in self.secrets.get(name, [])]

    def secret_id(self, name: str, version: str) -> str:
        return f"{self.base_url}/secrets/{name}/{version}"

    # ----- lifecycle --------------------------------------------------------------------------

    def start(self, ca: trustme.CA) -> None:
        self._https = LocalHttps(FakeKeyVaultHandler, trustme_context(ca, "127.0.0.1", "localhost"),
                                 name="fake-keyvault", fake=self)
        self.base_url = self._https.base_url

    def stop(self) -> None:
        """Shut down and close the listening socket; later connections are refused. Idempotent."""
        self.release.set()
        https, self._https = self._https, None
        if https is not None:
            https.stop()


class FakeKeyVaultHandler(JsonHandler):
    fake: FakeKeyVault  # set on a per-server subclass
    # HTTP/1.0: one request per connection, so that stop() leaves no connection a client could reuse.

    # ----- plumbing ---------------------------------------------------------------------------

    def _answer(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self._seen.status = status
        super()._answer(status, body, headers)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._answer(status, {"error": {"code": code, "message": message}}, headers)

    def _handle(self, method: str) -> None:
        fake = self.fake
        body = self._body()
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        authorized = self.headers.get("Authorization") == f"Bearer {fake.token}"
        # get_secret(name) asks for "/secrets/{name}/" (an empty version); Key Vault treats it as "/secrets/{name}".
        path = url.path.rstrip("/") or "/"
        self._seen = Seen(method, path, authorized)
        with fake.lock:
            fake.seen.append(self._seen)
        if not query.get("api-version"):
            fake.problems.append(f"{method} {path} without api-version")
            self._error(400, "BadParameter", "The api-version query parameter is required.")
            return
        if not authorized:
            if self.headers.get("Authorization"):
                fake.problems.append(f"{method} {path} with a token the fake did not issue")
            self._error(401, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.",
                        {"WWW-Authenticate": CHALLENGE})
            return
        if fake.mode == "throttle":
            self._error(429, "Throttled", "Request was not processed because too many requests were received.",
                        {"Retry-After": "7"})
            return
        if fake.mode == "unavailable":
            self._error(503, "ServiceUnavailable", "The service is unavailable.")
            return
        if fake.mode == "stall":
            fake.release.wait(30)
            self._error(503, "ServiceUnavailable", "The service is unavailable.")
            return
        parts = [part for part in path.split("/") if part]
        route = (method, parts[0] if parts else "", len(parts))
        with fake.lock:
            if route == ("GET", "secrets", 2):
                self._get(parts[1], None)
            elif route == ("GET", "secrets", 3) and parts[2] == "versions":
                self._list_versions(parts[1], query)
            elif route == ("GET", "secrets", 3):
                self._get(parts[1], parts[2])
            elif route == ("PUT", "secrets", 2):
                self._put(parts[1], body)
            elif route == ("DELETE", "secrets", 2):
                self._delete(parts[1])
            elif route == ("GET", "deletedsecrets", 2):
                self._get_deleted(parts[1])
            elif route == ("DELETE", "deletedsecrets", 2):
                self._purge(parts[1])
            else:
                fake.problems.append(f"unexpected {method} {path}")
                self._error(404, "NotFound", "No such route in the fake.")
            if fake.after_answer is not None:
                fake.after_answer(method, path)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_POST(self) -> None:
        self._handle("POST")

    # ----- the secrets API (called with fake.lock held) ----------------------------------------

    def _attributes(self, stored: StoredVersion) -> dict[str, Any]:
        return {"enabled": stored.enabled, "created": stored.created, "updated": stored.created,
                "recoveryLevel": RECOVERY_LEVEL, "recoverableDays": RETENTION_DAYS}

    def _bundle(self, name: str, stored: StoredVersion) -> dict[str, Any]:
        bundle = {"value": stored.value, "id": self.fake.secret_id(name, stored.version),
                  "attributes": self._attributes(stored)}
        if stored.content_type is not None:
            bundle["contentType"] = stored.content_type
        return bundle

    def _not_found(self, name: str) -> None:
        self._error(404, "SecretNotFound", f"A secret with (name/id) {name} was not found in this key vault.")

    def _get(self, name: str, version: str | None) -> None:
        versions = self.fake.secrets.get(name, [])
        stored = versions[-1] if versions and version is None else next(
            (v for v in versions if v.version == version), None)
        if stored is None:
            self._not_found(f"{name}/{version}" if version else name)
        elif not stored.enabled:
            self._error(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
        else:
            self._answer(200, self._bundle(name, stored))

    def _put(self, name: str, body: bytes) -> None:
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("value"), str):
            self.fake.problems.append("PUT without a string value")
            self._error(400, "BadParameter", "Property value is required.")
            return
        if name in self.fake.deleted:
            self._answer(409, {"error": {
                "code": "Conflict",
                "message": f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                           "reused; in this state, the secret can only be recovered or purged.",
                "innererror": {"code": "ObjectIsDeletedButRecoverable"}}})
            return
        stored = StoredVersion(secrets.token_hex(16), request["value"], request.get("contentType"), self.fake.clock())
        self.fake.secrets.setdefault(name, []).append(stored)
        self._answer(200, self._bundle(name, stored))

    def _list_versions(self, name: str, query: dict[str, list[str]]) -> None:
        if name not in self.fake.secrets:
            self._not_found(name)
            return
        ordered = sorted(self.fake.secrets[name], key=lambda v: v.version)
        start = int(query.get("$skiptoken", ["0"])[0])
        page = ordered[start:start + self.fake.page_size]
        items = [{"id": self.fake.secret_id(name, v.version), "attributes": self._attributes(v),
                  **({"contentType": v.content_type} if v.content_type else {})} for v in page]
        following = start + self.fake.page_size
        next_link = None
        if following < len(ordered):
            api_version = query["api-version"][0]
            next_link = (f"{self.fake.base_url}/secrets/{quote(name)}/versions?api-version={api_version}"
                         f"&$skiptoken={following}&maxresults={self.fake.page_size}")
        self._answer(200, {"value": items, "nextLink": next_link})

    def _deleted_bundle(self, name: str) -> dict[str, Any]:
        versions, deleted_at = self.fake.deleted[name]
        bundle = self._bundle(name, versions[-1])
        del bundle["value"]  # a deleted secret shows its attributes, not its value
        bundle.update(recoveryId=f"{self.fake.base_url}/deletedsecrets/{name}", deletedDate=deleted_at,
                      scheduledPurgeDate=deleted_at + RETENTION_DAYS * 86400)
        return bundle

    def _delete(self, name: str) -> None:
        versions = self.fake.secrets.pop(name, None)
        if versions is None:
            self._not_found(name)
            return
        self.fake.deleted[name] = (versions, int(time.time()))
        self._answer(200, self._deleted_bundle(name))

    def _get_deleted(self, name: str) -> None:
        if name in self.fake.deleted and self.fake.deletion_pending > 0:
            self.fake.deletion_pending -= 1
            self._error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        elif name not in self.fake.deleted:
            self._error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        else:
            self._answer(200, self._deleted_bundle(name))

    def _purge(self, name: str) -> None:
        if self.fake.purge_forbidden:
            self._error(403, "Forbidden", "Operation purge is not allowed on this vault.")
        elif name in self.fake.deleted and self.fake.deletion_pending > 0:
            self._error(409, "Conflict", f"Secret {name} is currently being deleted.")
        elif self.fake.deleted.pop(name, None) is None:
            self._error(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        else:
            self._answer(204)
