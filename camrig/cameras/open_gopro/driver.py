"""GoPro HERO9–13: the Open GoPro API, over HTTP (Wi-Fi or USB) or over BLE alone.

Sources: ``shared/fixtures/open_gopro/openapi_http_2.0.json`` (GoPro's OpenAPI description of
the HTTP API 2.0: paths, parameters, ``x-supported-cameras``, the State schema naming every
status id) and ``state_2022-01-04.json`` (a real ``/gopro/camera/state``); the Open GoPro BLE
specification for the BLE side (:mod:`camrig.cameras.open_gopro.protocol`).

- :class:`OpenGoProHttp` — port 8080 at 10.5.5.9 (Wi-Fi) or 172.2X.1YZ.51 (USB). Shutter is
  ``/gopro/camera/shutter/start|stop``, listed for HERO10 Black and later: a HERO9's shutter goes
  through its BLE session instead. Status is ``/gopro/camera/state``, whose ``status`` object is
  keyed by the same ids as gpControl's (10 Encoding, 8 Busy, 33 Primary Storage −1…8, 35
  Remaining Video Time s, 54 SD Card Remaining KB, 60 Minimum Status Poll Period ms, 70 Internal
  Battery Percentage, 82 Ready, 89 Flatmode, 96 Preset Group).
- :class:`OpenGoProBleDriver` — everything over BLE (``control = "ble"``): shutter, Get Status
  Values (0x13), keep-alive, date/time, sleep, Load Preset Group.

Always video (issue 17): every status carries status 96 "Preset Group" (EnumPresetGroup: 1000
video, 1001 photo, 1002 time-lapse) and 89 "Flatmode", so :class:`CameraStatus` says whether
the camera is in video; ``select_video()`` loads the video preset group —
``/gopro/camera/presets/set_group?id=1000`` over HTTP (OpenAPI ``OGP_PRESET_SET_GROUP``, listed
for HERO9 Black and later), ``04 3E 02 03 E8`` over BLE (BLE spec "Presets: Load Group") — and
then waits (at most ``PRESET_SETTLE_S``) for status 8 Busy to clear: the OpenAPI file says "System
Busy flag is set while loading presets" and "best practice is to always wait for the System Busy
and Encode Active flags to be unset before sending messages other than camera status queries".
The worker never calls it while the camera is encoding.

Both keep the camera awake with the keep-alive every ``keep_alive_interval`` seconds (3 s:
openapi ``/gopro/camera/keep_alive`` "best practice … every 3.0 seconds"; BLE spec "State
Management" → "Keep Alive").

The camera clock is set by the worker, once per first contact (after a wake, or the first
check of a camera found awake) and again when the wall clock jumps: ``connect()`` does not
set it. :meth:`OpenGoProHttp.set_date_time` goes over BLE when the camera's BLE session is
connected, or for a HERO9/HERO10 with a bt_mac (Set Date Time ``0D 07 …``, listed for HERO9
Black and later in the BLE spec's operations table), else over HTTP:
``/gopro/camera/set_date_time`` is listed for HERO11 Black and later only (OpenAPI
``paths./gopro/camera/set_date_time.get.x-supported-cameras``), with ``tzone`` and ``dst``
required there, while their notes say "Not supported on: Hero 10 Black, Hero 9 Black" — so a
HERO9/HERO10 is tried without them, and a refusal is logged as a warning naming the camera and
kept in ``clock_error`` (None once a set succeeds).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time

from ...errors import BleError, CameraRejected, CameraUnreachable, LinkError
from ...http import HttpClient
from ..base import PRESET_GROUP_VIDEO, CameraStatus, parse_status_json
from ..base import status_int as _int
from .models import BLE_SHUTTER_MODELS

log = logging.getLogger(__name__)

KEEP_ALIVE_S = 3.0

PATH_STATE = "/gopro/camera/state"
PATH_SHUTTER = "/gopro/camera/shutter/{mode}"              # start | stop (HERO10+)
PATH_KEEP_ALIVE = "/gopro/camera/keep_alive"
PATH_DATE_TIME = "/gopro/camera/set_date_time?date={date}&time={time}"
PATH_DATE_TIME_TZ = PATH_DATE_TIME + "&tzone={tzone}&dst={dst}"   # HERO11+
PATH_WIRED_USB = "/gopro/camera/control/wired_usb?p={p}"
PATH_CAMERA_CONTROL = "/gopro/camera/control/set_ui_controller?p={p}"
PATH_SLEEP = "/gp/gpControl/command/system/sleep"
PATH_SET_GROUP = "/gopro/camera/presets/set_group?id={id}"   # OGP_PRESET_SET_GROUP (HERO9+)
#: OGP_TAG_MOMENT "Hilight While Recording" (OpenAPI ``paths./gopro/media/hilight/moment.get``:
#: 200 empty, 500 "Camera is not currently recording"; x-supported-cameras HERO10 Black and
#: later, not HERO9 Black, whose HiLight goes over BLE: ``01 18``).
PATH_HILIGHT = "/gopro/media/hilight/moment"
#: Models whose HiLight goes over BLE (Hilight Moment 0x18): HTTP tag moment is not listed for them.
BLE_HILIGHT_MODELS = ("hero9",)
STATUS_BUSY, STATUS_FLAT_MODE, STATUS_PRESET_GROUP = "8", "89", "96"
#: Seconds select_video() waits for status 8 Busy to clear after loading the video group.
PRESET_SETTLE_S = 2.0
PRESET_SETTLE_POLL_S = 0.1

CAMERA_CONTROL_EXTERNAL = 2     # EnumCameraControlStatus CAMERA_EXTERNAL_CONTROL
#: Models without tzone/dst on set_date_time, and without set_ui_controller (openapi notes).
NO_TZ_MODELS = ("hero9", "hero10")
#: Models without Set Camera Control, HTTP set_ui_controller or BLE F1 69 (both list HERO10
#: Black and later: OpenAPI x-supported-cameras; BLE spec operations table).
NO_CONTROL_CLAIM_MODELS = ("hero9",)
#: Models with /gopro/camera/control/wired_usb (OpenAPI x-supported-cameras: HERO10 Black and
#: later). A HERO9 on USB is "GoPro Connect" (legacy API; refused by the config).
WIRED_USB_MODELS = ("hero10", "hero11", "hero12", "hero13")


def parse_state(body: bytes, *, camera: str | None = None) -> CameraStatus:
    """Parse a ``/gopro/camera/state`` body (``{"status": {...}, "settings": {...}}``).

    Same rules as gpControl's status (:func:`camrig.cameras.base.parse_status_json`:
    CameraRejected when not JSON, no ``status`` object or no valid status 10). Statuses 43/44
    are not modes here (``mode``/``sub_mode`` stay None); the mode is status 96 Preset Group
    (``preset_group``) and 89 Flatmode (``flat_mode``), None when absent or not an integer.
    """
    st = parse_status_json(body, camera=camera)
    return dataclasses.replace(st,
                               preset_group=_int(st.raw, STATUS_PRESET_GROUP),
                               flat_mode=_int(st.raw, STATUS_FLAT_MODE))


def status_from_values(values: dict[int, int]) -> CameraStatus:
    """A BLE Get Status Values answer ``{status id: value}`` → CameraStatus.

    Raises CameraRejected-free ValueError when status 10 is missing or not 0/1.
    """
    enc = values.get(10)
    if enc not in (0, 1):
        raise ValueError(f"no valid status 10 (encoding) in {values}")
    ready = values.get(82)
    return CameraStatus(
        encoding_active=enc == 1,
        system_busy=values.get(8) == 1,
        system_ready=None if ready is None else ready == 1,
        sd_status=values.get(33),
        battery_percent=values.get(70),
        battery_bars=values.get(2),
        remaining_space_kb=values.get(54),
        remaining_video_s=values.get(35),
        video_progress_s=values.get(13),
        next_poll_ms=values.get(60),
        preset_group=values.get(96),
        flat_mode=values.get(89),
        raw={str(k): v for k, v in values.items()},
    )


def date_time_path(when: dt.datetime, model: str) -> str:
    """``set_date_time`` request for ``model``: ``date=YYYY_MM_DD&time=HH_MM_SS``, plus
    ``tzone`` (UTC offset of ``when`` in minutes; naive = local time) and ``dst`` (0/1) on
    HERO11 and later (openapi: "Not supported on Hero 10 Black, Hero 9 Black")."""
    date, time_ = when.strftime("%Y_%m_%d"), when.strftime("%H_%M_%S")
    if model in NO_TZ_MODELS:
        return PATH_DATE_TIME.format(date=date, time=time_)
    aware = when if when.tzinfo else when.astimezone()
    offset = aware.utcoffset() or dt.timedelta(0)
    dst = aware.dst()
    if dst is None:
        import time as _time
        dst_flag = 1 if _time.localtime(aware.timestamp()).tm_isdst > 0 else 0
    else:
        dst_flag = 1 if dst else 0
    return PATH_DATE_TIME_TZ.format(date=date, time=time_, tzone=int(offset.total_seconds() // 60), dst=dst_flag)


def wait_not_busy(status, camera: str, *, timeout: float = PRESET_SETTLE_S,
                  poll: float = PRESET_SETTLE_POLL_S, clock=time.monotonic, sleep=time.sleep) -> bool:
    """After loading a preset group: read ``status()`` every ``poll`` seconds until status 8 Busy
    is 0, for at most ``timeout`` seconds (OpenAPI "General Usage": busy "while loading presets";
    wait for it "before sending messages other than camera status queries"). True when it
    cleared; False (logged, not raised: the shutter that follows is the worker's to judge) when
    it did not. Errors of ``status()`` propagate."""
    deadline = clock() + timeout
    while True:
        if not status().system_busy:
            return True
        if clock() >= deadline:
            log.info("%s: still busy %.1f s after loading the video preset group", camera, timeout)
            return False
        sleep(poll)


def _unreachable(exc: BleError, camera: str) -> CameraUnreachable:
    """A failed BLE exchange, as the worker understands it: the camera is out of reach."""
    return CameraUnreachable(f"BLE: {exc.detail}", camera=camera)


class OpenGoProHttp:
    """Driver for one HERO9–13 over HTTP (Wi-Fi or USB). ``ble`` is the camera's
    :class:`~camrig.cameras.open_gopro.ble.OpenGoProBle` session (required for a HERO9's shutter),
    ``usb`` True when reached over USB (wired control enabled on connect).
    Methods raise CameraUnreachable, CameraRejected or LinkError."""

    protocol = "open_gopro"

    def __init__(self, http: HttpClient, camera: str, model: str, *, usb: bool = False, ble=None,
                 keep_alive_interval: float | None = KEEP_ALIVE_S, wallclock=time.time):
        self.http = http
        self.camera = camera
        self.model = model
        self.usb = usb
        self.ble = ble
        self.keep_alive_interval = keep_alive_interval
        self.wallclock = wallclock
        self._connected = False
        #: Why the camera clock could not be set the last time it was tried (None: it was set,
        #: or never tried); ``clock_via`` says how it was last set ("ble" or "http").
        self.clock_error: str | None = None
        self.clock_via: str | None = None

    def __repr__(self) -> str:
        return f"<OpenGoProHttp camera={self.camera} model={self.model} usb={self.usb}>"

    def _get(self, path: str, *, timeout: float | None = None) -> bytes:
        res = self.http.get(path, timeout=timeout)
        if res.status != 200:
            raise CameraRejected(f"GET {path} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)
        return res.body

    def connect(self) -> None:
        """On first contact (after a wake, a reset or at start): enable wired control (USB, on
        models that list ``wired_usb``), claim external control (HERO10+). Called by the waker,
        and by every command when it has not happened since the last reset. The clock is not
        set here: the worker sets it once per first contact (:meth:`set_date_time`)."""
        if self.usb and self.model in WIRED_USB_MODELS:
            self._get(PATH_WIRED_USB.format(p=1))
        if self.model not in NO_CONTROL_CLAIM_MODELS:
            try:
                self._get(PATH_CAMERA_CONTROL.format(p=CAMERA_CONTROL_EXTERNAL))
            except CameraRejected as exc:
                log.info("%s: claiming external control refused: %s", self.camera, exc)
        self._connected = True

    def _ensure_connected(self) -> None:
        if not self._connected:
            self.connect()

    def shutter(self, on: bool) -> None:
        """Start/stop recording: ``/gopro/camera/shutter/start|stop``; a HERO9 over BLE."""
        self._ensure_connected()
        if self.model in BLE_SHUTTER_MODELS:
            if self.ble is None:
                raise CameraRejected("a HERO9 starts and stops recording over BLE only, and has no bt_mac",
                                     camera=self.camera)
            try:
                self.ble.shutter(on)
            except BleError as exc:
                raise _unreachable(exc, self.camera) from None
            return
        self._get(PATH_SHUTTER.format(mode="start" if on else "stop"))

    def status(self) -> CameraStatus:
        """``/gopro/camera/state``, parsed."""
        self._ensure_connected()
        return parse_state(self._get(PATH_STATE), camera=self.camera)

    def probe(self, *, timeout: float | None = 2.0) -> None:
        """Harmless liveness probe: the keep-alive (answered even before wired control is on)."""
        self._get(PATH_KEEP_ALIVE, timeout=timeout)

    def keep_alive(self) -> None:
        """``/gopro/camera/keep_alive``."""
        self._ensure_connected()
        self._get(PATH_KEEP_ALIVE)

    def hilight(self) -> None:
        """Tag a HiLight in the recording: ``GET /gopro/media/hilight/moment`` (OpenAPI
        OGP_TAG_MOMENT, HERO10 Black and later; "This can only be used during recording", 500
        otherwise); a HERO9 over its BLE session (Hilight Moment ``01 18``, BLE spec "Hilights").

        :raises CameraRejected: the camera refused (HTTP 500: not recording; BLE result 1), or a
            HERO9 without a bt_mac; CameraUnreachable / LinkError when it did not answer.
        """
        self._ensure_connected()
        if self.model in BLE_HILIGHT_MODELS:
            if self.ble is None:
                raise CameraRejected("a HERO9 takes a HiLight over BLE only (its HTTP API lists no "
                                     "hilight/moment), and has no bt_mac", camera=self.camera)
            try:
                self.ble.hilight()
            except BleError as exc:
                if exc.reason == "rejected":
                    raise CameraRejected(f"BLE: {exc.detail}", camera=self.camera) from None
                raise _unreachable(exc, self.camera) from None
            return
        try:
            self._get(PATH_HILIGHT)
        except CameraRejected as exc:
            if exc.http_status == 500:
                raise CameraRejected("HiLight refused (HTTP 500: the camera says it is not recording)",
                                     camera=self.camera, http_status=500) from None
            raise

    def select_video(self) -> None:
        """Load the video preset group: ``/gopro/camera/presets/set_group?id=1000`` (HERO9 and
        later, OpenAPI ``OGP_PRESET_SET_GROUP``), then wait for status 8 Busy to clear
        (:func:`wait_not_busy`). The worker never calls it while the camera is encoding.
        Raises CameraRejected when the camera refuses, CameraUnreachable or LinkError."""
        self._ensure_connected()
        self._get(PATH_SET_GROUP.format(id=PRESET_GROUP_VIDEO))
        wait_not_busy(self.status, self.camera)

    def sleep(self) -> None:
        """``/gp/gpControl/command/system/sleep`` (listed for HERO9 and later)."""
        self._get(PATH_SLEEP)
        if self.ble is not None:
            self.ble.disconnect()

    def set_date_time(self, when: dt.datetime) -> None:
        """Set the camera clock to ``when`` (naive = local time).

        Over BLE (Set Date Time ``0D``) when the BLE session is connected, or when the model
        is a HERO9/HERO10 with a session (HTTP set_date_time is not listed for them; the
        session is connected for this and let go again if it was not connected before); else,
        or when BLE fails, ``/gopro/camera/set_date_time`` (:func:`date_time_path`: without
        tzone/dst on HERO9/HERO10). A refusal or failure is logged as a warning naming the
        camera, kept in :attr:`clock_error`, and raised (CameraRejected, CameraUnreachable or
        LinkError; ValueError for a date that cannot be sent)."""
        ble_error = None
        ble = self.ble
        if ble is not None and (ble.connected or self.model in NO_TZ_MODELS):
            was_connected = ble.connected
            try:
                ble.set_date_time(when)
                self.clock_error, self.clock_via = None, "ble"
                return
            except BleError as exc:
                ble_error = f"BLE Set Date Time: {exc.detail}"
            finally:
                if not was_connected and self.model not in BLE_SHUTTER_MODELS:
                    ble.disconnect()
        path = date_time_path(when, self.model)
        try:
            self._get(path)
        except CameraRejected as exc:
            hint = (" (the OpenAPI file lists set_date_time for HERO11 and later; a bt_mac lets the "
                    "daemon set the clock over BLE)" if self.model in NO_TZ_MODELS and ble is None else "")
            self._clock_failed("; ".join(filter(None, [ble_error, f"HTTP set_date_time refused: {exc.detail}{hint}"])))
            raise
        except (CameraUnreachable, LinkError) as exc:
            self._clock_failed("; ".join(filter(None, [ble_error, f"HTTP set_date_time: {exc}"])))
            raise
        self.clock_error, self.clock_via = None, "http"

    def _clock_failed(self, why: str) -> None:
        self.clock_error = why
        log.warning("%s: camera clock not set: %s", self.camera, why)

    def media(self, http: HttpClient | None = None):
        """The camera's media for the offload (:class:`camrig.media.MediaAccess`, OpenAPI
        ``/gopro/media/*``). ``http``: the client to use (the job's own connection); default this
        driver's."""
        from .media import OpenGoProMedia
        return OpenGoProMedia(http or self.http, self.camera)

    def reset(self) -> None:
        self.http.reset()
        self._connected = False


class OpenGoProBleDriver:
    """Driver for one HERO9–13 over BLE only (``control = "ble"``). BLE failures become
    CameraUnreachable (the worker then wakes, i.e. reconnects); a status answer without status
    10 is CameraRejected.

    On HERO10 and later the session claims external control on every connection (Set Camera
    Control ``F1 69 08 02``, BLE spec "Control" → "Set Camera Control", listed for HERO10 Black
    and later; "State Management" → "Camera Control": a third-party client should claim it).
    The clock is set by the worker (:meth:`set_date_time`, Set Date Time ``0D``), not on
    connect; a refusal is kept in ``clock_error``."""

    protocol = "open_gopro_ble"

    def __init__(self, ble, camera: str, model: str, *, keep_alive_interval: float | None = KEEP_ALIVE_S,
                 wallclock=time.time):
        self.ble = ble
        self.camera = camera
        self.model = model
        self.keep_alive_interval = keep_alive_interval
        self.wallclock = wallclock
        self._connected = False
        self.clock_error: str | None = None
        self.clock_via: str | None = None
        if model not in NO_CONTROL_CLAIM_MODELS:
            ble.claim_control = True       # the session claims it after readiness, each connection

    def __repr__(self) -> str:
        return f"<OpenGoProBleDriver camera={self.camera} model={self.model} {self.ble!r}>"

    def _call(self, fn, *args):
        try:
            if not self._connected:
                self.connect()
            return fn(*args)
        except BleError as exc:
            raise _unreachable(exc, self.camera) from None

    def connect(self) -> None:
        """Connect (waking the camera; the session waits for BLE readiness and claims control)."""
        try:
            self.ble.connect()
            self._connected = True
        except BleError as exc:
            self._connected = False
            raise _unreachable(exc, self.camera) from None

    def shutter(self, on: bool) -> None:
        self._call(self.ble.shutter, on)

    def status(self) -> CameraStatus:
        values = self._call(self.ble.status_values)
        try:
            return status_from_values(values)
        except ValueError as exc:
            raise CameraRejected(f"BLE status answer: {exc}", camera=self.camera) from None

    def probe(self, *, timeout: float | None = 2.0) -> None:
        self._call(self.ble.status_values, (10,))

    def keep_alive(self) -> None:
        self._call(self.ble.keep_alive)

    def select_video(self) -> None:
        """Load the video preset group over BLE (``04 3E 02 03 E8``, answer ``02 3E 00``), then
        wait for status 8 Busy to clear (:func:`wait_not_busy`). A refusal (another result, e.g.
        while encoding) raises CameraRejected naming the camera; a failed exchange
        CameraUnreachable."""
        try:
            if not self._connected:
                self.connect()
            self.ble.load_preset_group(PRESET_GROUP_VIDEO)
        except BleError as exc:
            if exc.reason == "rejected":
                raise CameraRejected(f"BLE load preset group: {exc.detail}", camera=self.camera) from None
            raise _unreachable(exc, self.camera) from None
        wait_not_busy(self.status, self.camera)

    def sleep(self) -> None:
        self._call(self.ble.sleep)
        self.ble.disconnect()

    def hilight(self) -> None:
        """Hilight Moment ``01 18`` over BLE (BLE spec "Hilights", listed for HERO9–HERO12 Black;
        on a HERO13 over BLE alone it is sent all the same, unverified). A refusal (result 1: not
        encoding) raises CameraRejected naming the camera; a failed exchange CameraUnreachable."""
        try:
            if not self._connected:
                self.connect()
            self.ble.hilight()
        except BleError as exc:
            if exc.reason == "rejected":
                raise CameraRejected(f"BLE: {exc.detail}", camera=self.camera) from None
            raise _unreachable(exc, self.camera) from None

    def set_date_time(self, when: dt.datetime) -> None:
        """Set Date Time ``0D 07 …`` over BLE; a refusal is logged as a warning naming the
        camera, kept in :attr:`clock_error` and raised as CameraUnreachable."""
        try:
            self._call(self.ble.set_date_time, when)
        except CameraUnreachable as exc:
            self.clock_error = f"BLE Set Date Time: {exc.detail}"
            log.warning("%s: camera clock not set: %s", self.camera, self.clock_error)
            raise
        self.clock_error, self.clock_via = None, "ble"

    def reset(self) -> None:
        self.ble.disconnect()
        self._connected = False
