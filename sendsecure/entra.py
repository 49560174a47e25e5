"""Entra ID login (SPEC A2, T3, A3; manual §2.1.3.2): an Entra access token for this API,
obtained by the add-in with nested app authentication, exchanged for the same session as the
e-mail code gives (``login_method`` ``entra``).

The order of a login, each refusal with its own code (docs/login.md "Entra ID"):
1. the mailbox is an address (400), the client's login window admits it (429, the window the
   code verify counts in: ``LOGIN_VERIFY_LIMIT_PER_CLIENT``);
2. the token: its shape and RS256 header (401), its key from the cached JWKS (401 unknown key,
   503 when the keys cannot be fetched), signature, ``exp``/``nbf`` with a small leeway and
   ``aud`` by PyJWT (401), then ``ver``, ``iss`` for the token's ``tid``, ``oid``, ``scp``,
   ``azp`` (``core.entratoken``, 401);
3. the tenant: the onboarded tenant whose ``entra_tenant_id`` is the token's ``tid`` (403
   ``tenant_not_onboarded``), logging in by Entra (403 ``login_method_not_allowed``), owning the
   mailbox's domain (403 ``tenant_mismatch``); what the mailbox's *own* tenant is, is said (and
   audited there) only when the mailbox is the token's own account name, else the answer is
   ``tenant_not_onboarded`` / ``account_mismatch`` as for any domain (A1, review s20);
4. the account: the mailbox is the token's ``preferred_username``/``upn``, or with the Graph
   check one of the account's addresses (403 ``account_mismatch``, in the user's language);
5. the holder (``sendsecure.holders``): the person (tid + oid) holding the mailbox; a token of
   another person issued before the current holder took the mailbox over is refused (401
   ``token_before_holder_change``); a later one takes it over (the earlier holder's sessions end,
   their numbers and settings are erased, ``login.holder_changed``). The session carries the
   holder and since when; a change of hands that raced with this login ends the new session (401).
Every outcome is audited (``login.succeeded`` / ``login.failed`` with the code as outcome).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.adapters.graphme import GraphProfiles, GraphUnavailable
from sendsecure.adapters.jwks import EntraKeys, KeysUnavailable, UnknownKey
from sendsecure.adapters.keys import Pseudonyms
from sendsecure.core.addresses import InvalidAddress, domain_of, normalise_mailbox
from sendsecure.core.clock import as_utc, utcnow
from sendsecure.core.datafiles import data_file
from sendsecure.core.entratoken import (
    ALGORITHM,
    EntraUser,
    LoginRefused,
    TokenPolicy,
    TokenRefused,
    check_claims,
    check_header,
    check_shape,
    graph_addresses,
    header_of,
    matches,
)
from sendsecure.core.logincodes import IssueWindow, client_group
from sendsecure.core.tenants import LoginMethod, Tenant
from sendsecure.errors import DependencyUnavailable, InvalidBody, RateLimited
from sendsecure.holders import MailboxHolders, before_change
from sendsecure.sessions import Session, SessionService
from sendsecure.tenantstore import TenantDirectory

logger = logging.getLogger(__name__)
METHOD = LoginMethod.ENTRA.value
_REQUIRED = ["exp", "nbf", "iat", "aud", "iss"]


@dataclass(frozen=True)
class EntraPolicy:
    token: TokenPolicy
    per_client: IssueWindow         # logins per client group (shared with the code verify)


class EntraLogin:
    def __init__(self, *, tables: storage.TableStore, tenants: TenantDirectory, sessions: SessionService,
                 keys: EntraKeys | None, graph: GraphProfiles | None, pseudonyms: Pseudonyms,
                 audit_log: audit.AuditLog, policy: EntraPolicy, holders: MailboxHolders | None = None) -> None:
        self._tables = tables
        self._holders = holders
        self._tenants = tenants
        self._sessions = sessions
        self._keys = keys
        self._graph = graph
        self._pseudonyms = pseudonyms
        self._audit = audit_log
        self.policy = policy

    # ----- the login ------------------------------------------------------------------------

    def login(self, authorization: str, mailbox: str, *, device_id: str, client: str,
              language: str) -> tuple[str, Session]:
        """``authorization`` is the request's ``Authorization`` header (``Bearer <Entra token>``)."""
        try:
            mailbox = normalise_mailbox(mailbox)
        except InvalidAddress as error:
            raise InvalidBody.field("mailbox", f"is not a valid e-mail address ({error})") from None
        now = utcnow()
        self._admit(self._pseudonyms.of("client", client_group(client)), now)
        actor = self._pseudonyms.of("mailbox", mailbox)
        failure = _Failure(self._audit, actor)
        with failure:
            token = bearer(authorization)
            user = self._verify(token, failure)
        failure.user = self._pseudonyms.of("entra", user.key)
        holder = failure.user
        with failure:
            tenant = self._tenant(user, mailbox, language, failure)
            via = self._account(user, mailbox, token, language, failure)
            holding = (self._holders.claim(tenant.id, mailbox, holder, datetime.fromtimestamp(user.issued_at, UTC),
                                           now) if self._holders is not None else None)
        session_token, session = self._sessions.create(
            tenant_id=tenant.id, mailbox=mailbox, login_method=METHOD, device_id=device_id,
            holder=holding.holder if holding else None, holder_since=holding.since if holding else None)
        if self._holders is not None and not self._holders.holds(tenant.id, mailbox, holder):
            self._sessions.discard(session_token)   # the mailbox changed hands while this login ran
            with failure:
                raise before_change()
        self._audit.record(audit.LOGIN_SUCCEEDED, tenant_id=tenant.id, actor=actor, outcome="session_created",
                           method=METHOD, device=self._pseudonyms.of("device", device_id), entra_user=failure.user,
                           account_check=via)
        return session_token, session

    def _admit(self, client_key: str, now: datetime) -> None:
        window = self.policy.per_client
        verdict: dict[str, Any] = {}

        def change(state: dict[str, Any]) -> dict[str, Any] | None:
            allowed, start, count, retry_after = window.admit(as_utc(state.get("window_start")),
                                                              state.get("count", 0), now)
            verdict.update(allowed=allowed, retry_after=retry_after)
            return {"window_start": start, "count": count} if allowed else None

        try:  # the row the e-mail code verify counts in (login.py ``verifycli``): one login budget
            self._tables.mutate(storage.LOGIN_GUARDS, "verifycli", client_key, change)
        except storage.Contended:
            raise RateLimited("Too many attempts at once; try again in a moment.", retry_after=1) from None
        if not verdict["allowed"]:
            raise RateLimited("Too many login attempts from your network; wait before trying again.",
                              retry_after=verdict["retry_after"])

    # ----- the token ------------------------------------------------------------------------

    def validate(self, token: str) -> EntraUser:
        """The user of a token, or ``TokenRefused`` / ``DependencyUnavailable`` (step 2 alone)."""
        return self._verify(token, None)

    def _verify(self, token: str, failure: _Failure | None) -> EntraUser:
        check_shape(token)
        kid = check_header(header_of(token))
        if self._keys is None:
            if failure is not None:
                failure.outcome = "not_configured"
            logger.error("Entra login: ENTRA_API_CLIENT_ID / ENTRA_API_APP_ID_URI are not set")
            raise DependencyUnavailable("Entra login is not configured on this deployment.", retry_after=300)
        try:
            key = self._keys.key(kid)
            template = self._keys.issuer_template()
        except UnknownKey:
            raise TokenRefused("token_unknown_key", "The token is signed with a key Entra does not publish.") from None
        except KeysUnavailable as error:
            if failure is not None:
                failure.outcome = "keys_unavailable"
            raise DependencyUnavailable("Entra ID's signing keys cannot be fetched now.",
                                        retry_after=error.retry_after) from None
        policy = self.policy.token
        try:
            claims = jwt.decode(token, key.key, algorithms=[ALGORITHM], audience=list(policy.audiences),
                                leeway=policy.leeway_seconds,
                                options={"require": _REQUIRED, "verify_iss": False, "verify_sub": False,
                                         "verify_jti": False})
        except jwt.ExpiredSignatureError:
            raise TokenRefused("token_expired", "The token has expired; get a new one.") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("token_not_yet_valid", "The token is not valid yet (nbf/iat in the future).") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("token_wrong_audience", "The token is not meant for this API (aud).") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("token_bad_signature", "The token's signature does not verify.") from None
        except jwt.MissingRequiredClaimError:
            raise TokenRefused("token_missing_claims", "The token lacks a required claim.") from None
        except jwt.InvalidTokenError:
            raise TokenRefused("token_malformed", "The token cannot be read.") from None
        return check_claims(claims, policy, template)

    # ----- the tenant and the account -------------------------------------------------------

    def _tenant(self, user: EntraUser, mailbox: str, language: str, failure: _Failure) -> Tenant:
        """The token's tenant, if the mailbox may log in with it.

        What the answer says about the *mailbox's* tenant (whether its domain logs in by code, or
        belongs to another onboarded directory) and whether that tenant's audit log gets the
        failure, is said only when the mailbox is one of the token's own account names (A1: any
        valid token of any directory must not learn which domains are onboarded, nor write rows
        into their logs). Otherwise the refusal is that of a directory that is not onboarded
        (audited without a tenant) or, when the token's own directory is, ``account_mismatch``
        (audited in the token's tenant)."""
        tenant = next((t for t in self._tenants.all() if t.entra_tenant_id == user.tenant), None)
        owner = self._tenants.for_domain(domain_of(mailbox))
        own = matches(mailbox, user.names)
        if tenant is None:
            if own and owner is not None and owner.login_method is LoginMethod.EMAIL_CODE:
                failure.tenant_id = owner.id
                raise LoginRefused("login_method_not_allowed",
                                   "Your organisation logs in with an e-mail code, not with Entra ID.")
            raise LoginRefused("tenant_not_onboarded", "Your organisation's Entra tenant is not onboarded.")
        failure.tenant_id = tenant.id
        if tenant.login_method is not LoginMethod.ENTRA:
            raise LoginRefused("login_method_not_allowed",
                               "Your organisation logs in with an e-mail code, not with Entra ID.")
        if owner is not None and owner.id == tenant.id:
            return tenant
        if not own:   # not the account's mailbox: nothing about the mailbox's domain (no Graph look-up either)
            raise _account_mismatch(language)
        failure.tenant_id = owner.id if owner is not None else tenant.id
        raise LoginRefused("tenant_mismatch", "The mailbox does not belong to the organisation of the account.")

    def _account(self, user: EntraUser, mailbox: str, token: str, language: str, failure: _Failure) -> str:
        if matches(mailbox, user.names):
            return "token"
        if self._graph is not None:
            try:
                profile = self._graph.profile(user.tenant, token)
            except GraphUnavailable as error:
                failure.outcome = "graph_unavailable"
                raise DependencyUnavailable("The account check (Microsoft Graph) is unavailable.",
                                            retry_after=error.retry_after) from None
            if matches(mailbox, graph_addresses(profile)):
                return "graph"
        raise _account_mismatch(language)


def _account_mismatch(language: str) -> LoginRefused:
    """A2's distinct error, with the manual's notice in the user's language (§2.1.3.2)."""
    return LoginRefused("account_mismatch", data_file("findings.json")["account_mismatch"][language])


def bearer(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRefused("token_missing", "Send Authorization: Bearer <Entra access token>.")
    return token.strip()


class _Failure:
    """Audits a refusal raised inside it (``login.failed``, the code as outcome), then lets it go."""

    def __init__(self, audit_log: audit.AuditLog, actor: str) -> None:
        self._audit = audit_log
        self._actor = actor
        self.tenant_id: str | None = None
        self.user: str | None = None
        self.outcome: str | None = None

    def __enter__(self) -> _Failure:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        if isinstance(error, TokenRefused | LoginRefused):
            outcome = error.code
        elif isinstance(error, DependencyUnavailable):
            outcome = self.outcome or "dependency_unavailable"
        else:
            return
        self._audit.record(audit.LOGIN_FAILED, tenant_id=self.tenant_id, actor=self._actor, outcome=outcome,
                           method=METHOD, entra_user=self.user)
