"""The daemon's gatttool dialogue (camrig.ble.gatttool) against the stand-in gatttool and an emulated camera."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from camrig.ble.gatttool import GatttoolBle, classify_error
from camrig.emulator.legacy_gopro import LegacyGoPro, ble_socket_path
from camrig.errors import BleError

STANDIN = str(Path(__file__).resolve().parents[2] / "camrig" / "emulator" / "gatttool")
BT_MAC = "d4:d9:19:9a:4c:7b"


@pytest.fixture
def camera(tmp_path):
    cam = LegacyGoPro("front", bt_mac=BT_MAC, control_path=ble_socket_path(BT_MAC, str(tmp_path)),
                      delay_ms=0, association_delay=0.05, start="wifi-off")
    with cam:
        yield cam


def ble(tmp_path, **kw):
    env = {**os.environ, "GOPRO_EMU_DIR": str(tmp_path)}
    kw.setdefault("timeout", 3.0)
    kw.setdefault("backoff", 0.05)
    return GatttoolBle(STANDIN, env=env, **kw)


def ble_commands(camera):
    return [e.get("cmd") for e in camera.state()["events"] if e["what"] == "ble"]


def test_wifi_on_reaches_the_camera_through_handle_0x2f(tmp_path, camera):
    handle = ble(tmp_path).write(BT_MAC, "03170101", camera="front")
    assert handle == "0x2f"
    assert ble_commands(camera) == ["03170101"]


@pytest.mark.parametrize("error,reason", [("enosys", "enosys"), ("busy", "busy"), ("refused", "refused")])
def test_known_connect_errors_are_retried_then_raised(tmp_path, camera, error, reason):
    camera.fault("ble_error", error=error)
    with pytest.raises(BleError) as info:
        ble(tmp_path, attempts=2).wifi_on(BT_MAC, camera="front")
    assert info.value.reason == reason
    assert str(info.value).startswith("front: gatttool connect:")
    assert ble_commands(camera) == []


def test_authentication_error_is_not_retried(tmp_path, camera):
    camera.fault("ble_error", error="auth")
    with pytest.raises(BleError, match="requires authentication") as info:
        ble(tmp_path, attempts=4, backoff=30).wifi_on(BT_MAC, camera="front")  # backoff 30 s: must not wait
    assert info.value.reason == "auth"


def test_transient_error_then_success(tmp_path, camera):
    camera.fault("ble_error", error="busy")
    timer = threading.Timer(0.3, lambda: camera.fault("ble_error", error=None))
    timer.start()
    try:
        assert ble(tmp_path, attempts=6, backoff=0.2).write(BT_MAC, "03170101", camera="front") == "0x2f"
    finally:
        timer.cancel()


def test_hanging_gatttool_times_out(tmp_path, camera):
    camera.fault("ble_error", error="hang")
    with pytest.raises(BleError, match="no answer within 1 s") as info:
        ble(tmp_path, attempts=1, timeout=1.0).wifi_on(BT_MAC, camera="front")
    assert info.value.reason == "timeout"


def test_camera_out_of_range(tmp_path):
    with pytest.raises(BleError) as info:
        ble(tmp_path, attempts=1).wifi_on(BT_MAC, camera="front")  # no emulator for this MAC
    assert info.value.reason in ("refused", "down")


def test_gatttool_missing(tmp_path):
    missing = GatttoolBle(str(tmp_path / "no-gatttool"), attempts=1)
    with pytest.raises(BleError, match="cannot run") as info:
        missing.wifi_on(BT_MAC, camera="front")
    assert info.value.reason == "missing"


@pytest.mark.parametrize("line,reason", [
    ("Error: connect error: Function not implemented (38)", "enosys"),
    ("connect error: Device or resource busy (16)", "busy"),
    ("Error: Characteristic Write Request failed: Attribute requires authentication before read/write", "auth"),
    ("Error: connect error: Connection refused (111)", "refused"),
    ("Error: something new", "other"),
])
def test_classify_error(line, reason):
    assert classify_error(line) == reason
