"""After sending, through the development host over HTTP (issue 11 items 1-2; SPEC S5, X6): send, the
gateway reports an event, revoke with recall from a local HTTPS Graph, the sender's view and list,
and the gateway's fetch showing the revoke."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
import trustme
from devhost_process import ROOT, start_devhost, stop_devhost
from graphfake import CLIENT_ID, CLIENT_SECRET, ENTRA_TENANT, fake_graph
from test_login_over_http import log_in

OWN = "arts@ziekenhuis-a.example"
COMMUNITY = "jan@huisarts-b.example"
INTERNET_ID = "<AM0PR01MB0001.e2e@AM0PR01MB0001.eurprd01.prod.exchangelabs.com>"


def test_issue11_s5_x6_send_report_revoke_recall_view_over_http(azurite, tmp_path):
    ca = trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    with fake_graph(ca) as graph:
        host = start_devhost(tmp_path, {
            "TABLES_CONNECTION_STRING": azurite.connection_string,
            "TABLE_PREFIX": f"r{os.getpid()}x{time.monotonic_ns() % 10**9}",
            "RECALL_CLIENT_ID": CLIENT_ID, "RECALL_CLIENT_SECRET": CLIENT_SECRET, "RECALL_TENANT_ID": ENTRA_TENANT,
            "RECALL_CA_BUNDLE": str(bundle), "GRAPH_AUTHORITY_HOST": graph.base_url, "GRAPH_BASE_URL": graph.base_url,
        })
        try:
            auth = {"Authorization": f"Bearer {log_in(host)['session_token']}"}
            sent = requests.post(host.url("/api/v1/messages/send"), headers=auth, timeout=10, json={
                "message_id": "e2e-revoke", "draft": {"to": [OWN, COMMUNITY], "subject": "Uitslag"}})
            assert sent.status_code == 201, sent.text
            envelope_id = sent.json()["envelope_id"]
            graph.put(OWN, INTERNET_ID, envelope_id)
            # the gateway delivered to the community recipient and reports it
            credential = tmp_path / "gateway.credential"
            subprocess.run([sys.executable, "-m", "sendsecure.provision", "--service-credential", "gateway",
                            "--credential-file", str(credential)], cwd=ROOT, check=True, timeout=60,
                           env={**os.environ, "LOCAL_KEY_DIR": str(Path(tmp_path) / "keys")})
            gateway = {"Authorization": f"Bearer {credential.read_text().strip()}"}
            at = datetime.now(UTC).replace(microsecond=0).isoformat()
            events = requests.post(host.url(f"/api/v1/gateway/envelopes/{envelope_id}/events"), headers=gateway,
                                   json=[{"address": COMMUNITY, "event": "delivered", "at": at}], timeout=10)
            assert events.status_code == 202, events.text

            revoked = requests.post(host.url(f"/api/v1/messages/{envelope_id}/revoke"), headers=auth, timeout=30,
                                    json={"internet_message_id": INTERNET_ID})
            assert revoked.status_code == 200, revoked.text
            assert {r["address"]: r["outcome"] for r in revoked.json()["recipients"]} == {
                OWN: "recalled", COMMUNITY: "out_of_reach"}
            assert not graph.holds(OWN, INTERNET_ID) and graph.problems == []
            again = requests.post(host.url(f"/api/v1/messages/{envelope_id}/revoke"), headers=auth, timeout=30)
            assert again.status_code == 409 and again.json()["code"] == "already_revoked"

            view = requests.get(host.url(f"/api/v1/messages/{envelope_id}"), headers=auth, timeout=10).json()
            assert view["revoked"] is True and view["revoked_at"] == revoked.json()["revoked_at"]
            by_address = {r["address"]: r for r in view["recipients"]}
            assert by_address[COMMUNITY]["status"]["event"] == "delivered"
            assert by_address[OWN]["status"] is None and by_address[OWN]["recall"] == "recalled"
            listed = requests.get(host.url("/api/v1/messages"), headers=auth, timeout=10).json()
            assert [m["envelope_id"] for m in listed["messages"]] == [envelope_id]
            fetched = requests.get(host.url(f"/api/v1/gateway/envelopes/{envelope_id}"), headers=gateway, timeout=10)
            assert fetched.status_code == 200 and fetched.json()["revoked"] is True
        finally:
            stop_devhost(host)
        log = (tmp_path / "devhost.log").read_text()
        assert "Traceback" not in log and OWN not in log and "AM0PR01MB0001" not in log
