"""Login hardening end to end: several development hosts on one Azurite stand in for the
workers of a scaled-out app (issue 7 item 1; issue 8 items 1-3; SPEC A1, A3, A5).

Each host is its own process with its own caches; they share the tables and the key folder.
Clients are told apart by their source address: every 127.x.y.z is loopback, so a test binds
its connections to 127.0.0.N and the hosts see that peer address, as Azure's front end would.
"""
from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import time

import pytest
import requests
from devhost_process import ROOT, start_devhost, stop_devhost
from requests.adapters import HTTPAdapter

WORKERS = 3
MAILBOX = "noor@ziekenhuis-a.example"


class _FromAddress(HTTPAdapter):
    def __init__(self, source: str) -> None:
        self._source = source
        super().__init__(pool_maxsize=32)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source: str) -> requests.Session:
    """An HTTP client whose connections come from ``source`` (a loopback address)."""
    session = requests.Session()
    session.mount("http://", _FromAddress(source))
    return session


@pytest.fixture(scope="module")
def workers(azurite, tmp_path_factory):
    root = tmp_path_factory.mktemp("workers")
    env = {"TABLES_CONNECTION_STRING": azurite.connection_string,
           "TABLE_PREFIX": f"w{os.getpid()}x{time.monotonic_ns() % 10**9}",
           "LOCAL_KEY_DIR": str(root / "keys"), "TENANT_CACHE_SECONDS": "1", "SESSION_CACHE_SECONDS": "1"}
    folders = [root / f"worker{n}" for n in range(WORKERS)]
    for folder in folders:
        folder.mkdir()
    # One after the other: each host publishes the sample domain book at start-up, and two
    # publishing at once race on deleting the old generation (bookstore, not login).
    hosts = []
    try:
        for folder in folders:
            hosts.append(start_devhost(folder, env))
        yield hosts, env
    finally:
        for host in hosts:
            stop_devhost(host)


def last_code(hosts) -> str:
    """The newest code any worker mailed."""
    import email
    import email.policy

    mails = sorted((path.stat().st_mtime_ns, path) for host in hosts for path in host.outbox.glob("*.eml"))
    assert mails, "no mail in any outbox"
    return str(email.message_from_bytes(mails[-1][1].read_bytes(), policy=email.policy.default)["X-Dev-Login-Code"])


def request_code(http, host, mailbox) -> str:
    response = http.post(host.url("/api/v1/auth/email-code"), json={"mailbox": mailbox}, timeout=20)
    assert response.status_code == 202, response.text
    return response.json()["challenge_id"]


def verify(http, host, challenge, code):
    return http.post(host.url("/api/v1/auth/email-code/verify"),
                     json={"challenge_id": challenge, "code": code, "device_id": "e2e"}, timeout=20)


def test_issue7_item1_issue8_item3_one_address_guessing_on_all_workers_passes_no_lockout_locks_no_owner_out(workers):
    hosts, _ = workers
    guesser, owner = client("127.0.0.2"), client("127.0.0.3")
    challenges = [request_code(guesser, hosts[n % WORKERS], MAILBOX) for n in range(5)]
    real = last_code(hosts)
    wrong = [f"{n:06d}" for n in range(70) if f"{n:06d}" != real][:60]

    def guess(index: int):
        return verify(guesser, hosts[index % WORKERS], challenges[index % 5], wrong[index])

    with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
        answers = list(pool.map(guess, range(60)))
    statuses = [a.status_code for a in answers]
    # At most the short lockout's 10 guesses were evaluated (the 10th answers 429), whatever the
    # worker; the rest were refused by the lock, the per-client verify limit, or as a flood (429).
    assert set(statuses) <= {401, 429}, [(a.status_code, a.text[:200]) for a in answers if a.status_code >= 500]
    assert 1 <= statuses.count(401) <= 9
    # The owner, from their own address, gets a fresh code on one worker and uses it on another.
    challenge = request_code(owner, hosts[1], MAILBOX)
    response = verify(owner, hosts[2], challenge, last_code(hosts))
    assert response.status_code == 200, response.text
    assert response.json()["mailbox"] == MAILBOX


def test_issue7_item1_attempts_left_is_exact_when_workers_race(workers):
    hosts, _ = workers
    http = client("127.0.0.4")
    challenge = request_code(http, hosts[0], "wim@ziekenhuis-a.example")
    real = last_code(hosts)
    wrong = [f"{n:06d}" for n in range(7) if f"{n:06d}" != real][:5]
    with concurrent.futures.ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda i: verify(http, hosts[i % WORKERS], challenge, wrong[i]), range(5)))
    assert [a.status_code for a in answers] == [401] * 5
    assert sorted(a.json()["attempts_left"] for a in answers) == [0, 1, 2, 3, 4]
    after = verify(http, hosts[1], challenge, real)
    assert after.status_code == 401 and after.json()["attempts_left"] == 0
    # The right code sent to all workers at once: one session; the others lost the race to a
    # used code and say so (before: "2" or "1" tries left for a code already used).
    # (From another address, so the six tries above do not add up to a lockout here.)
    other = client("127.0.0.8")
    challenge = request_code(other, hosts[2], "wim@ziekenhuis-a.example")
    real = last_code(hosts)
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda i: verify(other, hosts[i % WORKERS], challenge, real), range(6)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 5
    assert [a.json()["attempts_left"] for a in answers if a.status_code == 401] == [0] * 5


def test_issue8_item2_sub_addresses_share_the_lockout_across_workers(workers):
    hosts, _ = workers
    guesser, owner = client("127.0.0.5"), client("127.0.0.6")
    first = request_code(guesser, hosts[0], "kees+a@ziekenhuis-a.example")
    second = request_code(guesser, hosts[1], "kees+b@ziekenhuis-a.example")
    statuses = [verify(guesser, hosts[n % WORKERS], first if n < 5 else second, "000000").status_code
                for n in range(10)]
    assert statuses == [401] * 9 + [429]
    # Another sub-address from the same address is the same mailbox: locked, even with its right code.
    locked_out = request_code(guesser, hosts[1], "kees+c@ziekenhuis-a.example")
    assert verify(guesser, hosts[2], locked_out, last_code(hosts)).status_code == 429
    # The owner logs in under a sub-address and gets the base mailbox.
    mine = request_code(owner, hosts[2], "Kees+Outlook@ziekenhuis-a.example")
    response = verify(owner, hosts[0], mine, last_code(hosts))
    assert response.status_code == 200 and response.json()["mailbox"] == "kees@ziekenhuis-a.example"


def _table(env, name):
    from azure.data.tables import TableServiceClient

    service = TableServiceClient.from_connection_string(env["TABLES_CONNECTION_STRING"])
    return service.get_table_client(env["TABLE_PREFIX"] + name)


def test_issue8_item1_offboarding_closes_every_way_in_on_every_worker(workers):
    hosts, env = workers
    http = client("127.0.0.7")
    mailbox = "lotte@huisarts-b.example"  # tenant zorg-b, offboarded here (the other tests use zorg-a)
    session = verify(http, hosts[0], request_code(http, hosts[0], mailbox), last_code(hosts)).json()
    auth = {"Authorization": f"Bearer {session['session_token']}"}
    pending = request_code(http, hosts[1], mailbox)
    pending_code = last_code(hosts)
    paths = ["/api/v1/session", "/api/v1/settings", "/api/v1/phone-countries"]
    assert {http.get(h.url(p), headers=auth, timeout=20).status_code for h in hosts for p in paths} == {200}
    import hashlib

    digest = hashlib.sha256(session["session_token"].encode()).hexdigest()
    kept_row = _table(env, "sessions").get_entity(digest[:2], digest)

    done = subprocess.run([sys.executable, "-m", "sendsecure.offboard", "zorg-b", "--yes"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    # A session row that outlived the sweep (a verify that raced it) must not open anything either.
    _table(env, "sessions").upsert_entity(kept_row)

    # A code mailed before offboarding opens nothing, on any worker.
    assert {verify(http, h, pending, pending_code).status_code for h in hosts} == {401}
    # Every worker refuses the session once its tenant cache (1 s here) has caught up.
    deadline = time.monotonic() + 20
    while True:
        statuses = {(h.base, p): http.get(h.url(p), headers=auth, timeout=20).status_code for h in hosts for p in paths}
        if set(statuses.values()) == {401} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(statuses.values()) == {401}, statuses
