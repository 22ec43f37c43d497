"""GoPro's own Python SDK (``open-gopro`` 0.22, a client nobody here wrote) against the emulated
HERO12 on USB (issue 17).

The SDK pins ``bleak==0.22.3`` and the daemon needs ``bleak>=3``, so it lives in a second,
test-only venv, ``.venv-sdk`` (``make sdk-venv``; ``make test`` builds it; requirements-sdk.txt).
This test starts the emulated camera in-process (main venv) and runs
``tests/clients/open_gopro_sdk_script.py`` under ``.venv-sdk/bin/python``: ``WiredGoPro.open()``
(wired USB control, set client info, API version, waiting for encoding/busy to clear), then the
HTTP commands state, camera info, keep-alive, camera control, set/get date and time, load preset
group (photo, then video), shutter on/off, media list. Each answer is asserted, and so is what the
camera saw (its events). Skipped, saying why, when ``.venv-sdk`` is missing.

Where the SDK deviates from the OpenAPI file, the test says so and the emulator is not bent:

- ``WiredGoPro`` only talks to ``http://172.2X.1YZ.51:8080/`` built from the serial (the OpenAPI
  "Socket Address" rule); the script overrides ``_base_url`` to reach the emulator on loopback.
- ``get_date_time`` is declared to return a ``datetime``; with the OpenAPI answer
  ``{"date", "time", "tzone", "dst"}`` its ``data`` is that dict, unparsed.
- ``WiredGoPro.open()`` calls ``/gopro/camera/analytics/set_client_info`` and
  ``/gopro/version`` before anything else. Before issue 17 the emulator answered an empty 404 to
  the first one and ``open()`` ended in ``ResponseTimeout: Response timeout occurred of 5 seconds``
  (this test failed there); a 4xx with a JSON body would have been logged and passed over.

The camera requires a Host header on USB (reported, gopro/OpenGoPro issue #305); ``requests``
sends one, and the test checks that the camera never saw a request without it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from camrig.emulator.open_gopro import OpenGoPro

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".venv-sdk" / "bin" / "python"
SCRIPT = Path(__file__).with_name("open_gopro_sdk_script.py")

pytestmark = pytest.mark.skipif(
    not SDK_PYTHON.exists(),
    reason=".venv-sdk is missing: `make sdk-venv` installs GoPro's open-gopro SDK there "
           "(it pins bleak==0.22.3, so it cannot share .venv)")


def _sdk_has_the_package() -> bool:
    res = subprocess.run([str(SDK_PYTHON), "-c", "import open_gopro"], capture_output=True, timeout=60)
    return res.returncode == 0


def test_open_gopro_sdk_drives_the_emulated_hero12_over_usb():
    if not _sdk_has_the_package():
        pytest.skip(".venv-sdk exists but `import open_gopro` fails there: run `make sdk-venv` again")
    with OpenGoPro("sdk", model="hero12", usb=True, delay_ms=0, preset_busy=0.2) as cam:
        cam.fault("mode")                                   # left in the photo group
        res = subprocess.run([str(SDK_PYTHON), str(SCRIPT), "127.0.0.1", str(cam.port), "C3500000000789"],
                             capture_output=True, text=True, timeout=120, cwd=str(ROOT))
        assert res.returncode == 0, res.stderr[-2000:]
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert out["error"] is None, (out["error"], res.stderr[-2000:])
        steps = out["steps"]
        expected = ["open", "get_camera_state", "get_camera_info", "set_keep_alive", "set_camera_control",
                    "set_date_time", "get_date_time", "load_preset_group_photo", "load_preset_group_video",
                    "set_shutter_on", "state_recording", "set_shutter_off", "get_media_list"]
        assert list(steps) == expected
        failed = {k: v for k, v in steps.items() if not v["ok"]}
        assert failed == {}, failed
        assert "<StatusId.ENCODING: 10>: False" in steps["get_camera_state"]["data"]
        assert "<StatusId.ENCODING: 10>: True" in steps["state_recording"]["data"]
        assert "model_name='HERO12 Black'" in steps["get_camera_info"]["data"]
        assert "'date': '2026_11_21'" in steps["get_date_time"]["data"]
        assert "'tzone': -480" in steps["get_date_time"]["data"]
        assert "GOPR0001.MP4" in steps["get_media_list"]["data"]
        # What the camera saw.
        state = cam.state()
        events = state["events"]
        assert state["wired_usb"] is True and state["camera_control"] == 2
        assert [e["group"] for e in events if e["what"] == "preset_group" and e.get("via") == "http"] == [1001, 1000]
        assert [e for e in events if e["what"] == "analytics"]
        assert [e["capture"] for e in events if e["what"] == "record_start"] == ["video"]
        assert state["photos"] == 0 and not state["recording"] and state["keep_alives"] >= 1
        assert state["date_time"].startswith("2026-11-21T09:05")
        assert not [e for e in events if e["what"] == "host_missing"]


def test_sdk_venv_is_separate_from_the_daemons():
    """The SDK's bleak pin must not reach the daemon's venv (and the other way round)."""
    if not _sdk_has_the_package():
        pytest.skip(".venv-sdk has no open_gopro")
    res = subprocess.run([str(SDK_PYTHON), "-c", "import bleak, importlib.metadata as m; print(m.version('bleak'))"],
                         capture_output=True, text=True, timeout=60)
    assert res.stdout.strip().startswith("0.22"), res.stdout + res.stderr
    import importlib.metadata
    try:
        daemon_bleak = importlib.metadata.version("bleak")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"the daemon's venv ({sys.prefix}) has no bleak")
    assert int(daemon_bleak.split(".")[0]) >= 3
