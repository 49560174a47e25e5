"""Budgets of refusals (SPEC S6): a refused request is audited, but not without bound.

Every refusal used to be an audit row, so anyone who can be refused could grow the audit table
and its hash chains (X7) as fast as they send requests, and, for a refusal recorded in another
tenant's log (a revoke of another tenant's message, docs/sending.md "Who may"), fill that
tenant's log. ``RefusalBudget`` counts the refusals of one subject (a client group, a person) in
fixed windows (``IssueWindow``) in one counter row of ``loginguards`` (partition = the budget's
kind, forgotten by the login housekeeping a day after its window; ``TableStore.mutate``, so the
count is exact across instances):

- the first ``window.limit`` refusals of a window are ``allowed``: audited as before;
- the next is ``first_over``: one row with outcome ``rate_limited`` and 429 with ``Retry-After``;
- later ones in the window are 429 and only counted;
- the first refusal of a later window carries ``suppressed_before``: how many went unrecorded.

So at most ``limit + 1`` rows per subject and window, whatever the rate. A flood on one counter
that storage cannot keep up with (``Contended``) is 429 without a row, as at login. Only refusals
are counted: what the subject may do is never held back by its refusals.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sendsecure.adapters import storage
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.logincodes import IssueWindow
from sendsecure.errors import RateLimited

# The budgets' kinds: partitions of their counters in ``loginguards`` (the login housekeeping forgets
# a counter a day after its window).
SERVICE_AUTH = "svcauth"   # refused service credentials, one counter per client group
REVOKES = "revokeref"      # refused revokes, one counter per person
KINDS = (SERVICE_AUTH, REVOKES)


@dataclass(frozen=True, slots=True)
class Budgeted:
    """What to do with one refusal."""

    allowed: bool                   # within the budget: audit it as usual
    first_over: bool                # the first past it: one ``rate_limited`` row, then 429
    suppressed_before: int | None   # unrecorded refusals of the window before (on a new window's first)
    retry_after: int                # seconds until the window ends


class RefusalBudget:
    def __init__(self, tables: storage.TableStore, kind: str, window: IssueWindow) -> None:
        self._tables = tables
        self.kind = kind
        self.window = window

    def count(self, subject: str, now: datetime | None = None) -> Budgeted:
        """Count one refusal of ``subject`` (a pseudonym, never personal data in clear);
        ``RateLimited`` (429, ``Retry-After`` 1) when storage cannot keep up with the counter."""
        now = now or utcnow()
        decision: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any]:
            previous = as_utc(state.get("window_start"))
            over = int(state.get("over", 0))   # refusals past the limit in this window (the first is recorded)
            allowed, start, count, retry_after = self.window.admit(previous, int(state.get("count", 0)), now)
            if start != previous:              # a new window: what the last one left unrecorded goes into its row
                decision["suppressed_before"] = max(0, over - 1) or None
                over = 0
            else:
                decision["suppressed_before"] = None
            if not allowed:
                over += 1
            decision.update(allowed=allowed, retry_after=retry_after, over=over)
            return {"window_start": start, "count": count, "over": over}

        try:
            self._tables.mutate(storage.LOGIN_GUARDS, self.kind, subject, change)
        except storage.Contended:   # a flood on one counter: nothing counted, nothing recorded
            raise RateLimited("Too many refused attempts at once; try again in a moment.", retry_after=1) from None
        return Budgeted(allowed=decision["allowed"], first_over=not decision["allowed"] and decision["over"] == 1,
                        suppressed_before=decision["suppressed_before"], retry_after=decision["retry_after"])
