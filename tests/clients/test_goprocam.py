"""KonradIT's ``goprocam`` (a real gpControl client nobody here wrote) against the emulated HERO5-8.

Issue 17: recording control worked, but the emulator differed from a camera in ways that hid
daemon bugs. Here goprocam connects, reads the state, shutters, sends its keep-alive, sets the
clock, lists media and tags a HiLight, and each answer is asserted. Where goprocam itself deviates
from the camera's own description, the test says so and the emulator is not bent to fit:

- ``IsRecording()`` reads status 8 (system_busy), not 10 (encoding_active): it says "not
  recording" during a recording unless the camera stays busy while it records.
- ``syncTime()`` sends one hex digit for fields below 16 (``%18%b%1d...``); the camera's own form
  (status 40, goprowifihack) is two digits each. The emulator refuses it (HTTP 500) unless the
  ``lenient_date_time`` switch is on; what a camera does is unverified (docs/models.md).

goprocam talks to ``http://IP/`` on port 80 and to UDP 8554/9/7 with no way to change the ports,
so the camera listens on its own loopback address (127.81.x.y) on the real ports: that needs root
(or a low ``ip_unprivileged_port_start``); otherwise, or without goprocam installed
(requirements-clients.txt), the tests skip and say why.

Before issue 17 ``GoPro()`` never connected (``/gp/gpControl`` answered 404 and goprocam retried it
until RecursionError), the media list was 404 on port 80, and ``mode()`` was 404.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

goprocam = pytest.importorskip(
    "goprocam", reason="goprocam is not installed: pip install -r requirements-clients.txt")
from goprocam import GoProCamera, constants  # noqa: E402

from camrig.emulator.legacy_gopro import LegacyGoPro  # noqa: E402
from tests.polling import wait_for  # noqa: E402

WIFI_MAC = "06:41:69:81:00:01"


def _address() -> str:
    pid = os.getpid()
    return f"127.81.{(pid >> 8) & 0xFF}.{(pid & 0xFF) or 1}"


@pytest.fixture
def cam():
    ip = _address()
    try:
        camera = LegacyGoPro("goprocam", listen=ip, port=80, media_port=8080, wol_port=9, wol_listen=ip,
                             stream_port=8554, wifi_mac=WIFI_MAC, delay_ms=0, boot_delay=0.1).start()
    except PermissionError as exc:
        pytest.skip(f"goprocam needs the camera on port 80 of {ip}; binding it was refused ({exc}): run as root")
    except OSError as exc:
        pytest.skip(f"cannot listen on {ip}:80/8080 for goprocam: {exc}")
    yield camera
    camera.close()


@pytest.fixture
def gopro(cam):
    return GoProCamera.GoPro(ip_address=cam.listen, debug=False, timeout=3)


def test_connect_detects_a_gpcontrol_hero7(cam, gopro):
    assert gopro.whichCam() == constants.Camera.Interface.GPControl
    assert gopro.infoCamera(constants.Camera.Name) == "HERO7 Black"
    assert gopro.infoCamera(constants.Camera.Firmware) == "HD7.01.01.49.17"
    assert cam.state()["model"] == "HERO7 Black"


def test_state_is_the_cameras_status(cam, gopro):
    assert gopro.getStatus(constants.Status.Status, "10") == 0           # encoding_active
    assert gopro.getStatus(constants.Status.Status, constants.Status.STATUS.Mode) == 0
    assert gopro.getStatus(constants.Status.Status, "82") == 1           # system_ready
    assert gopro.getStatus(constants.Status.Settings, "2") == 9          # resolution 1080


def test_shutter_records_and_stops(cam, gopro):
    gopro.shutter(constants.start)
    assert cam.state()["recording"] and gopro.getStatus(constants.Status.Status, "10") == 1
    gopro.shutter(constants.stop)
    assert not cam.state()["recording"] and cam.state()["files"] == ["GOPR0001.MP4"]


def test_is_recording_reads_status_8_a_goprocam_deviation(cam, gopro):
    gopro.shutter(constants.start)
    assert cam.state()["recording"]
    # goprocam: Status.STATUS.IsRecording = "8"; the camera names 8 system_busy, 10 encoding_active.
    assert gopro.IsRecording() == 0
    cam.fault("busy_while_recording", on=True)
    assert gopro.IsRecording() == 1


def test_mode_photo_then_video(cam, gopro):
    assert gopro.mode(constants.Mode.PhotoMode, "0") == "{}"
    assert (cam.state()["mode"], cam.state()["sub_mode"]) == (1, 0)
    gopro.shutter(constants.start)
    assert cam.state()["photos"] == 1 and not cam.state()["recording"]
    gopro.mode(constants.Mode.VideoMode, "0")
    gopro.shutter(constants.start)
    assert cam.state()["capture"] == "video"


def test_keep_alive_reaches_the_camera(cam, gopro, monkeypatch):
    class Stop(Exception):
        pass

    class OneRound:                  # KeepAlive loops for ever: end it at its first sleep
        @staticmethod
        def sleep(_seconds):
            raise Stop

    monkeypatch.setattr(GoProCamera, "time", OneRound)
    with pytest.raises(Stop):
        gopro.KeepAlive()
    wait_for(lambda: [e for e in cam.state()["events"] if e["what"] == "stream_keep_alive"],
             what="keep-alive datagram")
    (event,) = [e for e in cam.state()["events"] if e["what"] == "stream_keep_alive"]
    assert event["payload"] == "_GPHD_:0:0:2:0.000000"


def test_sync_time_sends_one_digit_fields_a_goprocam_deviation(cam, gopro):
    # Refused in the camera's own two-digit form; goprocam swallows the HTTP 500 and returns "".
    assert gopro.syncTime() == ""
    assert cam.state()["date_time"] is None
    cam.fault("lenient_date_time", on=True)
    assert gopro.syncTime() == "{}"
    set_to = dt.datetime.fromisoformat(cam.state()["date_time"])
    assert abs((set_to - dt.datetime.now()).total_seconds()) < 5


def test_media_list_on_port_80(cam, gopro):
    for _ in range(2):
        gopro.shutter(constants.start)
        gopro.shutter(constants.stop)
    media = gopro.listMedia(format=True, media_array=True)
    assert [m[:2] for m in media] == [["100GOPRO", "GOPR0001.MP4"], ["100GOPRO", "GOPR0002.MP4"]]
    assert all(m[2].isdigit() and m[3].isdigit() for m in media)
    assert gopro.getMedia() == f"http://{cam.listen}/videos/DCIM/100GOPRO/GOPR0002.MP4"


def test_hilight_while_recording(cam, gopro):
    gopro.shutter(constants.start)
    gopro.hilight()
    assert gopro.getStatus(constants.Status.Status, "58") == 1           # num_hilights


def test_power_on_wakes_a_sleeping_camera(cam, gopro):
    gopro.power_off()
    wait_for(lambda: cam.state()["power"] == "asleep", what="asleep")
    gopro.power_on(WIFI_MAC)
    wait_for(lambda: cam.state()["power"] == "on", what="woken by Wake-on-LAN")
