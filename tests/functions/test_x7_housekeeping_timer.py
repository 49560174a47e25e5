"""SPEC X7 and S6 through the registered timer: a checkpoint whose signature does not verify stops
that tenant's sealing; the timer logs it as an error, and the tenant's administrators see an
``audit.sealed`` ``refused`` event in their log."""
from __future__ import annotations

import logging
import secrets

from azure.functions.timer import TimerRequest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.audit.chain import b64url, signed_bytes
from sendsecure.audit.trail import CHECKPOINT
from sendsecure.core.signing import signing_key_from_seed

ADMIN = "beheer@ziekenhuis-a.example"     # tests/data/tenants.json: zorg-a's administrator


def test_X7_the_timer_refuses_a_forged_checkpoint_and_the_tenant_sees_it(functions, call, login, caplog):
    other = signing_key_from_seed(secrets.token_bytes(32))   # not a key of the deployment
    forged = {"PartitionKey": "zorg-a", "RowKey": CHECKPOINT, "first_day": "20200301",
              "sealed_through": "20200305", "purged_through": "", "kid": other.kid}
    forged["signature"] = b64url(other.private_key.sign(signed_bytes(forged)))
    runtime.tables().upsert(storage.AUDIT_SEALS, forged, merge=False)
    caplog.set_level(logging.INFO)

    functions["purge_expired"].get_user_function()(TimerRequest(past_due=False))

    assert dict(runtime.tables().get(storage.AUDIT_SEALS, "zorg-a", CHECKPOINT)) == forged   # not re-signed
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("zorg-a" in e and "checkpoint_invalid" in e for e in errors), errors
    assert any("1 tenant(s) refused" in e for e in errors), errors
    assert forged["signature"] not in caplog.text

    token = login(ADMIN)
    answer = call("list_audit_events", "GET", "/api/v1/admin/audit", headers={"authorization": f"Bearer {token}"},
                  params={"limit": "1000"})
    [event] = [e for e in json_of(answer)["events"] if e["event"] == "audit.sealed"]
    assert (event["outcome"], event["details"]["reason"]) == ("refused", "checkpoint_invalid")
