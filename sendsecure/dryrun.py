"""Policy dry-run for an operator (SPEC X5): ``python -m sendsecure.dryrun``.

    python -m sendsecure.dryrun --tenant T DRAFTS... [--types viewer,standard] [--sender M] [--json] [--details]
    python -m sendsecure.dryrun --tenant T --tenants tenants/demo.json --book domainbook/variants.json DRAFTS...

Before a tenant switches installation type (T1; its parameter file, docs/deployment.md), shows
how each type would route and block a set of past drafts (``sendsecure/core/dryrun.py``).
DRAFTS are files or folders (searched for these files): ``.eml`` (a sent message: Outlook's
"Save as", an export of Sent Items), ``.json`` (one draft as API.md "Drafts" has it, a list of
them, or ``{"drafts": [...]}``) and ``.jsonl`` (a draft per line). A draft without a From gets
``--sender``; one that cannot be read or is past the API's bounds is skipped and listed.

By default the tenant definition and the domain book are the deployment's (its settings, like
provisioning and the audit CLI: the book every worker validates with). With ``--tenants`` and
``--book`` both are read from files instead (a tenant definition file as provisioning reads it,
a book definition as ``DOMAIN_BOOK_SOURCES`` names it, file sources only), so the dry-run needs
no deployment at all. Nothing is written anywhere; stored phone numbers are not read.

Drafts are named ``draft 1``, ``draft 2``.. in the order read (files sorted by path), skipped
inputs ``input 1``..; ``--names`` names them by file (``file``, ``file:line``, ``file[index]``)
instead: Outlook names a saved message after its subject.

Exit status: 0 the report, 2 bad arguments, an unknown tenant or no draft to read, 3 storage
unavailable or no domain book for the tenant's variant (sync first).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sendsecure.core.dryrun import TYPES, DryRunReport, NamedDraft, draft_from_eml, dry_run
from sendsecure.core.mimeparts import UnreadableMessage
from sendsecure.core.tenants import InstallationType, Tenant
from sendsecure.errors import ConfigurationError, DependencyUnavailable, InvalidBody

OK, USAGE, UNAVAILABLE = 0, 2, 3
SUFFIXES = (".eml", ".json", ".jsonl")


def _types(text: str) -> list[InstallationType]:
    try:
        return [InstallationType(name.strip()) for name in text.split(",") if name.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("installation types: " + ", ".join(t.value for t in TYPES)) from None


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
        else:
            yield path


def _raw_drafts(path: Path) -> Iterator[tuple[str, Any]]:
    """(name, the draft as a JSON value; None for a line that is not JSON) of each draft in the file."""
    suffix = path.suffix.lower()
    if suffix == ".eml":
        yield str(path), draft_from_eml(path.read_bytes())
    elif suffix == ".jsonl":
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    yield f"{path}:{number}", json.loads(line)
                except ValueError:
                    yield f"{path}:{number}", None      # one bad line: that draft is skipped
    elif suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and isinstance(data.get("drafts"), list):
            data = data["drafts"]
        if isinstance(data, list):
            for index, item in enumerate(data):
                yield f"{path}[{index}]", item
        else:
            yield str(path), data
    else:
        raise ValueError(f"not a draft file (one of {', '.join(SUFFIXES)})")


def read_drafts(paths: list[Path], sender: str | None) -> tuple[list[NamedDraft], list[tuple[str, str]]]:
    """The drafts in ``paths`` and the ones skipped, with why (no address or subject in the why)."""
    from sendsecure.core.drafts import parse_draft

    drafts: list[NamedDraft] = []
    skipped: list[tuple[str, str]] = []
    for path in _files(paths):
        try:
            for name, raw in _raw_drafts(path):
                if not isinstance(raw, dict):
                    skipped.append((name, "not JSON" if raw is None else "not a JSON object"))
                    continue
                if sender and not raw.get("from"):
                    raw = {**raw, "from": sender}
                try:
                    draft = parse_draft(raw)
                except InvalidBody as error:   # a field name may hold an address (phones.<address>)
                    fields = ", ".join(sorted({str(item.get("field")).split(".")[0]
                                               for item in error.errors or []})) or "the draft"
                    skipped.append((name, f"past the API's bounds or malformed: {fields}"))
                    continue
                if not draft.sender:
                    skipped.append((name, "no From (give --sender)"))
                    continue
                drafts.append(NamedDraft(name, draft))
        except (OSError, ValueError, UnicodeDecodeError, UnreadableMessage) as error:   # json errors: ValueErrors
            skipped.append((str(path), f"unreadable: {type(error).__name__}"))
    return drafts, skipped


def _tenant_and_book(args: argparse.Namespace) -> tuple[Tenant, Any]:
    if args.tenants or args.book:
        if not (args.tenants and args.book):
            raise ConfigurationError("--tenants and --book go together (or neither: the deployment's)")
        from sendsecure.core.booksources import load_variant
        from sendsecure.core.clock import utcnow
        from sendsecure.core.domainbook import DomainBook
        from sendsecure.core.tenants import load_tenant_files

        tenant = next((t for t in load_tenant_files([args.tenants]) if t.id == args.tenant), None)
        if tenant is None:
            raise ConfigurationError(f"tenant {args.tenant!r} is not in {args.tenants}")
        loaded = load_variant(tenant.domain_book_variant.value, args.book)
        return tenant, DomainBook.build(loaded.variant, loaded.version, utcnow(), loaded.entries)
    from sendsecure import runtime

    found = runtime.tenant_directory().get(args.tenant)
    if found is None:
        raise ConfigurationError(f"tenant {args.tenant!r} is not onboarded")
    return found, runtime.books().current(found.domain_book_variant.value)


def _table(report: DryRunReport, tenant: Tenant, skipped: list[tuple[str, str]]) -> str:
    lines = [f"Policy dry-run for tenant {tenant.id}: {report.drafts} draft(s), {len(skipped)} skipped; "
             f"now {report.current}, security by default {'on' if report.security_by_default else 'off'}; "
             f"domain book {report.domain_book.get('variant')} {report.domain_book.get('version')}", ""]
    lines.append(f"{'installation type':<28}{'secure':>8}{'blocked':>9}{'Send allowed':>14}"
                 f"{'newly blocked':>15}{'newly secure':>14}")
    for name, item in report.types.items():
        marker = " (now)" if name == report.current else ""
        lines.append(f"{name + marker:<28}{item.secure:>8}{item.blocked:>9}{item.on_send['allow']:>14}"
                     f"{len(item.newly_blocked):>15}{len(item.newly_secure):>14}")
    for name, item in report.types.items():
        lines += ["", f"{name}:"]
        routes = ", ".join(f"{route} {count}" for route, count in sorted(item.routes.items())) or "none"
        codes = ", ".join(f"{code} {count}" for code, count in sorted(item.access_codes.items())) or "none"
        lines.append(f"  recipients by route: {routes}; access codes: {codes}")
        if item.blocking:
            lines.append("  blocked by (drafts): " + ", ".join(f"{c} {n}" for c, n in item.blocking.most_common()))
        if item.warnings:
            lines.append("  warnings (drafts): " + ", ".join(f"{c} {n}" for c, n in item.warnings.most_common()))
        for label, names in (("newly blocked", item.newly_blocked), ("newly secure", item.newly_secure)):
            if names:
                lines.append(f"  {label}: " + ", ".join(names[:20]) + (f" and {len(names) - 20} more"
                                                                       if len(names) > 20 else ""))
    for name, why in skipped:
        lines.append(f"skipped {name}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.dryrun", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenant", required=True, help="the tenant's id")
    parser.add_argument("drafts", nargs="+", type=Path, help=".eml, .json or .jsonl files, or folders of them")
    parser.add_argument("--types", type=_types, default=list(TYPES), help="comma-separated; default: all four")
    parser.add_argument("--sender", help="the From of drafts that have none")
    parser.add_argument("--tenants", help="a tenant definition file, instead of the deployment's tenants")
    parser.add_argument("--book", help="a domain book definition (file sources), instead of the deployment's book")
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.add_argument("--details", action="store_true", help="with --json: each draft's outcome per type")
    parser.add_argument("--names", action="store_true",
                        help="name drafts by their files (which often carry the subject) instead of by number")
    args = parser.parse_args(argv)
    try:
        tenant, book = _tenant_and_book(args)
    except ConfigurationError as error:
        print(f"dry-run: {error}", file=sys.stderr)
        return USAGE
    except DependencyUnavailable as error:
        print(f"dry-run: {error} (no domain book for the tenant's variant: run the sync first, "
              "or storage is unavailable)", file=sys.stderr)
        return UNAVAILABLE
    drafts, skipped = read_drafts(args.drafts, args.sender)
    if not args.names:   # Outlook names a saved message after its subject: numbers unless asked
        drafts = [NamedDraft(f"draft {number}", item.draft) for number, item in enumerate(drafts, start=1)]
        skipped = [(f"input {number}", why) for number, (_, why) in enumerate(skipped, start=1)]
    if not drafts:
        print("dry-run: no draft could be read" + "".join(f"\n  {n}: {why}" for n, why in skipped), file=sys.stderr)
        return USAGE
    report = dry_run(drafts, own_domains=tenant.mail_domains, security_by_default=tenant.security_by_default,
                     current=tenant.installation_type, book=book, types=args.types)
    if args.json:
        data = {"tenant": tenant.id, **report.as_dict(details=args.details),
                "skipped": [{"name": name, "reason": why} for name, why in skipped]}
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print(_table(report, tenant, skipped))
    return OK


if __name__ == "__main__":
    sys.exit(main())
