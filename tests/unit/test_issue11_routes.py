"""Issue 11: the envelope id routes take exactly 32 characters, so ``/messages/send`` is never read as
an id (the Allow header of ``/messages/send`` stays POST), and OpenAPI shows the plain parameter."""
from __future__ import annotations

from sendsecure.http.api import Operation
from sendsecure.http.openapi import document
from sendsecure.http.routing import compile_route

ID = "A" * 31 + "_"


def test_issue11_length_constraint_matches_exactly_n_characters():
    route = compile_route("v1/messages/{envelope_id:length(32)}/revoke")
    assert route.match(f"/v1/messages/{ID}/revoke") == {"envelope_id": ID}
    assert route.match("/v1/messages/send/revoke") is None
    assert route.match(f"/v1/messages/{ID}A/revoke") is None
    assert compile_route("v1/messages/{envelope_id:length(32)}").match("/v1/messages/send") is None


def test_issue11_openapi_path_has_the_parameter_without_its_constraint():
    paths = document([Operation("get_sent_message", "GET", "v1/messages/{envelope_id:length(32)}", "x")], "1")["paths"]
    assert list(paths) == ["/v1/messages/{envelope_id}"]
