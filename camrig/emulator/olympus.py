"""Emulated Olympus / OM System body speaking OI.Share over HTTP, for the namespace rig and tests.

One :class:`OlympusBody` is one camera: an HTTP server on ``port`` (the camera's port 80) that
accepts exactly what its real command list accepts, and an AF_UNIX control socket (one JSON
object per line each way, as the GoPro emulators' — :class:`camrig.emulator.control.EmulatorControl`
talks to it) through which tests turn its Wi-Fi off and on, flip switches and read its events.

Sources of its behaviour (each cited again where used; printed page numbers of the OPC
Communication Protocol 1.0a, ccrome/olympus-omd-remote-control ``OPC_Communication_Protocol_EN_1.0a.pdf``;
joergmlpts/olympus-wifi ``src/olympuswifi/camera.py`` @364dfcd as "camera.py"):

- The command list it serves and checks every request against: a real capture,
  ``OM-D_oishare-2.60_commandlist.xml`` or ``PEN-F_oishare-2.60_commandlist.xml`` (``--list``),
  read from :mod:`camrig.emulator.captures`; the check is this module's own walk of the XML.
- ``Host`` must be ``192.168.0.10``, else 400 (OPC p. 18, p. 21); a request URI over 128
  characters is 414 (p. 21).
- Errors are HTTP 520 with ``<response><errorcode>…</errorcode><errormsg>WIFI_INTERNAL_ERROR
  </errormsg><dbgmsg>reserved</dbgmsg></response>`` (p. 22). The wrong mode answers errorcode
  1001 (issue 12; not in the spec, which names only 0xB000 "internal error": ``--wrong-mode-code``).
- Modes: ``switch_cammode?mode=rec|play|shutter`` (the lists). Properties and takes need rec
  (camera.py lines 364, 396, 474; ccrome ``OMD.py`` line 22 "Must be in rec mode to get & set
  settings"); the shutter needs shutter mode (``OMD.py`` line 23); the image list, thumbnails and
  downloads are done in play (camera.py line 150); the clock is set in play (camera.py line 462).
  That the camera *refuses* these in another mode is unverified (``mode_checks`` switch).
- ``get_imglist`` answers ``VER_100`` then ``dir,file,size,attr,date,time`` lines with FAT-packed
  date and time, not sorted (OPC p. 67); an empty folder is 404 (camera.py lines 502–504);
  files are served by plain ``GET /DCIM/<folder>/<file>`` (camera.py line 548) as
  ``video/quicktime`` for ``.MOV`` (p. 20). Ranges: unverified (``ranges`` switch, default on).
- ``exec_takemotion?com=startmovietake`` / ``stopmovietake`` (the lists) start and stop a movie;
  a stopped movie becomes ``/DCIM/100OLYMP/P<month><day><nnnn>.MOV`` (name shape from p. 67's
  example ``P6230001.JPG``). "The camera stops movie recording automatically after disconnection"
  (p. 112): Wi-Fi off (control socket) ends a movie when ``drop_on_disconnect`` is on (default).
- ``get_connectmode`` answers ``<connectmode>…</connectmode>`` (p. 49; an OI.Share body's value
  is unverified: ``--connectmode``, default ``private``); ``get_caminfo`` ``<caminfo><model>…``
  (hotchpotch/olympus-camera README lines 55–59, a PEN-F); ``exec_pwoff`` 202 (p. 53), then off.
- Unknown commands: 404; a parameter or value the list lacks: 500 "CGI syntax error" (p. 22).
  What a real body answers to these is unverified.

Hostile switches (control socket ``set``): ``commandlist`` = ``real`` | ``not_xml`` | ``shift_jis``
(real Shift-JIS bytes in a name) | ``bad_shift_jis`` (declared Shift-JIS, invalid bytes) | ``huge``
| ``empty`` | ``nothing`` (XML listing no command); ``imglist_garbage`` (bad lines and ``../``
names in the list); ``error_without_code`` (every 520 without a body).

Run it: ``python -m camrig.emulator.olympus --name oly --control /run/gopro-emu/oly.sock --list PEN-F``.
"""

from __future__ import annotations

import argparse
import http.server
import json
import logging
import os
import socketserver
import struct
import subprocess
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

from . import captures
from .httpserver import TrackedHttpServer

log = logging.getLogger("camrig.emulator.olympus")

#: The real command lists shipped in captures/ (README.md there): short name → file name.
COMMAND_LISTS = {"OM-D": "OM-D_oishare-2.60_commandlist.xml", "PEN-F": "PEN-F_oishare-2.60_commandlist.xml"}
#: ``get_caminfo`` model per list (the PEN-F's as hotchpotch/olympus-camera's README shows it;
#: the OM-D capture does not say which OM-D, so the family name stands).
MODELS = {"OM-D": "OM-D", "PEN-F": "PEN-F"}
CAMERA_HOST = "192.168.0.10"           # OPC p. 12, p. 18
MAX_URI = 128                          # OPC p. 21 (414)
DEFAULT_WRONG_MODE_CODE = 1001         # issue 12 (unverified)
INTERNAL_ERROR = "0xB000"              # OPC p. 22, the only code the spec names
FOLDER = "100OLYMP"
#: Bytes per second of recording in the emulated movie file, and its cap (bytes).
MOVIE_RATE = 200_000
MOVIE_CAP = 4 * 1024 * 1024

#: The mode each command needs (sources in the module docstring); others work in any mode.
NEEDS = {"exec_takemotion": "rec", "get_camprop": "rec", "set_camprop": "rec", "exec_takemisc": "rec",
         "exec_shutter": "shutter", "get_imglist": "play", "get_thumbnail": "play",
         "get_screennail": "play", "get_resizeimg": "play", "get_movplaytime": "play",
         "set_utctimediff": "play"}
SWITCHES = ("drop_on_disconnect", "mode_checks", "ranges", "imglist_garbage", "error_without_code")
HOSTILE_LISTS = ("real", "not_xml", "shift_jis", "bad_shift_jis", "huge", "empty", "nothing")


def load_list(short: str) -> bytes:
    """The real command list ``short`` (``"OM-D"``, ``"PEN-F"``) as the camera sends it (bytes)."""
    return captures.path(COMMAND_LISTS[short]).read_bytes()


def list_tree(raw: bytes) -> ET.Element:
    """The command list's root element. The lists declare Shift-JIS, which expat does not take:
    the declaration is dropped and the bytes decoded as Shift-JIS first."""
    text = raw.decode("shift_jis")
    if text.lstrip().startswith("<?xml"):
        text = text[text.index("?>") + 2:]
    return ET.fromstring(text)


def check_request(tree: ET.Element, command: str, pairs: list[tuple[str, str]]) -> str | None:
    """Whether the list accepts ``command`` with ``pairs`` in this order: None, or why not.

    The list's own shape: a ``cmdN`` is a key; its ``paramN`` children the values (a nameless
    one, or none at all, takes any value); ``cmdN`` inside a value, or inside the key itself,
    may follow."""
    cgi = next((c for c in tree.iter("cgi") if c.get("name") == command), None)
    if cgi is None:
        return "unknown"
    method = cgi.find("http_method")
    if method is None:
        return "no http_method"
    allowed = [c for c in method if c.tag.startswith("cmd")]
    for key, value in pairs:
        el = next((c for c in allowed if (c.get("name") or "").strip() == key), None)
        if el is None:
            return f"parameter {key!r} not accepted"
        params = [p for p in el if p.tag.startswith("param")]
        nested = [c for c in el if c.tag.startswith("cmd")]
        if not params:
            allowed = nested
            continue
        match = next((p for p in params if (p.get("name") or "").strip() == value), None)
        if match is None:
            match = next((p for p in params if not (p.get("name") or "").strip()), None)
        if match is None:
            return f"{key}={value!r} not accepted"
        allowed = [c for c in match if c.tag.startswith("cmd")] + nested
    return None


def fat_date(t: time.struct_time) -> tuple[int, int]:
    """FAT-packed (date, time) of ``t`` (OPC p. 67)."""
    date = ((t.tm_year - 1980) << 9) | (t.tm_mon << 5) | t.tm_mday
    tm = (t.tm_hour << 11) | (t.tm_min << 5) | (t.tm_sec // 2)
    return date, tm


def _mov_header() -> bytes:
    """``ftyp`` (brand ``qt  ``) and a ``moov`` holding one version-0 ``mvhd``: the smallest
    QuickTime file a reader walks to its ``moov`` (Apple, QuickTime File Format Specification:
    "File type compatibility atom", "Movie header atom", 108 bytes). A real Olympus MOV carries
    tracks too; which boxes, in what order, is unverified (no capture of one)."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"qt  ", 0x200, b"qt  ")
    mvhd = struct.pack(">I4sB3xIIIIIH10x36x24xI", 108, b"mvhd", 0, 0, 0, 1000, 0, 0x00010000, 0x0100, 2)
    return ftyp + struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd


def movie_bytes(name: str, size: int) -> bytes:
    """Deterministic content of an emulated movie of ``size`` bytes: a QuickTime header
    (:func:`_mov_header`) and an ``mdat`` filled with the name repeated (tests compare copies).
    A size too small for the header (the body never makes one: at least 1024 bytes) gives the
    name repeated alone."""
    unit = (name + "\n").encode()
    head = _mov_header()
    if size < len(head) + 8:
        return (unit * (size // len(unit) + 1))[:size]
    fill = size - len(head) - 8
    return head + struct.pack(">I4s", 8 + fill, b"mdat") + (unit * (fill // len(unit) + 1))[:fill]


class _Server(TrackedHttpServer):
    """The Olympus body's HTTP server (:class:`.httpserver.TrackedHttpServer`); Wi-Fi off drops
    its connections with an EOF."""

    abort_with_reset = False

    def __init__(self, addr, body: OlympusBody):
        self.body = body
        super().__init__(addr, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "OlympusEmulator/1"
    sys_version = ""
    timeout = 120
    server: _Server

    def address_string(self) -> str:
        return self.client_address[0]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("%s %s: %s", self.server.body.name, self.client_address[0], format % args)

    def do_GET(self) -> None:  # noqa: N802
        self.server.body.serve(self, "get")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 16))
        self.server.body.serve(self, "post")

    def reply(self, code: int, body: bytes = b"", content_type: str = "text/xml", *,
              extra: dict[str, str] | None = None) -> None:
        reason = self.responses.get(code, ("Vendor Internal Error" if code == 520 else "",))[0]
        head = [f"HTTP/1.1 {code} {reason}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
                f"Connection: {'close' if self.close_connection else 'Keep-Alive'}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        try:
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            self.close_connection = True


class OlympusBody:
    """One emulated Olympus body (see the module docstring).

    ``name``; ``control_path`` the AF_UNIX control socket (None: none); ``listen``/``port`` where
    its HTTP server binds (``0.0.0.0``:80 in a namespace; port 0 = ephemeral, read ``port`` after
    :meth:`start`); ``commandlist``: ``"OM-D"`` or ``"PEN-F"``; ``netdev``: the namespace's
    interface taken down and up with its Wi-Fi (None: only the server closes); ``start``:
    ``"on"`` or ``"wifi-off"``; ``start_mode``: the mode at power-on (``"play"``; unverified);
    ``connectmode``: ``get_connectmode``'s answer; ``wrong_mode_code``; ``delay_ms`` before every
    answer; ``files``: ``[(name, size)]`` already on the card in 100OLYMP.
    """

    def __init__(self, name: str, *, control_path: str | None = None, listen: str = "0.0.0.0", port: int = 80,
                 commandlist: str = "OM-D", netdev: str | None = None, start: str = "on",
                 start_mode: str = "play", connectmode: str = "private",
                 wrong_mode_code: int = DEFAULT_WRONG_MODE_CODE, delay_ms: float = 0.0,
                 files: list[tuple[str, int]] | None = None):
        if commandlist not in COMMAND_LISTS:
            raise ValueError(f"commandlist must be one of {sorted(COMMAND_LISTS)}, not {commandlist!r}")
        if start not in ("on", "wifi-off"):
            raise ValueError(f"start must be 'on' or 'wifi-off', not {start!r}")
        self.name = name
        self.control_path = control_path
        self.listen = listen
        self.port = port
        self.list_name = commandlist
        self.raw_list = load_list(commandlist)
        self.tree = list_tree(self.raw_list)
        self.model = MODELS[commandlist]
        self.netdev = netdev
        self.connectmode = connectmode
        self.wrong_mode_code = wrong_mode_code
        self.delay_ms = delay_ms
        self.wifi = "off" if start == "wifi-off" else "on"
        self.power = "on"
        self.mode = start_mode
        self.switches = {"drop_on_disconnect": True, "mode_checks": True, "ranges": True,
                         "imglist_garbage": False, "error_without_code": False}
        self.hostile_list = "real"
        self.recording_since: float | None = None
        self.clock: dict[str, str] | None = None
        self.files: list[dict[str, Any]] = []
        self.counter = 0
        for fname, size in files or ():
            self._add_file(fname, size)
        self.events: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self.serial = threading.Lock()     # the camera serves one request at a time
        self._http: _Server | None = None
        self._control: socketserver.ThreadingUnixStreamServer | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<OlympusBody {self.name} {self.model} wifi={self.wifi} mode={self.mode} recording={self.recording}>"

    @property
    def recording(self) -> bool:
        return self.recording_since is not None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind the HTTP server (if Wi-Fi is on) and the control socket; returns at once."""
        self._apply_netdev()
        if self.wifi == "on":
            self._open_http()
        if self.control_path:
            if os.path.exists(self.control_path):
                os.unlink(self.control_path)
            body = self

            class Ctl(socketserver.StreamRequestHandler):
                def handle(self) -> None:
                    line = self.rfile.readline(1 << 16)
                    try:
                        answer = body.control(json.loads(line))
                    except Exception as exc:   # a bad request must not kill the camera
                        answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                    self.wfile.write((json.dumps(answer) + "\n").encode())

            self._control = socketserver.ThreadingUnixStreamServer(self.control_path, Ctl)
            self._control.daemon_threads = True
            t = threading.Thread(target=self._control.serve_forever, kwargs={"poll_interval": 0.1},
                                 name=f"{self.name}-control", daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        """Stop serving (HTTP and control socket)."""
        self._close_http()
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            self._control = None
            if self.control_path and os.path.exists(self.control_path):
                os.unlink(self.control_path)

    def _open_http(self) -> None:
        if self._http is not None:
            return
        self._http = _Server((self.listen, self.port), self)
        self.port = self._http.server_address[1]
        t = threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.05},
                             name=f"{self.name}-http", daemon=True)
        t.start()

    def _close_http(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http.abort_connections()
            self._http = None

    def _apply_netdev(self) -> None:
        if not self.netdev:
            return
        argv = ["ip", "link", "set", "dev", self.netdev, "up" if self.wifi == "on" else "down"]
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=5, check=False)
            if res.returncode:
                log.warning("%s: %s: %s", self.name, " ".join(argv), res.stderr.strip())
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("%s: %s: %s", self.name, " ".join(argv), exc)

    def _event(self, what: str, **detail: Any) -> None:
        self.events.append({"t": time.monotonic(), "what": what, **detail})
        del self.events[:-2000]

    # --- state changes (hold lock) ----------------------------------------------------------------

    def _add_file(self, name: str, size: int, when: float | None = None) -> dict[str, Any]:
        date, tm = fat_date(time.localtime(when))
        f = {"folder": FOLDER, "name": name, "size": int(size), "attr": 32, "date": date, "time": tm}
        self.files.append(f)
        return f

    def _stop_movie(self, why: str) -> None:
        if self.recording_since is None:
            return
        seconds = time.monotonic() - self.recording_since
        self.recording_since = None
        self.counter += 1
        t = time.localtime()
        name = f"P{'123456789ABC'[t.tm_mon - 1]}{t.tm_mday:02d}{self.counter:04d}.MOV"
        size = max(1024, min(MOVIE_CAP, int(seconds * MOVIE_RATE)))
        self._add_file(name, size)
        self._event("record_stop", why=why, file=name, size=size, seconds=round(seconds, 3))

    def set_wifi(self, on: bool, *, cause: str = "control") -> None:
        """Turn the camera's Wi-Fi on or off; off drops every connection and, with
        ``drop_on_disconnect``, ends a movie (OPC p. 112)."""
        with self.lock:
            if (self.wifi == "on") == on:
                return
            self.wifi = "on" if on else "off"
            self._event("wifi_on" if on else "wifi_off", cause=cause)
            if not on and self.switches["drop_on_disconnect"]:
                self._stop_movie("network disconnected")
        if on:
            self._open_http()
        else:
            self._close_http()
        self._apply_netdev()

    # --- HTTP -------------------------------------------------------------------------------------

    def _error(self, h: _Handler, code: int | str | None, command: str) -> None:
        if code is None or self.switches["error_without_code"]:
            h.reply(520, b"")
        else:
            body = (f'<?xml version="1.0"?>\r\n<response><errorcode>{code}</errorcode>'
                    "<errormsg>WIFI_INTERNAL_ERROR</errormsg><dbgmsg>reserved</dbgmsg></response>\r\n")
            h.reply(520, body.encode())
        self._event("error", command=command, code=str(code))

    def serve(self, h: _Handler, method: str) -> None:
        """Answer one request (one at a time: the camera is serial)."""
        with self.serial:
            if self.delay_ms:
                time.sleep(self.delay_ms / 1000.0)
            with self.lock:
                self._serve(h, method)

    def _serve(self, h: _Handler, method: str) -> None:
        raw_path = h.path
        ua = h.headers.get("User-Agent")
        host = h.headers.get("Host")
        path, _, query = raw_path.partition("?")
        self._event("request", path=raw_path[:200], ua=ua, host=host, mode=self.mode)
        if host != CAMERA_HOST:
            h.reply(400, b"", "text/plain")
            return
        if len(raw_path) > MAX_URI:
            h.reply(414, b"", "text/plain")
            return
        if path.startswith("/DCIM/") or path == "/DCIM":
            self._serve_file(h, urllib.parse.unquote(path))
            return
        if not path.endswith(".cgi") or "/" in path[1:]:
            h.reply(404, b"", "text/plain")
            return
        command = path[1:-4]
        pairs = [(urllib.parse.unquote_plus(k), urllib.parse.unquote_plus(v))
                 for k, _, v in (item.partition("=") for item in query.split("&") if item)]
        if command == "get_commandlist":
            self._serve_list(h)
            return
        why = check_request(self.tree, command, pairs)
        if why == "unknown":
            h.reply(404, b"", "text/plain")
            return
        cgi = next(c for c in self.tree.iter("cgi") if c.get("name") == command)
        http_method = cgi.find("http_method")
        listed = (http_method.get("type") or "").lower() if http_method is not None else ""
        if why is not None or listed != method:
            self._event("refused", command=command, why=why or f"method {method}")
            h.reply(500, b"", "text/plain")               # "CGI syntax error" (OPC p. 22)
            return
        need = NEEDS.get(command)
        if need and self.switches["mode_checks"] and self.mode != need:
            self._error(h, self.wrong_mode_code, command)
            return
        args = dict(pairs)
        getattr(self, f"_cmd_{command}", self._cmd_other)(h, command, args)

    def _serve_list(self, h: _Handler) -> None:
        kind = self.hostile_list
        if kind == "real":
            body = self.raw_list
        elif kind == "not_xml":
            body = b"<html><body>OI.Share</body></html>\r\n<oishare><cgi name="
        elif kind == "shift_jis":
            body = self.raw_list.replace(b"<version>2.60</version>",
                                         "<version>2.60 \u30ab\u30e1\u30e9</version>".encode("shift_jis"))
        elif kind == "bad_shift_jis":
            body = self.raw_list.replace(b"<version>2.60</version>", b"<version>\x81\x20\xff</version>")
        elif kind == "huge":
            body = self.raw_list.replace(b"</oishare>", b"<pad>" + b"x" * (2 * 1024 * 1024) + b"</pad></oishare>")
        elif kind == "empty":
            body = b""
        else:                                              # nothing
            body = b'<?xml version="1.0"?><oishare><version>2.60</version></oishare>'
        h.reply(200, body)

    def _cmd_get_connectmode(self, h, command, args) -> None:
        h.reply(200, f'<?xml version="1.0"?>\r\n<connectmode>{self.connectmode}</connectmode>\r\n'.encode())

    def _cmd_get_caminfo(self, h, command, args) -> None:
        h.reply(200, f'<?xml version="1.0"?>\r\n<caminfo>\r\n<model>{self.model}</model>\r\n</caminfo>\r\n'.encode())

    def _cmd_switch_cammode(self, h, command, args) -> None:
        mode = args["mode"]
        if self.recording and mode != "rec":
            self._stop_movie(f"switched to {mode}")   # unverified: what a body does then
        self.mode = mode
        self._event("mode", mode=mode, lvqty=args.get("lvqty"))
        h.reply(200, b"")

    def _cmd_exec_takemotion(self, h, command, args) -> None:
        com = args["com"]
        if com == "startmovietake":
            if self.recording:
                self._error(h, INTERNAL_ERROR, command)
                return
            self.recording_since = time.monotonic()
            self._event("record_start")
        elif com == "stopmovietake":
            if not self.recording:
                self._error(h, INTERNAL_ERROR, command)
                return
            self._stop_movie("stopmovietake")
        else:
            self._event("take", com=com)
        h.reply(200, b"")

    def _cmd_set_utctimediff(self, h, command, args) -> None:
        self.clock = {"utctime": args.get("utctime", ""), "diff": args.get("diff", "")}
        self._event("clock", **self.clock)
        h.reply(200, b"")

    def _cmd_exec_pwoff(self, h, command, args) -> None:
        h.close_connection = True
        h.reply(202, b"")                                  # OPC p. 20, p. 53
        self._event("power_off")
        self.power = "off"
        threading.Thread(target=self.set_wifi, args=(False,), kwargs={"cause": "exec_pwoff"}, daemon=True).start()

    def _cmd_get_imglist(self, h, command, args) -> None:
        folder = args.get("DIR", "").rstrip("/")
        lines = ["VER_100"]
        if folder == "/DCIM":
            if self.files:
                date, tm = fat_date(time.localtime())
                lines.append(f"/DCIM,{FOLDER},0,16,{date},{tm}")
        elif folder == f"/DCIM/{FOLDER}":
            for f in reversed(self.files):                 # "may not be sorted" (OPC p. 67)
                lines.append(f"/DCIM/{FOLDER},{f['name']},{f['size']},{f['attr']},{f['date']},{f['time']}")
            if self.switches["imglist_garbage"] and self.files:
                lines += ["garbage", f"/DCIM/{FOLDER},../../etc/passwd,10,32,1,1",
                          f"/DCIM/{FOLDER},P1.MOV,big,32,1,1", "/DCIM/OTHER,P2.MOV,10,32,1,1",
                          f"/DCIM/{FOLDER},..,0,16,1,1", "/DCIM/100OLYMP,A,B,C"]
        if len(lines) == 1:
            h.reply(404, b"", "text/plain")                # empty folder (camera.py lines 502–504)
            return
        h.reply(200, ("\r\n".join(lines) + "\r\n").encode(), "text/plain")

    def _cmd_other(self, h, command, args) -> None:
        self._event("unmodelled", command=command, args=args)
        h.reply(200, b"")

    def _serve_file(self, h: _Handler, path: str) -> None:
        parts = path.split("/")
        f = None
        if len(parts) == 4 and parts[1] == "DCIM":
            f = next((x for x in self.files if x["folder"] == parts[2] and x["name"] == parts[3]), None)
        if f is None:
            h.reply(404, b"", "text/plain")
            return
        if self.switches["mode_checks"] and self.mode != "play":
            self._error(h, self.wrong_mode_code, "GET /DCIM")
            return
        data = movie_bytes(f["name"], f["size"])
        rng = h.headers.get("Range")
        if rng and self.switches["ranges"] and rng.startswith("bytes="):
            first_s, _, last_s = rng[6:].partition("-")
            try:
                first = int(first_s)
                last = int(last_s) if last_s else len(data) - 1
            except ValueError:
                h.reply(416, b"", "text/plain")
                return
            last = min(last, len(data) - 1)
            if first > last:
                h.reply(416, b"", "text/plain")
                return
            h.reply(206, data[first:last + 1], "video/quicktime",
                    extra={"Content-Range": f"bytes {first}-{last}/{len(data)}"})
            self._event("download", file=f["name"], first=first, last=last)
            return
        h.reply(200, data, "video/quicktime")
        self._event("download", file=f["name"], first=0, last=len(data) - 1)

    # --- control socket -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """What tests read: ``name``, ``model``, ``commandlist``, ``power``, ``wifi``, ``mode``,
        ``recording``, ``record_started_at`` (monotonic s or None), ``clock``, ``files``,
        ``switches``, ``hostile_list``, ``events``."""
        with self.lock:
            return {"ok": True, "name": self.name, "model": self.model, "commandlist": self.list_name,
                    "power": self.power, "wifi": self.wifi, "mode": self.mode, "recording": self.recording,
                    "record_started_at": self.recording_since, "clock": self.clock,
                    "files": [dict(f) for f in self.files], "switches": dict(self.switches),
                    "hostile_list": self.hostile_list, "events": list(self.events)}

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        """One control request: ``{"op": "state"}``, ``{"op": "wifi", "on": false}``, ``{"op": "power",
        "on": true}`` (power on after exec_pwoff: Wi-Fi on), ``{"op": "set", "name": SWITCH, "on": bool}``,
        ``{"op": "set", "name": "commandlist", "value": KIND}``, ``{"op": "add_file", "name", "size"}``,
        ``{"op": "clear_events"}``, ``{"op": "fault", "name": "wifi_off"|"wifi_on"}`` (the
        :class:`~camrig.emulator.control.EmulatorControl` spelling)."""
        op = req.get("op")
        if op == "state":
            return self.state()
        if op == "wifi" or (op == "fault" and req.get("name") in ("wifi_off", "wifi_on")):
            on = bool(req.get("on")) if op == "wifi" else req.get("name") == "wifi_on"
            self.set_wifi(on)
            return {"ok": True, "wifi": self.wifi}
        if op == "power":
            with self.lock:
                self.power = "on" if req.get("on", True) else "off"
            self.set_wifi(self.power == "on", cause="power")
            return {"ok": True, "power": self.power}
        if op == "set":
            name = req.get("name")
            with self.lock:
                if name == "commandlist":
                    if req.get("value") not in HOSTILE_LISTS:
                        return {"ok": False, "error": f"commandlist must be one of {HOSTILE_LISTS}"}
                    self.hostile_list = req["value"]
                elif name in SWITCHES:
                    self.switches[name] = bool(req.get("on"))
                elif name == "wrong_mode_code":
                    self.wrong_mode_code = int(req.get("value", DEFAULT_WRONG_MODE_CODE))
                else:
                    return {"ok": False, "error": f"unknown switch {name!r}; known: {SWITCHES + ('commandlist',)}"}
            return {"ok": True}
        if op == "add_file":
            with self.lock:
                f = self._add_file(str(req["name"]), int(req["size"]))
            return {"ok": True, "file": f}
        if op == "clear_events":
            with self.lock:
                self.events.clear()
            return {"ok": True}
        if op == "set_delay":
            self.delay_ms = float(req.get("ms", 0))
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


def build_parser() -> argparse.ArgumentParser:
    """The command line (the namespace rig passes the GoPro emulators' common options too; those an
    Olympus has no use for — media, Wake-on-LAN and BLE — are accepted and ignored)."""
    p = argparse.ArgumentParser(prog="python -m camrig.emulator.olympus", description=__doc__.split("\n")[0])
    p.add_argument("--name", required=True)
    p.add_argument("--control", help="AF_UNIX control socket path")
    p.add_argument("--listen", default="0.0.0.0")
    p.add_argument("--port", type=int, default=80)
    p.add_argument("--list", dest="commandlist", default="OM-D", choices=sorted(COMMAND_LISTS))
    p.add_argument("--netdev", help="interface taken down/up with the camera's Wi-Fi (in its namespace)")
    p.add_argument("--start", default="on", choices=("on", "wifi-off", "awake", "asleep"))
    p.add_argument("--start-mode", default="play", choices=("play", "rec", "shutter"))
    p.add_argument("--connectmode", default="private")
    p.add_argument("--wrong-mode-code", type=int, default=DEFAULT_WRONG_MODE_CODE)
    p.add_argument("--delay-ms", type=float, default=0.0)
    p.add_argument("--keep-recording-on-disconnect", action="store_true",
                   help="do not end a movie when Wi-Fi goes off (the OPC spec says it ends)")
    for ignored in ("--media-port", "--wol-port", "--wifi-mac", "--bt-mac", "--association-delay",
                    "--boot-delay", "--idle-wifi-off", "--stream-port"):
        p.add_argument(ignored, help=argparse.SUPPRESS)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; serves until SIGTERM/SIGINT."""
    import signal

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    start = "wifi-off" if args.start == "wifi-off" else "on"
    body = OlympusBody(args.name, control_path=args.control, listen=args.listen, port=args.port,
                       commandlist=args.commandlist, netdev=args.netdev, start=start, start_mode=args.start_mode,
                       connectmode=args.connectmode, wrong_mode_code=args.wrong_mode_code, delay_ms=args.delay_ms)
    body.switches["drop_on_disconnect"] = not args.keep_recording_on_disconnect
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    body.start()
    log.info("%s: %s body (%s list) on %s:%d", body.name, body.model, body.list_name, body.listen, body.port)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        body.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
