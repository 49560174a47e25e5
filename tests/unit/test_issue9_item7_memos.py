"""Per-worker memos on the on-send path (issue 9 item 7): the same answers, computed once."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from sendsecure.adapters import keys as keys_module
from sendsecure.adapters.keys import MASTER_KEY, DerivedKeys, LocalKeyStore, Pseudonyms
from sendsecure.core.addresses import InvalidAddress, normalise_mailbox


def expected(key: bytes, kind: str, value: str) -> str:
    return hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()[:40]


class SwappableKeys:
    """Derived keys whose master can be replaced (a new installation's master key)."""

    def __init__(self) -> None:
        self.master = b"\x01" * 32

    def key(self, purpose: str) -> bytes:
        return hashlib.sha256(self.master + purpose.encode()).digest()


def test_issue9_item7_a_pseudonym_is_computed_once_per_key_and_identifier(tmp_path, monkeypatch):
    store = LocalKeyStore(tmp_path)
    store.provision(MASTER_KEY)
    derived = DerivedKeys(store)
    pseudonyms = Pseudonyms(derived)
    wanted = expected(derived.key("pseudonym:mailbox"), "mailbox", "jan@demo-zorg.example")
    computed = []
    real_new = hmac.new
    monkeypatch.setattr(keys_module.hmac, "new", lambda *a, **k: computed.append(a[1]) or real_new(*a, **k))
    first = pseudonyms.of("mailbox", "jan@demo-zorg.example")
    assert pseudonyms.of("mailbox", "jan@demo-zorg.example") == first
    assert first == wanted and len(computed) == 1
    other = pseudonyms.of("recipient:demo-zorg", "jan@demo-zorg.example")   # another kind: its own entry
    assert other != first and len(computed) == 2


def test_issue9_item7_a_new_master_key_gives_new_pseudonyms_at_once():
    keys = SwappableKeys()
    pseudonyms = Pseudonyms(keys)
    before = pseudonyms.of("mailbox", "jan@demo-zorg.example")
    keys.master = b"\x02" * 32
    after = pseudonyms.of("mailbox", "jan@demo-zorg.example")
    assert after != before
    assert after == expected(keys.key("pseudonym:mailbox"), "mailbox", "jan@demo-zorg.example")


def test_issue9_item7_the_pseudonym_memo_is_bounded_and_expires():
    keys = SwappableKeys()
    now = [0.0]
    pseudonyms = Pseudonyms(keys, memo_seconds=60)
    pseudonyms._memo._clock = lambda: now[0]
    pseudonyms.of("mailbox", "a@b.example")
    assert len(pseudonyms._memo) == 1 and pseudonyms._memo.maxsize <= 10_000
    now[0] = 61.0
    assert pseudonyms._memo.get((keys.key("pseudonym:mailbox"), "mailbox", "a@b.example")) is None


def test_issue9_item7_normalise_mailbox_remembers_valid_addresses_and_refuses_invalid_ones_every_time():
    normalise_mailbox.cache_clear()
    assert normalise_mailbox(" Jan@Ziekenhuis-A.NL ") == "jan@ziekenhuis-a.nl"
    assert normalise_mailbox(" Jan@Ziekenhuis-A.NL ") == "jan@ziekenhuis-a.nl"
    assert normalise_mailbox.cache_info().hits == 1
    for _ in range(2):  # an invalid address is not remembered: it raises each time
        with pytest.raises(InvalidAddress):
            normalise_mailbox("geen adres")
    assert normalise_mailbox.cache_info().currsize == 1
