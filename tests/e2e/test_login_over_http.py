"""End to end through the development host over HTTP (SPEC A1, A3, A5; API.md)."""
from __future__ import annotations

import concurrent.futures
import subprocess

import requests
from helpers import Outbox

MAILBOX = "jan@ziekenhuis-a.example"


def log_in(devhost, mailbox=MAILBOX, device_id="e2e-device"):
    challenge = requests.post(devhost.url("/api/v1/auth/email-code"), json={"mailbox": mailbox}, timeout=10)
    assert challenge.status_code == 202
    code = Outbox(devhost.outbox).last_code()
    response = requests.post(devhost.url("/api/v1/auth/email-code/verify"),
                             json={"challenge_id": challenge.json()["challenge_id"], "code": code,
                                   "device_id": device_id}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_a1_a3_login_session_logout_and_old_token_refused(devhost):
    session = log_in(devhost)
    auth = {"Authorization": f"Bearer {session['session_token']}"}
    me = requests.get(devhost.url("/api/v1/session"), headers=auth, timeout=10)
    assert me.status_code == 200
    assert me.json()["mailbox"] == MAILBOX and me.json()["tenant_id"] == "zorg-a"
    assert me.headers["content-type"].startswith("application/json")
    assert requests.delete(devhost.url("/api/v1/session"), headers=auth, timeout=10).status_code == 204
    refused = requests.get(devhost.url("/api/v1/session"), headers=auth, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "unauthenticated"


def test_a1_mailed_code_is_a_proper_message_in_the_users_language(devhost):
    requests.post(devhost.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX},
                  headers={"Accept-Language": "en-US,en;q=0.9"}, timeout=10)
    [mail] = Outbox(devhost.outbox).messages()
    assert mail["Subject"] == "Your Send Secure sign-in code"
    assert mail["Content-Language"] == "en"
    assert {part.get_content_type() for part in mail.iter_parts()} == {"text/plain", "text/html"}


def test_a5_every_endpoint_but_login_and_health_needs_a_session(devhost):
    assert requests.get(devhost.url("/api/v1/health"), timeout=10).status_code == 200
    assert requests.get(devhost.url("/api/v1/session"), timeout=10).status_code == 401
    assert requests.delete(devhost.url("/api/v1/session"), timeout=10).status_code == 401


def test_api_problem_details_for_unknown_routes_methods_and_bad_bodies(devhost):
    cases = [
        (requests.get, "/api/v1/nope", None, 404, "not_found"),
        (requests.get, "/not-under-api", None, 404, "not_found"),
        (requests.put, "/api/v1/session", None, 405, "method_not_allowed"),
        (requests.post, "/api/v1/auth/email-code", b"{broken", 400, "invalid_body"),
        (requests.post, "/api/v1/auth/email-code", b'{"mailbox": "' + b"a" * 70000 + b'"}', 413, "payload_too_large"),
    ]
    for method, path, body, status, code in cases:
        response = method(devhost.url(path), data=body, timeout=10, headers={"Content-Type": "application/json"})
        assert response.status_code == status, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == code


def test_devhost_route_and_query_reach_the_function_and_cors_preflight_is_answered(devhost):
    preflight = requests.options(devhost.url("/api/v1/session"), timeout=10, headers={
        "Origin": "https://addin.example", "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    # Not a configured origin: no CORS grant.
    assert "access-control-allow-origin" not in preflight.headers


def test_devhost_serves_concurrent_requests(devhost):
    token = log_in(devhost)["session_token"]
    auth = {"Authorization": f"Bearer {token}"}
    with requests.Session() as http:
        def get(_):
            return http.get(devhost.url("/api/v1/session"), headers=auth, timeout=10).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(get, range(400)))
    assert statuses == [200] * 400


def test_devhost_runs_timer_functions_on_demand(devhost):
    response = requests.post(devhost.url("/admin/functions/purge_expired"), json={"input": ""}, timeout=30)
    assert response.status_code == 202
    assert requests.post(devhost.url("/admin/functions/no_such_timer"), timeout=10).status_code == 404


def test_api_storage_stopped_gives_503_with_retry_after(tmp_path):
    """The development host on an Azurite of its own, which is then stopped."""
    from devhost_process import start_devhost, stop_devhost

    from devhost.azurite import Azurite

    with Azurite() as own:
        host = start_devhost(tmp_path, {"TABLES_CONNECTION_STRING": own.connection_string,
                                        "STORAGE_TIMEOUT_SECONDS": "1", "SESSION_CACHE_SECONDS": "0"})
        try:
            token = log_in(host)["session_token"]
            own.stop()
            for response in (
                requests.get(host.url("/api/v1/session"), headers={"Authorization": f"Bearer {token}"}, timeout=30),
                requests.post(host.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX}, timeout=30),
            ):
                assert response.status_code == 503
                assert response.json()["code"] == "dependency_unavailable"
                assert int(response.headers["Retry-After"]) > 0
            health = requests.get(host.url("/api/v1/health"), timeout=30)
            assert health.status_code == 503 and health.json()["storage"] == "unavailable"
        finally:
            stop_devhost(host)


def test_devhost_starts_and_stops_its_own_azurite(tmp_path):
    """`make run`'s path: no storage configured, so the host starts Azurite and stops it on exit."""
    from devhost_process import start_devhost, stop_devhost

    host = start_devhost(tmp_path, {})
    try:
        children = subprocess.run(["pgrep", "-P", str(host.process.pid)], capture_output=True, text=True).stdout.split()
        assert children, "the development host should have started Azurite"
        assert log_in(host)["tenant_id"] == "zorg-a"
    finally:
        assert stop_devhost(host) == 0
    for pid in children:
        assert subprocess.run(["kill", "-0", pid], capture_output=True).returncode != 0, "Azurite left running"


def test_v_o1_v_o4_validate_and_on_send_over_http_with_a_session(devhost):
    auth = {"Authorization": f"Bearer {log_in(devhost)['session_token']}", "Accept-Language": "en"}
    draft = {"to": [{"address": "jan@huisarts-b.example", "name": "Jan", "type": "user"},
                    {"address": "piet@gmail.example", "name": "Piet", "type": "externalUser"}],
             "subject": "Verwijzing", "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}]}
    verdict = requests.post(devhost.url("/api/v1/drafts/validate"), json=draft, headers=auth, timeout=10).json()
    assert [r["category"] for r in verdict["recipients"]] == ["community", "external"]
    assert verdict["can_send_secure"] is False
    assert any(f["code"] == "phone_required" and "Enter a mobile number" in f["message"] for f in verdict["findings"])
    decision = requests.post(devhost.url("/api/v1/drafts/on-send"), json=draft, headers=auth, timeout=10).json()
    assert decision["action"] == "intercept"
    draft["phones"] = {"piet@gmail.example": "+31612345678"}
    decision = requests.post(devhost.url("/api/v1/drafts/on-send"), json=draft, headers=auth, timeout=10).json()
    assert decision["action"] == "intercept" and decision["verdict"]["can_send_secure"] is True
    info = requests.get(devhost.url("/api/v1/info"), headers=auth, timeout=10).json()
    assert info["domain_book"]["available"] is True


def test_p1_p4_phones_over_http_are_per_person(devhost):
    alice = {"Authorization": f"Bearer {log_in(devhost, 'alice@ziekenhuis-a.example')['session_token']}"}
    bob = {"Authorization": f"Bearer {log_in(devhost, 'bob@ziekenhuis-a.example')['session_token']}"}
    put, lookup, remove = (devhost.url(f"/api/v1/phones{p}") for p in ("", "/lookup", "/remove"))
    recipient = {"address": "piet@gmail.example"}
    stored = requests.put(put, json={**recipient, "phone": "06 12345678"}, headers=alice, timeout=10)
    assert stored.status_code == 200 and stored.json()["phone"] == "+31612345678"
    found = requests.post(lookup, json={"addresses": ["piet@gmail.example"]}, headers=alice, timeout=10).json()
    assert [p["national_format"] for p in found["phones"]] == ["06 12345678"]
    assert requests.post(lookup, json={"addresses": ["piet@gmail.example"]}, headers=bob, timeout=10).json() == \
        {"phones": []}
    assert requests.post(remove, json=recipient, headers=bob, timeout=10).status_code == 204
    assert len(requests.post(lookup, json={"addresses": ["piet@gmail.example"]}, headers=alice,
                             timeout=10).json()["phones"]) == 1
    refused = requests.put(put, json={**recipient, "phone": "+31 20 123 4567"},
                           headers={**alice, "Accept-Language": "en"}, timeout=10)
    assert refused.status_code == 422 and refused.json()["code"] == "not_mobile"
    # The old routes with the address in the path are gone.
    old_route = requests.get(devhost.url("/api/v1/phones/piet%40gmail.example"), headers=alice, timeout=10)
    assert old_route.status_code == 404
    countries = requests.get(devhost.url("/api/v1/phone-countries?lang=de"), headers=alice, timeout=10).json()
    assert [c["region"] for c in countries[:3]] == ["DE", "NL", "GB"]
