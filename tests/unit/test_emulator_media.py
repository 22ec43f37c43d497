"""The emulated cameras' media (issue 10 part 7) and HiLights (issue 13): lists, files, Range, the
rate cap, transfer faults, delete, turbo transfer, and the HiLight log.

Before this change the emulators listed names only (sizes from a bit rate, no file behind them),
served no ``/videos/DCIM`` file, had no ``gpmf``/``turbo_transfer``/delete, no rate cap and no
transfer faults, and kept no HiLight log: every test here fails on that code.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import tempfile

import pytest

from camrig.emulator import media as m
from camrig.emulator.control import EmulatorControl, EmulatorRequestFailed
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.emulator.open_gopro import OpenGoPro
from tests.rig.media import build_template, gpmf_payloads

STRING_KEYS = {"n", "cre", "mod", "s", "glrv", "ls"}


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="emumedia")     # short: AF_UNIX paths are limited to 107 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make(tmp):
    made = []

    def _make(cls=LegacyGoPro, **kw):
        n = len(made)
        template = build_template(os.path.join(tmp, f"t{n}.MP4"), kw.get("model", kw.get("media_model", "hero7")))
        args = dict(control_path=os.path.join(tmp, f"c{n}.sock"), listen="127.0.0.1", delay_ms=0,
                    boot_delay=0.0, media_dir=os.path.join(tmp, f"card{n}"), record_template=template,
                    record_bytes=2_000_000)
        args.update(kw)
        cam = cls(f"cam{n}", **args).start()
        made.append(cam)
        return cam

    yield _make
    for cam in made:
        cam.close()


def request(port: int, path: str, headers: dict | None = None, method: str = "GET", timeout: float = 3.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def record(cam, port: int, legacy: bool = True) -> None:
    for on in (True, False):
        path = (f"/gp/gpControl/command/shutter?p={int(on)}" if legacy
                else f"/gopro/camera/shutter/{'start' if on else 'stop'}")
        assert request(port, path)[0] == 200


# --------------------------------------------------------------------------- lists


def test_a_stopped_recording_puts_chapters_lrv_and_thm_on_the_card_and_in_the_list(make):
    """goprowifihack HERO7/Mediabrowsing.md: {"id", "media": [{"d", "fs": [{"n", "cre", "mod",
    "glrv", "ls", "s"}]}]}, every value a string; HERO6+ names GHccnnnn.MP4, GLccnnnn.LRV."""
    cam = make(record_chapters=2)
    record(cam, cam.port)
    code, _, body = request(cam.media_port, "/gp/gpMediaList")
    doc = json.loads(body)
    assert code == 200 and isinstance(doc["id"], str)
    (folder,) = doc["media"]
    assert folder["d"] == "100GOPRO"
    assert [f["n"] for f in folder["fs"]] == ["GH010001.MP4", "GH020001.MP4"]
    for f in folder["fs"]:
        assert set(f) == STRING_KEYS and all(isinstance(v, str) for v in f.values())
        assert f["s"] == "2000000" and f["ls"] == "-1" and int(f["glrv"]) > 0 and f["cre"] == f["mod"]
    names = {x["n"] for x in EmulatorControl(cam.control_path).request("media")["files"]}
    assert {"GL010001.LRV", "GH010001.THM", "GL020001.LRV", "GH020001.THM"} <= names
    assert cam.state()["files"] == ["GH010001.MP4", "GH020001.MP4"]
    record(cam, cam.port)
    assert json.loads(request(cam.port, "/gp/gpMediaList")[2])["media"][0]["fs"][-1]["n"] == "GH020002.MP4"


def test_open_gopro_list_matches_the_openapi_media_list_schema(make):
    """OpenAPI MediaList / SingleMediaListItem: n, cre, mod, s required, every value a string;
    HERO11 and later record HEVC only: GX names."""
    cam = make(OpenGoPro, model="hero12")
    record(cam, cam.port, legacy=False)
    doc = json.loads(request(cam.port, "/gopro/media/list")[2])
    item = doc["media"][0]["fs"][0]
    assert item["n"] == "GX010001.MP4" and {"n", "cre", "mod", "s"} <= set(item)
    assert all(isinstance(v, str) for v in item.values()) and isinstance(doc["id"], str)


def test_hero5_names_its_chapters_gopr_then_gp(make):
    cam = make(media_model="hero5", record_chapters=3)
    EmulatorControl(cam.control_path).request("media_seed", recordings=["2MB"])
    fs = json.loads(request(cam.media_port, "/gp/gpMediaList")[2])["media"][0]["fs"]
    assert [f["n"] for f in fs] == ["GOPR0001.MP4", "GP010001.MP4", "GP020001.MP4"]
    assert request(cam.media_port, "/videos/DCIM/100GOPRO/GOPR0001.LRV")[0] == 200


def test_hostile_list_switch_adds_traversal_nul_and_bad_sizes(make):
    cam = make()
    ctl = EmulatorControl(cam.control_path)
    ctl.request("media_seed", recordings=[100_000])
    ctl.fault("hostile_list", on=True)
    doc = json.loads(request(cam.media_port, "/gp/gpMediaList")[2])
    names = [f["n"] for d in doc["media"] for f in d["fs"]]
    assert "../../etc/passwd" in names and "/etc/shadow" in names and "NUL\0.MP4" in names
    assert names.count("GH010001.MP4") >= 2 and any(d["d"] == "../x" for d in doc["media"])
    sizes = [f["s"] for d in doc["media"] for f in d["fs"]]
    assert "-5" in sizes and "99999999999999999999999" in sizes


# --------------------------------------------------------------------------- files and Range


@pytest.fixture
def seeded(make):
    cam = make(OpenGoPro, model="hero12")
    EmulatorControl(cam.control_path).request("media_seed", recordings=["2MB"])
    path = os.path.join(cam.media.root, "100GOPRO", "GX010001.MP4")
    return cam, path, open(path, "rb").read()


def test_a_file_is_served_byte_for_byte(seeded):
    cam, _, data = seeded
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")
    assert code == 200 and body == data and len(data) == 2_000_000
    assert headers["Content-Type"] == "video/mp4" and headers["Accept-Ranges"] == "bytes"


def test_range_answers_206_with_content_range(seeded):
    cam, _, data = seeded
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", {"Range": "bytes=1000-1999"})
    assert code == 206 and body == data[1000:2000]
    assert headers["Content-Range"] == "bytes 1000-1999/2000000" and headers["Content-Length"] == "1000"
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", {"Range": "bytes=1999990-"})
    assert code == 206 and body == data[-10:]
    code, _, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", {"Range": "bytes=-5"})
    assert code == 206 and body == data[-5:]


def test_range_past_the_end_answers_416(seeded):
    cam, _, _ = seeded
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", {"Range": "bytes=2000000-"})
    assert code == 416 and headers["Content-Range"] == "bytes */2000000" and body == b""


def test_no_range_switch_answers_the_whole_file(seeded):
    cam, _, data = seeded
    EmulatorControl(cam.control_path).fault("no_range", on=True)
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", {"Range": "bytes=1000-1999"})
    assert code == 200 and body == data and "Content-Range" not in headers and "Accept-Ranges" not in headers


def test_head_gives_the_size_without_the_bytes(seeded):
    cam, _, _ = seeded
    code, headers, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", method="HEAD")
    assert code == 200 and headers["Content-Length"] == "2000000" and body == b""


@pytest.mark.parametrize("path", ["/videos/DCIM/../../etc/passwd", "/videos/DCIM/100GOPRO/..%2F..%2Fetc",
                                  "/videos/DCIM/100GOPRO/NOPE.MP4", "/videos/DCIM/x/GX010001.MP4"])
def test_no_file_outside_the_card_is_served(seeded, path):
    cam, _, _ = seeded
    assert request(cam.port, path)[0] == 404


def test_legacy_files_are_on_the_media_port_only(make):
    cam = make()
    EmulatorControl(cam.control_path).request("media_seed", recordings=[100_000])
    assert request(cam.media_port, "/videos/DCIM/100GOPRO/GH010001.MP4")[0] == 200
    assert request(cam.port, "/videos/DCIM/100GOPRO/GH010001.MP4")[0] == 404


def test_gpmf_of_a_file_is_its_gpmd_track(seeded, tmp):
    """OpenAPI OGP_MEDIA_GPMF: the file's GPMF alone (the template's payloads, concatenated)."""
    cam, _, _ = seeded
    code, headers, body = request(cam.port, "/gopro/media/gpmf?path=100GOPRO/GX010001.MP4")
    stream = open(os.path.join(os.path.dirname(__file__), "..", "data", "gpmf", "gopro2gpx_hero11.gpmf.bin"),
                  "rb").read()
    assert code == 200 and headers["Content-Type"] == "application/octet-stream"
    assert body == stream and len(gpmf_payloads(body)) > 10
    assert request(cam.port, "/gopro/media/gpmf?path=100GOPRO/NONE.MP4")[0] == 404


# --------------------------------------------------------------------------- delete, turbo


def test_open_gopro_delete_file(seeded):
    """OpenAPI OGP_DELETE_SINGLE_FILE: 200 {}; 400 when the path is not in the list."""
    cam, path, _ = seeded
    assert request(cam.port, "/gopro/media/delete/file?path=100GOPRO/GX010001.MP4")[:3:2] == (200, b"{}")
    assert not os.path.exists(path) and not os.path.exists(path.replace("GX01", "GL01").replace(".MP4", ".LRV"))
    assert request(cam.port, "/gopro/media/delete/file?path=100GOPRO/GX010001.MP4")[0] == 400
    assert json.loads(request(cam.port, "/gopro/media/list")[2])["media"] == []


def test_legacy_delete_takes_the_path_with_or_without_its_slash(make):
    cam = make()
    EmulatorControl(cam.control_path).request("media_seed", recordings=[100_000, 100_000])
    assert request(cam.port, "/gp/gpControl/command/storage/delete?p=/100GOPRO/GH010001.MP4")[0] == 200
    assert request(cam.port, "/gp/gpControl/command/storage/delete?p=100GOPRO%2FGH010002.MP4")[0] == 200
    assert request(cam.port, "/gp/gpControl/command/storage/delete?p=/100GOPRO/GH010002.MP4")[0] == 500
    assert json.loads(request(cam.media_port, "/gp/gpMediaList")[2])["media"] == []


def test_turbo_transfer_is_recorded(seeded):
    cam, _, _ = seeded
    assert request(cam.port, "/gopro/media/turbo_transfer?p=1")[0] == 200
    assert cam.state()["turbo_transfer"] is True
    assert request(cam.port, "/gopro/media/turbo_transfer?p=0")[0] == 200
    assert request(cam.port, "/gopro/media/turbo_transfer?p=2")[0] == 400
    assert cam.state()["turbo_transfer"] is False
    assert [e["on"] for e in cam.state()["events"] if e["what"] == "turbo_transfer"] == [True, False]


# --------------------------------------------------------------------------- faults


def _raw_get(port: int, path: str, timeout: float = 2.0) -> tuple[bytes, bytes, str]:
    """Read until the server closes or ``timeout``: (head, body, how it ended)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data, how = b"", "closed"
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        how = "stalled"
    except ConnectionResetError:
        how = "reset"
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body, how


def test_media_drop_cuts_the_connection_after_n_bytes(seeded):
    cam, _, data = seeded
    EmulatorControl(cam.control_path).fault("media_drop", after=100_000)
    head, body, how = _raw_get(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")
    assert b"Content-Length: 2000000" in head and how in ("closed", "reset")
    assert len(body) <= 100_000 and data.startswith(body)
    EmulatorControl(cam.control_path).fault("media_drop", on=False)
    assert request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")[2] == data


def test_media_stall_stops_sending_until_cleared(seeded):
    cam, _, data = seeded
    ctl = EmulatorControl(cam.control_path)
    ctl.fault("media_stall", after=65536)
    head, body, how = _raw_get(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4", timeout=0.5)
    assert how == "stalled" and len(body) == 65536
    ctl.fault("media_stall", on=False)
    assert request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")[2] == data


def test_media_extra_sends_more_than_the_list_says(seeded):
    cam, _, data = seeded
    EmulatorControl(cam.control_path).fault("media_extra", bytes=4096)
    listed = json.loads(request(cam.port, "/gopro/media/list")[2])["media"][0]["fs"][0]["s"]
    code, _, body = request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")
    assert listed == "2000000" and code == 200 and len(body) == 2_000_000 + 4096 and body.startswith(data)


def test_bad_fault_values_are_refused(seeded):
    cam, _, _ = seeded
    ctl = EmulatorControl(cam.control_path)
    with pytest.raises(EmulatorRequestFailed, match="media_drop"):
        ctl.fault("media_drop", after=-1)
    with pytest.raises(EmulatorRequestFailed, match="rate"):
        ctl.fault("media_rate", rate="fast")


# --------------------------------------------------------------------------- rate cap


def test_token_bucket_delays_with_an_injected_clock():
    now = [100.0]
    bucket = m.TokenBucket(1000.0, burst=1000.0, clock=lambda: now[0])
    assert bucket.reserve(1000) == 0.0                # the burst is there at once
    assert bucket.reserve(500) == pytest.approx(0.5)  # 500 bytes at 1000 B/s
    assert bucket.reserve(500) == pytest.approx(1.0)  # queued behind the first 500
    now[0] += 1.0
    assert bucket.reserve(0) == 0.0                   # paid back
    now[0] += 10.0                                    # idle: refills to the burst, no more
    assert bucket.reserve(1000) == 0.0 and bucket.reserve(1) == pytest.approx(0.001)


def test_rate_parsing():
    assert m.parse_rate("4MB/s") == 4e6 and m.parse_rate("500KiB/s") == 512_000
    assert m.parse_rate("1000") == 1000 and m.parse_rate(None) is None and m.parse_rate("0") is None
    for bad in ("fast", "4XB/s", "-1"):
        with pytest.raises(ValueError):
            m.parse_rate(bad)


def test_rate_cap_is_set_from_the_control_socket(seeded):
    cam, _, data = seeded
    EmulatorControl(cam.control_path).fault("media_rate", rate="100MB/s")
    assert cam.state()["rate"] == 100e6 and cam.bucket is not None and cam.bucket.rate == 100e6
    assert request(cam.port, "/videos/DCIM/100GOPRO/GX010001.MP4")[2] == data
    EmulatorControl(cam.control_path).fault("media_rate", rate=None)
    assert cam.bucket is None


# --------------------------------------------------------------------------- ranges and boxes


def test_parse_range():
    assert m.parse_range(None, 10) is None and m.parse_range("items=0-1", 10) is None
    assert m.parse_range("bytes=2-5", 10) == m.Range(2, 5, 10)
    assert m.parse_range("bytes=8-100", 10) == m.Range(8, 9, 10)
    assert m.parse_range("bytes=-3", 10) == m.Range(7, 9, 10)
    assert m.parse_range("bytes=10-", 10) == "unsatisfiable" and m.parse_range("bytes=-0", 10) == "unsatisfiable"
    assert m.parse_range("bytes=5-2", 10) is None and m.parse_range("bytes=0-1,3-4", 10) is None


def test_padding_keeps_the_mp4_readable(tmp):
    """A chapter padded to its size ends in a ``free`` box: the GPMF is still found."""
    template = build_template(os.path.join(tmp, "t.MP4"), "hero7")
    store = m.MediaStore(os.path.join(tmp, "card"), template=template, record_bytes=5_000_000)
    (mp4, _lrv, _thm) = store.add_recording()
    path = store.root / "100GOPRO" / mp4
    assert path.stat().st_size == 5_000_000
    assert m.gpmf_of(path) == open(os.path.join(os.path.dirname(__file__), "..", "data", "gpmf",
                                               "gopro2gpx_hero07.gpmf.bin"), "rb").read()
    assert m.gpmf_of(store.root / "100GOPRO" / _thm) is None


# --------------------------------------------------------------------------- HiLights


def test_legacy_tag_moment_is_logged_and_counted_in_status_58(make):
    """HERO7Black_gpControl.json: GPCAMERA_TAG_MOMENT /command/storage/tag_moment; status 58
    num_hilights, 59 last_hilight_time_msec."""
    cam = make()
    ctl = EmulatorControl(cam.control_path)
    assert request(cam.port, "/gp/gpControl/command/storage/tag_moment")[0] == 200   # not recording
    assert ctl.request("hilights")["hilights"] == []
    request(cam.port, "/gp/gpControl/command/shutter?p=1")
    request(cam.port, "/gp/gpControl/command/storage/tag_moment")
    ctl.ble("0118")
    (first, second) = ctl.request("hilights")["hilights"]
    assert (first["via"], second["via"]) == ("http", "ble") and first["t"] <= second["t"]
    assert first["recording"] == second["recording"] == 1 and 0 <= first["offset_s"] <= second["offset_s"]
    status = json.loads(request(cam.port, "/gp/gpControl/status")[2])["status"]
    assert status["58"] == 2 and status["59"] == int(cam.hilights[-1] * 1000)


def test_open_gopro_hilight_moment_answers_500_when_not_recording(make):
    """OpenAPI OGP_TAG_MOMENT: 200 while recording, 500 "Camera is not currently recording"."""
    cam = make(OpenGoPro, model="hero12")
    assert request(cam.port, "/gopro/media/hilight/moment")[0] == 500
    request(cam.port, "/gopro/camera/shutter/start")
    assert request(cam.port, "/gopro/media/hilight/moment")[0] == 200
    assert [h["via"] for h in cam.state()["hilights"]] == ["http"]
    assert json.loads(request(cam.port, "/gopro/camera/state")[2])["status"]["58"] == 1


def test_hero9_hilight_over_ble_answers_18_00(make):
    """Open GoPro BLE ID Tables: command 0x18 Hilight Moment (a HERO9 has no HTTP one)."""
    cam = make(OpenGoPro, model="hero9", ble_ready_delay=0)
    ctl = EmulatorControl(cam.control_path)
    assert request(cam.port, "/gopro/media/hilight/moment")[0] == 404
    ctl.request("ble_message", char="b5f90072-aa8d-11e3-9046-0002a5d5c51b", message="010101")
    answer = ctl.request("ble_message", char="b5f90072-aa8d-11e3-9046-0002a5d5c51b", message="18")["answer"]
    assert answer == "1800"
    assert [h["via"] for h in ctl.request("hilights")["hilights"]] == ["ble"]
