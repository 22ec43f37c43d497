"""Olympus / OM System bodies over Wi-Fi: the OI.Share protocol (and the Olympus Air's OPC).

Sources (cited again where used):

- joergmlpts/olympus-wifi ``src/olympuswifi/camera.py`` @364dfcd ("camera.py" below): request
  headers ``Host: 192.168.0.10``, ``User-Agent: OI.Share v2`` (lines 95–96); the command list
  fetched first and every command checked against it (lines 111–131, 186–187, 254–308);
  ``switch_cammode`` to change mode, ``mode=rec`` with an ``lvqty`` live-view size (lines
  221–226, 566); properties read and set in ``rec`` mode (364, 396); the clock set with
  ``set_utctimediff?utctime=<UTC %Y%m%dT%H%M%S>&diff=<%z>`` in ``play`` mode (458–466); the image
  list (491–528) and plain ``GET /DCIM/…`` downloads (548) in ``play`` mode; HTTP 200/202 is
  success, anything else an error with an XML body (207–218).
- OPC Communication Protocol 1.0a (Olympus, 2015; ccrome/olympus-omd-remote-control,
  ``OPC_Communication_Protocol_EN_1.0a.pdf``), printed page numbers: the camera is an access
  point at 192.168.0.10 (p. 12); ``Host`` must be 192.168.0.10 (400 otherwise) and the Air wants
  ``User-Agent: OlympusCameraKit`` ("if other values are set, the camera does not accept
  subsequent commands", p. 18); status 520 "Vendor Internal Error" carries an XML body with
  ``errorcode`` (p. 22); ``get_connectmode.cgi`` answers ``<connectmode>OPC</connectmode>`` on an
  Air (p. 49); ``switch_cameramode.cgi`` (p. 50) and ``exec_takemotion.cgi?com=newstartmovietake``
  / ``newstopmovietake`` (p. 78); "the camera stops movie recording automatically after
  disconnection" (Movie Recording sequence, p. 112); ``exec_pwoff.cgi`` answers 202 (p. 53).
- The real command lists (``camrig/emulator/captures/*_commandlist.xml``): ``switch_cammode``
  ``mode=rec&lvqty=…``, ``exec_takemotion`` ``com=startmovietake``/``stopmovietake``,
  ``set_utctimediff`` ``utctime``/``diff``, ``exec_pwoff``, ``get_imglist`` ``DIR``,
  ``get_caminfo``, ``get_connectmode``; no state query, no ``set_timeout``.
- Issue 12 (reported, not in the sources above): errorcode 1001 means "wrong mode"; the OPC spec
  names only 0xB000 "internal error" (p. 22). Unverified on a real body.

Is it recording? OI.Share has no state query and no events, so :meth:`OlympusDriver.status`
reports the driver's *belief*: True once ``exec_takemotion com=startmovietake`` was answered
HTTP 200 in the current session, False after a stop was accepted or when a session starts,
always with ``encoding_confirmed=False`` and the evidence in ``recording_evidence``. A session
ends whenever the camera stops answering (:meth:`OlympusDriver.reset`, called by the worker),
because the camera stops recording when the network drops (OPC p. 112): the worker then sees
"not recording" and starts it again if recording is still wanted. Never "yes" without an
accepted start; never "confirmed".

One request at a time per camera: the camera is serial (issue 12; camera.py lines 236–248 hold
a lock around every action). :class:`SerialHttpClient` holds one lock per camera around every
exchange, shared with its sibling (the job thread's connection, used for downloads).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ...errors import CameraRejected
from ...http import HttpClient, Response
from ..base import CameraStatus
from . import commandlist
from .commandlist import CommandList, CommandListError

log = logging.getLogger(__name__)

#: The camera's own address (OPC 1.0a p. 12) and the ``Host`` it wants (p. 18).
CAMERA_HOST = "192.168.0.10"
#: ``User-Agent`` of OI.Share bodies (camera.py line 96) and of the Air (OPC p. 18).
UA_OISHARE = "OI.Share v2"
UA_OPC = "OlympusCameraKit"
#: Status 520 "Vendor Internal Error", with ``errorcode`` in an XML body (OPC p. 22).
HTTP_VENDOR_ERROR = 520
#: errorcode for "command not allowed in this mode" (issue 12; not in the OPC spec: unverified).
ERR_WRONG_MODE = 1001
#: Longest request URI the camera takes (OPC p. 21: 414 "Request-URI Too Long" over 128 characters).
MAX_URI = 128
#: Live-view size asked for with ``mode=rec`` when the list offers ``lvqty`` (camera.py line 104
#: uses 0640x0480); else the list's first.
PREFERRED_LVQTY = "0640x0480"
#: Largest ``get_caminfo``/``get_connectmode``/error body read, bytes (real ones are ~100 bytes).
MAX_SMALL_XML = 16 * 1024
#: The folder the movies go to (OPC p. 67: ``/DCIM/100OLYMP``); :mod:`.media` lists ``/DCIM``.
DCIM = "/DCIM"


@dataclass(frozen=True)
class Dialect:
    """What differs between the two protocol families: OI.Share bodies (E-M1, E-M5, PEN, TG,
    OM-1) and the Olympus Air (OPC)."""

    name: str                 # "oishare" | "opc"
    title: str
    user_agent: str
    switch_mode: str          # the mode command
    start: str                # exec_takemotion com= values
    stop: str


OISHARE = Dialect("oishare", "OI.Share", UA_OISHARE, "switch_cammode", "startmovietake", "stopmovietake")
OPC = Dialect("opc", "OPC (Olympus Air)", UA_OPC, "switch_cameramode", "newstartmovietake", "newstopmovietake")

#: The Air has no ``get_commandlist.cgi`` (not among the OPC 1.0a commands, p. 90); its list is
#: written here from the spec's command pages (pp. 49–53, 66–67, 78): what this driver sends.
OPC_COMMANDLIST = b"""<?xml version="1.0"?>
<oishare><version>OPC 1.0a</version>
 <cgi name="get_connectmode"><http_method type="get"/></cgi>
 <cgi name="get_state"><http_method type="get"/></cgi>
 <cgi name="switch_cameramode"><http_method type="get"><cmd1 name="mode">
  <param1 name="rec"><cmd2 name="lvqty"><param2 name="0320x0240"/><param2 name="0640x0480"/>
   <param2 name="0800x0600"/><param2 name="1024x0768"/><param2 name="1280x0960"/></cmd2></param1>
  <param1 name="play"/><param1 name="standalone"/><param1 name="playmaintenance"/>
 </cmd1></http_method></cgi>
 <cgi name="exec_takemotion"><http_method type="get"><cmd1 name="com">
  <param1 name="newstartmovietake"/><param1 name="newstopmovietake"/></cmd1></http_method></cgi>
 <cgi name="exec_pwoff"><http_method type="get"/></cgi>
 <cgi name="get_imglist"><http_method type="get"><cmd1 name="DIR"/></http_method></cgi>
 <cgi name="exec_erase"><http_method type="get"><cmd1 name="DIR"/></http_method></cgi>
</oishare>
"""

#: The mode each command needs (camera.py: properties in rec, lines 364/396; the clock in play,
#: 462; live view and takes in rec, 474/566; the image list and downloads after switching to
#: play, 150). Commands not named here are sent in whatever mode the camera is in.
NEEDS_MODE = {"exec_takemotion": "rec", "get_camprop": "rec", "set_camprop": "rec",
              "set_utctimediff": "play", "get_imglist": "play", "exec_erase": "play",
              "get_movplaytime": "play", "get_thumbnail": "play"}


def parse_error_code(body: bytes) -> int | None:
    """The ``errorcode`` of a 520 body (OPC p. 22: ``<response><errorcode>…``; the tag's case
    differs between sources, so any case), as an int (decimal, or ``0x…`` hex as the spec writes
    0xB000); None when the body is not XML, has no code, or the code is not a number."""
    try:
        root = commandlist.parse_xml(body, what="error body", limit=MAX_SMALL_XML)
    except CommandListError:
        return None
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() == "errorcode" and el.text:
            try:
                return int(el.text.strip(), 0)
            except ValueError:
                return None
    return None


def xml_fields(body: bytes, *, what: str, camera: str | None) -> dict[str, str]:
    """The text of each leaf element of a small XML answer (``get_caminfo``: ``{"model": "PEN-F",
    …}``). Raises :class:`~.commandlist.CommandListError` when it is not XML."""
    root = commandlist.parse_xml(body, what=what, camera=camera, limit=MAX_SMALL_XML)
    out: dict[str, str] = {}
    for el in root.iter():
        if len(el) == 0 and el.text and el.text.strip() and isinstance(el.tag, str):
            out.setdefault(el.tag, el.text.strip()[:120])
    if len(root) == 0 and root.text and root.text.strip():
        out.setdefault(root.tag, root.text.strip()[:120])
    return out


def utctimediff_params(when: dt.datetime) -> list[tuple[str, str]]:
    """``set_utctimediff`` parameters for local wall time ``when`` (naive = this machine's zone):
    ``utctime`` = UTC ``YYYYMMDDTHHMMSS`` and ``diff`` = the zone's offset ``+HHMM`` (camera.py lines
    463–465: ``utcnow().strftime("%Y%m%dT%H%M%S")`` and ``strftime("%z")``). ValueError for a
    year the format cannot carry (before 1980, the FAT epoch, or after 2107)."""
    aware = when.astimezone() if when.tzinfo is None else when
    utc = aware.astimezone(dt.UTC)
    if not 1980 <= utc.year <= 2107:
        raise ValueError(f"year {utc.year} cannot be sent to an Olympus (1980–2107)")
    offset = aware.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return [("utctime", utc.strftime("%Y%m%dT%H%M%S")), ("diff", f"{sign}{minutes // 60:02d}{minutes % 60:02d}")]


class SerialHttpClient(HttpClient):
    """An :class:`~camrig.http.HttpClient` whose exchanges, and its siblings', take turns: the
    camera serves one request at a time (issue 12; camera.py lines 236–248). ``serial`` is the
    per-camera lock (an RLock made here unless given). A download holds it for the whole
    transfer; the worker pre-empts jobs (aborting the download) before it needs the camera."""

    def __init__(self, link, *, serial: threading.RLock | None = None, **kw: Any):
        super().__init__(link, **kw)
        self.serial = serial if serial is not None else threading.RLock()

    def get(self, path: str, **kw: Any) -> Response:
        """:meth:`HttpClient.get`, one at a time per camera."""
        with self.serial:
            return super().get(path, **kw)

    def download(self, path, dest, **kw: Any):
        """:meth:`HttpClient.download`, one at a time per camera."""
        with self.serial:
            return super().download(path, dest, **kw)

    def sibling(self) -> SerialHttpClient:
        """A second connection sharing this camera's turn lock (and headers)."""
        return SerialHttpClient(self.link, serial=self.serial, port=self.port, timeout=self.timeout,
                                connect_timeout=self.connect_timeout, max_bytes=self.max_bytes,
                                headers=self.headers)


@dataclass
class Session:
    """What the driver knows of the camera since it last answered after a silence.

    ``dialect``; ``commands`` (its command list); ``caminfo`` (``get_caminfo`` fields, e.g.
    ``model``); ``mode`` the camera was last switched to (None: unknown); ``recording`` the
    belief (see the module docstring) and ``evidence`` what it rests on; ``started`` monotonic
    seconds.
    """

    dialect: Dialect
    commands: CommandList
    caminfo: dict[str, str] = field(default_factory=dict)
    mode: str | None = None
    recording: bool = False
    evidence: str = ("new session: no recording started in it (the camera stops recording when "
                     "the network drops, OPC 1.0a p. 112)")
    #: True once a stop was accepted in this session: the only moment the driver *knows* no movie
    #: is open (a daemon restart keeps the Wi-Fi up, so a movie a previous daemon started may
    #: still run in a new session). The clock, which needs play mode, is set only then.
    known_idle: bool = False
    started: float = field(default_factory=time.monotonic)


class OlympusDriver:
    """Driver for one Olympus / OM System body (the worker's interface: camrig/cameras/base.py).

    ``http`` is the camera's :class:`SerialHttpClient`; ``camera`` its name. Every method raises
    CameraUnreachable, CameraRejected (a refusal, HTTP 520 with its errorcode, an unreadable
    answer; :class:`~.commandlist.UnsupportedCommand` when the body's own list lacks a command or
    value, before anything is sent; :class:`~.commandlist.CommandListError` for an unusable list)
    or LinkError, naming the camera.
    """

    #: No keep-alive of its own: the worker's KEEP_AWAKE status request keeps the session.
    keep_alive_interval = None
    #: For ``check`` and the docs: an Olympus cannot be woken over Wi-Fi.
    wake_hint = "cannot be woken over Wi-Fi: turn on the camera's Wi-Fi"

    def __init__(self, http: HttpClient, camera: str, *, clock=time.monotonic):
        self.http = http
        self.camera = camera
        self.clock = clock
        self._lock = threading.RLock()
        self.session: Session | None = None
        self._set_headers(UA_OPC)

    def __repr__(self) -> str:
        s = self.session
        return f"<OlympusDriver camera={self.camera} dialect={s.dialect.name if s else '?'}>"

    @property
    def protocol(self) -> str:
        """``"oishare"`` or ``"opc"`` once the camera answered, else ``"olympus"``."""
        return self.session.dialect.name if self.session else "olympus"

    # --- HTTP -----------------------------------------------------------------------------------

    def _set_headers(self, user_agent: str) -> None:
        self.http.headers = (f"Host: {CAMERA_HOST}", f"User-Agent: {user_agent}")

    def path(self, command: str, params: Sequence[tuple[str, str]] = ()) -> str:
        """``/<command>.cgi?k=v&…`` with every value percent-encoded (``/`` too, as the seed's
        requests-based tool sends it). CameraRejected when over :data:`MAX_URI` characters."""
        query = "&".join(f"{urllib.parse.quote(k, safe='')}={urllib.parse.quote(v, safe='')}" for k, v in params)
        p = f"/{command}.cgi" + (f"?{query}" if query else "")
        if len(p) > MAX_URI:
            raise CameraRejected(f"{command}.cgi: request of {len(p)} characters is over the camera's "
                                 f"{MAX_URI} (OPC 1.0a p. 21)", camera=self.camera)
        return p

    def _get(self, command: str, params: Sequence[tuple[str, str]] = (), *, timeout: float | None = None) -> Response:
        return self.http.get(self.path(command, params), timeout=timeout)

    def _refused(self, command: str, res: Response) -> CameraRejected:
        if res.status == HTTP_VENDOR_ERROR:
            code = parse_error_code(res.body)
            why = (f"errorcode {code}" + (" (wrong mode)" if code == ERR_WRONG_MODE else "")
                   if code is not None else "no errorcode in its body")
            return CameraRejected(f"{command}.cgi answered HTTP 520 ({why})", camera=self.camera,
                                  http_status=res.status)
        snippet = res.body[:60].decode("utf-8", "replace")
        return CameraRejected(f"{command}.cgi answered HTTP {res.status}" + (f": {snippet!r}" if snippet else ""),
                              camera=self.camera, http_status=res.status)

    def request(self, command: str, params: Sequence[tuple[str, str]] = (), *, mode: str | None = None,
                timeout: float | None = None, ok: tuple[int, ...] = (200, 202)) -> Response:
        """Send ``command`` with ``params`` after checking both against the body's command list,
        switching to ``mode`` first (default :data:`NEEDS_MODE`) when the camera is not in it.

        A 520 with errorcode :data:`ERR_WRONG_MODE` switches to the command's mode again and
        retries once. Returns the answer when its status is in ``ok``; raises CameraRejected
        otherwise (520 named with its errorcode, or "no errorcode"), UnsupportedCommand before
        sending when the list lacks it."""
        with self._lock:
            s = self.ensure_session()
            s.commands.check(command, params, camera=self.camera)
            mode = mode or NEEDS_MODE.get(command)
            if mode is not None and s.mode != mode:
                self.switch_mode(mode)
            res = self._get(command, params, timeout=timeout)
            if res.status == HTTP_VENDOR_ERROR and parse_error_code(res.body) == ERR_WRONG_MODE and mode:
                log.info("%s: %s.cgi refused in the wrong mode (errorcode %d); switching to %s and retrying once",
                         self.camera, command, ERR_WRONG_MODE, mode)
                self.switch_mode(mode, force=True)
                res = self._get(command, params, timeout=timeout)
            if res.status not in ok:
                raise self._refused(command, res)
            return res

    # --- session ----------------------------------------------------------------------------------

    def ensure_session(self) -> Session:
        """The current session, starting one when there is none: ``get_connectmode`` (OPC → the
        Air's dialect), the command list (``get_commandlist``; the Air: :data:`OPC_COMMANDLIST`),
        ``get_caminfo`` where listed. Raises as :meth:`request` does; nothing is kept on failure."""
        with self._lock:
            if self.session is not None:
                return self.session
            self._set_headers(UA_OPC)     # the Air refuses anything after another agent (OPC p. 18)
            res = self._get("get_connectmode")
            if res.status != 200:
                raise self._refused("get_connectmode", res)
            try:
                mode = xml_fields(res.body, what="get_connectmode.cgi", camera=self.camera).get("connectmode")
            except CommandListError:
                raise
            dialect = OPC if (mode or "").strip().upper() == "OPC" else OISHARE
            self._set_headers(dialect.user_agent)
            if dialect is OPC:
                commands = commandlist.parse(OPC_COMMANDLIST, camera=self.camera, source="OPC 1.0a (built in)")
            else:
                res = self._get("get_commandlist")
                if res.status != 200:
                    raise self._refused("get_commandlist", res)
                commands = commandlist.parse(res.body, camera=self.camera)
            session = Session(dialect, commands)
            if commands.has("get_caminfo"):
                res = self._get("get_caminfo")
                if res.status == 200:
                    try:
                        session.caminfo = xml_fields(res.body, what="get_caminfo.cgi", camera=self.camera)
                    except CommandListError as exc:
                        log.warning("%s: %s", self.camera, exc.detail)
                else:
                    log.warning("%s: get_caminfo.cgi answered HTTP %s", self.camera, res.status)
            self.session = session
            log.info("%s: %s body %s (command list %s, %d commands)", self.camera, dialect.title,
                     session.caminfo.get("model", "of unknown model"), commands.version or "unversioned",
                     len(commands.commands))
            self._extend_timeout(session)
            return session

    def _extend_timeout(self, s: Session) -> None:
        """Where the list has ``set_timeout.cgi`` (issue 12; none of the captured lists has it, and
        no source gives its parameters: unverified), ask for the longest value it names."""
        cmd = s.commands.commands.get("set_timeout")
        if cmd is None or cmd.method != "get" or not cmd.keys:
            return
        key = cmd.keys[0]
        numbers = sorted((v for v in key.values if v.isdigit()), key=int)
        if not numbers:
            log.info("%s: set_timeout.cgi listed without values: session timeout left as it is", self.camera)
            return
        try:
            self.request("set_timeout", [(key.name, numbers[-1])])
        except CameraRejected as exc:
            log.warning("%s: could not extend the session: %s", self.camera, exc.detail)

    def switch_mode(self, mode: str, *, force: bool = False) -> None:
        """Put the camera in ``mode`` (``"rec"``, ``"play"``): ``switch_cammode.cgi?mode=…`` (the Air:
        ``switch_cameramode.cgi``), with ``lvqty`` for ``rec`` where the list offers one (camera.py
        lines 221–226, 566). Refused (CameraRejected) while a recording is believed running and
        ``mode`` is not ``rec``: leaving rec mode would end it."""
        with self._lock:
            s = self.ensure_session()
            if s.mode == mode and not force:
                return
            if s.recording and mode != "rec":
                raise CameraRejected(f"not switching to {mode} mode while recording", camera=self.camera)
            d = s.dialect
            params = [("mode", mode)]
            if mode == "rec":
                sizes = s.commands.values(d.switch_mode, params, "lvqty")
                if sizes:
                    params.append(("lvqty", PREFERRED_LVQTY if PREFERRED_LVQTY in sizes else sizes[0]))
            s.commands.check(d.switch_mode, params, camera=self.camera)
            res = self._get(d.switch_mode, params)
            if res.status not in (200, 202):
                s.mode = None
                raise self._refused(d.switch_mode, res)
            s.mode = mode

    # --- the worker's interface -------------------------------------------------------------------

    def shutter(self, on: bool) -> None:
        """Start (``on``) or stop a movie: rec mode, then ``exec_takemotion.cgi?com=startmovietake``
        / ``stopmovietake`` (the Air: ``newstartmovietake``/``newstopmovietake``). The belief
        follows the camera's HTTP 200 (or 202)."""
        with self._lock:
            s = self.ensure_session()
            com = s.dialect.start if on else s.dialect.stop
            self.request("exec_takemotion", [("com", com)], mode="rec")
            s.recording = bool(on)
            s.known_idle = not on
            when = dt.datetime.now().isoformat(timespec="seconds")  # wall time, for people
            s.evidence = f"exec_takemotion com={com} accepted (HTTP 200) {when}; the camera has no state query"

    def status(self) -> CameraStatus:
        """One liveness exchange (``get_connectmode.cgi``, which every mode answers) and the belief:
        ``encoding_active`` as the last accepted start/stop left it, ``encoding_confirmed`` False,
        ``recording_evidence`` saying why. ``raw``: model, dialect, command list version, mode."""
        with self._lock:
            s = self.ensure_session()
            self.request("get_connectmode", ok=(200,))         # checked against the list too
            return CameraStatus(encoding_active=s.recording, system_ready=True, encoding_confirmed=False,
                                recording_evidence=s.evidence,
                                raw={"model": s.caminfo.get("model"), "protocol": s.dialect.name,
                                     "commandlist": s.commands.version, "mode": s.mode})

    def probe(self, *, timeout: float | None = 2.0) -> None:
        """Liveness: ``get_connectmode.cgi`` answered (any status: the camera is there)."""
        self._get("get_connectmode", timeout=timeout)

    def sleep(self) -> None:
        """``exec_pwoff.cgi``: the camera powers off (202, OPC p. 53). It cannot be woken over Wi-Fi
        afterwards: a person must turn it on. The worker only calls it in an SD-card power cycle,
        which an Olympus (no ``sd_status``) never asks for."""
        with self._lock:
            self.request("exec_pwoff")
            self.session = None
            self.http.reset()

    def set_date_time(self, when: dt.datetime) -> None:
        """Set the camera clock: ``set_utctimediff.cgi?utctime=…&diff=…`` (:func:`utctimediff_params`)
        in play mode (camera.py line 462). ValueError for a year it cannot carry. Only when not
        recording: the worker never calls it while encoding, and play mode would end a movie.

        :raises CameraRejected: before a stop was accepted in this session (``Session.known_idle``):
            with no state query, "not recording" at first contact is only a belief, and a movie
            a previous daemon started (``ON_EXIT = "leave"``) would end in play mode. The worker
            shows it as ``clock_error`` and tries again after the next stop.
        """
        params = utctimediff_params(when)
        with self._lock:
            s = self.ensure_session()
            if not s.known_idle and not s.recording:    # (while recording: request() refuses play mode)
                raise CameraRejected("clock left alone until this daemon has stopped a recording on it: "
                                     "an Olympus reports no recording state, and setting the clock "
                                     "(play mode) would end a movie already running", camera=self.camera,
                                     retry_later=True)     # the worker tries again after the next stop
            self.request("set_utctimediff", params)

    def reset(self) -> None:
        """Forget the session (the camera went silent: it stopped any recording, OPC p. 112) and
        the kept-alive connection."""
        with self._lock:
            if self.session is not None and self.session.recording:
                log.info("%s: session lost while recording: the camera stops recording when the "
                         "network drops (OPC 1.0a p. 112)", self.camera)
            self.session = None
        self.http.reset()

    def media(self):
        """The camera's :class:`~camrig.media.MediaAccess` (:class:`.media.OlympusMedia`)."""
        from .media import OlympusMedia

        return OlympusMedia(self)

    def describe(self) -> dict[str, str]:
        """For ``check``: ``protocol``, ``model``, ``firmware`` (``get_caminfo`` has no firmware field
        on the bodies documented: "not reported"), ``commandlist`` version, ``waking``. Starts a
        session when there is none (raises as :meth:`request`)."""
        s = self.ensure_session()
        info = s.caminfo
        firmware = next((v for k, v in info.items() if "firm" in k.lower() or k.lower() in ("version", "fwver")),
                        None)
        return {"protocol": f"{s.dialect.title} ({s.dialect.name})",
                "model": info.get("model", "not reported"),
                "firmware": firmware or "not reported by get_caminfo.cgi",
                "commandlist": f"version {s.commands.version or '?'}, {len(s.commands.commands)} commands",
                "waking": self.wake_hint}
