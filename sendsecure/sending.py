"""Sending: from a checked draft to one signed, stored envelope (SPEC S1-S4, S6, S8, X3; docs/sending.md).

``SendService.send`` is ``POST /messages/send``: re-validate with the same engine (S1), refuse a
blocking draft (422 ``draft_blocked`` with the verdict) and an unconfirmed empty subject (422
``subject_confirmation_required``, V-M1), then ``envelope_for``, which stores the typed phones
(P1) once the send is accepted. The on-send check calls ``envelope_for`` directly when its answer
is ``allow`` for a secure send (its recipients are own organisation and community only: none takes
a number, so it stores none).

``envelope_for``: the envelope id is derived from (tenant, person, ``message_id``)
(``envelopes.envelope_id_for``), the envelope built from the verdict, signed with the current
``signing-key`` version, stamped, and inserted once. A retry or a concurrent double click
computes the same id: the first insert wins, the others read its row and answer it unchanged
(byte-identical headers) when the draft digest is the same, 409 ``message_id_conflict`` when not.
Writes of a send, in order: the sender index row, the envelope (one insert: whole or nothing),
typed phones (each its audit row, then the row; only for an accepted send: not for a 409), the
audit row of the send. A failure after the envelope's insert leaves a whole envelope that the
retry answers (200), storing the phones then. The stored numbers the verdict used (V-R9)
are recorded in the send's own audit row (``phones_read``, ``phone_recipients``), not in a
``phone.read`` row of their own: one audit insert per send instead of two.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sendsecure.adapters.keys import DerivedKeys, KeyStore, Pseudonyms
from sendsecure.audit import SEND_ACCEPTED, SEND_REFUSED, AuditLog
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.clock import utcnow
from sendsecure.core.drafts import Draft
from sendsecure.core.envelope import (
    EnvelopeAttachment,
    EnvelopeRecipient,
    Fallback,
    build_envelope,
    draft_digest,
    new_recipient_salt,
    sign_envelope,
)
from sendsecure.core.models import OnSendAnswer, Route, Verdict, as_data
from sendsecure.core.phones import DEFAULT_REGION, normalise_phone
from sendsecure.core.signing import SigningKey, jwks_document, signing_key_from_seed
from sendsecure.core.stamp import issue_stamp, route_counts, stamp_headers
from sendsecure.envelopes import (
    ID_PURPOSE,
    EnvelopeStore,
    StoredEnvelope,
    envelope_id_for,
    holder_of,
    sent_by_holder,
)
from sendsecure.errors import ProblemError, Unprocessable
from sendsecure.sessions import Session

logger = logging.getLogger(__name__)

SIGNING_KEY = "signing-key"       # the deployment's Ed25519 seeds, one per key-store version
DIGEST_PURPOSE = "draft-digest"   # the derived key of the draft digest (S4)
RULESET = "r1"                    # the rule set's version; with the installation type: the policy version


class DraftBlocked(Unprocessable):
    """S1: the server's own verdict blocks the draft; the verdict goes with the refusal."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("draft_blocked", "The draft cannot be sent securely; see the verdict's findings.",
                         extra={"verdict": as_data(verdict)})


class MessageIdConflict(ProblemError):
    status, code, title = 409, "message_id_conflict", "This message id was sent with another draft"


class MessageRevoked(ProblemError):
    status, code, title = 409, "message_revoked", "This message was revoked"


def policy_version(installation_type: str) -> str:
    return f"{RULESET}/{installation_type}"


class Signing:
    """The signing key pairs of the key store's ``signing-key`` versions, turned once per worker."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys
        self._pairs: dict[bytes, SigningKey] = {}
        self._lock = threading.Lock()

    def _pair(self, seed: bytes) -> SigningKey:
        pair = self._pairs.get(seed)
        if pair is None:
            pair = signing_key_from_seed(seed)
            with self._lock:
                self._pairs[seed] = pair
        return pair

    def current(self) -> SigningKey:
        """The key new envelopes and stamps are signed with (the current version)."""
        return self._pair(self._keys.current(SIGNING_KEY)[1])

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """Every version's public half, newest first (``GET /gateway/keys``)."""
        return jwks_document(self._pair(self._keys.version(SIGNING_KEY, version))
                             for version in self._keys.versions(SIGNING_KEY))


def _fallback(installation: str, has_phone: bool) -> Fallback | None:
    """V-R4 with T1: where an NTA-route recipient falls back to when NTA delivery fails."""
    if installation == "viewer_sms_required":
        return Fallback(access_code="sms")          # without a phone the fallback bounces (V-R4)
    if installation == "viewer_sms_optional":
        return Fallback(access_code="sms" if has_phone else "email")
    if installation == "viewer":
        return Fallback(access_code="email")
    return None                                      # standard: no Viewer to fall back to


def _typed_numbers(draft: Draft, language: str) -> dict[str, str]:
    """The draft's typed phones by normal address, as E.164 (the valid ones only)."""
    region = DEFAULT_REGION.get(language, "NL")
    numbers: dict[str, str] = {}
    for address, raw in draft.phones.items():
        try:
            normal = normalise_mailbox(address)
        except InvalidAddress:
            continue
        number, problem = normalise_phone(raw, region)
        if number is not None and problem is None:
            numbers[normal] = number
    return numbers


def envelope_recipients(verdict: Verdict, typed: dict[str, str]) -> list[EnvelopeRecipient] | None:
    """The verdict's recipients as envelope recipients; None if one has no route (not sendable)."""
    installation = verdict.installation_type
    rows = []
    for recipient in verdict.recipients:
        if recipient.route is Route.NONE or not recipient.valid or recipient.category.value == "unknown":
            return None
        # A typed number counts only where it is stored (P1: recipients that take one), so a
        # fallback by SMS always has a number the gateway can open (S9).
        has_phone = recipient.stored_phone is not None or (
            recipient.address in typed and recipient.phone_input != "none")
        rows.append(EnvelopeRecipient(
            address=recipient.address, field=recipient.field,
            category=recipient.category.value,  # type: ignore[arg-type]
            route=recipient.route.value,  # type: ignore[arg-type]
            access_code=recipient.access_code,
            fallback=_fallback(installation, has_phone) if recipient.route is Route.NTA else None,
        ))
    return rows


class SendService:
    def __init__(self, validation: Any, envelopes: EnvelopeStore, phonebook: Any, signing: Signing,
                 derived_keys: DerivedKeys, audit_log: AuditLog, pseudonyms: Pseudonyms,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._validation = validation
        self._envelopes = envelopes
        self._phones = phonebook
        self.signing = signing
        self._keys = derived_keys
        self._audit = audit_log
        self._pseudonyms = pseudonyms
        self._clock = clock

    def _actor(self, session: Session) -> str:
        return self._pseudonyms.of("mailbox", session.mailbox)

    def _refuse(self, session: Session, reason: str, via: str, error: ProblemError,
                read: list[str] | None = None) -> ProblemError:
        self._audit.record(SEND_REFUSED, tenant_id=session.tenant_id, actor=self._actor(session),
                           outcome="refused", reason=reason, via=via, **read_details(read))
        return error

    # ----- POST /messages/send ---------------------------------------------------------------

    def send(self, session: Session, draft: Draft, message_id: str, language: str, *,
             confirm_empty_subject: bool = False) -> tuple[StoredEnvelope, bool]:
        read: list[str] = []                       # the stored numbers the verdict used: in our audit row
        verdict = self._validation.verdict(session, draft, language, read)               # S1
        typed = _typed_numbers(draft, language)
        recipients = envelope_recipients(verdict, typed) if verdict.can_send_secure else None
        if recipients is None:
            raise self._refuse(session, "draft_blocked", "send", DraftBlocked(verdict), read)
        if verdict.needs_confirmation and not confirm_empty_subject:                      # V-M1 (the engine's empty)
            raise self._refuse(session, "subject_confirmation_required", "send", Unprocessable(
                "subject_confirmation_required", "The subject is empty; confirm that it may be sent so.",
                errors=[{"field": "confirm_empty_subject", "message": "must be true to send without a subject"}]),
                read)
        # P1: the typed numbers are stored only once the send is accepted (a new envelope, or the
        # retry of the same draft): a 409 (another draft, a revoked message) changes nothing stored.
        return self.envelope_for(session, draft, verdict, message_id, recipients, via="send", read=read,
                                 accepted=lambda: self._store_phones(session, verdict, draft, typed, language))

    def _store_phones(self, session: Session, verdict: Verdict, draft: Draft, typed: dict[str, str],
                      language: str) -> None:
        """P1: each typed number of a recipient that takes one, unless it is the stored one."""
        if not typed:
            return
        raw = {}
        for address, phone in draft.phones.items():
            try:
                raw[normalise_mailbox(address)] = phone
            except InvalidAddress:
                continue
        for recipient in verdict.recipients:
            number = typed.get(recipient.address)
            if number is None or recipient.phone_input == "none" or number == recipient.stored_phone:
                continue
            self._phones.put(session, recipient.address, raw[recipient.address], None, language)

    # ----- the envelope (both ways out) ------------------------------------------------------

    def on_send_envelope(self, session: Session, draft: Draft, verdict: Verdict, message_id: str,
                         language: str, read: list[str] | None = None) -> StoredEnvelope | None:
        """The envelope of an on-send ``allow`` (S2), or None when the draft has no secure route
        for every recipient (then the message leaves by standard sending and has no envelope)."""
        recipients = envelope_recipients(verdict, _typed_numbers(draft, language)) if verdict.can_send_secure else None
        if recipients is None:
            return None
        return self.envelope_for(session, draft, verdict, message_id, recipients, via="on_send", read=read)[0]

    def on_send(self, session: Session, draft: Draft, message_id: str | None, language: str) -> OnSendAnswer:
        """V-O4 with S2: the on-send decision, and when it is a secure ``allow`` for a message with
        an id, its envelope in the same answer (Outlook's Send needs one round trip)."""
        read: list[str] = []
        decision = self._validation.on_send(session, draft, language, read)
        answer = OnSendAnswer(decision.action, decision.reasons, decision.verdict)
        stored = None
        if decision.action == "allow" and message_id is not None and is_secure_allow(decision.reasons):
            stored = self.on_send_envelope(session, draft, decision.verdict, message_id, language, read)
        if stored is not None:
            answer.envelope = stored.response()  # type: ignore[assignment]  # encoded as the same JSON
        elif read:                        # no envelope, no send row: the read gets its own row first
            try:
                self._validation.record_phone_read(session, read)
            except Exception as error:  # noqa: BLE001 - as for_draft: no unrecorded disclosure, the check goes on
                logger.warning("phone read not recorded (%s); the decision goes without stored numbers",
                               type(error).__name__)
                decision = self._validation.on_send(session, draft, language)  # records, or goes without numbers
                return OnSendAnswer(decision.action, decision.reasons, decision.verdict)
        return answer

    def envelope_for(self, session: Session, draft: Draft, verdict: Verdict, message_id: str,
                     recipients: list[EnvelopeRecipient], *, via: str, read: list[str] | None = None,
                     accepted: Callable[[], None] | None = None) -> tuple[StoredEnvelope, bool]:
        """The message's one envelope: created now, or the one stored under its id (S2, S4).
        ``accepted`` runs once the send is accepted (the envelope is stored and is this draft's,
        not revoked), before its audit row: the send's typed phones (P1). If it fails, the envelope
        is whole and the retry answers it (200) and runs ``accepted`` again."""
        envelope_id = envelope_id_for(self._keys.key(ID_PURPOSE), tenant_id=session.tenant_id,
                                      mailbox=session.mailbox, message_id=message_id)
        digest = draft_digest(draft, default_sender=session.mailbox, key=self._keys.key(DIGEST_PURPOSE))
        now = self._clock()
        key = self.signing.current()
        envelope = sign_envelope(build_envelope(
            envelope_id=envelope_id, message_id=message_id, created_at=now, tenant_id=session.tenant_id,
            sender=verdict.sender.address, sent_by=session.mailbox, recipients=recipients,
            attachments=[EnvelopeAttachment(name=a.name, size=a.size) for a in draft.attachments],
            notification_language=verdict.notification_language, installation_type=verdict.installation_type,
            domain_book_version=verdict.domain_book.version or "", policy_version=policy_version(
                verdict.installation_type), recipient_salt=new_recipient_salt(),
        ), key)
        headers = stamp_headers(envelope, issue_stamp(envelope, key, now=now))
        record = envelope.to_dict()
        stored, created = self._envelopes.save_once(StoredEnvelope(
            envelope_id=envelope_id, tenant_id=session.tenant_id, sent_by=envelope.sent_by, sender=envelope.sender,
            message_id=message_id, draft_digest=digest, created_at=str(record["created_at"]), record=record,
            headers=headers, holder=holder_of(session), holder_key=session.holder_key,
        ))
        if stored.draft_digest != digest or stored.tenant_id != session.tenant_id \
                or stored.sent_by != envelope.sent_by or not sent_by_holder(session, stored):
            raise self._refuse(session, "message_id_conflict", via, MessageIdConflict(
                "This message id was already sent with another draft; send the new draft as a new message."), read)
        if stored.revoked_at is not None:     # S5: a retry after a revoke must not send it after all
            raise self._refuse(session, "message_revoked", via, MessageRevoked(
                "This message was revoked; it cannot be sent again. Send a new message instead."), read)
        if accepted is not None:
            accepted()
        self._audit.record(SEND_ACCEPTED, tenant_id=session.tenant_id, actor=self._actor(session),
                           outcome="created" if created else "repeated", envelope_id=envelope_id, via=via,
                           recipients=len(envelope.recipients), key_id=key.kid,
                           routes=",".join(f"{route}:{count}" for route, count in route_counts(envelope).items()),
                           **read_details(read))
        return stored, created


def read_details(read: list[str] | None) -> dict[str, Any]:
    """The audit details of the stored numbers a verdict used (V-R9, NEN 7513): how many and
    whose (the recipients' pseudonyms, as in ``phone.read``); nothing when none was used."""
    if not read:
        return {}
    return {"phones_read": len(read), "phone_recipients": ",".join(sorted(read))}


def is_secure_allow(reasons: list[str]) -> bool:
    """Whether an on-send ``allow`` sends securely (auto-send, or security by default with
    nothing to show); ``security_by_default_off`` is standard sending: no envelope."""
    return "security_by_default_off" not in reasons
