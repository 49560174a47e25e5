"""SPEC A1: login codes, their keyed hash, mailbox and client identity, the lockout and the
issue rate limit (pure)."""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sendsecure.core.logincodes import (
    IssueWindow,
    LockoutPolicy,
    base_mailbox,
    client_group,
    code_mac,
    code_matches,
    new_challenge_id,
    new_code,
)

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
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


# ----- the keyed hash (issue 8 item 5) ---------------------------------------------------


@pytest.fixture(scope="module")
def issued():
    challenge_id, code, key = new_challenge_id(), "042917", secrets.token_bytes(32)
    return challenge_id, code, key, code_mac(key, challenge_id, code)


def test_issue8_item5_code_is_stored_as_hmac_sha256_under_the_key(issued):
    challenge_id, code, key, digest = issued
    assert len(digest) == 32 and code.encode() not in digest
    expected = hmac.new(key, f"sendsecure/login-code/v1\x00{challenge_id}\x00{code}".encode(), hashlib.sha256).digest()
    assert digest == expected


def test_issue8_item5_without_the_key_the_stored_mac_tells_nothing(issued):
    challenge_id, code, key, digest = issued
    # Trying all codes with any other key (a table dump alone) never finds the code.
    other = secrets.token_bytes(32)
    assert all(code_mac(other, challenge_id, f"{n:06d}") != digest for n in range(0, 10**6, 997))
    assert code_matches(code, challenge_id, other, digest) is False


def test_a1_right_code_matches(issued):
    challenge_id, code, key, digest = issued
    assert code_matches(code, challenge_id, key, digest) is True


def test_a1_code_bound_to_its_challenge(issued):
    challenge_id, code, key, digest = issued
    other_challenge = new_challenge_id()
    assert other_challenge != challenge_id
    assert code_matches(code, other_challenge, key, digest) is False


@pytest.mark.parametrize("wrong", ["042918", "000000", "999999", "429170"])
def test_a1_wrong_code_is_refused(issued, wrong):
    challenge_id, code, key, digest = issued
    assert code_matches(wrong, challenge_id, key, digest) is False


def test_a1_empty_or_truncated_stored_mac_never_matches(issued):
    challenge_id, code, key, digest = issued
    assert code_matches(code, challenge_id, key, b"") is False
    assert code_matches(code, challenge_id, key, digest[:16]) is False


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
    challenge_id, key = new_challenge_id(), secrets.token_bytes(32)
    # Even a MAC computed over the malformed text itself must not let it in.
    assert code_matches(malformed, challenge_id, key, code_mac(key, challenge_id, malformed)) is False
    # ...nor one over the placeholder a malformed code is measured against.
    assert code_matches(malformed, challenge_id, key, code_mac(key, challenge_id, "000000")) is False


# ----- one mailbox, one client (issue 8 item 2) ------------------------------------------


@pytest.mark.parametrize("mailbox, base", [
    ("jan+x@ziekenhuis-a.example", "jan@ziekenhuis-a.example"),
    ("jan+a+b@ziekenhuis-a.example", "jan@ziekenhuis-a.example"),
    ("jan+@ziekenhuis-a.example", "jan@ziekenhuis-a.example"),
    ("jan@ziekenhuis-a.example", "jan@ziekenhuis-a.example"),
    ("j.de.vries@ziekenhuis-a.example", "j.de.vries@ziekenhuis-a.example"),
    ("+x@ziekenhuis-a.example", "+x@ziekenhuis-a.example"),  # no base: left as it is
])
def test_issue8_item2_sub_addressed_mailbox_is_its_base_mailbox(mailbox, base):
    assert base_mailbox(mailbox) == base


@pytest.mark.parametrize("address, group", [
    ("198.51.100.7", "198.51.100.7"),
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("unknown", "unknown"),
    ("", "unknown"),
])
def test_issue8_item2_ipv6_clients_are_grouped_by_64(address, group):
    assert client_group(address) == group


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_issue8_item2_every_address_of_a_64_is_one_client(host):
    address = ipaddress.IPv6Address((0x20010DB8_00010002 << 64) | host)
    assert client_group(str(address)) == "2001:db8:1:2::/64"


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


def test_issue8_item3_reserving_admits_exactly_threshold_failures_then_refuses():
    failures, lockouts, locked_until, outcomes = 0, 0, None, []
    for _ in range(POLICY.threshold + 3):
        r = POLICY.reserve(failures, lockouts, locked_until, T0)
        outcomes.append((r.admitted, r.sets_lock))
        failures, lockouts, locked_until = r.failures, r.lockouts, r.locked_until
    assert outcomes == [(True, False)] * (POLICY.threshold - 1) + [(True, True)] + [(False, False)] * 3
    assert failures == POLICY.threshold and locked_until == T0 + timedelta(seconds=POLICY.base_seconds)


def test_issue8_item3_reservation_admitted_again_once_the_lock_ran_out():
    until = T0 + timedelta(seconds=60)
    assert POLICY.reserve(5, 1, until, until - timedelta(seconds=1)).admitted is False
    again = POLICY.reserve(5, 1, until, until)
    assert again.admitted and again.failures == 6 and not again.sets_lock


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
