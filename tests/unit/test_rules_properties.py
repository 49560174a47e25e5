"""The validation engine, property-based (SPEC V-O1, V-O2, V-R1..V-R3, V-A1/V-A4, X1).

Drafts are generated from a pool of addresses across every category (own organisation,
community, partner network, single-address entry, NTA 7516, register-only non-NTA, external,
look-alike, IDN, invalid, a distribution list), in random fields, with random subjects,
attachments around the 20 MB edge (some blocked), typed and stored phones, tenants and
installation types, and go through ``parse_draft`` as the API would.
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Any

from helpers import RULES_BOOK as BOOK  # noqa: E402  (shared with tests/unit/test_rules_table.py)
from helpers import RULES_NOW as NOW  # noqa: E402
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sendsecure.core.addresses import InvalidAddress, normalise_domain, normalise_mailbox
from sendsecure.core.domainbook import edit_distance
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import as_data
from sendsecure.core.rules import ATTACHMENT_LIMIT, TenantPolicy, blocked_extensions, evaluate
from sendsecure.core.tenants import InstallationType

PHONE = "+31612345678"
TENANTS = {
    "a": (frozenset({"ziekenhuis-a.example", "poli.ziekenhuis-a.example"}), "an@ziekenhuis-a.example"),
    "b": (frozenset({"huisarts-b.example"}), "an@huisarts-b.example"),   # sender organisation not NTA
}

SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MB20 = 20 * 1024 * 1024

# (address, Outlook recipient type); each address (in any spelling) always has one type.
POOL: list[tuple[str, str]] = [
    ("an@ziekenhuis-a.example", "user"),                     # own: the session's mailbox
    ("AN@Ziekenhuis-A.example", "user"),
    ("collega@ziekenhuis-a.example", "user"),                # own
    ("balie@poli.ziekenhuis-a.example", "user"),             # own subdomain (tenant domain)
    ("secretariaat@ziekenhuis-a.example", "user"),           # own shared mailbox
    ("jan@huisarts-b.example", "user"),                      # community
    ("JAN@huisarts-b.example", "user"),
    ("praktijk@ezorg-praktijk.example", "other"),            # partner network
    ("dr.jansen@gezondheidscentrum-oost.example", "user"),   # single-address entry
    ("poli@ziekenhuis-rijnmond.example", "user"),            # community
    ("arts@nta-ziekenhuis-d.example", "externalUser"),       # NTA 7516 (other supplier)
    ("info@nta-praktijk-e.example", "externalUser"),         # register-only, not NTA
    ("balie@gezondheidscentrum-oost.example", "user"),       # domain of a single-address entry
    ("x@mail.huisarts-b.example", "user"),                   # subdomain of a community domain
    ("piet@gmail.com", "externalUser"),                      # external
    ("marie@voorbeeld.example", "externalUser"),             # external
    ("a@ziekenhuls-rijnmond.example", "externalUser"),       # look-alike
    ("jan@zïekenhuis.example", "externalUser"),              # IDN
    ("jan@xn--zekenhuis-05a.example", "externalUser"),       # the same, in punycode
    ("geen-adres", "user"),                                  # invalid
    ("GEEN-ADRES", "user"),
    ("jan@@huisarts-b.example", "user"),                     # invalid
    ("team@huisarts-b.example", "distributionList"),         # a distribution list
]
ATTACHMENT_NAMES = ["brief.pdf", "scan.PDF", "foto.jpg", "noextension", ".bashrc", "virus.exe", "evil.exe.",
                    "archive.tar.js", "Setup.MSI"]
SIZES = st.one_of(st.sampled_from([0, 1, MB20 // 2, MB20 // 2 + 1, MB20 - 1, MB20, MB20 + 1]),
                  st.integers(0, MB20 + 100))
SUBJECTS = st.one_of(st.sampled_from(["", "   ", "Verwijzing", "(EN) Referral", "Uitslag (de)", "BSN 111222333",
                                      "Dossier 123456789"]), st.text(max_size=40))
FIELDS = ("to", "cc", "bcc")
TYPES = list(InstallationType)


def key_of(address: str) -> str:
    """The engine's identity of a recipient: its normal form, or for an invalid one its trimmed lower case."""
    try:
        return normalise_mailbox(address)
    except InvalidAddress:
        return address.strip().lower()


def spelling(draw, address: str) -> str:
    return draw(st.sampled_from([address, address.upper(), address.lower(), f" {address} "]))


@st.composite
def scenarios(draw) -> dict[str, Any]:
    recipients = draw(st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(FIELDS)), max_size=14))
    body: dict[str, Any] = {"to": [], "cc": [], "bcc": []}
    for (address, kind), where in recipients:
        body[where].append({"address": address, "name": "", "type": kind})
    bulk = draw(st.sampled_from([0, 0, 0, 19, 20, 21, 100, 101]))
    if bulk:
        domain = draw(st.sampled_from(["ziekenhuis-a.example", "huisarts-b.example"]))
        body[draw(st.sampled_from(FIELDS))].extend(
            {"address": f"bulk{i}@{domain}", "name": "", "type": "user"} for i in range(bulk))
    body["subject"] = draw(SUBJECTS)
    body["attachments"] = [{"name": name, "size": size, "inline": inline} for name, size, inline in
                           draw(st.lists(st.tuples(st.sampled_from(ATTACHMENT_NAMES), SIZES, st.booleans()),
                                         max_size=4))]
    phoned = draw(st.lists(st.sampled_from([a for a, _ in POOL]), max_size=4))
    body["phones"] = {spelling(draw, address): PHONE for address in phoned}
    tenant = draw(st.sampled_from(["a", "a", "b"]))
    if tenant == "a" and draw(st.booleans()):
        body["from"] = draw(st.sampled_from(["secretariaat@ziekenhuis-a.example", "AN@ziekenhuis-a.example"]))
    stored = {key_of(a): PHONE for a in draw(st.lists(st.sampled_from([a for a, _ in POOL]), max_size=4))}
    return {
        "body": body,
        "installation": draw(st.sampled_from(TYPES)),
        "tenant": tenant,
        "stored": stored,
        "book": draw(st.sampled_from([BOOK] * 9 + [None])),
        "language": draw(st.sampled_from(["nl", "en", "de"])),
    }


def verdict_of(scenario: dict[str, Any], body: dict[str, Any] | None = None, language: str | None = None) -> dict:
    own, session = TENANTS[scenario["tenant"]]
    policy = TenantPolicy(scenario["installation"], own, True)
    return as_data(evaluate(parse_draft(body if body is not None else scenario["body"]), policy=policy,
                            session_mailbox=session, book=scenario["book"], stored_phones=scenario["stored"],
                            language=language or scenario["language"], now=NOW))


def summary(verdict: dict[str, Any]) -> tuple:
    return (verdict["can_send_secure"], verdict["auto_send"],
            Counter((f["code"], f["severity"]) for f in verdict["findings"]))


def input_count(body: dict[str, Any]) -> int:
    return sum(len(body[f]) for f in FIELDS)


def recipient_blocking(verdict: dict[str, Any]) -> set[tuple[str, str]]:
    """Blocking findings about one recipient, as (code, key of that recipient)."""
    result = set()
    for finding in verdict["findings"]:
        if finding["severity"] == "blocking" and finding["target"].startswith("recipients/"):
            index = int(finding["target"].split("/")[1])
            result.add((finding["code"], key_of(verdict["recipients"][index]["address"])))
    return result


# ----- (a) V-O1: no secure sending with a blocking finding; auto-send implies secure sending -------

@SETTINGS
@given(scenarios())
def test_v_o1_can_send_secure_exactly_when_nothing_blocks_and_auto_send_implies_it(scenario) -> None:
    verdict = verdict_of(scenario)
    blocking = any(f["severity"] == "blocking" for f in verdict["findings"])
    assert verdict["can_send_secure"] is (not blocking)
    if verdict["auto_send"]:
        assert verdict["can_send_secure"]
    assert verdict["needs_confirmation"] is (verdict["can_send_secure"] and not scenario["body"]["subject"].strip())


# ----- (b) V-R1: recipient order (keeping each recipient's field) does not matter ------------------

@SETTINGS
@given(scenarios(), st.randoms(use_true_random=False))
def test_v_r1_recipient_order_never_changes_the_outcome(scenario, rnd: random.Random) -> None:
    body = scenario["body"]
    shuffled = {key: body[key] for key in rnd.sample(list(body), len(body))}
    for where in FIELDS:
        items = list(body[where])
        rnd.shuffle(items)
        shuffled[where] = items
    assert summary(verdict_of(scenario, shuffled)) == summary(verdict_of(scenario))


# ----- (c) adding a recipient never removes a blocking finding about another recipient ----------

@SETTINGS
@given(scenarios(), st.sampled_from(POOL), st.sampled_from(FIELDS), st.integers(0, 200))
def test_v_r_adding_a_recipient_keeps_blocking_findings_about_the_others(scenario, added, where, position) -> None:
    before = recipient_blocking(verdict_of(scenario))
    body = {**scenario["body"], where: list(scenario["body"][where])}
    address, kind = added
    body[where].insert(min(position, len(body[where])), {"address": address, "name": "", "type": kind})
    after = recipient_blocking(verdict_of(scenario, body))
    new_key = key_of(address)
    assert {f for f in before if f[1] != new_key} <= after


# ----- (d) V-R1: every recipient once; never more recipients than were given ----------------------

@SETTINGS
@given(scenarios())
def test_v_r1_every_recipient_appears_once_and_count_never_exceeds_input(scenario) -> None:
    verdict = verdict_of(scenario)
    keys = [key_of(r["address"]) for r in verdict["recipients"]]
    assert len(keys) == len(set(keys))
    assert len(keys) <= input_count(scenario["body"])
    given_keys = {key_of(r["address"]) for f in FIELDS for r in scenario["body"][f]}
    assert set(keys) == given_keys
    first_field = {}
    for f in FIELDS:
        for r in scenario["body"][f]:
            first_field.setdefault(key_of(r["address"]), f)
    assert all(r["field"] == first_field[key_of(r["address"])] for r in verdict["recipients"])


# ----- V-R1 thresholds, V-A1/V-A4 limits, V-O2 auto-send, as characterisations -----------------------

def _all_own(verdict: dict[str, Any]) -> bool:
    return bool(verdict["recipients"]) and all(r["category"] == "own_organisation" for r in verdict["recipients"])


@SETTINGS
@given(scenarios())
def test_v_r1_warning_above_20_blocking_above_100_unless_all_own(scenario) -> None:
    verdict = verdict_of(scenario)
    count, all_own = len(verdict["recipients"]), _all_own(verdict)
    codes = Counter(f["code"] for f in verdict["findings"])
    assert codes["many_recipients"] == int(not all_own and 20 < count <= 100)
    assert codes["too_many_recipients"] == int(not all_own and count > 100)


@SETTINGS
@given(scenarios())
def test_v_a1_v_a2_v_a4_limits_apply_unless_all_own(scenario) -> None:
    verdict = verdict_of(scenario)
    all_own = _all_own(verdict)
    attachments = scenario["body"]["attachments"]
    total = sum(a["size"] for a in attachments)
    blocked, _ = blocked_extensions()
    codes = Counter(f["code"] for f in verdict["findings"])
    assert verdict["attachments"]["total_size"] == total
    assert verdict["attachments"]["count"] == len(attachments)
    assert codes["attachments_too_large"] == int(total > ATTACHMENT_LIMIT and not all_own)
    expected_blocked = 0 if all_own else sum(
        1 for a in attachments if a["name"].rstrip(" .").rpartition(".")[2].lower() in blocked and "." in a["name"])
    assert codes["blocked_extension"] == expected_blocked


@SETTINGS
@given(scenarios())
def test_v_o2_auto_send_exactly_when_spec_conditions_hold(scenario) -> None:
    verdict = verdict_of(scenario)
    recipients = verdict["recipients"]
    subject = bool(scenario["body"]["subject"].strip())
    total = sum(a["size"] for a in scenario["body"]["attachments"])
    any_blocked = any(item["blocked"] for item in verdict["attachments"]["items"])
    inside = bool(recipients) and all(r["category"] in ("own_organisation", "community") for r in recipients)
    # issue 7 item 15: a warning that asks the user to look (X1, X2) stops auto-send
    look = any(f["code"] in ("lookalike_domain", "bsn_in_subject") for f in verdict["findings"])
    expected = verdict["can_send_secure"] and subject and not look and (
        _all_own(verdict) or (inside and len(recipients) <= 20 and total <= ATTACHMENT_LIMIT and not any_blocked))
    assert verdict["auto_send"] is expected


# ----- V-R3: route and access code follow category and installation type ----------------------------

@SETTINGS
@given(scenarios())
def test_v_r3_route_and_access_code_follow_category_and_installation_type(scenario) -> None:
    verdict = verdict_of(scenario)
    installation = scenario["installation"]
    phoned = {key_of(a) for a in scenario["body"]["phones"]} | set(scenario["stored"])
    for r in verdict["recipients"]:
        if not r["valid"]:
            assert r["route"] == "none"
        elif r["category"] == "unknown":   # no book (V-O3): nothing is claimed about the route
            assert scenario["book"] is None
            assert (r["route"], r["access_code"], r["phone_input"]) == ("none", None, "none")
        elif r["category"] in ("own_organisation", "community"):
            assert (r["route"], r["access_code"]) == ("direct", None)
        elif r["category"] == "nta7516":
            if installation is not InstallationType.STANDARD:   # standard + NTA: see the table test
                assert (r["route"], r["access_code"]) == ("nta7516", None)
        else:
            expected = {
                InstallationType.VIEWER_SMS_REQUIRED: ("viewer", "sms", "required"),
                InstallationType.VIEWER_SMS_OPTIONAL: ("viewer", "sms" if r["address"] in phoned else "email",
                                                       "optional"),
                InstallationType.VIEWER: ("viewer", "email", "none"),
                InstallationType.STANDARD: ("none", None, "none"),
            }[installation]
            assert (r["route"], r["access_code"], r["phone_input"]) == expected


@SETTINGS
@given(scenarios())
def test_v_language_changes_messages_only(scenario) -> None:
    verdicts = [verdict_of(scenario, language=language) for language in ("nl", "en", "de")]
    assert len({repr(summary(v)) for v in verdicts}) == 1
    assert len({repr([(f["code"], f["target"]) for f in v["findings"]]) for v in verdicts}) == 1


# ----- X1: look-alikes of book domains, checked against a brute-force edit distance ------------------

BOOK_DOMAINS = sorted(key for key in BOOK.entries if "@" not in key)
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789-."


@st.composite
def near_domains(draw) -> str:
    text = draw(st.sampled_from(BOOK_DOMAINS))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(text)))
        operation = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(ALPHABET))
        if operation == "insert":
            text = text[:position] + char + text[position:]
        elif position < len(text):
            text = text[:position] + (char if operation == "replace" else "") + text[position + 1:]
    return text


@SETTINGS
@given(near_domains())
def test_x1_lookalike_warning_names_the_closest_book_domain_within_two_edits(domain) -> None:
    try:
        domain = normalise_domain(domain)
    except InvalidAddress:
        return
    own, session = TENANTS["a"]
    if domain in BOOK.entries or domain in own:
        return
    verdict = as_data(evaluate(parse_draft({"to": [f"x@{domain}"], "subject": "s"}),
                               policy=TenantPolicy(InstallationType.VIEWER, own), session_mailbox=session,
                               book=BOOK, stored_phones={}, language="nl", now=NOW))
    distances = {candidate: edit_distance(domain, candidate, 10) for candidate in BOOK_DOMAINS}
    best = min(distances.values())
    found = [f for f in verdict["findings"] if f["code"] == "lookalike_domain"]

    def split_distance(candidate: str) -> int:
        # The documented definition: edits in the name and in the top-level domain together, so
        # an edit that moves the dot before the TLD may go unnoticed (README, domainbook.py).
        name, _, tld = domain.rpartition(".")
        other_name, _, other_tld = candidate.rpartition(".")
        return edit_distance(name, other_name, 10) + edit_distance(tld, other_tld, 10)

    if found:   # never a false alarm, and the closest domain is named
        assert distances[found[0]["data"]["entry"]] == best <= 2
        assert found[0]["data"]["entry"] in found[0]["message"]
    assert (len(found) == 1) == (best <= 2) or min(map(split_distance, BOOK_DOMAINS)) > 2, (domain, distances)
