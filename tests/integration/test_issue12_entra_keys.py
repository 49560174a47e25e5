"""Issue 12 item 2: Entra's signing keys, fetched over verified HTTPS and cached per worker.

The local authority (tests/entrafake.py) on 127.0.0.1 with a self-signed certificate; the
cache's clock is a test clock, so "a minute later" and "a day later" need no waiting.
"""
from __future__ import annotations

import pytest
from entrafake import EntraServer, SigningKey

from sendsecure.adapters.jwks import EntraKeys, KeysUnavailable, UnknownKey, tls_context

ONE = SigningKey("one")
TWO = SigningKey("two")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = EntraServer(tmp_path_factory.mktemp("entra-keys"))
    yield server
    server.stop()


@pytest.fixture
def fake(server):
    server.fake.reset([ONE])
    return server.fake


@pytest.fixture
def keys(server, fake):
    return EntraKeys(server.base_url, ca_bundle=str(server.cert), timeout=5, clock=Clock())


def test_issue12_item2_issuer_template_and_keys_from_the_openid_configuration(keys, server, fake):
    assert keys.issuer_template() == server.base_url + "/{tenantid}/v2.0"
    assert keys.key("one").key_id == "one"
    assert fake.discovery_requests == 1 and fake.jwks_requests == 1


def test_issue12_item2_unknown_kid_refetches_at_most_once_a_minute(keys, fake):
    keys.key("one")
    fake.keys = [ONE, TWO]
    for _ in range(5):   # a flood of unknown key ids right after a fetch: no fetch
        with pytest.raises(UnknownKey):
            keys.key("forged")
    assert fake.jwks_requests == 1
    keys.clock.now += 61
    assert keys.key("two").key_id == "two"          # the rotation is picked up
    with pytest.raises(UnknownKey):
        keys.key("forged")                           # and the next forged id waits a minute again
    assert fake.jwks_requests == 2


def test_issue12_item2_keys_are_fetched_again_at_least_daily(keys, fake):
    keys.key("one")
    fake.keys = [TWO]                                # "one" withdrawn
    keys.clock.now += 86400 - 1
    assert keys.key("one").key_id == "one"          # still the day's copy
    keys.clock.now += 2
    with pytest.raises(UnknownKey):
        keys.key("one")                              # a day later: fetched again, withdrawn
    assert fake.jwks_requests == 2 and fake.discovery_requests == 2


def test_issue12_item2_a_failed_fetch_is_not_retried_within_retry_after(keys, fake):
    fake.jwks_status = 503
    with pytest.raises(KeysUnavailable) as first:
        keys.key("one")
    assert first.value.retry_after == keys.retry_after
    fake.jwks_status = 200
    keys.clock.now += keys.retry_after - 1
    with pytest.raises(KeysUnavailable) as second:
        keys.key("one")
    assert 1 <= second.value.retry_after <= 2
    assert fake.jwks_requests == 1
    keys.clock.now += 2
    assert keys.key("one").key_id == "one"


def test_issue12_item2_discovery_down_is_unavailable(keys, fake):
    fake.discovery_status = 500
    with pytest.raises(KeysUnavailable):
        keys.issuer_template()
    assert fake.jwks_requests == 0


def test_issue12_item2_held_keys_verify_until_their_day_is_over_while_the_jwks_is_down(keys, fake):
    keys.key("one")
    fake.jwks_status = 503
    keys.clock.now += 3600
    assert keys.key("one").key_id == "one"
    with pytest.raises(KeysUnavailable):
        keys.key("two")                              # the refresh a rotation needs fails: 503, not 401
    assert keys.key("one").key_id == "one"          # while the held key goes on verifying


def test_issue12_item2_tls_is_verified_an_untrusted_certificate_is_refused(server, fake):
    untrusted = EntraKeys(server.base_url, ca_bundle=None, clock=Clock())   # the public roots only
    with pytest.raises(KeysUnavailable):
        untrusted.key("one")
    assert fake.discovery_requests == 0   # the handshake failed: no request reached the server
    assert tls_context(None).verify_mode.name == "CERT_REQUIRED"


def test_issue12_item2_authority_must_be_https():
    with pytest.raises(ValueError):
        EntraKeys("http://127.0.0.1:1")


def test_issue12_item2_a_jwks_without_rsa_signing_keys_is_unavailable(keys, fake):
    fake.keys = []
    with pytest.raises(KeysUnavailable):
        keys.key("one")
