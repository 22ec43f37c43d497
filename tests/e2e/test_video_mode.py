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
