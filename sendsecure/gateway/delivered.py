"""Which (envelope, recipient) pairs this gateway delivered: refuse a second delivery (SPEC X3;
docs/sending.md "Refusing a second delivery").

A stamp is valid for 48 hours and binds the sender, the recipients and the files, not the
subject or the text (S8). Without state the check would deliver the same stamped message, or
another text under the same stamp, to the same people as often as it is submitted within that
time. ``check_message(..., delivered=...)`` takes a ``DeliveryLedger``; ``DeliveredFile`` is the
reference one, a small SQLite file:

- ``claim`` records the RCPT set of a transaction the check passed, in one SQLite transaction
  (``BEGIN IMMEDIATE``: two gateway processes on one file cannot both claim a pair), or, when
  any pair was claimed before, records nothing and answers which addresses those were;
- ``release`` undoes a claim the gateway then could not deliver (it answered a temporary
  failure, so Exchange will submit the message again);
- a row is a SHA-256 of (envelope id, normalised address), not the address, with the time after
  which the stamp is refused anyway (its ``exp`` plus the leeway); rows past it are dropped at
  the next claim, so the file holds about 48 hours of traffic.

A production gateway keeps this state in its own store; the events it posts to
``POST /gateway/envelopes/{id}/events`` (``delivered``, ``relayed_nta7516``, ...) are the back
end's record of deliveries, not a lock the gateway can take.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS delivered (pair TEXT PRIMARY KEY, keep_until INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS delivered_keep_until ON delivered (keep_until)",
)


class DeliveredUnavailable(Exception):
    """The store cannot be read or written now: defer the message (it stays queued)."""


class DeliveryLedger(Protocol):
    def claim(self, envelope_id: str, addresses: Sequence[str], *, keep_until: int, now: int) -> list[str]:
        """Record every (envelope, address) pair and answer ``[]``; or, when any was recorded
        before, record none and answer those addresses. Atomic."""
        ...


def pair_key(envelope_id: str, address: str) -> str:
    """What a row holds: SHA-256 of the envelope id and the normalised address, not the address."""
    return hashlib.sha256(f"sendsecure/delivered/v1\x00{envelope_id}\x00{address}".encode()).hexdigest()


class DeliveredFile:
    """The reference ``DeliveryLedger``: a SQLite file, made (mode 0600) if missing."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self.path = Path(path)
        self.timeout = timeout

    def _connect(self) -> sqlite3.Connection:
        try:
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DeliveredUnavailable(f"the delivered store cannot be opened: {exc}") from None
        try:
            for statement in _SCHEMA:
                connection.execute(statement)
        except sqlite3.Error as exc:
            connection.close()
            raise DeliveredUnavailable(f"the delivered store cannot be used: {exc}") from None
        return connection

    def claim(self, envelope_id: str, addresses: Sequence[str], *, keep_until: int, now: int) -> list[str]:
        keys = {pair_key(envelope_id, address): address for address in addresses}
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("DELETE FROM delivered WHERE keep_until < ?", (now,))
            before = [key for key in keys
                      if connection.execute("SELECT 1 FROM delivered WHERE pair = ?", (key,)).fetchone()]
            if before:
                connection.execute("ROLLBACK")
                return sorted(keys[key] for key in before)
            connection.executemany("INSERT INTO delivered (pair, keep_until) VALUES (?, ?)",
                                   [(key, keep_until) for key in keys])
            connection.execute("COMMIT")
            return []
        except sqlite3.Error as exc:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise DeliveredUnavailable(f"the delivered store cannot be written: {exc}") from None
        finally:
            connection.close()

    def release(self, envelope_id: str, addresses: Sequence[str]) -> int:
        """Forget these pairs (a delivery that did not happen after all); how many were there."""
        connection = self._connect()
        try:
            cursor = connection.executemany("DELETE FROM delivered WHERE pair = ?",
                                            [(pair_key(envelope_id, address),) for address in addresses])
            return cursor.rowcount
        except sqlite3.Error as exc:
            raise DeliveredUnavailable(f"the delivered store cannot be written: {exc}") from None
        finally:
            connection.close()
