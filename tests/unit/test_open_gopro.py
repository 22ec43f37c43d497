"""Open GoPro (HERO9–13): request shapes (exact URL, exact bytes), parsing against the real
capture, the BLE packet protocol, and the daemon's BLE session against the emulated camera."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path

import pytest

from camrig.ble import protocol as p
from camrig.ble.open_gopro import BleLoop, OpenGoProBle, client_factory
from camrig.drivers.open_gopro import (OpenGoProBleDriver, OpenGoProHttp, date_time_path, parse_state,
                                       status_from_values)
from camrig.emulator import captures
from camrig.errors import BleError, CameraRejected, CameraUnreachable, ConfigError
from camrig.http import Response
from tests.polling import eventually

STATE = captures.path(captures.OPEN_GOPRO_STATE)
OPENAPI = captures.path(captures.OPEN_GOPRO_OPENAPI)


# --- HTTP request shapes ------------------------------------------------------------------------

class FakeHttp:
    """Records every GET path; answers 200 with ``body``."""

    def __init__(self, body=b"{}", status=200):
        self.paths, self.body, self.status, self.resets = [], body, status, 0

    def get(self, path, *, port=None, timeout=None):
        self.paths.append(path)
        return Response(self.status, self.body, 0.001)

    def reset(self):
        self.resets += 1


class FakeBle:
    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        return lambda *a: self.calls.append((name, *a))


@pytest.mark.parametrize("on, path", [(True, "/gopro/camera/shutter/start"), (False, "/gopro/camera/shutter/stop")])
def test_shutter_url_hero10_and_later(on, path):
    http = FakeHttp()
    d = OpenGoProHttp(http, "bumper", "hero12")
    d.connect()
    http.paths.clear()
    d.shutter(on)
    assert http.paths == [path]


def test_hero9_shutter_goes_over_ble_not_http():
    http, ble = FakeHttp(), FakeBle()
    OpenGoProHttp(http, "roof", "hero9", ble=ble).shutter(True)
    assert not any("shutter" in path for path in http.paths) and ble.calls == [("shutter", True)]
    with pytest.raises(CameraRejected, match="BLE only"):
        OpenGoProHttp(http, "roof", "hero9").shutter(True)


def test_first_contact_enables_wired_usb_claims_control_and_sets_the_clock():
    http = FakeHttp()
    clock = dt.datetime(2026, 11, 21, 9, 5, 7).timestamp()
    d = OpenGoProHttp(http, "u", "hero10", usb=True, wallclock=lambda: clock)
    d.keep_alive()
    d.probe()
    d.sleep()
    assert http.paths == ["/gopro/camera/control/wired_usb?p=1",
                          "/gopro/camera/control/set_ui_controller?p=2",
                          "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07",
                          "/gopro/camera/keep_alive", "/gopro/camera/keep_alive",
                          "/gp/gpControl/command/system/sleep"]
    d.reset()
    http.paths.clear()
    http.body = STATE.read_bytes()
    d.status()
    assert http.paths[0] == "/gopro/camera/control/wired_usb?p=1" and http.paths[-1] == "/gopro/camera/state"


def test_hero9_claims_no_control_and_wifi_enables_no_wired_usb():
    http = FakeHttp()
    clock = dt.datetime(2026, 11, 21, 9, 5, 7).timestamp()
    OpenGoProHttp(http, "r", "hero9", ble=FakeBle(), wallclock=lambda: clock).connect()
    assert http.paths == ["/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07"]


def test_date_time_url_per_model():
    when = dt.datetime(2026, 11, 21, 9, 5, 7, tzinfo=dt.timezone(dt.timedelta(hours=-8)))
    assert date_time_path(when, "hero9") == "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07"
    assert date_time_path(when, "hero10") == "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07"
    assert (date_time_path(when, "hero12")
            == "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07&tzone=-480&dst=0")


def test_paths_exist_in_gopros_openapi_description():
    paths = json.loads(OPENAPI.read_text())["paths"]
    for path in ("/gopro/camera/shutter/{mode}", "/gopro/camera/state", "/gopro/camera/keep_alive",
                 "/gopro/camera/set_date_time", "/gopro/camera/control/wired_usb",
                 "/gopro/camera/control/set_ui_controller", "/gp/gpControl/command/system/sleep"):
        assert path in paths
    # HERO9 is not among the shutter's cameras: why its shutter goes over BLE.
    assert "HERO9 Black" not in paths["/gopro/camera/shutter/{mode}"]["get"]["x-supported-cameras"]


def test_http_error_status_is_rejected():
    with pytest.raises(CameraRejected) as info:
        OpenGoProHttp(FakeHttp(status=500), "bumper", "hero9").status()
    assert info.value.http_status == 500 and "bumper" in str(info.value)


# --- parsing the real capture --------------------------------------------------------------------

def test_parse_state_from_the_real_capture():
    st = parse_state(STATE.read_bytes(), camera="bumper")
    assert st.encoding_active is False and st.system_busy is False and st.system_ready is True
    assert (st.sd_status, st.battery_percent, st.remaining_space_kb, st.remaining_video_s, st.next_poll_ms) == (
        0, 36, 25630304, 2954, 500)
    assert st.ready and not st.sd_error


@pytest.mark.parametrize("sd, error", [(-1, False), (0, False), (1, False), (2, False), (3, True), (4, False), (8, False)])
def test_primary_storage_values(sd, error):
    doc = json.loads(STATE.read_text())
    doc["status"]["33"], doc["status"]["10"] = sd, 1
    st = parse_state(json.dumps(doc).encode())
    assert st.sd_status == sd and st.sd_error is error and st.encoding_active


def test_state_without_status_10_is_rejected():
    doc = json.loads(STATE.read_text())
    del doc["status"]["10"]
    with pytest.raises(CameraRejected, match="status 10"):
        parse_state(json.dumps(doc).encode(), camera="bumper")


def test_status_from_ble_values():
    st = status_from_values({8: 0, 10: 1, 33: -1, 35: 2954, 54: 25630304, 70: 36, 82: 1})
    assert st.encoding_active and st.sd_status == -1 and st.remaining_space_kb == 25630304 and st.ready


# --- BLE packets and messages ------------------------------------------------------------------

def test_command_bytes():
    assert p.packetize(p.ap_control(True)) == [bytes.fromhex("03170101")]
    assert p.packetize(p.ap_control(False)) == [bytes.fromhex("03170100")]
    assert p.packetize(p.shutter(True)) == [bytes.fromhex("03010101")]
    assert p.packetize(p.shutter(False)) == [bytes.fromhex("03010100")]
    assert p.packetize(p.keep_alive()) == [bytes.fromhex("035b0142")]
    assert p.packetize(p.sleep()) == [bytes.fromhex("0105")]
    assert p.packetize(p.date_time(dt.datetime(2026, 11, 21, 9, 5, 7))) == [bytes.fromhex("090d0707ea0b1509050" "7")]
    assert p.packetize(p.query(0x13, [10, 8])) == [bytes.fromhex("03130a08")]
    assert p.packetize(p.query(0x53, [10])) == [bytes.fromhex("02530a")]


def test_characteristic_uuids():
    assert p.COMMAND == "b5f90072-aa8d-11e3-9046-0002a5d5c51b"
    assert p.RESPONSE_OF[p.SETTINGS] == "b5f90075-aa8d-11e3-9046-0002a5d5c51b"
    assert p.RESPONSE_OF[p.QUERY] == p.gp_uuid(0x77)


def test_response_parsing():
    r = p.parse_response(bytes.fromhex("021700")[1:])   # header stripped by reassembly
    assert (r.id, r.result, r.ok) == (0x17, 0, True)
    assert not p.parse_response(bytes([0x01, 0x02])).ok


@pytest.mark.parametrize("n, header", [(1, "01"), (31, "1f"), (32, "2020"), (8191, "3fff"), (8192, "402000"),
                                       (65535, "40ffff")])
def test_start_header_by_length(n, header):
    packets = p.packetize(bytes(range(256)) * (n // 256) + bytes(range(n % 256)))
    assert packets[0].hex().startswith(header)
    assert all(len(pk) <= 20 for pk in packets)
    assert [pk[0] for pk in packets[1:]] == [0x80 | (i & 0x0F) for i in range(len(packets) - 1)]


@pytest.mark.parametrize("n", [1, 19, 20, 31, 32, 50, 300, 8191, 8192, 20000])
def test_reassembly_inverts_packetize(n):
    message = bytes((i * 7) & 0xFF for i in range(n))
    r = p.Reassembler()
    out = [r.feed(pk) for pk in p.packetize(message)]
    assert out[-1] == message and all(o is None for o in out[:-1])


def test_reassembly_of_a_real_extended_13_bit_answer():
    # Shape from a camera's notification (OpenGoPro issue #888): 0x22 0xe2 = extended 13-bit, 738 bytes.
    r = p.Reassembler()
    assert r.feed(bytes.fromhex("22e2") + bytes(18)) is None
    assert r._expected == 738


def test_reassembly_rejects_out_of_order_and_orphans():
    r = p.Reassembler()
    with pytest.raises(p.ProtocolError, match="without a start"):
        r.feed(b"\x80abc")
    packets = p.packetize(bytes(60))
    r.feed(packets[0])
    with pytest.raises(p.ProtocolError, match="counter"):
        r.feed(packets[2])
    with pytest.raises(p.ProtocolError, match="reserved"):
        r.feed(b"\x60\x00")


def test_query_response_round_trip_with_signed_storage():
    msg = p.query_response(0x13, {10: 1, 33: -1, 54: (25630304, 8), 35: (2954, 4)})
    assert msg[:2] == b"\x13\x00" and bytes([33, 1, 0xFF]) in msg
    resp = p.parse_query_response(msg)
    assert resp.values == {10: 1, 33: -1, 54: 25630304, 35: 2954}
    with pytest.raises(p.ProtocolError):
        p.parse_query_response(msg[:-2])


# --- BLE session: exact bytes on the wire (recording client) --------------------------------------

class RecordingClient:
    """bleak-like client that records writes and answers each command with success."""

    def __init__(self, address, disconnected_callback=None):
        self.address, self.writes, self.callbacks, self.is_connected = address, [], {}, False

    async def connect(self):
        self.is_connected = True

    async def disconnect(self):
        self.is_connected = False

    async def start_notify(self, char, cb):
        self.callbacks[char] = cb

    async def write_gatt_char(self, char, data, response=None):
        self.writes.append((char[4:8], bytes(data).hex()))
        message = bytes(data)[1:]
        if char == p.QUERY:
            answer = p.query_response(message[0], {i: 0 for i in message[1:]})
        else:
            answer = bytes([message[0], 0])
        for pk in p.packetize(answer):
            asyncio.get_running_loop().call_soon(self.callbacks[p.RESPONSE_OF[char]], None, bytearray(pk))


@pytest.fixture
def ble_loop():
    loop = BleLoop("test-ble")
    yield loop
    loop.close()


def test_session_writes_exact_bytes(ble_loop):
    clients = []

    def factory(addr, cb=None):
        clients.append(RecordingClient(addr, cb))
        return clients[-1]

    s = OpenGoProBle("e4:11:22:33:44:55", camera="roof", factory=factory, loop=ble_loop, timeout=2)
    s.wifi_ap(True)
    s.shutter(True)
    s.shutter(False)
    s.keep_alive()
    s.set_date_time(dt.datetime(2026, 11, 21, 9, 5, 7))
    s.sleep()
    s.wifi_ap(False)
    assert s.status_values([10, 8]) == {10: 0, 8: 0}
    assert clients[0].writes == [
        ("0076", "0553080a2152"),                 # register for pushes: 8, 10, 33, 82
        ("0072", "03170101"), ("0072", "03010101"), ("0072", "03010100"),
        ("0074", "035b0142"), ("0072", "090d0707ea0b150905" "07"), ("0072", "0105"), ("0072", "03170100"),
        ("0076", "03130a08"),
    ]


def test_session_timeout_and_refusal(ble_loop):
    class Silent(RecordingClient):
        async def write_gatt_char(self, char, data, response=None):
            pass

    s = OpenGoProBle("e4:11:22:33:44:55", camera="roof", factory=Silent, loop=ble_loop, timeout=0.3, register=())
    with pytest.raises(BleError) as info:
        s.shutter(True)
    assert info.value.reason == "timeout" and "roof" in str(info.value)

    class Refusing(RecordingClient):
        async def connect(self):
            raise OSError("Connection refused")

    s = OpenGoProBle("e4:11:22:33:44:55", camera="roof", factory=Refusing, loop=ble_loop, timeout=1)
    with pytest.raises(BleError) as info:
        s.connect()
    assert info.value.reason == "connect"
    # The BLE driver turns it into "unreachable", so the worker reconnects by waking.
    with pytest.raises(CameraUnreachable, match="roof: BLE"):
        OpenGoProBleDriver(s, "roof", "hero9").status()


def test_bleak_missing_or_no_bluez_names_the_camera(monkeypatch):
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bus")
    with pytest.raises(ConfigError) as info:
        client_factory("bleak", camera="roof")
    assert "roof" in str(info.value) and "BLE_BACKEND" in str(info.value)


# --- the daemon's BLE session against the emulated camera, through the stand-in client ------------

@pytest.fixture
def emulated(ble_loop):
    from camrig.emulator.open_gopro import OpenGoPro
    d = tempfile.mkdtemp(prefix="ogp-")
    bt = "02:47:50:b7:00:09"
    cam = OpenGoPro("roof", model="hero9", bt_mac=bt, control_path=os.path.join(d, "024750b70009.sock"),
                    delay_ms=0, boot_delay=0.2, start="asleep")
    cam.start()
    factory = client_factory("emulated", emu_dir=d, timeout=2.0, camera="roof")
    pushes = []
    session = OpenGoProBle(bt, camera="roof", factory=factory, loop=ble_loop, timeout=3.0, on_push=pushes.append)
    yield cam, session, pushes
    session.disconnect()
    cam.close()


def test_connect_wakes_and_ble_controls_the_emulated_hero9(emulated):
    cam, session, pushes = emulated
    assert cam.power == "asleep"
    session.connect()
    assert cam.power == "on" and session.connected
    driver = OpenGoProBleDriver(session, "roof", "hero9")
    assert eventually(lambda: driver.status().ready, timeout=3.0)
    st = driver.status()          # a 45-byte answer: extended header + continuation packets
    assert st.remaining_space_kb == 25630304 and st.battery_percent == 36 and st.sd_status == 0
    driver.shutter(True)
    assert cam.state()["recording"] and driver.status().encoding_active
    assert eventually(lambda: session.pushed.get(10) == 1, timeout=3.0) and any(v.get(10) == 1 for v in pushes)
    driver.keep_alive()
    driver.set_date_time(dt.datetime(2026, 11, 21, 9, 5, 7))
    driver.shutter(False)
    ble = [(e["char"], e["message"]) for e in cam.state()["events"] if e["what"] == "ble"]
    assert ble[-3:] == [("0074", "5b0142"), ("0072", "0d0707ea0b150905" "07"), ("0072", "010100")]
    assert cam.keep_alives == 1 and cam.state()["date_time"].startswith("2026-11-21T09:05")
    assert not cam.state()["recording"]


def test_emulated_camera_faults_reach_the_session(emulated):
    cam, session, _ = emulated
    cam.fault("ble_error", error="refused")
    with pytest.raises(BleError) as info:
        session.connect()
    assert info.value.reason == "connect" and "Connection refused" in str(info.value)
    cam.fault("ble_error", error=None)
    session.connect()
    assert eventually(lambda: cam.system_ready, timeout=3.0)
    cam.fault("ble_drop")
    assert eventually(lambda: not session.connected, timeout=3.0)
    session.shutter(True)          # reconnects by itself
    assert cam.state()["recording"]
    cam.fault("ble_error", error="auth")
    with pytest.raises(BleError, match="Authentication"):
        session.shutter(False)


def test_emulated_hero9_refuses_http_shutter_and_http_checks_date_time():
    import urllib.error
    import urllib.request
    from camrig.emulator.open_gopro import OpenGoPro
    for model, query, code in [("hero9", "/gopro/camera/shutter/start", 404),
                               ("hero12", "/gopro/camera/shutter/start", 200),
                               ("hero12", "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07", 400),
                               ("hero12", "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07&tzone=60&dst=0", 200),
                               ("hero10", "/gopro/camera/set_date_time?date=2026_11_21&time=09_05_07&tzone=60&dst=0", 400)]:
        with OpenGoPro("c", model=model, delay_ms=0) as cam:
            try:
                got = urllib.request.urlopen(f"http://127.0.0.1:{cam.port}{query}", timeout=3).status
            except urllib.error.HTTPError as exc:
                got = exc.code
            assert got == code, (model, query)


def test_emulated_usb_camera_needs_wired_control_first():
    import urllib.error
    import urllib.request
    from camrig.emulator.open_gopro import OpenGoPro
    with OpenGoPro("u", model="hero11", usb=True, delay_ms=0) as cam:
        base = f"http://127.0.0.1:{cam.port}"
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(base + "/gopro/camera/shutter/start", timeout=3)
        assert info.value.code == 403
        assert urllib.request.urlopen(base + "/gopro/camera/control/wired_usb?p=1", timeout=3).status == 200
        assert urllib.request.urlopen(base + "/gopro/camera/shutter/start", timeout=3).status == 200
        assert cam.state()["recording"]


def test_emulated_auto_power_down_unless_kept_alive():
    import urllib.request
    from camrig.emulator.open_gopro import OpenGoPro
    with OpenGoPro("c", model="hero12", delay_ms=0, auto_sleep=0.6) as cam:
        for _ in range(6):
            urllib.request.urlopen(f"http://127.0.0.1:{cam.port}/gopro/camera/keep_alive", timeout=3)
            time.sleep(0.2)
        assert cam.power == "on"
        assert eventually(lambda: cam.power == "asleep", 3.0)
