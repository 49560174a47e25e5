"""Login codes, lockout, sessions and audit against Table Storage (Azurite) (SPEC A1, A3, S6)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.errors import InvalidCode, RateLimited, Unauthenticated

MAILBOX = "an@ziekenhuis-a.example"


def issue(mailbox=MAILBOX, client="192.0.2.1"):
    return runtime.email_login().request_code(mailbox, client=client, language="nl")["challenge_id"]


def attempt(challenge_id, code):
    try:
        runtime.email_login().verify(challenge_id, code, device_id="d")
        return "success"
    except InvalidCode:
        return "invalid"
    except RateLimited:
        return "locked"


def test_a1_brute_force_1000_wrong_codes_never_succeed_and_lock_the_mailbox(app_env, outbox):
    challenges = [issue() for _ in range(5)]  # several challenges: the per-mailbox issue limit
    real_code = outbox.last_code()
    wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != real_code][:1000]
    wrong += ["999999"] * (1000 - len(wrong))

    def guess(index: int) -> str:
        return attempt(challenges[index % len(challenges)], wrong[index])

    with ThreadPoolExecutor(max_workers=8) as pool:  # concurrent guesses race on the same rows
        outcomes = list(pool.map(guess, range(1000)))

    assert outcomes.count("success") == 0
    assert outcomes.count("locked") > 900  # the lockout engaged early and held
    # Even the right code for the newest challenge is refused while the mailbox is locked.
    assert attempt(challenges[-1], real_code) == "locked"
    guard = runtime.tables().get(storage.LOGIN_GUARDS, "fail", runtime.pseudonyms().of("mailbox", MAILBOX))
    assert guard["lockouts"] >= 1 and guard["locked_until"] > datetime.now(timezone.utc)
    # No code took more than its five tries, however the guesses interleaved.
    for challenge in challenges:
        row = runtime.tables().get(storage.LOGIN_CODES, challenge[:2], challenge)
        assert row["attempts"] <= 5


def test_a1_failure_count_survives_new_codes(app_env, outbox, monkeypatch):
    monkeypatch.setenv("LOGIN_LOCKOUT_THRESHOLD", "7")
    runtime.reset()
    first = issue()
    assert [attempt(first, "000000") for _ in range(5)] == ["invalid"] * 5
    second = issue()  # a new code does not reset the mailbox's count
    assert attempt(second, "000000") == "invalid"
    assert attempt(second, "000001") == "locked"  # the 7th failure locks
    assert attempt(second, outbox.last_code()) == "locked"


def test_a1_lockout_ends_and_success_resets_the_count(app_env, outbox, monkeypatch):
    monkeypatch.setenv("LOGIN_LOCKOUT_THRESHOLD", "2")
    runtime.reset()
    challenge = issue()
    attempt(challenge, "000000")
    assert attempt(challenge, "000000") == "locked"
    key = runtime.pseudonyms().of("mailbox", MAILBOX)
    # Let the lock run out by moving its end into the past.
    runtime.tables().upsert(storage.LOGIN_GUARDS, {"PartitionKey": "fail", "RowKey": key,
                                                   "locked_until": datetime.now(timezone.utc) - timedelta(seconds=1)})
    token, session = runtime.email_login().verify(challenge, outbox.last_code(), device_id="d")
    assert session.mailbox == MAILBOX
    assert runtime.tables().get(storage.LOGIN_GUARDS, "fail", key)["failures"] == 0


def test_a1_lockout_period_doubles(app_env, monkeypatch):
    monkeypatch.setenv("LOGIN_LOCKOUT_THRESHOLD", "1")
    monkeypatch.setenv("LOGIN_LOCKOUT_SECONDS", "100")
    runtime.reset()
    retry_afters = []
    for _ in range(3):
        challenge = issue()
        with pytest.raises(RateLimited) as locked:
            runtime.email_login().verify(challenge, "000000", device_id="d")
        retry_afters.append(locked.value.retry_after)
        key = runtime.pseudonyms().of("mailbox", MAILBOX)
        runtime.tables().upsert(storage.LOGIN_GUARDS, {"PartitionKey": "fail", "RowKey": key,
                                                       "locked_until": datetime.now(timezone.utc)})
    assert [round(r, -1) for r in retry_afters] == [100, 200, 400]


def test_a1_expired_code_is_refused(app_env, outbox):
    challenge = issue()
    runtime.tables().upsert(storage.LOGIN_CODES, {"PartitionKey": challenge[:2], "RowKey": challenge,
                                                  "expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)})
    assert attempt(challenge, outbox.last_code()) == "invalid"


def test_a1_code_stored_only_as_salted_hash(app_env, outbox):
    challenge = issue()
    row = runtime.tables().get(storage.LOGIN_CODES, challenge[:2], challenge)
    code = outbox.last_code()
    assert all(code not in str(value) for value in row.values())
    assert row["salt"] and row["code_hash"]


def test_a1_concurrent_right_code_opens_exactly_one_session(app_env, outbox):
    challenge = issue()
    code = outbox.last_code()
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda _: attempt(challenge, code), range(8)))
    assert outcomes.count("success") == 1


def test_a3_idle_timeout_slides_but_the_absolute_lifetime_holds(app_env, monkeypatch):
    monkeypatch.setenv("SESSION_CACHE_SECONDS", "0")
    runtime.reset()
    service = runtime.sessions()
    now = datetime.now(timezone.utc)
    token, _ = service.create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="d", now=now)
    # Used every 29 days, the idle timeout never strikes...
    for day in (29, 58, 87):
        assert service.authenticate(token, now=now + timedelta(days=day)).mailbox == MAILBOX
    # ...but the absolute lifetime of 90 days ends the session anyway, and for good.
    with pytest.raises(Unauthenticated):
        service.authenticate(token, now=now + timedelta(days=90, seconds=1))
    with pytest.raises(Unauthenticated):
        service.authenticate(token, now=now + timedelta(days=88))


def test_a3_session_unused_for_30_days_expires(app_env):
    service = runtime.sessions()
    now = datetime.now(timezone.utc)
    token, _ = service.create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="d", now=now)
    with pytest.raises(Unauthenticated):
        service.authenticate(token, now=now + timedelta(days=30, seconds=1))


def test_a3_last_use_written_at_most_once_an_hour(app_env, monkeypatch):
    monkeypatch.setenv("SESSION_CACHE_SECONDS", "0")
    runtime.reset()
    service = runtime.sessions()
    now = datetime.now(timezone.utc)
    token, _ = service.create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="d", now=now)
    from sendsecure.sessions import token_hash

    digest = token_hash(token)

    def stored_last_use():
        return runtime.tables().get(storage.SESSIONS, digest[:2], digest)["last_used_at"]

    service.authenticate(token, now=now + timedelta(minutes=10))
    service.authenticate(token, now=now + timedelta(minutes=59))
    assert stored_last_use() == now
    service.authenticate(token, now=now + timedelta(minutes=61))
    assert stored_last_use() == now + timedelta(minutes=61)


def test_a3_token_stored_only_hashed(app_env):
    token, _ = runtime.sessions().create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="d")
    rows = list(runtime.tables().query(storage.SESSIONS, "PartitionKey ne ''"))
    assert len(rows) == 1
    assert all(token not in str(value) and token[4:] not in str(value) for value in rows[0].values())
    assert rows[0]["RowKey"] != token


def test_a3_ended_sessions_are_purged(app_env):
    service = runtime.sessions()
    long_ago = datetime.now(timezone.utc) - timedelta(days=40)
    service.create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="old", now=long_ago)
    live, _ = service.create(tenant_id="zorg-a", mailbox=MAILBOX, login_method="email_code", device_id="new")
    assert service.purge_expired() == 1
    assert service.authenticate(live).device_id == "new"


def test_s6_audit_records_login_events_without_personal_data(app_env, outbox):
    challenge = issue()
    attempt(challenge, "000000")
    code = outbox.last_code()
    token, _ = runtime.email_login().verify(challenge, code, device_id="d")
    runtime.sessions().end(token)
    rows = list(runtime.tables().query(storage.AUDIT, "PartitionKey ne ''"))
    events = sorted(row["event"] for row in rows)
    assert events == sorted(["login.code_requested", "login.failed", "login.succeeded"])
    for row in rows:
        assert row["at"].tzinfo is not None and row["correlation_id"]
        assert row["PartitionKey"].startswith("zorg-a.")
        for value in row.values():
            for secret in (code, token, MAILBOX, "ziekenhuis-a"):
                assert secret not in str(value)
    actors = {row["actor"] for row in rows}
    assert actors == {runtime.pseudonyms().of("mailbox", MAILBOX)}


def test_s6_audit_is_append_only(app_env):
    from sendsecure.audit import audit_entity
    from sendsecure.adapters.storage import Conflict

    entity = audit_entity("logout", tenant_id="zorg-a", actor="a", outcome="x", at=datetime.now(timezone.utc),
                          correlation_id="c", details={})
    runtime.tables().insert(storage.AUDIT, entity)
    with pytest.raises(Conflict):
        runtime.tables().insert(storage.AUDIT, {**entity, "outcome": "rewritten"})
    assert runtime.tables().get(storage.AUDIT, entity["PartitionKey"], entity["RowKey"])["outcome"] == "x"
