"""The emulated camera's body, shared by every emulated GoPro: the protocol front-ends sit on it.

A body is one camera's state and servers: power (on / asleep), Wi-Fi/AP (on / off, association
delay, idle Wi-Fi-off), boot and system_ready, recording (what a shutter captures is the
front-end's mode model), storage (status 33 sd_status, remaining space and video time), battery,
the camera clock, the media store (:mod:`.media`), HiLights, the event log, faults and switches,
an HTTP server (two on a HERO5–8: gpControl :80 and media :8080), a Wake-on-LAN listener and an
AF_UNIX control socket (one JSON object per line each way; docs/contracts.md "Emulated legacy
GoPro"). Front-ends (mixins on :class:`CameraBody`):

- :mod:`.gpcontrol`: HERO5–8 gpControl HTTP (modes, settings, live preview keep-alive);
- :mod:`.legacy_ble`: the BLE command bytes on GP-0072 (``03 17 01 01`` ...), through the
  control socket's ``ble`` op (the stand-in gatttool);
- :mod:`.ogp_http` and :mod:`.ogp_ble`: the Open GoPro HTTP API and BLE GATT sessions;
- :mod:`.media`: media lists and files, Range, rate cap, transfer faults, delete.

Sources are cited where each behaviour is written. The status ids the body keeps live are the
ones both GoPro APIs share (names from ``captures/HERO7Black_gpControl.json``; the Open GoPro
OpenAPI "State" lists the same numbers). Clock: every event time is ``time.monotonic()``
("Clocks" in the contracts): one clock for the whole machine, across network namespaces.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import http.server
import json
import logging
import os
import re
import signal
import socket
import socketserver
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import captures
from .httpserver import TrackedHttpServer
from .media import DEFAULT_RECORD_BYTES, THM_BYTES, MediaStore, TokenBucket, parse_rate, parse_size

log = logging.getLogger("camrig.emulator")


# Byte-for-byte copies of shared/fixtures, shipped in the package (captures/README.md).
FIXTURES_DIR = captures.DIR
DEFAULT_FIXTURE = captures.path(captures.HERO5_STATUS_IDLE)
DEFAULT_EMU_DIR = "/run/gopro-emu"

EVENTS_KEPT = 1000           # the event list keeps the last this many events
HOLD_ASLEEP_S = 60.0         # a connection to a sleeping camera is held (never answered) at most this long
MAX_REQUEST_LINE = 8192

# Status ids used live (names as in HERO7Black_gpControl.json, "status" groups).
S_BATTERY_PERCENT = "70"     # internal_battery_percentage
S_SYSTEM_BUSY = "8"          # system_busy
S_ENCODING = "10"            # encoding_active (= recording)
S_PROGRESS = "13"            # video_progress_counter, seconds
S_APP_COUNT = "31"           # app_count
S_SD = "33"                  # sd_status: 0 ok, 2 no card, 3 error (DESIGN.md field facts)
S_REMAINING_VIDEO = "35"     # remaining_video_time, seconds
S_NUM_GROUP_PHOTOS = "36"    # num_group_photos
S_NUM_TOTAL_PHOTOS = "38"    # num_total_photos
S_NUM_GROUP_VIDEOS = "37"    # num_group_videos
S_NUM_TOTAL_VIDEOS = "39"    # num_total_videos
S_DATE_TIME = "40"           # date_time, same %YY%MM%DD%hh%mm%ss form as the setter
S_MODE = "43"                # mode: 0 video, 1 photo, 2 multishot (capabilities "modes" values)
S_SUB_MODE = "44"            # sub_mode: the mode's current_sub_mode option
S_LOCATE = "45"              # camera_locate_active
S_REMAINING_SPACE = "54"     # remaining_space, KB
S_CURRENT_TIME_MSEC = "57"   # current_time_msec (ms since the camera booted)
S_NUM_HILIGHTS = "58"        # num_hilights
S_LAST_HILIGHT_MSEC = "59"   # last_hilight_time_msec
S_NEXT_POLL = "60"           # next_poll_msec
S_SYSTEM_READY = "82"        # system_ready

SD_OK, SD_NO_CARD, SD_ERROR = 0, 2, 3

BLE_ERRORS = ("enosys", "busy", "auth", "refused", "hang", "encrypt", "drop", "refuse")
# Idle Wi-Fi-off policies (--idle-wifi-off-policy). "ignore-requests" is what HERO5 users report:
# the AP goes off ~10 min after it came up whatever is polled over HTTP (goprowifihack #101, #105);
# re-sending BLE Wi-Fi-on restarts the time (#101, 2018-07-01). "requests-reset" (every HTTP
# request restarts it) is unverified: no source reports it.
IDLE_POLICIES = ("ignore-requests", "requests-reset")
TOGGLE_FAULTS = ("http_500", "bad_json", "truncated_json", "oversized_json", "no_key_10", "ignore_wol",
                 "no_range", "hostile_list")
#: Behaviour switches (on/off through ``fault(name, on=...)``) where the sources are silent or
#: cameras differ (docs/models.md "Camera modes, presets and emulator fidelity"):
#: busy_while_recording — status 8 system_busy 1 all through a capture (a real camera may stay busy);
#: lenient_date_time — setup/date_time accepts one hex digit per field (goprocam's syncTime sends them);
#: mode_while_recording — a mode change while capturing is obeyed (the capture stops) instead of refused.
SWITCHES = ("busy_while_recording", "lenient_date_time", "mode_while_recording")
OVERSIZED_BYTES = 1_100_000  # "> 1 MB" body for the oversized_json fault

def normalize_mac(mac: str) -> str:
    """``'AA-bb:cc..'`` → ``'aa:bb:cc:dd:ee:ff'``; raises ValueError unless 6 hex octets."""
    hexdigits = re.sub(r"[^0-9a-fA-F]", "", mac)
    if len(hexdigits) != 12 or len(re.sub(r"[0-9a-fA-F:.-]", "", mac)) != 0:
        raise ValueError(f"not a MAC address: {mac!r}")
    return ":".join(hexdigits[i:i + 2] for i in range(0, 12, 2)).lower()


def ble_socket_path(bt_mac: str, emu_dir: str | None = None) -> str:
    """Where the stand-in gatttool looks for camera ``bt_mac``: ``$GOPRO_EMU_DIR/aabbccddeeff.sock``."""
    emu_dir = emu_dir or os.environ.get("GOPRO_EMU_DIR") or DEFAULT_EMU_DIR
    return os.path.join(emu_dir, normalize_mac(bt_mac).replace(":", "") + ".sock")


def encode_date_time(dt: datetime.datetime) -> str:
    """``datetime`` → gpControl ``%YY%MM%DD%hh%mm%ss``: two-digit hex each, year − 2000 (status 40).

    Source: DESIGN.md field facts; status 40 of the HERO5 capture has this form ("%11%02%12%12%38%3A").
    """
    return "".join(f"%{v:02X}" for v in (dt.year - 2000, dt.month, dt.day, dt.hour, dt.minute, dt.second))


def parse_magic_packet(data: bytes) -> str | None:
    """Target MAC (``'aa:bb:..'``) of a Wake-on-LAN magic packet, or None if ``data`` is not one.

    Shape (AMD "Magic Packet" white paper): 6 × 0xFF, then the target MAC 16 times = 102 bytes,
    optionally followed by a 4- or 6-byte SecureOn password (accepted and ignored).
    """
    if len(data) not in (102, 106, 108) or data[:6] != b"\xff" * 6:
        return None
    mac = data[6:12]
    if data[6:102] != mac * 16:
        return None
    return ":".join(f"{b:02x}" for b in mac)


class _Scheduler:
    """One daemon thread running callbacks at monotonic times; ``cancel_all`` on close."""

    def __init__(self, name: str):
        self._cond = threading.Condition()
        self._jobs: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"{name}-timers", daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        with self._cond:
            self._seq += 1
            self._jobs.append((time.monotonic() + max(0.0, delay), self._seq, fn))
            self._jobs.sort()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._jobs.clear()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._jobs or self._jobs[0][0] > time.monotonic()):
                    timeout = self._jobs[0][0] - time.monotonic() if self._jobs else None
                    self._cond.wait(timeout)
                if self._closed:
                    return
                _, _, fn = self._jobs.pop(0)
            try:
                fn()
            except Exception:  # a timer must not kill the camera
                log.exception("emulator timer failed")


class _HttpServer(TrackedHttpServer):
    """A GoPro body's HTTP server (:class:`.httpserver.TrackedHttpServer`): ``role`` "gpcontrol"
    (port 80) or "media" (port 8080); a dropped connection is a reset."""

    def __init__(self, addr, handler, camera: CameraBody, role: str):
        self.camera = camera
        self.role = role
        super().__init__(addr, handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    """gpControl and media-list requests; every answer is written in one ``send``."""

    protocol_version = "HTTP/1.1"
    server_version = "GoProEmulator/1"  # not what a GoPro sends; nothing depends on it
    sys_version = ""
    timeout = 300                        # idle keep-alive connections are dropped after this (s)
    server: _HttpServer

    def address_string(self) -> str:     # no reverse DNS
        return self.client_address[0]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s %s: %s", self.server.camera.name, self.client_address[0], format % args)

    def do_GET(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        self.server.camera._serve(self)

    def do_HEAD(self) -> None:  # noqa: N802 - BaseHTTPRequestHandler's name
        """As GET, without the body (media files: size and Range support without the bytes)."""
        self.server.camera._serve(self)

    def send_head(self, code: int, extra_headers: str, length: int, content_type: str) -> bool:
        """Status line and headers of a streamed answer (``extra_headers``: ``Name: value\r\n`` lines);
        False when the client is gone."""
        reason = self.responses.get(code, ("",))[0]
        keep = not self.close_connection
        head = (f"HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n"
                f"{extra_headers}Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head)
            return True
        except OSError:
            self.close_connection = True
            return False

    def send_raw(self, code: int, extra_headers: str, body: bytes, content_type: str) -> None:
        """A whole answer with extra headers (a 416 with its Content-Range)."""
        if self.send_head(code, extra_headers, len(body), content_type) and self.command != "HEAD":
            try:
                self.wfile.write(body)
            except OSError:
                self.close_connection = True

    def abort(self) -> None:
        """Cut the connection now (a reset): the media_drop fault."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def reply(self, code: int, body: bytes, content_type: str = "application/json",
              *, truncate: bool = False) -> None:
        """Write status line, headers and body at once. ``truncate``: announce the full
        Content-Length, send half the body, close (a camera whose answer was cut)."""
        reason = self.responses.get(code, ("",))[0]
        keep = not self.close_connection and not truncate
        head = (f"HTTP/1.1 {code} {reason}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n"
                f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode("latin-1")
        if self.command == "HEAD":
            body = b""
        payload = head + (body[: len(body) // 2] if truncate else body)
        if truncate:
            self.close_connection = True
        try:
            self.wfile.write(payload)
        except OSError:               # client went away mid-answer: fine for a camera
            self.close_connection = True

    def hold_unanswered(self) -> None:
        """A sleeping camera answers nothing: keep the connection, read and drop, never answer.

        The client sees a timeout (as with a real sleeping camera whose Wi-Fi is associated but
        whose HTTP server is down), not a refusal. Ends when the client closes, after
        HOLD_ASLEEP_S, or when the emulator closes.
        """
        self.close_connection = True
        deadline = time.monotonic() + HOLD_ASLEEP_S
        camera = self.server.camera
        try:
            self.connection.settimeout(0.2)
            while time.monotonic() < deadline and not camera._closing.is_set():
                try:
                    if not self.connection.recv(65536):
                        return
                except TimeoutError:
                    continue
        except OSError:
            return


class _ControlHandler(socketserver.StreamRequestHandler):
    """Control socket: one JSON object per line in, one JSON object per line out."""

    server: _ControlServer

    def handle(self) -> None:
        for line in self.rfile:
            line = line.strip()
            if not line:
                continue
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("request must be a JSON object")
                if self.take_over(request):        # the rest of the connection is a front-end's
                    return
                answer = self.server.camera.control(request)
            except Exception as exc:  # the control socket reports, never dies
                answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            try:
                self.wfile.write((json.dumps(answer) + "\n").encode())
            except OSError:
                return

    def take_over(self, request: dict) -> bool:
        """A front-end's hook: True when it took the connection over for ``request`` (the Open
        GoPro BLE front-end's ``ble_connect``); the plain body takes nothing over."""
        return False


class _ControlServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, path: str, camera: CameraBody):
        self.camera = camera
        super().__init__(path, _ControlHandler)


class CameraBody:
    """One emulated GoPro's body: power, Wi-Fi/AP, recording, storage (sd_status, remaining
    space), battery, clock, the media store, HiLights, the event log, faults, and the servers
    the protocol front-ends answer on (HTTP, Wake-on-LAN, the control socket).

    The front-ends (:mod:`.gpcontrol`, :mod:`.legacy_ble`, :mod:`.ogp_http`, :mod:`.ogp_ble`,
    :mod:`.media`) are mixins on top: :class:`camrig.emulator.legacy_gopro.LegacyGoPro` is
    gpControl + legacy BLE + media on this body, :class:`camrig.emulator.open_gopro.OpenGoPro` is
    Open GoPro HTTP + Open GoPro BLE + legacy BLE commands + media on it. Front-end hooks:
    :meth:`_route_http` (the main HTTP server), :meth:`_error_body`, :meth:`_start_fronts`,
    :meth:`_status_fronts`, :meth:`_state_fronts`, :meth:`_capture_kind_now`.

    Arguments (units in the names' docs):
      name               camera name used in logs and ``state``.
      control_path       AF_UNIX control socket path; None → no control socket (in-process use only),
                         unless ``bt_mac`` is set, then ``$GOPRO_EMU_DIR/<btmac>.sock``.
      listen             address the HTTP servers bind (``0.0.0.0`` in a namespace, ``127.0.0.1`` in tests).
      port, media_port   gpControl port (camera: 80) and media port (camera: 8080); 0 = ephemeral.
      wol_port           Wake-on-LAN UDP port (camera: 9, goprowifihack #65); 0 = ephemeral.
      wol_listen         address of the WoL listener; ``0.0.0.0`` so that broadcasts arrive.
      wifi_mac, bt_mac   the camera's Wi-Fi MAC (WoL target) and Bluetooth MAC (stand-in gatttool).
      fixture            real ``/gp/gpControl/status`` capture the answers are built from.
      stream_port        UDP port of the live-preview keep-alive listener (camera: 8554); 0 = ephemeral.
      delay_ms           every HTTP answer waits this long first (Wi-Fi RTT + camera processing).
      netdev             the camera-side interface (in its namespace) to set down / arp off, or None.
      association_delay  seconds from BLE Wi-Fi-on to Wi-Fi up.
      boot_delay         seconds from wake (WoL, reboot) to status 82 system_ready = 1.
      start              ``awake`` (booted, ready), ``asleep`` (Wi-Fi on, camera asleep) or ``wifi-off``.
      idle_wifi_off      seconds after which an idle camera (not recording) turns its Wi-Fi off and
                         sleeps, as a HERO5–8 does after ~10 min (DESIGN.md "Field facts"); 0 = never.
      idle_wifi_off_policy  what restarts that time. ``"ignore-requests"`` (default, reported on
                         HERO5: goprowifihack #101 "even if I constantly poll the camera status",
                         #105 "an info request every minute ... the problem is the same"): only
                         the AP coming up (BLE Wi-Fi-on, wake, reboot), a BLE Wi-Fi-on written while
                         it is up (#101, 2018-07-01: Wi-Fi-on every minute kept it up) and recording
                         (#101: "when not recording"); HTTP requests do not, and the AP also goes
                         off while the camera sleeps (gopro-ble-py #1: "Wifi stays on for about 10
                         mins after camera powers off"). ``"requests-reset"`` (unverified): every
                         HTTP request restarts it too, and only an awake camera times out.

      media_dir          the SD card (:class:`~.media.MediaStore`): a directory ``<d>/<n>`` whose files
                         are listed and served, and where a stopped recording writes its files
                         named as ``media_model`` names them. None (default): no card on disk: the
                         list holds this session's captures as ``GOPRnnnn`` names with sizes from
                         the capture's bit rate, and files are not served (the old behaviour).
      media_model        naming of new files (``hero5`` … ``hero13``; ``hero5``: GOPR/GPcc).
      record_template    MP4 each new chapter starts from (one with a GPMF track; None: a minimal MP4).
      record_bytes       each new chapter's size (bytes; sparse padding with a ``free`` box).
      record_chapters    chapters per recording (1).
      hevc               name videos ``GX…`` (HEVC) instead of ``GH…`` (default: HERO11 and later).
      rate               media bandwidth cap, bytes/s or ``"4MB/s"`` (None: none).
      no_range           ignore HTTP Range: answer 200 with the whole file.

    ``start()`` binds everything and returns; ``close()`` stops it promptly; ``port``,
    ``media_port`` and ``wol_port`` are the bound ports after ``start()``.
    """

    #: The control socket's server class (the Open GoPro BLE front-end adds BLE sessions to it).
    _control_server_class = _ControlServer

    def __init__(self, name: str = "camera", *, control_path: str | None = None,
                 listen: str = "127.0.0.1", port: int = 0, media_port: int = 0,
                 wol_port: int = 0, wol_listen: str = "0.0.0.0", stream_port: int = 0,
                 wifi_mac: str = "04:41:69:00:00:01", bt_mac: str | None = None,
                 fixture: str | os.PathLike = DEFAULT_FIXTURE,
                 delay_ms: float = 20.0, netdev: str | None = None,
                 association_delay: float = 2.0, boot_delay: float = 0.5, start: str = "awake",
                 idle_wifi_off: float = 0.0, idle_wifi_off_policy: str = "ignore-requests",
                 media_dir: str | os.PathLike | None = None, media_model: str = "hero7",
                 record_template: str | os.PathLike | None = None, record_bytes: int | None = DEFAULT_RECORD_BYTES,
                 record_chapters: int = 1, hevc: bool | None = None, rate: str | float | None = None,
                 no_range: bool = False):
        if start not in ("awake", "asleep", "wifi-off"):
            raise ValueError(f"start must be awake, asleep or wifi-off, got {start!r}")
        if idle_wifi_off_policy not in IDLE_POLICIES:
            raise ValueError(f"idle_wifi_off_policy must be one of {IDLE_POLICIES}, got {idle_wifi_off_policy!r}")
        self.name = name
        self.listen = listen
        self._want_port, self._want_media_port, self._want_wol_port = port, media_port, wol_port
        self._want_stream_port = stream_port
        self.wol_listen = wol_listen
        self.wifi_mac = normalize_mac(wifi_mac)
        self.bt_mac = normalize_mac(bt_mac) if bt_mac else None
        if control_path is None and self.bt_mac:
            control_path = ble_socket_path(self.bt_mac)
        self.control_path = control_path
        self.netdev = netdev
        self.association_delay = float(association_delay)
        self.boot_delay = float(boot_delay)
        self.delay_ms = float(delay_ms)
        self._start_mode = start
        self.idle_wifi_off = float(idle_wifi_off)
        self.idle_wifi_off_policy = idle_wifi_off_policy
        self._last_request = time.monotonic()
        self._idle_since = self._last_request   # when the AP's idle time (re)started

        fixture_path = self.fixture_path = Path(fixture)
        try:
            capture = json.loads(fixture_path.read_text())
        except OSError as exc:
            raise FileNotFoundError(f"{name}: status capture {fixture_path} not readable: {exc}") from exc
        self._base_status: dict[str, Any] = dict(capture["status"])
        self._base_settings: dict[str, Any] = dict(capture["settings"])
        # HERO5 fw HD5.02.02 does not report status 82 (system_ready); HERO6-8 do (the HERO7
        # capability JSON names it). The emulator always reports it: the driver waits for it.
        self._base_status.setdefault(S_SYSTEM_READY, 1)
        #: Mode and sub-mode (status 43/44) as the status capture has them; the gpControl front-end
        #: changes them, the Open GoPro one uses preset groups instead.
        self.mode = int(self._base_status.get(S_MODE, 0))
        self.sub_mode = int(self._base_status.get(S_SUB_MODE, 0))
        self.capture_kind: str | None = None   # what the running capture is (video, timelapse_video, ...)
        self.photos = 0                        # photos taken this session
        self._settings: dict[str, int] = {}   # settings changed by a front-end (and current sub-modes)

        # Bit rate from the capture itself: remaining_space (KB) / remaining_video_time (s).
        space = int(self._base_status.get(S_REMAINING_SPACE, 27655117))
        vtime = max(1, int(self._base_status.get(S_REMAINING_VIDEO, 6542)))
        self._kb_per_s = space / vtime

        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._events: collections.deque = collections.deque(maxlen=EVENTS_KEPT)
        self._faults: dict[str, Any] = {k: False for k in TOGGLE_FAULTS + SWITCHES}
        self._faults.update(slow=0.0, ble_error=None, media_drop=None, media_stall=None, media_extra=0,
                            no_range=bool(no_range))
        self.power = "on"            # "on" | "asleep"
        self.wifi = "on"             # "on" | "off"
        self.system_ready = True
        self.sd_status = int(self._base_status.get(S_SD, SD_OK))
        self.record_started_at: float | None = None
        self.recorded_s = 0.0        # seconds recorded in this session (closed recordings)
        self.locate = False
        self.hilights: list[float] = []        # seconds into the recording of each HiLight (status 59)
        #: Every HiLight taken: ``{"t" (monotonic s), "via", "offset_s" (into the recording), "recording"}``.
        self.hilight_log: list[dict] = []
        self.recordings = 0          # recordings started this session
        self.files: list[dict] = []  # media recorded this session
        if record_chapters < 1:
            raise ValueError(f"record_chapters must be at least 1, got {record_chapters!r}")
        self.record_chapters = int(record_chapters)
        if hevc is None:
            hevc = media_model in ("hero11", "hero12", "hero13")   # HEVC only (reported, module media)
        self.media: MediaStore | None = (MediaStore(media_dir, model=media_model, template=record_template,
                                                    hevc=hevc, record_bytes=record_bytes)
                                         if media_dir is not None else None)
        self.rate: float | None = parse_rate(rate)
        self.bucket: TokenBucket | None = TokenBucket(self.rate) if self.rate else None
        self.turbo_transfer = False
        self.clients: set[str] = set()
        self.booted_at = time.monotonic()
        self._boot_gen = 0
        self._wifi_gen = 0
        self._wifi_pending = False
        self._clock_set: tuple[datetime.datetime, float] | None = None  # (camera time, monotonic then)

        self._http: _HttpServer | None = None
        self._media: _HttpServer | None = None
        self._control: _ControlServer | None = None
        self._wol_sock: socket.socket | None = None
        self._stream_sock: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._timers: _Scheduler | None = None
        self.port = port
        self.media_port = media_port
        self.wol_port = wol_port
        self.stream_port = stream_port

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> CameraBody:
        """Bind the HTTP servers, the WoL listener and the control socket; apply ``start`` mode."""
        self._timers = _Scheduler(self.name)
        if self._start_mode == "asleep":
            self.power, self.system_ready = "asleep", False
        elif self._start_mode == "wifi-off":
            self.power, self.wifi, self.system_ready = "asleep", "off", False
        self._open_http()
        if self.wifi == "off" and not self.netdev:
            self._close_http()
        self._wol_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._wol_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._wol_sock.bind((self.wol_listen, self._want_wol_port))
        self._wol_sock.settimeout(0.1)
        self.wol_port = self._wol_sock.getsockname()[1]
        self._spawn(self._wol_loop, "wol")
        self._start_fronts()
        if self.idle_wifi_off > 0:
            self._later(min(1.0, self.idle_wifi_off / 4), self._idle_check)
        if self.control_path:
            os.makedirs(os.path.dirname(os.path.abspath(self.control_path)), exist_ok=True)
            try:
                os.unlink(self.control_path)
            except FileNotFoundError:
                pass
            control = self._control = self._control_server_class(self.control_path, self)
            self._spawn(lambda: control.serve_forever(poll_interval=0.05), "control")
        self._apply_netdev()
        log.info("%s: gpControl on %s:%s, media on %s, WoL on udp %s, control %s, %s",
                 self.name, self.listen, self.port, self.media_port, self.wol_port,
                 self.control_path, self._start_mode)
        return self

    def close(self) -> None:
        """Stop every server and thread (promptly: within ~0.1 s); remove the control socket."""
        if self._closing.is_set():
            return
        self._closing.set()
        if self._timers:
            self._timers.close()
        self._close_http()
        if self._control:
            self._control.shutdown()
            self._control.server_close()
            try:
                os.unlink(self.control_path)  # type: ignore[arg-type]  # set: there is a control server
            except OSError:
                pass
        for sock in (self._wol_sock, self._stream_sock):
            if sock:
                sock.close()
        for t in self._threads:
            t.join(timeout=1.0)

    def __enter__(self) -> CameraBody:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<{type(self).__name__} {self.name} power={self.power} wifi={self.wifi} "
                f"recording={self.record_started_at is not None} sd_status={self.sd_status} port={self.port}>")

    def _spawn(self, target: Callable[[], None], what: str) -> None:
        t = threading.Thread(target=target, name=f"{self.name}-{what}", daemon=True)
        t.start()
        self._threads.append(t)

    def _open_http(self) -> None:
        """(Re)bind both HTTP servers, on the same ports as before once they are known."""
        if self._http is not None:
            return
        self._http = _HttpServer((self.listen, self.port), _Handler, self, "gpcontrol")
        self.port = self._http.server_address[1]
        self._media = _HttpServer((self.listen, self.media_port), _Handler, self, "media")
        self.media_port = self._media.server_address[1]
        for srv, what in ((self._http, "http"), (self._media, "media")):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                 name=f"{self.name}-{what}", daemon=True)
            t.start()

    def _close_http(self) -> None:
        for srv in (self._http, self._media):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
                srv.abort_connections()
        self._http = self._media = None

    # ------------------------------------------------------------------ network device

    def _ip(self, *args: str) -> None:
        """``ip link set dev NETDEV ...`` (argv list, no shell); failures are logged, not raised."""
        if not self.netdev:
            return
        argv = ["ip", "link", "set", "dev", self.netdev, *args]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("%s: %s failed: %s", self.name, " ".join(argv), exc)
            return
        if res.returncode != 0:
            log.warning("%s: %s failed: %s", self.name, " ".join(argv), res.stderr.strip())

    def _apply_netdev(self) -> None:
        """Make the interface match power/Wi-Fi: Wi-Fi off → link down; asleep → ARP off."""
        if not self.netdev:
            return
        with self._lock:
            wifi, power = self.wifi, self.power
        self._ip("arp", "on" if power == "on" else "off")
        self._ip("up" if wifi == "on" else "down")

    # ------------------------------------------------------------------ state changes (hold _lock)

    def _event(self, what: str, t: float | None = None, **detail: Any) -> float:
        t = time.monotonic() if t is None else t
        self._events.append({"t": t, "what": what, **detail})
        return t

    def _camera_clock(self) -> datetime.datetime:
        if self._clock_set is None:
            return datetime.datetime.now().replace(microsecond=0)
        base, at = self._clock_set
        return base + datetime.timedelta(seconds=int(time.monotonic() - at))

    def _set_clock(self, when: datetime.datetime, t: float) -> None:
        """Set the camera clock to ``when`` (naive, camera-local) as of monotonic ``t`` (hold _lock)."""
        self._clock_set = (when, t)

    def _capture_kind_now(self) -> str:
        """What a shutter does now: ``"video"``, ``"timelapse_video"``, ``"timelapse_photo"``,
        ``"photo"`` or ``"none"``; a front-end with modes or presets overrides it (hold _lock)."""
        return "video"

    # ------------------------------------------------------------------ front-end hooks

    def _start_fronts(self) -> None:
        """Called by :meth:`start` once the HTTP and WoL servers are bound: a front-end's own
        listeners (the gpControl live-preview keep-alive)."""

    def _status_fronts(self, status: dict, settings: dict) -> None:
        """Add a front-end's live ids to :meth:`status_document`'s ``status``/``settings`` (hold _lock)."""

    def _state_fronts(self, out: dict) -> None:
        """Add a front-end's fields to the control socket's ``state`` answer (hold _lock)."""

    def ble(self, cmd_hex: str) -> dict:
        """The control socket's ``ble`` op (a write to GP-0072); a body without a BLE front-end
        has no Bluetooth: ``{"ok": False, "error": ...}``."""
        return {"ok": False, "error": f"{self.name} has no BLE"}

    def _error_body(self, path: str, query: str) -> dict | None:
        """The body of a refused request (HTTP 500 without one); None: an empty body."""
        return None

    def _serve_file(self, h: _Handler, path: str, params: dict) -> bool:
        """Stream a media file when ``path`` is one (the media front-end); False: route it."""
        return False

    def _media_command(self, path: str, params: dict, t: float):
        """A media command over HTTP (the media front-end; hold _lock): ``(code, body)`` or None."""
        return None

    def media_fault(self, name: str, kw: dict[str, Any]) -> bool:
        """Set a media fault (the media front-end; hold _lock); False when ``name`` is not one."""
        return False

    def _route_http(self, path: str, params: dict, post: list):
        """The main HTTP server's routing: ``(code, body dict | bytes | None)``; the front-end
        gives it. ``post``: callables run after the answer has been sent."""
        return 404, None

    def _start_recording(self, via: str, t: float) -> None:
        """Shutter on: captures unless the SD card is in error or missing, or boot is not done.

        What it captures follows the mode (status 43/44): video and time-lapse (video or photo)
        run until a shutter off, with status 10 encoding_active 1; in photo or burst mode it takes
        a photo (a ``GOPRnnnn.JPG``) and encoding_active stays 0.
        """
        self._event("shutter_on", t, via=via)
        if self.power != "on" or self.record_started_at is not None:
            return
        if not self.system_ready:
            # Quirk (DESIGN.md field facts, seen on HERO5/HERO7): a start too soon after power-on
            # can put the SD card in error; the camera then reports 33=3 and does not record.
            self.sd_status = SD_ERROR
            self._event("sd_error", t, cause="shutter before system_ready")
            return
        if self.sd_status != SD_OK:
            return   # a camera whose card errored accepts the command (HTTP 200) but records nothing
        kind = self._capture_kind_now()
        if kind == "photo":
            self.photos += 1
            if self.media is not None:
                name = f"GOPR{self.media.next_number():04d}.JPG"
                self._write_card_file(name, THM_BYTES)
            else:
                name = f"GOPR{len(self.files) + 1:04d}.JPG"
            self.files.append({"n": name, "mod": str(self._camera_epoch()), "ls": "-1", "s": "4000000"})
            self._event("photo", t, via=via, mode=self.mode, sub_mode=self.sub_mode)
            return
        if kind == "none":
            self._event("shutter_ignored", t, via=via, mode=self.mode, sub_mode=self.sub_mode)
            return
        self.record_started_at = t
        self.capture_kind = kind
        self.recordings += 1
        self._event("record_start", t, via=via, capture=kind)

    def _camera_epoch(self) -> int:
        """The camera clock as epoch seconds (its local time read as UTC: what ``cre``/``mod`` carry)."""
        return int(self._camera_clock().replace(tzinfo=datetime.UTC).timestamp())

    def _write_card_file(self, name: str, data: bytes, folder: str = "100GOPRO") -> None:
        """Write one file on the card (a photo), mtime the camera clock; errors are logged, never raised."""
        assert self.media is not None
        try:
            (self.media.root / folder).mkdir(exist_ok=True)
            path = self.media.root / folder / name
            path.write_bytes(data)
            os.utime(path, (self._camera_epoch(),) * 2)
        except OSError as exc:
            log.warning("%s: writing %s on the card failed: %s", self.name, name, exc)

    def _stop_recording(self, cause: str, t: float) -> None:
        if self.record_started_at is None:
            return
        length = max(0.0, t - self.record_started_at)
        self.recorded_s += length
        n = len(self.files) + 1
        kind, self.capture_kind = self.capture_kind, None
        size = str(int(length * self._kb_per_s * 1024))
        if self.media is None:
            self.files.append({"n": f"G{n:07d}.JPG" if kind == "timelapse_photo" else f"GOPR{n:04d}.MP4",
                               "mod": str(self._camera_epoch()), "ls": "-1", "s": size})
        elif kind == "timelapse_photo":
            name = f"G{n:07d}.JPG"
            self._write_card_file(name, THM_BYTES)
            self.files.append({"n": name, "mod": str(self._camera_epoch()), "ls": "-1", "s": size})
        else:
            # The recording's files on the card (chapters, LRV, THM): a trigger cycle makes footage.
            try:
                names = self.media.add_recording(chapters=self.record_chapters, when=self._camera_epoch())
            except (OSError, ValueError) as exc:
                log.warning("%s: writing the recording's files failed: %s", self.name, exc)
                names = []
            self.files += [{"n": n, "mod": str(self._camera_epoch()), "ls": "-1", "s": size}
                           for n in names if n.endswith(".MP4")]
        self.record_started_at = None
        self._event("record_stop", t, cause=cause, seconds=round(length, 3))

    def _hilight(self, via: str, t: float) -> bool:
        """A HiLight now (hold _lock): while recording it is kept (status 58 num_hilights counts
        it, 59 last_hilight_time_msec is its offset into the recording), logged as a ``hilight``
        event and in :attr:`hilight_log`; True. Not recording: nothing, False."""
        if self.record_started_at is None:
            return False
        offset = t - self.record_started_at
        self.hilights.append(offset)
        self.hilight_log.append({"t": t, "via": via, "offset_s": round(offset, 3), "recording": self.recordings})
        self._event("hilight", t, via=via, offset_s=round(offset, 3))
        return True

    def _go_asleep(self, cause: str, t: float) -> None:
        self._stop_recording(cause, t)
        self.locate = False
        if self.power != "asleep":
            self.power = "asleep"
            self.system_ready = False
            self._boot_gen += 1
            self._event("sleep", t, cause=cause)

    def _boot(self, cause: str, t: float) -> None:
        """Power on (wake or reboot): HTTP served at once, status 82 system_ready 0 for boot_delay.

        A power cycle also clears an SD error (33=3): the card is remounted at boot.
        """
        self.power = "on"
        self.system_ready = False
        self.booted_at = t
        self._last_request = self._idle_since = t
        self.clients.clear()
        if self.sd_status == SD_ERROR:
            self.sd_status = SD_OK
        self._boot_gen += 1
        gen = self._boot_gen
        self._event("wake", t, cause=cause)
        self._later(self.boot_delay, lambda: self._ready(gen))

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` seconds on the timer thread :meth:`start` made."""
        if self._timers is None:
            raise RuntimeError(f"{self.name}: the emulator is not started")
        self._timers.call_later(delay, fn)

    def _ready(self, gen: int) -> None:
        with self._lock:
            if gen != self._boot_gen or self.power != "on":
                return
            self.system_ready = True
            self._event("ready")

    def _wifi_off(self, cause: str, t: float) -> None:
        self._go_asleep(cause, t)
        if self.wifi == "off":
            return
        self.wifi = "off"
        self._wifi_gen += 1
        self._wifi_pending = False
        self._event("wifi_off", t, cause=cause)

    def _idle_check(self) -> None:
        """Timer: Wi-Fi off ``idle_wifi_off`` seconds into idleness, unless recording.

        The idle time starts as ``idle_wifi_off_policy`` says (see the class docstring).
        """
        now = time.monotonic()
        with self._lock:
            if self.record_started_at is not None:
                self._idle_since = now              # recording: never idle; idle again from its end
            if self.idle_wifi_off_policy == "requests-reset":
                idle = (self.wifi == "on" and self.power == "on" and self.record_started_at is None
                        and now - max(self._idle_since, self._last_request) >= self.idle_wifi_off)
            else:
                idle = (self.wifi == "on" and self.record_started_at is None
                        and now - self._idle_since >= self.idle_wifi_off)
            if idle:
                self._wifi_off("idle", now)
        if idle:
            self._after_wifi_change()
        if not self._closing.is_set():
            self._later(min(1.0, self.idle_wifi_off / 4), self._idle_check)

    def _wifi_on_later(self) -> None:
        """BLE Wi-Fi-on: the AP is up after association_delay; the camera stays asleep."""
        if self.wifi == "on" or self._wifi_pending:
            return
        self._wifi_pending = True
        self._wifi_gen += 1
        gen = self._wifi_gen

        def up() -> None:
            with self._lock:
                if gen != self._wifi_gen or self.wifi == "on" or self._closing.is_set():
                    return
                self._wifi_pending = False
                self.wifi = "on"
                self._idle_since = time.monotonic()
                self._event("wifi_on")
            self._after_wifi_change()

        self._later(self.association_delay, up)

    def _after_wifi_change(self) -> None:
        """Side effects outside the lock: link up/down, ARP, listening sockets."""
        with self._lock:
            wifi = self.wifi
        if self.netdev:
            self._apply_netdev()
            if wifi == "off":
                for srv in (self._http, self._media):
                    if srv:
                        srv.abort_connections()
        elif wifi == "off":
            self._close_http()
        elif not self._closing.is_set():
            self._open_http()

    # ------------------------------------------------------------------ live status

    def status_document(self) -> dict:
        """``{"status": {...}, "settings": {...}}``: the capture with its live ids updated.

        Live ids (names from HERO7Black_gpControl.json): 8 system_busy, 10 encoding_active,
        13 video_progress_counter (s), 31 app_count, 33 sd_status, 35 remaining_video_time (s),
        37/39 video counts, 40 date_time, 45 camera_locate_active, 54 remaining_space (KB),
        57 current_time_msec, 58/59 HiLights, 60 next_poll_msec (the capture's), 70
        internal_battery_percentage, 82 system_ready. Every other key is the capture's value.
        """
        with self._lock:
            now = time.monotonic()
            s = dict(self._base_status)
            rec = self.record_started_at
            running = (now - rec) if rec is not None else 0.0
            used_s = self.recorded_s + running
            s[S_ENCODING] = 1 if rec is not None else 0
            s[S_SYSTEM_BUSY] = 0 if self.system_ready and not (
                rec is not None and self._faults["busy_while_recording"]) else 1
            s[S_PROGRESS] = int(running)
            s[S_APP_COUNT] = len(self.clients)
            s[S_SD] = self.sd_status
            s[S_REMAINING_VIDEO] = max(0, int(self._base_status.get(S_REMAINING_VIDEO, 0) - used_s))
            s[S_REMAINING_SPACE] = max(0, int(self._base_status.get(S_REMAINING_SPACE, 0) - used_s * self._kb_per_s))
            # Battery: 1 % per 60 s of recording (a HERO5 records ~1 h on a 1220 mAh battery).
            s[S_BATTERY_PERCENT] = max(0, int(self._base_status.get(S_BATTERY_PERCENT, 100) - used_s / 60))
            s[S_SYSTEM_READY] = 1 if self.system_ready else 0
            s[S_LOCATE] = 1 if self.locate else 0
            videos = sum(1 for f in self.files if f["n"].endswith(".MP4"))
            s[S_NUM_GROUP_VIDEOS] = int(self._base_status.get(S_NUM_GROUP_VIDEOS, 0)) + videos
            s[S_NUM_TOTAL_VIDEOS] = int(self._base_status.get(S_NUM_TOTAL_VIDEOS, 0)) + videos
            s[S_NUM_GROUP_PHOTOS] = int(self._base_status.get(S_NUM_GROUP_PHOTOS, 0)) + self.photos
            s[S_NUM_TOTAL_PHOTOS] = int(self._base_status.get(S_NUM_TOTAL_PHOTOS, 0)) + self.photos
            s[S_NUM_HILIGHTS] = len(self.hilights)
            s[S_LAST_HILIGHT_MSEC] = int(self.hilights[-1] * 1000) if self.hilights else 0
            s[S_CURRENT_TIME_MSEC] = int((now - self.booted_at) * 1000)
            if self._clock_set is not None:
                s[S_DATE_TIME] = encode_date_time(self._camera_clock())
            settings = dict(self._base_settings)
            self._status_fronts(s, settings)
            if self._faults["no_key_10"]:
                s.pop(S_ENCODING, None)
            return {"status": s, "settings": settings}

    def media_list(self) -> dict:
        """gpMediaList shape (goprowifihack HERO5/Mediabrowsing.md):
        ``{"id": str, "media": [{"d": "100GOPRO", "fs": [{"n", "mod", "ls", "s"}]}]}``.

        Lists the files recorded in this session ("mod": camera time, epoch s; "s": bytes).
        """
        with self._lock:
            files = [dict(f) for f in self.files]
        media = [{"d": "100GOPRO", "fs": files}] if files else []
        return {"id": str(zlib.crc32(self.name.encode())), "media": media}

    # ------------------------------------------------------------------ HTTP

    def _serving_http(self) -> bool:
        """Whether an HTTP request is answered now (hold _lock): awake, and the AP it came over up."""
        return self.power == "on" and self.wifi == "on"

    def _serve(self, h: _Handler) -> None:
        """One request: hold if asleep; wait delay (+ slow); take effect; answer."""
        with self._lock:
            serving = self._serving_http()
            slow = float(self._faults["slow"])
            delay = self.delay_ms / 1000.0
        if not serving:
            h.hold_unanswered()
            return
        if delay + slow > 0:
            time.sleep(delay + slow)
        with self._lock:
            if not self._serving_http():   # went to sleep while we waited
                serving = False
            else:
                self.clients.add(h.client_address[0])
                self._last_request = time.monotonic()
        if not serving:
            h.hold_unanswered()
            return
        path, _, query = h.path.partition("?")
        params = dict(p.partition("=")[::2] for p in query.split("&") if p)
        if self._serve_file(h, path, params):
            return
        post: list[Callable[[], None]] = []
        if h.server.role == "media":
            code, body = self._route_media(path)
        else:
            code, body = self._route_http(path, params, post)
            if code == 500 and body is None:
                body = self._error_body(path, query)
        if body is None:
            h.reply(code, b"", "text/plain")
        elif isinstance(body, bytes):
            h.reply(code, body)
        else:
            self._reply_json(h, code, body)
        for fn in post:
            fn()

    def _reply_json(self, h: _Handler, code: int, doc: dict) -> None:
        with self._lock:
            faults = dict(self._faults)
        if faults["bad_json"]:
            h.reply(code, b"<html><body>camera busy</body></html>", "application/json")
            return
        body = json.dumps(doc, separators=(",", ":")).encode()
        if faults["oversized_json"]:
            doc = dict(doc, padding="x" * OVERSIZED_BYTES)
            body = json.dumps(doc, separators=(",", ":")).encode()
        h.reply(code, body, truncate=faults["truncated_json"])

    def _route_media(self, path: str):
        if path == "/gp/gpMediaList":
            return 200, self.media_list()
        return 404, None

    # ------------------------------------------------------------------ Wake-on-LAN

    def _udp_loop(self, sock: socket.socket | None, handle: Callable[[bytes, str], Any]) -> None:
        """Hand each datagram on ``sock`` (with a timeout set) to ``handle(data, source address)``
        until the camera closes; nothing when ``sock`` is None (not started, or the port was taken)."""
        if sock is None:
            return
        while not self._closing.is_set():
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            handle(data, peer[0])

    def _wol_loop(self) -> None:
        self._udp_loop(self._wol_sock, self.wake_on_lan)

    def wake_on_lan(self, data: bytes, source: str = "?") -> bool:
        """Handle one UDP datagram on the WoL port; True when it woke the camera.

        Only a magic packet for ``wifi_mac`` counts (the Wi-Fi chip filters the rest; they leave
        no event). It does nothing while Wi-Fi is off (no packet can arrive then), nor while
        awake, nor with the ignore_wol fault (recorded as ``wol`` with ``ignored``).
        """
        mac = parse_magic_packet(data)
        if mac != self.wifi_mac:
            return False
        with self._lock:
            if self.wifi != "on":
                return False
            t = time.monotonic()
            if self._faults["ignore_wol"]:
                self._event("wol", t, source=source, ignored=True)
                return False
            self._event("wol", t, source=source)
            if self.power == "on":
                return False
            self._boot("wol", t)
        self._apply_netdev()
        return True

    # ------------------------------------------------------------------ faults and control

    def fault(self, name: str, **kw: Any) -> dict:
        """Inject a fault (names and parameters: docs/contracts.md "Emulated legacy GoPro")."""
        t = time.monotonic()
        after: Callable[[], None] | None = None
        with self._lock:
            if name == "stop_recording":
                self._stop_recording("camera stopped by itself", t)
            elif name == "sd_error":
                self.sd_status = SD_ERROR
                self._stop_recording("sd_error", t)
            elif name == "sd_card":
                # The card's state (status 33) becomes ``status``: 0 ok, 2 no card (removed);
                # Open GoPro also 1 full, 4 busy, 8 swapped. Anything but 0 ends a recording.
                value = int(kw.get("status", SD_NO_CARD))
                if value not in (-1, 0, 1, 2, 4, 8):
                    raise ValueError(f"sd_card status must be -1, 0, 1, 2, 4 or 8, got {value!r}")
                self.sd_status = value
                if value != SD_OK:
                    self._stop_recording(f"sd_status {value}", t)
            elif name == "wifi_off":
                self._wifi_off("fault", t)
                after = self._after_wifi_change
            elif name == "asleep":
                self._go_asleep("fault", t)
                after = self._apply_netdev
            elif name == "reboot":
                # Crash and restart: recording lost, TCP connections dropped, the AP comes back
                # with the camera, status 82 system_ready 0 for boot_delay.
                self._stop_recording("reboot", t)
                self.locate = False
                self._wifi_gen += 1
                self._wifi_pending = False
                wifi_was_off = self.wifi == "off"
                if wifi_was_off:
                    self.wifi = "on"
                    self._event("wifi_on", t, cause="reboot")
                self._idle_since = t
                self._boot("reboot", t)

                def after() -> None:
                    self._abort_http_connections()
                    if wifi_was_off:
                        self._after_wifi_change()
                    else:
                        self._apply_netdev()
            elif name == "slow":
                self._faults["slow"] = max(0.0, float(kw.get("seconds", 0.0)))
            elif name in TOGGLE_FAULTS or name in SWITCHES:
                self._faults[name] = bool(kw.get("on", True))
            elif name == "ble_error":
                err = kw.get("error")
                if err is not None and err not in BLE_ERRORS:
                    raise ValueError(f"ble_error must be one of {BLE_ERRORS} or null, got {err!r}")
                self._faults["ble_error"] = err
            elif not self.media_fault(name, kw):
                raise ValueError(f"unknown fault {name!r}")
            self._event("fault", t, name=name, **kw)
        if after:
            after()
        return {"ok": True}

    def _abort_http_connections(self) -> None:
        for srv in (self._http, self._media):
            if srv:
                srv.abort_connections()

    def state(self) -> dict:
        """Control ``state`` answer: name, power, wifi, recording, sd_status, record_started_at, events, faults, ..."""
        with self._lock:
            return {
                "ok": True,
                "name": self.name,
                "power": self.power,
                "wifi": self.wifi,
                "system_ready": self.system_ready,
                "recording": self.record_started_at is not None,
                "sd_status": self.sd_status,
                "record_started_at": self.record_started_at,
                "capture": self.capture_kind,        # video, timelapse_video, timelapse_photo or None
                "photos": self.photos,
                "delay_ms": self.delay_ms,
                "date_time": self._camera_clock().isoformat() if self._clock_set else None,
                "files": [f["n"] for f in self.files],
                "hilights": [dict(h) for h in self.hilight_log],
                "turbo_transfer": self.turbo_transfer,
                "rate": self.rate,
                "ports": {"http": self.port, "media": self.media_port, "wol": self.wol_port,
                          "stream": self.stream_port},
                "wifi_mac": self.wifi_mac,
                "bt_mac": self.bt_mac,
                "events": list(self._events),
                "faults": dict(self._faults),
            } | self._state_front_fields()

    def _state_front_fields(self) -> dict:
        out: dict = {}
        self._state_fronts(out)
        return out

    def control(self, request: dict) -> dict:
        """Dispatch one control-socket request ``{"op": ..., ...}`` → answer dict (``ok`` key)."""
        op = request.get("op")
        args = {k: v for k, v in request.items() if k != "op"}
        if op == "state":
            return self.state()
        if op == "fault":
            name = args.pop("name", None)
            if not name:
                raise ValueError("fault needs a name")
            return self.fault(name, **args)
        if op == "set_delay":
            with self._lock:
                self.delay_ms = max(0.0, float(args["ms"]))
            return {"ok": True}
        if op == "clear_events":
            with self._lock:
                self._events.clear()
            return {"ok": True}
        if op == "ble":
            return self.ble(str(args.get("cmd", "")))
        if op == "ble_state":
            with self._lock:
                return {"ok": True, "ble_error": self._faults["ble_error"], "bt_mac": self.bt_mac,
                        "power": self.power, "wifi": self.wifi}
        if op == "hilights":
            # Every HiLight of this session, in order: {"t": monotonic s, "via", "offset_s", "recording"}.
            with self._lock:
                return {"ok": True, "hilights": [dict(h) for h in self.hilight_log]}
        if op == "media":
            return self.media_state()
        if op == "media_seed":
            # Recordings of the given sizes (bytes or "3MB") written on the card now.
            if self.media is None:
                raise ValueError(f"{self.name} has no media directory (--media DIR)")
            sizes = args.get("recordings")
            if not isinstance(sizes, list) or not sizes:
                raise ValueError("media_seed needs recordings: a list of sizes")
            names: list[str] = []
            for size in sizes:
                names += self.media.add_recording(chapters=int(args.get("chapters", self.record_chapters)),
                                                  size=parse_size(size), when=self._camera_epoch())
            with self._lock:
                self._event("media_seed", names=names)
            return {"ok": True, "names": names}
        raise ValueError(f"unknown op {op!r}")

    def media_state(self) -> dict:
        """Control ``media`` answer: ``{"ok", "root" (None without a card), "files": [{"d", "n",
        "s" (bytes, int)}], "turbo_transfer", "rate" (bytes/s or None), "faults": {media ones}}``."""
        files = []
        if self.media is not None:
            for d, fs in self.media.entries():
                files += [{"d": d, "n": f["n"], "s": int(f["s"])} for f in fs]
                for f in fs:
                    if f["n"].endswith(".MP4"):
                        for c in self.media.companions(d, f["n"]):
                            if c.is_file():
                                files.append({"d": d, "n": c.name, "s": c.stat().st_size})
        with self._lock:
            faults = {k: self._faults.get(k) for k in ("media_drop", "media_stall", "media_extra",
                                                       "no_range", "hostile_list")}
            return {"ok": True, "root": str(self.media.root) if self.media else None, "files": files,
                    "turbo_transfer": self.turbo_transfer, "rate": self.rate, "faults": faults}



def run_until_signalled(cam) -> int:
    """Start an emulated camera, serve until SIGTERM/SIGINT, close it; the exit status (0).

    Shared by every emulator's command line.
    """
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cam.start()
    try:
        while not stop.wait(1.0):
            pass
    finally:
        cam.close()
    return 0




def common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The command line every GoPro emulator takes (:meth:`camrig.cameras.registry.EmulatorSpec.common_args`
    plus the body's own switches); each emulator adds its front-ends' flags."""
    p = argparse.ArgumentParser(prog=prog, description=description)
    p.add_argument("--name", default="camera")
    p.add_argument("--control", help="AF_UNIX control socket (default with --bt-mac: $GOPRO_EMU_DIR/<btmac>.sock)")
    p.add_argument("--listen", default="0.0.0.0")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--media-port", type=int, default=8080)
    p.add_argument("--wol-port", type=int, default=9)
    p.add_argument("--wifi-mac", default="04:41:69:00:00:01")
    p.add_argument("--bt-mac")
    p.add_argument("--fixture", default=str(DEFAULT_FIXTURE), help="status capture")
    p.add_argument("--delay-ms", type=float, default=20.0)
    p.add_argument("--netdev")
    p.add_argument("--association-delay", type=float, default=2.0)
    p.add_argument("--boot-delay", type=float, default=0.5)
    p.add_argument("--start", choices=("asleep", "awake", "wifi-off"), default="awake")
    p.add_argument("--idle-wifi-off", type=float, default=0.0,
                   help="seconds of idleness before Wi-Fi turns off (real HERO5-8: ~600); 0 = never")
    p.add_argument("--idle-wifi-off-policy", choices=IDLE_POLICIES, default="ignore-requests",
                   help="ignore-requests: HTTP polling does not keep Wi-Fi up (reported on HERO5); "
                        "requests-reset: every request restarts the idle time (unverified)")
    p.add_argument("--media", metavar="DIR", help="the SD card: a directory of <100GOPRO>/<file>, listed and "
                   "served; stopped recordings write their files there (default: none, names only)")
    p.add_argument("--record-template", metavar="MP4", help="MP4 each new chapter starts from (default: a minimal MP4)")
    p.add_argument("--record-size", default=str(DEFAULT_RECORD_BYTES),
                   help="size of each new chapter, e.g. 3MB (sparse padding; default 2MB)")
    p.add_argument("--record-chapters", type=int, default=1, help="chapters per recording (default 1)")
    p.add_argument("--encoding", choices=("avc", "hevc"), help="GH (AVC) or GX (HEVC) names (default: by model)")
    p.add_argument("--seed", default="", help="recordings written on the card at start, sizes: 3MB,5MB")
    p.add_argument("--rate", help="media bandwidth cap for all connections, e.g. 4MB/s (default: none)")
    p.add_argument("--no-range", action="store_true", help="ignore HTTP Range: 200 and the whole file")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def body_kwargs(args: argparse.Namespace) -> dict:
    """The :class:`CameraBody` keyword arguments from :func:`common_parser`'s parsed ``args``."""
    return dict(control_path=args.control, listen=args.listen, port=args.port, media_port=args.media_port,
                wol_port=args.wol_port, wifi_mac=args.wifi_mac, bt_mac=args.bt_mac, fixture=args.fixture,
                delay_ms=args.delay_ms, netdev=args.netdev, association_delay=args.association_delay,
                boot_delay=args.boot_delay, start=args.start, idle_wifi_off=args.idle_wifi_off,
                idle_wifi_off_policy=args.idle_wifi_off_policy, media_dir=args.media,
                media_model=getattr(args, "model", "hero7"),
                record_template=args.record_template, record_bytes=parse_size(args.record_size),
                record_chapters=args.record_chapters,
                hevc=None if args.encoding is None else args.encoding == "hevc",
                rate=args.rate, no_range=args.no_range)


def seed_from_args(cam: CameraBody, args: argparse.Namespace) -> None:
    """Write ``--seed`` recordings on the card (SystemExit naming the flag when there is no ``--media``)."""
    sizes = [s for s in args.seed.split(",") if s.strip()]
    if not sizes:
        return
    if cam.media is None:
        raise SystemExit("--seed needs --media DIR")
    for size in sizes:
        cam.media.add_recording(chapters=args.record_chapters, size=parse_size(size))
