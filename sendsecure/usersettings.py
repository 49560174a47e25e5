"""User settings (SPEC U1, U2, S7): language and send delay, per person (tenant + mailbox).

Rows in ``usersettings``: ``PartitionKey = <tenant>``, ``RowKey`` = the person: the mailbox's
pseudonym, and for an Entra mailbox's later holder (``Session.holder_key`` not empty) ``<mailbox
pseudonym>.<holder key>``, so a late write of an earlier holder is never the next one's
(sendsecure/holders.py).
A person without a row gets the defaults: the browser's language (``Accept-Language``) else
Dutch, and no send delay. Each worker caches a person's settings for ``cache_seconds``; a
change is seen at once by the worker that made it and within that time by the others.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sendsecure.adapters import storage
from sendsecure.adapters.keys import Pseudonyms
from sendsecure.core.cache import TtlCache
from sendsecure.core.i18n import LANGUAGES
from sendsecure.errors import InvalidBody
from sendsecure.sessions import Session

SEND_DELAYS = (0, 5, 10)


@dataclass(frozen=True)
class UserSettings:
    language: str | None      # None: not chosen; the browser's language applies
    send_delay_seconds: int = 0


class UserSettingsStore:
    def __init__(self, tables: storage.TableStore, pseudonyms: Pseudonyms, cache_seconds: float = 30.0) -> None:
        self._tables = tables
        self._pseudonyms = pseudonyms
        self._cache: TtlCache[tuple[str, str], UserSettings] = TtlCache(cache_seconds)

    def _key(self, session: Session) -> tuple[str, str]:
        mailbox = self._pseudonyms.of("mailbox", session.mailbox)
        return session.tenant_id, f"{mailbox}.{session.holder_key}" if session.holder_key else mailbox

    @staticmethod
    def _cache_key(session: Session, key: tuple[str, str]) -> tuple[str, str]:
        """For an Entra holder, since when they hold the mailbox too: a worker's copy of an earlier
        holder's settings is never served to the next one (sendsecure/holders.py)."""
        since = session.holder_since
        return (key[0], key[1] + (f"|{since.isoformat()}" if since is not None else ""))

    def get(self, session: Session) -> UserSettings:
        key = self._key(session)
        cached = self._cache.get(self._cache_key(session, key))
        if cached is not None:
            return cached
        row = self._tables.get(storage.USER_SETTINGS, *key)
        settings = (UserSettings(row.get("language") or None, row.get("send_delay_seconds", 0)) if row
                    else UserSettings(None))
        self._cache.put(self._cache_key(session, key), settings)
        return settings

    def erase_person(self, tenant_id: str, mailbox: str, holder_keys: Iterable[str] = ("",), *,
                     count_only: bool = False) -> int:
        """Delete the settings of a mailbox's persons of ``holder_keys`` (``""``: the mailbox's own
        row; it changed hands: they were the earlier persons'); returns how many rows
        (``count_only``: how many there are, deleting none). One query over the mailbox's rows."""
        mailbox_pseudonym = self._pseudonyms.of("mailbox", mailbox)
        persons = {f"{mailbox_pseudonym}.{key}" if key else mailbox_pseudonym for key in holder_keys}
        query = "PartitionKey eq @p and RowKey ge @low and RowKey lt @high"
        parameters = {"p": tenant_id, "low": mailbox_pseudonym, "high": mailbox_pseudonym + "/"}
        if count_only:
            return sum(1 for row in self._tables.query(storage.USER_SETTINGS, query, parameters,
                                                       select=["PartitionKey", "RowKey"])
                       if row["RowKey"] in persons)
        self._cache.pop_where(lambda key: key[0] == tenant_id and key[1].split("|", 1)[0] in persons)
        return self._tables.delete_where(storage.USER_SETTINGS, query, parameters,
                                         keep=lambda row: row["RowKey"] not in persons)

    def update(self, session: Session, changes: dict[str, Any]) -> UserSettings:
        """Apply a partial update (``language``, ``send_delay_seconds``); 400 naming a bad field."""
        unknown = sorted(set(changes) - {"language", "send_delay_seconds"})
        if unknown:
            raise InvalidBody.field(unknown[0], "is not a setting")
        current = self.get(session)
        language = changes.get("language", current.language)
        if language is not None and language not in LANGUAGES:
            raise InvalidBody.field("language", "must be nl, en or de")
        delay = changes.get("send_delay_seconds", current.send_delay_seconds)
        if isinstance(delay, bool) or delay not in SEND_DELAYS:
            raise InvalidBody.field("send_delay_seconds", "must be 0, 5 or 10")
        key = self._key(session)
        self._tables.upsert(storage.USER_SETTINGS, {"PartitionKey": key[0], "RowKey": key[1],
                                                     "language": language or "", "send_delay_seconds": delay},
                            merge=False)
        settings = UserSettings(language, delay)
        self._cache.put(self._cache_key(session, key), settings)
        return settings
