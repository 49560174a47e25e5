"""Phone numbers with the Key Vault key store against the local HTTPS vault (SPEC P4): the
whole path from the HTTP function to the vault, including the vault failing."""
from __future__ import annotations

import json

import azure.functions as func
import pytest
from fake_keyvault import FakeKeyVault
from test_keyvault import FixedTokenCredential, _forget_challenges

from sendsecure import runtime
from sendsecure.adapters import storage


@pytest.fixture
def vault_phones(app_env, ca, ca_bundle, monkeypatch):
    """The app's phone book, its keys in the fake vault instead of the local folder."""
    from sendsecure.adapters.keyvault import KeyVaultKeyStore

    _forget_challenges()
    vault = FakeKeyVault()
    vault.start(ca)
    store = KeyVaultKeyStore(vault.base_url, FixedTokenCredential(vault.token), verify_challenge_resource=False,
                             connection_verify=ca_bundle)
    for name in ("master-key", "phone-key-zorg-a"):  # provisioning; requests never create keys
        store.provision(name)
    monkeypatch.setattr(runtime, "key_store", lambda: store)
    runtime.phonebook.cache_clear()
    runtime.pseudonyms.cache_clear()
    runtime.derived_keys.cache_clear()
    yield vault
    runtime.phonebook.cache_clear()
    store.close()
    vault.stop()


def request(method, path, token, body):
    return func.HttpRequest(method, f"http://127.0.0.1/api/v1/phones{path}",
                            headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
                            params={}, route_params={}, body=json.dumps(body).encode())


def test_p4_numbers_are_sealed_with_a_key_from_key_vault(vault_phones, functions):
    token, _ = runtime.sessions().create(tenant_id="zorg-a", mailbox="alice@ziekenhuis-a.example",
                                         login_method="email_code", device_id="d")
    stored = functions["put_phone"].get_user_function()(
        request("PUT", "", token, {"address": "piet@gmail.example", "phone": "0612345678"}))
    assert stored.status_code == 200
    assert any("phone-key-zorg-a" in path for _, path in vault_phones.calls())
    found = functions["lookup_phones"].get_user_function()(
        request("POST", "/lookup", token, {"addresses": ["piet@gmail.example"]}))
    assert [p["phone"] for p in json.loads(found.get_body())["phones"]] == ["+31612345678"]


@pytest.mark.parametrize("mode", ["throttle", "unavailable"])
def test_p4_vault_throttling_or_down_is_503_and_nothing_is_written(vault_phones, functions, mode):
    token, _ = runtime.sessions().create(tenant_id="zorg-a", mailbox="bob@ziekenhuis-a.example",
                                         login_method="email_code", device_id="d")
    vault_phones.mode = mode
    response = functions["put_phone"].get_user_function()(
        request("PUT", "", token, {"address": "piet@gmail.example", "phone": "0612345678"}))
    assert response.status_code == 503
    body = json.loads(response.get_body())
    assert body["code"] == "dependency_unavailable" and int(response.headers["Retry-After"]) > 0
    if mode == "throttle":
        assert response.headers["Retry-After"] == "7"
    assert list(runtime.tables().query(storage.PHONES, "PartitionKey ne ''")) == []
