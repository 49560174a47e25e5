"""``python -m sendsecure.gateway verify MESSAGE.eml --rcpt a@x [--rcpt b@y ...]
[--jwks FILE_OR_URL] [--envelope FILE] [--all] [--json] [--cache-dir DIR]``

Exit status: 0 deliver (the plan is printed), 1 reject (the reason is printed: reroute or refuse
the message), 2 wrong use, 3 try again later (no copy of the keys, or the envelope cannot be had).
``--jwks`` defaults to ``$SENDSECURE_JWKS``. The envelope comes from a file for now (the gateway
endpoint with its own credential is the next step).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sendsecure.gateway.check import DeliveryPlan, Rejected, check_message
from sendsecure.gateway.jwks import JwksSource, KeysUnavailable, is_url

DELIVER, REJECT, USAGE, DEFER = 0, 1, 2, 3
MAX_MESSAGE = 100 * 1024 * 1024


class EnvelopeUnavailable(Exception):
    """The envelope cannot be had now: defer the message."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.gateway",
                                     description="Reference check of a message stamped by Send Secure.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify the stamp and print the delivery plan")
    verify.add_argument("message", help="the message as received (RFC 5322), or - for standard input")
    verify.add_argument("--rcpt", action="append", required=True, metavar="ADDRESS",
                        help="an SMTP RCPT TO address of this transaction (repeat for each)")
    verify.add_argument("--jwks", default=os.environ.get("SENDSECURE_JWKS"),
                        help="the deployment's JWKS: a file, or the URL of GET /api/v1/gateway/keys")
    verify.add_argument("--envelope", required=True, metavar="FILE", help="the envelope record (JSON)")
    verify.add_argument("--all", action="store_true", dest="require_all",
                        help="require the RCPT set to be the whole stamped set (no split transactions)")
    verify.add_argument("--json", action="store_true", help="print the plan or the rejection as JSON")
    verify.add_argument("--cache-dir", type=Path, help="where a fetched JWKS is cached")
    return parser


def _print_plan(plan: DeliveryPlan) -> None:
    expires = datetime.fromtimestamp(plan.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    print(f"DELIVER envelope {plan.envelope_id} (tenant {plan.tenant_id}, from {plan.sender}, "
          f"key {plan.kid}, stamp valid until {expires})")
    if not plan.complete:
        print("  this transaction holds part of the stamped recipients (Exchange may split a message)")
    width = max(len(step.address) for step in plan.steps)
    for step in plan.steps:
        print(f"  {step.address:<{width}}  {step.field:<3}  {step.route:<7}  {step.action}")


def _load_envelope(location: str) -> dict[str, object]:
    if is_url(location):
        raise EnvelopeUnavailable("fetching the envelope by URL needs the gateway credential (not built yet): "
                              "pass the envelope as a file")
    try:
        data = json.loads(Path(location).read_bytes())
    except OSError as exc:
        raise EnvelopeUnavailable(f"the envelope file cannot be read: {exc.strerror}") from None
    except ValueError:
        raise Rejected("envelope_invalid", "the envelope file is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected("envelope_invalid", "the envelope is not a JSON object")
    return data


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not args.jwks:
        print("error: give --jwks FILE_OR_URL or set SENDSECURE_JWKS", file=sys.stderr)
        return USAGE
    try:
        if args.message == "-":
            message = sys.stdin.buffer.read(MAX_MESSAGE)
        else:
            message = Path(args.message).read_bytes()
    except OSError as exc:
        print(f"error: the message cannot be read: {exc.strerror}", file=sys.stderr)
        return USAGE
    try:
        source = JwksSource(args.jwks, cache_dir=args.cache_dir)
        plan = check_message(
            message, args.rcpt, keys=source.keys(), refresh_keys=source.refresh,
            envelope_record=lambda envelope_id: _load_envelope(args.envelope),
            now=datetime.now(UTC), require_all=args.require_all,
        )
    except Rejected as exc:
        if args.json:
            print(json.dumps({"verdict": "reject", "reason": exc.reason, "detail": str(exc)}))
        else:
            print(f"REJECT {exc.reason}: {exc}")
        return REJECT
    except (KeysUnavailable, EnvelopeUnavailable) as exc:
        if args.json:
            print(json.dumps({"verdict": "defer", "reason": "unavailable", "detail": str(exc)}))
        else:
            print(f"DEFER unavailable: {exc}")
        return DEFER
    if args.json:
        print(json.dumps(plan.to_dict(), indent=2))
    else:
        _print_plan(plan)
    return DELIVER


if __name__ == "__main__":
    sys.exit(main())
