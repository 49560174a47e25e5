"""Benchmark signing and verifying one envelope and one send stamp (issue 10 "Measure"; S3, X3).

    python bench/signing.py [--runs 7] [--iterations 2000]

Each figure is the median over --runs runs of the mean time per call over --iterations calls,
in microseconds, for an envelope of 10 recipients (the issue's draft size: 4 To, 3 CC, 3 BCC over
all routes) and of 100 recipients:
- canonical form (RFC 8785) of the record;
- sign the envelope (canonical form + Ed25519, detached JWS); verify it from the record
  (canonical form + signature + reading the record back strictly);
- issue the stamp (recipient digest HMAC + claims + Ed25519 JWS); verify it (JWS + claims);
- the whole gateway check of a stamped message (parse headers, stamp, envelope, RCPT set, plan);
- for reference: one raw Ed25519 signature and verification (cryptography), and the key pair
  from a seed (once per worker in the service: the key store caches the seed).
Writes bench/results/signing.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cryptography  # noqa: E402
import jwt  # noqa: E402

from sendsecure.core.envelope import (  # noqa: E402
    EnvelopeAttachment,
    EnvelopeRecipient,
    Fallback,
    build_envelope,
    canonical_form,
    new_envelope_id,
    new_recipient_salt,
    sign_envelope,
    verify_envelope,
)
from sendsecure.core.signing import VerificationKeys, jwks_document, signing_key_from_seed  # noqa: E402
from sendsecure.core.stamp import issue_stamp, stamp_headers, verify_stamp  # noqa: E402
from sendsecure.gateway.check import check_message  # noqa: E402

NOW = datetime.now(UTC)
KEY = signing_key_from_seed(bytes(range(32)))
KEYS = VerificationKeys.from_jwks(jwks_document([KEY, signing_key_from_seed(bytes(range(1, 33)))]))
KINDS = (
    ("community", "direct", None, None), ("external", "viewer", "sms", None),
    ("nta7516", "nta7516", None, Fallback("email")), ("own_organisation", "direct", None, None),
    ("external", "viewer", "email", None),
)


def recipients(count: int) -> tuple[EnvelopeRecipient, ...]:
    fields = ["to"] * (count * 4 // 10) + ["cc"] * (count * 3 // 10)
    fields += ["bcc"] * (count - len(fields))
    rows = []
    for index, field in enumerate(fields):
        category, route, code, fallback = KINDS[index % len(KINDS)]
        rows.append(EnvelopeRecipient(f"recipient{index}@domain{index % 7}.example", field,  # type: ignore[arg-type]
                                      category, route, code, fallback))  # type: ignore[arg-type]
    return tuple(rows)


def envelope(count: int):  # type: ignore[no-untyped-def]
    return build_envelope(
        envelope_id=new_envelope_id(), message_id="AAMkAGI2TG93AAA=", created_at=NOW,
        tenant_id="7d5a3c1e-0000-4000-8000-000000000001", sender="afdeling@ziekenhuis-a.example",
        sent_by="jan.jansen@ziekenhuis-a.example", recipients=recipients(count),
        attachments=(EnvelopeAttachment("brief.pdf", 183211), EnvelopeAttachment("foto.jpg", 5000)),
        notification_language="nl", installation_type="viewer_sms_optional",
        domain_book_version="zorgmail-2026-12-01T06:00:00Z", policy_version="rules-2026.12/viewer_sms_optional",
        recipient_salt=new_recipient_salt(),
    )


def message(env, stamp: str) -> bytes:  # type: ignore[no-untyped-def]
    head = [f"From: {env.sender}",
            "To: " + ", ".join(r.address for r in env.recipients if r.field == "to"),
            "Cc: " + ", ".join(r.address for r in env.recipients if r.field == "cc"),
            "Subject: Verwijzing"]
    head += [f"{name}: {value}" for name, value in stamp_headers(env, stamp).items()]
    return ("\r\n".join(head) + "\r\n\r\nZie bijlage.\r\n").encode()


def median_us(call: Callable[[], object], runs: int, iterations: int) -> tuple[float, list[float]]:
    call()
    means = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        for _ in range(iterations):
            call()
        means.append((time.perf_counter_ns() - started) / iterations / 1000)
    return round(statistics.median(means), 1), [round(m, 1) for m in means]


def measure(count: int, runs: int, iterations: int) -> dict[str, object]:
    env = envelope(count)
    signed = sign_envelope(env, KEY)
    record = json.loads(json.dumps(signed.to_dict()))
    stamp = issue_stamp(signed, KEY, now=NOW)
    raw = message(signed, stamp)
    rcpts = [r.address for r in signed.recipients]
    calls: dict[str, Callable[[], object]] = {
        "canonical_form": lambda: canonical_form(record),
        "envelope_sign": lambda: sign_envelope(env, KEY),
        "envelope_verify": lambda: verify_envelope(record, KEYS),
        "stamp_issue": lambda: issue_stamp(signed, KEY, now=NOW),
        "stamp_verify": lambda: verify_stamp(stamp, KEYS, now=NOW),
        "gateway_check": lambda: check_message(raw, rcpts, keys=KEYS, envelope_record=record, now=NOW),
    }
    figures: dict[str, object] = {"recipients": count, "canonical_form_bytes": len(canonical_form(record)),
                                  "stamp_chars": len(stamp)}
    for name, call in calls.items():
        figures[f"{name}_us_median"], figures[f"{name}_us_runs"] = median_us(call, runs, iterations)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args()
    payload = b"x" * 600
    signature = KEY.private_key.sign(payload)
    reference = {
        "ed25519_sign_us_median": median_us(lambda: KEY.private_key.sign(payload), args.runs, args.iterations)[0],
        "ed25519_verify_us_median": median_us(lambda: KEY.public_key.verify(signature, payload), args.runs,
                                              args.iterations)[0],
        "key_from_seed_us_median": median_us(lambda: signing_key_from_seed(bytes(range(32))), args.runs,
                                             args.iterations)[0],
    }
    figures = {
        "benchmark": "signing",
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(), "cryptography": cryptography.__version__, "pyjwt": jwt.__version__,
        "runs": args.runs, "iterations": args.iterations,
        "envelope_10": measure(10, args.runs, args.iterations),
        "envelope_100": measure(100, args.runs, max(args.iterations // 5, 1)),
        "reference": reference,
    }
    print(json.dumps(figures, indent=2))
    out = ROOT / "bench" / "results" / "signing.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
