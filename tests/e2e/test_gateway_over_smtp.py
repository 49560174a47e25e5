"""Issue 10 item 6 end to end (S8, S9, X3): log in, send through the development host, submit the
stamped message over SMTP to a development gateway (aiosmtpd on 127.0.0.1) whose handler runs the
reference check (``python -m sendsecure.gateway verify``, fetching the envelope with the gateway
credential, remembering deliveries in a SQLite file), and check the plan; then deliver it again,
split it, and tamper with it, and check each is refused with its reason."""
from __future__ import annotations

import email.policy
import json
import os
import smtplib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from aiosmtpd.controller import Controller
from devhost_process import ROOT
from test_login_over_http import log_in

from sendsecure.adapters.keys import LocalKeyStore
from sendsecure.core.envelope import envelope_from_dict
from sendsecure.core.signing import SigningKey, signing_key_from_seed
from sendsecure.core.stamp import HEADER_STAMP, issue_stamp

SENDER = "jan@ziekenhuis-a.example"
COMMUNITY = "arts@huisarts-b.example"
EXTERNAL = "piet@gmail.example"
NTA = "arts@nta-ziekenhuis-d.example"
BCC = "stil@huisarts-b.example"  # V-R7: a BCC outside the community needs To = the sender
ONE_LINE = email.policy.default.clone(max_line_length=998)


class Gateway:
    """The development gateway: every DATA runs the reference check with the transaction's RCPT set."""

    def __init__(self, api: str, credential_file: Path, cache: Path, delivered: Path) -> None:
        self.api, self.credential_file, self.cache, self.delivered = api, credential_file, cache, delivered
        self.results: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        command = [sys.executable, "-m", "sendsecure.gateway", "verify", "-", "--api", self.api,
                   "--credential-file", str(self.credential_file), "--cache-dir", str(self.cache), "--json",
                   "--delivered", str(self.delivered)]
        for rcpt in envelope.rcpt_tos:
            command += ["--rcpt", rcpt]
        done = subprocess.run(command, input=envelope.original_content, capture_output=True, cwd=ROOT, timeout=60,
                              env={k: v for k, v in os.environ.items() if not k.startswith("SENDSECURE_")})
        result = json.loads(done.stdout) if done.stdout.strip() else {"verdict": "error", "detail": done.stderr}
        result["exit"] = done.returncode
        self.results.append(result)
        if done.returncode == 0:
            return "250 2.0.0 planned"
        return f"550 5.7.1 {result.get('reason', 'error')}"


@pytest.fixture
def gateway(devhost, tmp_path: Path) -> Iterator[Gateway]:
    credential = tmp_path / "gateway.credential"
    # The explicit provisioning step, on the host's key folder (never made by a request).
    subprocess.run([sys.executable, "-m", "sendsecure.provision", "--service-credential", "gateway",
                    "--credential-file", str(credential)], cwd=ROOT, check=True, timeout=60,
                   env={**os.environ, "LOCAL_KEY_DIR": str(tmp_path / "keys")})
    assert oct(credential.stat().st_mode & 0o777) == "0o600"
    handler = Gateway(devhost.url("/api/v1"), credential, tmp_path / "jwks-cache", tmp_path / "delivered.sqlite")
    from devhost.azurite import free_port

    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port  # type: ignore[attr-defined]
    yield handler
    controller.stop()


def send(devhost, message_id: str = "e2e-1") -> dict[str, Any]:
    token = log_in(devhost, SENDER)["session_token"]
    draft = {"to": [COMMUNITY, EXTERNAL], "cc": [NTA], "bcc": [BCC], "subject": "Verwijzing",
             "attachments": [{"name": "brief.pdf", "size": 1000}],
             "phones": {EXTERNAL: "06 12345678", NTA: "06 11223344"}}
    response = requests.post(devhost.url("/api/v1/messages/send"), json={"message_id": message_id, "draft": draft},
                             headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def message(envelope: dict[str, Any], *, headers: dict[str, str] | None = None,
            to: list[str] | None = None, files: list[tuple[str, int]] | None = None) -> EmailMessage:
    """The stamped message as Exchange hands it on, with the envelope's attachments (or ``files``)."""
    mail = EmailMessage(policy=ONE_LINE)
    mail["From"] = f"Jan <{envelope['sender']}>"
    mail["To"] = ", ".join(to or [r["address"] for r in envelope["recipients"] if r["field"] == "to"])
    mail["Cc"] = ", ".join(r["address"] for r in envelope["recipients"] if r["field"] == "cc")
    mail["Subject"] = "Verwijzing"
    for name, value in {**envelope["headers"], **(headers or {})}.items():
        mail[name] = value
    mail.set_content("Zie bijlage.")
    for name, size in files if files is not None else [(a["name"], a["size"]) for a in envelope["attachments"]]:
        mail.add_attachment(b"%PDF" * (size // 4), maintype="application", subtype="octet-stream", filename=name)
    return mail


def submit(gateway: Gateway, mail: EmailMessage, rcpts: list[str]) -> dict[str, Any]:
    with smtplib.SMTP("127.0.0.1", gateway.port, timeout=60) as smtp:  # type: ignore[attr-defined]
        try:
            smtp.send_message(mail, from_addr=SENDER, to_addrs=rcpts)
        except smtplib.SMTPDataError:
            pass
    return gateway.results[-1]


def restamp(envelope: dict[str, Any], key: SigningKey, now: datetime) -> dict[str, str]:
    record = {k: v for k, v in envelope.items() if k != "headers"}
    return {HEADER_STAMP: issue_stamp(envelope_from_dict(record), key, now=now)}


def test_issue10_item6_gateway_over_smtp_plans_delivery_and_catches_tampering(devhost, gateway, tmp_path):
    envelope = send(devhost)
    everyone = [COMMUNITY, EXTERNAL, NTA, BCC]
    plan = submit(gateway, message(envelope), everyone)
    assert plan["exit"] == 0 and plan["verdict"] == "deliver", plan
    assert plan["complete"] and plan["envelope_id"] == envelope["envelope_id"]
    assert plan["attachments"] == {"in_message": 1, "absent": 0}
    steps = {step["address"]: step for step in plan["recipients"]}
    assert steps[COMMUNITY]["route"] == "direct" and "phone" not in steps[COMMUNITY]
    assert steps[EXTERNAL]["route"] == "viewer" and steps[EXTERNAL]["access_code"] == "sms"
    assert steps[EXTERNAL]["phone"] == "present" and steps[BCC]["field"] == "bcc"
    assert steps[NTA]["route"] == "nta7516" and steps[NTA]["fallback_access_code"] == "sms"
    assert "phone" not in steps[NTA]          # only access_code == "sms" recipients get a number
    assert "+316" not in json.dumps(plan)     # the plan says a phone is there, never which

    # The same stamped message again, to all or to one of them: a second delivery (X3).
    for rcpts in (everyone, [BCC]):
        again = submit(gateway, message(envelope), rcpts)
        assert (again["exit"], again["verdict"], again["reason"]) == (1, "reject", "already_delivered"), again

    # Exchange may split a message: each part of the set is planned once, marked partial.
    split = send(devhost, "e2e-2")
    for rcpts in ([BCC], [COMMUNITY, EXTERNAL, NTA]):
        part = submit(gateway, message(split), rcpts)
        assert part["exit"] == 0 and not part["complete"], part
    assert submit(gateway, message(split), [EXTERNAL])["reason"] == "already_delivered"

    seed = LocalKeyStore(tmp_path / "keys").current("signing-key")[1]
    ours = signing_key_from_seed(seed)
    tampered = [
        ("recipient_not_stamped", message(envelope), everyone + ["eve@evil.example"]),
        ("header_recipients_mismatch", message(envelope, to=[COMMUNITY, EXTERNAL, "eve@evil.example"]), everyone),
        ("expired", message(envelope, headers=restamp(envelope, ours, datetime.now(UTC) - timedelta(days=3))),
         everyone),
        ("unknown_key", message(envelope, headers=restamp(envelope, signing_key_from_seed(b"\x09" * 32),
                                                          datetime.now(UTC))), everyone),
        # The review's replay: the stamp of a draft with brief.pdf (1000 bytes) on other files.
        ("attachments_mismatch", message(envelope, files=[("payload.exe", 2000), ("big.iso", 21 * 1024 * 1024)]),
         everyone),
        ("attachments_mismatch", message(envelope, files=[("brief.pdf", 1000), ("payload.exe", 2000)]), everyone),
    ]
    for reason, mail, rcpts in tampered:
        result = submit(gateway, mail, rcpts)
        assert (result["exit"], result["verdict"], result["reason"]) == (1, "reject", reason), result
