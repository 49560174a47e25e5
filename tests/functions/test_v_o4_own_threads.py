"""On-send and health on threads of their own (``httpapi.on_own_threads``; V-O4, API.md "/health";
docs/operations.md "Storage stalls"): the answer is due counted from the request's arrival, not
from when a thread took it; what is too late is dropped; the fallback answers under the
correlation id the work uses."""
from __future__ import annotations

import asyncio
import json
import threading
import time

import azure.functions as func
from helpers import run_function

from sendsecure import context
from sendsecure.http.httpapi import endpoint, on_own_threads


def request() -> func.HttpRequest:
    return func.HttpRequest("POST", "http://127.0.0.1/api/v1/drafts/on-send", headers={}, body=b"{}")


def test_v_o4_work_that_waited_in_the_queue_gets_only_what_is_left_of_its_time():
    seen: list[tuple[float, float | None]] = []
    release = threading.Event()

    def work(req):
        seen.append((time.monotonic(), context.DEADLINE.get()))
        release.wait(5)
        return func.HttpResponse("{}", status_code=200)

    trigger = on_own_threads(endpoint(work), threads=1, within=lambda: 1.0, name="t-queue")

    async def both():
        first = asyncio.ensure_future(trigger(request()))
        await asyncio.sleep(0.05)
        arrived = time.monotonic()
        second = asyncio.ensure_future(trigger(request()))
        await asyncio.sleep(0.3)          # the second waits in the queue behind the first
        release.set()
        return arrived, await first, await second

    arrived, first, second = asyncio.run(both())
    assert first.status_code == 200 and second.status_code == 200
    assert len(seen) == 2
    started, deadline = seen[1]
    assert started >= arrived
    # its dependency calls end by its arrival + 1 s, not by when it started + 10 s (or + 1 s)
    assert deadline is not None and deadline <= arrived + 1.0


def test_v_o4_a_call_still_queued_when_its_time_is_up_never_runs_and_the_fallback_answers():
    ran: list[str] = []
    release = threading.Event()

    def work(req):
        ran.append(req.headers.get("x-which", ""))
        release.wait(5)
        return func.HttpResponse("{}", status_code=200)

    trigger = on_own_threads(endpoint(work), threads=1, within=lambda: 0.3, name="t-drop")

    async def both():
        blocked = asyncio.ensure_future(trigger(func.HttpRequest("POST", "http://h/", headers={"x-which": "a"},
                                                                 body=b"")))
        await asyncio.sleep(0.05)
        late = await trigger(func.HttpRequest("POST", "http://h/", headers={"x-which": "b"}, body=b""))
        release.set()
        return await blocked, late

    blocked, late = asyncio.run(both())
    time.sleep(0.2)                       # room for a wrongly queued call to run (it must not)
    assert late.status_code == 503 and json.loads(late.get_body())["code"] == "dependency_unavailable"
    assert int(late.headers["Retry-After"]) > 0
    assert blocked.status_code == 503     # the first answered too late as well: the fallback
    assert ran == ["a"]


def test_v_o4_the_fallback_answers_under_the_correlation_id_the_work_logs_and_audits_under():
    seen: list[str] = []
    release = threading.Event()

    def work(req):
        seen.append(context.CORRELATION_ID.get())
        release.wait(5)
        return func.HttpResponse("{}", status_code=200)

    trigger = on_own_threads(endpoint(work), threads=1, within=lambda: 0.3, name="t-cid")
    answer = asyncio.run(trigger(request()))
    release.set()
    assert answer.status_code == 503
    assert seen and answer.headers["X-Correlation-Id"] == seen[0]


def test_health_that_cannot_run_in_time_answers_503_with_the_health_body(functions, app_env, monkeypatch):
    from sendsecure.http import health

    release = threading.Event()
    monkeypatch.setattr(health, "HEALTH_DEADLINE_SECONDS", 0.2)
    monkeypatch.setattr(health, "report", lambda: release.wait(5))
    try:
        answer = run_function(functions["get_health"], func.HttpRequest("GET", "http://127.0.0.1/api/v1/health",
                                                                         headers={}, body=b""))
    finally:
        release.set()
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "10"
    body = json.loads(answer.get_body())
    assert body["status"] == "unavailable" and body["storage"] == "unavailable" and body["keys"] == "unavailable"
    assert answer.headers["X-Correlation-Id"]
