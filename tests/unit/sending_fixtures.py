"""Envelopes, keys and messages for the sending tests (test_envelope, test_stamp, test_gateway_check)."""
from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage

from sendsecure.core.envelope import (
    Envelope,
    EnvelopeAttachment,
    EnvelopeRecipient,
    Fallback,
    build_envelope,
    sign_envelope,
)
from sendsecure.core.signing import SigningKey, b64url, signing_key_from_seed
from sendsecure.core.stamp import issue_stamp, stamp_headers

NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
KEY = signing_key_from_seed(bytes(range(32)))
NEW_KEY = signing_key_from_seed(bytes(range(32, 64)))
OTHER_DEPLOYMENT = signing_key_from_seed(b"\x07" * 32)
SALT = b64url(b"salt" * 8)  # 32 bytes; fixed so tests can compare digests

# Distinctive BCC addresses, so a test can look for them anywhere.
BCC_VIEWER = "geheim.bcc@gmail.com"
BCC_COMMUNITY = "stille.bcc@huisarts-c.nl"

RECIPIENTS = (
    EnvelopeRecipient("jan@huisarts-b.nl", "to", "community", "direct", None),
    EnvelopeRecipient("piet@gmail.com", "to", "external", "viewer", "sms"),
    EnvelopeRecipient("klaas@kliniek-nta.nl", "cc", "nta7516", "nta7516", None, Fallback("email")),
    EnvelopeRecipient("collega@ziekenhuis-a.nl", "cc", "own_organisation", "direct", None),
    EnvelopeRecipient(BCC_VIEWER, "bcc", "external", "viewer", "email"),
    EnvelopeRecipient(BCC_COMMUNITY, "bcc", "community", "direct", None),
)


ATTACHMENTS = (EnvelopeAttachment("brief.pdf", 183211), EnvelopeAttachment("foto.jpg", 5000))


def envelope(*, recipients: tuple[EnvelopeRecipient, ...] = RECIPIENTS, salt: str = SALT,
             envelope_id: str = "0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a01", language: str = "en",
             sender: str = "afdeling@ziekenhuis-a.nl",
             attachments: tuple[EnvelopeAttachment, ...] = ATTACHMENTS) -> Envelope:
    return build_envelope(
        envelope_id=envelope_id, message_id="AAMkAGI2TG93AAA=", created_at=NOW,
        tenant_id="7d5a3c1e-0000-4000-8000-000000000001", sender=sender,
        sent_by="jan.jansen@ziekenhuis-a.nl", recipients=recipients,
        attachments=attachments,
        notification_language=language, installation_type="viewer_sms_optional",
        domain_book_version="zorgmail-2026-12-01T06:00:00Z", policy_version="rules-2026.12/viewer_sms_optional",
        recipient_salt=salt,
    )


def signed(key: SigningKey = KEY, **kwargs: object) -> Envelope:
    return sign_envelope(envelope(**kwargs), key)  # type: ignore[arg-type]


ONE_LINE = email.policy.default.clone(max_line_length=998)  # RFC 5322 limit: the stamp fits on one line


def attach(mail: EmailMessage, name: str, size: int, *, inline: bool = False) -> None:
    """A file part of ``size`` bytes (decoded): base64, the name in Content-Disposition (RFC 2231
    when it is not ASCII); an inline one with a Content-ID in multipart/related, as a pasted
    image. (The test of RFC 2047 names writes Exchange's own spelling by hand.)"""
    maintype, subtype = ("image", "jpeg") if name.endswith((".jpg", ".png")) else ("application", "octet-stream")
    data = (bytes(range(251)) * (size // 251 + 1))[:size]
    if inline:
        mail.add_related(data, maintype=maintype, subtype=subtype, disposition="inline", filename=name,
                         cid="<image001@sendsecure.test>")
    else:
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)


def message(env: Envelope, stamp: str, *, extra: dict[str, str] | None = None,
            policy: email.policy.EmailPolicy = ONE_LINE,
            files: list[tuple[str, int]] | None = None) -> EmailMessage:
    """The message as Exchange hands it to the gateway: To and Cc headers, no Bcc header, and
    the envelope's attachments (or ``files``: name, decoded size) as file parts. With
    ``ONE_LINE`` the stamp is one header line; with ``email.policy.default`` RFC 2047 words."""
    mail = EmailMessage(policy=policy)
    mail["From"] = f"Afdeling <{env.sender}>"
    mail["To"] = ", ".join(r.address for r in env.recipients if r.field == "to")
    cc = [r.address for r in env.recipients if r.field == "cc"]
    if cc:
        mail["Cc"] = ", ".join(cc)
    mail["Subject"] = "Verwijzing"
    for name, value in {**stamp_headers(env, stamp), **(extra or {})}.items():
        mail[name] = value
    mail.set_content("Zie bijlage.")
    for name, size in files if files is not None else [(item.name, item.size) for item in env.attachments]:
        attach(mail, name, size)
    return mail


def stamped(key: SigningKey = KEY, *, now: datetime = NOW, **kwargs: object) -> tuple[Envelope, str, bytes]:
    env = signed(key, **kwargs)
    stamp = issue_stamp(env, key, now=now)
    return env, stamp, message(env, stamp).as_bytes()
