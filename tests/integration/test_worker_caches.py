"""Issue 9 item 5: the per-worker cache windows of docs/operations.md, with two services standing
in for two workers on one storage and a clock the test moves (no sleeping)."""
from __future__ import annotations

import dataclasses
import json

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.errors import Unauthenticated
from sendsecure.sessions import SessionPolicy, SessionService
from sendsecure.tenantstore import TenantDirectory


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def on_clock(clock: Clock, *caches) -> None:
    for cache in caches:
        cache._clock = clock


def worker(clock: Clock, cache_seconds: float = 5) -> SessionService:
    service = SessionService(runtime.tables(), SessionPolicy(idle_seconds=3600, absolute_seconds=7200,
                                                             touch_seconds=3600, cache_seconds=cache_seconds),
                             audit_log=runtime.audit_log(), pseudonyms=runtime.pseudonyms())
    on_clock(clock, service._cache, service._unknown)
    return service


def test_issue9_item5_a_session_ended_elsewhere_lives_on_in_a_worker_for_its_window_only(app_env):
    clock = Clock()
    one, other = worker(clock), worker(clock)
    token, _ = one.create(tenant_id="zorg-a", mailbox="a@zorg-a.example", login_method="email_code", device_id="d")
    other.authenticate(token)  # now in the other worker's cache

    one.end(token)
    with pytest.raises(Unauthenticated):
        one.authenticate(token)  # the worker that ended it knows at once
    clock.now += 4.9
    assert other.authenticate(token).mailbox == "a@zorg-a.example"  # within SESSION_CACHE_SECONDS
    clock.now += 0.2
    with pytest.raises(Unauthenticated):
        other.authenticate(token)  # past it the row is read again, and it is gone


def test_issue9_item5_an_unknown_token_is_remembered_for_the_window(app_env, monkeypatch):
    clock = Clock()
    service = worker(clock)
    reads = []
    original = runtime.tables().get
    monkeypatch.setattr(runtime.tables(), "get", lambda *args: reads.append(args) or original(*args))
    for _ in range(3):
        with pytest.raises(Unauthenticated):
            service.authenticate("sst_unknown")
    assert len(reads) == 1
    clock.now += 5
    with pytest.raises(Unauthenticated):
        service.authenticate("sst_unknown")
    assert len(reads) == 2


def test_issue9_item5_session_cache_zero_reads_storage_every_time(app_env):
    clock = Clock()
    one, other = worker(clock, cache_seconds=0), worker(clock, cache_seconds=0)
    token, _ = one.create(tenant_id="zorg-a", mailbox="b@zorg-a.example", login_method="email_code", device_id="d")
    other.authenticate(token)
    one.end(token)
    with pytest.raises(Unauthenticated):
        other.authenticate(token)


def test_issue9_item5_a_tenant_removed_elsewhere_is_seen_after_the_tenant_window(app_env):
    clock = Clock()
    one, other = TenantDirectory(runtime.tables(), 60), TenantDirectory(runtime.tables(), 60)
    on_clock(clock, one._fresh, other._fresh)
    tenant = other.all()[0]
    extra = dataclasses.replace(tenant, id="zorg-extra", mail_domains=("extra.example",))
    runtime.tables().upsert(storage.TENANTS, {"PartitionKey": "tenant", "RowKey": extra.id,
                                              "definition": json.dumps(extra.to_dict())}, merge=False)
    assert other.get("zorg-extra") is None  # read a moment ago: the copy stands
    clock.now += 60
    assert other.get("zorg-extra") == extra  # TENANT_CACHE_SECONDS later it is read again
    one.remove("zorg-extra")
    assert one.get("zorg-extra") is None and other.get("zorg-extra") is not None
    clock.now += 60
    assert other.get("zorg-extra") is None
