"""The one UTC clock of the application.

``utcnow()`` is the current time, timezone-aware in UTC; ``as_utc(value)`` reads a stored time
as UTC (Table Storage returns naive or aware datetimes depending on the SDK path; every time
the application stores is UTC). Nothing else in the tree calls ``datetime.now``.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """``value`` with UTC as its zone when it has none (an aware value is returned as it is)."""
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
