"""Issue 10 (Measure): one audit row per send. The stored numbers the verdict used (V-R9) are
recorded in the send's own row (S6, NEN 7513), not in a ``phone.read`` row beside it; where no
send row is written (an on-send without an envelope) the read keeps its own row."""
from __future__ import annotations

from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.errors import DependencyUnavailable

EXTERNAL = "piet@gmail.example"
DRAFT = {"to": [{"address": EXTERNAL}], "cc": [], "bcc": [], "subject": "Verwijzing",
         "attachments": [{"name": "brief.pdf", "size": 1000, "inline": False}]}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def audit_rows(event=None):
    rows = runtime.tables().query(storage.AUDIT, "PartitionKey ne ''")
    return [row for row in rows if event is None or row["event"] == event]


def store_number(call, token):
    response = call("put_phone", "PUT", body={"address": EXTERNAL, "phone": "06 12345678"}, headers=auth(token))
    assert response.status_code == 200, response.get_body()
    return len(audit_rows())


def test_issue10_s6_v_r9_a_send_records_the_numbers_it_read_in_its_own_row(call, login, sample_book):
    token = login()
    before = store_number(call, token)

    response = call("send_message", "POST", body={"message_id": "m-1", "draft": DRAFT}, headers=auth(token))

    assert response.status_code == 201, response.get_body()
    new = [r for r in audit_rows() if r["event"] in ("send.accepted", "phone.read")]
    assert [row["event"] for row in new] == ["send.accepted"]       # one row for the send, none beside it
    [row] = new
    assert row["phones_read"] == 1 and len(row["phone_recipients"]) > 8
    assert "612345678" not in " ".join(str(v) for v in row.values()) and "gmail" not in str(dict(row))
    assert len(audit_rows()) == before + 1


def test_issue10_s6_a_refused_send_records_the_numbers_its_verdict_read(call, login, sample_book):
    token = login()
    store_number(call, token)
    draft = {**DRAFT, "subject": ""}                  # V-M1: refused, with the verdict (and its numbers)

    response = call("send_message", "POST", body={"message_id": "m-2", "draft": draft}, headers=auth(token))

    assert response.status_code == 422 and json_of(response)["code"] == "subject_confirmation_required"
    [row] = audit_rows("send.refused")
    assert row["phones_read"] == 1
    assert audit_rows("phone.read") == []


def test_issue10_s6_an_intercepted_on_send_records_its_read_in_a_phone_read_row(call, login, sample_book):
    token = login()
    store_number(call, token)

    answer = json_of(call("check_on_send", "POST", body={**DRAFT, "message_id": "os-1"}, headers=auth(token)))

    assert answer["action"] == "intercept" and "envelope" not in answer   # external: never auto-sent (V-O2)
    [read] = audit_rows("phone.read")
    assert read["purpose"] == "verdict" and read["count"] == 1
    assert audit_rows("send.accepted") == []


def test_issue10_s6_on_send_without_an_envelope_keeps_its_own_phone_read_row(call, login, sample_book):
    token = login()
    store_number(call, token)

    answer = json_of(call("check_on_send", "POST", body=DRAFT, headers=auth(token)))   # no message id: no envelope

    assert "envelope" not in answer
    [read] = audit_rows("phone.read")
    assert read["purpose"] == "verdict" and read["count"] == 1
    assert answer["verdict"]["can_send_secure"] is True                 # the stored number was used


def test_issue10_s6_on_send_whose_read_cannot_be_recorded_goes_without_the_number(call, login, sample_book,
                                                                                  monkeypatch):
    token = login()
    store_number(call, token)
    tables = runtime.tables()
    insert_all = tables.insert_all   # the audit log writes its rows (and chain head) as one batch

    def refuse_audit(name, entities, **kwargs):
        if name == storage.AUDIT:
            raise DependencyUnavailable("audit table down")
        return insert_all(name, entities, **kwargs)

    monkeypatch.setattr(tables, "insert_all", refuse_audit)
    response = call("check_on_send", "POST", body=DRAFT, headers=auth(token))

    assert response.status_code == 200, response.get_body()
    answer = json_of(response)
    assert answer["verdict"]["can_send_secure"] is False              # asks for the number, never unrecorded
    assert answer["action"] != "allow"
