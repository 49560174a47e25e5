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


def stored_envelope(*, revoked_at: str | None = None, message_id: str = "m-1",
                    nta_fallback: bool = True) -> StoredEnvelope:
    envelope_id = envelope_id_for(os.urandom(32), tenant_id="zorg-a", mailbox=SENDER, message_id=message_id)
    envelope = sign_envelope(build_envelope(
        envelope_id=envelope_id, message_id=message_id, created_at=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        tenant_id="zorg-a", sender=SENDER, sent_by=SENDER,
        recipients=(EnvelopeRecipient("collega@ziekenhuis-a.example", "to", "own_organisation", "direct", None),
                    EnvelopeRecipient(SMS, "to", "external", "viewer", "sms"),
                    EnvelopeRecipient(NTA_SMS_FALLBACK, "cc", "nta7516", "nta7516", None,
                                      Fallback("sms") if nta_fallback else None),
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


def test_issue10_item5_x6_events_keep_one_latest_state_row_per_recipient(call, gateway_auth):
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
    assert len(rows) == 2                      # one state row per recipient, not one per event
    sms_pseudonym = runtime.pseudonyms().of("recipient:zorg-a", SMS)
    # notified and code_sent at the same moment: the step further along (the code) is the state
    assert [r["event"] for r in rows if r["recipient"] == sms_pseudonym] == ["code_sent"]
    assert SMS not in json.dumps([dict(r) for r in rows], default=str)


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


# ----- security review of the gateway and revoke, item 2: events that fit, in order, bounded (X6, S5) ----

COLLEAGUE = "collega@ziekenhuis-a.example"   # the direct recipient of stored_envelope()


def sender_view(call, login, envelope_id):
    response = call("get_sent_message", "GET", f"/api/v1/messages/{envelope_id}",
                    headers={"authorization": f"Bearer {login(SENDER)}"}, route_params={"envelope_id": envelope_id})
    assert response.status_code == 200, response.get_body()
    return {r["address"]: r["status"] for r in json_of(response)["recipients"]}


def test_x6_v_r3_v_r4_an_event_that_does_not_fit_the_recipients_route_is_422_naming_the_event(call, gateway_auth):
    envelope = stored_envelope()
    at = "2026-12-01T09:31:00Z"
    misfits = [(COLLEAGUE, e) for e in ("relayed_nta7516", "notified", "code_sent", "opened")] + \
              [(SMS, e) for e in ("delivered", "relayed_nta7516")] + [(EMAIL_CODE, "delivered"),
                                                                       (NTA_SMS_FALLBACK, "delivered")]
    for address, event in misfits:
        response = report(call, envelope.envelope_id, [{"address": SMS, "event": "notified", "at": at},
                                                       {"address": address, "event": event, "at": at}], gateway_auth)
        assert response.status_code == 422, (address, event)
        problem = json_of(response)
        assert problem["code"] == "invalid_event" and problem["errors"][0]["field"] == "[1].event"
        assert problem["errors"][0]["message"].startswith(f"{event} does not fit the recipient's route")
    assert event_rows(envelope.envelope_id) == []                 # nothing of a refused request is stored
    fits = [(COLLEAGUE, "delivered"), (COLLEAGUE, "bounced"), (SMS, "notified"), (SMS, "code_sent"), (SMS, "opened"),
            (SMS, "bounced"), (EMAIL_CODE, "code_sent"), (NTA_SMS_FALLBACK, "relayed_nta7516"),
            # V-R4: NTA delivery failed, the message fell back to the Viewer
            (NTA_SMS_FALLBACK, "notified"), (NTA_SMS_FALLBACK, "code_sent"), (NTA_SMS_FALLBACK, "opened")]
    response = report(call, envelope.envelope_id, [{"address": a, "event": e, "at": at} for a, e in fits],
                      gateway_auth)
    assert response.status_code == 202, response.get_body()
    # an NTA-route recipient without a Viewer fallback (installation type standard) is never notified
    without = stored_envelope(message_id="m-2", nta_fallback=False)
    refused = report(call, without.envelope_id, [{"address": NTA_SMS_FALLBACK, "event": "notified", "at": at}],
                     gateway_auth)
    assert refused.status_code == 422 and json_of(refused)["errors"][0]["field"] == "[0].event"
    assert report(call, without.envelope_id, [{"address": NTA_SMS_FALLBACK, "event": "relayed_nta7516", "at": at}],
                  gateway_auth).status_code == 202


def test_x6_events_at_the_same_moment_are_shown_by_a_fixed_rank_not_by_storage_order(call, login, gateway_auth):
    """notified < code_sent < bounced < opened (and delivered < bounced): whatever order the gateway
    reports them in, in one request or several."""
    envelope = stored_envelope()
    at = "2026-12-01T09:31:00Z"
    viewer = (SMS, EMAIL_CODE, NTA_SMS_FALLBACK)
    first = [{"address": a, "event": e, "at": at} for a in viewer for e in ("opened", "notified")]
    assert report(call, envelope.envelope_id, first, gateway_auth).status_code == 202
    for event in ("code_sent", "bounced", "notified"):
        assert report(call, envelope.envelope_id, [{"address": a, "event": event, "at": at} for a in viewer],
                      gateway_auth).status_code == 202
    together = [{"address": SMS, "event": e, "at": "2026-12-01T10:30:30+01:00"} for e in ("code_sent", "notified")]
    assert report(call, envelope.envelope_id, together, gateway_auth).status_code == 202   # 30 s earlier: older
    assert report(call, envelope.envelope_id, [{"address": COLLEAGUE, "event": e, "at": at}
                                               for e in ("bounced", "delivered")], gateway_auth).status_code == 202
    shown = sender_view(call, login, envelope.envelope_id)
    assert {a: shown[a]["event"] for a in viewer} == dict.fromkeys(viewer, "opened")
    assert shown[COLLEAGUE]["event"] == "bounced"


def test_x6_a_recipients_events_are_bounded_to_one_state_row_however_many_are_reported(call, login, gateway_auth):
    """3,000 events for one recipient (the review posted 20,000 and the view read them all): one
    row; the view shows the latest, and an older event reported late does not replace it."""
    envelope = stored_envelope()
    base = datetime(2026, 12, 1, 9, 31, tzinfo=UTC)
    from datetime import timedelta

    for batch in range(3):
        events = [{"address": SMS, "event": "opened", "detail": "d" * 300,
                   "at": (base + timedelta(milliseconds=batch * 1000 + n)).isoformat()} for n in range(1000)]
        response = report(call, envelope.envelope_id, events, gateway_auth)
        assert response.status_code == 202 and json_of(response)["accepted"] == 1000
    late = report(call, envelope.envelope_id, [{"address": SMS, "event": "notified", "at": base.isoformat()},
                                               {"address": COLLEAGUE, "event": "delivered", "at": base.isoformat()}],
                  gateway_auth)
    assert late.status_code == 202
    assert len(event_rows(envelope.envelope_id)) == 2           # one per recipient that has an event
    shown = sender_view(call, login, envelope.envelope_id)
    assert shown[SMS] == {"event": "opened", "at": "2026-12-01T09:31:02.999000Z", "detail": "d" * 300}
    assert shown[COLLEAGUE]["event"] == "delivered" and shown[EMAIL_CODE] is None


def test_s5_x6_an_opening_dated_after_the_revoke_is_409_and_does_not_change_the_senders_view(
        call, login, gateway_auth):
    """S5: the Viewer stops showing a revoked message, so an opening after the revoke is refused
    (409 message_revoked naming the item; nothing of the request is stored). Within the second the
    revoke was recorded in, and before it, an opening is accepted; other events (a delivery in
    flight, a bounce of what was still queued) are accepted after it."""
    envelope = stored_envelope(revoked_at="2026-12-01T10:00:00Z")
    assert report(call, envelope.envelope_id, [{"address": SMS, "event": "opened", "at": "2026-12-01T09:59:00Z"}],
                  gateway_auth).status_code == 202
    refused = report(call, envelope.envelope_id, [
        {"address": EMAIL_CODE, "event": "notified", "at": "2026-12-01T09:58:00Z"},
        {"address": SMS, "event": "opened", "at": "2026-12-01T10:00:01Z"}], gateway_auth)
    assert refused.status_code == 409
    problem = json_of(refused)
    assert problem["code"] == "message_revoked" and problem["revoked_at"] == "2026-12-01T10:00:00Z"
    assert problem["errors"][0]["field"] == "[1].at"
    shown = sender_view(call, login, envelope.envelope_id)
    assert shown[SMS]["event"] == "opened" and shown[SMS]["at"] == "2026-12-01T09:59:00.000000Z"
    assert shown[EMAIL_CODE] is None                               # the refused request stored nothing
    accepted = [{"address": NTA_SMS_FALLBACK, "event": "opened", "at": "2026-12-01T10:00:00.500Z"},
                {"address": COLLEAGUE, "event": "delivered", "at": "2026-12-01T10:00:20Z"},
                {"address": EMAIL_CODE, "event": "bounced", "at": "2026-12-01T10:05:00Z", "detail": "revoked"}]
    assert report(call, envelope.envelope_id, accepted, gateway_auth).status_code == 202
    shown = sender_view(call, login, envelope.envelope_id)
    assert {a: shown[a]["event"] for a in (NTA_SMS_FALLBACK, COLLEAGUE, EMAIL_CODE)} == {
        NTA_SMS_FALLBACK: "opened", COLLEAGUE: "delivered", EMAIL_CODE: "bounced"}


@pytest.mark.parametrize("point_reads", [0, 4])   # the state rows read one by one, or with one partition read
def test_x6_concurrent_reports_keep_the_latest_event_under_the_etag(call, login, gateway_auth, monkeypatch,
                                                                   point_reads):
    from concurrent.futures import ThreadPoolExecutor
    from datetime import timedelta

    from sendsecure import gatewayservice

    monkeypatch.setattr(gatewayservice, "POINT_READS", point_reads)
    envelope = stored_envelope()
    base = datetime(2026, 12, 1, 9, 31, tzinfo=UTC)
    requests = [[{"address": SMS, "event": "notified", "at": (base + timedelta(seconds=n)).isoformat()},
                 {"address": COLLEAGUE, "event": "delivered", "at": (base + timedelta(seconds=n)).isoformat()}]
                for n in range(16)]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda events: report(call, envelope.envelope_id, events, gateway_auth).status_code,
                                 reversed(requests)))
    assert statuses == [202] * 16
    assert len(event_rows(envelope.envelope_id)) == 2
    shown = sender_view(call, login, envelope.envelope_id)
    assert shown[SMS]["at"] == shown[COLLEAGUE]["at"] == "2026-12-01T09:31:15.000000Z"
