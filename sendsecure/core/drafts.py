"""The draft as the add-in sends it (API.md "Drafts"): parsed and bounded, or 400 naming the field.

Bounds (docs/validation.md; issue 7 item 9: a request costs a few ms whatever it holds): at
most 250 recipients over To, CC and BCC; addresses at most 320 characters (64 + @ + 255, longer
cannot be valid) and names at most 256; at most 10 different internationalised domains (non-ASCII
or punycode, as written) over From, recipients and phones; a subject of at most 2,000 characters;
at most 250 attachments, each with a name of at most 255 characters and an integer size from 0
to 10 GiB; at most 250 typed phones. Past a bound: 400 naming the field. A syntactically invalid
address is not an input error: the rules report it (V-R8). Pure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sendsecure.core.models import (
    MAX_ADDRESS,
    MAX_ATTACHMENT_NAME,
    MAX_ATTACHMENT_SIZE,
    MAX_ATTACHMENTS,
    MAX_IDN_DOMAINS,
    MAX_NAME,
    MAX_PHONE,
    MAX_PHONES,
    MAX_RECIPIENTS,
    MAX_SUBJECT,
    DraftBody,
    RecipientBody,
    RecipientField,
    convert,
)
from sendsecure.errors import InvalidBody

__all__ = ["MAX_ADDRESS", "MAX_ATTACHMENT_NAME", "MAX_ATTACHMENT_SIZE", "MAX_ATTACHMENTS", "MAX_IDN_DOMAINS",
           "MAX_NAME", "MAX_PHONES", "MAX_RECIPIENTS", "MAX_SUBJECT", "Draft", "DraftAttachment", "DraftRecipient",
           "parse_draft"]
FIELDS: tuple[RecipientField, ...] = ("to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class DraftRecipient:
    address: str
    name: str
    type: str
    field: RecipientField


@dataclass(frozen=True, slots=True)
class DraftAttachment:
    name: str
    size: int
    inline: bool


@dataclass(frozen=True)
class Draft:
    sender: str | None
    to: tuple[DraftRecipient, ...]
    cc: tuple[DraftRecipient, ...]
    bcc: tuple[DraftRecipient, ...]
    subject: str
    attachments: tuple[DraftAttachment, ...]
    phones: dict[str, str]

    @property
    def recipients(self) -> tuple[DraftRecipient, ...]:
        return self.to + self.cc + self.bcc


def _fail(field: str, message: str) -> InvalidBody:
    return InvalidBody.field(field, message)


def _recipients(items: list[str | RecipientBody] | None, field: RecipientField) -> tuple[DraftRecipient, ...]:
    # A bare address is accepted as a user recipient.
    return tuple(DraftRecipient(item, "", "user", field) if isinstance(item, str)
                 else DraftRecipient(item.address, item.name or "", item.type, field) for item in items or ())


def _phones(phones: dict[str, Any] | None) -> dict[str, str]:
    result = {}
    for address, phone in (phones or {}).items():
        if phone is None:
            continue
        where = f"phones.{address[:64]}"
        if not isinstance(phone, str):
            raise _fail(where, "must be a string")
        if len(phone) > MAX_PHONE:
            raise _fail(where, f"may be at most {MAX_PHONE} characters")
        if phone.strip():
            result[address.strip().lower()] = phone.strip()
    return result


def parse_draft(data: dict[str, Any]) -> Draft:
    """The draft in a request body (``data`` is the parsed JSON object): the model's fields and
    bounds (sendsecure/core/models.py ``DraftBody``), then what a schema cannot say."""
    body = convert(data, DraftBody)
    to, cc, bcc = (_recipients(getattr(body, field), field) for field in FIELDS)
    total = 0
    for field, recipients in zip(FIELDS, (to, cc, bcc), strict=True):
        total += len(recipients)
        if total > MAX_RECIPIENTS:  # the field where the count goes over
            raise _fail(field, f"To, CC and BCC may hold at most {MAX_RECIPIENTS} recipients together")
    sender = (body.sender or "").strip() or None
    phones = _phones(body.phones)
    _check_idn_domains(sender, to, cc, bcc, phones)
    return Draft(
        sender=sender,
        to=to, cc=cc, bcc=bcc,
        subject=body.subject or "",
        attachments=tuple(DraftAttachment(a.name, a.size, a.inline) for a in body.attachments or ()),
        phones=phones,
    )


def _idn_domain(address: str) -> str | None:
    """The domain of an address as written, lower case, if it is internationalised."""
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    return domain if not domain.isascii() or "xn--" in domain else None


def _check_idn_domains(sender: str | None, to: tuple[DraftRecipient, ...], cc: tuple[DraftRecipient, ...],
                       bcc: tuple[DraftRecipient, ...], phones: dict[str, str]) -> None:
    seen: set[str] = set()
    groups = [("from", [sender] if sender else []),
              *((field, [r.address for r in group]) for field, group in zip(FIELDS, (to, cc, bcc), strict=True)),
              ("phones", list(phones))]
    for field, written in groups:
        for address in written:
            domain = _idn_domain(address)
            if domain is not None:
                seen.add(domain)
                if len(seen) > MAX_IDN_DOMAINS:
                    raise _fail(field, f"the draft may name at most {MAX_IDN_DOMAINS} different "
                                       "internationalised domains")
