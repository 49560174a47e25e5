"""The API's typed models (msgspec Structs): request bodies in, answers out (issue 9 item 2).

One library for models, validation, JSON and JSON Schema: msgspec (docs/decisions.md,
bench/models_choice.py). Each trigger turns its parsed body into one of the ``*Body`` models
with ``convert`` (400 ``invalid_body`` naming the field path, ``to[0].address``); the engine
and the services answer with the answer models, which ``httpapi.json_response`` encodes and the
OpenAPI document (``sendsecure.http.openapi``) describes from the same classes. Pure.
"""
from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from sendsecure.errors import InvalidBody

T = TypeVar("T")

MAX_ADDRESS = 320             # RFC 5321: local part 64, domain 255 (drafts, login)
MAX_NAME = 256                # a display name
MAX_SUBJECT = 2000
MAX_RECIPIENTS = 500          # To, CC and BCC together: Exchange Online's default per message (V-R1: >100 blocks)
MAX_ATTACHMENTS = 250
MAX_ATTACHMENT_NAME = 255     # a file name (NTFS, ext4)
MAX_ATTACHMENT_SIZE = 10 * 1024**3
MAX_PHONES = MAX_RECIPIENTS   # one per recipient
MAX_IDN_DOMAINS = 10          # IDNA encoding, decoding and display cost ~0.2 ms each (issue 7 item 9)
MAX_PHONE = 64
PHONE_ADDRESS = 512           # the characters of one address as sent to /phones (a valid one has at most 254)
MAX_LOOKUP = 1000             # addresses per phone lookup (a draft's recipients)


def _bounded(limit: int, description: str | None = None) -> Any:
    return msgspec.Meta(max_length=limit, description=description)


class Category(StrEnum):
    """Where a recipient stands (V-R2); ``unknown`` without a domain book (V-O3)."""

    OWN = "own_organisation"
    COMMUNITY = "community"
    NTA = "nta7516"
    EXTERNAL = "external"
    UNKNOWN = "unknown"


class Route(StrEnum):
    """How a recipient would receive secure mail (V-R3, V-R4)."""

    DIRECT = "direct"
    NTA = "nta7516"
    VIEWER = "viewer"
    NONE = "none"


AddressForm = Literal["unicode", "punycode"]
RecipientType = Literal["user", "externalUser", "distributionList", "other"]
Language = Literal["nl", "en", "de"]
Severity = Literal["blocking", "warning", "info", "ok"]
Colour = Literal["red", "blue", "green"]
RecipientField = Literal["to", "cc", "bcc"]
AccessCode = Literal["sms", "email"]
PhoneInput = Literal["none", "optional", "required"]
Action = Literal["allow", "intercept"]


# ----- request bodies --------------------------------------------------------------------------

class RecipientBody(msgspec.Struct, frozen=True):
    address: Annotated[str, _bounded(MAX_ADDRESS)]
    name: Annotated[str, _bounded(MAX_NAME)] | None = None
    type: RecipientType = "user"


RecipientList = Annotated[list[Annotated[str, _bounded(MAX_ADDRESS)] | RecipientBody],
                          msgspec.Meta(max_length=MAX_RECIPIENTS)]


class AttachmentBody(msgspec.Struct, frozen=True):
    name: Annotated[str, _bounded(MAX_ATTACHMENT_NAME)]
    size: Annotated[int, msgspec.Meta(ge=0, le=MAX_ATTACHMENT_SIZE)]
    inline: bool = False


class DraftBody(msgspec.Struct, frozen=True):
    """A draft as the add-in sends it (API.md "Drafts"). An address that is not a valid one is
    not an input error: the verdict reports it (V-R8)."""

    sender: Annotated[str, _bounded(MAX_ADDRESS)] | None = msgspec.field(default=None, name="from")
    to: RecipientList | None = None
    cc: RecipientList | None = None
    bcc: RecipientList | None = None
    subject: Annotated[str, _bounded(MAX_SUBJECT)] | None = None
    attachments: Annotated[list[AttachmentBody], msgspec.Meta(max_length=MAX_ATTACHMENTS)] | None = None
    # Values are checked by drafts.parse_draft, which names the address in the field path.
    phones: Annotated[dict[Annotated[str, _bounded(MAX_ADDRESS)], Any],
                      msgspec.Meta(max_length=MAX_PHONES, description="address: phone number")] | None = None


class LoginCodeBody(msgspec.Struct, frozen=True):
    mailbox: Annotated[str, _bounded(MAX_ADDRESS, "an e-mail address (400 if it is not one)")]
    language: Annotated[str, _bounded(8, "nl, en or de; anything else: Accept-Language, else nl")] | None = None


class VerifyCodeBody(msgspec.Struct, frozen=True):
    challenge_id: Annotated[str, _bounded(64)]
    code: Annotated[str, _bounded(16)]
    device_id: Annotated[str, _bounded(128)] | None = None


class PhoneBody(msgspec.Struct, frozen=True):
    address: Annotated[str, _bounded(PHONE_ADDRESS, "the recipient (400 if not an address)")]
    phone: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PHONE, pattern=r"\S")]
    region: Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{2}$",
                                        description="default region for numbers without +, e.g. NL")] | None = None


class PhoneLookupBody(msgspec.Struct, frozen=True):
    addresses: Annotated[list[Annotated[str, _bounded(PHONE_ADDRESS)]], msgspec.Meta(max_length=MAX_LOOKUP)]


class PhoneRemoveBody(msgspec.Struct, frozen=True):
    address: Annotated[str, _bounded(PHONE_ADDRESS)]


class SettingsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A partial update: a field left out keeps its value; ``language: null`` follows the browser."""

    language: Language | None | msgspec.UnsetType = msgspec.UNSET
    send_delay_seconds: Literal[0, 5, 10] | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, Any]:
        return {name: value for name in self.__struct_fields__
                if (value := getattr(self, name)) is not msgspec.UNSET}


# ----- answers ---------------------------------------------------------------------------------

class Finding(msgspec.Struct, omit_defaults=True):
    """One finding with the data it used (X4): ``data`` is the finding's own (entry, book version)."""

    rule: str
    code: str
    severity: Severity
    colour: Colour
    message: str
    target: str
    data: dict[str, Any] | None = None


class VerdictSender(msgspec.Struct):
    address: str
    display_address: str
    address_form: AddressForm
    in_domain_book: bool
    nta7516: bool
    organisation: str | None
    person: str


class VerdictRecipient(msgspec.Struct):
    address: str
    display_address: str
    address_form: AddressForm
    name: str
    field: RecipientField
    category: Category
    route: Route
    access_code: AccessCode | None
    phone_input: PhoneInput
    stored_phone: str | None
    nta7516: bool | None     # V-S2: null unless the sender's organisation meets NTA 7516
    valid: bool
    organisation: str | None
    network: str | None


class AttachmentItem(msgspec.Struct):
    name: str
    size: int
    extension: str
    inline: bool
    blocked: bool


class AttachmentSummary(msgspec.Struct):
    count: int
    total_size: int
    limit: int
    items: list[AttachmentItem]
    limits_apply: bool
    blocked_list: str


class VerdictBook(msgspec.Struct):
    available: bool
    variant: str | None
    version: str | None
    synced_at: str | None
    age_seconds: int | None


class Verdict(msgspec.Struct):
    can_send_secure: bool
    auto_send: bool
    standard_send_offered: bool
    needs_confirmation: bool
    notification_language: Language
    installation_type: str
    domain_book: VerdictBook
    sender: VerdictSender
    recipients: list[VerdictRecipient]
    attachments: AttachmentSummary
    findings: list[Finding]


class OnSendDecision(msgspec.Struct):
    action: Action
    reasons: list[str]
    verdict: Verdict


class SessionAnswer(msgspec.Struct):
    """The caller's session: what ``GET /session`` answers and ``verify`` answers with a token."""

    mailbox: str
    tenant_id: str
    login_method: str
    device_id: str
    expires_at: str
    idle_expires_at: str
    idle_timeout_seconds: int


class LoginAnswer(SessionAnswer, kw_only=True):
    session_token: str


class LoginChallenge(msgspec.Struct):
    challenge_id: str
    expires_in: int


class SettingsAnswer(msgspec.Struct):
    language: Language
    language_chosen: bool
    send_delay_seconds: Literal[0, 5, 10]


class StoredPhone(msgspec.Struct):
    address: str
    phone: str              # E.164
    national_format: str
    region: str


class PhoneLookupAnswer(msgspec.Struct):
    phones: list[StoredPhone]


class Country(msgspec.Struct):
    """One entry of the number field's country list (P3)."""

    region: str
    name: str
    calling_code: int


# ----- conversion ------------------------------------------------------------------------------

_PATH = re.compile(r" - at `\$(.*)`$")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")
_LENGTH = re.compile(r"^Expected `(str|array|object)` of length (<=|>=) (\d+)")
_RANGE = re.compile(r"^Expected `(int|float)` (<=|>=) (-?\d+)")
_EXPECTED = re.compile(r"^Expected `([^`]*)`, got `([^`]*)`")
_PATTERNS = {"'^[A-Za-z]{2}$'": "must be a two-letter region code such as NL",
             "'\\\\S'": "must not be blank"}
_NAMES = {"str": "a string", "int": "a whole number", "float": "a number", "bool": "true or false",
          "array": "a list", "object": "an object", "null": "null"}


def problem_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """(field path, message) of a msgspec validation error, in the API's words."""
    text = str(error)
    found = _PATH.search(text)
    path = (found.group(1) if found else "").lstrip(".")
    text = text[:found.start()] if found else text
    if (match := _MISSING.match(text)) is not None:
        return (f"{path}.{match.group(1)}" if path else match.group(1)), "is required"
    path = path or "body"
    if (match := _LENGTH.match(text)) is not None:
        kind, sign, limit = match.groups()
        unit = {"str": "characters", "array": "items", "object": "entries"}[kind]
        return path, f"may be at most {limit} {unit}" if sign == "<=" else f"must have at least {limit} {unit}"
    if (match := _RANGE.match(text)) is not None:
        return path, f"must be {'at most' if match.group(2) == '<=' else 'at least'} {match.group(3)}"
    if (match := _EXPECTED.match(text)) is not None:
        expected, got = match.groups()
        if got == "null":
            return path, "is required"
        wanted = " or ".join(_NAMES.get(part.strip(), part.strip()) for part in expected.split("|"))
        return path, f"must be {wanted}"
    if text.startswith("Invalid enum value"):
        return path, "is not one of the allowed values"
    if text.startswith("Object contains unknown field"):
        name = text.split("`")[1] if "`" in text else ""
        return (f"{path}.{name}" if path != "body" else name) or path, "is not a known field"
    if text.startswith("Expected `str` matching regex"):
        return path, _PATTERNS.get(text.partition("regex ")[2], "has not the expected form")
    return path, text


def convert(data: Any, model: type[T]) -> T:
    """``data`` (a parsed JSON body) as ``model``, or 400 ``invalid_body`` naming the field."""
    try:
        return msgspec.convert(data, model)
    except msgspec.ValidationError as error:
        field, message = problem_of(error)
        raise InvalidBody.field(field, message) from None


_ENCODER = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """JSON bytes of a model, a list of models or plain data (UTF-8, not ASCII-escaped)."""
    return _ENCODER.encode(value)


def as_data(value: Any) -> Any:
    """A model as plain dicts and lists (for tests and callers that want JSON-shaped data)."""
    return msgspec.to_builtins(value)


# ----- sending (issue 10; API.md "Sending", "Gateway") ----------------------------------------

MAX_MESSAGE_ID = 512          # the add-in's id of one message (Outlook's item id is ~150 characters)


class SendBody(msgspec.Struct, frozen=True):
    """``POST /messages/send``: the client's id of the message (S4: a retry sends the same one),
    the draft, and the user's confirmation of an empty subject (V-M1)."""

    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID, pattern=r"\S")]
    draft: DraftBody
    confirm_empty_subject: bool = False


class EnvelopeFallback(msgspec.Struct):
    route: Literal["viewer"]
    access_code: Literal["sms", "email"]


class EnvelopeRecipientAnswer(msgspec.Struct, omit_defaults=True):
    address: str
    field: Literal["to", "cc", "bcc"]
    category: Literal["own_organisation", "community", "nta7516", "external"]
    route: Literal["direct", "nta7516", "viewer"]
    access_code: Literal["sms", "email"] | None
    fallback: EnvelopeFallback | None = None


class EnvelopeAttachmentAnswer(msgspec.Struct):
    name: str
    size: int


class EnvelopeAnswer(msgspec.Struct):
    """The signed envelope (docs/sending.md) with the headers the add-in stamps on the message."""

    envelope_version: int
    envelope_id: str
    message_id: str
    created_at: str
    tenant_id: str
    sender: str
    sent_by: str
    recipients: list[EnvelopeRecipientAnswer]
    attachments: list[EnvelopeAttachmentAnswer]
    notification_language: Language
    installation_type: str
    domain_book_version: str
    policy_version: str
    recipient_salt: str
    signature: str
    headers: dict[str, str]


class OnSendBody(DraftBody, frozen=True):
    """The on-send check's body: the draft and, so that an ``allow`` can carry the envelope (S2),
    the message's id (as ``POST /messages/send`` takes it)."""

    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_MESSAGE_ID, pattern=r"\S")] | None = None


class OnSendAnswer(OnSendDecision, omit_defaults=True):
    """The on-send answer; ``envelope`` when ``allow`` sends securely and a ``message_id`` was given."""

    envelope: EnvelopeAnswer | None = None


class JsonWebKey(msgspec.Struct):
    kty: str
    crv: str
    x: str
    kid: str
    alg: str
    use: str


class JwksAnswer(msgspec.Struct):
    keys: list[JsonWebKey]


# ----- the gateway (SPEC S9, X6; issue 10 items 5-6; docs/sending.md "Gateway") -----------------

MAX_EVENTS = 1000             # per POST: 500 recipients, two events each
MAX_EVENT_DETAIL = 500
DeliveryEvent = Literal["delivered", "relayed_nta7516", "notified", "code_sent", "opened", "bounced"]


class GatewayPhone(msgspec.Struct):
    address: str
    phone: str                # E.164


class GatewayEnvelope(msgspec.Struct):
    """What the gateway fetches: the signed record as stored (verify it against the JWKS:
    routes, access-code channels and the recipient salt are in it), the revoke state, and
    outside the signed part the numbers of the SMS recipients that have one stored."""

    envelope_id: str
    tenant_id: str
    revoked: bool
    revoked_at: str | None
    record: dict[str, Any]
    phones: list[GatewayPhone]


class GatewayEventBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    address: Annotated[str, _bounded(MAX_ADDRESS)]
    event: DeliveryEvent
    at: Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with a time zone")]
    detail: Annotated[str, _bounded(MAX_EVENT_DETAIL, "e.g. the remote server's answer; no content")] | None = None


GatewayEventsBody = Annotated[list[GatewayEventBody], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


class GatewayEventsAnswer(msgspec.Struct):
    envelope_id: str
    accepted: int             # distinct events in the request; a repeated one is stored once


# ----- Entra ID login (SPEC A2; issue 12; docs/login.md "Entra ID") -----------------------------

class EntraLoginBody(msgspec.Struct, frozen=True):
    """The Entra access token travels in ``Authorization: Bearer``; the body names the mailbox
    the add-in works in (Office.js ``userProfile.emailAddress``), checked against the token."""

    mailbox: Annotated[str, _bounded(MAX_ADDRESS, "the Outlook mailbox (400 if it is not an address)")]
    device_id: Annotated[str, _bounded(128)] | None = None
    language: Annotated[str, _bounded(8, "nl, en or de; anything else: Accept-Language, else nl")] | None = None


# ----- the domain book sync (SPEC D1, D3; issue 13; docs/domain-book-sync.md) --------------------

SourceOutcome = Literal["unchanged", "changed", "refused", "failed"]
VariantOutcome = Literal["unchanged", "changed", "partial", "failed"]


class BookSyncSource(msgspec.Struct, omit_defaults=True):
    """One source of a variant in a sync: ``refused`` (empty, shrunk too far, not in its format)
    and ``failed`` (not fetched) keep that source's last good content."""

    name: str                 # the path, or the URL without user info and query (booksources.source_name)
    outcome: SourceOutcome
    entries: int              # the source's entries in the book after this sync
    rejected: int = 0         # lines of the accepted content that were left out (garbage)
    rejections: list[str] = msgspec.field(default_factory=list)  # "line N: reason", the first 10, no values
    error: str | None = None
    requests: int = 0         # HTTP requests made for it in this run (0 for a file, or a URL another
                              # variant fetched in this run: each URL is fetched once per run)


class BookSyncVariant(msgspec.Struct):
    variant: str
    outcome: VariantOutcome
    version: str | None       # the version served after this sync
    previous_version: str | None
    entries: int
    added: int                # entries, against the previous generation
    removed: int
    changed: int
    sources_changed: int
    sources_unchanged: int
    sources: list[BookSyncSource]
    error: str | None = None


class BookSyncAnswer(msgspec.Struct):
    """The answer of ``POST /admin/domain-book/sync`` (and what the timer logs)."""

    variants: list[BookSyncVariant]
    source_requests: int
    table_writes: int          # entities written or deleted
    table_transactions: int    # write requests (a batch is one)
    seconds: float


# ----- revoke, recall and the sender's view (issue 11 part A; SPEC S5, X6; docs/sending.md) -----

MAX_INTERNET_MESSAGE_ID = 512
INTERNET_MESSAGE_ID = r"^<[!-;=?-~]+@[!-;=?-~]+>$"   # RFC 5322 msg-id: <left@right>, printable ASCII, no < > or space
RecallOutcome = Literal["recalled", "not_found", "failed", "out_of_reach"]


class RevokeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``POST /messages/{envelope_id}/revoke`` (an empty body or none at all is ``{}``)."""

    internet_message_id: Annotated[str, msgspec.Meta(
        max_length=MAX_INTERNET_MESSAGE_ID, pattern=INTERNET_MESSAGE_ID,
        description="the sent item's Internet message id (Office.js item.internetMessageId), "
                    "to find the copies in own-organisation mailboxes")] | None = None
    sender: Annotated[str, _bounded(MAX_ADDRESS, "the From mailbox the person acts as (a shared mailbox, A4); "
                                                 "default: the session's mailbox")] | None = None
    retry_failed: Annotated[bool, msgspec.Meta(description="already revoked: recall again only the "
                                                           "recipients whose recall failed")] = False


class RecipientOutcome(msgspec.Struct):
    address: str
    outcome: RecallOutcome


class RevokeAnswer(msgspec.Struct):
    envelope_id: str
    revoked_at: str
    recipients: list[RecipientOutcome]


class DeliveryStatus(msgspec.Struct, omit_defaults=True):
    """The gateway's latest event for one recipient (X6)."""

    event: DeliveryEvent
    at: str
    detail: str | None = None


class SentRecipient(msgspec.Struct):
    address: str
    field: Literal["to", "cc", "bcc"]
    category: Literal["own_organisation", "community", "nta7516", "external"]
    route: Literal["direct", "nta7516", "viewer"]
    access_code: Literal["sms", "email"] | None
    status: DeliveryStatus | None          # None: no event reported yet
    recall: RecallOutcome | None           # None: not revoked


class SentMessage(msgspec.Struct):
    """``GET /messages/{envelope_id}``: the sender's view (X6, S5)."""

    envelope_id: str
    message_id: str
    created_at: str
    sender: str
    sent_by: str
    installation_type: str
    notification_language: Language
    attachments: list[EnvelopeAttachmentAnswer]
    recipients: list[SentRecipient]
    revoked: bool
    revoked_at: str | None


class SentMessageSummary(msgspec.Struct):
    envelope_id: str
    message_id: str
    created_at: str
    sender: str
    recipients: int
    revoked_at: str | None


class SentMessagesPage(msgspec.Struct):
    """``GET /messages``: the session person's messages, newest first; ``next_cursor`` continues."""

    messages: list[SentMessageSummary]
    next_cursor: str | None


# ----- the audit log for a tenant's administrators (SPEC S6, X7; API.md "Administration") --------

AuditDetail = str | int | float | bool


class AuditEvent(msgspec.Struct, kw_only=True):
    """One audit row: what, when (UTC), who (a pseudonym), the correlation ids, its place in its
    chain (writer, seq, hash) and the event's own details (no personal data in clear)."""

    at: datetime
    event: str
    outcome: str
    actor: str
    correlation_id: str
    caller_correlation_id: str = ""
    chain: str
    seq: int
    hash: str
    details: dict[str, AuditDetail] = msgspec.field(default_factory=dict)


class AuditPage(msgspec.Struct):
    events: list[AuditEvent]
    next_cursor: str | None = None   # give it as ?cursor= for the next page; null: the last page


class AuditBreak(msgspec.Struct):
    partition: str            # <tenant>.<YYYYMMDD>, or the tenant for its seals and checkpoint
    row_key: str              # <writer>.<seq>, a day (a seal) or "checkpoint"
    reason: str               # changed, removed, inserted, reordered, tail_removed, ... (docs/audit-and-tenants.md)


class AuditVerification(msgspec.Struct, omit_defaults=True):
    rows: int
    days: int
    intact: bool
    breaks: int
    first_break: AuditBreak | None = None
