"""Per-request context that deeper layers may read (the correlation id for audit and logs)."""
from __future__ import annotations

import contextvars

CORRELATION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
