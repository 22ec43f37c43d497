"""Emulated Open GoPro camera (HERO9–13): HTTP API 2.0 on port 8080 and the BLE GATT protocol.

The camera body (:mod:`.body`: the same power and Wi-Fi model, control socket, faults and event
log as the HERO5–8 emulator) with the Open GoPro front-ends (:mod:`.ogp_http`, :mod:`.ogp_ble`),
the BLE command bytes both families share (:mod:`.legacy_ble`) and the media front-end
(:mod:`.media`); the Open GoPro differences:

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

import argparse
import logging
import threading
import time
from typing import Any

from camrig.cameras.open_gopro import protocol as p

from . import captures
from .body import CameraBody, _Handler, _HttpServer, body_kwargs, common_parser, run_until_signalled, seed_from_args
from .legacy_ble import LegacyBleFront
from .media import MediaFront
from .ogp_ble import CONNECT_ERRORS, STATUS_BYTES, OpenGoProBleFront, _BleSession  # noqa: F401 - re-exported
from .ogp_http import (  # noqa: F401 - re-exported
    GET_DATE_TIME_MODELS,
    HILIGHT_MOMENT_MODELS,
    HOST_403_BODY,
    INFO_MODELS,
    MODEL_INFO,
    MODELS,
    OGP_SWITCHES,
    OPENAPI,
    S_CAMERA_CONTROL,
    S_FLAT_MODE,
    S_PRESET_GROUP,
    OpenGoProHttpFront,
    settings_for,
    settings_for_all_options,
)

log = logging.getLogger("camrig.emulator.open_gopro")

STATE_FIXTURE = captures.path(captures.OPEN_GOPRO_STATE)
#: The flat mode each preset group's default preset is in (EnumFlatMode), and what a shutter
#: does in it (the body's capture kinds).
GROUP_FLAT_MODE = {p.PRESET_GROUP_VIDEO: 12, p.PRESET_GROUP_PHOTO: 17, p.PRESET_GROUP_TIMELAPSE: 13}
GROUP_CAPTURE = {p.PRESET_GROUP_VIDEO: "video", p.PRESET_GROUP_PHOTO: "photo",
                 p.PRESET_GROUP_TIMELAPSE: "timelapse_video"}

class OpenGoPro(OpenGoProHttpFront, OpenGoProBleFront, LegacyBleFront, MediaFront, CameraBody):
    """One emulated Open GoPro camera. Arguments as :class:`~.body.CameraBody`, plus ``model``
    (hero9…hero13), ``usb`` (wired control must be enabled first) and ``auto_sleep`` (seconds
    without keep-alive before auto power down; 0 = never). ``fixture`` defaults to the real
    ``/gopro/camera/state`` capture. BLE: ``ble_ready_delay`` seconds of not-ready after each
    connection, ``ble_unready`` "refuse" | "ignore" (what other messages get meanwhile),
    ``ble_connect_delay`` seconds to establish a connection; ``http_date_time_old`` "accept"
    | "refuse" for HTTP set_date_time on a HERO9/HERO10; ``preset_busy`` seconds of status 8
    Busy after a preset group load (module docstring)."""

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
        kwargs.setdefault("media_model", model)
        CameraBody.__init__(self, name, fixture=fixture, **kwargs)
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

    def __enter__(self) -> OpenGoPro:
        return self.start()

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
        CameraBody.start(self)
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

    def _serves_files(self, role: str) -> bool:
        """The whole Open GoPro HTTP API, files included, is on the one server (port 8080)."""
        return True

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

    def _status_fronts(self, st: dict, settings: dict) -> None:
        """Status 114 camera control (HERO10+), 96 preset group, 89 flat mode, 8 busy while a
        preset group loads; the settings changed over HTTP (hold _lock)."""
        if self.model != "hero9":
            st[S_CAMERA_CONTROL] = self.camera_control
        settings.update(self._settings)
        st[S_PRESET_GROUP] = self.preset_group
        st[S_FLAT_MODE] = GROUP_FLAT_MODE[self.preset_group]
        if time.monotonic() < self.preset_busy_until:
            st["8"] = 1       # "System Busy flag is set while loading presets"

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

    def _state_fronts(self, out: dict) -> None:
        out.update(mode=None, sub_mode=None, preset_group=self.preset_group,
                   flat_mode=GROUP_FLAT_MODE[self.preset_group])
        out.update(model=self.model, usb=self.usb, wired_usb=self.wired_usb,
                   camera_control=self.camera_control, keep_alives=self.keep_alives,
                   ble_connections=len(self._sessions), auto_sleep=self.auto_sleep)

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


def build_parser():
    """``python -m camrig.emulator.open_gopro`` options: the body's and the Open GoPro front-ends'."""
    parser = common_parser("python -m camrig.emulator.open_gopro",
                           "Emulated Open GoPro camera (HERO9-13) for the test rig.")
    parser.set_defaults(port=8080, fixture=str(STATE_FIXTURE))
    # Accepted as before the body/front-end split (the old parser was the HERO5-8 one); a HERO9-13
    # has no gpControl capability JSON nor live-preview keep-alive here, so both are ignored.
    parser.add_argument("--stream-port", type=int, default=8554, help=argparse.SUPPRESS)
    parser.add_argument("--capabilities", default=None, help=argparse.SUPPRESS)
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
                    preset_busy=args.preset_busy, **body_kwargs(args))
    seed_from_args(cam, args)
    if args.allow_no_host:
        cam.fault("usb_require_host", on=False)
    return run_until_signalled(cam)


if __name__ == "__main__":
    raise SystemExit(main())

