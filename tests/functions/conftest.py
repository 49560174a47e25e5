"""The functions tier: registered functions looked up by name through ``app.get_functions()``."""
from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
import trustme
from entrafake import EntraServer
from graphfake import CLIENT_ID, CLIENT_SECRET, ENTRA_TENANT, FakeGraph, fake_graph
from helpers import run_function

from sendsecure import runtime
from sendsecure.adapters.recall import GraphRecall


@pytest.fixture
def call(functions, app_env):
    """Call an HTTP function by name with a built request; returns the HttpResponse."""

    def invoke(name: str, method: str = "GET", path: str = "/api/", *, body: Any = None, raw: bytes | None = None,
               headers: dict[str, str] | None = None, route_params: dict[str, str] | None = None,
               params: dict[str, str] | None = None, client: str = "192.0.2.10") -> func.HttpResponse:
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        all_headers = {"content-type": "application/json", "x-forwarded-for": client, **(headers or {})}
        request = func.HttpRequest(method, f"http://127.0.0.1{path}", headers=all_headers, params=params or {},
                                   route_params=route_params or {}, body=payload)
        return run_function(functions[name], request)

    return invoke


@pytest.fixture
def login(call, outbox):
    """Log in through the functions; returns the session token."""

    def log_in(mailbox: str = "jan@ziekenhuis-a.example", device_id: str = "device-1") -> str:
        challenge = json.loads(call("request_login_code", "POST", body={"mailbox": mailbox}).get_body())
        response = call("verify_login_code", "POST", body={"challenge_id": challenge["challenge_id"],
                                                            "code": outbox.last_code(), "device_id": device_id})
        assert response.status_code == 200, response.get_body()
        return json.loads(response.get_body())["session_token"]

    return log_in


@pytest.fixture(scope="session")
def entra_server(tmp_path_factory):
    """One local Entra authority (HTTPS on loopback, its JWKS) for the Entra tests of this tier;
    each test's ``entra`` fixture resets its keys."""
    server = EntraServer(tmp_path_factory.mktemp("entra"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def graph_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def graph(graph_ca: trustme.CA, tmp_path, app_env, monkeypatch) -> Iterator[FakeGraph]:
    """The local Graph, and the app's recall pointed at it (trusting the test's CA)."""
    bundle = tmp_path / "ca.pem"
    graph_ca.cert_pem.write_to_path(str(bundle))
    with fake_graph(graph_ca) as fake:
        recall = GraphRecall(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, authority_host=fake.base_url,
                             graph_base_url=fake.base_url, timeout=5, max_wait_seconds=10, ca_bundle=str(bundle))
        monkeypatch.setenv("RECALL_TENANT_ID", ENTRA_TENANT)
        runtime.reset()
        monkeypatch.setattr(runtime, "recall", lambda: recall)
        yield fake
    assert fake.problems == []
