"""Tests that kill mutants of the login codes (``make mutate``, docs/testing.md): each pins A1."""
from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from sendsecure.core.logincodes import (
    CODE_DIGITS,
    MAC_BYTES,
    IssueWindow,
    LockoutPolicy,
    base_mailbox,
    code_mac,
    new_challenge_id,
    new_code,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_a1_code_and_mac_parameters_pinned() -> None:
    """Six digits, a 32-byte HMAC-SHA256 over a versioned message (a changed label or order
    would make every stored challenge unverifiable after a deployment)."""
    assert CODE_DIGITS == 6 and MAC_BYTES == 32
    assert len(new_code()) == 6
    expected = hmac.new(b"k" * 32, b"sendsecure/login-code/v1\x00challenge\x00123456", hashlib.sha256).digest()
    assert code_mac(b"k" * 32, "challenge", "123456") == expected


def test_a1_challenge_id_has_192_random_bits() -> None:
    ids = {new_challenge_id() for _ in range(20)}
    assert len(ids) == 20 and all(len(i) == 32 for i in ids)   # 24 bytes, URL-safe base64


def test_a1_sub_address_base_of_a_quoted_local_part() -> None:
    """The last @ separates the domain; a + in the domain part of a quoted local part is kept."""
    assert base_mailbox('"a@b+c"@d.example') == '"a@b@d.example'
    assert base_mailbox("jan+x+y@d.example") == "jan@d.example"


def test_a1_refused_failure_while_locked_keeps_counts() -> None:
    policy = LockoutPolicy(threshold=5, base_seconds=60, max_seconds=3600)
    locked = NOW + timedelta(seconds=30)
    result = policy.reserve(7, 3, locked, NOW)
    assert (result.admitted, result.failures, result.lockouts, result.locked_until, result.sets_lock) == (
        False, 7, 3, locked, False)


def test_a1_lockout_doubling_is_capped_at_two_to_the_twentieth() -> None:
    policy = LockoutPolicy(threshold=1, base_seconds=1, max_seconds=10**9)
    _, lockouts, until = policy.after_failure(0, 21, NOW)
    assert lockouts == 22 and until == NOW + timedelta(seconds=2**20)


def test_a1_minimum_retry_wait_is_one_second() -> None:
    window = IssueWindow(limit=1, seconds=60)
    allowed, start, count, _ = window.admit(None, 0, NOW)
    assert (allowed, count) == (True, 1)
    allowed, _, _, retry_after = window.admit(start, count, NOW + timedelta(seconds=59.8))
    assert (allowed, retry_after) == (False, 1)
