"""E-mail code login (SPEC A1): issue a code to a mailbox, verify it, open a session.

The answer to a code request is the same whether or not the mailbox belongs to an onboarded
tenant that logs in by e-mail code: a challenge is stored either way (a decoy that no code
opens when nothing was mailed), rate limits count either way, and verifying a decoy does the
same work and fails exactly like a wrong code.

A sub-addressed mailbox is its base mailbox (``jan+x@`` is ``jan@``: limits, lockout, identity,
the session and the mail). Clients are grouped (IPv6 by /64) for every per-client count.

Rows (table ``loginguards``), all keyed by pseudonyms (``<m>`` mailbox, ``<c>`` client group):
- ``failcli.<m>.<c>``: failures of one mailbox from one client, the short lockout;
- ``fail.<m>``: consecutive failures of a mailbox from anywhere; locks only near NIST's 100
  and is audited as an attack (``login.attack_suspected``);
- ``issue.<m>.<c>``, ``issuembx.<m>``, ``issuecli.<c>``, ``verifycli.<c>``: fixed windows.
Challenges live in ``logincodes`` keyed by the challenge id.

A verify reserves the failure on both failure rows under their ETags *before* the code is
looked at (a guess is evaluated only if counting it was admitted), then a try of the code,
then checks the code; a right code checks both locks again (and clears the counts) before the
code is consumed and a session opened.
"""
from __future__ import annotations

import base64
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.adapters.keys import DerivedKeys, Pseudonyms
from sendsecure.adapters.mail import MailTransport, login_code_mail
from sendsecure.core.addresses import InvalidAddress, domain_of, normalise_mailbox
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.logincodes import (
    IssueWindow,
    LockoutPolicy,
    Reservation,
    base_mailbox,
    client_group,
    code_mac,
    code_matches,
    is_well_formed,
    new_challenge_id,
    new_code,
)
from sendsecure.core.tenants import LoginMethod
from sendsecure.errors import DependencyUnavailable, InvalidBody, InvalidCode, RateLimited
from sendsecure.refusals import KINDS as REFUSAL_KINDS
from sendsecure.sessions import Session, SessionService
from sendsecure.tenantstore import TenantDirectory

logger = logging.getLogger(__name__)
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CODE_KEY_PURPOSE = "login-code"
LOGIN_ATTACK_SUSPECTED = "login.attack_suspected"
GUARD_IDLE_DAYS = 30  # a failure count untouched this long is forgotten (housekeeping)


@dataclass(frozen=True)
class LoginPolicy:
    code_ttl_seconds: int
    code_max_attempts: int
    lockout: LockoutPolicy          # per mailbox and client group: the short lockout
    mailbox_lockout: LockoutPolicy  # per mailbox from anywhere: near NIST's 100
    per_mailbox: IssueWindow        # codes per mailbox and client group
    per_mailbox_total: IssueWindow  # codes per mailbox from anywhere
    per_client: IssueWindow         # codes per client group
    verify_per_client: IssueWindow  # verifies per client group
    mail_from: str


def _seconds_until(moment: datetime | None, now: datetime) -> int:
    return int((moment - now).total_seconds()) if moment is not None else 0


class EmailCodeLogin:
    def __init__(self, *, tables: storage.TableStore, tenants: TenantDirectory, sessions: SessionService,
                 mail: MailTransport, pseudonyms: Pseudonyms, keys: DerivedKeys, audit_log: audit.AuditLog,
                 policy: LoginPolicy) -> None:
        self._tables = tables
        self._tenants = tenants
        self._sessions = sessions
        self._mail = mail
        self._pseudonyms = pseudonyms
        self._keys = keys
        self._audit = audit_log
        self.policy = policy

    def _code_key(self) -> bytes:
        return self._keys.key(CODE_KEY_PURPOSE)

    # ----- issuing ---------------------------------------------------------------------

    def request_code(self, mailbox: str, *, client: str, language: str) -> dict[str, Any]:
        try:
            mailbox = base_mailbox(normalise_mailbox(mailbox))
        except InvalidAddress as error:
            raise InvalidBody.field("mailbox", f"is not a valid e-mail address ({error})") from None
        now = utcnow()
        actor = self._pseudonyms.of("mailbox", mailbox)
        client_key = self._pseudonyms.of("client", client_group(client))
        key = self._code_key()  # before any count: a key store that is down costs the user nothing
        self._admit("issuecli", client_key, self.policy.per_client, now, "codes were requested from your network")
        self._admit("issue", f"{actor}.{client_key}", self.policy.per_mailbox, now, "codes were requested")
        self._admit("issuembx", actor, self.policy.per_mailbox_total, now, "codes were requested for this mailbox")

        tenant = self._tenants.for_domain(domain_of(mailbox))
        tenant_id = tenant.id if tenant is not None else None
        deliverable = tenant is not None and tenant.login_method is LoginMethod.EMAIL_CODE
        challenge_id, code = new_challenge_id(), new_code()
        expires_at = now + timedelta(seconds=self.policy.code_ttl_seconds)
        self._tables.insert(storage.LOGIN_CODES, {
            "PartitionKey": challenge_id[:2], "RowKey": challenge_id,
            "actor": actor, "tenant_id": tenant_id if deliverable else "",
            "mailbox": mailbox if deliverable else "",
            "deliverable": deliverable,
            # A MAC either way, so both answers take the same time up to the mail.
            "code_mac": base64.b64encode(code_mac(key, challenge_id, code)).decode(),
            "issued_at": now, "expires_at": expires_at, "attempts": 0, "used": False,
        })
        if deliverable:
            mail = login_code_mail(sender=self.policy.mail_from, to=mailbox, code=code, language=language,
                                   valid_minutes=self.policy.code_ttl_seconds // 60)
            try:
                self._mail.send(mail)
            except DependencyUnavailable:
                self._tables.delete(storage.LOGIN_CODES, challenge_id[:2], challenge_id)
                self._audit.record(audit.LOGIN_CODE_REQUESTED, tenant_id=tenant_id, actor=actor, outcome="mail_failed")
                raise
        self._audit.record(audit.LOGIN_CODE_REQUESTED, tenant_id=tenant_id, actor=actor,
                           outcome="issued" if deliverable else "not_deliverable", language=language)
        return {"challenge_id": challenge_id, "expires_in": self.policy.code_ttl_seconds}

    def _admit(self, kind: str, subject: str, window: IssueWindow, now: datetime, what: str) -> None:
        verdict: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            allowed, start, count, retry_after = window.admit(
                as_utc(state.get("window_start")), state.get("count", 0), now)
            verdict.update(allowed=allowed, retry_after=retry_after)
            return {"window_start": start, "count": count} if allowed else None

        self._mutate_guard(kind, subject, change)
        if not verdict["allowed"]:
            raise RateLimited(f"Too many {what}; wait before trying again.", retry_after=verdict["retry_after"])

    # ----- verifying -------------------------------------------------------------------

    def verify(self, challenge_id: str, code: str, *, device_id: str, client: str) -> tuple[str, Session]:
        now = utcnow()
        key = self._code_key()
        client_key = self._pseudonyms.of("client", client_group(client))
        self._admit("verifycli", client_key, self.policy.verify_per_client, now, "attempts from your network")
        well_formed = bool(_CHALLENGE_RE.fullmatch(challenge_id))
        row = self._tables.get(storage.LOGIN_CODES, challenge_id[:2], challenge_id) if well_formed else None
        if row is None:
            self._audit.record(audit.LOGIN_FAILED, tenant_id=None, actor=None, outcome="unknown_challenge")
            raise InvalidCode("The code is wrong or no longer valid; ask for a new code.", extra={"attempts_left": 0})
        actor = row["actor"]
        tenant_id = row["tenant_id"] or None
        pair = f"{actor}.{client_key}"
        reservation_id = secrets.token_hex(8)

        # 1. Count this guess as a failure first, for this client and for the mailbox; a lock refuses.
        client_failure = self._reserve("failcli", pair, self.policy.lockout, reservation_id, now)
        if not client_failure.admitted:
            raise self._refused(tenant_id, actor, client_failure.locked_until, now)
        mailbox_failure = self._reserve("fail", actor, self.policy.mailbox_lockout, reservation_id, now)
        if not mailbox_failure.admitted:
            self._refund("failcli", pair, reservation_id)
            raise self._refused(tenant_id, actor, mailbox_failure.locked_until, now)
        if mailbox_failure.sets_lock:
            self._audit.record(LOGIN_ATTACK_SUSPECTED, tenant_id=tenant_id, actor=actor, outcome="mailbox_locked",
                               failures=mailbox_failure.failures,
                               locked_seconds=_seconds_until(mailbox_failure.locked_until, now))
            logger.warning("login: %d consecutive failures for one mailbox; mailbox locked (attack suspected)",
                           mailbox_failure.failures)

        # 2. Then one try of the code, under the row's ETag: never more than the allowed tries.
        reserved: dict[str, Any] = {}

        def take_attempt(state: dict[str, Any]) -> dict[str, Any] | None:
            expires_at = as_utc(state.get("expires_at"))
            usable = bool(state) and (not state.get("used")) and expires_at is not None and now < expires_at and \
                state.get("attempts", 0) < self.policy.code_max_attempts
            reserved["usable"] = usable
            if not usable:
                return None
            state["attempts"] = state.get("attempts", 0) + 1
            reserved["attempts"] = state["attempts"]
            return state

        try:
            state = self._tables.mutate(storage.LOGIN_CODES, challenge_id[:2], challenge_id, take_attempt)
        except Exception:
            # The guess was never tried (storage failed, 503): it is no failure, take it back; else a
            # user typing the right code through an outage would lock themselves out.
            try:
                self._refund("failcli", pair, reservation_id)
                self._refund("fail", actor, reservation_id)
            except Exception as error:  # noqa: BLE001 - storage still down: the failure stays counted (safe side)
                logger.warning("login: a guess storage never tried stays counted (%s)", type(error).__name__)
            raise

        # 3. The same work for every challenge (real, decoy, used up): one MAC, one tenant look-up.
        stored = base64.b64decode(state.get("code_mac") or row.get("code_mac") or "")
        matches = code_matches(code, challenge_id, key, stored)
        tenant = self._tenants.get(state.get("tenant_id") or row["tenant_id"])
        onboarded = tenant is not None and tenant.login_method is LoginMethod.EMAIL_CODE
        ok = reserved["usable"] and bool(state.get("deliverable")) and matches and onboarded

        if ok:
            # 4. Check both locks again (a concurrent guess may have locked meanwhile) and clear the counts.
            for kind, subject in (("failcli", pair), ("fail", actor)):
                locked_until = self._clear_unless_locked(kind, subject, reservation_id, now)
                if locked_until is not None:
                    raise self._refused(tenant_id, actor, locked_until, now)
            if self._consume(challenge_id):
                token, session = self._sessions.create(tenant_id=state["tenant_id"], mailbox=state["mailbox"],
                                                       login_method=LoginMethod.EMAIL_CODE.value, device_id=device_id)
                self._audit.record(audit.LOGIN_SUCCEEDED, tenant_id=tenant_id, actor=actor, outcome="session_created",
                                   method=LoginMethod.EMAIL_CODE.value, device=self._pseudonyms.of("device", device_id))
                return token, session
            self._audit.record(audit.LOGIN_FAILED, tenant_id=tenant_id, actor=actor, outcome="code_used")
            raise InvalidCode("The code is no longer valid; ask for a new code.", extra={"attempts_left": 0})

        if not reserved["usable"]:
            reason = "code_not_usable"
        elif not is_well_formed(code):
            reason = "malformed_code"
        elif state.get("deliverable") and matches and not onboarded:
            reason = "tenant_not_onboarded"
        else:
            reason = "wrong_code"
        self._audit.record(audit.LOGIN_FAILED, tenant_id=tenant_id, actor=actor, outcome=reason)
        for failure in (client_failure, mailbox_failure):
            if failure.sets_lock:
                if failure is client_failure:
                    self._audit.record(audit.LOGIN_LOCKED_OUT, tenant_id=tenant_id, actor=actor, outcome="locked",
                                       locked_seconds=_seconds_until(failure.locked_until, now))
                raise self._locked(failure.locked_until, now)
        attempts_left = self.policy.code_max_attempts - reserved["attempts"] if reserved["usable"] else 0
        raise InvalidCode("The code is wrong or no longer valid.", extra={"attempts_left": max(0, attempts_left)})

    def _mutate_guard(self, kind: str, subject: str,
                      change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
        """Change a counter row; one that too many requests change at once answers 429.

        Such contention on a per-client or per-mailbox row means a flood of concurrent attempts:
        nothing was counted, so nothing is evaluated, and the caller is told to slow down.
        """
        try:
            self._tables.mutate(storage.LOGIN_GUARDS, kind, subject, change)
        except storage.Contended:
            raise RateLimited("Too many attempts at once; try again in a moment.", retry_after=1) from None

    def _reserve(self, kind: str, subject: str, policy: LockoutPolicy, reservation_id: str,
                 now: datetime) -> Reservation:
        outcome: list[Reservation] = []

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            reservation = policy.reserve(state.get("failures", 0), state.get("lockouts", 0),
                                         as_utc(state.get("locked_until")), now)
            outcome[:] = [reservation]
            if not reservation.admitted:
                return None
            return {"failures": reservation.failures, "lockouts": reservation.lockouts,
                    "locked_until": reservation.locked_until,
                    "lock_id": reservation_id if reservation.sets_lock else state.get("lock_id", "")}

        self._mutate_guard(kind, subject, change)
        return outcome[0]

    def _refund(self, kind: str, subject: str, reservation_id: str) -> None:
        """Take back a reserved failure whose guess was never evaluated (and the lock it set)."""

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            if not state.get("failures"):
                return None
            state["failures"] -= 1
            if state.get("lock_id") == reservation_id:
                state.update(lockouts=max(0, state.get("lockouts", 1) - 1), locked_until=None, lock_id="")
            return state

        try:
            self._tables.mutate(storage.LOGIN_GUARDS, kind, subject, change)
        except storage.Contended:  # the failure stays counted: the safe side
            logger.warning("login: a reserved failure could not be taken back (contention)")

    def _clear_unless_locked(self, kind: str, subject: str, reservation_id: str, now: datetime) -> datetime | None:
        """Clear the failure count after a right code; the lock's end if another guess locked it."""
        lock: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            locked_until = as_utc(state.get("locked_until"))
            if locked_until is not None and now < locked_until and state.get("lock_id") != reservation_id:
                lock["until"] = locked_until
                return None
            if not state.get("failures") and locked_until is None:
                return None
            return {"failures": 0, "lockouts": 0, "locked_until": None, "lock_id": ""}

        self._mutate_guard(kind, subject, change)
        return lock.get("until")

    def _consume(self, challenge_id: str) -> bool:
        """Mark the code used; ``False`` if a concurrent request used it first (single use)."""
        consumed: dict[str, bool] = {}

        def mark(state: dict[str, Any]) -> dict[str, Any] | None:
            consumed["ok"] = not state.get("used") and bool(state)
            if not consumed["ok"]:
                return None
            state["used"] = True
            return state

        self._tables.mutate(storage.LOGIN_CODES, challenge_id[:2], challenge_id, mark)
        return consumed["ok"]

    def _refused(self, tenant_id: str | None, actor: str, locked_until: datetime | None,
                 now: datetime) -> RateLimited:
        self._audit.record(audit.LOGIN_FAILED, tenant_id=tenant_id, actor=actor, outcome="locked_out")
        return self._locked(locked_until, now)

    @staticmethod
    def _locked(locked_until: datetime | None, now: datetime) -> RateLimited:
        seconds = max(1, _seconds_until(locked_until, now) + 1)
        return RateLimited("Too many wrong codes for this mailbox; it is locked for a while.",
                           retry_after=seconds, extra={"attempts_left": 0})

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete challenges that expired (more than a day ago, to keep recent ones for audit joins)
        and counter rows that no longer count; returns how many challenges were deleted."""
        now = now or utcnow()
        removed = self._tables.delete_where(storage.LOGIN_CODES, "expires_at le @cutoff",
                                            {"cutoff": now - timedelta(days=1)})
        guards = self._purge_guards(now)
        if guards:
            logger.info("login: purged %d stale counter rows", guards)
        return removed

    def _purge_guards(self, now: datetime) -> int:
        """Window counters whose window ended a day ago; failure counts untouched for
        ``GUARD_IDLE_DAYS`` and not locked (per pair and per mailbox: one row per guessed
        mailbox and address would otherwise pile up for ever)."""
        removed = 0
        # REFUSAL_KINDS: refused service credentials and refused revokes (sendsecure/refusals.py)
        for kind in ("issue", "issuembx", "issuecli", "verifycli", *REFUSAL_KINDS):
            removed += self._tables.delete_where(storage.LOGIN_GUARDS, "PartitionKey eq @p and window_start le @cutoff",
                                                 {"p": kind, "cutoff": now - timedelta(days=1)})

        def still_locked(row: dict[str, Any]) -> bool:
            locked_until = as_utc(row.get("locked_until"))
            return locked_until is not None and locked_until > now

        for kind in ("failcli", "fail"):
            removed += self._tables.delete_where(storage.LOGIN_GUARDS, "PartitionKey eq @p and Timestamp le @cutoff",
                                                 {"p": kind, "cutoff": now - timedelta(days=GUARD_IDLE_DAYS)},
                                                 select=["locked_until"], keep=still_locked)
        return removed
