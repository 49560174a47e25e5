"""Sending through the registered functions (issue 10 items 1-5; SPEC S1-S4, S6, S8, X3, V-M1, V-R4, P1)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.core.envelope import verify_envelope
from sendsecure.core.signing import VerificationKeys
from sendsecure.core.stamp import HEADER_ENVELOPE, HEADER_STAMP, verify_stamp
from sendsecure.sending import SIGNING_KEY

COMMUNITY = "jan@huisarts-b.example"
NTA = "arts@nta-ziekenhuis-d.example"
EXTERNAL = "piet@gmail.example"
DRAFT = {
    "to": [{"address": COMMUNITY, "name": "Jan", "type": "user"}],
    "cc": [], "bcc": [],
    "subject": "Verwijzing (EN)",
    "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}],
}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def send(call, token, message_id="msg-1", draft=None, **extra):
    return call("send_message", "POST", body={"message_id": message_id, "draft": draft or DRAFT, **extra},
                headers=auth(token))


def envelope_rows():
    return list(runtime.tables().query(storage.ENVELOPES, "PartitionKey ne ''"))


def audit_rows(event):
    return [row for row in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if row["event"] == event]


def jwks(call):
    response = call("gateway_keys", "GET")
    assert response.status_code == 200
    return json_of(response)


def test_issue10_item1_send_creates_one_signed_envelope_then_a_retry_answers_it_byte_identical(call, login,
                                                                                            sample_book):
    token = login()
    first = send(call, token)
    assert first.status_code == 201, first.get_body()
    again = send(call, token)
    assert again.status_code == 200 and again.get_body() == first.get_body()
    envelope = json_of(first)
    assert envelope["sent_by"] == envelope["sender"] == "jan@ziekenhuis-a.example"
    assert envelope["notification_language"] == "en"                            # V-M2
    assert envelope["installation_type"] == "viewer_sms_required"
    assert envelope["domain_book_version"] and envelope["policy_version"].endswith("viewer_sms_required")
    assert envelope["attachments"] == [{"name": "brief.pdf", "size": 183211}]
    assert envelope["recipients"] == [{"address": COMMUNITY, "field": "to", "category": "community",
                                       "route": "direct", "access_code": None}]
    keys = VerificationKeys.from_jwks(jwks(call))
    verify_envelope({k: v for k, v in envelope.items() if k != "headers"}, keys)
    claims = verify_stamp(envelope["headers"][HEADER_STAMP], keys, now=datetime.now(UTC))
    assert claims.envelope_id == envelope["envelope_id"] == envelope["headers"][HEADER_ENVELOPE]
    assert len(envelope_rows()) == 1
    accepted = audit_rows("send.accepted")
    assert [row["outcome"] for row in accepted] == ["created", "repeated"]
    assert accepted[0]["envelope_id"] == envelope["envelope_id"] and accepted[0]["via"] == "send"
    text = " ".join(str(v) for row in accepted for v in row.values())
    assert "huisarts-b" not in text and "ziekenhuis-a" not in text and "Verwijzing" not in text
    assert "X-SendSecure" not in text and "sst_" not in text


def test_issue10_item1_s4_same_message_id_with_another_draft_is_409(call, login, sample_book):
    token = login()
    assert send(call, token).status_code == 201
    other = send(call, token, draft={**DRAFT, "subject": "Iets anders"})
    assert other.status_code == 409 and json_of(other)["code"] == "message_id_conflict"
    assert send(call, token, message_id="msg-2", draft={**DRAFT, "subject": "Iets anders"}).status_code == 201
    assert len(envelope_rows()) == 2


def test_issue10_item1_s4_concurrent_double_clicks_make_exactly_one_envelope(call, login, sample_book):
    token = login()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: send(call, token, "double"), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.get_body() for r in responses]
    assert len({r.get_body() for r in responses}) == 1
    assert len(envelope_rows()) == 1


def test_issue10_item1_s1_a_blocking_draft_is_422_with_the_verdict_and_audited(call, login, sample_book):
    token = login()
    response = send(call, token, draft={**DRAFT, "to": [{"address": EXTERNAL}]})   # V-R3: phone required
    assert response.status_code == 422
    problem = json_of(response)
    assert problem["code"] == "draft_blocked" and response.mimetype == "application/problem+json"
    assert problem["verdict"]["can_send_secure"] is False
    assert any(f["code"] == "phone_required" for f in problem["verdict"]["findings"])
    assert envelope_rows() == []
    [row] = audit_rows("send.refused")
    assert row["reason"] == "draft_blocked"
    text = " ".join(str(v) for v in row.values())
    assert "gmail" not in text and "ziekenhuis-a" not in text and "Verwijzing" not in text


def test_issue10_item1_v_m1_empty_subject_needs_confirmation(call, login, sample_book):
    token = login()
    draft = {**DRAFT, "subject": "  "}
    refused = send(call, token, draft=draft)
    assert refused.status_code == 422 and json_of(refused)["code"] == "subject_confirmation_required"
    assert send(call, token, draft=draft, confirm_empty_subject=True).status_code == 201


def test_issue10_item1_p1_typed_phones_are_stored_and_v_r4_fallback_recorded(call, login, sample_book):
    token = login()
    draft = {**DRAFT, "to": [{"address": EXTERNAL}], "cc": [{"address": NTA}],
             "phones": {EXTERNAL: "06 12345678"}}
    response = send(call, token, draft=draft)
    assert response.status_code == 201, response.get_body()
    recipients = json_of(response)["recipients"]
    assert recipients[0] == {"address": EXTERNAL, "field": "to", "category": "external", "route": "viewer",
                             "access_code": "sms"}
    assert recipients[1]["route"] == "nta7516" and recipients[1]["fallback"] == {"route": "viewer",
                                                                                  "access_code": "sms"}
    stored = call("lookup_phones", "POST", body={"addresses": [EXTERNAL]}, headers=auth(token))
    assert json_of(stored)["phones"][0]["phone"] == "+31612345678"
    assert "612345678" not in json.dumps([dict(r) for r in envelope_rows()], default=str)


def test_issue10_item1_send_needs_a_session_and_a_message_id(call, login, sample_book):
    assert call("send_message", "POST", body={"message_id": "m", "draft": DRAFT}).status_code == 401
    token = login()
    for body in ({"draft": DRAFT}, {"message_id": "", "draft": DRAFT}, {"message_id": "m"},
                 {"message_id": "m", "draft": {**DRAFT, "to": [{"address": 7}]}}):
        response = call("send_message", "POST", body=body, headers=auth(token))
        assert response.status_code == 400, body
        assert json_of(response)["code"] == "invalid_body"
    assert json_of(call("send_message", "POST", body={"message_id": "m", "draft": {"to": [{"address": 7}]}},
                        headers=auth(token)))["errors"][0]["field"] == "draft.to[0].address"


def test_issue10_item2_on_send_allow_carries_the_envelope_and_send_then_returns_it(call, login, sample_book):
    token = login()
    response = call("check_on_send", "POST", body={**DRAFT, "message_id": "os-1"}, headers=auth(token))
    answer = json_of(response)
    assert answer["action"] == "allow" and answer["reasons"] == ["auto_send"]
    envelope = answer["envelope"]
    assert envelope["headers"][HEADER_ENVELOPE] == envelope["envelope_id"]
    again = send(call, token, "os-1")
    assert again.status_code == 200 and json_of(again) == envelope
    assert len(envelope_rows()) == 1
    [row] = audit_rows("send.accepted")[:1]
    assert row["via"] == "on_send" and row["outcome"] == "created"


def test_issue10_item2_on_send_without_a_secure_route_or_message_id_creates_none(call, login, sample_book):
    token = login()
    assert "envelope" not in json_of(call("check_on_send", "POST", body=DRAFT, headers=auth(token)))
    intercepted = json_of(call("check_on_send", "POST", body={**DRAFT, "to": [{"address": EXTERNAL}],
                                                              "message_id": "x"}, headers=auth(token)))
    assert intercepted["action"] == "intercept" and "envelope" not in intercepted
    # zorg-b: security by default off, so Outlook's Send is standard sending: no envelope
    other = login("marie@huisarts-b.example")
    answer = json_of(call("check_on_send", "POST", body={**DRAFT, "to": ["a@ziekenhuis-a.example"],
                                                         "message_id": "y"}, headers=auth(other)))
    assert answer["action"] == "allow" and answer["reasons"] == ["security_by_default_off"]
    assert "envelope" not in answer and envelope_rows() == []


def test_issue10_item4_rotation_old_envelopes_and_stamps_still_verify_against_the_jwks(call, login, sample_book):
    token = login()
    old = json_of(send(call, token, "before"))
    runtime.key_store().rotate(SIGNING_KEY)
    new = json_of(send(call, token, "after"))
    response = call("gateway_keys", "GET")
    assert response.headers["Cache-Control"].startswith("public")
    document = json_of(response)
    assert len(document["keys"]) == 2 and all("d" not in key for key in document["keys"])
    keys = VerificationKeys.from_jwks(document)
    for envelope in (old, new):
        verify_envelope({k: v for k, v in envelope.items() if k != "headers"}, keys)
        verify_stamp(envelope["headers"][HEADER_STAMP], keys, now=datetime.now(UTC))
    kid = lambda token: json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]  # noqa: E731
    assert kid(old["signature"]) != kid(new["signature"]) == document["keys"][0]["kid"]


@pytest.mark.parametrize("fail_at", range(6))
def test_issue10_item3_storage_failing_at_each_write_leaves_no_half_envelope(call, login, sample_book, monkeypatch,
                                                                             fail_at):
    """Writes of a send with a typed phone: sender index (issue 11), envelope, phone audit, phone row (P1:
    only once the send is accepted), send audit (then none)."""
    token = login()
    draft = {**DRAFT, "to": [{"address": EXTERNAL}], "phones": {EXTERNAL: "0612345678"}}
    tables = runtime.tables()
    writes = {"n": 0}
    real_insert, real_upsert = tables.insert, tables.upsert

    def failing(real):
        def write(*args, **kwargs):
            if str(args[1].get("RowKey", "")).startswith("~head."):  # an audit chain's head, written in the
                return real(*args, **kwargs)                          # background (X7): not the send's
            index = writes["n"]
            writes["n"] += 1
            if index == fail_at:
                from sendsecure.errors import DependencyUnavailable
                raise DependencyUnavailable("injected")
            return real(*args, **kwargs)
        return write

    monkeypatch.setattr(tables, "insert", failing(real_insert))
    monkeypatch.setattr(tables, "upsert", failing(real_upsert))
    first = send(call, token, "fail", draft=draft)
    monkeypatch.setattr(tables, "insert", real_insert)
    monkeypatch.setattr(tables, "upsert", real_upsert)
    assert first.status_code == (503 if fail_at < 5 else 201), first.get_body()
    rows = envelope_rows()
    if first.status_code == 503:
        assert len(rows) <= 1
        for row in rows:  # a whole one: it reads and verifies
            stored = runtime.envelopes().get(row["PartitionKey"])
            verify_envelope(stored.record, VerificationKeys.from_jwks(jwks(call)))
    retry = send(call, token, "fail", draft=draft)
    assert retry.status_code in (200, 201), retry.get_body()
    assert len(envelope_rows()) == 1
    assert stored_phone(call, token, EXTERNAL) == "+31612345678"   # the accepted retry stored it (P1)


# ----- security review of the gateway and revoke, item 3: phones are stored only for an accepted send ----

def stored_phone(call, token, address):
    answer = json_of(call("lookup_phones", "POST", body={"addresses": [address]}, headers=auth(token)))
    return answer["phones"][0]["phone"] if answer["phones"] else None


def test_p1_s4_s5_a_send_refused_with_409_leaves_the_stored_phones_as_they_were(call, login, sample_book):
    """Typed numbers are stored for the user when the send is accepted (a new envelope, or the retry
    of the same draft, 200), never by a send refused with 409: another draft under the same
    message_id (S4) or a revoked message (S5)."""
    token = login()
    draft = {**DRAFT, "to": [{"address": EXTERNAL}], "phones": {EXTERNAL: "06 12345678"}}
    assert send(call, token, "m-1", draft=draft).status_code == 201
    assert stored_phone(call, token, EXTERNAL) == "+31612345678"
    changes = len(audit_rows("phone.changed"))
    other = {**draft, "subject": "Another message", "phones": {EXTERNAL: "06 87654321"}}
    conflict = send(call, token, "m-1", draft=other)
    assert conflict.status_code == 409 and json_of(conflict)["code"] == "message_id_conflict"
    assert stored_phone(call, token, EXTERNAL) == "+31612345678"
    assert len(audit_rows("phone.changed")) == changes          # not even an attempt recorded
    # the retry of the same draft (the numbers are not part of the draft digest) is accepted: stored
    retry = send(call, token, "m-1", draft={**draft, "phones": {EXTERNAL: "06 23456789"}})
    assert retry.status_code == 200
    assert stored_phone(call, token, EXTERNAL) == "+31623456789"
    envelope_id = json_of(retry)["envelope_id"]
    revoked = call("revoke_message", "POST", body={}, headers=auth(token), route_params={"envelope_id": envelope_id})
    assert revoked.status_code == 200, revoked.get_body()
    again = send(call, token, "m-1", draft={**draft, "phones": {EXTERNAL: "06 34567890"}})
    assert again.status_code == 409 and json_of(again)["code"] == "message_revoked"
    assert stored_phone(call, token, EXTERNAL) == "+31623456789"
