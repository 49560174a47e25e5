"""The signing key's versions for the JWKS (issue 10 item 4): ``versions(name)`` on both key stores."""
from __future__ import annotations

from pathlib import Path

import pytest
from fake_keyvault import FakeKeyVault, StoredVersion
from test_keyvault import FixedTokenCredential, _forget_challenges, stepping_clock

from sendsecure.adapters.keys import KeyMissing, LocalKeyStore
from sendsecure.adapters.keyvault import KeyVaultKeyStore
from sendsecure.core.signing import VerificationKeys, jwks_document, signing_key_from_seed
from sendsecure.sending import SIGNING_KEY, Signing


@pytest.fixture
def fake(ca):
    _forget_challenges()
    vault = FakeKeyVault()
    vault.start(ca)
    try:
        yield vault
    finally:
        vault.stop()


def vault_store(fake: FakeKeyVault, ca_bundle: str) -> KeyVaultKeyStore:
    return KeyVaultKeyStore(fake.base_url, FixedTokenCredential(fake.token), verify_challenge_resource=False,
                            connection_verify=ca_bundle)


def test_issue10_item4_local_versions_newest_first_and_a_rotation_is_listed_at_once(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path / "keys")
    with pytest.raises(KeyMissing):
        store.versions(SIGNING_KEY)
    store.provision(SIGNING_KEY)
    first = store.current(SIGNING_KEY)[0]
    assert store.versions(SIGNING_KEY) == [first]
    second = store.rotate(SIGNING_KEY)[0]
    assert store.versions(SIGNING_KEY) == [second, first]


def test_issue10_item4_local_versions_are_cached_per_worker(tmp_path: Path) -> None:
    store, other = LocalKeyStore(tmp_path / "keys"), LocalKeyStore(tmp_path / "keys")
    store.provision(SIGNING_KEY)
    listed = store.versions(SIGNING_KEY)
    other.rotate(SIGNING_KEY)                        # another worker rotates
    assert store.versions(SIGNING_KEY) == listed     # this one keeps its list for verify_ttl
    fresh = LocalKeyStore(tmp_path / "keys", verify_ttl=0.0)
    assert len(fresh.versions(SIGNING_KEY)) == 2


def test_issue10_item4_key_vault_lists_secret_versions_newest_first_skipping_disabled(fake, ca_bundle) -> None:
    fake.clock = stepping_clock()
    store = vault_store(fake, ca_bundle)
    try:
        with pytest.raises(KeyMissing):
            store.versions(SIGNING_KEY)
        store.provision(SIGNING_KEY)
        versions = [store.current(SIGNING_KEY)[0], store.rotate(SIGNING_KEY)[0], store.rotate(SIGNING_KEY)[0]]
        assert store.versions(SIGNING_KEY) == versions[::-1]
        disabled: StoredVersion = fake.secrets[SIGNING_KEY][1]
        disabled.enabled = False
        assert vault_store(fake, ca_bundle).versions(SIGNING_KEY) == [versions[2], versions[0]]
        # the JWKS of the vault's versions verifies what each version signed
        signing = Signing(store)
        document = signing.jwks()
        assert len(document["keys"]) == 3
        keys = VerificationKeys.from_jwks(document)
        assert signing.current().kid == document["keys"][0]["kid"] and signing.current().kid in keys
        assert jwks_document([signing_key_from_seed(store.version(SIGNING_KEY, versions[0]))])["keys"][0] \
            in document["keys"]
        listed = [call for call in fake.calls() if "/versions" in call[1]]
        assert listed  # the REST call "Get Secret Versions"
    finally:
        store.close()
