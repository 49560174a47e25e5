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


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_issue7_item10_after_the_threshold_one_probe_goes_out_and_the_rest_fail_at_once():
    clock = Clock()
    guard = NotAnswering(threshold=2, clock=clock)
    for _ in range(2):
        guard.record(guard.admit(), False)
    assert guard.open
    probe = guard.admit()
    assert probe is True
    with pytest.raises(StorageNotAnswering):                 # not asked: no thread waits on storage
        guard.admit()
    clock.now += 5                                           # a frozen storage: the probe took its timeout
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


def test_issue7_item10_a_probe_goes_out_at_most_once_a_second_when_storage_refuses_at_once():
    """Storage gone (connections refused) fails a probe at once: without a pause every request
    would be the next probe, and log (the outage review of the night of 2026-12-01)."""
    clock = Clock()
    guard = NotAnswering(threshold=2, probe_interval=1.0, clock=clock)
    for _ in range(2):
        guard.record(guard.admit(), False)
    guard.record(guard.admit(), False)                       # the probe, refused at once
    for _ in range(50):
        with pytest.raises(StorageNotAnswering):
            guard.admit()
    clock.now += 1.0
    assert guard.admit() is True                             # one second after the last probe began
