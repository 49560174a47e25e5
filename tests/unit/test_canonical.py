"""The fast canonical form equals RFC 8785 (issue 10 Measure; S3, S8, X3): every signed payload,
the draft digest, the recipient-set digest and the envelope id go through ``canonical_json``, and
an auditor or a gateway recomputes them with any RFC 8785 implementation."""
from __future__ import annotations

import math

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from sendsecure.core.canonical import _plain, canonical_json

# Text over every kind of character that matters: ASCII, control characters, U+2028, the range
# U+E000..U+FFFF (sorts after a surrogate pair in UTF-16), supplementary characters, lone surrogates.
CHARACTERS = st.one_of(st.characters(min_codepoint=0, max_codepoint=0x7F),
                       st.characters(min_codepoint=0x80, max_codepoint=0xD7FF),
                       st.characters(min_codepoint=0xE000, max_codepoint=0xFFFF),
                       st.characters(min_codepoint=0x10000, max_codepoint=0x10FFFF),
                       st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF))
TEXT = st.text(CHARACTERS, max_size=8)
SCALARS = st.one_of(st.none(), st.booleans(), TEXT,
                    st.integers(min_value=-(2 ** 53) - 3, max_value=2 ** 53 + 3), st.integers(),
                    st.floats(allow_nan=True, allow_infinity=True))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(TEXT, inner, max_size=4)), max_leaves=20)


def outcome(function, value):
    try:
        return function(value)
    except (rfc8785.CanonicalizationError, ValueError) as error:
        return type(error).__mro__[-3].__name__  # CanonicalizationError (both raise the package's errors)


@settings(max_examples=1000, deadline=None)
@given(JSON)
def test_issue10_s3_canonical_json_is_byte_equal_to_rfc8785_for_any_value(value):
    assert outcome(canonical_json, value) == outcome(rfc8785.dumps, value)


@pytest.mark.parametrize("keys", [["\ue000", "\U0001f600"], ["a\uffff", "a\U00010000"], ["\x7f", "\x1f"]])
def test_issue10_s3_key_order_is_utf16_order_where_it_differs_from_code_point_order(keys):
    value = {key: 1 for key in keys}
    assert canonical_json(value) == rfc8785.dumps(value)


def test_issue10_s3_the_fast_path_takes_the_values_we_sign_and_nothing_else():
    record = {"recipients": [{"address": "jan@huisarts-b.example", "field": "to", "access_code": None}],
              "attachments": [{"name": "Brief \u00e9\n.pdf", "size": 284_512}], "revoked": False}
    assert _plain(record) and canonical_json(record) == rfc8785.dumps(record)
    for value in (1.5, 2 ** 53, {"\U0001f600": 1}, {1: "a"}, math.inf, b"bytes"):
        assert not _plain(value)
