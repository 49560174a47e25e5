"""Tests that kill mutants of the draft parser (``make mutate``, docs/testing.md)."""
from __future__ import annotations

from typing import Any

import pytest

from sendsecure.core.drafts import MAX_IDN_DOMAINS, parse_draft
from sendsecure.core.models import MAX_PHONE
from sendsecure.errors import InvalidBody


def _draft(**extra: Any) -> dict[str, Any]:
    return {"to": [{"address": "jan@huisarts-b.example", "name": "", "type": "user"}], "cc": [], "bcc": [],
            "subject": "Verwijzing", "attachments": [], **extra}


def _error(body: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(InvalidBody) as caught:
        parse_draft(body)
    errors = caught.value.errors
    assert errors is not None and len(errors) == 1
    return errors[0]


def test_v_r3_phones_a_null_number_is_skipped_and_the_rest_still_read() -> None:
    draft = parse_draft(_draft(phones={"a@x.example": None, "B@x.example": " +31612345678 "}))
    assert draft.phones == {"b@x.example": "+31612345678"}


def test_v_r3_phones_a_number_that_is_not_a_string_names_the_field() -> None:
    error = _error(_draft(phones={"a" * 70 + "@x.example": 612345678}))
    assert error["field"] == "phones." + "a" * 64
    assert error["message"] == "must be a string"


def test_v_r3_phones_length_limit_is_inclusive() -> None:
    assert parse_draft(_draft(phones={"a@x.example": "1" * MAX_PHONE})).phones == {"a@x.example": "1" * MAX_PHONE}
    assert _error(_draft(phones={"a@x.example": "1" * (MAX_PHONE + 1)}))["field"] == "phones.a@x.example"


def test_issue9_idn_domain_limit_names_the_sender_field_and_the_reason() -> None:
    recipients = [{"address": f"a@zïekenhuis{i}.example.", "name": "", "type": "user"}
                  for i in range(MAX_IDN_DOMAINS)]
    error = _error(_draft(**{"from": "an@zïekenhuis-x.example", "to": recipients}))
    assert error["field"] == "to"
    assert error["message"].endswith("internationalised domains")
    # A trailing dot names the same domain: MAX_IDN_DOMAINS domains, each written both ways.
    same = [{"address": f"{who}@zïekenhuis{i}.example{dot}", "name": "", "type": "user"}
            for i in range(MAX_IDN_DOMAINS) for who, dot in (("a", ""), ("b", "."))]
    assert len(parse_draft(_draft(to=same)).to) == 2 * MAX_IDN_DOMAINS
