"""Secret keys behind one interface, and the keyed hashes (pseudonyms) made with them.

``KeyStore.get_or_create(name)`` returns a 256-bit secret, creating it on first use. The
implementation here is the local development key store: one file per key, mode 0600, in a
folder (``LOCAL_KEY_DIR``). It is for development and tests only; the Key Vault store
(azure-keyvault-secrets) serves the same interface in Azure. Keys are cached per worker.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Protocol

_NAME_RE = re.compile(r"^[a-z0-9-]{1,100}$")


class KeyStore(Protocol):
    def get_or_create(self, name: str) -> bytes: ...


class LocalKeyStore:
    """Development only: keys as files (mode 0600) in one folder."""

    def __init__(self, folder: str | Path) -> None:
        self._folder = Path(folder)
        self._cache: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def get_or_create(self, name: str) -> bytes:
        if not _NAME_RE.fullmatch(name):
            raise ValueError("key names are 1-100 characters of a-z, 0-9 and '-'")
        key = self._cache.get(name)
        if key is not None:
            return key
        with self._lock:
            self._folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            path = self._folder / f"{name}.key"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                key = bytes.fromhex(path.read_text("ascii").strip())
            else:
                key = secrets.token_bytes(32)
                with os.fdopen(fd, "w") as handle:
                    handle.write(key.hex())
            self._cache[name] = key
            return key


PSEUDONYM_KEY = "pseudonym-key"


class Pseudonyms:
    """Keyed hashes of personal identifiers (mailboxes, client addresses) for rows and audit.

    Without the key a pseudonym cannot be turned back into the address by trying candidates;
    with it an auditor can check whether a given mailbox was involved.
    """

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    def of(self, kind: str, value: str) -> str:
        key = self._keys.get_or_create(PSEUDONYM_KEY)
        return hmac.new(key, f"{kind}\x00{value}".encode("utf-8"), hashlib.sha256).hexdigest()[:40]
