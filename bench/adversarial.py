"""The worst drafts a client can send, against a 50,000-entry book (issue 7 item 9).

    python bench/adversarial.py [--entries 50000] [--runs 7]

One request may cost at most a few ms of CPU whatever it holds. Each draft below sits at the
parse limits of ``sendsecure/core/drafts.py`` and aims at one costly path of the engine:

- ``lookalike_flood``: every recipient at a different new domain one edit from a book domain
  (the X1 probe; before issue 7 each cost 0.3-0.6 ms, 1,000 of them 0.4-0.65 s);
- ``idn_flood``: as many different internationalised domains as the parser lets through, each
  one edit (an accent or a Cyrillic look-alike letter) from a book domain (IDNA encoding,
  decoding, comparison form, display form, probe), the rest as in ``lookalike_flood``;
- ``phone_flood``: every recipient external with a typed phone, and the maximum of phones
  (each number is a phonenumbers parse);
- ``long_strings``: every string at its limit: addresses and names, a subject of digits and
  separators (the BSN scan), the maximum of attachments with the longest names;
- ``everything``: all of the above at once, within the limits.

A run is cold: every cache of the worker (normal forms, look-alike answers, phone parses,
display forms) is emptied first, so each draft pays its full price. A run measures what a
request costs in the engine: ``json.loads`` of the body, ``parse_draft``, ``evaluate`` and
``json.dumps`` of the verdict (not HTTP), in CPU time of the process (``time.process_time``), as
the machine is shared. Figures are medians over --runs; "again" is the same draft validated
once more right after (the add-in re-validates; the look-alike check goes on where it stopped).
Writes bench/results/adversarial.json.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate_book import generate  # noqa: E402

from sendsecure.core import addresses, drafts, phones, rules  # noqa: E402
from sendsecure.core.booksources import load_variant  # noqa: E402
from sendsecure.core.domainbook import BookEntry, DomainBook  # noqa: E402
from sendsecure.core.models import as_data, encode  # noqa: E402
from sendsecure.core.rules import TenantPolicy, evaluate  # noqa: E402
from sendsecure.core.tenants import InstallationType  # noqa: E402

OWN = "ziekenhuis-a.example"
SEPARATORS = " .-\u00a0\u202f\u2013"


def clear_all_caches(book: DomainBook) -> None:
    for cached in (rules._normalised, rules.attachment_extension, addresses.normalise_domain,
                   addresses.unicode_domain, addresses.comparison_form, addresses.display_domain,
                   phones.normalise_phone):
        cached.cache_clear()
    rules._MESSAGES.clear()
    book._lookalike_answers.clear()


def one_edit(rnd: random.Random, domain: str, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> str:
    name, _, tld = domain.rpartition(".")
    position = rnd.randrange(len(name))
    return f"{name[:position]}{rnd.choice(alphabet)}{name[position + 1:]}.{tld}"


def near_domains(rnd: random.Random, book: DomainBook, count: int, alphabet: str) -> list[str]:
    domains = [key for key in book.entries if "@" not in key and "xn--" not in key]
    found: list[str] = []
    seen: set[str] = set()
    while len(found) < count:
        candidate = one_edit(rnd, rnd.choice(domains), alphabet)
        if candidate not in seen and addresses.normalise_domain(candidate) not in book.entries:
            seen.add(candidate)
            found.append(candidate)
    return found


def recipients(addresses_: list[str], name: str = "") -> list[dict]:
    return [{"address": a, "name": name, "type": "externalUser"} for a in addresses_]


def split(items: list[dict]) -> dict:
    third = len(items) // 3
    return {"to": items[:third], "cc": items[third:2 * third], "bcc": items[2 * third:]}


def drafts_for(book: DomainBook, seed: int = 1) -> dict[str, dict]:
    rnd = random.Random(seed)
    limit = drafts.MAX_RECIPIENTS
    idn_limit = drafts.MAX_IDN_DOMAINS
    plain = near_domains(rnd, book, limit, "abcdefghijklmnopqrstuvwxyz")
    idn = near_domains(rnd, book, idn_limit, "äëïöüéèáàç\u0430\u043e\u0435")   # accents and Cyrillic look-alikes
    digits = "".join(rnd.choice("0123456789") + (rnd.choice(SEPARATORS) if rnd.random() < 0.5 else "")
                     for _ in range(drafts.MAX_SUBJECT))[:drafts.MAX_SUBJECT]
    long_local = "x" * 64
    long_domain = ".".join(["a" * 60] * 4)[: drafts.MAX_ADDRESS - 65]
    long_addresses = [f"{long_local[:-4]}{n:04d}@{long_domain}" for n in range(limit)]
    attachments = [{"name": ("b" * (drafts.MAX_ATTACHMENT_NAME - 8)) + f"{n:04d}.pdf", "size": 1000, "inline": False}
                   for n in range(drafts.MAX_ATTACHMENTS)]
    phone_addresses = [f"p{n}@{d}" for n, d in enumerate(plain)]
    phone_numbers = {a: f"+316{20000000 + n}" for n, a in enumerate(phone_addresses)}
    idn_addresses = [f"i{n}@{d}" for n, d in enumerate(idn)]
    name = "N" * drafts.MAX_NAME
    return {
        "lookalike_flood": {**split(recipients([f"r{n}@{d}" for n, d in enumerate(plain)])), "subject": "Verwijzing"},
        "idn_flood": {**split(recipients(idn_addresses
                                         + [f"r{n}@{d}" for n, d in enumerate(plain)][: limit - idn_limit])),
                      "subject": "Verwijzing"},
        "phone_flood": {**split(recipients(phone_addresses)), "subject": "Verwijzing",
                        "phones": dict(list(phone_numbers.items())[: drafts.MAX_PHONES])},
        "long_strings": {**split(recipients(long_addresses, name)), "subject": digits, "attachments": attachments},
        "everything": {**split(recipients(idn_addresses + phone_addresses[: limit - idn_limit], name)),
                       "subject": digits, "attachments": attachments,
                       "phones": dict(list(phone_numbers.items())[: drafts.MAX_PHONES])},
    }


def request_cost(body: bytes, book: DomainBook, policy: TenantPolicy) -> tuple[float, dict]:
    """CPU seconds of this process for one request's engine work (the machine is shared: wall
    time would count other processes' turns too)."""
    started = time.process_time()
    draft = drafts.parse_draft(json.loads(body))
    verdict = evaluate(draft, policy=policy, session_mailbox=f"an@{OWN}", book=book, stored_phones={},
                       language="nl")
    encode(verdict)
    return time.process_time() - started, as_data(verdict)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="book-"))
    loaded = load_variant("zorgmail", generate(args.entries, folder))
    loaded.entries.setdefault(OWN, BookEntry(OWN, "Ziekenhuis A", "zorgmail", True, True))
    book = DomainBook.build("zorgmail", loaded.version, datetime.now(UTC), dict(loaded.entries))
    policy = TenantPolicy(InstallationType.VIEWER_SMS_REQUIRED, frozenset({OWN}), True)
    figures: dict = {"benchmark": "adversarial", "entries": len(book.entries), "runs": args.runs,
                     "limits": {"recipients": drafts.MAX_RECIPIENTS, "idn_domains": drafts.MAX_IDN_DOMAINS,
                                "address": drafts.MAX_ADDRESS, "name": drafts.MAX_NAME,
                                "subject": drafts.MAX_SUBJECT, "attachments": drafts.MAX_ATTACHMENTS,
                                "attachment_name": drafts.MAX_ATTACHMENT_NAME, "phones": drafts.MAX_PHONES,
                                "lookalike_probes": rules.LOOKALIKE_PROBES},
                     "drafts": {}}
    for label, draft in drafts_for(book).items():
        body = json.dumps(draft).encode()
        cold, again = [], []
        verdict: dict = {}
        for _ in range(args.runs):
            clear_all_caches(book)
            seconds, verdict = request_cost(body, book, policy)
            cold.append(seconds)
            seconds, _ = request_cost(body, book, policy)   # the same draft again: the add-in re-validates,
            again.append(seconds)                            # and the look-alike check goes on where it stopped
        codes: dict[str, int] = {}
        for finding in verdict["findings"]:
            codes[finding["code"]] = codes.get(finding["code"], 0) + 1
        figures["drafts"][label] = {
            "request_bytes": len(body),
            "recipients": len(verdict["recipients"]),
            "cpu_ms_median_cold": round(statistics.median(cold) * 1000, 2),
            "cpu_ms_max_cold": round(max(cold) * 1000, 2),
            "cpu_ms_median_again": round(statistics.median(again) * 1000, 2),
            "lookalike_warnings": codes.get("lookalike_domain", 0),
            "lookalike_check_incomplete": codes.get("lookalike_check_incomplete", 0),
        }
    worst = max(figures["drafts"].items(), key=lambda item: item[1]["cpu_ms_median_cold"])
    figures["worst"] = {"draft": worst[0], "cpu_ms_median_cold": worst[1]["cpu_ms_median_cold"]}
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results" / "adversarial.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
