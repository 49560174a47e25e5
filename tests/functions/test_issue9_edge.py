"""Issue 9 items 2 and 6: a uniform, typed HTTP edge (functions tier)."""
from __future__ import annotations

import inspect
import json
from pathlib import Path

from sendsecure import audit, runtime
from sendsecure.adapters import storage

ROOT = Path(__file__).resolve().parents[2]


def json_of(response):
    return json.loads(response.get_body())


def test_issue9_item6_logout_is_audited_by_the_session_service(login):
    token = login()
    session = runtime.sessions().authenticate(token)
    runtime.sessions().end(token)   # the service itself, no trigger in between
    rows = [r for r in runtime.tables().query(storage.AUDIT, "PartitionKey ne ''") if r["event"] == audit.LOGOUT]
    assert len(rows) == 1
    assert rows[0]["actor"] == runtime.pseudonyms().of("mailbox", session.mailbox)
    assert session.mailbox not in json.dumps(rows[0], default=str)


def test_issue9_item6_verify_and_get_session_answer_the_same_session_shape(call, outbox):
    challenge = json_of(call("request_login_code", "POST", body={"mailbox": "jan@ziekenhuis-a.example"}))
    verified = json_of(call("verify_login_code", "POST", body={"challenge_id": challenge["challenge_id"],
                                                               "code": outbox.last_code(), "device_id": "laptop"}))
    token = verified.pop("session_token")
    current = json_of(call("get_session", headers={"authorization": f"Bearer {token}"}))
    assert set(verified) == set(current)
    for name in ("mailbox", "tenant_id", "login_method", "device_id", "expires_at", "idle_timeout_seconds"):
        assert verified[name] == current[name]
    assert current["device_id"] == "laptop"


def test_issue9_item6_the_settings_trigger_no_longer_shadows_the_settings_getter(functions):
    import functions.settings as trigger_module

    assert "get_settings" not in functions and "get_user_settings" in functions
    from sendsecure.settings import get_settings

    assert trigger_module.get_settings is get_settings


def test_issue9_item6_function_app_hands_the_fallback_every_declared_route(functions, call):
    import function_app
    from functions import fallback

    source = (ROOT / "functions" / "fallback.py").read_text()
    assert "_function_builders" not in source and "import function_app" not in source
    declared = {(op.route, op.method) for op in function_app.OPERATIONS}
    registered = {(fn.get_trigger().route, method.value) for name, fn in functions.items()
                  if fn.get_trigger().type == "httpTrigger" and name != "unknown_route"
                  for method in fn.get_trigger().methods}
    assert declared == registered
    assert {(route.template, method) for route, method in fallback._routes} == declared
    answer = call("unknown_route", "PATCH", route_params={"path": "v1/session"})
    assert answer.status_code == 405 and answer.headers["Allow"] == "DELETE, GET"


def test_issue9_item6_authenticated_triggers_take_the_session_as_an_argument():
    from functions import drafts, info, phones, session, settings

    for module in (drafts, info, phones, session, settings):
        source = inspect.getsource(module)
        assert "current_session(" not in source, module.__name__
        assert '"Cache-Control": "no-store"' not in source, module.__name__


def test_issue9_item6_every_trigger_shows_the_worker_the_one_binding_req(functions):
    for name, fn in functions.items():
        if fn.get_trigger().type == "httpTrigger":
            assert list(inspect.signature(fn.get_user_function()).parameters) == ["req"], name


def test_issue9_item2_invalid_typed_body_names_the_field_path(call, login):
    token = login()
    auth = {"authorization": f"Bearer {token}"}
    for name, method, body, field in [
        ("validate_draft", "POST", {"to": [{"address": "a@b.example"}, {"address": 7}]}, "to[1].address"),
        ("validate_draft", "POST", {"attachments": [{"name": "x.pdf", "size": True}]}, "attachments[0].size"),
        ("lookup_phones", "POST", {"addresses": ["a@b.example", 5]}, "addresses[1]"),
        ("put_phone", "PUT", {"address": "a@b.example"}, "phone"),
        ("put_user_settings", "PUT", {"send_delay_seconds": 7}, "send_delay_seconds"),
        ("put_user_settings", "PUT", {"colour": "red"}, "colour"),
    ]:
        response = call(name, method, body=body, headers=auth)
        assert response.status_code == 400, (name, response.get_body())
        problem = json_of(response)
        assert problem["code"] == "invalid_body"
        assert problem["errors"][0]["field"] == field, (name, problem)


def test_issue9_item2_openapi_schemas_come_from_the_models(call):
    from sendsecure.core import drafts

    assert not (ROOT / "sendsecure" / "data" / "openapi.json").exists()
    document = json_of(call("get_openapi"))
    schemas = document["components"]["schemas"]
    draft = schemas["DraftBody"]["properties"]
    assert draft["from"]["anyOf"][0]["maxLength"] == drafts.MAX_ADDRESS
    assert draft["subject"]["anyOf"][0]["maxLength"] == drafts.MAX_SUBJECT
    assert draft["to"]["anyOf"][0]["maxItems"] == drafts.MAX_RECIPIENTS
    recipient = schemas["VerdictRecipient"]["properties"]
    assert {"display_address", "address_form", "nta7516"} <= set(recipient)
    assert set(schemas["Category"]["enum"]) == {"own_organisation", "community", "nta7516", "external", "unknown"}
    on_send = document["paths"]["/v1/drafts/on-send"]["post"]
    # issue 10 item 2: the draft with the message's id; an allow may carry the envelope
    body_schema = on_send["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/OnSendBody"}
    assert on_send["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OnSendAnswer"}
