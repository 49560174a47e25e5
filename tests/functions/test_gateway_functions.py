"""Issue 10 item 5 (S6, S9, X6): the gateway's credential, envelope fetch and delivery events,
through the registered functions on Azurite."""
from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.core.envelope import EnvelopeRecipient, Fallback, build_envelope, sign_envelope
from sendsecure.core.signing import signing_key_from_seed
from sendsecure.envelopes import StoredEnvelope, envelope_id_for
from sendsecure.provision import service_credential

SENDER = "jan@ziekenhuis-a.example"
SMS = "piet@gmail.example"
EMAIL_CODE = "marie@gmail.example"
NTA_SMS_FALLBACK = "klaas@kliniek-nta.example"
KEY = signing_key_from_seed(b"\x05" * 32)
PHONE = "+31612345678"


def stored_envelope(*, revoked_at: str | None = None, message_id: str = "m-1") -> StoredEnvelope:
    envelope_id = envelope_id_for(os.urandom(32), tenant_id="zorg-a", mailbox=SENDER, message_id=message_id)
    envelope = sign_envelope(build_envelope(
        envelope_id=envelope_id, message_id=message_id, created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        tenant_id="zorg-a", sender=SENDER, sent_by=SENDER,
        recipients=(EnvelopeRecipient("collega@ziekenhuis-a.example", "to", "own_organisation", "direct", None),
                    EnvelopeRecipient(SMS, "to", "external", "viewer", "sms"),
                    EnvelopeRecipient(NTA_SMS_FALLBACK, "cc", "nta7516", "nta7516", None, Fallback("sms")),
                    EnvelopeRecipient(EMAIL_CODE, "bcc", "external", "viewer", "email")),
        attachments=(), notification_language="nl", installation_type="viewer_sms_required",
        domain_book_version="test-v1", policy_version="rules-test", recipient_salt="A" * 43,
    ), KEY)
    record = envelope.to_dict()
    stored = StoredEnvelope(envelope_id=envelope_id, tenant_id="zorg-a", sent_by=SENDER, sender=SENDER,
                            message_id=message_id, draft_digest="d", created_at="2026-12-01T09:30:00Z",
                            record=record, headers={}, revoked_at=revoked_at)
    runtime.envelopes().save_once(stored)
    return stored


@pytest.fixture
def gateway_auth(app_env):
    credential, created = service_credential("gateway")
    assert created
    return {"authorization": f"Bearer {credential}"}


def fetch(call, envelope_id, headers, **options):
    return call("get_gateway_envelope", "GET", f"/api/v1/gateway/envelopes/{envelope_id}", headers=headers,
                route_params={"envelope_id": envelope_id}, **options)


def report(call, envelope_id, events, headers):
    return call("report_gateway_events", "POST", f"/api/v1/gateway/envelopes/{envelope_id}/events", body=events,
                headers=headers, route_params={"envelope_id": envelope_id})


def audit_rows(event):
    return list(runtime.tables().query(storage.AUDIT, "event eq @e", {"e": event}))


def store_phones(call, token, *addresses):
    for address in addresses:
        response = call("put_phone", "PUT", body={"address": address, "phone": "06 12345678"},
                        headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200


# ----- the credential ------------------------------------------------------------------------

def test_issue10_item5_credential_refusals_are_401_or_403_and_each_is_audited(call, login, gateway_auth):
    envelope = stored_envelope()
    token = login(SENDER)
    other_role, _ = service_credential("book-sync")
    wrong = gateway_auth["authorization"][:-4] + ("AAAA" if not gateway_auth["authorization"].endswith("AAAA")
                                                  else "BBBB")
    cases = [
        ({}, 401, "unauthenticated", "missing"),
        ({"authorization": f"Bearer {token}"}, 401, "service_credential_required", "session_token"),
        ({"authorization": wrong}, 401, "unauthenticated", "wrong_secret"),
        ({"authorization": "Bearer ssc_gateway.b." + "A" * 43}, 401, "unauthenticated", "unknown_credential"),
        ({"authorization": "Bearer nonsense"}, 401, "unauthenticated", "malformed"),
        ({"authorization": f"Bearer {other_role}"}, 403, "wrong_role", "wrong_role"),
    ]
    for headers, status, code, _ in cases:
        response = fetch(call, envelope.envelope_id, headers)
        assert (response.status_code, json_of(response)["code"]) == (status, code), headers
        assert PHONE not in response.get_body().decode()
    assert sorted(row["outcome"] for row in audit_rows("service.auth_failed")) == sorted(c[3] for c in cases)
    rows = json.dumps([dict(row) for row in audit_rows("service.auth_failed")], default=str)
    assert token not in rows and gateway_auth["authorization"][7:] not in rows and other_role not in rows


def test_issue10_item5_credential_is_only_made_by_provisioning_and_retiring_a_slot_ends_it(call, app_env):
    envelope_id = "x" * 32
    refused = fetch(call, envelope_id, {"authorization": "Bearer ssc_gateway.a." + "A" * 43})
    assert refused.status_code == 401   # no key was made by the request
    assert not runtime.key_store().check("service-gateway-a")
    first, created = service_credential("gateway")
    again, created_again = service_credential("gateway")
    assert created and not created_again and first == again
    assert fetch(call, envelope_id, {"authorization": f"Bearer {first}"}).status_code == 404
    second, _ = service_credential("gateway", "b")          # rotation: both work during the overlap
    assert second != first
    assert fetch(call, envelope_id, {"authorization": f"Bearer {second}"}).status_code == 404
    runtime.service_credentials().retire("gateway", "a")
    runtime.reset()                                          # another worker, or this one after verify_ttl
    assert fetch(call, envelope_id, {"authorization": f"Bearer {first}"}).status_code == 401
    assert fetch(call, envelope_id, {"authorization": f"Bearer {second}"}).status_code == 404


# ----- the fetch -------------------------------------------------------------------------------

def test_issue10_item5_fetch_has_record_revoke_state_and_phones_of_sms_recipients_only(call, login, gateway_auth):
    token = login(SENDER)
    store_phones(call, token, SMS, EMAIL_CODE, NTA_SMS_FALLBACK)
    envelope = stored_envelope()
    response = fetch(call, envelope.envelope_id, gateway_auth)
    assert response.status_code == 200, response.get_body()
    body = json_of(response)
    assert body["record"] == envelope.record and body["revoked"] is False and body["revoked_at"] is None
    assert body["phones"] == [{"address": SMS, "phone": PHONE}]
    assert response.headers["Cache-Control"] == "no-store"
    [row] = audit_rows("gateway.envelope_fetched")
    assert row["outcome"] == "returned" and row["tenant_id"] == "zorg-a" and row["actor"] == "service:gateway.a"
    assert row["phones_opened"] == 1 and row["sms_recipients"] == 1 and row["purpose"] == "delivery"
    assert row["recipients"] == runtime.pseudonyms().of("recipient:zorg-a", SMS)
    assert row["on_behalf_of"] == runtime.pseudonyms().of("mailbox", SENDER)
    text = json.dumps(dict(row), default=str)
    assert PHONE not in text and SMS not in text and SENDER not in text


def test_v_r4_s9_fallback_fetch_adds_the_nta_recipients_whose_viewer_fallback_goes_by_sms(call, login,
                                                                                            gateway_auth):
    token = login(SENDER)
    store_phones(call, token, SMS, EMAIL_CODE, NTA_SMS_FALLBACK)
    envelope = stored_envelope()

    response = call("get_gateway_envelope", "GET", f"/api/v1/gateway/envelopes/{envelope.envelope_id}",
                    headers=gateway_auth, route_params={"envelope_id": envelope.envelope_id},
                    params={"fallback": "sms"})

    assert response.status_code == 200, response.get_body()
    assert json_of(response)["phones"] == [{"address": SMS, "phone": PHONE}, {"address": NTA_SMS_FALLBACK,
                                                                              "phone": PHONE}]
    [row] = audit_rows("gateway.envelope_fetched")                # the e-mail code recipient stays closed
    assert row["purpose"] == "fallback" and row["phones_opened"] == 2 and row["sms_recipients"] == 2


def test_v_r4_s9_an_unknown_fallback_value_is_400_and_opens_nothing(call, login, gateway_auth):
    store_phones(call, login(SENDER), SMS)
    envelope = stored_envelope()
    for value in ("email", "", "SMS", "true"):
        response = call("get_gateway_envelope", "GET", "/x", headers=gateway_auth,
                        route_params={"envelope_id": envelope.envelope_id}, params={"fallback": value})
        assert response.status_code == 400 and json_of(response)["errors"][0]["field"] == "fallback", value
    assert audit_rows("gateway.envelope_fetched") == []


def test_v_r4_s9_a_revoked_envelope_opens_no_fallback_numbers_either(call, login, gateway_auth):
    store_phones(call, login(SENDER), NTA_SMS_FALLBACK)
    envelope = stored_envelope(revoked_at="2026-12-01T10:00:00Z")
    response = call("get_gateway_envelope", "GET", "/x", headers=gateway_auth,
                    route_params={"envelope_id": envelope.envelope_id}, params={"fallback": "sms"})
    assert json_of(response)["phones"] == []


def test_issue10_item5_fetch_of_a_revoked_envelope_opens_no_phones(call, login, gateway_auth):
    store_phones(call, login(SENDER), SMS)
    envelope = stored_envelope(revoked_at="2026-12-01T10:00:00Z")
    body = json_of(fetch(call, envelope.envelope_id, gateway_auth))
    assert body["revoked"] is True and body["revoked_at"] == "2026-12-01T10:00:00Z" and body["phones"] == []
    assert [row["outcome"] for row in audit_rows("gateway.envelope_fetched")] == ["revoked"]


def test_issue10_item5_unknown_envelope_is_404_and_audited(call, gateway_auth):
    for envelope_id in ("A" * 32, "not-an-id", "%2e%2e"):
        response = fetch(call, envelope_id, gateway_auth)
        assert response.status_code == 404 and json_of(response)["code"] == "not_found"
    assert [row["outcome"] for row in audit_rows("gateway.envelope_fetched")] == ["not_found"] * 3


def test_issue10_item5_a_phone_read_that_cannot_be_audited_is_not_disclosed(call, login, gateway_auth, monkeypatch):
    store_phones(call, login(SENDER), SMS)
    envelope = stored_envelope()
    runtime.gateway()

    def failing(*args, **kwargs):
        from sendsecure.errors import DependencyUnavailable

        raise DependencyUnavailable("Table Storage does not answer.")

    monkeypatch.setattr(runtime.audit_log(), "record", failing)
    response = fetch(call, envelope.envelope_id, gateway_auth)
    assert response.status_code == 503 and PHONE not in response.get_body().decode()


# ----- events ----------------------------------------------------------------------------------

def event_rows(envelope_id):
    return list(runtime.tables().query(storage.ENVELOPE_EVENTS, "PartitionKey eq @p", {"p": envelope_id}))


def test_issue10_item5_events_are_stored_once_per_recipient_event_and_time(call, gateway_auth):
    envelope = stored_envelope()
    events = [{"address": SMS, "event": "notified", "at": "2026-12-01T09:31:00Z"},
              {"address": "Piet@Gmail.Example", "event": "code_sent", "at": "2026-12-01T10:31:00+01:00"},
              {"address": "collega@ziekenhuis-a.example", "event": "delivered", "at": "2026-12-01T09:31:00Z",
               "detail": "250 2.0.0 queued"}]
    first = report(call, envelope.envelope_id, events, gateway_auth)
    assert first.status_code == 202, first.get_body()
    assert json_of(first) == {"envelope_id": envelope.envelope_id, "accepted": 3}
    same_moment = [{**events[1], "at": "2026-12-01T09:31:00Z"}]   # the same event, another spelling of its time
    assert report(call, envelope.envelope_id, events + same_moment, gateway_auth).status_code == 202
    rows = event_rows(envelope.envelope_id)
    assert len(rows) == 3
    sms_pseudonym = runtime.pseudonyms().of("recipient:zorg-a", SMS)
    assert sorted(r["event"] for r in rows if r["recipient"] == sms_pseudonym) == ["code_sent", "notified"]
    assert SMS not in json.dumps([dict(r) for r in rows], default=str)
    # A recipient's events are one key range (the sender's view reads the latest cheaply).
    prefixes = {r["RowKey"].split(".")[0] for r in rows if r["recipient"] == sms_pseudonym}
    assert len(prefixes) == 1


def test_issue10_item5_events_for_an_address_not_in_the_envelope_are_422_naming_the_item(call, gateway_auth):
    envelope = stored_envelope()
    response = report(call, envelope.envelope_id, [
        {"address": SMS, "event": "notified", "at": "2026-12-01T09:31:00Z"},
        {"address": "stranger@gmail.example", "event": "opened", "at": "2026-12-01T09:31:00Z"}], gateway_auth)
    assert response.status_code == 422 and json_of(response)["code"] == "unknown_recipient"
    assert json_of(response)["errors"] == [{"field": "[1].address", "message": "is not a recipient of this envelope"}]
    assert event_rows(envelope.envelope_id) == []   # nothing of a refused request is stored


def test_x6_an_event_before_the_message_was_sent_is_422_not_a_500(call, gateway_auth):
    envelope = stored_envelope()                                   # sent 2026-12-01T09:30:00Z
    for at in ("0001-01-01T00:00:00+01:00", "1000-01-01T00:00:00Z", "2026-12-01T09:20:00Z"):
        response = report(call, envelope.envelope_id, [{"address": SMS, "event": "notified", "at": at}], gateway_auth)
        assert response.status_code == 422 and json_of(response)["code"] == "invalid_event", at
        assert json_of(response)["errors"] == [{"field": "[0].at", "message": "is before the message was sent"}]
    assert event_rows(envelope.envelope_id) == []
    # a gateway clock a few minutes behind is fine
    ok = report(call, envelope.envelope_id, [{"address": SMS, "event": "notified", "at": "2026-12-01T09:27:00Z"}],
                gateway_auth)
    assert ok.status_code == 202, ok.get_body()


def test_issue10_item5_events_for_an_unknown_envelope_are_404_and_bad_bodies_400(call, gateway_auth):
    one = [{"address": SMS, "event": "opened", "at": "2026-12-01T09:31:00Z"}]
    assert report(call, "B" * 32, one, gateway_auth).status_code == 404
    envelope = stored_envelope()
    for body, field in [({"address": SMS}, "body"), ([{**one[0], "event": "read"}], "[0].event"),
                        ([{**one[0], "at": "2026-12-01T09:31:00"}], "[0].at"), ([], "body"),
                        ([{**one[0], "extra": 1}], "[0].extra")]:
        response = report(call, envelope.envelope_id, body, gateway_auth)
        assert response.status_code == 400, body
        assert json_of(response)["errors"][0]["field"] == field, json_of(response)


def test_issue10_item5_events_need_the_gateway_credential(call, login, gateway_auth):
    envelope = stored_envelope()
    one = [{"address": SMS, "event": "opened", "at": "2026-12-01T09:31:00Z"}]
    refused = report(call, envelope.envelope_id, one, {"authorization": f"Bearer {login(SENDER)}"})
    assert refused.status_code == 401 and json_of(refused)["code"] == "service_credential_required"
    assert event_rows(envelope.envelope_id) == []


# ----- security review item 3: refusals cannot grow the audit log without bound (S6) ----------------

def test_s6_fifty_refused_credentials_write_a_bounded_number_of_audit_rows(call, app_env):
    """50 requests without a credential from one client group: the first LIMIT are audited and
    401, the next is audited once as rate_limited and 429 with Retry-After, the rest are 429 and
    counted, not audited; another client group has its own count."""
    limit = 20                                          # SERVICE_AUTH_FAILURE_LIMIT's default
    answers = [fetch(call, "x" * 32, {}) for _ in range(50)]
    statuses = [a.status_code for a in answers]
    assert statuses == [401] * limit + [429] * (50 - limit)
    limited = answers[-1]
    assert json_of(limited)["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 900
    rows = audit_rows("service.auth_failed")
    assert len(rows) == limit + 1
    assert sorted(r["outcome"] for r in rows) == ["missing"] * limit + ["rate_limited"]
    # An IPv6 client is grouped by its /64, as login groups clients.
    v6 = [fetch(call, "x" * 32, {}, client=f"[2001:db8:1:2::{n}]:443").status_code for n in range(limit + 2)]
    assert v6 == [401] * limit + [429] * 2
    assert len(audit_rows("service.auth_failed")) == 2 * (limit + 1)


def test_s6_a_valid_credential_is_not_held_back_by_its_clients_refusals(call, gateway_auth, app_env):
    envelope = stored_envelope()
    for _ in range(30):
        fetch(call, envelope.envelope_id, {"authorization": "Bearer nonsense"})
    assert fetch(call, envelope.envelope_id, {"authorization": "Bearer nonsense"}).status_code == 429
    assert fetch(call, envelope.envelope_id, gateway_auth).status_code == 200   # the gateway, fixed


def test_s6_the_next_window_records_how_many_refusals_went_unrecorded(call, app_env, monkeypatch):
    monkeypatch.setenv("SERVICE_AUTH_FAILURE_LIMIT", "2")
    monkeypatch.setenv("SERVICE_AUTH_FAILURE_WINDOW_SECONDS", "1")
    runtime.reset()
    assert [fetch(call, "x" * 32, {}).status_code for _ in range(6)] == [401, 401, 429, 429, 429, 429]
    import time
    time.sleep(1.1)
    assert fetch(call, "x" * 32, {}).status_code == 401
    rows = sorted(audit_rows("service.auth_failed"), key=lambda r: r["seq"])
    assert [r["outcome"] for r in rows] == ["missing", "missing", "rate_limited", "missing"]
    assert rows[-1]["suppressed_before"] == 3 and "suppressed_before" not in rows[0]
