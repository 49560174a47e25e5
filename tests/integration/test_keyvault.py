"""SPEC P4: keys held in Key Vault, through the real azure-keyvault-secrets client.

``fake_keyvault.FakeKeyVault`` is a local HTTPS server on 127.0.0.1 (certificate from a throwaway
trustme CA) that speaks the Key Vault secrets REST calls the adapter makes, including the 401
challenge that the SDK's authentication policy answers with a token for the vault's scope.
The store is built as in Azure, plus ``verify_challenge_resource=False`` (the fake's host is not a
``*.vault.azure.net`` name) and ``connection_verify=<CA bundle>`` (trust the fake's certificate).
"""
from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.credentials import AccessToken
from fake_keyvault import TENANT, FakeKeyVault, StoredVersion

from sendsecure.adapters.keys import KeyMissing, KeyNotFound, KeyStoreUnavailable, encode_key
from sendsecure.adapters.keyvault import CONTENT_TYPE, KeyVaultKeyStore, key_vault_store_from_settings
from sendsecure.errors import ConfigurationError

NAME = "tenant-7d5a3c1e-phone-key"
VAULT_SCOPE = "https://vault.azure.net/.default"


class FixedTokenCredential:
    """A TokenCredential that hands out one fixed token and records what it was asked for.

    The Key Vault challenge policy calls ``get_token(scope, tenant_id=..., enable_cae=True)``; it
    would prefer ``get_token_info`` but only when the credential has it, so this one does not.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.calls.append((scopes, kwargs))
        return AccessToken(self.token, int(time.time()) + 3600)


def _forget_challenges() -> None:
    """The SDK caches a vault's challenge per host:port for the whole process; start each test
    without it, so a port used again by a later fake cannot skip the 401 round trip."""
    try:
        from azure.keyvault.secrets._shared import http_challenge_cache
    except ImportError:  # pragma: no cover - a later SDK may move it; the tests then still run
        return
    http_challenge_cache.clear()


@pytest.fixture
def fake(ca: trustme.CA) -> Iterator[FakeKeyVault]:
    """The fake vault on 127.0.0.1 only; shut down (shutdown + server_close) afterwards."""
    _forget_challenges()
    vault = FakeKeyVault()
    vault.start(ca)
    try:
        yield vault
    finally:
        vault.stop()
    assert vault.problems == []


@pytest.fixture
def make_store(fake: FakeKeyVault, ca_bundle: str) -> Iterator[Callable[..., KeyVaultKeyStore]]:
    stores: list[KeyVaultKeyStore] = []

    def make(credential: Any = None, **options: Any) -> KeyVaultKeyStore:
        store = KeyVaultKeyStore(fake.base_url, credential or FixedTokenCredential(fake.token),
                                 verify_challenge_resource=False, connection_verify=ca_bundle, **options)
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.close()


def stepping_clock(start: int = 1_700_000_000) -> Callable[[], int]:
    """Creation times one second apart, in the past: versions written at different moments."""
    return itertools.count(start).__next__


# ----- create, cache, rotate ----------------------------------------------------------------------


def test_p4_provision_creates_the_key_exactly_once(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    assert store.provision(NAME) is True
    assert make_store().provision(NAME) is False
    version, key = store.current(NAME)

    assert len(key) == 32
    assert fake.versions(NAME) == [version]
    stored = fake.secrets[NAME][0]
    assert stored.value == encode_key(key)
    assert stored.content_type == CONTENT_TYPE
    assert make_store().current(NAME) == (version, key)  # another worker sees the same key
    assert fake.versions(NAME) == [version]


def test_p4_keys_are_cached_per_store(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    version, key = store.current(NAME)
    requests = fake.request_count()

    assert store.current(NAME) == (version, key)
    assert store.version(NAME, version) == key

    assert fake.request_count() == requests


def test_p4_current_is_read_again_after_its_ttl_and_sees_a_rotation_elsewhere(fake: FakeKeyVault, make_store) -> None:
    reader = make_store(current_ttl=0)
    reader.provision(NAME)
    reader.current(NAME)

    new_version, new_key = make_store().rotate(NAME)

    assert reader.current(NAME) == (new_version, new_key)


def test_p4_rotate_gives_a_new_version_and_old_versions_still_open(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    old_version, old_key = store.current(NAME)

    new_version, new_key = store.rotate(NAME)

    assert new_version != old_version and new_key != old_key
    assert store.current(NAME) == (new_version, new_key)
    other = make_store()
    assert other.version(NAME, old_version) == old_key
    assert other.version(NAME, new_version) == new_key
    assert other.current(NAME) == (new_version, new_key)
    assert fake.versions(NAME) == [old_version, new_version]


def test_p4_a_missing_version_is_key_not_found(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    store.current(NAME)

    with pytest.raises(KeyNotFound):
        store.version(NAME, "0" * 32)
    with pytest.raises(KeyNotFound):
        store.version("never-created", "0" * 32)


@pytest.mark.parametrize("version", ["", "latest", "../x", "A" * 32, "0" * 31, "0" * 33, "versions"])
def test_p4_only_key_vault_versions_are_asked_for(fake: FakeKeyVault, make_store, version: str) -> None:
    store = make_store()
    store.provision(NAME)
    store.current(NAME)
    requests = fake.request_count()

    with pytest.raises(KeyNotFound):  # "" in particular must not mean "the latest version"
        store.version(NAME, version)

    assert fake.request_count() == requests


# ----- stable ---------------------------------------------------------------------------------------


def test_p4_stable_is_the_oldest_version_even_after_rotations(fake: FakeKeyVault, make_store) -> None:
    fake.clock = stepping_clock()
    store = make_store()
    store.provision(NAME)
    first_version, first_key = store.current(NAME)
    for _ in range(3):
        store.rotate(NAME)

    assert store.stable(NAME) == first_key
    assert make_store().stable(NAME) == first_key
    # Four versions in pages of two: the adapter followed nextLink to see them all.
    assert fake.calls().count(("GET", f"/secrets/{NAME}/versions")) >= 2
    assert store.current(NAME)[0] != first_version


def test_p4_stable_ties_in_the_same_second_go_to_the_smallest_version(fake: FakeKeyVault, make_store) -> None:
    fake.clock = lambda: 1_700_000_000  # Key Vault's created time has whole seconds
    keys = dict(make_store().rotate(NAME) for _ in range(3))

    assert make_store().stable(NAME) == keys[min(keys)]


def test_p4_stable_skips_disabled_versions(fake: FakeKeyVault, make_store) -> None:
    fake.clock = stepping_clock()
    store = make_store()
    store.provision(NAME)
    store.current(NAME)
    _, second_key = store.rotate(NAME)
    fake.secrets[NAME][0].enabled = False

    assert make_store().stable(NAME) == second_key


def test_p4_two_stores_provisioning_the_stable_key_at_once_agree(fake: FakeKeyVault, make_store) -> None:
    stores = [make_store(), make_store()]
    start = threading.Barrier(len(stores))
    results: list[bytes] = []
    errors: list[BaseException] = []

    def first_use(store: KeyVaultKeyStore) -> None:
        try:
            start.wait(timeout=5)
            store.provision("pseudonym-key")
            results.append(store.stable("pseudonym-key"))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)

    assert errors == []
    assert len(results) == 2 and results[0] == results[1]
    assert 1 <= len(fake.versions("pseudonym-key")) <= 2
    assert make_store().stable("pseudonym-key") == results[0]


def test_p4_a_fresh_stable_key_waits_for_same_second_creators(fake: FakeKeyVault, make_store) -> None:
    """A worker that saw only its own new version must not settle on it while another worker can
    still write a version with the same created second (and a smaller version string)."""
    now = int(time.time())
    fake.clock = lambda: now
    late_key = b"\x01" * 32

    def concurrent_creator(method: str, path: str) -> None:
        # Right after the store's first look at its own new version, another worker's write lands.
        if (method, path) == ("GET", f"/secrets/{NAME}/versions") and len(fake.secrets.get(NAME, [])) == 1:
            fake.secrets[NAME].append(StoredVersion("0" * 32, encode_key(late_key), CONTENT_TYPE, now))

    fake.after_answer = concurrent_creator
    store = make_store()
    store.provision(NAME)
    key = store.stable(NAME)

    assert key == late_key
    assert fake.calls().count(("GET", f"/secrets/{NAME}/versions")) == 2  # own version, after the wait
    assert make_store().stable(NAME) == late_key


# ----- destroy --------------------------------------------------------------------------------------


def test_p4_destroy_deletes_and_purges_every_version(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    old_version, old_key = store.current(NAME)
    rotated_version, rotated_key = store.rotate(NAME)

    store.destroy(NAME)

    assert NAME not in fake.secrets and NAME not in fake.deleted
    calls = fake.calls()
    delete = calls.index(("DELETE", f"/secrets/{NAME}"))
    poll = calls.index(("GET", f"/deletedsecrets/{NAME}"))
    purge = calls.index(("DELETE", f"/deletedsecrets/{NAME}"))
    assert delete < poll < purge
    for reader in (store, make_store()):
        with pytest.raises(KeyNotFound):
            reader.version(NAME, old_version)
        with pytest.raises(KeyNotFound):
            reader.version(NAME, rotated_version)
    with pytest.raises(KeyMissing):
        store.current(NAME)  # a destroyed key is not made again by its next use
    store.provision(NAME)
    fresh_version, fresh_key = store.current(NAME)
    assert fresh_version not in (old_version, rotated_version)
    assert fresh_key not in (old_key, rotated_key)
    assert fake.versions(NAME) == [fresh_version]


def test_p4_destroy_waits_for_a_slow_deletion_before_purging(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    store.current(NAME)
    fake.deletion_pending = 2

    store.destroy(NAME)

    assert NAME not in fake.secrets and NAME not in fake.deleted
    assert fake.calls().count(("GET", f"/deletedsecrets/{NAME}")) == 3


def test_p4_destroy_that_times_out_can_be_repeated(fake: FakeKeyVault, make_store) -> None:
    store = make_store(delete_timeout=0.3)
    store.provision(NAME)
    version, _ = store.current(NAME)
    fake.deletion_pending = 1000

    with pytest.raises(KeyStoreUnavailable):
        store.destroy(NAME)
    assert NAME in fake.deleted  # deleted, not yet purged

    fake.deletion_pending = 0
    store.destroy(NAME)  # the secret is already deleted: straight to the purge

    assert NAME not in fake.deleted
    assert fake.calls()[-2:] == [("DELETE", f"/secrets/{NAME}"), ("DELETE", f"/deletedsecrets/{NAME}")]
    with pytest.raises(KeyNotFound):
        make_store().version(NAME, version)


def test_p4_destroy_of_a_key_that_never_existed_is_fine(fake: FakeKeyVault, make_store) -> None:
    make_store().destroy("never-created")

    assert ("DELETE", "/deletedsecrets/never-created") in fake.calls()


def test_p4_destroy_with_purge_forbidden_warns_and_blocks_the_name(
    fake: FakeKeyVault, make_store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.purge_forbidden = True
    store = make_store()
    store.provision(NAME)
    version, key = store.current(NAME)

    store.destroy(NAME)  # deleted, though recoverable by an administrator: a warning, no error

    warnings = [r.getMessage() for r in caplog.records
                if r.name == "sendsecure.adapters.keyvault" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and NAME in warnings[0] and "403" in warnings[0]
    assert NAME in fake.deleted
    with pytest.raises(KeyNotFound):
        make_store().version(NAME, version)
    with pytest.raises(KeyStoreUnavailable):
        store.current(NAME)
    with pytest.raises(KeyStoreUnavailable):  # Key Vault: 409, the name is soft-deleted
        store.provision(NAME)

    fake.purge_forbidden = False  # e.g. the purge permission was granted: destroy again
    store.destroy(NAME)
    assert NAME not in fake.deleted
    store.provision(NAME)
    assert store.current(NAME)[1] != key
    texts = [r.getMessage() for r in caplog.records]
    assert all(encode_key(key) not in text and key.hex() not in text for text in texts)


# ----- failures -------------------------------------------------------------------------------------


def test_p4_throttling_is_unavailable_with_key_vaults_retry_after(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    fake.mode = "throttle"

    with pytest.raises(KeyStoreUnavailable) as raised:
        store.current(NAME)

    assert raised.value.status == 503
    assert raised.value.retry_after == 7
    assert fake.calls() == [("GET", f"/secrets/{NAME}")]  # passed on, not retried (or slept on) inside


def test_p4_vault_errors_are_unavailable(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    fake.mode = "unavailable"

    with pytest.raises(KeyStoreUnavailable) as raised:
        store.current(NAME)

    assert raised.value.status == 503
    assert raised.value.retry_after == 5


def test_p4_vault_gone_is_unavailable_quickly(fake: FakeKeyVault, make_store) -> None:
    store = make_store()
    store.provision(NAME)
    store.current(NAME)
    fake.stop()
    started = time.monotonic()

    with pytest.raises(KeyStoreUnavailable):
        store.current("another-key")

    assert time.monotonic() - started < 10  # one quick retry, no long back-off
    assert store.current(NAME)[1]  # still served from the cache


def test_p4_vault_that_does_not_answer_times_out_as_unavailable(fake: FakeKeyVault, make_store) -> None:
    store = make_store(read_timeout=0.5)
    fake.mode = "stall"

    with pytest.raises(KeyStoreUnavailable):
        store.current(NAME)

    assert fake.calls() == [("GET", f"/secrets/{NAME}")]  # a read timeout is not sent again


def test_p4_refused_token_is_unavailable(fake: FakeKeyVault, make_store) -> None:
    with pytest.raises(KeyStoreUnavailable) as raised:
        make_store(FixedTokenCredential("not-the-token")).current(NAME)

    assert "not-the-token" not in str(raised.value)
    assert fake.problems and all("did not issue" in problem for problem in fake.problems)
    fake.problems.clear()


def test_p4_a_secret_that_is_not_a_key_is_unavailable(fake: FakeKeyVault, make_store) -> None:
    fake.secrets[NAME] = [StoredVersion("a" * 32, "correct horse battery staple", None, 1_700_000_000)]

    with pytest.raises(KeyStoreUnavailable) as raised:
        make_store().current(NAME)

    assert "horse" not in str(raised.value)


def test_p4_no_key_material_or_token_in_errors_or_logs(
    fake: FakeKeyVault, make_store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the Azure SDK's own loggers included
    store = make_store()
    store.provision(NAME)
    version, key = store.current(NAME)
    _, rotated = store.rotate(NAME)
    raised: list[KeyStoreUnavailable] = []
    for mode, action in [("unavailable", lambda: make_store().version(NAME, version)),
                         ("throttle", lambda: store.rotate(NAME)),
                         ("stall", lambda: make_store(read_timeout=0.3).current(NAME))]:
        fake.mode = mode
        with pytest.raises(KeyStoreUnavailable) as error:
            action()
        raised.append(error.value)
    fake.release.set()

    texts = [text for error in raised for text in (str(error), repr(error), error.detail)]
    texts += [record.getMessage() for record in caplog.records]
    assert any("sendsecure.adapters.keyvault" == record.name for record in caplog.records)
    for secret in (encode_key(key), key.hex(), encode_key(rotated), rotated.hex(), fake.token):
        assert all(secret not in text for text in texts)


def test_p4_the_key_vault_challenge_is_answered_with_a_vault_token(fake: FakeKeyVault, make_store) -> None:
    credential = FixedTokenCredential(fake.token)

    make_store(credential).provision(NAME)

    first, second = fake.seen[0], fake.seen[1]
    assert (first.method, first.path, first.authorized, first.status) == ("GET", f"/secrets/{NAME}", False, 401)
    assert (second.method, second.path, second.authorized) == ("GET", f"/secrets/{NAME}", True)
    assert credential.calls and all(scopes == (VAULT_SCOPE,) for scopes, _ in credential.calls)
    assert credential.calls[0][1].get("tenant_id") == TENANT
    assert all(seen.authorized for seen in fake.seen[1:])


# ----- construction ---------------------------------------------------------------------------------


def test_p4_key_vault_url_must_be_https() -> None:
    with pytest.raises(ConfigurationError):
        KeyVaultKeyStore("http://vault.example", FixedTokenCredential("t"))


def test_p4_factory_uses_the_managed_identity() -> None:
    from azure.identity import ManagedIdentityCredential

    for client_id in ("", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"):
        store = key_vault_store_from_settings("https://sendsecure-test.vault.azure.net", client_id)
        assert isinstance(store, KeyVaultKeyStore)
        assert isinstance(store._credential, ManagedIdentityCredential)


def test_p4_keyvault_module_imports_no_azure_sdk() -> None:
    probe = ("import sys, sendsecure.adapters.keyvault as kv; "
             "kv.KeyVaultKeyStore('https://x.vault.azure.net', object()); "
             "print(sorted(m for m in sys.modules if m.startswith('azure')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"


# ----- issue 7 item 10: a deadline bounds every Key Vault call ------------------------------------


def test_issue7_item10_a_stalled_vault_ends_by_the_requests_deadline(fake: FakeKeyVault, make_store) -> None:
    import concurrent.futures

    from sendsecure.context import deadline

    store = make_store(read_timeout=60)  # the store's own timeout would let a request hang a minute
    fake.mode = "stall"

    def on_send_like() -> None:
        with deadline(0.3):
            store.current(NAME)

    pool = concurrent.futures.ThreadPoolExecutor(1)
    try:
        error = pool.submit(on_send_like).exception(timeout=5)  # TimeoutError here: the hang
    finally:
        fake.release.set()
        pool.shutdown()
    from sendsecure.errors import DependencyUnavailable

    assert isinstance(error, DependencyUnavailable) and error.retry_after  # 503 with Retry-After
