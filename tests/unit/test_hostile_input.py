"""Hostile input: whatever a config file or a camera says, the daemon answers with a clear
error (or a valid result) and never with a traceback, in bounded time and memory.

Property-based (hypothesis) for the config loader and every parser of camera output
(gpControl status JSON, gatttool output, ``iw`` output); real sockets for the HTTP
client's size cap and total-time cap (a local server that floods or trickles).
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from camrig.cameras.gopro_legacy import gatttool as gt
from camrig.cameras.gopro_legacy.driver import CameraStatus, parse_status
from camrig.config import KNOWN_KEYS, Config, ConfigError, config_from_mapping, load_config
from camrig.errors import CameraRejected, CameraUnreachable
from camrig.http import HttpClient
from camrig.link import AddressLink
from camrig.wake import IwLink, parse_iw_link

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- values a config file can hold -------------------------------------------------------------

#: Text including what st.text() leaves out by default: lone surrogates ("\ud800" in a config
#: file is a valid Python string literal), NUL, newlines, right-to-left marks.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40) | st.sampled_from(
    ["", " ", "\n", "wlan1\n", "wlan1 ", "\ud800", "hci0\n", "a\0b", "-rf", "../../etc", "10.5.5.9\n",
     "aa:bb:cc:dd:ee:ff\n", "é" * 40, "0x2f", "nan", "inf"])
any_number = (st.integers() | st.floats(allow_nan=True, allow_infinity=True)
              | st.sampled_from([0, -1, 1, 2**63, -2**63, 10**400, 1e308, -0.0, float("nan"), True, False]))
scalar = st.none() | st.booleans() | any_number | any_text | st.binary(max_size=10)
any_value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
                         | st.dictionaries(any_text | st.integers(), inner, max_size=5), max_leaves=20)

CAMERA_KEYS = ("name", "iface", "ssid", "wifi_mac", "bt_mac", "model", "control", "address",
               "http_port", "wol_port")
GOOD_CAMERA = {"name": "front", "iface": "wlan1", "ssid": "GP24784461",
               "wifi_mac": "06:41:69:6a:c1:05", "bt_mac": "d4:d9:19:9a:4c:7b"}


def good_config(**overrides):
    values = {"GOPROS": [dict(GOOD_CAMERA)], "TRIGGER_PATH": "/run/gopro-manager/trigger"}
    values.update(overrides)
    return values


def assert_valid_or_config_error(values):
    """The property: a Config whose values are sane, or a ConfigError with a one-line message."""
    try:
        config = config_from_mapping(values)
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        assert exc.key, message
        return None
    assert isinstance(config, Config)
    assert_sane(config)
    return config


def assert_sane(config: Config) -> None:
    """What a valid Config promises the code that uses it (command lines, sockets, timers)."""
    assert config.cameras
    for cam in config.cameras:
        # Interface names and MACs reach argv (ip, iw, gatttool): exactly the pattern, no newline.
        if cam.iface is not None:
            assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}", cam.iface), cam.iface
        for mac in (cam.wifi_mac, cam.bt_mac):
            if mac is not None:
                assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", mac), mac
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}", cam.name), cam.name
        assert isinstance(cam.address, str) and re.fullmatch(r"[0-9.]{7,15}", cam.address)
        if cam.ssid is not None:
            cam.ssid.encode("utf-8")  # must be encodable: it is logged and compared
        assert 1 <= cam.http_port <= 65535 and 1 <= cam.wol_port <= 65535
    assert re.fullmatch(r"hci[0-9]{1,2}", config.ble_adapter), config.ble_adapter
    for attr in ("cycle_seconds", "http_timeout", "connect_timeout", "wake_timeout", "ble_timeout",
                 "gpio_bounce_time"):
        v = getattr(config, attr)
        assert isinstance(v, float) and math.isfinite(v) and v >= 0, (attr, v)
    for path in (config.trigger_path, config.status_path, config.gatttool):
        if path is not None:
            assert isinstance(path, str) and path and "\0" not in path and "\n" not in path
            os.fsencode(path)  # the path can reach the kernel


@FAST
@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=any_value)
def test_any_value_of_any_key_is_a_config_or_a_config_error(key, value):
    assert_valid_or_config_error(good_config(**{key: value}))


@FAST
@given(field=st.sampled_from(CAMERA_KEYS), value=any_value)
@example(field="iface", value="wlan1\n")
@example(field="name", value="front\n")
@example(field="wifi_mac", value="06:41:69:6a:c1:05\n")
@example(field="ssid", value="\ud800")
@example(field="address", value=167773449)   # an int is not an address a person wrote
def test_any_value_of_any_camera_field(field, value):
    cam = dict(GOOD_CAMERA, **{field: value})
    assert_valid_or_config_error(good_config(GOPROS=[cam]))


@FAST
@given(entry=st.tuples(any_text | st.none(), any_text | st.none(), any_text | st.none(), any_text | st.none()))
@example(entry=("wlan1\n", "GP1", "06:41:69:6a:c1:05", None))
def test_any_original_tuple_form_camera(entry):
    assert_valid_or_config_error(good_config(GOPROS=[entry]))


@FAST
@given(gopros=any_value)
def test_any_gopros_value(gopros):
    assert_valid_or_config_error(good_config(GOPROS=gopros))


@FAST
@given(extra=st.dictionaries(st.text(min_size=1, max_size=300), any_value, max_size=4))
def test_unknown_keys_of_any_length_are_warnings(extra):
    values = good_config()
    values.update({k: v for k, v in extra.items() if k not in KNOWN_KEYS})
    start = time.monotonic()
    config = assert_valid_or_config_error(values)
    assert time.monotonic() - start < 2.0
    assert config is not None


def _write(path, text: str) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    os.chmod(path, 0o600)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(KNOWN_KEYS)), value=any_value)
def test_load_config_on_a_written_file(tmp_path, key, value):
    path = tmp_path / "config.py"
    values = good_config(**{key: value})
    _write(path, "".join(f"{k} = {v!r}\n" for k, v in values.items()))
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(exc)
        return
    assert_sane(config)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(source=st.text(st.characters(codec=None, exclude_categories=()), max_size=200)
       | st.sampled_from(["GOPROS = [" * 500, "GOPROS = " + "(" * 300 + ")" * 300, "\0", "\ud800 = 1",
                          "GOPROS = 1e999999", "GOPROS = 10**10**10 if False else 1", "raise SystemExit(3)",
                          "import sys; sys.exit(0)", "raise KeyboardInterrupt", "GOPROS = '\\ud800'",
                          "def f(): f()\nf()", "GOPROS = [('wlan1', 'GP', None, None)]\nDEL = [].pop()"]))
def test_load_config_on_any_source_text(tmp_path, source):
    path = tmp_path / "config.py"
    path.write_bytes(source.encode("utf-8", "surrogatepass"))
    os.chmod(path, 0o600)
    try:
        config = load_config(path)
    except ConfigError as exc:
        assert str(exc)
        return
    assert_sane(config)


def test_config_file_that_exits_is_a_config_error(tmp_path):
    """``sys.exit()`` or ``raise SystemExit`` in config.py must not end the daemon with a
    wrong status (systemd would restart it in a loop) but be a config error (78)."""
    for source in ("raise SystemExit(0)\n", "import sys\nsys.exit(3)\n", "raise KeyboardInterrupt\n"):
        path = tmp_path / "config.py"
        _write(path, source)
        with pytest.raises(ConfigError, match="line"):
            load_config(path)


# --- gpControl status JSON --------------------------------------------------------------------------

json_scalar = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
               | st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(st.text(max_size=5), inner, max_size=5), max_leaves=30)
status_ids = st.sampled_from(["1", "2", "8", "10", "13", "31", "33", "35", "43", "54", "60", "69", "70", "82"])
status_doc = st.fixed_dictionaries({"status": st.dictionaries(status_ids, json_value | json_scalar, max_size=14)},
                                   optional={"settings": json_value})

HOSTILE_BODIES = [
    b"", b"{", b"null", b"[]", b"\"status\"", b"{\"status\": null}", b"{\"status\": []}",
    b"{\"status\": {\"10\": NaN}}", b"{\"status\": {\"10\": Infinity}}", b"{\"status\": {\"10\": -Infinity}}",
    b"{\"status\": {\"10\": 1e999}}", b"{\"status\": {\"10\": true}}", b"{\"status\": {\"10\": 1.0}}",
    b"{\"status\": {\"10\": 1, \"70\": " + b"9" * 4000 + b"}}",
    b"{\"status\": {\"10\": 1, \"70\": " + b"9" * 5000 + b"}}",   # over Python's int-digits limit
    b"{\"status\": {\"10\": 0, \"60\": -5, \"54\": 1e308, \"33\": \"3\"}}",
    b"[" * 100_000 + b"]" * 100_000,                              # recursion
    b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000,
    b"\xff\xfe{\x00}", b"\xef\xbb\xbf{\"status\":{\"10\":1}}", b"{\"status\": {\"10\": 1}}\x00garbage",
    b"<html><body>camera busy</body></html>", b"{\"status\": {\"10\": 1}" + b" " * 300_000 + b"}",
    b"{\"status\": {\"10\": 0}, \"status\": {\"10\": 1}}", b"\"\\ud800\"", b"{\"status\": {\"\\ud800\": 1, \"10\": 0}}",
]


def _check_status_answer(body: bytes) -> None:
    start = time.monotonic()
    try:
        st_ = parse_status(body, camera="front")
    except CameraRejected as exc:
        assert str(exc).startswith("front: "), exc
    else:
        assert isinstance(st_, CameraStatus)
        assert isinstance(st_.encoding_active, bool)
        for name in ("sd_status", "battery_percent", "remaining_space_kb", "next_poll_ms"):
            v = getattr(st_, name)
            assert v is None or (isinstance(v, int) and not isinstance(v, bool)), (name, v)
        # What the worker does with it must work too: the snapshot is written as JSON.
        json.dumps({"b": st_.battery_percent, "s": st_.sd_status, "r": st_.remaining_space_kb},
                   allow_nan=False)
    assert time.monotonic() - start < 2.0


@pytest.mark.parametrize("body", HOSTILE_BODIES, ids=range(len(HOSTILE_BODIES)))
def test_hostile_status_bodies(body):
    _check_status_answer(body)


@FAST
@given(doc=status_doc)
def test_status_documents_of_any_shape(doc):
    _check_status_answer(json.dumps(doc).encode())


@FAST
@given(body=st.binary(max_size=2000))
def test_status_of_any_bytes(body):
    _check_status_answer(body)


@FAST
@given(doc=status_doc, cut=st.integers(min_value=0, max_value=4000))
def test_truncated_status_documents(doc, cut):
    body = json.dumps(doc).encode()
    _check_status_answer(body[:cut])


# --- gatttool output ---------------------------------------------------------------------------------

gatttool_lines = st.text(max_size=300) | st.sampled_from(
    ["connect error: Function not implemented (38)", "Error: connect error: Device or resource busy (16)",
     "connect error: Connection refused (111)", "Error: Characteristic Write Request failed: "
     "Attribute requires authentication before read/write", "Invalid handle", "\x1b[31mError: \x1b[0m" * 50,
     "Error: " + "(" * 10_000, "error:" * 10_000, "Connection timed out (110)" * 1000])


@FAST
@given(text=gatttool_lines)
def test_classify_error_of_any_text(text):
    start = time.monotonic()
    reason = gt.classify_error(text)
    assert reason in set(gt.KNOWN_ERRORS.values()) | {"other"}
    gt._ERROR_RE.search(text)
    gt._GENERIC_ERROR.search(text)
    assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("line,reason", [
    ("connect error: Function not implemented (38)", "enosys"),
    ("Error: connect error: Device or resource busy (16)", "busy"),
    ("connect error: Connection refused (111)", "refused"),
    ("Characteristic Write Request failed: Attribute requires authentication before read/write", "auth"),
    ("connect error: Host is down (112)", "down"),
    ("Error: Invalid handle", "handle"),
])
def test_classify_known_errors(line, reason):
    assert gt.classify_error(line) == reason


STUB = """#!{python}
import sys, time
out = bytes.fromhex({hexout!r})
sys.stdout.buffer.write(out)
sys.stdout.flush()
time.sleep({linger})
"""


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(output=st.binary(max_size=3000) | st.sampled_from([
    b"\xff\xfe\x00garbage\r\n", b"[02:47:50:B7:00:01][LE]> " + b"\x00" * 2000,
    b"[02:47:50:B7:00:01][LE]> Attempting to connect\r\nConnection successful\r\n" + b"A" * 100_000,
    b"Error: " + b"\xc3" * 1000]), linger=st.sampled_from([0, 3]))
def test_gatttool_dialogue_with_any_output(tmp_path, output, linger):
    """Whatever gatttool prints (garbage, invalid UTF-8, a flood, silence), the dialogue ends in
    bounded time with BleError, never another exception."""
    stub = tmp_path / "gatttool"
    stub.write_text(STUB.format(python=sys.executable, hexout=output.hex(), linger=linger))
    stub.chmod(0o755)
    ble = gt.GatttoolBle(str(stub), timeout=1.0, attempts=1)
    start = time.monotonic()
    try:
        ble.wifi_on("02:47:50:b7:00:01", camera="front")
    except gt.BleError as exc:
        assert str(exc).startswith("front: ")
    assert time.monotonic() - start < 8.0


# --- iw output ---------------------------------------------------------------------------------------

@FAST
@given(text=st.text(max_size=2000) | st.sampled_from([
    "Connected to 06:41:69:6a:c1:05 (on wlan1)\n\tSSID: GP24784461\n",
    "Connected to 06:41:69:6A:C1:05 (on wlan1)\n\tSSID: \n", "Not connected.\n", "nl80211 not found.\n",
    "command failed: No such device (-19)\n", "Connected to " * 100_000, "\tSSID: " * 50_000,
    "Not connected." + " " * 100_000 + "x", "Connected to zz:zz:zz:zz:zz:zz\n", "\x00" * 70_000]))
@example(text=" " * 200_000 + "\nNot connected.")
def test_parse_iw_link_of_any_text(text):
    start = time.monotonic()
    info = parse_iw_link(text)
    assert isinstance(info, IwLink)
    assert info.connected in (True, False, None)
    if info.bssid is not None:
        assert re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}", info.bssid)
    assert time.monotonic() - start < 1.0


# --- the HTTP client against a hostile server ------------------------------------------------------

class HostileServer:
    """A TCP server on 127.0.0.1 that answers every connection with ``behaviour(conn)``."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.sent = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.recv(65536)
            self.behaviour(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def send(self, conn, data):
        conn.sendall(data)
        self.sent += len(data)

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def hostile():
    servers = []

    def make(behaviour):
        srv = HostileServer(behaviour)
        servers.append(srv)
        return srv

    yield make
    for srv in servers:
        srv.close()


def _flood(srv, conn, head=b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"):
    srv.send(conn, head)
    chunk = b"x" * 65536
    while not srv.stop.is_set() and srv.sent < 200 * 1024 * 1024:
        srv.send(conn, chunk)


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\n\r\n",                                    # close-delimited, endless
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",      # chunked, endless chunks of junk
    b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n",      # announces 100 GB
], ids=["close-delimited", "chunked", "huge-content-length"])
def test_flooding_camera_is_cut_off_at_max_bytes(hostile, head):
    if b"chunked" in head:
        def behaviour(srv, conn):
            srv.send(conn, head)
            chunk = b"10000\r\n" + b"x" * 65536 + b"\r\n"
            while not srv.stop.is_set() and srv.sent < 200 * 1024 * 1024:
                srv.send(conn, chunk)
    else:
        def behaviour(srv, conn):
            _flood(srv, conn, head)
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=10.0, max_bytes=1024 * 1024)
    start = time.monotonic()
    with pytest.raises(CameraRejected, match="larger than"):
        client.get("/gp/gpControl/status")
    assert time.monotonic() - start < 5.0
    client.close()


def test_endless_headers_are_refused(hostile):
    def behaviour(srv, conn):
        srv.send(conn, b"HTTP/1.1 200 OK\r\n")
        while not srv.stop.is_set() and srv.sent < 50 * 1024 * 1024:
            srv.send(conn, b"X-Junk: " + b"y" * 1000 + b"\r\n")
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=5.0)
    start = time.monotonic()
    with pytest.raises((CameraRejected, CameraUnreachable)) as info:
        client.get("/gp/gpControl/status")
    assert str(info.value).startswith("front: ")
    assert time.monotonic() - start < 6.0


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_trickling_camera_is_cut_off_at_the_total_timeout(hostile, stage):
    """One byte every 100 ms forever: no inactivity timeout fires, the total one must."""
    def behaviour(srv, conn):
        if stage == "body":
            srv.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            data = b"x"
        else:
            data = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 10_000
            srv.send(conn, data[:5])
            data = b"y"
        while not srv.stop.is_set():
            srv.send(conn, data)
            time.sleep(0.1)
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=1.5, connect_timeout=1.0)
    start = time.monotonic()
    with pytest.raises(CameraUnreachable, match="timed out"):
        client.get("/gp/gpControl/status")
    elapsed = time.monotonic() - start
    assert 1.0 <= elapsed < 4.0, elapsed


def test_silent_accepting_camera_is_cut_off_at_the_total_timeout(hostile):
    def behaviour(srv, conn):
        srv.stop.wait(30)
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=1.0)
    start = time.monotonic()
    with pytest.raises(CameraUnreachable, match="timed out"):
        client.get("/gp/gpControl/status", timeout=1.0)
    assert time.monotonic() - start < 3.0


def test_truncated_answer_is_rejected_not_unreachable(hostile):
    """Content-Length 100, 50 bytes, close: the camera answered (badly). The worker must treat
    it as a bad answer (degraded) and not as a camera gone to sleep (which starts a wake)."""
    def behaviour(srv, conn):
        srv.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"{" * 50)
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=2.0)
    with pytest.raises(CameraRejected, match="front: .*cut short"):
        client.get("/gp/gpControl/status")


def test_garbage_instead_of_http_is_an_error_naming_the_camera(hostile):
    def behaviour(srv, conn):
        srv.send(conn, b"\x00\xff" * 5000 + b"\r\n\r\n")
    srv = hostile(behaviour)
    client = HttpClient(AddressLink("front", "127.0.0.1"), port=srv.port, timeout=2.0)
    with pytest.raises((CameraRejected, CameraUnreachable)) as info:
        client.get("/gp/gpControl/status")
    assert str(info.value).startswith("front: ")
