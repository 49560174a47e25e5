"""The HTTP edge through the registered functions: the one body parser, the client address,
security headers (issue 7 items 2, 4, 5, 6, 7, 8)."""
from __future__ import annotations

import json

import azure.functions as func
import pytest
from helpers import json_of

from sendsecure.http.httpapi import client_address

DRAFT = {"to": [{"address": "jan@huisarts-b.example"}], "subject": "Verwijzing"}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def request(headers: dict[str, str], url: str = "http://127.0.0.1/api/v1/health") -> func.HttpRequest:
    return func.HttpRequest("GET", url, headers=headers, body=b"")


@pytest.mark.parametrize("forwarded, expected", [
    ("203.0.113.7:50123", "203.0.113.7"),                                     # App Service: ip:port
    ("198.51.100.1, 10.9.8.7, 203.0.113.7:50123", "203.0.113.7"),             # the client's claims ignored
    ("1.2.3.4, [2001:DB8:0:0:0:0:0:1]:50123", "2001:db8::1"),                 # [v6]:port, compressed
    ("2001:db8:0000::0001", "2001:db8::1"),                                   # bare IPv6
    ("[::ffff:203.0.113.7]:443", "203.0.113.7"),                              # IPv4-mapped: the IPv4
    ("[fe80::1%eth0]:80", "fe80::1"),                                         # no zone id
    ("203.0.113.7", "203.0.113.7"),
    ("", "unknown"), ("not-an-address", "unknown"), ("203.0.113.7, garbage", "unknown"),
])
def test_issue7_item2_client_address_is_the_front_ends_last_entry_normalised(forwarded, expected):
    assert client_address(request({"x-forwarded-for": forwarded})) == expected


def test_issue7_item4_bodies_must_be_application_json(call, login):
    token = login()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                         "application/json; charset=latin-1", "application/jsonp", ""):
        response = call("validate_draft", "POST", raw=json.dumps(DRAFT).encode(),
                        headers={**auth(token), "content-type": content_type})
        assert response.status_code == 415, content_type
        assert response.mimetype == "application/problem+json"
        assert json_of(response)["code"] == "unsupported_media_type"
    # No login code is mailed for a cross-site text/plain form post.
    refused = call("request_login_code", "POST", raw=b'{"mailbox": "jan@ziekenhuis-a.example"}',
                   headers={"content-type": "text/plain"})
    assert refused.status_code == 415
    for content_type in ("application/json", "Application/JSON; charset=UTF-8", 'application/json;charset="utf-8"'):
        accepted = call("validate_draft", "POST", body=DRAFT, headers={**auth(token), "content-type": content_type})
        assert accepted.status_code == 200, content_type
    missing = call("put_user_settings", "PUT", raw=b"", headers={**auth(token), "content-type": ""})
    assert missing.status_code == 400 and json_of(missing)["errors"][0]["field"] == "body"


def test_issue7_item5_every_answer_carries_the_security_headers(call, login):
    token = login()
    answers = [call("get_health"), call("get_session", headers=auth(token)), call("get_session"),
               call("unknown_route", "GET", route_params={"path": "v1/nope"}),
               call("validate_draft", "POST", raw=b"{", headers=auth(token))]
    for response in answers:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
        assert "Strict-Transport-Security" not in response.headers    # plain HTTP: no HSTS
    over_https = call("get_health", headers={"x-forwarded-proto": "https"})
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=")


def test_issue7_item6_deeply_nested_json_is_400_without_a_traceback(call, login, caplog):
    token = login()
    caplog.set_level("INFO")
    for raw in (b'{"to": ' + b"[" * 1000 + b"]" * 1000 + b"}",          # the attack: 2 KB, ~1,000 levels
                b'{"a": ' + b'{"a": ' * 100000 + b"1" + b"}" * 100001,   # far past the recursion limit
                b'{"to": ' + b"[" * 40 + b"]" * 40 + b"}"):             # parses, but deeper than 32
        for name, headers in (("validate_draft", auth(token)), ("request_login_code", {})):
            response = call(name, "POST", raw=raw, headers=headers)
            assert response.status_code in (400, 413), (name, response.get_body()[:200])
            assert json_of(response)["code"] in ("invalid_body", "payload_too_large")
    shallow = call("validate_draft", "POST", raw=b'{"to": ' + b"[" * 1000 + b"]" * 1000 + b"}", headers=auth(token))
    assert shallow.status_code == 400 and "nested" in json_of(shallow)["errors"][0]["message"]
    assert not [r for r in caplog.records if r.levelname == "ERROR" or r.exc_info]


def test_issue7_item7_a_lone_surrogate_is_400_naming_the_field(call, login):
    token = login()
    cases = [
        (b'{"to": [{"address": "\\ud800@gmail.example"}]}', "to[0].address"),
        (b'{"to": [], "cc": ["a@b.example", "x\\udfff@gmail.example"]}', "cc[1]"),
        (b'{"subject": "Verwijzing \\udc00"}', "subject"),
        (b'{"phones": {"piet@gmail.example": "06\\ud83d"}}', "phones.piet@gmail.example"),
        (b'{"phones": {"\\ud800@gmail.example": "0612345678"}}', "phones"),      # a member name
        (b'{"attachments": [{"name": "brief\\ud800.pdf", "size": 1}]}', "attachments[0].name"),
    ]
    for raw, field in cases:
        for name in ("validate_draft", "check_on_send"):
            response = call(name, "POST", raw=raw, headers=auth(token))
            assert response.status_code == 400, (raw, response.get_body())
            [error] = json_of(response)["errors"]
            assert error["field"] == field and "surrogate" in error["message"]
    # A proper pair is one character, not an error.
    paired = call("validate_draft", "POST", raw=b'{"to": [], "subject": "Verwijzing \\ud83d\\ude00"}',
                  headers=auth(token))
    assert paired.status_code == 200
    login_call = call("request_login_code", "POST", raw=b'{"mailbox": "\\ud800@ziekenhuis-a.example"}')
    assert login_call.status_code == 400 and json_of(login_call)["errors"][0]["field"] == "mailbox"


def test_issue7_item8_declared_content_length_over_the_limit_is_413_before_the_body(call, login):
    token = login()
    # The declared length alone decides: the (small) body is not looked at.
    response = call("validate_draft", "POST", body=DRAFT, headers={**auth(token), "content-length": "99000000"})
    assert response.status_code == 413 and json_of(response)["limit"] == 1048576
    small = call("put_user_settings", "PUT", body={"language": "en"},
                 headers={**auth(token), "content-length": str(70 * 1024)})
    assert small.status_code == 413 and json_of(small)["limit"] == 65536


def test_issue7_item20_integral_numbers_are_integers_as_json_schema_says(call, login):
    token = login()
    draft = {"to": [], "attachments": [{"name": "brief.pdf", "size": 1000.0}]}
    response = call("validate_draft", "POST", body=draft, headers=auth(token))
    assert response.status_code == 200
    assert json_of(response)["attachments"]["items"][0]["size"] == 1000
    fraction = call("validate_draft", "POST", body={"attachments": [{"name": "a", "size": 1.5}]}, headers=auth(token))
    assert fraction.status_code == 400 and json_of(fraction)["errors"][0]["field"] == "attachments[0].size"
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        refused = call("validate_draft", "POST", raw=b'{"attachments": [{"name": "a", "size": ' + constant + b"}]}",
                       headers=auth(token))
        assert refused.status_code == 400
