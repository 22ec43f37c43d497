"""Olympus / OM System family (issue 12): command lists, driver, media, waker, worker, hostile input.

Every test here fails on the code before issue 12 (there was no Olympus family, no
``encoding_confirmed``, no HttpClient headers). The emulated body (camrig/emulator/olympus.py)
runs in-process on 127.0.0.1 and is reached over an AddressLink, so nothing needs root.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
import time

import pytest

from camrig.cameras import registry
from camrig.cameras.olympus import commandlist as cl
from camrig.cameras.olympus.driver import (
    OPC_COMMANDLIST,
    UA_OISHARE,
    UA_OPC,
    OlympusDriver,
    SerialHttpClient,
    parse_error_code,
    utctimediff_params,
)
from camrig.cameras.olympus.media import fat_datetime, parse_imglist
from camrig.cameras.olympus.waker import OlympusWaker
from camrig.config import CameraConfig, config_from_mapping
from camrig.emulator import captures
from camrig.emulator.olympus import COMMAND_LISTS, OlympusBody, check_request, list_tree
from camrig.errors import CameraRejected, CameraUnreachable, ConfigError, WakeFailed
from camrig.link import AddressLink
from camrig.media import MediaListError
from camrig.publishers import summary_line
from camrig.status import render_table
from camrig.worker import CameraWorker, State
from tests.polling import eventually

LISTS = sorted(COMMAND_LISTS)


@pytest.fixture(params=LISTS)
def list_name(request):
    return request.param


@pytest.fixture
def body(list_name):
    b = OlympusBody("oly", listen="127.0.0.1", port=0, commandlist=list_name)
    b.start()
    yield b
    b.close()


def driver_for(b: OlympusBody, **kw) -> OlympusDriver:
    http = SerialHttpClient(AddressLink("oly", "127.0.0.1"), port=b.port, timeout=2.0, connect_timeout=0.5)
    return OlympusDriver(http, "oly", **kw)


def requests(b: OlympusBody) -> list[str]:
    return [e["path"] for e in b.state()["events"] if e["what"] == "request"]


# --- the command lists ------------------------------------------------------------------------


@pytest.mark.parametrize("name", LISTS)
def test_every_real_list_parses_and_accepts_what_the_driver_sends(name):
    lst = cl.parse(captures.path(COMMAND_LISTS[name]).read_bytes(), camera="oly")
    assert lst.version == "2.60" and "remote" in lst.supports
    lst.check("switch_cammode", [("mode", "rec"), ("lvqty", "0640x0480")])
    lst.check("switch_cammode", [("mode", "play")])
    lst.check("exec_takemotion", [("com", "startmovietake")])
    lst.check("exec_takemotion", [("com", "stopmovietake")])
    lst.check("set_utctimediff", [("utctime", "20260101T120000"), ("diff", "+0100")])
    lst.check("get_imglist", [("DIR", "/DCIM/100OLYMP")])
    lst.check("exec_pwoff")
    lst.check("get_caminfo")
    assert lst.values("switch_cammode", [("mode", "rec")], "lvqty")[:2] == ("0320x0240", "0640x0480")
    assert lst.values("switch_cammode", [("mode", "play")], "lvqty") is None
    # the odd nesting of the real lists: cmd2 and cmd3 straight under a param1, each a key that
    # may follow the value (one of them, as the seed's tool reads it: camera.py lines 152–175)
    lst.check("exec_takemotion", [("com", "startmovietake"), ("limitter", "x")])
    lst.check("exec_takemotion", [("com", "startmovietake"), ("liveview", "on")])
    lst.check("get_resizeimg", [("DIR", "/DCIM/100OLYMP/P1.JPG"), ("size", "1024")])


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("command,params,named", [
    ("set_timeout", [], "set_timeout.cgi is not in this camera's command list"),
    ("exec_takemotion", [("com", "newstartmovietake")], "startmovietake, stopmovietake"),
    ("switch_cammode", [("mode", "rec"), ("lvqty", "9999x9999")], "lvqty= 0320x0240, 0640x0480"),
    ("switch_cammode", [("mode", "standalone")], "mode= rec, play, shutter"),
    ("get_caminfo", [("x", "1")], "takes no (more) parameters"),
    ("exec_erase", [("DIR", "/DCIM/100OLYMP/P1.MOV")], "exec_erase.cgi is not in this camera's command list"),
])
def test_what_a_list_lacks_is_refused_naming_the_command_and_the_supported_values(name, command, params, named):
    lst = cl.parse(captures.path(COMMAND_LISTS[name]).read_bytes(), camera="oly")
    with pytest.raises(cl.UnsupportedCommand) as info:
        lst.check(command, params, camera="oly")
    assert named in str(info.value) and command in str(info.value) and info.value.camera == "oly"


@pytest.mark.parametrize("name", LISTS)
def test_the_emulator_accepts_exactly_what_the_list_accepts(name):
    """The emulator's own walk of the XML and the driver's parser agree on every path the list
    describes, and on values it does not name."""
    raw = captures.path(COMMAND_LISTS[name]).read_bytes()
    lst, tree = cl.parse(raw), list_tree(raw)
    for cmd in lst.commands.values():
        for path in cl.describe(cmd.keys):
            pairs = [(k, "anything" if v == "*" else v) for k, _, v in (p.partition("=") for p in path.split("&"))]
            assert check_request(tree, cmd.name, pairs) is None, (cmd.name, path)
            lst.check(cmd.name, pairs, method=cmd.method)
        bad = [(cmd.keys[0].name, "no-such-value")] if cmd.keys and cmd.keys[0].free is None else None
        if bad:
            assert check_request(tree, cmd.name, bad) is not None
            with pytest.raises(cl.UnsupportedCommand):
                lst.check(cmd.name, bad, method=cmd.method)


def test_the_air_list_is_the_opc_dialect():
    lst = cl.parse(OPC_COMMANDLIST, source="OPC")
    lst.check("switch_cameramode", [("mode", "rec"), ("lvqty", "0640x0480")])
    lst.check("exec_takemotion", [("com", "newstartmovietake")])
    with pytest.raises(cl.UnsupportedCommand):
        lst.check("exec_takemotion", [("com", "startmovietake")])


@pytest.mark.parametrize("body,why", [
    (b"", "empty answer"),
    (b"   \r\n", "empty answer"),
    (b"<html><body>OI.Share</body>", "not XML"),
    (b'<?xml version="1.0" encoding="Shift-JIS"?><oishare><version>\x81\x20\xff</version></oishare>',
     "not valid Shift-JIS at byte"),
    (b'<?xml version="1.0" encoding="x-klingon"?><oishare/>', "declares encoding 'x-klingon'"),
    (b'<?xml version="1.0"?><oishare><version>2.60</version></oishare>', "lists no commands"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><oishare>&a;</oishare>', "DTD"),
    (b"<oishare>" + b"<cgi name='x'>" * 2 + b"x" * (cl.MAX_COMMANDLIST_BYTES) + b"</cgi></cgi></oishare>",
     "over the 262144-byte limit"),
    (b"<a>" * 40 + b"</a>" * 40, "nested deeper"),
    (b"<oishare><cgi name='../x'><http_method type='get'/></cgi></oishare>", "no usable name"),
])
def test_hostile_command_lists_are_clear_errors(body, why):
    with pytest.raises(cl.CommandListError) as info:
        cl.parse(body, camera="oly")
    assert why in str(info.value) and "oly" in str(info.value)
    assert isinstance(info.value, CameraRejected)      # the worker marks the camera degraded


def test_a_shift_jis_list_with_real_shift_jis_bytes_is_decoded():
    raw = captures.path(COMMAND_LISTS["OM-D"]).read_bytes().replace(
        b"<version>2.60</version>", "<version>2.60 カメラ</version>".encode("shift_jis"))
    assert cl.parse(raw).version == "2.60 カメラ"


# --- protocol details -----------------------------------------------------------------------------


def test_utctimediff_is_utc_with_the_zone_offset():
    when = dt.datetime(2026, 7, 1, 14, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert utctimediff_params(when) == [("utctime", "20260701T123005"), ("diff", "+0200")]
    west = dt.datetime(2026, 1, 1, 0, 0, 0, tzinfo=dt.timezone(-dt.timedelta(hours=3, minutes=30)))
    assert utctimediff_params(west) == [("utctime", "20260101T033000"), ("diff", "-0330")]
    with pytest.raises(ValueError):
        utctimediff_params(dt.datetime(1970, 1, 2, tzinfo=dt.UTC))


@pytest.mark.parametrize("body,code", [
    (b'<?xml version="1.0"?><response><errorcode>1001</errorcode></response>', 1001),
    (b"<response><ErrorCode>0xB000</ErrorCode></response>", 0xB000),
    (b"", None), (b"<response/>", None), (b"not xml", None), (b"<response><errorcode>x</errorcode></response>", None),
])
def test_error_codes_of_520_bodies(body, code):
    assert parse_error_code(body) == code


def test_fat_date_and_time():
    # OPC p. 67's example line "/DCIM/100OLYMP,P6230001.JPG,269117,32,18324,25692": year 35 (2015),
    # month 12, day 20; 12 h 34 min 28×2 s
    assert fat_datetime(18324, 25692) == dt.datetime(2015, 12, 20, 12, 34, 56, tzinfo=dt.UTC).timestamp()
    assert fat_datetime(0, 0) is None                       # month 0
    assert fat_datetime((45 << 9) | (2 << 5) | 30, 0) is None   # 30 February


def test_image_list_lines_that_cannot_be_used_are_left_out_and_named():
    good = "/DCIM/100OLYMP,P1010001.MOV,1000,32,23934,4166"
    body = "\r\n".join(["VER_100", good, "garbage", "/DCIM/100OLYMP,../../etc/passwd,10,32,1,1",
                        "/DCIM/100OLYMP,P2.MOV,big,32,1,1", "/DCIM/OTHER,P3.MOV,10,32,1,1",
                        "/DCIM/100OLYMP,HIDDEN.MOV,10,34,1,1", "/DCIM/100OLYMP,SUB,0,16,1,1", ""]).encode()
    files, folders, problems = parse_imglist(body, "/DCIM/100OLYMP", camera="oly")
    assert [f.name for f in files] == ["P1010001.MOV"] and files[0].size == 1000
    assert folders == ["/DCIM/100OLYMP/SUB"]
    assert len(problems) == 4 and any("contains '/'" in p for p in problems)
    with pytest.raises(MediaListError):
        parse_imglist(b"<html>", "/DCIM", camera="oly")


# --- driver against the emulated body -------------------------------------------------------------


def test_first_contact_reads_connectmode_list_and_caminfo_with_olympus_headers(body):
    d = driver_for(body)
    st = d.status()
    assert st.encoding_active is False and st.encoding_confirmed is False
    assert "new session" in st.recording_evidence
    ev = [e for e in body.state()["events"] if e["what"] == "request"]
    assert [e["path"] for e in ev[:3]] == ["/get_connectmode.cgi", "/get_commandlist.cgi", "/get_caminfo.cgi"]
    assert {e["host"] for e in ev} == {"192.168.0.10"}
    assert ev[0]["ua"] == UA_OPC and {e["ua"] for e in ev[1:]} == {UA_OISHARE}
    info = d.describe()
    assert info["model"] == body.model and info["protocol"].startswith("OI.Share")
    assert "not reported" in info["firmware"]


def test_record_and_stop_switch_to_rec_with_lvqty_and_make_a_movie(body):
    d = driver_for(body)
    d.shutter(True)
    assert body.recording and body.mode == "rec"
    assert "/switch_cammode.cgi?mode=rec&lvqty=0640x0480" in requests(body)
    st = d.status()
    assert st.encoding_active is True and st.encoding_confirmed is False
    assert "startmovietake accepted" in st.recording_evidence
    d.shutter(False)
    assert not body.recording and len(body.state()["files"]) == 1


def test_wrong_mode_1001_switches_and_retries_once(body):
    d = driver_for(body)
    d.shutter(True)
    d.shutter(False)
    body.mode = "play"                       # someone pressed the play button on the camera
    d.shutter(True)                          # the driver believes rec: 1001, switch, retry
    assert body.recording
    errors = [e for e in body.state()["events"] if e["what"] == "error"]
    assert errors and errors[-1]["code"] == "1001"


def test_a_520_without_code_is_a_refusal_naming_it(body):
    d = driver_for(body)
    d.status()
    body.control({"op": "set", "name": "error_without_code", "on": True})
    body.mode = "play"
    d.session.mode = "rec"
    with pytest.raises(CameraRejected) as info:
        d.shutter(True)
    assert "HTTP 520 (no errorcode in its body)" in str(info.value)


def test_clock_is_set_in_play_mode_and_never_switches_away_from_a_recording(body):
    d = driver_for(body)
    d.shutter(True)
    with pytest.raises(CameraRejected, match="not switching to play mode while recording"):
        d.set_date_time(dt.datetime(2026, 6, 1, 12, 0, 0))
    assert body.recording
    d.shutter(False)                               # a stop accepted: now it is known to be idle
    d.set_date_time(dt.datetime(2026, 6, 1, 12, 0, 0))
    assert body.state()["clock"]["utctime"].startswith("2026060")


def test_clock_is_left_alone_at_first_contact_a_movie_may_be_running(body):
    """A daemon restart keeps the Wi-Fi up, so a movie the previous daemon started may still run;
    with no state query the new session cannot tell, and play mode would end it. Fails before
    Session.known_idle (the clock switched the body to play mode and ended the movie)."""
    body.recording_since = time.monotonic()        # a movie a previous daemon started
    d = driver_for(body)
    assert d.status().encoding_active is False     # the belief of a new session
    with pytest.raises(CameraRejected, match="clock left alone"):
        d.set_date_time(dt.datetime(2026, 6, 1, 12, 0, 0))
    assert body.recording and body.state()["clock"] is None


def test_an_unsupported_command_is_refused_before_anything_is_sent(body):
    d = driver_for(body)
    d.status()
    before = len(requests(body))
    with pytest.raises(cl.UnsupportedCommand, match="exec_erase"):
        files, _, _ = parse_imglist(b"VER_100\r\n/DCIM/100OLYMP,P1.MOV,1,32,23934,1", "/DCIM/100OLYMP")
        d.media().delete(files[0])
    assert len(requests(body)) == before


def test_media_lists_in_play_mode_downloads_and_an_empty_card_is_404_not_an_error(body):
    d = driver_for(body)
    m = d.media()
    m.begin_offload()
    assert body.mode == "play" and m.list_media() == []       # /DCIM answers 404: empty
    m.end_offload()
    d.shutter(True)
    with pytest.raises(CameraRejected, match="not offloading while recording"):
        m.begin_offload()
    d.shutter(False)
    body.control({"op": "add_file", "name": "P1010009.MOV", "size": 5000})
    m.begin_offload()
    files = m.list_media()
    assert sorted(f.name for f in files) == sorted(f["name"] for f in body.state()["files"])
    port, path = m.download_path(files[0])
    buf = io.BytesIO()
    res = d.http.sibling().download(path, buf, max_bytes=10**7, expected_size=files[0].size)
    assert port is None and res.size == files[0].size == len(buf.getvalue())
    m.end_offload()
    assert body.mode == "rec"


def test_hostile_image_list_leaves_bad_lines_out_and_logs_them(body, caplog):
    d = driver_for(body)
    d.shutter(True)
    d.shutter(False)
    body.control({"op": "set", "name": "imglist_garbage", "on": True})
    m = d.media()
    m.begin_offload()
    with caplog.at_level(logging.WARNING):
        files = m.list_media()
    assert [f.name for f in files] == [body.state()["files"][0]["name"]]
    assert "line(s) left out" in caplog.text


@pytest.mark.parametrize("kind,why", [("not_xml", "not XML"), ("bad_shift_jis", "not valid Shift-JIS"),
                                      ("huge", "over the 1048576-byte limit|answer larger than"),
                                      ("empty", "empty answer"), ("nothing", "lists no commands")])
def test_hostile_command_list_from_the_body_is_a_clear_refusal(body, kind, why):
    body.control({"op": "set", "name": "commandlist", "value": kind})
    d = driver_for(body)
    with pytest.raises(CameraRejected, match=why):
        d.status()
    assert d.session is None


def test_shift_jis_declared_list_with_shift_jis_bytes_works_end_to_end(body):
    body.control({"op": "set", "name": "commandlist", "value": "shift_jis"})
    d = driver_for(body)
    d.shutter(True)
    assert body.recording and d.session.commands.version == "2.60 カメラ"


def test_opc_connectmode_picks_the_air_dialect():
    b = OlympusBody("air", listen="127.0.0.1", port=0, connectmode="OPC")
    b.start()
    try:
        d = driver_for(b)
        # the emulated body serves an OI.Share list; the Air has none, and the driver uses the
        # OPC list built in from the spec instead: switch_cameramode is what it would send.
        with pytest.raises(CameraRejected):
            d.shutter(True)
        assert d.protocol == "opc"
        assert requests(b)[:2] == ["/get_connectmode.cgi", "/switch_cameramode.cgi?mode=rec&lvqty=0640x0480"]
        assert {e["ua"] for e in b.state()["events"] if e["what"] == "request"} == {UA_OPC}
    finally:
        b.close()


def test_reset_forgets_the_session_and_the_recording_belief(body):
    d = driver_for(body)
    d.shutter(True)
    d.reset()
    assert d.status().encoding_active is False


def test_serial_client_siblings_share_one_turn_lock():
    http = SerialHttpClient(AddressLink("oly", "127.0.0.1"))
    assert http.sibling().serial is http.serial
    assert http.sibling().headers == http.headers


# --- waker ---------------------------------------------------------------------------------------


def test_the_waker_cannot_wake_and_says_turn_on_the_wifi():
    cam = CameraConfig(name="oly", iface=None, ssid=None, wifi_mac=None, bt_mac=None, model="olympus",
                       control="wifi", address="127.0.0.1")
    calls = []

    def probe(timeout=None):
        calls.append(timeout)
        raise CameraUnreachable("refused", camera="oly")

    w = OlympusWaker(cam, AddressLink("oly", "127.0.0.1"), probe, timeout=0.3)
    with pytest.raises(WakeFailed, match="turn on the camera's Wi-Fi"):
        w.wake(threading.Event())
    assert len(calls) >= 2
    ok = OlympusWaker(cam, AddressLink("oly", "127.0.0.1"), lambda timeout=None: None, timeout=0.3)
    ok.wake(threading.Event())


# --- config and registry -------------------------------------------------------------------------


def test_config_olympus_defaults_to_192_168_0_10_whatever_camera_address_says():
    cfg = config_from_mapping({"CAMERA_ADDRESS": "10.5.5.9", "NETWORK_MODE": "route",
                               "GOPROS": [{"iface": "wlan1", "model": "hero7"},
                                          {"iface": "wlan3", "model": "olympus", "name": "oly"}]})
    hero, oly = cfg.cameras
    assert hero.address == "10.5.5.9" and (oly.address, oly.http_port, oly.family) == ("192.168.0.10", 80, "olympus")
    cfg = config_from_mapping({"GOPROS": [{"iface": "wlan3", "model": "OLYMPUS", "address": "192.168.0.11"}]})
    assert cfg.cameras[0].address == "192.168.0.11"
    with pytest.raises(ConfigError, match="IPv4"):
        config_from_mapping({"GOPROS": [{"iface": "wlan3", "model": "olympus", "address": "192.168.0"}]})
    assert registry.family("olympus").emulator == "camrig.emulator.olympus"


# --- the worker: unconfirmed recording, restart after a drop ----------------------------------------


def test_worker_records_unconfirmed_and_restarts_after_the_body_drops_its_wifi():
    b = OlympusBody("oly", listen="127.0.0.1", port=0, commandlist="PEN-F")
    b.start()
    d = driver_for(b)
    cam = CameraConfig(name="oly", iface=None, ssid=None, wifi_mac=None, bt_mac=None, model="olympus",
                       control="wifi", address="127.0.0.1", http_port=b.port)
    waker = OlympusWaker(cam, d.http.link, d.probe, timeout=0.5, probe_timeout=0.3)
    w = CameraWorker(cam, d, waker, keep_awake=0.2, confirm_delay=0.05, ready_timeout=2.0)
    w.start()
    try:
        w.set_wanted(True)
        assert eventually(lambda: b.recording, 5)
        assert eventually(lambda: w.snapshot()["recording"] is True, 5)
        snap = w.snapshot()
        assert snap["recording_confirmed"] is False and "startmovietake accepted" in snap["recording_evidence"]
        table = render_table({"cameras": [snap]})
        assert "yes?" in table
        assert "oly: recording unconfirmed" in summary_line([snap])
        b.set_wifi(False)                                   # the body drops recording (OPC p. 112)
        assert not b.recording
        assert eventually(lambda: w.state in (State.ASLEEP, State.WAKING), 5)
        assert eventually(lambda: "turn on the camera's Wi-Fi" in (w.snapshot()["last_error"] or ""), 5)
        b.set_wifi(True)
        assert eventually(lambda: b.recording, 40), b.state()["events"][-10:]
        assert eventually(lambda: w.state == State.RECORDING and w.snapshot()["recording"] is True, 5)
        w.set_wanted(False)
        assert eventually(lambda: not b.recording, 5)
        assert len(b.state()["files"]) == 2
    finally:
        w.stop()
        b.close()


# --- check ---------------------------------------------------------------------------------------


def _check(tmp_path, port, capsys):
    from camrig import cli

    cfg = tmp_path / "config.py"
    cfg.write_text(f"GOPROS = [{{'name': 'oly', 'model': 'olympus', 'address': '127.0.0.1', 'http_port': {port}}}]\n"
                   f"NETWORK_MODE = 'address'\nTRIGGER_PATH = '{tmp_path}/trigger'\nSTATUS_PATH = None\n"
                   "HTTP_TIMEOUT = 1.0\nCONNECT_TIMEOUT = 0.3\n")
    cfg.chmod(0o600)
    code = cli.main(["--config", str(cfg), "check"])
    return code, capsys.readouterr().out


def test_check_shows_model_firmware_protocol_family_and_the_clock(tmp_path, capsys):
    b = OlympusBody("oly", listen="127.0.0.1", port=0, commandlist="PEN-F")
    b.start()
    try:
        code, out = _check(tmp_path, b.port, capsys)
    finally:
        b.close()
    assert code == 0, out
    assert "model         PEN-F" in out and "firmware      not reported by get_caminfo.cgi" in out
    assert "protocol      OI.Share (oishare)" in out and "commandlist   version 2.60, 23 commands" in out
    assert "recording=no (unconfirmed: no state query)" in out
    # "not recording" is only a belief: check never switches it to play mode for the clock
    assert "clock" not in out.split("recording=no", 1)[1] and b.state()["clock"] is None


def test_check_of_an_olympus_whose_wifi_is_off_says_turn_it_on(tmp_path, capsys):
    b = OlympusBody("oly", listen="127.0.0.1", port=0, start="on")
    b.start()
    port = b.port
    b.close()                                      # nothing listens there any more
    code, out = _check(tmp_path, port, capsys)
    assert code == 1
    assert "status        FAIL" in out and "turn on the camera's Wi-Fi" in out


def test_worker_survives_a_body_whose_list_is_not_xml_and_records_once_it_is(caplog):
    """Hostile input at the worker: a list that is not XML is a clear log line naming it and the
    camera, never a crash; when the body serves its real list, recording starts."""
    b = OlympusBody("oly", listen="127.0.0.1", port=0, commandlist="OM-D")
    b.start()
    b.control({"op": "set", "name": "commandlist", "value": "not_xml"})
    d = driver_for(b)
    cam = CameraConfig(name="oly", iface=None, ssid=None, wifi_mac=None, bt_mac=None, model="olympus",
                       control="wifi", address="127.0.0.1", http_port=b.port)
    w = CameraWorker(cam, d, OlympusWaker(cam, d.http.link, d.probe, timeout=0.3), keep_awake=0.2,
                     confirm_delay=0.05, ready_timeout=0.5)
    w.start()
    try:
        with caplog.at_level(logging.WARNING):
            w.set_wanted(True)
            assert eventually(lambda: "not XML" in (w.snapshot()["last_error"] or ""), 10), w.snapshot()
        assert w.alive and not b.recording
        assert "oly" in caplog.text and "not XML" in caplog.text
        b.control({"op": "set", "name": "commandlist", "value": "real"})
        assert eventually(lambda: b.recording, 40), w.snapshot()
    finally:
        w.stop()
        b.close()


def test_the_rigs_start_the_emulated_body_from_the_family_entry(tmp_path):
    """The loopback rig builds the Olympus emulator's argv from Family.emulator/emulator_args alone:
    the OM-D list for odd k, PEN-F for even k, ``--start wifi-off`` only when asked, extras last."""
    from camrig.emulator.olympus import build_parser
    from camrig.emulator.rig import LoopbackRig

    rig = LoopbackRig(2, models=["olympus", "olympus"], workdir=tmp_path, emulator_extra={2: ["--list", "OM-D"]})
    rig.cameras = [rig._camera_spec(k) for k in (1, 2)]
    one, two = (rig._emulator_argv(c) for c in rig.cameras)
    assert one[2] == "camrig.emulator.olympus" and one[one.index("--list") + 1] == "OM-D"
    assert two.count("--list") == 1 and two[-2:] == ["--list", "OM-D"]
    args = build_parser().parse_args(one[3:])
    assert (args.name, args.listen, args.port, args.start) == ("cam1", rig.cameras[0].address,
                                                               rig.cameras[0].http_port, "on")
