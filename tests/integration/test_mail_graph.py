"""SPEC A1: the login code is mailed to the mailbox, here through Microsoft Graph ``sendMail``.

One local HTTPS server on 127.0.0.1 (certificate from a throwaway trustme CA) plays both Entra ID
(OpenID configuration, client-credentials token endpoint) and Graph (``sendMail``), so the real
msal and requests code paths run without any outside service.
"""
from __future__ import annotations

import json
import secrets
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

import pytest
import trustme
from httpsfake import JsonHandler, LocalHttps, trustme_context

from sendsecure.adapters.mail import OutgoingMail, login_code_mail
from sendsecure.adapters.mail.graph import GraphTransport
from sendsecure.errors import DependencyUnavailable

TENANT = "7d5a3c1e-9b2f-4c8d-a1e6-3f0b2d4c6e8a"
CLIENT_ID = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
CLIENT_SECRET = "s3cr3t~client~value"
SENDER = "no-reply@sendsecure.example"
RECIPIENT = "jan.jansen@klant.example"
CODE = "123456"


@dataclass
class FakeMicrosoft:
    """State of the fake Entra ID + Graph server; tests read what it saw and set its answers."""

    base_url: str = ""
    discovery_requests: int = 0
    token_requests: int = 0
    issued_tokens: list[str] = field(default_factory=list)
    mails: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # requests that did not look like msal's / ours
    sendmail_answers: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # consumed in order
    sendmail_stall: float = 0.0
    discovery_failures: int = 0  # answer this many discovery requests with 503 first
    release: threading.Event = field(default_factory=threading.Event)

    def openid_configuration(self) -> dict[str, Any]:
        authority = f"{self.base_url}/{TENANT}"
        return {
            "issuer": f"{authority}/v2.0",
            "authorization_endpoint": f"{authority}/oauth2/v2.0/authorize",
            "token_endpoint": f"{authority}/oauth2/v2.0/token",
            "jwks_uri": f"{authority}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token", "token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        }


class FakeMicrosoftHandler(JsonHandler):
    fake: FakeMicrosoft  # set on a per-server subclass

    def do_GET(self) -> None:
        if self.path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            self.fake.discovery_requests += 1
            if self.fake.discovery_failures:
                self.fake.discovery_failures -= 1
                self._answer(503, {"error": "temporarily_unavailable"})
            else:
                self._answer(200, self.fake.openid_configuration())
        else:
            self.fake.problems.append(f"unexpected GET {self.path}")
            self._answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        if self.path == f"/{TENANT}/oauth2/v2.0/token":
            self._token()
        elif self.path == f"/v1.0/users/{quote(SENDER, safe='@')}/sendMail":
            self._send_mail()
        else:
            self.fake.problems.append(f"unexpected POST {self.path}")
            self._answer(404, {"error": {"code": "ResourceNotFound"}})

    def _token(self) -> None:
        self.fake.token_requests += 1
        form = {name: values[0] for name, values in parse_qs(self._body().decode()).items()}
        expected = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
                    "scope": f"{self.fake.base_url}/.default"}
        wrong = [name for name, value in expected.items() if form.get(name) != value]
        if wrong:
            self.fake.problems.append(f"token request with wrong {wrong}")
            self._answer(400, {"error": "invalid_request"})
            return
        if form.get("client_secret") != CLIENT_SECRET:
            self._answer(401, {"error": "invalid_client",
                               "error_description": "AADSTS7000215: Invalid client secret provided."})
            return
        token = secrets.token_urlsafe(32)
        self.fake.issued_tokens.append(token)
        self._answer(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600, "access_token": token})

    def _send_mail(self) -> None:
        body = self._body()
        authorization = self.headers.get("Authorization", "")
        if authorization not in {f"Bearer {token}" for token in self.fake.issued_tokens}:
            self._answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
            return
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            self.fake.problems.append("sendMail without a JSON content type")
        self.fake.mails.append(json.loads(body))
        if self.fake.sendmail_stall:
            self.fake.release.wait(self.fake.sendmail_stall)
        status, headers = self.fake.sendmail_answers.pop(0) if self.fake.sendmail_answers else (202, {})
        if status == 202:
            self._answer(202)
        else:
            self._answer(status, {"error": {"code": "ErrorFromFake", "message": "failure made by the test"}}, headers)


@pytest.fixture
def fake(ca: trustme.CA) -> Iterator[FakeMicrosoft]:
    """The fake Entra ID + Graph server, listening on 127.0.0.1 only, shut down afterwards."""
    state = FakeMicrosoft()
    https = LocalHttps(FakeMicrosoftHandler, trustme_context(ca), name="fake-microsoft", fake=state)
    state.base_url = https.base_url
    try:
        yield state
    finally:
        state.release.set()
        https.stop()
    assert state.problems == []


def transport(fake: FakeMicrosoft, ca_bundle: str | None, *, client_secret: str = CLIENT_SECRET,
              timeout: float = 5, authority_host: str | None = None) -> GraphTransport:
    return GraphTransport(tenant_id=TENANT, client_id=CLIENT_ID, client_secret=client_secret,
                          authority_host=authority_host or fake.base_url, graph_base_url=fake.base_url,
                          timeout=timeout, ca_bundle=ca_bundle)


def mail(language: str = "nl") -> OutgoingMail:
    return login_code_mail(sender=SENDER, to=RECIPIENT, code=CODE, language=language, valid_minutes=10)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a1_graph_sends_the_login_code_from_the_service_mailbox(fake: FakeMicrosoft, ca_bundle: str) -> None:
    transport(fake, ca_bundle).send(mail("de"))

    assert len(fake.mails) == 1
    sent = fake.mails[0]
    assert sent["saveToSentItems"] is False
    message = sent["message"]
    assert message["subject"] == "Ihr Anmeldecode für Send Secure"
    assert message["body"]["contentType"] == "HTML"
    assert CODE in message["body"]["content"]
    assert '<html lang="de">' in message["body"]["content"]
    assert message["toRecipients"] == [{"emailAddress": {"address": RECIPIENT}}]


def test_a1_graph_token_is_requested_once_for_two_mails(fake: FakeMicrosoft, ca_bundle: str) -> None:
    graph = transport(fake, ca_bundle)

    graph.send(mail())
    graph.send(mail())

    assert len(fake.mails) == 2
    assert fake.token_requests == 1
    assert fake.discovery_requests == 1


def test_a1_graph_concurrent_first_sends_share_one_client_and_token(fake: FakeMicrosoft, ca_bundle: str) -> None:
    graph = transport(fake, ca_bundle)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            graph.send(mail())
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert errors == []
    assert len(fake.mails) == 4
    assert fake.discovery_requests == 1
    assert fake.token_requests == 1


def test_a1_graph_wrong_client_secret_is_dependency_unavailable(
    fake: FakeMicrosoft, ca_bundle: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="sendsecure")

    with pytest.raises(DependencyUnavailable) as raised:
        transport(fake, ca_bundle, client_secret="not-the-secret").send(mail())

    assert fake.token_requests == 1
    assert fake.mails == []
    assert raised.value.__cause__ is None
    texts = [str(raised.value), *(record.getMessage() for record in caplog.records)]
    assert any("invalid_client" in text for text in texts)  # the OAuth error code is logged
    for secret in ("not-the-secret", CODE, RECIPIENT, "AADSTS7000215"):
        assert all(secret not in text for text in texts)


def test_a1_graph_throttling_passes_retry_after_on(fake: FakeMicrosoft, ca_bundle: str) -> None:
    fake.sendmail_answers.append((429, {"Retry-After": "7"}))

    with pytest.raises(DependencyUnavailable) as raised:
        transport(fake, ca_bundle).send(mail())

    assert raised.value.retry_after == 7


def test_a1_graph_unavailable_is_dependency_unavailable(fake: FakeMicrosoft, ca_bundle: str) -> None:
    fake.sendmail_answers.append((503, {}))

    with pytest.raises(DependencyUnavailable) as raised:
        transport(fake, ca_bundle).send(mail())

    assert raised.value.retry_after == 5  # the default when Graph names no time


def test_a1_graph_retry_after_as_http_date(fake: FakeMicrosoft, ca_bundle: str) -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    fake.sendmail_answers.append((503, {"Retry-After": format_datetime(later, usegmt=True)}))

    with pytest.raises(DependencyUnavailable) as raised:
        transport(fake, ca_bundle).send(mail())

    assert 28 <= raised.value.retry_after <= 31


def test_a1_graph_refusal_is_dependency_unavailable_without_leaking(
    fake: FakeMicrosoft, ca_bundle: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="sendsecure")
    fake.sendmail_answers.append((403, {}))  # e.g. the app lacks Mail.Send for the sender mailbox

    with pytest.raises(DependencyUnavailable) as raised:
        transport(fake, ca_bundle).send(mail())

    texts = [str(raised.value), *(record.getMessage() for record in caplog.records)]
    assert any("403" in text for text in texts)
    for secret in (CODE, RECIPIENT, CLIENT_SECRET, *fake.issued_tokens):
        assert all(secret not in text for text in texts)


def test_a1_graph_rejected_token_is_replaced_on_the_next_send(fake: FakeMicrosoft, ca_bundle: str) -> None:
    graph = transport(fake, ca_bundle)
    fake.sendmail_answers.append((401, {}))

    with pytest.raises(DependencyUnavailable):
        graph.send(mail())
    graph.send(mail())

    assert fake.token_requests == 2
    assert len(fake.mails) == 2


def test_a1_graph_timeout_is_dependency_unavailable_and_not_resent(fake: FakeMicrosoft, ca_bundle: str) -> None:
    graph = transport(fake, ca_bundle, timeout=0.5)
    graph.send(mail())  # discovery and token now, so that only sendMail is slow below
    fake.sendmail_stall = 5

    with pytest.raises(DependencyUnavailable):
        graph.send(mail())

    assert len(fake.mails) == 2  # a POST that timed out on reading is not sent again


def test_a1_graph_untrusted_certificate_is_dependency_unavailable(fake: FakeMicrosoft) -> None:
    with pytest.raises(DependencyUnavailable):
        transport(fake, ca_bundle=None).send(mail())

    assert fake.mails == []


def test_a1_graph_nothing_listening_is_dependency_unavailable(fake: FakeMicrosoft, ca_bundle: str) -> None:
    with pytest.raises(DependencyUnavailable):
        transport(fake, ca_bundle, authority_host=f"https://127.0.0.1:{free_port()}").send(mail())


def test_a1_graph_authority_unavailable_then_recovers(fake: FakeMicrosoft, ca_bundle: str) -> None:
    graph = transport(fake, ca_bundle)
    fake.discovery_failures = 1

    with pytest.raises(DependencyUnavailable):
        graph.send(mail())
    graph.send(mail())

    assert fake.discovery_requests == 2
    assert len(fake.mails) == 1


def test_a1_graph_imports_no_http_stack_at_module_import() -> None:
    import subprocess
    import sys

    probe = "import sys, sendsecure.adapters.mail.graph; print(sorted({'msal', 'requests'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"


def test_a1_graph_http_session_never_waits_for_a_retry_after_inside_a_request() -> None:
    """A throttled Graph answer goes back to the caller at once (503 with Retry-After); the HTTP
    layer must not sleep for the header's value inside a user's request, nor resend after an answer."""
    from sendsecure.adapters.mail.graph import _http_session

    session = _http_session(verify=True, timeout=5)
    retry = session.get_adapter("https://graph.example/").max_retries
    assert retry.respect_retry_after_header is False
    assert retry.status == 0 and retry.read == 0 and retry.connect == 1
    assert not retry.is_retry("GET", 429, has_retry_after=True)
