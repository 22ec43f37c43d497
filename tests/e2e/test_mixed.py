"""A mixed rig end to end: a HERO7 over Wi-Fi, a HERO12 over Wi-Fi, a HERO9 over BLE only and
a HERO11 over USB, all driven by the real daemon from one trigger.

Witnesses as in test_rig_e2e.py: the emulators' own state and events, the daemon's status
file and log. The loopback test runs without root (cameras on 127.0.0.x, BLE through the
emulated cameras' control sockets); the namespace test (root) puts each camera behind its own
link — wlanK for Wi-Fi, usbK at 172.2X.1YZ.51 for USB, none for BLE — and starts every camera
with its Wi-Fi off / asleep, so each must be woken its own way.
"""

from __future__ import annotations

import time

import pytest

from .helpers import find_events

MODELS = ["hero7", "hero12", ("hero9", "ble"), ("hero11", "usb")]
NAMES = ["cam1", "cam2", "cam3", "cam4"]
SLOW = 40.0


def _states(rig):
    return [c["state"] for c in rig.status()["cameras"]]


def _record_and_stop(rig, within: float):
    t0 = time.monotonic()
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 4, within, message="all four cameras recording")
    for k in range(1, 5):
        assert rig.camera(k).state()["record_started_at"] >= t0
    rig.wait_until(lambda: _states(rig) == ["recording"] * 4, SLOW, message="status file: all recording")
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 4, SLOW, message="all four cameras stopped")
    rig.wait_until(lambda: _states(rig) == ["idle"] * 4, SLOW, message="status file: all idle")


def _check_paths(rig):
    rows = {c["name"]: c for c in rig.status()["cameras"]}
    assert [rows[n]["model"] for n in NAMES] == ["hero7", "hero12", "hero9", "hero11"]
    assert [rows[n]["control"] for n in NAMES] == ["wifi", "wifi", "ble", "usb"]
    assert rows["cam3"]["path"] == "ble" and rows["cam4"]["path"].startswith("usb ")
    table = rig.status_table()
    assert "hero9" in table and "ble" in table and "usb" in table


def _check_protocols(rig):
    # HERO12: Open GoPro HTTP shutter, keep-alive, clock, control claimed.
    assert find_events(rig, 2, "record_start", via="http")
    assert rig.camera(2).state()["keep_alives"] >= 1
    assert rig.camera(2).state()["camera_control"] == 2
    assert find_events(rig, 2, "date_time")
    # HERO9: shutter over BLE only (its HTTP API has no shutter), clock over BLE.
    assert find_events(rig, 3, "record_start", via="ble")
    assert not find_events(rig, 3, "record_start", via="http")
    assert find_events(rig, 3, "date_time", via="ble")
    # USB: wired control enabled before anything else.
    assert rig.camera(4).state()["wired_usb"] is True
    # HERO7: gpControl as ever.
    assert find_events(rig, 1, "record_start", via="http")


def _recover_each_from_its_own_fault(rig):
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 4, SLOW, message="all four recording before the faults")
    rig.camera(1).fault("stop_recording")            # HERO7 stops by itself
    rig.camera(2).fault("reboot")                    # HERO12 crashes and reboots
    rig.camera(3).fault("ble_drop")                  # HERO9's BLE link drops…
    rig.camera(3).fault("stop_recording")            # …and it stops recording
    rig.camera(4).fault("stop_recording")            # USB camera stops by itself
    rig.wait_until(lambda: rig.recording() == [True] * 4, SLOW, message="every camera recording again")
    for k in range(1, 5):
        assert len(find_events(rig, k, "record_start")) >= 2, f"cam{k} was not restarted"
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 4, SLOW, message="all stopped after the faults")


def test_mixed_rig_on_loopback(make_loopback_rig):
    rig = make_loopback_rig(4, models=MODELS, auto_sleep=5.0)
    rig.start_daemon()
    rig.wait_until(lambda: _states(rig) == ["idle"] * 4, SLOW, message="all four cameras idle")
    _check_paths(rig)
    time.sleep(7.0)    # longer than the Open GoPro cameras' auto power down: the keep-alive holds them
    assert [rig.camera(k).state()["power"] for k in (2, 3, 4)] == ["on"] * 3
    _record_and_stop(rig, 3.0)
    _check_protocols(rig)
    _recover_each_from_its_own_fault(rig)


@pytest.mark.parametrize("mode", ["bind", "route"])
def test_mixed_rig_in_namespaces_wakes_each_camera_its_own_way(make_ns_rig, mode):
    rig = make_ns_rig(4, mode=mode, models=MODELS, start="wifi-off", association_delay=1.0)
    rig.start_daemon()
    # Asleep with Wi-Fi off: the trigger must wake each one (gatttool + WoL; BLE connect + AP on;
    # BLE connect; USB probe, then BLE connect).
    _record_and_stop(rig, SLOW)
    assert find_events(rig, 1, "ble", cmd="03170101")        # legacy Wi-Fi-on through gatttool
    assert find_events(rig, 2, "ble_connect") and find_events(rig, 2, "wifi_on")
    assert find_events(rig, 3, "wake", cause="ble connect")
    assert rig.camera(4).state()["wired_usb"] is True
    _check_paths(rig)
    _check_protocols(rig)
    _recover_each_from_its_own_fault(rig)


def test_ble_status_push_corrects_a_camera_without_waiting_for_a_check(make_loopback_rig):
    """With CHECK_STATUS None the daemon never polls: a HERO9 on BLE that stops recording by itself
    is restarted only because its status push (registered with query 0x53) reaches the worker."""
    rig = make_loopback_rig(1, models=[("hero9", "ble")])
    rig.start_daemon(extra_config={"CHECK_STATUS": None})
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] and rig.camera_status(1)["recording"], SLOW,
                   message="HERO9 recording, confirmed by its status")
    time.sleep(1.0)    # past the confirmation read after the shutter: from here on nothing polls
    t = time.monotonic()
    rig.camera(1).fault("stop_recording")
    rig.wait_until(lambda: find_events(rig, 1, "record_start", since=t), 10.0,
                   message="HERO9 restarted after its push")


@pytest.mark.parametrize("fault", ["wifi_off", "asleep"])
def test_usb_camera_asleep_with_its_ap_off_is_woken_over_ble_and_records(make_ns_rig, fault):
    """A camera on USB is reached over its USB network whatever its Wi-Fi AP does. Asleep with its
    AP off (fault wifi_off), the BLE connect wakes it and it must answer over USB again. Before the
    fix the emulated camera tied its USB link to the AP, and stayed unreachable for good."""
    rig = make_ns_rig(1, models=[("hero11", "usb")], association_delay=0.5, boot_delay=0.5,
                      check_status=1, cycle_seconds=0.5)
    rig.start_daemon({"CHECK_STATUS": 1, "CYCLE_SECONDS": 0.5, "WAKE_TIMEOUT": 4.0, "HTTP_TIMEOUT": 1.5,
                      "BLE_TIMEOUT": 2.0})
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True], SLOW, message="USB camera recording")
    t = time.monotonic()
    rig.camera(1).fault(fault)
    rig.wait_until(lambda: find_events(rig, 1, "record_start", since=t), SLOW,
                   message=f"USB camera recording again after {fault}")
    assert rig.camera(1).state()["wifi"] == ("off" if fault == "wifi_off" else "on")
