"""SPEC S6: the audit row format (partition per tenant and month, time-ordered unique row keys)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendsecure.audit import LOGIN_FAILED, audit_entity

AT = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def entity(at: datetime = AT, tenant_id: str | None = "demo-zorg", **details):
    return audit_entity(
        LOGIN_FAILED, tenant_id=tenant_id, actor="pseudonym-1", outcome="wrong_code", at=at,
        correlation_id="corr-1", details=details,
    )


def test_s6_partition_key_is_tenant_and_month():
    assert entity()["PartitionKey"] == "demo-zorg.202603"


def test_s6_partition_key_without_tenant_uses_dash():
    row = entity(tenant_id=None)
    assert row["PartitionKey"] == "-.202603"
    assert row["tenant_id"] == ""


def test_s6_row_has_what_when_who_and_correlation():
    row = entity()
    assert row["event"] == LOGIN_FAILED
    assert row["outcome"] == "wrong_code"
    assert row["actor"] == "pseudonym-1"
    assert row["tenant_id"] == "demo-zorg"
    assert row["correlation_id"] == "corr-1"
    assert row["at"] == AT


def test_s6_at_is_stored_in_utc():
    local = datetime(2026, 4, 1, 0, 30, tzinfo=CET)  # 2026-03-31 23:30 UTC
    row = entity(at=local)
    assert row["at"].utcoffset() == timedelta(0)
    assert row["at"] == local
    assert row["at"].hour == 23 and row["at"].day == 31


def test_s6_partition_month_follows_utc_not_local_time():
    assert entity(at=datetime(2026, 4, 1, 0, 30, tzinfo=CET))["PartitionKey"] == "demo-zorg.202603"


def test_s6_row_key_starts_with_utc_time():
    row = entity(at=datetime(2026, 4, 1, 0, 30, tzinfo=CET))
    assert row["RowKey"].startswith("20260331T233000000000Z-")


def test_s6_earlier_event_sorts_before_later_event():
    earlier = entity(at=AT)["RowKey"]
    later = entity(at=AT + timedelta(microseconds=1))["RowKey"]
    assert earlier < later


@given(
    first=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2999, 12, 31), timezones=st.just(UTC)),
    gap=st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=400)),
)
def test_s6_row_keys_are_time_ordered(first, gap):
    assert entity(at=first)["RowKey"] < entity(at=first + gap)["RowKey"]


def test_s6_row_keys_are_unique_for_equal_times():
    keys = {entity(at=AT)["RowKey"] for _ in range(2000)}
    assert len(keys) == 2000


def test_s6_same_instant_in_other_zone_gives_same_time_part_of_row_key():
    a = entity(at=AT)["RowKey"]
    b = entity(at=AT.astimezone(CET))["RowKey"]
    assert a.split("-")[0] == b.split("-")[0]
    assert a != b


@pytest.mark.parametrize("bad", [{"a": 1}, [1, 2], (1,), {1}, b"bytes", object(), AT])
def test_s6_detail_that_is_not_a_plain_value_raises_type_error(bad):
    with pytest.raises(TypeError):
        entity(extra=bad)


def test_s6_none_details_are_left_out():
    row = entity(reason=None, attempts=3)
    assert "reason" not in row
    assert row["attempts"] == 3


@pytest.mark.parametrize("value", ["text", 7, True, 1.5])
def test_s6_plain_details_are_kept(value):
    assert entity(detail=value)["detail"] == value


def test_issue8_item8_the_callers_correlation_id_is_kept_beside_the_servers():
    row = audit_entity(LOGIN_FAILED, tenant_id="demo-zorg", actor="p", outcome="wrong_code", at=AT,
                       correlation_id="server-made", caller_correlation_id="from-the-caller", details={})
    assert row["correlation_id"] == "server-made" and row["caller_correlation_id"] == "from-the-caller"
    with pytest.raises(ValueError):  # a detail cannot overwrite either
        entity(caller_correlation_id="forged")
