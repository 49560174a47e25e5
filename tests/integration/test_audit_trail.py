"""Issue 8 item 8: phone changes are recorded before they are made, and reads of stored numbers
are recorded (NEN 7513 access logging) without the number; against Azurite."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.core.drafts import parse_draft
from sendsecure.errors import DependencyUnavailable
from sendsecure.phonebook import PHONE_READ
from sendsecure.sessions import Session

NOW = datetime.now(UTC)
ALICE = Session(tenant_id="zorg-a", mailbox="alice@ziekenhuis-a.example", login_method="email_code",
                device_id="d", created_at=NOW, last_used_at=NOW, expires_at=NOW)
DRAFT = {"to": [{"address": "piet@gmail.example"}], "cc": [], "bcc": [], "subject": "Verwijzing", "attachments": []}


def audit_rows(event=None):
    rows = list(runtime.tables().query(storage.AUDIT, "PartitionKey ne ''"))
    return [r for r in rows if event is None or r["event"] == event]


def phone_rows():
    return list(runtime.tables().query(storage.PHONES, "PartitionKey ne ''"))


@pytest.fixture
def failing_audit(monkeypatch):
    """The audit insert fails (storage refuses the audit table) while everything else works."""
    tables = runtime.tables()
    insert_all = tables.insert_all   # the audit log writes its rows (and chain head) as one batch

    def refuse_audit(name, entities, **kwargs):
        if name == storage.AUDIT:
            raise DependencyUnavailable("audit table down")
        return insert_all(name, entities, **kwargs)

    monkeypatch.setattr(tables, "insert_all", refuse_audit)


def test_issue8_item8_a_failed_audit_insert_leaves_no_unrecorded_phone_change(app_env, failing_audit):
    with pytest.raises(DependencyUnavailable):
        runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    assert phone_rows() == []


def test_issue8_item8_a_failed_audit_insert_leaves_the_number_undeleted(app_env, monkeypatch):
    runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    tables = runtime.tables()
    insert_all = tables.insert_all   # the audit log's batch
    monkeypatch.setattr(tables, "insert_all", lambda name, entities, **kwargs: (_ for _ in ()).throw(
        DependencyUnavailable("down")) if name == storage.AUDIT else insert_all(name, entities, **kwargs))

    with pytest.raises(DependencyUnavailable):
        runtime.phonebook().delete(ALICE, "piet@gmail.example")
    assert len(phone_rows()) == 1


def test_issue8_item8_a_failed_change_after_its_record_is_recorded_as_failed(app_env, monkeypatch):
    tables = runtime.tables()
    monkeypatch.setattr(tables, "upsert", lambda *a, **k: (_ for _ in ()).throw(DependencyUnavailable("down")))
    with pytest.raises(DependencyUnavailable):
        runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    assert [r["outcome"] for r in audit_rows("phone.set")] in (["stored", "failed"], ["failed", "stored"])


def test_issue8_item8_a_phone_lookup_is_recorded_without_the_number(app_env):
    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    assert audit_rows(PHONE_READ) == []

    assert book.get(ALICE, "piet@gmail.example")["phone"] == "+31612345678"
    assert book.lookup(ALICE, ["Piet@Gmail.example", "nobody@gmail.example"]) == {"piet@gmail.example": "+31612345678"}

    reads = audit_rows(PHONE_READ)
    assert [(r["purpose"], r["count"]) for r in reads] == [("lookup", 1), ("lookup", 1)]
    recipient = runtime.pseudonyms().of("recipient:zorg-a", "piet@gmail.example")
    assert all(r["recipients"] == recipient and r["actor"] == runtime.pseudonyms().of("mailbox", ALICE.mailbox)
               for r in reads)
    text = " ".join(str(v) for r in reads for v in r.values())
    assert "612345678" not in text and "piet" not in text


def test_issue8_item8_a_lookup_of_nothing_stored_is_not_a_read(app_env):
    assert runtime.phonebook().get(ALICE, "piet@gmail.example") is None
    assert audit_rows(PHONE_READ) == []


def test_issue8_item8_a_verdict_that_uses_a_stored_number_is_recorded(app_env, sample_book):
    runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")

    verdict = runtime.validation().verdict(ALICE, parse_draft(DRAFT), "nl")

    assert verdict.can_send_secure is True  # the stored number satisfied V-R3
    [read] = audit_rows(PHONE_READ)
    assert read["purpose"] == "verdict" and read["count"] == 1 and "612345678" not in str(read)


def test_issue8_item8_a_verdict_whose_read_cannot_be_recorded_goes_without_the_number(
        app_env, sample_book, monkeypatch):
    runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    tables = runtime.tables()
    insert_all = tables.insert_all   # the audit log's batch
    monkeypatch.setattr(tables, "insert_all", lambda name, entities, **kwargs: (_ for _ in ()).throw(
        DependencyUnavailable("down")) if name == storage.AUDIT else insert_all(name, entities, **kwargs))

    assert runtime.phonebook().for_draft(ALICE, ["piet@gmail.example"]) == {}
    verdict = runtime.validation().verdict(ALICE, parse_draft(DRAFT), "nl")
    assert verdict.can_send_secure is False  # asks for the number instead of using it unrecorded
