"""What the mail gateway asks of the back end with its own credential (SPEC S6, S9, X6).

- ``fetch(principal, envelope_id, fallback=False)``: the stored envelope (its signed record as
  stored, the revoke state) and the numbers of its SMS recipients (``access_code == "sms"``),
  opened on demand from the phones the sender person stored (``PhoneBook.for_sender``, under the
  envelope's ``holder_key``: an Entra mailbox's later holder's own numbers). With
  ``fallback`` (``?fallback=sms``, asked only when NTA delivery failed and the message falls
  back to the Viewer, V-R4) also those of the NTA-route recipients whose fallback code goes by
  SMS: their access code now goes by SMS (S9), and not before. Every fetch is
  one audit row ``gateway.envelope_fetched`` (tenant, the credential, the sender's pseudonym, the
  recipient pseudonyms whose numbers were opened; never a number or an address), written before
  the numbers leave; if it cannot be written the answer is 503 and nothing is disclosed. An unknown
  id is 404 (audited as ``not_found``). A revoked envelope is answered without numbers.
- ``report(principal, envelope_id, events)``: per-recipient delivery events (X6) into table
  ``envelopeevents``: one state row per recipient, PartitionKey = envelope id, RowKey = ``r``, a
  keyed hash of the recipient, holding the recipient's latest event (``core.delivery.event_order``:
  latest ``at``, then a fixed rank of event types), replaced only by a later one under its ETag
  (conditional writes in one entity group transaction per 100). So an envelope's partition holds
  at most one row per recipient, however many events are reported, and the sender's view reads
  that. Rows hold the recipient's pseudonym, never the address. Refused: events of no recipient,
  events that do not fit the recipient's route (``core.delivery.fitting_events``), times out of
  range (422), an opening dated after the revoke (409 ``message_revoked``, S5).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sendsecure.adapters import storage
from sendsecure.adapters.keys import DerivedKeys, Pseudonyms
from sendsecure.audit import AuditLog
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.clock import utcnow
from sendsecure.core.delivery import SHOWN_EVENTS, event_order, fitting_events
from sendsecure.core.models import GatewayEnvelope, GatewayEventBody, GatewayPhone
from sendsecure.envelopes import EnvelopeStore, StoredEnvelope
from sendsecure.errors import Conflict, NotFound, ProblemError, Unprocessable
from sendsecure.phonebook import PhoneBook, Sender
from sendsecure.servicecredentials import ServicePrincipal

logger = logging.getLogger(__name__)

ENVELOPE_FETCHED = "gateway.envelope_fetched"
EVENT_PURPOSE = "envelope-event"   # derived key of the event rows' keyed hashes
FUTURE_LEEWAY = timedelta(minutes=5)
BATCH = storage.BATCH_LIMIT
STATE_ATTEMPTS = 8   # reads and conditional writes of the state rows before a busy partition is 503
POINT_READS = 4      # up to this many recipients in a request: point reads, else one partition read


class EnvelopeNotFound(NotFound):
    title = "No envelope with this id"


class EventAfterRevoke(ProblemError):
    """409: the gateway reports the message shown to a recipient after it was revoked (S5)."""

    status, code, title = 409, "message_revoked", "The message was revoked before this event"


def sms_recipients(record: dict[str, Any], *, fallback: bool = False) -> list[str]:
    """The recipients whose access code goes by SMS, in the record's order, once each; with
    ``fallback`` also the NTA-route recipients whose Viewer fallback sends the code by SMS."""
    found: dict[str, None] = {}
    for recipient in record.get("recipients", ()):
        if not isinstance(recipient, dict):
            continue
        by_fallback = fallback and isinstance(recipient.get("fallback"), dict) \
            and recipient["fallback"].get("access_code") == "sms"
        if recipient.get("access_code") == "sms" or by_fallback:
            found[str(recipient.get("address"))] = None
    return list(found)


def recipient_addresses(record: dict[str, Any]) -> frozenset[str]:
    return frozenset(str(r.get("address")) for r in record.get("recipients", ()) if isinstance(r, dict))


def event_time(at: datetime) -> str:
    """One spelling per moment: UTC, microseconds (``2026-12-01T09:30:00.000000Z``)."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class GatewayService:
    def __init__(self, envelopes: EnvelopeStore, tables: storage.TableStore, phonebook: PhoneBook,
                 pseudonyms: Pseudonyms, keys: DerivedKeys, audit_log: AuditLog) -> None:
        self._envelopes = envelopes
        self._tables = tables
        self._phonebook = phonebook
        self._pseudonyms = pseudonyms
        self._keys = keys
        self._audit = audit_log

    def _stored(self, principal: ServicePrincipal, envelope_id: str) -> StoredEnvelope:
        stored = self._envelopes.get(envelope_id)
        if stored is None:
            raise EnvelopeNotFound("No envelope has this id.")
        return stored

    # ----- GET /gateway/envelopes/{id} ----------------------------------------------------
    def fetch(self, principal: ServicePrincipal, envelope_id: str, *, fallback: bool = False) -> GatewayEnvelope:
        stored = self._envelopes.get(envelope_id)
        if stored is None:
            self._audit.record(ENVELOPE_FETCHED, tenant_id=None, actor=principal.actor, outcome="not_found")
            raise EnvelopeNotFound("No envelope has this id.")
        wanted = [] if stored.revoked_at else sms_recipients(stored.record, fallback=fallback)
        sender = Sender(stored.tenant_id, stored.sent_by, stored.holder_key)   # the sending person's numbers
        opened = self._phonebook.for_sender(sender, wanted) if wanted else {}
        # Recorded before anything leaves: a fetch that cannot be recorded discloses nothing (503).
        self._audit.record(
            ENVELOPE_FETCHED, tenant_id=stored.tenant_id, actor=principal.actor,
            outcome="revoked" if stored.revoked_at else "returned", envelope=stored.envelope_id,
            on_behalf_of=self._pseudonyms.of("mailbox", stored.sent_by),
            sms_recipients=len(wanted), phones_opened=len(opened), purpose="fallback" if fallback else "delivery",
            recipients=",".join(sorted(row_key for _, row_key in opened.values())),
        )
        phones = [GatewayPhone(address=address, phone=opened[address][0]) for address in wanted if address in opened]
        return GatewayEnvelope(envelope_id=stored.envelope_id, tenant_id=stored.tenant_id,
                               revoked=stored.revoked_at is not None, revoked_at=stored.revoked_at,
                               record=stored.record, phones=phones)

    # ----- POST /gateway/envelopes/{id}/events --------------------------------------------
    def report(self, principal: ServicePrincipal, envelope_id: str, events: Sequence[GatewayEventBody]) -> int:
        """Keep each recipient's latest event; returns how many distinct events the request held (202).

        Refused, and nothing of the request stored: an address that is not a recipient (422
        ``unknown_recipient``); an event that does not fit the recipient's route, or a time in the
        future or before the message was sent (422 ``invalid_event``); an event that says the
        message was shown (``opened``) dated after the second its revoke was recorded in (409
        ``message_revoked``: S5, the Viewer stops showing it)."""
        stored = self._stored(principal, envelope_id)
        recipients = {str(r.get("address")): r for r in reversed(stored.record.get("recipients", ()))
                      if isinstance(r, dict)}   # each address once (its first entry)
        latest = utcnow() + FUTURE_LEEWAY
        # Nothing is delivered before the message was sent (a gateway's clock may be a little behind).
        earliest = datetime.fromisoformat(stored.created_at) - FUTURE_LEEWAY
        # revoked_at is whole seconds: an event within its second may have come before the revoke.
        shown_until = datetime.fromisoformat(stored.revoked_at) + timedelta(seconds=1) if stored.revoked_at else None
        errors: dict[str, list[dict[str, str]]] = {"unknown_recipient": [], "invalid_event": [], "message_revoked": []}
        normal: list[str] = []
        for index, item in enumerate(events):
            try:
                address = normalise_mailbox(item.address)
            except InvalidAddress:
                address = ""
            recipient = recipients.get(address)
            if recipient is None:
                errors["unknown_recipient"].append(
                    {"field": f"[{index}].address", "message": "is not a recipient of this envelope"})
            elif item.event not in fitting_events(recipient):
                fallback = " with a Viewer fallback" if isinstance(recipient.get("fallback"), dict) else ""
                errors["invalid_event"].append({"field": f"[{index}].event", "message": (
                    f"{item.event} does not fit the recipient's route ({recipient.get('route')}{fallback})")})
            elif item.at > latest:
                errors["invalid_event"].append({"field": f"[{index}].at", "message": "is in the future"})
            elif item.at < earliest:
                errors["invalid_event"].append({"field": f"[{index}].at", "message": "is before the message was sent"})
            elif shown_until is not None and item.event in SHOWN_EVENTS and item.at >= shown_until:
                errors["message_revoked"].append({"field": f"[{index}].at", "message": (
                    f"is after the message was revoked ({stored.revoked_at}): a revoked message is not shown")})
            normal.append(address)
        everything = [e for kind in errors.values() for e in kind]
        if errors["unknown_recipient"] or errors["invalid_event"]:
            code = "unknown_recipient" if errors["unknown_recipient"] else "invalid_event"
            raise Unprocessable(code, errors[code][0]["field"] + ": " + errors[code][0]["message"],
                                errors=everything)
        if errors["message_revoked"]:
            first = errors["message_revoked"][0]
            raise EventAfterRevoke(first["field"] + ": " + first["message"], errors=everything,
                                   extra={"revoked_at": stored.revoked_at})
        key = self._keys.key(EVENT_PURPOSE)
        distinct: set[str] = set()
        best: dict[str, dict[str, Any]] = {}   # the request's latest event per recipient (its state row)
        for address, item in zip(normal, events, strict=True):
            at = event_time(item.at)
            who = hmac.new(key, b"r\x00" + address.encode(), hashlib.sha256).hexdigest()[:32]
            distinct.add(hmac.new(key, f"e\x00{address}\x00{item.event}\x00{at}".encode(),
                                  hashlib.sha256).hexdigest()[:32])
            row: dict[str, Any] = {
                "PartitionKey": stored.envelope_id, "RowKey": who,
                "recipient": self._pseudonyms.of(f"recipient:{stored.tenant_id}", address),
                "event": item.event, "at": item.at.astimezone(UTC), "at_text": at, "reported_by": principal.actor,
            }
            if item.detail:
                row["detail"] = item.detail
            known = best.get(who)
            # the same order as the view's; the same event at the same time again: the later report's detail
            if known is None or event_order(at, item.event) >= event_order(known["at_text"], known["event"]):
                best[who] = row
        self._keep_latest(stored.envelope_id, best)
        return len(distinct)

    def _keep_latest(self, envelope_id: str, rows: dict[str, dict[str, Any]]) -> None:
        """One state row per recipient (RowKey = the recipient's keyed hash): replaced only by a
        later event (``event_order``), under its ETag, so concurrent reports never lose the latest.
        A lost race reads again (``Contended``, 503, after ``STATE_ATTEMPTS``)."""
        for attempt in range(STATE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** attempt)))
            if len(rows) <= POINT_READS:
                current = {who: row for who in rows if (row := self._tables.get(storage.ENVELOPE_EVENTS, envelope_id,
                                                                                  who)) is not None}
            else:   # one partition read: at most one state row per recipient (and any rows of the earlier form)
                current = {row["RowKey"]: row for row in self._tables.query(
                    storage.ENVELOPE_EVENTS, "PartitionKey eq @p", {"p": envelope_id},
                    select=["RowKey", "event", "at_text", "detail"]) if row["RowKey"] in rows}
            operations: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
            for who, row in rows.items():
                known = current.get(who)
                if known is None:
                    operations.append(("create", row, {}))
                    continue
                if event_order(row["at_text"], row["event"]) < event_order(known["at_text"], known["event"]):
                    continue   # an older event, reported late: the state stays
                if (row["event"], row["at_text"], row.get("detail")) == (known["event"], known["at_text"],
                                                                       known.get("detail")):
                    continue   # the same event again
                operations.append(("update", row, storage.if_unchanged(
                    known.metadata["etag"])))  # type: ignore[attr-defined]  # the SDK's TableEntity
            try:
                for start in range(0, len(operations), BATCH):
                    self._tables.submit(storage.ENVELOPE_EVENTS, operations[start:start + BATCH])
                return
            except Conflict:   # another report changed a row meanwhile: read again (done batches compare equal)
                continue
        raise storage.Contended("Storage is too busy to record these events safely; try again.", retry_after=1)
