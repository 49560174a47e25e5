"""Policy dry-run (SPEC X5): how each installation type would route and block a set of past drafts.

The dry-run is the engine itself (``rules.evaluate`` per draft and type), tallied; these tests
check the tally against the rules it reports on (V-R3 routes and access codes per type, V-O4's
Send decision) and that the report names no address or subject.
"""
from __future__ import annotations

import json

import pytest
from helpers import RULES_BOOK, RULES_NOW

from sendsecure.core.drafts import parse_draft
from sendsecure.core.dryrun import TYPES, NamedDraft, draft_from_eml, dry_run
from sendsecure.core.mimeparts import UnreadableMessage, read_attachments
from sendsecure.core.rules import TenantPolicy, evaluate
from sendsecure.core.tenants import InstallationType

OWN = ("ziekenhuis-a.example",)
SENDER = "jan@ziekenhuis-a.example"
EXTERNAL = "p.pieters@gmail.example"
COMMUNITY = "arts@huisarts-b.example"
NTA = "balie@nta-ziekenhuis-d.example"


def named(name: str, **draft) -> NamedDraft:
    return NamedDraft(name, parse_draft({"from": SENDER, "subject": "Overleg", "attachments": [], **draft}))


def run(drafts, current=InstallationType.VIEWER_SMS_OPTIONAL, types=TYPES, security_by_default=True):
    return dry_run(drafts, own_domains=OWN, security_by_default=security_by_default, current=current,
                   book=RULES_BOOK, types=types, now=RULES_NOW)


def test_x5_v_r3_each_type_routes_and_blocks_an_external_recipient_as_its_rule_says():
    report = run([named("extern.eml", to=[EXTERNAL, COMMUNITY])])
    required, optional, viewer, standard = (report.types[t.value] for t in TYPES)
    # viewer_sms_required: a number is needed and none is given: blocked
    assert (required.secure, required.blocked) == (0, 1) and required.blocking == {"phone_required": 1}
    assert required.routes == {"direct": 1, "viewer": 1} and required.access_codes == {"sms": 1}
    # viewer_sms_optional: sendable with an e-mail code, a warning advising a number
    assert (optional.secure, optional.blocked) == (1, 0) and optional.warnings["phone_advised"] == 1
    assert optional.access_codes == {"email": 1}
    # viewer: e-mail code, no advice
    assert viewer.secure == 1 and "phone_advised" not in viewer.warnings and viewer.access_codes == {"email": 1}
    # standard: external recipients cannot be reached
    assert standard.blocking == {"external_not_allowed": 1} and standard.routes == {"direct": 1, "none": 1}
    # measured against the current type (optional): newly blocked under required and standard
    assert required.newly_blocked == ["extern.eml"] and standard.newly_blocked == ["extern.eml"]
    assert viewer.newly_blocked == [] and optional.newly_blocked == optional.newly_secure == []


def test_x5_a_number_typed_in_the_draft_counts_under_viewer_sms_required():
    report = run([named("with-phone", to=[EXTERNAL], phones={EXTERNAL: "06 12345678"})],
                 current=InstallationType.VIEWER_SMS_REQUIRED)
    assert report.types["viewer_sms_required"].secure == 1
    assert report.types["viewer_sms_required"].access_codes == {"sms": 1}


def test_x5_newly_secure_when_the_current_type_blocks_what_another_allows():
    report = run([named("a", to=[EXTERNAL]), named("b", to=[COMMUNITY])], current=InstallationType.STANDARD)
    assert report.types["viewer"].newly_secure == ["a"] and report.types["viewer"].newly_blocked == []
    assert report.types["standard"].secure == 1 and report.types["standard"].blocked == 1


@pytest.mark.parametrize("kind", TYPES, ids=lambda t: t.value)
def test_x5_the_tally_is_the_engines_own_verdicts(kind):
    drafts = [named("1", to=[EXTERNAL]), named("2", to=[COMMUNITY], bcc=[EXTERNAL]),
              named("3", to=[NTA], cc=[COMMUNITY]), named("4", to=[f"p{i}@huisarts-b.example" for i in range(101)]),
              named("5", to=["colleague@ziekenhuis-a.example"], subject="")]
    report = run(drafts, types=[kind])
    policy = TenantPolicy(kind, frozenset(OWN), True)
    verdicts = [evaluate(d.draft, policy=policy, session_mailbox=SENDER, book=RULES_BOOK, stored_phones={},
                         language="nl", now=RULES_NOW) for d in drafts]
    tally = report.types[kind.value]
    assert tally.secure == sum(v.can_send_secure for v in verdicts)
    assert tally.blocked == len(drafts) - tally.secure
    assert sum(tally.routes.values()) == sum(len(v.recipients) for v in verdicts)
    assert sum(tally.on_send.values()) == len(drafts)
    blocking_codes = {f.code for v in verdicts for f in v.findings if f.severity == "blocking"}
    assert set(tally.blocking) == blocking_codes
    assert report.details["4"][kind.value].blocking == tuple(sorted(
        {f.code for f in verdicts[3].findings if f.severity == "blocking"}))
    assert "too_many_recipients" in report.details["4"][kind.value].blocking   # V-R1


def test_x5_v_o4_send_is_allowed_or_intercepted_per_security_by_default():
    drafts = [named("community", to=[COMMUNITY])]
    assert run(drafts, security_by_default=True).types["viewer"].on_send == {"allow": 1}       # auto-send
    assert run([named("extern", to=[EXTERNAL])], security_by_default=True).types["viewer"].on_send == {
        "intercept": 1}
    assert run([named("extern", to=[EXTERNAL])], security_by_default=False).types["viewer"].on_send == {
        "allow": 1}


def test_x5_the_report_names_no_address_and_no_subject():
    drafts = [named("case-17", to=[EXTERNAL, COMMUNITY], cc=[NTA], subject="Uitslag van mevrouw Visser")]
    text = json.dumps(run(drafts).as_dict(details=True))
    for secret in (EXTERNAL, COMMUNITY, NTA, SENDER, "gmail.example", "huisarts-b", "Visser", "Uitslag"):
        assert secret not in text
    assert "case-17" in text   # drafts are named as the operator named them


def test_x5_only_the_asked_types_and_the_current_one_are_reported():
    report = run([named("a", to=[COMMUNITY])], types=[InstallationType.STANDARD],
                 current=InstallationType.VIEWER)
    assert list(report.types) == ["standard", "viewer"]


EML = b"""From: Jan Jansen <jan@ziekenhuis-a.example>
To: "Dr. Pieters" <arts@huisarts-b.example>, p.pieters@gmail.example
Cc: undisclosed-recipients:;
Bcc: =?utf-8?q?J=C3=B6rg?= <joerg@voorbeeld.example>
Subject: =?utf-8?q?Verwijzing_pati=C3=ABnt?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: multipart/related; boundary="b2"

--b2
Content-Type: text/html; charset=utf-8

<p>Zie bijlage.</p>
--b2
Content-Type: image/png; name="logo.png"
Content-Disposition: inline; filename="logo.png"
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--b2--
--b1
Content-Type: application/pdf
Content-Disposition: attachment; filename*=utf-8''verslag%20%C3%A9%C3%A9n.pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCg==
--b1--
"""


def test_x5_a_sent_message_becomes_the_draft_it_was():
    draft = draft_from_eml(EML)
    assert draft["from"] == "jan@ziekenhuis-a.example"
    assert draft["to"] == [{"address": "arts@huisarts-b.example", "name": "Dr. Pieters"},
                           {"address": "p.pieters@gmail.example", "name": ""}]
    assert draft["cc"] == []                                            # a group without members
    assert draft["bcc"] == [{"address": "joerg@voorbeeld.example", "name": "J\u00f6rg"}]
    assert draft["subject"] == "Verwijzing pati\u00ebnt"
    assert draft["attachments"] == [{"name": "logo.png", "size": 8, "inline": True},
                                    {"name": "verslag \u00e9\u00e9n.pdf", "size": 19, "inline": False}]
    parsed = parse_draft(draft)                                         # within the API's bounds
    assert [r.field for r in parsed.recipients] == ["to", "to", "bcc"]


@pytest.mark.parametrize("header", [b'To: "piet@gmail.example" <', b"To: piet@[gmail.example",
                                    b"To: " + b"(" * 3000 + b"x" + b")" * 3000 + b" piet@gmail.example"],
                         ids=["address-cut-short", "unclosed-domain-literal", "comments-nested-too-deep"])
def test_x5_a_header_the_parser_fails_on_is_unreadable_naming_nothing_of_it(header):
    # Python's parser raises IndexError, AttributeError, RecursionError on these.
    data = b"From: Jan <jan@ziekenhuis-a.example>\n" + header + b"\nSubject: Uitslag Visser\n\nTekst.\n"
    with pytest.raises(UnreadableMessage) as caught:
        draft_from_eml(data)
    assert not any(word in str(caught.value) for word in ("piet", "gmail", "Visser", "jan"))


# ----- the attachments of a sent message: read as the gateway reads them (core/mimeparts.py) -----

FORWARDED = b"""From: Jan <jan@ziekenhuis-a.example>
To: p.pieters@gmail.example
Subject: Doorgestuurd
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/plain

zie bijlage
--b1
Content-Type: message/rfc822

From: x@elders.example
To: y@elders.example
Subject: Oud bericht
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b2"

--b2
Content-Type: text/plain

hi
--b2
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="tool.exe"
Content-Transfer-Encoding: base64

TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAAAAAAA
--b2--
--b1
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCg==
--b1--
"""


def test_x5_an_attached_message_is_one_attachment_not_its_files():
    # An attached message (Outlook: an attached item) is one file named by its subject, as the
    # gateway counts it; its inner tool.exe is not the draft's, so nothing is blocked_extension.
    draft = draft_from_eml(FORWARDED)
    [item, pdf] = draft["attachments"]
    assert item["name"] == "Oud bericht" and item["inline"] is False and item["size"] > 48
    assert "tool.exe" not in json.dumps(draft)
    report = run([NamedDraft("fwd.eml", parse_draft(draft))])
    assert all("blocked_extension" not in outcome.blocking for outcome in report.details["fwd.eml"].values())
    # With a blocked extension in the message itself, it is blocked (external recipient).
    exe = FORWARDED.replace(b"Content-Type: application/pdf\n", b"Content-Type: application/pdf\n"
                            b'Content-Disposition: attachment; filename="tool.exe"\n')
    report = run([NamedDraft("exe.eml", parse_draft(draft_from_eml(exe)))])
    assert "blocked_extension" in report.details["exe.eml"]["viewer"].blocking


def test_x5_a_nameless_file_part_counts_as_an_attachment():
    # A PDF part without a name is a file to Outlook and to the gateway (named ""): it counts
    # towards the size (V-A1) as it would at send.
    [_, pdf] = draft_from_eml(FORWARDED)["attachments"]
    assert pdf == {"name": "", "size": 19, "inline": False}


def test_x5_the_dry_run_reads_attachments_as_the_gateway_check_does():
    for raw in (EML, FORWARDED):
        gateway = [(item.name, item.size) for item in read_attachments(raw)]
        assert [(item["name"], item["size"]) for item in draft_from_eml(raw)["attachments"]] == gateway
