"""Issue 11 item 3 over HTTP: the audit endpoints against their OpenAPI description with an
administrator's session (the main conformance run has a non-administrator's: 403), and the
verification of what the host wrote meanwhile."""
from __future__ import annotations

import requests
from helpers import Outbox
from test_openapi_conformance import schemathesis

ADMIN = "beheer@ziekenhuis-a.example"   # tests/data/tenants.json: zorg-a's administrator


def admin_token(devhost) -> str:
    challenge = requests.post(devhost.url("/api/v1/auth/email-code"), json={"mailbox": ADMIN}, timeout=10)
    assert challenge.status_code == 202, challenge.text
    verified = requests.post(devhost.url("/api/v1/auth/email-code/verify"), timeout=10, json={
        "challenge_id": challenge.json()["challenge_id"], "code": Outbox(devhost.outbox).last_code()})
    assert verified.status_code == 200, verified.text
    return verified.json()["session_token"]


def test_s6_x7_issue11_admin_endpoints_match_their_description_for_an_administrator(devhost):
    token = admin_token(devhost)
    run = schemathesis(devhost, token, "--include-operation-id", "list_audit_events",
                       "--include-operation-id", "verify_audit_log", examples="20")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Tested: 2" in run.stdout, run.stdout[-3000:]

    auth = {"Authorization": f"Bearer {token}"}
    page = requests.get(devhost.url("/api/v1/admin/audit"), headers=auth, params={"limit": "5"}, timeout=10)
    assert page.status_code == 200 and len(page.json()["events"]) <= 5
    verdict = requests.get(devhost.url("/api/v1/admin/audit/verify"), headers=auth, timeout=10)
    assert verdict.status_code == 200 and verdict.json()["intact"] is True, verdict.text
    log = (devhost.outbox.parent / "devhost.log").read_text()
    assert "Traceback" not in log and "unhandled" not in log
