"""A tenant administrator reads and verifies the tenant's audit log (SPEC S6, X7; API.md
"Administration"). Administrators are the mailboxes the tenant definition lists
(``administrators``); anyone else with a session of the tenant gets 403. Reading and verifying
are themselves recorded (``audit.read``, ``audit.verified``; NEN 7513: access to the log is access
too), before the answer leaves: an unrecorded read answers 503 instead.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sendsecure.audit import AUDIT_READ, AUDIT_VERIFIED, AuditLog
from sendsecure.audit.chain import EARLIEST, LATEST, day_of
from sendsecure.audit.trail import AuditTrail, Verification
from sendsecure.core.clock import utcnow
from sendsecure.errors import InvalidQuery, ProblemError

if TYPE_CHECKING:
    from sendsecure.adapters.keys import Pseudonyms
    from sendsecure.sessions import Session
    from sendsecure.tenantstore import TenantDirectory

MAX_VERIFY_DAYS = 31      # one request verifies at most a month (the request's deadline is 10 s)
MAX_PAGE = 1000
DEFAULT_PAGE = 100
MAX_CURSOR = 512          # characters; a cursor names a partition (tenant id and day) and a row key
_ROW_FIELDS = ("PartitionKey", "RowKey", "event", "outcome", "at", "tenant_id", "actor", "correlation_id",
               "caller_correlation_id", "chain", "seq", "prev_hash", "hash", "Timestamp")


class NotAdministrator(ProblemError):
    status, code, title = 403, "not_administrator", "Only the tenant's administrators may do this"


def parse_moment(name: str, text: str | None, default: datetime) -> datetime:
    """An RFC 3339 date-time (a zone is required unless it is ``Z``) or a date (its start, UTC),
    within the days the log can hold (``EARLIEST``..``LATEST``, Table Storage's DateTime range)."""
    if text is None or text == "":
        return default
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), UTC)
        else:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                raise InvalidQuery.field(name, "a date-time needs its zone (Z or +01:00)")
            moment = moment.astimezone(UTC)   # OverflowError past year 1 or 9999 in UTC
    except (ValueError, OverflowError):
        raise InvalidQuery.field(name, "not a date (2026-12-01) or a date-time with its zone "
                                       "(2026-12-01T09:30:00Z)") from None
    if not EARLIEST <= moment <= LATEST:
        raise InvalidQuery.field(name, f"must be from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d}T00:00:00Z")
    return moment


def time_range(from_text: str | None, to_text: str | None, now: datetime) -> tuple[datetime, datetime]:
    """``[from, to)``; default the start of today (UTC) until now."""
    start = parse_moment("from", from_text, datetime.combine(now.date(), time(), UTC))
    end = parse_moment("to", to_text, now)
    if start >= end:
        raise InvalidQuery.field("from", "must be before to")
    return start, end


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).rstrip(b"=").decode("ascii")


def decode_cursor(text: str, tenant_id: str) -> tuple[str, str]:
    """The (partition, row key) a ``next_cursor`` names. Anything else is 400: a cursor longer than
    any this API gives is not decoded at all, and a deeply nested one (``[[[[...``) would stop
    ``json.loads`` with a RecursionError."""
    refused = InvalidQuery.field("cursor", "not a cursor this API gave")
    if len(text) > MAX_CURSOR:
        raise refused
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise refused from None
    if not (isinstance(data, list) and len(data) == 2 and all(isinstance(v, str) for v in data)
            and data[0].startswith(tenant_id + ".")):
        raise refused
    return data[0], data[1]


def page_size(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_PAGE
    # ASCII digits only: "²".isdigit() is true and int() refuses it; int() reads "١٠" as 10.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_PAGE:
        raise InvalidQuery.field("limit", f"a whole number from 1 to {MAX_PAGE}")
    return int(text)


def event_answer(row: dict[str, Any]) -> dict[str, Any]:
    """A stored row as the API shows it: the record's fields, then its details."""
    at = row["at"].astimezone(UTC)   # the SDK's datetime subclass as a plain datetime (for the encoder)
    return {
        "at": datetime(at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond, UTC),
        "event": row["event"], "outcome": row["outcome"], "actor": row.get("actor", ""),
        "correlation_id": row.get("correlation_id", ""),
        "caller_correlation_id": row.get("caller_correlation_id", ""),
        "chain": row.get("chain", ""), "seq": row.get("seq", -1), "hash": row.get("hash", ""),
        "details": {k: getattr(v, "value", v) for k, v in row.items() if k not in _ROW_FIELDS},
    }


class AuditAdministration:
    def __init__(self, trail: AuditTrail, tenants: TenantDirectory, audit_log: AuditLog,
                 pseudonyms: Pseudonyms) -> None:
        self._trail = trail
        self._tenants = tenants
        self._audit = audit_log
        self._pseudonyms = pseudonyms

    def _administrator(self, session: Session) -> str:
        tenant = self._tenants.get(session.tenant_id)
        if tenant is None or session.mailbox not in tenant.administrators:
            raise NotAdministrator("Only the mailboxes the tenant definition lists as administrators may read "
                                   "the audit log.")
        return self._pseudonyms.of("mailbox", session.mailbox)

    def events(self, session: Session, from_text: str | None, to_text: str | None, cursor_text: str | None,
               limit_text: str | None) -> tuple[list[dict[str, Any]], str | None]:
        actor = self._administrator(session)
        start, end = time_range(from_text, to_text, utcnow())
        limit = page_size(limit_text)
        cursor = decode_cursor(cursor_text, session.tenant_id) if cursor_text else None
        page = self._trail.events(session.tenant_id, start, end, cursor, limit)
        self._audit.record(AUDIT_READ, tenant_id=session.tenant_id, actor=actor, outcome="returned",
                           range_from=start.isoformat(), range_to=end.isoformat(), count=len(page.events))
        return [event_answer(row) for row in page.events], \
            encode_cursor(page.next_cursor) if page.next_cursor else None

    def verify(self, session: Session, from_text: str | None, to_text: str | None) -> Verification:
        actor = self._administrator(session)
        now = utcnow()
        start, end = time_range(from_text, to_text, now)
        last = end - timedelta(microseconds=1)
        if (last.date() - start.date()).days >= MAX_VERIFY_DAYS:
            raise InvalidQuery.field("to", f"at most {MAX_VERIFY_DAYS} days per request (the command line "
                                           "verifies any range)")
        result = self._trail.verify(session.tenant_id, day_of(start), day_of(last), now)
        self._audit.record(AUDIT_VERIFIED, tenant_id=session.tenant_id, actor=actor,
                           outcome="intact" if result.intact else "broken", rows=result.rows,
                           range_from=start.isoformat(), range_to=end.isoformat(),
                           first_break=result.first_break.reason if result.first_break else None)
        return result
