"""Config: per-camera model and control path (issue 5)."""

from __future__ import annotations

import pytest

from camrig.config import ConfigError, config_from_mapping, usb_address

BT = "e4:11:22:33:44:{:02x}"


def cfg(*cams, **keys):
    return config_from_mapping({"GOPROS": list(cams), **keys})


def test_original_four_tuple_is_a_legacy_wifi_camera():
    cam = cfg(("wlan1", "GP24784461", "06:41:69:6a:c1:05", "d4:d9:19:9a:4c:7b")).cameras[0]
    assert ((cam.model, cam.control, cam.http_port, cam.open_gopro, cam.path)
            == ("hero7", "wifi", 80, False, "wifi wlan1"))


@pytest.mark.parametrize("model", ["hero10", "hero11", "hero12", "hero13"])
def test_open_gopro_over_wifi_defaults_to_port_8080(model):
    cam = cfg({"iface": "wlan2", "model": model}).cameras[0]
    assert cam.open_gopro and cam.http_port == 8080 and cam.address == "10.5.5.9" and cam.bt_mac is None


def test_usb_address_from_the_serials_last_three_digits():
    # openapi_http_2.0.json, "Socket Address": serial C0000123456789 → 172.27.189.51
    assert usb_address("C0000123456789") == "172.27.189.51"
    cam = cfg({"name": "cockpit", "model": "hero11", "control": "usb", "serial": "C3441324645504"}).cameras[0]
    assert (cam.address, cam.http_port, cam.iface, cam.path) == ("172.25.104.51", 8080, None, "usb 172.25.104.51")


@pytest.mark.parametrize("serial", ["12", "", "C12345678ab"])
def test_usb_address_names_a_serial_too_short_or_not_ending_in_digits(serial):
    # Found by mypy (unpacking a str): a serial under three characters raised "not enough values
    # to unpack" before; now the same message as a serial that does not end in digits.
    with pytest.raises(ValueError, match="does not end in three digits"):
        usb_address(serial)


def test_usb_address_may_be_given_outright():
    cam = cfg({"name": "u", "model": "hero12", "control": "usb", "address": "127.0.0.9", "http_port": 9000}).cameras[0]
    assert (cam.address, cam.http_port) == ("127.0.0.9", 9000)


def test_ble_camera_needs_no_interface_even_in_bind_mode():
    cam = cfg({"name": "roof", "model": "hero9", "control": "ble", "bt_mac": BT.format(1)}).cameras[0]
    assert cam.iface is None and cam.path == "ble"


@pytest.mark.parametrize("cam, key, words", [
    ({"iface": "wlan1", "model": "hero9"}, "GOPROS[0].bt_mac", "only over BLE"),
    ({"name": "r", "model": "hero12", "control": "ble"}, "GOPROS[0].bt_mac", "required with control 'ble'"),
    ({"name": "u", "model": "hero12", "control": "usb"}, "GOPROS[0].serial", "172.2X.1YZ.51"),
    ({"name": "u", "model": "hero12", "control": "usb", "serial": "C12345678ab"}, "GOPROS[0].serial", "three digits"),
    ({"iface": "wlan1", "model": "hero7", "control": "ble", "bt_mac": BT.format(1)}, "GOPROS[0].control",
     "Wi-Fi only"),
    ({"iface": "wlan1", "model": "hero12", "control": "usb", "serial": "C1234567890"}, "GOPROS[0].iface",
     "remove 'iface'"),
    ({"iface": "wlan1", "model": "hero14"}, "GOPROS[0].model", "hero13"),
    # issue 8 item 2: wired_usb lists HERO10+; a HERO9 on USB is "GoPro Connect" (not driven).
    ({"name": "dash", "model": "hero9", "control": "usb", "serial": "C3441324645504", "bt_mac": BT.format(1)},
     "GOPROS[0].control", "use control 'wifi' or 'ble'"),
])
def test_model_and_control_errors_name_key_and_camera(cam, key, words):
    with pytest.raises(ConfigError) as info:
        cfg(cam)
    assert info.value.key == key and words in str(info.value)
    assert info.value.camera is not None


def test_hero9_on_usb_is_refused_naming_the_camera():
    """Failed before: accepted, then the wake failed on /gopro/camera/control/wired_usb."""
    with pytest.raises(ConfigError) as info:
        cfg({"name": "dash", "model": "hero9", "control": "usb", "serial": "C3441324645504", "bt_mac": BT.format(1)})
    assert info.value.camera == "dash" and "HERO9" in str(info.value) and "GoPro Connect" in str(info.value)
    for control in ("wifi", "ble"):
        extra = {"iface": "wlan1"} if control == "wifi" else {}
        cfg({"name": "dash", "model": "hero9", "control": control, "bt_mac": BT.format(1), **extra})


def test_more_than_four_ble_cameras_per_adapter_is_refused():
    cams = [{"name": f"b{k}", "model": "hero12", "control": "ble", "bt_mac": BT.format(k)} for k in range(1, 6)]
    cfg(*cams[:4])
    with pytest.raises(ConfigError) as info:
        cfg(*cams, BLE_ADAPTER="hci1")
    assert "hci1" in str(info.value) and "b5" in str(info.value)


def test_emulated_ble_backend_needs_its_directory():
    cam = {"name": "r", "model": "hero12", "control": "ble", "bt_mac": BT.format(1)}
    with pytest.raises(ConfigError, match="BLE_EMU_DIR"):
        cfg(cam, BLE_BACKEND="emulated")
    c = cfg(cam, BLE_BACKEND="emulated", BLE_EMU_DIR="/tmp/emu")
    assert (c.ble_backend, c.ble_emu_dir) == ("emulated", "/tmp/emu")


def test_usb_cameras_with_the_same_address_are_refused():
    a = {"name": "u1", "model": "hero12", "control": "usb", "serial": "C1111111111504"}
    b = {"name": "u2", "model": "hero12", "control": "usb", "serial": "C2222222222504"}
    with pytest.raises(ConfigError, match="share an address"):
        cfg(a, b)
