"""Azure App Configuration adapter: where tenant onboarding puts the tenant definitions (SPEC I2).

``infra/tenant.bicep`` deploys one key-value per tenant: key ``tenant.<id>``, no label, content type
``application/json``, the value the tenant's definition (``infra/tenants/<id>.json``, the format of
``sendsecure/core/tenants.py``). The app lists them (the tenant sync, ``sendsecure/tenantstore.py``)
and offboarding deletes one. Nothing of the SDK leaves this module: every failure is
``DependencyUnavailable``. The client is built on first use, with the same bounded transport as
Table Storage and Key Vault.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from sendsecure.errors import DependencyUnavailable

logger = logging.getLogger(__name__)

KEY_PREFIX = "tenant."
CONTENT_TYPE = "application/json"


def key_of(tenant_id: str) -> str:
    return KEY_PREFIX + tenant_id


class TenantConfigSource:
    """The tenant key-values of one App Configuration store."""

    def __init__(self, endpoint: str, credential: Any, *, timeout: float = 5.0, **client_options: Any) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self._timeout = timeout
        self._client_options = client_options
        self._client: Any = None
        self._lock = threading.Lock()

    def _config(self) -> Any:
        with self._lock:
            if self._client is None:
                from azure.appconfiguration import AzureAppConfigurationClient

                from sendsecure.adapters.storage import deadline_transport

                options = dict(self._client_options)
                transport_options = {k: options.pop(k) for k in ("connection_verify",) if k in options}
                self._client = AzureAppConfigurationClient(
                    self._endpoint, self._credential, retry_total=1,
                    transport=deadline_transport(self._timeout, self._timeout, **transport_options), **options)
            return self._client

    def definitions(self) -> list[tuple[str, str]]:
        """``(key, value)`` of every tenant key-value (any label), sorted by key."""
        from azure.core.exceptions import AzureError

        try:
            items = [(s.key, s.value or "") for s in self._config().list_configuration_settings(
                key_filter=KEY_PREFIX + "*")]
        except (AzureError, TimeoutError, ConnectionError) as error:
            raise _unavailable(error, "list") from None
        return sorted(items)

    def remove(self, tenant_id: str) -> bool:
        """Delete the tenant's key-value; False if it was not there."""
        from azure.core.exceptions import AzureError

        try:
            deleted = self._config().delete_configuration_setting(key=key_of(tenant_id))
        except (AzureError, TimeoutError, ConnectionError) as error:
            raise _unavailable(error, "delete") from None
        return deleted is not None

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


def _unavailable(error: Exception, action: str) -> DependencyUnavailable:
    status = getattr(error, "status_code", None)
    logger.error("App Configuration: %s of the tenant definitions failed (%s, status %s)", action,
                 type(error).__name__, status if status is not None else "none")
    return DependencyUnavailable("The tenant configuration store is unavailable.")


def tenant_source_from_settings(endpoint: str, credential: Any, timeout: float) -> TenantConfigSource:
    return TenantConfigSource(endpoint, credential, timeout=timeout)
