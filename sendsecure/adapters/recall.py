"""Recall through Microsoft Graph (SPEC S5; docs/sending.md "Revoke, recall and the sender's view").

A copy delivered to a mailbox of the own organisation is found by its Internet message id and
deleted, with an app-only token (msal client credentials) of the tenant's Entra directory:

    GET    /v1.0/users/{mailbox}/messages?$filter=internetMessageId eq '<id@host>'
               &$select=id,internetMessageHeaders
    DELETE /v1.0/users/{mailbox}/messages/{message id}            (each copy of this envelope)

The Internet message id comes from the add-in, not from anything the back end signed, so a copy
is deleted only if it also carries this envelope's ``X-SendSecure-Envelope`` header: an id of
another message (a mistake, or someone revoking one message to delete another from a
colleague's mailbox) finds nothing of ours and deletes nothing.

The app needs the application permission ``Mail.ReadWrite``; an Exchange Online RBAC for
Applications management scope limits it to the tenant's own mailboxes (docs/sending.md).

Outcome per mailbox: ``recalled`` (at least one copy deleted), ``not_found`` (no copy, or the
mailbox does not exist), ``failed`` (anything else: Graph or the token service down, access
refused, throttled past the time budget). Throttling (429, and 503/504 with ``Retry-After``) waits
as Graph asks and tries again, but never past ``max_wait_seconds`` from the start of one call of
``recall``: a request that would have to wait longer gives up at once (``failed``; revoking again
with ``retry_failed`` tries those again). Mailboxes are done a few at a time.

Logs carry status codes and exception type names only: no mailbox, message id or token.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sendsecure.errors import retry_after_seconds

if TYPE_CHECKING:
    import msal
    import requests

logger = logging.getLogger(__name__)

RECALLED, NOT_FOUND, FAILED = "recalled", "not_found", "failed"
THROTTLED = frozenset((429, 503, 504))   # Graph's throttling and busy answers; honour Retry-After
PARALLEL = 4                             # mailboxes at a time (Graph throttles per app and mailbox)
MAX_COPIES = 10                          # copies of one message deleted per mailbox (rules can copy it)


def odata_string(value: str) -> str:
    """An OData string literal: in single quotes, a single quote doubled."""
    return "'" + value.replace("'", "''") + "'"


class GraphRecall:
    def __init__(self, *, client_id: str, client_secret: str,
                 authority_host: str = "https://login.microsoftonline.com",
                 graph_base_url: str = "https://graph.microsoft.com", timeout: float = 10,
                 max_wait_seconds: float = 20, ca_bundle: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self._authority_host = authority_host.rstrip("/")
        self._graph = graph_base_url.rstrip("/")
        self._timeout = timeout
        self._max_wait = max_wait_seconds
        self._ca_bundle = ca_bundle
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._apps: dict[str, msal.ConfidentialClientApplication] = {}   # per Entra tenant
        self._session: requests.Session | None = None

    def __repr__(self) -> str:  # no secret in reprs or tracebacks with locals
        return f"GraphRecall(graph={self._graph!r}, client_id={self._client_id!r})"

    # ----- token ------------------------------------------------------------------------

    def _app(self, entra_tenant_id: str) -> tuple[msal.ConfidentialClientApplication, requests.Session]:
        with self._lock:
            if self._session is None:
                self._session = _http_session(verify=self._ca_bundle or True)
            app = self._apps.get(entra_tenant_id)
            if app is None:
                import msal

                app = msal.ConfidentialClientApplication(
                    self._client_id, client_credential=self._client_secret,
                    authority=f"{self._authority_host}/{entra_tenant_id}", http_client=self._session,
                    timeout=self._timeout,
                    instance_discovery=False)  # the authority host is configured exactly
                self._apps[entra_tenant_id] = app
            return app, self._session

    def _token(self, app: msal.ConfidentialClientApplication) -> str | None:
        from msal.exceptions import MsalError

        try:
            with self._lock:   # one token request at a time; the others then hit msal's cache
                result: dict[str, Any] = app.acquire_token_for_client(scopes=[f"{self._graph}/.default"])
        except (OSError, ValueError, RuntimeError, MsalError) as error:
            logger.warning("Graph recall: token request failed: %s", type(error).__name__)
            return None
        token = result.get("access_token") if isinstance(result, dict) else None
        if not token:
            logger.error("Graph recall: no token (the app registration or its consent is missing)")
            return None
        return str(token)

    # ----- recall -----------------------------------------------------------------------

    def recall(self, entra_tenant_id: str, mailboxes: Sequence[str], internet_message_id: str,
               envelope_id: str) -> dict[str, str]:
        """The outcome per mailbox of removing the copies with this Internet message id that
        carry this envelope's id in their ``X-SendSecure-Envelope`` header."""
        if not mailboxes:
            return {}
        from msal.exceptions import MsalError

        deadline = self._clock() + self._max_wait
        try:
            app, session = self._app(entra_tenant_id)
        except (OSError, ValueError, RuntimeError, MsalError) as error:   # msal reads the authority's configuration
            logger.warning("Graph recall: token authority unavailable: %s", type(error).__name__)
            return dict.fromkeys(mailboxes, FAILED)
        token = self._token(app)
        if token is None:
            return dict.fromkeys(mailboxes, FAILED)
        bearer = [token]
        with ThreadPoolExecutor(min(PARALLEL, len(mailboxes)), thread_name_prefix="recall") as pool:
            outcomes = pool.map(lambda mailbox: self._one(app, session, bearer, mailbox, internet_message_id,
                                                          envelope_id, deadline), mailboxes)
            return dict(zip(mailboxes, outcomes, strict=True))

    def _one(self, app: msal.ConfidentialClientApplication, session: requests.Session, bearer: list[str],
             mailbox: str, internet_message_id: str, envelope_id: str, deadline: float) -> str:
        base = f"{self._graph}/v1.0/users/{quote(mailbox, safe='@')}/messages"
        found = self._call(app, session, bearer, "GET", base, deadline, params={
            "$filter": f"internetMessageId eq {odata_string(internet_message_id)}",
            "$select": "id,internetMessageHeaders", "$top": str(MAX_COPIES)})
        if found is None:
            return FAILED
        if found.status_code == 404:      # no such mailbox: nothing of ours can be in it
            return NOT_FOUND
        if found.status_code != 200:
            logger.warning("Graph recall: search answered %d", found.status_code)
            return FAILED
        try:
            items = found.json().get("value", ())
            ids = [str(item["id"]) for item in items if _envelope_header(item) == envelope_id]
        except (ValueError, KeyError, TypeError, AttributeError):
            logger.warning("Graph recall: search answered something that is not a message list")
            return FAILED
        if len(ids) < len(items):
            logger.warning("Graph recall: %d message(s) with that Internet message id are not this envelope's; "
                           "left alone", len(items) - len(ids))
        deleted = 0
        for message_id in ids:
            answer = self._call(app, session, bearer, "DELETE", f"{base}/{quote(message_id, safe='')}", deadline)
            if answer is None or answer.status_code not in (204, 404):   # 404: deleted meanwhile
                logger.warning("Graph recall: delete answered %s", answer.status_code if answer is not None else "-")
                return FAILED
            deleted += answer.status_code == 204
        return RECALLED if deleted else NOT_FOUND

    def _call(self, app: msal.ConfidentialClientApplication, session: requests.Session, bearer: list[str],
              method: str, url: str, deadline: float, params: dict[str, str] | None = None) -> Any:
        """One Graph call, retried on throttling within the deadline and once with a new token
        after a 401; None when Graph does not answer."""
        renewed = False
        while True:
            left = deadline - self._clock()
            if left <= 0:
                return None
            try:
                response = session.request(method, url, params=params, timeout=min(self._timeout, left),
                                           verify=self._ca_bundle or True,
                                           headers={"Authorization": f"Bearer {bearer[0]}"})
            except OSError as error:   # requests' exceptions are OSErrors: refused, reset, timeout, TLS
                logger.warning("Graph recall: %s failed: %s", method, type(error).__name__)
                return None
            if response.status_code == 401 and not renewed:     # the cached token is no longer accepted
                renewed = True
                app.remove_tokens_for_client()
                token = self._token(app)
                if token is None:
                    return None
                bearer[0] = token
                continue
            if response.status_code in THROTTLED:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                if self._clock() + wait >= deadline:
                    logger.warning("Graph recall: throttled (%d) past the time budget", response.status_code)
                    return response
                self._sleep(wait)
                continue
            return response


def _envelope_header(item: dict[str, Any]) -> str | None:
    """The ``X-SendSecure-Envelope`` header of a message Graph found (names compare without case)."""
    from sendsecure.core.stamp import HEADER_ENVELOPE

    wanted = HEADER_ENVELOPE.lower()
    for header in item.get("internetMessageHeaders") or ():
        if isinstance(header, dict) and str(header.get("name", "")).lower() == wanted:
            return str(header.get("value", "")).strip()
    return None


def _http_session(*, verify: str | bool) -> requests.Session:
    """A requests session that retries a refused connection once and never on its own after an
    answer: urllib3's default would sleep for a 429's ``Retry-After`` (up to an hour) inside the
    call, past the recall's time budget; the throttling waits are ``GraphRecall._call``'s."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.trust_env = False          # no proxy or CA bundle from the environment
    session.verify = verify
    adapter = HTTPAdapter(max_retries=Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0,
                                            respect_retry_after_header=False, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
