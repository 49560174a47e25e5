"""Per-request context that deeper layers may read: correlation ids and the request's deadline.

- ``CORRELATION_ID``: made by the server for every request (audit rows, logs, problem details);
  ``CALLER_CORRELATION_ID``: the caller's own ``X-Correlation-Id`` when it is well-formed, kept
  beside it (never instead of it: a caller must not choose what the audit log links together).
- ``deadline(seconds)``: every dependency call (Table Storage, Key Vault) inside the block ends by
  then; ``time_left(limit)`` is what one call may still take (503 once the time is up). Every HTTP
  request starts with ``REQUEST_DEADLINE_SECONDS``; on-send and health set shorter ones.
"""
from __future__ import annotations

import contextlib
import contextvars
import random
import re
import time
from collections.abc import Iterator

CORRELATION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
CALLER_CORRELATION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("caller_correlation_id", default="")
DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)
# Set before a request starts by whoever received it earlier (``httpapi.on_own_threads``): the
# correlation id it already answers under, and the time its answer is due, counted from arrival.
PRESET_CORRELATION_ID: contextvars.ContextVar[str] = contextvars.ContextVar("preset_correlation_id", default="")
NOT_AFTER: contextvars.ContextVar[float | None] = contextvars.ContextVar("not_after", default=None)

_CALLER_CORRELATION_RE = re.compile(r"^[A-Za-z0-9-]{8,64}$")
MIN_CALL_SECONDS = 0.05  # less time than this left: do not start a call that cannot finish
REQUEST_DEADLINE_SECONDS = 10.0  # any HTTP request: its dependency calls end by then (503 after)


def new_correlation_id() -> str:
    # Not uuid4: os.urandom releases the GIL and costs a thread switch under load; a
    # correlation id needs to be unique, not unpredictable.
    return f"{random.getrandbits(128):032x}"


RequestTokens = tuple["contextvars.Token[str]", "contextvars.Token[str]", "contextvars.Token[float | None]"]


def begin_request(incoming: str | None) -> tuple[str, RequestTokens]:
    """Start a request's context: (the server's correlation id, a token for ``end_request``)."""
    correlation_id = PRESET_CORRELATION_ID.get() or new_correlation_id()
    caller = incoming if incoming and _CALLER_CORRELATION_RE.fullmatch(incoming) else ""
    end = time.monotonic() + REQUEST_DEADLINE_SECONDS
    not_after = NOT_AFTER.get()
    return correlation_id, (CORRELATION_ID.set(correlation_id), CALLER_CORRELATION_ID.set(caller),
                            DEADLINE.set(end if not_after is None else min(end, not_after)))


def end_request(token: RequestTokens) -> None:
    correlation, caller, deadline_token = token
    DEADLINE.reset(deadline_token)
    CALLER_CORRELATION_ID.reset(caller)
    CORRELATION_ID.reset(correlation)


@contextlib.contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Dependency calls inside the block end within ``seconds`` (or an earlier outer deadline)."""
    end = time.monotonic() + seconds
    outer = DEADLINE.get()
    token = DEADLINE.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        DEADLINE.reset(token)


class DeadlineExceeded(TimeoutError):
    """The request's time for dependencies is up (adapters raise ``DependencyUnavailable`` instead;
    the HTTP edge answers 503 to either)."""


def time_left(limit: float) -> float:
    """Seconds the next dependency call may take: ``limit``, less when the deadline is nearer.

    Raises ``DeadlineExceeded`` (a ``TimeoutError``, so 503 with Retry-After at the HTTP edge)
    when the deadline has passed."""
    end = DEADLINE.get()
    if end is None:
        return limit
    left = end - time.monotonic()
    if left < MIN_CALL_SECONDS:
        raise DeadlineExceeded("a service this request needs did not answer in time")
    return min(limit, left)
