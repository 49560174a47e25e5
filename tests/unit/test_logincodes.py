"""SPEC A1: login codes, their salted hash, the lockout and the issue rate limit (pure)."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendsecure.core.logincodes import (
    IssueWindow,
    LockoutPolicy,
    code_matches,
    hash_code,
    new_challenge_id,
    new_code,
    new_salt,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
DRAWS = 2000


# ----- codes and challenge ids -----------------------------------------------------------


def test_a1_code_is_six_ascii_digits():
    for _ in range(200):
        code = new_code()
        assert re.fullmatch(r"[0-9]{6}", code), code


def test_a1_codes_vary_between_draws():
    codes = [new_code() for _ in range(DRAWS)]
    # 2,000 draws from 10^6 values: nearly all distinct if the source is random.
    assert len(set(codes)) > DRAWS * 0.95


def test_a1_every_digit_appears_in_every_code_position():
    codes = [new_code() for _ in range(DRAWS)]
    for position in range(6):
        assert {code[position] for code in codes} == set("0123456789"), f"position {position}"


def test_a1_challenge_id_is_long_random_url_safe_text():
    ids = [new_challenge_id() for _ in range(500)]
    for challenge_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", challenge_id), challenge_id
        assert len(challenge_id) >= 22  # at least 128 bits in base64
    assert len(set(ids)) == len(ids)


def test_a1_salts_are_random_and_at_least_16_bytes():
    salts = [new_salt() for _ in range(100)]
    assert all(isinstance(salt, bytes) and len(salt) >= 16 for salt in salts)
    assert len(set(salts)) == len(salts)


# ----- hashing and matching --------------------------------------------------------------


@pytest.fixture(scope="module")
def issued():
    challenge_id, code, salt = new_challenge_id(), "042917", new_salt()
    return challenge_id, code, salt, hash_code(code, challenge_id, salt)


def test_a1_hash_is_not_the_code(issued):
    challenge_id, code, salt, digest = issued
    assert isinstance(digest, bytes)
    assert code.encode() not in digest
    assert digest != code.encode()


def test_a1_hash_is_salted_same_code_other_salt_differs(issued):
    challenge_id, code, salt, digest = issued
    other_salt = bytes(b ^ 0xFF for b in salt)
    assert hash_code(code, challenge_id, other_salt) != digest


def test_a1_hash_is_deterministic_for_same_inputs(issued):
    challenge_id, code, salt, digest = issued
    assert hash_code(code, challenge_id, salt) == digest


def test_a1_right_code_matches(issued):
    challenge_id, code, salt, digest = issued
    assert code_matches(code, challenge_id, salt, digest) is True


def test_a1_code_bound_to_its_challenge(issued):
    challenge_id, code, salt, digest = issued
    other_challenge = new_challenge_id()
    assert other_challenge != challenge_id
    assert code_matches(code, other_challenge, salt, digest) is False


def test_a1_code_does_not_match_with_other_salt(issued):
    challenge_id, code, salt, digest = issued
    assert code_matches(code, challenge_id, new_salt(), digest) is False


@pytest.mark.parametrize("wrong", ["042918", "000000", "999999", "429170"])
def test_a1_wrong_code_is_refused(issued, wrong):
    challenge_id, code, salt, digest = issued
    assert code_matches(wrong, challenge_id, salt, digest) is False


@pytest.mark.parametrize(
    "malformed",
    [
        "12345",  # too short
        "1234567",  # too long
        "12a456",  # a letter
        "１２３４５６",  # full-width digits
        "١٢٣٤٥٦",  # Arabic-Indic digits
        "",  # empty
        " 12345",
        "12345 ",
        "-12345",
    ],
)
def test_a1_malformed_code_is_refused(malformed):
    challenge_id, salt = new_challenge_id(), new_salt()
    # Even a hash computed over the malformed text itself must not let it in.
    try:
        expected = hash_code(malformed, challenge_id, salt)
    except (UnicodeEncodeError, ValueError):
        expected = b"\x00" * 32
    assert code_matches(malformed, challenge_id, salt, expected) is False


# ----- lockout ---------------------------------------------------------------------------

POLICY = LockoutPolicy(threshold=5, base_seconds=60, max_seconds=3600)


def _run_failures(policy: LockoutPolicy, count: int, now: datetime = T0):
    failures, lockouts, locks = 0, 0, []
    for index in range(count):
        failures, lockouts, until = policy.after_failure(failures, lockouts, now)
        locks.append((index + 1, until))
    return failures, lockouts, locks


def test_a1_lockout_locks_exactly_at_every_threshold_th_failure():
    _, _, locks = _run_failures(POLICY, 23)
    locked_at = [number for number, until in locks if until is not None]
    assert locked_at == [5, 10, 15, 20]


def test_a1_lockout_not_before_threshold_failures():
    failures, lockouts, locks = _run_failures(POLICY, 4)
    assert failures == 4
    assert lockouts == 0
    assert all(until is None for _, until in locks)


def test_a1_lockout_lock_ends_in_the_future():
    _, _, locks = _run_failures(POLICY, 5)
    assert locks[-1][1] == T0 + timedelta(seconds=60)


def test_a1_lockout_doubles_with_each_lockout_and_is_capped():
    _, _, locks = _run_failures(POLICY, 5 * 10)
    durations = [(until - T0).total_seconds() for _, until in locks if until is not None]
    assert durations == [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600, 3600]


def test_a1_lockout_cap_holds_for_huge_lockout_counts():
    failures, lockouts, until = POLICY.after_failure(4, 10_000, T0)
    assert lockouts == 10_001
    assert until is not None
    assert until - T0 == timedelta(seconds=POLICY.max_seconds)


@settings(max_examples=200, deadline=None)
@given(
    threshold=st.integers(min_value=1, max_value=10),
    base=st.integers(min_value=1, max_value=600),
    cap_factor=st.integers(min_value=1, max_value=64),
    count=st.integers(min_value=0, max_value=120),
)
def test_a1_lockout_count_equals_failures_divided_by_threshold(threshold, base, cap_factor, count):
    policy = LockoutPolicy(threshold=threshold, base_seconds=base, max_seconds=base * cap_factor)
    failures, lockouts, locks = _run_failures(policy, count)
    assert failures == count
    assert lockouts == count // threshold
    durations = [(until - T0).total_seconds() for _, until in locks if until is not None]
    assert len(durations) == count // threshold
    for number, seconds in enumerate(durations, start=1):
        assert seconds == min(base * 2 ** (number - 1), policy.max_seconds)
        assert 0 < seconds <= policy.max_seconds
    assert durations == sorted(durations)


# ----- issue window ----------------------------------------------------------------------

WINDOW = IssueWindow(limit=3, seconds=900)


def _admit_many(window: IssueWindow, times):
    start, count, results = None, 0, []
    for now in times:
        allowed, start, count, retry_after = window.admit(start, count, now)
        results.append((allowed, retry_after))
    return start, count, results


def test_a1_issue_window_admits_limit_events():
    _, count, results = _admit_many(WINDOW, [T0 + timedelta(seconds=i) for i in range(3)])
    assert [allowed for allowed, _ in results] == [True, True, True]
    assert count == 3


def test_a1_issue_window_refuses_the_next_event_with_positive_retry_after():
    _, _, results = _admit_many(WINDOW, [T0 + timedelta(seconds=i) for i in range(4)])
    allowed, retry_after = results[-1]
    assert allowed is False
    assert retry_after > 0


def test_a1_issue_window_retry_after_does_not_exceed_the_window():
    # All events at the very start of the window: the refusal must not ask for more than the window.
    _, _, results = _admit_many(WINDOW, [T0] * 4)
    allowed, retry_after = results[-1]
    assert allowed is False
    assert 0 < retry_after <= WINDOW.seconds


def test_a1_issue_window_retry_after_reaches_the_window_end():
    # Refused 100 s into a 900 s window: retrying after retry_after seconds must be admitted.
    start, count, _ = _admit_many(WINDOW, [T0] * 3)
    now = T0 + timedelta(seconds=100)
    allowed, start, count, retry_after = WINDOW.admit(start, count, now)
    assert allowed is False
    assert WINDOW.admit(start, count, now + timedelta(seconds=retry_after))[0] is True


def test_a1_issue_window_starts_anew_after_its_seconds():
    start, count, _ = _admit_many(WINDOW, [T0] * 3)
    assert WINDOW.admit(start, count, T0 + timedelta(seconds=899))[0] is False
    allowed, new_start, new_count, _ = WINDOW.admit(start, count, T0 + timedelta(seconds=900))
    assert allowed is True
    assert new_start == T0 + timedelta(seconds=900)
    assert new_count == 1


def test_a1_issue_window_clock_going_backwards_does_not_lock_forever():
    # The stored window start lies far in the future (clock was wrong, or went back).
    future_start = T0 + timedelta(days=365)
    allowed, start, count, retry_after = WINDOW.admit(future_start, WINDOW.limit, T0)
    assert allowed or 0 < retry_after <= WINDOW.seconds
    assert start <= T0 + timedelta(seconds=WINDOW.seconds)


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=10),
    seconds=st.integers(min_value=1, max_value=3600),
    steps=st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=40),
)
def test_a1_issue_window_never_admits_more_than_limit_per_window(limit, seconds, steps):
    window = IssueWindow(limit=limit, seconds=seconds)
    now, start, count = T0, None, 0
    admitted: list[datetime] = []
    per_window: dict[datetime, int] = {}
    for step_ms in steps:
        now = now + timedelta(milliseconds=step_ms)
        allowed, start, count, retry_after = window.admit(start, count, now)
        assert retry_after > 0
        if allowed:
            admitted.append(now)
            per_window[start] = per_window.get(start, 0) + 1
    assert all(n <= limit for n in per_window.values())
    for first in admitted:
        inside = [t for t in admitted if first <= t < first + timedelta(seconds=seconds)]
        # A fixed window can admit up to 2 * limit within any sliding span, never more.
        assert len(inside) <= 2 * limit
