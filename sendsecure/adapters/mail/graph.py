"""Microsoft Graph transport for login-code mail (SPEC A1): ``sendMail`` with an app-only token.

The service's own mailbox (``mail.sender``) sends through ``POST /v1.0/users/{sender}/sendMail``
with a client-credentials token from msal. One ``ConfidentialClientApplication`` per transport,
built on first use (msal fetches the tenant's OpenID configuration then) and kept, so msal's
in-memory cache reuses the token until shortly before it expires. msal and requests are imported
lazily to keep the app's import time down.

Every failure (network, timeout, token refused, Graph 4xx/5xx) becomes ``DependencyUnavailable``;
429/503 pass Graph's ``Retry-After`` on. Logs carry exception type names and status codes only.
"""
from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sendsecure.adapters.mail import OutgoingMail
from sendsecure.errors import DependencyUnavailable, retry_after_seconds

if TYPE_CHECKING:
    import msal
    import requests

logger = logging.getLogger(__name__)

_OAUTH_ERROR_RE = re.compile(r"[a-z_]{1,64}")  # OAuth error codes are a fixed vocabulary


class GraphTransport:
    def __init__(
        self,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        authority_host: str = "https://login.microsoftonline.com",
        graph_base_url: str = "https://graph.microsoft.com",
        timeout: float = 10,
        ca_bundle: str | None = None,
    ) -> None:
        self._tenant_id = tenant_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority = f"{authority_host.rstrip('/')}/{tenant_id}"
        self._graph_base_url = graph_base_url.rstrip("/")
        self._timeout = timeout
        self._ca_bundle = ca_bundle
        self._lock = threading.Lock()  # guards building the msal application
        self._token_lock = threading.Lock()  # one token request at a time; the others then hit msal's cache
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None

    def __repr__(self) -> str:  # no secret in reprs or tracebacks with locals
        return f"GraphTransport(authority={self._authority!r}, client_id={self._client_id!r})"

    # ----- token ------------------------------------------------------------------------

    def _client(self) -> tuple[msal.ConfidentialClientApplication, requests.Session]:
        """The msal application and HTTP session, built once; a failed build is retried next time."""
        app, session = self._app, self._session
        if app is not None and session is not None:
            return app, session
        with self._lock:
            if self._app is None or self._session is None:
                import msal
                from msal.exceptions import MsalError

                session = _http_session(verify=self._ca_bundle or True, timeout=self._timeout)
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self._client_id,
                        client_credential=self._client_secret,
                        authority=self._authority,
                        http_client=session,
                        # The authority host is configured exactly: no lookup at the public
                        # instance-discovery endpoint (also lets tests use a local authority).
                        instance_discovery=False,
                    )
                except (OSError, ValueError, RuntimeError, MsalError) as error:
                    session.close()
                    logger.warning("Graph mail: token authority unavailable: %s", type(error).__name__)
                    raise DependencyUnavailable("The mail service is unavailable.") from None
                self._session = session
            return self._app, self._session

    def _token(self, app: msal.ConfidentialClientApplication) -> str:
        from msal.exceptions import MsalError

        try:
            with self._token_lock:
                result: dict[str, Any] = app.acquire_token_for_client(scopes=[f"{self._graph_base_url}/.default"])
        except (OSError, ValueError, RuntimeError, MsalError) as error:
            logger.warning("Graph mail: token request failed: %s", type(error).__name__)
            raise DependencyUnavailable("The mail service is unavailable.") from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            code = str(result.get("error", "")) if isinstance(result, dict) else ""
            logger.error("Graph mail: no token (%s)", code if _OAUTH_ERROR_RE.fullmatch(code) else "unknown error")
            raise DependencyUnavailable("The mail service is unavailable.")
        return str(token)

    # ----- sending ----------------------------------------------------------------------

    def send(self, mail: OutgoingMail) -> None:
        app, session = self._client()
        token = self._token(app)
        url = f"{self._graph_base_url}/v1.0/users/{quote(mail.sender, safe='@')}/sendMail"
        body: dict[str, Any] = {
            "message": {
                "subject": mail.subject,
                "body": {"contentType": "HTML", "content": mail.html},
                "toRecipients": [{"emailAddress": {"address": mail.to}}],
            },
            "saveToSentItems": False,
        }
        try:
            response = session.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
        except OSError as error:  # requests' exceptions are OSErrors: refused, reset, timeout, TLS
            logger.warning("Graph mail: sendMail failed: %s", type(error).__name__)
            raise DependencyUnavailable("The mail service is unavailable.") from None
        status = response.status_code
        if status == 202:
            return
        if status == 401:  # the cached token is no longer accepted: fetch a new one next time
            app.remove_tokens_for_client()
        if status == 429 or status >= 500:
            logger.warning("Graph mail: sendMail answered %d", status)
            raise DependencyUnavailable(
                "The mail service is unavailable.", retry_after=retry_after_seconds(response.headers.get("Retry-After"))
            )
        logger.error("Graph mail: sendMail answered %d", status)  # 4xx: permissions, mailbox, request
        raise DependencyUnavailable("The mail service is unavailable.")


def _http_session(*, verify: str | bool, timeout: float) -> requests.Session:
    """A requests session with a default timeout, ``verify`` pinned, and one retry on connect errors."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    class _Session(requests.Session):
        def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            kwargs.setdefault("timeout", timeout)
            # Per request, so REQUESTS_CA_BUNDLE in the environment cannot override ``ca_bundle``.
            kwargs.setdefault("verify", verify)
            return super().request(method, url, *args, **kwargs)

    session = _Session()
    session.verify = verify
    # One retry on a connect error, none after an answer, and never a sleep for a Retry-After inside
    # the call (urllib3 would otherwise wait up to the header's value within a user's request).
    adapter = HTTPAdapter(max_retries=Retry(total=1, connect=1, read=0, status=0, redirect=0,
                                            respect_retry_after_header=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
