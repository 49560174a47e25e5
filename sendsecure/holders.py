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
(under its ETag) and then every session of the mailbox in the tenant ends (except the new holder's
own) and the mailbox's phone numbers and settings are erased (P1, P4: they were the previous
person's), audited as ``login.holder_changed`` with pseudonyms and counts only.

E-mail code tenants have no rows: there the mailbox is the identity.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.entratoken import TokenRefused

if TYPE_CHECKING:
    from sendsecure.adapters.keys import Pseudonyms
    from sendsecure.phonebook import PhoneBook
    from sendsecure.sessions import SessionService
    from sendsecure.usersettings import UserSettingsStore

logger = logging.getLogger(__name__)

HOLDER_CHANGED = "login.holder_changed"
BEFORE_CHANGE = "token_before_holder_change"
FORMER_KEPT = 10        # former holders remembered per mailbox (40-character pseudonyms)
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)   # ``since`` of a mailbox's first recorded holder


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

    def _hand_over(self, tenant_id: str, mailbox: str, holding: Holding, *, previous: str | None,
                   resumed: bool) -> None:
        """End the mailbox's other sessions, erase its numbers and settings, audit, then mark the
        row ``erased`` (if this stops half-way, the holder's next login does it again)."""
        sessions = self._sessions.end_mailbox(tenant_id, mailbox, keep_holder=holding.holder)
        phones = self._phonebook.erase_person(tenant_id, mailbox)
        settings = self._settings.erase_person(tenant_id, mailbox)
        self._audit.record(HOLDER_CHANGED, tenant_id=tenant_id, actor=self._row(mailbox),
                           outcome="mailbox_changed_hands", entra_user=holding.holder,
                           previous_entra_user=previous or "", since=holding.since.isoformat(),
                           sessions=sessions, phones=phones, settings=settings, resumed=resumed)
        logger.info("an Entra mailbox changed hands in tenant %s: %d session(s) ended, %d number(s) and %d "
                    "setting row(s) erased", tenant_id, sessions, phones, settings)

        def done(state: dict[str, Any]) -> dict[str, Any] | None:
            if state.get("holder") != holding.holder or state.get("erased", True):
                return None
            return {**state, "erased": True}

        self._tables.mutate(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox), done)

    def holds(self, tenant_id: str, mailbox: str, holder: str) -> bool:
        """Whether ``holder`` still holds the mailbox (read after a session was created: a change of
        hands that raced with this login ends it)."""
        row = self._tables.get(storage.MAILBOX_HOLDERS, tenant_id, self._row(mailbox))
        return row is None or row.get("holder") == holder
