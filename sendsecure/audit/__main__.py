"""Verify, seal or purge a tenant's audit log (SPEC X7): ``python -m sendsecure.audit``.

    python -m sendsecure.audit verify --tenant T [--from 2026-12-01] [--to 2026-12-31] [--json]
    python -m sendsecure.audit seal [--tenant T]      # what the housekeeping timer does daily
    python -m sendsecure.audit purge [--tenant T]     # rows past AUDIT_RETENTION_DAYS (sealed days only)

``--from``/``--to`` are UTC days (inclusive; default: today). Runs with the deployment's settings
(storage, key store), like provisioning. Exit status of ``verify``: 0 intact, 1 a break was found
(the first is printed: partition, row key, reason), 2 bad arguments or configuration, 3 storage or
the key store unavailable. ``seal`` and ``purge`` exit 1 when a tenant's sealing was refused (its
checkpoint or last seal does not verify; the other tenants are still done).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, date, datetime, time

from sendsecure import runtime
from sendsecure.audit import AUDIT_VERIFIED
from sendsecure.audit.chain import FIRST_DAY, LAST_DAY, NO_TENANT, day_of, parse_day
from sendsecure.audit.trail import AuditTrail, SealRefused, daily_housekeeping
from sendsecure.core.clock import utcnow
from sendsecure.errors import ConfigurationError, DependencyUnavailable

INTACT, BROKEN, USAGE, UNAVAILABLE = 0, 1, 2, 3


def _day(text: str) -> str:
    try:
        day = day_of(datetime.combine(date.fromisoformat(text), time(), UTC))
    except ValueError:
        raise argparse.ArgumentTypeError("a date like 2026-12-01") from None
    if parse_day(day) is None:
        raise argparse.ArgumentTypeError(f"a date from {FIRST_DAY[:4]}-01-01 to {LAST_DAY[:4]}-12-30")
    return day


def _verify(args: argparse.Namespace) -> int:
    today = day_of(utcnow())
    first, last = args.first or today, args.last or args.first or today
    if first > last:
        print("--from must not be after --to", file=sys.stderr)
        return USAGE
    result = runtime.audit_trail().verify(args.tenant, first, last)
    runtime.audit_log().record(AUDIT_VERIFIED, tenant_id=None if args.tenant == NO_TENANT else args.tenant,
                               actor="operator", outcome="intact" if result.intact else "broken", rows=result.rows,
                               range_from=first, range_to=last,
                               first_break=result.first_break.reason if result.first_break else None)
    if args.json:
        print(json.dumps(result.as_dict()))
    elif result.first_break is None:
        print(f"intact: {result.rows} rows over {result.days} days")
    else:
        found = result.first_break
        print(f"BROKEN: {result.breaks} break(s) in {result.rows} rows over {result.days} days; the first: "
              f"{found.reason} at {found.partition} {found.row_key}")
    return INTACT if result.intact else BROKEN


def _tenants(args: argparse.Namespace) -> list[str]:
    if args.tenant:
        return [args.tenant]
    trail: AuditTrail = runtime.audit_trail()
    return trail.tenants(t.id for t in runtime.tenant_directory().all())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.audit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="find any changed, removed, inserted or reordered row")
    verify.add_argument("--tenant", required=True, help=f"the tenant's id ({NO_TENANT}: events without a tenant)")
    verify.add_argument("--from", dest="first", type=_day, help="first UTC day (default today)")
    verify.add_argument("--to", dest="last", type=_day, help="last UTC day, inclusive (default --from)")
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    for name, text in (("seal", "seal every finished day"), ("purge", "remove sealed days past retention")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--tenant", help="one tenant (default: all)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return USAGE if exit_.code else INTACT
    try:
        if args.command == "verify":
            return _verify(args)
        trail = runtime.audit_trail()
        if args.command == "seal":
            status = INTACT
            for tenant in _tenants(args):
                try:
                    print(f"{tenant}: sealed {len(trail.seal(tenant))} day(s)")
                except SealRefused as refused:
                    print(f"{tenant}: refused: {refused.reason} at {refused.row_key} (after sealing "
                          f"{len(refused.sealed)} day(s)); verify the tenant's log", file=sys.stderr)
                    status = BROKEN
            return status
        totals = daily_housekeeping(args.tenant)
        print(totals)
        return BROKEN if totals["refused"] else INTACT
    except ConfigurationError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return USAGE
    except DependencyUnavailable as error:
        print(f"unavailable: {error.detail}", file=sys.stderr)
        return UNAVAILABLE

if __name__ == "__main__":
    sys.exit(main())
