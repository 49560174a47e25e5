"""The engine's cost bounds (issue 7 item 9): look-alike probes per request, phone parses.

Speed itself is measured in bench/adversarial.py; these tests check the bounds' behaviour.
"""
from __future__ import annotations

import string
from datetime import UTC, datetime

from sendsecure.core import rules
from sendsecure.core.domainbook import BookEntry, DomainBook
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import as_data
from sendsecure.core.rules import LOOKALIKE_PROBES, RECIPIENT_LIMIT, TenantPolicy, evaluate
from sendsecure.core.tenants import InstallationType

OWN = "ziekenhuis-a.example"
NEAR = [f"huisarts-{c}.example" for c in string.ascii_lowercase if c != "b"] + \
       [f"huisarts-b{c}.example" for c in string.ascii_lowercase]      # each one edit from huisarts-b


def fresh_book() -> DomainBook:
    return DomainBook.build("zorgmail", "bounds-v1", datetime(2026, 11, 28, tzinfo=UTC), {
        OWN: BookEntry(OWN, "Ziekenhuis A", "zorgmail", True, True),
        "huisarts-b.example": BookEntry("huisarts-b.example", "Huisarts B", "zorgmail", True, False),
    })


def run(book: DomainBook, addresses: list[str], phones: dict[str, str] | None = None,
        installation: InstallationType = InstallationType.VIEWER) -> dict:
    draft = parse_draft({"to": addresses, "subject": "Verwijzing", "phones": phones or {}})
    return as_data(evaluate(draft, policy=TenantPolicy(installation, frozenset({OWN})),
                            session_mailbox=f"an@{OWN}", book=book, stored_phones={}, language="en"))


def codes(verdict: dict, code: str) -> list[dict]:
    return [f for f in verdict["findings"] if f["code"] == code]


def test_issue7_item9_lookalike_probes_capped_per_request_and_the_rest_reported():
    book = fresh_book()
    addresses = [f"x@{domain}" for domain in NEAR[:LOOKALIKE_PROBES + 5]]
    verdict = run(book, addresses)
    assert len(codes(verdict, "lookalike_domain")) == LOOKALIKE_PROBES
    incomplete = codes(verdict, "lookalike_check_incomplete")
    assert len(incomplete) == 1
    assert incomplete[0]["data"] == {"not_checked": 5, "limit": LOOKALIKE_PROBES}
    assert incomplete[0]["severity"] == "warning" and incomplete[0]["rule"] == "X1"
    assert verdict["auto_send"] is False


def test_issue7_item9_revalidation_goes_on_where_the_last_check_stopped():
    book = fresh_book()
    addresses = [f"x@{domain}" for domain in NEAR[:LOOKALIKE_PROBES + 5]]
    run(book, addresses)
    verdict = run(book, addresses)       # answers are kept with the snapshot
    assert len(codes(verdict, "lookalike_domain")) == LOOKALIKE_PROBES + 5
    assert codes(verdict, "lookalike_check_incomplete") == []


def test_issue7_item9_one_domain_many_recipients_is_one_probe():
    book = fresh_book()
    addresses = [f"p{n}@{NEAR[0]}" for n in range(LOOKALIKE_PROBES * 3)] + [f"x@{d}" for d in NEAR[1:LOOKALIKE_PROBES]]
    verdict = run(book, addresses)
    assert len(codes(verdict, "lookalike_domain")) == len(addresses)
    assert codes(verdict, "lookalike_check_incomplete") == []


def test_issue7_item9_phones_parsed_only_for_recipients_that_need_them(monkeypatch):
    calls: list[str] = []
    real = rules.normalise_phone
    monkeypatch.setattr(rules, "normalise_phone", lambda raw, region: calls.append(raw) or real(raw, region))
    phones = {f"nobody{n}@gmail.com": f"+3161234{n:04d}" for n in range(200)}
    phones["jan@huisarts-b.example"] = "+31612340000"        # a community recipient needs none
    phones["piet@gmail.com"] = "+31612349999"
    verdict = run(fresh_book(), ["jan@huisarts-b.example", "piet@gmail.com"], phones,
                  InstallationType.VIEWER_SMS_REQUIRED)
    assert calls == ["+31612349999"]
    assert codes(verdict, "phone_required") == []


def test_issue7_item9_phones_past_the_recipient_limit_are_not_parsed_and_the_draft_blocks(monkeypatch):
    calls: list[str] = []
    real = rules.normalise_phone
    monkeypatch.setattr(rules, "normalise_phone", lambda raw, region: calls.append(raw) or real(raw, region))
    addresses = [f"p{n}@gmail.com" for n in range(RECIPIENT_LIMIT + 50)]
    verdict = run(fresh_book(), addresses, {a: f"+3161234{n:04d}" for n, a in enumerate(addresses)},
                  InstallationType.VIEWER_SMS_REQUIRED)
    assert len(calls) == RECIPIENT_LIMIT
    assert codes(verdict, "too_many_recipients") and verdict["can_send_secure"] is False
    assert codes(verdict, "phone_required") == []       # a number was typed: not claimed missing


def test_issue7_item9_cheaper_lookalike_index_still_finds_every_domain_within_two_edits():
    """The multi-match-aware Pass-Join windows probe fewer positions; checked against brute force
    on a random book of short names over a small alphabet (many near neighbours)."""
    import random

    from sendsecure.core.domainbook import edit_distance

    rnd = random.Random(5)
    names: set[str] = set()
    while len(names) < 400:
        names.add("".join(rnd.choice("abcdefghij") for _ in range(rnd.randint(1, 25))) + "."
                  + rnd.choice(["nl", "com", "example", "eu", "de"]))
    domains = sorted(names)
    book = DomainBook.build("v", "1", datetime(2026, 11, 28, tzinfo=UTC),
                            {d: BookEntry(d, "", "zorgmail", True, False) for d in domains})

    def split_distance(query: str, other: str) -> int:
        name, _, tld = query.rpartition(".")
        other_name, _, other_tld = other.rpartition(".")
        return edit_distance(name, other_name, 10) + edit_distance(tld, other_tld, 10)

    checked = 0
    for _ in range(1500):
        query = rnd.choice(domains)
        for _ in range(rnd.randint(1, 3)):
            position, char = rnd.randint(0, len(query)), rnd.choice("abcdefghij.")
            operation = rnd.choice("idr")
            if operation == "i":
                query = query[:position] + char + query[position:]
            elif position < len(query):
                query = query[:position] + (char if operation == "r" else "") + query[position + 1:]
        if query in book.entries or "." not in query.strip(".") or ".." in query or query[0] == "." or query[-1] == ".":
            continue
        checked += 1
        found = book.lookalike_of(query)
        best = min(edit_distance(query, d, 10) for d in domains)
        if found is not None:
            assert edit_distance(query, found, 10) == best <= 2, (query, found)
        else:
            assert min(split_distance(query, d) for d in domains) > 2, query
    assert checked > 1000
