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

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from entrafake import SigningKey, point_app_at
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


@pytest.fixture
def entra(app_env, entra_server, monkeypatch):
    return point_app_at(entra_server, monkeypatch, [KEY])


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
    rows = audit_rows("login.holder_changed")      # before the deletion (what is to go), and after
    assert sorted(row["outcome"] for row in rows) == ["data_erased", "mailbox_changed_hands"]
    for row in rows:
        assert row["tenant_id"] == "kliniek-c"
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
    assert len(audit_rows("login.holder_changed")) == 2          # the one change: before and after
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


# ----- review of the holders (s20-hold) ----------------------------------------------------------

OID_C = "cccccccc-dddd-4eee-8fff-000000000000"        # a third person the directory gives it to


def holder_row() -> dict[str, Any]:
    [row] = runtime.tables().query(storage.MAILBOX_HOLDERS, "PartitionKey ne ''")
    return dict(row)


def login_elsewhere(call, fake, oid: str, device_id: str):
    """A login on 'worker 1': this worker (standing for 'worker 2') keeps its copies of the
    sessions the login ends, as another worker does up to SESSION_CACHE_SECONDS."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runtime.sessions(), "_forget", lambda digest: None)
        return session_of(entra_login(call, token(fake, oid), device_id=device_id))


@pytest.fixture
def session_copies(app_env, entra, monkeypatch):
    monkeypatch.setenv("SESSION_CACHE_SECONDS", "5")     # the default
    monkeypatch.setenv("PHONE_CACHE_SECONDS", "0")
    runtime.reset()


def test_p1_p4_a_late_write_of_the_previous_holder_is_never_read_by_the_next(entra, call, session_copies):
    first = session_of(entra_login(call, token(entra, OID_A)))
    assert session_status(call, first) == 200                 # another worker's copy of A's session
    second = login_elsewhere(call, entra, OID_B, "device-b")
    assert session_status(call, first) == 200                 # the copy lives up to 5-10 s (docs/login.md)
    put_phone(call, first, phone="+31611111111")               # A's late writes, through the copy
    put_settings(call, first)
    assert lookup(call, second) == []                          # P1, P4: not the new holder's
    assert settings(call, second)["send_delay_seconds"] == 0 and not settings(call, second)["language_chosen"]
    put_phone(call, second, phone="+31687654321")
    assert lookup(call, second)[0]["phone"] == "+31687654321"
    # the next change of hands erases B's numbers and A's late ones, not C's
    third = session_of(entra_login(call, token(entra, OID_C), device_id="device-c"))
    assert lookup(call, third) == [] and settings(call, third)["send_delay_seconds"] == 0
    assert list(runtime.tables().query(storage.PHONES, "PartitionKey ne ''")) == []
    assert list(runtime.tables().query(storage.USER_SETTINGS, "PartitionKey ne ''")) == []


def test_p1_p4_a_write_in_flight_during_the_change_lands_with_the_previous_holder(entra, call, no_session_cache,
                                                                                   monkeypatch):
    first = session_of(entra_login(call, token(entra, OID_A)))
    upsert = runtime.tables().upsert
    writing, go_on = threading.Event(), threading.Event()

    def slow_upsert(name: str, entity: dict[str, Any], **options: Any) -> Any:
        if name == storage.PHONES and threading.current_thread().name == "A":
            writing.set()                                      # A's PUT has authenticated; B logs in now
            assert go_on.wait(30)
        return upsert(name, entity, **options)

    monkeypatch.setattr(runtime.tables(), "upsert", slow_upsert)
    out: dict[str, Any] = {}
    request = threading.Thread(name="A", target=lambda: out.update(response=call(
        "put_phone", "PUT", body={"address": PIET, "phone": "+31611111111"}, headers=auth(first))))
    request.start()
    assert writing.wait(30)
    second = session_of(entra_login(call, token(entra, OID_B)))
    go_on.set()
    request.join(30)
    assert out["response"].status_code == 200
    assert lookup(call, second) == []


def test_s9_p1_the_gateway_reads_the_numbers_of_the_person_who_sent_the_envelope(entra, call, sample_book,
                                                                                 no_session_cache):
    """Kliniek C's installation sends no Viewer SMS: each holder's real envelope is stored again
    with an SMS recipient (the gateway reads ``sms_recipients`` of the record, not its signature)."""
    from dataclasses import replace

    from sendsecure.provision import service_credential

    credential, _ = service_credential("gateway")

    def send_sms(session_token: str, message_id: str) -> str:
        sent = runtime.envelopes().get(send(call, session_token, message_id))
        assert sent is not None
        record = {**sent.record, "recipients": [{"address": PIET, "field": "to", "category": "external",
                                                 "route": "viewer", "access_code": "sms"}]}
        queued = replace(sent, envelope_id=sent.envelope_id[:-4] + "sms0", message_id=message_id + "-sms",
                         record=record)
        runtime.envelopes().save_once(queued)
        return queued.envelope_id

    def fetched(envelope_id: str) -> list[dict[str, str]]:
        response = call("get_gateway_envelope", "GET", f"/api/v1/gateway/envelopes/{envelope_id}",
                        headers=auth(credential), route_params={"envelope_id": envelope_id})
        assert response.status_code == 200, response.get_body()
        return json_of(response)["phones"]

    first = session_of(entra_login(call, token(entra, OID_A)))
    put_phone(call, first, phone="+31611111111")
    of_first = send_sms(first, "msg-a")
    assert "holder_key" not in runtime.tables().get(storage.ENVELOPES, of_first, "envelope")   # the mailbox's own
    assert fetched(of_first) == [{"address": PIET, "phone": "+31611111111"}]

    second = session_of(entra_login(call, token(entra, OID_B)))
    put_phone(call, second, phone="+31687654321")
    of_second = send_sms(second, "msg-b")
    row = runtime.tables().get(storage.ENVELOPES, of_second, "envelope")
    assert row["holder_key"] == row["holder"] == runtime.pseudonyms().of("entra", f"{TID_C}/{OID_B}")
    assert fetched(of_second) == [{"address": PIET, "phone": "+31687654321"}]   # a queued message: its sender's
    assert fetched(of_first) == []                # the first holder's numbers were erased with the change


def test_a3_p1_a_stalled_hand_over_never_touches_the_person_who_took_the_mailbox_over_after(
        entra, call, no_session_cache, monkeypatch):
    session_of(entra_login(call, token(entra, OID_A)))
    holders = runtime.mailbox_holders()
    for step in ("end_mailbox", "erase_person"):       # stall B's hand-over before its first deletion
        owner = holders._sessions if step == "end_mailbox" else holders._phonebook
        real = getattr(owner, step)

        stalled, go_on = threading.Event(), threading.Event()

        def stalling(*args: Any, _real: Any = real, _stalled: threading.Event = stalled,
                     _go_on: threading.Event = go_on, **kwargs: Any) -> Any:
            if threading.current_thread().name == "B" and not kwargs.get("count_only"):
                _stalled.set()
                assert _go_on.wait(30)
            return _real(*args, **kwargs)

        with monkeypatch.context() as patch:
            patch.setattr(owner, step, stalling)
            out: dict[str, Any] = {}
            login_b = threading.Thread(name="B", target=lambda out=out: out.update(b=call(
                "entra_login", "POST", body={"mailbox": MAILBOX, "device_id": "device-b"},
                headers={"authorization": f"Bearer {token(entra, OID_B, iat=int(time.time()))}"},
                client="192.0.2.21")))
            login_b.start()
            if not stalled.wait(30):
                login_b.join(30)
                raise AssertionError((step, out["b"].status_code, out["b"].get_body()))
            time.sleep(1.05)                           # a new second: the third person's since is later
            third = session_of(call("entra_login", "POST", body={"mailbox": MAILBOX, "device_id": "device-c"},
                                    headers={"authorization": f"Bearer {token(entra, OID_C, iat=int(time.time()))}"},
                                    client="192.0.2.22"))
            put_phone(call, third, phone="+31687654321")
            put_settings(call, third)
            go_on.set()
            login_b.join(30)
        assert session_status(call, third) == 200, step
        assert lookup(call, third)[0]["phone"] == "+31687654321", step
        assert settings(call, third)["send_delay_seconds"] == 10, step
        assert holder_row()["holder"] == runtime.pseudonyms().of("entra", f"{TID_C}/{OID_C}")
        assert "handover_superseded" in [row["outcome"] for row in audit_rows("login.holder_changed")]
        # the mailbox back to A for the next round (a fresh token of a former holder)
        time.sleep(1.05)
        session_of(entra_login(call, token(entra, OID_A, iat=int(time.time()))))


def test_a3_p1_two_devices_of_the_new_holder_at_once_keep_what_the_first_stored(
        entra, call, no_session_cache, monkeypatch):
    session_of(entra_login(call, token(entra, OID_A)))
    holders = runtime.mailbox_holders()
    real_hand_over, real_erase = holders._hand_over, holders._phonebook.erase_person
    first_in, go_on_first, stalled, go_on = (threading.Event() for _ in range(4))

    def hand_over(*args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "B1":   # device 1 moved the row; device 2 comes in now
            first_in.set()
            assert go_on_first.wait(30)
        real_hand_over(*args, **kwargs)

    def erase_person(*args: Any, **kwargs: Any) -> int:
        if threading.current_thread().name == "B2" and not kwargs.get("count_only"):
            stalled.set()
            assert go_on.wait(30)
        return real_erase(*args, **kwargs)

    monkeypatch.setattr(holders, "_hand_over", hand_over)
    monkeypatch.setattr(holders._phonebook, "erase_person", erase_person)
    out: dict[str, Any] = {}

    def login(name: str, client: str) -> threading.Thread:
        thread = threading.Thread(name=name, target=lambda: out.update({name: call(
            "entra_login", "POST", body={"mailbox": MAILBOX, "device_id": name},
            headers={"authorization": f"Bearer {token(entra, OID_B)}"}, client=client)}))
        thread.start()
        return thread

    device_1 = login("B1", "192.0.2.41")
    assert first_in.wait(30)
    device_2 = login("B2", "192.0.2.42")
    assert stalled.wait(30)                            # device 2 resumed the hand-over, about to erase
    go_on_first.set()
    device_1.join(30)
    b1 = session_of(out["B1"])
    put_phone(call, b1, phone="+31687654321")
    go_on.set()
    device_2.join(30)
    assert lookup(call, b1)[0]["phone"] == "+31687654321"
    assert session_status(call, b1) == 200 and session_status(call, session_of(out["B2"])) == 200


@pytest.mark.parametrize("failing", [storage.PHONES, storage.USER_SETTINGS])
def test_s6_a_fault_after_a_deletion_never_loses_its_record(entra, call, no_session_cache, monkeypatch, failing):
    from sendsecure.errors import DependencyUnavailable

    first = session_of(entra_login(call, token(entra, OID_A)))
    session_of(entra_login(call, token(entra, OID_A), device_id="device-2"))
    put_phone(call, first)
    put_settings(call, first)
    tables = runtime.tables()
    delete_where = tables.delete_where

    def faulty(name: str, *args: Any, **kwargs: Any) -> int:
        if name == failing:
            raise DependencyUnavailable("injected")
        return delete_where(name, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(tables, "delete_where", faulty)
        assert entra_login(call, token(entra, OID_B)).status_code == 503   # the sessions (and phones) went
    assert session_status(call, first) == 401
    second = session_of(entra_login(call, token(entra, OID_B)))           # resumes the hand-over
    assert lookup(call, second) == [] and holder_row()["erased"] is True
    rows = audit_rows("login.holder_changed")
    announced = [row for row in rows if row["outcome"] == "mailbox_changed_hands"]
    assert [row["resumed"] for row in announced] == [False, True]
    assert announced[0]["sessions"] == 2 and announced[0]["phones"] == 1 and announced[0]["settings"] == 1
    assert [row["outcome"] for row in rows].count("data_erased") == 1


def test_s5_x6_a2_a_message_sent_through_a_session_without_holder_fields_is_never_a_later_holders(
        entra, call, sample_book, session_copies):
    from sendsecure.sessions import token_hash

    first = session_of(entra_login(call, token(entra, OID_A)))
    for row in runtime.tables().query(storage.SESSIONS, "PartitionKey ne ''"):   # a row from before holders
        runtime.tables().upsert(storage.SESSIONS, {k: v for k, v in row.items()
                                                   if k not in ("holder", "holder_since")}, merge=False)
    runtime.sessions()._cache.pop(token_hash(first))
    assert session_status(call, first) == 200                 # this worker's copy: no holder fields
    second = login_elsewhere(call, entra, OID_B, "device-b")
    envelope = send(call, first, "msg-a-after")                # through the copy, after the change
    assert runtime.tables().get(storage.ENVELOPES, envelope, "envelope")["holder"] == "legacy"
    assert listed(call, first) == [envelope] and view(call, first, envelope).status_code == 200
    assert listed(call, second) == []
    refused(view(call, second, envelope), 404, "not_found")
    refused(revoke(call, second, envelope), 403, "not_sender")
    assert runtime.envelopes().get(envelope).revoked_at is None
