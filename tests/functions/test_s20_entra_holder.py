"""Review s20: an Entra login is the person (tid + oid), not the mailbox string (SPEC A2, A3, P1,
P4, S5, X6). (Finding 2, what a token learns about a mailbox that is not its own, is tested in
test_issue12_entra.py.)

Finding 1: a directory may give a leaver's address (UPN) to a new person (a new oid, the same
``preferred_username``). The mailbox then changes hands: the earlier person's sessions end, their
stored phone numbers and settings are erased, and the new holder sees and revokes only messages
sent since they hold the mailbox. A token of an earlier holder issued before the change is refused.

Real RS256 JWTs signed by a key made here, validated against a JWKS served over HTTPS on
127.0.0.1 (tests/entrafake.py), through the registered functions, on Azurite.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from entrafake import EntraServer, SigningKey
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage

TID_C = "11111111-2222-4333-8444-555555555555"        # kliniek-c (tests/data/tenants.json), Entra
OID_A = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"        # the mailbox's first holder
OID_B = "bbbbbbbb-cccc-4ddd-8eee-ffffffffffff"        # the person the directory gives it to next
MAILBOX = "eva@kliniek-c.example"
PIET = "piet@gmail.example"
COMMUNITY = "jan@huisarts-b.example"
KEY = SigningKey("holder-key")


@pytest.fixture(scope="module")
def entra_server(tmp_path_factory):
    server = EntraServer(tmp_path_factory.mktemp("entra-holder"))
    yield server
    server.stop()


@pytest.fixture
def entra(app_env, entra_server, monkeypatch):
    entra_server.fake.reset([KEY])
    for name, value in entra_server.env().items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    return entra_server.fake


def token(fake, oid: str = OID_A, *, tid: str = TID_C, username: str = MAILBOX, **changes: Any) -> str:
    return KEY.sign(fake.claims(tid, oid, username, **changes))


def auth(session_token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {session_token}"}


def entra_login(call, entra_token: str, mailbox: str = MAILBOX, device_id: str = "device-1"):
    return call("entra_login", "POST", body={"mailbox": mailbox, "device_id": device_id},
                headers={"authorization": f"Bearer {entra_token}"})


def session_of(response) -> str:
    assert response.status_code == 200, response.get_body()
    return json_of(response)["session_token"]


def put_phone(call, session_token: str, address: str = PIET, phone: str = "+31612345678") -> None:
    response = call("put_phone", "PUT", body={"address": address, "phone": phone}, headers=auth(session_token))
    assert response.status_code == 200, response.get_body()


def lookup(call, session_token: str, address: str = PIET) -> list[dict[str, Any]]:
    response = call("lookup_phones", "POST", body={"addresses": [address]}, headers=auth(session_token))
    assert response.status_code == 200, response.get_body()
    return json_of(response)["phones"]


def settings(call, session_token: str) -> dict[str, Any]:
    response = call("get_user_settings", "GET", headers=auth(session_token))
    assert response.status_code == 200, response.get_body()
    return json_of(response)


def put_settings(call, session_token: str) -> None:
    response = call("put_user_settings", "PUT", body={"language": "en", "send_delay_seconds": 10},
                    headers=auth(session_token))
    assert response.status_code == 200, response.get_body()


def session_status(call, session_token: str) -> int:
    return call("get_session", headers=auth(session_token)).status_code


def send(call, session_token: str, message_id: str) -> str:
    draft = {"to": [COMMUNITY], "subject": "Verwijzing", "attachments": []}
    response = call("send_message", "POST", body={"message_id": message_id, "draft": draft},
                    headers=auth(session_token))
    assert response.status_code == 201, response.get_body()
    return json_of(response)["envelope_id"]


def listed(call, session_token: str) -> list[str]:
    response = call("list_sent_messages", "GET", "/api/v1/messages", headers=auth(session_token))
    assert response.status_code == 200, response.get_body()
    return [item["envelope_id"] for item in json_of(response)["messages"]]


def view(call, session_token: str, envelope_id: str):
    return call("get_sent_message", "GET", f"/api/v1/messages/{envelope_id}", headers=auth(session_token),
                route_params={"envelope_id": envelope_id})


def revoke(call, session_token: str, envelope_id: str):
    return call("revoke_message", "POST", f"/api/v1/messages/{envelope_id}/revoke", body={},
                headers=auth(session_token), route_params={"envelope_id": envelope_id})


def audit_rows(event: str) -> list[dict[str, Any]]:
    return [row for row in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if row["event"] == event]


def refused(response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_body()
    body = json_of(response)
    assert body["code"] == code, body
    return body


@pytest.fixture
def no_session_cache(monkeypatch):
    """Every request reads the session row (one worker here; another worker's copy would live up
    to SESSION_CACHE_SECONDS, as after a logout: docs/login.md)."""
    monkeypatch.setenv("SESSION_CACHE_SECONDS", "0")
    monkeypatch.setenv("PHONE_CACHE_SECONDS", "0")
    runtime.reset()


# ----- finding 1: the mailbox changes hands ----------------------------------------------------

def test_a2_a3_p1_p4_a_new_oid_for_the_mailbox_ends_the_earlier_holders_sessions_and_erases_their_data(
        entra, call, no_session_cache):
    first = session_of(entra_login(call, token(entra, OID_A)))
    other_device = session_of(entra_login(call, token(entra, OID_A), device_id="device-2"))
    put_phone(call, first)
    put_settings(call, first)
    assert lookup(call, first)[0]["phone"] == "+31612345678"

    second = session_of(entra_login(call, token(entra, OID_B)))      # same preferred_username, new oid

    assert session_status(call, first) == 401 and session_status(call, other_device) == 401   # A3
    assert session_status(call, second) == 200
    assert lookup(call, second) == []                                                  # P1, P4
    assert settings(call, second)["send_delay_seconds"] == 0 and not settings(call, second)["language_chosen"]
    assert list(runtime.tables().query(storage.PHONES, "PartitionKey ne ''")) == []   # erased, not hidden
    [row] = audit_rows("login.holder_changed")
    assert row["tenant_id"] == "kliniek-c" and row["outcome"] == "mailbox_changed_hands"
    assert row["sessions"] == 2 and row["phones"] == 1 and row["settings"] == 1
    assert len(row["entra_user"]) == 40 and len(row["previous_entra_user"]) == 40
    assert row["entra_user"] != row["previous_entra_user"]
    text = " ".join(str(value) for value in row.values())
    assert OID_A not in text and OID_B not in text and MAILBOX not in text and "eva" not in text
    # the new holder's own numbers are theirs
    put_phone(call, second, phone="+31687654321")
    assert lookup(call, second)[0]["phone"] == "+31687654321"


def test_a2_p1_u1_the_same_oid_logging_in_again_keeps_everything(entra, call, no_session_cache):
    first = session_of(entra_login(call, token(entra, OID_A)))
    put_phone(call, first)
    put_settings(call, first)
    again = session_of(entra_login(call, token(entra, OID_A, username="Eva@Kliniek-C.example")))
    assert session_status(call, first) == 200 and session_status(call, again) == 200
    assert lookup(call, again)[0]["phone"] == "+31612345678"
    assert settings(call, again)["send_delay_seconds"] == 10
    assert audit_rows("login.holder_changed") == []


def test_a2_a_former_holders_token_issued_before_the_change_is_refused_and_changes_nothing(
        entra, call, no_session_cache):
    issued = int(time.time()) - 120
    stale = token(entra, OID_A, iat=issued, nbf=issued)            # A's token, got two minutes ago
    session_of(entra_login(call, token(entra, OID_A)))
    second = session_of(entra_login(call, token(entra, OID_B)))
    put_phone(call, second)

    body = refused(entra_login(call, stale), 401, "token_before_holder_change")
    assert "passed to another person" in body["detail"]
    assert session_status(call, second) == 200                    # no ping-pong: B keeps the mailbox
    assert lookup(call, second)[0]["phone"] == "+31612345678"
    assert len(audit_rows("login.holder_changed")) == 1
    failed = [row for row in audit_rows("login.failed") if row["outcome"] == "token_before_holder_change"]
    assert len(failed) == 1 and failed[0]["tenant_id"] == "kliniek-c" and OID_A not in str(failed[0])
    # a token the directory issues now for A with the mailbox means A holds it again: a change of hands
    fresh = int(time.time()) + 1          # issued after B's since (whole seconds), within the leeway
    assert entra_login(call, token(entra, OID_A, iat=fresh)).status_code == 200
    assert session_status(call, second) == 401


def test_s5_x6_a2_the_new_holder_cannot_list_view_or_revoke_messages_sent_before_but_can_their_own(
        entra, call, sample_book, no_session_cache):
    first = session_of(entra_login(call, token(entra, OID_A)))
    before = send(call, first, "msg-of-a")
    second = session_of(entra_login(call, token(entra, OID_B)))
    own = send(call, second, "msg-of-b")

    assert listed(call, second) == [own]
    refused(view(call, second, before), 404, "not_found")
    refused(revoke(call, second, before), 403, "not_sender")
    assert view(call, second, own).status_code == 200
    assert revoke(call, second, own).status_code == 200
    assert runtime.envelopes().get(before).revoked_at is None
    # the same message id as the earlier holder's is not their envelope either
    response = call("send_message", "POST", body={"message_id": "msg-of-a", "draft": {
        "to": [COMMUNITY], "subject": "Verwijzing", "attachments": []}}, headers=auth(second))
    refused(response, 409, "message_id_conflict")


def test_s5_x6_a2_an_envelope_from_before_this_change_without_a_holder_counts_by_its_time(
        entra, call, sample_book, no_session_cache, monkeypatch):
    first = session_of(entra_login(call, token(entra, OID_A)))
    sending = runtime.sending()
    clock = sending._clock
    monkeypatch.setattr(sending, "_clock", lambda: datetime.now(UTC) - timedelta(hours=1))
    before = send(call, first, "msg-of-a")
    monkeypatch.setattr(sending, "_clock", clock)
    row = runtime.tables().get(storage.ENVELOPES, before, "envelope")
    legacy = {k: v for k, v in row.items() if k != "holder"}       # as stored before holders were recorded
    runtime.tables().upsert(storage.ENVELOPES, legacy, merge=False)
    assert listed(call, first) == [before]
    second = session_of(entra_login(call, token(entra, OID_B)))
    assert listed(call, second) == []
    refused(view(call, second, before), 404, "not_found")
    refused(revoke(call, second, before), 403, "not_sender")


def test_a3_an_entra_session_from_before_holders_keeps_working_and_still_ends_on_a_change(
        entra, call, sample_book, no_session_cache):
    first = session_of(entra_login(call, token(entra, OID_A)))
    envelope = send(call, first, "msg-1")
    for row in runtime.tables().query(storage.SESSIONS, "PartitionKey ne ''"):   # a row written before holders
        runtime.tables().upsert(storage.SESSIONS, {k: v for k, v in row.items()
                                                   if k not in ("holder", "holder_since")}, merge=False)
    runtime.tables().delete_where(storage.MAILBOX_HOLDERS, "PartitionKey ne ''")   # and no holder row yet
    assert session_status(call, first) == 200
    assert listed(call, first) == [envelope] and view(call, first, envelope).status_code == 200
    # the first Entra login after the change records its holder; the same person changes nothing
    again = session_of(entra_login(call, token(entra, OID_A)))
    assert session_status(call, first) == 200 and session_status(call, again) == 200
    session_of(entra_login(call, token(entra, OID_B)))
    assert session_status(call, first) == 401 and session_status(call, again) == 401


def test_a1_p1_email_code_tenants_are_unchanged(call, login, no_session_cache):
    first = login("jan@ziekenhuis-a.example")
    put_phone(call, first)
    second = login("jan@ziekenhuis-a.example", device_id="device-2")
    assert session_status(call, first) == 200 and session_status(call, second) == 200
    assert lookup(call, second)[0]["phone"] == "+31612345678"
    assert list(runtime.tables().query(storage.MAILBOX_HOLDERS, "PartitionKey ne ''")) == []
    assert audit_rows("login.holder_changed") == []
