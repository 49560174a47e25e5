"""Issue 11 item 3, SPEC S6 and X7: a tenant's administrators read and verify its audit log
(API.md "Administration"): admin 200, other people of the tenant 403, no session 401; paging."""
from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage

ADMIN = "beheer@ziekenhuis-a.example"     # tests/data/tenants.json: zorg-a's administrator
USER = "jan@ziekenhuis-a.example"


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
def admin(login):
    return login(ADMIN)


def events(call, token, **params):
    return call("list_audit_events", "GET", "/api/v1/admin/audit", headers=bearer(token), params=params)


def verify(call, token, **params):
    return call("verify_audit_log", "GET", "/api/v1/admin/audit/verify", headers=bearer(token), params=params)


def test_s6_issue11_an_administrator_reads_the_tenants_events(call, admin):
    response = events(call, admin)
    assert response.status_code == 200, response.get_body()
    page = json_of(response)
    kinds = {event["event"] for event in page["events"]}
    assert {"tenant.onboarded", "login.code_requested", "login.succeeded"} <= kinds
    assert page["next_cursor"] is None
    one = next(e for e in page["events"] if e["event"] == "login.succeeded")
    assert one["actor"] == runtime.pseudonyms().of("mailbox", ADMIN) and one["correlation_id"]
    assert ADMIN not in json.dumps(page)                              # pseudonyms, no addresses
    assert response.headers["Cache-Control"] == "no-store"


def test_s6_issue11_someone_else_of_the_tenant_gets_403(call, login):
    token = login(USER)
    for response in (events(call, token), verify(call, token)):
        assert response.status_code == 403
        assert json_of(response)["code"] == "not_administrator"


def test_s6_issue11_without_a_session_401(call, app_env):
    for name, path in (("list_audit_events", "/api/v1/admin/audit"),
                       ("verify_audit_log", "/api/v1/admin/audit/verify")):
        assert call(name, "GET", path).status_code == 401


def test_s6_issue11_an_administrator_sees_only_their_own_tenant(call, admin):
    runtime.audit_log().record("phone.read", tenant_id="zorg-b", actor="someone", outcome="returned")
    page = json_of(events(call, admin))
    assert {e["event"] for e in page["events"]}                       # zorg-a's own
    assert all(e["actor"] != "someone" for e in page["events"])


def test_s6_issue11_events_are_paged_with_a_cursor(call, admin):
    log = runtime.audit_log()
    for index in range(25):
        log.record("phone.read", tenant_id="zorg-a", actor=f"p{index}", outcome="returned", n=index)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "10", **({"cursor": cursor} if cursor else {})}
        page = json_of(events(call, admin, **params))
        pages += 1
        assert len(page["events"]) <= 10
        seen += [e["details"]["n"] for e in page["events"] if e["event"] == "phone.read"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(25)) and pages >= 3


def test_s6_issue11_the_range_limits_the_events(call, admin):
    soon = datetime.now(UTC) + timedelta(minutes=1)
    later = soon + timedelta(minutes=1)
    assert json_of(events(call, admin, **{"from": soon.isoformat(), "to": later.isoformat()}))["events"] == []
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    assert json_of(events(call, admin, **{"from": yesterday}))["events"]


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"from": "2026-12-01T10:00:00"}, {"limit": "0"},
                                    {"limit": "1001"}, {"cursor": "not-a-cursor"},
                                    {"from": "2026-12-02", "to": "2026-12-01"}])
def test_s6_issue11_bad_query_parameters_are_400(call, admin, params):
    response = events(call, admin, **params)
    assert response.status_code == 400 and json_of(response)["code"] == "invalid_query"


def test_s6_issue11_a_cursor_of_another_tenant_is_refused(call, admin):
    forged = base64.urlsafe_b64encode(json.dumps(["zorg-b.20261201", "x.0000000000"]).encode()).decode().rstrip("=")
    assert events(call, admin, cursor=forged).status_code == 400


def test_x7_issue11_an_administrator_verifies_the_log(call, admin):
    response = verify(call, admin)
    assert response.status_code == 200
    answer = json_of(response)
    assert answer["intact"] is True and answer["rows"] > 0 and "first_break" not in answer


def test_x7_issue11_verify_names_the_first_break(call, admin):
    rows = [r for r in runtime.tables().query(storage.AUDIT, "tenant_id eq @t", {"t": "zorg-a"})]
    target = rows[0]
    runtime.tables().upsert(storage.AUDIT, {**dict(target), "outcome": "rewritten"}, merge=False)
    answer = json_of(verify(call, admin))
    assert answer["intact"] is False
    assert answer["first_break"] == {"partition": target["PartitionKey"], "row_key": target["RowKey"],
                                     "reason": "changed"}


def test_x7_verify_refuses_more_than_a_month(call, admin):
    response = verify(call, admin, **{"from": "2026-01-01", "to": "2026-03-01"})
    assert response.status_code == 400


def test_s6_reading_and_verifying_the_log_are_recorded(call, admin):
    events(call, admin)
    verify(call, admin)
    kinds = [r["event"] for r in runtime.tables().query(storage.AUDIT, "tenant_id eq @t", {"t": "zorg-a"})]
    assert "audit.read" in kinds and "audit.verified" in kinds


# ----- security review: odd query parameters are 400 problems, never a 500 -------------------------

def _nested_cursor(depth: int) -> str:
    return base64.urlsafe_b64encode(b"[" * depth).decode().rstrip("=")


@pytest.mark.parametrize("params, field", [
    ({"limit": "²"}, "limit"),                                        # isdigit() is true, int() raises
    ({"limit": "١٠"}, "limit"),                                       # Arabic-Indic digits: int() reads them
    ({"limit": " 10"}, "limit"),
    ({"from": "0001-01-01T00:00:00+01:00"}, "from"),                  # before year 1 in UTC
    ({"to": "9999-12-31T23:59:59-01:00"}, "to"),                      # after year 9999 in UTC
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),             # before Table Storage's dates
    ({"from": "١٢٠٢-٠١-٠١"}, "from"),
    ({"cursor": _nested_cursor(1100)}, "cursor"),                     # RecursionError in json.loads
    ({"cursor": _nested_cursor(3)}, "cursor"),
])
def test_s6_api_conventions_odd_audit_queries_are_400_invalid_query(call, admin, params, field):
    response = events(call, admin, **params)
    assert response.status_code == 400, response.get_body()
    problem = json_of(response)
    assert response.mimetype == "application/problem+json"
    assert problem["code"] == "invalid_query"
    assert problem["errors"][0]["field"] == field


@pytest.mark.parametrize("params, field", [
    ({"from": "0001-01-01", "to": "0001-01-02"}, "from"),             # day_before(first) had no day
    ({"from": "9999-12-30", "to": "9999-12-31T23:00:00Z"}, "to"),     # day_after(last) had no day
    ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
    ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
])
def test_x7_api_conventions_odd_verify_ranges_are_400_invalid_query(call, admin, params, field):
    response = verify(call, admin, **params)
    assert response.status_code == 400, response.get_body()
    problem = json_of(response)
    assert problem["code"] == "invalid_query" and problem["errors"][0]["field"] == field
