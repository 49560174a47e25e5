"""Login codes (SPEC A1): generation, salted hashing and the throttling arithmetic. Pure.

- A code is 6 digits from ``secrets`` (about 20 bits), valid ``ttl`` seconds, single use.
- Only a salted scrypt hash is stored; the challenge id is hashed with the code, so a code
  is bound to the request that issued it and a hash cannot be moved to another challenge.
  scrypt makes trying all 10^6 codes against a stolen row take hours, far past the 10 minutes
  a code lives.
- Each code takes at most ``max_attempts`` tries. A per-mailbox failure count that new codes
  do not reset locks the mailbox out every ``threshold`` failures, for a period that doubles
  with each lockout (``base`` up to ``maximum``); only a successful login clears it
  (NIST SP 800-63B 5.2.2; OWASP ASVS 5.0 6.3.x).
- Issuing is limited per mailbox and per client address in fixed windows.
"""
from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_DIGITS = 6
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_challenge_id() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


def new_salt() -> bytes:
    return secrets.token_bytes(16)


def hash_code(code: str, challenge_id: str, salt: bytes) -> bytes:
    material = f"{challenge_id}:{code}".encode("ascii")
    return hashlib.scrypt(material, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)


def is_well_formed(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


def code_matches(code: str, challenge_id: str, salt: bytes, expected: bytes) -> bool:
    if not is_well_formed(code):
        return False
    return hmac.compare_digest(hash_code(code, challenge_id, salt), expected)


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    base_seconds: int
    max_seconds: int

    def after_failure(self, failures: int, lockouts: int, now: datetime) -> tuple[int, int, datetime | None]:
        """Failures and lockouts after one more failure, and the new lock end (or ``None``)."""
        failures += 1
        if failures % self.threshold:
            return failures, lockouts, None
        lockouts += 1
        seconds = min(self.base_seconds * 2 ** min(lockouts - 1, 20), self.max_seconds)
        return failures, lockouts, now + timedelta(seconds=seconds)


@dataclass(frozen=True)
class IssueWindow:
    """A fixed window counter: at most ``limit`` events per ``seconds``."""

    limit: int
    seconds: int

    def admit(self, start: datetime | None, count: int, now: datetime) -> tuple[bool, datetime, int, int]:
        """(allowed, window start, count after this event, seconds until the window resets)."""
        if start is None or now >= start + timedelta(seconds=self.seconds) or now < start:
            start, count = now, 0
        retry_after = max(1, math.ceil((start + timedelta(seconds=self.seconds) - now).total_seconds()))
        if count >= self.limit:
            return False, start, count, retry_after
        return True, start, count + 1, retry_after
