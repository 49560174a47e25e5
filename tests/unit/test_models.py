"""Issue 9 items 2 and 3: the typed models and the exported categorise (pure)."""
from __future__ import annotations

import msgspec
import pytest

from sendsecure.core.domainbook import BookEntry
from sendsecure.core.models import Category, Finding, PhoneBody, SettingsBody, Verdict, convert, encode
from sendsecure.core.rules import NEEDS_PHONE, categorise
from sendsecure.errors import InvalidBody


@pytest.mark.parametrize(("data", "field", "message"), [
    ({}, "phone", "is required"),
    ({"address": "a@b.example", "phone": 5}, "phone", "must be a string"),
    ({"address": "a" * 513, "phone": "1"}, "address", "may be at most 512 characters"),
    ({"address": "a@b.example", "phone": "  "}, "phone", "must not be blank"),
    ({"address": "a@b.example", "phone": "1", "region": "NLD"}, "region",
     "must be a two-letter region code such as NL"),
    ({"address": "a@b.example", "phone": "1", "region": None}, None, None),
])
def test_issue9_item2_convert_names_the_field_in_the_apis_words(data, field, message):
    data = {"address": "a@b.example", **data}
    if field is None:
        assert convert(data, PhoneBody).region is None
        return
    with pytest.raises(InvalidBody) as caught:
        convert(data, PhoneBody)
    assert caught.value.errors == [{"field": field, "message": message}]


def test_issue9_item2_settings_body_keeps_left_out_fields_apart_from_null():
    assert convert({}, SettingsBody).changes() == {}
    assert convert({"language": None}, SettingsBody).changes() == {"language": None}
    with pytest.raises(InvalidBody) as caught:
        convert({"language": "fr"}, SettingsBody)
    assert (caught.value.errors or [{}])[0]["field"] == "language"


def test_issue9_item2_a_finding_without_data_has_no_data_member():
    assert msgspec.json.decode(encode(Finding("V-M1", "empty_subject", "warning", "blue", "m", "subject"))) == {
        "rule": "V-M1", "code": "empty_subject", "severity": "warning", "colour": "blue", "message": "m",
        "target": "subject"}
    assert "data" in msgspec.json.decode(encode(Finding("V-M1", "x", "ok", "green", "m", "t", {})))


def test_issue9_item2_verdict_has_the_recently_added_fields():
    fields = set(Verdict.__struct_fields__)
    assert {"sender", "recipients", "findings", "attachments", "domain_book"} <= fields


def _entry(community: bool, nta: bool) -> BookEntry:
    return BookEntry(key="x.example", organisation="X", network="n", community=community, nta7516=nta)


@pytest.mark.parametrize(("domain", "entry", "book", "sender_nta", "expected"), [
    ("own.example", None, False, False, Category.OWN),
    ("own.example", _entry(False, True), True, True, Category.OWN),
    ("x.example", None, False, True, Category.UNKNOWN),
    ("x.example", _entry(True, True), True, True, Category.COMMUNITY),
    ("x.example", _entry(False, True), True, True, Category.NTA),
    ("x.example", _entry(False, True), True, False, Category.EXTERNAL),   # V-S2: the sender does not meet it
    ("x.example", None, True, True, Category.EXTERNAL),
])
def test_issue9_item3_categorise_v_r2(domain, entry, book, sender_nta, expected):
    assert categorise(domain, entry, {"own.example"}, book, sender_nta) is expected
    assert (expected in NEEDS_PHONE) is (expected in (Category.NTA, Category.EXTERNAL))
