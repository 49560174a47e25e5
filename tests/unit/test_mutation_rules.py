"""Tests that kill mutants of the engine (``make mutate``, docs/testing.md).

The table tests (test_rules_table.py) check codes, severities and routes; the mutation run showed
that what a finding *carries* was not pinned: its target, its data (X4), its message text, the
recipient fields (V-S2 NTA flag), the attachment summary (V-A4 ``limits_apply``), the V-O4 reasons.
Here each scenario is one rule; its whole verdict (as the API answers it) and its V-O4 decision
are compared with the reviewed answer in ``mutation_verdicts.json``. After a deliberate change of
the engine, regenerate with ``UPDATE_MUTATION_VERDICTS=1`` and review the diff like code.
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from helpers import RULES_BOOK as BOOK
from helpers import RULES_NOW as NOW

from sendsecure.core.domainbook import DomainBook
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import as_data
from sendsecure.core.rules import (
    COMMUNITY,
    DIRECT,
    NO_ROUTE,
    UNKNOWN,
    TenantPolicy,
    evaluate,
    on_send_decision,
    route,
)
from sendsecure.core.rules import OWN as OWN_CATEGORY
from sendsecure.core.tenants import InstallationType

GOLDEN = Path(__file__).with_name("mutation_verdicts.json")
OWN_DOMAINS = frozenset({"ziekenhuis-a.example", "poli.ziekenhuis-a.example"})
SESSION = "an@ziekenhuis-a.example"
TENANTS = {
    "a": (OWN_DOMAINS, SESSION),
    "b": (frozenset({"huisarts-b.example"}), "an@huisarts-b.example"),
    "single": (frozenset({"gezondheidscentrum-oost.example"}), "dr.jansen@gezondheidscentrum-oost.example"),
}
SMS_REQUIRED = InstallationType.VIEWER_SMS_REQUIRED
SMS_OPTIONAL = InstallationType.VIEWER_SMS_OPTIONAL
VIEWER = InstallationType.VIEWER
STANDARD = InstallationType.STANDARD
OWN, COMM, EXT = "collega@ziekenhuis-a.example", "jan@huisarts-b.example", "piet@gmail.com"
NTA_D, REG_E = "arts@nta-ziekenhuis-d.example", "info@nta-praktijk-e.example"


def _people(items: list[Any]) -> list[dict[str, str]]:
    return [{"address": a, "name": "", "type": "user"} if isinstance(a, str)
            else {"address": a[0], "name": "", "type": a[1]} for a in items]


def draft(to: Sequence[Any] = (), cc: Sequence[Any] = (), bcc: Sequence[Any] = (), *, subject: str = "Verwijzing",
          attachments: Sequence[tuple[str, int]] = (), phones: dict[str, str] | None = None,
          sender: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"to": _people(list(to)), "cc": _people(list(cc)), "bcc": _people(list(bcc)),
                            "subject": subject,
                            "attachments": [{"name": n, "size": s, "inline": False} for n, s in attachments]}
    if phones is not None:
        body["phones"] = phones
    if sender is not None:
        body["from"] = sender
    return body


MB = 1024 * 1024
# name -> (draft, installation, tenant, stored phones, book present, language)
SCENARIOS: dict[str, tuple[dict[str, Any], InstallationType, str, dict[str, str], bool, str]] = {
    "v_r1_no_recipients_v_m1_empty_subject": (draft(subject="  "), VIEWER, "a", {}, True, "nl"),
    "v_r6_to_required": (draft(cc=[COMM]), VIEWER, "a", {}, True, "en"),
    "v_r1_many_recipients": (draft([f"p{i}@huisarts-b.example" for i in range(21)]), VIEWER, "a", {}, True, "nl"),
    "v_r1_too_many_recipients": (draft([f"p{i}@huisarts-b.example" for i in range(101)]), VIEWER, "a", {}, True,
                                 "en"),
    "v_r7_bcc_mixed": (draft([COMM], bcc=[OWN, EXT]), VIEWER, "a", {}, True, "nl"),
    "v_r7_bcc_outside_requires_to_sender": (draft([COMM], bcc=[EXT]), VIEWER, "a", {}, True, "en"),
    "v_r7_bcc_outside_to_sender_with_cc": (draft([SESSION], cc=[OWN], bcc=[EXT]), VIEWER, "a", {}, True, "nl"),
    "v_r5_distribution_list_counted_once": (
        draft([(COMM, "distributionList")], cc=[(COMM, "distributionList"), OWN], bcc=[("x@gmail.com", "user"),
              ("X@gmail.com", "distributionList")]), VIEWER, "a", {}, True, "nl"),
    "v_r2_invalid_address": (draft(["not an address", COMM]), VIEWER, "a", {}, True, "en"),
    "v_r3_p2_typed_phone_invalid_and_landline": (
        draft([EXT, "marie@voorbeeld.example", NTA_D],
              phones={EXT: "12", "marie@voorbeeld.example": "+31201234567", NTA_D: "0612345678"}),
        SMS_REQUIRED, "a", {}, True, "nl"),
    "v_r3_stored_phone_and_advised": (draft([EXT, NTA_D]), SMS_OPTIONAL, "a", {EXT: "+31612345678"}, True, "en"),
    "v_r9_external_not_allowed_standard": (draft([EXT, NTA_D]), STANDARD, "a", {}, True, "nl"),
    "v_s2_nta_flag_sender_not_nta": (draft([NTA_D, REG_E, EXT, OWN]), VIEWER, "b", {}, True, "nl"),
    "v_s2_nta_flag_sender_nta": (draft([NTA_D, REG_E, "a@unknown.example"]), VIEWER, "a", {}, True, "en"),
    "x1_lookalike_domain": (draft(["jan@huisarts-c.example", "x@ziekenhuis-b.example"]), VIEWER, "a", {}, True,
                            "nl"),
    "x1_lookalike_check_incomplete": (draft([f"x@huisarts-{c}.example" for c in "cdfghjklmnpq"]), VIEWER, "a", {},
                                      True, "en"),
    "v_a1_v_a2_v_a4_attachments": (
        draft([COMM], attachments=[("brief.pdf", 15 * MB), ("setup.EXE. ", 6 * MB), ("a.js", 1)]),
        VIEWER, "a", {}, True, "nl"),
    "v_a4_limits_do_not_apply_all_own": (
        draft([OWN], attachments=[("setup.exe", 25 * MB)]), VIEWER, "a", {}, True, "en"),
    "v_a1_exactly_at_the_limit": (draft([COMM], attachments=[("a.pdf", 20 * MB)]), VIEWER, "a", {}, True, "en"),
    "v_m2_bsn_x2_language_tag": (draft([COMM], subject="Patiënt 123456782 (EN)"), VIEWER, "a", {}, True, "nl"),
    "x2_language_tag_de_in_english": (draft([COMM], subject="Befund (de)"), VIEWER, "a", {}, True, "en"),
    "v_s1_sender_not_own": (draft([COMM], sender="iemand@gmail.com"), VIEWER, "a", {}, True, "nl"),
    "v_s1_sender_invalid": (draft([COMM], sender="geen adres"), VIEWER, "a", {}, True, "en"),
    "v_s1_sender_not_in_book": (draft([COMM], sender="an@poli.ziekenhuis-a.example"), VIEWER, "a", {}, True,
                                "nl"),
    "v_s1_sender_single_address_entry": (draft([COMM]), VIEWER, "single", {}, True, "en"),
    "v_o3_no_book": (draft([OWN, COMM, EXT]), SMS_REQUIRED, "a", {}, False, "nl"),
    "v_o2_auto_send_community": (draft([COMM, OWN], subject="Verwijzing"), VIEWER, "a", {}, True, "nl"),
    "v_r5_distribution_list_marked_twice_after_a_plain_entry": (
        draft([COMM, (COMM, "distributionList")], cc=[(COMM, "distributionList")]), VIEWER, "a", {}, True, "nl"),
    "v_s2_recipient_data_without_nta_for_a_non_nta_sender": (
        draft([(NTA_D, "distributionList"), (REG_E, "distributionList")]), VIEWER, "b", {}, True, "en"),
    "v_s1_sender_of_another_book_organisation": (draft([COMM], sender="iemand@huisarts-b.example"), VIEWER, "a",
                                                 {}, True, "nl"),
    "v_m2_bsn_after_a_number_that_fails_the_eleven_test": (
        draft([COMM], subject="Ref 123456789 patiënt 123456782"), VIEWER, "a", {}, True, "nl"),
    "v_a1_size_in_the_message_rounds_at_one_mib": (
        draft([COMM], attachments=[("a.pdf", 21023949)]), VIEWER, "a", {}, True, "en"),
    "v_o4_own_only": (draft([OWN]), VIEWER, "a", {}, True, "nl"),
}


def _answer(name: str) -> dict[str, Any]:
    raw, installation, tenant, stored, with_book, language = SCENARIOS[name]
    own, session = TENANTS[tenant]
    # A fresh book each time: the look-alike answers a book caches (X1 probes) do not depend on
    # which tests ran before.
    answer = {}
    for by_default in (True, False):
        book = DomainBook.build(BOOK.variant, BOOK.version, BOOK.synced_at, dict(BOOK.entries)) if with_book else None
        policy = TenantPolicy(installation, own, by_default)
        verdict = evaluate(parse_draft(raw), policy=policy, session_mailbox=session, book=book,
                           stored_phones=stored, language=language, now=NOW)
        decision = on_send_decision(verdict, policy)
        answer["verdict"] = as_data(verdict)
        answer[f"decision_{'on' if by_default else 'off'}"] = [decision.action, decision.reasons]
    return answer


def _golden() -> dict[str, Any]:
    if os.environ.get("UPDATE_MUTATION_VERDICTS"):
        GOLDEN.write_text(json.dumps({name: _answer(name) for name in SCENARIOS}, indent=1, ensure_ascii=False,
                                     sort_keys=True) + "\n", encoding="utf-8")
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_x4_v_o4_whole_verdict_pinned(name: str) -> None:
    """Every field of the verdict: finding targets, data (X4) and messages, recipient fields (V-S2),
    the attachment summary (V-A4 limits_apply), and the V-O4 decision with and without
    security by default."""
    assert json.loads(json.dumps(_answer(name))) == _golden()[name]


@pytest.mark.parametrize("installation", [SMS_REQUIRED, SMS_OPTIONAL, VIEWER, STANDARD])
def test_v_r3_route_inside_the_community_is_direct_and_unknown_has_none(installation: InstallationType) -> None:
    for has_phone in (True, False):
        assert route(OWN_CATEGORY, installation, has_phone) == (DIRECT, None, "none", None)
        assert route(COMMUNITY, installation, has_phone) == (DIRECT, None, "none", None)
        assert route(UNKNOWN, installation, has_phone) == (NO_ROUTE, None, "none", None)
