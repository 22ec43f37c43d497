"""``gopro_manager.py mark`` and ``record on|off|auto`` end to end (issue 13): the real daemon on
the namespace rig — a HERO7 over Wi-Fi (gpControl tag_moment), a HERO12 over Wi-Fi (Open GoPro
hilight/moment), a HERO9 over BLE only (Hilight Moment ``01 18``) and a HERO11 over USB — driven
through the control socket by the CLI run in the car's namespace.

Witnesses: each emulated camera's own event log and HiLight log (``hilight`` events with the
emulator's monotonic time, the same clock as the test's, and the offset into the recording), the
marks file, the status file and table.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

from camrig.control import ControlClient

from .helpers import find_events

MODELS = ["hero7", "hero12", ("hero9", "ble"), ("hero11", "usb")]
NAMES = ["cam1", "cam2", "cam3", "cam4"]
SLOW = 40.0


def _cli(rig, *args):
    return rig.run_in_car([rig.python, "gopro_manager.py", "--config", str(rig.config_path), *args], timeout=90)


def _start(rig):
    extra = {"MARKS_PATH": str(rig.workdir / "state" / "marks.jsonl"),
             "MARK_COALESCE": 2.0,
             "CAMERA_CLOCK": "always"}
    rig.start_daemon(extra)
    rig.wait_until(lambda: rig.control_socket.exists(), 15, message="the control socket")
    return rig.workdir / "state" / "marks.jsonl"


def _all_recording(rig):
    return rig.recording() == [True] * 4 and [c["state"] for c in rig.status()["cameras"]] == ["recording"] * 4


def _hilights(rig, since=float("-inf")):
    return [len(find_events(rig, k, "hilight", since=since)) for k in range(1, 5)]


def test_mark_and_record_through_the_daemon(make_ns_rig):
    rig = make_ns_rig(4, models=MODELS)
    marks_path = _start(rig)

    # record on: every camera records, the status says who wants it
    done = _cli(rig, "record", "on")
    assert done.returncode == 0, done.stderr
    assert "recording wanted by: remote" in done.stdout
    rig.wait_until(lambda: _all_recording(rig), SLOW, message="all four recording by 'record on'")
    assert rig.status()["wanted_by"] == ["remote"]
    assert "wanted: RECORD (by remote)" in rig.status_table()

    # mark: a HiLight on every camera, at that moment, each camera its own way
    t0, wall0 = time.monotonic(), dt.datetime.now(dt.UTC)
    done = _cli(rig, "mark")
    t1, wall1 = time.monotonic(), dt.datetime.now(dt.UTC)
    assert done.returncode == 0, done.stdout + done.stderr
    for name in NAMES:
        assert f"  {name}  ok" in done.stdout
    assert _hilights(rig, since=t0) == [1, 1, 1, 1]
    for k in range(1, 5):
        (event,) = find_events(rig, k, "hilight", since=t0)
        assert t0 <= event["t"] <= t1                        # at the moment asked, not later
        (logged,) = [h for h in rig.camera(k).state()["hilights"] if h["t"] >= t0]   # the camera's HiLight log
        assert logged["offset_s"] > 0                        # inside the recording under way
    assert find_events(rig, 1, "hilight", since=t0)[0]["via"] == "http"     # tag_moment
    assert find_events(rig, 2, "hilight", since=t0)[0]["via"] == "http"     # hilight/moment
    assert find_events(rig, 3, "hilight", since=t0)[0]["via"] == "ble"      # 01 18
    (mark,) = [json.loads(line) for line in marks_path.read_text().splitlines()]
    assert mark["took"] == NAMES and mark["missed"] == {} and mark["source"] == "socket"
    assert wall0 <= dt.datetime.fromisoformat(mark["time"]) <= wall1
    rig.wait_until(lambda: [c.get("hilights") for c in rig.status()["cameras"]] == [1, 1, 1, 1], SLOW,
                   message="status 58 (HiLights) in every camera's row")
    assert rig.status()["marks"]["count"] == 1

    # a storm: 20 presses in a burst (well within MARK_COALESCE, 2 s, of each other; the first
    # more than 2 s after the last mark) → one HiLight per camera, every press answered
    time.sleep(max(0.0, t1 + 2.5 - time.monotonic()))
    t2 = time.monotonic()
    client = ControlClient(str(rig.control_socket), timeout=30)
    replies = []

    def press():
        replies.append(client.request("mark"))

    threads = [threading.Thread(target=press) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(replies) == 20                                 # every press answered:
    assert all(r["ok"] or r["detail"].startswith("busy") for r in replies)   # taken, or "busy" (8 at once)
    assert any(r["ok"] for r in replies)
    time.sleep(1.0)
    assert _hilights(rig, since=t2) == [1, 1, 1, 1]
    assert len(marks_path.read_text().splitlines()) == 2
    assert _all_recording(rig)                                # nothing disturbed

    # record auto: the trigger file decides again (off: every camera stops)
    done = _cli(rig, "record", "auto")
    assert done.returncode == 0, done.stderr
    rig.wait_until(lambda: rig.recording() == [False] * 4, SLOW, message="all stopped by 'record auto'")

    # mark with nothing recording (past the storm's coalescing window): exit 1, no HiLight anywhere
    time.sleep(max(0.0, t2 + 2.5 - time.monotonic()))
    t3 = time.monotonic()
    done = _cli(rig, "mark")
    assert done.returncode == 1 and "no camera is recording" in done.stderr
    assert _hilights(rig, since=t3) == [0, 0, 0, 0]

    # beside the trigger: file + latch; 'off' never overrides the trigger
    rig.trigger_on()
    rig.wait_until(lambda: _all_recording(rig), SLOW, message="recording by the trigger file")
    assert _cli(rig, "record", "on").returncode == 0
    assert rig.status()["wanted_by"] == ["file", "remote"]
    done = _cli(rig, "record", "off")
    assert done.returncode == 1 and "never overrides a trigger" in done.stderr
    assert _all_recording(rig)
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 4, SLOW, message="stopped with the trigger off")

    # no daemon: exit 3
    rig.stop_daemon()
    done = _cli(rig, "mark")
    assert done.returncode == 3 and "no gopro-manager daemon is listening" in done.stderr
