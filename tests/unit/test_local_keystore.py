"""SPEC P4 on the development key store: ``LocalKeyStore`` (one file per key version)."""
from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from sendsecure.adapters.keys import KeyNotFound, LocalKeyStore, decode_key

NAME = "tenant-7d5a3c1e-phone-key"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_p4_local_current_creates_one_key_file_readable_only_by_the_owner(tmp_path: Path) -> None:
    version, key = LocalKeyStore(tmp_path / "keys").current(NAME)

    folder = tmp_path / "keys" / NAME
    files = list(folder.iterdir())
    assert [f.name for f in files] == [f"{version}.key"]
    assert mode(files[0]) == 0o600
    assert mode(folder) == 0o700
    assert decode_key(files[0].read_text("ascii")) == key
    assert len(key) == 32


def test_p4_local_a_second_store_sees_the_same_key(tmp_path: Path) -> None:
    first = LocalKeyStore(tmp_path).current(NAME)

    assert LocalKeyStore(tmp_path).current(NAME) == first
    assert len(list((tmp_path / NAME).iterdir())) == 1


def test_p4_local_current_is_cached_until_its_ttl(tmp_path: Path) -> None:
    cached, fresh, writer = LocalKeyStore(tmp_path), LocalKeyStore(tmp_path, current_ttl=0), LocalKeyStore(tmp_path)
    original = cached.current(NAME)
    fresh.current(NAME)

    rotated = writer.rotate(NAME)

    assert cached.current(NAME) == original  # within its TTL
    assert fresh.current(NAME) == rotated  # re-read: the rotation elsewhere is picked up


def test_p4_local_rotate_gives_a_new_version_and_old_versions_still_open(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    old_version, old_key = store.current(NAME)

    new_version, new_key = store.rotate(NAME)

    assert new_version != old_version and new_key != old_key
    assert store.current(NAME) == (new_version, new_key)
    other = LocalKeyStore(tmp_path)
    assert other.version(NAME, old_version) == old_key
    assert other.version(NAME, new_version) == new_key
    assert other.current(NAME) == (new_version, new_key)
    assert all(mode(p) == 0o600 for p in (tmp_path / NAME).iterdir())


def test_p4_local_stable_is_the_oldest_version_even_after_rotations(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    _, first_key = store.current(NAME)
    for _ in range(3):
        store.rotate(NAME)

    assert store.stable(NAME) == first_key
    assert LocalKeyStore(tmp_path).stable(NAME) == first_key


def test_p4_local_two_stores_agree_on_a_new_stable_key(tmp_path: Path) -> None:
    one, two = LocalKeyStore(tmp_path), LocalKeyStore(tmp_path)

    assert one.stable("pseudonym-key") == two.stable("pseudonym-key")
    assert len(list((tmp_path / "pseudonym-key").iterdir())) == 1


def test_p4_local_stores_creating_the_stable_key_at_once_agree(tmp_path: Path) -> None:
    for attempt in range(100):  # the race shows in about one attempt in five with four threads
        folder = tmp_path / str(attempt)
        stores = [LocalKeyStore(folder) for _ in range(4)]
        start = threading.Barrier(len(stores))
        results: list[bytes] = []
        errors: list[BaseException] = []

        def first_use(store: LocalKeyStore) -> None:
            try:
                start.wait(timeout=5)
                results.append(store.stable("pseudonym-key"))
            except BaseException as error:  # noqa: BLE001 - reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=first_use, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)

        assert errors == []
        assert len(results) == len(stores) and len(set(results)) == 1
        assert LocalKeyStore(folder).stable("pseudonym-key") == results[0]


def test_p4_local_destroy_removes_every_version(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    old_version, old_key = store.current(NAME)
    rotated_version, rotated_key = store.rotate(NAME)
    stable_key = store.stable(NAME)

    store.destroy(NAME)

    assert not (tmp_path / NAME).exists()
    for reader in (store, LocalKeyStore(tmp_path)):
        with pytest.raises(KeyNotFound):
            reader.version(NAME, old_version)
        with pytest.raises(KeyNotFound):
            reader.version(NAME, rotated_version)
    fresh_version, fresh_key = store.current(NAME)
    assert fresh_version not in (old_version, rotated_version)
    assert fresh_key not in (old_key, rotated_key, stable_key)
    assert store.stable(NAME) == fresh_key


def test_p4_local_destroy_of_a_key_that_never_existed_is_fine(tmp_path: Path) -> None:
    LocalKeyStore(tmp_path).destroy("never-created")


def test_p4_local_destroy_leaves_other_keys_alone(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    _, kept = store.current("other-tenant-key")
    store.current(NAME)

    store.destroy(NAME)

    assert LocalKeyStore(tmp_path).current("other-tenant-key")[1] == kept


def test_p4_local_a_missing_version_is_key_not_found(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    store.current(NAME)

    with pytest.raises(KeyNotFound):
        store.version(NAME, "0" * 28)
    with pytest.raises(KeyNotFound):
        store.version("never-created", "0" * 28)


@pytest.mark.parametrize("version", ["", "../x", "..", "ABCDEF", "0" * 65, "a/b", "a.key", " 0", "0\x00", "latest"])
def test_p4_local_versions_that_are_not_hex_are_refused(tmp_path: Path, version: str) -> None:
    store = LocalKeyStore(tmp_path / "keys")
    store.current(NAME)
    (tmp_path / "x.key").write_text("not read")  # what "../x" could reach without the check

    with pytest.raises(KeyNotFound):
        store.version(NAME, version)


def test_p4_local_a_version_cannot_reach_another_keys_folder(tmp_path: Path) -> None:
    store = LocalKeyStore(tmp_path)
    other_version, _ = store.current("other-tenant-key")
    store.current(NAME)

    with pytest.raises(KeyNotFound):
        store.version(NAME, f"../other-tenant-key/{other_version}")
    with pytest.raises(KeyNotFound):
        store.version(NAME, other_version)  # a version of another key is no version of this one


@pytest.mark.parametrize("name", ["../x", "", "UPPER", "a/b", "a" * 101, "a.b"])
def test_p4_local_key_names_are_checked(tmp_path: Path, name: str) -> None:
    store = LocalKeyStore(tmp_path)

    for use in (store.current, store.rotate, store.stable, store.destroy, lambda n: store.version(n, "0")):
        with pytest.raises(ValueError):
            use(name)
    assert list(tmp_path.iterdir()) == []
