"""Service credentials: the mail gateway's own credential, never a user session (SPEC S9;
docs/sending.md "Gateway credential").

A service credential is a bearer token ``ssc_<role>.<slot>.<secret>``:
- ``role`` names what it may do: ``gateway`` (fetch envelopes, report events); the domain book
  sync operator (issue 13) gets ``book-sync``, a credential of the same kind with its own role;
- ``slot`` is ``a`` or ``b``: each (role, slot) is one key of the key store,
  ``service-<role>-<slot>``, made only by provisioning (``python -m sendsecure.provision
  --service-credential gateway``), never by a request. Two slots give a rotation with overlap:
  provision the other slot, hand its credential to the gateway, then retire the old slot
  (``--retire-service-credential``, which destroys that key). Only two fixed slots, so a caller
  inventing slot names cannot make the key store look up unbounded names;
- ``secret`` = base64url(HMAC-SHA256(slot key, ``sendsecure/service-credential/v1 \\0 role \\0
  slot``)): the key store's value is not the credential itself, and a key copied to another
  role's slot yields another credential.

Checking one is a comparison of two 32-byte MACs with ``hmac.compare_digest`` (constant time),
against the slot key cached per worker by the key store (``stable``: re-checked every minute,
so a retired slot stops working on every worker within ``verify_ttl``). Nothing is stored
per request and nothing is written on success. Refusals are audited (S6) through
``RefusalAudit``: at most ``SERVICE_AUTH_FAILURE_LIMIT`` per client group and window, then one
``rate_limited`` row and 429s counted, not recorded (anyone without a credential could otherwise
grow the audit table and its chains as fast as they send requests).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sendsecure.adapters import storage
from sendsecure.adapters.keys import KeyMissing, Pseudonyms
from sendsecure.core.logincodes import IssueWindow, client_group
from sendsecure.errors import ProblemError, RateLimited, Unauthenticated
from sendsecure.refusals import SERVICE_AUTH, RefusalBudget

if TYPE_CHECKING:
    from sendsecure.audit import AuditLog

PREFIX = "ssc_"
SESSION_PREFIX = "sst_"  # sendsecure.sessions.TOKEN_PREFIX: a user session, never a service credential
ROLES = ("gateway", "book-sync")
SLOTS = ("a", "b")
CONTEXT = b"sendsecure/service-credential/v1"
_TOKEN_RE = re.compile(r"^ssc_([a-z-]{1,20})\.([a-z])\.([A-Za-z0-9_-]{43})$")

AUTH_FAILED = "service.auth_failed"
REFUSALS = SERVICE_AUTH   # the kind (partition) of the refusal counters in storage.LOGIN_GUARDS, one per client group


class KeysLike(Protocol):
    def provision(self, name: str) -> bool: ...
    def stable(self, name: str) -> bytes: ...
    def check(self, name: str) -> bool: ...
    def destroy(self, name: str) -> None: ...


class ServiceCredentialRequired(Unauthenticated):
    """401: a user session (or nothing usable) was presented where a service credential is needed."""

    code, title = "service_credential_required", "A service credential is required"


class WrongRole(ProblemError):
    """403: a valid service credential of another role (e.g. the book sync operator's)."""

    status, code, title = 403, "wrong_role", "This credential's role may not do this"


class Refused(Exception):
    """Why a presented credential was refused (for the audit row; never the credential)."""

    def __init__(self, reason: str, role: str = "", slot: str = "") -> None:
        super().__init__(reason)
        self.reason, self.role, self.slot = reason, role, slot


@dataclass(frozen=True, slots=True)
class ServicePrincipal:
    role: str
    slot: str

    @property
    def actor(self) -> str:
        """The audit actor: which credential acted (not personal data)."""
        return f"service:{self.role}.{self.slot}"


def key_name(role: str, slot: str) -> str:
    if role not in ROLES or slot not in SLOTS:
        raise ValueError(f"a service credential is one of the roles {ROLES} in a slot {SLOTS}")
    return f"service-{role}-{slot}"


def secret_for(key: bytes, role: str, slot: str) -> bytes:
    return hmac.new(key, CONTEXT + b"\x00" + role.encode() + b"\x00" + slot.encode(), hashlib.sha256).digest()


def credential_for(key: bytes, role: str, slot: str) -> str:
    secret = base64.urlsafe_b64encode(secret_for(key, role, slot)).rstrip(b"=").decode("ascii")
    return f"{PREFIX}{role}.{slot}.{secret}"


def _decode(secret: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(secret + "=")
    except (binascii.Error, ValueError):
        return None
    # Only the canonical spelling: the last character of 32 bytes in base64 carries two unused
    # bits, so four spellings would otherwise decode to the same secret.
    canonical = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    return raw if len(raw) == 32 and canonical == secret else None


class ServiceCredentials:
    def __init__(self, keys: KeysLike) -> None:
        self._keys = keys

    # ----- provisioning only ---------------------------------------------------------------
    def issue(self, role: str, slot: str = "a") -> tuple[str, bool]:
        """(the credential, whether its key was created now). Provisioning only: the key is made
        if missing; the same credential is printed again on every later call."""
        name = key_name(role, slot)
        created = self._keys.provision(name)
        return credential_for(self._keys.stable(name), role, slot), created

    def retire(self, role: str, slot: str) -> None:
        """Destroy the slot's key: its credential stops working (every worker within a minute)."""
        self._keys.destroy(key_name(role, slot))

    # ----- per request ---------------------------------------------------------------------
    def authenticate(self, token: str) -> ServicePrincipal:
        """The principal of a presented token, or ``Refused`` with the reason."""
        if not token:
            raise Refused("missing")
        if token.startswith(SESSION_PREFIX):
            raise Refused("session_token")
        match = _TOKEN_RE.fullmatch(token)
        if match is None:
            raise Refused("malformed")
        role, slot, secret = match.groups()
        if role not in ROLES or slot not in SLOTS:
            raise Refused("unknown_credential", role if role in ROLES else "", "")
        presented = _decode(secret)
        name = key_name(role, slot)
        if presented is None or not self._keys.check(name):
            raise Refused("unknown_credential" if presented is not None else "malformed", role, slot)
        try:
            key = self._keys.stable(name)
        except KeyMissing:  # retired between the check and now
            raise Refused("unknown_credential", role, slot) from None
        if not hmac.compare_digest(secret_for(key, role, slot), presented):
            raise Refused("wrong_secret", role, slot)
        return ServicePrincipal(role, slot)


class RefusalAudit:
    """Records refused service credentials (S6) within a budget per client group (``client_group``:
    an IPv4 address or an IPv6 /64, as login counts clients): the first ``window.limit`` refusals of
    a window are each a ``service.auth_failed`` row (outcome: the reason); the next is one row with
    outcome ``rate_limited`` and 429; later ones in the window are 429 and only counted. The first
    row of a later window carries ``suppressed_before``: how many went unrecorded before it. A
    valid credential is never held back (only refusals are counted). At most ``limit + 1`` rows per
    client group and window, whatever the rate (``refusals.RefusalBudget``)."""

    def __init__(self, tables: storage.TableStore, audit_log: AuditLog, pseudonyms: Pseudonyms,
                 window: IssueWindow) -> None:
        self._budget = RefusalBudget(tables, REFUSALS, window)
        self._audit = audit_log
        self._pseudonyms = pseudonyms

    def refused(self, reason: str, role: str, slot: str, wanted: str, client: str) -> None:
        """Record one refusal; ``RateLimited`` (429) past the client group's budget."""
        decision = self._budget.count(self._pseudonyms.of("client", client_group(client)))
        actor = f"service:{role}.{slot}" if role and slot else None
        details: dict[str, Any] = {"wanted_role": wanted, "client": self._pseudonyms.of("client", client),
                                   "suppressed_before": decision.suppressed_before}
        if decision.allowed:
            self._audit.record(AUTH_FAILED, tenant_id=None, actor=actor, outcome=reason, **details)
            return
        if decision.first_over:
            self._audit.record(AUTH_FAILED, tenant_id=None, actor=actor, outcome="rate_limited", refused=reason,
                               **details)
        raise RateLimited("Too many refused credentials from your network; wait before trying again.",
                          retry_after=decision.retry_after)
