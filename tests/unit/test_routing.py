"""Route templates as the Functions host reads them (used by the dev host and the fallback route)."""
from __future__ import annotations

import random

import pytest

from sendsecure.http.routing import compile_route, precedence_key

GUID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"


def test_routing_literal_route_matches_its_path_without_parameters():
    assert compile_route("v1/session").match("/v1/session") == {}


def test_routing_literal_route_matches_case_insensitively():
    assert compile_route("v1/session").match("/V1/SeSSion") == {}


@pytest.mark.parametrize("path", ["/v1/sessions", "/v1", "/v1/session/x", "/v2/session", "/xv1/session"])
def test_routing_literal_route_refuses_other_paths(path):
    assert compile_route("v1/session").match(path) is None


def test_routing_leading_and_trailing_slashes_in_template_are_ignored():
    assert compile_route("/v1/session/").match("/v1/session") == {}


def test_routing_literal_dot_is_not_a_wildcard():
    assert compile_route("v1/info.json").match("/v1/infoXjson") is None
    assert compile_route("v1/info.json").match("/v1/info.json") == {}


def test_routing_parameter_is_extracted():
    assert compile_route("v1/phones/{address}").match("/v1/phones/jan@x.nl") == {"address": "jan@x.nl"}


def test_routing_parameter_does_not_span_segments():
    assert compile_route("v1/phones/{address}").match("/v1/phones/a/b") is None


def test_routing_parameter_is_required():
    assert compile_route("v1/phones/{address}").match("/v1/phones") is None


def test_routing_several_parameters_are_extracted():
    route = compile_route("v1/{area}/items/{item}")
    assert route.match("/v1/mail/items/42") == {"area": "mail", "item": "42"}


@pytest.mark.parametrize(("path", "expected"), [("/v1/items/42", "42"), ("/v1/items/-7", "-7")])
def test_routing_int_constraint_accepts_integers(path, expected):
    assert compile_route("v1/items/{id:int}").match(path) == {"id": expected}


@pytest.mark.parametrize("value", ["abc", "4.2", "42a", "", "12345678901"])
def test_routing_int_constraint_refuses_non_integers(value):
    assert compile_route("v1/items/{id:int}").match(f"/v1/items/{value}") is None


def test_routing_int_constraint_refuses_non_ascii_digits():
    # The host's int constraint parses with the invariant culture: only 0-9.
    assert compile_route("v1/items/{id:int}").match("/v1/items/\u0661\u0662\u0663") is None


@pytest.mark.parametrize("value", [GUID, GUID.upper(), GUID.replace("-", "")])
def test_routing_guid_constraint_accepts_guids(value):
    assert compile_route("v1/tenants/{id:guid}").match(f"/v1/tenants/{value}") == {"id": value}


@pytest.mark.parametrize("value", ["42", "not-a-guid", GUID[:-1], GUID + "0", GUID.replace("3", "g", 1)])
def test_routing_guid_constraint_refuses_other_text(value):
    assert compile_route("v1/tenants/{id:guid}").match(f"/v1/tenants/{value}") is None


def test_routing_optional_parameter_may_be_present_or_absent():
    route = compile_route("v1/settings/{name?}")
    assert route.match("/v1/settings") == {}
    assert route.match("/v1/settings/language") == {"name": "language"}
    assert route.match("/v1/settings/a/b") is None


def test_routing_catch_all_takes_the_rest_of_the_path():
    route = compile_route("{*path}")
    assert route.match("/a/b/c") == {"path": "a/b/c"}
    assert route.match("") == {}


def test_routing_catch_all_after_literal():
    route = compile_route("static/{*file}")
    assert route.match("/static/js/app.js") == {"file": "js/app.js"}
    assert route.match("/other/js/app.js") is None


def test_routing_mixed_text_and_parameter_in_segment_is_refused():
    with pytest.raises(ValueError):
        compile_route("v1/item-{id}")


def test_routing_precedence_literal_before_parameter_before_catch_all():
    routes = [compile_route(t) for t in ("{*path}", "v1/{thing}", "v1/session")]
    ordered = [r.template for r in sorted(routes, key=precedence_key)]
    assert ordered == ["v1/session", "v1/{thing}", "{*path}"]


def test_routing_precedence_full_ranking_in_any_input_order():
    expected = ["v1/session", "v1/{id:int}", "v1/{thing}", "v1/{thing?}", "v1/{*rest}", "{*path}"]
    rng = random.Random(7516)
    for _ in range(20):
        shuffled = expected[:]
        rng.shuffle(shuffled)
        ordered = [r.template for r in sorted(map(compile_route, shuffled), key=precedence_key)]
        assert ordered == expected


def test_routing_first_matching_route_in_precedence_order_is_the_specific_one():
    routes = sorted(map(compile_route, ["{*path}", "v1/{thing}", "v1/session"]), key=precedence_key)

    def first(path):
        return next(r.template for r in routes if r.match(path) is not None)

    assert first("/v1/session") == "v1/session"
    assert first("/v1/verdict") == "v1/{thing}"
    assert first("/v2/anything/else") == "{*path}"
