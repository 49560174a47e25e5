"""Secret keys behind one interface, and the keyed hashes (pseudonyms) made with them.

A key store keeps named 256-bit keys in versions (SPEC P4, DESIGN "Keys"):
- ``provision(name)`` -> bool: create the key if it does not exist (True if it was created). Only
  the provisioning step calls it (``python -m sendsecure.provision``, tenant onboarding); no
  request ever creates a key. Two provisioners at once end up with the same (oldest) version.
- ``current(name, fresh=False)`` -> (version, key); ``fresh=True`` asks the store, not the cache
  (before sealing new data, so nothing is sealed under a key destroyed by another worker);
- ``version(name, version)`` -> key: an older version still opens what it sealed;
- ``rotate(name)`` -> (version, key): a new current version;
- ``versions(name)`` -> list of versions, newest first (every one not destroyed or disabled): the
  signing key's JWKS publishes them all; remembered ``verify_ttl`` seconds, forgotten on a rotate;
- ``destroy(name)``: every version gone (offboarding); afterwards ``KeyNotFound``;
- ``stable(name)`` -> key: the oldest version, for keys that must never change (the master key).
- ``check(name)`` -> bool: whether the key exists in the store (health), at most one store read
  per ``check_seconds``.

A key that does not exist is ``KeyMissing`` from ``current`` and ``stable`` (503
``dependency_unavailable``, logged as an error: provisioning was not run or the key was lost), and
``KeyNotFound`` from ``version`` (a destroyed tenant key: its data is gone). A store that cannot be
read (permissions, no answer) is ``KeyStoreUnavailable`` (503).

Two implementations, chosen by ``KEY_STORE``: ``keyvault`` (Azure Key Vault secrets through
azure-keyvault-secrets and the managed identity; ``sendsecure/keyvault.py``) and ``local``
(development only: one file per version, mode 0600, in ``LOCAL_KEY_DIR``). Both cache keys
in memory per worker (Microsoft's advice: key in Key Vault, cached; data in storage): the
current version is re-read after ``current_ttl`` seconds so a rotation elsewhere is picked up;
a cached version (and the stable key) is used for ``verify_ttl`` seconds, then its next use
asks the store whether it still exists, so a key destroyed by another worker is dropped from
this worker's cache on its next use after at most ``verify_ttl`` seconds. If the store does not
answer that check, reads keep the cached key (a Key Vault hiccup does not stop validation);
only a definite "not found" drops it. Sealing asks the store every time (``fresh=True``).
"""
from __future__ import annotations

import abc
import base64
import contextlib
import hashlib
import hmac
import logging
import math
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Protocol

from sendsecure.core.cache import TtlCache
from sendsecure.errors import DependencyUnavailable, NotFound

logger = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[a-z0-9-]{1,100}$")
MASTER_KEY = "master-key"  # the deployment's master secret; every keyed hash derives from it


class KeyNotFound(NotFound):
    """The key (or this version of it) does not exist, e.g. because it was destroyed (what it
    sealed is gone: 404 should it ever reach the edge)."""


class KeyStoreUnavailable(DependencyUnavailable):
    """The key store does not answer, throttles or cannot be read (503 with Retry-After)."""


class KeyMissing(KeyStoreUnavailable):
    """A key the deployment needs was never provisioned or is gone (503; provisioning creates it)."""

    def __init__(self, name: str) -> None:
        super().__init__("A key this service needs is missing.", retry_after=60)
        self.name = name


class KeyStore(Protocol):
    def provision(self, name: str) -> bool: ...
    def current(self, name: str, *, fresh: bool = False) -> tuple[str, bytes]: ...
    def version(self, name: str, version: str) -> bytes: ...
    def rotate(self, name: str) -> tuple[str, bytes]: ...
    def versions(self, name: str) -> list[str]: ...
    def destroy(self, name: str) -> None: ...
    def stable(self, name: str) -> bytes: ...
    def check(self, name: str) -> bool: ...


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

    def __init__(self, current_ttl: float = 300.0, verify_ttl: float = 60.0, check_seconds: float = 10.0) -> None:
        self._current: TtlCache[str, tuple[str, bytes]] = TtlCache(current_ttl)  # name -> (version, key)
        # Confirmed by the store less than verify_ttl ago, else asked again; kept (grace) for when
        # the store does not answer that question.
        self._versions: TtlCache[tuple[str, str], bytes] = TtlCache(verify_ttl, grace=math.inf)
        self._stable: TtlCache[str, tuple[str, bytes]] = TtlCache(verify_ttl, grace=math.inf)
        self._checked: TtlCache[str, bool] = TtlCache(check_seconds)
        self._listed: TtlCache[str, tuple[str, ...]] = TtlCache(verify_ttl)
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
    def _list_versions(self, name: str) -> list[str]:
        """Every version (enabled), newest first; empty if the key does not exist."""

    @abc.abstractmethod
    def _write_new_version(self, name: str, key: bytes) -> str:
        """Store ``key`` as a new version of ``name``; returns the version."""

    @abc.abstractmethod
    def _delete(self, name: str) -> None:
        """Remove every version of ``name`` for good."""

    # ----- the interface -----------------------------------------------------------------
    def provision(self, name: str) -> bool:
        """Create ``name`` unless it exists; True if this call created it. Provisioning only."""
        check_name(name)
        with self._lock, self._creation_guard(name):
            if self._read_current(name) is not None:
                return False
            # Two provisioners racing where the store cannot serialise them (Key Vault) both write;
            # ``stable`` then picks the same (oldest) version everywhere.
            self._write_new_version(name, new_key())
            self._checked.pop(name)
            return True

    def current(self, name: str, *, fresh: bool = False) -> tuple[str, bytes]:
        check_name(name)
        cached = self._current.get(name)
        if not fresh and cached is not None:
            return cached
        found = self._read_current(name)
        if found is None:
            self._forget(name)
            raise self._missing(name)
        self._remember(name, *found)
        return found

    def version(self, name: str, version: str) -> bytes:
        check_name(name)
        held = self._versions.entry((name, version))
        if held is not None and held[1] < self._versions.ttl:
            return held[0]
        try:
            key = self._read_version(name, version)
        except (KeyStoreUnavailable, TimeoutError):  # no answer, or the request's deadline is up
            if held is not None:  # keep reading with what we have; the next use asks again
                return held[0]
            raise
        if key is None:
            if held is not None:  # destroyed elsewhere since we read it
                self._forget(name)
            raise KeyNotFound()
        self._versions.put((name, version), key)
        return key

    def rotate(self, name: str) -> tuple[str, bytes]:
        check_name(name)
        with self._lock:
            key = new_key()
            version = self._write_new_version(name, key)
            self._remember(name, version, key)
            self._listed.pop(name)
            return version, key

    def versions(self, name: str) -> list[str]:
        """Every version of ``name``, newest first; ``KeyMissing`` if there is none."""
        check_name(name)
        cached = self._listed.get(name)
        if cached is None:
            cached = tuple(self._list_versions(name))
            if not cached:
                raise self._missing(name)
            self._listed.put(name, cached)
        return list(cached)

    def destroy(self, name: str) -> None:
        check_name(name)
        with self._lock:
            try:
                self._delete(name)
            finally:  # this worker forgets the key even if the store failed half way
                self._forget(name)

    def stable(self, name: str) -> bytes:
        check_name(name)
        held = self._stable.entry(name)
        if held is not None and held[1] < self._stable.ttl:
            return held[0][1]
        if held is not None:  # still there? a cheap read of the one version we use
            version, key = held[0]
            try:
                still = self._read_version(name, version)
            except (KeyStoreUnavailable, TimeoutError):
                return key
            if still is not None:
                self._stable.touch(name)
                return key
            self._forget(name)
        found = self._read_oldest(name)
        if found is None:
            raise self._missing(name)
        self._stable.put(name, found)
        self._versions.put((name, found[0]), found[1])
        return found[1]

    def check(self, name: str) -> bool:
        """Whether ``name`` exists in the store (not the cache); remembered ``check_seconds``."""
        check_name(name)
        cached = self._checked.get(name)
        if cached is not None:
            return cached
        exists = self._read_current(name) is not None
        self._checked.put(name, exists)
        if not exists:
            self._forget(name)
        return exists

    def _creation_guard(self, name: str):
        """Held while a key may be created; stores that can, serialise across processes."""
        return contextlib.nullcontext()

    def _remember(self, name: str, version: str, key: bytes) -> None:
        self._current.put(name, (version, key))
        self._versions.put((name, version), key)

    def _forget(self, name: str) -> None:
        self._listed.pop(name)
        self._current.pop(name)
        self._stable.pop(name)
        self._versions.pop_where(lambda cached: cached[0] == name)

    @staticmethod
    def _missing(name: str) -> KeyMissing:
        logger.error("key %s is missing from the key store: run the provisioning step "
                     "(python -m sendsecure.provision) or restore the key", name)
        return KeyMissing(name)


class LocalKeyStore(CachedKeyStore):
    """Development only: ``<folder>/<name>/<version>.key`` files (mode 0600), base64 inside.

    Versions are time-ordered names, so the newest file is the current version.
    """

    def __init__(self, folder: str | Path, current_ttl: float = 300.0, **cache: float) -> None:
        super().__init__(current_ttl, **cache)
        self._folder = Path(folder)

    def _dir(self, name: str) -> Path:
        return self._folder / name

    def _versions_on_disk(self, name: str) -> list[str]:
        # os.listdir, not Path.glob: glob treats an unreadable folder as an empty one.
        try:
            names = os.listdir(self._dir(name))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise _unreadable(name, error) from None
        return sorted(n[:-4] for n in names if n.endswith(".key") and not n.startswith("."))

    def _read_current(self, name: str) -> tuple[str, bytes] | None:
        versions = self._versions_on_disk(name)
        return self._read_pair(name, versions[-1]) if versions else None

    def _list_versions(self, name: str) -> list[str]:
        return self._versions_on_disk(name)[::-1]

    def _read_oldest(self, name: str) -> tuple[str, bytes] | None:
        versions = self._versions_on_disk(name)
        return self._read_pair(name, versions[0]) if versions else None

    def _read_pair(self, name: str, version: str) -> tuple[str, bytes] | None:
        key = self._read_version(name, version)
        return (version, key) if key is not None else None

    def _read_version(self, name: str, version: str) -> bytes | None:
        if not re.fullmatch(r"[0-9a-f]{1,64}", version):
            return None
        try:
            text = (self._dir(name) / f"{version}.key").read_text("ascii").strip()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise _unreadable(name, error) from None
        try:
            return decode_key(text)
        except ValueError:
            logger.error("local key store: key %s version %s is not a 256-bit key in base64", name, version)
            raise KeyStoreUnavailable("The key store holds an unusable key.") from None

    def _write_new_version(self, name: str, key: bytes) -> str:
        try:
            return self._write_file(name, key)
        except OSError as error:
            raise _unreadable(name, error) from None

    def _write_file(self, name: str, key: bytes) -> str:
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


def _unreadable(name: str, error: OSError) -> KeyStoreUnavailable:
    logger.error("local key store: key %s cannot be read (%s)", name, type(error).__name__)
    return KeyStoreUnavailable("The key store cannot be read.")


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
                          info=f"sendsecure/v1/{purpose}".encode()).derive(master)
            self._derived[(master, purpose)] = cached
        return cached


class Pseudonyms:
    """Keyed hashes of personal identifiers (mailboxes, client addresses) for rows and audit.

    Each kind of identifier has its own derived key (purpose ``pseudonym:<kind>``). Without
    that key a pseudonym cannot be turned back into the address by trying candidates; with
    it an auditor can check whether a given mailbox was involved, and nothing more.
    """

    def __init__(self, keys: DerivedKeys, memo_seconds: float = 300.0) -> None:
        self._keys = keys
        # (derived key, kind, value) -> pseudonym: the same few identifiers come with every
        # request (the person's mailbox twice, the recipients that may need a phone), an HMAC
        # each (issue 9 item 7). The derived key is part of the entry's key, so a new master
        # key gives new pseudonyms at once; bounded in size and time like every worker cache.
        self._memo: TtlCache[tuple[bytes, str, str], str] = TtlCache(memo_seconds)

    def of(self, kind: str, value: str) -> str:
        purpose = "pseudonym:" + kind.split(":", 1)[0]
        key = self._keys.key(purpose)
        memo_key = (key, kind, value)
        pseudonym = self._memo.get(memo_key)
        if pseudonym is None:
            pseudonym = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:40]
            self._memo.put(memo_key, pseudonym)
        return pseudonym
