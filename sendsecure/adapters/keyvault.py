"""Azure Key Vault secrets as the key store (SPEC P4, DESIGN "Keys").

Each key name is one Key Vault secret of the same name (a-z, 0-9 and '-' are valid secret names);
each key version is a secret version holding the 32 key bytes in base64, content type
``application/octet-stream;base64``. ``CachedKeyStore`` (``sendsecure.adapters.keys``) does the caching, so
Key Vault sees about one read per worker per key, not one per request.

- ``current``: the latest secret version; created with ``set_secret`` when the secret is absent.
- ``version``: ``get_secret(name, version)``; only 32-hex-digit versions are asked for, so an
  empty or odd version can never mean "the latest" or reach another path.
- ``rotate``: ``set_secret`` (a new version); older versions stay readable.
- ``stable``: the enabled version with the earliest ``created`` time (ties: the smallest version
  string). Key Vault stamps ``created`` in whole seconds, so a version written by a concurrent
  creator in the same second could still join the tie after a first look. When the earliest version
  is younger than ``stable_settle`` seconds the versions are listed again once that time has passed;
  after that no new version can join the earliest second and every worker picks the same one. This
  costs up to ``stable_settle`` seconds once, when the key is created.
- ``destroy``: ``begin_delete_secret(name)``, then wait (at most ``delete_timeout`` seconds, in
  this thread) until the deleted secret can be read, as the poller's ``wait()`` would, then
  ``purge_deleted_secret(name)``. Soft delete is always on in Azure, so without the purge the
  deleted key stays recoverable for the vault's retention period. If the purge is refused with
  403 (the identity lacks the purge permission, or the vault has purge protection) a warning names
  the secret and ``destroy`` still succeeds: the key is deleted for the app, but an administrator
  can recover it until its scheduled purge date, and the name cannot be used again (``current``
  answers 503, Key Vault says 409) until it is purged or recovered. Give the identity the purge
  permission and leave purge protection off on this vault if P4's "destroyed at once" is meant
  literally. ``destroy`` can be repeated after a failure: an already deleted secret goes straight
  to the purge.

Errors: no answer (connection refused, reset, timeout, TLS, the request's deadline), 429 and 5xx become
``KeyStoreUnavailable`` (503) with Key Vault's ``Retry-After`` (default 5 s). Every other refusal
(401/403 for a missing role assignment, 409 for a soft-deleted name, a secret that is not a
256-bit key) is also ``KeyStoreUnavailable`` and logged as an error, since the key store cannot
serve the request either way. Exception texts and logs name the secret and the HTTP status and
Key Vault's error code, never a key, a secret value or a token.

Every attempt is also bounded by the request's deadline (``sendsecure.context.deadline``; the
transport of ``sendsecure.adapters.storage.deadline_transport``), so a vault that accepts
connections but never answers costs an on-send no more than its budget.

The client keeps retries low (one retry on connection errors only, none on slow reads or on
429/5xx, whose Retry-After the SDK would otherwise sleep inside the request) and has short
connection/read timeouts, so a dead vault turns into a 503 within seconds. Do not pass
``logging_enable=True``: the SDK would then log request and response bodies, i.e. keys.

The Azure SDK is imported when the first request is made, not at module import.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sendsecure.adapters.keys import CachedKeyStore, KeyStoreUnavailable, decode_key, encode_key
from sendsecure.errors import DEFAULT_RETRY_AFTER, ConfigurationError, retry_after_seconds

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream;base64"
VERSION_RE = re.compile(r"[0-9a-f]{32}")  # Key Vault secret versions are 32 lowercase hex digits
_ERROR_CODE_RE = re.compile(r"[A-Za-z0-9_.]{1,64}")

# Options for ``SecretClient`` (azure-core pipeline and RequestsTransport); the caller's win.
DEFAULT_CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 1,
    "retry_connect": 1,  # one more try on a refused or reset connection
    "retry_read": 0,  # a read timeout is not sent again (a PUT may have landed)
    "retry_status": 0,  # 429/5xx go to the caller with Retry-After instead of a sleep in here
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 1,
    "connection_timeout": 5,
    "read_timeout": 10,
}


class KeyVaultKeyStore(CachedKeyStore):
    """Keys as Key Vault secrets, one secret per key name, one secret version per key version."""

    def __init__(
        self,
        vault_url: str,
        credential: Any,
        current_ttl: float = 300.0,
        *,
        stable_settle: float = 2.0,
        delete_timeout: float = 60.0,
        **client_options: Any,
    ) -> None:
        """``client_options`` go to ``SecretClient`` on top of ``DEFAULT_CLIENT_OPTIONS``, e.g.
        ``connection_verify`` (a CA bundle), ``verify_challenge_resource`` or ``transport``."""
        super().__init__(current_ttl, **{k: client_options.pop(k) for k in ("verify_ttl", "check_seconds")
                                           if k in client_options})
        if not vault_url.lower().startswith("https://"):
            raise ConfigurationError("the Key Vault URL must start with https://")
        self._vault_url = vault_url
        self._credential = credential
        self._stable_settle = stable_settle
        self._delete_timeout = delete_timeout
        self._client_options = {**DEFAULT_CLIENT_OPTIONS, **client_options}
        self._client: Any = None
        self._client_lock = threading.Lock()

    def _secrets(self) -> Any:
        """The one ``SecretClient`` of this store, built on first use."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    from azure.keyvault.secrets import SecretClient

                    options = dict(self._client_options)
                    if "transport" not in options:  # every attempt bounded by the request's deadline too
                        from sendsecure.adapters.storage import deadline_transport

                        transport_options = {k: options.pop(k) for k in ("connection_verify", "connection_cert")
                                             if k in options}
                        options["transport"] = deadline_transport(
                            options.pop("connection_timeout"), options.pop("read_timeout"), **transport_options)
                    self._client = SecretClient(self._vault_url, self._credential, **options)
                client = self._client
        return client

    def close(self) -> None:
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # ----- CachedKeyStore ------------------------------------------------------------------

    def _read_current(self, name: str) -> tuple[str, bytes] | None:
        from azure.core.exceptions import ResourceNotFoundError

        with _vault_errors("read", name):
            try:
                secret = self._secrets().get_secret(name)
            except ResourceNotFoundError:
                return None
        return _version_of(secret, name), _decode(name, secret.value)

    def _read_version(self, name: str, version: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
            return None
        with _vault_errors("read", name):
            try:
                secret = self._secrets().get_secret(name, version)
            except ResourceNotFoundError:
                return None
        return _decode(name, secret.value)

    def _read_oldest(self, name: str) -> tuple[str, bytes] | None:
        oldest = self._oldest_version(name)
        if oldest is None:
            return None
        created, version = oldest
        wait = created + self._stable_settle - time.time()
        if wait > 0:  # a concurrent creator may still add a version in the same second
            time.sleep(min(wait, self._stable_settle))
            oldest = self._oldest_version(name)
            if oldest is None:
                return None
            version = oldest[1]
        key = self._read_version(name, version)
        return (version, key) if key is not None else None

    def _list_versions(self, name: str) -> list[str]:
        """Key Vault "Get Secret Versions" (``GET /secrets/{name}/versions``, paged): the enabled
        versions, newest first (by creation time; ties by version)."""
        from azure.core.exceptions import ResourceNotFoundError

        listed: list[tuple[float, str]] = []
        with _vault_errors("list", name):
            try:
                for properties in self._secrets().list_properties_of_secret_versions(name):
                    created, version = properties.created_on, properties.version
                    if properties.enabled is False or not version or not VERSION_RE.fullmatch(version):
                        continue
                    listed.append((created.timestamp() if created is not None else 0.0, version))
            except ResourceNotFoundError:
                return []
        return [version for _, version in sorted(listed, reverse=True)]

    def _write_new_version(self, name: str, key: bytes) -> str:
        with _vault_errors("write", name):
            secret = self._secrets().set_secret(name, encode_key(key), content_type=CONTENT_TYPE)
        return _version_of(secret, name)

    def _delete(self, name: str) -> None:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        client = self._secrets()
        with _vault_errors("delete", name):
            try:
                poller = client.begin_delete_secret(name)
            except ResourceNotFoundError:
                poller = None  # never created, or deleted by an earlier destroy that did not purge
            if poller is not None:
                # The poller's own wait() polls in a background thread that outlives a timeout; the
                # same check (GET the deleted secret until it is there) is done here, bounded.
                if poller.result().recovery_id is None:  # a vault without soft delete: nothing to purge
                    return
                self._wait_until_deleted(client, name)
        with _vault_errors("purge", name):
            try:
                client.purge_deleted_secret(name)
            except ResourceNotFoundError:
                pass  # already purged, or it never existed
            except HttpResponseError as error:
                if error.status_code != 403:
                    raise
                logger.warning(
                    "Key Vault refused to purge the deleted secret %s (HTTP 403: no purge permission or purge "
                    "protection); it stays recoverable by an administrator until its scheduled purge date",
                    name,
                )

    # ----- helpers --------------------------------------------------------------------------

    def _wait_until_deleted(self, client: Any, name: str) -> None:
        """Until Key Vault lists the secret as deleted (what ``begin_delete_secret().wait()`` checks)."""
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        deadline = time.monotonic() + self._delete_timeout
        pause = 0.25
        while True:
            try:
                client.get_deleted_secret(name)
                return
            except ResourceNotFoundError:
                pass  # still being deleted
            except HttpResponseError as error:
                if error.status_code == 403:  # no get permission on deleted secrets: as the SDK's poller
                    return
                raise
            if time.monotonic() + pause > deadline:
                logger.warning("Key Vault: secret %s is still being deleted; not purged yet", name)
                raise KeyStoreUnavailable("The key store is still deleting a key.", retry_after=DEFAULT_RETRY_AFTER)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _oldest_version(self, name: str) -> tuple[float, str] | None:
        """(created as a Unix time, version) of the earliest enabled version; ties: smallest version."""
        from azure.core.exceptions import ResourceNotFoundError

        candidates: list[tuple[float, str]] = []
        with _vault_errors("list", name):
            try:
                for properties in self._secrets().list_properties_of_secret_versions(name):
                    created, version = properties.created_on, properties.version
                    if properties.enabled is False or created is None or not version:
                        continue
                    candidates.append((created.timestamp(), version))
            except ResourceNotFoundError:
                return None
        return min(candidates) if candidates else None


@contextmanager
def _vault_errors(action: str, name: str) -> Iterator[None]:
    """Turn every Azure SDK error (and the request's deadline, and a socket's failure) that escapes
    the block into ``KeyStoreUnavailable``."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except (TimeoutError, ConnectionError) as error:  # DeadlineExceeded from the transport included
        logger.warning("Key Vault did not answer (%s of secret %s): %s", action, name, type(error).__name__)
        raise KeyStoreUnavailable("The key store does not answer.", retry_after=DEFAULT_RETRY_AFTER) from None
    except AzureError as error:
        raise _unavailable(error, action, name) from None


def _unavailable(error: Exception, action: str, name: str) -> KeyStoreUnavailable:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(error, (ServiceRequestError, ServiceResponseError)):
        logger.warning("Key Vault did not answer (%s of secret %s): %s", action, name, type(error).__name__)
        return KeyStoreUnavailable("The key store does not answer.", retry_after=DEFAULT_RETRY_AFTER)
    status = error.status_code if isinstance(error, HttpResponseError) else None
    code = getattr(getattr(error, "error", None), "code", None)
    code = code if isinstance(code, str) and _ERROR_CODE_RE.fullmatch(code) else "-"
    if status is not None and (status == 429 or status >= 500):
        response = getattr(error, "response", None)
        retry_after = retry_after_seconds(response.headers.get("Retry-After") if response is not None else None)
        logger.warning("Key Vault answered %d (%s) to %s of secret %s; retry after %d s",
                       status, code, action, name, retry_after)
        return KeyStoreUnavailable("The key store is busy or unavailable.", retry_after=retry_after)
    logger.error("Key Vault refused %s of secret %s: %s %s (%s)", action, name,
                 status if status is not None else "no status", code, type(error).__name__)
    return KeyStoreUnavailable("The key store refused the request.", retry_after=DEFAULT_RETRY_AFTER)


def _version_of(secret: Any, name: str) -> str:
    version = secret.properties.version
    if not isinstance(version, str) or not VERSION_RE.fullmatch(version):
        logger.error("Key Vault returned secret %s without a usable version", name)
        raise KeyStoreUnavailable("The key store gave an unexpected answer.")
    return version


def _decode(name: str, value: str | None) -> bytes:
    try:
        return decode_key(value or "")
    except ValueError:  # binascii.Error included; its text never carries the value
        logger.error("Key Vault secret %s does not hold a 256-bit key in base64", name)
        raise KeyStoreUnavailable("The key store holds an unusable key.") from None


def key_vault_store_from_settings(vault_url: str, managed_identity_client_id: str,
                                  credential_kind: str = "managedidentity") -> KeyVaultKeyStore:
    """The store used in Azure: the Function App's managed identity (user-assigned when a client id
    is given, else system-assigned), or the Azure CLI's login for an operator's command
    (``AZURE_CREDENTIAL``), against the vault at ``vault_url``."""
    from sendsecure.adapters.storage import azure_credential

    return KeyVaultKeyStore(vault_url, azure_credential(credential_kind, managed_identity_client_id))
