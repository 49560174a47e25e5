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

import functools

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
# An edit is inserting, deleting or substituting one character (Levenshtein; a swap of two
# neighbours is two edits). A domain is split into its name and its top-level domain, and a
# look-alike is within two edits in name and TLD together; an edit that moves the dot before
# the TLD (``praktijk.nl`` -> ``praktijkn.l``) is found only where removing or adding that dot
# is the edit. The book's TLDs are few, so a query first finds the TLDs within two edits of
# its own, then looks for names within the remaining edits among the book's names under them.
#
# Names are found without scanning the book, by Pass-Join partitioning: a name within edit
# distance 2 of a book name keeps at least one of that name's three segments intact, shifted by
# at most 2 positions. The index maps (tld, length, segment number, segment text) to domains; a
# query probes 5 lengths x 3 segments x 5 positions and verifies the few candidates with
# rapidfuzz's Levenshtein distance (C++). Splitting off the TLD matters: a shared suffix such as
# ".nl" would otherwise be a segment that matches most of the book.

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


def build_lookalike_index(domains: list[str]) -> dict[tuple, tuple[str, ...]]:
    index: dict[tuple, list[str]] = {}
    keyed: list[tuple[str, str]] = []
    for domain in domains:
        keyed.append((domain, domain))
        if domain.count(".") >= 2:  # a query that lost the last dot splits one dot earlier
            cut = domain.rfind(".")
            keyed.append((domain[:cut] + domain[cut + 1:], domain))
    for key_domain, domain in keyed:
        name, _, tld = key_domain.rpartition(".")
        index.setdefault(("tld", tld), [])
        length = len(name)
        if length <= _PARTS:
            index.setdefault(("short", tld), []).append(domain)
            continue
        for number, (start, size) in enumerate(_segments(length)):
            index.setdefault((tld, length, number, name[start:start + size]), []).append(domain)
    return {key: tuple(value) for key, value in index.items()}


def edit_distance(a: str, b: str, limit: int = LOOKALIKE_DISTANCE) -> int:
    """Levenshtein distance; ``limit + 1`` when it is larger than ``limit``."""
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b, score_cutoff=limit)


def _lookalike_candidates(index: dict[tuple, tuple[str, ...]], tlds: tuple[str, ...], domain: str,
                          limit: int = LOOKALIKE_DISTANCE) -> set[str]:
    """Book domains that may be within ``limit`` edits of ``domain`` (a superset; verify after).

    The name/TLD split assumes the last dots correspond; an edit that inserts a dot is covered
    by also probing the domain with that dot removed, with one edit less to spend.
    """
    from rapidfuzz.distance import Levenshtein

    candidates: set[str] = set()
    if limit > 0:
        for position, char in enumerate(domain):
            variant = domain[:position] + domain[position + 1:]
            if char == "." and "." in variant:
                candidates |= _lookalike_candidates(index, tlds, variant, limit - 1)
    name, _, tld = domain.rpartition(".")
    length = len(name)
    for book_tld in tlds:
        budget = limit - Levenshtein.distance(tld, book_tld, score_cutoff=limit)
        if budget < 0:
            continue
        for other_length in range(max(1, length - budget), length + budget + 1):
            if other_length <= _PARTS:  # names too short to split: few, all compared
                candidates.update(index.get(("short", book_tld), ()))
                continue
            if budget == 0:  # only the very name under this TLD can do
                found = index.get((book_tld, other_length, 0, name[:_segments(other_length)[0][1]]), ())
                candidates.update(d for d in found if d.replace(".", "") == (name + book_tld).replace(".", ""))
                continue
            for number, (start, size) in enumerate(_segments(other_length)):
                low = max(0, start - budget)
                high = min(length - size, start + budget)
                for position in range(low, high + 1):
                    found = index.get((book_tld, other_length, number, name[position:position + size]))
                    if found:
                        candidates.update(found)
    return candidates


@dataclass(frozen=True, eq=False)
class DomainBook:
    """An immutable snapshot of one generation of one variant's book (compared by identity)."""

    variant: str
    version: str
    synced_at: datetime
    entries: dict[str, BookEntry]
    lookalikes: dict[tuple, tuple[str, ...]] = field(repr=False, default_factory=dict)
    # Answers of lookalike_of, kept with the snapshot so they go when it goes.
    _lookalike_answers: dict[str, str | None] = field(repr=False, default_factory=dict)

    @classmethod
    def build(cls, variant: str, version: str, synced_at: datetime, entries: dict[str, BookEntry]) -> "DomainBook":
        domains = [key for key in entries if "@" not in key]
        return cls(variant, version, synced_at, entries, build_lookalike_index(domains))

    @functools.cached_property
    def tlds(self) -> tuple[str, ...]:
        return tuple(sorted(key[1] for key in self.lookalikes if key[0] == "tld"))

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


def latin_skeleton(domain: str) -> str | None:
    """The plain-ASCII reading of an internationalised domain (``zïekenhuis`` -> ``ziekenhuis``):
    decoded from punycode, accents stripped. ``None`` if nothing is left to compare. Letters
    from other scripts that merely look Latin (Cyrillic ``е``) need a confusables table and
    are not covered."""
    import unicodedata

    import idna

    try:
        text = idna.decode(domain)
    except idna.IDNAError:
        return None
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return plain if plain.isascii() and plain != domain and "." in plain else None


def _lookalike(book: DomainBook, domain: str) -> str | None:
    if domain in book.entries:
        return None
    if "xn--" in domain:  # an accented twin of a book domain is a look-alike too
        skeleton = latin_skeleton(domain)
        if skeleton is not None:
            if skeleton in book.entries:
                return skeleton
            found = _closest(book, skeleton)
            if found is not None:
                return found
    return _closest(book, domain)


def _closest(book: DomainBook, domain: str) -> str | None:
    candidates = _lookalike_candidates(book.lookalikes, book.tlds, domain)
    if not candidates:
        return None
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    best = process.extractOne(domain, sorted(candidates), scorer=Levenshtein.distance,
                              score_cutoff=LOOKALIKE_DISTANCE)
    return best[0] if best is not None else None
