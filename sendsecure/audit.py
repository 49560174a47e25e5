"""Append-only audit log (SPEC S6; NTA 7516 6.4.2, NEN 7513: what, when, who, on whose behalf).

One row per event, partitioned by tenant and month, row keys time-ordered and unique; rows
are only ever inserted. Actors are pseudonyms (keyed hashes), never addresses, and no
codes, tokens, phone numbers or subjects are written.

``correlation_id`` is the server's own id of the request (the caller cannot choose what the log
ties together); a well-formed ``X-Correlation-Id`` of the caller is kept beside it as
``caller_correlation_id``.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sendsecure.adapters import storage
from sendsecure.context import CALLER_CORRELATION_ID, CORRELATION_ID
from sendsecure.core.clock import as_utc, utcnow

# The events of the login area; later areas add theirs.
LOGIN_CODE_REQUESTED = "login.code_requested"
LOGIN_SUCCEEDED = "login.succeeded"
LOGIN_FAILED = "login.failed"
LOGIN_LOCKED_OUT = "login.locked_out"
LOGOUT = "logout"
# Sending (issue 10): accepted (outcome created / repeated, with the envelope id, the way out
# ``via`` send / on_send, counts per route, the signing key id) and refused (with the reason code).
SEND_ACCEPTED = "send.accepted"
SEND_REFUSED = "send.refused"

_ALLOWED_DETAIL_TYPES = (str, int, bool, float)


def audit_entity(event: str, *, tenant_id: str | None, actor: str | None, outcome: str, at: datetime,
                 correlation_id: str, details: dict[str, Any], caller_correlation_id: str = "") -> dict[str, Any]:
    """The row for one event (pure, so the format is tested without storage)."""
    at = as_utc(at).astimezone(UTC)
    entity: dict[str, Any] = {
        "PartitionKey": f"{tenant_id or '-'}.{at:%Y%m}",
        "RowKey": f"{at:%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex[:12]}",
        "event": event,
        "outcome": outcome,
        "at": at,
        "tenant_id": tenant_id or "",
        "actor": actor or "",
        "correlation_id": correlation_id,
        "caller_correlation_id": caller_correlation_id,
    }
    for key, value in details.items():
        if value is None:
            continue
        if key in entity:
            raise ValueError(f"audit detail {key} would overwrite a field of the record")
        if not isinstance(value, _ALLOWED_DETAIL_TYPES):
            raise TypeError(f"audit detail {key} must be a plain value")
        entity[key] = value
    return entity


class AuditLog:
    def __init__(self, tables: storage.TableStore) -> None:
        self._tables = tables

    def record(self, event: str, *, tenant_id: str | None, actor: str | None, outcome: str, **details: Any) -> None:
        entity = audit_entity(
            event, tenant_id=tenant_id, actor=actor, outcome=outcome,
            at=utcnow(), correlation_id=CORRELATION_ID.get(), details=details,
            caller_correlation_id=CALLER_CORRELATION_ID.get(),
        )
        self._tables.insert(storage.AUDIT, entity)
