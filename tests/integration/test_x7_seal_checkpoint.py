"""SPEC X7 (and S6: the log's own housekeeping is recorded): sealing trusts only what it signed.

``seal`` continues from the tenant's checkpoint and chains the next day onto the last seal. Someone
who can write ``auditseals`` but does not hold the signing key must not be able to steer it: a
checkpoint or seal whose signature does not verify stops the tenant's sealing (nothing sealed,
nothing re-signed), is logged as an error and recorded as ``audit.sealed`` ``refused``. Against
Azurite."""
from __future__ import annotations

import json
import logging
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.audit import AUDIT_SEALED, AuditLog
from sendsecure.audit.__main__ import main as audit_cli
from sendsecure.audit.chain import b64url, day_of, is_head, signed_bytes
from sendsecure.audit.trail import CHECKPOINT, SealRefused, seal_and_purge
from sendsecure.core.signing import signing_key_from_seed
from sendsecure.errors import DependencyUnavailable
from sendsecure.sending import SIGNING_KEY

TENANT = "zorg-a"
DAY1 = datetime(2020, 3, 1, 10, tzinfo=UTC)
SEALED = DAY1 + timedelta(days=5)     # the fixture seals 1 to 5 March
LATER = DAY1 + timedelta(days=10)     # a run five days later: 6 to 10 March are due


def _events(monkeypatch, log: AuditLog, when: datetime, count: int = 3) -> None:
    monkeypatch.setattr("sendsecure.audit.utcnow", lambda: when)
    for index in range(count):
        log.record("phone.read", tenant_id=TENANT, actor=f"actor-{index}", outcome="returned", n=index)
    monkeypatch.undo()


def _seal_rows(tenant: str = TENANT) -> dict[str, dict]:
    return {str(r["RowKey"]): dict(r) for r in runtime.tables().query(
        storage.AUDIT_SEALS, "PartitionKey eq @t", {"t": tenant})}


def _checkpoint() -> dict | None:
    found = runtime.tables().get(storage.AUDIT_SEALS, TENANT, CHECKPOINT)
    return dict(found) if found is not None else None


def _store_seal_row(entity: dict) -> None:
    runtime.tables().upsert(storage.AUDIT_SEALS, entity, merge=False)


def _signed_by_another_key(entity: dict) -> dict:
    """``entity`` signed correctly, but with a key the deployment never published."""
    other = signing_key_from_seed(secrets.token_bytes(32))
    forged = {k: v for k, v in entity.items() if k not in ("kid", "signature")}
    forged["kid"] = other.kid
    forged["signature"] = b64url(other.private_key.sign(signed_bytes(forged)))
    return forged


def _verify(first: str, last: str, now: datetime):
    return runtime.audit_trail().verify(TENANT, first, last, now)


def _sealed_rows_today(event: str = AUDIT_SEALED) -> list[dict]:
    today = day_of(datetime.now(UTC))
    return [dict(r) for r in runtime.tables().query(storage.AUDIT, "PartitionKey eq @p", {"p": f"{TENANT}.{today}"})
            if not is_head(r) and r["event"] == event]


@pytest.fixture
def history(app_env, monkeypatch):
    """Events on 1 and 3 March 2020 and on 7 March; sealed through 5 March (6 to 10 March not yet)."""
    log = runtime.audit_log()
    _events(monkeypatch, log, DAY1)
    _events(monkeypatch, log, DAY1 + timedelta(days=2))
    log.flush()
    assert runtime.audit_trail().seal(TENANT, now=SEALED) == ["20200301", "20200302", "20200303", "20200304",
                                                               "20200305"]
    _events(monkeypatch, log, DAY1 + timedelta(days=6))
    log.flush()
    return log


def _assert_refused(reason: str, row_key: str, before: dict[str, dict]) -> None:
    """seal raises, writes no seal and leaves every row of auditseals as it found it."""
    with pytest.raises(SealRefused) as refused:
        runtime.audit_trail().seal(TENANT, now=LATER)
    assert (refused.value.reason, refused.value.row_key) == (reason, row_key)
    assert _seal_rows() == before


# ----- the checkpoint ------------------------------------------------------------------------------

def test_X7_seal_refuses_a_checkpoint_whose_sealed_through_was_moved_forward(history):
    """Moving ``sealed_through`` past 6-8 March would leave those days unsealed for good, and the
    timer would sign a checkpoint over the forgery."""
    _store_seal_row({**_checkpoint(), "sealed_through": "20200308"})
    forged = _seal_rows()
    _assert_refused("checkpoint_invalid", CHECKPOINT, forged)
    assert _verify("20200301", "20200310", LATER).first_break.reason == "checkpoint_invalid"


def test_X7_seal_refuses_a_checkpoint_whose_first_day_was_changed(history):
    _store_seal_row({**_checkpoint(), "first_day": "20200303"})
    _assert_refused("checkpoint_invalid", CHECKPOINT, _seal_rows())


def test_X7_seal_refuses_a_checkpoint_signed_by_a_key_the_deployment_never_published(history):
    _store_seal_row(_signed_by_another_key({**_checkpoint(), "sealed_through": "20200308"}))
    _assert_refused("checkpoint_invalid", CHECKPOINT, _seal_rows())


def test_X7_seal_refuses_a_checkpoint_without_a_signature(history):
    checkpoint = _checkpoint()
    del checkpoint["signature"], checkpoint["kid"]
    _store_seal_row(checkpoint)
    _assert_refused("checkpoint_invalid", CHECKPOINT, _seal_rows())


def test_X7_seal_refuses_to_start_over_when_the_checkpoint_was_removed_but_seals_exist(history):
    """Without a checkpoint the tenant looks new: sealing would start again from its oldest row
    and sign a checkpoint that forgets ``purged_through``."""
    runtime.tables().delete(storage.AUDIT_SEALS, TENANT, CHECKPOINT)
    _assert_refused("checkpoint_missing", CHECKPOINT, _seal_rows())


def test_X7_seal_of_a_checkpoint_signed_with_an_older_published_key_version_goes_on(history):
    """Key rotation: the checkpoint and 5 March's seal carry the old version's kid; both still
    verify (the JWKS lists every version), and what is signed now carries the new one."""
    old_kid = _checkpoint()["kid"]
    runtime.key_store().rotate(SIGNING_KEY)
    new_kid = runtime.signing().current().kid
    assert new_kid != old_kid
    assert runtime.audit_trail().seal(TENANT, now=LATER) == [f"202003{d:02d}" for d in range(6, 11)]
    assert _checkpoint()["kid"] == new_kid and _checkpoint()["sealed_through"] == "20200310"
    assert _seal_rows()["20200306"]["kid"] == new_kid and _seal_rows()["20200305"]["kid"] == old_kid
    result = _verify("20200301", "20200310", LATER)
    assert result.intact, result.first_break


def test_X7_the_first_seal_of_a_tenant_without_checkpoint_or_seals_still_works(app_env, monkeypatch):
    log = runtime.audit_log()
    _events(monkeypatch, log, DAY1)
    log.flush()
    assert _checkpoint() is None and _seal_rows() == {}
    assert runtime.audit_trail().seal(TENANT, now=DAY1 + timedelta(days=2)) == ["20200301", "20200302"]
    assert (_checkpoint()["first_day"], _checkpoint()["sealed_through"]) == ("20200301", "20200302")
    assert _verify("20200301", "20200302", DAY1 + timedelta(days=2)).intact


def test_X7_a_first_seal_cut_short_after_its_first_day_is_completed_by_the_next_run(app_env, monkeypatch):
    """The first run writes the checkpoint before its first seal, so a run that stops between a
    seal and the checkpoint's move never leaves seals without a checkpoint (which seal refuses)."""
    log = runtime.audit_log()
    _events(monkeypatch, log, DAY1)
    log.flush()
    trail = runtime.audit_trail()
    real_upsert = runtime.tables().upsert

    def upsert_failing_after_the_first_seal(name, entity, **kwargs):
        if name == storage.AUDIT_SEALS and entity.get("sealed_through") == "20200301":
            raise DependencyUnavailable()   # 1 March's seal is stored; the checkpoint's move is lost
        return real_upsert(name, entity, **kwargs)

    monkeypatch.setattr(runtime.tables(), "upsert", upsert_failing_after_the_first_seal)
    with pytest.raises(DependencyUnavailable):
        trail.seal(TENANT, now=DAY1 + timedelta(days=3))
    monkeypatch.undo()
    assert "20200301" in _seal_rows() and _checkpoint() is not None
    assert trail.seal(TENANT, now=DAY1 + timedelta(days=3)) == ["20200301", "20200302", "20200303"]
    result = _verify("20200301", "20200303", DAY1 + timedelta(days=3))
    assert result.intact, result.first_break


# ----- the seal it chains onto ----------------------------------------------------------------------

def test_X7_seal_refuses_to_chain_onto_a_changed_seal(history):
    """A new seal linked to a forged one would make the forgery look continued."""
    _store_seal_row({**_seal_rows()["20200305"], "rows": 7})
    _assert_refused("seal_invalid", "20200305", _seal_rows())


def test_X7_seal_refuses_to_chain_onto_a_seal_signed_by_another_key(history):
    _store_seal_row(_signed_by_another_key({**_seal_rows()["20200305"], "chains": "{}"}))
    _assert_refused("seal_invalid", "20200305", _seal_rows())


def test_X7_seal_refuses_when_the_seal_the_checkpoint_names_is_gone(history):
    runtime.tables().delete(storage.AUDIT_SEALS, TENANT, "20200305")
    _assert_refused("seal_missing", "20200305", _seal_rows())


def test_X7_seal_does_not_take_over_a_forged_seal_planted_on_a_day_not_sealed_yet(history):
    """A seal already there for a day being sealed is taken over only when its signature verifies
    (another instance sealed it); a planted one stops the run at that day."""
    planted = _signed_by_another_key({**_seal_rows()["20200305"], "RowKey": "20200307", "prev_seal": ""})
    _store_seal_row(planted)
    with pytest.raises(SealRefused) as refused:
        runtime.audit_trail().seal(TENANT, now=LATER)
    assert (refused.value.reason, refused.value.row_key) == ("seal_invalid", "20200307")
    assert _checkpoint()["sealed_through"] == "20200306"       # 6 March sealed, then stopped
    assert "20200308" not in _seal_rows() and _seal_rows()["20200307"] == planted


# ----- what the timer and the command make of a refusal ---------------------------------------------

def test_X7_housekeeping_records_a_refused_seal_logs_it_without_secrets_and_goes_on(history, caplog):
    caplog.set_level(logging.INFO)
    forged = {**_checkpoint(), "sealed_through": "20200308"}
    _store_seal_row(forged)
    runtime.audit_log().record("phone.read", tenant_id="zorg-b", actor="a", outcome="returned")
    totals = seal_and_purge(runtime.audit_trail(), history, [TENANT, "zorg-b"], retention_days=3, now=LATER)
    assert totals["failed"] == 1 and totals["refused"] == 1 and totals["tenants"] == 1
    assert totals["rows_purged"] == 0                      # no purge on a log whose state is in doubt
    assert _checkpoint() == forged                         # never re-signed
    [row] = _sealed_rows_today()
    assert (row["outcome"], row["reason"], row["row_key"]) == ("refused", "checkpoint_invalid", CHECKPOINT)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(TENANT in e and "checkpoint_invalid" in e for e in errors), errors
    seed = runtime.key_store().current(SIGNING_KEY)[1]
    for text in (caplog.text, *map(str, row.values())):
        assert forged["signature"] not in text and seed.hex() not in text and b64url(seed) not in text


def test_X7_cli_seal_names_the_refusal_and_exits_1(history, capsys):
    _store_seal_row({**_checkpoint(), "first_day": "20200302"})
    assert audit_cli(["seal", "--tenant", TENANT]) == 1
    err = capsys.readouterr().err
    assert f"{TENANT}: refused" in err and "checkpoint_invalid" in err
    assert audit_cli(["purge", "--tenant", TENANT]) == 1
    assert "'refused': 1" in capsys.readouterr().out


def test_X7_the_last_checkpoint_from_the_application_log_put_back_lets_sealing_go_on(history, caplog):
    """What docs/operations.md tells an operator to do: every checkpoint written is logged as
    written; putting back the last genuine one lets the next run seal again."""
    caplog.set_level(logging.INFO, logger="sendsecure.audit.trail")
    runtime.audit_trail().seal(TENANT, now=SEALED + timedelta(days=1))          # seals 6 March, logs the row
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"audit checkpoint {TENANT}: ")]
    genuine = json.loads(logged[-1].partition(": ")[2])
    assert genuine == _checkpoint()
    _store_seal_row({**genuine, "sealed_through": "20200309"})
    with pytest.raises(SealRefused):
        runtime.audit_trail().seal(TENANT, now=LATER)
    _store_seal_row(genuine)
    assert runtime.audit_trail().seal(TENANT, now=LATER) == ["20200307", "20200308", "20200309", "20200310"]
    result = _verify("20200301", "20200310", LATER)
    assert result.intact, result.first_break
