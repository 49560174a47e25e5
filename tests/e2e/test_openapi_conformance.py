"""The served OpenAPI document against the development host's behaviour (issue 7.20).

Schemathesis (every check: server errors, status codes, content types, response schemas and
headers, schema-valid data accepted, schema-violating data refused, unsupported methods) runs
over every operation with a fixed seed and a bounded number of examples, logged in as a mailbox
of its own. ``DELETE /session`` ends the session it is given, so it runs last, on its own.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests
from helpers import Outbox

CONFIG = Path(__file__).with_name("schemathesis.toml")
MAILBOX = "schemathesis@ziekenhuis-a.example"
SEED = "20261201"
EXAMPLES = "40"  # per operation and phase: ~1,000 cases, well under two minutes here


def session_token(devhost) -> str:
    challenge = requests.post(devhost.url("/api/v1/auth/email-code"), json={"mailbox": MAILBOX}, timeout=10)
    assert challenge.status_code == 202, challenge.text
    verified = requests.post(devhost.url("/api/v1/auth/email-code/verify"), timeout=10, json={
        "challenge_id": challenge.json()["challenge_id"], "code": Outbox(devhost.outbox).last_code()})
    assert verified.status_code == 200, verified.text
    return verified.json()["session_token"]


GATEWAY = ("get_gateway_envelope", "report_gateway_events")   # the gateway's own credential, not a session
GATEWAY_EXCLUDED = [arg for name in GATEWAY for arg in ("--exclude-operation-id", name)]
GATEWAY_INCLUDED = [arg for name in GATEWAY for arg in ("--include-operation-id", name)]


def gateway_credential(devhost) -> str:
    """Provisioned on the host's key folder, as an operator does (never by a request)."""
    done = subprocess.run([sys.executable, "-m", "sendsecure.provision", "--service-credential", "gateway"],
                          capture_output=True, text=True, timeout=60, check=True,
                          env={**os.environ, "LOCAL_KEY_DIR": str(Path(devhost.outbox).parent / "keys")})
    return done.stdout.strip()


def schemathesis(devhost, token: str, *selection: str, examples: str = EXAMPLES) -> subprocess.CompletedProcess:
    """The CLI in the host's folder (its reports and anything it writes stay out of the work tree)."""
    command = [sys.executable, "-c", "import sys; from schemathesis.cli import schemathesis; sys.exit(schemathesis())",
               "--config-file", str(CONFIG), "run", devhost.url("/api/v1/openapi.json"),
               "--url", devhost.url("/api"), "--header", f"Authorization: Bearer {token}",
               "--checks", "all", "--seed", SEED, "--max-examples", examples, "--no-shrink", "--workers", "1",
               "--request-timeout", "10", *selection]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=devhost.outbox.parent)


def test_issue7_item20_openapi_document_is_exact_to_behaviour(devhost):
    token = session_token(devhost)   # before the run: its login calls use up the client's issue limit
    main = schemathesis(devhost, token, "--exclude-operation-id", "end_session", *GATEWAY_EXCLUDED)
    assert main.returncode == 0, main.stdout[-6000:] + main.stderr[-2000:]
    # with the book sync (a session: 401), revoke, sent messages, the audit log (this mailbox: 403)
    assert "Tested: 22" in main.stdout, main.stdout[-3000:]
    gateway = schemathesis(devhost, gateway_credential(devhost), *GATEWAY_INCLUDED)
    assert gateway.returncode == 0, gateway.stdout[-6000:] + gateway.stderr[-2000:]
    assert "Tested: 2" in gateway.stdout, gateway.stdout[-3000:]
    logout = schemathesis(devhost, token, "--include-operation-id", "end_session", examples="5")
    assert logout.returncode == 0, logout.stdout[-6000:] + logout.stderr[-2000:]
    log = (Path(devhost.outbox).parent / "devhost.log").read_text()
    assert "Traceback" not in log and "unhandled" not in log
