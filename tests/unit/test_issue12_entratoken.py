"""Issue 12: the pure checks of an Entra access token (sendsecure/core/entratoken.py)."""
from __future__ import annotations

from typing import Any

import pytest

from sendsecure.core.entratoken import (
    ENTRA_LOGIN_CODES,
    ENTRA_TOKEN_CODES,
    TokenPolicy,
    TokenRefused,
    check_claims,
    check_header,
    check_shape,
    graph_addresses,
    issuer_of,
    matches,
)

TID = "11111111-2222-4333-8444-555555555555"
OID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
ADDIN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
TEMPLATE = "https://login.microsoftonline.com/{tenantid}/v2.0"
POLICY = TokenPolicy(audiences=("api",), scope="access_as_user", client_id=ADDIN, leeway_seconds=60)


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"ver": "2.0", "tid": TID, "iss": issuer_of(TEMPLATE, TID), "oid": OID,
                            "scp": "User.Read access_as_user", "azp": ADDIN, "preferred_username": "Eva@K.example"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def code_of(call: Any, *args: Any) -> str:
    with pytest.raises(TokenRefused) as refused:
        call(*args)
    assert refused.value.status == 401
    assert refused.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}
    return refused.value.code


def test_issue12_item2_a_valid_token_names_tid_oid_and_the_account():
    user = check_claims(claims(upn="eva.upn@k.example"), POLICY, TEMPLATE)
    assert (user.tenant, user.object_id, user.key) == (TID, OID, f"{TID}/{OID}")
    assert user.names == {"eva@k.example", "eva.upn@k.example"}


@pytest.mark.parametrize("alg", ["none", "HS256", "RS384", "PS256", "ES256", "", None])
def test_issue12_item2_only_rs256_headers(alg):
    assert code_of(check_header, {"alg": alg, "kid": "k"}) == "token_algorithm_refused"


def test_issue12_item2_header_needs_a_kid():
    assert check_header({"alg": "RS256", "kid": "k1"}) == "k1"
    assert code_of(check_header, {"alg": "RS256"}) == "token_malformed"
    assert code_of(check_header, {"alg": "RS256", "kid": "k" * 129}) == "token_malformed"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "a b.c.d", "x" * 16385 + ".a.b"])
def test_issue12_item2_shape(token):
    assert code_of(check_shape, token) == "token_malformed"


@pytest.mark.parametrize(("changes", "code"), [
    ({"ver": "1.0"}, "token_version_unsupported"),
    ({"ver": None}, "token_version_unsupported"),
    ({"tid": None}, "token_missing_claims"),
    ({"tid": "common"}, "token_missing_claims"),
    ({"tid": OID.upper()}, "token_missing_claims"),
    ({"iss": "https://sts.windows.net/" + TID + "/"}, "token_wrong_issuer"),
    ({"iss": issuer_of(TEMPLATE, "22222222-2222-4333-8444-555555555555")}, "token_wrong_issuer"),
    ({"iss": TEMPLATE}, "token_wrong_issuer"),
    ({"oid": None}, "token_missing_claims"),
    ({"oid": "not-a-guid"}, "token_missing_claims"),
    ({"scp": None}, "token_missing_scope"),
    ({"scp": "access_as_user_too"}, "token_missing_scope"),
    ({"scp": ["access_as_user"]}, "token_missing_scope"),
    ({"azp": None}, "token_wrong_client"),
    ({"azp": "00000000-0000-4000-8000-000000000000"}, "token_wrong_client"),
])
def test_issue12_item2_each_claim_refusal_has_its_code(changes, code):
    assert code_of(check_claims, claims(**changes), POLICY, TEMPLATE) == code
    assert code in ENTRA_TOKEN_CODES


def test_issue12_item2_any_client_when_no_add_in_is_configured():
    policy = TokenPolicy(audiences=("api",), scope="access_as_user", client_id=None, leeway_seconds=60)
    assert check_claims(claims(azp="00000000-0000-4000-8000-000000000000"), policy, TEMPLATE).tenant == TID


def test_issue12_item3_graph_addresses_take_smtp_proxies_only():
    found = graph_addresses({"mail": "Eva@K.example", "userPrincipalName": "eva.upn@k.example",
                             "proxyAddresses": ["SMTP:Eva@K.example", "smtp:alias@k.example", "X500:/o=x/cn=eva",
                                                "SIP:eva@k.example", "smtp:", 7]})
    assert found == {"eva@k.example", "eva.upn@k.example", "alias@k.example"}
    assert graph_addresses({"mail": None, "proxyAddresses": None}) == frozenset()


def test_issue12_item3_matching_is_case_insensitive_and_exact():
    assert matches("eva@k.example", {"EVA@K.example"})
    assert not matches("eva@k.example", {"eva@k.example.evil"})
    assert not matches("eva@k.example", set())


def test_issue12_codes_are_distinct():
    codes = ENTRA_TOKEN_CODES + ENTRA_LOGIN_CODES
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize("segment", ["", "!!!", "bnVsbA", "WzFd", "eyJhbGciOiJSUzI1NiI"])   # "", null, [1], cut
def test_issue12_item2_unreadable_headers_are_malformed(segment):
    from sendsecure.core.entratoken import header_of

    assert code_of(header_of, segment + ".e30.sig") == "token_malformed"


def test_A2_deeply_nested_or_long_headers_are_malformed_not_a_crash():
    # review 2026-12-01 (evening): "[" * 3000 as the header was an unhandled RecursionError (500)
    import base64

    from sendsecure.core.entratoken import header_of

    def segment(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    for raw in (b"[" * 3000, b'{"alg":"RS256","kid":' + b"[" * 1400 + b"]" * 1400 + b"}",
                b'{"alg":"RS256","kid":"k1","x":"' + b"a" * 3000 + b'"}'):
        assert code_of(header_of, segment(raw) + ".e30.sig") == "token_malformed"


def test_issue12_item2_header_of_reads_the_jose_header():
    from sendsecure.core.entratoken import header_of

    assert header_of("eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.e30.sig") == {"alg": "RS256", "kid": "k1"}


def test_issue12_settings_defaults_and_bounds():
    from sendsecure.errors import ConfigurationError
    from sendsecure.settings import from_environment

    s = from_environment({})
    assert (s.entra_authority, s.entra_api_scope, s.entra_leeway_seconds) == \
        ("https://login.microsoftonline.com", "access_as_user", 60)
    assert (s.entra_keys_max_age_seconds, s.entra_keys_min_refresh_seconds, s.entra_graph_check) == (86400, 60, False)
    assert from_environment({"ENTRA_AUTHORITY": "https://127.0.0.1:8443/"}).entra_authority == "https://127.0.0.1:8443"
    for env in ({"ENTRA_AUTHORITY": "http://login.microsoftonline.com"}, {"ENTRA_KEYS_MAX_AGE_SECONDS": "86401"},
                {"ENTRA_KEYS_MIN_REFRESH_SECONDS": "5"}, {"ENTRA_LEEWAY_SECONDS": "301"}):
        with pytest.raises(ConfigurationError):
            from_environment(env)


def test_a2_the_user_carries_when_the_token_was_issued():
    # review s20: a former holder's token from before the mailbox changed hands is refused by its iat
    assert check_claims(claims(iat=1_767_225_600), POLICY, TEMPLATE).issued_at == 1_767_225_600
    assert check_claims(claims(), POLICY, TEMPLATE).issued_at == 0        # PyJWT requires iat before this
