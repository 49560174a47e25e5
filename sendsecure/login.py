"""E-mail code login (SPEC A1): issue a code to a mailbox, verify it, open a session.

The answer to a code request is the same whether or not the mailbox belongs to an onboarded
tenant that logs in by e-mail code: a challenge is stored either way (a decoy that no code
opens when nothing was mailed), rate limits count either way, and verifying a decoy fails
exactly like a wrong code.

Rows (table ``loginguards``), all keyed by pseudonyms:
- ``fail.<mailbox>``: failures, lockouts, locked_until (survives new codes);
- ``issue.<mailbox>`` and ``issuecli.<client>``: fixed-window issue counters.
Challenges live in ``logincodes`` keyed by the challenge id.
"""
from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.core.addresses import InvalidAddress, domain_of, normalise_mailbox
from sendsecure.errors import DependencyUnavailable, InvalidBody, InvalidCode, RateLimited
from sendsecure.adapters.keys import Pseudonyms
from sendsecure.core.logincodes import (
    IssueWindow,
    LockoutPolicy,
    code_matches,
    hash_code,
    is_well_formed,
    new_challenge_id,
    new_code,
    new_salt,
)
from sendsecure.adapters.mail import MailTransport, login_code_mail
from sendsecure.sessions import Session, SessionService
from sendsecure.tenantstore import TenantDirectory
from sendsecure.core.tenants import LoginMethod

logger = logging.getLogger(__name__)
_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True)
class LoginPolicy:
    code_ttl_seconds: int
    code_max_attempts: int
    lockout: LockoutPolicy
    per_mailbox: IssueWindow
    per_client: IssueWindow
    mail_from: str


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class EmailCodeLogin:
    def __init__(self, *, tables: storage.TableStore, tenants: TenantDirectory, sessions: SessionService,
                 mail: MailTransport, pseudonyms: Pseudonyms, audit_log: audit.AuditLog, policy: LoginPolicy) -> None:
        self._tables = tables
        self._tenants = tenants
        self._sessions = sessions
        self._mail = mail
        self._pseudonyms = pseudonyms
        self._audit = audit_log
        self.policy = policy

    # ----- issuing ---------------------------------------------------------------------

    def request_code(self, mailbox: str, *, client: str, language: str) -> dict[str, Any]:
        try:
            mailbox = normalise_mailbox(mailbox)
        except InvalidAddress as error:
            raise InvalidBody.field("mailbox", f"is not a valid e-mail address ({error})") from None
        now = datetime.now(timezone.utc)
        actor = self._pseudonyms.of("mailbox", mailbox)
        self._admit_issue("issuecli", self._pseudonyms.of("client", client), self.policy.per_client, now)
        self._admit_issue("issue", actor, self.policy.per_mailbox, now)

        tenant = self._tenants.for_domain(domain_of(mailbox))
        deliverable = tenant is not None and tenant.login_method is LoginMethod.EMAIL_CODE
        challenge_id, code, salt = new_challenge_id(), new_code(), new_salt()
        expires_at = now + timedelta(seconds=self.policy.code_ttl_seconds)
        self._tables.insert(storage.LOGIN_CODES, {
            "PartitionKey": challenge_id[:2], "RowKey": challenge_id,
            "actor": actor, "tenant_id": tenant.id if deliverable else "",
            "mailbox": mailbox if deliverable else "",
            "deliverable": deliverable, "salt": base64.b64encode(salt).decode(),
            # Hashed either way, so both answers take the same time up to the mail.
            "code_hash": base64.b64encode(hash_code(code, challenge_id, salt)).decode(),
            "issued_at": now, "expires_at": expires_at, "attempts": 0, "used": False,
        })
        if deliverable:
            mail = login_code_mail(sender=self.policy.mail_from, to=mailbox, code=code, language=language,
                                   valid_minutes=self.policy.code_ttl_seconds // 60)
            try:
                self._mail.send(mail)
            except DependencyUnavailable:
                self._tables.delete(storage.LOGIN_CODES, challenge_id[:2], challenge_id)
                self._audit.record(audit.LOGIN_CODE_REQUESTED, tenant_id=tenant.id, actor=actor, outcome="mail_failed")
                raise
        self._audit.record(audit.LOGIN_CODE_REQUESTED, tenant_id=tenant.id if tenant else None, actor=actor,
                           outcome="issued" if deliverable else "not_deliverable", language=language)
        return {"challenge_id": challenge_id, "expires_in": self.policy.code_ttl_seconds}

    def _admit_issue(self, kind: str, subject: str, window: IssueWindow, now: datetime) -> None:
        verdict: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            allowed, start, count, retry_after = window.admit(_utc(state.get("window_start")), state.get("count", 0), now)
            verdict.update(allowed=allowed, retry_after=retry_after)
            return {"window_start": start, "count": count} if allowed else None

        self._tables.mutate(storage.LOGIN_GUARDS, kind, subject, change)
        if not verdict["allowed"]:
            raise RateLimited("Too many codes were requested; wait before asking again.", retry_after=verdict["retry_after"])

    # ----- verifying -------------------------------------------------------------------

    def verify(self, challenge_id: str, code: str, *, device_id: str) -> tuple[str, Session]:
        now = datetime.now(timezone.utc)
        well_formed = bool(_CHALLENGE_RE.fullmatch(challenge_id))
        row = self._tables.get(storage.LOGIN_CODES, challenge_id[:2], challenge_id) if well_formed else None
        if row is None:
            self._audit.record(audit.LOGIN_FAILED, tenant_id=None, actor=None, outcome="unknown_challenge")
            raise InvalidCode("The code is wrong or no longer valid; ask for a new code.", extra={"attempts_left": 0})
        actor = row["actor"]
        tenant_id = row["tenant_id"] or None
        self._refuse_if_locked(actor, tenant_id, now)

        # Reserve one try before looking at the code, under the row's ETag: concurrent guesses
        # can never use more than the allowed number of tries.
        reserved: dict[str, Any] = {}

        def take_attempt(state: dict[str, Any]) -> dict[str, Any] | None:
            usable = bool(state) and (not state.get("used")) and now < _utc(state["expires_at"]) and \
                state.get("attempts", 0) < self.policy.code_max_attempts
            reserved["usable"] = usable
            if not usable:
                return None
            state["attempts"] = state.get("attempts", 0) + 1
            reserved["attempts"] = state["attempts"]
            return state

        state = self._tables.mutate(storage.LOGIN_CODES, challenge_id[:2], challenge_id, take_attempt)
        ok = reserved["usable"] and state.get("deliverable") and code_matches(
            code, challenge_id, base64.b64decode(state["salt"]), base64.b64decode(state["code_hash"]))
        if ok and self._consume(challenge_id):
            self._tables.mutate(storage.LOGIN_GUARDS, "fail", actor,
                                lambda s: {"failures": 0, "lockouts": 0, "locked_until": None} if s.get("failures") else None)
            token, session = self._sessions.create(tenant_id=state["tenant_id"], mailbox=state["mailbox"],
                                                   login_method=LoginMethod.EMAIL_CODE.value, device_id=device_id)
            self._audit.record(audit.LOGIN_SUCCEEDED, tenant_id=tenant_id, actor=actor, outcome="session_created",
                               method=LoginMethod.EMAIL_CODE.value, device=self._pseudonyms.of("device", device_id))
            return token, session

        attempts_left = max(0, self.policy.code_max_attempts - reserved.get("attempts", self.policy.code_max_attempts))
        reason = "wrong_code" if reserved["usable"] and is_well_formed(code) else (
            "malformed_code" if reserved["usable"] else "code_not_usable")
        self._audit.record(audit.LOGIN_FAILED, tenant_id=tenant_id, actor=actor, outcome=reason)
        locked_until = self._count_failure(actor, now)
        if locked_until is not None:
            self._audit.record(audit.LOGIN_LOCKED_OUT, tenant_id=tenant_id, actor=actor, outcome="locked",
                               locked_seconds=int((locked_until - now).total_seconds()))
            raise self._locked(locked_until, now)
        raise InvalidCode("The code is wrong or no longer valid.", extra={"attempts_left": attempts_left})

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

    def _refuse_if_locked(self, actor: str, tenant_id: str | None, now: datetime) -> None:
        guard = self._tables.get(storage.LOGIN_GUARDS, "fail", actor)
        locked_until = _utc(guard.get("locked_until")) if guard else None
        if locked_until is not None and now < locked_until:
            self._audit.record(audit.LOGIN_FAILED, tenant_id=tenant_id, actor=actor, outcome="locked_out")
            raise self._locked(locked_until, now)

    def _count_failure(self, actor: str, now: datetime) -> datetime | None:
        outcome: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any]:
            failures, lockouts, locked_until = self.policy.lockout.after_failure(
                state.get("failures", 0), state.get("lockouts", 0), now)
            outcome["locked_until"] = locked_until
            return {"failures": failures, "lockouts": lockouts,
                    "locked_until": locked_until or _utc(state.get("locked_until"))}

        self._tables.mutate(storage.LOGIN_GUARDS, "fail", actor, change)
        return outcome["locked_until"]

    @staticmethod
    def _locked(locked_until: datetime, now: datetime) -> RateLimited:
        seconds = max(1, int((locked_until - now).total_seconds()) + 1)
        return RateLimited("Too many wrong codes for this mailbox; it is locked for a while.",
                           retry_after=seconds, extra={"attempts_left": 0})

    def purge_expired(self, now: datetime | None = None) -> int:
        """Delete challenges that expired (more than a day ago, to keep recent ones for audit joins)."""
        now = now or datetime.now(timezone.utc)
        removed = 0
        for row in self._tables.query(storage.LOGIN_CODES, "expires_at le @cutoff", {"cutoff": now - timedelta(days=1)},
                                      select=["PartitionKey", "RowKey"]):
            self._tables.delete(storage.LOGIN_CODES, row["PartitionKey"], row["RowKey"])
            removed += 1
        return removed
