"""The envelope store: one row per secure message in Table Storage (SPEC S2, S4; docs/sending.md).

Table ``envelopes``: PartitionKey = envelope id, RowKey = ``"envelope"``. The row is written
once, with ``insert``: a single-entity insert is atomic, so a storage failing mid-send leaves no
envelope or a whole one, never a half. Properties:

- ``tenant_id``, ``sent_by`` (the person's mailbox: the gateway needs it to find their stored
  phones), ``sender`` (the From mailbox), ``message_id``, ``draft_digest`` (S4), ``created_at``
  (the record's UTC time), ``revoked_at`` (absent until revoked, S5; with it ``revoked_by``,
  ``internet_message_id`` and ``recall``: the recall outcome per recipient as JSON, split like
  ``record`` when longer: 500 outcomes of long addresses pass one property's 64 KiB);
- ``record``: the signed canonical record as JSON text. A string property holds at most 64 KiB
  (32,768 UTF-16 units), so a longer record is split into ``record_0`` .. ``record_<n-1>`` of at
  most ``RECORD_PART`` characters each, with ``record_parts`` = n (``record`` is then absent);
- ``headers``: the stamp headers as JSON, outside the signed form, so a retry answers them
  byte-identical;
- ``holder`` (Entra sessions only, outside the signed form): the pseudonym of the person (tid +
  oid) who held the sending mailbox, so a later holder of the same address does not see, list or
  revoke it (sendsecure/holders.py; ``revoke.own_message``). ``legacy`` (``LEGACY_HOLDER``): sent
  through an Entra session without holder fields (a row from before holders, another worker's
  copy of one): the person who held the mailbox before holders were recorded, never a later
  holder's. Absent: sent by e-mail code login, or before holders were recorded (then the time
  decides);
- ``holder_key`` (Entra sessions of a later holder only, outside the signed form): the sending
  session's person key (``Session.holder_key``), under which the sender's phone numbers are
  stored; the gateway reads the SMS recipients' numbers there (``gatewayservice``), so a queued
  message finds its sender's numbers. Absent: ``""``, the mailbox's own numbers.

The envelope id is derived, not random (``envelope_id_for``): an HMAC under the purpose key
``envelope-id`` of (tenant, the session's mailbox, the client's ``message_id``), 24 bytes in
base64url = 32 characters (the stamp allows 40). A retry or a concurrent double click computes
the same id, so the first insert wins and the loser reads the winner's row (``save_once``); no
second index table is needed. The id is unguessable without the key, so seeing one in a header
opens nothing by itself.

Table ``sentmessages`` (``SENT_MESSAGES``), the sender's index (X6: ``GET /messages``):
PartitionKey = the person's pseudonym within the tenant, RowKey = ``<9999999999 - epoch seconds of
created_at, 10 digits>.<envelope id>``, so a person's envelopes read newest first as one key range.
One upsert per send, written *before* the envelope's insert: an index row whose envelope does not
exist (the insert failed) or whose time is not the envelope's (a retry lost the race to an earlier
insert) is skipped when listing, so the index never names an envelope that is not the caller's.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sendsecure.adapters import storage
from sendsecure.core.canonical import canonical_json
from sendsecure.core.tenants import LoginMethod
from sendsecure.errors import Conflict
from sendsecure.sessions import person_key

if TYPE_CHECKING:
    from sendsecure.adapters.keys import Pseudonyms

ROW_KEY = "envelope"
ID_BYTES = 24                  # 32 characters of base64url
ID_PURPOSE = "envelope-id"     # the derived key's purpose (runtime.derived_keys().key(ID_PURPOSE))
ID_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
RECORD_PART = 16_000           # characters per record property: below 64 KiB even if every one is 2 UTF-16 units
INDEX_TOP = 9_999_999_999      # the index's RowKey counts down from here (epoch seconds), newest first
LEGACY_HOLDER = "legacy"       # ``holder`` of an envelope sent by an Entra session without holder fields
CURSOR_RE = re.compile(r"^[0-9]{10}\.[A-Za-z0-9_-]{32}$")  # an index RowKey: the listing's continuation


def envelope_id_for(key: bytes, *, tenant_id: str, mailbox: str, message_id: str) -> str:
    """The envelope id of a client's message: HMAC-SHA256 under ``key`` of the RFC 8785 form of
    ``[tenant, mailbox, message_id]``, cut to 24 bytes, base64url without padding (32 chars)."""
    payload = canonical_json([tenant_id, mailbox, message_id])
    digest = hmac.new(key, payload, hashlib.sha256).digest()[:ID_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


@dataclass(frozen=True, slots=True)
class StoredEnvelope:
    """One stored envelope: the signed ``record`` (as ``Envelope.to_dict`` wrote it), its stamp
    ``headers`` and what the store keeps beside it."""

    envelope_id: str
    tenant_id: str
    sent_by: str
    sender: str
    message_id: str
    draft_digest: str
    created_at: str
    record: dict[str, Any] = field(hash=False)
    headers: dict[str, str] = field(hash=False)
    revoked_at: str | None = None
    revoked_by: str | None = None
    internet_message_id: str | None = None
    recall: dict[str, str] = field(default_factory=dict, hash=False)  # address -> outcome (S5)
    holder: str | None = None        # Entra: the pseudonym of the person holding sent_by when it was sent
    holder_key: str = ""             # the sending session's person key: where the sender's numbers are

    def response(self) -> dict[str, Any]:
        """API.md's envelope: the record with its ``headers``."""
        return {**self.record, "headers": dict(self.headers)}


def _split_properties(name: str, text: str) -> dict[str, Any]:
    """``text`` as the property ``name``, or, past ``RECORD_PART`` characters, as ``name_0`` ..
    ``name_<n-1>`` with ``name_parts`` = n (a string property holds at most 64 KiB)."""
    if len(text) <= RECORD_PART:
        return {name: text}
    parts = [text[i:i + RECORD_PART] for i in range(0, len(text), RECORD_PART)]
    return {f"{name}_parts": len(parts), **{f"{name}_{index}": part for index, part in enumerate(parts)}}


def _joined_text(row: dict[str, Any], name: str) -> str | None:
    """The text ``_split_properties`` stored under ``name``; None when there is none."""
    if name in row:
        return str(row[name])
    if f"{name}_parts" not in row:
        return None
    return "".join(str(row[f"{name}_{index}"]) for index in range(int(row[f"{name}_parts"])))


def _without(row: dict[str, Any], name: str) -> dict[str, Any]:
    """``row`` without the property ``name`` in any of its split forms."""
    split = re.compile(rf"^{re.escape(name)}_(?:parts|[0-9]+)$")
    return {key: value for key, value in row.items() if key != name and not split.match(key)}


def _record_properties(record_json: str) -> dict[str, Any]:
    return _split_properties("record", record_json)


def _record_text(row: dict[str, Any]) -> str:
    text = _joined_text(row, "record")
    if text is None:
        raise KeyError("record")
    return text


def to_entity(stored: StoredEnvelope) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": stored.envelope_id, "RowKey": ROW_KEY,
        "tenant_id": stored.tenant_id, "sent_by": stored.sent_by, "sender": stored.sender,
        "message_id": stored.message_id, "draft_digest": stored.draft_digest, "created_at": stored.created_at,
        "headers": json.dumps(stored.headers, ensure_ascii=False, separators=(",", ":")),
        **_record_properties(json.dumps(stored.record, ensure_ascii=False, separators=(",", ":"))),
    }
    if stored.holder:
        entity["holder"] = stored.holder
    if stored.holder_key:
        entity["holder_key"] = stored.holder_key
    entity.update(revoke_properties(stored))
    return entity


def revoke_properties(stored: StoredEnvelope) -> dict[str, Any]:
    """The revoke state's properties (none until revoked)."""
    if stored.revoked_at is None:
        return {}
    properties: dict[str, Any] = {
        "revoked_at": stored.revoked_at, "revoked_by": stored.revoked_by or "",
        **_split_properties("recall", json.dumps(stored.recall, ensure_ascii=False, separators=(",", ":"))),
    }
    if stored.internet_message_id:
        properties["internet_message_id"] = stored.internet_message_id
    return properties


def from_entity(row: dict[str, Any]) -> StoredEnvelope:
    return StoredEnvelope(
        envelope_id=row["PartitionKey"], tenant_id=row["tenant_id"], sent_by=row["sent_by"], sender=row["sender"],
        message_id=row["message_id"], draft_digest=row["draft_digest"], created_at=row["created_at"],
        record=json.loads(_record_text(row)), headers=json.loads(row["headers"]),
        revoked_at=row.get("revoked_at"), revoked_by=row.get("revoked_by") or None,
        internet_message_id=row.get("internet_message_id") or None,
        recall=json.loads(_joined_text(row, "recall") or "{}"),
        holder=row.get("holder") or None, holder_key=row.get("holder_key") or "",
    )


def holder_of(session: Any) -> str | None:
    """The ``holder`` an envelope sent through this session records: the session's holder; for an
    Entra session without one, ``LEGACY_HOLDER``; for an e-mail code session, None."""
    holder = getattr(session, "holder", None)
    if holder is None and getattr(session, "login_method", None) == LoginMethod.ENTRA.value:
        return LEGACY_HOLDER
    return holder


def _from_holding(session: Any, stored: StoredEnvelope) -> bool:
    """Created since the session's holder holds the mailbox (always, without a holder: A2)."""
    since = getattr(session, "holder_since", None)
    return since is None or datetime.fromisoformat(stored.created_at) >= since


def sent_by_holder(session: Any, stored: StoredEnvelope) -> bool:
    """Whether the session's person sent this envelope: ``sent_by`` is the session's mailbox and,
    for an Entra holder, the envelope names the same holder (an envelope without one: created
    since the holder's ``holder_since``; one ``LEGACY_HOLDER`` sent: a session without a holder or
    the first holder recorded). A mailbox that changed hands keeps its earlier holder's messages
    from the next one (sendsecure/holders.py)."""
    if stored.sent_by != session.mailbox:
        return False
    holder = getattr(session, "holder", None)
    if stored.holder == LEGACY_HOLDER:     # sent by a session without holder fields: never a later holder's
        return person_key(holder, getattr(session, "holder_since", None)) == ""
    if holder is not None and stored.holder is not None:
        return stored.holder == holder
    return _from_holding(session, stored)


def own_message(session: Any, stored: StoredEnvelope) -> bool:
    """The sender's own message (``GET /messages``, ``GET /messages/{id}``, revoke): sent by the
    session's person, or sent From the session's mailbox by someone else (A4) since its holder
    holds it. The tenant is the caller's to check."""
    if sent_by_holder(session, stored):
        return True
    return stored.sender == session.mailbox and stored.sent_by != session.mailbox and _from_holding(session, stored)


def index_row_key(created_at: str, envelope_id: str) -> str:
    return f"{INDEX_TOP - int(datetime.fromisoformat(created_at).timestamp()):010d}.{envelope_id}"


class EnvelopeStore:
    def __init__(self, tables: Any, pseudonyms: Pseudonyms | None = None) -> None:
        self._tables = tables
        self._pseudonyms = pseudonyms  # None: no sender index (tools that only read envelopes)

    def _index_partition(self, tenant_id: str, person: str) -> str:
        assert self._pseudonyms is not None
        return self._pseudonyms.of(f"sender:{tenant_id}", person)

    def save_once(self, stored: StoredEnvelope) -> tuple[StoredEnvelope, bool]:
        """Insert the envelope unless its id exists; returns (the stored envelope, created).

        When the id exists the existing row is returned unchanged (``created`` False): the caller
        compares ``draft_digest`` (S4: same draft = 200 with it, another = 409).

        First the sender index's row (one upsert; see the module's docstring), then the insert."""
        if self._pseudonyms is not None:
            self._tables.upsert(storage.SENT_MESSAGES, {
                "PartitionKey": self._index_partition(stored.tenant_id, stored.sent_by),
                "RowKey": index_row_key(stored.created_at, stored.envelope_id),
                "envelope_id": stored.envelope_id, "created_at": stored.created_at,
            }, merge=False)
        for _ in range(2):
            try:
                self._tables.insert(storage.ENVELOPES, to_entity(stored))
                return stored, True
            except Conflict:
                existing = self.get(stored.envelope_id)
                if existing is not None:
                    return existing, False
        raise Conflict()  # the row exists and vanishes again in turn: nothing sane to answer

    def get(self, envelope_id: str) -> StoredEnvelope | None:
        """The envelope of this id, or None (also for a string that cannot be an envelope id)."""
        if not isinstance(envelope_id, str) or not ID_RE.fullmatch(envelope_id):
            return None
        row = self._tables.get(storage.ENVELOPES, envelope_id, ROW_KEY)
        return from_entity(row) if row is not None else None

    def update(self, envelope_id: str,
               change: Callable[[StoredEnvelope], StoredEnvelope | None]) -> StoredEnvelope | None:
        """Read-modify-write the envelope's revoke state under its ETag (optimistic concurrency;
        a lost race reads again and calls ``change`` again). ``change`` gets the stored envelope and
        returns it with a new revoke state, or None to leave the row as it is. Returns the envelope
        as stored afterwards; None if there is no such envelope (nothing is created)."""
        if not isinstance(envelope_id, str) or not ID_RE.fullmatch(envelope_id):
            return None
        outcome: list[StoredEnvelope | None] = [None]

        def apply(state: dict[str, Any]) -> dict[str, Any] | None:
            if not state:                        # gone meanwhile: never create a row
                outcome[0] = None
                return None
            current = from_entity({**state, "PartitionKey": envelope_id})
            changed = change(current)
            outcome[0] = changed if changed is not None else current
            if changed is None:
                return None
            return {**_without(state, "recall"), **revoke_properties(changed)}  # no stale parts

        self._tables.mutate(storage.ENVELOPES, envelope_id, ROW_KEY, apply)
        return outcome[0]

    def sent_by(self, tenant_id: str, person: str, *, since: datetime | None = None, cursor: str | None = None,
                limit: int = 20, accept: Callable[[StoredEnvelope], bool] | None = None,
                ) -> tuple[list[StoredEnvelope], str | None]:
        """The person's envelopes, newest first, at most ``limit``, created at or after ``since``,
        after ``cursor`` (the previous page's continuation), and ``accept``ed (the mailbox's
        current holder's: ``revoke.own_message``); returns (page, continuation or None)."""
        if self._pseudonyms is None:
            return [], None
        filters = ["PartitionKey eq @p"]
        parameters: dict[str, Any] = {"p": self._index_partition(tenant_id, person)}
        if since is not None:
            filters.append("RowKey lt @until")
            parameters["until"] = f"{INDEX_TOP - int(since.timestamp()) + 1:010d}"
        if cursor is not None:
            filters.append("RowKey gt @after")
            parameters["after"] = cursor
        page: list[StoredEnvelope] = []
        rows = self._tables.query(storage.SENT_MESSAGES, " and ".join(filters), parameters,
                                  select=["RowKey", "envelope_id", "created_at"], results_per_page=limit + 1)
        last = None
        for row in rows:
            if len(page) == limit:
                return page, last            # one more row exists: the page is full
            last = row["RowKey"]
            stored = self.get(str(row.get("envelope_id", "")))
            if stored is None or stored.created_at != row.get("created_at") \
                    or stored.tenant_id != tenant_id or stored.sent_by != person \
                    or (accept is not None and not accept(stored)):
                continue                     # the insert failed, a retry lost to an earlier one, an earlier holder's
            page.append(stored)
        return page, None
