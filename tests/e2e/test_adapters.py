"""Swapped Wi-Fi adapters (issue 16 item 1), on the namespace rig against the real daemon.

The rig's stand-in ``iw`` answers ``iw dev wlanK link`` from a map that follows the wiring, so
:meth:`NamespaceRig.swap_adapters` does what udev does when two USB adapters enumerate in the
other order: ``wlan1`` then reaches cam2's AP (and ``iw`` says so) while the config still puts
cam1 on ``wlan1``.

Both tests fail on the code before the AdapterGuard: nothing compared the BSSID outside a
wake, so cam1's worker drove cam2 through ``wlan1`` (and cam2's drove cam1): no camera was
put in fault, the status showed both as recording, shutters went to the wrong camera.
"""

from __future__ import annotations

import time

from .helpers import find_events, log_lines, log_mark
from .test_faults import FAST_CONFIG as CONFIG

#: What the daemon must never send to a camera behind a mismatched adapter.
COMMANDS = ("shutter_on", "shutter_off", "ble", "wol", "date_time", "sleep")


def _commands(rig, k, since):
    return [e["what"] for e in rig.camera(k).state()["events"] if e["t"] >= since and e["what"] in COMMANDS]


def _mismatch_shown(rig, k):
    row = rig.camera_status(k)
    return row["state"] == "fault" and "adapter mismatch" in (row["last_error"] or "") and row


def test_adapters_swapped_at_start_fault_both_cameras_and_nothing_is_sent(make_ns_rig):
    rig = make_ns_rig(3, association_delay=0.5, boot_delay=0.5, check_status=1, cycle_seconds=0.5)
    rig.swap_adapters(1, 2)                      # udev named them the other way round at boot
    t0 = time.monotonic()
    rig.start_daemon(CONFIG)
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording()[2], 10, message="cam3 recording")
    row1 = rig.wait_until(lambda: _mismatch_shown(rig, 1), 10, message="cam1 in adapter-mismatch fault")
    row2 = rig.wait_until(lambda: _mismatch_shown(rig, 2), 10, message="cam2 in adapter-mismatch fault")
    # Which way round: each says its adapter reaches the other camera.
    assert "wlan1 and wlan2 are swapped (wlan1 reaches cam2, wlan2 reaches cam1)" in row1["last_error"]
    assert "wlan2 and wlan1 are swapped (wlan2 reaches cam1, wlan1 reaches cam2)" in row2["last_error"]
    time.sleep(12)                               # two re-checks (every 5 s) and the trigger still on
    # Never commanded across the mismatch: no shutter, no BLE Wi-Fi-on, no Wake-on-LAN.
    assert _commands(rig, 1, t0) == [] and _commands(rig, 2, t0) == []
    assert rig.recording() == [False, False, True]
    # Reported once per camera, not on every poll.
    errors = log_lines(rig, "adapter mismatch", "error")
    assert len([line for line in errors if "cam1:" in line]) == 1, errors
    assert len([line for line in errors if "cam2:" in line]) == 1, errors
    assert "adapter mismatch" in rig.status_table()
    check = rig.run_in_car([rig.python, "gopro_manager.py", "--config", str(rig.config_path), "check"])
    assert check.returncode == 1
    assert check.stdout.count("associated    MISMATCH adapter mismatch") == 2, check.stdout
    # Put right: both cameras come back by themselves and record.
    mark = log_mark(rig)
    rig.swap_adapters(1, 2)
    rig.wait_until(lambda: rig.recording() == [True, True, True], 30, message="all recording after the fix")
    assert len(log_lines(rig, "own AP", "again", after=mark)) == 2


def test_adapters_swapped_while_recording(make_ns_rig):
    """A re-association onto the other camera's AP mid-session: both cameras leave the daemon's
    hands with their recordings intact (nothing is sent, not even the trigger's stop), the
    third camera follows the trigger; back on their own APs they are stopped as wanted."""
    rig = make_ns_rig(3, association_delay=0.5, boot_delay=0.5, check_status=1, cycle_seconds=0.5)
    rig.start_daemon(CONFIG)
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True, True], 15, message="all recording")
    started = [rig.camera(k).state()["record_started_at"] for k in (1, 2)]
    t0 = time.monotonic()
    rig.swap_adapters(1, 2)
    rig.wait_until(lambda: _mismatch_shown(rig, 1) and _mismatch_shown(rig, 2), 10,
                   message="cam1 and cam2 in adapter-mismatch fault")
    rig.trigger_off()
    rig.wait_until(lambda: not rig.recording()[2], 5, message="cam3 stopped")
    time.sleep(3)
    assert _commands(rig, 1, t0) == [] and _commands(rig, 2, t0) == []
    assert [rig.camera(k).state()["record_started_at"] for k in (1, 2)] == started
    rig.swap_adapters(1, 2)
    rig.wait_until(lambda: rig.recording() == [False, False, False], 20, message="all stopped after the fix")
    assert not find_events(rig, 1, "record_start", since=t0) and not find_events(rig, 2, "record_start", since=t0)
