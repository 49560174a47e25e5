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
  ``envelopeevents``: PartitionKey = envelope id, RowKey = ``<r>.<e>`` with ``r`` a keyed hash of
  the recipient and ``e`` a keyed hash of (recipient, event, time), so the same event posted twice
  is one row (upserts in one entity group transaction per 100), and a recipient's events are one
  key range. Rows hold the recipient's pseudonym, never the address. The sender's view (next
  issue) reads one partition and keeps the latest ``at`` per ``recipient``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sendsecure.adapters import storage
from sendsecure.adapters.keys import DerivedKeys, Pseudonyms
from sendsecure.audit import AuditLog
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.clock import utcnow
from sendsecure.core.models import GatewayEnvelope, GatewayEventBody, GatewayPhone
from sendsecure.envelopes import EnvelopeStore, StoredEnvelope
from sendsecure.errors import NotFound, Unprocessable
from sendsecure.phonebook import PhoneBook, Sender
from sendsecure.servicecredentials import ServicePrincipal

logger = logging.getLogger(__name__)

ENVELOPE_FETCHED = "gateway.envelope_fetched"
EVENT_PURPOSE = "envelope-event"   # derived key of the event rows' keyed hashes
FUTURE_LEEWAY = timedelta(minutes=5)
BATCH = storage.BATCH_LIMIT


class EnvelopeNotFound(NotFound):
    title = "No envelope with this id"


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
        """Store the events; returns how many distinct ones the request held (202)."""
        stored = self._stored(principal, envelope_id)
        addresses = recipient_addresses(stored.record)
        latest = utcnow() + FUTURE_LEEWAY
        # Nothing is delivered before the message was sent (a gateway's clock may be a little behind).
        earliest = datetime.fromisoformat(stored.created_at) - FUTURE_LEEWAY
        errors: list[dict[str, str]] = []
        normal: list[str] = []
        for index, item in enumerate(events):
            try:
                address = normalise_mailbox(item.address)
            except InvalidAddress:
                address = ""
            if address not in addresses:
                errors.append({"field": f"[{index}].address", "message": "is not a recipient of this envelope"})
            elif item.at > latest:
                errors.append({"field": f"[{index}].at", "message": "is in the future"})
            elif item.at < earliest:
                errors.append({"field": f"[{index}].at", "message": "is before the message was sent"})
            normal.append(address)
        if errors:
            raise Unprocessable("unknown_recipient" if any(e["field"].endswith("address") for e in errors)
                                else "invalid_event", errors[0]["field"] + ": " + errors[0]["message"], errors=errors)
        key = self._keys.key(EVENT_PURPOSE)
        rows: dict[str, dict[str, Any]] = {}
        for address, item in zip(normal, events, strict=True):
            at = event_time(item.at)
            recipient = self._pseudonyms.of(f"recipient:{stored.tenant_id}", address)
            who = hmac.new(key, b"r\x00" + address.encode(), hashlib.sha256).hexdigest()[:32]
            what = hmac.new(key, f"e\x00{address}\x00{item.event}\x00{at}".encode(), hashlib.sha256).hexdigest()[:32]
            row: dict[str, Any] = {
                "PartitionKey": stored.envelope_id, "RowKey": f"{who}.{what}", "recipient": recipient,
                "event": item.event, "at": item.at.astimezone(UTC), "at_text": at, "reported_by": principal.actor,
            }
            if item.detail:
                row["detail"] = item.detail
            rows.setdefault(f"{who}.{what}", row)  # a repeat within one request: once
        batch = list(rows.values())
        for start in range(0, len(batch), BATCH):
            self._tables.submit(storage.ENVELOPE_EVENTS, [("upsert", row) for row in batch[start:start + BATCH]])
        return len(batch)
