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

from sendsecure.errors import InvalidBody

MAX_RECIPIENTS = 250          # V-R1 blocks above 100; room to say so for a pasted list
MAX_ADDRESS = 320             # RFC 5321: local part 64, domain 255
MAX_NAME = 256                # a display name
MAX_IDN_DOMAINS = 10          # IDNA encoding, decoding and display cost ~0.2 ms each (item 9)
MAX_SUBJECT = 2000
MAX_ATTACHMENTS = 250
MAX_ATTACHMENT_NAME = 255     # a file name (NTFS, ext4)
MAX_ATTACHMENT_SIZE = 10 * 1024**3
MAX_PHONES = 250              # one per recipient
RECIPIENT_TYPES = frozenset({"user", "externalUser", "distributionList", "other"})
FIELDS = ("to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class DraftRecipient:
    address: str
    name: str
    type: str
    field: str


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


def _string(value: Any, field: str, limit: int, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise _fail(field, "is required" if value is None else "must be a string")
    if len(value) > limit:
        raise _fail(field, f"may be at most {limit} characters")
    return value


def _recipients(data: dict[str, Any], field: str) -> tuple[DraftRecipient, ...]:
    items = data.get(field, [])
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _fail(field, "must be a list of recipients")
    if len(items) > MAX_RECIPIENTS:
        raise _fail(field, f"may hold at most {MAX_RECIPIENTS} recipients")
    result = []
    for index, item in enumerate(items):
        where = f"{field}[{index}]"
        if isinstance(item, str):  # a bare address is accepted as a user recipient
            result.append(DraftRecipient(_string(item, where, MAX_ADDRESS), "", "user", field))
            continue
        if not isinstance(item, dict):
            raise _fail(where, "must be an object with an address")
        kind = item.get("type", "user")
        if not isinstance(kind, str) or kind not in RECIPIENT_TYPES:
            raise _fail(f"{where}.type", "must be one of user, externalUser, distributionList, other")
        result.append(DraftRecipient(
            address=_string(item.get("address"), f"{where}.address", MAX_ADDRESS),
            name=_string(item.get("name"), f"{where}.name", MAX_NAME, required=False),
            type=kind,
            field=field,
        ))
    return tuple(result)


def _attachments(data: dict[str, Any]) -> tuple[DraftAttachment, ...]:
    items = data.get("attachments", [])
    if items is None:
        return ()
    if not isinstance(items, list):
        raise _fail("attachments", "must be a list")
    if len(items) > MAX_ATTACHMENTS:
        raise _fail("attachments", f"may hold at most {MAX_ATTACHMENTS} attachments")
    result = []
    for index, item in enumerate(items):
        where = f"attachments[{index}]"
        if not isinstance(item, dict):
            raise _fail(where, "must be an object with name and size")
        size = item.get("size")
        if isinstance(size, bool) or not isinstance(size, int):
            raise _fail(f"{where}.size", "must be a whole number of bytes")
        if not 0 <= size <= MAX_ATTACHMENT_SIZE:
            raise _fail(f"{where}.size", f"must be between 0 and {MAX_ATTACHMENT_SIZE} bytes")
        inline = item.get("inline", False)
        if not isinstance(inline, bool):
            raise _fail(f"{where}.inline", "must be true or false")
        result.append(DraftAttachment(_string(item.get("name"), f"{where}.name", MAX_ATTACHMENT_NAME), size, inline))
    return tuple(result)


def _phones(data: dict[str, Any]) -> dict[str, str]:
    phones = data.get("phones", {})
    if phones is None:
        return {}
    if not isinstance(phones, dict):
        raise _fail("phones", "must be an object of address: phone number")
    if len(phones) > MAX_PHONES:
        raise _fail("phones", f"may hold at most {MAX_PHONES} numbers")
    result = {}
    for address, phone in phones.items():
        if len(address) > MAX_ADDRESS:
            raise _fail("phones", f"addresses may be at most {MAX_ADDRESS} characters")
        value = _string(phone, f"phones.{address[:64]}", 64, required=False).strip()
        if value:
            result[address.strip().lower()] = value
    return result


def parse_draft(data: dict[str, Any]) -> Draft:
    """The draft in a request body (``data`` is the parsed JSON object)."""
    sender = data.get("from")
    if sender is not None:
        sender = _string(sender, "from", MAX_ADDRESS).strip() or None
    to, cc, bcc = (_recipients(data, field) for field in FIELDS)
    total = 0
    for field, recipients in zip(FIELDS, (to, cc, bcc)):
        total += len(recipients)
        if total > MAX_RECIPIENTS:  # the field where the count goes over
            raise _fail(field, f"To, CC and BCC may hold at most {MAX_RECIPIENTS} recipients together")
    phones = _phones(data)
    _check_idn_domains(sender, to, cc, bcc, phones)
    return Draft(
        sender=sender,
        to=to, cc=cc, bcc=bcc,
        subject=_string(data.get("subject"), "subject", MAX_SUBJECT, required=False),
        attachments=_attachments(data),
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
              *((field, [r.address for r in group]) for field, group in zip(FIELDS, (to, cc, bcc))),
              ("phones", list(phones))]
    for field, written in groups:
        for address in written:
            domain = _idn_domain(address)
            if domain is not None:
                seen.add(domain)
                if len(seen) > MAX_IDN_DOMAINS:
                    raise _fail(field, f"the draft may name at most {MAX_IDN_DOMAINS} different "
                                       "internationalised domains")
