"""The reference gateway check (issue 10 item 6; SPEC S8, S9, X3; docs/sending.md "Gateway").

What a mail gateway does with a message that arrives from Exchange Online, in order:
1. read ``X-SendSecure-Envelope`` and ``X-SendSecure-Stamp`` from the headers (exactly one each);
2. verify the stamp offline against the deployment's JWKS (type, key id, signature, time);
3. the envelope header and the From mailbox must be what the stamp says;
4. take the envelope (API ``GET /gateway/envelopes/{id}``, or a file) and verify its own
   signature with the same keys, by the stamp's own key (``kid``); it must be the stamp's envelope
   (id, tenant, sender, policy, routes), and its recipient set must be the stamp's digest (HMAC
   under its ``recipient_salt``);
5. every SMTP ``RCPT TO`` must be in that set (Exchange may split one message into several SMTP
   transactions, so a part of the set is fine; ``require_all`` asks for all of it), and the To
   and Cc headers must show exactly the envelope's To and CC recipients, field by field;
6. every attachment of the message (``sendsecure.core.mimeparts``, which the policy dry-run
   reads attachments with too: a MIME part with a file name, inline ones included, or any part
   that is neither the body's text nor a container) must be one of the envelope's: the same name
   after RFC 2231/2047 decoding, the size within ``size_tolerance`` (Outlook reports Exchange's
   size, a little above the decoded bytes); each envelope entry pays for one part. An envelope
   entry without a part (a cloud attachment goes as a link) is counted, not refused;
7. the delivery plan per RCPT: direct, the NTA route (with the Viewer fallback if there is one),
   or the Viewer with the access code by SMS or e-mail, notification in the envelope's language;
8. with a ``delivered`` ledger (``delivered.DeliveredFile``), the (envelope, RCPT) pairs are
   claimed last, atomically: a pair claimed before is ``Rejected("already_delivered")``.
Any failure is ``Rejected`` with a stable reason; the gateway reroutes or refuses such mail.
"""
from __future__ import annotations

import email.message
import email.parser
import email.policy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from sendsecure.core import mimeparts
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.envelope import (
    Envelope,
    EnvelopeAttachment,
    EnvelopeError,
    EnvelopeSignatureInvalid,
    verify_envelope,
)
from sendsecure.core.mimeparts import PARSER_ERRORS, MessageAttachment, UnreadableMessage
from sendsecure.core.signing import VerificationKeys
from sendsecure.core.stamp import (
    HEADER_ENVELOPE,
    HEADER_STAMP,
    LEEWAY,
    StampClaims,
    StampInvalid,
    route_counts,
    verify_stamp,
)
from sendsecure.gateway.delivered import DeliveryLedger

LANGUAGE_NAMES = {"nl": "Dutch", "en": "English", "de": "German"}
# How far a part's decoded size may lie from the size the envelope recorded: Outlook reports
# Exchange's attachment size, which counts the attachment's properties too (its name in UTF-16
# more than once, content id, type): a few hundred bytes more than the file, over a kilobyte
# for a long name. docs/sending.md "What the check compares".
ATTACHMENT_SLACK_BYTES = 4096
ATTACHMENT_SLACK_PERCENT = 2
CODE_CHANNELS = {"sms": "SMS", "email": "e-mail"}


class Rejected(Exception):
    """The message must not be delivered as secure mail. ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StampedHeaders:
    envelope_id: str
    stamp: str
    sender: str | None            # the From mailbox, normalised; None if not exactly one valid address
    visible: frozenset[str]       # To and Cc addresses, normalised (unparseable ones as written)
    to: frozenset[str]            # the To addresses alone, the same way
    cc: frozenset[str]            # the Cc addresses alone


@dataclass(frozen=True, slots=True)
class PlanStep:
    address: str
    field: str
    route: str
    access_code: str | None
    fallback_access_code: str | None
    action: str


@dataclass(frozen=True, slots=True)
class DeliveryPlan:
    envelope_id: str
    tenant_id: str
    sender: str
    kid: str
    expires_at: int
    notification_language: str
    complete: bool                # the RCPT set is the whole stamped set
    steps: tuple[PlanStep, ...]
    attachments: int = 0          # attachments in the message, each one of the envelope's
    attachments_absent: int = 0   # envelope attachments the message does not carry (cloud links)

    def to_dict(self) -> dict[str, object]:
        return {
            "verdict": "deliver", "envelope_id": self.envelope_id, "tenant_id": self.tenant_id,
            "sender": self.sender, "kid": self.kid,
            "stamp_expires_at": datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "notification_language": self.notification_language, "complete": self.complete,
            "attachments": {"in_message": self.attachments, "absent": self.attachments_absent},
            "recipients": [
                {"address": step.address, "field": step.field, "route": step.route,
                 "access_code": step.access_code, "fallback_access_code": step.fallback_access_code,
                 "action": step.action}
                for step in self.steps
            ],
        }


def normal_address(address: str) -> str:
    """An address as the envelope holds it (``normalise_mailbox``); one that is not valid, lower case."""
    try:
        return normalise_mailbox(address)
    except InvalidAddress:
        return address.strip().lower()


def _one(message: email.message.EmailMessage, name: str) -> str:
    values = message.get_all(name) or []
    if not values:
        raise Rejected("no_stamp", f"the message has no {name} header")
    if len(values) > 1:
        raise Rejected("multiple_stamps", f"the message has {len(values)} {name} headers")
    # Unfolded and RFC 2047-decoded: a token longer than a line may come as encoded words.
    return "".join(str(values[0]).split())


def _addresses(message: email.message.EmailMessage, *names: str) -> list[str]:
    found: list[str] = []
    for name in names:
        for value in message.get_all(name) or []:
            found.extend(address.addr_spec for address in getattr(value, "addresses", ()))
    return found


def read_headers(message: bytes) -> StampedHeaders:
    """The stamp headers, the From mailbox and the To/Cc addresses of a message (RFC 5322);
    ``Rejected("message_unreadable")`` when Python's header parser fails on them (comments nested
    past its recursion limit included)."""
    try:
        return _read_headers(message)
    except (RecursionError, *PARSER_ERRORS):
        raise Rejected("message_unreadable", "a header of the message cannot be read") from None


def _read_headers(message: bytes) -> StampedHeaders:
    parsed = email.parser.BytesHeaderParser(policy=email.policy.default).parsebytes(message)
    assert isinstance(parsed, email.message.EmailMessage)
    stamp = _one(parsed, HEADER_STAMP)
    envelope_id = _one(parsed, HEADER_ENVELOPE)
    senders = _addresses(parsed, "From")
    sender = None
    if len(senders) == 1:
        try:
            sender = normalise_mailbox(senders[0])
        except InvalidAddress:
            sender = None
    to = frozenset(normal_address(address) for address in _addresses(parsed, "To") if address)
    cc = frozenset(normal_address(address) for address in _addresses(parsed, "Cc") if address)
    return StampedHeaders(envelope_id=envelope_id, stamp=stamp, sender=sender, visible=to | cc, to=to, cc=cc)


def size_tolerance(recorded: int) -> int:
    """The larger of ``ATTACHMENT_SLACK_BYTES`` and ``ATTACHMENT_SLACK_PERCENT`` % of the size."""
    return max(ATTACHMENT_SLACK_BYTES, recorded * ATTACHMENT_SLACK_PERCENT // 100)


def read_attachments(message: bytes) -> tuple[MessageAttachment, ...]:
    """The message's attachments as ``sendsecure.core.mimeparts`` reads them (the policy dry-run
    reads them the same way); ``Rejected("message_unreadable")`` for a message that reading
    cannot be sure of."""
    try:
        return mimeparts.read_attachments(message)
    except UnreadableMessage as exc:
        raise Rejected("message_unreadable", str(exc)) from None


def _match_attachments(found: Sequence[MessageAttachment], recorded: Sequence[EnvelopeAttachment]) -> int:
    """How many recorded attachments the message lacks; ``Rejected("attachments_mismatch")`` when
    a part of the message is none of them. Per name, sizes ascending: an envelope size whose
    window ends below a part's size is of no use to a larger part, and one whose window starts
    above it fits no part at all, so pairing in order is the largest pairing."""
    by_name = _sizes_by_name(recorded)
    unmatched = 0
    matched = 0
    for name, sizes in _sizes_by_name(found).items():
        available = sorted(by_name.get(name, ()))
        index = 0
        for size in sorted(sizes):
            while index < len(available) and available[index] + size_tolerance(available[index]) < size:
                index += 1
            if index < len(available) and available[index] - size_tolerance(available[index]) <= size:
                index += 1
                matched += 1
            else:
                unmatched += 1
    if unmatched:
        raise Rejected("attachments_mismatch", f"{unmatched} of the message's {len(found)} attachments "
                                               "are not in the envelope (name, and size within the tolerance)")
    return len(recorded) - matched


def _sizes_by_name(items: Sequence[MessageAttachment | EnvelopeAttachment]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for item in items:
        groups.setdefault(item.name, []).append(item.size)
    return groups


def _action(route: str, access_code: str | None, fallback: str | None, language: str) -> str:
    notification = f"notification in {LANGUAGE_NAMES.get(language, language)} ({language})"
    if route == "direct":
        return "deliver directly (own organisation or community)"
    if route == "nta7516":
        if fallback is None:
            return "relay over the NTA 7516 route; if that fails, bounce (no Viewer fallback)"
        return (f"relay over the NTA 7516 route; if that fails, Viewer: {notification}, "
                f"access code by {CODE_CHANNELS[fallback]}")
    return f"Viewer: {notification}, access code by {CODE_CHANNELS.get(access_code or '', 'e-mail')}"


def _verify_stamp(token: str, keys: VerificationKeys, refresh: Callable[[], VerificationKeys] | None,
                  now: datetime) -> tuple[StampClaims, VerificationKeys]:
    try:
        return verify_stamp(token, keys, now=now), keys
    except StampInvalid as exc:
        if exc.reason != "unknown_key" or refresh is None:
            raise Rejected(exc.reason, str(exc)) from None
    keys = refresh()  # a key newer than our copy of the JWKS: fetch it once more
    try:
        return verify_stamp(token, keys, now=now), keys
    except StampInvalid as exc:
        raise Rejected(exc.reason, str(exc)) from None


def _verify_envelope(record: Mapping[str, object], keys: VerificationKeys, claims: StampClaims,
                     stamp_kid: str) -> Envelope:
    try:
        envelope = verify_envelope(record, keys)
    except EnvelopeSignatureInvalid as exc:
        raise Rejected("envelope_signature", f"the envelope's signature does not verify: {exc}") from None
    except EnvelopeError as exc:
        raise Rejected("envelope_invalid", f"the envelope cannot be read: {exc}") from None
    # The back end signs an envelope and its stamp in the same request with the same (current)
    # key, and a retry answers the stored pair: another key on either is not our pair.
    if _kid(envelope.signature) != stamp_kid:
        raise Rejected("key_mismatch", "the envelope and the stamp are signed by different keys")
    if envelope.envelope_id != claims.envelope_id:
        raise Rejected("envelope_mismatch", "the envelope is not the one the stamp names")
    if (envelope.tenant_id, envelope.sender, envelope.policy_version) != (
            claims.tenant_id, claims.sender, claims.policy_version):
        raise Rejected("envelope_mismatch", "the envelope's tenant, sender or policy is not the stamp's")
    if route_counts(envelope) != dict(claims.routes):
        raise Rejected("envelope_mismatch", "the envelope's routes are not the stamp's")
    if not claims.matches_recipients(envelope.salt(), envelope.addresses):
        raise Rejected("recipient_digest", "the envelope's recipients are not the stamped recipient set")
    return envelope


def _check_fields(headers: StampedHeaders, envelope: Envelope) -> None:
    """The To header shows exactly the envelope's To recipients and the Cc header its CC ones
    (S2 records each recipient's field). A draft that names one address in To and in CC has it
    once in the envelope, at its first place (To; core/rules.py), so the Cc header may repeat a
    To recipient; a CC recipient in the To header is a move and refused."""
    to = {recipient.address for recipient in envelope.recipients if recipient.field == "to"}
    cc = {recipient.address for recipient in envelope.recipients if recipient.field == "cc"}
    if headers.to != to or not cc <= headers.cc <= cc | to:
        raise Rejected("header_recipients_mismatch", "the To and Cc headers are not the stamped To and CC recipients, "
                                                     "field by field")


def check_message(
    message: bytes,
    rcpts: Sequence[str],
    *,
    keys: VerificationKeys,
    envelope_record: Mapping[str, object] | Callable[[str], Mapping[str, object]],
    now: datetime,
    refresh_keys: Callable[[], VerificationKeys] | None = None,
    require_all: bool = False,
    delivered: DeliveryLedger | None = None,
) -> DeliveryPlan:
    """The delivery plan of a stamped message for these RCPT TO addresses, or ``Rejected``.

    ``envelope_record`` is the envelope (a mapping) or a function of the envelope id that
    fetches it (called only after the stamp verified). ``delivered``: the gateway's record of
    delivered (envelope, recipient) pairs; when given, a passing check claims its pairs there
    (the last step, so a refused message claims nothing) and a pair claimed before is
    ``already_delivered``. Its ``DeliveredUnavailable`` passes through (defer)."""
    if not rcpts:
        raise Rejected("no_recipients", "no RCPT TO address given")
    headers = read_headers(message)
    claims, keys = _verify_stamp(headers.stamp, keys, refresh_keys, now)
    if headers.envelope_id != claims.envelope_id:
        raise Rejected("envelope_header_mismatch", f"{HEADER_ENVELOPE} is not the envelope the stamp names")
    if headers.sender != claims.sender:
        raise Rejected("sender_mismatch", "the From mailbox is not the stamped sender")
    kid = _kid(headers.stamp)
    record = envelope_record(claims.envelope_id) if callable(envelope_record) else envelope_record
    envelope = _verify_envelope(record, keys, claims, kid)
    stamped = envelope.addresses
    normalised = [normal_address(address) for address in rcpts]
    for position, address in enumerate(normalised, start=1):
        if address not in stamped:
            raise Rejected("recipient_not_stamped", f"RCPT #{position} is not in the stamped recipient set")
    complete = set(normalised) == stamped
    if require_all and not complete:
        raise Rejected("recipients_missing", "the RCPT set is only part of the stamped recipient set")
    _check_fields(headers, envelope)
    attachments = read_attachments(message)
    absent = _match_attachments(attachments, envelope.attachments)
    by_address = {recipient.address: recipient for recipient in reversed(envelope.recipients)}
    steps = []
    for address in dict.fromkeys(normalised):
        recipient = by_address[address]
        fallback = recipient.fallback.access_code if recipient.fallback else None
        steps.append(PlanStep(
            address=address, field=recipient.field, route=recipient.route, access_code=recipient.access_code,
            fallback_access_code=fallback,
            action=_action(recipient.route, recipient.access_code, fallback, envelope.notification_language),
        ))
    if delivered is not None:
        before = delivered.claim(envelope.envelope_id, [step.address for step in steps],
                                 keep_until=claims.expires_at + int(LEEWAY.total_seconds()),
                                 now=int(now.timestamp()))
        if before:
            raise Rejected("already_delivered", f"{len(before)} of this transaction's {len(steps)} recipients "
                                                "had this message delivered before")
    return DeliveryPlan(
        envelope_id=envelope.envelope_id, tenant_id=envelope.tenant_id, sender=envelope.sender, kid=kid,
        expires_at=claims.expires_at, notification_language=envelope.notification_language,
        complete=complete, steps=tuple(steps), attachments=len(attachments), attachments_absent=absent,
    )


def _kid(token: str) -> str:
    kid = jwt.get_unverified_header(token).get("kid")
    return kid if isinstance(kid, str) else ""
