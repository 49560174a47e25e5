"""SPEC A3: session tokens (>= 128 random bits, stored only hashed) and session lifetimes."""
from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sendsecure.sessions import TOKEN_PREFIX, Session, new_token, token_hash

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
IDLE = 30 * 24 * 3600
ABSOLUTE = timedelta(days=90)


def session(last_used: datetime = T0, expires: datetime = T0 + ABSOLUTE, created: datetime = T0) -> Session:
    return Session(
        tenant_id="demo-zorg", mailbox="jan@ziekenhuis.example", login_method="email_code",
        device_id="device-1", created_at=created, last_used_at=last_used, expires_at=expires,
    )


# ----- tokens ----------------------------------------------------------------------------


def test_a3_token_has_at_least_128_random_bits():
    token = new_token()
    assert token.startswith(TOKEN_PREFIX)
    random_part = token[len(TOKEN_PREFIX):]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", random_part), random_part
    assert len(random_part) >= 22  # 22 base64 characters = 132 bits


def test_a3_tokens_differ():
    tokens = [new_token() for _ in range(2000)]
    assert len(set(tokens)) == len(tokens)


def test_a3_token_random_part_uses_the_whole_alphabet():
    # A constant or low-entropy source would show few distinct characters per position.
    tokens = [new_token()[len(TOKEN_PREFIX):] for _ in range(500)]
    assert len({t[0] for t in tokens}) > 40


def test_a3_token_hash_is_hex_sha256_of_the_token():
    token = new_token()
    digest = token_hash(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hashlib.sha256(token.encode("utf-8")).hexdigest()


def test_a3_token_hash_differs_from_token_and_contains_no_part_of_it():
    token = new_token()
    digest = token_hash(token)
    assert digest != token
    assert token[len(TOKEN_PREFIX):][:16] not in digest


def test_a3_token_hash_is_stable_and_distinguishes_tokens():
    a, b = new_token(), new_token()
    assert token_hash(a) == token_hash(a)
    assert token_hash(a) != token_hash(b)


# ----- lifetimes -------------------------------------------------------------------------


def test_a3_idle_end_is_last_use_plus_idle_when_before_absolute_end():
    s = session(last_used=T0 + timedelta(days=10))
    assert s.idle_expires_at(IDLE) == T0 + timedelta(days=40)


def test_a3_idle_end_is_capped_by_absolute_end():
    s = session(last_used=T0 + timedelta(days=80))
    assert s.idle_expires_at(IDLE) == T0 + ABSOLUTE


@given(
    used_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=200)),
    lifetime=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=200)),
    idle=st.integers(min_value=1, max_value=200 * 24 * 3600),
)
def test_a3_idle_end_is_min_of_last_use_plus_idle_and_absolute_end(used_after, lifetime, idle):
    s = session(last_used=T0 + used_after, expires=T0 + lifetime)
    assert s.idle_expires_at(idle) == min(T0 + used_after + timedelta(seconds=idle), T0 + lifetime)


def test_a3_session_valid_just_before_idle_end():
    s = session()
    assert s.is_valid(T0 + timedelta(seconds=IDLE) - timedelta(microseconds=1), IDLE) is True


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=365)])
def test_a3_session_invalid_at_and_after_idle_end(after):
    s = session()
    assert s.is_valid(T0 + timedelta(seconds=IDLE) + after, IDLE) is False


def test_a3_session_valid_just_before_absolute_end():
    s = session(last_used=T0 + ABSOLUTE - timedelta(days=1))
    assert s.is_valid(T0 + ABSOLUTE - timedelta(microseconds=1), IDLE) is True


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=1)])
def test_a3_session_invalid_at_and_after_absolute_end_even_if_recently_used(after):
    s = session(last_used=T0 + ABSOLUTE - timedelta(hours=1))
    assert s.is_valid(T0 + ABSOLUTE + after, IDLE) is False


def test_a3_recent_use_extends_the_idle_end():
    stale = session(last_used=T0)
    fresh = session(last_used=T0 + timedelta(days=20))
    moment = T0 + timedelta(days=35)
    assert stale.is_valid(moment, IDLE) is False
    assert fresh.is_valid(moment, IDLE) is True
