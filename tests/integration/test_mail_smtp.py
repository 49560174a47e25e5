"""SPEC A1: the login code is mailed to the mailbox, here through SMTP.

A real SMTP server (aiosmtpd) on 127.0.0.1 receives the mail; STARTTLS uses a certificate from
a throwaway CA (trustme). No outside service is needed.
"""
from __future__ import annotations

import email
import email.policy
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from sendsecure.adapters.mail import login_code_mail
from sendsecure.adapters.mail.smtp import SmtpTransport
from sendsecure.errors import DependencyUnavailable

SENDER = "no-reply@sendsecure.example"
RECIPIENT = "anna.schmidt@kunde.example"
CODE = "123456"
USERNAME = "relay-user"
PASSWORD = "relay-pass-9f1c"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class RecordingHandler:
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    port: int
    handler: RecordingHandler
    controller: Controller


def start_server(**smtp_options: Any) -> SmtpServer:
    handler = RecordingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **smtp_options)
    controller.start()
    return SmtpServer(port, handler, controller)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = start_server()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
def starttls_server(ca: trustme.CA) -> Iterator[SmtpServer]:
    """A server that requires STARTTLS and, after it, AUTH with USERNAME / PASSWORD."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            USERNAME.encode(), PASSWORD.encode())
        # handled=False on failure, or aiosmtpd sends no 535 and the client waits for its timeout.
        return AuthResult(success=ok, handled=False)

    server = start_server(tls_context=context, require_starttls=True, auth_required=True, authenticator=authenticator)
    try:
        yield server
    finally:
        server.controller.stop()


def transport(port: int, *, starttls: bool = False, username: str = "", password: str = "",
              ca_bundle: str | None = None, timeout: float = 5) -> SmtpTransport:
    return SmtpTransport(host="127.0.0.1", port=port, starttls=starttls, username=username, password=password,
                         timeout=timeout, ca_bundle=ca_bundle)


def german_mail() -> Any:
    return login_code_mail(sender=SENDER, to=RECIPIENT, code=CODE, language="de", valid_minutes=10)


def assert_one_german_login_mail(server: SmtpServer) -> None:
    assert len(server.handler.received) == 1
    received = server.handler.received[0]
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [RECIPIENT]
    message = received.message
    assert message["To"] == RECIPIENT
    assert message["Subject"] == "Ihr Anmeldecode für Send Secure"
    assert message["Content-Language"] == "de"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert CODE in text.get_content()
    assert "Der Code ist 10 Minuten gültig" in text.get_content()
    assert CODE in html.get_content()
    assert '<html lang="de">' in html.get_content()


def test_a1_smtp_delivers_login_code_mail_in_the_users_language(smtp_server: SmtpServer) -> None:
    transport(smtp_server.port).send(german_mail())

    assert_one_german_login_mail(smtp_server)


def test_a1_smtp_starttls_and_login(starttls_server: SmtpServer, ca_bundle: str) -> None:
    transport(starttls_server.port, starttls=True, username=USERNAME, password=PASSWORD, ca_bundle=ca_bundle).send(
        german_mail()
    )

    assert_one_german_login_mail(starttls_server)


def test_a1_smtp_starttls_rejects_an_untrusted_certificate(starttls_server: SmtpServer) -> None:
    # No ca_bundle: the system trust store does not know the test CA, so TLS must fail, not downgrade.
    with pytest.raises(DependencyUnavailable):
        transport(starttls_server.port, starttls=True, username=USERNAME, password=PASSWORD).send(german_mail())

    assert starttls_server.handler.received == []


def test_a1_smtp_server_requiring_starttls_refuses_plain_text(starttls_server: SmtpServer) -> None:
    with pytest.raises(DependencyUnavailable):
        transport(starttls_server.port).send(german_mail())

    assert starttls_server.handler.received == []


def test_a1_smtp_starttls_demanded_but_not_offered_fails(smtp_server: SmtpServer, ca_bundle: str) -> None:
    with pytest.raises(DependencyUnavailable):
        transport(smtp_server.port, starttls=True, ca_bundle=ca_bundle).send(german_mail())

    assert smtp_server.handler.received == []


def test_a1_smtp_stopped_server_is_dependency_unavailable() -> None:
    server = start_server()
    server.controller.stop()

    with pytest.raises(DependencyUnavailable) as raised:
        transport(server.port).send(german_mail())

    assert CODE not in str(raised.value) and RECIPIENT not in str(raised.value)


def test_a1_smtp_nothing_listening_is_dependency_unavailable() -> None:
    with pytest.raises(DependencyUnavailable):
        transport(free_port()).send(german_mail())


def test_a1_smtp_silent_server_times_out_as_dependency_unavailable() -> None:
    # Accepts the TCP connection but never sends the SMTP greeting.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        with pytest.raises(DependencyUnavailable):
            transport(listener.getsockname()[1], timeout=0.3).send(german_mail())


def test_a1_smtp_wrong_password_is_dependency_unavailable_without_leaking(
    starttls_server: SmtpServer, ca_bundle: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="sendsecure")
    with pytest.raises(DependencyUnavailable) as raised:
        transport(starttls_server.port, starttls=True, username=USERNAME, password="wrong-secret",
                  ca_bundle=ca_bundle).send(german_mail())

    assert starttls_server.handler.received == []
    assert raised.value.__cause__ is None and raised.value.__suppress_context__  # no chained smtplib text
    texts = [str(raised.value), raised.value.detail, *(r.getMessage() for r in caplog.records)]
    assert any("SMTPAuthenticationError" in t for t in texts)
    for secret in (CODE, RECIPIENT, "wrong-secret", USERNAME):
        assert all(secret not in t for t in texts)
