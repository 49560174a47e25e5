"""The envelope of a secure message (SPEC S2-S4, S8; API.md "Sending"; docs/sending.md). Pure.

An envelope records who sent (the person ``sent_by`` and the From mailbox ``sender``, A4), when,
each recipient with its field, category, route and access-code channel (for an NTA-route
recipient also the Viewer ``fallback``, V-R4), the attachments' names and sizes, the
notification language (V-M2), the installation type, the domain book version and the policy
version the verdict used. It is built from plain recipient records (``EnvelopeRecipient``), not
from the verdict type.

Signed form: the record as JSON, less ``signature`` and ``headers``, in the RFC 8785 JSON
Canonicalization Scheme (the ``rfc8785`` package). ``signature`` is a compact JWS with a
detached, unencoded payload (RFC 7515 appendix F with RFC 7797 ``b64: false``):
``<header>..<signature>``, header ``{"alg": "EdDSA", "b64": false, "crit": ["b64"], "kid",
"typ": "sendsecure-envelope+jcs"}``. Everything in the record but those two fields is signed,
so a field added to a stored record breaks the signature as surely as a changed one, and an
auditor verifies the record alone against the published keys (``verify_envelope``).

Recipient order: the envelope keeps the draft's order (To, then CC, then BCC, each as given); it
is part of the signed record. The draft digest (S4) ignores order within a field; the stamp's
recipient digest (``stamp.py``) is over the set.

``recipient_salt`` is the per-envelope secret (32 random bytes) under which the stamp's recipient
digest is computed; it lives here, never in a header (S8; docs/sending.md "Recipient digest").
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, cast

import jwt

from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.canonical import CanonicalizationError, canonical_json
from sendsecure.core.signing import ALGORITHM, SigningKey, VerificationKeys, b64url, b64url_decode

ENVELOPE_VERSION = 1
ENVELOPE_TYP = "sendsecure-envelope+jcs"
SALT_BYTES = 32
UNSIGNED_FIELDS = frozenset({"signature", "headers"})
SIGNED_FIELDS = frozenset({
    "envelope_version", "envelope_id", "message_id", "created_at", "tenant_id", "sender", "sent_by",
    "recipients", "attachments", "notification_language", "installation_type", "domain_book_version",
    "policy_version", "recipient_salt",
})

Field = Literal["to", "cc", "bcc"]
Category = Literal["own_organisation", "community", "nta7516", "external"]
Route = Literal["direct", "nta7516", "viewer"]
AccessCode = Literal["sms", "email"]
Language = Literal["nl", "en", "de"]
InstallationType = Literal["viewer_sms_required", "viewer_sms_optional", "viewer", "standard"]

FIELDS: tuple[Field, ...] = ("to", "cc", "bcc")
CATEGORIES: tuple[Category, ...] = ("own_organisation", "community", "nta7516", "external")
ROUTES: tuple[Route, ...] = ("direct", "nta7516", "viewer")
ACCESS_CODES: tuple[AccessCode, ...] = ("sms", "email")
LANGUAGES: tuple[Language, ...] = ("nl", "en", "de")
INSTALLATION_TYPES: tuple[InstallationType, ...] = ("viewer_sms_required", "viewer_sms_optional", "viewer", "standard")


class EnvelopeError(ValueError):
    """An envelope that cannot be built or read: the message names the field, never its value."""


class EnvelopeSignatureInvalid(EnvelopeError):
    """The record's signature does not verify: changed, unsigned, or signed by an unknown key."""


def _member(value: object, allowed: tuple[str, ...], what: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise EnvelopeError(f"{what} is not one of {', '.join(allowed)}")
    return value


def _text(value: object, what: str, limit: int = 1000, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or len(value) > limit:
        raise EnvelopeError(f"{what} must be a string of at most {limit} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise EnvelopeError(f"{what} is not valid Unicode") from None
    return value


def _mailbox(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise EnvelopeError(f"{what} must be an e-mail address")
    try:
        return normalise_mailbox(value)
    except InvalidAddress:
        raise EnvelopeError(f"{what} is not a valid e-mail address") from None


@dataclass(frozen=True, slots=True)
class Fallback:
    """Where an NTA-route recipient's message goes if NTA delivery fails: the Viewer (V-R4)."""

    access_code: AccessCode
    route: Literal["viewer"] = "viewer"


@dataclass(frozen=True, slots=True)
class EnvelopeRecipient:
    address: str
    field: Field
    category: Category
    route: Route
    access_code: AccessCode | None
    fallback: Fallback | None = None

    def __post_init__(self) -> None:
        _member(self.field, FIELDS, "field")
        _member(self.category, CATEGORIES, "category")
        _member(self.route, ROUTES, "route")
        if self.route == "viewer":
            _member(self.access_code, ACCESS_CODES, "access_code of a Viewer recipient")
        elif self.access_code is not None:
            raise EnvelopeError("access_code is only for Viewer recipients")
        if self.fallback is not None:
            if self.route != "nta7516":
                raise EnvelopeError("fallback is only for NTA-route recipients")
            _member(self.fallback.route, ("viewer",), "fallback route")
            _member(self.fallback.access_code, ACCESS_CODES, "fallback access_code")

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "address": self.address, "field": self.field, "category": self.category,
            "route": self.route, "access_code": self.access_code,
        }
        if self.fallback is not None:
            data["fallback"] = {"route": self.fallback.route, "access_code": self.fallback.access_code}
        return data


@dataclass(frozen=True, slots=True)
class EnvelopeAttachment:
    name: str
    size: int

    def __post_init__(self) -> None:
        _text(self.name, "attachment name", 255, empty=True)
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size < 2**53:
            raise EnvelopeError("attachment size must be a non-negative integer")


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise EnvelopeError("created_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(text: object) -> datetime:
    if not isinstance(text, str):
        raise EnvelopeError("created_at must be a UTC time like 2026-12-01T09:30:00Z")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise EnvelopeError("created_at must be a UTC time like 2026-12-01T09:30:00Z") from None
    return moment


@dataclass(frozen=True, slots=True)
class Envelope:
    """One secure message's envelope; ``signature`` is empty until ``sign_envelope``."""

    envelope_id: str
    message_id: str
    created_at: datetime          # UTC, whole seconds
    tenant_id: str
    sender: str                   # the From mailbox (A4)
    sent_by: str                  # the person: the session's mailbox
    recipients: tuple[EnvelopeRecipient, ...]
    attachments: tuple[EnvelopeAttachment, ...]
    notification_language: Language
    installation_type: InstallationType
    domain_book_version: str
    policy_version: str
    recipient_salt: str           # base64url of 32 random bytes; the key of the stamp's recipient digest
    signature: str = ""

    def signed_dict(self) -> dict[str, object]:
        """The record less ``signature`` and ``headers``: what the signature covers."""
        return {
            "envelope_version": ENVELOPE_VERSION,
            "envelope_id": self.envelope_id,
            "message_id": self.message_id,
            "created_at": _timestamp(self.created_at),
            "tenant_id": self.tenant_id,
            "sender": self.sender,
            "sent_by": self.sent_by,
            "recipients": [recipient.to_dict() for recipient in self.recipients],
            "attachments": [{"name": item.name, "size": item.size} for item in self.attachments],
            "notification_language": self.notification_language,
            "installation_type": self.installation_type,
            "domain_book_version": self.domain_book_version,
            "policy_version": self.policy_version,
            "recipient_salt": self.recipient_salt,
        }

    def to_dict(self) -> dict[str, object]:
        """The stored record (and the API's envelope, without ``headers``)."""
        return {**self.signed_dict(), "signature": self.signature}

    def salt(self) -> bytes:
        return b64url_decode(self.recipient_salt)

    @property
    def addresses(self) -> frozenset[str]:
        """The whole recipient set, BCC included (already normalised)."""
        return frozenset(recipient.address for recipient in self.recipients)

    @property
    def visible_recipients(self) -> tuple[EnvelopeRecipient, ...]:
        """To and CC: what the message's own headers show anyway."""
        return tuple(recipient for recipient in self.recipients if recipient.field != "bcc")


def new_envelope_id() -> str:
    """A random (version 4) UUID: unguessable, so an id seen in a header opens nothing by itself."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def new_recipient_salt() -> str:
    return b64url(secrets.token_bytes(SALT_BYTES))


def build_envelope(
    *,
    envelope_id: str,
    message_id: str,
    created_at: datetime,
    tenant_id: str,
    sender: str,
    sent_by: str,
    recipients: Iterable[EnvelopeRecipient],
    attachments: Iterable[EnvelopeAttachment],
    notification_language: str,
    installation_type: str,
    domain_book_version: str,
    policy_version: str,
    recipient_salt: str,
) -> Envelope:
    """An unsigned envelope from plain inputs; addresses normalised (``normalise_mailbox``),
    ``created_at`` cut to whole seconds in UTC. Raises ``EnvelopeError`` naming the field.

    The envelope id, tenant id and policy version are at most 40 characters (a UUID is 36): with
    a 254-character sender the stamp then still fits on one 998-character header line (RFC 5322
    2.1.1), which matters because a compact JWS has no place where a header could be folded."""
    rows = tuple(recipients)
    if not rows:
        raise EnvelopeError("an envelope needs at least one recipient")
    normalised = tuple(
        EnvelopeRecipient(
            address=_mailbox(row.address, f"recipients[{index}].address"), field=row.field,
            category=row.category, route=row.route, access_code=row.access_code, fallback=row.fallback,
        )
        for index, row in enumerate(rows)
    )
    try:
        salt = b64url_decode(recipient_salt)
    except ValueError:
        salt = b""
    if len(salt) != SALT_BYTES:
        raise EnvelopeError("recipient_salt must be 32 bytes in base64url")
    return Envelope(
        envelope_id=_text(envelope_id, "envelope_id", 40),
        message_id=_text(message_id, "message_id", 1000),
        created_at=_parse_timestamp(_timestamp(created_at)),
        tenant_id=_text(tenant_id, "tenant_id", 40),
        sender=_mailbox(sender, "sender"),
        sent_by=_mailbox(sent_by, "sent_by"),
        recipients=normalised,
        attachments=tuple(attachments),
        notification_language=cast(Language, _member(notification_language, LANGUAGES, "notification_language")),
        installation_type=cast(InstallationType, _member(installation_type, INSTALLATION_TYPES, "installation_type")),
        domain_book_version=_text(domain_book_version, "domain_book_version", 200),
        policy_version=_text(policy_version, "policy_version", 40),
        recipient_salt=recipient_salt,
    )


# ----- the record: canonical form, signature, reading it back ----------------------------------------

def canonical_form(record: Mapping[str, object]) -> bytes:
    """RFC 8785 bytes of a record less ``signature`` and ``headers``: the signed payload."""
    signed = {name: value for name, value in record.items() if name not in UNSIGNED_FIELDS}
    try:
        return canonical_json(cast(Any, signed))
    except (CanonicalizationError, TypeError, ValueError):
        raise EnvelopeError("the record is not JSON that RFC 8785 can canonicalise") from None


def sign_envelope(envelope: Envelope, key: SigningKey) -> Envelope:
    """The envelope with ``signature``: a detached compact JWS over ``canonical_form``."""
    payload = canonical_form(envelope.signed_dict())
    signature = jwt.PyJWS().encode(
        payload, key.private_key, algorithm=ALGORITHM,
        headers={"kid": key.kid, "typ": ENVELOPE_TYP}, is_payload_detached=True,
    )
    return replace(envelope, signature=signature)


def _any(data: Mapping[str, Any], name: str) -> Any:
    """A value of a JSON record, to be checked by the builder it is handed to."""
    return data.get(name)


def verify_envelope(record: Mapping[str, object], keys: VerificationKeys) -> Envelope:
    """Check a stored record's signature against the published keys, then read it.

    Raises ``EnvelopeSignatureInvalid`` (no signature, unknown key, any change) or
    ``EnvelopeError`` (a signed record that is not an envelope of this version)."""
    signature = record.get("signature")
    if not isinstance(signature, str) or signature.count(".") != 2 or ".." not in signature:
        raise EnvelopeSignatureInvalid("the record has no detached JWS signature")
    try:
        header = jwt.get_unverified_header(signature)
    except jwt.PyJWTError:
        raise EnvelopeSignatureInvalid("the signature's header cannot be read") from None
    if header.get("typ") != ENVELOPE_TYP or header.get("alg") != ALGORITHM or header.get("b64") is not False:
        raise EnvelopeSignatureInvalid("the signature is not an envelope signature")
    public_key = keys.get(header.get("kid"))
    if public_key is None:
        raise EnvelopeSignatureInvalid("signed by a key that is not in the key set")
    try:
        payload = canonical_form(record)
    except EnvelopeError as exc:
        raise EnvelopeSignatureInvalid(str(exc)) from None
    try:
        jwt.PyJWS().decode_complete(signature, public_key, algorithms=[ALGORITHM], detached_payload=payload)
    except jwt.PyJWTError:
        raise EnvelopeSignatureInvalid("the signature does not match the record") from None
    return envelope_from_dict(record)


def envelope_from_dict(record: Mapping[str, object]) -> Envelope:
    """Read a record (as ``Envelope.to_dict`` wrote it) back; raises ``EnvelopeError``."""
    data: Mapping[str, Any] = record
    unknown = set(record) - SIGNED_FIELDS - UNSIGNED_FIELDS
    if unknown:
        raise EnvelopeError("the record has fields this envelope version does not know")
    if type(record.get("envelope_version")) is not int or record.get("envelope_version") != ENVELOPE_VERSION:
        raise EnvelopeError(f"envelope_version must be {ENVELOPE_VERSION}")
    raw_recipients = record.get("recipients")
    raw_attachments = record.get("attachments")
    if not isinstance(raw_recipients, list) or not isinstance(raw_attachments, list):
        raise EnvelopeError("recipients and attachments must be lists")
    recipients = tuple(_recipient_from_dict(item, index) for index, item in enumerate(raw_recipients))
    attachments = tuple(_attachment_from_dict(item) for item in raw_attachments)
    signature = record.get("signature", "")
    envelope = build_envelope(
        envelope_id=_any(data, "envelope_id"),
        message_id=_any(data, "message_id"),
        created_at=_parse_timestamp(record.get("created_at")),
        tenant_id=_any(data, "tenant_id"),
        sender=_any(data, "sender"),
        sent_by=_any(data, "sent_by"),
        recipients=recipients,
        attachments=attachments,
        notification_language=_any(data, "notification_language"),
        installation_type=_any(data, "installation_type"),
        domain_book_version=_any(data, "domain_book_version"),
        policy_version=_any(data, "policy_version"),
        recipient_salt=_any(data, "recipient_salt"),
    )
    if envelope.signed_dict() != {name: value for name, value in record.items() if name not in UNSIGNED_FIELDS}:
        raise EnvelopeError("the record is not in its normal form (addresses, time)")
    return replace(envelope, signature=signature if isinstance(signature, str) else "")


def _recipient_from_dict(item: object, index: int) -> EnvelopeRecipient:
    if not isinstance(item, Mapping) or not set(item) <= {"address", "field", "category", "route", "access_code",
                                                          "fallback"}:
        raise EnvelopeError(f"recipients[{index}] is not a recipient")
    fallback = item.get("fallback")
    if fallback is not None:
        if not isinstance(fallback, Mapping) or set(fallback) != {"route", "access_code"}:
            raise EnvelopeError(f"recipients[{index}].fallback is not a fallback")
        fallback = Fallback(access_code=fallback["access_code"], route=fallback["route"])
    return EnvelopeRecipient(
        address=_any(item, "address"), field=_any(item, "field"), category=_any(item, "category"),
        route=_any(item, "route"), access_code=_any(item, "access_code"), fallback=fallback,
    )


def _attachment_from_dict(item: object) -> EnvelopeAttachment:
    if not isinstance(item, Mapping) or set(item) != {"name", "size"}:
        raise EnvelopeError("an attachment is {name, size}")
    return EnvelopeAttachment(name=item["name"], size=item["size"])


# ----- the draft digest (S4: same message_id + same draft = same envelope) -----------------------------

class DraftRecipientLike(Protocol):
    @property
    def address(self) -> str: ...
    @property
    def type(self) -> str: ...


class DraftAttachmentLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def inline(self) -> bool: ...


class DraftLike(Protocol):
    """What the digest reads of a parsed draft (``core.drafts.Draft`` or its successor)."""

    @property
    def sender(self) -> str | None: ...
    @property
    def to(self) -> Sequence[DraftRecipientLike]: ...
    @property
    def cc(self) -> Sequence[DraftRecipientLike]: ...
    @property
    def bcc(self) -> Sequence[DraftRecipientLike]: ...
    @property
    def subject(self) -> str: ...
    @property
    def attachments(self) -> Sequence[DraftAttachmentLike]: ...
    @property
    def phones(self) -> Mapping[str, str]: ...


def _address_key(address: str) -> str:
    try:
        return normalise_mailbox(address)
    except InvalidAddress:
        return address.strip().lower()  # not sendable anyway (V-R8); only needs to be stable


def draft_form(draft: DraftLike, *, default_sender: str) -> dict[str, object]:
    """The draft as it matters for the message, in a normal form.

    Kept: the From mailbox (``default_sender`` when the draft has none), each field's recipients
    with their Outlook type (a distribution list blocks, V-R5), the subject exactly (it is part
    of the message and sets the notification language, V-M2), attachments (name, size, inline),
    and which recipients have a typed phone (that decides SMS or e-mail code, V-R3).
    Ignored: JSON key order (the draft is parsed), letter case and IDN spelling of addresses,
    display names, the order of recipients within a field and of attachments, and the phone
    numbers themselves (they go to the phone store, P1, not into the envelope)."""
    recipients: dict[str, object] = {
        name: sorted([_address_key(item.address), item.type] for item in getattr(draft, name))
        for name in FIELDS
    }
    addresses = {_address_key(item.address) for name in FIELDS for item in getattr(draft, name)}
    phones = sorted(
        {_address_key(address) for address, phone in draft.phones.items() if phone.strip()} & addresses
    )
    return {
        "from": _address_key(draft.sender or default_sender),
        **recipients,
        "subject": draft.subject,
        "attachments": sorted([item.name, item.size, bool(item.inline)] for item in draft.attachments),
        "phones": phones,
    }


def draft_digest(draft: DraftLike, *, default_sender: str, key: bytes) -> str:
    """HMAC-SHA256 (base64url) of ``draft_form`` in RFC 8785 form, under a server key.

    Keyed, because a plain hash of a draft could be tested against guessed subjects by anyone
    holding the stored record. Store it with the envelope; equal digests = the same draft."""
    if len(key) < 32:
        raise EnvelopeError("the draft digest key must be at least 32 bytes")
    try:
        payload = canonical_json(cast(Any, draft_form(draft, default_sender=default_sender)))
    except (CanonicalizationError, TypeError, ValueError):
        raise EnvelopeError("the draft is not JSON that RFC 8785 can canonicalise") from None
    return b64url(hmac.new(key, payload, hashlib.sha256).digest())
