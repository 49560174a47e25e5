"""parse_draft (API.md "Drafts"): the draft as the add-in sends it, bounded; errors name the field.

Bounds (drafts.py; issue 7 item 9; recipients: Exchange Online's 500, so V-R1 answers every draft
Outlook allows by default): 500 recipients over To/CC/BCC, 320 characters per address and 256
per name, 10 different internationalised domains, 2,000 characters of subject, 250 attachments
with names up to 255 characters and whole-byte sizes from 0 to 10 GiB, 500 typed phones. Errors
are ``InvalidBody`` (400 invalid_body) with ``errors: [{field, message}]``.
"""
from __future__ import annotations

from typing import Any

import pytest

from sendsecure.core.drafts import (
    MAX_ATTACHMENT_NAME,
    MAX_ATTACHMENT_SIZE,
    MAX_ATTACHMENTS,
    MAX_IDN_DOMAINS,
    MAX_PHONES,
    MAX_RECIPIENTS,
    MAX_SUBJECT,
    parse_draft,
)
from sendsecure.errors import InvalidBody

GIB10 = 10 * 1024**3


def rcpt(address: str, kind: str = "user") -> dict[str, str]:
    return {"address": address, "name": "", "type": kind}


def many(count: int, prefix: str = "p") -> list[dict[str, str]]:
    return [rcpt(f"{prefix}{i}@huisarts-b.example") for i in range(count)]


def attachment(name: Any = "brief.pdf", size: Any = 10, **extra: Any) -> dict[str, Any]:
    item = {"size": size, "inline": False, **extra}
    if name is not None:
        item["name"] = name
    return item


def refused(body: dict[str, Any]) -> InvalidBody:
    with pytest.raises(InvalidBody) as caught:
        parse_draft(body)
    error = caught.value
    assert error.status == 400 and error.code == "invalid_body"
    assert error.errors and len(error.errors) == 1
    return error


def field_of(body: dict[str, Any]) -> str:
    error = refused(body)
    assert error.errors[0]["message"]
    assert error.errors[0]["field"] in error.detail
    return error.errors[0]["field"]


# ----- recipients --------------------------------------------------------------------------------

def test_issue7_item9_v_r1_drafts_500_recipients_in_one_field_accepted() -> None:
    assert MAX_RECIPIENTS == 500   # Exchange Online's default per message: V-R1 answers every draft below it
    assert len(parse_draft({"to": many(MAX_RECIPIENTS)}).to) == 500


@pytest.mark.parametrize("where", ["to", "cc", "bcc"])
def test_issue7_item9_drafts_251_recipients_in_one_field_refused_naming_the_field(where) -> None:
    assert field_of({"to": [rcpt("a@b.example")] if where != "to" else [], where: many(MAX_RECIPIENTS + 1)}) == where


def test_issue7_item9_drafts_500_recipients_spread_over_to_cc_bcc_accepted() -> None:
    draft = parse_draft({"to": many(200, "t"), "cc": many(150, "c"), "bcc": many(150, "b")})
    assert len(draft.recipients) == 500


def test_issue7_item9_drafts_501_recipients_spread_over_to_cc_bcc_refused_naming_a_recipient_field() -> None:
    error = refused({"to": many(200, "t"), "cc": many(150, "c"), "bcc": many(151, "b")})
    assert error.errors[0]["field"] == "bcc"
    assert "500" in error.errors[0]["message"]


def test_drafts_recipient_without_address_refused_naming_it() -> None:
    assert field_of({"to": [rcpt("a@b.example"), {"name": "Jan", "type": "user"}]}) == "to[1].address"


def test_drafts_recipient_with_null_address_refused_naming_it() -> None:
    assert field_of({"cc": [{"address": None}]}) == "cc[0].address"


def test_drafts_recipient_with_non_string_address_refused_naming_it() -> None:
    assert field_of({"bcc": [{"address": 42}]}) == "bcc[0].address"


def test_issue7_item9_drafts_recipient_address_over_320_characters_refused() -> None:
    assert field_of({"to": [rcpt("a" * 302 + "@huisarts-b.example")]}) == "to[0].address"
    assert parse_draft({"to": [rcpt("a" * 301 + "@huisarts-b.example")]}).to[0].address


def test_issue7_item9_drafts_recipient_name_over_256_characters_refused() -> None:
    assert field_of({"to": [{"address": "a@b.example", "name": "n" * 257}]}) == "to[0].name"
    assert parse_draft({"to": [{"address": "a@b.example", "name": "n" * 256}]}).to[0].name


def test_issue7_item9_drafts_10_internationalised_domains_accepted_11th_refused_naming_its_field() -> None:
    domains = [f"zïekenhuis-{n}.example" for n in range(MAX_IDN_DOMAINS)]
    body = {"to": [rcpt(f"a@{d}") for d in domains[:5]], "cc": [rcpt(f"b@{d}") for d in domains[5:]]}
    assert len(parse_draft(body).recipients) == MAX_IDN_DOMAINS
    body["bcc"] = [rcpt("c@xn--zekenhuis-05a.example")]          # punycode counts as written
    assert field_of(body) == "bcc"
    assert field_of({**body, "bcc": [], "phones": {"d@bücherei.example": "+31612345678"}}) == "phones"
    assert field_of({**body, "bcc": [], "from": "e@bücherei.example"}) == "cc"   # From counts first


def test_issue7_item9_drafts_same_internationalised_domain_counts_once_any_case() -> None:
    body = {"to": [rcpt(f"p{n}@Zïekenhuis.example") for n in range(30)] + [rcpt("q@zïekenhuis.example.")]}
    assert len(parse_draft(body).recipients) == 31


def test_drafts_unknown_recipient_type_refused_naming_it() -> None:
    assert field_of({"to": [rcpt("a@b.example"), rcpt("c@d.example", "group")]}) == "to[1].type"


@pytest.mark.parametrize("kind", ["user", "externalUser", "distributionList", "other"])
def test_drafts_outlook_recipient_types_accepted(kind) -> None:
    assert parse_draft({"to": [rcpt("a@b.example", kind)]}).to[0].type == kind


def test_drafts_recipient_type_defaults_to_user() -> None:
    assert parse_draft({"to": [{"address": "a@b.example"}]}).to[0].type == "user"


@pytest.mark.parametrize("value", ["a@b.example", {"address": "a@b.example"}, 42, None])
def test_drafts_to_not_a_list_refused_naming_to(value) -> None:
    if value is None:
        assert parse_draft({"to": None}).to == ()     # null is an empty field
        return
    assert field_of({"to": value}) == "to"


@pytest.mark.parametrize("where", ["cc", "bcc"])
def test_drafts_cc_bcc_not_a_list_refused_naming_the_field(where) -> None:
    assert field_of({where: "a@b.example"}) == where


def test_drafts_recipient_that_is_neither_object_nor_string_refused_naming_it() -> None:
    assert field_of({"to": [rcpt("a@b.example"), 42]}) == "to[1]"


def test_drafts_bare_string_recipient_accepted_as_user() -> None:
    draft = parse_draft({"to": ["jan@huisarts-b.example"], "bcc": ["x@y.example"]})
    assert (draft.to[0].address, draft.to[0].type, draft.to[0].field, draft.to[0].name) == \
        ("jan@huisarts-b.example", "user", "to", "")
    assert draft.bcc[0].field == "bcc"


def test_drafts_invalid_address_is_not_an_input_error() -> None:
    # V-R8: the rules report it as a blocking finding
    assert parse_draft({"to": ["geen-adres"]}).to[0].address == "geen-adres"


def test_drafts_recipients_keep_their_field_and_order() -> None:
    draft = parse_draft({"to": ["a@x.example"], "cc": ["b@x.example"], "bcc": ["c@x.example"]})
    assert [(r.address, r.field) for r in draft.recipients] == \
        [("a@x.example", "to"), ("b@x.example", "cc"), ("c@x.example", "bcc")]


# ----- subject and from -------------------------------------------------------------------------

def test_drafts_subject_of_2000_characters_accepted() -> None:
    assert len(parse_draft({"subject": "x" * MAX_SUBJECT}).subject) == 2000


def test_drafts_subject_over_2000_characters_refused_naming_subject() -> None:
    assert field_of({"subject": "x" * (MAX_SUBJECT + 1)}) == "subject"


def test_drafts_subject_not_a_string_refused_naming_subject() -> None:
    assert field_of({"subject": 123}) == "subject"


def test_drafts_subject_optional_defaults_to_empty() -> None:
    assert parse_draft({}).subject == ""
    assert parse_draft({"subject": None}).subject == ""


def test_drafts_from_optional() -> None:
    assert parse_draft({"to": ["a@b.example"]}).sender is None


def test_drafts_from_blank_means_session_mailbox() -> None:
    assert parse_draft({"from": "  "}).sender is None


def test_drafts_from_trimmed() -> None:
    assert parse_draft({"from": " afdeling@ziekenhuis-a.example "}).sender == "afdeling@ziekenhuis-a.example"


def test_drafts_from_not_a_string_refused_naming_from() -> None:
    assert field_of({"from": ["a@b.example"]}) == "from"


def test_issue7_item9_drafts_from_over_320_characters_refused_naming_from() -> None:
    assert field_of({"from": "a" * 321}) == "from"


# ----- attachments -----------------------------------------------------------------------------

def test_drafts_attachment_parsed() -> None:
    draft = parse_draft({"attachments": [attachment("brief.pdf", 183211, inline=True)]})
    assert (draft.attachments[0].name, draft.attachments[0].size, draft.attachments[0].inline) == \
        ("brief.pdf", 183211, True)


def test_drafts_attachment_inline_defaults_to_false() -> None:
    assert parse_draft({"attachments": [{"name": "a.pdf", "size": 1}]}).attachments[0].inline is False


def test_drafts_attachment_negative_size_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(size=-1)]}) == "attachments[0].size"


@pytest.mark.parametrize("size", ["10", 10.0, 10.5, True, False, None, [10]],
                         ids=["string", "float-whole", "float", "true", "false", "null", "list"])
def test_drafts_attachment_size_not_a_whole_number_refused_naming_it(size) -> None:
    assert field_of({"attachments": [attachment(), attachment(size=size)]}) == "attachments[1].size"


def test_drafts_attachment_size_of_10_gib_accepted() -> None:
    assert parse_draft({"attachments": [attachment(size=GIB10)]}).attachments[0].size == MAX_ATTACHMENT_SIZE


def test_drafts_attachment_size_over_10_gib_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(size=GIB10 + 1)]}) == "attachments[0].size"


def test_drafts_attachment_size_zero_accepted() -> None:
    assert parse_draft({"attachments": [attachment(size=0)]}).attachments[0].size == 0


def test_drafts_attachment_without_name_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(name=None)]}) == "attachments[0].name"


def test_drafts_attachment_name_not_a_string_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(name=7)]}) == "attachments[0].name"


def test_issue7_item9_drafts_attachment_name_over_255_characters_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(name="a" * 252 + ".pdf")]}) == "attachments[0].name"
    assert len(parse_draft({"attachments": [attachment(name="a" * 251 + ".pdf")]}).attachments[0].name) == \
        MAX_ATTACHMENT_NAME


def test_drafts_attachment_inline_not_a_boolean_refused_naming_it() -> None:
    assert field_of({"attachments": [attachment(inline="yes")]}) == "attachments[0].inline"


def test_drafts_attachment_not_an_object_refused_naming_it() -> None:
    assert field_of({"attachments": ["brief.pdf"]}) == "attachments[0]"


def test_drafts_attachments_not_a_list_refused_naming_attachments() -> None:
    assert field_of({"attachments": {"name": "a.pdf", "size": 1}}) == "attachments"


def test_issue7_item9_drafts_250_attachments_accepted() -> None:
    assert len(parse_draft({"attachments": [attachment()] * MAX_ATTACHMENTS}).attachments) == 250


def test_issue7_item9_drafts_251_attachments_refused_naming_attachments() -> None:
    assert field_of({"attachments": [attachment()] * (MAX_ATTACHMENTS + 1)}) == "attachments"


# ----- typed phones ------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [["+31612345678"], "+31612345678", 31612345678])
def test_drafts_phones_not_an_object_refused_naming_phones(value) -> None:
    assert field_of({"phones": value}) == "phones"


def test_drafts_phones_keys_lower_cased_and_trimmed() -> None:
    draft = parse_draft({"phones": {" Piet@GMAIL.com ": " +31612345678 "}})
    assert draft.phones == {"piet@gmail.com": "+31612345678"}


def test_drafts_blank_phone_dropped() -> None:
    assert parse_draft({"phones": {"piet@gmail.com": "  ", "a@b.example": None}}).phones == {}


def test_drafts_phone_not_a_string_refused_naming_it() -> None:
    error = refused({"phones": {"piet@gmail.com": 31612345678}})
    assert error.errors[0]["field"].startswith("phones")
    assert "piet@gmail.com" in error.errors[0]["field"]


def test_drafts_phone_over_64_characters_refused() -> None:
    assert field_of({"phones": {"piet@gmail.com": "1" * 65}}).startswith("phones")


def test_issue7_item9_v_r1_drafts_phones_one_per_recipient_500_accepted_501_refused() -> None:
    assert MAX_PHONES == MAX_RECIPIENTS == 500
    phones = {f"p{i}@gmail.com": "+31612345678" for i in range(MAX_PHONES + 1)}
    assert field_of({"phones": phones}) == "phones"
    phones.pop("p0@gmail.com")
    assert len(parse_draft({"phones": phones}).phones) == 500


def test_drafts_phones_optional() -> None:
    assert parse_draft({}).phones == {}
    assert parse_draft({"phones": None}).phones == {}


# ----- the whole draft ---------------------------------------------------------------------------

def test_drafts_api_example_draft_parsed() -> None:
    draft = parse_draft({
        "from": "afdeling@ziekenhuis-a.nl",
        "to": [{"address": "jan@huisarts-b.nl", "name": "Jan", "type": "user"}],
        "cc": [], "bcc": [],
        "subject": "Verwijzing",
        "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False}],
        "phones": {"piet@gmail.com": "+31612345678"},
    })
    assert draft.sender == "afdeling@ziekenhuis-a.nl"
    assert draft.to[0].name == "Jan"
    assert draft.subject == "Verwijzing"
    assert draft.attachments[0].size == 183211
    assert draft.phones == {"piet@gmail.com": "+31612345678"}


def test_drafts_empty_object_is_an_empty_draft() -> None:
    draft = parse_draft({})
    assert (draft.sender, draft.recipients, draft.subject, draft.attachments, draft.phones) == (None, (), "", (), {})
