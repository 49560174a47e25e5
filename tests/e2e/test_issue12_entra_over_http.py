"""Issue 12 end to end: Entra ID login through the development host over HTTP.

The development host (a subprocess) trusts the local authority by the settings an operator would
use (``ENTRA_AUTHORITY``, ``ENTRA_CA_BUNDLE``); the authority serves its OpenID configuration,
JWKS and Graph over HTTPS on 127.0.0.1 (tests/entrafake.py).
"""
from __future__ import annotations

import os
import time

import pytest
import requests
from devhost_process import start_devhost, stop_devhost
from entrafake import EntraServer, SigningKey

TID_C = "11111111-2222-4333-8444-555555555555"   # kliniek-c in tests/data/tenants.json
OID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
MAILBOX = "eva@kliniek-c.example"
KEY = SigningKey("e2e-key")


@pytest.fixture
def entra_host(azurite, tmp_path):
    server = EntraServer(tmp_path)
    server.fake.reset([KEY])
    server.fake.profiles[OID] = {"mail": MAILBOX, "userPrincipalName": MAILBOX,
                                 "proxyAddresses": [f"SMTP:{MAILBOX}", "smtp:e.devries@kliniek-c.example"]}
    host = start_devhost(tmp_path, {"TABLES_CONNECTION_STRING": azurite.connection_string,
                                    "TABLE_PREFIX": f"n{os.getpid()}x{time.monotonic_ns() % 10**9}",
                                    **server.env(ENTRA_GRAPH_CHECK="true")})
    yield host, server.fake
    stop_devhost(host)
    server.stop()


def test_issue12_e2e_entra_login_session_and_logout(entra_host):
    host, fake = entra_host
    token = KEY.sign(fake.claims(TID_C, OID, MAILBOX))
    response = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": MAILBOX, "device_id": "e2e"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    session = response.json()
    assert session["login_method"] == "entra" and session["tenant_id"] == "kliniek-c"
    auth = {"Authorization": f"Bearer {session['session_token']}"}
    me = requests.get(host.url("/api/v1/session"), headers=auth, timeout=10)
    assert me.status_code == 200 and me.json()["login_method"] == "entra"
    assert requests.delete(host.url("/api/v1/session"), headers=auth, timeout=10).status_code == 204
    assert fake.jwks_requests == 1 and fake.obo_requests == 0


def test_issue12_e2e_graph_alias_accepted_other_account_refused_in_english_expired_401(entra_host):
    host, fake = entra_host
    token = KEY.sign(fake.claims(TID_C, OID, MAILBOX))
    alias = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": "e.devries@kliniek-c.example"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert alias.status_code == 200, alias.text
    other = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": "piet@kliniek-c.example"},
                          headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"}, timeout=10)
    assert other.status_code == 403 and other.json()["code"] == "account_mismatch"
    assert other.json()["detail"].startswith("You chose a different account")
    assert not fake.problems
    expired = KEY.sign(fake.claims(TID_C, OID, MAILBOX, exp=int(time.time()) - 300))
    answer = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": MAILBOX},
                           headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert answer.status_code == 401 and answer.json()["code"] == "token_expired"
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_issue12_e2e_expired_token_is_401_and_jwks_down_is_503(entra_host):
    host, fake = entra_host
    fake.jwks_status = 503
    token = KEY.sign(fake.claims(TID_C, OID, MAILBOX))
    down = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": MAILBOX},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert down.status_code == 503 and down.json()["code"] == "dependency_unavailable"
    assert int(down.headers["Retry-After"]) >= 1 and "WWW-Authenticate" not in down.headers
    expired = KEY.sign(fake.claims(TID_C, OID, MAILBOX, exp=int(time.time()) - 300))
    answer = requests.post(host.url("/api/v1/auth/entra"), json={"mailbox": MAILBOX},
                           headers={"Authorization": f"Bearer {expired}"}, timeout=10)
    assert answer.status_code == 503   # the keys are still unavailable: never a 401 without them
