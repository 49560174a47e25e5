"""The sender's view after sending (issue 11 item 2; SPEC X6, S5): ``GET /messages/{id}`` with the
gateway's events, and ``GET /messages`` newest first, paged, through the registered functions."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.provision import service_credential

SENDER = "jan@ziekenhuis-a.example"
SHARED = "secretariaat@ziekenhuis-a.example"
COMMUNITY = "jan@huisarts-b.example"
OTHER = "els@huisarts-b.example"
DRAFT = {"to": [COMMUNITY, OTHER], "subject": "Verwijzing", "attachments": [{"name": "brief.pdf", "size": 12}]}
T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def send(call, token: str, message_id: str, *, at: datetime | None = None, sender: str | None = None,
         monkeypatch=None) -> dict:
    if at is not None:
        monkeypatch.setattr(runtime.sending(), "_clock", lambda: at)
    draft = {**DRAFT, **({"from": sender} if sender else {})}
    response = call("send_message", "POST", body={"message_id": message_id, "draft": draft}, headers=auth(token))
    assert response.status_code in (200, 201), response.get_body()
    return json_of(response)


def view(call, token: str, envelope_id: str):
    return call("get_sent_message", "GET", f"/api/v1/messages/{envelope_id}", headers=auth(token),
                route_params={"envelope_id": envelope_id})


def listing(call, token: str, **params: str):
    return call("list_sent_messages", "GET", "/api/v1/messages", headers=auth(token), params=params)


def report(call, envelope_id: str, events: list[dict]) -> None:
    credential, _ = service_credential("gateway")
    response = call("report_gateway_events", "POST", f"/api/v1/gateway/envelopes/{envelope_id}/events", body=events,
                    headers={"authorization": f"Bearer {credential}"}, route_params={"envelope_id": envelope_id})
    assert response.status_code == 202, response.get_body()


def test_x6_view_shows_the_latest_event_per_recipient_with_its_time(call, login, sample_book):
    token = login(SENDER)
    envelope = send(call, token, "m-1")
    now = datetime.now(UTC).replace(microsecond=0)
    report(call, envelope["envelope_id"], [
        {"address": COMMUNITY, "event": "delivered", "at": (now - timedelta(minutes=1)).isoformat()},
        {"address": COMMUNITY, "event": "bounced", "at": now.isoformat(), "detail": "550 5.2.2 mailbox full"},
        {"address": COMMUNITY.upper(), "event": "delivered", "at": (now - timedelta(minutes=2)).isoformat()},
    ])
    response = view(call, token, envelope["envelope_id"])
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    seen = json_of(response)
    assert seen["envelope_id"] == envelope["envelope_id"] and seen["message_id"] == "m-1"
    assert seen["sender"] == seen["sent_by"] == SENDER and seen["revoked"] is False and seen["revoked_at"] is None
    assert seen["attachments"] == [{"name": "brief.pdf", "size": 12}]
    by_address = {r["address"]: r for r in seen["recipients"]}
    assert by_address[COMMUNITY]["status"] == {"event": "bounced", "at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                               "detail": "550 5.2.2 mailbox full"}
    assert by_address[OTHER]["status"] is None and by_address[OTHER]["recall"] is None
    assert [r["address"] for r in seen["recipients"]] == [COMMUNITY, OTHER]


def test_x6_s5_view_shows_the_revoke_and_each_recall_outcome(call, login, sample_book):
    token = login(SENDER)
    envelope = send(call, token, "m-1")
    revoked = call("revoke_message", "POST", headers=auth(token), body={},
                   route_params={"envelope_id": envelope["envelope_id"]})
    assert revoked.status_code == 200
    seen = json_of(view(call, token, envelope["envelope_id"]))
    assert seen["revoked"] is True and seen["revoked_at"] == json_of(revoked)["revoked_at"]
    assert {r["address"]: r["recall"] for r in seen["recipients"]} == {COMMUNITY: "out_of_reach",
                                                                       OTHER: "out_of_reach"}


def test_x6_view_is_404_for_anyone_but_the_senders_tenant_and_mailbox(call, login, sample_book):
    token = login(SENDER)
    envelope = send(call, token, "m-1", sender=SHARED)
    assert view(call, token, envelope["envelope_id"]).status_code == 200          # the person who sent it
    for mailbox, device in (("els@ziekenhuis-a.example", "d-2"), ("an@huisarts-b.example", "d-3")):
        response = view(call, login(mailbox, device_id=device), envelope["envelope_id"])
        assert response.status_code == 404 and json_of(response)["code"] == "not_found"
    assert view(call, token, "B" * 32).status_code == 404
    assert view(call, token, "../../x").status_code == 404


def test_x6_listing_is_newest_first_and_pages_with_a_cursor(call, login, sample_book, monkeypatch):
    token = login(SENDER)
    ids = [send(call, token, f"m-{n}", at=T0 + timedelta(minutes=n), monkeypatch=monkeypatch)["envelope_id"]
           for n in range(5)]
    send(call, login("els@ziekenhuis-a.example", device_id="d-2"), "m-9", monkeypatch=monkeypatch)  # someone else's
    first = listing(call, token, limit="2")
    assert first.status_code == 200
    page = json_of(first)
    assert [m["envelope_id"] for m in page["messages"]] == [ids[4], ids[3]] and page["next_cursor"]
    assert page["messages"][0] == {"envelope_id": ids[4], "message_id": "m-4", "created_at": "2026-11-30T09:04:00Z",
                                   "sender": SENDER, "recipients": 2, "revoked_at": None}
    second = json_of(listing(call, token, limit="2", cursor=page["next_cursor"]))
    assert [m["envelope_id"] for m in second["messages"]] == [ids[2], ids[1]]
    last = json_of(listing(call, token, limit="2", cursor=second["next_cursor"]))
    assert [m["envelope_id"] for m in last["messages"]] == [ids[0]] and last["next_cursor"] is None
    since = json_of(listing(call, token, since="2026-11-30T10:03:00+01:00"))
    assert [m["envelope_id"] for m in since["messages"]] == [ids[4], ids[3]] and since["next_cursor"] is None
    assert len(json_of(listing(call, token))["messages"]) == 5


def test_x6_index_rows_without_their_envelope_or_of_a_lost_retry_are_skipped(call, login, sample_book, monkeypatch):
    token = login(SENDER)
    first = send(call, token, "m-1", at=T0, monkeypatch=monkeypatch)
    # a retry a minute later answers the stored envelope, but wrote its own index row first
    again = send(call, token, "m-1", at=T0 + timedelta(minutes=1), monkeypatch=monkeypatch)
    assert again == first
    rows = list(runtime.tables().query(storage.SENT_MESSAGES, "PartitionKey ne ''"))
    assert len(rows) == 2                      # one index write per send, before the envelope's insert
    # an index row whose envelope insert failed
    runtime.tables().upsert(storage.SENT_MESSAGES, {**rows[0], "RowKey": "0000000001." + "C" * 32,
                                                    "envelope_id": "C" * 32})
    page = json_of(listing(call, token, limit="1"))
    assert page == {"messages": [{"envelope_id": first["envelope_id"], "message_id": "m-1",
                                  "created_at": "2026-11-30T09:00:00Z", "sender": SENDER, "recipients": 2,
                                  "revoked_at": None}], "next_cursor": None}


def test_x6_listing_refuses_a_bad_query_with_400(call, login):
    token = login(SENDER)
    for params, field in (({"since": "yesterday"}, "since"), ({"since": "2026-11-30T09:00:00"}, "since"),
                          ({"limit": "0"}, "limit"), ({"limit": "51"}, "limit"), ({"limit": "x"}, "limit"),
                          ({"cursor": "' or 1 eq 1"}, "cursor"), ({"since": ""}, "since"), ({"limit": ""}, "limit"),
                          ({"cursor": ""}, "cursor"), ({"since": "2026-02-30T09:00:00Z"}, "since"),
                          # found by review: a 4,400-digit limit was a 500, impossible clamped times a 200
                          ({"limit": "1" * 4400}, "limit"), ({"since": "0000-00-00T00:00:00Z"}, "since"),
                          ({"since": "9999-99-99T99:99:99Z"}, "since"), ({"since": "3000-02-30T09:00:00Z"}, "since")):
        response = listing(call, token, **params)
        assert response.status_code == 400, params
        problem = json_of(response)
        assert problem["code"] == "invalid_query" and problem["errors"][0]["field"] == field
