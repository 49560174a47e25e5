"""The deployment's signing keys for envelopes and send stamps (SPEC S3, X3; docs/sending.md).

One key pair signs both: Ed25519 (JWS ``alg`` ``EdDSA``, RFC 8037). Its private half is a
32-byte seed, which is exactly what the key store keeps as one version of a named key
(``sendsecure/adapters/keys.py``): ``signing_key_from_seed`` turns a version into the key pair,
its public JWK and its key id. The key id is the RFC 7638 thumbprint of the public JWK, so it
names the key itself: a JWKS entry whose ``kid`` is not its thumbprint is refused, and an auditor
holding only the public key can tell which signatures it made.

Rotation: the key store gets a new version; new signatures use it, and the JWKS lists the public
halves of every version not destroyed, so old signatures keep verifying (``VerificationKeys``
looks a key up by the ``kid`` of the signature). Pure: keys come in as arguments.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ALGORITHM = "EdDSA"
SEED_BYTES = 32


class SigningKeyError(ValueError):
    """A seed or JWK that is not a usable Ed25519 key; the message says why, without key material."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of ``b64url``: no padding, no other alphabet; raises ``ValueError``."""
    if not isinstance(text, str) or "=" in text or not text.isascii():
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("not base64url") from None
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def jwk_thumbprint(public_jwk: Mapping[str, object]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of an OKP public key: members crv, kty, x, sorted."""
    members = {name: public_jwk[name] for name in ("crv", "kty", "x")}
    text = json.dumps(members, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return b64url(hashlib.sha256(text.encode("utf-8")).digest())


def _public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    return {**jwk, "kid": jwk_thumbprint(jwk), "alg": ALGORITHM, "use": "sig"}


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A key pair of the deployment: the private key signs, ``public_jwk`` goes into the JWKS."""

    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey
    kid: str
    public_jwk: Mapping[str, str]

    def __repr__(self) -> str:  # never print key material
        return f"SigningKey(kid={self.kid!r})"


def signing_key_from_seed(seed: bytes) -> SigningKey:
    """The key pair, public JWK and key id of a 32-byte Ed25519 seed (one key-store version)."""
    if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_BYTES:
        raise SigningKeyError("an Ed25519 seed is 32 bytes")
    private_key = Ed25519PrivateKey.from_private_bytes(bytes(seed))
    public_key = private_key.public_key()
    jwk = _public_jwk(public_key)
    return SigningKey(private_key=private_key, public_key=public_key, kid=jwk["kid"], public_jwk=jwk)


def jwks_document(keys: Iterable[SigningKey]) -> dict[str, list[dict[str, str]]]:
    """The JWKS (RFC 7517) of these keys' public halves, the newest first as given; duplicates once."""
    seen: set[str] = set()
    entries: list[dict[str, str]] = []
    for key in keys:
        if key.kid not in seen:
            seen.add(key.kid)
            entries.append(dict(key.public_jwk))
    return {"keys": entries}


def public_key_from_jwk(jwk: Mapping[str, object]) -> tuple[str, Ed25519PublicKey]:
    """(kid, key) of one JWKS entry: an Ed25519 public key (RFC 8037) for signing whose ``kid``
    is its RFC 7638 thumbprint. Raises ``SigningKeyError`` otherwise (a private key included too)."""
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise SigningKeyError("not an Ed25519 (OKP) key")
    if "d" in jwk:
        raise SigningKeyError("a published key must not hold its private part")
    if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
        raise SigningKeyError("not a key for EdDSA signatures")
    x = jwk.get("x")
    try:
        raw = b64url_decode(x) if isinstance(x, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SigningKeyError("x is not a 32-byte base64url value")
    kid = jwk.get("kid")
    if kid != jwk_thumbprint(jwk):
        raise SigningKeyError("kid is not the key's RFC 7638 thumbprint")
    return kid, Ed25519PublicKey.from_public_bytes(raw)


class VerificationKeys:
    """Public keys by key id, from a JWKS document or from signing keys (rotation: all versions)."""

    __slots__ = ("_keys", "skipped")

    def __init__(self, keys: Mapping[str, Ed25519PublicKey], skipped: int = 0) -> None:
        self._keys = dict(keys)
        self.skipped = skipped  # entries of the JWKS that were not usable keys

    @classmethod
    def from_jwks(cls, document: object) -> VerificationKeys:
        """Keys of a JWKS; entries that are not usable Ed25519 signing keys are skipped (counted)."""
        if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
            raise SigningKeyError("a JWKS is an object with a list 'keys'")
        keys: dict[str, Ed25519PublicKey] = {}
        skipped = 0
        for entry in document["keys"]:
            try:
                if not isinstance(entry, Mapping):
                    raise SigningKeyError("a JWK is an object")
                kid, key = public_key_from_jwk(entry)
            except SigningKeyError:
                skipped += 1
                continue
            keys[kid] = key
        return cls(keys, skipped)

    @classmethod
    def of(cls, keys: Iterable[SigningKey]) -> VerificationKeys:
        return cls({key.kid: key.public_key for key in keys})

    def get(self, kid: object) -> Ed25519PublicKey | None:
        return self._keys.get(kid) if isinstance(kid, str) else None

    def __contains__(self, kid: object) -> bool:
        return isinstance(kid, str) and kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._keys)
