"""CameraWorker against an in-process emulated camera (loopback, no root): the state machine's paths."""

from __future__ import annotations

import time

import pytest

from camrig.cameras.gopro_legacy.driver import GpControl
from camrig.cameras.gopro_legacy.waker import LegacyWaker
from camrig.cameras.mock import MockDriver, MockWaker
from camrig.config import CameraConfig
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.http import HttpClient
from camrig.link import AddressLink
from camrig.worker import CameraWorker, State
from tests.rig import wait_until


def wait_for(predicate, timeout=10.0):
    return wait_until(predicate, timeout, interval=0.02)


@pytest.fixture
def rig():
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    driver = GpControl(http, "front")
    waker = LegacyWaker(cfg, http.link, driver.probe, timeout=5.0, wol_interval=0.2)
    worker = CameraWorker(cfg, driver, waker, keep_awake=None, confirm_delay=0.05, power_cycle_pause=0.1)
    worker.start()
    yield cam, worker
    worker.stop()
    http.close()
    cam.close()


def test_finds_idle_camera_then_records_and_stops(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    wait_for(lambda: worker.snapshot()["recording"] is True and worker.state == State.RECORDING)
    worker.set_wanted(False)
    wait_for(lambda: not cam.state()["recording"])
    wait_for(lambda: worker.state == State.IDLE and worker.snapshot()["recording"] is False)


def test_camera_that_stops_by_itself_is_restarted_on_the_next_check(rig):
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    cam.fault("stop_recording")
    assert not cam.state()["recording"]
    worker.request_check()
    wait_for(lambda: cam.state()["recording"])


def test_sd_error_is_power_cycled(rig):
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.snapshot()["recording"])
    cam.fault("sd_error")
    worker.request_check()
    wait_for(lambda: any(e["what"] == "sleep" for e in cam.state()["events"]))
    wait_for(lambda: cam.state()["recording"] and cam.state()["sd_status"] == 0)
    assert worker.state == State.RECORDING


def test_asleep_camera_is_woken_by_wake_on_lan_when_wanted(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    cam.fault("asleep")
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    kinds = [e["what"] for e in cam.state()["events"]]
    assert "wol" in kinds


def test_http_500_marks_degraded_and_recovers(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    cam.fault("http_500", on=True)
    worker.set_wanted(True)
    wait_for(lambda: worker.snapshot()["degraded"])
    assert "HTTP 500" in worker.snapshot()["last_error"]
    cam.fault("http_500", on=False)
    wait_for(lambda: cam.state()["recording"], timeout=15)
    wait_for(lambda: not worker.snapshot()["degraded"], timeout=15)


def test_snapshot_and_repr_show_live_state(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    snap = worker.snapshot()
    assert snap["name"] == "front" and snap["state"] == "idle" and snap["battery_percent"] is not None
    assert repr(worker).startswith("<CameraWorker front state=idle")


def test_last_error_does_not_repeat_the_camera_name(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    cam.fault("http_500", on=True)
    worker.request_check()
    wait_for(lambda: worker.snapshot()["last_error"])
    assert not worker.snapshot()["last_error"].startswith("front:")


def test_idle_camera_in_fault_is_probed_again_once_its_back_off_ends(rig):
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    worker._fault("test fault")            # as after repeated failures
    worker.retry_at = worker.clock()       # back-off over
    worker.request_check()
    wait_for(lambda: worker.state == State.IDLE)


@pytest.fixture
def idle_camera():
    """An idle emulated HERO5–8 that turns its Wi-Fi off after 1 s without requests (~10 min on a
    real one, DESIGN.md "Field facts"), and a factory for a worker driving it."""
    cam = LegacyGoPro("front", delay_ms=0, wifi_mac="06:41:69:6a:c1:05", idle_wifi_off=1.0).start()
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    driver = GpControl(http, "front")
    workers = []

    def start_worker(keep_awake):
        worker = CameraWorker(cfg, driver, LegacyWaker(cfg, http.link, driver.probe, timeout=2.0),
                              keep_awake=keep_awake)
        workers.append(worker)
        worker.start()
        wait_for(lambda: worker.state == State.IDLE)
        return worker

    yield cam, start_worker
    for worker in workers:
        worker.stop()
    http.close()
    cam.close()


def wifi_off_events(cam):
    return [e for e in cam.state()["events"] if e["what"] == "wifi_off"]


def test_keep_awake_keeps_an_idle_cameras_wifi_up(idle_camera):
    """Only under the unverified policy where requests restart the idle time: reported HERO5s turn
    Wi-Fi off whatever is polled (tests/unit/test_wake.py covers that case)."""
    cam, start_worker = idle_camera
    cam.idle_wifi_off_policy = "requests-reset"
    start_worker(keep_awake=0.3)
    time.sleep(3.0)  # three idle periods: KEEP_AWAKE's light status requests keep the AP up
    assert cam.state()["wifi"] == "on"
    assert wifi_off_events(cam) == []


def test_without_keep_awake_an_idle_camera_turns_its_wifi_off(idle_camera):
    cam, start_worker = idle_camera
    start_worker(keep_awake=None)
    wait_for(lambda: cam.state()["wifi"] == "off", timeout=5.0)
    assert wifi_off_events(cam)[0]["cause"] == "idle"


def _offline_config():
    return CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.1")


# --- issue 16.2: the camera clock is set only while the camera is known to be idle ---------------

def _date_time_events(cam):
    return [e for e in cam.state()["events"] if e["what"] == "date_time"]


def test_clock_is_not_set_while_recording_when_a_new_worker_finds_the_camera_recording():
    """A worker replaced by a reload (or the daemon restarted) finds the camera recording: it must
    not send date_time mid-recording (it did, 7–9 times in an adversarial run); the clock is set
    at the first status that shows the camera idle. Fails before the fix: _wake_and_apply set it
    whatever the camera was doing."""
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    try:
        driver = GpControl(http, "front")
        driver.shutter(True)
        wait_for(lambda: cam.state()["recording"])
        waker = LegacyWaker(cfg, http.link, driver.probe, timeout=5.0, wol_interval=0.2)
        worker = CameraWorker(cfg, driver, waker, keep_awake=None, confirm_delay=0.05)
        worker.set_wanted(True)
        worker.start()
        wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
        worker.request_check()
        time.sleep(0.3)
        assert _date_time_events(cam) == []
        worker.set_wanted(False)
        wait_for(lambda: not cam.state()["recording"])
        worker.request_check()
        wait_for(lambda: _date_time_events(cam))
        assert all(e["recording"] is False for e in _date_time_events(cam))
        worker.stop()
    finally:
        http.close()
        cam.close()


def test_recovered_recording_camera_gets_no_clock_mid_recording(rig):
    """Outage while recording (camera unreachable, then back): the wake path finds it recording
    and must leave its clock alone (docs/faults.md: the clock is never set while recording)."""
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    cam.fault("slow", seconds=1.5)      # answers later than HTTP_TIMEOUT (1 s): unreachable
    worker.request_check()
    wait_for(lambda: worker.state in (State.ASLEEP, State.WAKING))
    cam.fault("slow", seconds=0)        # back, still recording the same file
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    assert cam.state()["recording"]
    assert not [e for e in _date_time_events(cam) if e["recording"]]


# --- issue 8.10: card states are named, and a card that keeps the camera from recording faults ----

@pytest.mark.parametrize("sd", [2])
def test_card_removed_faults_with_its_reason_and_backs_off(rig, sd):
    """A camera without a card takes the shutter but records nothing. Before the fix the worker
    shuttered again every second forever (each good status reset its back-off); now it goes to
    fault naming the card, and the back-off grows while the card stays out."""
    cam, worker = rig
    wait_for(lambda: worker.state == State.IDLE)
    cam.fault("sd_card", status=sd)
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.FAULT)
    assert "no SD card" in worker.snapshot()["last_error"]
    t0 = time.monotonic()
    shutters_before = sum(e["what"] == "shutter_on" for e in cam.state()["events"])
    # Without back-off the worker would shutter about every second; let 5 s pass.
    while time.monotonic() - t0 < 5.0:
        worker.request_check()
        time.sleep(0.25)
    shutters = sum(e["what"] == "shutter_on" for e in cam.state()["events"]) - shutters_before
    assert shutters <= 2, f"{shutters} shutters in 5 s with the card out"
    assert worker.fault_streak >= 2 or worker.retry_at - time.monotonic() > 0
    cam.fault("sd_card", status=0)      # card back in
    wait_for(lambda: cam.state()["recording"], timeout=40.0)


def test_busy_while_recording_is_awake_not_a_failed_wake():
    """Issue 16.6: a HERO5–8 that reports system_busy while it records (unverified either way)
    must not make a new worker sit in `waking` for ready_timeout and log a false wake failure."""
    cfg = _offline_config()
    driver = MockDriver("front", recording=True, busy=True, ready=True, sd_status=0, mode=None,
                        fail={"shutter": AssertionError("no shutter: the camera already records")})
    worker = CameraWorker(cfg, driver, MockWaker(), keep_awake=None, ready_timeout=3.0)
    worker.set_wanted(True)
    worker.start()
    try:
        wait_for(lambda: worker.state == State.RECORDING, timeout=1.5)
        assert worker.last_error is None
        assert driver.calls_to("set_date_time") == []
        assert driver.calls_to("shutter") == []
    finally:
        worker.stop()


# --------------------------------------------------------------------------- camera mode (issue 17)


def _worker_for(cam, driver=None):
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    driver = driver or GpControl(http, "front")
    waker = LegacyWaker(cfg, http.link, driver.probe, timeout=5.0, wol_interval=0.2)
    return CameraWorker(cfg, driver, waker, keep_awake=None, confirm_delay=0.05,
                        power_cycle_pause=0.1), http


@pytest.fixture
def photo_cam():
    """A camera someone left in photo mode, before the daemon first talks to it."""
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cam.fault("mode", mode=1, sub_mode=0)
    made = []

    def start(driver=None):
        worker, http = _worker_for(cam, driver(HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port,
                                                           timeout=1.0)) if driver else None)
        made.append((worker, http))
        worker.start()
        return worker

    yield cam, start
    for worker, http in made:
        worker.stop()
        http.close()
    cam.close()


def _mode_events(cam, via="http"):
    return [e for e in cam.state()["events"] if e["what"] == "mode" and e.get("via") == via]


def test_camera_found_in_photo_mode_records_video_after_the_trigger(photo_cam, caplog):
    # Before issue 17 the shutter took a photo, the camera never recorded, was shuttered again
    # (another photo each time) and put in fault.
    cam, start = photo_cam
    caplog.set_level("INFO", logger="camrig.worker")
    worker = start()
    wait_for(lambda: worker.state == State.IDLE)
    wait_for(lambda: cam.state()["mode"] == 0)              # video at first contact, before any trigger
    assert worker.snapshot()["mode"] in ("photo", "video")
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    state = cam.state()
    assert state["capture"] == "video" and state["photos"] == 0
    wait_for(lambda: worker.snapshot()["mode"] == "video")
    lines = [r.getMessage() for r in caplog.records if "not video" in r.getMessage()]
    assert lines == ["front: in photo mode, not video: selecting video mode"]


def test_camera_switched_to_photo_mid_session_is_corrected_at_the_next_check(rig, caplog):
    cam, worker = rig
    caplog.set_level("INFO", logger="camrig.worker")
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    cam.fault("mode")                                        # the knob: recording ends, photo mode
    worker.request_check()
    wait_for(lambda: cam.state()["recording"])
    state = cam.state()
    assert state["capture"] == "video" and state["photos"] == 0 and state["mode"] == 0
    assert len(_mode_events(cam)) == 1
    assert sum("not video" in r.getMessage() for r in caplog.records) == 1
    assert worker.state == State.RECORDING


def test_mode_is_never_selected_while_the_camera_is_encoding(photo_cam, caplog):
    cam, start = photo_cam
    cam.fault("mode", mode=0, sub_mode=1)                    # time-lapse video...
    with cam._lock:
        cam._start_recording("buttons", time.monotonic())    # ...started by hand
    assert cam.state()["capture"] == "timelapse_video"
    caplog.set_level("INFO", logger="camrig.worker")
    worker = start()
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    for _ in range(3):                                       # three checks, each one seeing the time-lapse
        worker.request_check()
        time.sleep(0.6)                                      # the camera's next_poll_msec is 500
    wait_for(lambda: any("not video" in r.getMessage() for r in caplog.records))
    assert _mode_events(cam) == [] and cam.state()["capture"] == "timelapse_video"
    assert not [e for e in cam.state()["events"] if e["what"] == "mode_refused"]
    warnings = [r.getMessage() for r in caplog.records if "not video" in r.getMessage()]
    assert warnings == ["front: recording in time-lapse video mode, not video; video is selected once it stops"]
    worker.set_wanted(False)                                 # once it stops, video is selected
    wait_for(lambda: not cam.state()["recording"])
    worker.request_check()
    wait_for(lambda: cam.state()["mode"] == 0 and cam.state()["sub_mode"] == 0)


class _NoModeDriver:
    """A driver that cannot set a mode (as the Open GoPro drivers, for now): no select_video."""

    keep_alive_interval = None

    def __init__(self, http):
        self._d = GpControl(http, "front")

    def __getattr__(self, name):
        if name == "select_video":
            raise AttributeError(name)
        return getattr(self._d, name)


def test_a_driver_without_select_video_is_left_alone(photo_cam):
    cam, start = photo_cam
    worker = start(_NoModeDriver)
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["photos"] >= 1)
    assert _mode_events(cam) == []


def test_a_camera_busy_all_through_a_recording_is_still_stopped(rig):
    # Before issue 17 the worker waited for system_busy to clear before a stop: a camera busy
    # while recording (busy_while_recording) recorded on for ever.
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and worker.snapshot()["recording"])
    cam.fault("busy_while_recording", on=True)
    cam.fault("stop_recording")
    with cam._lock:
        cam._start_recording("buttons", time.monotonic())
    worker.commanded = None
    worker._wanted = False                                   # wanted off, seen only by a check
    worker.request_check()
    wait_for(lambda: not cam.state()["recording"])


def test_a_refused_clock_is_said_once_and_shown_in_the_status(caplog):
    """Issue 8.3: a camera that refuses its clock (HERO9/10 over HTTP without BLE, say) is named
    in a warning once per change and in the status row, not an info line per attempt."""
    from camrig.errors import CameraRejected
    from camrig.status import render_table

    cfg = _offline_config()
    refused = CameraRejected("GET /gopro/camera/set_date_time answered HTTP 400", camera="front")
    driver = MockDriver("front", sd_status=0, mode=None, fail={"set_date_time": refused})
    worker = CameraWorker(cfg, driver, MockWaker(), keep_awake=None)
    caplog.set_level("INFO", logger="camrig.worker")
    worker._set_camera_clock()
    worker._set_camera_clock()
    row = worker.snapshot()
    assert "HTTP 400" in row["clock_error"]
    warnings = [r for r in caplog.records if "could not set the camera clock" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"
    table = render_table({"wanted": False, "cameras": [row]})
    assert "clock not set: GET /gopro/camera/set_date_time answered HTTP 400" in table
