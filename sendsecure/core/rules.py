"""The validation engine (SPEC V-S1..V-O4, A4, X1, X2, X4): draft + tenant + book + phones -> verdict.

Pure: no I/O, no Azure imports. It takes the parsed draft, the tenant's policy, an immutable
domain book snapshot (or ``None`` when no book is available, V-O3), the user's stored phones
and the language, and returns the verdict of API.md as a typed model (sendsecure/core/models.py).
Send, on-send and (later) the policy dry-run all call ``evaluate``. It runs by concern: the
book, the sender, each recipient (``categorise``, then ``route``), the recipient counts, the
attachments, the subject, the outcome; each recipient's result is built once.

Decisions where the manual is silent (also in the README):
- A recipient listed more than once (To, CC, BCC, any case) is one recipient, reported at its
  first place (To before CC before BCC); for V-R7 only BCC recipients that are not also in To
  or CC count as BCC.
- "Inside the community" for V-R7 means own organisation or community; NTA-route and external
  recipients are outside it (SPEC V-R2: the NTA 7516 community is outside the community).
- The attachment extension is the text after the last dot of the name, after trailing dots
  and spaces are dropped (Windows ignores them, so ``evil.exe.`` is an .exe), lower case.
- A look-alike warning (X1) is given for external recipients only: anything in the book or
  in the own organisation is what it claims to be. Domains are compared as a person reads them
  (Unicode form, UTS #39 confusables, accents dropped), at most LOOKALIKE_PROBES new ones per
  request (issue 7 items 9 and 17; docs/validation.md).
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Container, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sendsecure.core.addresses import UNICODE, InvalidAddress, display_domain, display_mailbox, normalise_mailbox
from sendsecure.core.datafiles import data_file
from sendsecure.core.domainbook import BookEntry, DomainBook
from sendsecure.core.drafts import Draft, DraftRecipient
from sendsecure.core.models import (
    AccessCode,
    Action,
    AddressForm,
    AttachmentItem,
    AttachmentSummary,
    Category,
    Colour,
    Finding,
    Language,
    OnSendDecision,
    PhoneInput,
    Route,
    Severity,
    Verdict,
    VerdictBook,
    VerdictRecipient,
    VerdictSender,
)
from sendsecure.core.phones import DEFAULT_REGION, normalise_phone
from sendsecure.core.tenants import InstallationType

ATTACHMENT_LIMIT = 20 * 1024 * 1024          # V-A1: 20 MB
RECIPIENT_WARNING = 20                       # V-R1
RECIPIENT_LIMIT = 100                        # V-R1
# Issue 7 item 9: a request costs a few ms whatever it holds. At most this many look-alike
# answers (X1) are computed per request; answers are kept per book snapshot in the worker, so
# a domain seen before costs nothing and a re-validation goes on where the last one stopped.
LOOKALIKE_PROBES = 10

OWN, COMMUNITY, NTA, EXTERNAL = Category.OWN, Category.COMMUNITY, Category.NTA, Category.EXTERNAL
UNKNOWN = Category.UNKNOWN   # no domain book (V-O3): outside the own organisation, nothing can be said
INSIDE = frozenset({OWN, COMMUNITY})
NEEDS_PHONE = frozenset({NTA, EXTERNAL})   # outside the community: may need an SMS number (V-R3, V-R9)
# V-O2: warnings that ask the user to look; each stops auto-send.
LOOK_WARNINGS = frozenset({"lookalike_domain", "lookalike_check_incomplete", "bsn_in_subject"})
# What Outlook's Send must not pass without the pop-up, even for mail within the own organisation.
ASK_BEFORE_SENDING = LOOK_WARNINGS | {"empty_subject"}
_LANGUAGE_TAG = re.compile(r"\((NL|EN|DE)\)", re.IGNORECASE)
_TAG_LANGUAGES: dict[str, Language] = {"nl": "nl", "en": "en", "de": "de"}   # the tag's group, lowered
# X2: one separator at most between two digits: any Unicode white space (no-break, narrow
# no-break, figure and thin spaces as pasted from patient records), a dot or a hyphen/dash.
_BSN_SEPARATOR = r"(?:\s|[.\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D\u00B7\u2024\uFF0E])"
_BSN_CANDIDATE = re.compile(r"(?<![0-9])[0-9](?:" + _BSN_SEPARATOR + r"?[0-9]){7,8}(?![0-9])")


@dataclass(frozen=True)
class TenantPolicy:
    installation_type: InstallationType
    own_domains: frozenset[str]
    security_by_default: bool = False


@functools.cache
def _texts() -> dict[str, Any]:
    return data_file("findings.json")


@functools.cache
def blocked_extensions() -> tuple[frozenset[str], str]:
    data = data_file("blocked_extensions.json")
    return frozenset(data["extensions"]), data["version"]


@functools.lru_cache(maxsize=65536)
def _normalised(address: str) -> tuple[str, str] | None:
    """(address, domain) in normal form, or ``None`` if it is not a valid address."""
    try:
        value = normalise_mailbox(address)
    except InvalidAddress:
        return None
    return value, value.rpartition("@")[2]


def _display(address: str, book: DomainBook | None) -> tuple[str, AddressForm]:
    """(display_address, address_form) of a normal address (issue 7 item 19): punycode when the
    domain reads exactly as a book domain it is not, else as ``display_mailbox`` decides."""
    domain = address.rpartition("@")[2]
    if "xn--" not in domain:
        return address, UNICODE
    return display_mailbox(address, book is not None and book.mimics(domain))


@functools.lru_cache(maxsize=65536)
def attachment_extension(name: str) -> str:
    base = name.rstrip(" .")
    dot = base.rfind(".")
    if dot < 0 or dot < max(base.rfind("/"), base.rfind("\\")):
        return ""
    return base[dot + 1:].lower()


def contains_bsn(subject: str) -> bool:
    """X2: nine digits (separators allowed) passing the eleven-test."""
    for match in _BSN_CANDIDATE.finditer(subject):
        digits = [int(c) for c in match.group() if c.isdigit()]
        if len(digits) != 9 or not any(digits):
            continue
        total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True)) - digits[8]
        if total % 11 == 0:
            return True
    return False


@functools.cache
def _finding_table(language: str) -> dict[str, tuple[str, Severity, Colour, str]]:
    """code -> (rule, severity, colour, message template) in one language."""
    return {code: (text["rule"], text["severity"], text["colour"], text[language])
            for code, text in _texts().items() if not code.startswith("_")}


_MESSAGES: dict[tuple[object, ...], str] = {}   # formatted messages: the same recipients come back draft after draft
_MESSAGE_LIMIT = 100000


class _Findings:
    """Collects findings in one language, with the data each one used (X4)."""

    __slots__ = ("language", "items", "blocking", "table")

    def __init__(self, language: str) -> None:
        self.language = language
        self.items: list[Finding] = []
        self.blocking = False
        self.table = _finding_table(language)

    def add(self, code: str, target: str, data: dict[str, Any] | None = None, **params: object) -> None:
        rule, severity, colour, template = self.table[code]
        if params:
            key = (code, self.language, *params.values())
            message = _MESSAGES.get(key)
            if message is None:
                if len(_MESSAGES) > _MESSAGE_LIMIT:
                    _MESSAGES.clear()
                message = _MESSAGES[key] = template.format(**params)
        else:
            message = template
        if severity == "blocking":
            self.blocking = True
        self.items.append(Finding(rule, code, severity, colour, message, target, data))


def _entry_data(entry: BookEntry | None, book_data: dict[str, Any]) -> dict[str, Any]:
    if entry is None:
        return {"entry": None, **book_data}
    return {"entry": entry.key, "organisation": entry.organisation, "network": entry.network,
            "nta7516": entry.nta7516, **book_data}


class _Run:
    """What the concerns of one evaluation share: the findings, the book and its data (X4)."""

    __slots__ = ("findings", "add", "book", "book_data", "no_entry", "_entry_data", "_hidden", "sender_nta")

    def __init__(self, findings: _Findings, book: DomainBook | None, book_data: dict[str, Any]) -> None:
        self.findings = findings
        self.add = findings.add
        self.book = book
        self.book_data = book_data
        self.no_entry = _entry_data(None, book_data)
        self._entry_data: dict[str, dict[str, Any]] = {}
        self._hidden: dict[str, dict[str, Any]] = {}
        self.sender_nta = False

    def data_of(self, entry: BookEntry | None) -> dict[str, Any]:
        if entry is None:
            return self.no_entry
        data = self._entry_data.get(entry.key)
        if data is None:
            data = self._entry_data[entry.key] = _entry_data(entry, self.book_data)
        return data

    def recipient_data(self, entry: BookEntry | None) -> dict[str, Any]:
        """V-S2: a recipient's NTA 7516 status only when the sender's organisation meets it, else
        null (in the recipient and in the data of its findings)."""
        data = self.data_of(entry)
        if self.sender_nta or entry is None:
            return data
        hidden = self._hidden.get(entry.key)
        if hidden is None:
            hidden = self._hidden[entry.key] = {**data, "nta7516": None}
        return hidden


def _book_status(book: DomainBook | None, now: datetime | None) -> tuple[VerdictBook, dict[str, Any]]:
    """(the verdict's domain_book, the book data every finding carries, X4)."""
    if book is None:
        return VerdictBook(False, None, None, None, None), {"book_version": None, "book_age_seconds": None}
    age = book.age_seconds(now or datetime.now(UTC))
    return (VerdictBook(True, book.variant, book.version, book.synced_at.isoformat(), age),
            {"book_version": book.version, "book_age_seconds": age})


def _sender(run: _Run, raw_sender: str, own_domains: frozenset[str], session_mailbox: str) -> VerdictSender:
    """V-S1, V-S2, A4: the sender is valid, of the own organisation, and in the book."""
    add, book = run.add, run.book
    normal = _normalised(raw_sender)
    if normal is None:
        add("sender_invalid", "sender", run.no_entry)
        address = raw_sender.strip()
        return VerdictSender(address, address, "unicode", False, False, None, session_mailbox)
    address, domain = normal
    entry = book.lookup(address, domain) if book is not None else None
    shown, form = _display(address, book)   # messages name the address as the person reads it
    if domain not in own_domains:
        add("sender_not_own_organisation", "sender", run.data_of(entry), address=shown)
    if book is not None:
        if entry is None:
            add("sender_not_in_domain_book", "sender", run.no_entry, address=shown)
        else:
            run.sender_nta = entry.nta7516
            data = run.data_of(entry)
            add("sender_verified", "sender", data, address=shown, organisation=entry.organisation or entry.key)
            add("sender_nta7516" if entry.nta7516 else "sender_not_nta7516", "sender", data)
    return VerdictSender(address, shown, form, entry is not None, run.sender_nta,
                         entry.organisation if entry else None, session_mailbox)


def categorise(domain: str, entry: BookEntry | None, own_domains: Container[str],
               book_available: bool, sender_nta: bool) -> Category:
    """V-R2: where a recipient stands. The own organisation by domain; without a book nothing
    more can be said (V-O3); the community by its book entry; the NTA 7516 route only when both
    the recipient's and the sender's organisation meet it; else external."""
    if domain in own_domains:
        return OWN
    if not book_available:
        return UNKNOWN
    if entry is not None and entry.community:
        return COMMUNITY
    if entry is not None and entry.nta7516 and sender_nta:
        return NTA
    return EXTERNAL


# Members as module constants: ``Route.DIRECT`` is an attribute lookup through the enum's
# metaclass (~45 ns), several per recipient (engine benchmark).
DIRECT, NTA_ROUTE, VIEWER_ROUTE, NO_ROUTE = Route.DIRECT, Route.NTA, Route.VIEWER, Route.NONE
_SMS_REQUIRED, _SMS_OPTIONAL = InstallationType.VIEWER_SMS_REQUIRED, InstallationType.VIEWER_SMS_OPTIONAL
_VIEWER, _STANDARD = InstallationType.VIEWER, InstallationType.STANDARD


def route(category: Category, installation: InstallationType,
          has_phone: bool) -> tuple[Route, AccessCode | None, PhoneInput, str | None]:
    """V-R3, V-R4: (route, access_code, phone_input, finding code or None) of a recipient."""
    if category is OWN or category is COMMUNITY:
        return DIRECT, None, "none", None
    if category is UNKNOWN:
        return NO_ROUTE, None, "none", None
    if category is NTA:
        if installation is _STANDARD:                          # manual 4.5.1.4
            return NO_ROUTE, None, "none", "nta_not_allowed"
        if installation is _SMS_REQUIRED:
            return NTA_ROUTE, None, "optional", None if has_phone else "nta_fallback_needs_phone"
        return NTA_ROUTE, None, "none", None
    if installation is _SMS_REQUIRED:
        return VIEWER_ROUTE, "sms", "required", None if has_phone else "phone_required"
    if installation is _SMS_OPTIONAL:
        return VIEWER_ROUTE, "sms" if has_phone else "email", "optional", None if has_phone else "phone_advised"
    if installation is _VIEWER:
        return VIEWER_ROUTE, "email", "none", None
    return NO_ROUTE, None, "none", "external_not_allowed"


class _Recipients:
    """V-R1..V-R9, X1: each recipient once (first place), categorised, routed, checked."""

    __slots__ = ("items", "bcc_only", "to_addresses", "probes", "not_checked")

    def __init__(self) -> None:
        self.items: list[VerdictRecipient] = []
        self.bcc_only: list[Category] = []   # categories of recipients in BCC and nowhere else
        self.to_addresses: list[str] = []
        self.probes = 0                      # look-alike answers computed here (LOOKALIKE_PROBES)
        self.not_checked = 0                 # external domains not compared for want of probes


def _typed_phones(draft: Draft) -> dict[str, str]:
    typed: dict[str, str] = {}
    for address, phone in draft.phones.items():
        normal = _normalised(address)
        if normal is not None:
            typed[normal[0]] = phone
    return typed


def _recipients(run: _Run, draft: Draft, policy: TenantPolicy, stored_phones: Mapping[str, str],
                language: str) -> _Recipients:
    add, book = run.add, run.book
    own_domains, installation, sender_nta = policy.own_domains, policy.installation_type, run.sender_nta
    shown_false = False if sender_nta else None
    region = DEFAULT_REGION.get(language, "NL")
    # Typed phones by normal address; a number is parsed only when an NTA-route or external
    # recipient among the first RECIPIENT_LIMIT needs it (item 9: past the limit V-R1 blocks).
    typed_phones = _typed_phones(draft)
    entries: Mapping[str, BookEntry] = book.entries if book is not None else {}
    entries_get = entries.get
    seen: dict[str, int] = {}
    lists: set[str] = set()
    result = _Recipients()
    items = result.items
    for item in draft.recipients:
        normal = _normalised(item.address)
        key = normal[0] if normal is not None else item.address.strip().lower()
        index = seen.get(key)
        if index is not None:  # counted once; still a distribution list wherever it is marked so
            if item.type == "distributionList" and key not in lists:
                lists.add(key)
                entry = entries_get(key) or entries_get(key.rpartition("@")[2])
                add("distribution_list", f"recipients/{index}", run.recipient_data(entry),
                    address=items[index].display_address)
            continue
        index = seen[key] = len(items)
        if item.field == "to":
            result.to_addresses.append(key)
        if normal is None:
            written = item.address.strip()
            items.append(VerdictRecipient(written, written, UNICODE, item.name, item.field,
                                          EXTERNAL, NO_ROUTE, None, "none", None, shown_false, False, None, None))
            if item.type == "distributionList":   # V-R5: "expand the list" is the fix, whatever it is called
                lists.add(key)
                add("distribution_list", f"recipients/{index}", run.no_entry, address=written)
            else:
                add("invalid_address", f"recipients/{index}", run.no_entry, address=written)
            if item.field == "bcc":
                result.bcc_only.append(EXTERNAL)
            continue
        address, domain = normal
        shown, form = _display(address, book)
        entry = entries_get(address) or entries_get(domain)
        if item.type == "distributionList":
            lists.add(key)
            add("distribution_list", f"recipients/{index}", run.recipient_data(entry), address=shown)
        category = categorise(domain, entry, own_domains, book is not None, sender_nta)
        if category is NTA or category is EXTERNAL:
            kind, code, phone_input, stored = _outside(run, result, item, index, address, domain, shown, entry,
                                                       category, installation, stored_phones, typed_phones, region)
        else:
            kind, code, phone_input, stored = NO_ROUTE if category is UNKNOWN else DIRECT, None, "none", None
        items.append(VerdictRecipient(
            address, shown, form, item.name, item.field, category, kind, code, phone_input,
            stored, shown_false if entry is None else (entry.nta7516 if sender_nta else None), True,
            entry.organisation if entry is not None else None, entry.network if entry is not None else None))
        if item.field == "bcc":
            result.bcc_only.append(category)
    return result


def _outside(run: _Run, result: _Recipients, item: DraftRecipient, index: int, address: str, domain: str,
             shown: str, entry: BookEntry | None, category: Category, installation: InstallationType,
             stored_phones: Mapping[str, str], typed_phones: dict[str, str],
             region: str) -> tuple[Route, AccessCode | None, PhoneInput, str | None]:
    """An NTA-route or external recipient: its number (V-R3, V-R9), its route, and X1."""
    add, book = run.add, run.book
    target = f"recipients/{index}"
    data = run.recipient_data(entry)
    raw_phone = typed_phones.get(address) if typed_phones else None
    # A typed number past RECIPIENT_LIMIT is not parsed (V-R1 blocks such a draft anyway).
    typed = normalise_phone(raw_phone, region) if raw_phone is not None and index < RECIPIENT_LIMIT else None
    stored = stored_phones.get(address) if stored_phones else None
    has_phone = stored is not None or (typed[0] is not None if typed is not None else raw_phone is not None)
    kind, code, phone_input, finding = route(category, installation, has_phone)
    if typed is not None and typed[1] is not None and phone_input != "none":
        add(typed[1], target, data, address=shown)     # invalid_phone / not_mobile, where a number is taken
    if finding is not None:
        add(finding, target, data, address=shown)
    if category is EXTERNAL and book is not None:                                   # X1
        intended = None
        if book.lookalike_cached(domain):
            intended = book.lookalike_of(domain)
        elif result.probes < LOOKALIKE_PROBES:
            result.probes += 1
            intended = book.lookalike_of(domain)
        else:
            result.not_checked += 1
        if intended is not None:
            add("lookalike_domain", target, run.recipient_data(book.entries[intended]), address=shown,
                intended=display_domain(intended)[0])
    return kind, code, phone_input, stored


def _counts(run: _Run, recipients: _Recipients, sender_address: str, has_cc: bool, sender_shown: str) -> bool:
    """V-R1, V-R6, V-R7 over the whole list; X1's unchecked rest (item 9). True when every
    recipient is of the own organisation."""
    add, items = run.add, recipients.items
    if recipients.not_checked:
        add("lookalike_check_incomplete", "recipients",
            {"not_checked": recipients.not_checked, "limit": LOOKALIKE_PROBES}, count=recipients.not_checked)
    count = len(items)
    all_own = count > 0 and all(r.category is OWN for r in items)
    counts = {"recipients": count, "warning_above": RECIPIENT_WARNING, "limit": RECIPIENT_LIMIT}
    if count == 0:
        add("no_recipients", "recipients", counts)
    elif not recipients.to_addresses:
        add("to_required", "recipients", counts)                                       # V-R6
    if not all_own:                                                                  # V-R1
        if count > RECIPIENT_LIMIT:
            add("too_many_recipients", "recipients", counts, count=count, limit=RECIPIENT_LIMIT)
        elif count > RECIPIENT_WARNING:
            add("many_recipients", "recipients", counts, count=count)
    bcc_only = recipients.bcc_only
    if bcc_only and recipients.to_addresses and run.book is not None:               # V-R7
        inside = sum(1 for category in bcc_only if category is OWN or category is COMMUNITY)   # INSIDE
        bcc_data = {"bcc_inside": inside, "bcc_outside": len(bcc_only) - inside, **run.book_data}
        if 0 < inside < len(bcc_only):
            add("bcc_mixed", "recipients", bcc_data)
        elif inside == 0 and (recipients.to_addresses != [sender_address] or has_cc):
            add("bcc_outside_requires_to_sender", "recipients", bcc_data, address=sender_shown)
    return all_own


def _attachments(run: _Run, draft: Draft, all_own: bool) -> AttachmentSummary:
    """V-A1..V-A4: blocked extensions and the total size, unless all recipients are own."""
    blocked, list_version = blocked_extensions()
    items = []
    total = 0
    for index, attachment in enumerate(draft.attachments):
        extension = attachment_extension(attachment.name)
        is_blocked = extension in blocked and not all_own
        total += attachment.size
        items.append(AttachmentItem(attachment.name, attachment.size, extension, attachment.inline, is_blocked))
        if is_blocked:
            run.add("blocked_extension", f"attachments/{index}", {"list": list_version},
                    name=attachment.name, extension=extension)
    if total > ATTACHMENT_LIMIT and not all_own:
        run.add("attachments_too_large", "attachments", {"total_size": total, "limit": ATTACHMENT_LIMIT},
                size_mb=_megabytes(total, run.findings.language), limit_mb=ATTACHMENT_LIMIT // 1048576)
    return AttachmentSummary(len(items), total, ATTACHMENT_LIMIT, items, not all_own, list_version)


def _megabytes(size: int, language: str) -> str:
    """MiB with one decimal, rounded up (20 MiB + 1 byte is 20.1, never the limit's 20.0), with the
    language's decimal mark."""
    tenths = -(-size * 10 // 1048576)
    text = f"{tenths // 10}.{tenths % 10}"
    return text.replace(".", ",") if language in ("nl", "de") else text


def _visible(text: str) -> str:
    """``text`` stripped, and empty when only format characters (zero-width space, joiners, BOM)
    and white space are left: such a subject shows as empty (V-M1)."""
    stripped = text.strip()
    if stripped and all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in stripped):
        return ""
    return stripped


def _plain(text: str) -> str:
    """``text`` as a reader sees it, for the checks that read the subject (X2, V-M2): compatibility
    forms folded (NFKC: full-width ``１２３`` and ``（ＥＮ）``, mathematical digits), invisible format
    characters dropped (a zero-width space or soft hyphen between digits shows no gap), and the
    decimal digits of any script read as 0-9."""
    if text.isascii():
        return text
    folded = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if not ch.isascii() and unicodedata.category(ch) == "Nd" else ch
                   for ch in folded if unicodedata.category(ch) != "Cf")


def _subject(run: _Run, draft: Draft, language: str) -> tuple[str, Language]:
    """V-M1, V-M2, X2: (the subject stripped, the notification language)."""
    subject = _visible(draft.subject)
    if not subject:
        run.add("empty_subject", "subject", {})
    plain = _plain(draft.subject)
    tag = _LANGUAGE_TAG.search(plain)
    notification_language = _TAG_LANGUAGES[tag.group(1).lower()] if tag else "nl"
    if tag:
        names = _texts()["_language_names"][language]
        run.add("notification_language", "subject", {"tag": tag.group(0)},
                language_name=names[notification_language])
    if subject and contains_bsn(plain):
        run.add("bsn_in_subject", "subject", {"check": "eleven-test"})
    return subject, notification_language


def _auto_send(findings: _Findings, subject: str, recipients: list[VerdictRecipient], all_own: bool,
               attachments: AttachmentSummary) -> bool:
    """V-O1, V-O2: nothing blocks, nothing asks the user to look (X1, X2), a subject, and mail
    that stays in the community, few recipients, within the attachment limits."""
    if findings.blocking or not subject or not recipients:
        return False
    if any(f.code in LOOK_WARNINGS for f in findings.items):
        return False
    # Identity, not ``in INSIDE``: an enum member's hash is a Python call (engine benchmark).
    return all_own or (all(r.category is OWN or r.category is COMMUNITY for r in recipients)
                       and len(recipients) <= RECIPIENT_WARNING
                       and attachments.total_size <= ATTACHMENT_LIMIT
                       and not any(item.blocked for item in attachments.items))


def evaluate(
    draft: Draft,
    *,
    policy: TenantPolicy,
    session_mailbox: str,
    book: DomainBook | None,
    stored_phones: Mapping[str, str],
    language: str,
    now: datetime | None = None,
) -> Verdict:
    findings = _Findings(language)
    domain_book, book_data = _book_status(book, now)
    run = _Run(findings, book, book_data)
    if book is None:
        run.add("domain_book_unavailable", "domain_book", book_data)
    sender = _sender(run, draft.sender or session_mailbox, policy.own_domains, session_mailbox)
    recipients = _recipients(run, draft, policy, stored_phones, language)
    all_own = _counts(run, recipients, sender.address, bool(draft.cc), sender.display_address)
    attachments = _attachments(run, draft, all_own)
    subject, notification_language = _subject(run, draft, language)
    can_send_secure = not findings.blocking
    return Verdict(
        can_send_secure=can_send_secure,
        auto_send=_auto_send(findings, subject, recipients.items, all_own, attachments),
        standard_send_offered=book is None,
        needs_confirmation=can_send_secure and not subject,
        notification_language=notification_language,
        installation_type=policy.installation_type.value,
        domain_book=domain_book,
        sender=sender,
        recipients=recipients.items,
        attachments=attachments,
        findings=findings.items,
    )


def on_send_decision(verdict: Verdict, policy: TenantPolicy) -> OnSendDecision:
    """V-O4: allow Outlook's own Send, or intercept it and show the pop-up."""
    action: Action
    recipients = verdict.recipients
    all_own = bool(recipients) and all(r.category is OWN and r.valid for r in recipients)
    if not policy.security_by_default:
        action, reasons = "allow", ["security_by_default_off"]
    elif all_own and not any(f.severity == "blocking" and f.code != "domain_book_unavailable"
                             or f.code in ASK_BEFORE_SENDING for f in verdict.findings):
        # Mail that stays in the own organisation needs no secure route, book or no book; but an
        # empty subject (V-M1) or a warning the user must see (X1, X2; V-O2) is shown first.
        action, reasons = "allow", ["own_organisation_only"]
    elif verdict.auto_send:
        action, reasons = "allow", ["auto_send"]
    else:
        action = "intercept"
        reasons = sorted({f.code for f in verdict.findings if f.severity in ("blocking", "warning")}) \
            or ["secure_route_needed"]
    return OnSendDecision(action, reasons, verdict)
