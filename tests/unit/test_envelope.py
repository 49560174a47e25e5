"""S2-S4: the envelope, its RFC 8785 canonical form, its signature and the draft digest (issue 10 items 3, 4)."""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sending_fixtures import KEY, NEW_KEY, NOW, OTHER_DEPLOYMENT, RECIPIENTS, SALT, envelope, signed

from sendsecure.core.drafts import parse_draft
from sendsecure.core.envelope import (
    EnvelopeAttachment,
    EnvelopeError,
    EnvelopeRecipient,
    EnvelopeSignatureInvalid,
    Fallback,
    build_envelope,
    canonical_form,
    draft_digest,
    envelope_from_dict,
    new_envelope_id,
    new_recipient_salt,
    sign_envelope,
    verify_envelope,
)
from sendsecure.core.signing import VerificationKeys, jwks_document

KEYS = VerificationKeys.from_jwks(jwks_document([KEY]))


# ----- RFC 8785 -----------------------------------------------------------------------------------

def test_s3_canonical_form_rfc8785_section_3_2_2_example() -> None:
    text = ('{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
            ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
            ' "literals": [null, true, false]}')
    expected = ('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
                '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}')
    assert canonical_form(json.loads(text)) == expected.encode("utf-8")


def test_s3_canonical_form_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    text = ('{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",'
            ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",'
            ' "\\u00f6": "Latin Small Letter O With Diaeresis"}')
    values = [json.loads(pair)  # the RFC's order of the values
              for pair in ('"Carriage Return"', '"One"', '"Control"', '"Latin Small Letter O With Diaeresis"',
                           '"Euro Sign"', '"Emoji: Grinning Face"', '"Hebrew Letter Dalet With Dagesh"')]
    canonical = json.loads(canonical_form(json.loads(text)))
    assert list(canonical.values()) == values


def test_s3_canonical_form_ignores_key_order_and_leaves_out_signature_and_headers() -> None:
    record = envelope().to_dict()
    shuffled = dict(reversed(list(record.items())))
    assert canonical_form(record) == canonical_form({**shuffled, "signature": "x", "headers": {"a": "b"}})


def test_s3_canonical_form_refuses_what_rfc8785_cannot_express() -> None:
    for value in (float("nan"), "\ud800", 2**60):
        with pytest.raises(EnvelopeError):
            canonical_form({"x": value})


# ----- building ---------------------------------------------------------------------------------------

def test_s2_envelope_holds_what_the_api_lists() -> None:
    record = envelope().to_dict()
    assert set(record) >= {"envelope_id", "message_id", "created_at", "sender", "sent_by", "recipients",
                           "attachments", "notification_language", "installation_type", "domain_book_version",
                           "signature"}
    assert record["created_at"] == "2026-12-01T09:30:00Z"
    assert record["attachments"] == [{"name": "brief.pdf", "size": 183211}, {"name": "foto.jpg", "size": 5000}]
    nta = record["recipients"][2]
    assert nta == {"address": "klaas@kliniek-nta.nl", "field": "cc", "category": "nta7516", "route": "nta7516",
                   "access_code": None, "fallback": {"route": "viewer", "access_code": "email"}}
    assert "fallback" not in record["recipients"][0]


def test_s2_envelope_keeps_the_drafts_recipient_order_and_normalises_addresses() -> None:
    env = envelope(recipients=(EnvelopeRecipient(" Jan@Huisarts-B.NL", "to", "community", "direct", None),
                               EnvelopeRecipient("a@bücher.example", "cc", "external", "viewer", "email")))
    assert [r.address for r in env.recipients] == ["jan@huisarts-b.nl", "a@xn--bcher-kva.example"]


@pytest.mark.parametrize("recipient", [
    lambda: EnvelopeRecipient("a@b.nl", "to", "community", "direct", "sms"),          # code on a direct route
    lambda: EnvelopeRecipient("a@b.nl", "to", "external", "viewer", None),            # Viewer without a code
    lambda: EnvelopeRecipient("a@b.nl", "to", "external", "viewer", "email", Fallback("sms")),
    lambda: EnvelopeRecipient("a@b.nl", "bcc", "external", "none", None),            # cannot be reached
    lambda: EnvelopeRecipient("a@b.nl", "reply-to", "community", "direct", None),
    lambda: EnvelopeRecipient("a@b.nl", "to", "friends", "direct", None),
    lambda: EnvelopeRecipient("a@b.nl", "to", "nta7516", "nta7516", None, Fallback("pigeon")),
])
def test_s2_recipient_records_must_be_consistent(recipient: Callable[[], EnvelopeRecipient]) -> None:
    with pytest.raises(EnvelopeError):
        recipient()


@pytest.mark.parametrize("change", [
    {"recipients": ()}, {"recipients": (EnvelopeRecipient("no-at-sign", "to", "community", "direct", None),)},
    {"sender": "not an address"}, {"sent_by": ""}, {"created_at": datetime(2026, 12, 1)},
    {"notification_language": "fr"}, {"installation_type": "premium"}, {"recipient_salt": "c2hvcnQ"},
    {"envelope_id": ""}, {"message_id": "x" * 1001}, {"policy_version": 7},
    # bounds that keep the stamp on one header line (test_stamp: worst case)
    {"envelope_id": "x" * 41}, {"tenant_id": "t" * 41}, {"policy_version": "p" * 41},
])
def test_s2_build_envelope_refuses_bad_input_naming_the_field(change: dict[str, Any]) -> None:
    arguments: dict[str, Any] = dict(
        envelope_id="e", message_id="m", created_at=NOW, tenant_id="t", sender="a@b.nl", sent_by="c@b.nl",
        recipients=RECIPIENTS, attachments=(), notification_language="nl", installation_type="viewer",
        domain_book_version="v", policy_version="p", recipient_salt=SALT,
    )
    with pytest.raises(EnvelopeError):
        build_envelope(**{**arguments, **change})


def test_s2_attachments_need_a_name_and_a_whole_non_negative_size() -> None:
    for name, size in (("a", -1), ("a", 1.5), ("a", True), ("x" * 256, 1), (None, 1)):
        with pytest.raises(EnvelopeError):
            EnvelopeAttachment(name, size)  # type: ignore[arg-type]


def test_s3_new_ids_and_salts_are_random() -> None:
    assert len({new_envelope_id() for _ in range(50)}) == 50
    assert len({new_recipient_salt() for _ in range(50)}) == 50 and len(new_recipient_salt()) == 43


# ----- the signature ------------------------------------------------------------------------------------

def test_s3_signed_record_verifies_from_the_record_alone_after_a_json_round_trip() -> None:
    env = signed()
    record = json.loads(json.dumps({**env.to_dict(), "headers": {"X-SendSecure-Envelope": env.envelope_id}}))
    assert verify_envelope(record, KEYS) == env
    header = env.signature.split(".")[0]
    assert env.signature == f"{header}..{env.signature.split('.')[2]}"  # detached payload


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def setter(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
        def change(record: dict[str, Any]) -> None:
            target = record
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        return change

    mutations = [
        ("envelope_version", setter(("envelope_version",), 2)),
        ("envelope_id", setter(("envelope_id",), "0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a02")),
        ("message_id", setter(("message_id",), "AAMkAGI2TG94AAA=")),
        ("created_at", setter(("created_at",), "2026-12-01T09:30:01Z")),
        ("tenant_id", setter(("tenant_id",), "7d5a3c1e-0000-4000-8000-000000000002")),
        ("sender", setter(("sender",), "directie@ziekenhuis-a.nl")),
        ("sent_by", setter(("sent_by",), "piet.pietersen@ziekenhuis-a.nl")),
        ("notification_language", setter(("notification_language",), "nl")),
        ("installation_type", setter(("installation_type",), "viewer")),
        ("domain_book_version", setter(("domain_book_version",), "zorgmail-2026-11-30T06:00:00Z")),
        ("policy_version", setter(("policy_version",), "rules-2026.11/viewer")),
        ("recipient_salt", setter(("recipient_salt",), new_recipient_salt())),
        ("recipient address", setter(("recipients", 0, "address"), "eve@huisarts-b.nl")),
        ("recipient field", setter(("recipients", 4, "field"), "cc")),
        ("recipient category", setter(("recipients", 0, "category"), "own_organisation")),
        ("recipient route", setter(("recipients", 1, "route"), "direct")),
        ("recipient access code", setter(("recipients", 1, "access_code"), "email")),
        ("fallback access code", setter(("recipients", 2, "fallback", "access_code"), "sms")),
        ("fallback removed", lambda r: r["recipients"][2].pop("fallback")),
        ("recipient added", lambda r: r["recipients"].append(
            {"address": "eve@evil.example", "field": "bcc", "category": "external", "route": "viewer",
             "access_code": "email"})),
        ("recipient removed", lambda r: r["recipients"].pop(0)),
        ("recipients reordered", lambda r: r["recipients"].reverse()),
        ("attachment name", setter(("attachments", 0, "name"), "brief.exe")),
        ("attachment size", setter(("attachments", 0, "size"), 183212)),
        ("attachment removed", lambda r: r["attachments"].pop()),
        ("field added", setter(("revoked",), False)),
        ("field removed", lambda r: r.pop("domain_book_version")),
    ]
    return mutations


@pytest.mark.parametrize("change", [m[1] for m in _mutations()], ids=[m[0] for m in _mutations()])
def test_s3_issue10_item4_changing_any_signed_field_breaks_the_signature(
        change: Callable[[dict[str, Any]], None]) -> None:
    record = copy.deepcopy(signed().to_dict())
    verify_envelope(record, KEYS)
    change(record)
    with pytest.raises(EnvelopeSignatureInvalid):
        verify_envelope(record, KEYS)


def test_s3_every_signed_field_is_covered_by_a_mutation() -> None:
    names = {name for name, _ in _mutations()}
    covered = {name for name in signed().to_dict() if any(n == name or name.startswith(n.split()[0]) for n in names)}
    assert covered == set(signed().to_dict()) - {"signature"}


def test_s3_a_number_rfc8785_writes_the_same_way_keeps_the_signature_but_is_not_read_as_a_size() -> None:
    record = copy.deepcopy(signed().to_dict())
    record["attachments"][0]["size"] = 183211.0  # RFC 8785: 183211.0 and 183211 are one number
    with pytest.raises(EnvelopeError, match="attachment size"):
        verify_envelope(record, KEYS)


@pytest.mark.parametrize("signature", [
    "", "abc", None, "a.b.c",
    # a stamp (typ sendsecure-stamp+jwt, payload attached) is not an envelope signature
    "eyJhbGciOiJFZERTQSIsInR5cCI6InNlbmRzZWN1cmUtc3RhbXArand0In0.e30.AAAA",
])
def test_s3_a_record_without_a_real_envelope_signature_is_refused(signature: Any) -> None:
    record = {**signed().to_dict(), "signature": signature}
    with pytest.raises(EnvelopeSignatureInvalid):
        verify_envelope(record, KEYS)


def test_s3_signature_of_another_deployment_is_refused() -> None:
    with pytest.raises(EnvelopeSignatureInvalid, match="key"):
        verify_envelope(signed(OTHER_DEPLOYMENT).to_dict(), KEYS)


def test_s3_another_key_claiming_our_kid_is_refused() -> None:
    forged = signed(OTHER_DEPLOYMENT).signature.split(".")
    ours = signed().signature.split(".")
    record = {**signed().to_dict(), "signature": f"{ours[0]}..{forged[2]}"}
    with pytest.raises(EnvelopeSignatureInvalid, match="does not match"):
        verify_envelope(record, KEYS)


def test_s3_rotation_old_envelopes_verify_while_the_old_key_is_published() -> None:
    old, new = signed(KEY).to_dict(), signed(NEW_KEY).to_dict()
    both = VerificationKeys.from_jwks(jwks_document([NEW_KEY, KEY]))
    assert verify_envelope(old, both).signature != verify_envelope(new, both).signature
    only_new = VerificationKeys.from_jwks(jwks_document([NEW_KEY]))
    with pytest.raises(EnvelopeSignatureInvalid):
        verify_envelope(old, only_new)


def test_s3_record_reads_back_strictly() -> None:
    record = signed().to_dict()
    assert envelope_from_dict(record) == signed()
    for change in ({"envelope_version": True}, {"recipients": "x"}, {"attachments": [{"name": "a"}]},
                   {"sender": "Afdeling@Ziekenhuis-A.nl"}, {"created_at": "2026-12-01 09:30"},
                   {"recipients": [{"address": "a@b.nl", "field": "to", "category": "community", "route": "direct",
                                    "access_code": None, "fallback": {"route": "viewer"}}]}):
        with pytest.raises(EnvelopeError):
            envelope_from_dict({**record, **change})


# ----- the draft digest (S4) -----------------------------------------------------------------------------

DRAFT = {
    "from": "afdeling@ziekenhuis-a.nl",
    "to": [{"address": "jan@huisarts-b.nl", "name": "Jan", "type": "user"},
           {"address": "piet@gmail.com", "name": "Piet", "type": "externalUser"}],
    "cc": [],
    "bcc": [{"address": "geheim@gmail.com", "name": "", "type": "externalUser"}],
    "subject": "Verwijzing (EN)",
    "attachments": [{"name": "brief.pdf", "size": 183211, "inline": False},
                    {"name": "logo.png", "size": 300, "inline": True}],
    "phones": {"piet@gmail.com": "+31612345678"},
}
DIGEST_KEY = b"k" * 32


def digest(draft: dict[str, Any], key: bytes = DIGEST_KEY) -> str:
    return draft_digest(parse_draft(json.loads(json.dumps(draft))), default_sender="afdeling@ziekenhuis-a.nl", key=key)


def test_s4_same_draft_same_digest_whatever_the_key_order_case_order_and_names() -> None:
    same = json.loads(json.dumps(DRAFT))
    same = dict(reversed(list(same.items())))                     # JSON key order
    same["to"] = [dict(reversed(list(r.items()))) for r in reversed(same["to"])]  # order within To
    same["to"][0]["address"] = "PIET@Gmail.com"                   # letter case
    same["to"][1]["name"] = "Dr. J. Jansen"                       # display names
    same["attachments"].reverse()
    same["phones"] = {"Piet@gmail.com": "06 12345678"}            # the number itself goes to the phone store
    assert digest(same) == digest(DRAFT)
    assert digest({**DRAFT, "from": None}) == digest(DRAFT)       # From defaults to the session's mailbox
    assert digest({**DRAFT, "phones": {**DRAFT["phones"], "niet@ontvanger.nl": "+31687654321"}}) == digest(DRAFT)


@pytest.mark.parametrize("change", [
    {"subject": "Verwijzing (NL)"},
    {"from": "directie@ziekenhuis-a.nl"},
    {"to": DRAFT["to"] + [{"address": "eve@gmail.com", "name": "", "type": "user"}]},
    {"to": DRAFT["to"][:1]},
    {"cc": DRAFT["bcc"], "bcc": []},                               # a recipient moved from BCC to CC
    {"to": [{**DRAFT["to"][0], "type": "distributionList"}, DRAFT["to"][1]]},
    {"attachments": [{"name": "brief.pdf", "size": 183212, "inline": False}, DRAFT["attachments"][1]]},
    {"attachments": DRAFT["attachments"][:1]},
    {"attachments": [DRAFT["attachments"][0], {**DRAFT["attachments"][1], "inline": False}]},
    {"phones": {}},                                                # no phone now: e-mail code instead of SMS
    {"phones": {"geheim@gmail.com": "+31612345678"}},
])
def test_s4_another_draft_under_the_same_message_id_has_another_digest(change: dict[str, Any]) -> None:
    assert digest({**DRAFT, **change}) != digest(DRAFT)


def test_s4_draft_digest_is_keyed_and_reveals_nothing() -> None:
    assert digest(DRAFT, b"k" * 32) != digest(DRAFT, b"j" * 32)
    assert len(digest(DRAFT)) == 43 and "Verwijzing" not in digest(DRAFT)
    with pytest.raises(EnvelopeError):
        digest(DRAFT, b"short")


# ----- properties ---------------------------------------------------------------------------------------

NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=60, deadline=None)
@given(names=st.lists(st.tuples(NAMES, st.integers(0, 2**53 - 1)), max_size=5), other=NAMES,
       ascii_only=st.booleans())
def test_s3_any_unicode_record_survives_json_and_any_name_change_breaks_it(
        names: list[tuple[str, int]], other: str, ascii_only: bool) -> None:
    env = sign_envelope(replace(envelope(), attachments=tuple(EnvelopeAttachment(n, s) for n, s in names)), KEY)
    record = json.loads(json.dumps(env.to_dict(), ensure_ascii=ascii_only))
    assert verify_envelope(record, KEYS) == env
    if names and other != names[0][0]:
        record["attachments"][0]["name"] = other
        with pytest.raises(EnvelopeSignatureInvalid):
            verify_envelope(record, KEYS)
