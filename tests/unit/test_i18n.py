"""SPEC U1: language nl, en or de; default from the browser's language, else Dutch."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendsecure.core.i18n import LANGUAGES, negotiate_language


@pytest.mark.parametrize("preferred", ["nl", "en", "de"])
def test_u1_valid_preferred_setting_wins_over_header(preferred):
    assert negotiate_language("fr-FR,de;q=0.9,en;q=0.8,nl;q=0.7", preferred) == preferred


def test_u1_preferred_setting_is_case_insensitive():
    assert negotiate_language("nl", "EN") == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("fr-FR,en;q=0.5", "en"),
        ("en-GB,en;q=0.9,nl;q=0.8", "en"),
        ("nl-NL", "nl"),
        ("EN-us", "en"),
        ("en;q=0.5,de;q=0.9", "de"),  # q-value beats order
        ("en;q=0.5, de ; q=0.6", "de"),  # whitespace around parameters
        ("fr;q=1,de;q=0.1", "de"),  # any supported language beats an unsupported one
    ],
)
def test_u1_accept_language_picks_best_supported_by_q_value(header, expected):
    assert negotiate_language(header) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("en,de", "en"),
        ("de,en", "de"),
        ("de;q=0.5,en;q=0.5", "de"),
        ("en;q=0.5,de;q=0.5", "en"),
    ],
)
def test_u1_accept_language_equal_q_first_listed_wins(header, expected):
    assert negotiate_language(header) == expected


@pytest.mark.parametrize(
    "header",
    ["fr", "fr-FR,es;q=0.9", "", None, "en;q=0", "en;q=0, de;q=0.0", ";;;q=abc", "en;q=abc", "*", ",,,", "-"],
)
def test_u1_no_usable_language_falls_back_to_dutch(header):
    assert negotiate_language(header) == "nl"


def test_u1_refused_language_q0_is_skipped_for_next_one():
    assert negotiate_language("en;q=0,de;q=0.3") == "de"


@pytest.mark.parametrize("preferred", ["fr", "", "english", "e", None])
def test_u1_invalid_preferred_falls_back_to_header(preferred):
    assert negotiate_language("de-DE,en;q=0.5", preferred) == "de"


def test_u1_invalid_preferred_and_no_header_gives_dutch():
    assert negotiate_language(None, "fr") == "nl"


@given(header=st.one_of(st.none(), st.text(max_size=200)), preferred=st.one_of(st.none(), st.text(max_size=10)))
def test_u1_any_input_yields_a_supported_language(header, preferred):
    assert negotiate_language(header, preferred) in LANGUAGES
