"""Issue 13 item 6: the development host serves the sample sources over HTTPS on loopback (a
throw-away CA it trusts through BOOK_SYNC_CA_BUNDLE) and syncs from those URLs at start; the
operator's endpoint over HTTP then finds every source unchanged (304) and writes nothing."""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def test_issue13_item6_devhost_syncs_the_sample_book_from_https_urls(devhost):
    health = requests.get(devhost.url("/api/v1/health"), timeout=10).json()
    variants = health["domain_book"]["variants"]
    assert health["status"] == "ok" and all(v["available"] and v["last_error"] is None for v in variants.values())
    credential = subprocess.run([sys.executable, "-m", "sendsecure.provision", "--service-credential", "book-sync"],
                                capture_output=True, text=True, timeout=60, check=True, cwd=ROOT,
                                env={**os.environ, "LOCAL_KEY_DIR": str(Path(devhost.outbox).parent / "keys")})
    answer = requests.post(devhost.url("/api/v1/admin/domain-book/sync"), timeout=60,
                           headers={"Authorization": f"Bearer {credential.stdout.strip()}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["table_writes"] == 0
    per_url: Counter[str] = Counter()
    for report in body["variants"]:
        assert report["outcome"] == "unchanged" and report["version"] == variants[report["variant"]]["version"]
        assert all(s["name"].startswith("https://127.0.0.1:") and s["outcome"] == "unchanged"
                   for s in report["sources"])
        per_url.update({s["name"]: s.get("requests", 0) for s in report["sources"]})
    # One request per URL, however many variants share it (a shared source counts with its first variant).
    assert set(per_url.values()) == {1} and body["source_requests"] == len(per_url)
    assert requests.post(devhost.url("/admin/functions/sync_domain_book"), timeout=60).status_code == 202  # the timer
    refused = requests.post(devhost.url("/api/v1/admin/domain-book/sync"), timeout=10)
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("application/problem+json")
