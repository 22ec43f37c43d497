"""The worker's state machine as a table (issue 9): TRANSITIONS checked in _set_state, one step
method per state, Timers/Counters grouped, ``shutter_sent`` apart from ``recording``. Every test
here fails on the code before issue 9 (no table, no step methods, no shutter_sent)."""

from __future__ import annotations

import logging

import pytest

from camrig.cameras.base import CameraStatus
from camrig.config import CameraConfig
from camrig.worker import TRANSITIONS, CameraWorker, Counters, IllegalTransition, State, Timers, strict_transitions


class Driver:
    keep_alive_interval = None

    def __init__(self):
        self.calls = []
        self.recording = False

    def status(self):
        self.calls.append("status")
        return CameraStatus(encoding_active=self.recording, system_ready=True, sd_status=0)

    def shutter(self, on):
        self.calls.append(f"shutter {on}")
        self.recording = on

    def probe(self, timeout=None):
        self.calls.append("probe")

    def set_date_time(self, when):
        pass

    def reset(self):
        pass


class Waker:
    def __init__(self):
        self.wakes = 0

    def wake(self, stop, on_step=None):
        self.wakes += 1


def _worker(state=State.ASLEEP):
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None)
    now = [100.0]
    worker = CameraWorker(cfg, Driver(), Waker(), keep_awake=None, set_clock=False, clock=lambda: now[0])
    worker.state = state
    return worker, now


def test_every_state_has_a_transition_row_and_a_step_method():
    assert set(TRANSITIONS) == set(State) == set(CameraWorker.STEPS)
    for state, method in CameraWorker.STEPS.items():
        assert callable(getattr(CameraWorker, method)), state
    for state, targets in TRANSITIONS.items():
        assert state not in targets and targets <= set(State)
    # An awake camera is never woken without being found asleep or in fault first.
    assert State.WAKING not in TRANSITIONS[State.IDLE] | TRANSITIONS[State.RECORDING]


def test_illegal_transition_is_logged_with_the_camera_name_and_raised_under_pytest(caplog):
    worker, _ = _worker(State.IDLE)
    assert strict_transitions()                          # PYTEST_CURRENT_TEST is set here
    with pytest.raises(IllegalTransition, match="front: idle → waking"):
        worker._set_state(State.WAKING, "test")
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["front: illegal transition idle → waking (test): a bug in the worker"]
    assert worker.state == State.IDLE


def test_illegal_transition_in_the_daemon_is_logged_and_taken(caplog, monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv("CAMRIG_STRICT_TRANSITIONS", raising=False)
    worker, _ = _worker(State.RECORDING)
    worker._set_state(State.WAKING, "test")
    assert worker.state == State.WAKING
    assert any("illegal transition recording → waking" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)


def test_reconcile_dispatches_to_the_current_state_step(monkeypatch):
    called = []
    for method in set(CameraWorker.STEPS.values()):
        monkeypatch.setattr(CameraWorker, method,
                            lambda self, *a, m=method: called.append((self.state, m)))
    worker, _ = _worker()
    for state in State:
        worker.state = state
        worker._reconcile(False, False, True)
    assert called == [(s, CameraWorker.STEPS[s]) for s in State]


def test_an_idle_camera_is_never_woken_by_the_idle_step():
    """The old _reconcile sent every state it did not name to "asleep or fault", which wakes the
    camera when recording is wanted; each state now has its own step."""
    worker, _ = _worker(State.IDLE)
    worker.commanded = False
    worker._wanted = True
    worker._reconcile(True, True, False)
    assert worker.waker.wakes == 0 and worker.driver.calls == ["shutter True"]


def test_shutter_sent_until_the_status_confirms_it():
    worker, now = _worker(State.IDLE)
    worker.commanded = False
    worker.set_wanted(True)
    worker._reconcile(True, True, False)
    row = worker.snapshot()
    assert row["state"] == "recording" and row["recording"] is None and row["shutter_sent"] is True
    now[0] += 1.0
    worker._reconcile(True, False, False)                 # the confirmation read is due
    row = worker.snapshot()
    assert row["recording"] is True and row["shutter_sent"] is False and row["state"] == "recording"
    assert worker.driver.calls == ["shutter True", "status"]


def test_a_fault_step_waits_for_its_back_off_then_wakes():
    worker, now = _worker(State.FAULT)
    worker.retry_at = now[0] + 5.0
    worker._wanted = True
    worker._reconcile(True, False, True)
    assert worker.waker.wakes == 0 and worker.driver.calls == []
    now[0] += 5.0
    worker._reconcile(True, False, True)
    assert worker.waker.wakes == 1 and worker.state == State.RECORDING


def test_timers_and_counters_are_grouped_and_the_flat_names_follow_them():
    worker, _ = _worker()
    assert isinstance(worker.timers, Timers) and isinstance(worker.counters, Counters)
    worker.retry_at = 42.0
    worker.failures = 3
    assert worker.timers.retry_at == 42.0 and worker.counters.failures == 3
    worker.timers.confirm_at = 7.0
    worker.counters.shutter_tries = 2
    assert worker.confirm_at == 7.0 and worker.shutter_tries == 2
    assert not hasattr(worker, "woken_at")
