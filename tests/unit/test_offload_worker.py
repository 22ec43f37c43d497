"""The offload through a real CameraWorker's job slot, driven by the offload service (issue 10
parts 4 and 5): recording always wins — the transfer stops at once when recording becomes wanted,
the camera records, and the offload resumes by Range when the trigger is off again. The camera's
control side is the in-process emulated HERO5–8; its media side is tests/unit/offload_camera.py
(the emulators serve no media yet). Before issue 10 there was no offload job or service: these
tests fail on the code before it."""

from __future__ import annotations

import time

import pytest

from camrig.cameras.gopro_legacy.driver import GpControl
from camrig.cameras.gopro_legacy.waker import LegacyWaker
from camrig.commands import Command, register
from camrig.config import CameraConfig
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.emulator.rig import wait_until
from camrig.http import HttpClient
from camrig.link import AddressLink
from camrig.offload.hooks import SessionTelemetry
from camrig.offload.service import OffloadService, validate
from camrig.worker import CameraWorker, State
from tests.unit.offload_camera import MediaCamera, mp4

DAY = "2023-11-14"


def wait_for(predicate, timeout=15.0):
    assert wait_until(predicate, timeout, interval=0.02), "condition not reached"


@pytest.fixture
def rig(tmp_path):
    media = MediaCamera({"100GOPRO/GH010001.MP4": mp4(1_500_000, 1), "100GOPRO/GL010001.LRV": mp4(50_000, 2)})
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    job_http = HttpClient(AddressLink("front", "127.0.0.1"), port=media.port, timeout=2.0, connect_timeout=0.3)
    driver = GpControl(http, "front")
    driver.media_port = media.port
    waker = LegacyWaker(cfg, http.link, driver.probe, timeout=5.0, wol_interval=0.2)
    worker = CameraWorker(cfg, driver, waker, keep_awake=None, confirm_delay=0.05, power_cycle_pause=0.1,
                          job_http=job_http)
    worker.start()
    wait_for(lambda: worker.state == State.IDLE and not worker.shutter_sent)
    config = type("C", (), {"offload_dir": str(tmp_path / "media"), "offload_min_free": 0,
                            "offload_after": None, "offload_what": "proxies-first"})()
    svc = OffloadService(lambda: [worker], lambda: config, session=SessionTelemetry(lambda: '.', enabled=False))
    yield media, cam, worker, svc
    svc.close()
    worker.stop()
    http.close()
    cam.close()
    media.close()


def test_recording_wanted_stops_the_transfer_and_it_resumes_by_range_after(rig, tmp_path):
    media, cam, worker, svc = rig
    media.rate = 1_000_000                           # 1.5 s for the MP4
    register("offload", validate, replace=True)
    res = svc.handle(Command("offload", ("start",), options={"cameras": ["front"]}, source="test"))
    assert res.ok, res
    part = tmp_path / "media/front" / DAY / "GH010001.MP4.part"
    wait_for(lambda: part.exists() and part.stat().st_size > 200_000)
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    wait_for(lambda: svc.snapshot()["front"]["state"] == "paused")
    size = part.stat().st_size
    assert size < 1_500_000
    time.sleep(0.4)
    assert part.stat().st_size == size               # nothing more arrives while recording
    assert not (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()
    media.rate = None
    worker.set_wanted(False)
    wait_for(lambda: svc.snapshot()["front"].get("finished"))
    assert svc.snapshot()["front"]["state"] == "done", svc.snapshot()
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == mp4(1_500_000, 1)
    ranges = [r for p, r in media.requests if p.endswith("GH010001.MP4")]
    assert ranges[0] is None and ranges[-1] is not None and ranges[-1].startswith("bytes=")


def test_a_second_start_while_running_does_not_queue_twice_and_stop_cancels(rig):
    media, cam, worker, svc = rig
    media.hold.clear()                               # every file waits: the job stays running
    first = svc.start()
    second = svc.start()
    assert first.ok and "already" in second.cameras["front"].detail
    stopped = svc.stop()
    assert stopped.cameras["front"].ok
    media.hold.set()
    wait_for(lambda: svc.snapshot()["front"].get("finished"))
    assert svc.snapshot()["front"]["state"] == "stopped"


def test_unknown_camera_and_bad_options_are_refused():
    from camrig.commands import CommandError

    with pytest.raises(CommandError):
        validate(("sideways",), {}, "test")
    with pytest.raises(CommandError):
        validate(("start",), {"cameras": "front"}, "test")
    with pytest.raises(CommandError):
        validate(("start",), {"delete_after": "yes"}, "test")
    with pytest.raises(CommandError):
        validate((), {"colour": 1}, "test")
    validate(("start",), {"cameras": ["front"], "proxies_only": True}, "test")
    svc = OffloadService(lambda: [], lambda: None, session=SessionTelemetry(lambda: '.', enabled=False))
    res = svc.start(["rear"])
    assert not res.ok and "no camera called 'rear'" in res.cameras["rear"].detail
