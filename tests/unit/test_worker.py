"""CameraWorker against an in-process emulated camera (loopback, no root): the state machine's paths."""

from __future__ import annotations

import time

import pytest

from camrig.config import CameraConfig
from camrig.drivers.gpcontrol import GpControl
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.emulator.rig import wait_until
from camrig.http import HttpClient
from camrig.link import AddressLink
from camrig.wake import LegacyWaker
from camrig.worker import CameraWorker, State


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
