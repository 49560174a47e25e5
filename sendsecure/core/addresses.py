"""E-mail addresses and domains: one normal form for comparing them.

Addresses are trimmed and compared case-insensitively; an internationalised domain is equal
to its punycode (IDNA 2008, through the ``idna`` package) form. Pure functions, no I/O.
"""
from __future__ import annotations

import functools
import re

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidAddress(ValueError):
    """Not a usable e-mail address or domain; the message says why, without echoing it."""


@functools.lru_cache(maxsize=65536)
def normalise_domain(domain: str) -> str:
    """Lower-case ASCII (punycode) form of a domain; raises ``InvalidAddress``."""
    text = domain.strip().rstrip(".").lower()
    if not text or len(text) > 253:
        raise InvalidAddress("domain is empty or too long")
    if not text.isascii():
        import idna  # loaded only when a non-ASCII domain comes by

        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError:
            raise InvalidAddress("domain is not a valid internationalised domain name") from None
    labels = text.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.fullmatch(label) for label in labels):
        raise InvalidAddress("domain is not a valid host name")
    if labels[-1].isdigit():
        raise InvalidAddress("domain is not a valid host name")
    return text


def normalise_mailbox(address: str) -> str:
    """``local@domain`` trimmed, lower-cased, domain in punycode; raises ``InvalidAddress``."""
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        raise InvalidAddress("address needs a local part and a domain")
    if len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        raise InvalidAddress("local part is not valid")
    normalised = f"{local.lower()}@{normalise_domain(domain)}"
    if len(normalised) > 254:
        raise InvalidAddress("address is too long")
    return normalised


def domain_of(mailbox: str) -> str:
    return mailbox.rpartition("@")[2]
