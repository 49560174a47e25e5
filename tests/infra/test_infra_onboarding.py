"""Tenant onboarding as a deployment (SPEC I2, issue 15 item 3): a definition that
``infra/tenant.bicep`` puts in App Configuration goes live through the ``sync_tenants`` timer,
phone key first; offboarding removes the definition, the tenant and its phone key.

The real azure-appconfiguration client talks to a local HTTPS server (fake_appconfig.py).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.core.credentials import AccessToken
from azure.functions.timer import TimerRequest
from fake_appconfig import FakeAppConfig

from sendsecure import runtime
from sendsecure.adapters.appconfig import TenantConfigSource
from sendsecure.adapters.keys import LocalKeyStore
from sendsecure.errors import DependencyUnavailable
from sendsecure.phonebook import key_name
from sendsecure.tenantstore import sync_tenants

ROOT = Path(__file__).resolve().parents[2]
TENANT_FILE = ROOT / "infra" / "tenants" / "demo-zorg.json"


class Token:
    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture
def store(app_env, infra_ca, infra_ca_bundle, monkeypatch):
    fake = FakeAppConfig()
    fake.start(infra_ca)
    source = TenantConfigSource(fake.endpoint, Token(fake.token), timeout=5, connection_verify=infra_ca_bundle)
    monkeypatch.setattr(runtime, "tenant_source", lambda: source)
    yield fake
    source.close()
    fake.stop()


def run_timer(functions) -> None:
    functions["sync_tenants"].get_user_function()(TimerRequest(past_due=False))


def key_exists(app_env, tenant_id: str) -> bool:
    return LocalKeyStore(app_env["LOCAL_KEY_DIR"]).check(key_name(tenant_id))


def test_i2_sync_tenants_is_a_registered_timer(functions):
    assert functions["sync_tenants"].get_trigger().type == "timerTrigger"


def test_i2_a_deployed_tenant_file_goes_live_with_its_phone_key(store, functions, app_env, outbox):
    definition = json.loads(TENANT_FILE.read_text("utf-8"))
    tenant_id = definition["id"]
    assert runtime.tenant_directory().get(tenant_id) is None
    assert not key_exists(app_env, tenant_id)
    store.put(f"tenant.{tenant_id}", TENANT_FILE.read_text("utf-8"))

    run_timer(functions)

    assert runtime.tenant_directory().get(tenant_id).mail_domains == tuple(definition["mail_domains"])
    assert key_exists(app_env, tenant_id)
    # Live: a mailbox of the tenant gets a login code (an unknown domain gets none).
    request = func.HttpRequest("POST", "http://127.0.0.1/api/v1/auth/email-code",
                               headers={"content-type": "application/json", "x-forwarded-for": "192.0.2.10"},
                               body=json.dumps({"mailbox": f"jan@{definition['mail_domains'][0]}"}).encode())
    answer = functions["request_login_code"].get_user_function()(request)
    assert answer.status_code == 202
    assert outbox.last_code()


def test_i2_a_bad_definition_is_refused_and_the_others_still_go_live(store, app_env):
    good = json.loads(TENANT_FILE.read_text("utf-8"))
    store.put("tenant.broken-one", json.dumps({**good, "id": "broken-one", "installation_type": "viewr"}))
    store.put("tenant.not-json", "{")
    store.put("tenant.wrong-key", TENANT_FILE.read_text("utf-8").replace(good["mail_domains"][0], "x.example"))
    store.put(f"tenant.{good['id']}", TENANT_FILE.read_text("utf-8"))

    report = sync_tenants(runtime.tenant_directory(), runtime.tenant_source(), runtime.key_store().provision)

    assert report.added == [good["id"]]
    assert sorted(report.invalid) == ["tenant.broken-one", "tenant.not-json", "tenant.wrong-key"]
    assert runtime.tenant_directory().get("broken-one") is None
    assert not key_exists(app_env, "broken-one")


def test_i2_a_changed_definition_is_updated_and_an_unchanged_one_is_not_written(store):
    good = json.loads(TENANT_FILE.read_text("utf-8"))
    store.put(f"tenant.{good['id']}", json.dumps(good))
    directory, source = runtime.tenant_directory(), runtime.tenant_source()
    provisioned: list[str] = []

    def provision(tenant_id: str) -> bool:
        provisioned.append(tenant_id)
        return runtime.key_store().provision(key_name(tenant_id))

    assert sync_tenants(directory, source, provision).added == [good["id"]]
    again = sync_tenants(directory, source, provision)
    assert (again.added, again.updated, again.unchanged) == ([], [], 1)
    store.put(f"tenant.{good['id']}", json.dumps({**good, "security_by_default": not good["security_by_default"]}))
    changed = sync_tenants(directory, source, provision)
    assert changed.updated == [good["id"]]
    assert directory.get(good["id"]).security_by_default is (not good["security_by_default"])
    assert provisioned == [good["id"], good["id"]]  # idempotent provisioning, only when something changed


def test_i2_a_tenant_missing_from_the_store_is_reported_not_removed(store):
    report = sync_tenants(runtime.tenant_directory(), runtime.tenant_source(), runtime.key_store().provision)
    # The test tenants were provisioned by hand (tests/data/tenants.json), not deployed.
    assert "zorg-a" in report.not_in_source
    assert runtime.tenant_directory().get("zorg-a") is not None


def test_i2_offboarding_removes_the_definition_the_tenant_and_its_phone_key(store, functions, app_env):
    from sendsecure.offboard import main

    tenant_id = json.loads(TENANT_FILE.read_text("utf-8"))["id"]
    store.put(f"tenant.{tenant_id}", TENANT_FILE.read_text("utf-8"))
    run_timer(functions)
    assert key_exists(app_env, tenant_id)

    assert main([tenant_id, "--yes"]) == 0

    assert f"tenant.{tenant_id}" not in store.items
    assert runtime.tenant_directory().get(tenant_id) is None
    assert not key_exists(app_env, tenant_id)
    run_timer(functions)  # nothing brings it back
    assert runtime.tenant_directory().get(tenant_id) is None


def test_i2_store_down_is_dependency_unavailable_and_changes_nothing(store):
    store.put("tenant.demo-zorg", TENANT_FILE.read_text("utf-8"))
    store.mode = "unavailable"
    with pytest.raises(DependencyUnavailable):
        sync_tenants(runtime.tenant_directory(), runtime.tenant_source(), runtime.key_store().provision)
    assert runtime.tenant_directory().get("demo-zorg") is None


def test_i2_without_a_store_the_timer_does_nothing(app_env, functions, monkeypatch):
    monkeypatch.setattr(runtime, "tenant_source", lambda: None)
    before = runtime.tenant_directory().all()
    run_timer(functions)
    assert runtime.tenant_directory().all() == before


def test_i2_runtime_builds_the_source_from_the_settings(app_env, monkeypatch):
    monkeypatch.setenv("TENANT_CONFIG_ENDPOINT", "https://sendsecure-test.azconfig.io/")
    runtime.reset()
    source = runtime.tenant_source()
    assert isinstance(source, TenantConfigSource)
    assert source._endpoint == "https://sendsecure-test.azconfig.io"


def test_i2_a_definition_claiming_another_tenants_domain_is_refused(store, app_env):
    good = json.loads(TENANT_FILE.read_text("utf-8"))
    owner = runtime.tenant_directory().get("zorg-a")
    store.put("tenant.thief", json.dumps({**good, "id": "thief", "mail_domains": [owner.mail_domains[0]]}))
    report = sync_tenants(runtime.tenant_directory(), runtime.tenant_source(), runtime.key_store().provision)
    assert report.invalid == ["tenant.thief"]
    assert runtime.tenant_directory().for_domain(owner.mail_domains[0]).id == "zorg-a"
    assert not key_exists(app_env, "thief")


def test_i2_a2_a_definition_claiming_another_tenants_entra_directory_is_refused(store, app_env):
    good = json.loads(TENANT_FILE.read_text("utf-8"))
    owner = next(t for t in runtime.tenant_directory().all() if t.entra_tenant_id)
    store.put("tenant.twin", json.dumps({**good, "id": "twin", "mail_domains": ["twin.example"],
                                         "entra_tenant_id": owner.entra_tenant_id}))
    report = sync_tenants(runtime.tenant_directory(), runtime.tenant_source(), runtime.key_store().provision)
    assert report.invalid == ["tenant.twin"]
    assert runtime.tenant_directory().get("twin") is None
    assert not key_exists(app_env, "twin")


def test_i2_offboarding_with_the_store_down_destroys_nothing(store, functions, app_env):
    from sendsecure.offboard import offboard

    tenant_id = json.loads(TENANT_FILE.read_text("utf-8"))["id"]
    store.put(f"tenant.{tenant_id}", TENANT_FILE.read_text("utf-8"))
    run_timer(functions)
    store.mode = "unavailable"
    with pytest.raises(DependencyUnavailable):
        offboard(tenant_id)
    assert runtime.tenant_directory().get(tenant_id) is not None
    assert key_exists(app_env, tenant_id)
