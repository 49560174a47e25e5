"""After sending: revoke with recall, and the sender's view (SPEC S5, S6, X6; API.md "Sending";
docs/sending.md "Revoke, recall and the sender's view").

``RevokeService.revoke`` is ``POST /messages/{envelope_id}/revoke``: allowed to the person who
sent the message and to another person of the tenant acting as the same From mailbox when that
is a shared or delegated mailbox (A4; never for a message From the sender's own mailbox); anyone
else 403, an unknown id 404. The envelope row is marked revoked under its
ETag, so of two concurrent revokes one wins and the other is 409 ``already_revoked``; from then on
the gateway's fetch answers ``revoked: true``. Then the copies in own-organisation mailboxes
(recipients whose domain is one of the tenant's ``mail_domains``) are recalled through Graph
(``adapters/recall.py``); every other recipient is ``out_of_reach``. The outcomes are stored on
the envelope. Revoking again with ``retry_failed`` recalls only the recipients whose recall failed.

``view`` is ``GET /messages/{envelope_id}`` (404 for anyone but the sender's tenant and mailbox);
``sent`` is ``GET /messages`` (the session person's envelopes, newest first, paged).

Audit: ``message.revoked`` (outcome ``revoked``, or ``refused`` with the reason) and
``message.recall`` (counts per outcome); actors and mailboxes as pseudonyms, no address or subject.
"""
from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Protocol

from sendsecure.adapters import storage
from sendsecure.adapters.keys import Pseudonyms
from sendsecure.audit import AuditLog
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.delivery import event_order
from sendsecure.core.logincodes import IssueWindow, base_mailbox
from sendsecure.core.models import (
    DeliveryStatus,
    EnvelopeAttachmentAnswer,
    RecipientOutcome,
    RevokeAnswer,
    RevokeBody,
    SentMessage,
    SentMessagesPage,
    SentMessageSummary,
    SentRecipient,
)
from sendsecure.envelopes import CURSOR_RE, ID_RE, EnvelopeStore, StoredEnvelope, own_message
from sendsecure.errors import InvalidQuery, NotFound, ProblemError, RateLimited
from sendsecure.refusals import REVOKES, RefusalBudget
from sendsecure.sessions import Session

logger = logging.getLogger(__name__)

# Audit events of this area (S6).
MESSAGE_REVOKED = "message.revoked"
MESSAGE_RECALL = "message.recall"
REVOKE_REFUSALS = REVOKES   # the kind (partition) of the refused-revoke counters in loginguards, one per person

RECALLED, NOT_FOUND, FAILED, OUT_OF_REACH = "recalled", "not_found", "failed", "out_of_reach"
PAGE_DEFAULT, PAGE_MAX = 20, 50


class MessageNotFound(NotFound):
    title = "No sent message with this id"


class NotSender(ProblemError):
    status, code, title = 403, "not_sender", "Only the sender of a message can revoke it"


class AlreadyRevoked(ProblemError):
    status, code, title = 409, "already_revoked", "The message was revoked before"


class Recall(Protocol):
    def recall(self, entra_tenant_id: str, mailboxes: Sequence[str], internet_message_id: str,
               envelope_id: str) -> dict[str, str]: ...


def utc_text(moment: datetime) -> str:
    return as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _domain(address: str) -> str:
    return address.rpartition("@")[2]


def recipients_of(stored: StoredEnvelope) -> list[dict[str, Any]]:
    """The record's recipients, each address once, in the record's (signed) order."""
    seen: dict[str, dict[str, Any]] = {}
    for recipient in stored.record.get("recipients", ()):
        if isinstance(recipient, dict):
            seen.setdefault(str(recipient.get("address")), recipient)
    return list(seen.values())


class RevokeService:
    def __init__(self, envelopes: EnvelopeStore, tables: storage.TableStore, tenants: Any, recall: Recall | None,
                 audit_log: AuditLog, pseudonyms: Pseudonyms, *, recall_tenant_id: str = "",
                 refusals: RefusalBudget | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self._envelopes = envelopes
        self._refusals = refusals or RefusalBudget(tables, REVOKE_REFUSALS, IssueWindow(20, 900))
        self._tables = tables
        self._tenants = tenants
        self._recall = recall
        self._recall_tenant_id = recall_tenant_id
        self._audit = audit_log
        self._pseudonyms = pseudonyms
        self._clock = clock

    def _actor(self, session: Session) -> str:
        return self._pseudonyms.of("mailbox", session.mailbox)

    def _caller(self, session: Session) -> str:
        """The budget's subject: the session's person (tenant, mailbox and, for a later Entra holder,
        the holder), as a pseudonym."""
        return self._pseudonyms.of(f"person:{session.tenant_id}", f"{session.mailbox}\x00{session.holder_key}")

    def _refuse(self, session: Session, envelope_id: str, reason: str, error: ProblemError,
                owner: str | None = None) -> ProblemError:
        """Audit a refused revoke in the caller's tenant, and in the tenant whose message it is when
        that is another (its administrators see the attempt). Only a well-formed id is written: the
        path segment is the caller's text.

        Within the caller's budget (``REVOKE_REFUSAL_LIMIT`` per ``REVOKE_REFUSAL_WINDOW_SECONDS``,
        ``refusals.RefusalBudget``): past it, one ``rate_limited`` row in the same tenants and 429
        with ``Retry-After`` instead of ``error``; later refusals in the window are 429 and only
        counted. Every row in another tenant's log is one of the caller's refusals, so that log gets
        at most ``limit + 1`` rows per caller and window, however fast the caller asks."""
        decision = self._refusals.count(self._caller(session))
        shown = envelope_id if ID_RE.fullmatch(envelope_id) else "(not an envelope id)"
        tenants = dict.fromkeys(t for t in (session.tenant_id, owner) if t)
        if decision.allowed:
            for tenant in tenants:
                self._audit.record(MESSAGE_REVOKED, tenant_id=tenant, actor=self._actor(session),
                                   outcome="refused", reason=reason, envelope_id=shown,
                                   suppressed_before=decision.suppressed_before)
            return error
        if decision.first_over:
            for tenant in tenants:
                self._audit.record(MESSAGE_REVOKED, tenant_id=tenant, actor=self._actor(session),
                                   outcome="rate_limited", refused=reason, envelope_id=shown)
        return RateLimited("Too many refused revokes; wait before trying again.", retry_after=decision.retry_after)

    # ----- POST /messages/{envelope_id}/revoke ------------------------------------------------

    def revoke(self, session: Session, envelope_id: str, body: RevokeBody) -> RevokeAnswer:
        stored = self._envelopes.get(envelope_id)
        if stored is None:
            raise self._refuse(session, envelope_id, "not_found", MessageNotFound("No sent message has this id."))
        if not self._may_revoke(session, stored, body.sender):
            raise self._refuse(session, envelope_id, "not_sender", owner=stored.tenant_id, error=NotSender(
                "Only the person who sent this message, or a colleague sending as the same mailbox, can revoke it."))
        own = self._own_organisation(stored)
        revoked_at = utc_text(self._clock())
        won = [False]
        if stored.revoked_at is None:
            # Recorded before the mark (S6): if this row cannot be written nothing changes (503), so
            # no message is ever revoked without a row saying who asked.
            self._audit.record(MESSAGE_REVOKED, tenant_id=stored.tenant_id, actor=self._actor(session),
                               outcome="requested", envelope_id=envelope_id,
                               on_behalf_of=self._pseudonyms.of("mailbox", stored.sender))

        def mark(current: StoredEnvelope) -> StoredEnvelope | None:
            won[0] = current.revoked_at is None
            if not won[0]:
                return None
            recall = {r["address"]: (FAILED if r["address"] in own else OUT_OF_REACH) for r in recipients_of(current)}
            return dataclasses.replace(current, revoked_at=revoked_at, revoked_by=session.mailbox,
                                       internet_message_id=body.internet_message_id, recall=recall)

        current = self._envelopes.update(envelope_id, mark)
        if current is None:   # removed meanwhile (offboarding)
            raise MessageNotFound("No sent message has this id.")
        if won[0]:
            targets = [address for address, outcome in current.recall.items() if outcome == FAILED]
            self._audit.record(MESSAGE_REVOKED, tenant_id=stored.tenant_id, actor=self._actor(session),
                               outcome="revoked", envelope_id=envelope_id,
                               on_behalf_of=self._pseudonyms.of("mailbox", stored.sender),
                               recipients=len(current.recall), own_organisation=len(targets))
        elif body.retry_failed:
            targets = [address for address, outcome in current.recall.items() if outcome == FAILED]
        else:
            raise self._refuse(session, envelope_id, "already_revoked", AlreadyRevoked(
                "This message was revoked before; revoke with retry_failed to recall again what failed.",
                extra={"revoked_at": current.revoked_at, "recipients": [
                    {"address": a, "outcome": o} for a, o in self._shown(session, current)]}))
        # The id stored at the first revoke stays: a later body cannot point the recall elsewhere.
        message_id = current.internet_message_id or body.internet_message_id
        if targets:
            current = self._recall_copies(session, current, targets, message_id, retry=not won[0])
        return RevokeAnswer(envelope_id=envelope_id, revoked_at=current.revoked_at or revoked_at,
                            recipients=[RecipientOutcome(address=a, outcome=o)  # type: ignore[arg-type]
                                        for a, o in self._shown(session, current)])

    @staticmethod
    def _shown(session: Session, stored: StoredEnvelope) -> list[tuple[str, str]]:
        """The recall outcomes a revoke answers with. A colleague revoking as a shared mailbox
        (A4) does not see the BCC recipients (S8): only the person who sent it, or the From
        mailbox itself, saw them."""
        if own_message(session, stored):
            return list(stored.recall.items())
        fields: dict[str, set[str]] = {}
        for recipient in stored.record.get("recipients", ()):
            if isinstance(recipient, dict):
                fields.setdefault(str(recipient.get("address")), set()).add(str(recipient.get("field")))
        return [(address, outcome) for address, outcome in stored.recall.items()
                if fields.get(address, set()) != {"bcc"}]

    def _may_revoke(self, session: Session, stored: StoredEnvelope, acting_as: str | None) -> bool:
        """The person who sent it, a session of its From mailbox, or a person of the same tenant
        acting as its From mailbox (A4) when that is a shared or delegated mailbox: From is not the
        sending person's own. A message sent From the person's own mailbox is theirs alone: a
        colleague's claim to act as it is refused (every own-organisation recipient sees the
        envelope id and the From address in the message's headers)."""
        if session.tenant_id != stored.tenant_id:
            return False
        if own_message(session, stored):   # an earlier holder's message of the mailbox is not (A2)
            return True
        if base_mailbox(stored.sender) == stored.sent_by:   # the person's own mailbox (a sub-address is it, A1)
            return False
        try:
            return acting_as is not None and normalise_mailbox(acting_as) == stored.sender
        except InvalidAddress:
            return False

    def _own_organisation(self, stored: StoredEnvelope) -> frozenset[str]:
        """The recipients in the tenant's own mail domains (the only mailboxes Graph can reach)."""
        tenant = self._tenants.get(stored.tenant_id)
        domains = frozenset(tenant.mail_domains) if tenant is not None else frozenset()
        return frozenset(r["address"] for r in recipients_of(stored)
                         if _domain(r["address"]) in domains
                         or (tenant is None and r.get("category") == "own_organisation"))

    def _recall_copies(self, session: Session, stored: StoredEnvelope, targets: list[str], message_id: str | None,
                       *, retry: bool) -> StoredEnvelope:
        """Recall through Graph, store the outcomes on the envelope, audit them."""
        tenant = self._tenants.get(stored.tenant_id)
        entra = (tenant.entra_tenant_id if tenant is not None else None) or self._recall_tenant_id
        if self._recall is None or not entra:
            logger.error("recall is not configured (RECALL_CLIENT_ID, and an Entra tenant): the copies stay")
            outcomes = dict.fromkeys(targets, FAILED)
        elif message_id is None:
            outcomes = dict.fromkeys(targets, FAILED)   # cannot be found without it; retry_failed with it
        else:
            outcomes = self._recall.recall(entra, targets, message_id, stored.envelope_id)

        def merge(current: StoredEnvelope) -> StoredEnvelope:
            return dataclasses.replace(current, recall={**current.recall, **outcomes},
                                       internet_message_id=current.internet_message_id or message_id)

        updated = self._envelopes.update(stored.envelope_id, merge) or dataclasses.replace(
            stored, recall={**stored.recall, **outcomes})
        counts = Counter(outcomes.values())
        self._audit.record(MESSAGE_RECALL, tenant_id=stored.tenant_id, actor=self._actor(session),
                           outcome="complete" if counts[FAILED] == 0 else "partial", envelope_id=stored.envelope_id,
                           via="retry_failed" if retry else "revoke", attempted=len(outcomes),
                           recalled=counts[RECALLED], not_found=counts[NOT_FOUND], failed=counts[FAILED],
                           message_id_known=message_id is not None)
        return updated

    # ----- GET /messages/{envelope_id} ---------------------------------------------------------

    def view(self, session: Session, envelope_id: str) -> SentMessage:
        stored = self._envelopes.get(envelope_id)
        if stored is None or stored.tenant_id != session.tenant_id or not own_message(session, stored):
            raise MessageNotFound("No sent message of yours has this id.")
        latest = self._latest_events(stored.envelope_id)
        recipients = []
        for recipient in recipients_of(stored):
            address = recipient["address"]
            event = latest.get(self._pseudonyms.of(f"recipient:{stored.tenant_id}", address))
            recipients.append(SentRecipient(
                address=address, field=recipient["field"], category=recipient["category"],
                route=recipient["route"], access_code=recipient.get("access_code"),
                status=DeliveryStatus(event=event["event"], at=event["at_text"], detail=event.get("detail") or None)
                if event is not None else None,
                recall=stored.recall.get(address) if stored.revoked_at else None,  # type: ignore[arg-type]
            ))
        record = stored.record
        return SentMessage(
            envelope_id=stored.envelope_id, message_id=stored.message_id, created_at=stored.created_at,
            sender=stored.sender, sent_by=stored.sent_by, installation_type=str(record.get("installation_type", "")),
            notification_language=record.get("notification_language", "nl"),
            attachments=[EnvelopeAttachmentAnswer(name=a["name"], size=a["size"])
                         for a in record.get("attachments", ())],
            recipients=recipients, revoked=stored.revoked_at is not None, revoked_at=stored.revoked_at)

    def _latest_events(self, envelope_id: str) -> dict[str, dict[str, Any]]:
        """The latest event per recipient pseudonym (one partition read: one state row per recipient,
        and any rows of the earlier form, one per event, written before the state rows). Latest by
        ``at``, the same ``at`` by the event's rank (``core.delivery.event_order``): never by storage
        order."""
        latest: dict[str, dict[str, Any]] = {}
        for row in self._tables.query(storage.ENVELOPE_EVENTS, "PartitionKey eq @p", {"p": envelope_id},
                                      select=["recipient", "event", "at_text", "detail"]):
            known = latest.get(row["recipient"])
            if known is None or event_order(row["at_text"], row["event"]) > event_order(known["at_text"],
                                                                                       known["event"]):
                latest[row["recipient"]] = dict(row)
        return latest

    # ----- GET /messages ---------------------------------------------------------------------

    def sent(self, session: Session, *, since: str | None, cursor: str | None, limit: str | None) -> SentMessagesPage:
        moment = _since(since)
        if cursor is not None and not CURSOR_RE.fullmatch(cursor):
            raise InvalidQuery.field("cursor", "is not a continuation this API gave")
        size = _limit(limit)
        if session.holder_since is not None and session.holder_since > _EARLIEST:   # a later Entra holder (A2)
            moment = max(moment, session.holder_since) if moment is not None else session.holder_since
        page, next_cursor = self._envelopes.sent_by(session.tenant_id, session.mailbox, since=moment,
                                                    cursor=cursor, limit=size,
                                                    accept=lambda stored: own_message(session, stored))
        return SentMessagesPage(messages=[SentMessageSummary(
            envelope_id=s.envelope_id, message_id=s.message_id, created_at=s.created_at, sender=s.sender,
            recipients=len(recipients_of(s)), revoked_at=s.revoked_at) for s in page], next_cursor=next_cursor)


_RFC3339 = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
                     r"([Zz]|[+-][0-9]{2}:[0-9]{2})$")
_EARLIEST, _LATEST = datetime(1971, 1, 1, tzinfo=UTC), datetime(2285, 12, 31, tzinfo=UTC)  # the index's countdown


def _since(text: str | None) -> datetime | None:
    """An RFC 3339 time with a zone (a leap second read as :59; outside the index's years: clamped)."""
    if text is None:
        return None
    found = _RFC3339.fullmatch(text)
    if found is None:
        raise InvalidQuery.field("since", "must be an RFC 3339 time with a zone, e.g. 2026-12-01T09:30:00Z")
    year, month, day, hour, minute, second = (int(part) for part in found.groups()[:6])
    zone = found.group(8).upper()
    try:
        offset = timedelta(0) if zone == "Z" else (1 if zone[0] == "+" else -1) * timedelta(
            hours=int(zone[1:3]), minutes=int(zone[4:6]))
        if not timedelta(hours=-24) < offset < timedelta(hours=24):
            raise ValueError("offset")
        if hour > 23 or minute > 59 or second > 60:
            raise ValueError("time")
        datetime(2000, month, day)   # a real month and day, also when the year is clamped (2000: a leap year)
        if year < _EARLIEST.year:
            return _EARLIEST
        if year > _LATEST.year:
            return _LATEST
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=timezone(offset))
    except ValueError:
        raise InvalidQuery.field("since", "is not a valid date and time") from None
    return min(max(moment, _EARLIEST), _LATEST)


def _limit(text: str | None) -> int:
    if text is None:
        return PAGE_DEFAULT
    if not text.isascii() or not text.isdigit() or len(text) > 3 or not 1 <= int(text) <= PAGE_MAX:
        raise InvalidQuery.field("limit", f"must be a whole number from 1 to {PAGE_MAX}")
    return int(text)
