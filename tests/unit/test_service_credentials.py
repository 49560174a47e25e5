"""Issue 10 item 5 (S9): the service credential, on a local key store in a temporary folder."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sendsecure.adapters.keys import LocalKeyStore
from sendsecure.gateway.__main__ import main, mask
from sendsecure.servicecredentials import Refused, ServiceCredentials, credential_for, key_name


def credentials(tmp_path: Path) -> ServiceCredentials:
    return ServiceCredentials(LocalKeyStore(tmp_path / "keys", verify_ttl=0, check_seconds=0))


def reason(service: ServiceCredentials, token: str) -> str:
    with pytest.raises(Refused) as refused:
        service.authenticate(token)
    return refused.value.reason


def test_issue10_item5_issued_credential_authenticates_as_its_role_and_slot(tmp_path: Path) -> None:
    service = credentials(tmp_path)
    token, created = service.issue("gateway")
    assert created and token.startswith("ssc_gateway.a.") and len(token) == len("ssc_gateway.a.") + 43
    principal = service.authenticate(token)
    assert (principal.role, principal.slot, principal.actor) == ("gateway", "a", "service:gateway.a")
    assert service.issue("gateway") == (token, False)          # printed again, not made again


def test_issue10_item5_refusal_reasons(tmp_path: Path) -> None:
    service = credentials(tmp_path)
    token, _ = service.issue("gateway")
    middle = len(token) - 10  # a character inside the secret carries six bits that all count
    flipped = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    assert reason(service, "") == "missing"
    assert reason(service, "sst_" + "x" * 43) == "session_token"   # a user session is never a credential
    assert reason(service, "ssc_gateway.a.short") == "malformed"
    assert reason(service, flipped) == "wrong_secret"
    assert reason(service, token.replace(".a.", ".b.")) == "unknown_credential"   # slot b never provisioned
    assert reason(service, token.replace(".a.", ".z.")) == "unknown_credential"   # no such slot
    assert reason(service, token.replace("gateway", "admin")) == "unknown_credential"


def test_issue10_item5_a_key_copied_to_another_role_or_slot_gives_no_credential(tmp_path: Path) -> None:
    service = credentials(tmp_path)
    service.issue("gateway")
    keys = tmp_path / "keys"
    shutil.copytree(keys / key_name("gateway", "a"), keys / key_name("book-sync", "a"))
    shutil.copytree(keys / key_name("gateway", "a"), keys / key_name("gateway", "b"))
    gateway_a, _ = service.issue("gateway", "a")
    book_sync, _ = service.issue("book-sync", "a")
    gateway_b, _ = service.issue("gateway", "b")
    assert len({gateway_a.split(".")[-1], book_sync.split(".")[-1], gateway_b.split(".")[-1]}) == 3
    assert service.authenticate(book_sync).role == "book-sync"
    forged = gateway_b.rsplit(".", 1)[0] + "." + gateway_a.rsplit(".", 1)[1]
    assert reason(service, forged) == "wrong_secret"


def test_issue10_item5_retired_slot_stops_working(tmp_path: Path) -> None:
    service = credentials(tmp_path)
    old, _ = service.issue("gateway", "a")
    new, _ = service.issue("gateway", "b")
    assert service.authenticate(old) and service.authenticate(new)   # the rotation's overlap
    service.retire("gateway", "a")
    assert reason(service, old) == "unknown_credential"
    assert service.authenticate(new).slot == "b"


def test_issue10_item5_credential_is_an_hmac_of_the_slot_key_not_the_key() -> None:
    key = bytes(range(32))
    token = credential_for(key, "gateway", "a")
    assert token == credential_for(key, "gateway", "a") != credential_for(key, "gateway", "b")
    import base64

    assert base64.urlsafe_b64encode(key).decode().rstrip("=") not in token


def test_issue10_item6_command_takes_the_credential_from_env_or_file_never_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDSECURE_GATEWAY_CREDENTIAL", raising=False)
    message = tmp_path / "m.eml"
    message.write_bytes(b"From: a@b.example\r\n\r\nx")
    base = ["verify", str(message), "--rcpt", "a@x.example"]
    assert main([*base, "--api", "http://127.0.0.1:1/api/v1"]) == 2
    assert "SENDSECURE_GATEWAY_CREDENTIAL" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--api", "http://127.0.0.1:1/api/v1", "--credential", "ssc_x"])
    monkeypatch.setenv("SENDSECURE_GATEWAY_CREDENTIAL", "ssc_gateway.a." + "A" * 43)
    assert main([*base, "--api", "http://gateway.example/api/v1"]) == 2       # http off the loopback
    assert "https" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--api", "https://x.example/api/v1", "--envelope", "e.json"])   # one source only


def test_issue10_item6_phone_is_shown_masked() -> None:
    assert mask("+31612345678") == "+31*******78"
    assert "612345" not in mask("+31612345678")


def test_issue10_item5_only_the_canonical_spelling_of_a_secret_is_accepted(tmp_path: Path) -> None:
    """The last base64 character of a 32-byte secret has two unused bits: other spellings refused."""
    service = credentials(tmp_path)
    token, _ = service.issue("gateway")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    index = alphabet.index(token[-1])
    same_bits = [alphabet[(index & ~3) | low] for low in range(4) if alphabet[(index & ~3) | low] != token[-1]]
    for spelling in same_bits:
        assert reason(service, token[:-1] + spelling) == "malformed"
    assert service.authenticate(token).role == "gateway"
