"""Issue 11 item 3, SPEC S6 and X7: the audit log as hash chains, against Azurite.

Every kind of tampering (a changed field, a removed middle or tail row, an inserted row, two rows
swapped) is found and the first break named; 100 parallel writers in two "processes" leave
unbroken chains and lose no event; sealing and purging keep the log verifiable."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from sendsecure import runtime
from sendsecure.adapters import storage
from sendsecure.audit import LANES, AuditLog
from sendsecure.audit.__main__ import main as audit_cli
from sendsecure.audit.chain import day_of, head_key, is_head, row_key
from sendsecure.audit.trail import CHECKPOINT, seal_and_purge

TENANT = "zorg-a"


def today() -> str:
    return day_of(datetime.now(UTC))


def write(log: AuditLog, count: int, tenant: str = TENANT, **details) -> None:
    for index in range(count):
        log.record("phone.read", tenant_id=tenant, actor=f"actor-{index}", outcome="returned", n=index, **details)


def rows(tenant: str = TENANT, day: str | None = None) -> list[dict]:
    """The day's event rows (not the chains' heads)."""
    return [dict(r) for r in runtime.tables().query(storage.AUDIT, "PartitionKey eq @p",
                                                    {"p": f"{tenant}.{day or today()}"}) if not is_head(r)]


def chain_rows(writer: str, tenant: str = TENANT, day: str | None = None) -> list[dict]:
    return [r for r in rows(tenant, day) if r["chain"] == writer]


def verify(tenant: str = TENANT, first: str | None = None, last: str | None = None, now=None):
    return runtime.audit_trail().verify(tenant, first or today(), last or first or today(), now)


def replace(row: dict) -> None:
    runtime.tables().upsert(storage.AUDIT, row, merge=False)


@pytest.fixture
def log(app_env):
    """The process's audit log with five events of one chain, and nothing else of the tenant today."""
    audit = runtime.audit_log()
    write(audit, 5)
    audit.flush()   # the heads as the background writer leaves them a moment later
    return audit


def test_x7_an_untouched_chain_verifies(log):
    result = verify()
    assert result.intact and result.first_break is None
    assert result.rows == len(rows()) >= 5
    ours = chain_rows(log.writer)
    assert [r["seq"] for r in ours] == list(range(len(ours)))
    assert all(r["prev_hash"] == p["hash"] for p, r in zip(ours, ours[1:], strict=False))


def test_x7_issue11_a_changed_field_is_found_and_named(log):
    row = chain_rows(log.writer)[2]
    replace({**row, "outcome": "nothing_returned"})
    result = verify()
    assert not result.intact
    assert result.first_break.as_dict() == {"partition": f"{TENANT}.{today()}", "row_key": row["RowKey"],
                                            "reason": "changed"}


def test_x7_issue11_a_changed_type_is_a_change(log):
    row = chain_rows(log.writer)[1]
    replace({**row, "n": str(row["n"])})   # the number 1 stored as the text "1"
    assert verify().first_break.reason == "changed"


def test_x7_issue11_a_removed_middle_row_is_found_at_the_next_one(log):
    ours = chain_rows(log.writer)
    runtime.tables().delete(storage.AUDIT, ours[2]["PartitionKey"], ours[2]["RowKey"])
    found = verify().first_break
    assert (found.row_key, found.reason) == (ours[3]["RowKey"], "removed")


def test_x7_issue11_a_removed_first_row_is_found(log):
    ours = chain_rows(log.writer)
    runtime.tables().delete(storage.AUDIT, ours[0]["PartitionKey"], ours[0]["RowKey"])
    found = verify().first_break
    assert (found.row_key, found.reason) == (ours[1]["RowKey"], "removed")


def test_x7_issue11_a_removed_tail_row_is_found_by_the_chain_head(log):
    last = chain_rows(log.writer)[-1]
    runtime.tables().delete(storage.AUDIT, last["PartitionKey"], last["RowKey"])
    found = verify().first_break
    assert (found.row_key, found.reason) == (last["RowKey"], "tail_removed")


def test_x7_issue11_a_removed_tail_and_its_head_are_found(log):
    last = chain_rows(log.writer)[-1]
    runtime.tables().delete(storage.AUDIT, last["PartitionKey"], last["RowKey"])
    runtime.tables().delete(storage.AUDIT, last["PartitionKey"], head_key(log.writer))
    assert verify().first_break.reason == "head_missing"


def test_x7_issue11_a_whole_chain_removed_with_its_rows_is_found_by_its_head(log):
    for row in chain_rows(log.writer):
        runtime.tables().delete(storage.AUDIT, row["PartitionKey"], row["RowKey"])
    found = verify().first_break
    assert (found.row_key, found.reason) == (row_key(log.writer, 0), "chain_removed")


def test_x7_issue11_an_inserted_row_is_found(log):
    ours = chain_rows(log.writer)
    forged = {**ours[2], "RowKey": ours[2]["RowKey"] + "a", "outcome": "forged"}
    runtime.tables().insert(storage.AUDIT, forged)
    found = verify().first_break
    assert (found.row_key, found.reason) == (forged["RowKey"], "inserted")


def test_x7_issue11_a_row_appended_after_the_tail_is_found(log):
    last = chain_rows(log.writer)[-1]
    forged = {**last, "RowKey": row_key(log.writer, last["seq"] + 1), "seq": last["seq"] + 1,
              "prev_hash": last["hash"], "outcome": "forged"}
    runtime.tables().insert(storage.AUDIT, forged)
    found = verify().first_break
    assert (found.row_key, found.reason) == (forged["RowKey"], "inserted")


def test_x7_issue11_a_forged_chain_of_its_own_is_found(log):
    template = chain_rows(log.writer)[0]
    forged = {**template, "RowKey": row_key("f0f0f0f0f0f0", 0), "chain": "f0f0f0f0f0f0", "prev_hash": ""}
    runtime.tables().insert(storage.AUDIT, forged)
    found = verify().first_break
    assert (found.row_key, found.reason) == (forged["RowKey"], "inserted")


def test_x7_issue11_two_swapped_rows_are_found_as_reordered(log):
    ours = chain_rows(log.writer)
    first, second = ours[1], ours[2]
    keys = ("PartitionKey", "RowKey")
    replace({**{k: v for k, v in second.items() if k not in keys}, **{k: first[k] for k in keys}})
    replace({**{k: v for k, v in first.items() if k not in keys}, **{k: second[k] for k in keys}})
    found = verify().first_break
    assert (found.row_key, found.reason) == (first["RowKey"], "reordered")


def test_x7_issue11_breaks_are_counted_and_the_first_is_named(log):
    ours = chain_rows(log.writer)
    replace({**ours[3], "outcome": "x"})
    replace({**ours[1], "outcome": "y"})
    result = verify()
    assert result.first_break.row_key == ours[1]["RowKey"] and result.breaks >= 1


# ----- concurrency ---------------------------------------------------------------------------------

def _parallel(logs: list[AuditLog], writers: int) -> None:
    start = threading.Barrier(writers)
    errors: list[BaseException] = []

    def one(index: int) -> None:
        try:
            start.wait()
            logs[index % len(logs)].record("send.accepted", tenant_id=TENANT, actor=f"p{index}", outcome="created",
                                           n=index)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_x7_issue11_100_parallel_writers_in_two_processes_leave_unbroken_chains(app_env):
    logs = [AuditLog(runtime.tables(), runtime.derived_keys()), AuditLog(runtime.tables(), runtime.derived_keys())]
    _parallel(logs, 100)

    result = verify()
    assert result.intact, result.first_break
    sent = [r for r in rows() if r["event"] == "send.accepted"]
    assert sorted(r["n"] for r in sent) == list(range(100))          # no event lost, none twice
    for log in logs:
        lanes = [chain_rows(log.lane_writer(lane)) for lane in range(LANES)]
        for ours in lanes:
            assert [r["seq"] for r in ours] == list(range(len(ours)))
        assert sum(len(ours) for ours in lanes) == 50


def test_x7_issue11_two_writers_with_one_chain_id_take_turns_without_forking_it(app_env):
    """Optimistic concurrency: two instances sharing a writer id (as if two processes drew the
    same) lose races on positions, re-read the chain's end and go on: one chain, no fork."""
    logs = [AuditLog(runtime.tables(), runtime.derived_keys(), writer="5ha7ed000000") for _ in range(2)]
    _parallel(logs, 60)

    assert verify().intact
    lanes = [chain_rows(logs[0].lane_writer(lane)) for lane in range(LANES)]
    for ours in lanes:
        assert [r["seq"] for r in ours] == list(range(len(ours)))
    assert sorted(r["n"] for ours in lanes for r in ours) == list(range(60))


def test_x7_group_commit_writes_concurrent_events_in_fewer_batches(app_env, monkeypatch):
    tables = runtime.tables()
    sizes: list[int] = []
    insert_all = tables.insert_all

    def counted(name, entities, **kwargs):
        if name == storage.AUDIT:
            sizes.append(len(entities))
        return insert_all(name, entities, **kwargs)

    monkeypatch.setattr(tables, "insert_all", counted)
    _parallel([AuditLog(tables, runtime.derived_keys())], 40)
    assert sum(sizes) == 40 and len(sizes) < 40 and max(sizes) < storage.BATCH_LIMIT   # and the head


def test_x7_a_failed_batch_raises_to_each_of_its_callers_and_the_chain_goes_on(app_env, monkeypatch):
    from sendsecure.errors import DependencyUnavailable

    log = runtime.audit_log()
    write(log, 2)
    before = len(chain_rows(log.writer))
    tables = runtime.tables()
    real = tables.insert_all
    monkeypatch.setattr(tables, "insert_all", lambda name, entities, **kwargs: (_ for _ in ()).throw(
        DependencyUnavailable("down")))
    with pytest.raises(DependencyUnavailable):
        log.record("logout", tenant_id=TENANT, actor="a", outcome="ended")
    monkeypatch.setattr(tables, "insert_all", real)
    write(log, 2)
    ours = chain_rows(log.writer)
    assert [r["seq"] for r in ours] == list(range(before + 2)) and "logout" not in {r["event"] for r in ours}
    assert verify().intact


# ----- seals, retention and the command line -------------------------------------------------------

def _old_events(monkeypatch, log: AuditLog, when: datetime, count: int = 3) -> None:
    monkeypatch.setattr("sendsecure.audit.utcnow", lambda: when)
    write(log, count)
    monkeypatch.undo()


DAY1 = datetime(2020, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def history(app_env, monkeypatch):
    """Events on 1 and 3 March 2020 (none on the 2nd), sealed through 5 March."""
    log = runtime.audit_log()
    _old_events(monkeypatch, log, DAY1)
    _old_events(monkeypatch, log, DAY1 + timedelta(days=2))
    log.flush()
    sealed = runtime.audit_trail().seal(TENANT, now=DAY1 + timedelta(days=5))
    assert sealed == ["20200301", "20200302", "20200303", "20200304", "20200305"]
    return log


NOW = DAY1 + timedelta(days=5)


def test_x7_sealed_days_verify_and_a_day_without_events_has_a_seal_too(history):
    result = verify(first="20200301", last="20200304", now=NOW)
    assert result.intact, result.first_break
    assert result.rows == 6 and result.days == 4


def test_x7_a_removed_tail_of_a_sealed_day_is_found_without_its_head(history):
    last = chain_rows(history.writer, day="20200303")[-1]
    runtime.tables().delete(storage.AUDIT, last["PartitionKey"], last["RowKey"])
    runtime.tables().delete(storage.AUDIT, last["PartitionKey"], head_key(history.writer))
    found = verify(first="20200301", last="20200304", now=NOW).first_break
    assert (found.row_key, found.reason) == (last["RowKey"], "tail_removed")


def test_x7_a_removed_seal_is_found_by_the_next_days_link(history):
    runtime.tables().delete(storage.AUDIT_SEALS, TENANT, "20200302")
    found = verify(first="20200301", last="20200304", now=NOW).first_break
    assert (found.row_key, found.reason) == ("20200302", "seal_missing")


def test_x7_a_changed_seal_is_found(history):
    seal = runtime.tables().get(storage.AUDIT_SEALS, TENANT, "20200303")
    runtime.tables().upsert(storage.AUDIT_SEALS, {**seal, "rows": 2}, merge=False)
    found = verify(first="20200303", last="20200303", now=NOW).first_break
    assert (found.row_key, found.reason) == ("20200303", "seal_invalid")


def test_x7_issue11_purge_keeps_the_log_verifiable(history):
    log = history
    totals = seal_and_purge(runtime.audit_trail(), log, [TENANT], retention_days=3, now=NOW)
    assert totals["rows_purged"] == 3                                 # 1 March's rows only
    assert rows(day="20200301") == [] and len(rows(day="20200303")) == 3
    checkpoint = runtime.tables().get(storage.AUDIT_SEALS, TENANT, CHECKPOINT)
    assert checkpoint["purged_through"] == "20200302"          # before 3 March (6 March less 3 days)
    result = verify(first="20200301", last="20200304", now=NOW)
    assert result.intact, result.first_break
    assert result.rows == 3


def test_x7_issue11_tampering_before_and_after_the_checkpoint_is_still_found(history):
    seal_and_purge(runtime.audit_trail(), history, [TENANT], retention_days=3, now=NOW)
    kept = chain_rows(history.writer, day="20200303")

    # Before: a row put back into a purged day; a purged day's seal changed.
    runtime.tables().insert(storage.AUDIT, {**kept[0], "PartitionKey": f"{TENANT}.20200301"})
    found = verify(first="20200301", last="20200304", now=NOW).first_break
    assert (found.partition, found.reason) == (f"{TENANT}.20200301", "row_in_purged_day")
    runtime.tables().delete(storage.AUDIT, f"{TENANT}.20200301", kept[0]["RowKey"])
    seal = runtime.tables().get(storage.AUDIT_SEALS, TENANT, "20200301")
    runtime.tables().upsert(storage.AUDIT_SEALS, {**seal, "rows": 0}, merge=False)
    assert verify(first="20200301", last="20200304", now=NOW).first_break.reason == "seal_invalid"
    runtime.tables().upsert(storage.AUDIT_SEALS, seal, merge=False)
    assert verify(first="20200301", last="20200304", now=NOW).intact

    # After: a kept row changed.
    replace({**kept[1], "outcome": "x"})
    found = verify(first="20200301", last="20200304", now=NOW).first_break
    assert (found.row_key, found.reason) == (kept[1]["RowKey"], "changed")


def test_x7_a_moved_checkpoint_is_found(history):
    seal_and_purge(runtime.audit_trail(), history, [TENANT], retention_days=3, now=NOW)
    checkpoint = runtime.tables().get(storage.AUDIT_SEALS, TENANT, CHECKPOINT)
    runtime.tables().upsert(storage.AUDIT_SEALS, {**checkpoint, "purged_through": "20200303"}, merge=False)
    assert verify(first="20200301", last="20200304", now=NOW).first_break.reason == "checkpoint_invalid"


def test_x7_purge_leaves_days_within_retention_and_unsealed_days(app_env):
    log = runtime.audit_log()
    write(log, 2)
    assert seal_and_purge(runtime.audit_trail(), log, [TENANT], retention_days=1)["rows_purged"] == 0
    assert verify().intact and len(rows()) >= 2


def test_x7_issue11_cli_verify_exit_codes(log, capsys):
    assert audit_cli(["verify", "--tenant", TENANT]) == 0
    assert "intact" in capsys.readouterr().out
    row = chain_rows(log.writer)[1]
    replace({**row, "actor": "someone-else"})
    assert audit_cli(["verify", "--tenant", TENANT, "--from", datetime.now(UTC).date().isoformat()]) == 1
    out = capsys.readouterr().out
    assert "BROKEN" in out and row["RowKey"] in out and "changed" in out
    assert audit_cli(["verify", "--tenant", TENANT, "--from", "1 March"]) == 2
    assert audit_cli(["verify"]) == 2


def test_x7_cli_verify_without_storage_exits_3(log, monkeypatch):
    from sendsecure.errors import DependencyUnavailable

    monkeypatch.setattr(runtime.tables(), "query", lambda *a, **k: (_ for _ in ()).throw(DependencyUnavailable()))
    assert audit_cli(["verify", "--tenant", TENANT]) == 3


def test_x7_cli_seal_and_purge_run_the_daily_housekeeping(log, capsys):
    assert audit_cli(["seal", "--tenant", TENANT]) == 0
    assert f"{TENANT}: sealed 0 day(s)" in capsys.readouterr().out   # today is not finished
    assert audit_cli(["purge"]) == 0                                   # every tenant
    assert "'rows_purged': 0" in capsys.readouterr().out
    assert verify().intact


# ----- security review: days outside the log's days are refused, never a crash ---------------------

def test_x7_cli_verify_outside_the_logs_days_exits_2(log):
    assert audit_cli(["verify", "--tenant", TENANT, "--from", "0001-01-01", "--to", "0001-01-02"]) == 2
    assert audit_cli(["verify", "--tenant", TENANT, "--from", "9999-12-30", "--to", "9999-12-31"]) == 2


def test_x7_verify_names_a_day_it_cannot_check_as_a_value_error(log):
    with pytest.raises(ValueError, match="not a day"):
        verify(first="00010101", last="00010102")
    assert verify(first="99991229", last="99991230").days == 0       # after today: nothing to check


def test_x7_a_partition_that_is_no_day_does_not_stop_sealing(app_env, monkeypatch):
    """Someone who can write the table adds a partition sorting before the tenant's days, whose
    "day" isdigit() accepts but int() or the calendar refuses: the tenant is still sealed."""
    log = runtime.audit_log()
    _old_events(monkeypatch, log, DAY1)
    log.flush()
    for day in ("00000000", "²²²²²²²²"):
        runtime.tables().insert(storage.AUDIT, {"PartitionKey": f"{TENANT}.{day}", "RowKey": "x", "event": "x"})
    assert runtime.audit_trail().seal(TENANT, now=DAY1 + timedelta(days=2)) == ["20200301", "20200302"]


def test_x7_a_checkpoint_with_a_day_that_is_none_fails_its_tenant_only(app_env, monkeypatch):
    log = runtime.audit_log()
    _old_events(monkeypatch, log, DAY1)
    log.record("phone.read", tenant_id="zorg-b", actor="a", outcome="returned")
    runtime.tables().upsert(storage.AUDIT_SEALS, {"PartitionKey": TENANT, "RowKey": CHECKPOINT, "first_day": "x",
                                                  "sealed_through": "²²²²²²²²", "purged_through": ""}, merge=False)
    totals = seal_and_purge(runtime.audit_trail(), log, [TENANT, "zorg-b"], retention_days=3650,
                            now=datetime.now(UTC) + timedelta(days=2))
    assert totals["failed"] == 1 and totals["tenants"] == 1 and totals["days_sealed"] >= 1


# ----- security review: an older head put back after cutting the tail ------------------------------

@pytest.fixture
def quick_slack(monkeypatch):
    """HEAD_SLACK of a second (120 s in the app), so a put-back head is seen without waiting."""
    monkeypatch.setattr("sendsecure.audit.chain.HEAD_SLACK", timedelta(seconds=1), raising=False)


def _cut_tail_and_put_back_head(log: AuditLog) -> tuple[dict, list[dict]]:
    """Save the head, let the chain grow (its head follows), then remove the rows written after
    the saved head and upsert the saved copy: all a writer of the table without the key can do."""
    partition = f"{TENANT}.{today()}"
    saved = dict(runtime.tables().get(storage.AUDIT, partition, head_key(log.writer)))
    write(log, 3)
    log.flush()
    assert verify().intact
    time.sleep(1.5)
    cut = [r for r in chain_rows(log.writer) if r["seq"] > saved["seq"]]
    for row in cut:
        runtime.tables().delete(storage.AUDIT, partition, row["RowKey"])
    replace(saved)
    return saved, cut


def test_x7_azurite_sets_timestamp_on_every_write_and_the_sdk_returns_it(log):
    from sendsecure.audit.chain import stored_at

    partition = f"{TENANT}.{today()}"
    head = runtime.tables().get(storage.AUDIT, partition, head_key(log.writer))
    first = stored_at(head)
    assert first is not None and abs(first - head["written_at"]) < timedelta(seconds=5)
    time.sleep(0.05)
    replace({**dict(head), "Timestamp": datetime(2020, 1, 1, tzinfo=UTC)})    # a client cannot choose it
    assert stored_at(runtime.tables().get(storage.AUDIT, partition, head_key(log.writer))) > first


def test_x7_an_older_head_put_back_after_cutting_the_tail_is_found(log, quick_slack):
    _saved, cut = _cut_tail_and_put_back_head(log)
    assert len(cut) == 3
    found = verify().first_break
    assert (found.row_key, found.reason) == (head_key(log.writer), "head_rewritten")


def test_x7_the_nights_seal_keeps_a_put_back_head_visible(log, quick_slack):
    _cut_tail_and_put_back_head(log)
    tomorrow = datetime.now(UTC) + timedelta(days=1, hours=1)
    assert today() in runtime.audit_trail().seal(TENANT, now=tomorrow)
    # Even with the head removed after sealing (a sealed day needs none), the seal says it.
    runtime.tables().delete(storage.AUDIT, f"{TENANT}.{today()}", head_key(log.writer))
    found = verify(now=tomorrow).first_break
    assert (found.row_key, found.reason) == (head_key(log.writer), "head_rewritten")


def test_x7_heads_written_in_normal_operation_are_not_taken_for_put_back(app_env, quick_slack):
    """Rows one at a time and from 16 threads, heads by the background thread and by flush, a second
    apart and more: no false alarm, before and after sealing."""
    log = runtime.audit_log()
    write(log, 3)
    time.sleep(2.5)                            # the head thread writes the heads (HEAD_INTERVAL)
    pool = [threading.Thread(target=write, args=(log, 5)) for _ in range(16)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    time.sleep(1.5)
    write(log, 2)
    log.flush()
    assert verify().intact, verify().first_break
    tomorrow = datetime.now(UTC) + timedelta(days=1, hours=1)
    runtime.audit_trail().seal(TENANT, now=tomorrow)
    assert verify(now=tomorrow).intact


def test_x7_a_head_written_slowly_is_written_again_fresh(app_env, quick_slack, monkeypatch):
    """A head stored long after its written_at would look put back: a write slower than
    HEAD_WRITE_LIMIT is followed by a fresh head."""
    from sendsecure.audit import chain as chain_module

    monkeypatch.setattr("sendsecure.audit.HEAD_WRITE_LIMIT", timedelta(seconds=0.5))
    log = runtime.audit_log()
    write(log, 2)
    log.flush()
    tables = runtime.tables()
    original = tables.upsert

    def slow(name, entity, **kwargs):
        time.sleep(1.5)          # storage answers slowly: the head lands 1.5 s after its written_at
        original(name, entity, **kwargs)

    monkeypatch.setattr(tables, "upsert", slow)
    write(log, 1)
    log.flush()                  # slow: stored, but written again at the next flush
    monkeypatch.setattr(tables, "upsert", original)
    assert chain_module.HEAD_SLACK == timedelta(seconds=1)
    log.flush()
    assert verify().intact, verify().first_break
