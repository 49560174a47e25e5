"""Sending through the development host over HTTP (issue 10 items 1, 2, 4; SPEC S2-S4, X3)."""
from __future__ import annotations

import concurrent.futures
from datetime import UTC, datetime

import requests
from test_login_over_http import log_in

from sendsecure.core.envelope import verify_envelope
from sendsecure.core.signing import VerificationKeys
from sendsecure.core.stamp import HEADER_STAMP, verify_stamp

DRAFT = {"to": [{"address": "jan@huisarts-b.example", "name": "Jan", "type": "user"}], "subject": "Verwijzing",
         "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}]}


def test_issue10_item1_parallel_double_clicks_over_http_give_one_envelope_that_verifies(devhost):
    auth = {"Authorization": f"Bearer {log_in(devhost)['session_token']}"}
    url = devhost.url("/api/v1/messages/send")

    def click(_):
        return requests.post(url, json={"message_id": "e2e-double", "draft": DRAFT}, headers=auth, timeout=10)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(click, range(8)))
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.content for r in responses}) == 1
    envelope = responses[0].json()
    keys = requests.get(devhost.url("/api/v1/gateway/keys"), timeout=10)
    assert keys.status_code == 200 and "public" in keys.headers["Cache-Control"]
    published = VerificationKeys.from_jwks(keys.json())
    verify_envelope({k: v for k, v in envelope.items() if k != "headers"}, published)
    verify_stamp(envelope["headers"][HEADER_STAMP], published, now=datetime.now(UTC))
    # Outlook's Send with the same message id answers the same envelope (S2: exactly one)
    decision = requests.post(devhost.url("/api/v1/drafts/on-send"), json={**DRAFT, "message_id": "e2e-double"},
                             headers=auth, timeout=10).json()
    assert decision["action"] == "allow" and decision["envelope"] == envelope
