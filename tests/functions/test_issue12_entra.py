"""Issue 12: Entra ID login through the registered function (SPEC A2, T3, A3-A5).

Real JWTs signed by RSA keys made here, validated against a JWKS and OpenID configuration
served over HTTPS on 127.0.0.1 (tests/entrafake.py; the back end trusts exactly its self-signed
certificate). One test per refusal, each asserting its own code.
"""
from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest
from entrafake import (
    ADDIN_CLIENT_ID,
    API_APP_ID_URI,
    SigningKey,
    hs256_with_public_key,
    point_app_at,
    unsigned,
)
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.core.datafiles import data_file
from sendsecure.core.tenants import parse_tenants

TID_C = "11111111-2222-4333-8444-555555555555"        # kliniek-c (tests/data/tenants.json), Entra
TID_D = "22222222-3333-4444-8555-666666666666"        # kliniek-d (added here), Entra
TID_E = "33333333-4444-4555-8666-777777777777"        # zorg-e (added here), e-mail code
TID_X = "99999999-8888-4777-8666-555555555555"        # not onboarded
OID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MAILBOX = "eva@kliniek-c.example"
KEY = SigningKey("key-one")
OTHER_KEY = SigningKey("key-two")


@pytest.fixture
def entra(app_env, entra_server, monkeypatch):
    """The back end pointed at the local authority, with two more tenants beside the test ones."""
    fake = point_app_at(entra_server, monkeypatch, [KEY])
    runtime.tenant_directory().save(parse_tenants([
        {"id": "kliniek-d", "name": "Kliniek D", "mail_domains": ["kliniek-d.example"],
         "installation_type": "standard", "domain_book_variant": "zorgmail", "login_method": "entra",
         "entra_tenant_id": TID_D},
        {"id": "zorg-e", "name": "Zorg E", "mail_domains": ["zorg-e.example"], "installation_type": "standard",
         "domain_book_variant": "zorgmail", "login_method": "email_code", "entra_tenant_id": TID_E},
    ]))
    return fake


@pytest.fixture
def login(call):
    def post(token: str | None, mailbox: str = MAILBOX, headers: dict[str, str] | None = None, **body: Any):
        auth = {"authorization": f"Bearer {token}"} if token is not None else {}
        return call("entra_login", "POST", body={"mailbox": mailbox, "device_id": "device-1", **body},
                    headers={**auth, **(headers or {})})
    return post


def token(fake, tid: str = TID_C, username: str = MAILBOX, key: SigningKey = KEY, **changes: Any) -> str:
    return key.sign(fake.claims(tid, OID, username, **changes))


def refused(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/problem+json"
    body = json_of(response)
    assert body["code"] == code, body
    if status == 401:
        assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    return body


def audit_rows(event: str) -> list[dict[str, Any]]:
    return [row for row in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if row["event"] == event]


# ----- success ----------------------------------------------------------------------------------

def test_issue12_item1_entra_token_gives_the_same_session_as_the_email_code(entra, login, call):
    response = login(token(entra))
    assert response.status_code == 200, response.get_body()
    session = json_of(response)
    assert session["login_method"] == "entra" and session["tenant_id"] == "kliniek-c"
    assert session["mailbox"] == MAILBOX and session["session_token"].startswith("sst_")
    assert response.headers["Cache-Control"] == "no-store"
    me = call("get_session", headers={"authorization": f"Bearer {session['session_token']}"})
    assert me.status_code == 200 and json_of(me)["login_method"] == "entra"
    [row] = audit_rows("login.succeeded")
    assert row["method"] == "entra" and row["outcome"] == "session_created" and row["tenant_id"] == "kliniek-c"
    assert row["account_check"] == "token" and len(row["entra_user"]) == 40 and OID not in str(row)


def test_issue12_item2_app_id_uri_audience_case_insensitive_account_and_small_leeway(entra, login):
    now = int(time.time())
    response = login(token(entra, username="Eva@KLINIEK-C.example", aud=API_APP_ID_URI, exp=now - 30))
    assert response.status_code == 200, response.get_body()


def test_issue12_item2_user_is_tid_and_oid_not_the_user_name(entra, login):
    login(token(entra))
    login(token(entra, oid=str(uuid.uuid4())))
    users = [row["entra_user"] for row in audit_rows("login.succeeded")]
    assert len(users) == 2 and users[0] != users[1]   # same user name, two people


# ----- one test per refusal ---------------------------------------------------------------------

def test_issue12_expired_token(entra, login):
    refused(login(token(entra, exp=int(time.time()) - 120)), 401, "token_expired")


def test_issue12_not_yet_valid_token(entra, login):
    later = int(time.time()) + 600
    refused(login(token(entra, nbf=later, iat=later)), 401, "token_not_yet_valid")


def test_issue12_wrong_audience(entra, login):
    refused(login(token(entra, aud="00000003-0000-0000-c000-000000000000")), 401, "token_wrong_audience")


def test_issue12_wrong_issuer(entra, login):
    refused(login(token(entra, iss=entra.issuer(TID_D))), 401, "token_wrong_issuer")
    refused(login(token(entra, iss=f"https://sts.windows.net/{TID_C}/")), 401, "token_wrong_issuer")


def test_issue12_tid_not_onboarded(entra, login):
    response = login(token(entra, tid=TID_X, username="eva@elders.example"), mailbox="eva@elders.example")
    refused(response, 403, "tenant_not_onboarded")


def test_issue12_other_onboarded_tenants_tid_with_this_tenants_mailbox(entra, login):
    response = login(token(entra, tid=TID_D, username=MAILBOX))
    refused(response, 403, "tenant_mismatch")
    [row] = audit_rows("login.failed")
    assert row["outcome"] == "tenant_mismatch" and row["tenant_id"] == "kliniek-c"   # the mailbox's tenant sees it


def test_issue12_alg_none(entra, login):
    refused(login(unsigned(entra.claims(TID_C, OID, MAILBOX), KEY.kid)), 401, "token_algorithm_refused")
    assert entra.jwks_requests == 0   # refused before any key was looked at


def test_issue12_hs256_signed_with_the_public_key(entra, login):
    forged = hs256_with_public_key(entra.claims(TID_C, OID, MAILBOX), KEY)
    refused(login(forged), 401, "token_algorithm_refused")


def test_issue12_tampered_signature(entra, login):
    head, payload, signature = token(entra).split(".")
    flipped = ("A" if signature[10] != "A" else "B")
    refused(login(f"{head}.{payload}.{signature[:10]}{flipped}{signature[11:]}"), 401, "token_bad_signature")


def test_issue12_unknown_kid_then_rotation(entra, login):
    assert login(token(entra)).status_code == 200            # first fetch of the keys
    rotated = token(entra, key=OTHER_KEY)
    refused(login(rotated), 401, "token_unknown_key")         # not published
    entra.keys = [KEY, OTHER_KEY]                              # Entra rotates
    refused(login(rotated), 401, "token_unknown_key")         # within the minute: no new fetch
    assert entra.jwks_requests == 1
    keys = runtime.entra_keys()
    keys.clock = lambda: time.monotonic() + keys.min_refresh + 1   # a minute later
    assert login(rotated).status_code == 200                  # fetched once more, found
    assert entra.jwks_requests == 2


def test_issue12_jwks_endpoint_down_is_503_not_401(entra, login):
    entra.jwks_status = 503
    response = login(token(entra))
    body = refused(response, 503, "dependency_unavailable")
    assert int(response.headers["Retry-After"]) >= 1 and "WWW-Authenticate" not in response.headers
    assert "Entra" in body["detail"]
    refused(login(token(entra)), 503, "dependency_unavailable")
    assert entra.jwks_requests == 1                           # within Retry-After: not asked again
    assert [row["outcome"] for row in audit_rows("login.failed")] == ["keys_unavailable"] * 2


def test_issue12_authority_unreachable_is_503(entra, login, monkeypatch):
    from devhost.azurite import free_port

    monkeypatch.setenv("ENTRA_AUTHORITY", f"https://127.0.0.1:{free_port()}")
    runtime.reset()
    response = login(token(entra))
    refused(response, 503, "dependency_unavailable")
    assert "Retry-After" in response.headers


def test_issue12_keys_held_keep_verifying_while_the_jwks_is_down(entra, login):
    assert login(token(entra)).status_code == 200
    entra.jwks_status = 500
    assert login(token(entra)).status_code == 200


def test_issue12_missing_scp(entra, login):
    refused(login(token(entra, scp=None)), 401, "token_missing_scope")
    refused(login(token(entra, scp="User.Read Mail.Send")), 401, "token_missing_scope")
    # an app-only token (client credentials): roles, no scp
    refused(login(token(entra, scp=None, roles=["access_as_app"], idtyp="app")), 401, "token_missing_scope")


def test_issue12_wrong_azp(entra, login):
    refused(login(token(entra, azp="0f0f0f0f-1111-4222-8333-444444444444")), 401, "token_wrong_client")
    refused(login(token(entra, azp=None)), 401, "token_wrong_client")


@pytest.mark.parametrize(("language", "header"), [("nl", None), ("en", "en-GB,en;q=0.9"), ("de", "de-DE")])
def test_issue12_mismatched_mailbox_is_account_mismatch_in_the_users_language(entra, login, language, header):
    headers = {"accept-language": header} if header else {}
    body = refused(login(token(entra, username="piet@kliniek-c.example"), headers=headers), 403, "account_mismatch")
    assert body["detail"] == data_file("findings.json")["account_mismatch"][language]
    [row] = audit_rows("login.failed")
    assert row["outcome"] == "account_mismatch" and row["tenant_id"] == "kliniek-c"


def test_issue12_v1_token(entra, login):
    v1 = token(entra, ver="1.0", iss=f"https://sts.windows.net/{TID_C}/", aud=API_APP_ID_URI, azp=None,
               appid=ADDIN_CLIENT_ID, upn=MAILBOX, preferred_username=None)
    refused(login(v1), 401, "token_version_unsupported")


def test_issue12_missing_oid_and_missing_tid(entra, login):
    refused(login(token(entra, oid=None)), 401, "token_missing_claims")
    refused(login(token(entra, tid=None)), 401, "token_missing_claims")
    refused(login(token(entra, exp=None)), 401, "token_missing_claims")


def test_issue12_missing_or_garbled_authorization(entra, login, call):
    refused(login(None), 401, "token_missing")
    refused(login("sst_not-an-entra-token"), 401, "token_malformed")
    refused(login("a.b"), 401, "token_malformed")
    refused(login("x" * 20000), 401, "token_malformed")
    refused(login("eyJhbGciOiJSUzI1NiJ9.e30.sig"), 401, "token_malformed")   # RS256 but no kid
    nested = base64.urlsafe_b64encode(b"[" * 3000).decode().rstrip("=")      # was a 500 (RecursionError)
    refused(login(nested + ".e30.eA"), 401, "token_malformed")


def test_issue12_item1_email_code_tenants_get_login_method_not_allowed(entra, login):
    # a tenant that logs in by code, with its Entra tenant id in the definition
    refused(login(token(entra, tid=TID_E, username="jan@zorg-e.example"), mailbox="jan@zorg-e.example"),
            403, "login_method_not_allowed")
    # a tenant that logs in by code without one: known by the mailbox's domain
    refused(login(token(entra, tid=TID_X, username="jan@ziekenhuis-a.example"), mailbox="jan@ziekenhuis-a.example"),
            403, "login_method_not_allowed")


def test_issue12_bad_body_is_400_before_anything_else(entra, login):
    response = login(token(entra), mailbox="not an address")
    assert response.status_code == 400 and json_of(response)["errors"][0]["field"] == "mailbox"
    assert entra.jwks_requests == 0


# ----- rate limits and audit (item 4) -----------------------------------------------------------

def test_issue12_item4_same_per_client_limit_as_the_code_verify(entra, login, call, monkeypatch):
    monkeypatch.setenv("LOGIN_VERIFY_LIMIT_PER_CLIENT", "3")
    runtime.reset()
    call("verify_login_code", "POST", body={"challenge_id": "x" * 32, "code": "123456"})   # one code verify
    assert login(token(entra)).status_code == 200
    refused(login(token(entra, exp=1)), 401, "token_expired")
    limited = login(token(entra))
    refused(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0
    other = call("entra_login", "POST", body={"mailbox": MAILBOX}, client="198.51.100.7",
                 headers={"authorization": f"Bearer {token(entra)}"})
    assert other.status_code == 200                            # another client has its own window


def test_issue12_item4_every_failure_kind_is_audited_without_personal_data(entra, login):
    expired = token(entra, exp=int(time.time()) - 120)
    login(expired)
    login(token(entra, username="piet@kliniek-c.example"))
    rows = audit_rows("login.failed")
    assert [row["outcome"] for row in rows] == ["token_expired", "account_mismatch"]
    for row in rows:
        assert row["method"] == "entra" and len(row["actor"]) == 40
        assert MAILBOX not in str(row) and expired not in str(row)
    assert "entra_user" not in rows[0] and len(rows[1]["entra_user"]) == 40   # only once the token verified


# ----- the optional Graph check (item 3) --------------------------------------------------------

@pytest.fixture
def graph_check(entra, monkeypatch):
    monkeypatch.setenv("ENTRA_GRAPH_CHECK", "true")
    runtime.reset()
    entra.profiles[OID] = {"mail": "Eva.deVries@kliniek-c.example", "userPrincipalName": MAILBOX,
                           "proxyAddresses": ["SMTP:Eva.deVries@kliniek-c.example", "smtp:eva@kliniek-c.example",
                                              "smtp:e.devries@kliniek-c.example", "X500:/o=ExchangeLabs/cn=eva"]}
    return entra


def test_issue12_item3_graph_check_accepts_a_proxy_address(graph_check, login):
    response = login(token(graph_check), mailbox="E.deVries@kliniek-c.example")
    assert response.status_code == 200, response.get_body()
    assert json_of(response)["mailbox"] == "e.devries@kliniek-c.example"
    assert graph_check.obo_requests == 1 and graph_check.graph_requests == 1 and not graph_check.problems
    [row] = audit_rows("login.succeeded")
    assert row["account_check"] == "graph"


def test_issue12_item3_graph_check_not_asked_when_the_token_names_the_mailbox(graph_check, login):
    assert login(token(graph_check)).status_code == 200
    assert graph_check.obo_requests == 0


def test_issue12_item3_graph_check_refuses_an_address_of_another_account(graph_check, login):
    refused(login(token(graph_check), mailbox="secretariaat@kliniek-c.example"), 403, "account_mismatch")
    assert graph_check.graph_requests == 1


def test_issue12_item3_graph_down_is_503(graph_check, login):
    graph_check.graph_status = 503
    response = login(token(graph_check), mailbox="e.devries@kliniek-c.example")
    refused(response, 503, "dependency_unavailable")
    assert response.headers["Retry-After"] == "7"
    assert [row["outcome"] for row in audit_rows("login.failed")] == ["graph_unavailable"]


def test_issue12_item3_graph_check_refused_by_entra_is_503_not_a_mismatch(graph_check, login, monkeypatch):
    monkeypatch.setenv("ENTRA_CLIENT_SECRET", "wrong")   # e.g. no admin consent, an expired secret
    runtime.reset()
    response = login(token(graph_check), mailbox="e.devries@kliniek-c.example")
    refused(response, 503, "dependency_unavailable")
    assert graph_check.graph_requests == 0


def test_issue12_not_configured_is_503_after_the_token_shape(entra, login, monkeypatch):
    monkeypatch.delenv("ENTRA_API_CLIENT_ID")
    monkeypatch.delenv("ENTRA_API_APP_ID_URI")
    runtime.reset()
    refused(login("sst_session-token-not-entra"), 401, "token_malformed")
    response = login(token(entra))
    refused(response, 503, "dependency_unavailable")
    assert [row["outcome"] for row in audit_rows("login.failed")] == ["token_malformed", "not_configured"]
    assert entra.discovery_requests == 0


# ----- review s20 finding 2: nothing about a mailbox that is not the token's own (A1, A2) ----------

def test_a1_a2_another_directorys_token_learns_nothing_about_a_code_tenants_mailbox(entra, login):
    # any free directory's user, asking about a mailbox of a tenant that logs in by code
    response = login(token(entra, tid=TID_X, username="mallory@elders.example"), mailbox="jan@ziekenhuis-a.example")
    refused(response, 403, "tenant_not_onboarded")                   # as for any domain nobody onboarded
    [row] = audit_rows("login.failed")
    assert row["outcome"] == "tenant_not_onboarded" and row["tenant_id"] == ""   # not in zorg-a's log
    unknown = login(token(entra, tid=TID_X, username="mallory@elders.example"), mailbox="jan@nowhere.example")
    assert json_of(unknown)["code"] == json_of(response)["code"]
    assert json_of(unknown)["detail"] == json_of(response)["detail"]


def test_a1_a2_another_directorys_token_learns_nothing_about_an_entra_tenants_mailbox(entra, login):
    # a user of onboarded kliniek-d asking about kliniek-c's mailbox, and about one of no tenant
    response = login(token(entra, tid=TID_D, username="mallory@kliniek-d.example"))
    refused(response, 403, "account_mismatch")                       # A2's own error: not your account
    unknown = login(token(entra, tid=TID_D, username="mallory@kliniek-d.example"), mailbox="jan@nowhere.example")
    refused(unknown, 403, "account_mismatch")
    assert json_of(unknown)["detail"] == json_of(response)["detail"]
    assert [row["tenant_id"] for row in audit_rows("login.failed")] == ["kliniek-d", "kliniek-d"]   # the caller's own


def test_a1_a2_the_tokens_own_mailbox_still_hears_why(entra, login):
    # the add-in needs these to fall back or explain, for the token's own account only
    refused(login(token(entra, tid=TID_X, username="jan@ziekenhuis-a.example"), mailbox="jan@ziekenhuis-a.example"),
            403, "login_method_not_allowed")
    refused(login(token(entra, tid=TID_D, username=MAILBOX)), 403, "tenant_mismatch")
    assert sorted(row["tenant_id"] for row in audit_rows("login.failed")) == ["kliniek-c", "zorg-a"]
    # a token of a code tenant's own directory hears its own tenant's method, whatever the mailbox
    refused(login(token(entra, tid=TID_E, username="jan@zorg-e.example"), mailbox="someone@kliniek-c.example"),
            403, "login_method_not_allowed")
