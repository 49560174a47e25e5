"""The envelope store against Azurite: one row per envelope id, written once (issue 10 items 1, 3; S4)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.envelopes import RECORD_PART, StoredEnvelope, envelope_id_for

KEY = os.urandom(32)


def stored(message_id="m-1", digest="d1", record=None):
    envelope_id = envelope_id_for(KEY, tenant_id="zorg-a", mailbox="alice@ziekenhuis-a.example", message_id=message_id)
    return StoredEnvelope(
        envelope_id=envelope_id, tenant_id="zorg-a", sent_by="alice@ziekenhuis-a.example",
        sender="alice@ziekenhuis-a.example", message_id=message_id, draft_digest=digest,
        created_at="2026-12-01T09:30:00Z", record=record or {"envelope_id": envelope_id, "subjectless": True},
        headers={"X-SendSecure-Envelope": envelope_id, "X-SendSecure-Stamp": "a.b.c"},
    )


def test_issue10_item1_envelope_id_is_derived_fixed_length_and_per_person():
    one = envelope_id_for(KEY, tenant_id="zorg-a", mailbox="a@x.example", message_id="m")
    assert one == envelope_id_for(KEY, tenant_id="zorg-a", mailbox="a@x.example", message_id="m")
    assert len(one) == 32 and len(one) <= 40
    others = {envelope_id_for(KEY, tenant_id="zorg-b", mailbox="a@x.example", message_id="m"),
              envelope_id_for(KEY, tenant_id="zorg-a", mailbox="b@x.example", message_id="m"),
              envelope_id_for(KEY, tenant_id="zorg-a", mailbox="a@x.example", message_id="n"),
              envelope_id_for(os.urandom(32), tenant_id="zorg-a", mailbox="a@x.example", message_id="m")}
    assert one not in others and len(others) == 4


def test_issue10_item1_save_once_first_insert_wins_and_the_second_reads_it(app_env):
    store = runtime.envelopes()
    first, created = store.save_once(stored(digest="d1"))
    assert created
    again, created_again = store.save_once(stored(digest="d2"))
    assert not created_again and again == first and again.draft_digest == "d1"
    assert store.get(first.envelope_id) == first


def test_issue10_item1_concurrent_save_once_writes_one_row(app_env):
    store = runtime.envelopes()
    candidates = [stored(digest=f"d{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(store.save_once, candidates))
    assert sum(created for _, created in results) == 1
    assert len({item.draft_digest for item, _ in results}) == 1
    rows = list(runtime.tables().query(storage.ENVELOPES, "PartitionKey ne ''"))
    assert len(rows) == 1


def test_issue10_item3_a_long_record_is_split_and_read_back_whole(app_env):
    store = runtime.envelopes()
    record = {"recipients": ["ä" * 100 + "\U0001f600" * 50] * 400}
    item, _ = store.save_once(stored(record=record))
    row = runtime.tables().get(storage.ENVELOPES, item.envelope_id, "envelope")
    assert row["record_parts"] > 1 and "record" not in row
    assert all(len(row[f"record_{i}"]) <= RECORD_PART for i in range(row["record_parts"]))
    assert store.get(item.envelope_id).record == record


def test_issue10_item5_get_of_unknown_or_malformed_id_is_none(app_env):
    store = runtime.envelopes()
    assert store.get("A" * 32) is None
    assert store.get("../../etc#?") is None


def test_s5_a_long_recall_is_split_and_a_shorter_one_leaves_no_stale_parts(app_env):
    """The recall outcomes of a revoke (S5) are split like the record: 500 long addresses pass one
    property's 64 KiB; when they shrink again, no part of the longer form stays on the row."""
    import dataclasses

    store = runtime.envelopes()
    item, _ = store.save_once(stored(message_id="m-recall"))
    many = {f"{'x' * 60}{i:04d}@ziekenhuis-a.example": "failed" for i in range(500)}
    store.update(item.envelope_id, lambda current: dataclasses.replace(
        current, revoked_at="2026-12-01T10:00:00Z", revoked_by="alice@ziekenhuis-a.example", recall=many))
    row = runtime.tables().get(storage.ENVELOPES, item.envelope_id, "envelope")
    assert row["recall_parts"] > 2 and "recall" not in row
    assert store.get(item.envelope_id).recall == many
    few = {"a@ziekenhuis-a.example": "recalled"}
    store.update(item.envelope_id, lambda current: dataclasses.replace(current, recall=few))
    row = runtime.tables().get(storage.ENVELOPES, item.envelope_id, "envelope")
    assert [key for key in row if key.startswith("recall")] == ["recall"]
    assert store.get(item.envelope_id).recall == few
    # the record's own parts are untouched
    assert store.get(item.envelope_id).record == item.record
