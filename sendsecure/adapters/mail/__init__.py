"""Mail for login codes: one message format, three transports behind one interface.

``MailTransport.send(mail)`` delivers one ``OutgoingMail`` or raises ``DependencyUnavailable``.
Transports: Microsoft Graph ``sendMail`` (app-only token from msal), SMTP, and a development
outbox (one ``.eml`` file per message). ``MAIL_TRANSPORT`` chooses.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from sendsecure.core.datafiles import data_file
from sendsecure.core.i18n import DEFAULT_LANGUAGE, LANGUAGES


@dataclass(frozen=True)
class OutgoingMail:
    sender: str
    to: str
    subject: str
    text: str
    html: str
    language: str
    # Development outbox only: lets the harness find the code without parsing the body.
    login_code: str | None = None

    def to_email_message(self) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        message["Content-Language"] = self.language  # after set_content, which drops Content-* headers
        return message


class MailTransport(Protocol):
    def send(self, mail: OutgoingMail) -> None: ...


def login_code_mail(*, sender: str, to: str, code: str, language: str, valid_minutes: int) -> OutgoingMail:
    """The login-code message (SPEC A1) in the user's language (nl, en, de)."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    texts = data_file("login_code_mail.json")[language]
    validity = texts["validity"].format(minutes=valid_minutes)
    paragraphs = [texts["intro"], code, validity, texts["ignore"], texts["never_share"]]
    text = "\n\n".join([texts["greeting"], *paragraphs, texts["signature"]]) + "\n"
    esc = html.escape
    body = "".join(
        f'<p style="font-size:28px;font-weight:bold;letter-spacing:4px">{esc(p)}</p>' if p == code
        else f"<p>{esc(p)}</p>"
        for p in paragraphs
    )
    markup = (
        f'<!DOCTYPE html><html lang="{language}"><head><meta charset="utf-8">'
        f'<title>{esc(texts["subject"])}</title></head>'
        f"<body><p>{esc(texts['greeting'])}</p>{body}<p>{esc(texts['signature'])}</p></body></html>"
    )
    return OutgoingMail(sender=sender, to=to, subject=texts["subject"], text=text, html=markup,
                        language=language, login_code=code)
