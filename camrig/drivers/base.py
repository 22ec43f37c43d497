"""What every camera driver shares: the status the worker understands, and the driver interface.

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

Every method raises CameraUnreachable, CameraRejected or LinkError, naming the camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

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


@dataclass(frozen=True)
class CameraStatus:
    """What one status answer said (``/gp/gpControl/status``, ``/gopro/camera/state`` or a BLE
    status query).

    ``encoding_active`` (status 10) is the recording flag; ``sd_status``
    (33), ``battery_percent`` (70, percent), ``battery_bars`` (2; 4 =
    charging), ``remaining_space_kb`` (54, KB), ``remaining_video_s`` (35,
    seconds), ``video_progress_s`` (13, seconds), ``next_poll_ms`` (60,
    milliseconds), ``system_ready`` (82; None when the firmware lacks it),
    ``system_busy`` (8). ``raw`` keeps the whole ``status`` object.
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
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

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


class Driver(Protocol):
    """The calls the worker makes (see the module docstring)."""

    keep_alive_interval: float | None

    def shutter(self, on: bool) -> None: ...
    def status(self) -> CameraStatus: ...
    def probe(self, *, timeout: float | None = 2.0) -> None: ...
    def sleep(self) -> None: ...
    def set_date_time(self, when) -> None: ...
    def reset(self) -> None: ...
