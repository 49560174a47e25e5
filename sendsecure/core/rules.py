"""The validation engine (SPEC V-S1..V-O4, A4, X1, X2, X4): draft + tenant + book + phones -> verdict.

Pure: no I/O, no Azure imports. It takes the parsed draft, the tenant's policy, an immutable
domain book snapshot (or ``None`` when no book is available, V-O3), the user's stored phones
and the language, and returns the verdict of API.md as plain data. Send, on-send and (later)
the policy dry-run all call ``evaluate``.

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
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from sendsecure.core.addresses import UNICODE, InvalidAddress, display_domain, display_mailbox, normalise_mailbox
from sendsecure.core.domainbook import BookEntry, DomainBook
from sendsecure.core.drafts import Draft
from sendsecure.core.datafiles import data_file
from sendsecure.core.phones import DEFAULT_REGION, normalise_phone
from sendsecure.core.tenants import InstallationType

ATTACHMENT_LIMIT = 20 * 1024 * 1024          # V-A1: 20 MB
RECIPIENT_WARNING = 20                       # V-R1
RECIPIENT_LIMIT = 100                        # V-R1
# Issue 7 item 9: a request costs a few ms whatever it holds. At most this many look-alike
# answers (X1) are computed per request; answers are kept per book snapshot in the worker, so
# a domain seen before costs nothing and a re-validation goes on where the last one stopped.
LOOKALIKE_PROBES = 10

OWN, COMMUNITY, NTA, EXTERNAL = "own_organisation", "community", "nta7516", "external"
UNKNOWN = "unknown"   # no domain book (V-O3): outside the own organisation, nothing can be said
INSIDE = frozenset({OWN, COMMUNITY})
# V-O2: warnings that ask the user to look; each stops auto-send.
LOOK_WARNINGS = frozenset({"lookalike_domain", "lookalike_check_incomplete", "bsn_in_subject"})
_LANGUAGE_TAG = re.compile(r"\((NL|EN|DE)\)", re.IGNORECASE)
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


def _display(address: str, book: DomainBook | None) -> tuple[str, str]:
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
        total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8])) - digits[8]
        if total % 11 == 0:
            return True
    return False


@functools.cache
def _finding_table(language: str) -> dict[str, tuple[str, str, str, str]]:
    """code -> (rule, severity, colour, message template) in one language."""
    return {code: (text["rule"], text["severity"], text["colour"], text[language])
            for code, text in _texts().items() if not code.startswith("_")}


_MESSAGES: dict[tuple, str] = {}   # formatted messages: the same recipients come back draft after draft
_MESSAGE_LIMIT = 100000


class _Findings:
    """Collects findings in one language, with the data each one used (X4)."""

    __slots__ = ("language", "items", "blocking", "table")

    def __init__(self, language: str) -> None:
        self.language = language
        self.items: list[dict[str, Any]] = []
        self.blocking = False
        self.table = _finding_table(language)

    def add(self, code: str, target: str, data: dict[str, Any] | None = None, **params: str) -> None:
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
        finding = {"rule": rule, "code": code, "severity": severity, "colour": colour,
                   "message": message, "target": target}
        if data is not None:
            finding["data"] = data
        if severity == "blocking":
            self.blocking = True
        self.items.append(finding)


def _entry_data(entry: BookEntry | None, book_data: dict[str, Any]) -> dict[str, Any]:
    if entry is None:
        return {"entry": None, **book_data}
    return {"entry": entry.key, "organisation": entry.organisation, "network": entry.network,
            "nta7516": entry.nta7516, **book_data}


def evaluate(
    draft: Draft,
    *,
    policy: TenantPolicy,
    session_mailbox: str,
    book: DomainBook | None,
    stored_phones: Mapping[str, str],
    language: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    findings = _Findings(language)
    add = findings.add
    installation = policy.installation_type
    own_domains = policy.own_domains
    if book is not None:
        book_age = book.age_seconds(now or datetime.now(timezone.utc))
        book_data = {"book_version": book.version, "book_age_seconds": book_age}
        domain_book = {"available": True, "variant": book.variant, "version": book.version,
                       "synced_at": book.synced_at.isoformat(), "age_seconds": book_age}
    else:
        book_data = {"book_version": None, "book_age_seconds": None}
        domain_book = {"available": False, "variant": None, "version": None, "synced_at": None, "age_seconds": None}
        add("domain_book_unavailable", "domain_book", book_data)
    no_entry_data = _entry_data(None, book_data)
    entry_data: dict[str, dict[str, Any]] = {}

    def data_of(entry: BookEntry | None) -> dict[str, Any]:
        if entry is None:
            return no_entry_data
        data = entry_data.get(entry.key)
        if data is None:
            data = entry_data[entry.key] = _entry_data(entry, book_data)
        return data

    # ----- sender (V-S1, V-S2, A4) --------------------------------------------------------
    raw_sender = draft.sender or session_mailbox
    normal_sender = _normalised(raw_sender)
    sender_entry = None
    sender_nta = False
    sender_address = normal_sender[0] if normal_sender else raw_sender.strip()
    if normal_sender is None:
        add("sender_invalid", "sender", no_entry_data)
    else:
        if book is not None:
            sender_entry = book.lookup(*normal_sender)
        if normal_sender[1] not in own_domains:
            add("sender_not_own_organisation", "sender", data_of(sender_entry), address=sender_address)
        if book is not None:
            if sender_entry is None:
                add("sender_not_in_domain_book", "sender", no_entry_data, address=sender_address)
            else:
                sender_nta = sender_entry.nta7516
                data = data_of(sender_entry)
                add("sender_verified", "sender", data, address=sender_address,
                    organisation=sender_entry.organisation or sender_entry.key)
                add("sender_nta7516" if sender_nta else "sender_not_nta7516", "sender", data)
    sender_shown, sender_form = _display(sender_address, book) if normal_sender else (sender_address, UNICODE)
    sender = {"address": sender_address, "display_address": sender_shown, "address_form": sender_form,
              "in_domain_book": sender_entry is not None, "nta7516": sender_nta,
              "organisation": sender_entry.organisation if sender_entry else None,
              "person": session_mailbox}

    # ----- recipients (V-R1..V-R9, X1) ----------------------------------------------------
    # V-S2: recipients' NTA 7516 status only when the sender's organisation meets it, else null
    # (in the recipient and in the data of its findings).
    shown_false = False if sender_nta else None
    hidden_data: dict[str, dict[str, Any]] = {}

    def rdata_of(entry: BookEntry | None) -> dict[str, Any]:
        data = data_of(entry)
        if sender_nta or entry is None:
            return data
        hidden = hidden_data.get(entry.key)
        if hidden is None:
            hidden = hidden_data[entry.key] = {**data, "nta7516": None}
        return hidden

    region = DEFAULT_REGION.get(language, "NL")
    # Typed phones by normal address; a number is parsed only when an NTA-route or external
    # recipient among the first RECIPIENT_LIMIT needs it (item 9: past the limit V-R1 blocks).
    typed_phones: dict[str, str] = {}
    for address, phone in draft.phones.items():
        normal = _normalised(address)
        if normal is not None:
            typed_phones[normal[0]] = phone
    probes = 0             # look-alike answers computed in this request (LOOKALIKE_PROBES)
    not_checked = 0        # external recipients whose domain was not compared for want of probes
    lookalike_cached = book.lookalike_cached if book is not None else None
    entries_get = book.entries.get if book is not None else {}.get
    sms_required = installation is InstallationType.VIEWER_SMS_REQUIRED
    seen: dict[str, int] = {}
    lists: set[str] = set()
    recipients: list[dict[str, Any]] = []
    bcc_only: list[str] = []   # categories of recipients that are in BCC and nowhere else
    to_addresses: list[str] = []
    for item in draft.recipients:
        normal = _normalised(item.address)
        key = normal[0] if normal is not None else item.address.strip().lower()
        index = seen.get(key)
        if index is not None:  # counted once; still a distribution list wherever it is marked so
            if item.type == "distributionList" and key not in lists:
                lists.add(key)
                add("distribution_list", f"recipients/{index}", rdata_of(None), address=key)
            continue
        index = seen[key] = len(recipients)
        field = item.field
        if field == "to":
            to_addresses.append(key)
        if normal is None:
            recipients.append({"address": item.address.strip(), "display_address": item.address.strip(),
                               "address_form": UNICODE, "name": item.name, "field": field,
                               "category": EXTERNAL, "route": "none", "access_code": None, "phone_input": "none",
                               "stored_phone": None, "nta7516": shown_false, "valid": False,
                               "organisation": None, "network": None})
            add("invalid_address", f"recipients/{index}", no_entry_data, address=item.address.strip())
            if field == "bcc":
                bcc_only.append(EXTERNAL)
            continue
        address, domain = normal
        shown_address, form = _display(address, book)
        entry = entries_get(address) or entries_get(domain)
        if item.type == "distributionList":
            lists.add(key)
            add("distribution_list", f"recipients/{index}", rdata_of(entry), address=shown_address)
        if domain in own_domains:
            category = OWN
        elif book is None:
            category = UNKNOWN
        elif entry is not None and entry.community:
            category = COMMUNITY
        elif entry is not None and entry.nta7516 and sender_nta:
            category = NTA
        else:
            category = EXTERNAL
        route, access_code, phone_input, stored = "direct", None, "none", None
        if category is NTA or category is EXTERNAL:
            target = f"recipients/{index}"
            raw_phone = typed_phones.get(address) if typed_phones else None
            typed = normalise_phone(raw_phone, region) if raw_phone is not None and index < RECIPIENT_LIMIT else None
            if typed is not None and typed[1] is not None:
                add(typed[1], target, rdata_of(entry), address=shown_address)     # invalid_phone / not_mobile
            stored = stored_phones.get(address) if stored_phones else None
            # A typed number past RECIPIENT_LIMIT is not parsed (V-R1 blocks such a draft anyway).
            has_phone = stored is not None or (typed[0] is not None if typed is not None else raw_phone is not None)
            if category is NTA:
                if installation is InstallationType.STANDARD:             # manual 4.5.1.4
                    route = "none"
                    add("nta_not_allowed", target, rdata_of(entry), address=shown_address)
                else:
                    route = "nta7516"
                    if sms_required:
                        phone_input = "optional"
                        if not has_phone:
                            add("nta_fallback_needs_phone", target, rdata_of(entry), address=shown_address)
            else:
                if sms_required:
                    route, access_code, phone_input = "viewer", "sms", "required"
                    if not has_phone:
                        add("phone_required", target, rdata_of(entry), address=shown_address)
                elif installation is InstallationType.VIEWER_SMS_OPTIONAL:
                    route, access_code, phone_input = "viewer", "sms" if has_phone else "email", "optional"
                    if not has_phone:
                        add("phone_advised", target, rdata_of(entry), address=shown_address)
                elif installation is InstallationType.VIEWER:
                    route, access_code = "viewer", "email"
                else:
                    route = "none"
                    add("external_not_allowed", target, rdata_of(entry), address=shown_address)
                intended = None
                if lookalike_cached(domain):
                    intended = book.lookalike_of(domain)
                elif probes < LOOKALIKE_PROBES:
                    probes += 1
                    intended = book.lookalike_of(domain)
                else:
                    not_checked += 1
                if intended is not None:
                    add("lookalike_domain", target, rdata_of(book.entries[intended]), address=shown_address,
                        intended=display_domain(intended)[0])
        elif category is UNKNOWN:
            route = "none"
        if entry is None:
            recipients.append({"address": address, "display_address": shown_address, "address_form": form,
                               "name": item.name, "field": field, "category": category,
                               "route": route, "access_code": access_code, "phone_input": phone_input,
                               "stored_phone": stored, "nta7516": shown_false, "valid": True,
                               "organisation": None, "network": None})
        else:
            recipients.append({"address": address, "display_address": shown_address, "address_form": form,
                               "name": item.name, "field": field, "category": category,
                               "route": route, "access_code": access_code, "phone_input": phone_input,
                               "stored_phone": stored, "nta7516": entry.nta7516 if sender_nta else None,
                               "valid": True,
                               "organisation": entry.organisation, "network": entry.network})
        if field == "bcc":
            bcc_only.append(category)

    if not_checked:                                                                  # item 9
        add("lookalike_check_incomplete", "recipients", {"not_checked": not_checked, "limit": LOOKALIKE_PROBES},
            count=not_checked)
    count = len(recipients)
    all_own = count > 0 and all(r["category"] == OWN for r in recipients)
    counts = {"recipients": count, "warning_above": RECIPIENT_WARNING, "limit": RECIPIENT_LIMIT}
    if count == 0:
        add("no_recipients", "recipients", counts)
    elif not to_addresses:
        add("to_required", "recipients", counts)                                       # V-R6
    if not all_own:                                                                  # V-R1
        if count > RECIPIENT_LIMIT:
            add("too_many_recipients", "recipients", counts, count=count, limit=RECIPIENT_LIMIT)
        elif count > RECIPIENT_WARNING:
            add("many_recipients", "recipients", counts, count=count)
    if bcc_only and to_addresses and book is not None:                               # V-R7
        inside = sum(1 for category in bcc_only if category in INSIDE)
        bcc_data = {"bcc_inside": inside, "bcc_outside": len(bcc_only) - inside, **book_data}
        if 0 < inside < len(bcc_only):
            add("bcc_mixed", "recipients", bcc_data)
        elif inside == 0 and (to_addresses != [sender_address] or draft.cc):
            add("bcc_outside_requires_to_sender", "recipients", bcc_data, address=sender_address)

    # ----- attachments (V-A1..V-A4) ---------------------------------------------------------
    blocked, list_version = blocked_extensions()
    items = []
    total = 0
    any_blocked = False
    for index, attachment in enumerate(draft.attachments):
        extension = attachment_extension(attachment.name)
        is_blocked = extension in blocked and not all_own
        total += attachment.size
        items.append({"name": attachment.name, "size": attachment.size, "extension": extension,
                      "inline": attachment.inline, "blocked": is_blocked})
        if is_blocked:
            any_blocked = True
            add("blocked_extension", f"attachments/{index}", {"list": list_version},
                name=attachment.name, extension=extension)
    too_large = total > ATTACHMENT_LIMIT and not all_own
    if too_large:
        add("attachments_too_large", "attachments", {"total_size": total, "limit": ATTACHMENT_LIMIT},
            size_mb=f"{total / 1048576:.1f}", limit_mb=ATTACHMENT_LIMIT // 1048576)
    attachments = {"count": len(items), "total_size": total, "limit": ATTACHMENT_LIMIT, "items": items,
                   "limits_apply": not all_own, "blocked_list": list_version}

    # ----- subject (V-M1, V-M2, X2) --------------------------------------------------------
    subject = draft.subject.strip()
    if not subject:
        add("empty_subject", "subject", {})
    tag = _LANGUAGE_TAG.search(draft.subject)
    notification_language = tag.group(1).lower() if tag else "nl"
    if tag:
        names = _texts()["_language_names"][language]
        add("notification_language", "subject", {"tag": tag.group(0)},
            language_name=names[notification_language])
    if subject and contains_bsn(subject):
        add("bsn_in_subject", "subject", {"check": "eleven-test"})

    # ----- outcome (V-O1, V-O2) --------------------------------------------------------------
    can_send_secure = not findings.blocking
    # V-O2: a warning that asks the user to look (X1, X2) stops auto-send.
    look = any(f["code"] in LOOK_WARNINGS for f in findings.items)
    auto_send = can_send_secure and not look and bool(subject) and count > 0 and (
        all_own or (all(r["category"] in INSIDE for r in recipients) and count <= RECIPIENT_WARNING
                    and total <= ATTACHMENT_LIMIT and not any_blocked))
    return {
        "can_send_secure": can_send_secure,
        "auto_send": auto_send,
        "standard_send_offered": book is None,
        "needs_confirmation": can_send_secure and not subject,
        "notification_language": notification_language,
        "installation_type": installation.value,
        "domain_book": domain_book,
        "sender": sender,
        "recipients": recipients,
        "attachments": attachments,
        "findings": findings.items,
    }


def on_send_decision(verdict: dict[str, Any], policy: TenantPolicy) -> dict[str, Any]:
    """V-O4: allow Outlook's own Send, or intercept it and show the pop-up."""
    recipients = verdict["recipients"]
    all_own = bool(recipients) and all(r["category"] == OWN and r["valid"] for r in recipients)
    if not policy.security_by_default:
        action, reasons = "allow", ["security_by_default_off"]
    elif all_own and not any(f["severity"] == "blocking" and f["code"] != "domain_book_unavailable"
                             for f in verdict["findings"]):
        # Mail that stays in the own organisation needs no secure route, book or no book.
        action, reasons = "allow", ["own_organisation_only"]
    elif verdict["auto_send"]:
        action, reasons = "allow", ["auto_send"]
    else:
        action = "intercept"
        reasons = sorted({f["code"] for f in verdict["findings"] if f["severity"] in ("blocking", "warning")}) \
            or ["secure_route_needed"]
    return {"action": action, "reasons": reasons, "verdict": verdict}
