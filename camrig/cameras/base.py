"""What every camera family shares: the status the worker understands, the driver and waker
interfaces, and the parts one camera is served by (:class:`CameraParts`).

A driver speaks one camera's protocol (``gpcontrol`` for HERO5–8, ``open_gopro`` for
HERO9–13 over HTTP or BLE) and hands the worker a :class:`CameraStatus`. Both APIs number
their statuses alike (10 encoding, 8 busy, 33 storage, 35 remaining video s, 54 free KB,
60 poll period ms, 70 battery %, 82 ready: ``HERO7Black_gpControl.json`` for the legacy
cameras, ``openapi_http_2.0.json`` components.schemas.State for Open GoPro), so one status
class serves both.

The interface the worker calls (camrig/worker.py)::

    shutter(on: bool) -> None
    status() -> CameraStatus
    probe(*, timeout: float | None = 2.0) -> None      # raises until the camera answers
    sleep() -> None
    set_date_time(when: datetime.datetime) -> None    # local wall time
    reset() -> None                                   # forget connections (after a failure)
    keep_alive_interval: float | None                 # seconds; None: no keep-alive of its own
    keep_alive() -> None                              # only when keep_alive_interval is set
    select_video() -> None                            # optional: see "Camera mode" below

Every method raises CameraUnreachable, CameraRejected or LinkError, naming the camera.

Camera mode ("Always video", issue 17): a camera left in photo or time-lapse mode takes a
photo (or a time-lapse) on every shutter. A driver that can read and set the mode reports it in
:class:`CameraStatus` — gpControl (HERO5–8): ``mode``/``sub_mode``, statuses 43/44; Open GoPro
(HERO9–13): ``preset_group``, status 96 "Preset Group" (EnumPresetGroup 1000 video, 1001 photo,
1002 time-lapse), and ``flat_mode``, status 89 (OpenAPI ``components.schemas.State``) — so that
:attr:`CameraStatus.in_video_mode` is True or False, and has ``select_video()``, which puts the
camera in plain video mode (gpControl ``sub_mode?mode=0&sub_mode=0``; Open GoPro: load the video
preset group). The worker calls it whenever a status says the camera is not in video mode and
it is not encoding (never while recording), and before a shutter on. A driver without
``select_video`` reports ``in_video_mode`` None and the worker leaves its mode alone: nothing
pretends a mode was set.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CameraRejected

if TYPE_CHECKING:
    import threading

    from ..ble.loop import BleLoop
    from ..config import CameraConfig
    from ..http import HttpClient
    from ..link import Link, RouteTable

SD_UNKNOWN, SD_OK, SD_FULL, SD_NO_CARD, SD_ERROR, SD_BUSY, SD_SWAPPED = -1, 0, 1, 2, 3, 4, 8
#: Status 33. Legacy (HERO7Black_gpControl.json names it ``sd_status``): 0 ok, 2 no card, 3 error;
#: 2 as "no card" on HERO5–8 is unverified. Open GoPro "Primary Storage" (openapi_http_2.0.json,
#: components.schemas.State, status 33): -1 unknown, 0 ok, 1 full, 2 removed, 3 format error,
#: 4 busy, 8 swapped.
SD_STATUS_TEXT = {-1: "unknown", 0: "ok", 1: "full", 2: "no card", 3: "error", 4: "busy", 8: "swapped"}
#: Card states in which a camera cannot record until a person acts (or, for busy, until the
#: camera is done): the worker names them and backs off instead of shuttering again.
SD_CANNOT_RECORD = {SD_FULL: "SD card full", SD_NO_CARD: "no SD card", SD_BUSY: "SD card busy",
                    SD_SWAPPED: "SD card swapped"}



def sd_text(value: int | None) -> str:
    """Status 33 by name: ``"ok"``, ``"full"``, ``"no card"``… ``"unknown"`` for None,
    ``"code N"`` for a value no source names."""
    if value is None:
        return "unknown"
    return SD_STATUS_TEXT.get(value, f"code {value}")

#: gpControl status 43 ``mode`` and 44 ``sub_mode`` (HERO7Black_gpControl.json: "modes" values and
#: each mode's ``current_sub_mode`` options; KonradIT/goprowifihack HERO5/HERO7 command lists).
MODE_VIDEO, MODE_PHOTO, MODE_MULTISHOT = 0, 1, 2
SUB_MODE_VIDEO = 0
MODE_NAMES = {
    (0, 0): "video", (0, 1): "time-lapse video", (0, 2): "video+photo", (0, 3): "looping",
    (0, 4): "TimeWarp", (1, 0): "photo", (1, 1): "continuous photo", (1, 2): "night photo",
    (2, 0): "burst", (2, 1): "time-lapse photo", (2, 2): "night-lapse", (3, 0): "broadcast",
    (3, 1): "broadcast", (4, None): "playback", (5, None): "setup",
}
_MODE_GROUPS = {0: "video", 1: "photo", 2: "multishot", 3: "broadcast", 4: "playback", 5: "setup", 6: "audio"}

#: Open GoPro status 96 "Preset Group" values (OpenAPI components.schemas.EnumPresetGroup).
PRESET_GROUP_VIDEO = 1000
PRESET_GROUP_NAMES = {1000: "video", 1001: "photo", 1002: "time-lapse", 2000: "general"}
#: Open GoPro status 89 "Flatmode" values by name (OpenAPI components.schemas.EnumFlatMode).
FLAT_MODE_NAMES = {
    4: "playback", 5: "setup", 12: "video", 13: "time-lapse video", 15: "looping", 16: "photo",
    17: "photo", 18: "night photo", 19: "burst", 20: "time-lapse photo", 21: "night-lapse photo",
    22: "broadcast record", 23: "broadcast", 24: "TimeWarp", 25: "live burst",
    26: "night-lapse video", 27: "slo-mo", 28: "idle", 29: "star trails", 30: "light painting",
    31: "light trail", 32: "burst slo-mo",
}


@dataclass(frozen=True)
class CameraStatus:
    """What one status answer said (``/gp/gpControl/status``, ``/gopro/camera/state`` or a BLE
    status query).

    ``encoding_active`` (status 10) is the recording flag; ``sd_status``
    (33), ``battery_percent`` (70, percent), ``battery_bars`` (2; 4 =
    charging), ``remaining_space_kb`` (54, KB), ``remaining_video_s`` (35,
    seconds), ``video_progress_s`` (13, seconds), ``next_poll_ms`` (60,
    milliseconds), ``system_ready`` (82; None when the firmware lacks it),
    ``system_busy`` (8), ``mode`` (43) and ``sub_mode`` (44) in gpControl numbering (None
    elsewhere), ``preset_group`` (Open GoPro 96: 1000 video, 1001 photo, 1002 time-lapse) and
    ``flat_mode`` (Open GoPro 89, EnumFlatMode; None elsewhere). ``raw`` keeps the whole
    ``status`` object.

    ``encoding_confirmed``: True when ``encoding_active`` was read from the camera (status 10);
    False when the camera has no state query and the flag is the driver's belief from what the
    camera last accepted (Olympus OI.Share: an HTTP 200 to ``exec_takemotion``), in which case
    ``recording_evidence`` says what the belief rests on (for people: status file and table).
    """

    encoding_active: bool
    system_busy: bool = False
    system_ready: bool | None = None
    sd_status: int | None = None
    battery_percent: int | None = None
    battery_bars: int | None = None
    remaining_space_kb: int | None = None
    remaining_video_s: int | None = None
    video_progress_s: int | None = None
    next_poll_ms: int | None = None
    mode: int | None = None
    sub_mode: int | None = None
    preset_group: int | None = None
    flat_mode: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    encoding_confirmed: bool = True
    recording_evidence: str | None = None

    @property
    def sd_error(self) -> bool:
        """The card is in error (33 == 3; "SD Card Format Error" on Open GoPro): only a power cycle clears it."""
        return self.sd_status == SD_ERROR

    @property
    def storage_problem(self) -> str | None:
        """Why the card keeps the camera from recording (status 33 = 1 full, 2 no card/removed,
        4 busy, 8 swapped), e.g. ``"SD card full"``; None when the card is fine, unknown, or in
        error (3: :attr:`sd_error`, cleared by a power cycle)."""
        return SD_CANNOT_RECORD.get(self.sd_status) if self.sd_status is not None else None

    @property
    def ready(self) -> bool:
        """The camera will accept a shutter: ready (82, where reported) and not busy (8)."""
        return self.system_ready is not False and not self.system_busy

    @property
    def in_video_mode(self) -> bool | None:
        """gpControl: True in plain video (mode 0, sub-mode 0: not time-lapse video, looping,
        TimeWarp), False in any other mode; a missing sub-mode with mode 0 counts as video.
        Open GoPro: True in the video preset group (status 96 = 1000), False in any other
        group; whichever video preset is loaded in it (looping, slo-mo…) counts as video, since
        loading the group is all the daemon does. None when neither is reported.
        """
        if self.mode is not None:
            return self.mode == MODE_VIDEO and self.sub_mode in (None, SUB_MODE_VIDEO)
        if self.preset_group is not None:
            return self.preset_group == PRESET_GROUP_VIDEO
        return None

    @property
    def mode_name(self) -> str | None:
        """The mode for people: ``'video'``, ``'photo'``, ``'time-lapse video'``…; ``'mode 7/1'``
        for a gpControl pair this table does not know. Open GoPro: the flat mode's name (status
        89) when known, else the preset group's (``'time-lapse'``, ``'preset group 1234'``).
        None when no mode is reported."""
        if self.mode is None:
            if self.preset_group is None:
                return FLAT_MODE_NAMES.get(self.flat_mode) if self.flat_mode is not None else None
            flat = FLAT_MODE_NAMES.get(self.flat_mode) if self.flat_mode is not None else None
            return flat or PRESET_GROUP_NAMES.get(self.preset_group, f"preset group {self.preset_group}")
        name = MODE_NAMES.get((self.mode, self.sub_mode)) or MODE_NAMES.get((self.mode, None))
        if name:
            return name
        group = _MODE_GROUPS.get(self.mode)
        sub = "" if self.sub_mode is None else f"/{self.sub_mode}"
        return f"{group}{sub}" if group else f"mode {self.mode}{sub}"


#: Bodies over this are not status answers (a HERO7 status is ~3 KB).
MAX_STATUS_BYTES = 256 * 1024


def status_int(status: Mapping[str, Any], key: str) -> int | None:
    """``status[key]`` when it is an int (not a bool), else None."""
    v = status.get(key)
    if isinstance(v, bool) or not isinstance(v, int):
        return None
    return v


def parse_status_json(body: bytes, *, camera: str | None = None) -> CameraStatus:
    """Parse a JSON status answer ``{"status": {"10": 0, ...}, ...}`` (gpControl
    ``/gp/gpControl/status``, HERO7Black_gpControl.json; Open GoPro ``/gopro/camera/state``,
    openapi_http_2.0.json components.schemas.State) into the status ids both APIs share: 10
    encoding, 8 busy, 82 ready, 33 SD, 70 battery %, 2 battery bars, 54 free KB, 35 remaining
    video s, 13 video progress s, 60 poll period ms. Modes are each family's (left None).

    Raises CameraRejected (naming the camera) when the body is over :data:`MAX_STATUS_BYTES`,
    not JSON, not an object with a ``status`` object, or lacks a valid status 10. Values of the
    wrong type in optional fields become None.
    """
    if len(body) > MAX_STATUS_BYTES:
        raise CameraRejected(f"status answer of {len(body)} bytes is too large to be one", camera=camera)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError) as exc:
        snippet = body[:40].decode("utf-8", "replace")
        raise CameraRejected(f"status answer is not JSON ({type(exc).__name__}): {snippet!r}",
                             camera=camera) from None
    status = doc.get("status") if isinstance(doc, dict) else None
    if not isinstance(status, dict):
        raise CameraRejected("status answer has no 'status' object", camera=camera)
    encoding = status.get("10")
    if isinstance(encoding, bool) or encoding not in (0, 1):
        raise CameraRejected(f"status answer lacks a valid status 10 (encoding_active): {encoding!r}",
                             camera=camera)
    ready = status_int(status, "82")
    return CameraStatus(
        encoding_active=encoding == 1,
        system_busy=status_int(status, "8") == 1,
        system_ready=None if ready is None else ready == 1,
        sd_status=status_int(status, "33"),
        battery_percent=status_int(status, "70"),
        battery_bars=status_int(status, "2"),
        remaining_space_kb=status_int(status, "54"),
        remaining_video_s=status_int(status, "35"),
        video_progress_s=status_int(status, "13"),
        next_poll_ms=status_int(status, "60"),
        raw=status,
    )


class Driver(Protocol):
    """The calls the worker makes (see the module docstring)."""

    keep_alive_interval: float | None

    def shutter(self, on: bool) -> None: ...
    def status(self) -> CameraStatus: ...
    def probe(self, *, timeout: float | None = 2.0) -> None: ...
    def sleep(self) -> None: ...
    def set_date_time(self, when) -> None: ...
    def reset(self) -> None: ...
    # Optional (the worker checks with getattr): select_video() -> None, plain video mode.


class Waker(Protocol):
    """What the worker calls to wake a camera: ``wake(stop, on_step=None)`` returns once the
    camera answers, raising WakeFailed (or AdapterMismatch) naming the camera; ``stop`` (a
    threading.Event) cuts it short; ``on_step(text)`` is told each step for the status.
    ``timeout`` (seconds) bounds one wake. Optional: ``check_adapter()`` (the worker checks with
    getattr)."""

    timeout: float

    def wake(self, stop: threading.Event, on_step=None) -> None: ...


@dataclass
class CameraParts:
    """Everything that serves one camera: its Link, HTTP client, driver and waker, and the BLE
    session that pushes status (Open GoPro), if any: an object with ``on_push`` (called with a
    {status id: value} dict) and ``disconnect()``."""

    camera: CameraConfig
    link: Link
    http: HttpClient
    driver: Any
    waker: Any
    ble: Any = None


@dataclass
class Shared:
    """What the cameras of one assembly share, handed to :attr:`Family.build
    <camrig.cameras.registry.Family.build>`: the RouteTable (route mode, else None), the one BLE
    loop (``ble_loop()`` starts it on first use) and each family's own shared object by family
    name (``family["gopro_legacy"]``: the gatttool runner)."""

    route_table: RouteTable | None = None
    ble_loop_factory: Any = None
    family: dict[str, Any] = field(default_factory=dict)

    def ble_loop(self) -> BleLoop:
        """The BLE loop (the process's shared one unless the assembly gave another)."""
        if self.ble_loop_factory is None:
            from ..ble.loop import shared_ble_loop
            return shared_ble_loop()
        return self.ble_loop_factory()
