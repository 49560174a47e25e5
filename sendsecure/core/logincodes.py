"""Login codes (SPEC A1): generation, the keyed hash, who counts as one mailbox and one client,
and the throttling arithmetic. Pure.

- A code is 6 digits from ``secrets`` (about 20 bits), valid ``ttl`` seconds, single use.
- Only an HMAC-SHA256 of challenge id and code is stored, under a key from the key store
  (``code_mac``). A slow hash cannot protect 10^6 codes (the whole space is about 13 core-hours
  of scrypt); a MAC whose key is not in the table makes a dump of the table useless, and costs
  microseconds. The challenge id is inside the MAC, so a code is bound to its challenge.
- A sub-addressed mailbox (``jan+x@``) is its base mailbox (``base_mailbox``): Exchange
  delivers its mail to ``jan``, so limits, lockout and identity are those of ``jan``.
- Clients are grouped for per-client limits (``client_group``): an IPv4 address is itself, an
  IPv6 address its /64 (one subscriber line or host usually owns a whole /64).
- Failures are *reserved* before a code is checked (``LockoutPolicy.reserve``): a guess is only
  evaluated if counting it as a failure was admitted, so concurrent guesses never get past
  ``threshold``. Every ``threshold``-th failure locks for a period that doubles with each
  lockout (``base`` up to ``maximum``); only a successful login clears it.
- Issuing and verifying are limited in fixed windows (``IssueWindow``).
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

CODE_DIGITS = 6
MAC_BYTES = 32
_PLACEHOLDER = "0" * CODE_DIGITS


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def new_challenge_id() -> str:
    return secrets.token_urlsafe(24)  # 192 random bits


def is_well_formed(code: str) -> bool:
    return len(code) == CODE_DIGITS and code.isascii() and code.isdigit()


def code_mac(key: bytes, challenge_id: str, code: str) -> bytes:
    """HMAC-SHA256 over challenge id and code: what a challenge stores instead of the code."""
    message = f"sendsecure/login-code/v1\x00{challenge_id}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).digest()


def code_matches(code: str, challenge_id: str, key: bytes, expected: bytes) -> bool:
    """Constant-time check; a malformed code costs the same MAC and never matches."""
    well_formed = is_well_formed(code)
    actual = code_mac(key, challenge_id, code if well_formed else _PLACEHOLDER)
    return hmac.compare_digest(actual, expected) and well_formed and len(expected) == MAC_BYTES


def base_mailbox(mailbox: str) -> str:
    """The mailbox a sub-address delivers to: ``jan+x@d`` -> ``jan@d`` (``mailbox`` normalised)."""
    local, _, domain = mailbox.rpartition("@")
    base = local.split("+", 1)[0]
    return f"{base}@{domain}" if base else mailbox


def client_group(address: str) -> str:
    """The key per-client limits count under: an IPv4 address, an IPv6 /64, else the text."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip().lower() or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Reservation:
    """The outcome of reserving one failure: admitted or not, the new counts, the lock it set."""

    admitted: bool
    failures: int
    lockouts: int
    locked_until: datetime | None
    sets_lock: bool


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

    def reserve(self, failures: int, lockouts: int, locked_until: datetime | None, now: datetime) -> Reservation:
        """Count one failure before the guess is checked, unless a lock holds (then not admitted)."""
        if locked_until is not None and now < locked_until:
            return Reservation(False, failures, lockouts, locked_until, False)
        failures, lockouts, until = self.after_failure(failures, lockouts, now)
        return Reservation(True, failures, lockouts, until or locked_until, until is not None)


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
