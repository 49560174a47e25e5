"""A local HTTPS Entra ID + Microsoft Graph for the recall (SPEC S5): 127.0.0.1, a free port, a
certificate from a throwaway CA made in the test (trustme, on ``cryptography``), shut down by the
fixture. It serves msal's OpenID configuration and client-credentials token endpoint, and the two
Graph calls of a recall: the search by Internet message id and the delete. It checks the bearer
token, the ``$filter`` and every call, and records them."""
from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import trustme
from httpsfake import JsonHandler, LocalHttps, trustme_context

ENTRA_TENANT = "7d5a3c1e-9b2f-4c8d-a1e6-3f0b2d4c6e8a"
CLIENT_ID = "3c2b1a09-8f7e-4d6c-b5a4-938271605f4e"
CLIENT_SECRET = "recall~secret~value"


@dataclass
class FakeGraph:
    """The mailboxes' contents and what the server saw; tests set answers and read the calls."""

    base_url: str = ""
    # mailbox -> {graph id: (Internet message id, its X-SendSecure-Envelope header or None)}
    mailboxes: dict[str, dict[str, tuple[str, str | None]]] = field(default_factory=dict)
    tokens: list[str] = field(default_factory=list)
    token_requests: int = 0
    calls: list[tuple[str, str, str]] = field(default_factory=list)    # (method, mailbox, $filter or id)
    problems: list[str] = field(default_factory=list)
    answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # Graph answers first, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    other_scopes: set[str] = field(default_factory=set)   # Graph endpoints besides this one (a Graph down)

    def put(self, mailbox: str, internet_message_id: str, envelope_id: str | None = None) -> str:
        """A message in the mailbox; ``envelope_id`` is its ``X-SendSecure-Envelope`` header (a
        delivered copy of a secure message), None for any other message."""
        graph_id = "AAMk" + secrets.token_urlsafe(24)
        self.mailboxes.setdefault(mailbox, {})[graph_id] = (internet_message_id, envelope_id)
        return graph_id

    def holds(self, mailbox: str, internet_message_id: str, envelope_id: str | None = None) -> bool:
        return any(internet == internet_message_id and (envelope_id is None or envelope == envelope_id)
                   for internet, envelope in self.mailboxes.get(mailbox, {}).values())


class _Handler(JsonHandler):
    fake: FakeGraph

    def _authorised(self) -> bool:
        if self.headers.get("Authorization", "") not in {f"Bearer {t}" for t in self.fake.tokens}:
            self._answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
            return False
        return True

    def _planned(self) -> bool:
        with self.fake.lock:
            planned = self.fake.answers.pop(0) if self.fake.answers else None
        if planned is None:
            return False
        status, headers = planned
        self._answer(status, {"error": {"code": "FromTheTest"}}, headers)
        return True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == f"/{ENTRA_TENANT}/v2.0/.well-known/openid-configuration":
            authority = f"{self.fake.base_url}/{ENTRA_TENANT}"
            self._answer(200, {"issuer": f"{authority}/v2.0",
                               "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
                               "token_endpoint": f"{authority}/oauth2/v2.0/token"})
            return
        parts = url.path.split("/")
        if len(parts) != 5 or parts[:3] != ["", "v1.0", "users"] or parts[4] != "messages":
            self.fake.problems.append(f"unexpected GET {url.path}")
            self._answer(404, {"error": {"code": "ResourceNotFound"}})
            return
        if not self._authorised():
            return
        mailbox = unquote(parts[3])
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        wanted = query.get("$filter", "")
        self.fake.calls.append(("GET", mailbox, wanted))
        if query.get("$select") != "id,internetMessageHeaders":
            self.fake.problems.append("search without $select=id,internetMessageHeaders")
        if not (wanted.startswith("internetMessageId eq '") and wanted.endswith("'")):
            self.fake.problems.append(f"unexpected $filter {wanted!r}")
            self._answer(400, {"error": {"code": "BadRequest"}})
            return
        if self._planned():
            return
        if mailbox not in self.fake.mailboxes:
            self._answer(404, {"error": {"code": "ErrorInvalidUser"}})
            return
        literal = wanted[len("internetMessageId eq '"):-1].replace("''", "'")
        found = [{"id": graph_id, "internetMessageHeaders": [
                     {"name": "Received", "value": "from mail.example by mail.example"},
                     *([{"name": "x-sendsecure-envelope", "value": envelope}] if envelope else [])]}
                 for graph_id, (internet, envelope) in self.fake.mailboxes[mailbox].items() if internet == literal]
        self._answer(200, {"value": found})

    def do_DELETE(self) -> None:
        parts = urlsplit(self.path).path.split("/")
        if len(parts) != 6 or parts[:3] != ["", "v1.0", "users"] or parts[4] != "messages":
            self.fake.problems.append(f"unexpected DELETE {self.path}")
            self._answer(404, {"error": {"code": "ResourceNotFound"}})
            return
        if not self._authorised():
            return
        mailbox, graph_id = unquote(parts[3]), unquote(parts[5])
        self.fake.calls.append(("DELETE", mailbox, graph_id))
        if self._planned():
            return
        if self.fake.mailboxes.get(mailbox, {}).pop(graph_id, None) is None:
            self._answer(404, {"error": {"code": "ErrorItemNotFound"}})
            return
        self._answer(204)

    def do_POST(self) -> None:
        if self.path != f"/{ENTRA_TENANT}/oauth2/v2.0/token":
            self.fake.problems.append(f"unexpected POST {self.path}")
            self._answer(404, {"error": "not_found"})
            return
        self.fake.token_requests += 1
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {name: values[0] for name, values in parse_qs(body).items()}
        expected = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
        scopes = {f"{self.fake.base_url}/.default", *self.fake.other_scopes}
        if any(form.get(name) != value for name, value in expected.items()) or form.get("scope") not in scopes:
            self.fake.problems.append("token request not as expected")
            self._answer(401, {"error": "invalid_client"})
            return
        token = secrets.token_urlsafe(32)
        self.fake.tokens.append(token)
        self._answer(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token})


@contextmanager
def fake_graph(ca: trustme.CA) -> Iterator[FakeGraph]:
    state = FakeGraph()
    https = LocalHttps(_Handler, trustme_context(ca), name="fake-graph", fake=state)
    state.base_url = https.base_url
    try:
        yield state
    finally:
        https.stop()
