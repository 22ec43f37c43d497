"""Run GoPro's own SDK (``open-gopro``) against an emulated Open GoPro camera; print one JSON line.

Runs under ``.venv-sdk/bin/python`` (requirements-sdk.txt), never under the daemon's venv: the SDK
pins bleak==0.22.3. Imports only the SDK and the standard library. Usage::

    .venv-sdk/bin/python tests/clients/open_gopro_sdk_script.py 127.0.0.1 PORT SERIAL

``WiredGoPro`` builds its address from the serial (``172.2X.1YZ.51:8080``, OpenAPI "Socket
Address"); the only change here is that ``_base_url`` points at the emulator's loopback address
and port instead. Everything else (``open()``: wired_usb, set_client_info, version, waiting for
encoding/busy to clear; then each HTTP command) is the SDK's own code.

Output: ``{"steps": {name: {"ok": bool, "status": str, "data": str}}, "error": str | null}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys


async def main(host: str, port: int, serial: str) -> dict:
    from open_gopro import WiredGoPro
    from open_gopro.models import constants, proto

    class LoopbackWiredGoPro(WiredGoPro):
        @property
        def _base_url(self) -> str:
            return f"http://{host}:{port}/"

    steps: dict = {}

    def note(name, resp):
        steps[name] = {"ok": bool(resp.ok), "status": str(resp.status), "data": repr(resp.data)[:300]}
        return resp

    gopro = LoopbackWiredGoPro(serial=serial, poll_period=0.2)
    await asyncio.wait_for(gopro.open(timeout=5, retries=1), 30)
    steps["open"] = {"ok": True, "status": "", "data": ""}
    cmd = gopro.http_command
    note("get_camera_state", await cmd.get_camera_state())
    note("get_camera_info", await cmd.get_camera_info())
    note("set_keep_alive", await cmd.set_keep_alive())
    note("set_camera_control", await cmd.set_camera_control(mode=constants.CameraControl.EXTERNAL))
    note("set_date_time", await cmd.set_date_time(date_time=dt.datetime(2026, 11, 21, 9, 5, 7),
                                                 tz_offset=-480, is_dst=False))
    note("get_date_time", await cmd.get_date_time())
    note("load_preset_group_photo", await cmd.load_preset_group(group=proto.EnumPresetGroup.PRESET_GROUP_ID_PHOTO))
    note("load_preset_group_video", await cmd.load_preset_group(group=proto.EnumPresetGroup.PRESET_GROUP_ID_VIDEO))
    note("set_shutter_on", await cmd.set_shutter(shutter=constants.Toggle.ENABLE))
    note("state_recording", await cmd.get_camera_state())
    note("set_shutter_off", await cmd.set_shutter(shutter=constants.Toggle.DISABLE))
    note("get_media_list", await cmd.get_media_list())
    await gopro.close()
    return steps


if __name__ == "__main__":
    host, port, serial = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out: dict = {"steps": {}, "error": None}
    try:
        out["steps"] = asyncio.run(main(host, port, serial))
    except Exception as exc:  # noqa: BLE001 - reported to the test, which names it
        out["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))
