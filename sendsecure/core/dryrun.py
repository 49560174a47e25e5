"""Policy dry-run (SPEC X5): how each installation type would route and block a set of past drafts.

Pure: drafts, the tenant's own domains and security-by-default, and a domain book snapshot in; a
report out. Every draft is validated by the engine itself (``rules.evaluate``, the same call send
and on-send make) once per installation type, with the draft's From as the sending mailbox.

What the report holds, per installation type: how many drafts could be sent securely and how many
would be blocked, by which blocking finding (counted once per draft); the warnings likewise; what
Outlook's Send would do (V-O4: allow or intercept); how many recipients go each route and with
which access code; and the drafts whose outcome differs from the tenant's current type (newly
blocked, newly sendable), by the name they were given (the command numbers them unless asked for
file names). It names no address and no subject.

Stored phone numbers are not read (they are each user's own, SPEC P): a recipient that needs a
number counts as having one only when the draft itself lists it (``phones``), so the dry-run's
``phone_required`` under ``viewer_sms_required`` is an upper bound.

``draft_from_eml`` turns a sent message (an ``.eml`` file, as Outlook or an export of Sent Items
writes it) into a draft: From, To, Cc, Bcc, Subject and each attachment's name and size, the
attachments read as the gateway check reads them (``core/mimeparts.py``).
"""
from __future__ import annotations

import email
import email.policy
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sendsecure.core.domainbook import DomainBook
from sendsecure.core.drafts import Draft
from sendsecure.core.mimeparts import PARSER_ERRORS, UnreadableMessage, read_attachments
from sendsecure.core.rules import TenantPolicy, evaluate, on_send_decision
from sendsecure.core.tenants import InstallationType

TYPES: tuple[InstallationType, ...] = tuple(InstallationType)
LANGUAGE = "nl"   # findings are counted by code; their words do not matter here


@dataclass(frozen=True, slots=True)
class NamedDraft:
    name: str     # where it came from: a file, ``file:line``, ``file[index]``
    draft: Draft


@dataclass(slots=True)
class DraftOutcome:
    secure: bool
    on_send: str                      # allow | intercept (V-O4)
    blocking: tuple[str, ...]         # blocking finding codes, sorted, each once


@dataclass(slots=True)
class TypeReport:
    installation_type: str
    secure: int = 0
    blocked: int = 0
    on_send: Counter[str] = field(default_factory=Counter)
    blocking: Counter[str] = field(default_factory=Counter)       # code -> drafts
    warnings: Counter[str] = field(default_factory=Counter)       # code -> drafts
    routes: Counter[str] = field(default_factory=Counter)         # route -> recipients
    access_codes: Counter[str] = field(default_factory=Counter)   # sms | email -> recipients
    newly_blocked: list[str] = field(default_factory=list)        # draft names, vs the current type
    newly_secure: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "installation_type": self.installation_type, "secure": self.secure, "blocked": self.blocked,
            "on_send": dict(sorted(self.on_send.items())), "blocking": dict(sorted(self.blocking.items())),
            "warnings": dict(sorted(self.warnings.items())), "routes": dict(sorted(self.routes.items())),
            "access_codes": dict(sorted(self.access_codes.items())),
            "newly_blocked": list(self.newly_blocked), "newly_secure": list(self.newly_secure),
        }


@dataclass(slots=True)
class DryRunReport:
    current: str
    security_by_default: bool
    drafts: int
    domain_book: dict[str, Any]
    types: dict[str, TypeReport]
    details: dict[str, dict[str, DraftOutcome]]   # draft name -> type -> outcome

    def as_dict(self, details: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "current": self.current, "security_by_default": self.security_by_default, "drafts": self.drafts,
            "domain_book": dict(self.domain_book),
            "types": {name: report.as_dict() for name, report in self.types.items()},
        }
        if details:
            data["details"] = {name: {kind: {"secure": outcome.secure, "on_send": outcome.on_send,
                                             "blocking": list(outcome.blocking)}
                                      for kind, outcome in outcomes.items()}
                               for name, outcomes in self.details.items()}
        return data


def dry_run(drafts: Sequence[NamedDraft], *, own_domains: Iterable[str], security_by_default: bool,
            current: InstallationType, book: DomainBook | None,
            types: Sequence[InstallationType] = TYPES, now: datetime | None = None) -> DryRunReport:
    """Validate every draft under every installation type in ``types`` (and the ``current`` one,
    which the changes are measured against); see the module's docstring."""
    domains = frozenset(own_domains)
    kinds = list(dict.fromkeys([*types, current]))
    reports = {kind.value: TypeReport(kind.value) for kind in kinds}
    details: dict[str, dict[str, DraftOutcome]] = {}
    book_data: dict[str, Any] = {"available": book is not None}
    for named in drafts:
        sender = named.draft.sender or ""
        outcomes: dict[str, DraftOutcome] = {}
        for kind in kinds:
            policy = TenantPolicy(kind, domains, security_by_default)
            verdict = evaluate(named.draft, policy=policy, session_mailbox=sender, book=book, stored_phones={},
                               language=LANGUAGE, now=now)
            book_data.update(variant=verdict.domain_book.variant, version=verdict.domain_book.version)
            decision = on_send_decision(verdict, policy)
            blocking = tuple(sorted({f.code for f in verdict.findings if f.severity == "blocking"}))
            report = reports[kind.value]
            report.secure += verdict.can_send_secure
            report.blocked += not verdict.can_send_secure
            report.on_send[decision.action] += 1
            report.blocking.update(blocking)
            report.warnings.update({f.code for f in verdict.findings if f.severity == "warning"})
            for recipient in verdict.recipients:
                report.routes[recipient.route] += 1
                if recipient.access_code is not None:
                    report.access_codes[recipient.access_code] += 1
            outcomes[kind.value] = DraftOutcome(verdict.can_send_secure, decision.action, blocking)
        details[named.name] = outcomes
        now_secure = outcomes[current.value].secure
        for kind in kinds:
            secure = outcomes[kind.value].secure
            if secure != now_secure:
                (reports[kind.value].newly_secure if secure else reports[kind.value].newly_blocked).append(named.name)
    shown = {kind.value: reports[kind.value] for kind in kinds if kind in types or kind == current}
    return DryRunReport(current.value, security_by_default, len(drafts), book_data, shown, details)


# ----- a sent message as a draft -----------------------------------------------------------------

def _addresses(message: EmailMessage, header: str) -> list[dict[str, str]]:
    found = []
    for value in message.get_all(header, []):
        for address in getattr(value, "addresses", ()):   # a group ("undisclosed-recipients:;") has none
            if address.addr_spec and address.addr_spec != "<>":
                found.append({"address": address.addr_spec, "name": address.display_name or ""})
    return found


def draft_from_eml(data: bytes) -> dict[str, Any]:
    """The draft (API.md "Drafts", as a JSON object) of a message in RFC 5322 form: From, To, Cc,
    Bcc (an export of Sent Items keeps it), the decoded Subject, and the attachments as the
    gateway check reads them (``mimeparts.read_attachments``: a part with a file name, a nameless
    part that is not the body, an attached message as one file named by its Subject), each with
    its decoded size (``inline`` when its disposition says so). ``UnreadableMessage`` (naming
    nothing of the message) when a header is one Python's parser fails on
    (``mimeparts.PARSER_ERRORS``: ``To: "a@b.example" <`` raises IndexError), or the MIME is
    what the gateway refuses as ``message_unreadable``."""
    try:
        return _draft_from_eml(data)
    except (RecursionError, *PARSER_ERRORS):
        raise UnreadableMessage("a header of the message cannot be read") from None


def _draft_from_eml(data: bytes) -> dict[str, Any]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    senders = _addresses(message, "From")
    attachments = [{"name": item.name, "size": item.size, "inline": item.inline}
                   for item in read_attachments(message)]
    return {
        **({"from": senders[0]["address"]} if senders else {}),
        "to": _addresses(message, "To"), "cc": _addresses(message, "Cc"), "bcc": _addresses(message, "Bcc"),
        "subject": str(message.get("Subject") or ""),
        "attachments": attachments,
    }
