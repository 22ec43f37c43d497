"""Emulated legacy GoPro (camrig/emulator/legacy_gopro.py): real sockets on 127.0.0.1, ephemeral ports.

Each test asserts what a client can observe: HTTP answers, the status JSON, Wake-on-LAN, the control
socket. Times are only generous upper bounds ("does not hang"), never exact latencies.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from camrig.emulator import legacy_gopro as lg
from camrig.emulator.control import EmulatorControl, EmulatorRequestFailed, EmulatorUnavailable
from camrig.errors import CamRigError
from tests.captures import status_names
from tests.polling import wait_for

REPO = Path(__file__).resolve().parents[2]
FIXTURES = lg.FIXTURES_DIR
STATUS_CAPTURES = sorted(FIXTURES.glob("*_status_*.json"))
CAPABILITIES = FIXTURES / "HERO7Black_gpControl.json"
WIFI_MAC = "02:47:50:00:00:01"
BT_MAC = "C0:FF:EE:00:00:01"



def magic_packet(mac: str) -> bytes:
    return b"\xff" * 6 + bytes.fromhex(mac.replace(":", "")) * 16


def send_wol(cam: lg.LegacyGoPro, mac: str = WIFI_MAC) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(magic_packet(mac), ("127.0.0.1", cam.wol_port))


def get(cam: lg.LegacyGoPro, path: str, *, port: int | None = None, timeout: float = 3.0):
    """One GET on a fresh connection → (status, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port or cam.port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def status(cam: lg.LegacyGoPro) -> dict:
    code, body = get(cam, "/gp/gpControl/status")
    assert code == 200
    return json.loads(body)["status"]


def unanswered(cam: lg.LegacyGoPro, path: str = "/gp/gpControl/status", timeout: float = 0.4) -> bool:
    """True when the camera accepts nothing or answers nothing within ``timeout`` (asleep / Wi-Fi off)."""
    try:
        get(cam, path, timeout=timeout)
    except (TimeoutError, ConnectionError, http.client.RemoteDisconnected):
        return True
    return False


@pytest.fixture
def emu_dir():
    d = tempfile.mkdtemp(prefix="emu")   # short: AF_UNIX paths are limited to 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_cam(emu_dir):
    made = []

    def make(**kw) -> lg.LegacyGoPro:
        args = dict(control_path=os.path.join(emu_dir, f"cam{len(made)}.sock"), listen="127.0.0.1",
                    wifi_mac=WIFI_MAC, delay_ms=1, boot_delay=0.2, association_delay=0.2)
        args.update(kw)
        cam = lg.LegacyGoPro(f"cam{len(made)}", **args).start()
        made.append(cam)
        return cam

    yield make
    for cam in made:
        cam.close()


@pytest.fixture
def cam(make_cam):
    return make_cam()


# --------------------------------------------------------------------------- status JSON


@pytest.mark.parametrize("capture", STATUS_CAPTURES, ids=lambda p: p.stem)
def test_status_keeps_the_capture_keys_and_settings(make_cam, capture):
    cam = make_cam(fixture=capture)
    real = json.loads(capture.read_text())
    code, body = get(cam, "/gp/gpControl/status")
    assert code == 200
    doc = json.loads(body)
    assert set(doc) == {"status", "settings"}
    assert set(real["status"]) <= set(doc["status"])
    assert doc["settings"] == real["settings"]
    names = status_names()
    assert all(k in names for k in doc["status"]), "every status id is one the camera names"
    # Idle and ready, values of the camera's own types.
    s = doc["status"]
    assert s["10"] == 0 and s["82"] == 1 and s["8"] == 0 and s["33"] == 0
    assert s["30"] == real["status"]["30"] and isinstance(s["54"], int)


def test_status_ids_used_live_have_the_names_from_the_hero7_description():
    names = status_names()
    assert names[lg.S_ENCODING] == "encoding_active"
    assert names[lg.S_SD] == "sd_status"
    assert names[lg.S_SYSTEM_READY] == "system_ready"
    assert names[lg.S_REMAINING_SPACE] == "remaining_space"
    assert names[lg.S_REMAINING_VIDEO] == "remaining_video_time"
    assert names[lg.S_PROGRESS] == "video_progress_counter"
    assert names[lg.S_BATTERY_PERCENT] == "internal_battery_percentage"
    assert names[lg.S_APP_COUNT] == "app_count"
    assert names[lg.S_NEXT_POLL] == "next_poll_msec"
    assert names[lg.S_SYSTEM_BUSY] == "system_busy"


def test_shutter_starts_and_stops_recording(cam):
    before = time.monotonic()
    assert get(cam, "/gp/gpControl/command/shutter?p=1") == (200, b"{}")
    st_ = cam.state()
    assert st_["recording"] and st_["record_started_at"] >= before
    assert status(cam)["10"] == 1
    assert get(cam, "/gp/gpControl/command/shutter?p=0") == (200, b"{}")
    assert status(cam)["10"] == 0
    st_ = cam.state()
    assert st_["record_started_at"] is None
    whats = [e["what"] for e in st_["events"]]
    assert whats == ["shutter_on", "record_start", "shutter_off", "record_stop"]
    assert all(e["t"] >= before for e in st_["events"])


def test_recording_counts_up_and_uses_space(cam):
    idle = status(cam)
    get(cam, "/gp/gpControl/command/shutter?p=1")
    with cam._lock:                       # pretend 10 s have passed since the start
        cam.record_started_at -= 10
    rec = status(cam)
    assert rec["13"] >= 10
    assert rec["54"] < idle["54"] and rec["35"] < idle["35"]
    assert rec["70"] <= idle["70"]


def test_media_list_lists_this_sessions_files(cam):
    code, body = get(cam, "/gp/gpMediaList", port=cam.media_port)
    assert code == 200 and json.loads(body)["media"] == []
    for _ in range(2):
        get(cam, "/gp/gpControl/command/shutter?p=1")
        get(cam, "/gp/gpControl/command/shutter?p=0")
    doc = json.loads(get(cam, "/gp/gpMediaList", port=cam.media_port)[1])
    assert "id" in doc
    (folder,) = doc["media"]
    assert folder["d"] == "100GOPRO"
    assert [f["n"] for f in folder["fs"]] == ["GOPR0001.MP4", "GOPR0002.MP4"]
    assert all(f["mod"].isdigit() and f["s"].isdigit() for f in folder["fs"])
    # Issue 17: the media list is on port 80 too (goprocam, goprowifihack HERO9 notes); it was 404.
    code, body = get(cam, "/gp/gpMediaList")
    assert code == 200 and json.loads(body)["media"] == doc["media"]
    assert get(cam, "/gp/gpControl/status", port=cam.media_port)[0] == 404   # gpControl is port 80 only


def test_locate_hilight_and_date_time(cam):
    get(cam, "/gp/gpControl/command/system/locate?p=1")
    assert status(cam)["45"] == 1
    get(cam, "/gp/gpControl/command/system/locate?p=0")
    assert status(cam)["45"] == 0
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert get(cam, "/gp/gpControl/command/storage/tag_moment")[0] == 200
    assert status(cam)["58"] == 1
    # 2024-11-21 10:00:00 → %18%0B%15%0A%00%00 (two-digit hex each, year - 2000)
    assert get(cam, "/gp/gpControl/command/setup/date_time?p=%18%0B%15%0A%00%00")[0] == 200
    assert status(cam)["40"].startswith("%18%0B%15%0A%00")
    assert cam.state()["date_time"].startswith("2024-11-21T10:00")
    assert get(cam, "/gp/gpControl/command/setup/date_time?p=garbage")[0] == 500


def test_info_capabilities_and_unknown_paths(make_cam):
    # Issue 17: /gp/gpControl is served by default (it was 404 unless --capabilities was given, and
    # goprocam retried it ~1000 times), and /gp/gpControl/info names the same camera (it said
    # HERO5 while /gp/gpControl said HERO7).
    cam = make_cam()
    info = json.loads(get(cam, "/gp/gpControl/info")[1])["info"]
    assert info["model_name"] == "HERO7 Black" and info["firmware_version"] == "HD7.01.01.49.17"
    assert info["model_number"] == 30
    code, body = get(cam, "/gp/gpControl")
    caps, real = json.loads(body), json.loads(CAPABILITIES.read_text())
    assert code == 200 and caps["info"] == info
    assert {k: v for k, v in caps.items() if k != "info"} == {k: v for k, v in real.items() if k != "info"}
    assert {k: v for k, v in info.items() if k not in ("serial_number", "ap_mac", "ap_ssid")} == {
        k: v for k, v in real["info"].items() if k not in ("serial_number", "ap_mac", "ap_ssid")}
    assert info["ap_ssid"] == status(cam)["30"] and info["ap_mac"] == WIFI_MAC.replace(":", "")
    assert get(cam, "/videos/nothing")[0] == 404
    # Without a capability JSON: a HERO5 (the status capture's camera) in every answer, no /gp/gpControl.
    bare = make_cam(capabilities=None)
    info = json.loads(get(bare, "/gp/gpControl/info")[1])["info"]
    assert info["model_name"] == "HERO5 Black" and info["firmware_version"] == "HD5.02.02.00.00"
    assert get(bare, "/gp/gpControl")[0] == 404


def test_refused_commands_answer_500_with_the_cameras_error_record(cam):
    # Issue 17: a refused gpControl command answered 400 {} or an empty 404; a camera answers HTTP
    # 500 with a JSON error record (goprowifihack issue 167, OpenGoPro issue 169).
    for path, query in [("/gp/gpControl/command/unknown", ""), ("/gp/gpControl/command/shutter", "p=7"),
                        ("/gp/gpControl/command/setup/date_time", "p=garbage"),
                        ("/gp/gpControl/command/sub_mode", "mode=0&sub_mode=9"),
                        ("/gp/gpControl/setting/2/999", "")]:
        code, body = get(cam, path + ("?" + query if query else ""))
        assert code == 500, path
        record = json.loads(body)
        assert record == {"version": "6.00", "path_info": path.removeprefix("/gp/gpControl/"),
                          "query_string": query, "error_code": -3,
                          "error_msg": "500 Internal Server Error",
                          "function": "gpcontrol_cgi_handler", "line": 190}
    assert not cam.state()["recording"]


def test_keep_alive_serves_many_requests_on_one_connection(cam):
    conn = http.client.HTTPConnection("127.0.0.1", cam.port, timeout=3)
    conn.connect()
    first = conn.sock
    for path in ["/gp/gpControl/status", "/nope", "/gp/gpControl/command/shutter?p=1",
                 "/gp/gpControl/status", "/gp/gpControl/command/shutter?p=0"]:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        assert resp.getheader("Content-Length") is not None
        assert conn.sock is first, "the connection was not kept alive"
    # Accepted sockets have Nagle off.
    with cam._http.conn_lock:
        server_side = list(cam._http.connections)
    assert server_side and all(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) for s in server_side)
    conn.close()


def test_app_count_counts_clients(cam):
    assert status(cam)["31"] == 1


# --------------------------------------------------------------------------- power, Wake-on-LAN


def test_sleep_then_nothing_answers_and_only_own_magic_packet_wakes(cam):
    assert get(cam, "/gp/gpControl/command/system/sleep") == (200, b"{}")
    assert cam.state()["power"] == "asleep"
    assert unanswered(cam)
    send_wol(cam, "02:47:50:00:00:99")                  # another camera's MAC
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"\xff" * 6 + b"garbage", ("127.0.0.1", cam.wol_port))
    time.sleep(0.3)
    assert cam.state()["power"] == "asleep"
    send_wol(cam)
    wait_for(lambda: cam.state()["power"] == "on", what="wake")
    wait_for(lambda: status(cam)["82"] == 1, what="system_ready")
    whats = [e["what"] for e in cam.state()["events"]]
    assert whats[-4:] == ["sleep", "wol", "wake", "ready"]


def test_sleep_stops_recording(cam):
    get(cam, "/gp/gpControl/command/shutter?p=1")
    get(cam, "/gp/gpControl/command/system/sleep")
    st_ = cam.state()
    assert not st_["recording"] and st_["power"] == "asleep"


def test_a_kept_alive_connection_gets_no_answer_after_sleep(cam):
    conn = http.client.HTTPConnection("127.0.0.1", cam.port, timeout=0.5)
    conn.request("GET", "/gp/gpControl/command/system/sleep")
    conn.getresponse().read()
    conn.request("GET", "/gp/gpControl/status")
    with pytest.raises((socket.timeout, TimeoutError, ConnectionError, http.client.RemoteDisconnected)):
        conn.getresponse()
    conn.close()


def test_shutter_before_system_ready_jams_the_sd_card(make_cam):
    cam = make_cam(start="asleep", boot_delay=30.0)
    assert unanswered(cam)
    send_wol(cam)
    wait_for(lambda: cam.state()["power"] == "on", what="wake")
    assert status(cam)["82"] == 0
    assert get(cam, "/gp/gpControl/command/shutter?p=1")[0] == 200
    s = status(cam)
    assert s["33"] == 3 and s["10"] == 0
    assert cam.state()["sd_status"] == 3


def test_sd_error_fault_stops_recording_until_a_power_cycle(cam):
    ctl = EmulatorControl(cam.control_path)
    get(cam, "/gp/gpControl/command/shutter?p=1")
    ctl.fault("sd_error")
    s = status(cam)
    assert s["33"] == 3 and s["10"] == 0
    assert get(cam, "/gp/gpControl/command/shutter?p=1")[0] == 200   # accepted, but no recording
    assert status(cam)["10"] == 0 and not ctl.state()["recording"]
    get(cam, "/gp/gpControl/command/system/sleep")
    send_wol(cam)
    wait_for(lambda: cam.state()["system_ready"], what="ready after power cycle")
    assert status(cam)["33"] == 0
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert status(cam)["10"] == 1


def test_stop_recording_fault(cam):
    get(cam, "/gp/gpControl/command/shutter?p=1")
    EmulatorControl(cam.control_path).fault("stop_recording")
    assert status(cam)["10"] == 0
    stop = [e for e in cam.state()["events"] if e["what"] == "record_stop"]
    assert stop and stop[-1]["cause"] != "shutter"


def test_asleep_fault_then_wol(cam):
    EmulatorControl(cam.control_path).fault("asleep")
    assert unanswered(cam)
    send_wol(cam)
    wait_for(lambda: not unanswered(cam), what="answers after WoL")


def test_wifi_off_then_ble_wifi_on_then_wol(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.fault("wifi_off")
    st_ = ctl.state()
    assert st_["wifi"] == "off" and st_["power"] == "asleep"
    with pytest.raises(ConnectionRefusedError):        # no netdev: listening sockets closed
        get(cam, "/gp/gpControl/status", timeout=1)
    send_wol(cam)                                       # Wi-Fi off: WoL cannot arrive
    time.sleep(0.3)
    assert ctl.state()["power"] == "asleep"
    assert ctl.ble("03170101") == "021700"
    wait_for(lambda: ctl.state()["wifi"] == "on", what="Wi-Fi associated")
    assert ctl.state()["power"] == "asleep"
    assert unanswered(cam)                              # Wi-Fi up, camera still asleep
    send_wol(cam)
    wait_for(lambda: ctl.state()["system_ready"], what="ready")
    assert status(cam)["82"] == 1
    whats = [e["what"] for e in ctl.state()["events"]]
    assert ["wifi_off", "ble", "wifi_on", "wol", "wake"] == [w for w in whats if w in
                                                           ("wifi_off", "ble", "wifi_on", "wol", "wake")]


def test_start_wifi_off(make_cam):
    cam = make_cam(start="wifi-off")
    with pytest.raises(ConnectionRefusedError):
        get(cam, "/gp/gpControl/status", timeout=1)
    assert cam.state()["wifi"] == "off"


def test_ignore_wol_fault(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.fault("ignore_wol", on=True)
    get(cam, "/gp/gpControl/command/system/sleep")
    send_wol(cam)
    wait_for(lambda: any(e["what"] == "wol" for e in ctl.state()["events"]), what="wol event")
    assert ctl.state()["power"] == "asleep"
    ctl.fault("ignore_wol", on=False)
    send_wol(cam)
    wait_for(lambda: ctl.state()["power"] == "on", what="wake")


def test_reboot_fault_drops_connections_and_resets_state(make_cam):
    cam = make_cam(boot_delay=0.5)
    conn = http.client.HTTPConnection("127.0.0.1", cam.port, timeout=2)
    conn.request("GET", "/gp/gpControl/command/shutter?p=1")
    conn.getresponse().read()
    EmulatorControl(cam.control_path).fault("reboot")
    st_ = cam.state()
    assert not st_["recording"] and not st_["system_ready"] and st_["power"] == "on"
    time.sleep(0.05)
    with pytest.raises(OSError):                        # reset, broken pipe or EOF: the peer rebooted
        conn.request("GET", "/gp/gpControl/status")
        conn.getresponse().read()
    conn.close()
    assert status(cam)["82"] == 0
    wait_for(lambda: status(cam)["82"] == 1, what="ready after reboot")


# --------------------------------------------------------------------------- HTTP faults


def test_http_500_fault_rejects_and_does_not_execute(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.fault("http_500", on=True)
    code, body = get(cam, "/gp/gpControl/status")
    assert code == 500 and json.loads(body)["error_msg"] == "500 Internal Server Error"
    assert get(cam, "/gp/gpControl/command/shutter?p=1")[0] == 500
    assert not ctl.state()["recording"]
    ctl.fault("http_500", on=False)
    assert get(cam, "/gp/gpControl/status")[0] == 200


def test_bad_json_fault(cam):
    EmulatorControl(cam.control_path).fault("bad_json", on=True)
    code, body = get(cam, "/gp/gpControl/status")
    assert code == 200
    with pytest.raises(ValueError):
        json.loads(body)


def test_truncated_json_fault(cam):
    EmulatorControl(cam.control_path).fault("truncated_json", on=True)
    with pytest.raises(http.client.IncompleteRead):
        get(cam, "/gp/gpControl/status")


def test_oversized_json_fault(cam):
    EmulatorControl(cam.control_path).fault("oversized_json", on=True)
    code, body = get(cam, "/gp/gpControl/status")
    assert code == 200 and len(body) > 1_000_000
    assert "10" in json.loads(body)["status"]


def test_no_key_10_fault(cam):
    EmulatorControl(cam.control_path).fault("no_key_10", on=True)
    s = status(cam)
    assert "10" not in s and "33" in s


def test_slow_fault_delays_answers(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.fault("slow", seconds=1.5)
    with pytest.raises((socket.timeout, TimeoutError)):
        get(cam, "/gp/gpControl/status", timeout=0.3)
    ctl.fault("slow", seconds=0)
    assert get(cam, "/gp/gpControl/status", timeout=2)[0] == 200


def test_client_gone_mid_answer_does_not_kill_the_camera(cam):
    EmulatorControl(cam.control_path).fault("oversized_json", on=True)
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", cam.port))
        s.sendall(b"GET /gp/gpControl/status HTTP/1.1\r\nHost: 10.5.5.9\r\n\r\n")
        s.recv(100)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()                                        # RST while the camera is still writing
    EmulatorControl(cam.control_path).fault("oversized_json", on=False)
    assert get(cam, "/gp/gpControl/status")[0] == 200


# --------------------------------------------------------------------------- BLE, control socket


@pytest.mark.parametrize("cmd, answer", [("03010101", "020100"), ("0118", "021800"),
                                         ("03010100", "020100"), ("0105", "020500"),
                                         ("03170100", "021700"), ("ff", "020002"),
                                         ("03990101", "029902")])
def test_ble_answers_len_cmd_status(cam, cmd, answer):
    assert EmulatorControl(cam.control_path).ble(cmd) == answer


def test_ble_commands_take_effect(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.ble("03010101")
    assert status(cam)["10"] == 1
    ctl.ble("0118")
    assert status(cam)["58"] == 1
    ctl.ble("03010100")
    assert status(cam)["10"] == 0
    ctl.ble("0105")
    assert ctl.state()["power"] == "asleep"
    assert ctl.ble("03010101") == "020101"              # asleep: shutter refused
    ctl.ble("03170100")
    assert ctl.state()["wifi"] == "off"


def test_ble_error_fault(cam):
    ctl = EmulatorControl(cam.control_path)
    assert ctl.ble_state()["ble_error"] is None
    ctl.fault("ble_error", error="auth")
    assert ctl.ble_state()["ble_error"] == "auth"
    with pytest.raises(EmulatorRequestFailed):
        ctl.ble("03010101")
    assert not ctl.state()["recording"]
    with pytest.raises(EmulatorRequestFailed):
        ctl.fault("ble_error", error="nonsense")
    ctl.fault("ble_error", error=None)
    assert ctl.ble("03010101") == "020100"


def test_control_ops_and_errors(cam):
    ctl = EmulatorControl(cam.control_path)
    ctl.set_delay(0)
    assert ctl.state()["delay_ms"] == 0
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert ctl.events("record_start")
    ctl.clear_events()
    assert ctl.state()["events"] == []
    with pytest.raises(EmulatorRequestFailed):
        ctl.request("no_such_op")
    with pytest.raises(EmulatorRequestFailed):
        ctl.fault("no_such_fault")
    # Raw protocol: garbage in, an error line out, the socket stays usable.
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(cam.control_path)
        f = s.makefile("rwb")
        f.write(b"not json\n{\"op\": \"state\"}\n")
        f.flush()
        assert json.loads(f.readline())["ok"] is False
        assert json.loads(f.readline())["name"] == cam.name


def test_control_client_says_clearly_when_the_socket_is_missing(emu_dir):
    ctl = EmulatorControl(os.path.join(emu_dir, "nobody.sock"))
    with pytest.raises(EmulatorUnavailable, match="does not exist") as exc:
        ctl.state()
    assert isinstance(exc.value, CamRigError)


def test_event_list_is_bounded(cam):
    for _ in range(lg.EVENTS_KEPT + 50):
        cam.fault("slow", seconds=0)
    assert len(cam.state()["events"]) == lg.EVENTS_KEPT


def test_close_is_prompt_with_a_held_connection(make_cam):
    cam = make_cam(start="asleep")
    s = socket.create_connection(("127.0.0.1", cam.port))
    s.sendall(b"GET /gp/gpControl/status HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.1)
    t0 = time.monotonic()
    cam.close()
    assert time.monotonic() - t0 < 3.0
    assert not os.path.exists(cam.control_path)
    s.close()


# --------------------------------------------------------------------------- pure helpers


@given(st.datetimes(min_value=__import__("datetime").datetime(2000, 1, 1),
                    max_value=__import__("datetime").datetime(2255, 12, 31)))
def test_date_time_round_trip(dt):
    dt = dt.replace(microsecond=0)
    text = lg.encode_date_time(dt)
    assert len(text) == 18 and text.count("%") == 6
    assert lg.decode_date_time(text) == dt
    assert lg.decode_date_time(text.replace("%", "%25")) == dt   # URL-encoded once more


def test_capture_date_time_decodes():
    real = json.loads(STATUS_CAPTURES[0].read_text())["status"]["40"]
    assert lg.decode_date_time(real).year == 2017


@given(st.binary(min_size=6, max_size=6))
def test_magic_packet_parses_only_whole_packets(mac_bytes):
    mac = ":".join(f"{b:02x}" for b in mac_bytes)
    pkt = magic_packet(mac)
    assert lg.parse_magic_packet(pkt) == mac
    assert lg.parse_magic_packet(pkt + b"\x00" * 6) == mac        # SecureOn password
    assert lg.parse_magic_packet(pkt[:-1]) is None
    assert lg.parse_magic_packet(b"\x00" + pkt[1:]) is None


def test_wakeonlan_package_packets_are_accepted():
    wakeonlan = pytest.importorskip("wakeonlan")
    assert lg.parse_magic_packet(wakeonlan.create_magic_packet(WIFI_MAC)) == WIFI_MAC


def test_ble_socket_path(monkeypatch):
    monkeypatch.setenv("GOPRO_EMU_DIR", "/tmp/x")
    assert lg.ble_socket_path("C0:FF:EE:00:00:01") == "/tmp/x/c0ffee000001.sock"


# --------------------------------------------------------------------------- command line


def test_command_line_runs_until_sigterm(emu_dir):
    sock = os.path.join(emu_dir, "cli.sock")
    proc = subprocess.Popen([sys.executable, "-m", "camrig.emulator.legacy_gopro", "--name", "cli",
                             "--control", sock, "--listen", "127.0.0.1", "--port", "0", "--media-port", "0",
                             "--wol-port", "0", "--wifi-mac", WIFI_MAC, "--delay-ms", "1",
                             "--capabilities", str(CAPABILITIES)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ctl = EmulatorControl(sock)
        wait_for(lambda: os.path.exists(sock), timeout=10, what="control socket")
        ports = ctl.state()["ports"]
        code, body = get(None, "/gp/gpControl/status", port=ports["http"])
        assert code == 200 and json.loads(body)["status"]["10"] == 0
        assert get(None, "/gp/gpControl", port=ports["http"])[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0, out.decode()
    assert not os.path.exists(sock)


# --------------------------------------------------------------------------- modes (issue 17)


def test_mode_is_tracked_and_reported_in_status_43_44(cam):
    # Before issue 17 every mode command answered 404 and status 43/44 stayed the capture's 0/0.
    assert (status(cam)["43"], status(cam)["44"]) == (0, 0)
    assert get(cam, "/gp/gpControl/command/sub_mode?mode=1&sub_mode=2")[0] == 200
    assert (status(cam)["43"], status(cam)["44"]) == (1, 2)
    assert cam.state()["mode"] == 1 and cam.state()["sub_mode"] == 2
    # command/mode?p=M returns to the sub-mode that mode was last in (its current_sub_mode setting).
    assert get(cam, "/gp/gpControl/command/sub_mode?mode=0&sub_mode=1")[0] == 200   # time-lapse video
    assert get(cam, "/gp/gpControl/command/mode?p=1")[0] == 200
    assert (status(cam)["43"], status(cam)["44"]) == (1, 2)
    assert get(cam, "/gp/gpControl/command/mode?p=0")[0] == 200
    doc = json.loads(get(cam, "/gp/gpControl/status")[1])
    assert (doc["status"]["43"], doc["status"]["44"]) == (0, 1)
    assert doc["settings"]["68"] == 1 and doc["settings"]["69"] == 2     # current_sub_mode settings
    # Sub-modes the HERO7 does not list are refused (HERO7 video: 0, 1, 3, 4).
    assert get(cam, "/gp/gpControl/command/sub_mode?mode=0&sub_mode=2")[0] == 500
    assert get(cam, "/gp/gpControl/command/mode?p=9")[0] == 500


def test_shutter_in_photo_mode_takes_a_photo_not_a_video(cam):
    get(cam, "/gp/gpControl/command/sub_mode?mode=1&sub_mode=0")
    before = status(cam)
    assert get(cam, "/gp/gpControl/command/shutter?p=1")[0] == 200
    after = status(cam)
    assert after["10"] == 0, "a photo is not encoding_active"
    assert after["38"] == before["38"] + 1 and after["39"] == before["39"]
    state = cam.state()
    assert not state["recording"] and state["photos"] == 1 and state["files"] == ["GOPR0001.JPG"]
    assert any(e["what"] == "photo" for e in state["events"])


@pytest.mark.parametrize("mode,sub,kind,name", [(0, 1, "timelapse_video", "GOPR0001.MP4"),
                                                (2, 1, "timelapse_photo", "G0000001.JPG")])
def test_shutter_in_time_lapse_captures_until_stopped(cam, mode, sub, kind, name):
    get(cam, f"/gp/gpControl/command/sub_mode?mode={mode}&sub_mode={sub}")
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert status(cam)["10"] == 1 and cam.state()["capture"] == kind
    get(cam, "/gp/gpControl/command/shutter?p=0")
    assert status(cam)["10"] == 0 and cam.state()["files"] == [name]


def test_mode_change_while_capturing_is_refused_unless_switched(cam):
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert get(cam, "/gp/gpControl/command/sub_mode?mode=1&sub_mode=0")[0] == 500
    assert status(cam)["10"] == 1 and status(cam)["43"] == 0
    EmulatorControl(cam.control_path).fault("mode_while_recording", on=True)
    assert get(cam, "/gp/gpControl/command/sub_mode?mode=1&sub_mode=0")[0] == 200
    assert status(cam)["10"] == 0 and status(cam)["43"] == 1 and cam.state()["files"] == ["GOPR0001.MP4"]


def test_mode_knob_fault_ends_the_capture_and_leaves_photo_mode(cam):
    ctl = EmulatorControl(cam.control_path)
    get(cam, "/gp/gpControl/command/shutter?p=1")
    ctl.fault("mode")                                   # default: photo, single
    s = status(cam)
    assert (s["10"], s["43"], s["44"]) == (0, 1, 0)
    assert ctl.state()["files"] == ["GOPR0001.MP4"]
    with pytest.raises(EmulatorRequestFailed):
        ctl.fault("mode", mode=0, sub_mode=2)          # not a HERO7 sub-mode


def test_settings_follow_the_capability_json(cam):
    # Issue 17: every setting answered 404. 2 = resolution, 9 = 1080 in HERO7Black_gpControl.json.
    assert get(cam, "/gp/gpControl/setting/2/9")[0] == 200
    assert json.loads(get(cam, "/gp/gpControl/status")[1])["settings"]["2"] == 9
    assert get(cam, "/gp/gpControl/setting/2/999")[0] == 500
    assert get(cam, "/gp/gpControl/setting/99999/1")[0] == 500


def test_busy_while_recording_switch(cam):
    # Issue 17: status 8 was 1 only while booting; a real camera may stay busy while it records.
    get(cam, "/gp/gpControl/command/shutter?p=1")
    assert status(cam)["8"] == 0
    EmulatorControl(cam.control_path).fault("busy_while_recording", on=True)
    assert status(cam)["8"] == 1
    get(cam, "/gp/gpControl/command/shutter?p=0")
    assert status(cam)["8"] == 0


def test_lenient_date_time_switch_accepts_one_digit_fields(cam):
    one_digit = "/gp/gpControl/command/setup/date_time?p=%18%b%1d%9%5%7"   # as goprocam sends it
    assert get(cam, one_digit)[0] == 500
    EmulatorControl(cam.control_path).fault("lenient_date_time", on=True)
    assert get(cam, one_digit)[0] == 200
    assert cam.state()["date_time"] == "2024-11-29T09:05:07"


def test_live_preview_keep_alive_is_recorded(cam):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"_GPHD_:0:0:2:0.000000\n", ("127.0.0.1", cam.stream_port))
    wait_for(lambda: any(e["what"] == "stream_keep_alive" for e in cam.state()["events"]),
             what="keep-alive event")
