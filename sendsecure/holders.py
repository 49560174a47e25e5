"""Who holds a mailbox of an Entra tenant (SPEC A2 "the user is keyed by tid + oid", A3, P1, P4;
review s20 finding 1; docs/login.md "The person behind a mailbox").

A session, the stored phone numbers, the user settings and the sender's message list hang on the
mailbox address; an Entra directory may give a leaver's address (UPN) to a new person (another
``oid``). So for Entra logins one row per (tenant, mailbox) in ``mailboxholders`` names the
mailbox's current *holder*:

- ``PartitionKey`` = the tenant, ``RowKey`` = the mailbox's pseudonym (no address in clear);
- ``holder`` = the holder's pseudonym (``entra`` of ``tid/oid``: the ``entra_user`` of the audit),
  ``since`` = when this holder first logged in with it after it changed hands (UTC, whole seconds:
  an envelope's time has no more; ``BEGINNING`` for the first holder recorded, who held it before
  holders were recorded, so their earlier messages stay theirs), ``recorded_at`` = when the row got
  this holder, ``previous`` and ``former`` = the holder before and the last ``FORMER_KEPT`` former
  holders (pseudonyms), ``erased`` = whether the earlier holder's data is gone (False only between
  the row's move and the end of the erasure: a login that finds it False finishes the job).

On an Entra login (``claim``): no row: this person holds the mailbox from now. The same holder:
nothing changes. Another holder: the mailbox changed hands. A *former* holder's token issued
(``iat``) before the current holder's ``since`` is then refused (``token_before_holder_change``:
no ping-pong between a former holder's still-valid token and the new one); a person who never held
it, or a former holder with a token issued since (the directory gave it back), moves the row
(under its ETag) and then (``_hand_over``) the sessions of the mailbox in the tenant without a
holder or of the replaced holders end and their phone numbers and settings are erased (P1, P4:
they were the earlier persons'), audited as ``login.holder_changed`` with pseudonyms and counts
only, before anything is deleted and again after. The row is read again before each step: a
hand-over that stalled while yet another person took the mailbox over stops.

A later holder's numbers and settings are keyed by the person (``Session.holder_key``: the
holder's pseudonym; the first holder recorded keeps the mailbox's own keys), so a late write of an
earlier holder (a request in flight, another worker's copy of their session) lands in their own
place, which the new holder never reads.

E-mail code tenants have no rows: there the mailbox is the identity.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.entratoken import TokenRefused
from sendsecure.sessions import BEGINNING, person_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from sendsecure.adapters.keys import Pseudonyms
    from sendsecure.phonebook import PhoneBook
    from sendsecure.sessions import SessionService
    from sendsecure.usersettings import UserSettingsStore

logger = logging.getLogger(__name__)

HOLDER_CHANGED = "login.holder_changed"
BEFORE_CHANGE = "token_before_holder_change"
FORMER_KEPT = 10        # former holders remembered per mailbox (40-character pseudonyms)


@dataclass(frozen=True)
class Holding:
    holder: str          # the holder's pseudonym (entra_user)
    since: datetime      # when this holder first logged in with the mailbox (UTC, whole seconds)


def whole_seconds(moment: datetime) -> datetime:
    return as_utc(moment).replace(microsecond=0)


def before_change() -> TokenRefused:
    return TokenRefused(BEFORE_CHANGE, "The mailbox has passed to another person since this token was issued; "
                                       "get a new token for the account you are signed in with.")


class MailboxHolders:
    def __init__(self, tables: storage.TableStore, pseudonyms: Pseudonyms, audit_log: audit.AuditLog,
                 sessions: SessionService, phonebook: PhoneBook, settings: UserSettingsStore) -> None:
        self._tables = tables
        self._pseudonyms = pseudonyms
        self._audit = audit_log
        self._sessions = sessions
        self._phonebook = phonebook
        self._settings = settings

    def _row(self, mailbox: str) -> str:
        return self._pseudonyms.of("mailbox", mailbox)

    def claim(self, tenant_id: str, mailbox: str, holder: str, issued_at: datetime,
              now: datetime | None = None) -> Holding:
        """The holding of the person logging in (``holder``, with a token issued at ``issued_at``),
        after taking the mailbox over when it was another's; ``TokenRefused`` for a token issued
        before the current holder's ``since``."""
        now = whole_seconds(now or utcnow())
        moved = [False]

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            moved[0] = False
            if state.get("holder") == holder:
                return None
            former = [h for h in str(state.get("former") or "").split(",") if h]
            if holder in former and as_utc(issued_at) < as_utc(state["since"]):
                return None          # a former holder's token from before the mailbox passed on
            moved[0] = True
            if state:
                former = [h for h in former if h not in (holder, state["holder"])] + [state["holder"]]
            # The first holder recorded holds it since the beginning: nothing says it changed hands
            # before (messages sent before holders were recorded carry no holder, and stay theirs).
            return {"holder": holder, "since": now if state else BEGINNING, "recorded_at": now,
                    "erased": not state, "previous": state.get("holder", ""), "former": ",".join(former[-FORMER_KEPT:])}

        stored = self._tables.mutate(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox), change)
        if stored.get("holder") != holder:
            raise before_change()
        holding = Holding(holder=holder, since=whole_seconds(stored["since"]))
        if not stored.get("erased", True):   # changed hands now, or a login that changed it stopped half-way
            self._hand_over(tenant_id, mailbox, holding, previous=stored.get("previous") or None,
                            resumed=not moved[0])
        return holding

    def _pending(self, tenant_id: str, mailbox: str, holding: Holding) -> dict[str, Any] | None:
        """The row, read now, while the hand-over to ``holding`` is still to be done: None once
        another person took the mailbox over meanwhile or the erasure is marked done."""
        row = self._tables.get(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox))
        if row is None or row.get("holder") != holding.holder or row.get("erased", True):
            return None
        return row

    def _hand_over(self, tenant_id: str, mailbox: str, holding: Holding, *, previous: str | None,
                   resumed: bool) -> None:
        """End the sessions of the holders being replaced, erase their numbers and settings, then
        mark the row ``erased`` (if this stops half-way, the holder's next login does it again).

        Audited *before* anything is deleted (``login.holder_changed``, outcome
        ``mailbox_changed_hands``, with what is to go), then again with what went (``data_erased``;
        ``handover_superseded`` if it stopped): a deletion is never unrecorded. The row is read
        again before each step, and the hand-over stops when another person took the mailbox over
        meanwhile or it is already done (a stalled hand-over never touches a later holder). Only
        the replaced holder's data goes: the mailbox's own (``""``: sessions without a holder, the
        first holder's numbers) and the previous holder's, never the new holder's person key
        (sendsecure/sessions.py ``person_key``). Former holders' data went at their own hand-over."""
        row = self._pending(tenant_id, mailbox, holding)
        if row is None:
            return
        replaced = {h for h in [str(row.get("previous") or "")] if h and h != holding.holder}
        keys = ({""} | replaced) - {person_key(holding.holder, holding.since)}
        steps: list[tuple[str, Callable[[bool], int]]] = [
            ("sessions", lambda count: self._sessions.end_mailbox(
                tenant_id, mailbox, keep_holder=holding.holder, replaced=replaced, count_only=count)),
            ("phones", lambda count: self._phonebook.erase_person(tenant_id, mailbox, keys, count_only=count)),
            ("settings", lambda count: self._settings.erase_person(tenant_id, mailbox, keys, count_only=count)),
        ]
        def record(outcome: str, counts: dict[str, int]) -> None:
            self._audit.record(HOLDER_CHANGED, tenant_id=tenant_id, actor=self._row(mailbox), outcome=outcome,
                               entra_user=holding.holder, previous_entra_user=previous or "",
                               since=holding.since.isoformat(), resumed=resumed, **counts)

        record("mailbox_changed_hands", {name: step(True) for name, step in steps})   # before anything goes
        done: dict[str, int] = {}
        for name, step in steps:
            if self._pending(tenant_id, mailbox, holding) is None:
                record("handover_superseded", {name: done.get(name, 0) for name, _ in steps})
                logger.info("a hand-over of an Entra mailbox in tenant %s stopped: it changed hands again "
                            "or was finished meanwhile", tenant_id)
                return
            done[name] = step(False)
        record("data_erased", done)
        logger.info("an Entra mailbox changed hands in tenant %s: %d session(s) ended, %d number(s) and %d "
                    "setting row(s) erased", tenant_id, done["sessions"], done["phones"], done["settings"])

        def finished(state: dict[str, Any]) -> dict[str, Any] | None:
            if state.get("holder") != holding.holder or state.get("erased", True):
                return None
            return {**state, "erased": True}

        self._tables.mutate(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox), finished)

    def holds(self, tenant_id: str, mailbox: str, holder: str) -> bool:
        """Whether ``holder`` still holds the mailbox (read after a session was created: a change of
        hands that raced with this login ends it)."""
        row = self._tables.get(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox))
        return row is None or row.get("holder") == holder
