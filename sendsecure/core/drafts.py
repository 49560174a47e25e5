"""The draft as the add-in sends it (API.md "Drafts"): parsed and bounded, or 400 naming the field.

Bounds (docs/validation.md; issue 7 item 9: a request costs a few ms whatever it holds): at
most 500 recipients over To, CC and BCC (Exchange Online's default per message, so V-R1's own
answer reaches every draft Outlook allows by default); addresses at most 320 characters (64 + @ + 255, longer
cannot be valid) and names at most 256; at most 10 different internationalised domains (non-ASCII
or punycode, as written) over From, recipients and phones; a subject of at most 2,000 characters;
at most 250 attachments, each with a name of at most 255 characters and an integer size from 0
to 10 GiB; at most 500 typed phones. Past a bound: 400 naming the field. A syntactically invalid
address is not an input error: the rules report it (V-R8). Pure.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import msgspec

from sendsecure.core.models import (
    MAX_ADDRESS,
    MAX_ATTACHMENT_NAME,
    MAX_ATTACHMENT_SIZE,
    MAX_ATTACHMENTS,
    MAX_IDN_DOMAINS,
    MAX_MESSAGE_ID,
    MAX_NAME,
    MAX_PHONE,
    MAX_PHONES,
    MAX_RECIPIENTS,
    MAX_SUBJECT,
    AttachmentBody,
    DraftBody,
    RecipientBody,
    RecipientField,
    convert,
)
from sendsecure.errors import InvalidBody

__all__ = ["MAX_ADDRESS", "MAX_ATTACHMENT_NAME", "MAX_ATTACHMENT_SIZE", "MAX_ATTACHMENTS", "MAX_IDN_DOMAINS",
           "MAX_NAME", "MAX_PHONES", "MAX_RECIPIENTS", "MAX_SUBJECT", "Draft", "DraftAttachment", "DraftRecipient",
           "decode_draft", "decode_on_send", "parse_draft"]
FIELDS: tuple[RecipientField, ...] = ("to", "cc", "bcc")


# Structs, not dataclasses: a frozen dataclass sets each field through object.__setattr__ (five
# times the cost, and a draft makes one per recipient; issue 9 item 7). Same fields, equality,
# hashing and immutability.
class DraftRecipient(msgspec.Struct, frozen=True):
    address: str
    name: str
    type: str
    field: RecipientField


class DraftAttachment(msgspec.Struct, frozen=True):
    name: str
    size: int
    inline: bool


class Draft(msgspec.Struct, frozen=True):
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


def _recipients(items: Sequence[str | RecipientBody] | None, field: RecipientField) -> tuple[DraftRecipient, ...]:
    # A bare address is accepted as a user recipient.
    return tuple(DraftRecipient(item, "", "user", field) if isinstance(item, str)
                 else DraftRecipient(item.address, item.name or "", item.type, field) for item in items or ())


def _phones(phones: Mapping[str, Any] | None) -> dict[str, str]:
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
    return _draft(convert(data, DraftBody))


# ----- the fast way in (issue 9 item 7) --------------------------------------------------------
#
# ``DraftBody`` with no room for what the checking way (the HTTP edge's JSON walk, then
# ``parse_draft``) has to look at: no member it does not know, phones as strings, and so no
# value of type ``Any``; its nesting is at most 3 levels (draft, list, recipient). msgspec
# refuses a lone surrogate escape and invalid UTF-8. So a body that decodes into it is one the
# checking way would accept, with the same values: ``decode_draft`` returns the same ``Draft``
# for it, and ``None`` for every other body, which then takes the checking way for its 400
# naming the field. The bounds are the model's own (these classes inherit or repeat them).

_Address = Annotated[str, msgspec.Meta(max_length=MAX_ADDRESS)]


class _StrictRecipient(RecipientBody, frozen=True, forbid_unknown_fields=True):
    pass


class _StrictAttachment(AttachmentBody, frozen=True, forbid_unknown_fields=True):
    pass


_StrictRecipients = Annotated[list[_Address | _StrictRecipient], msgspec.Meta(max_length=MAX_RECIPIENTS)]
_StrictAttachments = Annotated[list[_StrictAttachment], msgspec.Meta(max_length=MAX_ATTACHMENTS)]


class _StrictDraft(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``DraftBody``'s fields and bounds (tests/functions/test_issue9_item7_onsend.py compares
    them), with the strict items above and phones as strings."""

    sender: _Address | None = msgspec.field(default=None, name="from")
    to: _StrictRecipients | None = None
    cc: _StrictRecipients | None = None
    bcc: _StrictRecipients | None = None
    subject: Annotated[str, msgspec.Meta(max_length=MAX_SUBJECT)] | None = None
    attachments: _StrictAttachments | None = None
    phones: Annotated[dict[_Address, str | None], msgspec.Meta(max_length=MAX_PHONES)] | None = None


class _StrictOnSend(_StrictDraft, frozen=True, forbid_unknown_fields=True):
    """``OnSendBody``: the draft and the message's id."""

    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID, pattern=r"\S")] | None = None


_STRICT = msgspec.json.Decoder(_StrictDraft)
_STRICT_ON_SEND = msgspec.json.Decoder(_StrictOnSend)


def decode_draft(body: bytes) -> Draft | None:
    """The draft in a JSON body that decodes straight into the strict model, else ``None`` (the
    caller parses it the checking way, which names what is wrong)."""
    try:
        strict = _STRICT.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):  # ValidationError is a DecodeError
        return None
    return _draft(strict)


def decode_on_send(body: bytes) -> tuple[Draft, str | None] | None:
    """``decode_draft`` for the on-send check's body (``OnSendBody``: the draft and ``message_id``)."""
    try:
        strict = _STRICT_ON_SEND.decode(body)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    return _draft(strict), strict.message_id


def _draft(body: DraftBody | _StrictDraft) -> Draft:
    to, cc, bcc = _recipients(body.to, "to"), _recipients(body.cc, "cc"), _recipients(body.bcc, "bcc")
    if len(to) + len(cc) + len(bcc) > MAX_RECIPIENTS:
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
    every = "\n".join([sender or "", *phones, *(r.address for r in to), *(r.address for r in cc),
                       *(r.address for r in bcc)])
    if every.isascii() and "n--" not in every and "N--" not in every:
        return  # no "xn--" in any case and nothing but ASCII: no internationalised domain at all
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
