"""The domain book's sources (SPEC D1, D2, V-R2; DESIGN "Domain book sources"): parsers and variants.

Three formats, each turned into ``BookEntry`` values by a pure parser (text in, entries out):

- ``zorgmail_text``: the published ZorgMail domain book: lines starting with ``###`` (after any
  leading white space) are comments, every other line holds domains separated by any white
  space. Used for the community list and for each Safe Relay partner network's list (community,
  network named by the source).
- ``nta_register_csv``: the register of organisations meeting NTA 7516 through a certified
  supplier, columns ``domain,organisation,supplier,nta7516`` (not community; network
  ``nta7516:<supplier slug>``).
- ``address_book_csv``: single addresses, columns ``address,organisation,role`` (community).

Decisions (the project docs should repeat them):

- A bad line or row never fails a source: it is left out, counted in ``rejected_count`` and
  listed (line number and a reason that does not echo the value) in ``rejected``, at most
  ``MAX_LISTED_REJECTIONS`` of them. A source that is not in its format *as a whole* (no header,
  a required column missing, not UTF-8) raises ``SourceFormatError``: nothing of it is usable, so
  the sync must keep the last good book (D3).
- CSV: lines before the header that are blank or start with ``#`` are comments (the shipped
  sample files say "made-up data" there). After the header a ``#`` line is an ordinary row (an
  address may start with ``#``). Blank rows are skipped. A UTF-8 BOM is dropped; the delimiter
  is whichever of ``,`` ``;`` and tab occurs most in the header line (``,`` on a tie); fields
  are trimmed and inner runs of white space collapse to one space; header names are compared
  case-insensitively and may come in any order; extra columns are ignored. A quoted field that
  runs over a line end (usually a stray quote) rejects its row, reported at its first line.
- Register: ``nta7516`` accepts ja/nee/yes/no/true/false/1/0 in any case; the supplier must not
  be empty (it names the network); organisation and supplier are at most ``MAX_NAME_LENGTH``
  characters.
- Within one source a key listed twice becomes one entry (``merge_entries``); across sources
  ``load_variant`` merges in the order of the definition.

A variant definition (``domainbook/variants.json``) names, per variant, its sources in order:
``{"path" | "url", "format", "network"}``; paths are relative to the definition file.
``load_variant`` reads path sources only; the sync (sendsecure/booksync.py, D1) reads both and
uses ``read_definition``, ``parse_source``, ``shrink_refusal``, ``diff_entries`` and
``book_version`` from here.

A source's **name** is its path as written, or for a URL ``source_name(url)``: the URL without
user info, query and fragment. It is the source's identity (the key of its stored state, which the
shrink check compares with) and what the sync's answer, health, info, the log and the entries'
``source`` show: a SAS token or a password must never show, and a new one must not make a new
source. Two sources of one variant with one name (URLs that differ only in query, user info or
fragment) are refused (docs/domain-book-sync.md "Naming a URL source").
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sendsecure.core.addresses import InvalidAddress, normalise_domain, normalise_mailbox
from sendsecure.core.domainbook import ZORGMAIL, BookEntry, DomainBook, merge_entries
from sendsecure.errors import ConfigurationError

MAX_LISTED_REJECTIONS = 100
MAX_NAME_LENGTH = 200
ZORGMAIL_TEXT = "zorgmail_text"
NTA_REGISTER_CSV = "nta_register_csv"
ADDRESS_BOOK_CSV = "address_book_csv"
FORMATS = (ZORGMAIL_TEXT, NTA_REGISTER_CSV, ADDRESS_BOOK_CSV)
NTA_NETWORK_PREFIX = "nta7516:"

_NETWORK_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_FLAGS = {"ja": True, "yes": True, "true": True, "1": True,
          "nee": False, "no": False, "false": False, "0": False}
_DELIMITERS = (",", ";", "\t")
_SOURCE_KEYS = {"path", "url", "format", "network"}


class SourceFormatError(ValueError):
    """A source as a whole is not in its format (no header, missing column, not UTF-8)."""


@dataclass(frozen=True)
class ParseResult:
    entries: list[BookEntry]
    rejected: list[tuple[int, str]]      # (line number, reason), at most MAX_LISTED_REJECTIONS
    rejected_count: int                  # all rejections, listed or not


class _Rejections:
    __slots__ = ("listed", "count")

    def __init__(self) -> None:
        self.listed: list[tuple[int, str]] = []
        self.count = 0

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED_REJECTIONS:
            self.listed.append((line, reason))

    def result(self, entries: list[BookEntry]) -> ParseResult:
        return ParseResult(entries, self.listed, self.count)


def _lines(text: str) -> list[str]:
    """Physical lines with their endings (\\n, \\r\\n or \\r), without a leading BOM."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return list(io.StringIO(text, newline=""))


def _clean(value: str) -> str:
    return " ".join(value.split())


# ----- ZorgMail text --------------------------------------------------------------------------

def parse_zorgmail_text(text: str, *, network: str, source: str) -> ParseResult:
    """Domains of the published ZorgMail domain book format, as community entries of ``network``."""
    rejections = _Rejections()
    entries: dict[str, BookEntry] = {}
    for number, line in enumerate(_lines(text), 1):
        if line.lstrip().startswith("###"):
            continue
        for position, word in enumerate(line.split(), 1):
            try:
                key = normalise_domain(word)
            except InvalidAddress as exc:
                rejections.add(number, f"word {position}: {exc}")
                continue
            if key not in entries:
                entries[key] = BookEntry(key=key, organisation="", network=network, community=True,
                                         nta7516=False, supplier="", source=source)
    return rejections.result(list(entries.values()))


# ----- CSV ------------------------------------------------------------------------------------

def _csv_rows(text: str, required: tuple[str, ...], optional: tuple[str, ...],
              rejections: _Rejections) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, {column: cleaned value}) per data row; bad rows go to ``rejections``."""
    lines = _lines(text)
    header_index = next((index for index, line in enumerate(lines)
                         if line.strip() and not line.lstrip().startswith("#")), None)
    if header_index is None:
        raise SourceFormatError("the source has no header line")
    header_line = lines[header_index]
    delimiter = max(_DELIMITERS, key=header_line.count)
    reader = csv.reader(lines[header_index:], delimiter=delimiter, skipinitialspace=True)
    header = [name.replace("\ufeff", "").strip().lower() for name in next(reader)]
    missing = [name for name in required if name not in header]
    if missing:
        raise SourceFormatError(f"the header lacks the column(s): {', '.join(missing)}")
    columns = {name: header.index(name) for name in required + optional if name in header}
    width = max(columns.values()) + 1
    previous = reader.line_num
    while True:
        number = header_index + previous + 1   # the physical line the next row starts on
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            previous = reader.line_num
            rejections.add(number, "the row is not valid CSV")
            continue
        previous = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < width:
            rejections.add(number, f"the row has {len(row)} fields, expected {len(header)}")
            continue
        values = {name: row[index] for name, index in columns.items()}
        if any("\n" in value or "\r" in value for value in values.values()):
            rejections.add(number, "a field runs over a line end (unbalanced quote?)")
            continue
        yield number, {name: _clean(value) for name, value in values.items()}


def supplier_slug(supplier: str) -> str:
    """``Veilig Mailen BV`` -> ``veilig-mailen-bv``: lower case a-z, 0-9 and '-'."""
    ascii_text = unicodedata.normalize("NFKD", supplier).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:63].strip("-")


def parse_nta_register_csv(text: str, *, source: str) -> ParseResult:
    """The NTA 7516 register: domains meeting (or not) NTA 7516 through a certified supplier."""
    rejections = _Rejections()
    entries: list[BookEntry] = []
    rows = _csv_rows(text, ("domain", "organisation", "supplier", "nta7516"), (), rejections)
    for number, row in rows:
        try:
            key = normalise_domain(row["domain"])
        except InvalidAddress as exc:
            rejections.add(number, f"domain: {exc}")
            continue
        flag = _FLAGS.get(row["nta7516"].lower())
        if flag is None:
            rejections.add(number, "nta7516: expected ja/nee, yes/no, true/false or 1/0")
            continue
        supplier, organisation = row["supplier"], row["organisation"]
        slug = supplier_slug(supplier)
        if not slug:
            rejections.add(number, "supplier: empty or without letters or digits")
            continue
        if len(supplier) > MAX_NAME_LENGTH or len(organisation) > MAX_NAME_LENGTH:
            rejections.add(number, f"organisation or supplier longer than {MAX_NAME_LENGTH} characters")
            continue
        entries.append(BookEntry(key=key, organisation=organisation, network=NTA_NETWORK_PREFIX + slug,
                                 community=False, nta7516=flag, supplier=supplier, source=source))
    return rejections.result(list(merge_entries(entries).values()))


def parse_address_book_csv(text: str, *, network: str = ZORGMAIL, source: str) -> ParseResult:
    """Single addresses of the address book, as community entries of ``network``."""
    rejections = _Rejections()
    entries: list[BookEntry] = []
    for number, row in _csv_rows(text, ("address", "organisation"), ("role",), rejections):
        try:
            key = normalise_mailbox(row["address"])
        except InvalidAddress as exc:
            rejections.add(number, f"address: {exc}")
            continue
        organisation = row["organisation"]
        if len(organisation) > MAX_NAME_LENGTH:
            rejections.add(number, f"organisation longer than {MAX_NAME_LENGTH} characters")
            continue
        entries.append(BookEntry(key=key, organisation=organisation, network=network, community=True,
                                 nta7516=False, supplier="", source=source))
    return rejections.result(list(merge_entries(entries).values()))


def parse_source(source_format: str, text: str, *, network: str, source: str) -> ParseResult:
    """Dispatch on a definition's ``format`` (``network`` is not used by the register)."""
    if source_format == ZORGMAIL_TEXT:
        return parse_zorgmail_text(text, network=network, source=source)
    if source_format == NTA_REGISTER_CSV:
        return parse_nta_register_csv(text, source=source)
    if source_format == ADDRESS_BOOK_CSV:
        return parse_address_book_csv(text, network=network or ZORGMAIL, source=source)
    raise ConfigurationError(f"unknown domain book source format {source_format!r}")


# ----- variants -------------------------------------------------------------------------------

@dataclass(frozen=True)
class SourceSpec:
    """One source of a variant, as the definition file names it."""

    format: str
    network: str                 # "" for the register (its network comes from each supplier)
    name: str                    # the path as written, or source_name(url): the entries' ``source``
    path: Path | None = None     # resolved against the definition file's folder
    url: str | None = None


@dataclass(frozen=True)
class LoadedBook:
    variant: str
    entries: dict[str, BookEntry]
    version: str                 # first 16 hex digits of sha256 over the sorted entries' rows
    rejected_count: int
    sources: list[str]
    # (source, line number, reason), at most MAX_LISTED_REJECTIONS over all sources.
    rejected: list[tuple[str, int, str]] = field(default_factory=list)

    def to_domain_book(self, synced_at: datetime) -> DomainBook:
        return DomainBook.build(self.variant, self.version, synced_at, self.entries)


def read_definition(variant: str, definition_file: str | Path) -> list[SourceSpec]:
    """The checked source list of ``variant``; ``ConfigurationError`` naming what is wrong."""
    definition_file = Path(definition_file)
    try:
        definition = json.loads(definition_file.read_text(encoding="utf-8"))
    except OSError:
        raise ConfigurationError(f"cannot read the domain book definition {definition_file}") from None
    except ValueError:
        raise ConfigurationError(f"the domain book definition {definition_file} is not valid JSON") from None
    if not isinstance(definition, dict):
        raise ConfigurationError(f"the domain book definition {definition_file} must be a JSON object")
    if variant not in definition:
        known = ", ".join(sorted(definition)) or "none"
        raise ConfigurationError(f"unknown domain book variant {variant!r} (defined: {known})")
    body = definition[variant]
    sources = body.get("sources") if isinstance(body, dict) else None
    if not isinstance(sources, list) or not sources:
        raise ConfigurationError(f"domain book variant {variant!r} needs a non-empty 'sources' list")
    specs = [_source_spec(variant, number, item, definition_file.parent)
             for number, item in enumerate(sources, 1)]
    first: dict[str, int] = {}
    for number, spec in enumerate(specs, 1):
        if spec.name in first:
            raise ConfigurationError(
                f"sources {first[spec.name]} and {number} of domain book variant {variant!r} are one source, "
                f"{spec.name}: a source is kept apart from the others by its URL without query and user info "
                "(those carry its credentials, which change) or by its path, so they would share one stored "
                "state; list each source once, and give lists that differ only in the query their own path")
        first[spec.name] = number
    return specs


def _source_spec(variant: str, number: int, item: object, folder: Path) -> SourceSpec:
    where = f"source {number} of domain book variant {variant!r}"
    if not isinstance(item, dict):
        raise ConfigurationError(f"{where} must be a JSON object")
    unknown = sorted(set(item) - _SOURCE_KEYS)
    if unknown:
        raise ConfigurationError(f"{where} has unknown key(s): {', '.join(unknown)}")
    source_format = item.get("format")
    if source_format not in FORMATS:
        raise ConfigurationError(
            f"{where} has unknown format {source_format!r} (known: {', '.join(FORMATS)})")
    network = item.get("network")
    if source_format == NTA_REGISTER_CSV:
        if network is not None:
            raise ConfigurationError(f"{where}: the register takes its network from each row's supplier")
        network = ""
    else:
        if network is None and source_format == ADDRESS_BOOK_CSV:
            network = ZORGMAIL
        if not isinstance(network, str) or not _NETWORK_RE.fullmatch(network):
            raise ConfigurationError(f"{where} needs a network id (lower case a-z, 0-9 and '-')")
    path, url = item.get("path"), item.get("url")
    if (path is None) == (url is None):
        raise ConfigurationError(f"{where} needs exactly one of 'path' and 'url'")
    if url is not None:
        if not isinstance(url, str) or not url.startswith("https://"):
            raise ConfigurationError(f"{where}: a url must be https://")
        return SourceSpec(format=source_format, network=network, name=source_name(url), url=url)
    if not isinstance(path, str) or not path:
        raise ConfigurationError(f"{where}: 'path' must be a non-empty string")
    return SourceSpec(format=source_format, network=network, name=path, path=folder / path)


# RFC 3986, appendix B: scheme, authority, path, query, fragment (no urllib in the core).
_URL_PARTS = re.compile(r"^([^:/?#]+):(?://([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$", re.DOTALL)
_URLS_IN_TEXT = re.compile(r"https?://[^\s;,]*[^\s;,:.]", re.IGNORECASE)
# How URL sources were named from security review F1 until their name became their identity:
# `` [`` + 8 hex digits of the SHA-256 of the whole URL + ``]`` after the URL without query and user info.
_HASHED_NAME = re.compile(r"^(https://.*) \[[0-9a-f]{8}\]$", re.DOTALL)


def source_name(url: str) -> str:
    """How a URL source is named wherever it shows and what its stored state is kept under: the URL
    without its user info, query and fragment (security review F1: a SAS token or a password in them
    must never show). They carry the source's credentials, so a new token or password leaves the
    name, and with it the state the shrink check compares with, as it was; the rest of the URL is
    taken as written. Two sources of one variant with one name are refused (``read_definition``)."""
    match = _URL_PARTS.match(url)
    if match is None:
        return "(an unreadable URL) [" + hashlib.sha256(url.encode()).hexdigest()[:8] + "]"
    scheme, authority, path = match.group(1), match.group(2) or "", match.group(3)
    return f"{scheme}://{authority.rpartition('@')[2]}{path}"


def stored_source_identity(stored: str) -> str:
    """The name a source stored by an earlier version has now: a whole URL (before review F1) or a
    URL's name with a hash of the whole URL (until names became identities) gives its URL without
    query and user info; a path, or a name as it is now, is itself. The sync finds a source's state
    stored under an older name by it, whatever token that older URL carried."""
    hashed = _HASHED_NAME.match(stored)
    if hashed is not None:
        return hashed.group(1)
    if stored.startswith("https://"):
        return source_name(stored)
    return stored


def hide_url_secrets(text: str) -> str:
    """``text`` with every URL in it replaced by its ``source_name``: for messages written before
    sources were named that way (a ``last_error`` stored by an older version)."""
    return _URLS_IN_TEXT.sub(lambda found: source_name(found.group(0)), text)


def book_version(entries: dict[str, BookEntry]) -> str:
    """A content hash: the same entries give the same version, whatever order they came in."""
    rows = [entries[key].to_row() for key in sorted(entries)]
    payload = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


def build_book(variant: str, results: list[tuple[str, ParseResult]]) -> LoadedBook:
    """Merge parsed sources (in definition order) into one book with its version."""
    merged = merge_entries([entry for _, result in results for entry in result.entries])
    rejected = [(name, line, reason) for name, result in results for line, reason in result.rejected]
    return LoadedBook(
        variant=variant,
        entries=merged,
        version=book_version(merged),
        rejected_count=sum(result.rejected_count for _, result in results),
        sources=[name for name, _ in results],
        rejected=rejected[:MAX_LISTED_REJECTIONS],
    )


def read_source_file(spec: SourceSpec) -> str:
    assert spec.path is not None
    try:
        data = spec.path.read_bytes()
    except OSError:
        raise ConfigurationError(f"cannot read domain book source {spec.name}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceFormatError(f"{spec.name}: not UTF-8 text") from None


def load_variant(variant: str, definition_file: str | Path) -> LoadedBook:
    """Read and merge the file sources of ``variant`` (URL sources are the sync's job)."""
    specs = read_definition(variant, definition_file)
    for spec in specs:
        if spec.url is not None:
            raise ConfigurationError(
                f"domain book variant {variant!r} has a url source ({spec.name}); load_variant reads "
                "file paths only, url sources are fetched by the domain book sync")
    results = []
    for spec in specs:
        text = read_source_file(spec)
        try:
            result = parse_source(spec.format, text, network=spec.network, source=spec.name)
        except SourceFormatError as exc:
            raise SourceFormatError(f"{spec.name}: {exc}") from None
        results.append((spec.name, result))
    return build_book(variant, results)


# ----- the sync's checks and deltas (issue 13; docs/domain-book-sync.md) -------------------------

def shrink_refusal(previous: int, now: int, max_shrink: float) -> str | None:
    """Why a source's new content is refused, or ``None``: empty, or more than ``max_shrink``
    (a fraction) fewer entries than its last good content."""
    if now == 0:
        return "the source has no entries"
    if previous and now < previous * (1 - max_shrink):
        return f"the source shrank from {previous} to {now} entries (more than {max_shrink:.0%})"
    return None


def diff_entries(old: dict[str, BookEntry], new: dict[str, BookEntry]) -> tuple[dict[str, BookEntry], list[str]]:
    """(entries of ``new`` that ``old`` lacks or has otherwise, keys of ``old`` not in ``new``)."""
    upserts = {key: entry for key, entry in new.items() if old.get(key) != entry}
    removed = [key for key in old if key not in new]
    return upserts, removed


def change_counts(old: dict[str, BookEntry], new: dict[str, BookEntry]) -> tuple[int, int, int]:
    """(added, removed, changed) entries from ``old`` to ``new``."""
    added = sum(1 for key in new if key not in old)
    removed = sum(1 for key in old if key not in new)
    changed = sum(1 for key, entry in new.items() if key in old and old[key] != entry)
    return added, removed, changed


def variant_names(definition_file: str | Path) -> list[str]:
    """The variants a definition file defines, in its order."""
    try:
        definition = json.loads(Path(definition_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigurationError(f"cannot read the domain book definition {definition_file}") from None
    if not isinstance(definition, dict):
        raise ConfigurationError(f"the domain book definition {definition_file} must be a JSON object")
    return list(definition)
