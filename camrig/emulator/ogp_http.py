"""The Open GoPro HTTP front-end (HERO9–13) on the emulated body: the API 2.0 on port 8080.

Source: ``captures/OpenGoPro_openapi_http_2.0.json`` (GoPro's OpenAPI file, a copy of the shared
fixture); per-operation ``x-supported-cameras`` decide which model answers what. The behaviours
(and the switches where the file is silent) are listed in :mod:`camrig.emulator.open_gopro`.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
import time
from pathlib import Path
from typing import Any

from camrig.cameras.open_gopro import protocol as p

from . import captures

#: The front-end is a mixin on :class:`camrig.emulator.open_gopro.OpenGoPro` (the body plus the
#: Open GoPro model state); typed loosely, as the camera it completes.
_Base: Any = object

OPENAPI = captures.path(captures.OPEN_GOPRO_OPENAPI)
_SETTINGS_CACHE: dict[str, dict] = {}


@functools.lru_cache(maxsize=1)
def _openapi_paths() -> dict:
    """The OpenAPI file's ``paths`` (read once)."""
    return json.loads(Path(OPENAPI).read_text())["paths"]

MODELS = ("hero9", "hero10", "hero11", "hero12", "hero13")
#: /gopro/camera/info model_name and model_number (Open GoPro BLE spec, "Supported Cameras").
MODEL_INFO = {"hero9": ("HERO9 Black", "55"), "hero10": ("HERO10 Black", "57"),
              "hero11": ("HERO11 Black", "58"), "hero12": ("HERO12 Black", "62"),
              "hero13": ("HERO13 Black", "65")}
S_CAMERA_CONTROL = "114"      # Camera Control ID: 0 idle, 1 camera, 2 external (HERO10+)
S_FLAT_MODE, S_PRESET_GROUP = "89", "96"   # Flatmode (EnumFlatMode), Preset Group (EnumPresetGroup)
#: The flat mode each preset group's default preset is in (EnumFlatMode), and what a shutter
#: does in it (the legacy emulator's capture kinds).
GROUP_FLAT_MODE = {p.PRESET_GROUP_VIDEO: 12, p.PRESET_GROUP_PHOTO: 17, p.PRESET_GROUP_TIMELAPSE: 13}
GROUP_CAPTURE = {p.PRESET_GROUP_VIDEO: "video", p.PRESET_GROUP_PHOTO: "photo",
                 p.PRESET_GROUP_TIMELAPSE: "timelapse_video"}
#: Models each operation lists (OpenAPI x-supported-cameras), where not every HERO9–13 is listed.
INFO_MODELS = ("hero12", "hero13")                       # /gopro/camera/info
GET_DATE_TIME_MODELS = ("hero11", "hero12", "hero13")    # /gopro/camera/get_date_time
HILIGHT_MOMENT_MODELS = ("hero10", "hero11", "hero12", "hero13")
#: Switches of this emulator (on/off with ``fault(name, on=)``), besides the legacy ones.
OGP_SWITCHES = ("usb_require_host",)
#: The 403 a HERO11 on USB sent without a Host header (gopro/OpenGoPro issue #305).
HOST_403_BODY = b"Error 403: Forbidden\nConnection forbidden"
_DATE_RE = re.compile(r"^(\d{4})_(\d{1,2})_(\d{1,2})$")
_TIME_RE = re.compile(r"^(\d{1,2})_(\d{1,2})_(\d{1,2})$")


def settings_for(model: str) -> dict[int, dict[int, str]]:
    """``{setting id: {option id: display name}}`` the OpenAPI file lists for ``model``: the
    ``GPCAMERA_CHANGE_SETTING::ID`` operations whose ``x-supported-cameras`` name it, and of each
    the options whose ``x-option-metadata`` name it (names from ``x-enumDescriptions``)."""
    if model not in _SETTINGS_CACHE:
        name = MODEL_INFO[model][0]
        out: dict[int, dict[int, str]] = {}
        for path, item in _openapi_paths().items():
            op = item.get("get") or {}
            if not str(op.get("operationId", "")).startswith("GPCAMERA_CHANGE_SETTING::"):
                continue
            if name not in op.get("x-supported-cameras", ()):
                continue
            schema: dict[str, Any] = next((prm["schema"] for prm in op.get("parameters", ())
                                           if prm.get("name") == "option"), {})
            names = schema.get("x-enumDescriptions", {})
            meta = schema.get("x-option-metadata", {})
            out[int(path.rpartition("=")[2])] = {int(o): str(names.get(str(o), o)) for o in schema.get("enum", ())
                                                 if name in meta.get(str(o), ())}
        _SETTINGS_CACHE[model] = out
    return _SETTINGS_CACHE[model]


def settings_for_all_options(setting: int) -> set[int]:
    """Every option id setting ``setting`` has in the OpenAPI file, on any model."""
    key = f"/gopro/camera/setting?setting={setting}"
    op = _openapi_paths().get(key, {}).get("get", {})
    schema: dict[str, Any] = next((prm["schema"] for prm in op.get("parameters", ())
                                   if prm.get("name") == "option"), {})
    return {int(o) for o in schema.get("enum", ())}




class OpenGoProHttpFront(_Base):
    """``/gopro/...`` over HTTP (mixin on the Open GoPro camera's body)."""

    def _route_http(self, path: str, params: dict, post: list):
        with self._lock:
            if self._faults["http_500"]:
                return 500, None
        t = time.monotonic()
        if path == "/gopro/version":
            return 200, {"version": "2.0"}
        if path == "/gopro/camera/state":
            return 200, self.status_document()
        if path == "/gopro/camera/info":
            if self.model not in INFO_MODELS:       # x-supported-cameras: HERO12 Black and later
                return 404, None
            name, number = MODEL_INFO[self.model]
            return 200, {"model_name": name, "model_number": number, "firmware_version": "EMULATED",
                         "serial_number": "C3500000000000", "ap_ssid": str(self._base_status.get("30", "")),
                         "ap_mac_addr": self.wifi_mac.replace(":", "")}
        with self._lock:
            if path == "/gopro/camera/keep_alive":
                self._activity("keep_alive", t)
                self._event("keep_alive", t, via="http")
                return 200, {}
            if path == "/gopro/camera/control/wired_usb":
                if params.get("p") not in ("0", "1"):
                    return 400, {}
                self.wired_usb = params["p"] == "1"
                self._event("wired_usb", t, on=self.wired_usb)
                return 200, {}
            if self.usb and not self.wired_usb:
                return 403, {"error": "wired USB control not enabled"}
            if path in ("/gopro/camera/shutter/start", "/gopro/camera/shutter/stop"):
                if self.model == "hero9":
                    return 404, None
                self._activity(None, t)
                if path.endswith("start"):
                    self._start_recording("http", t)
                else:
                    self._event("shutter_off", t, via="http")
                    self._stop_recording("shutter", t)
                return 200, {}
            if path == "/gopro/camera/set_date_time":
                return self._http_date_time(params, t)
            if path == "/gopro/camera/get_date_time":
                if self.model not in GET_DATE_TIME_MODELS:
                    return 404, None
                return 200, self._date_time_document()
            if path == "/gopro/camera/analytics/set_client_info":
                self._event("analytics", t, via="http")
                return 200, {}
            if path == "/gopro/camera/presets/set_group":
                try:
                    group = int(params.get("id", ""))
                except ValueError:
                    return 400, {}
                result = self._load_group(group, t, via="http")
                if result == "invalid":
                    return 400, {}          # unverified: the file gives only the 200 answer
                if result == "capturing":
                    return 500, {}          # unverified shape; refused while encoding
                return 200, {}
            if path == "/gopro/camera/setting":
                return self._setting(params, t)
            media = self._media_command(path, params, t)
            if media is not None:
                return media
            if path == "/gopro/media/hilight/moment":
                # OGP_TAG_MOMENT: x-supported-cameras HERO10 Black and later; "This can only be used
                # during recording": 200 (200Empty) while recording, else 500 GenericEmpty "Camera
                # is not currently recording" (OpenAPI responses).
                if self.model not in HILIGHT_MOMENT_MODELS:
                    return 404, None
                if not self._hilight("http", t):
                    self._event("hilight_refused", t, via="http", cause="not recording")
                    return 500, {}
                return 200, {}
            if path == "/gopro/camera/control/set_ui_controller":
                if self.model == "hero9":
                    return 404, None
                if params.get("p") not in ("0", "2"):
                    return 400, {}
                self.camera_control = int(params["p"])
                self._activity(None, t)
                self._event("camera_control", t, value=self.camera_control)
                return 200, {}
            if path == "/gp/gpControl/command/system/sleep":
                self._go_asleep("http sleep", t)
                post.append(self._apply_netdev)
                return 200, {}
        return 404, None

    def _http_date_time(self, params: dict, t: float):
        d, tm = _DATE_RE.match(params.get("date", "")), _TIME_RE.match(params.get("time", ""))
        if not d or not tm:
            return 400, {}
        has_tz = "tzone" in params or "dst" in params
        if self.model in ("hero9", "hero10"):
            if self.http_date_time_old == "refuse":   # not in the operation's x-supported-cameras
                return 404, None
            if has_tz:       # openapi: tzone and dst "Not supported on Hero 10 Black, Hero 9 Black"
                return 400, {}
        elif not (re.fullmatch(r"-?\d{1,4}", params.get("tzone", "")) and params.get("dst") in ("0", "1")):
            return 400, {}   # required on HERO11 and later
        try:
            year, month, day = (int(x) for x in d.groups())
            hour, minute, second = (int(x) for x in tm.groups())
            when = datetime.datetime(year, month, day, hour, minute, second)
        except ValueError:
            return 400, {}
        self._set_clock(when, t)
        self._tz = (params.get("tzone"), params.get("dst"))
        self._event("date_time", t, value=when.isoformat(), via="http", recording=self.record_started_at is not None,
                    tzone=params.get("tzone"), dst=params.get("dst"))
        return 200, {}

    def _setting(self, params: dict, t: float):
        """``/gopro/camera/setting?setting=ID[&option=N]`` (GPCAMERA_CHANGE_SETTING::ID): without
        ``option`` ``200 {"option": current}``; a set ``200 {}``; a refusal ``403`` with the
        file's 403Setting body ``{"error", "setting_id", "option_id", "supported_options":
        [{"id", "display_name"}]}``: error 2 for a setting this model does not list, 4 for an
        option the setting does not have, 3 for one this model does not list, 1 while encoding
        ("the camera will reject requests to change settings while encoding"; the code is
        unverified). Hold the lock."""
        try:
            sid = int(params.get("setting", ""))
            option = int(params["option"]) if "option" in params else None
        except ValueError:
            return 400, {}
        table = settings_for(self.model)
        options = table.get(sid)

        def refuse(code: int):
            self._event("setting_refused", t, id=sid, option=option, error=code)
            return 403, {"error": code, "setting_id": sid, "option_id": option,
                         "supported_options": [{"id": o, "display_name": n} for o, n in (options or {}).items()]}
        if options is None:
            return refuse(2)
        if option is None:
            return 200, {"option": int(self._settings.get(str(sid), self._base_settings.get(str(sid), 0)))}
        every = settings_for_all_options(sid)
        if option not in every:
            return refuse(4)
        if option not in options:
            return refuse(3)
        if self.record_started_at is not None:
            return refuse(1)
        self._settings[str(sid)] = option
        self._activity(None, t)     # "sets a setting": resets the Auto Power Down timer
        self._event("setting", t, id=sid, value=option)
        return 200, {}

    def _date_time_document(self) -> dict:
        """``/gopro/camera/get_date_time`` (OGP_GET_DATE_AND_TIME_DST): ``date`` YYYY_MM_DD and
        ``time`` HH_MM_SS (required), ``tzone`` (minutes) and ``dst`` (0/1) as last set over
        HTTP (0 when never set: unverified)."""
        now = self._camera_clock()
        tzone, dst = self._tz
        return {"date": now.strftime("%Y_%m_%d"), "time": now.strftime("%H_%M_%S"),
                "tzone": int(tzone) if tzone else 0, "dst": int(dst) if dst else 0}

    def media_list(self) -> dict:
        """``/gopro/media/list`` (OpenAPI MediaList / SingleMediaListItem): every value a string
        ("each property actually comes as a string"), ``n``, ``cre``, ``mod``, ``s`` required,
        ``ls`` -1 (no low-resolution file)."""
        doc = super().media_list()
        for d in doc["media"]:
            for f in d["fs"]:
                f.setdefault("cre", f["mod"])
        return doc

    def _serve(self, h) -> None:
        """A request on USB without a Host header: 403 text/plain and the connection closed, as
        a HERO11 (v02.01) answered (gopro/OpenGoPro issue #305), unless ``usb_require_host`` is
        off. Everything else as the legacy camera."""
        with self._lock:
            refuse = (self.usb and self._faults["usb_require_host"] and self.power == "on"
                      and self.wifi == "on" and not h.headers.get("Host"))
            if refuse:
                self._event("host_missing", path=h.path)
        if refuse:
            h.close_connection = True
            h.reply(403, HOST_403_BODY, "text/plain; charset=utf-8")
            return
        super()._serve(h)

