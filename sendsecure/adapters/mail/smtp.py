"""SMTP transport for login-code mail (SPEC A1): one connection per message.

Connects with a timeout, says EHLO, upgrades with STARTTLS when configured (certificate and host
name verified, against ``ca_bundle`` when given) and never falls back to plain text, logs in only
when a user name is set, and hands over the message. Any refusal or network failure becomes
``DependencyUnavailable``; logs and errors carry the exception type and SMTP status code only,
never the address, the code or the password.
"""
from __future__ import annotations

import logging
import smtplib
import ssl

from sendsecure.adapters.mail import OutgoingMail
from sendsecure.errors import DependencyUnavailable

logger = logging.getLogger(__name__)


class SmtpTransport:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        starttls: bool,
        username: str,
        password: str,
        timeout: float,
        ca_bundle: str | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._starttls = starttls
        self._username = username
        self._password = password
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def __repr__(self) -> str:  # no password in reprs or tracebacks with locals
        return f"SmtpTransport(host={self._host!r}, port={self._port}, starttls={self._starttls})"

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._ca_bundle)

    def send(self, mail: OutgoingMail) -> None:
        message = mail.to_email_message()
        try:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            try:
                smtp.ehlo()
                if self._starttls:
                    smtp.starttls(context=self._tls_context())  # raises if the server does not offer it
                    smtp.ehlo()
                if self._username:
                    smtp.login(self._username, self._password)
                refused = smtp.send_message(message)
            finally:
                _quit_quietly(smtp)  # the message is accepted once send_message returns
        except (smtplib.SMTPException, OSError) as error:  # OSError: refused, reset, timeout, TLS
            status = getattr(error, "smtp_code", None)
            logger.warning("SMTP send failed: %s%s", type(error).__name__, f" ({status})" if status else "")
            raise DependencyUnavailable("The mail server is unavailable.") from None
        if refused:  # only possible with several recipients; a login-code mail has one
            logger.warning("SMTP server refused %d recipient(s)", len(refused))
            raise DependencyUnavailable("The mail server is unavailable.")


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
