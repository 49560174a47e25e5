"""The send stamp: a compact JWS the mail gateway verifies offline (SPEC S8, X3; docs/sending.md).

Two headers go on the message (``stamp_headers``):
- ``X-SendSecure-Envelope``: the envelope id;
- ``X-SendSecure-Stamp``: ``<header>.<claims>.<signature>``, header ``{"alg": "EdDSA", "kid",
  "typ": "sendsecure-stamp+jwt"}``, claims:
  ``env`` envelope id, ``tid`` tenant, ``sender`` the From mailbox, ``rcpt`` the recipient digest,
  ``routes`` how many To/CC recipients go each route (``{"direct": 2, "viewer": 1}``), ``pol`` the
  policy version, ``iat`` and ``exp`` (seconds since the epoch).

S8: the stamp names no recipient at all and counts only To and CC recipients in ``routes``
(those the message's own headers show), so neither a BCC address nor a BCC recipient's route,
nor even whether there is a BCC recipient, can be read from it. The whole set (BCC included) is
bound as ``rcpt`` = HMAC-SHA256 under the envelope's secret ``recipient_salt`` of the sorted,
normalised addresses: without the salt nobody can test a guessed address against it, and two
messages to the same people have unrelated digests. The gateway gets the salt with the envelope
(its own credential, S9). Trade-off in docs/sending.md "Recipient digest".

Verification (``verify_stamp``) takes the key set and the time as arguments: typ, key id,
signature, claim types, issued-at (not in the future beyond ``leeway``), expiry, and a life
(``exp - iat``) of at most ``STAMP_TTL`` plus ``leeway``: only our key signs, but a stamp this
back end would never make is not honoured for as long as its ``exp`` says. Pure.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt

from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.canonical import canonical_json
from sendsecure.core.envelope import ROUTES, Envelope
from sendsecure.core.signing import ALGORITHM, SigningKey, VerificationKeys, b64url

HEADER_ENVELOPE = "X-SendSecure-Envelope"
HEADER_STAMP = "X-SendSecure-Stamp"
STAMP_TYP = "sendsecure-stamp+jwt"
# Longer than Exchange Online keeps retrying a message to a connector that does not answer (a
# day), so a message queued through a gateway outage still arrives with a valid stamp.
STAMP_TTL = timedelta(hours=48)
LEEWAY = timedelta(minutes=5)  # clock skew between the back end and the gateway
CLAIMS = frozenset({"env", "tid", "sender", "rcpt", "routes", "pol", "iat", "exp"})
_DIGEST_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # 32 bytes, base64url


class StampInvalid(ValueError):
    """The stamp does not verify. ``reason`` is a stable code; the message is for people."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _normal_address(address: str) -> str:
    try:
        return normalise_mailbox(address)
    except InvalidAddress:
        return "\x00invalid:" + address.strip().lower()  # in no stamped set: normalise_mailbox made those


def recipient_set_form(addresses: Iterable[str]) -> bytes:
    """The RFC 8785 form of the set: the normalised addresses, once each, sorted."""
    return canonical_json(sorted({_normal_address(address) for address in addresses}))


def recipient_digest(salt: bytes, addresses: Iterable[str]) -> str:
    """HMAC-SHA256 (base64url) of ``recipient_set_form`` under the envelope's salt."""
    if len(salt) < 16:
        raise ValueError("the recipient salt is too short")
    return b64url(hmac.new(salt, recipient_set_form(addresses), hashlib.sha256).digest())


def route_counts(envelope: Envelope) -> dict[str, int]:
    """How many To and CC recipients go each route; BCC recipients are left out (S8)."""
    counts: dict[str, int] = {}
    for recipient in envelope.visible_recipients:
        counts[recipient.route] = counts.get(recipient.route, 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class StampClaims:
    envelope_id: str
    tenant_id: str
    sender: str
    recipient_digest: str
    routes: Mapping[str, int] = field(hash=False)
    policy_version: str
    issued_at: int
    expires_at: int

    def to_claims(self) -> dict[str, object]:
        return {
            "env": self.envelope_id, "tid": self.tenant_id, "sender": self.sender,
            "rcpt": self.recipient_digest, "routes": dict(self.routes), "pol": self.policy_version,
            "iat": self.issued_at, "exp": self.expires_at,
        }

    def matches_recipients(self, salt: bytes, addresses: Iterable[str]) -> bool:
        """Whether these addresses are exactly the stamped set (constant-time comparison)."""
        return hmac.compare_digest(recipient_digest(salt, addresses), self.recipient_digest)


def stamp_claims(envelope: Envelope, *, issued_at: datetime, ttl: timedelta = STAMP_TTL) -> StampClaims:
    """The claims of the stamp for an envelope, issued now and valid for ``ttl``."""
    iat = int(issued_at.timestamp())
    return StampClaims(
        envelope_id=envelope.envelope_id, tenant_id=envelope.tenant_id, sender=envelope.sender,
        recipient_digest=recipient_digest(envelope.salt(), envelope.addresses),
        routes=route_counts(envelope), policy_version=envelope.policy_version,
        issued_at=iat, expires_at=iat + int(ttl.total_seconds()),
    )


def sign_stamp(claims: StampClaims, key: SigningKey) -> str:
    return jwt.encode(claims.to_claims(), key.private_key, algorithm=ALGORITHM,
                      headers={"kid": key.kid, "typ": STAMP_TYP})


def issue_stamp(envelope: Envelope, key: SigningKey, *, now: datetime, ttl: timedelta = STAMP_TTL) -> str:
    return sign_stamp(stamp_claims(envelope, issued_at=now, ttl=ttl), key)


def stamp_headers(envelope: Envelope, stamp: str) -> dict[str, str]:
    """The internet headers the add-in puts on the message (API.md ``headers``)."""
    return {HEADER_ENVELOPE: envelope.envelope_id, HEADER_STAMP: stamp}


def _claims_from(payload: object) -> StampClaims:
    if not isinstance(payload, dict) or set(payload) != CLAIMS:
        raise StampInvalid("malformed", "the stamp's claims are not the expected set")
    data: dict[str, Any] = payload
    texts = ("env", "tid", "sender", "pol")
    if not all(isinstance(data[name], str) and 0 < len(data[name]) <= 320 for name in texts):
        raise StampInvalid("malformed", "a stamp claim that must be text is not")
    if not isinstance(data["rcpt"], str) or not _DIGEST_RE.fullmatch(data["rcpt"]):
        raise StampInvalid("malformed", "the recipient digest is not a 32-byte base64url value")
    routes = data["routes"]
    if not isinstance(routes, dict) or not all(
        name in ROUTES and type(count) is int and count > 0 for name, count in routes.items()
    ):
        raise StampInvalid("malformed", "routes must count recipients per known route")
    if type(data["iat"]) is not int or type(data["exp"]) is not int or data["exp"] <= data["iat"]:
        raise StampInvalid("malformed", "iat and exp must be whole seconds, exp after iat")
    return StampClaims(
        envelope_id=data["env"], tenant_id=data["tid"], sender=data["sender"], recipient_digest=data["rcpt"],
        routes=dict(routes), policy_version=data["pol"], issued_at=data["iat"], expires_at=data["exp"],
    )


def verify_stamp(token: str, keys: VerificationKeys, *, now: datetime, leeway: timedelta = LEEWAY) -> StampClaims:
    """The claims of a valid stamp, or ``StampInvalid`` with reason ``malformed``, ``wrong_type``,
    ``unknown_key`` (another deployment, or a key withdrawn from the JWKS), ``bad_signature``,
    ``lifetime_too_long`` (``exp - iat`` over ``STAMP_TTL`` + ``leeway``), ``not_yet_valid`` or
    ``expired``."""
    if not isinstance(token, str) or token.count(".") != 2 or len(token) > 4096:
        raise StampInvalid("malformed", "the stamp is not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except (jwt.PyJWTError, RecursionError):   # deeply nested JSON: json.loads recurses
        raise StampInvalid("malformed", "the stamp's header cannot be read") from None
    if header.get("typ") != STAMP_TYP or header.get("alg") != ALGORITHM or "crit" in header:
        raise StampInvalid("wrong_type", "the token is not a send stamp")
    public_key = keys.get(header.get("kid"))
    if public_key is None:
        raise StampInvalid("unknown_key", "the stamp was signed by a key this deployment does not publish")
    try:
        decoded = jwt.PyJWS().decode_complete(token, public_key, algorithms=[ALGORITHM])
    except jwt.InvalidSignatureError:
        raise StampInvalid("bad_signature", "the stamp's signature does not match its content") from None
    except jwt.PyJWTError:
        raise StampInvalid("malformed", "the stamp is not a compact JWS") from None
    try:
        payload = json.loads(decoded["payload"])
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise StampInvalid("malformed", "the stamp's claims are not JSON") from None
    claims = _claims_from(payload)
    moment = int(now.timestamp())
    slack = int(leeway.total_seconds())
    if claims.expires_at - claims.issued_at > int(STAMP_TTL.total_seconds()) + slack:
        raise StampInvalid("lifetime_too_long", "the stamp lives longer than a send stamp may (48 hours)")
    if claims.issued_at > moment + slack:
        raise StampInvalid("not_yet_valid", "the stamp was issued in the future")
    if claims.expires_at <= moment - slack:
        raise StampInvalid("expired", "the stamp has expired")
    return claims
