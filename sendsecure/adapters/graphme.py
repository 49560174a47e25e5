"""The optional Graph check of an Entra login (SPEC A2, §2.1.3.2): the user's own addresses.

With the user's access token for this API as the assertion, msal's on-behalf-of flow gets a
delegated Graph token (``User.Read``) from the user's own tenant, and
``GET /v1.0/me?$select=mail,userPrincipalName,proxyAddresses`` lists the addresses of that
account, aliases included. One msal ``ConfidentialClientApplication`` per Entra tenant (the
OBO authority is the user's tenant), built on first use and kept: msal caches the Graph token
per assertion. Certificate verification is on (``ca_bundle`` pins the roots; tests point it at
their own certificate).

Every failure (network, timeout, a refused OBO such as missing admin consent, Graph 4xx/5xx)
is ``GraphUnavailable``: the check cannot say yes or no. Logs carry exception type names,
OAuth error codes and status codes only.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from sendsecure.errors import retry_after_seconds

if TYPE_CHECKING:
    import msal
    import requests

logger = logging.getLogger(__name__)

SELECT = "mail,userPrincipalName,proxyAddresses"
_OAUTH_ERROR_RE = re.compile(r"[a-z_]{1,64}")


class GraphUnavailable(Exception):
    def __init__(self, retry_after: int = 5) -> None:
        super().__init__("the Graph check is unavailable")
        self.retry_after = retry_after


class GraphProfiles:
    def __init__(self, *, authority: str, client_id: str, client_secret: str, graph_base_url: str,
                 ca_bundle: str | None = None, timeout: float = 5.0) -> None:
        self._authority = authority.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._graph = graph_base_url.rstrip("/")
        self._verify: str | bool = ca_bundle or True
        self._timeout = timeout
        self._lock = threading.Lock()
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}
        self._session: requests.Session | None = None

    def __repr__(self) -> str:  # no secret in reprs or tracebacks with locals
        return f"GraphProfiles(authority={self._authority!r}, client_id={self._client_id!r})"

    def _app(self, tenant: str) -> tuple[msal.ConfidentialClientApplication, requests.Session]:
        with self._lock:
            if self._session is None:
                from sendsecure.adapters.mail.graph import _http_session

                self._session = _http_session(verify=self._verify, timeout=self._timeout)
            app = self._apps.get(tenant)
            if app is None:
                import msal
                from msal.exceptions import MsalError

                try:
                    app = msal.ConfidentialClientApplication(
                        self._client_id, client_credential=self._client_secret,
                        authority=f"{self._authority}/{tenant}", http_client=self._session,
                        instance_discovery=False)
                except (OSError, ValueError, RuntimeError, MsalError) as error:
                    logger.warning("Entra Graph check: authority unavailable: %s", type(error).__name__)
                    raise GraphUnavailable() from None
                self._apps[tenant] = app
            return app, self._session

    def profile(self, tenant: str, assertion: str) -> dict[str, Any]:
        """The user's ``mail``, ``userPrincipalName`` and ``proxyAddresses`` as Graph has them."""
        from msal.exceptions import MsalError

        app, session = self._app(tenant)
        try:
            result: Any = app.acquire_token_on_behalf_of(user_assertion=assertion,
                                                         scopes=[f"{self._graph}/User.Read"])
        except (OSError, ValueError, RuntimeError, MsalError) as error:
            logger.warning("Entra Graph check: token request failed: %s", type(error).__name__)
            raise GraphUnavailable() from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            code = str(result.get("error", "")) if isinstance(result, dict) else ""
            logger.error("Entra Graph check: no on-behalf-of token (%s); is admin consent given?",
                         code if _OAUTH_ERROR_RE.fullmatch(code) else "unknown error")
            raise GraphUnavailable()
        try:
            answer = session.get(f"{self._graph}/v1.0/me", params={"$select": SELECT},
                                 headers={"Authorization": f"Bearer {token}", "Accept": "application/json"})
        except OSError as error:  # requests' exceptions are OSErrors
            logger.warning("Entra Graph check: /me failed: %s", type(error).__name__)
            raise GraphUnavailable() from None
        if answer.status_code != 200:
            logger.warning("Entra Graph check: /me answered %d", answer.status_code)
            raise GraphUnavailable(retry_after_seconds(answer.headers.get("Retry-After")))
        try:
            data = answer.json()
        except ValueError:
            raise GraphUnavailable() from None
        if not isinstance(data, dict):
            raise GraphUnavailable()
        return data
