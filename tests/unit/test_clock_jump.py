"""Clock jump: the wall clock is set after boot (a Pi has no RTC: it boots at 1970 or at
fake-hwclock's stale time, then NTP or the GPS sets it).

The host clock cannot be set safely in a test (and a time namespace does not cover
CLOCK_REALTIME), so the worker runs with an injected wall clock that jumps, its real
scheduling clock (time.monotonic) untouched. Two things must hold: scheduling does not move
with the wall clock, and the camera's clock ends up sane (never a 1970 date sent, and set
again once the wall clock has been corrected).
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from camrig.cameras.gopro_legacy.driver import CameraStatus, date_time_param
from camrig.config import CameraConfig
from camrig.worker import CameraWorker
from tests.polling import eventually

Y1970 = 3600.0                                     # 1970-01-01 01:00 UTC: a Pi booted without RTC
Y2026 = dt.datetime(2026, 11, 21, 10, 0).timestamp()


class FakeDriver:
    """A camera that answers at once: records what it is told, checks the date like the driver."""

    def __init__(self):
        self.recording = False
        self.calls: list[str] = []
        self.dates: list[dt.datetime] = []
        self.lock = threading.Lock()

    def status(self):
        with self.lock:
            self.calls.append("status")
            return CameraStatus(encoding_active=self.recording, system_ready=True, sd_status=0)

    def shutter(self, on):
        with self.lock:
            self.calls.append(f"shutter {on}")
            self.recording = on

    def set_date_time(self, when):
        date_time_param(when)              # the real driver's check: ValueError for 1970
        with self.lock:
            self.dates.append(when)

    def probe(self, **kw):
        pass

    def sleep(self):
        pass

    def reset(self):
        pass


class FakeWaker:
    def wake(self, stop, on_step=lambda s: None):
        on_step("wake-on-lan")


class JumpingWallclock:
    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now


def _worker(wallclock, **kw):
    cam = CameraConfig(name="front", iface="wlan1", ssid="GP1", wifi_mac=None, bt_mac=None)
    driver = FakeDriver()
    worker = CameraWorker(cam, driver, FakeWaker(), wallclock=wallclock, confirm_delay=0.05, **kw)
    return worker, driver


def test_no_1970_date_is_sent_and_the_camera_clock_is_set_once_the_wall_clock_is_right():
    wall = JumpingWallclock(Y1970)
    worker, driver = _worker(wall, keep_awake=None)
    worker.start()
    try:
        worker.set_wanted(True)                           # wake it: the clock is set after a wake
        assert eventually(lambda: driver.recording)
        assert driver.dates == [], "a 1970 date was sent to the camera"
        worker.set_wanted(False)
        assert eventually(lambda: not driver.recording)
        wall.now = Y2026                                  # NTP / GPS sets the time
        worker.request_check()
        assert eventually(lambda: driver.dates), "camera clock never set after the wall clock was corrected"
        assert abs((driver.dates[-1] - dt.datetime.fromtimestamp(Y2026)).total_seconds()) < 60
    finally:
        worker.stop()


def test_camera_clock_is_set_again_after_a_jump_but_never_while_recording():
    wall = JumpingWallclock(Y2026 - 5 * 86400)            # fake-hwclock: five days stale
    worker, driver = _worker(wall, keep_awake=None)
    worker.start()
    try:
        worker.request_check()                            # a camera found awake and idle:
        assert eventually(lambda: driver.dates)                # its clock is set at the first check
        worker.set_wanted(True)
        assert eventually(lambda: driver.recording)
        assert len(driver.dates) == 1
        wall.now = Y2026                                  # jump forward five days while recording
        for _ in range(3):
            worker.request_check()
            time.sleep(0.1)
        assert len(driver.dates) == 1, "clock set while the camera records"
        worker.set_wanted(False)
        assert eventually(lambda: not driver.recording)
        worker.request_check()
        assert eventually(lambda: len(driver.dates) == 2)
        assert abs((driver.dates[-1] - dt.datetime.fromtimestamp(Y2026)).total_seconds()) < 60
        for _ in range(3):                               # and only once per jump
            worker.request_check()
            time.sleep(0.1)
        assert len(driver.dates) == 2
    finally:
        worker.stop()


def test_scheduling_does_not_follow_the_wall_clock():
    """Keep-awake polls come at monotonic intervals whatever the wall clock does (here it jumps
    by ± years on every read)."""
    results = {}
    for name, jumpy in (("steady", False), ("jumping", True)):
        n = [0]

        def wallclock(*, n=n, jumpy=jumpy):  # bound now, not when the worker calls it
            n[0] += 1
            return Y2026 + ((-1) ** n[0]) * 10 * 365 * 86400 if jumpy else Y2026

        worker, driver = _worker(wallclock, keep_awake=0.2, set_clock=True)
        worker.start()
        try:
            worker.set_wanted(True)
            assert eventually(lambda driver=driver: driver.recording)
            start = len(driver.calls)
            time.sleep(1.5)
            results[name] = driver.calls[start:].count("status")
        finally:
            worker.stop()
    # ~7 polls in 1.5 s at 0.2 s; the jumping wall clock neither stops nor floods them.
    assert 3 <= results["jumping"] <= 15, results
    assert abs(results["jumping"] - results["steady"]) <= 3, results


def test_flapping_trigger_does_not_fault_a_healthy_camera():
    """A trigger that flaps (a loose wire, a file toggled by a script) sends on, off, on, off, on:
    that is one attempt to start, not three. Counting every "on" as a failed try put a healthy
    camera into `fault` ("does not record after N shutters"), where it stays while not wanted
    and from where it only comes back through a whole wake."""
    from camrig.worker import State
    worker, driver = _worker(JumpingWallclock(Y2026), keep_awake=None)
    worker.state = State.IDLE
    for on in (True, False, True, False, True, False, True):
        worker.set_wanted(on)
        worker._reconcile(on, True, False)
    # The camera is slow to start this time: its first status after the shutter says "not yet".
    driver.recording = False
    worker._check()
    assert worker.state != State.FAULT, worker.last_error
    assert driver.calls[-1] == "shutter True"     # it simply tries again
