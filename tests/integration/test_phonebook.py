"""Phone numbers sealed at rest under per-tenant keys, against Azurite and the key store (SPEC P4, V-R9, I2)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.phonebook import key_name
from sendsecure.sessions import Session

NOW = datetime.now(UTC)


def person(mailbox, tenant="zorg-a"):
    return Session(tenant_id=tenant, mailbox=mailbox, login_method="email_code", device_id="d",
                   created_at=NOW, last_used_at=NOW, expires_at=NOW)


ALICE, BOB = person("alice@ziekenhuis-a.example"), person("bob@ziekenhuis-a.example")
CAROL = person("carol@huisarts-b.example", "zorg-b")


def rows(tenant=None):
    everything = list(runtime.tables().query(storage.PHONES, "PartitionKey ne ''"))
    return [r for r in everything if tenant is None or r["PartitionKey"].startswith(tenant + ".")]


def test_p4_no_number_or_address_in_clear_in_the_table(app_env):
    runtime.phonebook().put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    [row] = rows()
    text = " ".join(str(v) for v in row.values())
    for secret in ("612345678", "piet", "gmail", "alice"):
        assert secret not in text
    assert row["key_version"] and row["sealed"]


def test_p4_a_sealed_number_moved_to_another_row_does_not_open(app_env):
    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    book.put(BOB, "kees@gmail.example", "0687654321", None, "nl")
    alice_row = next(r for r in rows() if r["PartitionKey"].endswith(runtime.pseudonyms().of("mailbox", ALICE.mailbox)))
    # Copy Alice's ciphertext into Bob's partition, under the row key Bob would use for piet.
    bob_partition = f"zorg-a.{runtime.pseudonyms().of('mailbox', BOB.mailbox)}"
    bob_row_key = runtime.pseudonyms().of("recipient:zorg-a", "piet@gmail.example")
    runtime.tables().upsert(storage.PHONES, {"PartitionKey": bob_partition, "RowKey": bob_row_key,
                                             "sealed": alice_row["sealed"], "key_version": alice_row["key_version"]})
    assert book.get(BOB, "piet@gmail.example") is None
    # And under another recipient of Alice herself.
    other = runtime.pseudonyms().of("recipient:zorg-a", "jan@gmail.example")
    runtime.tables().upsert(storage.PHONES, {**{k: alice_row[k] for k in ("PartitionKey", "sealed", "key_version")},
                                             "RowKey": other})
    assert book.get(ALICE, "jan@gmail.example") is None
    assert book.get(ALICE, "piet@gmail.example")["phone"] == "+31612345678"


def test_p4_a_damaged_row_is_skipped_and_the_others_still_open(app_env):
    """Found by review: one row without its key version (written outside the app) made every
    lookup and verdict of that person a 500."""
    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    [good] = rows()
    damaged = runtime.pseudonyms().of("recipient:zorg-a", "jan@gmail.example")
    runtime.tables().upsert(storage.PHONES, {"PartitionKey": good["PartitionKey"], "RowKey": damaged,
                                             "sealed": good["sealed"]})
    assert book.for_draft(ALICE, ["piet@gmail.example", "jan@gmail.example"]) == {"piet@gmail.example": "+31612345678"}
    assert book.lookup(ALICE, ["jan@gmail.example", "piet@gmail.example"]) == {"piet@gmail.example": "+31612345678"}
    assert book.get(ALICE, "jan@gmail.example") is None


def test_p4_rotation_keeps_old_records_readable_and_reseals_on_write(app_env):
    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    book.put(ALICE, "kees@gmail.example", "0687654321", None, "nl")
    old_version = rows()[0]["key_version"]
    new_version, _ = runtime.key_store().rotate(key_name("zorg-a"))
    assert new_version != old_version
    assert book.get(ALICE, "piet@gmail.example")["phone"] == "+31612345678"   # sealed with the old version
    book.put(ALICE, "piet@gmail.example", "0612345679", None, "nl")           # a write re-seals
    versions = {r["RowKey"]: r["key_version"] for r in rows()}
    assert versions[runtime.pseudonyms().of("recipient:zorg-a", "piet@gmail.example")] == new_version
    assert versions[runtime.pseudonyms().of("recipient:zorg-a", "kees@gmail.example")] == old_version
    assert book.get(ALICE, "kees@gmail.example")["phone"] == "+31687654321"


def test_p4_rotation_re_seals_every_number_so_the_old_version_can_be_retired(app_env, capsys):
    """Found by review: only a user's own write re-sealed a number, so an old key version could never
    be disabled without breaking verdicts. The operator's rotation now re-seals them all."""
    import os
    from pathlib import Path

    from sendsecure.provision import main

    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    book.put(BOB, "kees@gmail.example", "0687654321", None, "nl")
    book.put(CAROL, "anna@gmail.example", "0611111111", None, "nl")          # another tenant: untouched
    old_version = rows("zorg-a")[0]["key_version"]
    carol_before = rows("zorg-b")
    assert main(["--rotate-phone-key", "zorg-a"]) == 0
    printed = capsys.readouterr().out
    assert "re-sealed 2, already current 0, unreadable 0" in printed and "612345678" not in printed
    new_versions = {r["key_version"] for r in rows("zorg-a")}
    assert len(new_versions) == 1 and old_version not in new_versions
    assert rows("zorg-b") == carol_before
    # the old version retired (its file gone): a fresh worker still opens every number
    (Path(os.environ["LOCAL_KEY_DIR"]) / key_name("zorg-a") / f"{old_version}.key").unlink()
    runtime.reset()
    book = runtime.phonebook()
    assert book.get(ALICE, "piet@gmail.example")["phone"] == "+31612345678"
    assert book.get(BOB, "kees@gmail.example")["phone"] == "+31687654321"
    # run again: nothing to do
    assert main(["--reseal-phones", "zorg-a"]) == 0
    assert "re-sealed 0, already current 2" in capsys.readouterr().out
    audited = [r for r in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if r["event"] == "phone.resealed"]
    assert sorted(r["resealed"] for r in audited) == [0, 2] and {r["actor"] for r in audited} == {"operator"}
    assert main(["--reseal-phones", "no-such-tenant"]) == 2


def test_p4_tenants_have_their_own_keys(app_env):
    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    book.put(CAROL, "piet@gmail.example", "0612345678", None, "nl")
    keys = runtime.key_store()
    assert keys.current(key_name("zorg-a"))[1] != keys.current(key_name("zorg-b"))[1]


def test_i2_offboarding_destroys_the_key_and_the_rows(app_env):
    from sendsecure.offboard import offboard

    book = runtime.phonebook()
    book.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")
    book.put(CAROL, "piet@gmail.example", "0612345678", None, "nl")
    stolen = rows("zorg-a")[0]   # a copy of the table taken before offboarding
    result = offboard("zorg-a")
    assert result["phones"] == 1
    assert rows("zorg-a") == [] and len(rows("zorg-b")) == 1
    # The copy no longer opens: the key version that sealed it is gone.
    from sendsecure.adapters.keys import KeyNotFound

    with pytest.raises(KeyNotFound):
        runtime.key_store().version(key_name("zorg-a"), stolen["key_version"])
    runtime.tables().upsert(storage.PHONES, {k: stolen[k] for k in ("PartitionKey", "RowKey", "sealed", "key_version")})
    assert book.get(ALICE, "piet@gmail.example") is None
    assert book.get(CAROL, "piet@gmail.example")["phone"] == "+31612345678"   # the other tenant is untouched
    assert runtime.tenant_directory().get("zorg-a") is None


def test_v_r9_stored_phones_for_a_draft_are_one_partition_query(app_env, monkeypatch):
    book = runtime.phonebook()
    for n in range(30):
        book.put(ALICE, f"patient{n}@gmail.example", f"06123456{n:02d}", None, "nl")
    book.put(BOB, "patient1@gmail.example", "0687654321", None, "nl")
    tables = runtime.tables()
    queries = []
    original = tables.query
    monkeypatch.setattr(tables, "query", lambda *a, **k: queries.append(a) or original(*a, **k))
    wanted = [f"patient{n}@gmail.example" for n in range(0, 100, 2)]   # 50 addresses, 15 of them stored
    found = book.for_draft(ALICE, wanted)
    assert len(queries) == 1
    assert found == {f"patient{n}@gmail.example": f"+316123456{n:02d}" for n in range(0, 30, 2)}


def test_issue8_item1_no_row_is_sealed_under_a_key_another_worker_destroyed(app_env):
    """Two workers (own key caches, same store): one offboards, the other still holds the key."""
    from sendsecure.adapters.keys import KeyMissing, LocalKeyStore
    from sendsecure.phonebook import PhoneBook

    def worker():
        return PhoneBook(runtime.tables(), LocalKeyStore(app_env["LOCAL_KEY_DIR"]), runtime.pseudonyms(),
                         runtime.audit_log(), cache_seconds=0)

    holder, offboarder = worker(), worker()
    holder.put(ALICE, "piet@gmail.example", "0612345678", None, "nl")  # the key is in holder's memory now

    offboarder.destroy_tenant("zorg-a")

    with pytest.raises(KeyMissing):
        holder.put(ALICE, "kees@gmail.example", "0687654321", None, "nl")
    assert rows("zorg-a") == []


def test_p1_p4_a_later_entra_holders_numbers_are_their_own_partition_and_reseal_and_erase_by_person(app_env):
    """Review s20-hold F1: a later holder of an Entra mailbox has a partition of their own
    (``<tenant>.<mailbox pseudonym>.<holder>``); the operator's re-seal opens it under that binding,
    and a change of hands erases the replaced persons' partitions only."""
    from dataclasses import replace

    from sendsecure.holders import BEGINNING
    from sendsecure.phonebook import Sender

    mailbox = "eva@ziekenhuis-a.example"
    first = replace(person(mailbox), login_method="entra", holder="a" * 40, holder_since=BEGINNING)
    later = replace(person(mailbox), login_method="entra", holder="b" * 40, holder_since=NOW)
    book = runtime.phonebook()
    book.put(first, "piet@gmail.example", "0612345678", None, "nl")
    book.put(later, "piet@gmail.example", "0687654321", None, "nl")
    mailbox_pseudonym = runtime.pseudonyms().of("mailbox", mailbox)
    assert sorted(r["PartitionKey"] for r in rows()) == [f"zorg-a.{mailbox_pseudonym}",
                                                         f"zorg-a.{mailbox_pseudonym}.{'b' * 40}"]
    runtime.key_store().rotate(key_name("zorg-a"))
    assert book.reseal_tenant("zorg-a") == {"resealed": 2, "current": 0, "unreadable": 0}
    assert book.get(first, "piet@gmail.example")["phone"] == "+31612345678"
    assert book.get(later, "piet@gmail.example")["phone"] == "+31687654321"
    assert book.for_sender(Sender("zorg-a", mailbox, "b" * 40), ["piet@gmail.example"])["piet@gmail.example"][0] \
        == "+31687654321"
    assert book.erase_person("zorg-a", mailbox, {""}, count_only=True) == 1
    assert book.erase_person("zorg-a", mailbox, {"", "c" * 40}) == 1        # not the later holder's
    assert book.get(first, "piet@gmail.example") is None
    assert book.get(later, "piet@gmail.example")["phone"] == "+31687654321"
