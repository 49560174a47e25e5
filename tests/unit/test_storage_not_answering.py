"""The fail-fast guard of the Table transport (found by the fault review of 2026-12-01): with
storage frozen, requests filled the worker's function threads and every later one (on-send,
health) queued far past its deadline. Operations: docs/operations.md "Deadlines"."""
from __future__ import annotations

import threading

import pytest

from sendsecure.adapters.storage import NotAnswering, StorageNotAnswering


def test_issue7_item10_one_unanswered_attempt_does_not_open_it():
    guard = NotAnswering(threshold=2)
    guard.record(guard.admit(), False)
    assert not guard.open and guard.admit() is False        # a slow moment is not an outage


def test_issue7_item10_after_the_threshold_one_probe_goes_out_and_the_rest_fail_at_once():
    guard = NotAnswering(threshold=2)
    for _ in range(2):
        guard.record(guard.admit(), False)
    assert guard.open
    probe = guard.admit()
    assert probe is True
    with pytest.raises(StorageNotAnswering):                 # not asked: no thread waits on storage
        guard.admit()
    guard.record(probe, False)                               # the probe timed out too: still open
    assert guard.open
    probe = guard.admit()
    guard.record(probe, True)                                # storage answers: closed for everyone
    assert not guard.open and guard.admit() is False


def test_issue7_item10_an_attempt_cut_by_its_deadline_says_nothing_about_storage():
    guard = NotAnswering(threshold=2)
    for _ in range(5):
        guard.record(guard.admit(), None)
    assert not guard.open


def test_issue7_item10_any_answer_resets_the_count_and_the_probe_is_released_by_the_thread_that_took_it():
    guard = NotAnswering(threshold=2)
    guard.record(False, False)
    guard.record(False, True)
    guard.record(False, False)
    assert not guard.open
    guard.record(False, False)
    taken: list[bool] = []
    worker = threading.Thread(target=lambda: taken.append(guard.admit()))
    worker.start()
    worker.join(5)
    assert taken == [True]
    with pytest.raises(StorageNotAnswering):
        guard.admit()
    guard.record(True, None)                                 # the probe ended without a verdict
    assert guard.admit() is True                             # so another may go
