"""``discover`` (camrig/discover.py, issue 14 parts 2 and 4) against the emulated cameras' BLE stand-in
(an Open GoPro HERO12 answering Get Hardware Info, a legacy HERO7 that cannot), a fake sysfs tree
of Wi-Fi adapters, and bleak against a private D-Bus daemon for BlueZ not running, access denied
and no adapter. New with discover: before it there was no such command."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from camrig.config import config_from_mapping
from camrig.discover import (
    EXIT_APPLY_FAILED,
    EXIT_BLUEZ_NOT_RUNNING,
    EXIT_DBUS_DENIED,
    EXIT_DUPLICATE_NAMES,
    EXIT_NO_BT_ADAPTER,
    EXIT_NO_WIFI_ADAPTER,
    EXIT_NOTHING_FOUND,
    EXIT_OK,
    GOPRO_SERVICE_UUID,
    apply,
    is_gopro,
    propose,
    run_discover,
    scan_emulated,
    wifi_adapters,
)
from camrig.emulator.legacy_gopro import LegacyGoPro, ble_socket_path
from camrig.emulator.open_gopro import OpenGoPro
from tests.bluez_fake import FakeBluez, dbus_daemon

FRONT_BT, FRONT_WIFI = "D4:D9:19:9A:44:61", "06:41:69:6a:c1:05"
REAR_BT, REAR_WIFI = "D4:D9:19:9A:44:62", "06:41:69:6a:c1:06"


@pytest.fixture
def emu(tmp_path):
    """An emulated HERO12 (Open GoPro) and HERO7 (legacy) with BLE control sockets in one dir."""
    d = tmp_path / "emu"
    d.mkdir()
    cams = [OpenGoPro("front", model="hero12", bt_mac=FRONT_BT, wifi_mac=FRONT_WIFI, ble_ready_delay=0.1,
                      control_path=ble_socket_path(FRONT_BT, str(d))),
            LegacyGoPro("rear", bt_mac=REAR_BT, wifi_mac=REAR_WIFI, control_path=ble_socket_path(REAR_BT, str(d)))]
    for c in cams:
        c.start()
    yield d, cams
    for c in cams:
        c.close()


def sysfs(root: Path, adapters: list[tuple[str, str, str | None]]) -> Path:
    """A /sys/class/net with (name, mac, driver or None) Wi-Fi interfaces, plus eth0 (wired) and lo."""
    net = root / "net"
    for name, mac, driver in [*adapters, ("eth0", "dc:a6:32:00:00:01", "bcmgenet"), ("lo", "00:00:00:00:00:00", None)]:
        dev = net / name
        dev.mkdir(parents=True)
        (dev / "address").write_text(mac + "\n")
        if name.startswith("wl"):
            (dev / "wireless").mkdir()
        if driver:
            drv = root / "drivers" / driver
            drv.mkdir(parents=True, exist_ok=True)
            (dev / "device").mkdir()
            (dev / "device" / "driver").symlink_to(drv)
    return net


def iw(links: dict[str, tuple[str, str]]):
    """A stand-in for subprocess.run answering ``iw dev IFACE link`` (iw/link.c's wording)."""
    def run(argv, **_kw):
        iface = argv[2]
        if iface in links:
            bssid, ssid = links[iface]
            out = f"Connected to {bssid} (on {iface})\n\tSSID: {ssid}\n\tfreq: 2437\n"
        else:
            out = "Not connected.\n"
        return subprocess.CompletedProcess(argv, 0, out, "")
    return run


CAR = [("wlan0", "b8:27:eb:00:00:01", "brcmfmac"), ("wlan1", "00:c0:ca:aa:bb:01", "rt2800usb"),
       ("wlan2", "00:c0:ca:aa:bb:02", "mt76x2u")]
#: wlan0 (on-board) on the home network; wlan2 already on the HERO12's AP.
LINKS = {"wlan0": ("11:22:33:44:55:66", "HomeNet"), "wlan2": (FRONT_WIFI, "GP24500001")}


def test_is_gopro_by_service_or_name():
    assert is_gopro("whatever", [GOPRO_SERVICE_UUID.upper()])
    assert is_gopro("GoPro 4461", [])
    assert not is_gopro("Pixel 7", ["0000180f-0000-1000-8000-00805f9b34fb"])


def test_emulated_scan_finds_both_cameras(emu):
    d, _ = emu
    ads = scan_emulated(d)
    assert sorted((a.name, a.address) for a in ads) == [("GoPro 4461", FRONT_BT), ("GoPro 4462", REAR_BT)]


def test_wifi_adapters_from_sysfs_and_iw(tmp_path):
    adapters = wifi_adapters(sysfs(tmp_path, CAR), run=iw(LINKS))
    assert [(a.name, a.driver, a.mac, a.bssid, a.ssid, a.onboard) for a in adapters] == [
        ("wlan0", "brcmfmac", "b8:27:eb:00:00:01", "11:22:33:44:55:66", "HomeNet", True),
        ("wlan1", "rt2800usb", "00:c0:ca:aa:bb:01", None, None, False),
        ("wlan2", "mt76x2u", "00:c0:ca:aa:bb:02", FRONT_WIFI, "GP24500001", False),
    ]


def test_discover_reads_the_hero12_and_proposes_config_udev_and_nmcli(emu, tmp_path):
    d, (front, _rear) = emu
    lines: list[str] = []
    code = run_discover(backend="emulated", emu_dir=str(d), sysfs=str(sysfs(tmp_path, CAR)), iw_run=iw(LINKS),
                        out=lines.append, as_json=True)
    report = json.loads(lines[0])
    assert code == EXIT_OK == report["exit"]
    cams = {c["address"]: c for c in report["cameras"]}
    hero12 = cams[FRONT_BT]
    assert hero12["model_name"] == "HERO12 Black" and hero12["model"] == "hero12"
    assert hero12["serial"] == "C3500000000000" and hero12["ap_mac"] == FRONT_WIFI
    assert cams[REAR_BT]["model"] is None and "legacy" in cams[REAR_BT]["note"]
    gopros = {g["bt_mac"]: g for g in report["proposal"]["gopros"]}
    # The adapter already on the HERO12's AP goes to it; the legacy camera gets the free one; wlan0 stays.
    rule = report["proposal"]["udev_rule"]
    front_iface = gopros[FRONT_BT]["iface"]
    assert f'ATTR{{address}}=="00:c0:ca:aa:bb:02", NAME="{front_iface}"' in rule
    assert f'ATTR{{address}}=="00:c0:ca:aa:bb:01", NAME="{gopros[REAR_BT]["iface"]}"' in rule
    assert "b8:27:eb:00:00:01" not in rule
    assert gopros[FRONT_BT]["wifi_mac"] == FRONT_WIFI and gopros[FRONT_BT]["model"] == "hero12"
    # The HERO12's entry is a valid config as it stands.
    config = config_from_mapping({"GOPROS": [gopros[FRONT_BT]], "GPIO_BCM_PIN": None})
    assert config.cameras[0].iface == front_iface and config.cameras[0].model == "hero12"
    nm = [argv for argv in report["proposal"]["nmcli"] if "add" in argv]
    front_add = [a for a in nm if front_iface in a][0]
    assert front_add[front_add.index("ifname") + 1] == front_iface
    assert "ipv4.never-default" in front_add and not any("psk " in x or x == "wifi-sec.psk" for x in front_add)
    con = front_add[front_add.index("con-name") + 1]
    assert con == "gopro-4461"
    assert ["nmcli", "--ask", "connection", "up", con] in report["proposal"]["nmcli"]
    assert any("model unknown" in w for w in report["warnings"])


def test_text_report_lists_cameras_adapters_and_the_gopros_block(emu, tmp_path):
    d, _ = emu
    lines: list[str] = []
    assert run_discover(backend="emulated", emu_dir=str(d), sysfs=str(sysfs(tmp_path, CAR)), iw_run=iw(LINKS),
                        out=lines.append) == EXIT_OK
    text = "\n".join(lines)
    assert "Bluetooth LE (hci0): 2 GoPro camera(s)" in text
    assert "HERO12 Black, serial C3500000000000" in text
    assert "(on-board: left for the Pi's own network)" in text
    assert "GOPROS = [\n" in text and "sudo nmcli --ask connection up" in text


def test_nothing_found(tmp_path):
    (tmp_path / "emu").mkdir()
    lines: list[str] = []
    code = run_discover(backend="emulated", emu_dir=str(tmp_path / "emu"), sysfs=str(sysfs(tmp_path, CAR)),
                        iw_run=iw({}), out=lines.append)
    assert code == EXIT_NOTHING_FOUND
    assert lines[0].startswith("discover: no GoPro found in 5 s on hci0: wake each camera")


def test_two_cameras_with_the_same_name_are_told_apart_by_address(tmp_path):
    d = tmp_path / "emu"
    d.mkdir()
    macs = ["D4:D9:19:00:44:61", "C8:11:22:00:44:61"]            # both advertise "GoPro 4461"
    cams = [OpenGoPro(f"c{k}", bt_mac=m, wifi_mac=f"06:41:69:6a:c1:0{k}", ble_ready_delay=0.05,
                      control_path=ble_socket_path(m, str(d))).start() for k, m in enumerate(macs)]
    try:
        lines: list[str] = []
        code = run_discover(backend="emulated", emu_dir=str(d), sysfs=str(sysfs(tmp_path, CAR)), iw_run=iw({}),
                            out=lines.append, as_json=True)
    finally:
        for c in cams:
            c.close()
    report = json.loads(lines[0])
    assert code == EXIT_DUPLICATE_NAMES
    names = [g["name"] for g in report["proposal"]["gopros"]]
    assert len(set(names)) == 2 and all(n.startswith("gopro-4461-") for n in names), names
    assert any("2 cameras advertise the same name 'GoPro 4461'" in w for w in report["warnings"])


def test_no_wifi_adapter(emu, tmp_path):
    d, _ = emu
    lines: list[str] = []
    code = run_discover(backend="emulated", emu_dir=str(d), sysfs=str(sysfs(tmp_path, [])), iw_run=iw({}),
                        out=lines.append, as_json=True)
    report = json.loads(lines[0])
    assert code == EXIT_NO_WIFI_ADAPTER
    assert all(g["iface"] is None for g in report["proposal"]["gopros"])
    assert report["proposal"]["udev_rule"] == "" and report["proposal"]["nmcli"] == []
    assert any("no free Wi-Fi adapter" in w for w in report["warnings"])


# --- the real bleak against a D-Bus daemon of our own -------------------------------------------

@pytest.fixture
def bus(tmp_path, monkeypatch):
    with dbus_daemon(tmp_path) as address:
        monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", address)
        yield address


def _bleak_discover(tmp_path) -> tuple[int, str]:
    lines: list[str] = []
    code = run_discover(timeout=1.0, sysfs=str(sysfs(tmp_path, [])), iw_run=iw({}), out=lines.append)
    return code, "\n".join(lines)


def test_bluez_not_running(bus, tmp_path):
    code, text = _bleak_discover(tmp_path)
    assert code == EXIT_BLUEZ_NOT_RUNNING
    assert "BlueZ is not running" in text and "systemctl enable --now bluetooth" in text


def test_permission_denied_on_dbus(bus, tmp_path):
    fake = FakeBluez(bus, {}, error="org.freedesktop.DBus.Error.AccessDenied")
    try:
        code, text = _bleak_discover(tmp_path)
    finally:
        fake.close()
    assert code == EXIT_DBUS_DENIED
    assert "permission denied on the D-Bus system bus" in text and "sudo" in text


def test_no_bluetooth_adapter(bus, tmp_path):
    fake = FakeBluez(bus, {})          # BlueZ runs, but has no hci0
    try:
        code, text = _bleak_discover(tmp_path)
    finally:
        fake.close()
    assert code == EXIT_NO_BT_ADAPTER
    assert "no Bluetooth adapter hci0" in text and "bluetoothctl list" in text


def test_no_dbus_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", f"unix:path={tmp_path}/nothing")
    code, text = _bleak_discover(tmp_path)
    assert code == EXIT_BLUEZ_NOT_RUNNING and "no D-Bus system bus" in text


# --- --apply -----------------------------------------------------------------------------------

def _proposal(tmp_path):
    from camrig.discover import Camera
    cams = [Camera("GoPro 4461", FRONT_BT, -50, model_name="HERO12 Black", model="hero12",
                   ap_ssid="GP24500001", ap_mac=FRONT_WIFI)]
    return propose(cams, wifi_adapters(sysfs(tmp_path, CAR), run=iw({})))


def test_apply_declined_writes_nothing(tmp_path):
    rule = tmp_path / "rules.d" / "70-gopro-manager-wifi.rules"
    ran = []
    code = apply(_proposal(tmp_path), rule_path=rule, ask=lambda _q: "n", run=lambda *a, **k: ran.append(a),
                 out=lambda _s: None, which=lambda _n: "/usr/bin/x")
    assert code == EXIT_APPLY_FAILED and not rule.exists() and ran == []


def test_apply_writes_the_rule_and_adds_the_connection_without_a_password(tmp_path):
    rule = tmp_path / "rules.d" / "70-gopro-manager-wifi.rules"
    ran: list[list[str]] = []

    def run(argv, **_kw):
        ran.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    out: list[str] = []
    proposal = _proposal(tmp_path)
    assert apply(proposal, rule_path=rule, ask=lambda _q: "y", run=run, out=out.append,
                 which=lambda _n: "/usr/bin/x") == EXIT_OK
    assert rule.read_text() == proposal.udev_rule and 'NAME="wlcam1"' in rule.read_text()
    assert ["udevadm", "control", "--reload"] in ran
    adds = [a for a in ran if a[:3] == ["nmcli", "connection", "add"]]
    assert len(adds) == 1 and "ifname" in adds[0] and "wlcam1" in adds[0]
    assert not any("psk" == x.split(".")[-1] for a in ran for x in a)       # never a password
    assert any("nmcli --ask connection up gopro-4461" in line for line in out)


def test_apply_without_a_terminal_asks_for_yes(emu, tmp_path, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    d, _ = emu
    lines: list[str] = []
    code = run_discover(backend="emulated", emu_dir=str(d), sysfs=str(sysfs(tmp_path, CAR)), iw_run=iw(LINKS),
                        out=lines.append, do_apply=True, rule_path=tmp_path / "r.rules")
    assert code == EXIT_APPLY_FAILED and not (tmp_path / "r.rules").exists()
    assert lines[-1] == "discover --apply asks before writing: run it in a terminal, or add --yes"
