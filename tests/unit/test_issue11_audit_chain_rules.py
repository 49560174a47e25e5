"""SPEC X7, issue 11: the chain's pure rules (canonical form, keyed hashes, chain checks) and the
tenant definition's ``administrators`` (S6: who may read the log)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sendsecure.audit.chain import (
    FIRST_DAY,
    HEAD_SLACK,
    LAST_DAY,
    ChainEnd,
    canonical,
    check_chain,
    check_head,
    day_after,
    day_before,
    day_of,
    days,
    head_entity,
    head_key,
    link,
    parse_day,
    parse_row_key,
    row_hash,
)
from sendsecure.core.tenants import parse_tenant
from sendsecure.errors import ConfigurationError

KEY = b"k" * 32
OTHER_KEY = b"o" * 32
PARTITION = "zorg-a.20261201"
WRITER = "abcdef012345"
WRITTEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def chain(count: int, key: bytes = KEY) -> list[dict]:
    rows, prev = [], ""
    for seq in range(count):
        row = link(key, {"PartitionKey": PARTITION, "event": "logout", "outcome": "ended", "n": seq,
                         "at": datetime(2026, 12, 1, 9, seq, tzinfo=UTC)}, WRITER, seq, prev)
        prev = row["hash"]
        rows.append(row)
    return rows


def test_x7_an_intact_chain_ends_at_its_last_row():
    rows = chain(4)
    assert check_chain(KEY, PARTITION, WRITER, rows) == ChainEnd(4, 3, rows[-1]["hash"])


def test_x7_the_hash_is_keyed_so_a_recomputed_chain_does_not_verify():
    forged = chain(3, OTHER_KEY)   # someone who can write the table but not read the key
    assert check_chain(KEY, PARTITION, WRITER, forged).reason == "changed"


def test_x7_canonical_form_ignores_storage_metadata_but_not_types():
    row = chain(1)[0]
    assert canonical({**row, "Timestamp": "x"}) == canonical(row)
    assert canonical({**row, "n": "0"}) != canonical(row)
    assert canonical({**row, "flag": True}) != canonical({**row, "flag": 1})


@pytest.mark.parametrize(("change", "reason", "at"), [
    (lambda rows: rows.__setitem__(1, {**rows[1], "outcome": "x"}), "changed", 1),
    (lambda rows: rows.pop(1), "removed", 1),
    (lambda rows: rows.insert(1, {**rows[1], "RowKey": rows[1]["RowKey"] + "x"}), "inserted", 1),
])
def test_x7_each_kind_of_tampering_is_named(change, reason, at):
    rows = chain(4)
    change(rows)
    found = check_chain(KEY, PARTITION, WRITER, rows)
    assert (found.reason, found.row_key) == (reason, rows[at]["RowKey"])


def test_x7_swapped_contents_are_reordered():
    rows = chain(4)
    keys = ("PartitionKey", "RowKey")
    a = {**{k: v for k, v in rows[2].items() if k not in keys}, **{k: rows[1][k] for k in keys}}
    b = {**{k: v for k, v in rows[1].items() if k not in keys}, **{k: rows[2][k] for k in keys}}
    rows[1], rows[2] = a, b
    assert check_chain(KEY, PARTITION, WRITER, rows).reason == "reordered"


def test_x7_a_head_ahead_of_the_rows_means_a_removed_tail():
    rows = chain(3)
    head = head_entity(KEY, PARTITION, WRITER, 2, rows[-1]["hash"], WRITTEN)
    end = check_chain(KEY, PARTITION, WRITER, rows[:2])
    assert check_head(KEY, PARTITION, WRITER, head, end).reason == "tail_removed"
    assert check_head(KEY, PARTITION, WRITER, head, check_chain(KEY, PARTITION, WRITER, rows)) is None
    assert check_head(KEY, PARTITION, WRITER, head, check_chain(KEY, PARTITION, WRITER, [])).reason == "chain_removed"


def test_x7_a_trailing_head_is_accepted_a_missing_wrong_or_forged_one_is_not():
    rows = chain(3)
    end = check_chain(KEY, PARTITION, WRITER, rows)
    trailing = head_entity(KEY, PARTITION, WRITER, 1, rows[1]["hash"], WRITTEN)
    assert check_head(KEY, PARTITION, WRITER, trailing, end) is None
    wrong = check_head(KEY, PARTITION, WRITER, head_entity(KEY, PARTITION, WRITER, 2, rows[1]["hash"], WRITTEN), end)
    assert (wrong.reason, wrong.row_key) == ("changed", rows[2]["RowKey"])
    assert check_head(KEY, PARTITION, WRITER, None, end).reason == "head_missing"
    forged = {**head_entity(KEY, PARTITION, WRITER, 5, "x", WRITTEN), "seq": 2}
    assert check_head(KEY, PARTITION, WRITER, forged, end).reason == "changed"
    assert row_hash(KEY, forged) != forged["hash"]


def definition(**changes):
    return {"id": "demo-zorg", "name": "Demo", "mail_domains": ["demo-zorg.example", "poli.demo-zorg.example"],
            "installation_type": "viewer", "domain_book_variant": "zorgmail", **changes}


def test_s6_issue11_administrators_default_to_none():
    assert parse_tenant(definition()).administrators == ()


def test_s6_issue11_administrators_are_normalised_and_round_trip():
    tenant = parse_tenant(definition(administrators=["Beheer@Demo-Zorg.EXAMPLE", "it@poli.demo-zorg.example"]))
    assert tenant.administrators == ("beheer@demo-zorg.example", "it@poli.demo-zorg.example")
    assert parse_tenant(tenant.to_dict()) == tenant


@pytest.mark.parametrize(("value", "message"), [
    ("beheer@demo-zorg.example", "administrators: must be a list"),
    ([7], "administrators[0]: must be a string"),
    (["not-an-address"], "administrators[0]:"),
    (["beheer@elders.example"], "administrators[0]: not within the tenant's mail_domains"),
    (["beheer+audit@demo-zorg.example"], "administrators[0]: give the mailbox without a +tag"),
    (["a@demo-zorg.example", "A@demo-zorg.example"], "administrators[1]: listed twice"),
])
def test_s6_issue11_bad_administrators_are_refused_naming_the_entry(value, message):
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]").replace("+", r"\+")):
        parse_tenant(definition(administrators=value))


# ----- security review: the day helpers at the calendar's edges, Unicode digits -------------------

def test_x7_day_of_always_has_four_year_digits():
    assert day_of(datetime(1, 1, 1, tzinfo=UTC)) == "00010101"      # strftime("%Y") gave "10101"
    assert day_of(datetime(2026, 12, 1, 23, tzinfo=UTC)) == "20261201"


def test_x7_days_stop_at_the_last_day_without_stepping_past_the_calendar():
    assert days(LAST_DAY, LAST_DAY) == [LAST_DAY] and days("99991229", LAST_DAY) == ["99991229", LAST_DAY]
    assert day_before(FIRST_DAY) == "16001231" and day_after(LAST_DAY) == "99991231"
    assert days("20261202", "20261201") == []


@pytest.mark.parametrize("text", ["00010101", "99991231", "²²²²²²²²", "٢٠٢٦١٢٠١", "20261301", "2026120", "x"])
def test_x7_a_day_outside_the_logs_days_is_refused_not_a_crash(text):
    assert parse_day(text) is None
    for helper in (day_after, day_before, lambda day: days(day, day)):
        with pytest.raises(ValueError, match="not a day"):
            helper(text)


def test_x7_a_row_key_with_unicode_digits_is_not_a_chains():
    assert parse_row_key(f"{WRITER}.{'²' * 10}") is None             # isdigit() true, int() raises
    assert parse_row_key(f"{WRITER}.{'٣' * 10}") is None             # int() would read it
    assert parse_row_key(f"{WRITER}.0000000007") == (WRITER, 7)


# ----- security review: an older head put back is found by storage's own write time ----------------

def test_x7_a_head_stored_long_after_its_writer_made_it_was_put_back():
    rows = chain(3)
    end = check_chain(KEY, PARTITION, WRITER, rows)
    head = head_entity(KEY, PARTITION, WRITER, 2, rows[-1]["hash"], WRITTEN)
    assert check_head(KEY, PARTITION, WRITER, head, end, WRITTEN + timedelta(seconds=20)) is None  # a slow write
    assert check_head(KEY, PARTITION, WRITER, head, end, WRITTEN - timedelta(seconds=50)) is None  # clocks differ
    assert check_head(KEY, PARTITION, WRITER, head, end, None) is None                            # not read
    late = check_head(KEY, PARTITION, WRITER, head, end, WRITTEN + HEAD_SLACK + timedelta(seconds=1))
    assert (late.reason, late.row_key) == ("head_rewritten", head_key(WRITER))


def test_x7_written_at_is_under_the_heads_hash():
    head = head_entity(KEY, PARTITION, WRITER, 2, "h", WRITTEN)
    moved = {**head, "written_at": WRITTEN + timedelta(hours=5)}   # to make a put-back head look fresh
    end = ChainEnd(3, 2, "h")
    assert check_head(KEY, PARTITION, WRITER, moved, end, WRITTEN + timedelta(hours=5)).reason == "changed"


def test_x7_a_head_from_before_written_at_cannot_be_checked_for_its_time():
    head = {k: v for k, v in head_entity(KEY, PARTITION, WRITER, 2, "h", WRITTEN).items() if k != "written_at"}
    head["hash"] = row_hash(KEY, head)
    assert check_head(KEY, PARTITION, WRITER, head, ChainEnd(3, 2, "h"), WRITTEN + timedelta(days=1)) is None
