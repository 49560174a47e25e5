"""On-send costs what the work costs (issue 9 item 7): the fast way a draft comes in gives what the
checking way gives, or leaves the body to it; answers and errors are the bytes they were."""
from __future__ import annotations

import json
from typing import Any

import azure.functions as func
import msgspec
import msgspec.inspect as mi
import pytest
from helpers import json_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendsecure.core.drafts import _StrictDraft, decode_draft, parse_draft
from sendsecure.core.models import DraftBody
from sendsecure.errors import InvalidBody, PayloadTooLarge
from sendsecure.http.httpapi import draft_body, json_body, problem_response

LIMIT = 1048576
TYPICAL = {
    "from": "jan@demo-zorg.example",
    "to": [{"address": "a.devries@demo-zorg.example", "name": "A. de Vries", "type": "user"},
           "dr.bakker@ziekenhuis-a.example"],
    "cc": [{"address": "p.smit@hotmail.example", "name": "P. Smit"}],
    "bcc": [],
    "subject": "Verwijzing",
    "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}],
    "phones": {"p.smit@hotmail.example": "06 12345678", "x@y.example": None},
}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def request(raw: bytes) -> func.HttpRequest:
    return func.HttpRequest("POST", "http://127.0.0.1/api/v1/drafts/on-send",
                            headers={"content-type": "application/json"}, body=raw)


def checking_way(raw: bytes) -> Any:
    """What the trigger did before issue 9 item 7: the JSON walk, then the model and parse_draft."""
    try:
        return parse_draft(json_body(request(raw), LIMIT))
    except InvalidBody as error:
        return ("400", error.errors)


def fast_way(raw: bytes) -> Any:
    try:
        return decode_draft(raw)
    except InvalidBody as error:  # what a schema cannot say (the sum of recipients, phones, IDN domains)
        return ("400", error.errors)


# Values a client may send: well-formed, of another type, at and past the bounds, with surrogate
# escapes, unknown members, nested deeply.
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2, 2**40), st.floats(allow_nan=False, width=32),
                      st.text(max_size=8))
json_value = st.recursive(json_leaf, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
address = st.sampled_from(["jan@demo-zorg.example", "Jan@Zïekenhuis.NL", "jan@xn--zekenhuis-05a.nl", "not an address",
                           " piet@gmail.example ", "a" * 321, "b@c.example"])
recipient = st.one_of(address, st.fixed_dictionaries(
    {"address": address}, optional={"name": st.one_of(st.none(), st.text(max_size=5), st.just("n" * 257)),
                                    "type": st.sampled_from(["user", "externalUser", "distributionList", "bogus"]),
                                    "extra": json_value}), json_value)
recipients = st.one_of(st.none(), st.lists(recipient, max_size=4), json_value)
attachment = st.one_of(st.fixed_dictionaries(
    {"name": st.sampled_from(["brief.pdf", "x" * 256, "a.exe"]),
     "size": st.sampled_from([0, 1000, 1000.0, -1, 10 * 1024**3 + 1, 1.5, True, "12"])},
    optional={"inline": st.one_of(st.booleans(), json_value), "extra": json_value}), json_value)
draft = st.fixed_dictionaries({}, optional={
    "from": st.one_of(st.none(), address, json_value), "to": recipients, "cc": recipients, "bcc": recipients,
    "subject": st.one_of(st.none(), st.text(max_size=10), st.just("s" * 2001), json_value),
    "attachments": st.one_of(st.none(), st.lists(attachment, max_size=3), json_value),
    "phones": st.one_of(st.none(), st.dictionaries(address, st.one_of(st.none(), st.sampled_from(
        ["0612345678", " ", "9" * 65]), json_value), max_size=3), json_value),
    "unknown": json_value})

good_address = st.sampled_from(["jan@demo-zorg.example", "Jan@Zïekenhuis.NL", "jan@xn--zekenhuis-05a.nl",
                                "not an address", " piet@gmail.example "])
good_recipients = st.lists(st.one_of(good_address, st.fixed_dictionaries(
    {"address": good_address}, optional={"name": st.text(max_size=5), "type": st.just("externalUser")})), max_size=3)
good_draft = st.fixed_dictionaries({}, optional={
    "from": good_address, "to": good_recipients, "cc": good_recipients, "bcc": good_recipients,
    "subject": st.text(max_size=10),
    "attachments": st.lists(st.fixed_dictionaries({"name": st.just("brief.pdf"), "size": st.just(1000)}), max_size=2),
    "phones": st.dictionaries(good_address, st.sampled_from(["0612345678", " "]), max_size=2),
    "unknown": json_value})


def raw_forms(body: dict) -> list[bytes]:
    text = json.dumps(body, ensure_ascii=False)
    return [text.encode(), json.dumps(body).encode(),
            text.replace("jan", "\\ud800jan").encode(),      # a lone surrogate escape somewhere
            text.replace("@", "\\ud83d\\ude00@").encode(),   # a proper pair
            text.replace("1000", "1000.0").encode(),          # an integral number written as a float
            text.replace('"to": [', '"to": ' + "[" * 40).encode(),
            text.replace('"unknown": ', '"u": "\\udc00", "unknown": ').encode(),  # surrogate, unmodelled member
            text.replace('"unknown": ', '"unknown": ' + "[" * 33 + "1" + "]" * 33 + ', "v": ').encode()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(draft, good_draft))
def test_issue9_item7_the_fast_way_in_gives_what_the_checking_way_gives(body):
    for raw in raw_forms(body):
        fast = fast_way(raw)
        if fast is not None:  # a body the fast way takes (or refuses after decoding): the checking way agrees
            assert checking_way(raw) == fast, raw


def test_issue9_item7_a_plain_draft_takes_the_fast_way_and_an_odd_one_the_checking_way():
    assert decode_draft(json.dumps(TYPICAL).encode()) == checking_way(json.dumps(TYPICAL).encode())
    for odd in ({**TYPICAL, "body": "text"},                                        # a member it does not know
                {**TYPICAL, "attachments": [{"name": "a.pdf", "size": 1000.0}]},     # 1000.0 is the integer 1000
                {**TYPICAL, "phones": {"p.smit@hotmail.example": 612345678}},        # 400 from parse_draft
                {**TYPICAL, "to": [{"address": "a@b.example", "x": [[[[]]]]}]}):     # the walk counts this nesting
        assert decode_draft(json.dumps(odd).encode()) is None, odd
    for raw in (b'{"subject": "\\ud800"}', b'\xef\xbb\xbf{}', b'{"to": []} x', b"[]", b"", b'{"to": [}'):
        assert decode_draft(raw) is None, raw


def test_issue9_item7_draft_body_keeps_the_edge_checks():
    with pytest.raises(PayloadTooLarge):
        draft_body(request(json.dumps(TYPICAL).encode()), 100)
    plain = func.HttpRequest("POST", "http://127.0.0.1/x", headers={"content-type": "text/plain"},
                             body=json.dumps(TYPICAL).encode())
    with pytest.raises(Exception, match="application/json"):
        draft_body(plain, LIMIT)
    assert draft_body(request(json.dumps(TYPICAL).encode()), LIMIT) == checking_way(json.dumps(TYPICAL).encode())


def _shape(t: mi.Type) -> Any:
    """A type's constraints, without the classes' identity (the strict model's are its own)."""
    if isinstance(t, mi.StructType):
        return ("struct", tuple((f.encode_name, f.required, _shape(f.type)) for f in t.fields))
    if isinstance(t, mi.UnionType):
        return ("union", tuple(sorted((_shape(x) for x in t.types), key=repr)))
    if isinstance(t, (mi.ListType, mi.DictType)):
        parts = (t.item_type,) if isinstance(t, mi.ListType) else (t.key_type, t.value_type)
        return (type(t).__name__, t.min_length, t.max_length, *(_shape(p) for p in parts))
    return repr(t)


def test_issue9_item7_the_strict_draft_model_is_the_draft_model_with_no_room_for_any():
    strict, model = mi.type_info(_StrictDraft), mi.type_info(DraftBody)
    assert isinstance(strict, mi.StructType) and isinstance(model, mi.StructType)
    assert "AnyType" not in repr(strict)  # nothing the JSON walk would have to look into
    assert strict.forbid_unknown_fields and "forbid_unknown_fields=True" in repr(strict).replace(" ", "")
    strict_fields = {f.encode_name: f for f in strict.fields}
    assert set(strict_fields) == {f.encode_name for f in model.fields}
    for field in model.fields:
        if field.encode_name == "phones":  # values: Any there (parse_draft checks them), strings here
            assert _shape(strict_fields["phones"].type)[0:1] == _shape(field.type)[0:1]
            continue
        assert _shape(strict_fields[field.encode_name].type) == _shape(field.type), field.encode_name


def test_issue9_item7_problem_answers_are_the_bytes_json_dumps_gave():
    error = InvalidBody("Geen geldige invoer: é \u2028 \x01 / \"", errors=[{"field": "to[0]", "message": "ü"}])
    body = problem_response(error).get_body()
    assert body == json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()
    assert msgspec.json.decode(body)["errors"] == [{"field": "to[0]", "message": "ü"}]


def test_issue9_item7_odd_drafts_still_get_the_400_naming_the_field(call, login):
    token = login()
    cases = [
        (b'{"to": [], "note": "\\ud800"}', "note", "surrogate"),               # in a member the model ignores
        (b'{"to": [{"address": "a@b.example", "x": ' + b"[" * 40 + b"]" * 40 + b"}]}", None, "nested"),
        (b'{"to": [], "x": {"\\udc00": 1}}', "x", "surrogate"),
    ]
    for raw, field, words in cases:
        for name in ("validate_draft", "check_on_send"):
            response = call(name, "POST", raw=raw, headers=auth(token))
            assert response.status_code == 400, (name, raw, response.get_body())
            [error] = json_of(response)["errors"]
            assert words in error["message"] and (field is None or error["field"] == field)
    unknown = call("check_on_send", "POST", body={"to": ["p.smit@hotmail.example"], "body": "tekst"},
                   headers=auth(token))
    assert unknown.status_code == 200 and json_of(unknown)["verdict"]["recipients"][0]["address"] == \
        "p.smit@hotmail.example"


@pytest.mark.parametrize("header", ["nl-NL,nl;q=0.9,en;q=0.8", "en-GB,en;q=0.9", "de", "fr-FR, de;q=0.1", "", "x;q=y",
                                    "fr," * 100 + "en"])
@pytest.mark.parametrize("preferred", [None, "en", "DE", "xx"])
def test_issue9_item7_the_language_memo_answers_as_negotiation_does(header, preferred):
    from sendsecure.core.i18n import negotiate_language
    from sendsecure.http.httpapi import request_language

    req = func.HttpRequest("GET", "http://127.0.0.1/x", headers={"accept-language": header}, body=b"")
    for _ in range(2):  # negotiated, then remembered (or, past 256 characters, negotiated again)
        assert request_language(req, preferred) == negotiate_language(header, preferred)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(good_draft, st.one_of(st.none(), st.sampled_from(["AAMkAG=", "", " ", "m" * 513, "\\ud800x"]), json_value))
def test_issue9_item7_the_on_send_body_takes_the_fast_way_with_its_message_id(body, message_id):
    from sendsecure.core.models import OnSendBody, convert
    from sendsecure.http.httpapi import on_send_body

    raw = json.dumps({**body, "message_id": message_id}, ensure_ascii=False).encode().replace(b"\\\\ud800", b"\\ud800")

    def outcome(function):
        try:
            return function()
        except InvalidBody as error:
            return ("400", error.errors)

    def checking():  # the on-send trigger before issue 9 item 7
        data = json_body(request(raw), LIMIT)
        draft = parse_draft(data)
        return draft, convert(data, OnSendBody).message_id if "message_id" in data else None

    assert outcome(lambda: on_send_body(request(raw), LIMIT)) == outcome(checking)
