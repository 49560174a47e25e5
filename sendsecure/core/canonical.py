"""RFC 8785 (JSON Canonicalization Scheme) bytes, fast for the values this service signs.

``canonical_json(value)`` equals ``rfc8785.dumps(value)`` for every value (a property test holds
them byte-equal over generated values). The envelope, the draft digest, the recipient set and
the envelope id canonicalise on every send, and the ``rfc8785`` package does it in pure Python
string by string (about 0.5 ms of a send's CPU). Values made only of strings, integers within
±2^53, booleans, null, lists and objects whose keys hold no character at or above U+D800 are
written by the standard library's C encoder instead, which then produces the same bytes:

- keys sorted by code point equal keys sorted by UTF-16 code unit (RFC 8785 §3.2.3) when no key
  holds a character at or above U+D800 (the two orders differ only between a supplementary
  character's surrogates and U+E000..U+FFFF);
- strings: ``ensure_ascii=False`` escapes exactly ``"``, ``\\`` and U+0000..U+001F, with the
  short forms for \\b \\t \\n \\f \\r and lowercase ``\\u00xx`` otherwise, as ECMAScript's
  JSON.stringify does (RFC 8785 §3.2.2.2); a lone surrogate cannot be encoded to UTF-8 and is
  refused, as by ``rfc8785``;
- integers within ±2^53 print as ECMAScript prints the same double (§3.2.2.3).

Anything else (a float, a larger integer, another key) goes to ``rfc8785`` itself.
"""
from __future__ import annotations

import json
from typing import Any

import rfc8785

CanonicalizationError = rfc8785.CanonicalizationError
_SAFE_INT = 2 ** 53
_KEY_LIMIT = "\ud800"
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"),
                            check_circular=False)


def _plain(value: Any) -> bool:
    """Whether the standard encoder writes ``value`` exactly as RFC 8785 does (module docstring)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str or not (key.isascii() or max(key, default="") < _KEY_LIMIT):
                    return False
            extend(item.values())
        elif kind is list or kind is tuple:
            extend(item)
        elif kind is int:
            if not -_SAFE_INT < item < _SAFE_INT:
                return False
        else:
            return False
    return True


def canonical_json(value: Any) -> bytes:
    """``rfc8785.dumps(value)``, by the C encoder when that gives the same bytes."""
    if _plain(value):
        try:
            return _ENCODER.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 says what is wrong with it
    return rfc8785.dumps(value)
