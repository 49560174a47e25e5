"""Issue 7 item 12: keys come from provisioning only; a missing or unreadable key is 503
``dependency_unavailable``, an error in the log and ``keys`` in health, never a new key or a 500."""
from __future__ import annotations

import logging
import shutil
from datetime import UTC
from pathlib import Path

import pytest
from helpers import json_of

from sendsecure import runtime
from sendsecure.adapters.keys import MASTER_KEY, KeyMissing
from sendsecure.phonebook import key_name
from sendsecure.sessions import Session

DRAFT = {"to": [{"address": "jan@huisarts-b.example"}], "cc": [], "bcc": [], "subject": "Verwijzing", "attachments": []}


def auth(token):
    return {"authorization": f"Bearer {token}"}


def new_worker():
    """What a worker starting now sees: nothing cached."""
    runtime.reset()


def break_master_key(app_env, how: str) -> Path:
    folder = Path(app_env["LOCAL_KEY_DIR"]) / MASTER_KEY
    shutil.rmtree(folder)
    if how == "unreadable":  # a file where the key's folder should be: an OSError like EACCES
        folder.write_text("not a key folder")
    new_worker()
    return folder


@pytest.mark.parametrize("how, health_keys", [("missing", "missing"), ("unreadable", "unavailable")])
def test_issue7_item12_a_missing_or_unreadable_master_key_is_503_everywhere(call, login, app_env, sample_book,
                                                                            caplog, how, health_keys):
    token = login()
    folder = break_master_key(app_env, how)
    caplog.set_level(logging.ERROR)

    answers = {
        "request_login_code": call("request_login_code", "POST", body={"mailbox": "jan@ziekenhuis-a.example"}),
        "get_user_settings": call("get_user_settings", headers=auth(token)),
        "check_on_send": call("check_on_send", "POST", body=DRAFT, headers=auth(token)),
        "validate_draft": call("validate_draft", "POST", body=DRAFT, headers=auth(token)),
    }
    for name, response in answers.items():
        assert response.status_code == 503, (name, response.get_body())
        assert json_of(response)["code"] == "dependency_unavailable" and int(response.headers["Retry-After"]) > 0

    health = call("get_health")
    assert health.status_code == 503 and json_of(health)["keys"] == health_keys
    assert any(r.name.startswith("sendsecure.adapters.keys") for r in caplog.records)
    assert (folder.is_file() if how == "unreadable" else not folder.exists())  # no key was made


def test_issue7_item12_health_says_ok_only_with_the_master_key(call, sample_book):
    health = json_of(call("get_health"))
    assert health["keys"] == "ok" and health["status"] == "ok"


def test_issue7_item12_a_tenant_without_its_phone_key_cannot_store_numbers(app_env):
    shutil.rmtree(Path(app_env["LOCAL_KEY_DIR"]) / key_name("zorg-a"))
    new_worker()
    from datetime import datetime

    now = datetime.now(UTC)
    alice = Session(tenant_id="zorg-a", mailbox="alice@ziekenhuis-a.example", login_method="email_code",
                    device_id="d", created_at=now, last_used_at=now, expires_at=now)
    with pytest.raises(KeyMissing):
        runtime.phonebook().put(alice, "piet@gmail.example", "0612345678", None, "nl")
    assert not (Path(app_env["LOCAL_KEY_DIR"]) / key_name("zorg-a")).exists()


def test_issue7_item12_provisioning_is_idempotent_and_makes_what_requests_need(app_env):
    from sendsecure.provision import provision

    report = provision(["zorg-a", "new-tenant"])
    assert report["master_key"] == "present"
    assert report["tenant_keys"] == {"zorg-a": "present", "new-tenant": "created"}
    assert report["tables_created"] == []
