"""gpControl driver: status parsing against the real captures, exact request shapes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from camrig.cameras.gopro_legacy.driver import GpControl, date_time_param, parse_status
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.errors import CameraRejected
from camrig.http import HttpClient
from camrig.link import AddressLink
from tests.captures import CAPTURES, status_names

STATUS_CAPTURES = sorted(CAPTURES.glob("HERO*_status_*.json"))



def test_status_ids_are_the_ones_the_camera_names():
    from camrig.cameras.gopro_legacy import driver as g
    names = status_names()
    assert names[g.ENCODING_ACTIVE] == "encoding_active"
    assert names[g.SYSTEM_BUSY] == "system_busy"
    assert names[g.INTERNAL_BATTERY_PERCENTAGE] == "internal_battery_percentage"
    assert names[g.NEXT_POLL_MSEC] == "next_poll_msec"
    assert names[g.SYSTEM_READY] == "system_ready"
    assert names[g.VIDEO_PROGRESS_COUNTER] == "video_progress_counter"


@pytest.mark.parametrize("capture", STATUS_CAPTURES, ids=lambda p: p.name)
def test_parse_real_capture(capture):
    st = parse_status(capture.read_bytes(), camera="front")
    raw = json.loads(capture.read_text())["status"]
    assert st.encoding_active is (raw["10"] == 1)
    assert st.battery_percent == raw["70"]
    assert st.sd_status == raw["33"] and not st.sd_error
    assert st.remaining_space_kb == raw["54"]
    assert st.next_poll_ms == raw["60"]
    assert st.ready


def test_recording_is_status_10_not_status_8():
    busy_idle = {"status": {"8": 1, "10": 0}}
    recording = {"status": {"8": 0, "10": 1}}
    assert parse_status(json.dumps(busy_idle).encode()).encoding_active is False
    assert parse_status(json.dumps(recording).encode()).encoding_active is True


@pytest.mark.parametrize("body,fragment", [
    (b"<html>500</html>", "not JSON"),
    (b'{"status": {"10": 1', "not JSON"),
    (b"[]", "no 'status' object"),
    (b'{"settings": {}}', "no 'status' object"),
    (b'{"status": {"8": 0}}', "status 10"),
    (b'{"status": {"10": "yes"}}', "status 10"),
    (b'{"status": {"10": true}}', "status 10"),
    (b"[" * 100000, "not JSON"),
])
def test_bad_status_bodies_are_rejected_naming_the_camera(body, fragment):
    with pytest.raises(CameraRejected, match=fragment) as info:
        parse_status(body, camera="rear")
    assert str(info.value).startswith("rear: ")


def test_wrongly_typed_optional_fields_become_none():
    st = parse_status(b'{"status": {"10": 0, "70": "84", "33": null, "54": 1.5}}')
    assert (st.battery_percent, st.sd_status, st.remaining_space_kb) == (None, None, None)


def test_date_time_parameter_matches_the_cameras_own_format():
    # The capture's status 40 is the camera clock in the same shape: %11%02%12%12%38%3A.
    raw = json.loads(STATUS_CAPTURES[0].read_text())["status"]["40"]
    assert date_time_param(dt.datetime(2017, 2, 18, 18, 56, 58)) == raw
    with pytest.raises(ValueError):
        date_time_param(dt.datetime(1999, 1, 1))


@pytest.fixture
def camera():
    with LegacyGoPro("front", delay_ms=0, boot_delay=0.05) as cam:
        yield cam


@pytest.fixture
def driver(camera):
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=camera.port, timeout=2.0)
    yield GpControl(http, "front")
    http.close()


@pytest.mark.parametrize("call,expected", [
    (lambda d: d.shutter(True), "/gp/gpControl/command/shutter?p=1"),
    (lambda d: d.shutter(False), "/gp/gpControl/command/shutter?p=0"),
    (lambda d: d.status(), "/gp/gpControl/status"),
    (lambda d: d.probe(), "/gp/gpControl/command/system/locate?p=0"),
    (lambda d: d.hilight(), "/gp/gpControl/command/storage/tag_moment"),
    (lambda d: d.sleep(), "/gp/gpControl/command/system/sleep"),
    (lambda d: d.select_video(), "/gp/gpControl/command/sub_mode?mode=0&sub_mode=0"),
    (lambda d: d.set_date_time(dt.datetime(2026, 11, 21, 10, 0, 5)),
     "/gp/gpControl/command/setup/date_time?p=%1A%0B%15%0A%00%05"),
])
def test_request_shapes(camera, driver, call, expected):
    seen = []
    original = camera._serve

    def spy(handler):
        seen.append(handler.path)
        return original(handler)

    camera._serve = spy
    call(driver)
    assert seen == [expected]


def test_shutter_drives_the_emulated_camera(camera, driver):
    driver.shutter(True)
    assert driver.status().encoding_active
    driver.shutter(False)
    assert not driver.status().encoding_active


def test_http_500_is_rejected_with_the_status_code(camera, driver):
    camera.fault("http_500", on=True)
    with pytest.raises(CameraRejected) as info:
        driver.shutter(True)
    assert info.value.http_status == 500


# --------------------------------------------------------------------------- camera mode (issue 17)


def test_mode_and_sub_mode_ids_are_the_ones_the_camera_names():
    from camrig.cameras.gopro_legacy import driver as g
    assert status_names()[g.MODE] == "mode" and status_names()[g.SUB_MODE] == "sub_mode"


@pytest.mark.parametrize("mode,sub,video,name", [
    (0, 0, True, "video"), (0, 1, False, "time-lapse video"), (0, 3, False, "looping"),
    (0, 4, False, "TimeWarp"), (1, 0, False, "photo"), (1, 2, False, "night photo"),
    (2, 1, False, "time-lapse photo"), (2, 0, False, "burst"), (0, None, True, "video"),
    (7, 1, False, "mode 7/1"), (4, 0, False, "playback"),
])
def test_status_43_44_say_whether_the_camera_is_in_video_mode(mode, sub, video, name):
    raw = {"10": 0, "43": mode}
    if sub is not None:
        raw["44"] = sub
    st = parse_status(json.dumps({"status": raw}).encode())
    assert (st.mode, st.sub_mode, st.in_video_mode, st.mode_name) == (mode, sub, video, name)


def test_a_status_without_a_mode_says_nothing_about_video():
    st = parse_status(b'{"status": {"10": 0}}')
    assert st.in_video_mode is None and st.mode_name is None


def test_select_video_leaves_photo_and_time_lapse_modes(camera, driver):
    for mode, sub in [(1, 0), (0, 1), (2, 1)]:
        camera.fault("mode", mode=mode, sub_mode=sub)
        assert driver.status().in_video_mode is False
        driver.select_video()
        st = driver.status()
        assert (st.mode, st.sub_mode, st.in_video_mode) == (0, 0, True)
    driver.shutter(True)
    assert driver.status().encoding_active and camera.state()["capture"] == "video"


def test_select_video_refused_while_capturing_is_camera_rejected(camera, driver):
    camera.fault("mode", mode=0, sub_mode=1)
    driver.shutter(True)
    with pytest.raises(CameraRejected) as info:
        driver.select_video()
    assert info.value.http_status == 500
