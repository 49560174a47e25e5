"""The one per-worker cache: bounded in size, entries valid for a time-to-live.

Used for sessions, user settings, tenants, phone rows, the domain book pointer check and keys
(docs/operations.md lists the windows). Why not ``cachetools.TTLCache``: that one drops an entry
the moment its time is up, but three callers need the stale copy for a moment longer (one request
refreshes while concurrent ones keep using the copy: sessions, tenants, the domain book; keys
keep a copy while the key store does not answer), and offboarding drops every entry of a tenant
by key prefix. Those are a few lines on top of an ``OrderedDict`` under a lock; a library with a
lock around it would be no shorter.

- ``get(key)``: the value if it is less than ``ttl`` seconds old, else ``None``.
- ``entry(key)``: ``(value, age in seconds)`` while the entry is kept (``ttl + grace`` seconds),
  so a caller may use a stale copy; ``grace`` may be ``math.inf`` (kept until evicted).
- ``put(key, value)``: stores it as new (the least recently stored entries go first once
  ``maxsize`` is reached); ``touch(key)`` renews an entry's age without changing it;
  ``replace(key, value)`` changes it without renewing its age.
- ``pop(key)``, ``pop_where(predicate)`` (on keys), ``clear()``.

A ``ttl`` of 0 or less without ``grace`` turns the cache off: ``put`` keeps nothing. With ``grace``
an entry is kept for ``entry`` even when ``get`` never finds it fresh (keys with ``verify_ttl=0``).
Thread-safe; ``clock`` (monotonic seconds) is injectable for tests.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAXSIZE = 10_000


class TtlCache(Generic[K, V]):
    def __init__(self, ttl: float, *, maxsize: int = DEFAULT_MAXSIZE, grace: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.ttl = ttl
        self.maxsize = maxsize
        self._keep = ttl + grace
        self._clock = clock
        self._items: OrderedDict[K, tuple[V, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._keep > 0

    def get(self, key: K) -> V | None:
        found = self.entry(key)
        return found[0] if found is not None and found[1] < self.ttl else None

    def entry(self, key: K) -> tuple[V, float] | None:
        item = self._items.get(key)  # a dict read is atomic; the lock guards the changes
        if item is None:
            return None
        age = self._clock() - item[1]
        if age >= self._keep:
            with self._lock:
                if self._items.get(key) is item:
                    del self._items[key]
            return None
        return item[0], age

    def put(self, key: K, value: V) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._items[key] = (value, self._clock())
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def replace(self, key: K, value: V) -> None:
        """A new value for an entry that is there, keeping its age (nothing if it is gone)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items[key] = (value, item[1])

    def touch(self, key: K) -> None:
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items[key] = (item[0], self._clock())
                self._items.move_to_end(key)

    def pop(self, key: K) -> V | None:
        with self._lock:
            item = self._items.pop(key, None)
        return item[0] if item is not None else None

    def pop_where(self, predicate: Callable[[K], bool]) -> int:
        with self._lock:
            doomed = [key for key in self._items if predicate(key)]
            for key in doomed:
                del self._items[key]
        return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
