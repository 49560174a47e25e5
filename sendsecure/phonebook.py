"""Recipients' phone numbers, encrypted at rest under per-tenant keys (SPEC P1-P4, V-R9, S6).

Per logged-in person, one number per recipient address.

Rows in ``phones``:
- ``PartitionKey = <tenant>.<person>``: one person's numbers are one partition, so the numbers
  for a draft are one partition query, and a tenant's rows are one key range. ``<person>`` is the
  mailbox's pseudonym, and for an Entra mailbox's later holder (``Session.holder_key`` not empty:
  not the first holder recorded) ``<mailbox pseudonym>.<holder key>``: a late write of an earlier
  holder lands in their own partition, which the next holder never reads (sendsecure/holders.py);
- ``RowKey`` = a keyed hash of the normalised recipient address: no address in the table;
- ``sealed`` = base64(nonce || AES-256-GCM ciphertext) of the E.164 number, ``key_version``
  = the version of the tenant's data key that sealed it.

The associated data binds tenant, person and recipient, so a ciphertext copied to another row
(another person, another recipient, another tenant) fails to open. The tenant's data key is
the key store's ``phone-key-<tenant>`` (Key Vault in Azure), made when the tenant is provisioned
(``sendsecure.provision``), never by a request: without it a write is 503. A rotation (a new
version) leaves old rows readable and each write re-seals with the current version, asked of the
key store itself (not the worker's cache), so no row is sealed under a key another worker has
destroyed. Destroying the key destroys the numbers (offboarding).

Audit (S6, NEN 7513): a change is recorded before it is made, so a failed audit insert leaves no
unrecorded change (a failed change after it is recorded again as ``failed``); every read of stored
numbers (a lookup, a verdict that returns one) is recorded as ``phone.read`` with the recipients'
pseudonyms and never the number. A verdict whose read cannot be recorded goes without the stored
numbers (the add-in asks for them) rather than disclose them unrecorded.
"""
from __future__ import annotations

import base64
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sendsecure import audit
from sendsecure.adapters import storage
from sendsecure.adapters.keys import KeyNotFound, KeyStore, Pseudonyms
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox
from sendsecure.core.cache import TtlCache
from sendsecure.core.clock import utcnow
from sendsecure.core.datafiles import data_file
from sendsecure.core.phones import DEFAULT_REGION, describe, normalise_phone
from sendsecure.errors import InvalidBody, Unprocessable
from sendsecure.sessions import Session

logger = logging.getLogger(__name__)

PHONE_SET = "phone.set"
PHONE_CHANGED = "phone.changed"
PHONE_DELETED = "phone.deleted"
PHONE_READ = "phone.read"
PHONE_RESEALED = "phone.resealed"


class PhoneOwner(Protocol):
    """Whose numbers: a session, or (for the gateway, S9) the sender of an envelope."""

    @property
    def tenant_id(self) -> str: ...
    @property
    def mailbox(self) -> str: ...
    @property
    def holder_key(self) -> str: ...


@dataclass(frozen=True)
class Sender:
    tenant_id: str
    mailbox: str
    holder_key: str = ""      # the envelope's ``holder_key``: whose numbers within the mailbox


def person_of(mailbox_pseudonym: str, holder_key: str) -> str:
    """The ``<person>`` of a partition (and of the sealed numbers' binding)."""
    return f"{mailbox_pseudonym}.{holder_key}" if holder_key else mailbox_pseudonym


def key_name(tenant_id: str) -> str:
    return f"phone-key-{tenant_id}"


def associated_data(tenant_id: str, person: str, recipient: str) -> bytes:
    return f"sendsecure.phone\x00{tenant_id}\x00{person}\x00{recipient}".encode()


def seal(key: bytes, number: str, aad: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, number.encode("ascii"), aad)).decode("ascii")


def open_sealed(key: bytes, sealed: str, aad: bytes) -> str:
    """The number, or ``ValueError`` if the ciphertext does not open under this key and binding."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.b64decode(sealed)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], aad).decode("ascii")
    except InvalidTag:
        raise ValueError("the sealed number does not open here") from None


READ_ROW_RECIPIENTS = 250   # recipient pseudonyms per phone.read row (41 characters each)

class PhoneBook:
    def __init__(self, tables: storage.TableStore, keys: KeyStore, pseudonyms: Pseudonyms,
                 audit_log: audit.AuditLog, cache_seconds: float = 10.0) -> None:
        self._tables = tables
        self._keys = keys
        self._pseudonyms = pseudonyms
        self._audit = audit_log
        # partition -> (row key -> (sealed, key version)): a person's sealed rows, so that
        # re-validating a draft does not query storage each time. Numbers stay sealed in memory.
        self._rows: TtlCache[str, dict[str, tuple[Any, Any]]] = TtlCache(cache_seconds)

    # ----- keys of rows ----------------------------------------------------------------

    def _actor(self, session: PhoneOwner) -> str:
        """The audit's actor: the mailbox's pseudonym, as in every other audit row."""
        return self._pseudonyms.of("mailbox", session.mailbox)

    def _person(self, session: PhoneOwner) -> str:
        return person_of(self._actor(session), getattr(session, "holder_key", "") or "")

    def _partition(self, session: PhoneOwner) -> str:
        return f"{session.tenant_id}.{self._person(session)}"

    def _recipient(self, session: PhoneOwner, address: str) -> str:
        return self._pseudonyms.of(f"recipient:{session.tenant_id}", address)

    @staticmethod
    def normalise_address(address: str) -> str:
        try:
            return normalise_mailbox(address)
        except InvalidAddress as error:
            raise InvalidBody.field("address", f"is not a valid e-mail address ({error})") from None

    # ----- the endpoints ---------------------------------------------------------------

    def get(self, session: Session, address: str) -> dict[str, str] | None:
        address = self.normalise_address(address)
        row_key = self._recipient(session, address)
        row = self._tables.get(storage.PHONES, self._partition(session), row_key)
        number = self._open(session, row) if row is not None else None
        if number is None:
            return None
        self._record_read(session, "lookup", [row_key])
        return {"address": address, **describe(number)}

    def lookup(self, session: Session, addresses: Iterable[str]) -> dict[str, str]:
        """The stored numbers of these addresses (only those stored), address -> E.164: one
        partition read, recorded as ``phone.read`` with purpose ``lookup`` before anything is
        returned (``POST /phones/lookup``; a read that cannot be recorded is not answered: the
        audit's ``DependencyUnavailable`` goes to the caller, 503)."""
        wanted = {self._recipient(session, a): a for a in {self.normalise_address(a) for a in addresses}}
        if not wanted:
            return {}
        rows = self._partition_rows(session)
        found: dict[str, str] = {}
        for row_key in wanted:
            sealed = rows.get(row_key)
            if sealed is not None:
                number = self._open(session, {"RowKey": row_key, "sealed": sealed[0], "key_version": sealed[1]})
                if number is not None:
                    found[row_key] = number
        if found:
            self._record_read(session, "lookup", sorted(found))
        return {wanted[row_key]: number for row_key, number in found.items()}

    def put(self, session: Session, address: str, raw_phone: Any, region: Any, language: str) -> dict[str, str]:
        address = self.normalise_address(address)
        if not isinstance(raw_phone, str) or not raw_phone.strip() or len(raw_phone) > 64:
            raise InvalidBody.field("phone", "must be a phone number as text")
        if region is not None and (not isinstance(region, str) or len(region) != 2 or not region.isalpha()):
            raise InvalidBody.field("region", "must be a two-letter region code such as NL")
        number, problem = normalise_phone(raw_phone, (region or DEFAULT_REGION.get(language, "NL")).upper())
        if problem is not None or number is None:
            problem = problem or "invalid_phone"
            message = data_file("findings.json")[problem][language].format(address=address)
            raise Unprocessable(problem, message, errors=[{"field": "phone", "message": message}])
        partition, row_key = self._partition(session), self._recipient(session, address)
        version, key = self._tenant_key(session.tenant_id)
        sealed = seal(key, number, associated_data(session.tenant_id, self._person(session), row_key))
        existing = self._tables.get(storage.PHONES, partition, row_key)
        event = PHONE_CHANGED if existing is not None else PHONE_SET
        # Recorded first: if the audit insert fails, nothing has changed.
        self._audit.record(event, tenant_id=session.tenant_id, actor=self._actor(session), outcome="stored",
                           recipient=row_key, key_version=version)
        try:
            self._tables.upsert(storage.PHONES, {
                "PartitionKey": partition, "RowKey": row_key, "sealed": sealed, "key_version": version,
                "updated_at": utcnow(),
            }, merge=False)
        except Exception:
            self._record_failure(session, event, row_key)
            raise
        finally:
            self._changed(session)
        return {"address": address, **describe(number)}

    def delete(self, session: Session, address: str) -> bool:
        address = self.normalise_address(address)
        partition, row_key = self._partition(session), self._recipient(session, address)
        if self._tables.get(storage.PHONES, partition, row_key) is None:
            return False
        self._audit.record(PHONE_DELETED, tenant_id=session.tenant_id, actor=self._actor(session),
                           outcome="deleted", recipient=row_key)
        try:
            self._tables.delete(storage.PHONES, partition, row_key)
        except Exception:
            self._record_failure(session, PHONE_DELETED, row_key)
            raise
        finally:
            self._changed(session)
        return True

    # ----- audit -------------------------------------------------------------------------

    def _record_read(self, session: Session, purpose: str, row_keys: list[str]) -> None:
        """NEN 7513 access logging: who read which recipients' numbers (pseudonyms), for what. A
        long read is several rows (``part`` 1/n ..): a property holds at most 32K characters, and a
        lookup may name 1,000 recipients (41 characters each)."""
        parts = [row_keys[i:i + READ_ROW_RECIPIENTS] for i in range(0, len(row_keys), READ_ROW_RECIPIENTS)] or [[]]
        for number, part in enumerate(parts, 1):
            self._audit.record(PHONE_READ, tenant_id=session.tenant_id, actor=self._actor(session),
                               outcome="returned", purpose=purpose, count=len(part), recipients=",".join(part),
                               **({"part": f"{number}/{len(parts)}"} if len(parts) > 1 else {}))

    def record_verdict_read(self, session: Session, row_keys: list[str]) -> None:
        """A read ``for_draft`` handed to its caller (``read_log``) that the caller records alone."""
        self._record_read(session, "verdict", sorted(row_keys))

    def _record_failure(self, session: Session, event: str, row_key: str) -> None:
        try:
            self._audit.record(event, tenant_id=session.tenant_id, actor=self._actor(session), outcome="failed",
                               recipient=row_key)
        except Exception as error:  # noqa: BLE001 - the change's own failure is what the caller gets
            logger.warning("could not record a failed phone change (%s)", type(error).__name__)

    # ----- for verdicts (V-R9) ---------------------------------------------------------

    def for_draft(self, session: Session, addresses: Iterable[str],
                  read_log: list[str] | None = None) -> dict[str, str]:
        """Stored numbers of these (normalised) addresses: one partition query, never one per
        recipient, and none while this worker read the partition less than ``cache_seconds`` ago
        (a change made through this worker clears its copy at once).

        The read is recorded as ``phone.read`` here, unless the caller passes ``read_log``: then
        the recipients' pseudonyms are appended to it and the caller records the read in its own
        audit row before anything leaves (a send: one row per send, not two)."""
        wanted = {self._recipient(session, address): address for address in addresses}
        if not wanted:
            return {}
        rows = self._partition_rows(session)
        found: dict[str, str] = {}
        read: list[str] = []
        for row_key, address in wanted.items():
            sealed = rows.get(row_key)
            if sealed is not None:
                number = self._open(session, {"RowKey": row_key, "sealed": sealed[0], "key_version": sealed[1]})
                if number is not None:
                    found[address] = number
                    read.append(row_key)
        if found and read_log is not None:
            read_log.extend(sorted(read))
        elif found:
            try:
                self._record_read(session, "verdict", sorted(read))
            except Exception as error:  # noqa: BLE001 - no unrecorded disclosure; the verdict goes on
                logger.warning("phone read not recorded (%s); the verdict goes without stored numbers",
                               type(error).__name__)
                return {}
        return found

    def for_sender(self, owner: PhoneOwner, addresses: Iterable[str]) -> dict[str, tuple[str, str]]:
        """The gateway's read (S9): the numbers ``owner`` stored for these (normalised) addresses,
        as address -> (number, recipient pseudonym). Not recorded here: the caller records the
        read with its own actor and purpose before it discloses anything."""
        wanted = {self._recipient(owner, address): address for address in addresses}
        if not wanted:
            return {}
        rows = self._partition_rows(owner)
        found: dict[str, tuple[str, str]] = {}
        for row_key, address in wanted.items():
            sealed = rows.get(row_key)
            if sealed is not None:
                number = self._open(owner, {"RowKey": row_key, "sealed": sealed[0], "key_version": sealed[1]})
                if number is not None:
                    found[address] = (number, row_key)
        return found

    def _cache_key(self, session: PhoneOwner) -> str:
        """The partition, and for an Entra holder since when they hold the mailbox: a worker's copy
        of an earlier holder's rows is never served to the next one (sendsecure/holders.py)."""
        since = getattr(session, "holder_since", None)
        return self._partition(session) + (f"|{since.isoformat()}" if since is not None else "")

    def _partition_rows(self, session: PhoneOwner) -> dict[str, tuple[Any, Any]]:
        partition = self._partition(session)
        key = self._cache_key(session)
        cached = self._rows.get(key)
        if cached is not None:
            return cached
        # A damaged row (a property missing) is kept as it is: ``_open`` skips it, the others open.
        rows = {row["RowKey"]: (row.get("sealed"), row.get("key_version"))
                for row in self._tables.query(storage.PHONES, "PartitionKey eq @p", {"p": partition},
                                              select=["RowKey", "sealed", "key_version"])}
        self._rows.put(key, rows)
        return rows

    def _changed(self, session: Session) -> None:
        self._rows.pop(self._partition(session))      # the copy the gateway's reads (S9) use
        self._rows.pop(self._cache_key(session))

    def erase_person(self, tenant_id: str, mailbox: str, holder_keys: Iterable[str] = ("",), *,
                     count_only: bool = False) -> int:
        """Delete the numbers stored under a mailbox by the persons of ``holder_keys`` (``""``: the
        mailbox's own partition, as before holders; it changed hands: they were the earlier
        persons', P1/P4); returns how many (``count_only``: how many there are, deleting none).
        One query over the mailbox's partitions. The caller audits (``login.holder_changed``)."""
        mailbox_pseudonym = self._pseudonyms.of("mailbox", mailbox)
        partitions = {f"{tenant_id}.{person_of(mailbox_pseudonym, key)}" for key in holder_keys}
        low = f"{tenant_id}.{mailbox_pseudonym}"
        parameters = {"low": low, "high": low + "/"}      # the mailbox's partition and its ``.<key>`` ones
        query = "PartitionKey ge @low and PartitionKey lt @high"
        if count_only:
            return sum(1 for row in self._tables.query(storage.PHONES, query, parameters,
                                                       select=["PartitionKey", "RowKey"])
                       if row["PartitionKey"] in partitions)
        self._rows.pop_where(lambda key: key.split("|", 1)[0] in partitions)
        return self._tables.delete_where(storage.PHONES, query, parameters,
                                         keep=lambda row: row["PartitionKey"] not in partitions)

    # ----- keys and sealing --------------------------------------------------------------

    def _tenant_key(self, tenant_id: str) -> tuple[str, bytes]:
        """The current version, asked of the key store (not the cache) since new data is sealed
        with it: a key destroyed by another worker is never used for a new row (issue 8.1)."""
        return self._keys.current(key_name(tenant_id), fresh=True)

    def _open(self, session: PhoneOwner, row: dict[str, Any]) -> str | None:
        if not isinstance(row.get("sealed"), str) or not isinstance(row.get("key_version"), str):
            logger.error("a stored phone row lacks its sealed number or key version; skipped")
            return None
        try:
            key = self._keys.version(key_name(session.tenant_id), row["key_version"])
        except KeyNotFound:
            return None  # the tenant's key was destroyed: the number is gone
        try:
            return open_sealed(key, row["sealed"], associated_data(session.tenant_id, self._person(session),
                                                                    row["RowKey"]))
        except ValueError:
            logger.error("a stored phone number did not open under its binding (row moved or altered)")
            return None

    # ----- rotation (P4) ---------------------------------------------------------------

    def reseal_tenant(self, tenant_id: str) -> dict[str, int]:
        """Re-seal every stored number of the tenant that is not under the key's current version
        (after a rotation), so the old versions can then be disabled. Each row is rewritten under
        its ETag: a number the user changed meanwhile is already under the current version and is
        left alone. A row that does not open under its version stays as it is and is counted
        (``unreadable``). Returns the counts; the run is audited (``phone.resealed``, operator)."""
        name = key_name(tenant_id)
        version, key = self._keys.current(name, fresh=True)
        counts = {"resealed": 0, "current": 0, "unreadable": 0}
        for row in self._tables.query(storage.PHONES, "PartitionKey ge @low and PartitionKey lt @high",
                                      {"low": f"{tenant_id}.", "high": f"{tenant_id}/"},
                                      select=["PartitionKey", "RowKey", "key_version"]):
            if row.get("key_version") == version:
                counts["current"] += 1
                continue
            outcome = ["current"]

            def reseal(state: dict[str, Any], partition: str = row["PartitionKey"],
                       row_key: str = row["RowKey"], outcome: list[str] = outcome) -> dict[str, Any] | None:
                if not state or state.get("key_version") == version:
                    outcome[0] = "current"                     # deleted or rewritten meanwhile
                    return None
                person = partition.split(".", 1)[1]
                aad = associated_data(tenant_id, person, row_key)
                try:
                    old = self._keys.version(name, str(state.get("key_version")))
                    number = open_sealed(old, str(state.get("sealed")), aad)
                except (KeyNotFound, ValueError):
                    outcome[0] = "unreadable"
                    return None
                outcome[0] = "resealed"
                return {**state, "sealed": seal(key, number, aad), "key_version": version}

            self._tables.mutate(storage.PHONES, row["PartitionKey"], row["RowKey"], reseal)
            counts[outcome[0]] += 1
        self._rows.pop_where(lambda partition: partition.startswith(f"{tenant_id}."))
        self._audit.record(PHONE_RESEALED, tenant_id=tenant_id, actor="operator", outcome="done",
                           key_version=version, **counts)
        if counts["unreadable"]:
            logger.error("%d stored phone number(s) of tenant %s did not open under their key version; left as "
                         "they are", counts["unreadable"], tenant_id)
        return counts

    # ----- offboarding (I2) ------------------------------------------------------------

    def destroy_tenant(self, tenant_id: str) -> int:
        """Destroy the tenant's data key, then its rows; returns the number of rows removed."""
        self._keys.destroy(key_name(tenant_id))
        self._rows.pop_where(lambda partition: partition.startswith(f"{tenant_id}."))
        return self._tables.delete_where(storage.PHONES, "PartitionKey ge @low and PartitionKey lt @high",
                                         {"low": f"{tenant_id}.", "high": f"{tenant_id}/"})

