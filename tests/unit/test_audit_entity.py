"""SPEC S6: the audit row format (partition per tenant and UTC day; the chain sets the row key, X7:
tests/unit/test_audit_chain.py)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sendsecure.audit import LOGIN_FAILED, audit_entity

AT = datetime(2026, 3, 14, 9, 26, 53, 589793, tzinfo=UTC)
CET = timezone(timedelta(hours=1))


def entity(at: datetime = AT, tenant_id: str | None = "demo-zorg", **details):
    return audit_entity(
        LOGIN_FAILED, tenant_id=tenant_id, actor="pseudonym-1", outcome="wrong_code", at=at,
        correlation_id="corr-1", details=details,
    )


def test_s6_partition_key_is_tenant_and_day():
    assert entity()["PartitionKey"] == "demo-zorg.20260314"


def test_s6_partition_key_without_tenant_uses_dash():
    row = entity(tenant_id=None)
    assert row["PartitionKey"] == "-.20260314"
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


def test_s6_partition_day_follows_utc_not_local_time():
    assert entity(at=datetime(2026, 4, 1, 0, 30, tzinfo=CET))["PartitionKey"] == "demo-zorg.20260331"


def test_s6_row_keys_of_unlinked_rows_are_unique():
    keys = {entity(at=AT)["RowKey"] for _ in range(2000)}
    assert len(keys) == 2000


@pytest.mark.parametrize("name", ["chain", "seq", "prev_hash", "hash"])
def test_x7_a_detail_cannot_overwrite_a_chain_field(name):
    with pytest.raises(ValueError):
        entity(**{name: "forged"})


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
