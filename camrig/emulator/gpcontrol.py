"""The gpControl front-end (GoPro HERO5–8) on the emulated body: HTTP on port 80.

Sources of the protocol facts (each is cited again where it is used):

- ``captures/HERO5Black_HD5.02.02.00.00_status_idle.json``: the real ``/gp/gpControl/status`` of
  an idle HERO5 Black; every answer starts from a copy of it, so keys and value types are the
  camera's own (the body keeps its live ids).
- ``captures/HERO7Black_gpControl.json``: names of the status ids (10 encoding_active, 33
  sd_status, 82 system_ready, ...), the command URLs, the modes and sub-modes, the settings and
  their options, and the ``info`` block. Served as ``/gp/gpControl`` by default, so the emulated
  camera is a HERO7 Black in every answer (KonradIT/goprowifihack HERO7/HERO7-Commands.md gives the
  very status capture above as its "Sample /status" of a HERO7).
- ``shared/DESIGN.md`` "Field facts" and KonradIT/goprowifihack notes: URLs, date_time encoding,
  Wake-on-LAN, the "start too early jams the SD card" quirk.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import captures
from .body import S_MODE, S_SUB_MODE

if TYPE_CHECKING:
    from .body import CameraBody

    _Base = CameraBody
else:
    _Base = object

log = logging.getLogger("camrig.emulator.gpcontrol")

DEFAULT_CAPABILITIES = captures.path(captures.HERO7_CAPABILITIES)
STREAM_KEEP_ALIVE = b"_GPHD_:"   # live-preview keep-alive datagram prefix (UDP 8554; goprocam KeepAlive)

# Modes and sub-modes (status 43/44) a camera without a capability JSON offers: KonradIT/goprowifihack
# HERO5/HERO5-Commands.md "Secondary modes" (video 0-3, photo 0-2, multishot 0-2).
DEFAULT_SUB_MODES = {0: (0, 1, 2, 3), 1: (0, 1, 2), 2: (0, 1, 2)}
# What a shutter does in each (mode, sub_mode) (HERO7Black_gpControl.json mode names; goprowifihack
# HERO7-Commands.md: "Stop (Video/Timelapse): shutter?p=0"): video records until stopped; a
# time-lapse (video or photo) captures until stopped; photo and burst take their photos at once.
CAPTURE_KIND = {(0, 0): "video", (0, 1): "timelapse_video", (0, 2): "video", (0, 3): "video",
                (0, 4): "timelapse_video", (1, 0): "photo", (1, 1): "photo", (1, 2): "photo",
                (2, 0): "photo", (2, 1): "timelapse_photo", (2, 2): "timelapse_photo"}

def decode_date_time(raw: str, *, lenient: bool = False) -> datetime.datetime:
    """gpControl ``%YY%MM%DD%hh%mm%ss`` (raw query text, not URL-decoded) → naive ``datetime``.

    Accepts the whole parameter URL-encoded once more (every ``%`` as ``%25``) too; only that exact
    30-character form is decoded, since ``%25`` is also a valid field (0x25 = 37 s). ``lenient``
    also accepts one hex digit per field (``%18%b%1d%9%5%7``, as goprocam's syncTime sends; whether
    a camera does is unverified). Raises ValueError on anything else (and on an impossible date).
    """
    text = raw.replace("%25", "%") if re.fullmatch(r"(?:%25[0-9A-Fa-f]{2}){6}", raw) else raw
    parts = text.split("%")
    field = r"[0-9A-Fa-f]{1,2}" if lenient else r"[0-9A-Fa-f]{2}"
    if len(parts) != 7 or parts[0] != "" or not all(re.fullmatch(field, p) for p in parts[1:]):
        raise ValueError(f"date_time parameter not %YY%MM%DD%hh%mm%ss: {raw!r}")
    yy, mo, dd, hh, mi, ss = (int(p, 16) for p in parts[1:])
    return datetime.datetime(2000 + yy, mo, dd, hh, mi, ss)


def error_record(path: str, query: str, *, firmware: str) -> dict:
    """The JSON body a gpControl camera sends with HTTP 500 (reported, KonradIT/goprowifihack
    issue 167 from a HERO5 and gopro/OpenGoPro issue 169 from a HERO8)::

        {"version": "6.00", "path_info": "command/setup/date_time", "query_string": "p=...",
         "error_code": -3, "error_msg": "500 Internal Server Error",
         "function": "gpcontrol_cgi_handler", "line": 190}

    HERO5 firmware (HD5…) said version "5.00", error_code -1, line 186; HERO7/HERO8 "6.00", -3,
    190. ``path`` is the request path, ``query`` its raw query string.
    """
    hero5 = firmware.startswith("HD5")
    return {"version": "5.00" if hero5 else "6.00",
            "path_info": path.removeprefix("/gp/gpControl/"),
            "query_string": query,
            "error_code": -1 if hero5 else -3,
            "error_msg": "500 Internal Server Error",
            "function": "gpcontrol_cgi_handler",
            "line": 186 if hero5 else 190}


def _info_from_capabilities(caps: dict, status: dict, wifi_mac: str) -> dict:
    """``/gp/gpControl/info`` body of the camera the capability JSON describes: its own ``info``
    block (HERO7Black_gpControl.json: model_name "HERO7 Black", model_number 30, firmware
    HD7.01.01.49.17), with what the capture redacted filled in: serial "EMULATED", ap_mac the
    emulator's Wi-Fi MAC (hex, no colons), ap_ssid status 30 of the status capture."""
    info = dict(caps.get("info") or {})
    info.update(serial_number="EMULATED", ap_mac=wifi_mac.replace(":", ""),
                ap_ssid=str(status.get("30", "")))
    return {"info": info}


def _modes_from_capabilities(caps: dict | None) -> tuple[dict[int, tuple[int, ...]], dict[int, str]]:
    """({mode: allowed sub-modes}, {mode: id of its current_sub_mode setting}) from the
    capability JSON's ``modes`` (each mode's ``current_sub_mode`` setting options), or the
    HERO5 lists (DEFAULT_SUB_MODES; no setting ids) without one."""
    if not caps:
        return dict(DEFAULT_SUB_MODES), {}
    subs: dict[int, tuple[int, ...]] = {}
    ids: dict[int, str] = {}
    for m in caps.get("modes", []):
        for setting in m.get("settings", []):
            if setting.get("path_segment") == "current_sub_mode":
                subs[int(m["value"])] = tuple(int(o["value"]) for o in setting["options"])
                ids[int(m["value"])] = str(setting["id"])
    return subs, ids


def _settings_from_capabilities(caps: dict | None) -> dict[str, set[int]] | None:
    """{setting id: allowed option values} from every mode's settings in the capability JSON;
    None without one (then any setting the status capture has is accepted)."""
    if not caps:
        return None
    out: dict[str, set[int]] = {}
    for m in caps.get("modes", []):
        for setting in m.get("settings", []):
            out.setdefault(str(setting["id"]), set()).update(int(o["value"]) for o in setting.get("options", []))
    return out


def _info_from_fixture(path: Path, status: dict) -> dict:
    """``/gp/gpControl/info`` body for the camera the status capture came from (no capability JSON).

    Shape copied from the ``info`` block of HERO7Black_gpControl.json (all values strings except
    model_number); model and firmware are read from the capture's file name (MODEL_FIRMWARE_what),
    the SSID from status 30 (ap_ssid) of the capture.
    """
    parts = path.stem.split("_")
    model = re.sub(r"(HERO\d+)(\w*)", lambda m: m.group(1) + (" " + m.group(2) if m.group(2) else ""),
                   parts[0]) if parts else "HERO"
    firmware = parts[1] if len(parts) > 1 else ""
    return {"info": {
        "model_name": model,
        "firmware_version": firmware,
        "serial_number": "EMULATED",
        "board_type": "0x05",
        "ap_mac": "",
        "ap_ssid": str(status.get("30", "")),
        "ap_has_default_credentials": "0",
        "capabilities": "16",
    }}



class GpControlFront(_Base):
    """gpControl over HTTP on the body's main server (mixin on :class:`~.body.CameraBody`):
    ``/gp/gpControl`` (capabilities), ``/status``, ``/info``, commands (shutter, locate, sleep,
    tag_moment HiLight, date_time, mode, sub_mode), settings, and the HERO5–8 mode model
    (status 43/44: what a shutter captures). Call :meth:`_init_gpcontrol` after the body's
    ``__init__``."""

    def _init_gpcontrol(self, capabilities: str | None) -> None:
        """Read the capability JSON (None: a HERO5 named by the status capture's file name, and
        ``/gp/gpControl`` answers 404). FileNotFoundError naming the camera when unreadable."""
        caps: dict | None = None
        if capabilities:
            try:
                caps = json.loads(Path(capabilities).read_text())
            except (OSError, ValueError) as exc:
                raise FileNotFoundError(f"{self.name}: capability JSON {capabilities} not readable: {exc}") from exc
        if caps is not None:
            # One model in every answer: /gp/gpControl/info and the info block of /gp/gpControl.
            self._info = _info_from_capabilities(caps, self._base_status, self.wifi_mac)
            caps["info"] = self._info["info"]
            self._capabilities: bytes | None = json.dumps(caps, separators=(",", ":")).encode()
        else:
            self._info = _info_from_fixture(self.fixture_path, self._base_status)
            self._capabilities = None
        self.firmware = str(self._info["info"].get("firmware_version", ""))
        self._sub_modes, self._sub_mode_setting = _modes_from_capabilities(caps)
        self._setting_options = _settings_from_capabilities(caps)

    # --- body hooks ----------------------------------------------------------------------------

    def _start_fronts(self) -> None:
        """Bind the live-preview keep-alive listener (UDP ``stream_port``; losing it loses only that)."""
        self._stream_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stream_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._stream_sock.bind((self.listen, self._want_stream_port))
        except OSError as exc:    # only the preview keep-alive is lost: the camera still works
            log.warning("%s: live-preview keep-alive port %s not bound: %s", self.name,
                        self._want_stream_port, exc)
            self._stream_sock.close()
            self._stream_sock = None
        if self._stream_sock is not None:
            self._stream_sock.settimeout(0.1)
            self.stream_port = self._stream_sock.getsockname()[1]
            self._spawn(self._stream_loop, "stream")

    def _capture_kind_now(self) -> str:
        """What a shutter does in the current mode (CAPTURE_KIND; other modes: nothing)."""
        return CAPTURE_KIND.get((self.mode, self.sub_mode), "none")

    def _status_fronts(self, status: dict, settings: dict) -> None:
        status[S_MODE], status[S_SUB_MODE] = self.mode, self.sub_mode
        settings.update(self._settings)

    def _state_fronts(self, out: dict) -> None:
        out.update(mode=self.mode, sub_mode=self.sub_mode, model=self._info["info"].get("model_name"))

    def _error_body(self, path: str, query: str) -> dict | None:
        return error_record(path, query, firmware=self.firmware)

    def fault(self, name: str, **kw: Any) -> dict:
        """``mode{mode=1, sub_mode=0}``: someone turned the mode knob (default photo); any capture
        ends first, as on the camera, whose buttons change mode only when it is not capturing.
        Every other fault: the body's."""
        if name != "mode":
            return super().fault(name, **kw)
        t = time.monotonic()
        mode, sub = int(kw.get("mode", 1)), int(kw.get("sub_mode", 0))
        with self._lock:
            if sub not in self._sub_modes.get(mode, ()):
                raise ValueError(f"mode {mode}/{sub} is not one this camera has: {self._sub_modes}")
            self._stop_recording("mode knob", t)
            self._set_mode(mode, sub, t, via="buttons")
            self._event("fault", t, name=name, **kw)
        return {"ok": True}

    def _route_http(self, path: str, params: dict, post: list):
        """Return (http code, body dict | bytes | None). Commands answer ``{}`` like the camera;
        a refused command (bad parameter, unknown command or setting, a mode change while
        capturing) answers HTTP 500 with the camera's JSON error record (body None here: the
        caller fills in :func:`error_record`). Paths outside ``/gp/`` answer an empty 404.

        ``/gp/gpMediaList`` is answered here (port 80) too, not only on the media port :8080
        (goprowifihack HERO5/Mediabrowsing.md): goprowifihack HERO9/Livestreaming.md gives it at
        ``http://10.5.5.9/gp/gpMediaList``, the HERO5 notes ask port 80 for ``gpMediaMetadata``,
        and goprocam 4.2 lists media of every gpControl camera on port 80 (reported).
        """
        if path == "/gp/gpMediaList":
            return self._route_media(path)
        if not path.startswith("/gp/gpControl"):
            return 404, None
        with self._lock:
            if self._faults["http_500"]:
                return 500, None
        if path == "/gp/gpControl":
            return (200, self._capabilities) if self._capabilities is not None else (404, None)
        if path == "/gp/gpControl/status":
            return 200, self.status_document()
        if path == "/gp/gpControl/info":
            return 200, self._info
        p = params.get("p")
        t = time.monotonic()
        with self._lock:
            if path == "/gp/gpControl/command/shutter":
                if p == "1":
                    self._start_recording("http", t)
                elif p == "0":
                    self._event("shutter_off", t, via="http")
                    self._stop_recording("shutter", t)
                else:
                    return 500, None
                return 200, {}
            if path == "/gp/gpControl/command/system/locate":
                if p not in ("0", "1"):
                    return 500, None
                self.locate = p == "1"
                return 200, {}
            if path == "/gp/gpControl/command/system/sleep":
                self._go_asleep("http sleep", t)
                # ARP off only after the answer has left (NOARP flushes the neighbour table).
                post.append(self._apply_netdev)
                return 200, {}
            if path == "/gp/gpControl/command/storage/tag_moment":
                # GPCAMERA_TAG_MOMENT (HERO7Black_gpControl.json commands): 200 {} whether or not a
                # recording runs; only a recording keeps it (status 58 num_hilights). Unverified
                # what a camera answers when not recording.
                self._hilight("http", t)
                return 200, {}
            media = self._media_command(path, params, t)
            if media is not None:
                return media
            if path == "/gp/gpControl/command/setup/date_time":
                try:
                    when = decode_date_time(p or "", lenient=self._faults["lenient_date_time"])
                except ValueError:
                    return 500, None
                self._set_clock(when, t)
                # recording: whether a file was open when the clock changed (tests assert it never is).
                self._event("date_time", t, value=when.isoformat(),
                            recording=self.record_started_at is not None)
                return 200, {}
            if path in ("/gp/gpControl/command/mode", "/gp/gpControl/command/sub_mode"):
                return self._set_mode_http(path, params, t)
            if path.startswith("/gp/gpControl/setting/"):
                return self._setting_http(path, t)
        return (500, None) if path.startswith("/gp/gpControl/command/") else (404, None)

    def _set_mode_http(self, path: str, params: dict, t: float):
        """``command/mode?p=M`` (mode M, in the sub-mode it was last in) and
        ``command/sub_mode?mode=M&sub_mode=S`` (HERO7Black_gpControl.json GPCAMERA_MODE and
        GPCAMERA_SUBMODE; parameters from goprowifihack HERO5/HERO7 command lists). Hold the lock."""
        try:
            if path.endswith("/sub_mode"):
                mode, sub = int(params.get("mode", "")), int(params.get("sub_mode", ""))
            else:
                mode = int(params.get("p", ""))
                sub = self._remembered_sub_mode(mode)
        except ValueError:
            return 500, None
        if sub not in self._sub_modes.get(mode, ()):
            return 500, None
        if self.record_started_at is not None:
            if not self._faults["mode_while_recording"]:
                self._event("mode_refused", t, mode=mode, sub_mode=sub, cause="capturing")
                return 500, None
            self._stop_recording("mode change", t)
        self._set_mode(mode, sub, t, via="http")
        return 200, {}

    def _remembered_sub_mode(self, mode: int) -> int:
        """The sub-mode ``mode`` was last in: its current_sub_mode setting (68 video, 69 photo, 70
        multishot in HERO7Black_gpControl.json), else its first option."""
        sid = self._sub_mode_setting.get(mode)
        if sid is not None:
            value = self._settings.get(sid, self._base_settings.get(sid))
            if isinstance(value, int) and value in self._sub_modes.get(mode, ()):
                return value
        options = self._sub_modes.get(mode, (0,))
        return options[0] if options else 0

    def _set_mode(self, mode: int, sub: int, t: float, *, via: str) -> None:
        """Hold the lock. The mode's current_sub_mode setting follows (it is what ``mode?p=`` restores)."""
        self.mode, self.sub_mode = mode, sub
        sid = self._sub_mode_setting.get(mode)
        if sid is not None:
            self._settings[sid] = sub
        self._event("mode", t, mode=mode, sub_mode=sub, via=via)

    def _setting_http(self, path: str, t: float):
        """``/gp/gpControl/setting/ID/VALUE``: accepted (200 ``{}``) when the capability JSON lists
        the option for that setting (without one: when the status capture has the setting), else
        HTTP 500. Hold the lock."""
        parts = path.removeprefix("/gp/gpControl/setting/").split("/")
        if len(parts) != 2 or not all(re.fullmatch(r"\d{1,9}", x) for x in parts):
            return 500, None
        sid, value = parts[0], int(parts[1])
        if self._setting_options is None:
            if sid not in self._base_settings:
                return 500, None
        elif value not in self._setting_options.get(sid, ()):
            return 500, None
        self._settings[sid] = value
        self._event("setting", t, id=int(sid), value=value)
        return 200, {}


    def _stream_loop(self) -> None:
        """UDP live-preview keep-alive (``_GPHD_:0:0:2:0.000000``, port 8554: goprocam KeepAlive,
        goprowifihack HERO4 Livestreaming.md): recorded as ``stream_keep_alive`` events while the
        camera is on. No preview is streamed; whether it keeps a camera's Wi-Fi up is unverified,
        so it does not count as a request for the idle timer."""
        def handle(data: bytes, source: str) -> None:
            if data.startswith(STREAM_KEEP_ALIVE):
                with self._lock:
                    if self.power == "on" and self.wifi == "on":
                        self._event("stream_keep_alive", source=source,
                                    payload=data.decode("ascii", "replace").strip())

        self._udp_loop(self._stream_sock, handle)

