"""Reading, verifying, sealing and purging a tenant's audit log (SPEC S6, X7; docs/audit-and-tenants.md).

- ``verify(tenant, first_day, last_day)``: every chain of every day in the range, each day's seal
  (signature, link to the day before) and the retention checkpoint; the answer names the first
  break (partition, row key, reason) in the order day, chain, seq.
- ``events(tenant, start, end, cursor, limit)``: the rows in a time range, a page at a time, in
  storage order (day, then writer chain, then seq); each row has its ``at``.
- ``seal(tenant, now)``: every finished day (UTC, ``SEAL_DELAY`` past midnight) from the tenant's
  first day on gets a seal, also a day without events: each chain's row count, last seq and hash,
  the previous seal's hash, signed (Ed25519, the deployment's signing key, JWS-style
  base64url signature with its ``kid``). The seals of a tenant form one dense chain of days.
  It goes on only from what it can verify: a checkpoint or the seal it chains onto whose
  signature does not verify under any published key, or that is missing where one must be,
  stops the tenant's sealing (``SealRefused``; nothing is re-signed).
- ``purge(tenant, retention_days, now)``: days before the retention limit that are sealed lose
  their rows and heads; the signed checkpoint records ``purged_through``, so the kept seals
  still verify and a row found in a purged day is a break.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature

from sendsecure.adapters import storage
from sendsecure.audit.chain import (
    CHAIN_KEY_PURPOSE,
    FIRST_DAY,
    HEAD_PREFIX,
    LAST_DAY,
    NO_TENANT,
    Break,
    ChainEnd,
    b64url,
    b64url_decode,
    check_chain,
    check_head,
    day_after,
    day_before,
    day_of,
    days,
    head_key,
    head_rewritten,
    is_head,
    parse_day,
    parse_row_key,
    partition_of,
    row_key,
    seal_chains,
    seal_content,
    seal_hash,
    seal_rewritten_heads,
    signed_bytes,
    stored_at,
)
from sendsecure.core.clock import utcnow
from sendsecure.core.signing import SigningKey, VerificationKeys
from sendsecure.errors import Conflict

if TYPE_CHECKING:
    from sendsecure.audit import AuditLog

logger = logging.getLogger(__name__)

CHECKPOINT = "checkpoint"           # the tenant's row in auditseals beside its day seals
SEAL_DELAY = timedelta(minutes=15)  # a day is sealed this long after it ends (late batches land first)
UNSEALED_GRACE_DAYS = 2             # a day older than this must have a seal once the tenant has any


class SealRefused(Exception):
    """Sealing a tenant stopped: its checkpoint or a seal to chain onto does not verify, or is
    missing where one must be. ``reason`` is verify's name for it (``checkpoint_invalid``,
    ``checkpoint_missing``, ``seal_invalid``, ``seal_missing``), ``row_key`` the row of
    ``auditseals`` (``checkpoint`` or a day), ``sealed`` the days sealed before it (normally none).
    Nothing was written from there on: a checkpoint someone else wrote is never signed over."""

    def __init__(self, tenant: str, reason: str, row_key: str, sealed: list[str] | None = None) -> None:
        super().__init__(f"audit sealing of tenant {tenant} refused: {reason} at {row_key}")
        self.tenant, self.reason, self.row_key = tenant, reason, row_key
        self.sealed = list(sealed or [])


class ChainKeys(Protocol):
    def key(self, purpose: str) -> bytes: ...


class SealSigning(Protocol):
    def current(self) -> SigningKey: ...

    def jwks(self) -> dict[str, list[dict[str, str]]]: ...


@dataclass
class Verification:
    rows: int = 0
    days: int = 0
    first_break: Break | None = None
    breaks: int = 0

    @property
    def intact(self) -> bool:
        return self.first_break is None

    def found(self, found: Break) -> None:
        self.breaks += 1
        if self.first_break is None:
            self.first_break = found

    def as_dict(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"rows": self.rows, "days": self.days, "intact": self.intact, "breaks": self.breaks}
        if self.first_break is not None:
            answer["first_break"] = self.first_break.as_dict()
        return answer


@dataclass
class Page:
    events: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


def _grouped(rows: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, list[Mapping[str, Any]]]]:
    """A partition's rows by chain, each in row-key order; a row whose key is not a chain's
    (``<writer>.<seq>``) is a group of its own, after the chain it sorts into."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        parsed = parse_row_key(str(row["RowKey"]))
        groups.setdefault(parsed[0] if parsed else str(row["RowKey"]), []).append(row)
    yield from groups.items()


class AuditTrail:
    def __init__(self, tables: storage.TableStore, keys: ChainKeys, signing: SealSigning) -> None:
        self._tables = tables
        self._keys = keys
        self._signing = signing

    # ----- signatures -----------------------------------------------------------------------------

    def _sign(self, entity: dict[str, Any]) -> dict[str, Any]:
        key = self._signing.current()
        entity["kid"] = key.kid
        entity["signature"] = b64url(key.private_key.sign(signed_bytes(entity)))
        return entity

    @staticmethod
    def _signature_ok(entity: Mapping[str, Any], keys: VerificationKeys) -> bool:
        public = keys.get(entity.get("kid"))
        if public is None:
            return False
        try:
            public.verify(b64url_decode(str(entity.get("signature", ""))), signed_bytes(entity))
        except (InvalidSignature, ValueError):
            return False
        return True

    def _verification_keys(self) -> VerificationKeys:
        return VerificationKeys.from_jwks(self._signing.jwks())

    # ----- reading ------------------------------------------------------------------------------

    def _day(self, tenant: str, day: str) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """A day's event rows (row-key order) and its chains' heads by writer."""
        rows: list[dict[str, Any]] = []
        heads: dict[str, dict[str, Any]] = {}
        for row in self._tables.query(storage.AUDIT, "PartitionKey eq @p", {"p": partition_of(tenant, day)}):
            if is_head(row):
                heads[str(row["RowKey"])[len(HEAD_PREFIX):]] = row
            else:
                rows.append(row)
        return rows, heads

    def _seals(self, tenant: str, first: str, last: str) -> dict[str, dict[str, Any]]:
        return {str(s["RowKey"]): s for s in self._tables.query(
            storage.AUDIT_SEALS, "PartitionKey eq @t and RowKey ge @low and RowKey le @high",
            {"t": tenant, "low": first, "high": last})}

    def checkpoint(self, tenant: str) -> dict[str, Any] | None:
        return self._tables.get(storage.AUDIT_SEALS, tenant, CHECKPOINT)

    def events(self, tenant: str, start: datetime, end: datetime, cursor: tuple[str, str] | None,
               limit: int) -> Page:
        """Rows with ``start <= at < end``, at most ``limit``, after ``cursor`` (partition, row key)."""
        low, high = partition_of(tenant, day_of(start)), partition_of(tenant, day_of(end))
        query = "PartitionKey ge @low and PartitionKey le @high and RowKey lt @heads and at ge @start and at lt @end"
        parameters: dict[str, Any] = {"low": low, "high": high, "heads": HEAD_PREFIX, "start": start, "end": end}
        if cursor is not None:
            # The SDK substitutes parameters that are whole words: "@cr ) )", not "@cr))".
            query += " and (PartitionKey gt @cp or (PartitionKey eq @cp and RowKey gt @cr ) )"
            parameters.update(cp=cursor[0], cr=cursor[1])
        page = Page()
        for row in self._tables.query(storage.AUDIT, query, parameters):
            if len(page.events) == limit:
                last = page.events[-1]
                page.next_cursor = json.dumps([last["PartitionKey"], last["RowKey"]], separators=(",", ":"))
                break
            page.events.append(dict(row))
        return page

    # ----- verification ---------------------------------------------------------------------------

    def verify(self, tenant: str, first_day: str, last_day: str, now: datetime | None = None) -> Verification:
        """ValueError when ``first_day`` or ``last_day`` is not a day from FIRST_DAY to LAST_DAY
        (``YYYYMMDD``): the callers check their input first (the API's 400, the command's exit 2)."""
        now = now or utcnow()
        today = day_of(now)
        for text in (first_day, last_day):
            if parse_day(text) is None:
                raise ValueError(f"not a day from {FIRST_DAY} to {LAST_DAY}: {text!r}")
        checked = days(first_day, min(last_day, today))   # days after today hold nothing to check
        key = self._keys.key(CHAIN_KEY_PURPOSE)
        keys = self._verification_keys()
        result = Verification()
        checkpoint = self.checkpoint(tenant)
        seals = self._seals(tenant, day_before(first_day), last_day)
        if checkpoint is not None and not self._signature_ok(checkpoint, keys):
            result.found(Break(tenant, CHECKPOINT, "checkpoint_invalid"))
            checkpoint = None
        if checkpoint is None and seals:
            result.found(Break(tenant, CHECKPOINT, "checkpoint_missing"))
        first_sealed = str(checkpoint["first_day"]) if checkpoint else None
        sealed_through = str(checkpoint["sealed_through"]) if checkpoint else ""
        purged_through = str(checkpoint.get("purged_through", "")) if checkpoint else ""
        grace_day = day_of(now - timedelta(days=UNSEALED_GRACE_DAYS))
        for day in checked:
            result.days += 1
            seal = seals.get(day)
            if seal is not None:
                self._check_seal(tenant, day, seal, seals, first_sealed, keys, result)
                if not self._signature_ok(seal, keys):
                    seal = None   # already reported
            must_be_sealed = first_sealed is not None and first_sealed <= day and \
                (day <= sealed_through or day < grace_day)
            rows, heads = self._day(tenant, day)
            result.rows += len(rows)
            partition = partition_of(tenant, day)
            if purged_through and day <= purged_through:
                if rows:
                    result.found(Break(partition, str(rows[0]["RowKey"]), "row_in_purged_day"))
                if seal is None and first_sealed is not None and day >= first_sealed:
                    result.found(Break(tenant, day, "seal_missing"))
                continue
            known = {w: e.seq for w, e in seal_chains(seal).items()} if seal is not None else \
                {w: h.get("seq") for w, h in heads.items()}
            ends: dict[str, ChainEnd] = {}
            for writer, chain_rows in _grouped(rows):
                outcome = check_chain(key, partition, writer, chain_rows)
                if isinstance(outcome, Break):
                    # A row failing its hash where no chain was, or past where its head or seal
                    # ends, was added: the writer never wrote it.
                    parsed = parse_row_key(outcome.row_key)
                    limit = known.get(writer)
                    if outcome.reason == "changed" and (not isinstance(limit, int) or (parsed and parsed[1] > limit)):
                        outcome = Break(partition, outcome.row_key, "inserted")
                    result.found(outcome)
                    last = chain_rows[-1]
                    parsed = parse_row_key(str(last["RowKey"]))
                    outcome = ChainEnd(len(chain_rows), parsed[1] if parsed else -1, str(last.get("hash", "")))
                ends[writer] = outcome
            if seal is not None:
                self._against_seal(partition, ends, seal_chains(seal), result)
                for writer in seal_rewritten_heads(seal):   # what the heads showed when the day was sealed
                    result.found(Break(partition, head_key(writer), "head_rewritten"))
            elif must_be_sealed or (first_sealed is None and rows and day < grace_day):
                result.found(Break(tenant, day, "seal_missing"))
            else:
                self._against_heads(key, partition, ends, heads, result)
        return result

    def _check_seal(self, tenant: str, day: str, seal: Mapping[str, Any], seals: Mapping[str, Mapping[str, Any]],
                    first_sealed: str | None, keys: VerificationKeys, result: Verification) -> None:
        if not self._signature_ok(seal, keys):
            result.found(Break(tenant, day, "seal_invalid"))
            return
        before = seals.get(day_before(day))
        if before is None and first_sealed is not None and day > first_sealed:
            result.found(Break(tenant, day_before(day), "seal_missing"))
        elif str(seal.get("prev_seal", "")) != (seal_hash(before) if before is not None else ""):
            result.found(Break(tenant, day, "seal_invalid"))

    @staticmethod
    def _against_seal(partition: str, ends: Mapping[str, ChainEnd], sealed: Mapping[str, ChainEnd],
                      result: Verification) -> None:
        for writer in sorted(set(ends) | set(sealed)):
            end, expected = ends.get(writer), sealed.get(writer)
            if expected is None:
                result.found(Break(partition, row_key(writer, 0), "inserted"))
            elif end is None:
                if expected.rows:
                    result.found(Break(partition, row_key(writer, 0), "chain_removed"))
            elif end.seq < expected.seq:
                result.found(Break(partition, row_key(writer, end.seq + 1), "tail_removed"))
            elif end.seq > expected.seq:
                result.found(Break(partition, row_key(writer, expected.seq + 1), "inserted"))
            elif end.last_hash != expected.last_hash or end.rows != expected.rows:
                result.found(Break(partition, row_key(writer, end.seq), "changed"))

    @staticmethod
    def _against_heads(key: bytes, partition: str, ends: Mapping[str, ChainEnd],
                       heads: Mapping[str, Mapping[str, Any]], result: Verification) -> None:
        for writer in sorted(set(ends) | set(heads)):
            end = ends.get(writer, ChainEnd(0, -1, ""))
            head = heads.get(writer)
            found = check_head(key, partition, writer, head, end, stored_at(head))
            if found is not None:
                result.found(found)

    # ----- sealing and retention ----------------------------------------------------------------

    def _first_day(self, tenant: str) -> str | None:
        """The day of the tenant's earliest row or head (partitions sort by day)."""
        prefix = partition_of(tenant, "")
        firsts = []
        for row in self._tables.query(storage.AUDIT, "PartitionKey gt @low and PartitionKey lt @high",
                                      {"low": prefix, "high": prefix[:-1] + "/"}, select=["PartitionKey"]):
            day = str(row["PartitionKey"]).rpartition(".")[2]
            # Rows from before the chain (month partitions) are outside it; so is a partition that
            # is no day (someone else wrote it: verify finds no chain of it, sealing must not stop).
            if parse_day(day) is not None:
                firsts.append(day)
                break
        return min(firsts) if firsts else None

    def _chain_ends(self, tenant: str, day: str) -> tuple[dict[str, ChainEnd], list[str]]:
        """Each chain's end as stored (rows, or the head where it is ahead: a removed tail stays
        visible), and the chains whose head was put back (``head_rewritten``)."""
        ends: dict[str, ChainEnd] = {}
        rows_of_day, heads = self._day(tenant, day)
        rewritten = [writer for writer, head in heads.items() if head_rewritten(head, stored_at(head))]
        for writer in rewritten:
            logger.error("audit chain %s.%s writer %s: its head was written long after its writer made it (an "
                         "older head put back?); the seal records it", tenant, day, writer)
        for writer, rows in _grouped(rows_of_day):
            last = rows[-1]
            parsed = parse_row_key(str(last["RowKey"]))
            ends[writer] = ChainEnd(len(rows), parsed[1] if parsed else -1, str(last.get("hash", "")))
        for writer, head in heads.items():
            seq = head.get("seq")
            if isinstance(seq, int) and seq > ends.get(writer, ChainEnd(0, -1, "")).seq:
                ends[writer] = ChainEnd(ends[writer].rows if writer in ends else 0, seq, str(head.get("last_hash")))
        return ends, rewritten

    def _has_seals(self, tenant: str) -> bool:
        found = self._tables.query(storage.AUDIT_SEALS, "PartitionKey eq @t and RowKey ge @low and RowKey le @high",
                                   {"t": tenant, "low": FIRST_DAY, "high": LAST_DAY}, select=["RowKey"],
                                   results_per_page=1)
        return next(iter(found), None) is not None

    @staticmethod
    def _refuse(tenant: str, reason: str, row_key: str, sealed: list[str]) -> SealRefused:
        # Names only: never the stored values (a forger chose them) or anything of the keys.
        logger.error("audit sealing of tenant %s refused: %s (%s row %s does not verify or is missing); nothing "
                     "sealed from there, nothing re-signed: verify the tenant's log (docs/operations.md)",
                     tenant, reason, storage.AUDIT_SEALS, row_key)
        return SealRefused(tenant, reason, row_key, sealed)

    def _trusted_checkpoint(self, tenant: str, keys: VerificationKeys, sealed: list[str]) -> dict[str, Any] | None:
        """The tenant's checkpoint when its signature verifies; None for a tenant never sealed.
        No checkpoint beside seals is refused: sealing would start again from the oldest row left
        and sign a checkpoint that forgets ``first_day`` and ``purged_through``."""
        checkpoint = self.checkpoint(tenant)
        if checkpoint is None and self._has_seals(tenant):
            checkpoint = self.checkpoint(tenant)   # a first run elsewhere writes it before its first seal
            if checkpoint is None:
                raise self._refuse(tenant, "checkpoint_missing", CHECKPOINT, sealed)
        if checkpoint is not None and not self._signature_ok(checkpoint, keys):
            raise self._refuse(tenant, "checkpoint_invalid", CHECKPOINT, sealed)
        return checkpoint

    def seal(self, tenant: str, now: datetime | None = None) -> list[str]:
        """Seal every finished day not sealed yet; returns the days sealed now. ``SealRefused`` when
        the checkpoint or the seal to chain onto does not verify (with the same keys as ``verify``:
        every published version, so a rotation changes nothing) or is missing where one must be."""
        now = now or utcnow()
        last = day_of(now - SEAL_DELAY - timedelta(days=1))
        keys = self._verification_keys()
        sealed: list[str] = []
        checkpoint = self._trusted_checkpoint(tenant, keys, sealed)
        if checkpoint is None:
            found = self._first_day(tenant)
            if found is None or found > last:
                return []
            # The first seal: the checkpoint (nothing sealed yet) is written before it, so a run cut
            # short between a seal and the checkpoint's move never leaves seals without a checkpoint.
            checkpoint = self._save_checkpoint(tenant, None, first_day=found)
        first, through = str(checkpoint["first_day"]), str(checkpoint["sealed_through"])
        if through and through >= last:
            return []
        previous: Mapping[str, Any] | None = None
        if through:
            previous = self._tables.get(storage.AUDIT_SEALS, tenant, through)
            if previous is None:
                raise self._refuse(tenant, "seal_missing", through, sealed)
            if not self._signature_ok(previous, keys):
                raise self._refuse(tenant, "seal_invalid", through, sealed)
        for day in days(day_after(through) if through else first, last):
            ends, rewritten = self._chain_ends(tenant, day)
            link = seal_hash(previous) if previous is not None else ""
            seal: Mapping[str, Any] = self._sign(seal_content(tenant, day, ends, link, rewritten))
            try:
                self._tables.insert(storage.AUDIT_SEALS, dict(seal))
            except Conflict:   # another instance sealed it: continue from its seal, if it is one
                stored = self._tables.get(storage.AUDIT_SEALS, tenant, day)
                if stored is None:
                    raise self._refuse(tenant, "seal_missing", day, sealed) from None
                if not self._signature_ok(stored, keys) or str(stored.get("prev_seal", "")) != link:
                    raise self._refuse(tenant, "seal_invalid", day, sealed) from None
                seal = stored
            logger.info("audit seal %s %s: %d rows, hash %s", tenant, day, seal.get("rows", 0), seal_hash(seal))
            previous = seal
            sealed.append(day)
            self._save_checkpoint(tenant, checkpoint, first_day=first, sealed_through=day)
            # Read again (a purge elsewhere may have moved it); signed over next only if it verifies.
            checkpoint = self._trusted_checkpoint(tenant, keys, sealed)
            if checkpoint is None:
                raise self._refuse(tenant, "checkpoint_missing", CHECKPOINT, sealed)
        return sealed

    def _save_checkpoint(self, tenant: str, current: Mapping[str, Any] | None, **changes: str) -> dict[str, Any]:
        """Write the checkpoint signed: ``current``'s days with ``changes``. Callers pass only a
        checkpoint whose signature they verified (or None for a tenant's first)."""
        entity = {"PartitionKey": tenant, "RowKey": CHECKPOINT, "first_day": "", "sealed_through": "",
                  "purged_through": ""}
        if current is not None:
            entity.update({k: str(current.get(k, "")) for k in ("first_day", "sealed_through", "purged_through")})
        entity.update(changes)
        signed = self._sign(entity)
        self._tables.upsert(storage.AUDIT_SEALS, signed, merge=False)
        # The row as written (days, kid, signature: nothing secret), in a store the table's writers do
        # not control: an operator can put back the last genuine one if sealing is refused.
        logger.info("audit checkpoint %s: %s", tenant, json.dumps(signed, sort_keys=True, separators=(",", ":")))
        return signed

    def purge(self, tenant: str, retention_days: int, now: datetime | None = None) -> tuple[int, str]:
        """Remove the rows and heads of sealed days older than ``retention_days``; (rows removed,
        purged through day). The checkpoint is moved first: an interrupted purge shows as rows in
        purged days until the next run removes them, never as an unexplained gap."""
        now = now or utcnow()
        checkpoint = self.checkpoint(tenant)
        if checkpoint is None or not self._signature_ok(checkpoint, self._verification_keys()):
            return 0, ""
        through = min(day_before(day_of(now - timedelta(days=retention_days))), str(checkpoint["sealed_through"]))
        if through < str(checkpoint["first_day"]):
            return 0, str(checkpoint.get("purged_through", ""))
        if through > str(checkpoint.get("purged_through", "")):
            self._save_checkpoint(tenant, checkpoint, purged_through=through)
        days_ = "PartitionKey gt @low and PartitionKey le @high and RowKey "
        parameters = {"low": partition_of(tenant, ""), "high": partition_of(tenant, through), "heads": HEAD_PREFIX}
        removed = self._tables.delete_where(storage.AUDIT, days_ + "lt @heads", parameters)
        self._tables.delete_where(storage.AUDIT, days_ + "ge @heads", parameters)   # the chains' heads
        return removed, through

    def tenants(self, known: Iterable[str]) -> list[str]:
        """The tenants to seal and purge: those known, those with a checkpoint (offboarded ones keep
        their log until retention ends), and the events without a tenant."""
        found = set(known) | {NO_TENANT}
        found |= {str(row["PartitionKey"]) for row in self._tables.query(
            storage.AUDIT_SEALS, "RowKey eq @c", {"c": CHECKPOINT}, select=["PartitionKey"])}
        return sorted(found)


def seal_and_purge(trail: AuditTrail, audit_log: AuditLog, tenants: Iterable[str], retention_days: int,
                   now: datetime | None = None) -> dict[str, int]:
    """The daily housekeeping of the log: seal every finished day of every tenant, then purge what
    is past retention; both recorded in the tenant's own log. One tenant failing does not stop the
    others (it is logged; the next run catches up). A tenant whose sealing is refused (a checkpoint
    or seal that does not verify: ``SealRefused``) is not purged either, and stays refused until
    an operator acts: ``audit.sealed`` with outcome ``refused`` and the reason in its own log, an
    error in the application log, counted in ``refused`` (and ``failed``)."""
    from sendsecure.audit import AUDIT_PURGED, AUDIT_SEALED
    from sendsecure.errors import DependencyUnavailable

    def recorded_sealed(tenant_id: str | None, sealed: list[str]) -> None:
        if sealed:
            audit_log.record(AUDIT_SEALED, tenant_id=tenant_id, actor="housekeeping", outcome="sealed",
                             first_day=sealed[0], last_day=sealed[-1], days=len(sealed))

    totals = {"tenants": 0, "days_sealed": 0, "rows_purged": 0, "failed": 0, "refused": 0}
    for tenant in tenants:
        tenant_id = None if tenant == NO_TENANT else tenant
        try:
            sealed = trail.seal(tenant, now)
            recorded_sealed(tenant_id, sealed)
            removed, through = trail.purge(tenant, retention_days, now)
            if removed:
                audit_log.record(AUDIT_PURGED, tenant_id=tenant_id, actor="housekeeping", outcome="purged",
                                 rows=removed, through_day=through, retention_days=retention_days)
        except SealRefused as refused:   # already logged as an error, naming the row
            totals["failed"] += 1
            totals["refused"] += 1
            totals["days_sealed"] += len(refused.sealed)
            try:
                recorded_sealed(tenant_id, refused.sealed)
                audit_log.record(AUDIT_SEALED, tenant_id=tenant_id, actor="housekeeping", outcome="refused",
                                 reason=refused.reason, row_key=refused.row_key)
            except DependencyUnavailable:
                logger.error("audit housekeeping of tenant %s: its refused sealing could not be recorded in its "
                             "log", tenant)
            continue
        except DependencyUnavailable:
            logger.error("audit housekeeping of tenant %s failed; the next run catches up", tenant)
            totals["failed"] += 1
            continue
        except ValueError:   # a stored day that is none (sealing checks the checkpoint's signature first; a guard)
            logger.error("audit housekeeping of tenant %s failed: a stored day is not valid; verify the tenant's "
                         "log", tenant)
            totals["failed"] += 1
            continue
        totals["tenants"] += 1
        totals["days_sealed"] += len(sealed)
        totals["rows_purged"] += removed
    return totals


def daily_housekeeping(tenant: str | None = None) -> dict[str, int]:
    """``seal_and_purge`` for every tenant (or one) with the deployment's settings (the timer, the CLI)."""
    from sendsecure import runtime
    from sendsecure.settings import get_settings

    trail = runtime.audit_trail()
    tenants = [tenant] if tenant else trail.tenants(t.id for t in runtime.tenant_directory().all())
    return seal_and_purge(trail, runtime.audit_log(), tenants, get_settings().audit_retention_days)
