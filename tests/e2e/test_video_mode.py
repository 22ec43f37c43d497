"""Always video (issue 17): the real daemon against emulated HERO5-8 left in other modes.

A camera left in photo or time-lapse mode takes a photo (or a time-lapse) on every shutter; the
daemon used to see it "not recording", shutter it again (another photo each time) and finally put
it in fault. The emulators now track the mode, so these tests show it on the namespace rig
(root; skipped with the reason otherwise). Witnesses: the emulators' own state (mode, capture,
photos, events) and the daemon's status file and log.
"""

from __future__ import annotations

import pytest

from .helpers import log_lines

TRIGGER_TO_RECORD = 3.0
SLOW = 30.0


def _modes(rig) -> list[tuple[int, int]]:
    return [(s["mode"], s["sub_mode"]) for s in (rig.camera(k).state() for k in (1, 2, 3))]


@pytest.mark.parametrize("mode", ["bind"])
def test_cameras_left_in_photo_and_time_lapse_record_video_on_the_trigger(make_ns_rig, mode):
    rig = make_ns_rig(3, mode=mode)
    rig.camera(1).fault("mode", mode=1, sub_mode=0)        # photo
    rig.camera(2).fault("mode", mode=0, sub_mode=1)        # time-lapse video
    rig.start_daemon()
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="all three cameras idle")
    # Video at first contact, before any trigger.
    rig.wait_until(lambda: _modes(rig) == [(0, 0)] * 3, SLOW, message="every camera in video mode")
    rig.wait_until(lambda: [c["mode"] for c in rig.status()["cameras"]] == ["video"] * 3, SLOW,
                   message="status file: mode video for every camera")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 3, TRIGGER_TO_RECORD,
                   message=f"all three recording within {TRIGGER_TO_RECORD:g} s of the trigger")
    for k in (1, 2, 3):
        state = rig.camera(k).state()
        assert state["capture"] == "video" and state["photos"] == 0, state
    assert len(log_lines(rig, "cam1", "in photo mode, not video: selecting video mode")) == 1, rig.daemon_log()
    assert len(log_lines(rig, "cam2", "in time-lapse video mode, not video: selecting video mode")) == 1
    assert not log_lines(rig, "cam3", "not video")
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 3, SLOW, message="all three stopped")
    assert rig.stop_daemon() == 0, rig.daemon_log(20)


def test_camera_switched_to_photo_mid_session_is_corrected_at_the_next_check(make_ns_rig):
    rig = make_ns_rig(3, mode="route")
    rig.start_daemon()
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="all three cameras idle")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 3, TRIGGER_TO_RECORD, message="all three recording")
    rig.camera(2).fault("mode")                               # the knob: recording ends, photo mode
    assert rig.recording()[1] is False
    rig.wait_until(lambda: rig.recording()[1], SLOW, message="cam2 recording again")
    state = rig.camera(2).state()
    assert (state["mode"], state["sub_mode"], state["capture"], state["photos"]) == (0, 0, "video", 0)
    assert [e for e in state["events"] if e["what"] == "mode" and e.get("via") == "http"]
    assert len(log_lines(rig, "cam2", "in photo mode, not video")) == 1, rig.daemon_log()
    assert rig.recording() == [True] * 3


def test_open_gopro_cameras_left_in_photo_record_video_and_are_corrected_mid_session(make_ns_rig):
    """Open GoPro half of issue 17: a HERO12 over Wi-Fi and BLE-only HERO11/HERO9 left in the photo
    (or time-lapse) preset group are put in the video group (status 96 = 1000) at first contact,
    record video on the trigger, and one turned to photo mid-session is put back at the next check.
    Before: the Open GoPro drivers had no select_video and the emulators no preset groups."""
    rig = make_ns_rig(3, mode="route", models=["hero12", ("hero11", "ble"), ("hero9", "ble")])
    rig.camera(1).fault("mode")                                # photo group
    rig.camera(2).fault("mode", group=1002)                    # time-lapse group
    rig.camera(3).fault("mode")
    rig.start_daemon()
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="all three cameras idle")
    rig.wait_until(lambda: [rig.camera(k).state()["preset_group"] for k in (1, 2, 3)] == [1000] * 3, SLOW,
                   message="every camera in the video preset group before any trigger")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="all three recording")
    for k in (1, 2, 3):
        state = rig.camera(k).state()
        assert state["capture"] == "video" and state["photos"] == 0, state
    rig.wait_until(lambda: [c["mode"] for c in rig.status()["cameras"]] == ["video"] * 3, SLOW,
                   message="status file: mode video for every camera")
    assert len(log_lines(rig, "cam1", "in photo mode, not video: selecting video mode")) == 1, rig.daemon_log()
    assert len(log_lines(rig, "cam2", "in time-lapse video mode, not video: selecting video mode")) == 1
    rig.camera(1).fault("mode")                                # HERO12 turned to photo: recording ends
    rig.camera(2).fault("mode")                                # BLE-only HERO11 too
    rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="both recording again")
    for k, via in ((1, "http"), (2, "ble"), (3, "ble")):
        state = rig.camera(k).state()
        assert state["preset_group"] == 1000 and state["capture"] == "video" and state["photos"] == 0, state
        loads = [e for e in state["events"] if e["what"] == "preset_group" and e.get("via") == via]
        assert len(loads) == (1 if k == 3 else 2), (k, loads)
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 3, SLOW, message="all three stopped")
    assert rig.stop_daemon() == 0, rig.daemon_log(20)
