"""The validation engine, table-driven (SPEC V-S1..V-O4, A4, X1, X2, X4; API.md "Drafts").

Every row is one draft, parsed by ``parse_draft`` exactly as the API does, evaluated against a
small in-memory domain book, and checked by ``check``: can_send_secure, auto_send, the finding
codes (exact set, or codes that must be present / absent), and per-recipient fields. The row id
names the rule and the expectation. Where the engine and SPEC.md / the manual disagree, the row
is written per the SPEC (see the module's report); the engine is not adjusted to the tests.

Decisions documented in ``rules.py`` / ``domainbook.py`` are tested as such:
- a recipient listed more than once (any field, any case) is one recipient, at its first place;
  for V-R7 only BCC recipients that are not also in To/CC count as BCC;
- "inside the community" (V-R7) = own organisation or community;
- a book domain does not cover its subdomains;
- the attachment extension is after the last dot, trailing dots/spaces dropped, lower case;
- X1 look-alike warnings only for external recipients.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

# ----- the book ---------------------------------------------------------------------------------
from helpers import RULES_BOOK as BOOK  # noqa: E402  (shared with tests/unit/test_rules_properties.py)
from helpers import RULES_BOOK_VERSION as BOOK_VERSION  # noqa: E402
from helpers import RULES_NOW as NOW  # noqa: E402
from helpers import RULES_SYNCED_AT as SYNCED_AT  # noqa: E402

from sendsecure.core.datafiles import data_file
from sendsecure.core.domainbook import DomainBook
from sendsecure.core.drafts import parse_draft
from sendsecure.core.models import as_data
from sendsecure.core.rules import ATTACHMENT_LIMIT, TenantPolicy, evaluate, on_send_decision
from sendsecure.core.tenants import InstallationType

# ----- tenants --------------------------------------------------------------------------------

SESSION = "an@ziekenhuis-a.example"
OWN_DOMAINS = frozenset({"ziekenhuis-a.example", "poli.ziekenhuis-a.example"})

# name -> (own domains, session mailbox)
TENANTS: dict[str, tuple[frozenset[str], str]] = {
    "a": (OWN_DOMAINS, SESSION),
    # a tenant whose organisation does NOT meet NTA 7516 (book entry nta False)
    "b": (frozenset({"huisarts-b.example"}), "an@huisarts-b.example"),
    # a tenant with an own domain that is not in the book at all
    "unlisted": (frozenset({"ziekenhuis-a.example", "onbekend.example"}), SESSION),
    # a tenant owning a domain one edit away from a book domain (X1 is for external only)
    "near": (frozenset({"ziekenhuis-a.example", "huisarts-c.example"}), SESSION),
    # a tenant whose sender is a single-address book entry
    "single": (frozenset({"gezondheidscentrum-oost.example"}), "dr.jansen@gezondheidscentrum-oost.example"),
}

SMS_REQUIRED = InstallationType.VIEWER_SMS_REQUIRED
SMS_OPTIONAL = InstallationType.VIEWER_SMS_OPTIONAL
VIEWER = InstallationType.VIEWER
STANDARD = InstallationType.STANDARD
ALL_TYPES = (SMS_REQUIRED, SMS_OPTIONAL, VIEWER, STANDARD)
VIEWER_TYPES = (SMS_REQUIRED, SMS_OPTIONAL, VIEWER)

# ----- addresses -------------------------------------------------------------------------------

OWN = "collega@ziekenhuis-a.example"
OWN_POLI = "balie@poli.ziekenhuis-a.example"
SHARED = "secretariaat@ziekenhuis-a.example"
COMM = "jan@huisarts-b.example"
EZORG = "praktijk@ezorg-praktijk.example"
NTA_D = "arts@nta-ziekenhuis-d.example"
REG_E = "info@nta-praktijk-e.example"
SINGLE = "dr.jansen@gezondheidscentrum-oost.example"
SINGLE_OTHER = "balie@gezondheidscentrum-oost.example"
RIJNMOND = "poli@ziekenhuis-rijnmond.example"
EXT = "piet@gmail.com"
EXT2 = "marie@voorbeeld.example"
IDN_UNICODE = "jan@zïekenhuis.example"
IDN_PUNYCODE = "jan@xn--zekenhuis-05a.example"
PHONE = "+31612345678"

MB20 = 20 * 1024 * 1024
SENDER_OK = frozenset({"sender_verified", "sender_nta7516"})

# Severities the SPEC prescribes for each finding (V-*, A4, X1, X2; V-O3 says secure sending
# is impossible without the book, so its finding blocks secure sending).
SPEC_SEVERITY = {
    "sender_not_in_domain_book": "blocking", "sender_invalid": "blocking",
    "sender_not_own_organisation": "blocking", "sender_verified": "ok",
    "too_many_recipients": "blocking", "many_recipients": "warning",
    "no_recipients": "blocking", "to_required": "blocking", "distribution_list": "blocking",
    "invalid_address": "blocking", "phone_required": "blocking", "phone_advised": "warning",
    "external_not_allowed": "blocking", "nta_fallback_needs_phone": "warning",
    "bcc_outside_requires_to_sender": "blocking", "bcc_mixed": "blocking",
    "lookalike_domain": "warning", "attachments_too_large": "blocking", "blocked_extension": "blocking",
    "empty_subject": "warning", "bsn_in_subject": "warning", "domain_book_unavailable": "blocking",
}
COLOURS = {"blocking": {"red"}, "warning": {"red", "blue"}, "info": {"blue"}, "ok": {"green"}}


# ----- drafts ----------------------------------------------------------------------------------

Recipient = str | tuple[str, str]   # an address, or (address, Outlook recipient type)


def _recipients(items: list[Recipient]) -> list[dict[str, str]]:
    result = []
    for item in items:
        address, kind = (item, "user") if isinstance(item, str) else item
        result.append({"address": address, "name": "", "type": kind})
    return result


def draft(to: list[Recipient] = (), cc: list[Recipient] = (), bcc: list[Recipient] = (), *,
          subject: str = "Verwijzing", attachments: list[tuple[str, int]] = (),
          phones: dict[str, str] | None = None, sender: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "to": _recipients(list(to)), "cc": _recipients(list(cc)), "bcc": _recipients(list(bcc)),
        "subject": subject,
        "attachments": [{"name": name, "size": size, "inline": False} for name, size in attachments],
    }
    if phones is not None:
        body["phones"] = phones
    if sender is not None:
        body["from"] = sender
    return body


def many(count: int, domain: str = "huisarts-b.example", prefix: str = "p") -> list[str]:
    return [f"{prefix}{i}@{domain}" for i in range(count)]


def run(raw: dict[str, Any], installation: InstallationType = VIEWER, *, tenant: str = "a",
        stored_phones: dict[str, str] | None = None, book: DomainBook | None = BOOK,
        language: str = "nl", security_by_default: bool = True, typed: bool = False) -> Any:
    """The verdict as JSON-shaped data (as the API answers it); ``typed``: the model itself."""
    own, session = TENANTS[tenant]
    policy = TenantPolicy(installation, own, security_by_default)
    verdict = evaluate(parse_draft(raw), policy=policy, session_mailbox=session, book=book,
                       stored_phones=stored_phones or {}, language=language, now=NOW)
    return verdict if typed else as_data(verdict)


def policy_for(installation: InstallationType, tenant: str = "a", security_by_default: bool = True) -> TenantPolicy:
    return TenantPolicy(installation, TENANTS[tenant][0], security_by_default)


def codes(verdict: dict[str, Any]) -> set[str]:
    return {f["code"] for f in verdict["findings"]}


def recipient(verdict: dict[str, Any], address: str) -> dict[str, Any]:
    found = [r for r in verdict["recipients"] if r["address"] == address]
    assert len(found) == 1, f"{address} is listed {len(found)} times in {[r['address'] for r in verdict['recipients']]}"
    return found[0]


def findings_for(verdict: dict[str, Any], address: str) -> list[dict[str, Any]]:
    index = [r["address"] for r in verdict["recipients"]].index(address)
    return [f for f in verdict["findings"] if f["target"] == f"recipients/{index}"]


# ----- the table ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    id: str
    installation: InstallationType
    draft: dict[str, Any]
    can_send_secure: bool | None = None
    auto_send: bool | None = None
    codes: frozenset[str] | None = None           # the exact set of finding codes
    present: frozenset[str] = frozenset()
    absent: frozenset[str] = frozenset()
    recipients: dict[str, dict[str, Any]] = field(default_factory=dict)   # address -> expected fields
    recipient_count: int | None = None
    needs_confirmation: bool | None = None
    stored_phones: dict[str, str] = field(default_factory=dict)
    tenant: str = "a"
    book: bool = True
    extra: Callable[[dict[str, Any]], None] | None = None


def c(id: str, installation: InstallationType, raw: dict[str, Any], *, codes=None, present=(), absent=(),
      **kwargs: Any) -> Case:
    return Case(id, installation, raw, codes=None if codes is None else frozenset(codes),
                present=frozenset(present), absent=frozenset(absent), **kwargs)


def check(case: Case) -> None:
    verdict = run(case.draft, case.installation, tenant=case.tenant, stored_phones=case.stored_phones,
                  book=BOOK if case.book else None)
    found = codes(verdict)
    if case.codes is not None:
        assert found == case.codes
    assert case.present <= found, f"missing {sorted(case.present - found)}; got {sorted(found)}"
    assert not (case.absent & found), f"unexpected {sorted(case.absent & found)}"
    for finding in verdict["findings"]:
        expected = SPEC_SEVERITY.get(finding["code"])
        if expected is not None:
            assert finding["severity"] == expected, finding
        assert finding["colour"] in COLOURS[finding["severity"]], finding
    if case.can_send_secure is not None:
        assert verdict["can_send_secure"] is case.can_send_secure
    if case.auto_send is not None:
        assert verdict["auto_send"] is case.auto_send
    if case.needs_confirmation is not None:
        assert verdict["needs_confirmation"] is case.needs_confirmation
    if case.recipient_count is not None:
        assert len(verdict["recipients"]) == case.recipient_count
    for address, expected in case.recipients.items():
        actual = recipient(verdict, address)
        assert {k: actual.get(k) for k in expected} == expected, address
    if case.extra is not None:
        case.extra(verdict)


def _expect_sender(address: str, in_book: bool, nta: bool, person: str = SESSION) -> Callable:
    def extra(verdict: dict[str, Any]) -> None:
        assert verdict["sender"]["address"] == address
        assert verdict["sender"]["in_domain_book"] is in_book
        assert verdict["sender"]["nta7516"] is nta
        assert verdict["sender"]["person"] == person
    return extra


def _expect_blocking_on(address: str, rule: str) -> Callable:
    def extra(verdict: dict[str, Any]) -> None:
        blocking = [f for f in findings_for(verdict, address) if f["severity"] == "blocking"]
        assert any(f["rule"] == rule for f in blocking), findings_for(verdict, address)
    return extra


def _expect_attachments(count: int, total: int, items: list[dict[str, Any]] | None = None) -> Callable:
    def extra(verdict: dict[str, Any]) -> None:
        attachments = verdict["attachments"]
        assert attachments["count"] == count
        assert attachments["total_size"] == total
        assert attachments["limit"] == ATTACHMENT_LIMIT == MB20
        if items is not None:
            pairs = zip(attachments["items"], items, strict=True)
            assert [{k: item[k] for k in expected} for item, expected in pairs] == items
    return extra


def _expect_language(language: str) -> Callable:
    def extra(verdict: dict[str, Any]) -> None:
        assert verdict["notification_language"] == language
    return extra


def _expect_lookalike(address: str, intended: str) -> Callable:
    def extra(verdict: dict[str, Any]) -> None:
        found = [f for f in findings_for(verdict, address) if f["code"] == "lookalike_domain"]
        assert len(found) == 1
        assert intended in found[0]["message"] and address in found[0]["message"]
        assert found[0]["rule"] == "X1"
        assert found[0]["data"]["entry"] == intended
    return extra


def _direct(category: str) -> dict[str, Any]:
    return {"category": category, "route": "direct", "access_code": None, "phone_input": "none"}

# X2: the same digits in other forms (full-width, mathematical bold, Arabic-Indic)
FULL_WIDTH = {ord(digit): 0xFF10 + int(digit) for digit in "0123456789"}
BOLD = {ord(digit): 0x1D7CE + int(digit) for digit in "0123456789"}
ARABIC_INDIC = {ord(digit): 0x0660 + int(digit) for digit in "0123456789"}


CASES: list[Case] = [
    # ---- V-S1: the sender is looked up in the book --------------------------------------------
    c("V-S1-session-mailbox-in-book-verified", VIEWER, draft([COMM]), codes=SENDER_OK,
      can_send_secure=True, auto_send=True, extra=_expect_sender(SESSION, True, True)),
    c("V-S1-from-in-other-case-is-normalised-and-verified", VIEWER, draft([COMM], sender="AN@Ziekenhuis-A.Example"),
      codes=SENDER_OK, can_send_secure=True, extra=_expect_sender(SESSION, True, True)),
    c("V-S1-sender-domain-not-in-book-blocking", VIEWER, draft([COMM], sender="x@onbekend.example"),
      tenant="unlisted", codes={"sender_not_in_domain_book"}, can_send_secure=False, auto_send=False,
      extra=_expect_sender("x@onbekend.example", False, False)),
    c("V-S1-own-subdomain-not-covered-by-book-domain-blocking", VIEWER, draft([COMM], sender=OWN_POLI),
      codes={"sender_not_in_domain_book"}, can_send_secure=False, extra=_expect_sender(OWN_POLI, False, False)),
    c("V-S1-invalid-from-blocking", VIEWER, draft([COMM], sender="geen-adres"),
      present={"sender_invalid"}, can_send_secure=False, auto_send=False),
    c("V-S1-single-address-entry-sender-verified", VIEWER, draft([COMM]), tenant="single",
      codes={"sender_verified", "sender_not_nta7516"}, can_send_secure=True,
      extra=_expect_sender(SINGLE, True, False, person=SINGLE)),

    # ---- V-S2: whether the sender meets NTA 7516 is reported ---------------------------------
    c("V-S2-sender-meets-nta-ok", VIEWER, draft([COMM]), present={"sender_nta7516"},
      absent={"sender_not_nta7516"}, extra=_expect_sender(SESSION, True, True)),
    c("V-S2-sender-not-nta-info-not-blocking", VIEWER, draft([COMM]), tenant="b",
      codes={"sender_verified", "sender_not_nta7516"}, can_send_secure=True, auto_send=True,
      extra=_expect_sender("an@huisarts-b.example", True, False, person="an@huisarts-b.example")),
    # issue 7 item 14: recipients' NTA 7516 status only when the sender's organisation meets it
    c("V-S2-issue7-item14-recipient-nta-status-null-when-sender-not-nta", VIEWER,
      draft([COMM, NTA_D, REG_E, EXT, "geen-adres"], phones={EXT: PHONE, NTA_D: PHONE, REG_E: PHONE}), tenant="b",
      recipients={COMM: {"nta7516": None}, NTA_D: {"nta7516": None}, REG_E: {"nta7516": None},
                  EXT: {"nta7516": None}, "geen-adres": {"nta7516": None}},
      extra=lambda v: all(f["data"].get("nta7516") is None for f in v["findings"]
                          if f["target"].startswith("recipients/")) or pytest.fail("NTA status in finding data")),
    c("V-S2-issue7-item14-recipient-nta-status-shown-when-sender-nta", VIEWER,
      draft([COMM, NTA_D, REG_E, EXT], phones={EXT: PHONE, REG_E: PHONE}),
      recipients={COMM: {"nta7516": False}, NTA_D: {"nta7516": True}, REG_E: {"nta7516": False},
                  EXT: {"nta7516": False}}),
    c("V-S2-issue7-item14-sender-status-still-reported-when-not-nta", VIEWER, draft([NTA_D]), tenant="b",
      present={"sender_not_nta7516"}, extra=_expect_sender("an@huisarts-b.example", True, False,
                                                           "an@huisarts-b.example")),
    c("V-S2-sender-not-in-book-not-nta", VIEWER, draft([COMM], sender="x@onbekend.example"), tenant="unlisted",
      absent={"sender_nta7516", "sender_not_nta7516"}, extra=_expect_sender("x@onbekend.example", False, False)),

    # ---- A4: From another mailbox of the own tenant --------------------------------------------
    c("A4-shared-mailbox-of-own-tenant-allowed-person-recorded", VIEWER, draft([COMM], sender=SHARED),
      codes=SENDER_OK, can_send_secure=True, auto_send=True, extra=_expect_sender(SHARED, True, True)),
    c("A4-from-mailbox-of-another-organisation-blocking", VIEWER, draft([COMM], sender="assistent@huisarts-b.example"),
      present={"sender_not_own_organisation"}, can_send_secure=False, auto_send=False),
    c("A4-from-own-subdomain-is-own-organisation", VIEWER, draft([COMM], sender=OWN_POLI),
      absent={"sender_not_own_organisation"}),
    c("A4-from-other-organisation-in-other-case-blocking", VIEWER, draft([COMM], sender="JAN@GMAIL.COM"),
      present={"sender_not_own_organisation", "sender_not_in_domain_book"}, can_send_secure=False),

    # ---- V-R1: unique recipients; >20 warning, >100 blocking; not when all own --------------------
    c("V-R1-20-recipients-no-warning", VIEWER, draft(many(20)), codes=SENDER_OK,
      can_send_secure=True, auto_send=True, recipient_count=20),
    c("V-R1-21-recipients-warning", VIEWER, draft(many(21)), codes=SENDER_OK | {"many_recipients"},
      can_send_secure=True, auto_send=False, recipient_count=21),
    c("V-R1-100-recipients-warning-only", VIEWER, draft(many(100)), codes=SENDER_OK | {"many_recipients"},
      can_send_secure=True, auto_send=False, recipient_count=100),
    c("V-R1-101-recipients-blocking", VIEWER, draft(many(101)), codes=SENDER_OK | {"too_many_recipients"},
      can_send_secure=False, auto_send=False, recipient_count=101),
    c("V-R1-21-recipients-over-to-cc-bcc-warning", VIEWER, draft(many(7), many(7, prefix="c"), many(7, prefix="b")),
      codes=SENDER_OK | {"many_recipients"}, recipient_count=21),
    c("V-R1-21-own-organisation-recipients-no-warning", VIEWER, draft(many(21, "ziekenhuis-a.example")),
      codes=SENDER_OK, can_send_secure=True, auto_send=True),
    c("V-R1-101-own-organisation-recipients-not-blocking", VIEWER, draft(many(101, "ziekenhuis-a.example")),
      codes=SENDER_OK, can_send_secure=True, auto_send=True),
    c("V-R1-101-own-including-own-subdomain-not-blocking", VIEWER,
      draft(many(60, "ziekenhuis-a.example") + many(41, "poli.ziekenhuis-a.example")),
      codes=SENDER_OK, can_send_secure=True, recipient_count=101),
    c("V-R1-20-own-plus-1-community-warning", VIEWER, draft(many(20, "ziekenhuis-a.example") + [COMM]),
      codes=SENDER_OK | {"many_recipients"}, auto_send=False),
    c("V-R1-100-own-plus-1-community-blocking", VIEWER, draft(many(100, "ziekenhuis-a.example") + [COMM]),
      codes=SENDER_OK | {"too_many_recipients"}, can_send_secure=False),
    c("V-R1-duplicates-in-any-case-and-field-counted-once-no-warning", VIEWER,
      draft(many(20), [a.upper() for a in many(5)], [f"  {a.title()} " for a in many(5)]),
      codes=SENDER_OK, recipient_count=20, auto_send=True),
    c("V-R1-recipient-in-to-and-bcc-counted-once-at-to", VIEWER, draft([EXT], [], [EXT.upper()]),
      recipient_count=1, recipients={EXT: {"field": "to"}},
      absent={"bcc_outside_requires_to_sender", "bcc_mixed"}),
    c("V-R1-recipient-in-cc-and-to-reported-at-to", VIEWER, draft([COMM], [COMM.upper()]),
      recipient_count=1, recipients={COMM: {"field": "to"}}),
    c("V-R1-idn-recipient-equals-its-punycode-counted-once", VIEWER, draft([IDN_UNICODE, IDN_PUNYCODE]),
      recipient_count=1, recipients={IDN_PUNYCODE: {"category": "external", "route": "viewer"}}),
    c("V-R1-idn-duplicate-keeps-20-recipients-below-warning", VIEWER,
      draft(many(18) + [IDN_UNICODE], [IDN_PUNYCODE, COMM]),
      recipient_count=20, absent={"many_recipients"}),

    # ---- V-R2: first category that fits ---------------------------------------------------------
    c("V-R2-own-domain-is-own-organisation-even-though-in-book", VIEWER, draft([OWN]),
      recipients={OWN: _direct("own_organisation")}),
    c("V-R2-own-subdomain-in-tenant-domains-is-own-organisation", VIEWER, draft([OWN_POLI]),
      recipients={OWN_POLI: _direct("own_organisation")}),
    c("V-R2-zorgmail-domain-is-community", VIEWER, draft([COMM]),
      recipients={COMM: {**_direct("community"), "nta7516": False, "network": "zorgmail"}}),
    c("V-R2-partner-network-e-zorg-is-community", VIEWER, draft([EZORG]),
      recipients={EZORG: {**_direct("community"), "network": "e-zorg"}}, auto_send=True),
    c("V-R2-single-address-entry-is-community", VIEWER, draft([SINGLE]), recipients={SINGLE: _direct("community")}),
    c("V-R2-other-address-in-single-address-entry-domain-is-external", VIEWER, draft([SINGLE_OTHER]),
      recipients={SINGLE_OTHER: {"category": "external", "route": "viewer"}}),
    c("V-R2-community-address-in-upper-case-is-community-and-lower-cased", VIEWER, draft([COMM.upper()]),
      recipients={COMM: _direct("community")}),
    c("V-R2-subdomain-of-community-domain-is-external", VIEWER, draft(["jan@mail.huisarts-b.example"]),
      recipients={"jan@mail.huisarts-b.example": {"category": "external", "route": "viewer"}}),
    c("V-R2-nta-recipient-with-nta-sender-is-nta7516", VIEWER, draft([NTA_D]),
      recipients={NTA_D: {"category": "nta7516", "route": "nta7516", "access_code": None, "nta7516": True}},
      can_send_secure=True, auto_send=False),
    c("V-R2-nta-recipient-with-non-nta-sender-is-external", VIEWER, draft([NTA_D]), tenant="b",
      # issue 7 item 14 (SPEC V-S2 changed): the recipient's NTA status is null for a non-NTA sender
      recipients={NTA_D: {"category": "external", "route": "viewer", "access_code": "email", "nta7516": None}}),
    c("V-R2-register-only-non-nta-recipient-is-external", VIEWER, draft([REG_E]),
      recipients={REG_E: {"category": "external", "route": "viewer", "nta7516": False}}),

    # ---- V-R3: route and access code per installation type --------------------------------------
    c("V-R3-sms-required-external-without-phone-blocking", SMS_REQUIRED, draft([EXT]),
      codes=SENDER_OK | {"phone_required"}, can_send_secure=False, auto_send=False,
      recipients={EXT: {"category": "external", "route": "viewer", "access_code": "sms", "phone_input": "required",
                        "stored_phone": None}}),
    c("V-R3-sms-required-external-with-typed-phone-fine", SMS_REQUIRED, draft([EXT], phones={EXT: PHONE}),
      codes=SENDER_OK, can_send_secure=True, auto_send=False,
      recipients={EXT: {"route": "viewer", "access_code": "sms", "phone_input": "required"}}),
    c("V-R3-sms-required-typed-phone-key-in-other-case-fine", SMS_REQUIRED,
      draft([EXT], phones={"Piet@GMAIL.com": PHONE}),
      codes=SENDER_OK, can_send_secure=True, recipients={EXT: {"access_code": "sms"}}),
    c("V-R3-sms-required-recipient-in-other-case-typed-phone-fine", SMS_REQUIRED,
      draft(["PIET@gmail.COM"], phones={EXT: PHONE}), codes=SENDER_OK, can_send_secure=True),
    c("V-R3-sms-required-external-with-stored-phone-fine", SMS_REQUIRED, draft([EXT]), stored_phones={EXT: PHONE},
      codes=SENDER_OK, can_send_secure=True,
      recipients={EXT: {"access_code": "sms", "phone_input": "required", "stored_phone": PHONE}}),
    # SPEC P2: a phone must be a valid mobile number; "phone required (blocking until given)" (V-R3)
    c("V-R3-sms-required-typed-phone-that-is-not-a-number-still-blocking", SMS_REQUIRED,
      draft([EXT], phones={EXT: "bel mij"}), can_send_secure=False),
    c("V-R3-sms-required-blank-typed-phone-still-blocking", SMS_REQUIRED, draft([EXT], phones={EXT: "   "}),
      present={"phone_required"}, can_send_secure=False),
    c("V-R3-sms-required-typed-phone-for-other-address-still-blocking", SMS_REQUIRED,
      draft([EXT], phones={EXT2: PHONE}), present={"phone_required"}, can_send_secure=False),
    c("V-R3-sms-required-community-direct-no-phone", SMS_REQUIRED, draft([COMM]), codes=SENDER_OK,
      can_send_secure=True, auto_send=True, recipients={COMM: _direct("community")}),
    c("V-R3-sms-optional-external-without-phone-warning-email-code", SMS_OPTIONAL, draft([EXT]),
      codes=SENDER_OK | {"phone_advised"}, can_send_secure=True, auto_send=False,
      recipients={EXT: {"route": "viewer", "access_code": "email", "phone_input": "optional"}}),
    c("V-R3-sms-optional-external-with-typed-phone-sms", SMS_OPTIONAL, draft([EXT], phones={EXT.upper(): PHONE}),
      codes=SENDER_OK, can_send_secure=True,
      recipients={EXT: {"route": "viewer", "access_code": "sms", "phone_input": "optional"}}),
    c("V-R3-sms-optional-external-with-stored-phone-sms", SMS_OPTIONAL, draft([EXT]), stored_phones={EXT: PHONE},
      codes=SENDER_OK, recipients={EXT: {"access_code": "sms", "stored_phone": PHONE}}),
    c("V-R3-sms-optional-community-direct", SMS_OPTIONAL, draft([COMM]), codes=SENDER_OK, auto_send=True,
      recipients={COMM: _direct("community")}),
    c("V-R3-viewer-external-email-code-no-phone-input", VIEWER, draft([EXT]), codes=SENDER_OK,
      can_send_secure=True, auto_send=False,
      recipients={EXT: {"category": "external", "route": "viewer", "access_code": "email", "phone_input": "none"}}),
    c("V-R3-viewer-typed-phone-ignored-email-code", VIEWER, draft([EXT], phones={EXT: PHONE}), codes=SENDER_OK,
      recipients={EXT: {"access_code": "email", "phone_input": "none"}}),
    c("V-R3-viewer-community-direct", VIEWER, draft([COMM]), codes=SENDER_OK, auto_send=True,
      recipients={COMM: _direct("community")}),
    c("V-R3-standard-external-route-none-blocking", STANDARD, draft([EXT]),
      codes=SENDER_OK | {"external_not_allowed"}, can_send_secure=False, auto_send=False,
      recipients={EXT: {"category": "external", "route": "none", "access_code": None, "phone_input": "none"}}),
    c("V-R3-standard-external-with-stored-phone-still-blocking", STANDARD, draft([EXT]), stored_phones={EXT: PHONE},
      present={"external_not_allowed"}, can_send_secure=False, recipients={EXT: {"route": "none"}}),
    c("V-R3-standard-community-fine", STANDARD, draft([COMM, EZORG]), codes=SENDER_OK, can_send_secure=True,
      auto_send=True, recipients={COMM: _direct("community"), EZORG: _direct("community")}),
    c("V-R3-standard-own-organisation-fine", STANDARD, draft([OWN]), codes=SENDER_OK, can_send_secure=True,
      recipients={OWN: _direct("own_organisation")}),
    c("V-R3-standard-register-only-non-nta-blocking", STANDARD, draft([REG_E]), present={"external_not_allowed"},
      can_send_secure=False),
    *[c(f"V-R3-{t.value}-nta-recipient-nta-route-no-phone-needed", t, draft([NTA_D]),
        absent={"phone_required", "phone_advised", "external_not_allowed"},
        recipients={NTA_D: {"category": "nta7516", "route": "nta7516", "access_code": None,
                            "phone_input": "optional" if t is SMS_REQUIRED else "none"}},
        can_send_secure=True, auto_send=False) for t in VIEWER_TYPES],
    # Manual §4.5.1.4: with Standaard "kunt u alleen binnen de ZorgMail Community ... communiceren";
    # exchanging messages with the NTA Community needs an upgrade of the installation type.
    c("V-R3-standard-nta-recipient-unreachable-manual-4-5-1-4", STANDARD, draft([NTA_D]),
      can_send_secure=False, auto_send=False, recipients={NTA_D: {"route": "none", "access_code": None}},
      extra=_expect_blocking_on(NTA_D, "V-R3")),
    *[c(f"V-R3-{t.value}-nta-recipient-of-non-nta-sender-is-external", t, draft([NTA_D]), tenant="b",
        recipients={NTA_D: {"category": "external",
                            "route": "none" if t is STANDARD else "viewer",
                            "access_code": {SMS_REQUIRED: "sms", SMS_OPTIONAL: "email", VIEWER: "email"}.get(t)}},
        present={SMS_REQUIRED: {"phone_required"}, SMS_OPTIONAL: {"phone_advised"}, VIEWER: set(),
                 STANDARD: {"external_not_allowed"}}[t]) for t in ALL_TYPES],

    # ---- V-R4: NTA route without a phone in viewer_sms_required ------------------------------------
    c("V-R4-sms-required-nta-without-phone-warning", SMS_REQUIRED, draft([NTA_D]),
      codes=SENDER_OK | {"nta_fallback_needs_phone"}, can_send_secure=True, auto_send=False),
    c("V-R4-sms-required-nta-with-typed-phone-no-warning", SMS_REQUIRED, draft([NTA_D], phones={NTA_D.upper(): PHONE}),
      codes=SENDER_OK, can_send_secure=True),
    c("V-R4-sms-required-nta-with-stored-phone-no-warning-phone-returned", SMS_REQUIRED, draft([NTA_D]),
      stored_phones={NTA_D: PHONE}, codes=SENDER_OK, recipients={NTA_D: {"stored_phone": PHONE}}),
    *[c(f"V-R4-{t.value}-nta-without-phone-no-warning", t, draft([NTA_D]), codes=SENDER_OK, can_send_secure=True)
      for t in (SMS_OPTIONAL, VIEWER)],
    c("V-R4-standard-nta-without-phone-no-fallback-warning", STANDARD, draft([NTA_D]),
      absent={"nta_fallback_needs_phone"}),
    c("V-R4-sms-required-nta-recipient-of-non-nta-sender-phone-required-not-fallback", SMS_REQUIRED,
      draft([NTA_D]), tenant="b", present={"phone_required"}, absent={"nta_fallback_needs_phone"}),

    # ---- V-R5: distribution lists must be expanded ------------------------------------------------
    c("V-R5-distribution-list-in-to-blocking", VIEWER, draft([("team@huisarts-b.example", "distributionList")]),
      codes=SENDER_OK | {"distribution_list"}, can_send_secure=False, auto_send=False),
    c("V-R5-distribution-list-in-cc-blocking", VIEWER, draft([COMM], [("team@huisarts-b.example", "distributionList")]),
      present={"distribution_list"}, can_send_secure=False),
    c("V-R5-own-organisation-distribution-list-blocking", VIEWER,
      draft([("iedereen@ziekenhuis-a.example", "distributionList")]),
      present={"distribution_list"}, can_send_secure=False, auto_send=False),
    c("V-R5-external-and-other-types-are-not-lists", VIEWER, draft([(EXT, "externalUser"), (COMM, "other")]),
      codes=SENDER_OK, can_send_secure=True),
    c("V-R5-distribution-list-listed-again-as-user-still-blocking", VIEWER,
      draft([COMM, "team@huisarts-b.example"], [], [("team@huisarts-b.example", "distributionList")]),
      present={"distribution_list"}, can_send_secure=False),

    # ---- V-R6: To required with CC/BCC; no recipients ------------------------------------------------
    c("V-R6-cc-without-to-blocking", VIEWER, draft([], [COMM]), codes=SENDER_OK | {"to_required"},
      can_send_secure=False, auto_send=False),
    c("V-R6-bcc-without-to-blocking", VIEWER, draft([], [], [COMM]), present={"to_required"}, can_send_secure=False),
    c("V-R6-no-recipients-blocking", VIEWER, draft([]), codes=SENDER_OK | {"no_recipients"},
      can_send_secure=False, auto_send=False, recipient_count=0),
    c("V-R6-own-organisation-cc-without-to-blocking", VIEWER, draft([], [OWN]), present={"to_required"},
      can_send_secure=False),
    c("V-R6-to-with-cc-and-bcc-fine", VIEWER, draft([COMM], [EZORG], [SINGLE]), codes=SENDER_OK, can_send_secure=True),

    # ---- V-R7: BCC ---------------------------------------------------------------------------------
    c("V-R7-bcc-only-outside-to-not-sender-blocking", VIEWER, draft([COMM], [], [EXT]),
      codes=SENDER_OK | {"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-outside-to-sender-cc-filled-blocking", VIEWER, draft([SESSION], [COMM], [EXT]),
      present={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-outside-to-sender-cc-empty-fine", VIEWER, draft([SESSION], [], [EXT, EXT2]),
      codes=SENDER_OK, can_send_secure=True,
      recipients={EXT: {"field": "bcc"}, SESSION: _direct("own_organisation")}),
    c("V-R7-bcc-only-outside-to-is-sender-in-other-case-fine", VIEWER, draft(["AN@Ziekenhuis-A.example"], [], [EXT]),
      codes=SENDER_OK, can_send_secure=True),
    c("V-R7-bcc-only-outside-to-sender-plus-another-blocking", VIEWER, draft([SESSION, OWN], [], [EXT]),
      present={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-outside-to-sender-cc-repeats-sender-blocking", VIEWER, draft([SESSION], [SESSION], [EXT]),
      present={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-outside-to-must-be-from-mailbox-not-session", VIEWER, draft([SESSION], [], [EXT], sender=SHARED),
      present={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-outside-to-is-shared-from-mailbox-fine", VIEWER, draft([SHARED], [], [EXT], sender=SHARED),
      codes=SENDER_OK, can_send_secure=True),
    c("V-R7-bcc-only-nta-is-outside-community-blocking", VIEWER, draft([COMM], [], [NTA_D]),
      present={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-nta-to-sender-fine", VIEWER, draft([SESSION], [], [NTA_D]), codes=SENDER_OK, can_send_secure=True),
    c("V-R7-bcc-mixed-inside-outside-blocking", VIEWER, draft([SESSION], [], [COMM, EXT]),
      codes=SENDER_OK | {"bcc_mixed"}, can_send_secure=False),
    c("V-R7-bcc-mixed-own-and-nta-blocking", VIEWER, draft([COMM], [EZORG], [OWN, NTA_D]),
      present={"bcc_mixed"}, absent={"bcc_outside_requires_to_sender"}, can_send_secure=False),
    c("V-R7-bcc-only-inside-with-other-to-and-cc-fine", VIEWER, draft([EXT], [EZORG], [COMM, OWN, SINGLE]),
      codes=SENDER_OK, can_send_secure=True),
    c("V-R7-bcc-outside-also-in-to-is-not-bcc-fine", VIEWER, draft([COMM, EXT], [], [EXT.upper()]),
      codes=SENDER_OK, can_send_secure=True, recipients={EXT: {"field": "to"}}),
    c("V-R7-bcc-outside-also-in-cc-with-inside-bcc-not-mixed", VIEWER, draft([COMM], [EXT], [EXT, SINGLE]),
      codes=SENDER_OK, can_send_secure=True, recipients={EXT: {"field": "cc"}}),
    c("V-R7-bcc-invalid-address-counts-as-outside", VIEWER, draft([SESSION], [], [COMM, "geen-adres"]),
      present={"bcc_mixed", "invalid_address"}, can_send_secure=False),

    # ---- V-R8: invalid addresses ------------------------------------------------------------------
    c("V-R8-invalid-address-blocking-rest-still-evaluated", SMS_REQUIRED, draft(["geen-adres", EXT, COMM]),
      codes=SENDER_OK | {"invalid_address", "phone_required"}, can_send_secure=False, recipient_count=3,
      recipients={COMM: _direct("community"), EXT: {"access_code": "sms"},
                  "geen-adres": {"route": "none", "valid": False}}),
    c("V-R8-double-at-blocking", VIEWER, draft(["jan@@huisarts-b.example"]), present={"invalid_address"},
      can_send_secure=False, auto_send=False),
    c("V-R8-domain-without-dot-blocking", VIEWER, draft(["jan@localhost"]), present={"invalid_address"},
      can_send_secure=False),
    c("V-R8-invalid-address-among-own-is-not-all-own", VIEWER,
      draft(many(21, "ziekenhuis-a.example") + ["geen adres@ziekenhuis-a.example"]),
      present={"invalid_address", "many_recipients"}, can_send_secure=False),

    # ---- V-R9: stored phone returned for external recipients ------------------------------------
    *[c(f"V-R9-{t.value}-stored-phone-returned-for-external", t, draft([EXT, EXT2]),
        stored_phones={EXT: PHONE}, recipients={EXT: {"stored_phone": PHONE}, EXT2: {"stored_phone": None}})
      for t in ALL_TYPES],
    c("V-R9-stored-phone-of-recipient-written-in-other-case", SMS_REQUIRED, draft([EXT.upper()]),
      stored_phones={EXT: PHONE}, codes=SENDER_OK, recipients={EXT: {"stored_phone": PHONE, "access_code": "sms"}}),

    # ---- V-A1: at most 20 MB in total ------------------------------------------------------------
    c("V-A1-exactly-20-mb-allowed", VIEWER, draft([COMM], attachments=[("scan.pdf", MB20)]),
      codes=SENDER_OK, can_send_secure=True, auto_send=True, extra=_expect_attachments(1, MB20)),
    c("V-A1-20-mb-plus-one-byte-blocking", VIEWER, draft([COMM], attachments=[("scan.pdf", MB20 + 1)]),
      codes=SENDER_OK | {"attachments_too_large"}, can_send_secure=False, auto_send=False,
      extra=_expect_attachments(1, MB20 + 1)),
    c("V-A1-two-attachments-over-20-mb-together-blocking", VIEWER,
      draft([EXT], attachments=[("a.pdf", MB20 // 2), ("b.pdf", MB20 // 2 + 1)]),
      present={"attachments_too_large"}, can_send_secure=False),
    c("V-A1-many-small-attachments-exactly-20-mb-allowed", VIEWER,
      draft([EXT], attachments=[(f"{i}.pdf", MB20 // 4) for i in range(4)]), absent={"attachments_too_large"},
      can_send_secure=True, extra=_expect_attachments(4, MB20)),

    # ---- V-A2: blocked extensions ------------------------------------------------------------------
    *[c(f"V-A2-{name.strip() or 'blank'}-blocked".replace(" ", "_"), VIEWER,
        draft([COMM], attachments=[(name, 10)]), present={"blocked_extension"}, can_send_secure=False,
        auto_send=False, extra=_expect_attachments(1, 10, [{"extension": extension, "blocked": True}]))
      for name, extension in [("virus.exe", "exe"), ("Virus.EXE", "exe"), ("archive.tar.js", "js"),
                              ("evil.exe.", "exe"), ("evil.exe . ", "exe"), ("report.pdf.exe", "exe"),
                              ("setup.ex_", "ex_"), (".js", "js"), ("script.PS1", "ps1")]],
    *[c(f"V-A2-{name}-allowed", VIEWER, draft([COMM], attachments=[(name, 10)]), codes=SENDER_OK,
        can_send_secure=True, auto_send=True,
        extra=_expect_attachments(1, 10, [{"extension": extension, "blocked": False}]))
      for name, extension in [("x.pdf", "pdf"), ("noextension", ""), (".bashrc", "bashrc"),
                              ("virus.exe.pdf", "pdf"), ("brief.docx", "docx"), ("exe", "")]],
    c("V-A2-one-blocked-among-allowed-blocks-only-that-item", VIEWER,
      draft([COMM], attachments=[("brief.pdf", 5), ("tool.msi", 6), ("foto.jpg", 7)]),
      codes=SENDER_OK | {"blocked_extension"}, can_send_secure=False,
      extra=_expect_attachments(3, 18, [{"blocked": False}, {"blocked": True, "extension": "msi"},
                                        {"blocked": False}])),

    # ---- V-A3: count, total, per item ---------------------------------------------------------------
    c("V-A3-count-total-size-and-extension-reported", VIEWER,
      draft([COMM], attachments=[("brief.pdf", 183211), ("Foto.JPG", 1000)]),
      extra=_expect_attachments(2, 184211, [{"name": "brief.pdf", "size": 183211, "extension": "pdf"},
                                            {"name": "Foto.JPG", "size": 1000, "extension": "jpg"}])),
    c("V-A3-no-attachments-count-zero", VIEWER, draft([COMM]), extra=_expect_attachments(0, 0, [])),
    c("V-A3-zero-byte-attachment-counted", VIEWER, draft([COMM], attachments=[("leeg.txt", 0)]),
      extra=_expect_attachments(1, 0, [{"size": 0, "extension": "txt"}])),

    # ---- V-A4: no attachment limits when all recipients are own organisation ------------------------
    c("V-A4-all-own-20-mb-plus-one-allowed", VIEWER, draft([OWN], attachments=[("scan.pdf", MB20 + 1)]),
      codes=SENDER_OK, can_send_secure=True, auto_send=True),
    c("V-A4-all-own-exactly-20-mb-allowed", VIEWER, draft([OWN], attachments=[("scan.pdf", MB20)]),
      codes=SENDER_OK, can_send_secure=True, auto_send=True),
    c("V-A4-all-own-blocked-extension-allowed", VIEWER, draft([OWN, OWN_POLI], attachments=[("virus.exe", 10)]),
      codes=SENDER_OK, can_send_secure=True, auto_send=True,
      extra=_expect_attachments(1, 10, [{"extension": "exe", "blocked": False}])),
    c("V-A4-own-plus-community-limits-apply", VIEWER,
      draft([OWN], [COMM], attachments=[("virus.exe", 10), ("scan.pdf", MB20)]),
      present={"blocked_extension", "attachments_too_large"}, can_send_secure=False),
    c("V-A4-no-recipients-limits-apply", VIEWER, draft([], attachments=[("virus.exe", MB20 + 1)]),
      present={"blocked_extension", "attachments_too_large", "no_recipients"}),

    # ---- V-M1: empty subject ------------------------------------------------------------------------
    c("V-M1-empty-subject-warning-needs-confirmation", VIEWER, draft([COMM], subject=""),
      codes=SENDER_OK | {"empty_subject"}, can_send_secure=True, needs_confirmation=True, auto_send=False),
    c("V-M1-whitespace-subject-warning-needs-confirmation", VIEWER, draft([OWN], subject=" \t "),
      codes=SENDER_OK | {"empty_subject"}, can_send_secure=True, needs_confirmation=True, auto_send=False),
    c("V-M1-missing-subject-warning", VIEWER, {"to": [COMM]}, present={"empty_subject"}, can_send_secure=True,
      needs_confirmation=True),
    c("V-M1-filled-subject-no-confirmation", VIEWER, draft([COMM], subject="x"), absent={"empty_subject"},
      needs_confirmation=False),
    c("V-M1-empty-subject-with-blocking-no-confirmation-offered", VIEWER, draft([], [COMM], subject=""),
      present={"empty_subject", "to_required"}, can_send_secure=False, needs_confirmation=False),

    # ---- V-M2: language tag ------------------------------------------------------------------------
    c("V-M2-en-tag-english-notification", VIEWER, draft([EXT], subject="(EN) Referral"),
      present={"notification_language"}, extra=_expect_language("en")),
    c("V-M2-lower-case-de-tag-german-notification", VIEWER, draft([EXT], subject="Überweisung (de)"),
      present={"notification_language"}, extra=_expect_language("de")),
    c("V-M2-nl-tag-dutch-notification", VIEWER, draft([EXT], subject="Verwijzing (NL)"), extra=_expect_language("nl")),
    c("V-M2-no-tag-dutch-default", VIEWER, draft([EXT], subject="Verwijzing"), absent={"notification_language"},
      extra=_expect_language("nl")),
    c("V-M2-unknown-tag-dutch-default", VIEWER, draft([EXT], subject="(FR) Renvoi"), absent={"notification_language"},
      extra=_expect_language("nl")),
    # what the reader sees: a full-width tag, or one with an invisible character inside, is the tag
    c("V-M2-full-width-tag-english-notification", VIEWER, draft([EXT], subject="\uff08\uff25\uff2e\uff09 Referral"),
      present={"notification_language"}, extra=_expect_language("en")),
    c("V-M2-zero-width-space-inside-tag-german-notification", VIEWER, draft([EXT], subject="(D\u200bE) Befund"),
      present={"notification_language"}, extra=_expect_language("de")),

    # ---- V-O1: secure sending only without blocking findings ---------------------------------------
    c("V-O1-warnings-only-can-send", SMS_OPTIONAL, draft([EXT], subject=""), can_send_secure=True,
      present={"phone_advised", "empty_subject"}),
    c("V-O1-one-blocking-among-fine-cannot-send", VIEWER,
      draft([COMM, OWN, ("lijst@huisarts-b.example", "distributionList")]),
      can_send_secure=False, auto_send=False),
    c("V-O1-info-only-can-send", VIEWER, draft([COMM], subject="(EN) x"), tenant="b", can_send_secure=True,
      present={"sender_not_nta7516", "notification_language"}),

    # ---- V-O2: auto-send ---------------------------------------------------------------------------
    *[c(f"V-O2-{t.value}-all-own-with-subject-auto-send", t, draft([OWN, OWN_POLI], [SESSION]), auto_send=True,
        can_send_secure=True) for t in ALL_TYPES],
    *[c(f"V-O2-{t.value}-all-community-20-recipients-auto-send", t, draft(many(18) + [EZORG], [SINGLE]),
        auto_send=True) for t in ALL_TYPES],
    *[c(f"V-O2-{t.value}-21-community-recipients-no-auto-send", t, draft(many(21)), auto_send=False,
        can_send_secure=True) for t in ALL_TYPES],
    *[c(f"V-O2-{t.value}-external-recipient-no-auto-send", t, draft([COMM, EXT], phones={EXT: PHONE}),
        auto_send=False) for t in ALL_TYPES],
    *[c(f"V-O2-{t.value}-nta-recipient-no-auto-send", t, draft([NTA_D], phones={NTA_D: PHONE}), auto_send=False)
      for t in ALL_TYPES],
    c("V-O2-own-and-community-mixed-auto-send", VIEWER, draft([OWN], [COMM]), auto_send=True),
    c("V-O2-empty-subject-community-no-auto-send", VIEWER, draft([COMM], subject=""), auto_send=False),
    c("V-O2-empty-subject-own-no-auto-send", VIEWER, draft([OWN], subject="  "), auto_send=False),
    c("V-O2-blocked-extension-community-no-auto-send", VIEWER, draft([COMM], attachments=[("x.exe", 1)]),
      auto_send=False),
    c("V-O2-over-20-mb-community-no-auto-send", VIEWER, draft([COMM], attachments=[("x.pdf", MB20 + 1)]),
      auto_send=False),
    # issue 7 item 15 (SPEC V-O2 changed): a warning that asks the user to look stops auto-send
    c("V-O2-issue7-item15-bsn-in-subject-stops-auto-send", VIEWER, draft([COMM], subject="Patiënt 111222333"),
      codes=SENDER_OK | {"bsn_in_subject"}, can_send_secure=True, auto_send=False),
    c("V-O2-issue7-item15-bsn-in-subject-own-only-stops-auto-send", VIEWER, draft([OWN], subject="BSN 111 222 333"),
      present={"bsn_in_subject"}, can_send_secure=True, auto_send=False),
    c("V-O2-issue7-item15-lookalike-stops-auto-send", VIEWER, draft([COMM, "a@ziekenhuls-rijnmond.example"]),
      present={"lookalike_domain"}, can_send_secure=True, auto_send=False),
    c("V-O2-101-own-recipients-auto-send", VIEWER, draft(many(101, "ziekenhuis-a.example")), auto_send=True),

    # ---- V-O3: no domain book ----------------------------------------------------------------------
    c("V-O3-book-unavailable-standard-send-offered-rules-still-run", VIEWER,
      draft([COMM], subject="", attachments=[("virus.exe", 1), ("scan.pdf", MB20)]), book=False,
      present={"domain_book_unavailable", "blocked_extension", "attachments_too_large", "empty_subject"},
      can_send_secure=False, auto_send=False,
      extra=lambda v: (v["standard_send_offered"] is True or pytest.fail("standard send not offered"),
                       v["domain_book"]["available"] is False or pytest.fail("book reported available"))),
    c("V-O3-book-unavailable-own-only-subject-rules-still-run", VIEWER, draft([OWN], subject="BSN 111222333 (EN)"),
      book=False, present={"domain_book_unavailable", "bsn_in_subject", "notification_language"},
      can_send_secure=False, auto_send=False, extra=_expect_language("en")),
    c("V-O3-book-unavailable-recipient-rules-still-run", VIEWER, draft([], [COMM, "geen-adres"]), book=False,
      present={"domain_book_unavailable", "to_required", "invalid_address"}, can_send_secure=False),
    # Without the book the engine cannot know a recipient is outside the community; it must not
    # tell the user that a community recipient needs a phone or must be removed (V-R2, V-R3, V-O3).
    *[c(f"V-O3-{t.value}-book-unavailable-community-recipient-not-treated-as-external", t, draft([COMM]),
        book=False, present={"domain_book_unavailable"},
        absent={"phone_required", "phone_advised", "external_not_allowed"}, can_send_secure=False)
      for t in ALL_TYPES],
    c("V-O3-book-available-no-standard-send-offer", VIEWER, draft([COMM]), absent={"domain_book_unavailable"},
      extra=lambda v: (v["standard_send_offered"] is False or pytest.fail("standard send offered"),
                       v["domain_book"] == {"available": True, "variant": "zorgmail", "version": BOOK_VERSION,
                                            "synced_at": SYNCED_AT.isoformat(), "age_seconds": 7200}
                       or pytest.fail(str(v["domain_book"])))),

    # ---- X1: look-alike domains ---------------------------------------------------------------------
    c("X1-one-substitution-warning-names-intended", VIEWER, draft(["a@ziekenhuls-rijnmond.example"]),
      codes=SENDER_OK | {"lookalike_domain"}, can_send_secure=True, auto_send=False,
      extra=_expect_lookalike("a@ziekenhuls-rijnmond.example", "ziekenhuis-rijnmond.example")),
    c("X1-one-insertion-warning-names-intended", VIEWER, draft(["a@ziekenhuis-rijnmonde.example"]),
      present={"lookalike_domain"},
      extra=_expect_lookalike("a@ziekenhuis-rijnmonde.example", "ziekenhuis-rijnmond.example")),
    c("X1-two-edits-warning-names-intended", VIEWER, draft(["a@huisarts-bb.exampl"]),
      present={"lookalike_domain"}, extra=_expect_lookalike("a@huisarts-bb.exampl", "huisarts-b.example")),
    # "zïekenhuis-rijnmond.example" is one edit (ï for i) from a book domain as the user reads it;
    # its punycode form is far from it, so a comparison of punycode forms misses the homograph.
    c("X1-idn-homograph-one-edit-from-book-domain-warning", VIEWER, draft(["a@zïekenhuis-rijnmond.example"]),
      present={"lookalike_domain"},
      extra=lambda v: any("ziekenhuis-rijnmond.example" in f["message"] for f in v["findings"]
                          if f["code"] == "lookalike_domain") or pytest.fail("intended domain not named")),
    c("X1-trailing-dot-lookalike-still-warned", VIEWER, draft(["a@ziekenhuls-rijnmond.example."]),
      present={"lookalike_domain"}),
    c("X1-three-edits-no-warning", VIEWER, draft(["a@huisarts-bbb.exampl"]), absent={"lookalike_domain"}),
    c("X1-swap-of-neighbours-counts-two-edits-warning", VIEWER, draft(["a@huisatrs-b.example"]),
      present={"lookalike_domain"}, extra=_expect_lookalike("a@huisatrs-b.example", "huisarts-b.example")),
    c("X1-unrelated-domain-no-warning", VIEWER, draft([EXT]), absent={"lookalike_domain"}),
    c("X1-book-domain-itself-no-warning", VIEWER, draft([RIJNMOND]), codes=SENDER_OK),
    c("X1-register-only-domain-in-book-no-warning", VIEWER, draft([REG_E]), codes=SENDER_OK),
    c("X1-own-domain-near-book-domain-no-warning", VIEWER, draft(["a@huisarts-c.example"]), tenant="near",
      codes=SENDER_OK, recipients={"a@huisarts-c.example": _direct("own_organisation")}),
    c("X1-sms-required-lookalike-and-phone-required", SMS_REQUIRED, draft(["a@ziekenhuls-rijnmond.example"]),
      codes=SENDER_OK | {"lookalike_domain", "phone_required"}, can_send_secure=False),
    c("X1-standard-lookalike-and-not-allowed", STANDARD, draft(["a@huisarts-b.exampl"]),
      present={"lookalike_domain", "external_not_allowed"}),

    # ---- X2: BSN in the subject ---------------------------------------------------------------------
    *[c(f"X2-bsn-{label}-warning", VIEWER, draft([COMM], subject=subject), codes=SENDER_OK | {"bsn_in_subject"},
        can_send_secure=True)
      for label, subject in [("plain", "Patiënt 111222333"), ("second-valid", "123456782 verwijzing"),
                             ("dots", "BSN 1112.22.333"), ("spaces", "bsn: 111 222 333"),
                             ("dashes", "111-222-333"), ("glued-to-letters", "bsn111222333x"),
                             # issue 7 item 18: any Unicode space, and the usual separators, between groups
                             ("issue7-item18-no-break-space", "BSN 111\u00a0222\u00a0333"),
                             ("issue7-item18-narrow-no-break-space", "BSN 1112\u202f22\u202f333"),
                             ("issue7-item18-figure-and-thin-space", "BSN 111\u2007222\u2009333"),
                             ("issue7-item18-ideographic-space", "BSN 111\u3000222\u3000333"),
                             ("issue7-item18-en-dash-and-non-breaking-hyphen", "111\u2013222\u2011333"),
                             ("issue7-item18-tab", "BSN\t111\t222\t333"),
                             # what the reader sees: invisible format characters show no gap, and
                             # full-width, mathematical or other-script digits read as digits
                             ("zero-width-space-shows-no-gap", "111\u200b222\u200b333"),
                             ("soft-hyphen-shows-no-gap", "BSN 1112\u00ad22333"),
                             ("word-joiner-inside", "11122\u2060233\u20603"),
                             ("full-width-digits", "BSN 111222333".translate(FULL_WIDTH)),
                             ("full-width-digits-and-space", "111\u3000222\u3000333".translate(FULL_WIDTH)),
                             ("mathematical-bold-digits", "BSN 111222333".translate(BOLD)),
                             ("arabic-indic-digits", "BSN 111222333".translate(ARABIC_INDIC))]],
    *[c(f"X2-{label}-no-warning", VIEWER, draft([COMM], subject=subject), absent={"bsn_in_subject"})
      for label, subject in [("nine-digits-failing-eleven-test", "Nummer 123456789"),
                             ("ten-digits", "Dossier 1112223330"), ("eight-digits", "Dossier 11122233"),
                             ("date", "Afspraak 28-11-2026"), ("phone", "Bel 0612345678"),
                             ("issue7-item18-two-spaces-between-groups", "BSN 111  222  333"),
                             ("full-width-nine-digits-failing-eleven-test", "123456789".translate(FULL_WIDTH)),
                             ("full-width-ten-digits", "1112223330".translate(FULL_WIDTH))]],
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule_table(case: Case) -> None:
    check(case)


def test_rule_table_ids_are_unique_and_cover_every_rule() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    rules = ["V-S1", "V-S2", "A4", "V-R1", "V-R2", "V-R3", "V-R4", "V-R5", "V-R6", "V-R7", "V-R8", "V-R9",
             "V-A1", "V-A2", "V-A3", "V-A4", "V-M1", "V-M2", "V-O1", "V-O2", "V-O3", "X1", "X2"]
    for rule in rules:
        assert sum(1 for i in ids if i.startswith(rule + "-")) >= 3, rule


# ----- per-finding metadata (SPEC V, X4) -------------------------------------------------------------

def test_v_findings_rule_ids_match_the_findings_table() -> None:
    table = data_file("findings.json")
    verdict = run(draft(["geen-adres", EXT, NTA_D, ("lijst@huisarts-b.example", "distributionList"),
                         "a@ziekenhuls-rijnmond.example"], [], [COMM], subject="",
                        attachments=[("x.exe", MB20)]), SMS_REQUIRED)
    assert verdict["findings"]
    for finding in verdict["findings"]:
        assert finding["rule"] == table[finding["code"]]["rule"]
        assert finding["severity"] in ("blocking", "warning", "info", "ok")


def _x4_verdicts() -> list[tuple[str, dict[str, Any]]]:
    """Drafts that together raise every sender and recipient finding the engine knows."""
    return [
        ("sms-required", run(draft(["geen-adres", EXT, NTA_D, ("lijst@huisarts-b.example", "distributionList"),
                                    "a@ziekenhuls-rijnmond.example", REG_E]), SMS_REQUIRED)),
        ("sms-optional", run(draft([EXT]), SMS_OPTIONAL)),
        ("standard", run(draft([EXT]), STANDARD)),
        ("from-other-organisation", run(draft([COMM], sender="assistent@huisarts-b.example"))),
        ("from-not-in-book", run(draft([COMM], sender="x@onbekend.example"), tenant="unlisted")),
        ("from-invalid", run(draft([COMM], sender="geen-adres"))),
        ("sender-not-nta", run(draft([COMM]), tenant="b")),
    ]


def _x4_findings() -> list[tuple[str, dict[str, Any]]]:
    result = []
    for name, verdict in _x4_verdicts():
        for finding in verdict["findings"]:
            if finding["target"] == "sender" or finding["target"].startswith("recipients/"):
                result.append((f"{finding['rule']}-{finding['code']}-{name}", finding))
    return result


@pytest.mark.parametrize(("label", "finding"), _x4_findings(), ids=[label for label, _ in _x4_findings()])
def test_x4_sender_and_recipient_findings_carry_book_version_and_age(label: str, finding: dict[str, Any]) -> None:
    data = finding.get("data")
    assert isinstance(data, dict), f"{finding['code']} has no data"
    assert data.get("book_version") == BOOK_VERSION
    assert data.get("book_age_seconds") == 7200


def test_x4_sender_finding_names_the_book_entry() -> None:
    verdict = run(draft([COMM]))
    data = next(f for f in verdict["findings"] if f["code"] == "sender_verified")["data"]
    assert data["entry"] == "ziekenhuis-a.example"
    assert data["organisation"] == "Ziekenhuis A"
    assert data["nta7516"] is True


def test_x4_single_address_sender_finding_names_the_address_entry() -> None:
    verdict = run(draft([COMM]), tenant="single")
    data = next(f for f in verdict["findings"] if f["code"] == "sender_verified")["data"]
    assert data["entry"] == SINGLE


@pytest.mark.parametrize(("installation", "address", "code", "entry"), [
    (SMS_REQUIRED, NTA_D, "nta_fallback_needs_phone", "nta-ziekenhuis-d.example"),
    (SMS_REQUIRED, REG_E, "phone_required", "nta-praktijk-e.example"),
    (SMS_OPTIONAL, REG_E, "phone_advised", "nta-praktijk-e.example"),
    (STANDARD, REG_E, "external_not_allowed", "nta-praktijk-e.example"),
    (SMS_REQUIRED, EXT, "phone_required", None),
    (VIEWER, "a@ziekenhuls-rijnmond.example", "lookalike_domain", "ziekenhuis-rijnmond.example"),
], ids=["V-R4-nta-fallback", "V-R3-phone-required-register-entry", "V-R3-phone-advised-register-entry",
        "V-R3-not-allowed-register-entry", "V-R3-phone-required-no-entry", "X1-lookalike-intended-entry"])
def test_x4_recipient_finding_names_the_book_entry_it_used(installation, address, code, entry) -> None:
    verdict = run(draft([address]), installation)
    finding = next(f for f in findings_for(verdict, address) if f["code"] == code)
    assert finding["data"]["entry"] == entry
    assert finding["data"]["book_version"] == BOOK_VERSION
    assert finding["data"]["book_age_seconds"] == 7200


def test_x4_book_age_follows_now() -> None:
    own, session = TENANTS["a"]
    verdict = as_data(evaluate(parse_draft(draft([COMM])), policy=TenantPolicy(VIEWER, own), session_mailbox=session,
                               book=BOOK, stored_phones={}, language="nl", now=SYNCED_AT + timedelta(seconds=61)))
    assert verdict["domain_book"]["age_seconds"] == 61
    assert next(f for f in verdict["findings"] if f["code"] == "sender_verified")["data"]["book_age_seconds"] == 61


# ----- messages in nl, en, de ------------------------------------------------------------------------

@pytest.mark.parametrize(("rule", "code", "installation", "raw", "must_contain"), [
    ("V-R3", "phone_required", SMS_REQUIRED, draft([EXT]), [EXT]),
    ("V-R3", "external_not_allowed", STANDARD, draft([EXT]), [EXT]),
    ("V-R8", "invalid_address", VIEWER, draft(["geen-adres"]), ["geen-adres"]),
    ("V-R5", "distribution_list", VIEWER, draft([("lijst@huisarts-b.example", "distributionList")]),
     ["lijst@huisarts-b.example"]),
    ("X1", "lookalike_domain", VIEWER, draft(["a@ziekenhuls-rijnmond.example"]),
     ["a@ziekenhuls-rijnmond.example", "ziekenhuis-rijnmond.example"]),
    ("A4", "sender_not_own_organisation", VIEWER, draft([COMM], sender="assistent@huisarts-b.example"),
     ["assistent@huisarts-b.example"]),
    ("V-R1", "too_many_recipients", VIEWER, draft(many(101)), ["101", "100"]),
    ("V-A2", "blocked_extension", VIEWER, draft([COMM], attachments=[("virus.exe", 1)]), ["virus.exe"]),
], ids=["V-R3-phone_required", "V-R3-external_not_allowed", "V-R8-invalid_address", "V-R5-distribution_list",
        "X1-lookalike_domain", "A4-sender_not_own_organisation", "V-R1-too_many_recipients",
        "V-A2-blocked_extension"])
def test_messages_differ_per_language_and_name_the_subject(rule, code, installation, raw, must_contain) -> None:
    messages = {}
    for language in ("nl", "en", "de"):
        verdict = run(raw, installation, language=language)
        finding = next(f for f in verdict["findings"] if f["code"] == code)
        assert finding["rule"] == rule
        for text in must_contain:
            assert text in finding["message"], (language, finding["message"])
        messages[language] = finding["message"]
    assert len(set(messages.values())) == 3, messages


def test_v_m2_notification_language_message_names_the_language_in_the_users_language() -> None:
    names = {lang: next(f for f in run(draft([EXT], subject="(DE) x"), language=lang)["findings"]
                        if f["code"] == "notification_language")["message"] for lang in ("nl", "en", "de")}
    assert "Duits" in names["nl"] and "German" in names["en"] and "Deutsch" in names["de"]


# ----- V-O4: the on-send decision ---------------------------------------------------------------------

def on_send(raw: dict[str, Any], installation: InstallationType, *, security_by_default: bool = True,
            book: DomainBook | None = BOOK, tenant: str = "a", stored_phones=None) -> dict[str, Any]:
    verdict = run(raw, installation, tenant=tenant, book=book, stored_phones=stored_phones, typed=True)
    return as_data(on_send_decision(verdict, policy_for(installation, tenant, security_by_default)))


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_security_by_default_off_allows_everything(installation) -> None:
    decision = on_send(draft([EXT, ("lijst@x.example", "distributionList")], subject=""), installation,
                       security_by_default=False)
    assert decision["action"] == "allow"
    assert decision["verdict"]["can_send_secure"] is False


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_own_organisation_only_allows(installation) -> None:
    decision = on_send(draft([OWN, OWN_POLI], [SESSION]), installation)
    assert decision["action"] == "allow"
    assert decision["reasons"] == ["own_organisation_only"]


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
@pytest.mark.parametrize(("subject", "reason"), [("", "empty_subject"), ("Uitslag 111222333", "bsn_in_subject")])
def test_v_o4_v_m1_x2_own_organisation_only_with_something_to_show_intercepts(installation, subject, reason) -> None:
    # S1: an empty subject needs the user's confirmation; V-O2: a BSN warning must be seen before the
    # message leaves. Outlook's Send must not create an envelope that POST /messages/send would refuse.
    decision = on_send(draft([OWN, OWN_POLI], [SESSION], subject=subject), installation)
    assert decision["action"] == "intercept"
    assert reason in decision["reasons"]


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_auto_send_allows(installation) -> None:
    decision = on_send(draft([COMM, EZORG], [OWN]), installation)
    assert decision["verdict"]["auto_send"] is True
    assert decision["action"] == "allow"
    assert decision["reasons"] == ["auto_send"]


@pytest.mark.parametrize(("installation", "reason"), [
    (SMS_REQUIRED, "phone_required"), (SMS_OPTIONAL, "phone_advised"),
    (VIEWER, "secure_route_needed"), (STANDARD, "external_not_allowed"),
], ids=lambda value: getattr(value, "value", value))
def test_v_o4_external_recipient_intercepts(installation, reason) -> None:
    decision = on_send(draft([COMM, EXT]), installation)
    assert decision["action"] == "intercept"
    assert reason in decision["reasons"]


def test_v_o4_external_recipient_needing_phone_intercepts_with_phone_required() -> None:
    decision = on_send(draft([EXT]), SMS_REQUIRED)
    assert decision["action"] == "intercept"
    assert "phone_required" in decision["reasons"]


@pytest.mark.parametrize("installation", VIEWER_TYPES, ids=lambda t: t.value)
def test_v_o4_external_recipient_with_phone_still_intercepts_secure_route_needed(installation) -> None:
    decision = on_send(draft([EXT]), installation, stored_phones={EXT: PHONE})
    assert decision["verdict"]["can_send_secure"] is True
    assert decision["action"] == "intercept"


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_nta_recipient_intercepts(installation) -> None:
    assert on_send(draft([NTA_D]), installation)["action"] == "intercept"


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_book_unavailable_with_external_recipient_intercepts(installation) -> None:
    decision = on_send(draft([EXT]), installation, book=None)
    assert decision["action"] == "intercept"
    assert "domain_book_unavailable" in decision["reasons"]


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_book_unavailable_with_community_recipient_intercepts(installation) -> None:
    assert on_send(draft([COMM]), installation, book=None)["action"] == "intercept"


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_book_unavailable_own_organisation_only_allows(installation) -> None:
    # Nothing in an own-organisation-only draft needs the secure route (SPEC V-O4; manual §4.3
    # "Weet!"), and the book is not needed to know that the recipients are own organisation (T5).
    decision = on_send(draft([OWN]), installation, book=None)
    assert decision["action"] == "allow"


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_21_community_recipients_intercepts(installation) -> None:
    decision = on_send(draft(many(21)), installation)
    assert decision["action"] == "intercept"
    assert "many_recipients" in decision["reasons"]


@pytest.mark.parametrize("installation", ALL_TYPES, ids=lambda t: t.value)
def test_v_o4_own_organisation_with_distribution_list_intercepts(installation) -> None:
    decision = on_send(draft([OWN, ("iedereen@ziekenhuis-a.example", "distributionList")]), installation)
    assert decision["action"] == "intercept"
    assert "distribution_list" in decision["reasons"]


def test_v_o4_own_organisation_from_other_organisation_intercepts() -> None:
    decision = on_send(draft([OWN], sender="assistent@huisarts-b.example"), VIEWER)
    assert decision["action"] == "intercept"
    assert "sender_not_own_organisation" in decision["reasons"]


def test_v_o4_empty_draft_intercepts() -> None:
    assert on_send(draft([]), VIEWER)["action"] == "intercept"


def test_v_o4_decision_carries_the_verdict() -> None:
    decision = on_send(draft([EXT]), VIEWER)
    assert decision["verdict"]["recipients"][0]["address"] == EXT


# ----- found by the rules review of 2026-12-01 ------------------------------------------------

@pytest.mark.parametrize(("installation", "address"), [(VIEWER, EXT), (SMS_OPTIONAL, NTA_D)],
                         ids=["viewer_external", "sms_optional_nta"])
def test_v_r3_t1_a_bad_number_typed_where_none_is_taken_does_not_block(installation, address) -> None:
    verdict = run(draft([address], phones={address: "12"}), installation)
    assert recipient(verdict, address)["phone_input"] == "none"
    assert not {"invalid_phone", "not_mobile"} & codes(verdict)
    assert verdict["can_send_secure"] is True


def test_v_r3_a_bad_number_where_one_is_taken_still_blocks() -> None:
    verdict = run(draft([EXT], phones={EXT: "12"}), SMS_REQUIRED)
    assert "invalid_phone" in codes(verdict) and verdict["can_send_secure"] is False


def test_v_r5_a_distribution_list_that_is_no_address_is_reported_as_a_list() -> None:
    verdict = run(draft([("team", "distributionList")]))
    assert "distribution_list" in codes(verdict) and "invalid_address" not in codes(verdict)
    assert verdict["can_send_secure"] is False


@pytest.mark.parametrize("subject", ["\u200b", "\ufeff", " \u2060 ", "\u200d\u200c"])
def test_v_m1_v_o2_a_subject_of_invisible_characters_is_empty(subject) -> None:
    verdict = run(draft([COMM], subject=subject))
    assert "empty_subject" in codes(verdict)
    assert verdict["auto_send"] is False and verdict["needs_confirmation"] is True


@pytest.mark.parametrize(("language", "shown"), [("nl", "20,1"), ("de", "20,1"), ("en", "20.1")])
def test_v_a1_a_total_over_the_limit_never_reads_as_the_limit(language, shown) -> None:
    verdict = run(draft([COMM], attachments=[("scan.pdf", ATTACHMENT_LIMIT + 1)]), language=language)
    [finding] = [f for f in verdict["findings"] if f["code"] == "attachments_too_large"]
    assert f"{shown} MB" in finding["message"]


def test_x1_sender_and_bcc_messages_name_the_address_as_the_person_reads_it() -> None:
    # docs/validation.md: finding messages name the display address, not the punycode form.
    sender = "an@zïekenhuis.example"
    verdict = run(draft([sender], bcc=[EXT], sender=sender))
    messages = " ".join(f["message"] for f in verdict["findings"])
    assert "xn--" not in messages and sender in messages
