"""``python -m sendsecure.gateway verify MESSAGE.eml --rcpt a@x [--rcpt b@y ...]
(--api URL | --envelope FILE) [--jwks FILE_OR_URL] [--all] [--json] [--cache-dir DIR]
[--delivered FILE]``

Exit status: 0 deliver (the plan is printed), 1 reject (the reason is printed: reroute or refuse
the message), 2 wrong use, 3 try again later (no copy of the keys, the envelope cannot be had,
or the delivered store cannot be used).
``--delivered FILE`` (SQLite, made if missing): a deliver claims the (envelope, RCPT) pairs there,
and a pair claimed before is ``REJECT already_delivered``. ``python -m sendsecure.gateway release
--delivered FILE --envelope-id ID --rcpt a@x ...`` forgets pairs whose delivery failed after the
check (the gateway answered a temporary failure; Exchange submits again): exit 0, 2 wrong use,
3 the store cannot be used.
``--api`` is the deployment's API base (``https://<app>/api/v1``; http only on the loopback): the
envelope is fetched from ``GET <api>/gateway/envelopes/{id}`` with the gateway credential, read
from ``$SENDSECURE_GATEWAY_CREDENTIAL`` or the file named by ``--credential-file`` (never from the
command line, which other users of the machine can read), and ``--jwks`` defaults to
``<api>/gateway/keys`` (else ``$SENDSECURE_JWKS``). ``--envelope FILE`` checks against a saved record.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from sendsecure.gateway.check import DeliveryPlan, PlanStep, Rejected, check_message, normal_address
from sendsecure.gateway.delivered import DeliveredFile, DeliveredUnavailable
from sendsecure.gateway.fetch import CREDENTIAL_ENV, EnvelopeClient, EnvelopeUnavailable
from sendsecure.gateway.jwks import JwksSource, KeysUnavailable, is_url

DELIVER, REJECT, USAGE, DEFER = 0, 1, 2, 3
MAX_MESSAGE = 100 * 1024 * 1024


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sendsecure.gateway", allow_abbrev=False,
                                     description="Reference check of a message stamped by Send Secure.")
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="verify the stamp and print the delivery plan",
                                  allow_abbrev=False)  # --credential must not pass as --credential-file
    verify.add_argument("message", help="the message as received (RFC 5322), or - for standard input")
    verify.add_argument("--rcpt", action="append", required=True, metavar="ADDRESS",
                        help="an SMTP RCPT TO address of this transaction (repeat for each)")
    verify.add_argument("--jwks", default=os.environ.get("SENDSECURE_JWKS"),
                        help="the deployment's JWKS: a file, or the URL of GET /api/v1/gateway/keys")
    source = verify.add_mutually_exclusive_group(required=True)
    source.add_argument("--api", metavar="URL", help="the API base, e.g. https://<app>/api/v1: fetch the envelope")
    source.add_argument("--envelope", metavar="FILE", help="the envelope record (JSON), instead of --api")
    verify.add_argument("--credential-file", type=Path, metavar="FILE",
                        help="the gateway credential (default: $SENDSECURE_GATEWAY_CREDENTIAL)")
    verify.add_argument("--all", action="store_true", dest="require_all",
                        help="require the RCPT set to be the whole stamped set (no split transactions)")
    verify.add_argument("--json", action="store_true", help="print the plan or the rejection as JSON")
    verify.add_argument("--cache-dir", type=Path, help="where a fetched JWKS is cached")
    verify.add_argument("--delivered", type=Path, metavar="FILE",
                        help="refuse a second delivery: the (envelope, recipient) pairs delivered, a SQLite file")
    release = commands.add_parser("release", allow_abbrev=False,
                                  help="forget delivered pairs whose delivery failed after the check")
    release.add_argument("--delivered", type=Path, metavar="FILE", required=True, help="the SQLite file of verify")
    release.add_argument("--envelope-id", required=True, help="the X-SendSecure-Envelope of the message")
    release.add_argument("--rcpt", action="append", required=True, metavar="ADDRESS",
                         help="an RCPT TO address whose delivery did not happen (repeat for each)")
    return parser


def _print_plan(plan: DeliveryPlan, phones: dict[str, str] | None = None) -> None:
    expires = datetime.fromtimestamp(plan.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    print(f"DELIVER envelope {plan.envelope_id} (tenant {plan.tenant_id}, from {plan.sender}, "
          f"key {plan.kid}, stamp valid until {expires})")
    if not plan.complete:
        print("  this transaction holds part of the stamped recipients (Exchange may split a message)")
    print(f"  attachments: {plan.attachments}, each one of the envelope's"
          + (f"; {plan.attachments_absent} in the envelope not in the message (a cloud attachment goes as a link)"
             if plan.attachments_absent else ""))
    width = max(len(step.address) for step in plan.steps)
    for step in plan.steps:
        print(f"  {step.address:<{width}}  {step.field:<3}  {step.route:<7}  {step.action}"
              + (f"; {_phone_note(step, phones)}" if phones is not None and step.access_code == "sms" else ""))


def _phone_note(step: PlanStep, phones: dict[str, str]) -> str:
    number = phones.get(step.address)
    return f"phone on file {mask(number)}" if number else "no phone on file: the code cannot go by SMS"


def mask(number: str) -> str:
    """Only that a number is there: ``+31********78`` (never the number in a log or a plan)."""
    return number[:3] + "*" * max(0, len(number) - 5) + number[-2:] if len(number) > 5 else "*" * len(number)


def _load_envelope(location: str) -> dict[str, object]:
    if is_url(location):
        raise EnvelopeUnavailable("--envelope is a file; fetch from the deployment with --api URL")
    try:
        data = json.loads(Path(location).read_bytes())
    except OSError as exc:
        raise EnvelopeUnavailable(f"the envelope file cannot be read: {exc.strerror}") from None
    except ValueError:
        raise Rejected("envelope_invalid", "the envelope file is not JSON") from None
    if not isinstance(data, dict):
        raise Rejected("envelope_invalid", "the envelope is not a JSON object")
    return data


def _release(args: argparse.Namespace) -> int:
    try:
        count = DeliveredFile(args.delivered).release(args.envelope_id, [normal_address(a) for a in args.rcpt])
    except DeliveredUnavailable as exc:
        print(f"DEFER unavailable: {exc}")
        return DEFER
    print(f"RELEASED {count} of {len(args.rcpt)} pairs of envelope {args.envelope_id}")
    return DELIVER


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "release":
        return _release(args)
    client = None
    if args.api:
        try:
            client = EnvelopeClient(args.api, _credential(args.credential_file))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return USAGE
        args.jwks = args.jwks or client.keys_url
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
            envelope_record=client.record if client is not None else lambda envelope_id: _load_envelope(args.envelope),
            now=datetime.now(UTC), require_all=args.require_all,
            delivered=DeliveredFile(args.delivered) if args.delivered is not None else None,
        )
    except Rejected as exc:
        if args.json:
            print(json.dumps({"verdict": "reject", "reason": exc.reason, "detail": str(exc)}))
        else:
            print(f"REJECT {exc.reason}: {exc}")
        return REJECT
    except (KeysUnavailable, EnvelopeUnavailable, DeliveredUnavailable) as exc:
        if args.json:
            print(json.dumps({"verdict": "defer", "reason": "unavailable", "detail": str(exc)}))
        else:
            print(f"DEFER unavailable: {exc}")
        return DEFER
    phones = client.phones if client is not None else None
    if args.json:
        document = plan.to_dict()
        if phones is not None:
            for item in document["recipients"]:  # type: ignore[attr-defined]
                if item["access_code"] == "sms":
                    item["phone"] = "present" if item["address"] in phones else "missing"
        print(json.dumps(document, indent=2))
    else:
        _print_plan(plan, phones)
    return DELIVER


def _credential(path: Path | None) -> str:
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"the credential file cannot be read: {exc.strerror}") from None
    else:
        text = os.environ.get(CREDENTIAL_ENV, "").strip()
    if not text:
        raise ValueError(f"--api needs the gateway credential: set {CREDENTIAL_ENV} or give --credential-file")
    return text


if __name__ == "__main__":
    sys.exit(main())
