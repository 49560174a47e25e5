"""Secret keys behind one interface, and the keyed hashes (pseudonyms) made with them.

A key store keeps named 256-bit keys in versions (SPEC P4, DESIGN "Keys"):
- ``current(name)`` -> (version, key), creating the key on first use;
- ``version(name, version)`` -> key: an older version still opens what it sealed;
- ``rotate(name)`` -> (version, key): a new current version;
- ``destroy(name)``: every version gone (offboarding); afterwards ``KeyNotFound``;
- ``stable(name)`` -> key: the oldest version, for keys that must never change (pseudonyms).
  Two workers that create the same key at once both end up with the same (oldest) version.

Two implementations, chosen by ``KEY_STORE``: ``keyvault`` (Azure Key Vault secrets through
azure-keyvault-secrets and the managed identity; ``sendsecure/keyvault.py``) and ``local``
(development only: one file per version, mode 0600, in ``LOCAL_KEY_DIR``). Both cache keys
in memory per worker (Microsoft's advice: key in Key Vault, cached; data in storage): a
version is immutable and kept; the current version is re-read after ``current_ttl`` seconds
so a rotation elsewhere is picked up.
"""
from __future__ import annotations

import abc
import base64
import contextlib
import hashlib
import hmac
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Protocol

from sendsecure.errors import DependencyUnavailable

NAME_RE = re.compile(r"^[a-z0-9-]{1,100}$")
MASTER_KEY = "master-key"  # the deployment's master secret; every keyed hash derives from it


class KeyNotFound(Exception):
    """The key (or this version of it) does not exist, e.g. because it was destroyed."""


class KeyStoreUnavailable(DependencyUnavailable):
    """The key store does not answer or throttles (503 with Retry-After)."""


class KeyStore(Protocol):
    def current(self, name: str) -> tuple[str, bytes]: ...
    def version(self, name: str, version: str) -> bytes: ...
    def rotate(self, name: str) -> tuple[str, bytes]: ...
    def destroy(self, name: str) -> None: ...
    def stable(self, name: str) -> bytes: ...


def new_key() -> bytes:
    return secrets.token_bytes(32)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(text: str) -> bytes:
    key = base64.b64decode(text, validate=True)
    if len(key) != 32:
        raise ValueError("a key must be 256 bits")
    return key


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ValueError("key names are 1-100 characters of a-z, 0-9 and '-'")
    return name


class CachedKeyStore(abc.ABC):
    """The per-worker cache shared by both stores; subclasses do the reading and writing."""

    def __init__(self, current_ttl: float = 300.0) -> None:
        self._current_ttl = current_ttl
        self._current: dict[str, tuple[str, bytes, float]] = {}
        self._versions: dict[tuple[str, str], bytes] = {}
        self._stable: dict[str, bytes] = {}
        self._lock = threading.Lock()

    # ----- what a store implements ----------------------------------------------------------
    @abc.abstractmethod
    def _read_current(self, name: str) -> tuple[str, bytes] | None:
        """The newest version and its key, or ``None`` if the key does not exist."""

    @abc.abstractmethod
    def _read_oldest(self, name: str) -> tuple[str, bytes] | None:
        """The oldest version and its key, or ``None`` if the key does not exist."""

    @abc.abstractmethod
    def _read_version(self, name: str, version: str) -> bytes | None:
        """One version's key, or ``None`` if there is no such version."""

    @abc.abstractmethod
    def _write_new_version(self, name: str, key: bytes) -> str:
        """Store ``key`` as a new version of ``name``; returns the version."""

    @abc.abstractmethod
    def _delete(self, name: str) -> None:
        """Remove every version of ``name`` for good."""

    # ----- the interface -----------------------------------------------------------------
    def current(self, name: str) -> tuple[str, bytes]:
        check_name(name)
        cached = self._current.get(name)
        if cached is not None and time.monotonic() - cached[2] < self._current_ttl:
            return cached[0], cached[1]
        with self._lock:
            found = self._read_current(name)
            if found is None:
                key = new_key()
                found = (self._write_new_version(name, key), key)
            self._remember(name, *found)
            return found

    def version(self, name: str, version: str) -> bytes:
        check_name(name)
        key = self._versions.get((name, version))
        if key is not None:
            return key
        key = self._read_version(name, version)
        if key is None:
            raise KeyNotFound()
        self._versions[(name, version)] = key
        return key

    def rotate(self, name: str) -> tuple[str, bytes]:
        check_name(name)
        with self._lock:
            key = new_key()
            version = self._write_new_version(name, key)
            self._remember(name, version, key)
            return version, key

    def destroy(self, name: str) -> None:
        check_name(name)
        with self._lock:
            try:
                self._delete(name)
            finally:  # this worker forgets the key even if the store failed half way
                self._current.pop(name, None)
                self._stable.pop(name, None)
                for cached in [k for k in self._versions if k[0] == name]:
                    del self._versions[cached]

    def stable(self, name: str) -> bytes:
        check_name(name)
        cached = self._stable.get(name)
        if cached is not None:
            return cached
        with self._lock, self._creation_guard(name):
            found = self._read_oldest(name)
            if found is None:
                self._write_new_version(name, new_key())
                found = self._read_oldest(name)  # a concurrent creator may have been first
                if found is None:
                    raise KeyStoreUnavailable("The key store lost a key it just wrote.")
            self._stable[name] = found[1]
            self._versions[(name, found[0])] = found[1]
            return found[1]

    def _creation_guard(self, name: str):
        """Held while a stable key may be created; stores that can, serialise across processes."""
        return contextlib.nullcontext()

    def _remember(self, name: str, version: str, key: bytes) -> None:
        self._current[name] = (version, key, time.monotonic())
        self._versions[(name, version)] = key


class LocalKeyStore(CachedKeyStore):
    """Development only: ``<folder>/<name>/<version>.key`` files (mode 0600), base64 inside.

    Versions are time-ordered names, so the newest file is the current version.
    """

    def __init__(self, folder: str | Path, current_ttl: float = 300.0) -> None:
        super().__init__(current_ttl)
        self._folder = Path(folder)

    def _dir(self, name: str) -> Path:
        return self._folder / name

    def _versions_on_disk(self, name: str) -> list[str]:
        try:
            return sorted(p.stem for p in self._dir(name).glob("*.key"))
        except OSError as error:
            raise KeyStoreUnavailable("The local key store cannot be read.") from error

    def _read_current(self, name: str) -> tuple[str, bytes] | None:
        versions = self._versions_on_disk(name)
        return (versions[-1], self._read_version(name, versions[-1])) if versions else None

    def _read_oldest(self, name: str) -> tuple[str, bytes] | None:
        versions = self._versions_on_disk(name)
        return (versions[0], self._read_version(name, versions[0])) if versions else None

    def _read_version(self, name: str, version: str) -> bytes | None:
        if not re.fullmatch(r"[0-9a-f]{1,64}", version):
            return None
        try:
            return decode_key((self._dir(name) / f"{version}.key").read_text("ascii").strip())
        except FileNotFoundError:
            return None

    def _write_new_version(self, name: str, key: bytes) -> str:
        folder = self._dir(name)
        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.mkdir(exist_ok=True, mode=0o700)
        version = f"{time.time_ns():020d}{secrets.token_hex(4)}"
        # Written under a temporary name and linked into place: a reader never sees a key file
        # without its key, and link() fails rather than overwrite.
        temporary = folder / f".{version}.{secrets.token_hex(4)}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(encode_key(key))
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temporary, folder / f"{version}.key")
        finally:
            temporary.unlink(missing_ok=True)
        return version

    @contextlib.contextmanager
    def _creation_guard(self, name: str):
        import fcntl

        self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self._folder / f".{name}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)   # other processes on this folder wait here
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _delete(self, name: str) -> None:
        shutil.rmtree(self._dir(name), ignore_errors=True)


class DerivedKeys:
    """One 256-bit key per purpose, derived with HKDF-SHA256 (RFC 5869) from the master secret.

    Purposes never share a key: handing an auditor the key that turns audit pseudonyms back
    into mailboxes does not let them test which recipients a person stored numbers for, nor
    forge a login code's MAC. Derived keys are cached per worker with the master secret.
    """

    def __init__(self, keys: KeyStore, master: str = MASTER_KEY) -> None:
        self._keys = keys
        self._master = master
        self._derived: dict[tuple[bytes, str], bytes] = {}

    def key(self, purpose: str) -> bytes:
        master = self._keys.stable(self._master)
        cached = self._derived.get((master, purpose))
        if cached is None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.kdf.hkdf import HKDF

            cached = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                          info=f"sendsecure/v1/{purpose}".encode("utf-8")).derive(master)
            self._derived[(master, purpose)] = cached
        return cached


class Pseudonyms:
    """Keyed hashes of personal identifiers (mailboxes, client addresses) for rows and audit.

    Each kind of identifier has its own derived key (purpose ``pseudonym:<kind>``). Without
    that key a pseudonym cannot be turned back into the address by trying candidates; with
    it an auditor can check whether a given mailbox was involved, and nothing more.
    """

    def __init__(self, keys: DerivedKeys) -> None:
        self._keys = keys

    def of(self, kind: str, value: str) -> str:
        purpose = "pseudonym:" + kind.split(":", 1)[0]
        key = self._keys.key(purpose)
        return hmac.new(key, f"{kind}\x00{value}".encode("utf-8"), hashlib.sha256).hexdigest()[:40]
