"""HiLight in the Open GoPro drivers (issue 13 part 1): HERO10–13 ``GET /gopro/media/hilight/moment``
(OpenAPI OGP_TAG_MOMENT), HERO9 over BLE ``01 18`` (Hilight Moment); status 58 in the worker's
row. Against GoPro's OpenAPI capture, a bleak-like recording client, and the emulated HERO12."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camrig.cameras.open_gopro import protocol as p
from camrig.cameras.open_gopro.ble import OpenGoProBle
from camrig.cameras.open_gopro.driver import BLE_HILIGHT_MODELS, PATH_HILIGHT, OpenGoProBleDriver, OpenGoProHttp
from camrig.emulator import captures
from camrig.errors import BleError, CameraRejected, CameraUnreachable
from camrig.http import HttpClient
from camrig.link import AddressLink
from tests.unit.test_open_gopro import FakeBle, FakeHttp, RecordingClient, ble_loop  # noqa: F401

OPENAPI = captures.path(captures.OPEN_GOPRO_OPENAPI)


def test_the_hilight_path_is_gopros_tag_moment_for_hero10_and_later_not_hero9():
    op = json.loads(Path(OPENAPI).read_text())["paths"][PATH_HILIGHT]["get"]
    assert op["operationId"] == "OGP_TAG_MOMENT"
    assert "500" in op["responses"] and "not currently recording" in op["responses"]["500"]["description"]
    assert "HERO10 Black" in op["x-supported-cameras"] and "HERO9 Black" not in op["x-supported-cameras"]
    assert BLE_HILIGHT_MODELS == ("hero9",)


def test_status_58_is_active_hilights_in_the_capture():
    doc = json.loads(Path(OPENAPI).read_text())
    st = doc["components"]["schemas"]["State"]["properties"]["status"]["properties"]["58"]
    assert "Active Hilights" in st["description"] and p.STATUS_HILIGHTS == 58


@pytest.mark.parametrize("model", ["hero10", "hero11", "hero12", "hero13"])
def test_hero10_and_later_tag_the_moment_over_http(model):
    http, ble = FakeHttp(), FakeBle()
    d = OpenGoProHttp(http, "bumper", model, ble=ble)
    d.connect()
    http.paths.clear()
    d.hilight()
    assert http.paths == [PATH_HILIGHT] and ble.calls == []


def test_a_500_means_not_recording_and_is_said():
    d = OpenGoProHttp(FakeHttp(status=500), "bumper", "hero12")
    d._connected = True
    with pytest.raises(CameraRejected, match="not recording") as info:
        d.hilight()
    assert info.value.http_status == 500


def test_hero9_takes_its_hilight_over_ble():
    http, ble = FakeHttp(), FakeBle()
    OpenGoProHttp(http, "roof", "hero9", ble=ble).hilight()
    assert ble.calls == [("hilight",)] and PATH_HILIGHT not in http.paths
    with pytest.raises(CameraRejected, match="BLE only.*no bt_mac"):
        OpenGoProHttp(http, "roof", "hero9").hilight()


class RefusingBle(FakeBle):
    def __init__(self, reason):
        super().__init__()
        self.reason = reason
        self.connected = True

    def connect(self):
        pass

    def hilight(self):
        raise BleError("HiLight: camera answered result 1 (error)", camera="roof", reason=self.reason)


def test_ble_refusal_is_rejected_a_lost_link_unreachable():
    with pytest.raises(CameraRejected, match="BLE: HiLight: camera answered result 1"):
        OpenGoProHttp(FakeHttp(), "roof", "hero9", ble=RefusingBle("rejected")).hilight()
    with pytest.raises(CameraUnreachable):
        OpenGoProHttp(FakeHttp(), "roof", "hero9", ble=RefusingBle("timeout")).hilight()
    drv = OpenGoProBleDriver(RefusingBle("rejected"), "roof", "hero9")
    drv._connected = True
    with pytest.raises(CameraRejected, match="result 1"):
        drv.hilight()


def test_the_session_sends_hilight_moment_01_18(ble_loop):  # noqa: F811 - the fixture
    clients = []

    def factory(addr, cb=None):
        clients.append(RecordingClient(addr, cb))
        return clients[-1]

    s = OpenGoProBle("e4:11:22:33:44:55", camera="roof", factory=factory, loop=ble_loop, timeout=2)
    s.hilight()
    assert clients[0].writes[-1] == ("0072", "0118")
    assert p.hilight() == bytes([0x18])


def test_the_emulated_hero12_logs_the_hilight_and_the_worker_row_counts_status_58():
    from camrig.cameras.mock import MockWaker
    from camrig.emulator.open_gopro import OpenGoPro
    from camrig.worker import CameraWorker
    from tests.unit.test_commands import config

    with OpenGoPro("bumper", model="hero12", delay_ms=0) as cam:
        http = HttpClient(AddressLink("bumper", "127.0.0.1"), port=cam.port, timeout=2.0, connect_timeout=0.5)
        try:
            d = OpenGoProHttp(http, "bumper", "hero12")
            with pytest.raises(CameraRejected, match="not recording"):
                d.hilight()                                   # 500 while not recording
            d.shutter(True)
            d.hilight()
            d.hilight()
            hilights = [e for e in cam.state()["events"] if e["what"] == "hilight"]
            assert len(hilights) == 2 and hilights[0]["via"] == "http"
            worker = CameraWorker(config(["bumper"]).cameras[0], d, MockWaker(), keep_awake=None)
            worker._observe(d.status())
            assert worker.snapshot()["hilights"] == 2
        finally:
            http.close()
