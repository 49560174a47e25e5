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

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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

    def to_row(self) -> list[str | int]:
        return [self.key, self.organisation, self.network, int(self.community), int(self.nta7516),
                self.supplier, self.source]

    @classmethod
    def from_row(cls, row: list[Any]) -> BookEntry:
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
# Domains are compared in their comparison form (``addresses.comparison_form``: the Unicode form
# with non-ASCII characters mapped to their UTS #39 prototypes and accents dropped; issue 7
# item 17), so "domain" below means that form; the index maps forms back to book domains.
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

# An index key: ("tld", tld), ("short", tld) or (tld, length, segment number, segment text).
SegmentKey = tuple[str, str] | tuple[str, int, int, str]


def _segments(length: int) -> list[tuple[int, int]]:
    """(start, length) of the segments of a string of ``length`` characters."""
    base, extra = divmod(length, _PARTS)
    spans, start = [], 0
    for index in range(_PARTS):
        size = base + (1 if index >= _PARTS - extra else 0)
        spans.append((start, size))
        start += size
    return spans


class LookalikeIndex:
    """The book's domains by their X1 comparison form (``addresses.comparison_form``)."""

    __slots__ = ("segments", "domains", "tlds", "_budgets")

    def __init__(self, segments: dict[SegmentKey, tuple[str, ...]], domains: dict[str, tuple[str, ...]]) -> None:
        self.segments = segments      # Pass-Join segments of comparison forms -> forms
        # comparison form -> the book domains that have it, where that is not just the form
        # itself (an ASCII domain is its own form: most of the book, so left out to save memory)
        self.domains = domains
        self.tlds = tuple(sorted(key[1] for key in segments if len(key) == 2 and key[0] == "tld"))
        self._budgets: dict[str, tuple[tuple[str, int], ...]] = {}

    def domains_of(self, form: str) -> tuple[str, ...]:
        """The book domains whose comparison form is ``form`` (a form of the index)."""
        return self.domains.get(form) or (form,)

    def has_form(self, form: str, entries: Mapping[str, object]) -> bool:
        """Whether some book domain has the comparison form ``form``."""
        return form in self.domains or ("xn--" not in form and "@" not in form and form in entries)

    def budgets(self, tld: str) -> tuple[tuple[str, int], ...]:
        """(book TLD, edits left for the name) for the book TLDs within two edits of ``tld``."""
        found = self._budgets.get(tld)
        if found is None:
            from rapidfuzz.distance import Levenshtein

            found = tuple((book_tld, LOOKALIKE_DISTANCE - distance) for book_tld in self.tlds
                          if (distance := Levenshtein.distance(tld, book_tld, score_cutoff=LOOKALIKE_DISTANCE))
                          <= LOOKALIKE_DISTANCE)
            if len(self._budgets) > _ANSWER_LIMIT:
                self._budgets.clear()
            self._budgets[tld] = found
        return found


def build_lookalike_index(domains: list[str]) -> LookalikeIndex:
    from sendsecure.core.addresses import comparison_form_uncached

    forms: dict[str, list[str]] = {}
    for domain in domains:
        forms.setdefault(comparison_form_uncached(domain), []).append(domain)
    pairs: list[tuple[str, str]] = []   # (form as split, the book form it stands for)
    for form in forms:
        pairs.append((form, form))
        if form.count(".") >= 2:  # a query that lost the last dot splits one dot earlier
            cut = form.rfind(".")
            pairs.append((form[:cut] + form[cut + 1:], form))
    index: dict[SegmentKey, list[str]] = {}
    for key_form, form in pairs:
        name, _, tld = key_form.rpartition(".")
        index.setdefault(("tld", tld), [])
        length = len(name)
        if length <= _PARTS:
            index.setdefault(("short", tld), []).append(form)
            continue
        for number, (begin, size) in enumerate(_segments(length)):
            index.setdefault((tld, length, number, name[begin:begin + size]), []).append(form)
    return LookalikeIndex({key: tuple(value) for key, value in index.items()},
                          {form: tuple(sorted(found)) for form, found in forms.items()
                           if found != [form] or "xn--" in form})


def edit_distance(a: str, b: str, limit: int = LOOKALIKE_DISTANCE) -> int:
    """Levenshtein distance; ``limit + 1`` when it is larger than ``limit``."""
    from rapidfuzz.distance import Levenshtein

    return Levenshtein.distance(a, b, score_cutoff=limit)


def _lookalike_candidates(index: LookalikeIndex, form: str, limit: int = LOOKALIKE_DISTANCE) -> set[str]:
    """Comparison forms of book domains that may be within ``limit`` edits of ``form`` (a
    superset; verify after).

    The name/TLD split assumes the last dots correspond; an edit that inserts a dot is covered
    by also probing the form with that dot removed, with one edit less to spend. Positions are
    Pass-Join's multi-match-aware windows: segment ``i`` is probed only where it can be the first
    segment left intact.
    """
    candidates: set[str] = set()
    if limit > 0:
        for position, char in enumerate(form):
            if char == ".":
                variant = form[:position] + form[position + 1:]
                if "." in variant:
                    candidates |= _lookalike_candidates(index, variant, limit - 1)
    segments = index.segments
    get = segments.get
    name, _, tld = form.rpartition(".")
    length = len(name)
    for book_tld, budget in index.budgets(tld):
        budget = min(budget, limit)
        if budget < 0:
            continue
        for other_length in range(max(1, length - budget), length + budget + 1):
            if other_length <= _PARTS:  # names too short to split: few, all compared
                candidates.update(get(("short", book_tld), ()))
                continue
            if budget == 0:  # only the very name under this TLD can do
                shortlist = get((book_tld, other_length, 0, name[:_segments(other_length)[0][1]]), ())
                candidates.update(d for d in shortlist if d.replace(".", "") == (name + book_tld).replace(".", ""))
                continue
            delta = length - other_length
            for number, (begin, size) in enumerate(_segments(other_length)):
                low = max(0, begin - number, begin + delta - (LOOKALIKE_DISTANCE - number))
                high = min(length - size, begin + number, begin + delta + (LOOKALIKE_DISTANCE - number))
                for position in range(low, high + 1):
                    found = get((book_tld, other_length, number, name[position:position + size]))
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
    lookalikes: LookalikeIndex = field(repr=False, default_factory=lambda: build_lookalike_index([]))
    # Answers of lookalike_of, kept with the snapshot so they go when it goes.
    _lookalike_answers: dict[str, str | None] = field(repr=False, default_factory=dict)

    @classmethod
    def build(cls, variant: str, version: str, synced_at: datetime, entries: dict[str, BookEntry]) -> DomainBook:
        domains = [key for key in entries if "@" not in key]
        return cls(variant, version, synced_at, entries, build_lookalike_index(domains))

    @property
    def tlds(self) -> tuple[str, ...]:
        return self.lookalikes.tlds

    def age_seconds(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        return max(0, int((now - self.synced_at).total_seconds()))

    def lookup(self, address: str, domain: str) -> BookEntry | None:
        """The entry for a normalised address: its own entry, else its domain's."""
        entries = self.entries
        return entries.get(address) or entries.get(domain)

    def lookalike_cached(self, domain: str) -> bool:
        """Whether ``lookalike_of(domain)`` is answered without a probe (for the per-request cap)."""
        return domain in self._lookalike_answers or domain in self.entries

    def lookalike_of(self, domain: str) -> str | None:
        """The book domain this one most likely meant, if it reads the same (UTS #39 skeleton)
        or is 1-2 edits away in the comparison form, and is not itself in the book."""
        answers = self._lookalike_answers
        if domain in answers:
            return answers[domain]
        if len(answers) > _ANSWER_LIMIT:
            answers.clear()
        answer = answers[domain] = _lookalike(self, domain)
        return answer

    def mimics(self, domain: str) -> bool:
        """Whether ``domain`` (not in the book) reads exactly as a book domain (equal comparison
        forms: a confusable or accented twin)."""
        if domain in self.entries:
            return False
        from sendsecure.core.addresses import comparison_form

        return self.lookalikes.has_form(comparison_form(domain), self.entries)


_ANSWER_LIMIT = 50000


def _lookalike(book: DomainBook, domain: str) -> str | None:
    if domain in book.entries:
        return None
    from sendsecure.core.addresses import comparison_form

    index = book.lookalikes
    form = comparison_form(domain)
    same = index.domains_of(form) if index.has_form(form, book.entries) else None
    if same:                      # reads as a book domain: a confusable or accented twin
        return same[0]
    candidates = _lookalike_candidates(index, form)
    if not candidates:
        return None
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    matches = process.extract(form, list(candidates), scorer=Levenshtein.distance,
                              score_cutoff=LOOKALIKE_DISTANCE, limit=None)
    if not matches:
        return None
    best = min(matches, key=lambda match: (match[1], match[0]))[0]
    return index.domains_of(best)[0]
