"""``check`` as a doctor (camrig/doctor.py): adapters against a fake sysfs tree and udev rule, BlueZ
bonds over a real (private) D-Bus daemon with a stand-in org.bluez, config owner/mode, unit state,
and the whole report against an emulated camera. All new with the doctor (issue 14 part 3): before
it, ``check`` had none of these lines, no ``--json`` and no fixes on FAIL lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from camrig.config import config_from_mapping
from camrig.doctor import FAIL, OK, SKIP, WARN, BluezUnavailable, Doctor, Finding, bluez_devices, run_check
from camrig.emulator.legacy_gopro import LegacyGoPro
from tests.bluez_fake import FakeBluez, dbus_daemon

ROOT = Path(__file__).resolve().parents[2]
BT = "D4:D9:19:9A:4C:7B"


def cfg(**extra):
    base = {"GOPROS": [{"name": "front", "iface": "wlan1", "ssid": "GP1", "wifi_mac": "06:41:69:6a:c1:05",
                        "bt_mac": BT}],
            "NETWORK_MODE": "bind", "GPIO_BCM_PIN": None, "STATUS_PATH": None}
    base.update(extra)
    return config_from_mapping(base)


def fake_sysfs(root: Path, adapters: dict[str, str]) -> Path:
    """A /sys/class/net stand-in: one directory per interface with ``address`` and ``operstate``."""
    net = root / "net"
    for name, mac in adapters.items():
        (net / name).mkdir(parents=True)
        (net / name / "address").write_text(mac + "\n")
        (net / name / "operstate").write_text("down\n")
    net.mkdir(parents=True, exist_ok=True)
    return net


def rule(root: Path, pins: dict[str, str]) -> Path:
    path = root / "70-gopro-manager-wifi.rules"
    path.write_text("# written by discover --apply\n" + "".join(
        f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="{mac}", NAME="{name}"\n' for name, mac in pins.items()))
    return path


def doctor(config, tmp_path, **kw) -> Doctor:
    kw.setdefault("sysfs", fake_sysfs(tmp_path, {}))
    kw.setdefault("udev_rule", tmp_path / "none.rules")
    kw.setdefault("bluez", lambda adapter: {})
    kw.setdefault("clock", lambda: True)
    kw.setdefault("unit", lambda: ("active", "loaded"))
    return Doctor(config, **kw)


# --- adapter: present, named as configured -----------------------------------------------------

def test_adapter_missing_is_a_fail_naming_what_is_there(tmp_path):
    net = fake_sysfs(tmp_path, {"wlan0": "b8:27:eb:00:00:01", "wlan2": "00:c0:ca:00:00:02"})
    d = doctor(cfg(), tmp_path, sysfs=net)
    (f,) = d.adapter(cfg().cameras[0])
    assert f.status == FAIL
    assert "wlan1 not found (interfaces here: wlan0, wlan2)" in f.detail
    assert "discover" in f.fix


def test_adapter_pinned_by_udev_to_its_mac_is_ok(tmp_path):
    net = fake_sysfs(tmp_path, {"wlan1": "00:C0:CA:AA:BB:01"})
    d = doctor(cfg(), tmp_path, sysfs=net, udev_rule=rule(tmp_path, {"wlan1": "00:c0:ca:aa:bb:01"}))
    (f,) = d.adapter(cfg().cameras[0])
    assert f.status == OK and "pinned by udev" in f.detail


def test_adapter_with_another_mac_than_the_rule_names_is_a_fail(tmp_path):
    net = fake_sysfs(tmp_path, {"wlan1": "00:c0:ca:aa:bb:02"})
    d = doctor(cfg(), tmp_path, sysfs=net, udev_rule=rule(tmp_path, {"wlan1": "00:c0:ca:aa:bb:01"}))
    (f,) = d.adapter(cfg().cameras[0])
    assert f.status == FAIL
    assert "wlan1 has MAC 00:c0:ca:aa:bb:02" in f.detail and "00:c0:ca:aa:bb:01" in f.detail
    assert "discover --apply" in f.fix


def test_adapter_not_pinned_is_a_warning_with_the_fix(tmp_path):
    d = doctor(cfg(), tmp_path, sysfs=fake_sysfs(tmp_path, {"wlan1": "00:c0:ca:aa:bb:01"}))
    (f,) = d.adapter(cfg().cameras[0])
    assert f.status == WARN and f.fix == "sudo gopro_manager.py discover --apply"


# --- BLE bond ------------------------------------------------------------------------------------

@pytest.mark.parametrize("devices,status,fragment", [
    ({}, FAIL, "unknown to BlueZ on hci0 (never paired)"),
    ({BT: {"Paired": False, "Trusted": False}}, FAIL, "not paired"),
    ({BT: {"Paired": True, "Trusted": False}}, FAIL, "paired but not trusted"),
    ({BT: {"Paired": True, "Trusted": True, "Bonded": True}}, OK, "paired, trusted, bonded on hci0"),
])
def test_ble_bond_from_bluez_properties(tmp_path, devices, status, fragment):
    (f,) = doctor(cfg(), tmp_path, bluez=lambda adapter: devices).ble_bond(cfg().cameras[0])
    assert f.status == status and fragment in f.detail, f
    if status == FAIL:
        assert f"bluetoothctl trust {BT}" in f.fix


def test_bluez_not_running_is_one_clear_fail_per_camera_asked_once(tmp_path):
    asked = []

    def bluez(adapter):
        asked.append(adapter)
        raise BluezUnavailable("not-running", "BlueZ is not running (org.bluez is not on the system bus)")

    two = cfg(GOPROS=[{"name": n, "iface": f"wlan{k}", "ssid": f"GP{k}", "wifi_mac": f"06:41:69:6a:c1:0{k}",
                       "bt_mac": f"D4:D9:19:9A:4C:0{k}"} for k, n in ((1, "front"), (2, "rear"))])
    d = doctor(two, tmp_path, bluez=bluez)
    found = [d.ble_bond(c)[0] for c in two.cameras]
    assert asked == ["hci0"]
    assert all(f.status == FAIL and "BlueZ is not running" in f.detail for f in found)
    assert all("systemctl enable --now bluetooth" in f.fix for f in found)


def test_no_bt_mac_no_bond_line(tmp_path):
    config = cfg(GOPROS=[{"name": "front", "iface": "wlan1", "ssid": "GP1", "wifi_mac": "06:41:69:6a:c1:05"}])
    assert doctor(config, tmp_path).ble_bond(config.cameras[0]) == []


# --- bluez_devices over a real D-Bus daemon ----------------------------------------------------

@pytest.fixture
def private_bus(tmp_path):
    with dbus_daemon(tmp_path) as address:
        yield address


def test_bluez_devices_reads_paired_and_trusted(private_bus):
    path = "/org/bluez/hci0/dev_" + BT.replace(":", "_")
    objects = {
        "/org/bluez/hci0": {"org.bluez.Adapter1": {"Address": ("s", "B8:27:EB:00:00:01")}},
        path: {"org.bluez.Device1": {"Address": ("s", BT), "Name": ("s", "GoPro 4461"), "Paired": ("b", True),
                                     "Trusted": ("b", False), "Connected": ("b", False)}},
        "/org/bluez/hci1/dev_11_22_33_44_55_66": {"org.bluez.Device1": {"Address": ("s", "11:22:33:44:55:66"),
                                                                        "Paired": ("b", True)}},
    }
    fake = FakeBluez(private_bus, objects)
    try:
        devices = bluez_devices("hci0", bus=private_bus)
    finally:
        fake.close()
    assert devices == {BT: {"Paired": True, "Trusted": False, "Connected": False, "Name": "GoPro 4461"}}


def test_bluez_not_on_the_bus_is_not_running(private_bus):
    with pytest.raises(BluezUnavailable) as info:
        bluez_devices("hci0", bus=private_bus)
    assert info.value.kind == "not-running"
    assert "BlueZ is not running" in str(info.value) and "bluetooth" in info.value.fix


def test_access_denied_on_dbus_is_named(private_bus):
    fake = FakeBluez(private_bus, {}, error="org.freedesktop.DBus.Error.AccessDenied")
    try:
        with pytest.raises(BluezUnavailable) as info:
            bluez_devices("hci0", bus=private_bus)
    finally:
        fake.close()
    assert info.value.kind == "denied" and "permission denied" in str(info.value)
    assert "sudo" in info.value.fix


def test_no_system_bus_is_named(tmp_path):
    with pytest.raises(BluezUnavailable) as info:
        bluez_devices("hci0", bus=f"unix:path={tmp_path}/no-such-bus")
    assert info.value.kind == "no-bus" and "no D-Bus system bus" in str(info.value)


# --- system lines ----------------------------------------------------------------------------

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
@pytest.mark.parametrize("mode,status,fragment", [
    (0o640, OK, "ok: "),
    (0o600, FAIL, "cannot read it"),
])
def test_config_file_owner_and_mode(tmp_path, mode, status, fragment):
    path = tmp_path / "config.py"
    path.write_text("GOPROS = [('wlan1', 'GP1', '06:41:69:6a:c1:05', None)]\nGPIO_BCM_PIN = None\n")
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.chown(path, 0, nobody.pw_gid)
    path.chmod(mode)
    from camrig.config import load_config
    d = doctor(load_config(path), tmp_path, service_user="nobody")
    f = d.config_file()
    assert f.status == status and fragment in f.detail, f
    if status == FAIL:
        assert f.fix == f"sudo chown root:nobody {path} && sudo chmod 640 {path}"
    else:
        assert "the service reads /etc/gopro-manager/config.py, not this" in f.detail


@pytest.mark.parametrize("state,status,fix", [
    (("active", "loaded"), OK, None),
    (("failed", "loaded"), FAIL, "sudo systemctl enable --now gopro-manager; why it stopped: "
                                 "journalctl -u gopro-manager -n 50"),
    (("inactive", "not-found"), WARN, "sudo ./install.sh"),
    ((None, "systemd is not running here"), SKIP, None),
])
def test_unit_state(tmp_path, state, status, fix):
    f = doctor(cfg(), tmp_path, unit=lambda: state).unit_finding()
    assert (f.status, f.fix) == (status, fix)


def test_clock_not_synchronised_is_a_warning_with_the_fix(tmp_path):
    f = doctor(cfg(), tmp_path, clock=lambda: False).clock_sync()
    assert f.status == WARN and "timedatectl set-ntp true" in f.fix


def test_gatttool_missing_when_a_legacy_camera_uses_it(tmp_path):
    (f,) = doctor(cfg(GATTTOOL=str(tmp_path / "no-gatttool")), tmp_path).gatttool()
    assert f.status == FAIL and "apt install bluez" in f.fix
    (f,) = doctor(cfg(GATTTOOL=sys.executable), tmp_path).gatttool()
    assert f.status == OK
    no_ble = cfg(GOPROS=[{"name": "front", "iface": "wlan1", "ssid": "GP1", "wifi_mac": "06:41:69:6a:c1:05"}])
    assert doctor(no_ble, tmp_path).gatttool() == []


def test_pin_factory_opens_the_pin(tmp_path):
    found = doctor(cfg(GPIO_BCM_PIN=17, GPIO_PIN_FACTORY="mock"), tmp_path, dev=tmp_path).gpio()
    assert [f.item for f in found] == ["GPIO17", "GPIO pin"]
    assert found[0].detail.startswith("pin factory MockFactory")
    assert found[1].status == OK and "opens BCM 17" in found[1].detail


def test_gpio_chip_not_for_group_gpio_is_a_fail(tmp_path):
    chip = tmp_path / "gpiochip0"
    chip.write_text("")
    chip.chmod(0o600)
    found = doctor(cfg(GPIO_BCM_PIN=17, GPIO_PIN_FACTORY="mock"), tmp_path, dev=tmp_path).gpio()
    assert found[-1].item == "GPIO access" and found[-1].status == FAIL
    assert "60-gopro-manager-gpio.rules" in found[-1].fix


# --- the whole report, against an emulated camera --------------------------------------------

def test_report_against_an_emulated_camera_text_and_json(tmp_path):
    with LegacyGoPro("front", delay_ms=0, boot_delay=0.05) as cam:
        config = config_from_mapping({"GOPROS": [{"name": "front", "address": "127.0.0.1", "http_port": cam.port}],
                                      "NETWORK_MODE": "address", "GPIO_BCM_PIN": None, "STATUS_PATH": None})
        lines: list[str] = []
        assert run_check(config, doctor=doctor(config, tmp_path), out=lines.append) == 0
        text = "\n".join(lines)
        assert "front (hero7, wifi, wifi 127.0.0.1 → 127.0.0.1:" in text
        assert "  link          ok (address)" in text
        assert "  status        ok: recording=no" in text
        assert "service       ok: gopro-manager.service active" in text
        assert lines[-1] == "no problems found"
        out: list[str] = []
        assert run_check(config, as_json=True, doctor=doctor(config, tmp_path, unit=lambda: ("failed", "loaded")),
                         out=out.append) == 1
        report = json.loads(out[0])
    assert report["ok"] is False and report["failures"] == 1
    service = [f for f in report["system"] if f["item"] == "service"][0]
    assert service["status"] == FAIL and service["fix"].startswith("sudo systemctl enable --now")
    assert [f["item"] for f in report["cameras"]["front"]][:2] == ["link", "status"]


def test_every_fail_line_ends_with_what_to_do(tmp_path):
    """The CLI on a config whose camera has no adapter, no BlueZ, no gatttool: every FAIL has '→'."""
    path = tmp_path / "config.py"
    path.write_text(f"GOPROS = [('wlan9', 'GP1', '06:41:69:6a:c1:05', '{BT}')]\nGPIO_BCM_PIN = None\n"
                    f"GATTTOOL = '{tmp_path}/no-gatttool'\nSTATUS_PATH = None\n")
    path.chmod(0o600)
    res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "check", "--config", str(path)],
                         capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    assert res.returncode == 1, res.stdout + res.stderr
    fails = [ln for ln in res.stdout.splitlines() if " FAIL " in ln or "MISMATCH" in ln]
    assert len(fails) >= 3, res.stdout
    assert all(" → " in ln and not ln.endswith("→ ") for ln in fails), res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    js = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "check", "--json", "--config", str(path)],
                        capture_output=True, text=True, timeout=60,
                        env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path}/no-bus"})
    report = json.loads(js.stdout)
    assert all(f["fix"] for fs in report["cameras"].values() for f in fs if f["status"] == FAIL)
    assert all(f["fix"] for f in report["system"] if f["status"] == FAIL)


def test_finding_line_keeps_checks_columns():
    assert Finding("link", OK, "ok (bind)").line() == "  link          ok (bind)"
    assert Finding("GPIO", OK, "not used").line(indent="") == "GPIO          not used"
    assert Finding("adapter", FAIL, "FAIL x", "do y").line() == "  adapter       FAIL x → do y"
