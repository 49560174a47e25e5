"""Large recipient lists (SPEC V-R1, S2, S5): V-R1's limits are findings, not input errors.

V-R1 blocks more than 100 recipients *unless every one is in the sender's own domain*, so a message
to the whole own organisation has no limit in the rules; the back end's input bound
(``MAX_RECIPIENTS``) is Exchange Online's default per-message limit, 500, so every draft Outlook
lets a user write by default gets the rules' own answer. Revoking such a message stores a recall
outcome per recipient on the envelope row, which must fit Table Storage's 64 KiB per property.
"""
from __future__ import annotations

from helpers import json_of
from test_issue11_revoke import INTERNET_ID, auth, outcomes, revoke

from sendsecure import runtime
from sendsecure.core.models import MAX_RECIPIENTS

SENDER = "jan@ziekenhuis-a.example"


def own(count: int, long: bool = False) -> list[str]:
    """``count`` distinct own-organisation mailboxes; ``long``: 85 characters each (a local part
    of 64, the most RFC 5321 allows)."""
    if long:
        return [f"{'x' * 60}{i:04d}@ziekenhuis-a.example" for i in range(count)]
    return [f"medewerker.{i:04d}@ziekenhuis-a.example" for i in range(count)]


def community(count: int) -> list[str]:
    return [f"p{i:04d}@huisarts-b.example" for i in range(count)]


def draft(to: list[str], bcc: list[str] = ()) -> dict:
    return {"to": to, "cc": [], "bcc": list(bcc), "subject": "Rooster", "attachments": []}


def send(call, token, body_draft, message_id="many-1"):
    return call("send_message", "POST", body={"message_id": message_id, "draft": body_draft}, headers=auth(token))


def test_v_r1_500_own_organisation_recipients_are_sent_with_one_envelope(call, login, sample_book):
    token = login(SENDER)
    body = draft(own(400), bcc=own(500)[400:])
    assert MAX_RECIPIENTS == 500
    response = send(call, token, body)
    assert response.status_code == 201, response.get_body()[:500]
    envelope = json_of(response)
    assert len(envelope["recipients"]) == 500
    assert {r["category"] for r in envelope["recipients"]} == {"own_organisation"}
    # stored whole (the record is split over several properties) and read back as sent
    stored = runtime.envelopes().get(envelope["envelope_id"])
    assert stored is not None and stored.response() == envelope
    # the retry answers the same envelope
    again = send(call, token, body)
    assert again.status_code == 200 and json_of(again) == envelope


def test_v_r1_above_100_recipients_not_all_own_is_the_rules_block_not_an_input_error(call, login, sample_book):
    token = login(SENDER)
    body = draft(own(200) + community(101))
    verdict = call("validate_draft", "POST", body=body, headers=auth(token))
    assert verdict.status_code == 200, verdict.get_body()[:500]
    codes = {finding["code"] for finding in json_of(verdict)["findings"]}
    assert "too_many_recipients" in codes
    response = send(call, token, body)
    assert response.status_code == 422
    assert "too_many_recipients" in {finding["code"] for finding in json_of(response)["verdict"]["findings"]}


def test_v_r1_input_bound_above_exchanges_500_is_400_naming_the_field(call, login, sample_book):
    token = login(SENDER)
    response = call("validate_draft", "POST", body=draft(own(MAX_RECIPIENTS + 1)), headers=auth(token))
    assert response.status_code == 400
    problem = json_of(response)
    assert problem["errors"][0]["field"] == "to" and str(MAX_RECIPIENTS) in problem["errors"][0]["message"]


def test_s5_revoking_a_message_to_500_long_own_addresses_stores_every_recall_outcome(call, login, sample_book,
                                                                                     graph):
    """500 outcomes of 85-character addresses are about 50,000 characters of JSON: more than one
    string property holds (32,768 UTF-16 units)."""
    count = MAX_RECIPIENTS
    token = login(SENDER)
    recipients = own(count, long=True)
    response = send(call, token, draft(recipients), message_id=f"many-revoke-{count}")
    assert response.status_code == 201, [f["code"] for f in json_of(response).get("verdict", {}).get("findings", [])]
    envelope_id = json_of(response)["envelope_id"]
    graph.put(recipients[0], INTERNET_ID, envelope_id)
    answer = revoke(call, token, envelope_id)
    assert answer.status_code == 200, answer.get_body()[:500]
    expected = {address: "not_found" for address in recipients} | {recipients[0]: "recalled"}
    assert outcomes(answer) == expected
    # stored: the sender's view and a second revoke read every outcome back
    stored = runtime.envelopes().get(envelope_id)
    assert stored is not None and stored.recall == expected
    assert outcomes(revoke(call, token, envelope_id, {"internet_message_id": INTERNET_ID,
                                                       "retry_failed": True})) == expected
