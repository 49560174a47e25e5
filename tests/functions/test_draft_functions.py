"""Draft validation, on-send and info through the registered functions (SPEC V-*, V-O3, V-O4, U3, D3)."""
from __future__ import annotations

import json

from helpers import json_of

DRAFT = {
    "to": [{"address": "jan@huisarts-b.example", "name": "Jan", "type": "user"}],
    "cc": [], "bcc": [],
    "subject": "Verwijzing",
    "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}],
}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def test_a5_drafts_and_info_need_a_session(call):
    for name, method in (("validate_draft", "POST"), ("get_info", "GET")):
        response = call(name, method, body=DRAFT if method == "POST" else None)
        assert response.status_code == 401 and json_of(response)["code"] == "unauthenticated"


def test_issue7_item16_v_o4_on_send_without_a_session_is_401_login_required(call):
    for headers in ({}, auth("sst_not-a-session")):
        response = call("check_on_send", "POST", body=DRAFT, headers=headers)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert json_of(response)["code"] == "login_required"


def test_v_o1_validate_returns_the_verdict_of_the_api(call, login, sample_book):
    response = call("validate_draft", "POST", body=DRAFT, headers=auth(login()))
    assert response.status_code == 200
    verdict = json_of(response)
    for field in ("can_send_secure", "auto_send", "standard_send_offered", "notification_language",
                  "domain_book", "sender", "recipients", "attachments", "findings"):
        assert field in verdict
    assert verdict["can_send_secure"] is True and verdict["auto_send"] is True
    assert verdict["sender"] == {**verdict["sender"], "address": "jan@ziekenhuis-a.example", "in_domain_book": True}
    [recipient] = verdict["recipients"]
    assert (recipient["category"], recipient["route"]) == ("community", "direct")
    assert verdict["domain_book"]["available"] and verdict["domain_book"]["variant"] == "zorgmail"


def test_v_r3_viewer_sms_required_blocks_an_external_recipient_without_phone(call, login, sample_book):
    draft = {**DRAFT, "to": [{"address": "piet@gmail.example"}]}
    verdict = json_of(call("validate_draft", "POST", body=draft, headers=auth(login())))
    assert verdict["can_send_secure"] is False
    [finding] = [f for f in verdict["findings"] if f["code"] == "phone_required"]
    assert finding["rule"] == "V-R3" and finding["colour"] == "red" and finding["target"] == "recipients/0"
    assert "piet@gmail.example" in finding["message"]
    with_phone = {**draft, "phones": {"Piet@Gmail.example": "+31612345678"}}
    assert json_of(call("validate_draft", "POST", body=with_phone, headers=auth(login())))["can_send_secure"]


def test_u1_messages_follow_accept_language(call, login, sample_book):
    token = login()
    draft = {**DRAFT, "subject": ""}
    messages = {}
    for language in ("nl", "en", "de"):
        verdict = json_of(call("validate_draft", "POST", body=draft,
                               headers={**auth(token), "accept-language": language}))
        messages[language] = next(f["message"] for f in verdict["findings"] if f["code"] == "empty_subject")
    assert len(set(messages.values())) == 3


def test_v_o4_on_send_allows_auto_send_and_intercepts_what_needs_the_pop_up(call, login, sample_book):
    token = login()  # tenant zorg-a: security by default on
    allowed = json_of(call("check_on_send", "POST", body=DRAFT, headers=auth(token)))
    assert allowed["action"] == "allow" and allowed["verdict"]["auto_send"]
    external = json_of(call("check_on_send", "POST", body={**DRAFT, "to": [{"address": "piet@gmail.example"}]},
                            headers=auth(token)))
    assert external["action"] == "intercept" and "phone_required" in external["reasons"]


def test_v_o4_security_by_default_off_always_allows(call, login, sample_book):
    token = login("els@huisarts-b.example")  # tenant zorg-b: security by default off
    decision = json_of(call("check_on_send", "POST", body={**DRAFT, "to": [{"address": "piet@gmail.example"}]},
                            headers=auth(token)))
    assert decision["action"] == "allow"


def test_v_o3_no_domain_book_offers_standard_sending(call, login):
    verdict = json_of(call("validate_draft", "POST", body=DRAFT, headers=auth(login())))
    assert verdict["domain_book"]["available"] is False
    assert verdict["standard_send_offered"] is True and verdict["can_send_secure"] is False
    assert "domain_book_unavailable" in {f["code"] for f in verdict["findings"]}


def test_bad_draft_input_is_400_or_413_naming_the_field(call, login, app_env):
    token = login()
    cases = [
        ({**DRAFT, "to": [{"address": f"a{i}@huisarts-b.example"} for i in range(1001)]}, 400, "to"),
        ({**DRAFT, "subject": "x" * 2001}, 400, "subject"),
        ({**DRAFT, "attachments": [{"name": "a.pdf", "size": -1}]}, 400, "attachments[0].size"),
        ({**DRAFT, "attachments": [{"name": "a.pdf", "size": "12"}]}, 400, "attachments[0].size"),
        ({**DRAFT, "attachments": [{"name": "a.pdf", "size": 10**15}]}, 400, "attachments[0].size"),
        ({**DRAFT, "to": "jan@huisarts-b.example"}, 400, "to"),
        ({**DRAFT, "to": [{"name": "no address"}]}, 400, "to[0].address"),
    ]
    for body, status, field in cases:
        response = call("validate_draft", "POST", body=body, headers=auth(token))
        assert response.status_code == status, (field, response.get_body())
        assert json_of(response)["errors"][0]["field"] == field
    huge = call("validate_draft", "POST", raw=json.dumps({**DRAFT, "subject": "x" * 2_000_000}).encode(),
                headers=auth(token))
    assert huge.status_code == 413


def test_u3_d3_info_names_the_installation_and_the_book_age(call, login, sample_book):
    info = json_of(call("get_info", headers=auth(login())))
    assert info["installation_type"] == "viewer_sms_required" and info["domain_book_variant"] == "zorgmail"
    assert info["login_method"] == "email_code" and info["security_by_default"] is True
    assert info["manual_url"].startswith("https://") and info["release_notes_url"].startswith("https://")
    assert info["domain_book"]["available"] and info["domain_book"]["age_seconds"] >= 0


def test_d3_health_shows_the_book_age_per_variant(call, sample_book):
    health = json_of(call("get_health"))
    assert health["status"] == "ok"
    assert set(health["domain_book"]["variants"]) == {"zorgmail", "sigra"}
    assert health["domain_book"]["age_seconds"] is not None


def test_u1_u2_settings_default_then_change_and_drive_the_verdict_language(call, login, sample_book):
    token = login()
    defaults = json_of(call("get_user_settings", headers={**auth(token), "accept-language": "de"}))
    assert defaults == {"language": "de", "language_chosen": False, "send_delay_seconds": 0}
    changed = call("put_user_settings", "PUT", body={"language": "en", "send_delay_seconds": 5}, headers=auth(token))
    assert changed.status_code == 200
    assert json_of(call("get_user_settings", headers={**auth(token), "accept-language": "de"}))["language"] == "en"
    verdict = json_of(call("validate_draft", "POST", body={**DRAFT, "subject": ""},
                           headers={**auth(token), "accept-language": "de"}))
    assert next(f for f in verdict["findings"] if f["code"] == "empty_subject")["message"].startswith("The subject")
    for body, field in (({"language": "fr"}, "language"), ({"send_delay_seconds": 7}, "send_delay_seconds"),
                        ({"send_delay_seconds": True}, "send_delay_seconds"), ({"colour": "red"}, "colour")):
        response = call("put_user_settings", "PUT", body=body, headers=auth(token))
        assert response.status_code == 400 and json_of(response)["errors"][0]["field"] == field
