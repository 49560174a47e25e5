"""The domain book (SPEC D2, V-R2): entries, and the immutable in-memory snapshot the rules read.

An entry is a mail domain or a single address, with its organisation, its network and whether
it meets NTA 7516:
- ``community`` entries come from the ZorgMail domain list, the Safe Relay partner networks'
  lists (E-Zorg, Zorgring Noord-Holland Noord, ...) and the address book: mail to them is
  delivered directly;
- entries only in the NTA 7516 register (organisations with another certified supplier) are not
  community; they are reachable over the NTA route when both sides meet NTA 7516.

Lookup (decided here, see README): an exact address entry wins over its domain; a domain entry
covers addresses in exactly that domain, not in its subdomains (``mail.ziekenhuis.nl`` is not
``ziekenhuis.nl``: a subdomain has mail servers of its own and may not be connected).

Pure: no I/O. The snapshot also carries the look-alike index (SPEC X1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

ZORGMAIL = "zorgmail"


@dataclass(frozen=True, slots=True)
class BookEntry:
    key: str                 # normalised domain, or normalised address for a single-address entry
    organisation: str
    network: str             # "zorgmail", a partner network id ("e-zorg", ...), or a supplier's network
    community: bool          # delivered directly (ZorgMail or a Safe Relay partner network)
    nta7516: bool            # meets NTA 7516
    supplier: str = ""       # the certified supplier, for NTA-register entries
    source: str = ""         # the source list it came from

    @property
    def is_address(self) -> bool:
        return "@" in self.key

    def to_row(self) -> list:
        return [self.key, self.organisation, self.network, int(self.community), int(self.nta7516),
                self.supplier, self.source]

    @classmethod
    def from_row(cls, row: list) -> "BookEntry":
        key, organisation, network, community, nta, supplier, source = row
        return cls(key, organisation, network, bool(community), bool(nta), supplier, source)


def merge_entries(entries: list[BookEntry]) -> dict[str, BookEntry]:
    """One entry per key: community if any source says so; NTA 7516 if any source says so;
    organisation and supplier from the first source that names them."""
    merged: dict[str, BookEntry] = {}
    for entry in entries:
        seen = merged.get(entry.key)
        if seen is None:
            merged[entry.key] = entry
            continue
        community_first = seen if seen.community or not entry.community else entry
        merged[entry.key] = BookEntry(
            key=entry.key,
            organisation=seen.organisation or entry.organisation,
            network=community_first.network,
            community=seen.community or entry.community,
            nta7516=seen.nta7516 or entry.nta7516,
            supplier=seen.supplier or entry.supplier,
            source=community_first.source,
        )
    return merged


# ----- look-alike index (SPEC X1) -----------------------------------------------------------
#
# Pass-Join partitioning: a string within edit distance 2 of a book domain keeps at least one
# of that domain's three segments intact, shifted by at most 2 positions. The index maps
# (length, segment number, segment text) to domains; a query probes 5 lengths x 3 segments x
# 5 positions and verifies the few candidates with a real edit distance. No scan of the book.

LOOKALIKE_DISTANCE = 2
_PARTS = LOOKALIKE_DISTANCE + 1


def _segments(length: int) -> list[tuple[int, int]]:
    """(start, length) of the segments of a string of ``length`` characters."""
    base, extra = divmod(length, _PARTS)
    spans, start = [], 0
    for index in range(_PARTS):
        size = base + (1 if index >= _PARTS - extra else 0)
        spans.append((start, size))
        start += size
    return spans


def build_lookalike_index(domains: list[str]) -> dict[tuple[int, int, str], tuple[str, ...]]:
    index: dict[tuple[int, int, str], list[str]] = {}
    for domain in domains:
        length = len(domain)
        if length <= _PARTS:
            continue
        for number, (start, size) in enumerate(_segments(length)):
            index.setdefault((length, number, domain[start:start + size]), []).append(domain)
    return {key: tuple(value) for key, value in index.items()}


def edit_distance(a: str, b: str, limit: int = LOOKALIKE_DISTANCE) -> int:
    """Levenshtein distance (insert, delete, substitute one character), stopping above ``limit``.

    A swap of two neighbouring characters counts as two edits.
    """
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        if min(current) > limit:
            return limit + 1
        previous = current
    return previous[-1]


@dataclass(frozen=True, eq=False)
class DomainBook:
    """An immutable snapshot of one generation of one variant's book (compared by identity)."""

    variant: str
    version: str
    synced_at: datetime
    entries: dict[str, BookEntry]
    lookalikes: dict[tuple[int, int, str], tuple[str, ...]] = field(repr=False, default_factory=dict)
    # Answers of lookalike_of, kept with the snapshot so they go when it goes.
    _lookalike_answers: dict[str, str | None] = field(repr=False, default_factory=dict)

    @classmethod
    def build(cls, variant: str, version: str, synced_at: datetime, entries: dict[str, BookEntry]) -> "DomainBook":
        domains = [key for key in entries if "@" not in key]
        return cls(variant, version, synced_at, entries, build_lookalike_index(domains))

    def age_seconds(self, now: datetime | None = None) -> int:
        now = now or datetime.now(timezone.utc)
        return max(0, int((now - self.synced_at).total_seconds()))

    def lookup(self, address: str, domain: str) -> BookEntry | None:
        """The entry for a normalised address: its own entry, else its domain's."""
        entries = self.entries
        return entries.get(address) or entries.get(domain)

    def lookalike_of(self, domain: str) -> str | None:
        """The book domain this one most likely meant, if it is 1-2 edits away (and not itself)."""
        answers = self._lookalike_answers
        if domain in answers:
            return answers[domain]
        if len(answers) > _ANSWER_LIMIT:
            answers.clear()
        answer = answers[domain] = _lookalike(self, domain)
        return answer


_ANSWER_LIMIT = 50000


def _lookalike(book: DomainBook, domain: str) -> str | None:
    if domain in book.entries:
        return None
    index = book.lookalikes
    length = len(domain)
    candidates: set[str] = set()
    for other_length in range(length - LOOKALIKE_DISTANCE, length + LOOKALIKE_DISTANCE + 1):
        if other_length <= _PARTS:
            continue
        for number, (start, size) in enumerate(_segments(other_length)):
            low = max(0, start - LOOKALIKE_DISTANCE)
            high = min(length - size, start + LOOKALIKE_DISTANCE)
            for position in range(low, high + 1):
                found = index.get((other_length, number, domain[position:position + size]))
                if found:
                    candidates.update(found)
    best, best_distance = None, LOOKALIKE_DISTANCE + 1
    for candidate in sorted(candidates):
        distance = edit_distance(domain, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    return best
