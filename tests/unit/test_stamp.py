"""S8, X3: the send stamp (compact JWS) and its recipient digest (issue 10 item 4)."""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sending_fixtures import (
    BCC_COMMUNITY,
    BCC_VIEWER,
    KEY,
    NEW_KEY,
    NOW,
    OTHER_DEPLOYMENT,
    RECIPIENTS,
    SALT,
    envelope,
    signed,
)

from sendsecure.core.envelope import EnvelopeRecipient, new_recipient_salt
from sendsecure.core.signing import VerificationKeys, b64url, b64url_decode, jwks_document
from sendsecure.core.stamp import (
    HEADER_ENVELOPE,
    HEADER_STAMP,
    STAMP_TTL,
    StampInvalid,
    issue_stamp,
    recipient_digest,
    recipient_set_form,
    stamp_claims,
    stamp_headers,
    verify_stamp,
)

KEYS = VerificationKeys.from_jwks(jwks_document([KEY]))


def payload_of(token: str) -> dict[str, Any]:
    return json.loads(b64url_decode(token.split(".")[1]))


def header_of(token: str) -> dict[str, Any]:
    return json.loads(b64url_decode(token.split(".")[0]))


def with_payload(token: str, payload: dict[str, Any]) -> str:
    head, _, signature = token.split(".")
    return f"{head}.{b64url(json.dumps(payload).encode())}.{signature}"


def test_x3_stamp_carries_the_claims_and_verifies() -> None:
    env = signed()
    token = issue_stamp(env, KEY, now=NOW)
    assert header_of(token) == {"alg": "EdDSA", "kid": KEY.kid, "typ": "sendsecure-stamp+jwt"}
    claims = verify_stamp(token, KEYS, now=NOW)
    assert claims == stamp_claims(env, issued_at=NOW)
    assert payload_of(token) == {
        "env": env.envelope_id, "tid": env.tenant_id, "sender": "afdeling@ziekenhuis-a.nl",
        "rcpt": claims.recipient_digest, "routes": {"direct": 2, "nta7516": 1, "viewer": 1},
        "pol": env.policy_version, "iat": int(NOW.timestamp()), "exp": int((NOW + STAMP_TTL).timestamp()),
    }
    assert stamp_headers(env, token) == {HEADER_ENVELOPE: env.envelope_id, HEADER_STAMP: token}


@pytest.mark.parametrize("claim,value", [
    ("env", "0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a02"), ("tid", "another-tenant"), ("sender", "directie@ziekenhuis-a.nl"),
    ("rcpt", b64url(b"\x00" * 32)), ("routes", {"direct": 4}), ("routes", {"direct": 2, "viewer": 1}),
    ("pol", "rules-2026.11/viewer"), ("iat", int(NOW.timestamp()) - 1), ("exp", int(NOW.timestamp()) + 10**6),
])
def test_x3_issue10_item4_changing_any_stamp_claim_breaks_the_signature(claim: str, value: Any) -> None:
    token = issue_stamp(signed(), KEY, now=NOW)
    forged = with_payload(token, {**payload_of(token), claim: value})
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(forged, KEYS, now=NOW)
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize("change,reason", [
    ({"kid": NEW_KEY.kid}, "unknown_key"),
    ({"typ": "JWT"}, "wrong_type"),
    ({"alg": "HS256"}, "wrong_type"),
    ({"alg": "none"}, "wrong_type"),
    ({"crit": ["exp"]}, "malformed"),
])
def test_x3_changing_the_stamp_header_is_refused(change: dict[str, Any], reason: str) -> None:
    token = issue_stamp(signed(), KEY, now=NOW)
    _, body, signature = token.split(".")
    forged = f"{b64url(json.dumps({**header_of(token), **change}).encode())}.{body}.{signature}"
    keys = VerificationKeys.of([KEY, NEW_KEY]) if reason == "unknown_key" else KEYS
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(forged, keys, now=NOW)
    assert caught.value.reason in {reason, "bad_signature"}


def test_x3_kid_of_another_key_in_the_set_is_a_bad_signature() -> None:
    token = issue_stamp(signed(), KEY, now=NOW)
    _, body, signature = token.split(".")
    forged = f"{b64url(json.dumps({**header_of(token), 'kid': NEW_KEY.kid}).encode())}.{body}.{signature}"
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(forged, VerificationKeys.of([KEY, NEW_KEY]), now=NOW)
    assert caught.value.reason == "bad_signature"


def test_x3_expired_and_future_stamps_are_refused_with_five_minutes_of_clock_skew() -> None:
    token = issue_stamp(signed(), KEY, now=NOW)
    verify_stamp(token, KEYS, now=NOW + STAMP_TTL + timedelta(minutes=4))
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW + STAMP_TTL + timedelta(minutes=5))
    assert caught.value.reason == "expired"
    verify_stamp(token, KEYS, now=NOW - timedelta(minutes=5))
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW - timedelta(minutes=5, seconds=1))
    assert caught.value.reason == "not_yet_valid"


def test_x3_a_stamp_that_lives_longer_than_48_hours_is_refused() -> None:
    # Only our key signs, but a stamp that lives longer than the documented 48 h (plus the clock
    # leeway) is not one this back end makes: refuse it rather than honour whatever exp says.
    env = signed()
    longest = verify_stamp(issue_stamp(env, KEY, now=NOW, ttl=STAMP_TTL + timedelta(minutes=5)), KEYS, now=NOW)
    assert longest.expires_at - longest.issued_at == int((STAMP_TTL + timedelta(minutes=5)).total_seconds())
    for ttl in (STAMP_TTL + timedelta(minutes=5, seconds=1), timedelta(days=365)):
        with pytest.raises(StampInvalid) as caught:
            verify_stamp(issue_stamp(env, KEY, now=NOW, ttl=ttl), KEYS, now=NOW)
        assert caught.value.reason == "lifetime_too_long"


def test_x3_stamp_of_another_deployment_is_an_unknown_key() -> None:
    token = issue_stamp(signed(OTHER_DEPLOYMENT), OTHER_DEPLOYMENT, now=NOW)
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW)
    assert caught.value.reason == "unknown_key"


def test_x3_another_key_claiming_our_kid_is_a_bad_signature() -> None:
    forged = jwt.encode(payload_of(issue_stamp(signed(), KEY, now=NOW)), OTHER_DEPLOYMENT.private_key,
                        algorithm="EdDSA", headers={"kid": KEY.kid, "typ": "sendsecure-stamp+jwt"})
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(forged, KEYS, now=NOW)
    assert caught.value.reason == "bad_signature"


def test_s3_rotation_stamps_of_the_old_key_verify_while_it_is_published() -> None:
    old = issue_stamp(signed(KEY), KEY, now=NOW)
    new = issue_stamp(signed(NEW_KEY), NEW_KEY, now=NOW)
    both = VerificationKeys.from_jwks(jwks_document([NEW_KEY, KEY]))
    assert verify_stamp(old, both, now=NOW) == verify_stamp(new, both, now=NOW)
    with pytest.raises(StampInvalid):
        verify_stamp(old, VerificationKeys.from_jwks(jwks_document([NEW_KEY])), now=NOW)


@pytest.mark.parametrize("claims", [
    {}, {"env": "x"}, "not an object",
])
def test_x3_signed_tokens_with_other_claims_are_malformed(claims: Any) -> None:
    token = jwt.PyJWS().encode(json.dumps(claims).encode(), KEY.private_key, algorithm="EdDSA",
                               headers={"kid": KEY.kid, "typ": "sendsecure-stamp+jwt"})
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW)
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("change", [
    {"rcpt": "short"}, {"routes": {"teleport": 1}}, {"routes": {"direct": 0}}, {"routes": []},
    {"iat": "now"}, {"exp": 1.5}, {"exp": 0}, {"env": ""}, {"sender": 7},
])
def test_x3_claims_of_the_wrong_shape_are_malformed_even_when_signed(change: dict[str, Any]) -> None:
    good = payload_of(issue_stamp(signed(), KEY, now=NOW))
    token = jwt.PyJWS().encode(json.dumps({**good, **change}).encode(), KEY.private_key, algorithm="EdDSA",
                               headers={"kid": KEY.kid, "typ": "sendsecure-stamp+jwt"})
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW)
    assert caught.value.reason == "malformed"


def test_x3_deeply_nested_json_in_a_stamp_is_malformed_not_a_crash() -> None:
    # a header or (signed) payload of nested arrays made json.loads raise RecursionError
    nested = base64.urlsafe_b64encode(b"[" * 2000).decode().rstrip("=")
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(nested + ".e30.AAAA", KEYS, now=NOW)
    assert caught.value.reason == "malformed"
    token = jwt.PyJWS().encode(b"[" * 1200 + b"]" * 1200, KEY.private_key, algorithm="EdDSA",  # within 4,096
                               headers={"kid": KEY.kid, "typ": "sendsecure-stamp+jwt"})
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW)
    assert caught.value.reason == "malformed"


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c", "x" * 5000, "e30.e30.AAAA"])
def test_x3_garbage_is_malformed(token: str) -> None:
    with pytest.raises(StampInvalid) as caught:
        verify_stamp(token, KEYS, now=NOW)
    assert caught.value.reason in {"malformed", "wrong_type"}


# ----- S8: BCC and the digest ---------------------------------------------------------------------------

def test_s8_no_bcc_address_or_bcc_route_on_the_message() -> None:
    env = signed()
    token = issue_stamp(env, KEY, now=NOW)
    on_the_message = "".join(json.dumps(part) for part in (stamp_headers(env, token), payload_of(token),
                                                           header_of(token)))
    for address in (BCC_VIEWER, BCC_COMMUNITY):
        for form in (address, address.upper(), address.split("@")[0]):
            assert form not in on_the_message
    # Only BCC goes by the Viewer with an e-mail code here: nothing tells a visible reader.
    only_visible_direct = (RECIPIENTS[0], RECIPIENTS[4], RECIPIENTS[5])
    claims = payload_of(issue_stamp(signed(recipients=only_visible_direct), KEY, now=NOW))
    assert claims["routes"] == {"direct": 1}
    same_without_bcc = payload_of(issue_stamp(signed(recipients=only_visible_direct[:1]), KEY, now=NOW))
    assert claims["routes"] == same_without_bcc["routes"] and set(claims) == set(same_without_bcc)


def test_s8_no_phone_number_or_subject_in_the_headers() -> None:
    token = issue_stamp(signed(), KEY, now=NOW)
    text = json.dumps(payload_of(token))
    assert "Verwijzing" not in text and "+31" not in text and "06" not in text.replace("2026", "")


def test_s8_digest_binds_the_whole_set_bcc_included() -> None:
    env = signed()
    claims = verify_stamp(issue_stamp(env, KEY, now=NOW), KEYS, now=NOW)
    everyone = [r.address for r in RECIPIENTS]
    assert claims.matches_recipients(env.salt(), everyone)
    assert claims.matches_recipients(env.salt(), [a.upper() for a in reversed(everyone)] + everyone[:2])
    assert not claims.matches_recipients(env.salt(), everyone + ["eve@evil.example"])      # one added
    assert not claims.matches_recipients(env.salt(), everyone[:-1])                         # a BCC left out
    assert not claims.matches_recipients(env.salt(), [a for a in everyone if a != BCC_VIEWER] + ["x@gmail.com"])


def test_s8_digest_hides_addresses_from_whoever_reads_the_stamp() -> None:
    env = signed()
    token = issue_stamp(env, KEY, now=NOW)
    digest = payload_of(token)["rcpt"]
    everyone = [r.address for r in RECIPIENTS]
    form = recipient_set_form(everyone)
    # Not a plain hash a reader could recompute from guessed addresses ...
    for plain in (hashlib.sha256(form).digest(), hashlib.sha256(",".join(sorted(everyone)).encode()).digest()):
        assert b64url(plain) != digest
    # ... and the key of the keyed hash (the envelope's salt) is not on the message.
    raw_salt = base64.urlsafe_b64decode(SALT + "=")
    assert SALT not in token and raw_salt.hex() not in token
    assert SALT not in json.dumps(stamp_headers(env, token))
    # Two messages to the same people cannot be linked by their digests.
    again = signed(salt=new_recipient_salt())
    assert payload_of(issue_stamp(again, KEY, now=NOW))["rcpt"] != digest
    assert recipient_digest(env.salt(), everyone) == digest


def test_s8_recipient_digest_needs_a_real_salt() -> None:
    with pytest.raises(ValueError):
        recipient_digest(b"", ["a@b.nl"])


def test_x3_stamp_fits_on_one_rfc5322_header_line_in_the_worst_case() -> None:
    sender = "a" * 64 + "@" + ".".join(["d" * 60] * 3) + ".nl"   # 254 characters
    many = tuple(EnvelopeRecipient(f"r{i}@huisarts-b.nl", "to", "community", "direct", None) for i in range(50))
    viewer = tuple(EnvelopeRecipient(f"v{i}@gmail.com", "cc", "external", "viewer", "sms") for i in range(50))
    nta = (EnvelopeRecipient("n@nta.nl", "cc", "nta7516", "nta7516", None),)
    env = envelope(sender=sender, recipients=many + viewer + nta, envelope_id="f" * 40)
    env = replace(env, tenant_id="t" * 40, policy_version="p" * 40)   # the longest build_envelope accepts
    token = issue_stamp(env, KEY, now=NOW)
    assert len(f"{HEADER_STAMP}: {token}") <= 998


LOCALS = st.text("abcXYZ.-", min_size=1, max_size=6).filter(lambda s: not s.startswith(".") and ".." not in s
                                                            and not s.endswith("."))
ADDRESSES = st.builds(lambda local, domain: f"{local}@{domain}.nl", LOCALS, st.sampled_from(["a", "b", "c"]))


@settings(max_examples=200, deadline=None)
@given(first=st.lists(ADDRESSES, max_size=6), second=st.lists(ADDRESSES, max_size=6))
def test_s8_digest_is_equal_exactly_when_the_sets_are(first: list[str], second: list[str]) -> None:
    salt = b"s" * 32
    same_set = {a.lower() for a in first} == {a.lower() for a in second}
    assert (recipient_digest(salt, first) == recipient_digest(salt, second)) == same_set
