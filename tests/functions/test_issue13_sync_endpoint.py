"""Issue 13 item 5: ``POST /api/v1/admin/domain-book/sync`` for the deployment's operator (a
``book-sync`` service credential, never a user session) and the timer, through the registered
functions."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.bookstore import CURRENT, LEASE_ROW
from sendsecure.core.clock import utcnow
from sendsecure.errors import DependencyUnavailable
from sendsecure.provision import service_credential

ROOT = Path(__file__).resolve().parents[2]
PATH = "/api/v1/admin/domain-book/sync"


@pytest.fixture
def operator(app_env, monkeypatch):
    monkeypatch.setenv("DOMAIN_BOOK_SOURCES", str(ROOT / "domainbook" / "variants.json"))
    runtime.reset()
    credential, _ = service_credential("book-sync")
    return {"authorization": f"Bearer {credential}"}


def test_issue13_item5_the_operator_syncs_now_and_sees_what_changed_per_variant(call, operator):
    first = call("sync_domain_book_now", "POST", PATH, headers=operator)
    assert first.status_code == 200, first.get_body()
    answer = json_of(first)
    variants = {v["variant"]: v for v in answer["variants"]}
    assert set(variants) == {"zorgmail", "sigra"}
    for report in variants.values():
        assert report["outcome"] == "changed" and report["previous_version"] is None
        assert report["added"] == report["entries"] > 0 and report["sources_changed"] == len(report["sources"])
    again = json_of(call("sync_domain_book_now", "POST", PATH, headers=operator))
    assert again["table_writes"] == 0
    assert all(v["outcome"] == "unchanged" and v["sources_unchanged"] == len(v["sources"]) and v["added"] == 0
               and v["version"] == variants[v["variant"]]["version"] for v in again["variants"])


def test_issue13_item5_other_credentials_and_sessions_are_refused(call, operator, login):
    gateway, _ = service_credential("gateway")
    wrong = call("sync_domain_book_now", "POST", PATH, headers={"authorization": f"Bearer {gateway}"})
    assert wrong.status_code == 403 and json_of(wrong)["code"] == "wrong_role"
    session = call("sync_domain_book_now", "POST", PATH, headers={"authorization": f"Bearer {login()}"})
    assert session.status_code == 401 and json_of(session)["code"] == "service_credential_required"
    assert call("sync_domain_book_now", "POST", PATH).status_code == 401
    with pytest.raises(DependencyUnavailable):
        runtime.books().current("zorgmail")          # nothing was synced by the refused calls


def test_issue13_item4_a_running_sync_answers_409_with_retry_after(call, operator):
    runtime.tables().insert(storage.BOOK_META, {"PartitionKey": CURRENT, "RowKey": LEASE_ROW, "holder": "timer",
                                                "expires_at": utcnow() + timedelta(minutes=5)})
    busy = call("sync_domain_book_now", "POST", PATH, headers=operator)
    assert busy.status_code == 409 and json_of(busy)["code"] == "sync_in_progress"
    assert busy.headers.get("Retry-After")


def test_issue13_item1_the_timer_syncs_every_variant(functions, operator):
    from azure.functions import TimerRequest

    class Timer(TimerRequest):
        past_due = False

    functions["sync_domain_book"].get_user_function()(Timer())
    assert runtime.books().current("zorgmail").entries and runtime.books().current("sigra").entries
    binding = [b for b in functions["sync_domain_book"].get_bindings() if b.type == "timerTrigger"][0]
    assert binding.schedule == "%BOOK_SYNC_SCHEDULE%"


def test_issue13_item5_a_book_definition_broken_after_start_is_503_not_500(call, operator, tmp_path, monkeypatch,
                                                                           caplog):
    broken = tmp_path / "variants.json"
    broken.write_text('{"zorgmail": [', "utf-8")                     # cut off while an operator edits it
    monkeypatch.setenv("DOMAIN_BOOK_SOURCES", str(broken))
    runtime.reset()

    response = call("sync_domain_book_now", "POST", PATH, headers=operator)

    assert response.status_code == 503, response.get_body()
    assert json_of(response)["code"] == "service_misconfigured"
    assert response.mimetype == "application/problem+json" and int(response.headers["Retry-After"]) >= 1
    assert "Traceback" not in caplog.text and str(broken) not in caplog.text


@pytest.mark.parametrize("timer_name, service", [("sync_domain_book", "book_sync"), ("purge_expired", "sessions")])
def test_d1_x7_a_timer_run_during_a_storage_outage_ends_with_one_warning_not_a_traceback(
        functions, app_env, monkeypatch, caplog, timer_name, service):
    """Storage unavailable when a timer fires (the outage review): the run ends quietly with one
    warning and the next scheduled run does the work; a broken configuration still raises."""
    from azure.functions import TimerRequest

    from sendsecure.errors import ServiceMisconfigured

    class Timer(TimerRequest):
        past_due = False

    class Down:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise DependencyUnavailable()
            return fail

    monkeypatch.setattr(runtime, service, lambda: Down())
    with caplog.at_level(logging.WARNING):
        functions[timer_name].get_user_function()(Timer())
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING and "skipped" in warnings[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)

    class Broken(Down):
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ServiceMisconfigured()
            return fail

    monkeypatch.setattr(runtime, service, lambda: Broken())
    with pytest.raises(ServiceMisconfigured):
        functions[timer_name].get_user_function()(Timer())
