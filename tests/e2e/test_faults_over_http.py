"""Issue 7 items 10 and 11 through the development host, with an Azurite of the test's own:
frozen with SIGSTOP (resumed with SIGCONT in a finally), and restarted empty."""
from __future__ import annotations

import os
import signal

import pytest
import requests
from devhost_process import start_devhost, stop_devhost
from helpers import Outbox

MAILBOX = "jan@ziekenhuis-a.example"
DRAFT = {"to": [{"address": "jan@huisarts-b.example"}], "cc": [], "bcc": [], "subject": "Verwijzing",
         "attachments": []}
ON_SEND_ANSWER_WITHIN = 2.0  # issue 7.10: the add-in's own bound, used as the client's timeout


@pytest.fixture
def own_azurite():
    from devhost.azurite import Azurite

    with Azurite() as server:
        yield server


@pytest.fixture
def host_on_own_azurite(own_azurite, tmp_path):
    # No per-worker caches of sessions or the book pointer: every on-send needs storage.
    host = start_devhost(tmp_path, {"TABLES_CONNECTION_STRING": own_azurite.connection_string,
                                    "TABLE_PREFIX": "faults", "SESSION_CACHE_SECONDS": "0",
                                    "BOOK_CHECK_SECONDS": "0"})
    yield host
    stop_devhost(host)


def log_in(host) -> dict[str, str]:
    challenge = requests.post(host.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX}, timeout=10)
    assert challenge.status_code == 202, challenge.text
    verified = requests.post(host.url("/api/v1/auth/email-code/verify"),
                             json={"challenge_id": challenge.json()["challenge_id"],
                                   "code": Outbox(host.outbox).last_code(), "device_id": "faults"}, timeout=10)
    assert verified.status_code == 200, verified.text
    return {"Authorization": f"Bearer {verified.json()['session_token']}"}


def test_issue7_item10_on_send_and_health_answer_in_time_while_storage_is_frozen(own_azurite, host_on_own_azurite):
    host = host_on_own_azurite
    auth = log_in(host)
    assert requests.post(host.url("/api/v1/drafts/on-send"), json=DRAFT, headers=auth, timeout=10).status_code == 200

    os.killpg(own_azurite.process.pid, signal.SIGSTOP)  # alive, listening, never answering
    try:
        for _ in range(3):
            # requests raises ReadTimeout if the answer does not arrive within the client's timeout.
            answer = requests.post(host.url("/api/v1/drafts/on-send"), json=DRAFT, headers=auth,
                                   timeout=ON_SEND_ANSWER_WITHIN)
            assert answer.status_code in (200, 503), answer.text
            if answer.status_code == 503:
                assert answer.json()["code"] == "dependency_unavailable"
                assert int(answer.headers["Retry-After"]) > 0
            else:
                assert answer.json()["action"] in ("allow", "intercept")
        health = requests.get(host.url("/api/v1/health"), timeout=ON_SEND_ANSWER_WITHIN + 2)  # health: 1.5 s deadline
        assert health.status_code == 503 and health.json()["storage"] == "unavailable"
    finally:
        os.killpg(own_azurite.process.pid, signal.SIGCONT)

    recovered = requests.post(host.url("/api/v1/drafts/on-send"), json=DRAFT, headers=auth, timeout=10)
    assert recovered.status_code == 200, recovered.text


def test_v_o4_on_send_answers_in_time_while_stalled_panel_requests_hold_every_function_thread(
        own_azurite, host_on_own_azurite):
    """Storage stops answering; eight panel requests (the sent list) each wait for it up to the
    storage timeout (5 s) on one of the worker's function threads (6, the Python worker's
    default here). Outlook's Send must not queue behind them: its check runs on threads of its
    own and answers (503 at worst) within its budget (V-O4, docs/operations.md)."""
    import concurrent.futures
    import time

    host = host_on_own_azurite
    auth = log_in(host)
    assert requests.post(host.url("/api/v1/drafts/on-send"), json=DRAFT, headers=auth, timeout=10).status_code == 200
    os.killpg(own_azurite.process.pid, signal.SIGSTOP)
    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            panel = [pool.submit(requests.get, host.url("/api/v1/messages"), headers=auth, timeout=30)
                     for _ in range(8)]
            time.sleep(0.3)   # the panel requests are in the worker, waiting on storage
            started = time.monotonic()
            answer = requests.post(host.url("/api/v1/drafts/on-send"), json=DRAFT, headers=auth,
                                   timeout=ON_SEND_ANSWER_WITHIN + 3)
            took = time.monotonic() - started
            assert answer.status_code in (200, 503), answer.text
            assert took < ON_SEND_ANSWER_WITHIN, f"on-send took {took:.2f} s"
            if answer.status_code == 503:
                assert answer.json()["code"] == "dependency_unavailable" and int(answer.headers["Retry-After"]) > 0
                assert answer.headers["X-Correlation-Id"]
    finally:
        os.killpg(own_azurite.process.pid, signal.SIGCONT)
    assert all(item.result().status_code in (200, 503) for item in panel)


def test_issue7_item11_storage_restarted_empty_recreates_tables_and_health_says_so(own_azurite,
                                                                                 host_on_own_azurite):
    host = host_on_own_azurite
    log_in(host)  # every table this path uses is known to the worker now
    assert requests.get(host.url("/api/v1/health"), timeout=10).json()["storage"] == "ok"

    own_azurite.stop()  # in memory: everything is gone
    own_azurite.start()  # same port, empty

    health = requests.get(host.url("/api/v1/health"), timeout=10)
    assert health.status_code == 503
    assert health.json()["storage"] == "tables_missing" and "tenants" in health.json()["missing_tables"]
    for _ in range(2):
        issued = requests.post(host.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX}, timeout=10)
        assert issued.status_code == 202, issued.text  # was 500 every time
