"""Entra ID access tokens (SPEC A2): the checks that need no key and no network. Pure.

The service (``sendsecure.entra``) verifies the signature, ``exp``/``nbf`` (with a small leeway)
and ``aud`` with PyJWT against the key the JWKS names; everything else about a token is decided
here, so every refusal has its own code and is tested without a server:

- the header: ``alg`` must be RS256 (``none``, HS256 signed with the public key and every other
  algorithm are refused before any key is looked at) and a ``kid`` must name the key;
- the claims after the signature: ``ver`` 2.0 (a v1.0 token has another issuer and no ``azp``),
  ``tid`` and ``oid`` GUIDs, ``iss`` exactly the v2.0 issuer of the token's own ``tid`` (the
  template of the authority's OpenID configuration with ``{tenantid}`` filled in), ``scp``
  containing the API's scope (an app-only token has none), ``azp`` the add-in's client id when
  one is configured;
- the account: the mailbox the add-in works in against ``preferred_username``/``upn``, or the
  addresses Graph lists for the user (``mail``, ``userPrincipalName``, ``proxyAddresses``).

The user is ``tid`` + ``oid`` (immutable, unique), never the user name alone.
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sendsecure.errors import ProblemError

ALGORITHM = "RS256"
VERSION = "2.0"
MAX_TOKEN_CHARS = 16384        # Entra access tokens are 1-4 KB; a large group overage stays below this
TENANT_PLACEHOLDER = "{tenantid}"
_GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_JWS_RE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


class TokenRefused(ProblemError):
    """401: the Entra token is not one this API accepts; ``code`` names why (docs/login.md).

    The answer carries ``WWW-Authenticate: Bearer error="invalid_token"`` (RFC 6750 3.1): the
    add-in gets a new token from Entra (or asks the user to pick an account) and tries again."""

    status, code, title = 401, "invalid_token", "The Entra access token is not accepted"

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        self.code = code


class LoginRefused(ProblemError):
    """403: the token is valid, but this login is not allowed; ``code`` names why."""

    status, code, title = 403, "forbidden", "This login is not allowed"

    def __init__(self, code: str, detail: str, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.code = code


@dataclass(frozen=True)
class TokenPolicy:
    audiences: tuple[str, ...]      # the API's client id and/or App ID URI
    scope: str                      # the API's delegated scope (``access_as_user``)
    client_id: str | None           # the add-in's client id (``azp``); None: any client
    leeway_seconds: int


@dataclass(frozen=True)
class EntraUser:
    tenant: str                     # tid
    object_id: str                  # oid
    names: frozenset[str]           # preferred_username and upn, lower case
    issued_at: int = 0              # iat (seconds since the epoch): a token from before a change of holder

    @property
    def key(self) -> str:
        return f"{self.tenant}/{self.object_id}"


def is_guid(value: object) -> bool:
    return isinstance(value, str) and bool(_GUID_RE.fullmatch(value))


def check_shape(token: str) -> None:
    """A compact JWS of a sane size, else ``token_malformed``."""
    if not token or len(token) > MAX_TOKEN_CHARS or not _JWS_RE.fullmatch(token):
        raise TokenRefused("token_malformed", "The bearer token is not an Entra access token (a signed JWT).")


HEADER_LIMIT = 2048   # characters of the header segment (base64url)


def header_of(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (read without the payload: cheaper than PyJWT's, which
    decodes the whole token), or ``token_malformed``."""
    segment = token.partition(".")[0]
    try:
        # A JOSE header is a few hundred characters; a long one is not read (nor nested JSON:
        # json.loads raises RecursionError on deep nesting, which would be a 500).
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))) \
            if len(segment) <= HEADER_LIMIT else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        header = None
    if not isinstance(header, dict):
        raise TokenRefused("token_malformed", "The bearer token is not a readable JWT.")
    return header


def check_header(header: Mapping[str, Any]) -> str:
    """The key id of an RS256 header; any other algorithm is refused before a key is chosen."""
    if header.get("alg") != ALGORITHM:
        raise TokenRefused("token_algorithm_refused", "Only RS256-signed Entra access tokens are accepted.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > 128:
        raise TokenRefused("token_malformed", "The token does not name its signing key (kid).")
    return kid


def token_tenant(claims: Mapping[str, Any]) -> str:
    """The token's ``tid`` (a GUID), before anything else is decided."""
    tid = claims.get("tid")
    if not is_guid(tid):
        raise TokenRefused("token_missing_claims", "The token has no tenant id (tid).")
    return str(tid)


def issuer_of(template: str, tenant: str) -> str:
    """The v2.0 issuer of one tenant, from the OpenID configuration's template."""
    return template.replace(TENANT_PLACEHOLDER, tenant)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    scp = claims.get("scp")
    return frozenset(scp.split()) if isinstance(scp, str) else frozenset()


def check_claims(claims: Mapping[str, Any], policy: TokenPolicy, issuer_template: str) -> EntraUser:
    """The user of a token whose signature, lifetime and audience PyJWT has verified."""
    if claims.get("ver") != VERSION:
        raise TokenRefused("token_version_unsupported",
                           "Only v2.0 access tokens are accepted (set the API's accessTokenAcceptedVersion to 2).")
    tenant = token_tenant(claims)
    if claims.get("iss") != issuer_of(issuer_template, tenant):
        raise TokenRefused("token_wrong_issuer", "The token was not issued by Entra ID for its own tenant.")
    object_id = claims.get("oid")
    if not is_guid(object_id):
        raise TokenRefused("token_missing_claims", "The token has no user object id (oid).")
    if policy.scope not in scopes_of(claims):
        raise TokenRefused("token_missing_scope", f"The token does not grant the scope {policy.scope}.")
    if policy.client_id is not None and claims.get("azp") != policy.client_id:
        raise TokenRefused("token_wrong_client", "The token was not issued to the Send Secure add-in.")
    issued = claims.get("iat")
    return EntraUser(tenant=tenant, object_id=str(object_id), names=account_names(claims),
                     issued_at=int(issued) if isinstance(issued, int | float) and not isinstance(issued, bool) else 0)


def account_names(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's own account names (``preferred_username``, ``upn``), lower case."""
    return frozenset(value.strip().lower() for name in ("preferred_username", "upn")
                     if isinstance(value := claims.get(name), str) and value.strip())


def graph_addresses(profile: Mapping[str, Any]) -> frozenset[str]:
    """The addresses Graph lists for the user: ``mail``, ``userPrincipalName`` and the SMTP
    entries of ``proxyAddresses`` (``SMTP:`` the primary, ``smtp:`` the aliases), lower case."""
    found: set[str] = set()
    for name in ("mail", "userPrincipalName"):
        value = profile.get(name)
        if isinstance(value, str) and value.strip():
            found.add(value.strip().lower())
    proxies = profile.get("proxyAddresses")
    for entry in proxies if isinstance(proxies, list) else ():
        if isinstance(entry, str):
            kind, _, address = entry.partition(":")
            if kind.lower() == "smtp" and address.strip():
                found.add(address.strip().lower())
    return frozenset(found)


def matches(mailbox: str, addresses: Iterable[str]) -> bool:
    """Whether the (normalised) mailbox is one of the account's addresses, case-insensitively."""
    wanted = mailbox.lower()
    return any(wanted == address.lower() for address in addresses)


# Every code of an Entra login's refusal (docs/login.md "Entra ID"; the OpenAPI document lists them).
ENTRA_TOKEN_CODES = ("token_missing", "token_malformed", "token_algorithm_refused", "token_unknown_key",
                     "token_bad_signature", "token_expired", "token_not_yet_valid", "token_wrong_audience",
                     "token_missing_claims", "token_version_unsupported", "token_wrong_issuer",
                     "token_missing_scope", "token_wrong_client", "token_before_holder_change")
ENTRA_LOGIN_CODES = ("tenant_not_onboarded", "login_method_not_allowed", "tenant_mismatch", "account_mismatch")
