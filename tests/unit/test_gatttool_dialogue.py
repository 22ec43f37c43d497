"""The daemon's gatttool dialogue (camrig.cameras.gopro_legacy.gatttool) against the stand-in
gatttool and an emulated camera.

The stand-in prints what BlueZ ≥ 5.55's interactive gatttool prints (colour codes, ``connect to
<MAC>: …`` errors, ``Command Failed: Disconnected``, notifications); see its docstring for the
sources. The tests marked "issue 8 item 7" fail on the dialogue before it discovered handles and
waited for the camera's answer (it wrote 0x2f/0x33 and stopped at the ATT acknowledgement).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from camrig.cameras.gopro_legacy.gatttool import GatttoolBle, classify_error
from camrig.emulator.legacy_gopro import LegacyGoPro, ble_socket_path
from camrig.errors import BleError

STANDIN = str(Path(__file__).resolve().parents[2] / "camrig" / "emulator" / "gatttool")
BT_MAC = "d4:d9:19:9a:4c:7b"
CHARS = "characteristics 0x0001 0xffff b5f9007{}-aa8d-11e3-9046-0002a5d5c51b"


@pytest.fixture
def camera(tmp_path):
    cam = LegacyGoPro("front", bt_mac=BT_MAC, control_path=ble_socket_path(BT_MAC, str(tmp_path)),
                      delay_ms=0, association_delay=0.05, start="wifi-off")
    with cam:
        yield cam


def ble(tmp_path, shift=0, **kw):
    env = {**os.environ, "GOPRO_EMU_DIR": str(tmp_path), "GOPRO_EMU_ATT_SHIFT": str(shift)}
    kw.setdefault("timeout", 3.0)
    kw.setdefault("backoff", 0.05)
    return GatttoolBle(STANDIN, env=env, **kw)


def ble_commands(camera):
    return [e.get("cmd") for e in camera.state()["events"] if e["what"] == "ble"]


def test_wifi_on_discovers_handles_enables_notifications_and_waits_for_the_answer(tmp_path, camera):
    """Issue 8 item 7: characteristics → value handles, char-desc → CCCD, 0100 to it, then the write."""
    gatt = ble(tmp_path)
    assert gatt.write(BT_MAC, "03170101", camera="front") == "0x002f"
    assert gatt.last_commands == ["connect", CHARS.format(2), CHARS.format(3), "char-desc 0x0032 0x0032",
                                  "char-write-req 0x0032 0100", "char-write-req 0x002f 03170101"]
    assert ble_commands(camera) == ["03170101"]


def test_handles_are_discovered_once_per_camera(tmp_path, camera):
    gatt = ble(tmp_path)
    gatt.wifi_on(BT_MAC, camera="front")
    gatt.wifi_on(BT_MAC, camera="front")
    assert gatt.last_commands == ["connect", "char-write-req 0x0032 0100", "char-write-req 0x002f 03170101"]
    assert ble_commands(camera) == ["03170101", "03170101"]


def test_handles_are_found_not_guessed(tmp_path, camera):
    """Issue 8 item 7: on a table where GP-0072 is not at 0x2f, a guessed 0x2f is another
    characteristic (GP-0004 here) that takes the write at ATT level: the camera never hears it."""
    assert ble(tmp_path, shift=8).write(BT_MAC, "03170101", camera="front") == "0x0037"
    assert ble_commands(camera) == ["03170101"]


def test_moved_handles_are_discovered_again(tmp_path, camera):
    """A firmware update moves the table: the stale cached handles fail, the next attempt rediscovers."""
    gatt = ble(tmp_path, timeout=1.0, attempts=2)
    gatt.wifi_on(BT_MAC, camera="front")
    gatt.env["GOPRO_EMU_ATT_SHIFT"] = "8"
    assert gatt.write(BT_MAC, "03170101", camera="front") == "0x0037"
    assert ble_commands(camera) == ["03170101", "03170101"]


def test_refusal_fails_the_step_and_is_not_retried(tmp_path, camera):
    """Issue 8 item 7: the ATT acknowledgement is not the camera's answer; ``02 17 01`` fails."""
    camera.fault("ble_error", error="refuse")
    with pytest.raises(BleError, match=r"camera answered 02 17 01 to 03 17 01 01: refused") as info:
        ble(tmp_path, attempts=4, backoff=30).wifi_on(BT_MAC, camera="front")  # backoff 30 s: must not wait
    assert info.value.reason == "rejected"
    assert [(e["cmd"], e.get("refused")) for e in camera.state()["events"] if e["what"] == "ble"] == [
        ("03170101", True)]


@pytest.mark.parametrize("error,reason", [("enosys", "enosys"), ("busy", "busy"), ("refused", "refused")])
def test_known_connect_errors_are_retried_then_raised(tmp_path, camera, error, reason):
    camera.fault("ble_error", error=error)
    with pytest.raises(BleError) as info:
        ble(tmp_path, attempts=2).wifi_on(BT_MAC, camera="front")
    assert info.value.reason == reason
    assert str(info.value).startswith("front: gatttool connect: Error: connect to D4:D9:19:9A:4C:7B: ")
    assert "\x1b" not in str(info.value)            # BlueZ's colour codes are not in the log
    assert ble_commands(camera) == []


def test_dropped_link_is_detected_at_once(tmp_path, camera):
    """Issue 8 item 7: "Command Failed: Disconnected" ends the attempt (was: a full BLE_TIMEOUT)."""
    camera.fault("ble_error", error="drop")
    with pytest.raises(BleError, match="Command Failed: Disconnected") as info:
        ble(tmp_path, attempts=1, timeout=30.0).wifi_on(BT_MAC, camera="front")
    assert info.value.reason == "disconnected"


def test_authentication_error_is_not_retried(tmp_path, camera):
    camera.fault("ble_error", error="auth")
    with pytest.raises(BleError, match="requires authentication") as info:
        ble(tmp_path, attempts=4, backoff=30).wifi_on(BT_MAC, camera="front")  # backoff 30 s: must not wait
    assert info.value.reason == "auth"


def test_encryption_required_means_not_paired_and_is_not_retried(tmp_path, camera):
    """Issue 8 item 7: att.c's "Encryption required before read/write" (bond lost) is like auth."""
    camera.fault("ble_error", error="encrypt")
    with pytest.raises(BleError, match="Encryption required before read/write") as info:
        ble(tmp_path, attempts=4, backoff=30).wifi_on(BT_MAC, camera="front")  # backoff 30 s: must not wait
    assert info.value.reason == "encrypt"


def test_transient_error_then_success(tmp_path, camera):
    camera.fault("ble_error", error="busy")
    timer = threading.Timer(0.3, lambda: camera.fault("ble_error", error=None))
    timer.start()
    try:
        assert ble(tmp_path, attempts=6, backoff=0.2).write(BT_MAC, "03170101", camera="front") == "0x002f"
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


RED, OFF = "\x1b[0;91m", "\x1b[0m"


@pytest.mark.parametrize("line,reason", [
    ("Error: connect error: Function not implemented (38)", "enosys"),        # BlueZ < 5.55
    ("connect error: Device or resource busy (16)", "busy"),
    (f"{RED}Error: {OFF}connect to D4:D9:19:9A:4C:7B: Connection refused (111)", "refused"),
    (f"{RED}Error: {OFF}Characteristic Write Request failed: Attribute requires authentication before "
     "read/write", "auth"),
    (f"{RED}Error: {OFF}Characteristic Write Request failed: Encryption required before read/write", "encrypt"),
    (f"{RED}Command Failed: {OFF}Disconnected", "disconnected"),
    (f"{RED}Error: {OFF}Characteristic Write Request failed: Attribute can't be written", "handle"),
    (f"{RED}Error: {OFF}Discover all characteristics failed: No attribute found within the given range", "nochar"),
    ("Error: something new", "other"),
])
def test_classify_error(line, reason):
    assert classify_error(line) == reason
