"""Honest clocks (issue 13 part 5): a camera clock is set only from a synchronised Pi clock; until
then the status says "clock not synchronised" and the camera's clock is left alone. The Pi's
clock state is injected (ClockSync's probe)."""

from __future__ import annotations

import pytest

from camrig.cameras.mock import MockDriver, MockWaker
from camrig.inputs.clock_sync import NOT_SYNCHRONISED, ClockSync, adjtimex_probe, default_probe
from camrig.status import render_table
from camrig.worker import CameraWorker
from tests.unit.test_commands import config


class Pi:
    """The Pi's clock as a probe sees it; ``synced`` flips when timesyncd/chrony get there."""

    def __init__(self, synced):
        self.synced = synced
        self.asked = 0

    def __call__(self):
        self.asked += 1
        if self.synced is None:
            return None, "adjtimex refused: EPERM; timedated did not answer"
        return self.synced, "synchronised (test)" if self.synced else "STA_UNSYNC (test)"


def worker_with(sync):
    driver = MockDriver("front")
    return CameraWorker(config(["front"]).cameras[0], driver, MockWaker(driver), keep_awake=None,
                        clock_sync=sync), driver


def test_an_unsynchronised_pi_leaves_the_camera_clock_alone_and_says_so():
    """Fails before issue 13: the worker set the camera clock from whatever the Pi's clock said
    (1970, or fake-hwclock's stale time)."""
    pi = Pi(False)
    worker, driver = worker_with(ClockSync("synchronised", probe=pi, ttl=0.0))
    worker._set_camera_clock()
    assert driver.calls_to("set_date_time") == []
    row = worker.snapshot()
    assert row["clock_error"].startswith(NOT_SYNCHRONISED)
    assert "clock not set: clock not synchronised" in render_table({"wanted": False, "cameras": [row]})
    assert worker._wall_clock_moved()                     # tried again at the next check
    pi.synced = True                                       # chrony got its GPS fix
    worker._set_camera_clock()
    assert len(driver.calls_to("set_date_time")) == 1 and worker.snapshot()["clock_error"] is None
    assert not worker._wall_clock_moved()


def test_unknown_counts_as_not_synchronised():
    worker, driver = worker_with(ClockSync("synchronised", probe=Pi(None), ttl=0.0))
    worker._set_camera_clock()
    assert driver.calls_to("set_date_time") == [] and "EPERM" in worker.snapshot()["clock_error"]


def test_always_and_never():
    worker, driver = worker_with(ClockSync("always", probe=Pi(False)))
    worker._set_camera_clock()
    assert len(driver.calls_to("set_date_time")) == 1
    worker, driver = worker_with(ClockSync("never", probe=Pi(True)))
    worker._set_camera_clock()
    assert driver.calls_to("set_date_time") == [] and "never" in worker.snapshot()["clock_error"]


def test_the_answer_is_cached_for_ttl_seconds():
    now = [0.0]
    pi = Pi(False)
    sync = ClockSync("synchronised", probe=pi, ttl=5.0, clock=lambda: now[0])
    for _ in range(10):
        sync.may_set()
    assert pi.asked == 1
    now[0] = 6.0
    pi.synced = True
    assert sync.may_set() == (True, "")
    assert pi.asked == 2


def test_a_probe_that_raises_is_unknown_not_a_crash():
    def broken():
        raise RuntimeError("boom")
    sync = ClockSync("synchronised", probe=broken, ttl=0.0)
    allowed, why = sync.may_set()
    assert not allowed and "boom" in why


def test_the_status_table_says_clock_not_synchronised():
    sync = ClockSync("synchronised", probe=Pi(False), ttl=0.0)
    text = render_table({"wanted": False, "clock": sync.snapshot(), "cameras": []})
    assert "clock: clock not synchronised: STA_UNSYNC (test)" in text
    ok = ClockSync("synchronised", probe=Pi(True), ttl=0.0)
    assert "clock:" not in render_table({"wanted": False, "clock": ok.snapshot(), "cameras": []})


def test_bad_mode_is_refused():
    with pytest.raises(ValueError, match="CAMERA_CLOCK"):
        ClockSync("sometimes")


def test_the_real_probes_answer_without_raising():
    """On this machine: adjtimex says True/False, or None when refused (a seccomp filter); the
    default probe then asks timedated. Neither raises."""
    ok, why = adjtimex_probe()
    assert ok in (True, False, None) and why
    ok, why = default_probe()
    assert ok in (True, False, None) and why
