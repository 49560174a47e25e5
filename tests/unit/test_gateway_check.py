"""Issue 10 item 6, S8, S9, X3: the reference gateway check, as a library and as a command."""
from __future__ import annotations

import base64
import copy
import email.header
import email.policy
import io
import json
import sqlite3
import subprocess
import sys
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sending_fixtures import (
    BCC_COMMUNITY,
    BCC_VIEWER,
    KEY,
    NEW_KEY,
    NOW,
    OTHER_DEPLOYMENT,
    RECIPIENTS,
    attach,
    message,
    signed,
    stamped,
)

from sendsecure.core.envelope import EnvelopeAttachment
from sendsecure.core.signing import VerificationKeys, jwks_document
from sendsecure.core.stamp import HEADER_ENVELOPE, HEADER_STAMP, STAMP_TTL, issue_stamp
from sendsecure.gateway.__main__ import main
from sendsecure.gateway.check import DeliveryPlan, Rejected, check_message, read_headers, size_tolerance
from sendsecure.gateway.delivered import DeliveredFile, DeliveredUnavailable, pair_key

KEYS = VerificationKeys.from_jwks(jwks_document([KEY]))
EVERYONE = [r.address for r in RECIPIENTS]


def check(raw: bytes, rcpts: list[str], record: Any, **kwargs: Any) -> DeliveryPlan:
    return check_message(raw, rcpts, keys=kwargs.pop("keys", KEYS), envelope_record=record,
                         now=kwargs.pop("now", NOW), **kwargs)


def rejected(raw: bytes, rcpts: list[str], record: Any, **kwargs: Any) -> str:
    with pytest.raises(Rejected) as caught:
        check(raw, rcpts, record, **kwargs)
    return caught.value.reason


def test_issue10_item6_plan_per_recipient_for_the_whole_set() -> None:
    env, _, raw = stamped()
    plan = check(raw, EVERYONE, env.to_dict())
    assert plan.complete and plan.envelope_id == env.envelope_id and plan.kid == KEY.kid
    actions = {step.address: step.action for step in plan.steps}
    assert actions["jan@huisarts-b.nl"] == "deliver directly (own organisation or community)"
    assert actions["piet@gmail.com"] == "Viewer: notification in English (en), access code by SMS"
    assert actions["klaas@kliniek-nta.nl"] == (
        "relay over the NTA 7516 route; if that fails, Viewer: notification in English (en), access code by e-mail")
    assert actions[BCC_VIEWER] == "Viewer: notification in English (en), access code by e-mail"
    assert actions[BCC_COMMUNITY].startswith("deliver directly")
    assert [s.field for s in plan.steps] == ["to", "to", "cc", "cc", "bcc", "bcc"]
    assert plan.to_dict()["stamp_expires_at"] == "2026-12-03T09:30:00Z"


def test_issue10_item6_rcpt_addresses_compare_case_insensitively_and_once() -> None:
    env, _, raw = stamped()
    plan = check(raw, [a.upper() for a in EVERYONE] + EVERYONE[:1], env.to_dict())
    assert plan.complete and len(plan.steps) == len(EVERYONE)


def test_issue10_item6_a_split_transaction_is_planned_but_marked_partial() -> None:
    env, _, raw = stamped()
    plan = check(raw, [BCC_VIEWER], env.to_dict())
    assert not plan.complete and [s.address for s in plan.steps] == [BCC_VIEWER]
    assert rejected(raw, [BCC_VIEWER], env.to_dict(), require_all=True) == "recipients_missing"


def test_issue10_item6_nta_route_without_fallback_bounces() -> None:
    nta = RECIPIENTS[2].__class__("klaas@kliniek-nta.nl", "to", "nta7516", "nta7516", None)
    env, _, raw = stamped(recipients=(nta,), language="de")
    step = check(raw, ["klaas@kliniek-nta.nl"], env.to_dict()).steps[0]
    assert step.action == "relay over the NTA 7516 route; if that fails, bounce (no Viewer fallback)"


def test_issue10_item6_stamp_in_rfc2047_encoded_words_is_read_too() -> None:
    env = signed()
    raw = message(env, issue_stamp(env, KEY, now=NOW), policy=email.policy.default).as_bytes()
    assert b"=?utf-8?q?" in raw
    assert check(raw, EVERYONE, env.to_dict()).complete


def test_s8_message_headers_never_name_a_bcc_recipient() -> None:
    _, _, raw = stamped()
    head = raw.split(b"\n\n")[0].decode().lower()
    assert BCC_VIEWER not in head and BCC_COMMUNITY not in head
    assert read_headers(raw).visible == {a for a in EVERYONE if a not in (BCC_VIEWER, BCC_COMMUNITY)}


# ----- tampering --------------------------------------------------------------------------------------

def test_issue10_item6_a_recipient_added_is_caught() -> None:
    env, _, raw = stamped()
    assert rejected(raw, EVERYONE + ["eve@evil.example"], env.to_dict()) == "recipient_not_stamped"
    assert rejected(raw, ["eve@evil.example"], env.to_dict()) == "recipient_not_stamped"
    assert rejected(raw, ["not an address"], env.to_dict()) == "recipient_not_stamped"


def test_issue10_item6_a_recipient_added_to_the_headers_is_caught() -> None:
    env, stamp, _ = stamped()
    mail = message(env, stamp)
    mail.replace_header("Cc", mail["Cc"] + ", eve@evil.example")
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == "header_recipients_mismatch"
    mail = message(env, stamp)
    mail["Bcc"] = "x@y.nl"  # a Bcc header does not count as To/Cc
    mail.replace_header("To", "jan@huisarts-b.nl")
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == "header_recipients_mismatch"


def test_s2_x3_to_and_cc_headers_must_match_the_envelope_field_by_field() -> None:
    # The envelope records each recipient's field (S2); the union used to be all that counted,
    # so moving a CC recipient into To (or the other way) passed.
    env, stamp, _ = stamped()
    moved = message(env, stamp)
    moved.replace_header("To", "jan@huisarts-b.nl, piet@gmail.com, klaas@kliniek-nta.nl")
    moved.replace_header("Cc", "collega@ziekenhuis-a.nl")
    assert rejected(moved.as_bytes(), EVERYONE, env.to_dict()) == "header_recipients_mismatch"
    demoted = message(env, stamp)
    demoted.replace_header("To", "jan@huisarts-b.nl")
    demoted.replace_header("Cc", "piet@gmail.com, klaas@kliniek-nta.nl, collega@ziekenhuis-a.nl")
    assert rejected(demoted.as_bytes(), EVERYONE, env.to_dict()) == "header_recipients_mismatch"
    # A draft that lists one address in To and in CC has it once in the envelope, at its first
    # place (To; core/rules.py): the message's Cc header may show it again.
    twice = message(env, stamp)
    twice.replace_header("Cc", twice["Cc"] + ", Jan <JAN@huisarts-b.nl>")
    assert check(twice.as_bytes(), EVERYONE, env.to_dict()).complete
    # ... but not the other way round: a CC recipient in To is a move.
    promoted = message(env, stamp)
    promoted.replace_header("To", promoted["To"] + ", collega@ziekenhuis-a.nl")
    assert rejected(promoted.as_bytes(), EVERYONE, env.to_dict()) == "header_recipients_mismatch"


@pytest.mark.parametrize("header,value", [
    ("To", "jan@huisarts-b.nl, :piet@gmail.com"),
    ("Cc", "klaas@kliniek-nta.nl, collega@[ziekenhuis-a.nl"),
    ("To", "(" * 3000 + "x" + ")" * 3000 + " jan@huisarts-b.nl"),
], ids=["address-cut-short", "unclosed-domain-literal", "comments-nested-too-deep"])
def test_x3_headers_the_standard_parser_chokes_on_are_refused_not_a_crash(header: str, value: str) -> None:
    # Python's header parser raises IndexError / AttributeError on these (found by fuzzing), and
    # RecursionError on comments nested deeper than its recursion limit.
    env, _, raw = stamped()
    lines = raw.split(b"\n")
    at = next(index for index, line in enumerate(lines) if line.startswith(header.encode() + b":"))
    lines[at] = f"{header}: {value}".encode()
    assert rejected(b"\n".join(lines), EVERYONE, env.to_dict()) == "message_unreadable"


@pytest.mark.parametrize("header,value,reason", [
    (HEADER_ENVELOPE, "0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a02", "envelope_header_mismatch"),
    ("From", "Directie <directie@ziekenhuis-a.nl>", "sender_mismatch"),
    ("From", "a@ziekenhuis-a.nl, afdeling@ziekenhuis-a.nl", "sender_mismatch"),
])
def test_issue10_item6_an_altered_header_is_caught(header: str, value: str, reason: str) -> None:
    env, stamp, _ = stamped()
    mail = message(env, stamp)
    mail.replace_header(header, value)
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == reason


def test_issue10_item6_an_altered_stamp_is_caught() -> None:
    env, stamp, _ = stamped()
    head, body, signature = stamp.split(".")
    flipped = body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    mail = message(env, stamp)
    mail.replace_header(HEADER_STAMP, f"{head}.{flipped}.{signature}")
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) in {"bad_signature", "malformed"}


@pytest.mark.parametrize("name", [HEADER_STAMP, HEADER_ENVELOPE])
def test_issue10_item6_missing_or_doubled_stamp_headers_are_caught(name: str) -> None:
    env, stamp, _ = stamped()
    mail = message(env, stamp)
    mail[name] = mail[name]
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == "multiple_stamps"
    del mail[name]
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == "no_stamp"


def test_issue10_item6_an_expired_stamp_is_caught() -> None:
    env, _, raw = stamped(now=NOW - STAMP_TTL - timedelta(minutes=6))
    assert rejected(raw, EVERYONE, env.to_dict()) == "expired"


def test_issue10_item6_a_key_of_another_deployment_is_caught() -> None:
    env, _, raw = stamped(OTHER_DEPLOYMENT)
    assert rejected(raw, EVERYONE, env.to_dict()) == "unknown_key"


def test_issue10_item6_an_altered_envelope_is_caught() -> None:
    env, _, raw = stamped()
    record = copy.deepcopy(env.to_dict())
    record["recipients"][1]["access_code"] = "email"
    assert rejected(raw, EVERYONE, record) == "envelope_signature"
    assert rejected(raw, EVERYONE, {**env.to_dict(), "envelope_version": 9, "signature": "x"}) == "envelope_signature"


def test_issue10_item6_the_envelope_of_another_message_is_caught() -> None:
    _, _, raw = stamped()
    other = signed(envelope_id="0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a02")
    assert rejected(raw, EVERYONE, other.to_dict()) == "envelope_mismatch"
    fewer = signed(recipients=RECIPIENTS[:-1])   # same id, a BCC recipient less: not the stamped set
    assert rejected(raw, EVERYONE[:-1], fewer.to_dict()) in {"envelope_mismatch", "recipient_digest"}
    assert rejected(raw, EVERYONE, signed(sender="directie@ziekenhuis-a.nl").to_dict()) == "envelope_mismatch"
    rerouted = (RECIPIENTS[0].__class__("jan@huisarts-b.nl", "to", "external", "viewer", "sms"), *RECIPIENTS[1:])
    assert rejected(raw, EVERYONE, signed(recipients=rerouted).to_dict()) == "envelope_mismatch"
    reseasoned = signed(salt="c2FsdHNhbHRzYWx0c2FsdHNhbHRzYWx0c2FsdHNhbHo")
    assert rejected(raw, EVERYONE, reseasoned.to_dict()) == "recipient_digest"


def test_s3_x3_the_stamp_and_the_envelope_must_be_signed_by_the_same_key() -> None:
    # A JWKS that holds two deployments' keys (or two keys of one): the back end signs an
    # envelope and its stamp in one request with the current key (sending.Sending.envelope_for),
    # so a stamp by the other key over this envelope's claims is not ours to deliver.
    env = signed(KEY)
    both = VerificationKeys.of([KEY, OTHER_DEPLOYMENT])
    mail = message(env, issue_stamp(env, OTHER_DEPLOYMENT, now=NOW)).as_bytes()
    assert rejected(mail, EVERYONE, env.to_dict(), keys=both) == "key_mismatch"
    assert check(message(env, issue_stamp(env, KEY, now=NOW)).as_bytes(), EVERYONE, env.to_dict(),
                 keys=both).kid == KEY.kid


# ----- content: the attachments (S2 records names and sizes) ------------------------------------------

def test_s2_x3_attachments_swapped_after_the_stamp_are_refused() -> None:
    # The review's replay: a stamp obtained for a harmless draft carried other files.
    env, stamp, _ = stamped()
    for files in (
        [("payload.exe", 2000), ("big.iso", 21 * 1024 * 1024)],                      # all new
        [("brief.pdf", 183211), ("foto.jpg", 5000), ("payload.exe", 2000)],          # one added
        [("brief.pdf", 2 * 1024 * 1024), ("foto.jpg", 5000)],                        # same name, other size
        [("brief.pdf", 183211), ("Foto.jpg", 5000)],                                 # names are exact
        [("brief.pdf", 183211), ("brief.pdf", 183211)],                              # a multiset, not a set
    ):
        with pytest.raises(Rejected) as caught:
            check(message(env, stamp, files=files).as_bytes(), EVERYONE, env.to_dict())
        assert caught.value.reason == "attachments_mismatch", files
        assert not any(name.lower() in str(caught.value).lower() for name, _ in files)  # no file name in it


def test_s2_x3_attachment_sizes_match_within_the_larger_of_4_kib_and_2_percent() -> None:
    # Outlook reports Exchange's attachment size (properties included: an 816-byte file was
    # reported as 1,053), not the decoded MIME part's; docs/sending.md "What the check compares".
    small, large = EnvelopeAttachment("brief.pdf", 183211), EnvelopeAttachment("scan.pdf", 10_000_000)
    env = signed(attachments=(small, large))
    stamp = issue_stamp(env, KEY, now=NOW)
    assert size_tolerance(183211) == 4096 and size_tolerance(10_000_000) == 200_000
    for brief, scan in ((183211 - 4096, 10_000_000 - 200_000), (183211 + 4096, 10_000_000 + 200_000)):
        plan = check(message(env, stamp, files=[("brief.pdf", brief), ("scan.pdf", scan)]).as_bytes(),
                     EVERYONE, env.to_dict())
        assert (plan.attachments, plan.attachments_absent) == (2, 0)
    for brief, scan in ((183211 - 4097, 10_000_000), (183211, 10_000_000 + 200_001)):
        assert rejected(message(env, stamp, files=[("brief.pdf", brief), ("scan.pdf", scan)]).as_bytes(),
                        EVERYONE, env.to_dict()) == "attachments_mismatch"
    # Two files of one name are paired so that both fit, whatever their order in the message.
    twins = signed(attachments=(EnvelopeAttachment("a.pdf", 10_000), EnvelopeAttachment("a.pdf", 50_000)))
    stamp = issue_stamp(twins, KEY, now=NOW)
    for files in ([("a.pdf", 13_000), ("a.pdf", 47_000)], [("a.pdf", 47_000), ("a.pdf", 13_000)]):
        assert check(message(twins, stamp, files=files).as_bytes(), EVERYONE, twins.to_dict()).attachments == 2
    assert rejected(message(twins, stamp, files=[("a.pdf", 13_000), ("a.pdf", 13_000)]).as_bytes(),
                    EVERYONE, twins.to_dict()) == "attachments_mismatch"


def handmade(env: Any, stamp: str, body: bytes, content_type: bytes = b'multipart/mixed; boundary="b"') -> bytes:
    """The message's own headers (as ``message`` writes them) over a MIME body written by hand."""
    head = message(env, stamp, files=[]).as_bytes().split(b"\n\n")[0].split(b"\n")
    kept = [line for line in head if not line.lower().startswith((b"content-", b"mime-version"))]
    return b"\n".join([*kept, b"MIME-Version: 1.0", b"Content-Type: " + content_type, b"", body])


def test_s2_x3_attachment_names_compare_after_rfc2231_and_rfc2047_decoding() -> None:
    names = ("verwijzing één.pdf", "röntgen.jpg")
    env = signed(attachments=tuple(EnvelopeAttachment(name, 3000) for name in names))
    stamp = issue_stamp(env, KEY, now=NOW)
    rfc2231 = message(env, stamp).as_bytes()
    assert b"filename*=utf-8''" in rfc2231
    assert check(rfc2231, EVERYONE, env.to_dict()).attachments == 2
    # Exchange writes non-ASCII names as RFC 2047 encoded words inside the quoted parameter.
    data = base64.b64encode(bytes(3000))
    parts = b"".join(
        b"--b\nContent-Type: application/octet-stream; name=\"%s\"\nContent-Disposition: attachment; "
        b"filename=\"%s\"; size=3000\nContent-Transfer-Encoding: base64\n\n%s\n"
        % ((email.header.Header(name, "utf-8").encode().encode(),) * 2 + (data,))
        for name in names)
    raw = handmade(env, stamp, b"--b\nContent-Type: text/plain\n\nZie bijlage.\n" + parts + b"--b--\n")
    assert b'filename="=?utf-8?b?' in raw
    assert check(raw, EVERYONE, env.to_dict()).attachments == 2


def test_s2_x3_inline_files_count_as_attachments_and_the_body_does_not() -> None:
    # The add-in sends every attachment Outlook lists, inline images included (addin/src/office.ts),
    # and the envelope records them all: an inline part with a name is an attachment here too.
    env = signed(attachments=(EnvelopeAttachment("image001.png", 6000), EnvelopeAttachment("brief.pdf", 183211)))
    stamp = issue_stamp(env, KEY, now=NOW)
    mail = message(env, stamp, files=[])
    mail.add_alternative("<p>Zie bijlage <img src='cid:image001@sendsecure.test'></p>", subtype="html")
    html = mail.get_payload()[1]
    attach(html, "image001.png", 6000, inline=True)
    attach(mail, "brief.pdf", 183211)
    assert check(mail.as_bytes(), EVERYONE, env.to_dict()).attachments == 2
    # An inline image that is not in the envelope is as foreign as any other file.
    attach(mail.get_payload()[0].get_payload()[1], "tracker.png", 100, inline=True)
    assert rejected(mail.as_bytes(), EVERYONE, env.to_dict()) == "attachments_mismatch"
    # A part without a name that is not text is an attachment too (named ""), so it cannot slip by.
    bare = message(env, stamp)
    bare.add_attachment(b"MZ" * 100, maintype="application", subtype="x-msdownload")
    assert rejected(bare.as_bytes(), EVERYONE, env.to_dict()) == "attachments_mismatch"


def test_s2_x3_an_attached_message_is_one_attachment_not_its_parts() -> None:
    inner = EmailMessage()
    inner["Subject"] = "Uitslag"
    inner.set_content("tekst")
    inner.add_attachment(b"MZ" * 100, maintype="application", subtype="octet-stream", filename="payload.exe")
    env = signed(attachments=(EnvelopeAttachment("Uitslag", len(inner.as_bytes())),))
    mail = message(env, issue_stamp(env, KEY, now=NOW), files=[])
    mail.add_attachment(inner)        # message/rfc822, no file name: Outlook names an item by its subject
    assert check(mail.as_bytes(), EVERYONE, env.to_dict()).attachments == 1


def test_s2_x3_an_envelope_attachment_the_message_lacks_is_reported_not_refused() -> None:
    # A cloud attachment (Outlook's "share as link") is in the envelope but travels as a link in
    # the body, not as a MIME part; delivering less than was stamped delivers nothing unstamped.
    env, stamp, _ = stamped()
    plan = check(message(env, stamp, files=[("brief.pdf", 183211)]).as_bytes(), EVERYONE, env.to_dict())
    assert (plan.attachments, plan.attachments_absent) == (1, 1)
    assert plan.to_dict()["attachments"] == {"in_message": 1, "absent": 1}


def test_x3_a_message_nested_too_deep_or_broken_is_refused_not_a_crash() -> None:
    env, stamp, _ = stamped()
    depth = 6000      # Python's email parser recurses once per level
    body = b"".join(b'--b%d\nContent-Type: multipart/mixed; boundary="b%d"\n\n' % (i, i + 1) for i in range(depth))
    body += b"--b%d\nContent-Type: text/plain\n\nhi\n" % depth
    body += b"".join(b"--b%d--\n" % i for i in reversed(range(depth + 1)))
    raw = handmade(env, stamp, body, b'multipart/mixed; boundary="b0"')
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"
    # A broken multipart (no boundary, or one never found): another parser may count the parts
    # otherwise, so what the check saw need not be what is delivered.
    part = b"Content-Type: application/octet-stream; name=payload.exe\n\nMZ\n"
    for content_type, body in ((b"multipart/mixed", b"--b\n" + part + b"--b--\n"),
                               (b'multipart/mixed; boundary="c"', b"--b\n" + part + b"--b--\n"),
                               (b'multipart/mixed; boundary="b"', b"--b\n" + part)):
        assert rejected(handmade(env, stamp, body, content_type), EVERYONE, env.to_dict()) == "message_unreadable"



# ----- MIME another reader may read otherwise (docs/sending.md "MIME the check refuses") --------------

BRIEF = base64.b64encode(bytes(3000))
BRIEF_PART = (b'--b\nContent-Type: application/pdf; name="brief.pdf"\nContent-Disposition: attachment; '
              b'filename="brief.pdf"\nContent-Transfer-Encoding: base64\n\n' + BRIEF + b"\n")
UUENCODED = b"begin 644 invoice.exe\nM35J0``,````$````__\\``+@`````````0```````````\n`\nend\n"


def with_brief(*parts: bytes, body: bytes = b"Zie bijlage.\n") -> tuple[Any, bytes]:
    """The envelope (``brief.pdf``, 3000 bytes) and a message carrying it: a text/plain body
    (``body``), ``parts`` (each from its headers on, without the boundary) and the file."""
    env = signed(attachments=(EnvelopeAttachment("brief.pdf", 3000),))
    stamp = issue_stamp(env, KEY, now=NOW)
    mime = b"--b\nContent-Type: text/plain\n\n" + body + b"".join(b"--b\n" + part for part in parts)
    return env, handmade(env, stamp, mime + BRIEF_PART + b"--b--\n")


def test_s2_x3_the_rules_below_pass_what_exchange_writes() -> None:
    # A second body (HTML), RFC 2047 in a quoted name with RFC 2231 in the filename, the
    # encodings Exchange uses (any case), a name in raw UTF-8 (RFC 6532), prose that starts with
    # "begin": none of it is refused.
    names = ("verwijzing één.pdf", "brief.pdf")
    env = signed(attachments=tuple(EnvelopeAttachment(name, 3000) for name in names))
    stamp = issue_stamp(env, KEY, now=NOW)
    encoded = email.header.Header(names[0], "utf-8").encode().encode()
    mime = (b"--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: Quoted-Printable\n\n"
            b"Zie bijlage.\nbegin volgende week, begin 12 mei\n"
            b"--b\nContent-Type: text/html\nContent-Transfer-Encoding: 7bit\n\n<p>Zie bijlage.</p>\n"
            b'--b\nContent-Type: application/pdf; name="' + encoded + b'"\nContent-Disposition: attachment; '
            b"filename*=utf-8''verwijzing%20%C3%A9%C3%A9n.pdf\nContent-Transfer-Encoding: BASE64\n\n" + BRIEF + b"\n"
            + BRIEF_PART + b"--b--\n")
    assert check(handmade(env, stamp, mime), EVERYONE, env.to_dict()).attachments == 2
    raw_utf8 = signed(attachments=(EnvelopeAttachment("één.pdf", 3000),))
    mime = BRIEF_PART.replace(b"brief.pdf", "één.pdf".encode()) + b"--b--\n"
    assert check(handmade(raw_utf8, issue_stamp(raw_utf8, KEY, now=NOW), mime), EVERYONE,
                 raw_utf8.to_dict()).attachments == 1


@pytest.mark.parametrize("part", [
    # Python reads the first Content-Type (text: the body); another reader the last (a program).
    b'Content-Type: text/plain\nContent-Type: application/x-msdownload; name="evil.exe"\n'
    b"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n",
    b'Content-Type: text/plain\nContent-Disposition: inline\nContent-Disposition: attachment; filename="evil.bat"\n'
    b"\n@echo off\n",
    b"Content-Type: application/pdf; name=\"brief.pdf\"\nContent-Transfer-Encoding: 7bit\n"
    b"Content-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n",
], ids=["content-type", "content-disposition", "content-transfer-encoding"])
def test_s2_x3_a_part_with_a_repeated_content_header_is_refused(part: bytes) -> None:
    env, raw = with_brief(part)
    with pytest.raises(Rejected) as caught:
        check(raw, EVERYONE, env.to_dict())
    assert caught.value.reason == "message_unreadable"
    assert "evil" not in str(caught.value) and "brief" not in str(caught.value)


def test_s2_x3_a_part_whose_name_and_filename_differ_is_refused() -> None:
    # Python takes the filename (the envelope's file); a client showing the name shows a program.
    env = signed(attachments=(EnvelopeAttachment("brief.pdf", 3000),))
    stamp = issue_stamp(env, KEY, now=NOW)
    part = (b'--b\nContent-Type: application/x-msdownload; name="evil.exe"\nContent-Disposition: attachment; '
            b'filename="brief.pdf"\nContent-Transfer-Encoding: base64\n\n' + BRIEF + b"\n")
    raw = handmade(env, stamp, b"--b\nContent-Type: text/plain\n\nhi\n" + part + b"--b--\n")
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"
    # The same name, encoded otherwise in each (RFC 2047, RFC 2231), is one name.
    assert check(handmade(env, stamp, b"--b\nContent-Type: text/plain\n\nhi\n" + part.replace(
        b'name="evil.exe"', b'name="=?utf-8?q?brief.pdf?="').replace(b'filename="brief.pdf"',
                                                                      b"filename*=utf-8''brief%2Epdf") + b"--b--\n"),
                 EVERYONE, env.to_dict()).attachments == 1


@pytest.mark.parametrize("encoding", [b"x-uuencode", b"uuencode", b"x-uue", b"binhex40", b"base64 (sic)", b""])
def test_s2_x3_a_transfer_encoding_outside_the_five_standard_ones_is_refused(encoding: bytes) -> None:
    # Python decodes x-uuencode and keeps other unknown encodings as they are, and counts a
    # text part in them as the body; a reader that decodes them may find a file.
    env, raw = with_brief(b"Content-Type: text/plain\nContent-Transfer-Encoding: " + encoding + b"\n\n" + UUENCODED)
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"


@pytest.mark.parametrize("content_type", [b"text/x-msdos-batch", b"text/calendar", b"text/x-sh; charset=utf-8"])
def test_s2_x3_a_nameless_text_part_other_than_plain_or_html_is_an_attachment(content_type: bytes) -> None:
    # Only text/plain and text/html are the body; a batch file without a name is a file.
    env, raw = with_brief(b"Content-Type: " + content_type + b"\nContent-Disposition: inline\n\n@echo off\nformat c:\n")
    assert rejected(raw, EVERYONE, env.to_dict()) == "attachments_mismatch"
    # A second text/plain or text/html part without a name is body text.
    env, raw = with_brief(b"Content-Type: text/html\n\n<p>hi</p>\n", b"Content-Type: text/plain\n\nmore\n")
    assert check(raw, EVERYONE, env.to_dict()).attachments == 1


@pytest.mark.parametrize("block", [
    UUENCODED,                                                            # uuencode (Outlook, Thunderbird)
    UUENCODED.replace(b"begin 644", b"begin 0755"),
    b"begin-base64 644 invoice.exe\nTVqQAAMAAAAEAAAA\n====\n",              # uuencode -m
    b"=ybegin line=128 size=12 name=invoice.exe\nabc\n=yend size=12\n",    # yEnc (Thunderbird)
    b"(This file must be converted with BinHex 4.0)\n:abc:\n",             # BinHex (Thunderbird)
], ids=["uuencode", "uuencode-4-digit-mode", "uuencode-base64", "yenc", "binhex"])
def test_s2_x3_a_file_encoded_in_the_body_text_is_refused(block: bytes) -> None:
    # Mail clients turn such a block in a text body into an attachment the check never saw.
    env, raw = with_brief(body=b"Zie bijlage.\n\n" + block)
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"
    # ... also when the body itself is base64 or quoted-printable.
    encoded = base64.encodebytes(b"Zie bijlage.\n" + block)
    env, raw = with_brief(b"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n" + encoded)
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"


@pytest.mark.parametrize("part", [
    # No ";" before the parameter: Python drops it (the body); a lenient reader reads evil.bat.
    b'Content-Type: text/plain\nContent-Disposition: inline filename="evil.bat"\n\n@echo off\n',
    # The same parameter twice, or plain and RFC 2231 (which many readers prefer): Python takes
    # the first.
    b"Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"brief.pdf\"; "
    b"filename*=utf-8''evil.exe\nContent-Transfer-Encoding: base64\n\n" + BRIEF + b"\n",
    b'Content-Type: application/pdf; name="brief.pdf"; name="evil.exe"\nContent-Transfer-Encoding: base64\n\n'
    + BRIEF + b"\n",
    # A type Python cannot read is text/plain to it (RFC 2045), the body; not to every reader.
    b"Content-Type: application x-msdownload\nContent-Transfer-Encoding: base64\n\nTVqQAAMAAAAEAAAA\n",
], ids=["missing-semicolon", "filename-and-filename*", "name-twice", "invalid-type"])
def test_s2_x3_a_content_header_python_reads_only_in_part_is_refused(part: bytes) -> None:
    env = signed(attachments=(EnvelopeAttachment("brief.pdf", 3000),))
    mime = b"--b\nContent-Type: text/plain\n\nhi\n--b\n" + part + b"--b--\n"     # the part alone: no brief.pdf
    raw = handmade(env, issue_stamp(env, KEY, now=NOW), mime)
    assert rejected(raw, EVERYONE, env.to_dict()) == "message_unreadable"


# ----- a second delivery (the delivered store) ----------------------------------------------------------

def test_x3_a_second_delivery_to_the_same_recipient_is_refused(tmp_path: Path) -> None:
    env, stamp, raw = stamped()
    store = DeliveredFile(tmp_path / "delivered.sqlite")
    assert check(raw, EVERYONE[:2], env.to_dict(), delivered=store).steps
    for rcpts in (EVERYONE[:2], EVERYONE[1:2], [EVERYONE[1].upper()], EVERYONE):
        with pytest.raises(Rejected) as caught:
            check(raw, rcpts, env.to_dict(), delivered=store)
        assert caught.value.reason == "already_delivered", rcpts
        assert "@" not in str(caught.value)
    # Exchange's split: the rest of the set in another transaction is still delivered, once.
    assert check(raw, EVERYONE[2:], env.to_dict(), delivered=store).steps
    assert rejected(raw, EVERYONE[2:], env.to_dict(), delivered=store) == "already_delivered"
    # Another subject or text under the same stamp is a second delivery too (S8: not bound).
    other = message(env, stamp)
    other.replace_header("Subject", "Iets anders")
    assert rejected(other.as_bytes(), EVERYONE[:1], env.to_dict(), delivered=store) == "already_delivered"
    # Without the store the check keeps no state (a library caller keeps its own).
    assert check(raw, EVERYONE, env.to_dict()).complete


def test_x3_a_refused_message_claims_nothing_and_a_release_allows_the_retry(tmp_path: Path) -> None:
    env, stamp, raw = stamped()
    store = DeliveredFile(tmp_path / "delivered.sqlite")
    swapped = message(env, stamp, files=[("payload.exe", 100)]).as_bytes()
    assert rejected(swapped, EVERYONE, env.to_dict(), delivered=store) == "attachments_mismatch"
    assert rejected(raw, EVERYONE + ["eve@evil.example"], env.to_dict(), delivered=store) == "recipient_not_stamped"
    check(raw, EVERYONE, env.to_dict(), delivered=store)        # nothing was claimed by those
    # The gateway could not deliver after all (a 4xx: Exchange will submit again): release.
    assert store.release(env.envelope_id, EVERYONE[:1]) == 1
    assert check(raw, EVERYONE[:1], env.to_dict(), delivered=store).steps
    assert rejected(raw, EVERYONE[1:2], env.to_dict(), delivered=store) == "already_delivered"


def test_x3_the_delivered_store_holds_no_address_and_forgets_pairs_past_the_stamp(tmp_path: Path) -> None:
    env, _, raw = stamped()
    path = tmp_path / "delivered.sqlite"
    check(raw, EVERYONE, env.to_dict(), delivered=DeliveredFile(path))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    stored = path.read_bytes()
    assert env.envelope_id.encode() not in stored
    assert not any(part.encode() in stored for address in EVERYONE for part in address.split("@"))
    rows = sqlite3.connect(path).execute("SELECT pair, keep_until FROM delivered").fetchall()
    assert sorted(pair for pair, _ in rows) == sorted(pair_key(env.envelope_id, a) for a in EVERYONE)
    expiry = int((NOW + STAMP_TTL).timestamp())
    assert {keep for _, keep in rows} == {expiry + 300}          # exp + the leeway: refused as expired after it
    later = DeliveredFile(path).claim("another", ["x@y.nl"], keep_until=expiry + 10**6, now=expiry + 301)
    assert later == []
    assert sqlite3.connect(path).execute("SELECT count(*) FROM delivered").fetchone() == (1,)


def test_x3_two_gateways_on_one_store_deliver_a_pair_once(tmp_path: Path) -> None:
    path = tmp_path / "delivered.sqlite"
    DeliveredFile(path).claim("warm-up", ["a@b.nl"], keep_until=10**10, now=0)
    outcomes: list[list[str]] = []

    def one() -> None:
        outcomes.append(DeliveredFile(path).claim("env", ["a@b.nl", "c@d.nl"], keep_until=10**10, now=0))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(len, outcomes)) == [0] + [2] * 7


def test_x3_a_delivered_store_that_cannot_be_used_defers(tmp_path: Path) -> None:
    env, _, raw = stamped()
    (tmp_path / "not-a-db").write_bytes(b"this is not SQLite" * 100)
    for path in (tmp_path / "not-a-db", tmp_path / "missing-dir" / "d.sqlite"):
        with pytest.raises(DeliveredUnavailable):
            check(raw, EVERYONE, env.to_dict(), delivered=DeliveredFile(path))


def test_s9_the_envelope_is_fetched_only_after_the_stamp_verified() -> None:
    env, _, raw = stamped(OTHER_DEPLOYMENT)
    fetched: list[str] = []
    with pytest.raises(Rejected):
        check(raw, EVERYONE, lambda envelope_id: fetched.append(envelope_id) or env.to_dict())
    assert fetched == []
    env, _, raw = stamped()
    check(raw, EVERYONE, lambda envelope_id: fetched.append(envelope_id) or env.to_dict())
    assert fetched == [env.envelope_id]


def test_s3_rotation_an_unknown_kid_refreshes_the_keys_once() -> None:
    env, _, raw = stamped(NEW_KEY)
    calls: list[int] = []

    def refresh() -> VerificationKeys:
        calls.append(1)
        return VerificationKeys.of([NEW_KEY, KEY])

    assert check(raw, EVERYONE, env.to_dict(), refresh_keys=refresh).kid == NEW_KEY.kid
    assert calls == [1]
    env, _, raw = stamped(OTHER_DEPLOYMENT)
    assert rejected(raw, EVERYONE, env.to_dict(), refresh_keys=refresh) == "unknown_key"


def test_issue10_item6_no_rcpt_is_refused() -> None:
    env, _, raw = stamped()
    assert rejected(raw, [], env.to_dict()) == "no_recipients"


# ----- the command ------------------------------------------------------------------------------------

def files(tmp_path: Path, *, key: Any = KEY, jwks_keys: tuple[Any, ...] = (KEY,),
          swap: list[tuple[str, int]] | None = None, **kwargs: Any) -> dict[str, str]:
    env, stamp, raw = stamped(key, **kwargs)
    if swap is not None:
        raw = message(env, stamp, files=swap).as_bytes()
    (tmp_path / "m.eml").write_bytes(raw)
    (tmp_path / "jwks.json").write_text(json.dumps(jwks_document(jwks_keys)))
    (tmp_path / "envelope.json").write_text(json.dumps(env.to_dict()))
    return {"message": str(tmp_path / "m.eml"), "jwks": str(tmp_path / "jwks.json"),
            "envelope": str(tmp_path / "envelope.json")}


def run(paths: dict[str, str], rcpts: list[str], *extra: str) -> list[str]:
    argv = ["verify", paths["message"], "--jwks", paths["jwks"], "--envelope", paths["envelope"], *extra]
    for address in rcpts:
        argv += ["--rcpt", address]
    return argv


def test_issue10_item6_command_prints_the_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    assert main(run(paths, EVERYONE)) == 0
    out = capsys.readouterr().out
    assert out.startswith("DELIVER envelope 0b7e6f0e-6a51-4c1e-9a3e-2f6d1c9b8a01")
    assert "  attachments: 2, each one of the envelope's\n" in out
    assert "piet@gmail.com" in out and "access code by SMS" in out
    assert main(run(paths, EVERYONE[:1], "--json")) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "deliver" and plan["complete"] is False and plan["recipients"][0]["route"] == "direct"
    assert plan["attachments"] == {"in_message": 2, "absent": 0}


@pytest.mark.parametrize("case,reason", [("added", "recipient_not_stamped"), ("expired", "expired"),
                                         ("other_deployment", "unknown_key"), ("swapped", "attachments_mismatch")])
def test_issue10_item6_command_rejects_with_exit_1_and_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, reason: str) -> None:
    now = NOW.now(NOW.tzinfo)
    if case == "expired":
        paths = files(tmp_path, now=now - STAMP_TTL - timedelta(hours=1))
    elif case == "other_deployment":
        paths = files(tmp_path, key=OTHER_DEPLOYMENT, now=now)
    elif case == "swapped":
        paths = files(tmp_path, now=now, swap=[("brief.pdf", 183211), ("payload.exe", 5000)])
    else:
        paths = files(tmp_path, now=now)
    rcpts = EVERYONE + (["eve@evil.example"] if case == "added" else [])
    assert main(run(paths, rcpts, "--json")) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == reason
    assert main(run(paths, rcpts)) == 1
    assert capsys.readouterr().out.startswith(f"REJECT {reason}: ")


def test_issue10_item6_command_defers_with_exit_3_without_keys_or_envelope(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    assert main(run({**paths, "jwks": str(tmp_path / "missing.json")}, EVERYONE)) == 3
    assert capsys.readouterr().out.startswith("DEFER unavailable: the JWKS file cannot be read")
    assert main(run({**paths, "envelope": "https://gateway.example/envelopes/x"}, EVERYONE)) == 3
    assert "--api" in capsys.readouterr().out
    (tmp_path / "empty.json").write_text(json.dumps({"keys": []}))
    assert main(run({**paths, "jwks": str(tmp_path / "empty.json")}, EVERYONE)) == 3
    assert main(run({**paths, "jwks": "http://gateway.example/keys"}, EVERYONE)) == 3  # not https


def test_issue10_item6_command_reads_stdin_and_refuses_an_envelope_that_is_not_json(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(paths["message"]).read_bytes())))
    assert main(run({**paths, "message": "-"}, EVERYONE)) == 0
    capsys.readouterr()
    for body in ("not json", "[1, 2]"):
        (tmp_path / "bad.json").write_text(body)
        assert main(run({**paths, "envelope": str(tmp_path / "bad.json")}, EVERYONE, "--json")) == 1
        assert json.loads(capsys.readouterr().out)["reason"] == "envelope_invalid"
    assert main(run({**paths, "jwks": str(tmp_path / "missing.json")}, EVERYONE, "--json")) == 3
    assert json.loads(capsys.readouterr().out)["verdict"] == "defer"


def test_x3_command_refuses_a_second_delivery_with_delivered_and_release_forgets_a_pair(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    store = str(tmp_path / "delivered.sqlite")
    assert main(run(paths, EVERYONE, "--delivered", store)) == 0
    assert capsys.readouterr().out.startswith("DELIVER")
    assert main(run(paths, EVERYONE[:1], "--delivered", store, "--json")) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "already_delivered"
    assert main(run(paths, EVERYONE[:1], "--delivered", store)) == 1
    assert capsys.readouterr().out.startswith("REJECT already_delivered: 1 of this transaction's 1 recipients")
    envelope_id = json.loads(Path(paths["envelope"]).read_text())["envelope_id"]
    assert main(["release", "--delivered", store, "--envelope-id", envelope_id, "--rcpt", EVERYONE[0].upper()]) == 0
    assert capsys.readouterr().out == f"RELEASED 1 of 1 pairs of envelope {envelope_id}\n"
    assert main(run(paths, EVERYONE[:1], "--delivered", store)) == 0
    capsys.readouterr()
    unusable = str(tmp_path / "no-such-dir" / "delivered.sqlite")
    assert main(run(paths, EVERYONE, "--delivered", unusable)) == 3
    assert capsys.readouterr().out.startswith("DEFER unavailable: the delivered store cannot be opened")
    assert main(["release", "--delivered", unusable, "--envelope-id", envelope_id, "--rcpt", EVERYONE[0]]) == 3
    with pytest.raises(SystemExit) as caught:
        main(["release", "--delivered", store, "--rcpt", EVERYONE[0]])
    assert caught.value.code == 2


def test_issue10_item6_command_usage_errors_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    monkeypatch.delenv("SENDSECURE_JWKS", raising=False)
    assert main(["verify", paths["message"], "--envelope", paths["envelope"], "--rcpt", "a@b.nl"]) == 2
    assert main(run({**paths, "message": str(tmp_path / "nope.eml")}, EVERYONE)) == 2
    with pytest.raises(SystemExit) as caught:
        main(["verify", paths["message"]])
    assert caught.value.code == 2


def test_issue10_item6_runs_as_python_dash_m(tmp_path: Path) -> None:
    paths = files(tmp_path, now=NOW.now(NOW.tzinfo))
    done = subprocess.run([sys.executable, "-m", "sendsecure.gateway", *run(paths, EVERYONE)],
                          capture_output=True, text=True, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("DELIVER")
