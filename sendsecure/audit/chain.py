"""The audit chain's pure parts (SPEC X7): keys, canonical form, row hashes, chain checks, seals.

A chain is the rows one writer (one process, a random id) wrote for one tenant on one UTC day:
partition ``<tenant>.<YYYYMMDD>``, row key ``<writer>.<seq>`` with ``seq`` counting from 0 without
gaps. Each row carries ``prev_hash`` (the previous row's ``hash``, ``""`` for seq 0) and ``hash``:
HMAC-SHA256, under the deployment's ``audit-chain`` key, of the row's canonical form (every
property but ``hash`` and the storage's own ``Timestamp``, keys included). A keyed hash, so that
someone who can write the table but not read the key store cannot recompute a chain after
changing a row.

``check_chain`` finds, for one chain's rows as stored, the first row that was changed, removed,
inserted or moved. A chain's *head* (row key ``~head.<writer>`` in the same partition, written
with the chain's first rows and then kept up to date within ``HEAD_INTERVAL``: its last seq and
hash, keyed likewise) catches a removed tail; a day's *seal* (``auditseals``: every chain's last seq and hash, signed
with the deployment's Ed25519 signing key and linked to the previous day's seal) fixes the day for
good. No I/O here.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

CHAIN_KEY_PURPOSE = "audit-chain"   # DerivedKeys purpose of the rows' and heads' HMAC
SEQ_DIGITS = 10
NO_TENANT = "-"                     # the chain of events without a tenant (unknown challenge, a gateway's refusal)
HEAD_PREFIX = "~head."              # sorts after every event row of the partition
HEAD_EVENT = "audit.chain_head"     # so that a reader of every row sees what a head is
# How much later than its ``written_at`` storage may have written a head (its ``Timestamp``): a
# writer re-writes a head whose write took longer than HEAD_WRITE_LIMIT (``AuditLog``), so the rest
# is the clocks' difference (the app's and storage's, both NTP-synchronised in Azure).
HEAD_WRITE_LIMIT = timedelta(seconds=30)
HEAD_SLACK = timedelta(seconds=120)
_SKIP = frozenset(("hash", "Timestamp", "etag"))


# The days the log can hold: Table Storage's DateTime range (1601-01-01 to 9999-12-31), less its
# last day, so every day has a day after it (and, from the second, one before it).
FIRST_DAY, LAST_DAY = "16010101", "99991230"
EARLIEST = datetime(1601, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)   # exclusive: the end of LAST_DAY


def day_of(at: datetime) -> str:
    """``YYYYMMDD`` of ``at`` in UTC (the year always four digits: strftime drops the zeros of year 1)."""
    moment = at.astimezone(UTC)
    return f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"


def parse_day(text: str) -> date | None:
    """The date of a ``YYYYMMDD`` day within FIRST_DAY..LAST_DAY, or None (a partition written by
    someone else, or Unicode digits: ``isdigit()`` accepts "²", which ``int()`` refuses)."""
    if len(text) != 8 or not (text.isascii() and text.isdigit()) or not FIRST_DAY <= text <= LAST_DAY:
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def partition_of(tenant_id: str | None, day: str) -> str:
    return f"{tenant_id or NO_TENANT}.{day}"


def row_key(writer: str, seq: int) -> str:
    return f"{writer}.{seq:0{SEQ_DIGITS}d}"


def parse_row_key(key: str) -> tuple[str, int] | None:
    """(writer, seq) of an event row's key, or None if it is not one."""
    writer, _, seq = key.rpartition(".")
    if not writer or len(seq) != SEQ_DIGITS or not (seq.isascii() and seq.isdigit()):
        return None
    return writer, int(seq)


def _value(value: Any) -> list[str]:
    """One property as [type, text]: a changed type (the number 5 stored as the text "5") is a change."""
    value = getattr(value, "value", value)  # the SDK's EntityProperty (Int64) carries the value
    if isinstance(value, bool):
        return ["b", "true" if value else "false"]
    if isinstance(value, int):
        return ["i", str(value)]
    if isinstance(value, float):
        return ["f", repr(value)]
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return ["d", moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    if isinstance(value, bytes):
        return ["x", value.hex()]
    return ["s", str(value)]


def canonical(entity: Mapping[str, Any]) -> bytes:
    """The bytes the hash covers: every property but the hash and the storage's metadata, sorted."""
    items = sorted((name, *_value(value)) for name, value in entity.items() if name not in _SKIP)
    return json.dumps(items, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def row_hash(key: bytes, entity: Mapping[str, Any]) -> str:
    return hmac.new(key, canonical(entity), hashlib.sha256).hexdigest()


def link(key: bytes, entity: dict[str, Any], writer: str, seq: int, prev_hash: str) -> dict[str, Any]:
    """Put ``entity`` at ``seq`` of ``writer``'s chain after a row whose hash is ``prev_hash``."""
    entity["RowKey"] = row_key(writer, seq)
    entity["chain"] = writer
    entity["seq"] = seq
    entity["prev_hash"] = prev_hash
    entity["hash"] = row_hash(key, entity)
    return entity


def head_key(writer: str) -> str:
    return HEAD_PREFIX + writer


def head_entity(key: bytes, partition: str, writer: str, seq: int, last_hash: str,
                written_at: datetime) -> dict[str, Any]:
    """A chain's head: its last seq and hash, in the chain's partition, and when the writer wrote
    it (``written_at``, under the hash: storage's own ``Timestamp`` of the head must stay close to
    it, so an older head put back later is seen, ``check_head``)."""
    head: dict[str, Any] = {"PartitionKey": partition, "RowKey": head_key(writer), "event": HEAD_EVENT,
                            "outcome": "head", "chain": writer, "seq": seq, "last_hash": last_hash,
                            "written_at": written_at.astimezone(UTC)}
    head["hash"] = row_hash(key, head)
    return head


def stored_at(entity: Any) -> datetime | None:
    """Storage's ``Timestamp`` of an entity as read (the SDK gives it in ``metadata``; Table Storage
    sets it on every write, and a client cannot choose it), or None when not read."""
    value = getattr(entity, "metadata", {}).get("timestamp")
    return value if isinstance(value, datetime) else None


def head_rewritten(head: Mapping[str, Any], written: datetime | None) -> bool:
    """Whether storage wrote ``head`` (its ``Timestamp``, ``written``) later than its writer made it
    (``written_at``, under the hash) by more than ``HEAD_SLACK``: someone put back a copy of an
    older head. A head without ``written_at`` (written before it existed) cannot be checked."""
    made = head.get("written_at")
    if written is None or not isinstance(made, datetime):
        return False
    made = made if made.tzinfo is not None else made.replace(tzinfo=UTC)
    return written - made > HEAD_SLACK


def is_head(row: Mapping[str, Any]) -> bool:
    return str(row.get("RowKey", "")).startswith(HEAD_PREFIX)


@dataclass(frozen=True)
class Break:
    """The first place where the log is not as written: partition, row key and what is wrong."""

    partition: str
    row_key: str
    reason: str   # changed | removed | inserted | reordered | tail_removed | head_missing | head_rewritten
    #               | chain_removed
    #               | seal_invalid | seal_missing | checkpoint_invalid | checkpoint_missing | row_in_purged_day

    def as_dict(self) -> dict[str, str]:
        return {"partition": self.partition, "row_key": self.row_key, "reason": self.reason}


@dataclass(frozen=True)
class ChainEnd:
    """What a chain ends with as stored: rows, last seq and hash (seq -1 and "" when empty)."""

    rows: int
    seq: int
    last_hash: str


def check_chain(key: bytes, partition: str, writer: str, rows: Iterable[Mapping[str, Any]]) -> Break | ChainEnd:
    """One chain's rows in row-key order: the first break, or how the intact chain ends.

    - a row whose hash does not match its content: ``changed`` (or ``reordered`` when its content
      is intact but it stands at another position, i.e. its own ``seq``/``RowKey`` disagree);
    - a gap in the sequence or a ``prev_hash`` that is not the previous row's hash: ``removed``;
    - a row key that is not of this chain's form, or a second row claiming a position: ``inserted``.
    """
    expected_seq = 0
    prev = ""
    count = 0
    for row in rows:
        key_text = str(row.get("RowKey", ""))
        parsed = parse_row_key(key_text)
        if parsed is None or parsed[0] != writer or row.get("chain") != writer:
            return Break(partition, key_text, "inserted")
        if row.get("hash") != row_hash(key, row):
            claimed = row.get("seq")
            moved = isinstance(claimed, int) and claimed != parsed[1] and \
                row.get("hash") == row_hash(key, {**row, "RowKey": row_key(writer, claimed)})
            return Break(partition, key_text, "reordered" if moved else "changed")
        if row.get("seq") != parsed[1] or row.get("PartitionKey") != partition:
            return Break(partition, key_text, "reordered")
        if parsed[1] != expected_seq or row.get("prev_hash") != prev:
            # A missing position, or a row whose predecessor is not the one it was written after.
            return Break(partition, key_text, "removed" if parsed[1] > expected_seq else "reordered")
        prev = str(row["hash"])
        expected_seq += 1
        count += 1
    return ChainEnd(rows=count, seq=expected_seq - 1, last_hash=prev)


def check_head(key: bytes, partition: str, writer: str, head: Mapping[str, Any] | None, end: ChainEnd,
               written: datetime | None = None) -> Break | None:
    """A chain of an unsealed day against its head. The head is written with the chain's first
    rows, then at most ``HEAD_INTERVAL`` after the chain grew, so it may trail the rows (by the
    last fraction of a second, or what a process wrote just before it stopped); rows past it
    carry valid hashes (a forged one is caught by ``check_chain``). A head ahead of the rows
    means rows were removed from the tail. A head that storage wrote (``written``: its
    ``Timestamp``) long after its writer made it was put back by someone else, possibly after
    removing the rows past it: ``head_rewritten``."""
    if head is None:
        return Break(partition, row_key(writer, 0), "head_missing")
    if head.get("hash") != row_hash(key, head) or head.get("chain") != writer:
        return Break(partition, head_key(writer), "changed")
    if head_rewritten(head, written):
        return Break(partition, head_key(writer), "head_rewritten")
    seq = head.get("seq")
    if not isinstance(seq, int) or seq > end.seq:
        return Break(partition, row_key(writer, end.seq + 1), "chain_removed" if end.rows == 0 else "tail_removed")
    if seq == end.seq and head.get("last_hash") != end.last_hash:
        return Break(partition, row_key(writer, end.seq), "changed")
    return None


# ----- seals and the retention checkpoint (signed) -------------------------------------------------

def seal_content(tenant: str, day: str, chains: Mapping[str, ChainEnd], prev_seal: str,
                 rewritten_heads: Iterable[str] = ()) -> dict[str, Any]:
    """The signed part of a day's seal: each chain's row count, last seq and hash, and the
    previous day's seal hash (a seal is written for every day, with or without rows); and, only
    when there are any, the chains whose head was found put back (``head_rewritten``) when the
    day was sealed, so that the seal keeps what the heads showed."""
    content: dict[str, Any] = {
        "PartitionKey": tenant, "RowKey": day,
        "chains": json.dumps({w: [c.rows, c.seq, c.last_hash] for w, c in sorted(chains.items())},
                             separators=(",", ":")),
        "rows": sum(c.rows for c in chains.values()),
        "prev_seal": prev_seal,
    }
    rewritten = sorted(set(rewritten_heads))
    if rewritten:
        content["rewritten_heads"] = json.dumps(rewritten, separators=(",", ":"))
    return content


def seal_chains(seal: Mapping[str, Any]) -> dict[str, ChainEnd]:
    data = json.loads(str(seal.get("chains", "{}")))
    return {writer: ChainEnd(rows=int(v[0]), seq=int(v[1]), last_hash=str(v[2])) for writer, v in data.items()}


def seal_rewritten_heads(seal: Mapping[str, Any]) -> list[str]:
    """The chains whose head was found put back when the day was sealed."""
    return [str(writer) for writer in json.loads(str(seal.get("rewritten_heads", "[]")))]


def seal_hash(seal: Mapping[str, Any]) -> str:
    """The hash the next day's seal links to (over the signed part, signature excluded)."""
    signed = {k: v for k, v in seal.items() if k not in ("signature", "kid")}
    return hashlib.sha256(canonical(signed)).hexdigest()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_bytes(entity: Mapping[str, Any]) -> bytes:
    return canonical({k: v for k, v in entity.items() if k not in ("signature", "kid")})


def _day(text: str) -> date:
    found = parse_day(text)
    if found is None:
        raise ValueError(f"not a day from {FIRST_DAY} to {LAST_DAY}: {text!r}")
    return found


def _text(day: date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def day_after(day: str) -> str:
    """The next day; ValueError for a day outside FIRST_DAY..LAST_DAY."""
    return _text(date.fromordinal(_day(day).toordinal() + 1))


def day_before(day: str) -> str:
    """The day before (FIRST_DAY's is the calendar's day before it, which no partition uses);
    ValueError for a day outside FIRST_DAY..LAST_DAY."""
    return _text(date.fromordinal(_day(day).toordinal() - 1))


def days(first: str, last: str) -> list[str]:
    """``first`` to ``last`` inclusive; ValueError when either is not a day the log can hold."""
    start, end = _day(first), _day(last)
    return [_text(date.fromordinal(n)) for n in range(start.toordinal(), end.toordinal() + 1)]
