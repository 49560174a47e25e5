"""Issue 10 item 6, S8, S9, X3: the reference gateway check, as a library and as a command."""
from __future__ import annotations

import copy
import email.policy
import io
import json
import subprocess
import sys
from datetime import timedelta
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
    message,
    signed,
    stamped,
)

from sendsecure.core.signing import VerificationKeys, jwks_document
from sendsecure.core.stamp import HEADER_ENVELOPE, HEADER_STAMP, STAMP_TTL, issue_stamp
from sendsecure.gateway.__main__ import main
from sendsecure.gateway.check import DeliveryPlan, Rejected, check_message, read_headers

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

def files(tmp_path: Path, *, key: Any = KEY, jwks_keys: tuple[Any, ...] = (KEY,), **kwargs: Any) -> dict[str, str]:
    env, _, raw = stamped(key, **kwargs)
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
    assert "piet@gmail.com" in out and "access code by SMS" in out
    assert main(run(paths, EVERYONE[:1], "--json")) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["verdict"] == "deliver" and plan["complete"] is False and plan["recipients"][0]["route"] == "direct"


@pytest.mark.parametrize("case,reason", [("added", "recipient_not_stamped"), ("expired", "expired"),
                                         ("other_deployment", "unknown_key")])
def test_issue10_item6_command_rejects_with_exit_1_and_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, reason: str) -> None:
    now = NOW.now(NOW.tzinfo)
    if case == "expired":
        paths = files(tmp_path, now=now - STAMP_TTL - timedelta(hours=1))
    elif case == "other_deployment":
        paths = files(tmp_path, key=OTHER_DEPLOYMENT, now=now)
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
