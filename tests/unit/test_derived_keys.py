"""Issue 8.9: one key per purpose, derived from the master secret (HKDF), never shared."""
import hashlib
import hmac

from sendsecure.adapters.keys import MASTER_KEY, DerivedKeys, LocalKeyStore, Pseudonyms


def provisioned(folder):
    store = LocalKeyStore(folder)
    store.provision(MASTER_KEY)  # keys come from provisioning only (issue 7 item 12)
    return store


def test_each_purpose_gets_its_own_key(tmp_path):
    keys = DerivedKeys(provisioned(tmp_path))
    purposes = ["pseudonym:mailbox", "pseudonym:recipient", "pseudonym:client", "login-code"]
    derived = {purpose: keys.key(purpose) for purpose in purposes}
    assert len(set(derived.values())) == len(purposes)
    assert all(len(key) == 32 for key in derived.values())
    master = LocalKeyStore(tmp_path).stable(MASTER_KEY)
    assert master not in derived.values()


def test_derived_keys_are_stable_across_workers(tmp_path):
    one, two = DerivedKeys(provisioned(tmp_path)), DerivedKeys(LocalKeyStore(tmp_path))
    assert one.key("login-code") == two.key("login-code")


def test_audit_pseudonym_key_does_not_reveal_recipient_pseudonyms(tmp_path):
    """An auditor given the mailbox pseudonym key cannot test which recipients a person stored."""
    keys = DerivedKeys(provisioned(tmp_path))
    pseudonyms = Pseudonyms(keys)
    auditor_key = keys.key("pseudonym:mailbox")
    recipient = pseudonyms.of("recipient:demo-zorg", "piet@gmail.example")
    guess = hmac.new(auditor_key, b"recipient:demo-zorg\x00piet@gmail.example", hashlib.sha256).hexdigest()[:40]
    assert recipient != guess
    mailbox = pseudonyms.of("mailbox", "jan@demo-zorg.example")
    assert mailbox == hmac.new(auditor_key, b"mailbox\x00jan@demo-zorg.example", hashlib.sha256).hexdigest()[:40]
