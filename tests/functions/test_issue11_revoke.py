"""Revoke with recall in the own organisation (issue 11 item 1; SPEC S5, S6, A4), through the
registered functions, against a local HTTPS Graph and token endpoint (tests/graphfake.py)."""
from __future__ import annotations

from graphfake import CLIENT_ID, CLIENT_SECRET
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.adapters.recall import GraphRecall
from sendsecure.revoke import MESSAGE_RECALL, MESSAGE_REVOKED

SENDER = "jan@ziekenhuis-a.example"
SHARED = "secretariaat@ziekenhuis-a.example"
COLLEAGUE = "els@ziekenhuis-a.example"
STRANGER = "kees@ziekenhuis-a.example"
OWN_1 = "arts@ziekenhuis-a.example"
OWN_2 = "piet@poli.ziekenhuis-a.example"
COMMUNITY = "jan@huisarts-b.example"
INTERNET_ID = "<AM0PR01MB6243.eurprd01.prod.o'brien@AM0PR01MB6243.eurprd01.prod.exchangelabs.com>"
DRAFT = {"to": [{"address": OWN_1, "name": "Arts", "type": "user"}, COMMUNITY],
         "cc": [OWN_2], "subject": "Verwijzing", "attachments": []}


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def send(call, token: str, message_id: str = "msg-1", sender: str | None = None) -> dict:
    draft = {**DRAFT, **({"from": sender} if sender else {})}
    response = call("send_message", "POST", body={"message_id": message_id, "draft": draft}, headers=auth(token))
    assert response.status_code == 201, response.get_body()
    return json_of(response)


def revoke(call, token: str, envelope_id: str, body: dict | None = None):
    return call("revoke_message", "POST", f"/api/v1/messages/{envelope_id}/revoke",
                body=body if body is not None else {"internet_message_id": INTERNET_ID}, headers=auth(token),
                route_params={"envelope_id": envelope_id})


def outcomes(response) -> dict[str, str]:
    return {item["address"]: item["outcome"] for item in json_of(response)["recipients"]}


def audit_rows(event: str) -> list[dict]:
    return [row for row in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if row["event"] == event]


def test_s5_sender_revokes_and_own_organisation_copies_are_recalled(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    graph.put(OWN_1, "<another@message>")
    response = revoke(call, token, envelope["envelope_id"])
    assert response.status_code == 200, response.get_body()
    answer = json_of(response)
    assert answer["envelope_id"] == envelope["envelope_id"] and answer["revoked_at"].endswith("Z")
    assert outcomes(response) == {OWN_1: "recalled", COMMUNITY: "out_of_reach", OWN_2: "not_found"}
    assert not graph.holds(OWN_1, INTERNET_ID) and graph.holds(OWN_1, "<another@message>")
    # the search asked for exactly this id (the quote doubled, OData), with an app-only token; no one
    # outside the own organisation was asked
    quoted = INTERNET_ID.replace("'", "''")
    searches = sorted((box, wanted) for method, box, wanted in graph.calls if method == "GET")
    assert searches == [(OWN_1, f"internetMessageId eq '{quoted}'"), (OWN_2, f"internetMessageId eq '{quoted}'")]
    assert [box for method, box, _ in graph.calls if method == "DELETE"] == [OWN_1]
    assert graph.token_requests == 1
    # the gateway's fetch shows the revoke
    fetched = runtime.gateway().fetch(_gateway_principal(), envelope["envelope_id"])
    assert fetched.revoked is True and fetched.revoked_at == answer["revoked_at"]
    # audited without addresses or subject
    revoked, recalled = audit_rows(MESSAGE_REVOKED), audit_rows(MESSAGE_RECALL)
    assert sorted(r["outcome"] for r in revoked) == ["requested", "revoked"]   # asked (before the mark), done
    assert {r["envelope_id"] for r in revoked} == {envelope["envelope_id"]}
    [done] = [r for r in revoked if r["outcome"] == "revoked"]
    assert done["own_organisation"] == 2 and done["recipients"] == 3
    assert recalled[0]["recalled"] == 1 and recalled[0]["not_found"] == 1 and recalled[0]["failed"] == 0
    text = " ".join(str(v) for row in revoked + recalled for v in row.values())
    assert "ziekenhuis-a" not in text and "huisarts-b" not in text and "Verwijzing" not in text
    assert "AM0PR01MB6243" not in text


def _gateway_principal():
    from sendsecure.servicecredentials import ServicePrincipal

    return ServicePrincipal(role="gateway", slot="a")


def test_s5_a4_colleague_sending_as_the_shared_mailbox_may_revoke(call, login, sample_book, graph):
    envelope = send(call, login(SENDER), sender=SHARED)
    assert envelope["sender"] == SHARED and envelope["sent_by"] == SENDER
    colleague = login(COLLEAGUE, device_id="device-2")
    assert revoke(call, colleague, envelope["envelope_id"]).status_code == 403   # not saying which mailbox
    response = revoke(call, colleague, envelope["envelope_id"], {"internet_message_id": INTERNET_ID,
                                                                  "sender": SHARED.upper()})
    assert response.status_code == 200, response.get_body()


def test_s5_a4_nobody_acts_as_a_personal_mailbox_a_colleague_claiming_it_gets_403(call, login, sample_book, graph):
    """A message From the sender's own mailbox: an own-organisation recipient sees its envelope id and
    From address in the headers; claiming to act as that mailbox must not let them revoke it."""
    token = login(SENDER)
    envelope = send(call, token)
    assert envelope["sender"] == envelope["sent_by"] == SENDER
    colleague = login(COLLEAGUE, device_id="device-2")
    for claimed in (SENDER, SENDER.upper(), f" {SENDER} "):
        response = revoke(call, colleague, envelope["envelope_id"], {"internet_message_id": INTERNET_ID,
                                                                      "sender": claimed})
        assert response.status_code == 403 and json_of(response)["code"] == "not_sender"
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at is None
    assert graph.calls == []
    assert revoke(call, token, envelope["envelope_id"],
                  {"internet_message_id": INTERNET_ID}).status_code == 200   # the sender still may


def test_s5_a_stranger_gets_403_and_nothing_changes(call, login, sample_book, graph):
    envelope = send(call, login(SENDER))
    stranger = login(STRANGER, device_id="device-3")
    response = revoke(call, stranger, envelope["envelope_id"], {"internet_message_id": INTERNET_ID,
                                                                 "sender": STRANGER})
    assert response.status_code == 403 and json_of(response)["code"] == "not_sender"
    other_tenant = login("an@huisarts-b.example", device_id="device-4")
    assert revoke(call, other_tenant, envelope["envelope_id"]).status_code == 403
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at is None
    assert graph.calls == []
    rows = audit_rows(MESSAGE_REVOKED)
    # the other tenant's attempt is in both tenants' logs: the owner's administrators see it too
    assert sorted((r["reason"], r["tenant_id"]) for r in rows) == [
        ("not_sender", "zorg-a"), ("not_sender", "zorg-a"), ("not_sender", "zorg-b")]
    assert {r["envelope_id"] for r in rows} == {envelope["envelope_id"]}


def test_s6_a_refused_revoke_of_no_envelope_writes_no_caller_text_into_the_audit(call, login, sample_book, graph):
    token = login(SENDER)
    junk = "piet.patient@gmail.com+31612345"[:32].ljust(32, "x")
    response = revoke(call, token, junk)
    assert response.status_code == 404
    [row] = audit_rows(MESSAGE_REVOKED)
    assert row["reason"] == "not_found" and row["envelope_id"] == "(not an envelope id)"


def test_s5_revoking_twice_is_409_with_the_first_outcomes(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    first = revoke(call, token, envelope["envelope_id"])
    assert first.status_code == 200
    second = revoke(call, token, envelope["envelope_id"])
    assert second.status_code == 409
    problem = json_of(second)
    assert problem["code"] == "already_revoked" and problem["revoked_at"] == json_of(first)["revoked_at"]
    assert {r["address"]: r["outcome"] for r in problem["recipients"]} == outcomes(first)
    assert len([c for c in graph.calls if c[0] == "GET"]) == 2     # the second revoke asked Graph nothing


def test_s5_unknown_or_malformed_id_is_404(call, login, graph):
    token = login(SENDER)
    for envelope_id in ("A" * 32, "not-an-id", "x" * 500):
        response = revoke(call, token, envelope_id)
        assert response.status_code == 404 and json_of(response)["code"] == "not_found"


def test_s5_bad_internet_message_id_is_400(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    response = revoke(call, token, envelope["envelope_id"], {"internet_message_id": "no angle brackets"})
    assert response.status_code == 400 and json_of(response)["errors"][0]["field"] == "internet_message_id"
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at is None


def test_s5_graph_down_marks_own_recipients_failed_but_the_revoke_stands_then_retry_failed(
        call, login, sample_book, graph, graph_ca, tmp_path, monkeypatch):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    graph.put(OWN_2, INTERNET_ID, envelope["envelope_id"])
    # Graph down: a recall pointed at a port nobody listens on
    from devhost.azurite import free_port

    nobody = f"https://127.0.0.1:{free_port()}"
    graph.other_scopes.add(f"{nobody}/.default")
    down = GraphRecall(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, authority_host=graph.base_url,
                       graph_base_url=nobody, timeout=2, max_wait_seconds=5,
                       ca_bundle=str(tmp_path / "ca.pem"))
    graph_ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    service = runtime.revocation()
    monkeypatch.setattr(service, "_recall", down)
    response = revoke(call, token, envelope["envelope_id"])
    assert response.status_code == 200
    assert outcomes(response) == {OWN_1: "failed", COMMUNITY: "out_of_reach", OWN_2: "failed"}
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at == json_of(response)["revoked_at"]
    assert json_of(revoke(call, token, envelope["envelope_id"]))["code"] == "already_revoked"
    # Graph back: retry_failed recalls only those that failed
    monkeypatch.setattr(service, "_recall", runtime.recall())
    again = revoke(call, token, envelope["envelope_id"], {"retry_failed": True})
    assert again.status_code == 200, again.get_body()
    assert outcomes(again) == {OWN_1: "recalled", COMMUNITY: "out_of_reach", OWN_2: "recalled"}
    assert json_of(again)["revoked_at"] == json_of(response)["revoked_at"]
    calls = len(graph.calls)
    nothing = revoke(call, token, envelope["envelope_id"], {"retry_failed": True})
    assert outcomes(nothing) == outcomes(again) and len(graph.calls) == calls   # nothing failed: nothing asked
    assert [r["via"] for r in audit_rows(MESSAGE_RECALL)] == ["revoke", "retry_failed"]


def test_s5_throttled_429_with_retry_after_is_retried_then_recalled(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    graph.mailboxes[OWN_2] = {}
    graph.answers = [(429, {"Retry-After": "1"})]
    response = revoke(call, token, envelope["envelope_id"])
    assert outcomes(response) == {OWN_1: "recalled", COMMUNITY: "out_of_reach", OWN_2: "not_found"}
    assert len([c for c in graph.calls if c[0] == "GET"]) == 3   # one search was throttled and asked again


def test_s5_throttled_past_the_time_budget_fails_without_waiting(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    graph.answers = [(429, {"Retry-After": "3600"}), (429, {"Retry-After": "3600"})]
    response = revoke(call, token, envelope["envelope_id"])
    assert outcomes(response) == {OWN_1: "failed", COMMUNITY: "out_of_reach", OWN_2: "failed"}
    assert graph.holds(OWN_1, INTERNET_ID)


def test_s5_nothing_found_in_any_mailbox(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.mailboxes[OWN_1] = {}
    graph.put(OWN_2, "<other@message>")
    response = revoke(call, token, envelope["envelope_id"])
    assert outcomes(response) == {OWN_1: "not_found", COMMUNITY: "out_of_reach", OWN_2: "not_found"}
    assert [c[0] for c in graph.calls] == ["GET", "GET"]


def test_s5_without_the_internet_message_id_the_revoke_stands_and_own_copies_fail(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    response = call("revoke_message", "POST", f"/api/v1/messages/{envelope['envelope_id']}/revoke", raw=b"",
                    headers={**auth(token), "content-type": ""}, route_params={"envelope_id": envelope["envelope_id"]})
    assert response.status_code == 200, response.get_body()
    assert outcomes(response)[OWN_1] == "failed" and graph.calls == []
    again = revoke(call, token, envelope["envelope_id"], {"retry_failed": True, "internet_message_id": INTERNET_ID})
    assert outcomes(again)[OWN_1] == "recalled"


def test_s5_token_refused_fails_the_recall(call, login, sample_book, graph, graph_ca, tmp_path, monkeypatch):
    token = login(SENDER)
    envelope = send(call, token)
    graph_ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    wrong = GraphRecall(client_id=CLIENT_ID, client_secret="wrong", authority_host=graph.base_url,
                        graph_base_url=graph.base_url, timeout=5, max_wait_seconds=5,
                        ca_bundle=str(tmp_path / "ca.pem"))
    monkeypatch.setattr(runtime.revocation(), "_recall", wrong)
    response = revoke(call, token, envelope["envelope_id"])
    assert outcomes(response) == {OWN_1: "failed", COMMUNITY: "out_of_reach", OWN_2: "failed"}
    graph.problems.clear()   # the refused token request is what this test makes


def test_issue11_item1_parallel_revokes_one_wins_under_the_etag(call, login, sample_book, graph):
    from concurrent.futures import ThreadPoolExecutor

    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: revoke(call, token, envelope["envelope_id"]), range(6)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    stored = runtime.envelopes().get(envelope["envelope_id"])
    assert stored.revoked_at == json_of(next(r for r in responses if r.status_code == 200))["revoked_at"]
    assert stored.recall == {OWN_1: "recalled", COMMUNITY: "out_of_reach", OWN_2: "not_found"}
    assert [c[0] for c in graph.calls].count("DELETE") == 1
    assert [r["outcome"] for r in audit_rows(MESSAGE_REVOKED)].count("revoked") == 1


def test_s5_a_revoke_naming_another_messages_internet_id_deletes_nothing(call, login, sample_book, graph):
    """The Internet message id is the add-in's word: only copies carrying this envelope's
    X-SendSecure-Envelope header are deleted, so naming an unrelated message (a board memo in a
    colleague's mailbox, or a copy of another secure message) removes nothing."""
    token = login(SENDER)
    envelope = send(call, token)
    other = send(call, token, message_id="msg-other")
    memo = "<board-memo-2026@ziekenhuis-a.example>"
    graph.put(OWN_1, memo)                                    # an ordinary message: no envelope header
    graph.put(OWN_2, memo, other["envelope_id"])              # a copy of another secure message
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])    # the real copy, left for a later revoke
    response = revoke(call, token, envelope["envelope_id"], {"internet_message_id": memo})
    assert response.status_code == 200, response.get_body()
    assert outcomes(response) == {OWN_1: "not_found", COMMUNITY: "out_of_reach", OWN_2: "not_found"}
    assert graph.holds(OWN_1, memo) and graph.holds(OWN_2, memo, other["envelope_id"])
    assert [c[0] for c in graph.calls] == ["GET", "GET"]      # searched, nothing deleted
    assert graph.holds(OWN_1, INTERNET_ID, envelope["envelope_id"])


def test_s5_retry_failed_keeps_the_internet_id_stored_at_the_first_revoke(call, login, sample_book, graph):
    token = login(SENDER)
    envelope = send(call, token)
    graph.put(OWN_1, INTERNET_ID, envelope["envelope_id"])
    graph.answers = [(403, {}), (403, {})]                    # both searches refused: outcomes failed
    first = revoke(call, token, envelope["envelope_id"])
    assert outcomes(first)[OWN_1] == "failed"
    stored = runtime.envelopes().get(envelope["envelope_id"])
    assert stored.internet_message_id == INTERNET_ID
    again = revoke(call, token, envelope["envelope_id"],
                   {"retry_failed": True, "internet_message_id": "<something-else@ziekenhuis-a.example>"})
    assert outcomes(again)[OWN_1] == "recalled"
    quoted = INTERNET_ID.replace("'", "''")
    assert {wanted for method, _, wanted in graph.calls if method == "GET"} == {f"internetMessageId eq '{quoted}'"}
    assert runtime.envelopes().get(envelope["envelope_id"]).internet_message_id == INTERNET_ID


def test_s5_a1_a_sub_address_of_the_senders_own_mailbox_is_theirs_alone(call, login, sample_book, graph):
    """From ``jan+x@`` is From jan's own mailbox (A1: a sub-address is its base mailbox): no colleague
    may revoke it by claiming that address, and the sender still may."""
    token = login(SENDER)
    sub = SENDER.replace("@", "+poli@")
    envelope = send(call, token, sender=sub)
    assert envelope["sender"] == sub and envelope["sent_by"] == SENDER
    colleague = login(COLLEAGUE, device_id="device-2")
    response = revoke(call, colleague, envelope["envelope_id"], {"internet_message_id": INTERNET_ID, "sender": sub})
    assert response.status_code == 403 and json_of(response)["code"] == "not_sender"
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at is None
    assert revoke(call, token, envelope["envelope_id"]).status_code == 200


def test_s8_a4_a_colleague_revoking_as_the_shared_mailbox_is_not_shown_the_bcc_recipients(
        call, login, sample_book, graph):
    hidden = "assistent@huisarts-b.example"
    token = login(SENDER)
    response = call("send_message", "POST", headers=auth(token), body={"message_id": "msg-bcc", "draft": {
        **DRAFT, "from": SHARED, "bcc": [hidden, OWN_1]}})    # OWN_1 is in To as well: not hidden
    assert response.status_code == 201, response.get_body()
    envelope_id = json_of(response)["envelope_id"]
    colleague = login(COLLEAGUE, device_id="device-2")
    claim = {"internet_message_id": INTERNET_ID, "sender": SHARED}
    answered = revoke(call, colleague, envelope_id, claim)
    assert answered.status_code == 200, answered.get_body()
    assert set(outcomes(answered)) == {OWN_1, COMMUNITY, OWN_2}
    again = revoke(call, colleague, envelope_id, claim)
    assert again.status_code == 409 and hidden not in again.get_body().decode()
    # the person who sent it sees every recipient, BCC included
    assert set(outcomes(revoke(call, token, envelope_id, {"retry_failed": True}))) == {OWN_1, COMMUNITY, OWN_2, hidden}


def test_s5_s4_a_revoked_message_is_not_sent_again_under_its_message_id(call, login, sample_book, graph):
    """A retry of the send (or Outlook's Send) after a revoke must not hand out the envelope again:
    the message would leave after all, and own-organisation copies delivered then are never recalled."""
    token = login(SENDER)
    envelope = send(call, token)
    assert revoke(call, token, envelope["envelope_id"]).status_code == 200
    again = call("send_message", "POST", body={"message_id": "msg-1", "draft": DRAFT}, headers=auth(token))
    assert again.status_code == 409 and json_of(again)["code"] == "message_revoked"
    own_only = {"to": [OWN_1], "cc": [OWN_2], "subject": "Verwijzing", "attachments": []}
    first = call("check_on_send", "POST", body={**own_only, "message_id": "msg-own"}, headers=auth(token))
    assert first.status_code == 200 and json_of(first)["action"] == "allow" and "envelope" in json_of(first)
    own_id = json_of(first)["envelope"]["envelope_id"]
    assert revoke(call, token, own_id).status_code == 200
    retried = call("check_on_send", "POST", body={**own_only, "message_id": "msg-own"}, headers=auth(token))
    assert retried.status_code == 409 and json_of(retried)["code"] == "message_revoked"
    # another draft under the revoked id is still the S4 conflict
    other = call("send_message", "POST", body={"message_id": "msg-1", "draft": {**DRAFT, "subject": "Anders"}},
                 headers=auth(token))
    assert other.status_code == 409 and json_of(other)["code"] == "message_id_conflict"
    assert [r["reason"] for r in audit_rows("send.refused")].count("message_revoked") == 2



def test_s6_s5_no_message_is_revoked_without_an_audit_row(call, login, sample_book, graph, monkeypatch):
    """Found by review: the mark came before the audit row, so an audit store failing then left a
    revoked message with no row saying who revoked it, and no retry could add one."""
    from sendsecure.errors import DependencyUnavailable

    token = login(SENDER)
    envelope = send(call, token)
    audit = runtime.audit_log()
    real = audit.record

    def down(event, **details):
        if event == MESSAGE_REVOKED:
            raise DependencyUnavailable("audit storage down")
        return real(event, **details)

    monkeypatch.setattr(audit, "record", down)
    response = revoke(call, token, envelope["envelope_id"])
    assert response.status_code == 503
    assert runtime.envelopes().get(envelope["envelope_id"]).revoked_at is None   # nothing changed
    monkeypatch.setattr(audit, "record", real)
    assert revoke(call, token, envelope["envelope_id"]).status_code == 200     # the retry does it all
    assert sorted(r["outcome"] for r in audit_rows(MESSAGE_REVOKED)) == ["requested", "revoked"]


# ----- security review of the gateway and revoke, item 1: refused revokes are budgeted (S6) --------

def test_s6_another_tenants_refused_revokes_write_a_bounded_number_of_rows_into_the_owners_log(
        call, login, sample_book, graph):
    """A person of zorg-b who learnt an envelope id of zorg-a (every recipient sees it in the
    headers) revokes it 60 times: the first LIMIT are 403 and a row each in both logs, the next is
    429 with Retry-After and one rate_limited row in each, the rest are 429 and only counted. The
    sender's own revoke is not held back, and another person has their own budget."""
    limit = 20                                           # REVOKE_REFUSAL_LIMIT's default
    envelope = send(call, login(SENDER))
    intruder = login("an@huisarts-b.example", device_id="device-4")
    answers = [revoke(call, intruder, envelope["envelope_id"]) for _ in range(60)]
    assert [a.status_code for a in answers] == [403] * limit + [429] * (60 - limit)
    limited = answers[-1]
    assert limited.mimetype == "application/problem+json"
    assert json_of(limited)["code"] == "rate_limited" and 1 <= int(limited.headers["Retry-After"]) <= 900
    rows = audit_rows(MESSAGE_REVOKED)
    for tenant in ("zorg-a", "zorg-b"):
        mine = [r for r in rows if r["tenant_id"] == tenant]
        assert sorted(r["outcome"] for r in mine) == ["rate_limited"] + ["refused"] * limit, tenant
        [over] = [r for r in mine if r["outcome"] == "rate_limited"]
        assert over["refused"] == "not_sender" and over["envelope_id"] == envelope["envelope_id"]
    # another person of zorg-b has a budget of their own; the sender is never held back by anyone's
    other = login("els@huisarts-b.example", device_id="device-5")
    assert revoke(call, other, envelope["envelope_id"]).status_code == 403
    assert revoke(call, login(SENDER, device_id="device-6"), envelope["envelope_id"]).status_code == 200


def test_s6_a_persons_refused_revokes_of_every_kind_share_one_budget_and_the_next_window_counts_the_rest(
        call, login, sample_book, graph, monkeypatch):
    """not_found, not_sender and already_revoked all count; past the budget the caller's own
    message can still be revoked; a later window's first row says how many went unrecorded."""
    monkeypatch.setenv("REVOKE_REFUSAL_LIMIT", "2")
    monkeypatch.setenv("REVOKE_REFUSAL_WINDOW_SECONDS", "1")
    runtime.reset()
    token = login(SENDER)
    mine, theirs = send(call, token, "msg-mine"), send(call, login(COLLEAGUE, device_id="device-2"), "msg-theirs")
    assert revoke(call, token, "A" * 32).status_code == 404
    assert revoke(call, token, theirs["envelope_id"]).status_code == 403
    assert [revoke(call, token, i).status_code for i in ("A" * 32, theirs["envelope_id"], "B" * 32)] == [429] * 3
    assert revoke(call, token, mine["envelope_id"]).status_code == 200     # allowed: never held back
    assert revoke(call, token, mine["envelope_id"]).status_code == 429     # already_revoked: a refusal
    import time
    time.sleep(1.1)
    assert revoke(call, token, mine["envelope_id"]).status_code == 409
    refused = sorted((r for r in audit_rows(MESSAGE_REVOKED) if r["outcome"] in ("refused", "rate_limited")),
                     key=lambda r: r["at"])
    assert [(r["outcome"], r.get("reason") or r.get("refused")) for r in refused] == [
        ("refused", "not_found"), ("refused", "not_sender"), ("rate_limited", "not_found"),
        ("refused", "already_revoked")]
    assert refused[-1]["suppressed_before"] == 3 and "suppressed_before" not in refused[0]
