"""The offload through the daemon's pieces (issue 10 parts 4-6): a real Controller with a real
CameraWorker (emulated HERO5–8 control, tests/unit/offload_camera.py media), the control socket,
``gopro-manager offload`` following the socket's snapshot, the trigger winning over a transfer,
``status`` rows from the status file, and OFFLOAD_AFTER. Before issue 10 ``offload`` answered
"not implemented": every test here fails on the code before it."""

from __future__ import annotations

import json
import threading
import time

import pytest

from camrig import cli, control
from camrig.cameras.gopro_legacy.driver import GpControl
from camrig.cameras.gopro_legacy.waker import LegacyWaker
from camrig.config import CameraConfig, Config
from camrig.controller import Controller
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.emulator.rig import wait_until
from camrig.http import HttpClient
from camrig.link import AddressLink
from camrig.offload.service import install
from camrig.status import read_status, render_table
from camrig.systemd import Notifier
from camrig.worker import CameraWorker, State
from tests.fakes import FlipTrigger
from tests.unit.offload_camera import MediaCamera, mp4

DAY = "2023-11-14"
FILES = {"100GOPRO/GH010001.MP4": mp4(1_200_000, 1), "100GOPRO/GH020001.MP4": mp4(400_000, 2),
         "100GOPRO/GL010001.LRV": mp4(40_000, 3)}


def wait_for(predicate, timeout=15.0):
    assert wait_until(predicate, timeout, interval=0.02), "condition not reached"


@pytest.fixture
def daemon(tmp_path):
    media = MediaCamera(FILES)
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cc = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                      address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    job_http = HttpClient(AddressLink("front", "127.0.0.1"), port=media.port, timeout=2.0, connect_timeout=0.3)
    driver = GpControl(http, "front")
    driver.media_port = media.port
    worker = CameraWorker(cc, driver, LegacyWaker(cc, http.link, driver.probe, timeout=5.0, wol_interval=0.2),
                          keep_awake=None, confirm_delay=0.05, power_cycle_pause=0.1, job_http=job_http)
    sock = str(tmp_path / "control.sock")
    config = Config(cameras=(cc,), network_mode="address", cycle_seconds=0.05,
                    status_path=str(tmp_path / "status.json"), offload_dir=str(tmp_path / "media"),
                    offload_min_free=0, control_socket=sock)
    trigger = FlipTrigger()
    ctl = Controller(config, [worker], trigger, Notifier(environ={}))
    svc = install(ctl)
    worker.start()
    wait_for(lambda: worker.state == State.IDLE and not worker.shutter_sent)
    loop = threading.Thread(target=ctl.run, daemon=True)
    loop.start()
    server = control.serve(sock, ctl, group=None)
    yield media, cam, worker, ctl, trigger, sock, svc
    server.close()
    svc.close()
    ctl.request_stop()
    loop.join(5)
    ctl.shutdown(stop_recordings=False)
    http.close()
    cam.close()
    media.close()


def cfg_file(tmp_path, sock):
    path = tmp_path / "config.py"
    path.write_text(f"NETWORK_MODE = 'address'\nCONTROL_SOCKET = {sock!r}\n"
                    "GOPROS = [{'name': 'front', 'address': '127.0.0.1', 'http_port': 9}]\n")
    path.chmod(0o600)
    return path


def test_cli_offload_goes_through_the_daemon_and_follows_it_to_the_end(daemon, tmp_path, capsys, monkeypatch):
    media, cam, worker, ctl, trigger, sock, svc = daemon
    monkeypatch.setattr("camrig.offload.cli.POLL_S", 0.05)
    rc = cli.main(["--config", str(cfg_file(tmp_path, sock)), "offload", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = json.loads(out[out.index("{"):])
    assert rows["front"]["state"] == "done" and rows["front"]["files_left"] == 0
    for key, data in FILES.items():
        assert (tmp_path / "media/front" / DAY / key.split("/")[1]).read_bytes() == data
    # the status file carries the same rows, and `status` shows them
    wait_for(lambda: "offload" in read_status(tmp_path / "status.json"))
    snap = read_status(tmp_path / "status.json")
    assert snap["offload"]["front"]["state"] == "done"
    assert any(line.startswith("front") and "done" in line for line in render_table(snap).splitlines())


def test_the_trigger_stops_every_transfer_and_the_offload_resumes_after(daemon, tmp_path):
    media, cam, worker, ctl, trigger, sock, svc = daemon
    media.rate = 800_000
    reply = control.ControlClient(sock).request("offload", ["start"], {"cameras": ["front"]})
    assert reply["ok"] and reply["cameras"]["front"]["ok"], reply
    part = tmp_path / "media/front" / DAY / "GH010001.MP4.part"
    wait_for(lambda: part.exists() and part.stat().st_size > 100_000)
    trigger.set(True)
    wait_for(lambda: cam.state()["recording"])
    wait_for(lambda: control.ControlClient(sock).snapshot()["offload"]["front"]["state"] == "paused")
    assert not (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()
    media.rate = None
    trigger.set(False)
    wait_for(lambda: not cam.state()["recording"])
    wait_for(lambda: control.ControlClient(sock).snapshot()["offload"]["front"]["state"] == "done", 20)
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == FILES["100GOPRO/GH010001.MP4"]
    ranges = [r for p, r in media.requests if p.endswith("GH010001.MP4")]
    assert ranges[-1] is not None and ranges[-1].startswith("bytes=")


def test_offload_after_starts_by_itself_once_recording_stops(daemon, tmp_path):
    media, cam, worker, ctl, trigger, sock, svc = daemon
    ctl.config = Config(**{**ctl.config.__dict__, "offload_after": 0.2})
    svc._stop.set()                                       # the fixture's watch: replace it with a faster one
    svc._stop = threading.Event()
    svc.watch(lambda: ctl.wanted, interval=0.05)
    assert not svc.handles                                 # nothing before a recording
    trigger.set(True)
    wait_for(lambda: cam.state()["recording"])
    time.sleep(0.3)                                       # longer than the watch's look interval
    trigger.set(False)
    wait_for(lambda: "front" in svc.handles and svc.snapshot()["front"].get("finished"), 20)
    assert (tmp_path / "media/front" / DAY / "GH020001.MP4").read_bytes() == FILES["100GOPRO/GH020001.MP4"]


def test_a_second_offload_is_followed_to_its_own_end_not_the_first_ones(daemon, tmp_path, capsys, monkeypatch):
    """The socket's snapshot is the last one published: right after a second ``start`` it still
    holds the first offload's finished rows. The follower must wait for the rows of its own run."""
    media, cam, worker, ctl, trigger, sock, svc = daemon
    monkeypatch.setattr("camrig.offload.cli.POLL_S", 0.05)
    path = cfg_file(tmp_path, sock)
    assert cli.main(["--config", str(path), "offload", "--json"]) == 0
    capsys.readouterr()
    media.files["100GOPRO/GH010002.MP4"] = mp4(600_000, 9)       # a new recording on the card
    media.rate = 1_000_000
    assert cli.main(["--config", str(path), "offload", "--json"]) == 0
    assert (tmp_path / "media/front" / DAY / "GH010002.MP4").read_bytes() == mp4(600_000, 9)
