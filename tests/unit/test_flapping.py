"""A chattering trigger in process: three emulated cameras (loopback), the real Assembly,
Controller and FileTrigger, the trigger file flipped every 50 ms (issue 16, item 5)."""

from __future__ import annotations

import logging
import os
import threading
import time

import pytest

from camrig.app import Assembly
from camrig.config import config_from_mapping
from camrig.controller import Controller
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.logutil import flush_all
from camrig.systemd import Notifier
from camrig.trigger import FILE_SETTLE, FileTrigger
from tests.polling import eventually

NAMES = ("front", "rear", "side")


@pytest.fixture
def car(tmp_path):
    cams = [LegacyGoPro(n, delay_ms=5, boot_delay=0.1).start() for n in NAMES]
    config = config_from_mapping({
        "GOPROS": [{"name": n, "address": "127.0.0.1", "http_port": c.port, "wol_port": c.wol_port}
                   for n, c in zip(NAMES, cams, strict=True)],
        "NETWORK_MODE": "address", "TRIGGER_PATH": str(tmp_path / "trigger"), "GPIO_BCM_PIN": None,
        "CYCLE_SECONDS": 0.1, "STATUS_PATH": None, "CHECK_STATUS": 10, "HTTP_TIMEOUT": 2.0,
        "CONNECT_TIMEOUT": 0.5, "KEEP_AWAKE": None})
    assembly = Assembly(config)
    workers = [assembly.worker(config, c) for c in config.cameras]
    running = []

    def start(settle):
        trigger = FileTrigger(config.trigger_path, settle=settle)
        ctl = Controller(config, workers, trigger, Notifier(environ={}), status_path="")
        for w in workers:
            w.start()
        thread = threading.Thread(target=ctl.run, daemon=True)
        thread.start()
        running.append((ctl, thread))
        assert eventually(lambda: all(w.state.value == "idle" for w in workers), timeout=10.0)
        return ctl

    yield cams, workers, start, config.trigger_path
    for ctl, thread in running:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=1.0)
    for c in cams:
        c.close()


def flap(path, seconds=3.0, period=0.05) -> int:
    """Create and remove ``path`` every ``period`` s for ``seconds`` s; ends with it removed."""
    flips, t = 0, time.monotonic()
    while time.monotonic() - t < seconds:
        if flips % 2 == 0:
            open(path, "a").close()
        else:
            os.unlink(path)
        flips += 1
        time.sleep(period)
    if os.path.exists(path):
        os.unlink(path)
        flips += 1
    return flips


def shutters(cam, since):
    return [e for e in cam.state()["events"] if e["what"] in ("shutter_on", "shutter_off") and e["t"] >= since]


def camera_lines(caplog, name):
    return [r for r in caplog.records if r.getMessage().startswith(f"{name}: ")]


def test_a_chattering_trigger_file_gives_one_clip_not_one_per_flip(car, caplog):
    """Fails before the fix: every flip reached the cameras (~30 shutters each in 3 s, one
    state-change log line per shutter)."""
    cams, workers, start, path = car
    start(FILE_SETTLE)
    caplog.set_level(logging.INFO)
    t = time.monotonic()
    flips = flap(path)
    assert eventually(lambda: not any(c.state()["recording"] for c in cams)
                      and all(w.state.value == "idle" for w in workers), timeout=10.0)
    time.sleep(1.0)
    for cam in cams:
        got = shutters(cam, t)
        assert [e["what"] for e in got] == ["shutter_on", "shutter_off"], (cam.name, flips, got)
        assert not cam.state()["recording"]
    for name in NAMES:
        assert len(camera_lines(caplog, name)) <= 6, [r.getMessage() for r in camera_lines(caplog, name)]


def test_chatter_that_reaches_the_cameras_is_logged_in_a_bounded_number_of_lines(car, caplog):
    """With the settle window off (every flip reaches the workers, as a chattering GPIO contact
    slower than GPIO_BOUNCE_TIME would) each camera still writes a bounded number of lines, and
    its last line tells where it ended. Fails before the fix: one line per shutter (~60)."""
    cams, workers, start, path = car
    start(0.0)
    caplog.set_level(logging.INFO)
    t = time.monotonic()
    flap(path)
    assert eventually(lambda: not any(c.state()["recording"] for c in cams)
                      and all(w.state.value == "idle" for w in workers), timeout=10.0)
    time.sleep(1.5)
    flush_all()
    for cam, name in zip(cams, NAMES, strict=True):
        assert len(shutters(cam, t)) > 10                      # the chatter did reach the camera
        lines = [r.getMessage() for r in camera_lines(caplog, name)]
        assert len(lines) <= 12, lines
        assert "→ idle" in [m for m in lines if "→" in m][-1], lines   # the journal ends on its state
