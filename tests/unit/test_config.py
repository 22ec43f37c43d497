"""Config loading: the original script's config unchanged, the new forms, and every error path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from camrig.config import Config, ConfigError, config_from_mapping, find_config, load_config

ROOT = Path(__file__).resolve().parents[2]

ORIGINAL = '''\
# The original gopro-manager config.py, as racers have it.
GOPROS = [
    ("wlan1", "GP24784461", "06:41:69:6a:c1:05", "d4:d9:19:9a:4c:7b"),
    ("wlan2", "GP24784462", "06:41:69:6a:c1:06", "d4:d9:19:9a:4c:7c"),
]
GPIO_BCM_PIN = 17
TRIGGER_PATH = "/tmp/gopro-trigger"
CHECK_STATUS = 5
'''

CAM = ("wlan1", "GP1", "06:41:69:6a:c1:05", "d4:d9:19:9a:4c:7b")


def write(tmp_path, text, mode=0o600, name="config.py"):
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def test_original_config_loads_unchanged(tmp_path):
    cfg = load_config(write(tmp_path, ORIGINAL))
    assert [c.iface for c in cfg.cameras] == ["wlan1", "wlan2"]
    assert cfg.cameras[0].name == "wlan1"  # a tuple camera is named for its interface
    assert cfg.cameras[0].wifi_mac == "06:41:69:6a:c1:05"
    assert cfg.cameras[0].bt_mac == "d4:d9:19:9a:4c:7b"
    assert cfg.cameras[0].model == "hero7" and cfg.cameras[0].address == "10.5.5.9"
    assert cfg.gpio_bcm_pin == 17 and cfg.trigger_path == "/tmp/gopro-trigger"
    assert cfg.check_status == 5 and cfg.network_mode == "bind"
    assert cfg.warnings == ()


def test_dict_form_with_new_keys(tmp_path):
    cfg = load_config(write(tmp_path, '''
GOPROS = [{"name": "front", "iface": "wlan1", "ssid": "GP1", "wifi_mac": "06:41:69:6A:C1:05",
           "bt_mac": "d4:d9:19:9a:4c:7b", "model": "HERO5", "wol_port": 7}]
NETWORK_MODE = "route"
CHECK_STATUS = None
GPIO_BCM_PIN = None
STATUS_PATH = None
KEEP_AWAKE = None
'''))
    cam = cfg.cameras[0]
    assert (cam.name, cam.model, cam.wol_port, cam.wifi_mac) == ("front", "hero5", 7, "06:41:69:6a:c1:05")
    assert cfg.network_mode == "route" and cfg.check_status is None and cfg.keep_awake is None
    assert cfg.camera("front") is cam


def test_address_mode_needs_no_interface():
    cfg = config_from_mapping({"NETWORK_MODE": "address", "GOPROS": [
        {"name": "a", "address": "127.0.0.2", "http_port": 8080},
        {"name": "b", "address": "127.0.0.3", "http_port": 8080}]})
    assert [c.iface for c in cfg.cameras] == [None, None]


def test_unknown_key_is_a_warning_with_the_nearest_key():
    cfg = config_from_mapping({"GOPROS": [CAM], "CHECK_STAUTS": 3})
    assert cfg.warnings == ("CHECK_STAUTS: unknown key, ignored (did you mean CHECK_STATUS?)",)
    assert cfg.check_status == 2  # the default


@pytest.mark.parametrize("values,key,camera,fragment", [
    ({}, "GOPROS", None, "missing"),
    ({"GOPROS": []}, "GOPROS", None, "lists no camera"),
    ({"GOPROS": "wlan1"}, "GOPROS", None, "must be a list"),
    ({"GOPROS": [("wlan1", "GP1", "06:41:69:6a:c1:05")]}, "GOPROS[0]", None, "4-tuple"),
    ({"GOPROS": [42]}, "GOPROS[0]", None, "4-tuple"),
    ({"GOPROS": [("wlan 1", "GP1", None, None)]}, "GOPROS[0].iface", "wlan 1", "interface name"),
    ({"GOPROS": [("wlan1;reboot", "GP1", None, None)]}, "GOPROS[0].iface", "wlan1;reboot", "interface name"),
    ({"GOPROS": [("wlan1", "GP1", "06:41:69:6a:c1", None)]}, "GOPROS[0].wifi_mac", "wlan1", "MAC address"),
    ({"GOPROS": [("wlan1", "GP1", None, "zz:d9:19:9a:4c:7b")]}, "GOPROS[0].bt_mac", "wlan1", "MAC address"),
    ({"GOPROS": [("wlan1", "x" * 33, None, None)]}, "GOPROS[0].ssid", "wlan1", "1–32 bytes"),
    ({"GOPROS": [{"iface": "wlan1", "model": "hero99"}]}, "GOPROS[0].model", "wlan1", "must be one of"),
    ({"GOPROS": [{"iface": "wlan1", "control": "carrier-pigeon"}]}, "GOPROS[0].control", "wlan1", "must be one of"),
    ({"GOPROS": [{"iface": "wlan1", "address": "10.5.5.300"}]}, "GOPROS[0].address", "wlan1", "IPv4"),
    ({"GOPROS": [{"iface": "wlan1", "wol_port": 0}]}, "GOPROS[0].wol_port", "wlan1", "port number"),
    ({"GOPROS": [{"iface": "wlan1", "http_port": True}]}, "GOPROS[0].http_port", "wlan1", "port number"),
    ({"GOPROS": [{"iface": "wlan1", "nmae": "x"}]}, "GOPROS[0].nmae", "wlan1", "did you mean 'name'"),
    ({"GOPROS": [{"name": "bad name!", "iface": "wlan1"}]}, "GOPROS[0].name", None, "letters"),
    ({"GOPROS": [{"name": "x"}]}, "GOPROS[0].iface", "x", "required"),
    ({"GOPROS": [CAM, CAM]}, "GOPROS", "wlan1", "used by two cameras"),
    ({"GOPROS": [{"name": "a", "address": "127.0.0.2"}, {"name": "b", "address": "127.0.0.2"}],
      "NETWORK_MODE": "address"}, "GOPROS", "b", "own address"),
    ({"GOPROS": [CAM], "GPIO_BCM_PIN": 40}, "GPIO_BCM_PIN", None, "0 to 27"),
    ({"GOPROS": [CAM], "GPIO_BCM_PIN": "17"}, "GPIO_BCM_PIN", None, "0 to 27"),
    ({"GOPROS": [CAM], "GPIO_BCM_PIN": None, "TRIGGER_PATH": None}, "TRIGGER_PATH", None, "nothing could"),
    ({"GOPROS": [CAM], "CHECK_STATUS": 0}, "CHECK_STATUS", None, "between 1 and 3600"),
    ({"GOPROS": [CAM], "CHECK_STATUS": 2.5}, "CHECK_STATUS", None, "whole number"),
    ({"GOPROS": [CAM], "HTTP_TIMEOUT": float("nan")}, "HTTP_TIMEOUT", None, "number of seconds"),
    ({"GOPROS": [CAM], "NETWORK_MODE": "wifi"}, "NETWORK_MODE", None, "'bind', 'route', 'address'"),
    ({"GOPROS": [CAM], "GATTTOOL": "-rf"}, "GATTTOOL", None, "must not start"),
    ({"GOPROS": [CAM], "BLE_ADAPTER": "hci0; ls"}, "BLE_ADAPTER", None, "hci0"),
    ({"GOPROS": [CAM], "TRIGGER_PATH": "/tmp/a\nb"}, "TRIGGER_PATH", None, "newline"),
    ({"GOPROS": [CAM], "GPIO_PIN_FACTORY": "magic"}, "GPIO_PIN_FACTORY", None, "must be one of"),
    ({"GOPROS": [CAM], "ON_EXIT": "explode"}, "ON_EXIT", None, "'leave', 'stop'"),
])
def test_every_error_names_key_camera_and_value(values, key, camera, fragment):
    with pytest.raises(ConfigError) as info:
        config_from_mapping(values)
    err = info.value
    assert err.key == key
    assert fragment in str(err)
    assert str(err).startswith(key)
    if camera:
        assert err.camera == camera and repr(camera) in str(err)


def test_group_writable_file_is_refused(tmp_path):
    path = write(tmp_path, ORIGINAL, mode=0o664)
    with pytest.raises(ConfigError, match="writable by group or others.*chmod go-w"):
        load_config(path)


def test_python_error_in_config_names_the_line(tmp_path):
    path = write(tmp_path, "GOPROS = []\nx = 1 / 0\n")
    with pytest.raises(ConfigError, match=r"ZeroDivisionError at line 2"):
        load_config(path)
    path = write(tmp_path, "GOPROS = [\n", name="syntax.py")
    with pytest.raises(ConfigError, match=r"syntax error at line"):
        load_config(path)


def test_find_config_order(tmp_path):
    beside = write(tmp_path, ORIGINAL)
    assert find_config(None, tmp_path) == beside
    assert find_config(str(beside), "/nonexistent") == beside
    with pytest.raises(ConfigError, match="no such file"):
        find_config(str(tmp_path / "missing.py"), tmp_path)


@pytest.mark.parametrize("text,fragment", [
    ("GOPROS = [('wlan1', 'GP1', 'nope', None)]\n", "GOPROS[0].wifi_mac (camera 'wlan1')"),
    ("GOPROS = [\n", "syntax error"),
])
def test_entry_point_exits_78_without_traceback(tmp_path, text, fragment):
    path = write(tmp_path, text)
    for command in ("run", "check"):
        res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "--config", str(path), command],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 78
        assert fragment in res.stderr
        assert "Traceback" not in res.stderr + res.stdout


def test_config_example_is_valid_and_lists_every_key():
    from camrig.config import KNOWN_KEYS
    example = ROOT / "config.py.example"
    text = example.read_text()
    cfg = config_from_mapping(_exec(text))
    assert isinstance(cfg, Config) and cfg.warnings == ()
    for key in KNOWN_KEYS:
        assert key in text, f"config.py.example does not document {key}"


def _exec(text):
    ns: dict = {}
    exec(compile(text, "config.py.example", "exec"), ns)
    return {k: v for k, v in ns.items() if k.isupper()}


def test_owned_by_someone_else_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown a file to another user")
    path = write(tmp_path, ORIGINAL)
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid 65534"):
        load_config(path)


@pytest.mark.parametrize("values,key", [
    ({"GOPROS": [CAM], "CAMERA_ADDRESS": 167773449}, "CAMERA_ADDRESS"),
    ({"GOPROS": [{"iface": "wlan1", "address": 167773449}]}, "GOPROS[0].address"),
])
def test_an_integer_is_not_an_address(values, key):
    with pytest.raises(ConfigError, match="IPv4") as info:
        config_from_mapping(values)
    assert info.value.key == key


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_option_before_or_after_the_subcommand(tmp_path, where):
    """`gopro_manager.py check --config FILE` is how people type it (it failed with
    "unrecognized arguments"); both places name the same file."""
    path = write(tmp_path, "GOPROS = [('wlan1', 'GP1', 'nope', None)]\n")
    argv = ["--config", str(path), "check"] if where == "before" else ["check", "--config", str(path)]
    res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), *argv],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 78, res.stderr
    assert "GOPROS[0].wifi_mac" in res.stderr


def test_config_after_the_subcommand_wins_and_before_is_kept(tmp_path):
    from camrig import cli
    seen = []
    real = cli.cmd_status
    try:
        cli.cmd_status = lambda args: seen.append(args.config) or 0
        cli.main(["--config", "/a.py", "status"])
        cli.main(["status", "--config", "/b.py"])
        cli.main(["--config", "/a.py", "status", "--config", "/c.py"])
    finally:
        cli.cmd_status = real
    assert seen == ["/a.py", "/b.py", "/c.py"]
