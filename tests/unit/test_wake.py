"""Wake path: iw parsing, association check, Wake-on-LAN bytes on the wire, the wake sequence."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from camrig.config import CameraConfig
from camrig.errors import BleError, CameraUnreachable, WakeFailed
from camrig.link import AddressLink
from camrig.wake import LegacyWaker, is_associated, magic_packet, parse_iw_link, send_wake_on_lan

IW_CONNECTED = """Connected to 06:41:69:6a:c1:05 (on wlan1)
\tSSID: GP24784461
\tfreq: 2437
\tRX: 1234 bytes (10 packets)
\tsignal: -48 dBm
"""


def test_parse_iw_link():
    assert parse_iw_link(IW_CONNECTED).connected is True
    assert parse_iw_link(IW_CONNECTED).bssid == "06:41:69:6a:c1:05"
    assert parse_iw_link(IW_CONNECTED).ssid == "GP24784461"
    assert parse_iw_link("Not connected.\n").connected is False
    assert parse_iw_link("nl80211 not found.\n").connected is None
    assert parse_iw_link("command failed: No such device (-19)\n").connected is None


def fake_iw(text, returncode=0):
    def run(argv, **kwargs):
        assert argv[1:] == ["dev", "wlan1", "link"]
        return subprocess.CompletedProcess(argv, returncode, text, "")
    return run


@pytest.fixture
def sysfs(tmp_path):
    (tmp_path / "wlan1").mkdir()
    (tmp_path / "wlan1" / "operstate").write_text("up\n")
    return tmp_path


def test_associated_with_the_cameras_bssid(sysfs):
    assert is_associated("wlan1", "06:41:69:6A:C1:05", run=fake_iw(IW_CONNECTED), sysfs=sysfs)
    assert not is_associated("wlan1", "06:41:69:6a:c1:99", run=fake_iw(IW_CONNECTED), sysfs=sysfs)
    assert not is_associated("wlan1", None, run=fake_iw("Not connected.\n"), sysfs=sysfs)


def test_without_nl80211_operstate_decides(sysfs):
    run = fake_iw("nl80211 not found.\n", returncode=1)
    assert is_associated("wlan1", "06:41:69:6a:c1:05", run=run, sysfs=sysfs)
    (sysfs / "wlan1" / "operstate").write_text("lowerlayerdown\n")
    assert not is_associated("wlan1", "06:41:69:6a:c1:05", run=run, sysfs=sysfs)


def test_iw_missing_falls_back_to_operstate(sysfs):
    def run(argv, **kwargs):
        raise FileNotFoundError("iw")
    assert is_associated("wlan1", None, run=run, sysfs=sysfs)
    assert not is_associated("wlan9", None, run=run, sysfs=sysfs)  # no such interface


def test_magic_packet_bytes():
    packet = magic_packet("06:41:69:6a:c1:05")
    assert len(packet) == 102
    assert packet[:6] == b"\xff" * 6
    assert packet[6:] == bytes.fromhex("0641696ac105") * 16


def test_wake_on_lan_arrives_on_the_wire():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        port = rx.getsockname()[1]
        sent = send_wake_on_lan(AddressLink("front", "127.0.0.1"), "06:41:69:6a:c1:05", port)
        data, _ = rx.recvfrom(200)
    assert sent == [f"127.0.0.1:{port}"]
    assert data == magic_packet("06:41:69:6a:c1:05")


CAM = CameraConfig(name="front", iface="wlan1", ssid="GP1", wifi_mac="06:41:69:6a:c1:05",
                   bt_mac="d4:d9:19:9a:4c:7b", address="127.0.0.1", wol_port=9)


class FakeBle:
    def __init__(self, fail=False):
        self.calls = []
        self.fail = fail

    def wifi_on(self, bt_mac, *, camera, stop=None, deadline=None):
        self.calls.append(bt_mac)
        if self.fail:
            raise BleError("gatttool connect: Connection refused (111)", camera=camera, reason="refused")


class Camera:
    """The camera as the waker sees it: associated or not, answering the probe or not."""

    def __init__(self, associated=True, answers_after=0):
        self.associated = associated
        self.probes = 0
        self.answers_after = answers_after

    def probe(self):
        self.probes += 1
        if self.probes <= self.answers_after:
            raise CameraUnreachable("GET probe: timed out", camera="front")


def waker(cam, ble, timeout=5.0):
    link = AddressLink("front", "127.0.0.1")
    return LegacyWaker(CAM, link, cam.probe, ble=ble, associated=lambda: cam.associated,
                       timeout=timeout, wol_interval=0.05)


def test_associated_camera_is_woken_without_ble():
    cam, ble, steps = Camera(answers_after=2), FakeBle(), []
    waker(cam, ble).wake(threading.Event(), steps.append)
    assert ble.calls == [] and steps == ["wake-on-lan"]


def test_wifi_off_camera_gets_ble_wifi_on_first():
    cam, steps = Camera(associated=False), []

    class AssociatingBle(FakeBle):
        def wifi_on(self, bt_mac, *, camera, stop=None, deadline=None):
            super().wifi_on(bt_mac, camera=camera, stop=stop)
            cam.associated = True

    ble = AssociatingBle()
    waker(cam, ble).wake(threading.Event(), steps.append)
    assert ble.calls == ["d4:d9:19:9a:4c:7b"]
    assert steps == ["ble wifi-on", "association", "wake-on-lan"]


def test_ble_failure_is_a_wake_failure_naming_the_camera():
    with pytest.raises(WakeFailed, match="front: gatttool connect: Connection refused"):
        waker(Camera(associated=False), FakeBle(fail=True)).wake(threading.Event())


def test_silent_camera_fails_within_the_timeout():
    with pytest.raises(WakeFailed, match="front: no answer"):
        waker(Camera(answers_after=10**9), FakeBle(), timeout=1.0).wake(threading.Event())


def test_stop_cuts_the_wake_short():
    stop = threading.Event()
    stop.set()
    with pytest.raises(WakeFailed, match="stopping"):
        waker(Camera(answers_after=10**9), FakeBle()).wake(stop)
