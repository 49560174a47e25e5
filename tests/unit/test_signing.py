"""S3, X3: the signing key pair from a 32-byte seed (one key-store version), RFC 7638 key ids, JWKS."""
from __future__ import annotations

import jwt
import pytest

from sendsecure.core.signing import (
    SigningKeyError,
    VerificationKeys,
    b64url_decode,
    jwks_document,
    public_key_from_jwk,
    signing_key_from_seed,
)

# RFC 8037 appendix A.1: the Ed25519 test key (d is the 32-byte seed).
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


def test_x3_seed_gives_rfc8037_public_key_and_rfc7638_thumbprint_as_kid() -> None:
    key = signing_key_from_seed(b64url_decode(RFC8037_D))
    assert key.public_jwk["x"] == RFC8037_X
    assert key.kid == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"  # RFC 8037 A.3
    assert key.public_jwk == {"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "kid": key.kid,
                              "alg": "EdDSA", "use": "sig"}
    assert "d" not in key.public_jwk and RFC8037_D not in repr(key)


def test_x3_eddsa_signature_matches_rfc8037_a4() -> None:
    key = signing_key_from_seed(b64url_decode(RFC8037_D))
    token = jwt.PyJWS().encode(b"Example of Ed25519 signing", key.private_key, algorithm="EdDSA",
                               headers={"typ": None})
    assert token == ("eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg"
                     "3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg")


def test_s3_seed_must_be_32_bytes() -> None:
    for seed in (b"", b"\x00" * 31, b"\x00" * 33):
        with pytest.raises(SigningKeyError):
            signing_key_from_seed(seed)


def test_s3_rotation_jwks_lists_every_version_once_and_reads_back() -> None:
    old, new = signing_key_from_seed(b"\x01" * 32), signing_key_from_seed(b"\x02" * 32)
    document = jwks_document([new, old, new])
    assert [entry["kid"] for entry in document["keys"]] == [new.kid, old.kid]
    keys = VerificationKeys.from_jwks(document)
    assert keys.kids == (new.kid, old.kid) and keys.skipped == 0
    assert keys.get(old.kid) is not None and old.kid in keys


@pytest.mark.parametrize("change", [
    {"kty": "EC"}, {"crv": "Ed448"}, {"alg": "ES256"}, {"use": "enc"}, {"x": "AAAA"}, {"x": "not base64!"},
    {"kid": "chosen-by-someone"}, {"d": RFC8037_D},
])
def test_x3_jwks_entries_that_are_not_our_kind_of_key_are_skipped(change: dict[str, str]) -> None:
    entry = {**signing_key_from_seed(b"\x01" * 32).public_jwk, **change}
    with pytest.raises(SigningKeyError):
        public_key_from_jwk(entry)
    keys = VerificationKeys.from_jwks({"keys": [entry, "not an object"]})
    assert len(keys) == 0 and keys.skipped == 2


def test_x3_a_jwks_must_be_an_object_with_keys() -> None:
    for document in ([], {"keys": {}}, "x"):
        with pytest.raises(SigningKeyError):
            VerificationKeys.from_jwks(document)
