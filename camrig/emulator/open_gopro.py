"""Emulated Open GoPro camera (HERO9–13): HTTP API 2.0 on port 8080 and the BLE GATT protocol.

Built on :class:`camrig.emulator.legacy_gopro.LegacyGoPro` — same power and Wi-Fi model, same
control socket and faults, same event log — with the Open GoPro differences:

- HTTP (source: ``captures/OpenGoPro_openapi_http_2.0.json`` (a copy of the shared fixture)): one server on port 8080.
  ``/gopro/camera/state`` answers the real capture ``state_2022-01-04.json`` with its live ids
  updated (8 busy, 10 encoding, 13 progress, 33 primary storage, 35, 54, 70, 82 ready, 114
  camera control id). ``/gopro/camera/shutter/{start|stop}`` (404 on a HERO9: the API lists
  HERO10 Black as its oldest camera), ``/gopro/camera/keep_alive``,
  ``/gopro/camera/set_date_time?date=YYYY_MM_DD&time=HH_MM_SS`` (HERO11+ also require
  ``tzone`` and ``dst``; HERO9/10 do not support them and get 400 when sent),
  ``/gopro/camera/control/wired_usb?p=0|1``, ``/gopro/camera/control/set_ui_controller?p=0|2``
  (HERO10+), ``/gp/gpControl/command/system/sleep``, ``/gopro/camera/info``, ``/gopro/version``.
  With ``usb=True`` (a camera on its USB-C port) every command but state, keep-alive, info and
  version answers 403 until wired control is enabled (``wired_usb?p=1``), per the API's "USB"
  setup steps.
- No Wake-on-LAN: a BLE connection wakes a sleeping camera (Open GoPro BLE spec, "BLE Setup" →
  "Advertisements").
- Auto power down (``auto_sleep`` seconds, 0 = never): asleep after that long without a
  keep-alive or command while not recording (openapi ``/gopro/camera/keep_alive``: the camera
  sleeps when both the Auto Power Down and the Keep Alive timers run out).
- BLE at the GATT level: a control-socket connection that starts with ``ble_connect`` is one BLE
  connection (protocol in :mod:`camrig.emulator.ble_client`). Writes to GP-0072/0074/0076 are
  reassembled from packets, executed, and answered as notifications on GP-0073/0075/0077,
  packetized (:mod:`camrig.cameras.open_gopro.protocol` holds the bytes and their sources). Registered statuses
  (0x53) are pushed (0x93) when they change. Faults: ``ble_error`` as for the legacy camera
  (``auth`` fails every write), ``ble_drop`` drops every BLE connection; going to sleep drops
  them too.
- BLE readiness (spec "BLE Setup" → "GoPro Setup" → "Wait for Camera BLE Readiness": BLE
  communication takes some time to become ready after a connection; the client polls Get
  Hardware Info ``3C`` until success): for ``ble_ready_delay`` seconds after each connection
  Get Hardware Info answers ``3C 02`` (not ready; the value 2 is unverified, the spec says only
  "success status"), and every other message is refused (``ble_unready="refuse"``: commands
  ``[id] 01``, queries ``[id] 01``, Protobuf ``ResponseGeneric`` RESULT_RESOURCE_NOT_AVAILABLE)
  or ignored (``"ignore"``: no answer). The spec does not say which: both are offered.
- What a client writes is reassembled refusing the Extended 16-bit header ("Packet Headers":
  it "can not be used for sending messages to the camera"); answers use the smallest header.
- Set Camera Control ``F1 69`` (Protobuf ``RequestSetCameraControlStatus``, HERO10+) sets
  status 114 and answers ``F1 E9 08 01``; a HERO9 (not listed) answers RESULT_NOT_SUPPORTED
  (unverified).
- ``ble_connect_delay`` seconds before a BLE connection is established (a slow LE link).
- ``http_date_time_old``: HTTP ``set_date_time`` on a HERO9/HERO10, which the OpenAPI file
  does not list for them (x-supported-cameras: HERO11 Black and later) while its tzone/dst notes
  say "Not supported on Hero 10 Black, Hero 9 Black": ``"accept"`` (without tzone/dst) or
  ``"refuse"`` (404). Unverified: both are offered.

- Presets (issue 17): the camera is in one preset group, status 96 "Preset Group" (EnumPresetGroup
  1000 video, 1001 photo, 1002 time-lapse; the capture's 1000 at start) with status 89 "Flatmode"
  following it (12 video, 17 photo, 13 time-lapse video: EnumFlatMode). A shutter in the video
  group records (10 = 1); in the photo group it takes a ``GOPRnnnn.JPG`` and 10 stays 0; in the
  time-lapse group it records a time-lapse until stopped (10 = 1). Loading a group:
  ``/gopro/camera/presets/set_group?id=N`` (OpenAPI OGP_PRESET_SET_GROUP, HERO9+) or BLE
  ``04 3E 02 hi lo`` ("Presets: Load Group", answer ``02 3E 00``); status 8 Busy is 1 for
  ``preset_busy`` seconds after it ("System Busy flag is set while loading presets", OpenAPI
  "General Usage"). While capturing a load is refused (the OpenAPI file: "the camera will reject
  requests to change settings while encoding"; the answer's shape is unverified: HTTP 500 ``{}``,
  BLE result 1) unless the ``mode_while_recording`` switch is on (the capture stops, the group
  loads). Fault ``mode{group=1001}``: someone turned the camera to another group on its screen
  (default photo); any capture ends first.
- Fidelity to the OpenAPI file's per-operation ``x-supported-cameras``: ``/gopro/camera/info``
  answers on HERO12/HERO13 only (404 elsewhere, unverified), ``/gopro/camera/get_date_time``
  on HERO11+ (``{"date", "time", "tzone", "dst"}``), ``/gopro/camera/analytics/set_client_info``
  on all, ``/gopro/media/list`` (MediaList: ``n``, ``cre``, ``mod``, ``s`` as strings, ``ls``),
  ``/gopro/media/hilight/moment`` (HERO10+; 500 ``{}`` when not recording, as the file says),
  ``/gopro/camera/setting?setting=ID&option=N`` with the settings and options the file lists per
  model (a refusal is the file's 403Setting body).
  On USB a request without a Host header answers ``403`` ``text/plain`` "Error 403: Forbidden" /
  "Connection forbidden" and closes (reported on a HERO11 v02.01, gopro/OpenGoPro issue #305;
  switch ``usb_require_host``, on by default, off: any request is served). Switch
  ``busy_while_recording`` (status 8 = 1 all through a capture) as for the legacy camera.

Run it: ``python -m camrig.emulator.open_gopro --model hero12 --name bumper --control SOCK``.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import re
import socket
import socketserver
import threading
import time
from pathlib import Path
from typing import Any, cast

from camrig.cameras.open_gopro import protocol as p

from . import captures
from .legacy_gopro import LegacyGoPro, _ControlHandler, _ControlServer, _Handler, _HttpServer, run_until_signalled
from .legacy_gopro import build_parser as legacy_parser

log = logging.getLogger("camrig.emulator.open_gopro")

STATE_FIXTURE = captures.path(captures.OPEN_GOPRO_STATE)
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
#: BLE status value sizes in bytes (openapi State formats: int32ub, int64ub; enums one byte).
STATUS_BYTES = {13: 4, 35: 4, 54: 8, 57: 4, 60: 4, 96: 4, 97: 4}
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
CONNECT_ERRORS = {"enosys": "Function not implemented (38)", "busy": "Device or resource busy (16)",
                  "refused": "Connection refused (111)"}
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


class _BleSession:
    """One emulated BLE connection: the control-socket stream it lives on, its subscriptions,
    reassemblers and registered statuses."""

    def __init__(self, handler: _ControlHandler):
        self.handler = handler
        self.lock = threading.Lock()
        self.subscribed: set[str] = set()
        self.reassemblers: dict[str, p.Reassembler] = {}
        self.registered: set[int] = set()
        self.ready_at = 0.0          # monotonic time from which the camera's BLE is ready
        self.last_pushed: dict[int, int] = {}
        self.closed = False

    def send(self, obj: dict) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.handler.wfile.write((json.dumps(obj) + "\n").encode())
                self.handler.wfile.flush()
            except OSError:
                self.closed = True

    def notify(self, char: str, message: bytes) -> None:
        if char in self.subscribed:
            for packet in p.packetize(message, to_camera=False):
                self.send({"notify": char, "data": packet.hex()})

    def drop(self) -> None:
        """The camera ends the connection (sleep, reboot, ble_drop)."""
        with self.lock:
            self.closed = True
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _OgpControlHandler(_ControlHandler):
    """Control socket: request/response lines as for the legacy camera, or a BLE connection."""

    def handle(self) -> None:
        camera = cast("OpenGoPro", self.server.camera)      # an _OgpControlServer's camera
        for line in self.rfile:
            line = line.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be a JSON object")
                if request.get("op") == "ble_connect":
                    camera.ble_connection(self)
                    return
                answer = camera.control(request)
            except Exception as exc:  # noqa: BLE001 - the control socket reports, never dies
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                self.wfile.write((json.dumps(answer) + "\n").encode())
            except OSError:
                return


class _OgpControlServer(_ControlServer):
    def __init__(self, path: str, camera: OpenGoPro):
        self.camera = camera
        socketserver.ThreadingUnixStreamServer.__init__(self, path, _OgpControlHandler)


class OpenGoPro(LegacyGoPro):
    """One emulated Open GoPro camera. Arguments as :class:`LegacyGoPro`, plus ``model``
    (hero9…hero13), ``usb`` (wired control must be enabled first) and ``auto_sleep`` (seconds
    without keep-alive before auto power down; 0 = never). ``fixture`` defaults to the real
    ``/gopro/camera/state`` capture. BLE: ``ble_ready_delay`` seconds of not-ready after each
    connection, ``ble_unready`` "refuse" | "ignore" (what other messages get meanwhile),
    ``ble_connect_delay`` seconds to establish a connection; ``http_date_time_old`` "accept"
    | "refuse" for HTTP set_date_time on a HERO9/HERO10; ``preset_busy`` seconds of status 8
    Busy after a preset group load (module docstring)."""

    # Its constructor takes an OpenGoPro where the base class's takes any LegacyGoPro: only ever
    # built with self, so the narrower argument is safe here.
    _control_server_class = _OgpControlServer  # type: ignore[assignment]
    _gpcontrol_modes = False   # gpControl modes/errors are the legacy camera's; presets are here

    def __init__(self, name: str = "camera", *, model: str = "hero12", usb: bool = False,
                 auto_sleep: float = 0.0, fixture=STATE_FIXTURE, ble_ready_delay: float = 0.5,
                 ble_unready: str = "refuse", ble_connect_delay: float = 0.0,
                 http_date_time_old: str = "accept", preset_busy: float = 0.2, **kwargs: Any):
        if model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {model!r}")
        if ble_unready not in ("refuse", "ignore"):
            raise ValueError(f"ble_unready must be 'refuse' or 'ignore', got {ble_unready!r}")
        if http_date_time_old not in ("accept", "refuse"):
            raise ValueError(f"http_date_time_old must be 'accept' or 'refuse', got {http_date_time_old!r}")
        if usb and kwargs.get("start") == "wifi-off":
            kwargs["start"] = "asleep"     # on USB the link stays up whatever the AP does
        super().__init__(name, fixture=fixture, **kwargs)
        self.model = model
        self.usb = usb
        self.wired_usb = False
        self.auto_sleep = float(auto_sleep)
        self.camera_control = 0
        self.last_activity = time.monotonic()
        self.keep_alives = 0
        self._sessions: set[_BleSession] = set()
        self._faults.setdefault("ble_drop", False)
        self.ble_ready_delay = float(ble_ready_delay)
        self.ble_unready = ble_unready
        self.ble_connect_delay = float(ble_connect_delay)
        self.http_date_time_old = http_date_time_old
        self.preset_busy = max(0.0, float(preset_busy))
        self.preset_busy_until = 0.0
        group = self._base_status.get(S_PRESET_GROUP, p.PRESET_GROUP_VIDEO)
        self.preset_group = group if group in GROUP_CAPTURE else p.PRESET_GROUP_VIDEO
        self._faults.update(usb_require_host=True)
        self._tz: tuple[str | None, str | None] = (None, None)   # tzone, dst of the last HTTP set

    def __repr__(self) -> str:
        return (f"<OpenGoPro {self.model} {self.name} power={self.power} wifi={self.wifi} "
                f"recording={self.record_started_at is not None} ble={len(self._sessions)}>")

    # A camera on USB is reached over its USB-C network (NCM), whatever its Wi-Fi AP does: the
    # link follows power alone (ARP off while asleep, as on Wi-Fi), never the AP's state.

    def _apply_netdev(self) -> None:
        if not self.usb:
            super()._apply_netdev()
            return
        if not self.netdev:
            return
        with self._lock:
            power = self.power
        self._ip("arp", "on" if power == "on" else "off")
        self._ip("up")

    def _serving_http(self) -> bool:
        return self.power == "on" if self.usb else super()._serving_http()

    def _after_wifi_change(self) -> None:
        if not self.usb:
            super()._after_wifi_change()
            return
        if self.netdev:
            self._apply_netdev()
        elif not self._closing.is_set():
            self._open_http()

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenGoPro:
        super().start()
        self._spawn(self._housekeeping, "housekeeping")
        return self

    def _open_http(self) -> None:
        """One server: the whole Open GoPro HTTP API (media included) is on port 8080."""
        if self._http is not None:
            return
        self._http = _HttpServer((self.listen, self.port), _Handler, self, "gpcontrol")
        self.port = self._http.server_address[1]
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"{self.name}-http", daemon=True).start()

    def wake_on_lan(self, data: bytes, source: str = "?") -> bool:
        """Open GoPro cameras do not wake on LAN (DESIGN.md field facts): ignored, no event."""
        return False

    # --- state -------------------------------------------------------------------------------

    def _activity(self, what: str | None = None, t: float | None = None) -> None:
        """Reset the auto-power-down timer (hold the lock)."""
        self.last_activity = time.monotonic() if t is None else t
        if what == "keep_alive":
            self.keep_alives += 1

    def _go_asleep(self, cause: str, t: float) -> None:
        was_on = self.power == "on"
        super()._go_asleep(cause, t)
        if was_on:
            for s in list(self._sessions):
                s.drop()

    def _ap(self, on: bool, t: float) -> None:
        """Set AP Control: the access point only; the camera stays awake (unlike legacy Wi-Fi off)."""
        if on:
            self._wifi_on_later()
        elif self.wifi == "on":
            self.wifi = "off"
            self._wifi_gen += 1
            self._wifi_pending = False
            self._event("wifi_off", t, cause="ble ap off")

    def status_document(self) -> dict:
        doc = super().status_document()
        st = doc["status"]
        if self.model != "hero9":
            st[S_CAMERA_CONTROL] = self.camera_control
        with self._lock:
            doc["settings"].update(self._settings)
            st[S_PRESET_GROUP] = self.preset_group
            st[S_FLAT_MODE] = GROUP_FLAT_MODE[self.preset_group]
            if time.monotonic() < self.preset_busy_until:
                st["8"] = 1       # "System Busy flag is set while loading presets"
        return doc

    def _capture_kind_now(self) -> str:
        """What a shutter does in the current preset group (GROUP_CAPTURE)."""
        return GROUP_CAPTURE[self.preset_group]

    def _load_group(self, group: int, t: float, *, via: str) -> str:
        """Load preset group ``group`` (hold the lock): "ok", "invalid" (not 1000/1001/1002) or
        "capturing" (refused while encoding, unless the mode_while_recording switch)."""
        if group not in GROUP_CAPTURE:
            return "invalid"
        if self.record_started_at is not None:
            if not self._faults["mode_while_recording"]:
                self._event("preset_group_refused", t, group=group, via=via, cause="capturing")
                return "capturing"
            self._stop_recording("preset group change", t)
        self.preset_group = group
        self.preset_busy_until = t + self.preset_busy
        self._activity(None, t)     # "loads a Preset" resets the Auto Power Down timer
        self._event("preset_group", t, group=group, via=via)
        return "ok"

    def state(self) -> dict:
        out = super().state()
        with self._lock:
            out.update(mode=None, sub_mode=None, preset_group=self.preset_group,
                       flat_mode=GROUP_FLAT_MODE[self.preset_group])
            out.update(model=self.model, usb=self.usb, wired_usb=self.wired_usb,
                       camera_control=self.camera_control, keep_alives=self.keep_alives,
                       ble_connections=len(self._sessions), auto_sleep=self.auto_sleep)
        return out

    def fault(self, name: str, **kw: Any) -> dict:
        """Legacy faults and switches, plus ``ble_drop``, the ``usb_require_host`` switch and
        ``mode{group=1001}`` (preset-group semantics: the camera turned to that group on its
        screen, any capture ended first; default the photo group)."""
        if name in OGP_SWITCHES:
            with self._lock:
                self._faults[name] = bool(kw.get("on", True))
                self._event("fault", name=name, **kw)
            return {"ok": True}
        if name == "mode":
            group = int(kw.get("group", p.PRESET_GROUP_PHOTO))
            if group not in GROUP_CAPTURE:
                raise ValueError(f"preset group {group} is not one this camera has: {sorted(GROUP_CAPTURE)}")
            with self._lock:
                t = time.monotonic()
                self._stop_recording("mode knob", t)
                self.preset_group = group
                self._event("preset_group", t, group=group, via="buttons")
                self._event("fault", t, name=name, group=group)
            return {"ok": True}
        if name == "ble_drop":
            with self._lock:
                sessions = list(self._sessions)
                self._event("fault", name=name)
            for s in sessions:
                s.drop()
            return {"ok": True}
        answer = super().fault(name, **kw)
        if name == "reboot":
            for s in list(self._sessions):
                s.drop()
        return answer

    def _housekeeping(self) -> None:
        """Every 0.1 s: auto power down, and pushes of registered statuses that changed."""
        while not self._closing.wait(0.1):
            slept = False
            with self._lock:
                now = time.monotonic()
                if (self.auto_sleep > 0 and self.power == "on" and self.record_started_at is None
                        and now - self.last_activity > self.auto_sleep):
                    self._go_asleep("auto power down", now)
                    slept = True
                sessions = [s for s in self._sessions if s.registered]
            if slept:
                self._apply_netdev()
            if sessions:
                values = self.ble_status_values()
                for s in sessions:
                    changed = {i: values[i] for i in s.registered
                               if i in values and s.last_pushed.get(i) != values[i][0]}
                    if changed:
                        s.last_pushed.update({i: v[0] for i, v in changed.items()})
                        s.notify(p.QUERY_RESPONSE, p.query_response(p.PUSH_STATUS, changed))

    # --- HTTP --------------------------------------------------------------------------------

    def _route_gpcontrol(self, path: str, params: dict, post: list):
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
            if path == "/gopro/media/list":
                return 200, self.media_list()
            if path == "/gopro/media/hilight/moment":
                if self.model not in HILIGHT_MOMENT_MODELS:
                    return 404, None
                if self.record_started_at is None:
                    return 500, {}          # OpenAPI: 500 "Camera is not currently recording"
                self.hilights.append(t - self.record_started_at)
                self._event("hilight", t, via="http")
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
        self._clock_set = (when, t)
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

    # --- BLE ---------------------------------------------------------------------------------

    def ble_status_values(self, ids=None) -> dict[int, tuple[int, int]]:
        """Current integer statuses as ``{id: (value, byte length)}`` (string statuses left out)."""
        status = self.status_document()["status"]
        out = {}
        for key, value in status.items():
            sid = int(key)
            if (ids is None or sid in ids) and isinstance(value, int) and not isinstance(value, bool) and sid < 256:
                out[sid] = (value, STATUS_BYTES.get(sid, 1))
        return out

    def ble_connection(self, handler: _ControlHandler) -> None:
        """Serve one BLE connection on ``handler``'s stream until either side ends it."""
        session = _BleSession(handler)
        with self._lock:
            err = self._faults["ble_error"]
        if err == "hang":           # the LE connection never completes
            for _ in handler.rfile:
                pass
            return
        if err in CONNECT_ERRORS:
            session.send({"ok": False, "error": CONNECT_ERRORS[err]})
            return
        if self.ble_connect_delay > 0:
            time.sleep(self.ble_connect_delay)
        t = time.monotonic()
        with self._lock:
            if self.power != "on":
                self._boot("ble connect", t)     # connecting wakes a sleeping camera
            self._activity(None, t)
            self._event("ble_connect", t)
            session.ready_at = t + self.ble_ready_delay
            self._sessions.add(session)
        self._apply_netdev()
        session.send({"ok": True})
        try:
            for line in handler.rfile:
                if session.closed:
                    break
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                self._ble_request(session, req)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sessions.discard(session)
                self._event("ble_disconnect")

    def _ble_request(self, session: _BleSession, req: dict) -> None:
        seq, op, char = req.get("seq"), req.get("op"), str(req.get("char", "")).lower()
        if op == "ble_subscribe":
            session.subscribed.add(char)
            session.send({"ack": seq, "ok": True})
            return
        if op != "ble_write":
            session.send({"ack": seq, "ok": False, "error": f"unknown op {op!r}"})
            return
        with self._lock:
            err = self._faults["ble_error"]
        if err == "auth":
            session.send({"ack": seq, "ok": False, "error": "Insufficient Authentication"})
            return
        if char not in p.RESPONSE_OF:
            session.send({"ack": seq, "ok": False, "error": f"characteristic {char} not writable"})
            return
        try:
            message = session.reassemblers.setdefault(char, p.Reassembler(accept_ext16=False)).feed(
                bytes.fromhex(req["data"]))
        except (p.ProtocolError, ValueError, KeyError) as exc:
            session.send({"ack": seq, "ok": False, "error": f"bad packet: {exc}"})
            return
        post: list = []
        if message is not None:
            answer = self.ble_message(session, char, message, post)
            if answer is not None:
                session.notify(p.RESPONSE_OF[char], answer)
        session.send({"ack": seq, "ok": True})
        for fn in post:
            fn()

    def ble_message(self, session: _BleSession | None, char: str, message: bytes, post: list) -> bytes | None:
        """Execute one reassembled message written to ``char``; the answer message (or None)."""
        t = time.monotonic()
        mid = message[0]
        with self._lock:
            self._event("ble", t, char=char[4:8], message=message.hex())
            if session is not None and t < session.ready_at:
                return self._ble_not_ready(char, message, t)
            if char == p.COMMAND:
                if mid == p.CMD_GET_HARDWARE_INFO and len(message) == 1:
                    return self._hardware_info(p.RESULT_SUCCESS)
                if mid == p.FEATURE_COMMAND and message[1:2] == bytes([p.ACTION_SET_CAMERA_CONTROL]):
                    return self._set_camera_control(message[2:], t)
                if mid == p.CMD_AP_CONTROL and message[1:] in (b"\x01\x01", b"\x01\x00"):
                    self._ap(message[2] == 1, t)
                    post.append(self._after_wifi_change)
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_SHUTTER and message[1:] in (b"\x01\x01", b"\x01\x00"):
                    if self.power != "on":
                        return bytes([mid, p.RESULT_ERROR])
                    self._activity(None, t)
                    if message[2] == 1:
                        self._start_recording("ble", t)
                    else:
                        self._event("shutter_off", t, via="ble")
                        self._stop_recording("shutter", t)
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_LOAD_PRESET_GROUP and len(message) == 4 and message[1] == 2:
                    if self.power != "on":
                        return bytes([mid, p.RESULT_ERROR])
                    result = self._load_group(int.from_bytes(message[2:4], "big"), t, via="ble")
                    return bytes([mid, {"ok": p.RESULT_SUCCESS, "capturing": p.RESULT_ERROR}.get(
                        result, p.RESULT_INVALID)])
                if mid == p.CMD_SLEEP and len(message) == 1:
                    post.append(lambda: self._sleep_after_answer(t))
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_DATE_TIME and len(message) == 9 and message[1] == 7:
                    year = int.from_bytes(message[2:4], "big")
                    try:
                        when = datetime.datetime(year, *message[4:9])
                    except ValueError:
                        return bytes([mid, p.RESULT_INVALID])
                    self._clock_set = (when, t)
                    self._event("date_time", t, value=when.isoformat(), via="ble",
                                recording=self.record_started_at is not None)
                    return bytes([mid, p.RESULT_SUCCESS])
                return bytes([mid, p.RESULT_INVALID])
            if char == p.SETTINGS:
                if message == p.keep_alive():
                    self._activity("keep_alive", t)
                    self._event("keep_alive", t, via="ble")
                    return bytes([mid, p.RESULT_SUCCESS])
                return bytes([mid, p.RESULT_INVALID])
        # queries (outside the lock: status_document takes it)
        if mid in (p.QUERY_STATUS, p.QUERY_REGISTER_STATUS, p.QUERY_UNREGISTER_STATUS):
            ids = list(message[1:])
            values = self.ble_status_values(set(ids) if ids else None)
            if session is not None and mid == p.QUERY_REGISTER_STATUS:
                session.registered.update(ids)
                session.last_pushed.update({i: v[0] for i, v in values.items()})
            if session is not None and mid == p.QUERY_UNREGISTER_STATUS:
                session.registered.difference_update(ids)
                return bytes([mid, p.RESULT_SUCCESS])
            return p.query_response(mid, {i: values[i] for i in (ids or values) if i in values})
        return bytes([mid, p.RESULT_INVALID])

    def _hardware_info(self, result: int) -> bytes:
        """Get Hardware Info answer ("Query" → "Get Hardware Info"): ``3C [result]`` then model
        number (4 bytes, unverified width), model name, deprecated (empty), firmware, serial,
        AP SSID, AP MAC; not-ready answers carry no fields."""
        if result != p.RESULT_SUCCESS:
            return p.hardware_info_response(result)
        name, number = MODEL_INFO[self.model]
        return p.hardware_info_response(result, (
            int(number).to_bytes(4, "big"), name.encode(), b"", b"EMULATED", b"C3500000000000",
            str(self._base_status.get("30", "")).encode(), self.wifi_mac.replace(":", "").encode()))

    def _ble_not_ready(self, char: str, message: bytes, t: float) -> bytes | None:
        """A message during the not-ready window after a connection (hold the lock)."""
        mid = message[0]
        if char == p.COMMAND and mid == p.CMD_GET_HARDWARE_INFO:
            self._event("ble_not_ready", t, message=message.hex())
            return self._hardware_info(2)
        self._event("ble_refused_not_ready", t, char=char[4:8], message=message.hex(), how=self.ble_unready)
        if self.ble_unready == "ignore":
            return None
        if mid == p.FEATURE_COMMAND and len(message) >= 2:
            return p.generic_response(6, message[1] | 0x80)   # RESULT_RESOURCE_NOT_AVAILABLE
        return bytes([mid, p.RESULT_ERROR])

    def _set_camera_control(self, payload: bytes, t: float) -> bytes:
        """Set Camera Control (Protobuf F1 69): status 114 := camera_control_status; answer
        ``F1 E9`` ResponseGeneric. HERO9 is not listed for it: RESULT_NOT_SUPPORTED (unverified)."""
        if self.model == "hero9":
            return p.generic_response(p.PB_RESULT_NOT_SUPPORTED)
        try:
            value = p.parse_protobuf_varints(payload).get(1)
        except p.ProtocolError:
            return p.generic_response(2)                 # RESULT_ILL_FORMED
        if value not in (0, 2):                          # 1 and 3 are set by the camera only
            return p.generic_response(5)                 # RESULT_ARGUMENT_INVALID
        self.camera_control = value
        self._activity(None, t)
        self._event("camera_control", t, value=value, via="ble")
        return p.generic_response(p.PB_RESULT_SUCCESS)

    def _sleep_after_answer(self, t: float) -> None:
        with self._lock:
            self._go_asleep("ble sleep", t)
        self._apply_netdev()

    def control(self, request: dict) -> dict:
        if request.get("op") == "ble_message":
            # One message through the GATT logic without a connection (tests): {"char", "message": hex}.
            answer = self.ble_message(None, str(request["char"]).lower(), bytes.fromhex(request["message"]), [])
            return {"ok": True, "answer": answer.hex() if answer is not None else None}
        return super().control(request)


def build_parser():
    parser = legacy_parser()
    parser.prog = "python -m camrig.emulator.open_gopro"
    parser.description = "Emulated Open GoPro camera (HERO9-13) for the test rig."
    parser.set_defaults(port=8080, fixture=str(STATE_FIXTURE))
    parser.add_argument("--model", choices=MODELS, default="hero12")
    parser.add_argument("--usb", action="store_true", help="camera on USB: wired control must be enabled first")
    parser.add_argument("--auto-sleep", type=float, default=0.0,
                        help="seconds without keep-alive before auto power down (0 = never)")
    parser.add_argument("--ble-ready-delay", type=float, default=0.5,
                        help="seconds after a BLE connection during which Get Hardware Info answers not ready")
    parser.add_argument("--ble-unready", choices=("refuse", "ignore"), default="refuse",
                        help="what other BLE messages get before readiness (the spec does not say)")
    parser.add_argument("--ble-connect-delay", type=float, default=0.0,
                        help="seconds to establish a BLE connection")
    parser.add_argument("--http-date-time-old", choices=("accept", "refuse"), default="accept",
                        help="HTTP set_date_time on a HERO9/HERO10 (not listed in the OpenAPI file)")
    parser.add_argument("--preset-busy", type=float, default=0.2,
                        help="seconds of status 8 busy after a preset group load")
    parser.add_argument("--allow-no-host", action="store_true",
                        help="on USB, serve requests without a Host header (default: 403, issue #305)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cam = OpenGoPro(args.name, model=args.model, usb=args.usb, auto_sleep=args.auto_sleep,
                    ble_ready_delay=args.ble_ready_delay, ble_unready=args.ble_unready,
                    ble_connect_delay=args.ble_connect_delay, http_date_time_old=args.http_date_time_old,
                    preset_busy=args.preset_busy,
                    control_path=args.control, listen=args.listen, port=args.port,
                    media_port=args.media_port, wol_port=args.wol_port, wifi_mac=args.wifi_mac,
                    bt_mac=args.bt_mac, fixture=args.fixture, delay_ms=args.delay_ms, netdev=args.netdev,
                    association_delay=args.association_delay, boot_delay=args.boot_delay, start=args.start)
    if args.allow_no_host:
        cam.fault("usb_require_host", on=False)
    return run_until_signalled(cam)


if __name__ == "__main__":
    raise SystemExit(main())
