"""GoPro HERO5–8: the gpControl HTTP API (port 80).

Sources: the real captures in ``shared/fixtures/gopro_legacy/`` —
``HERO5Black_HD5.02.02.00.00_status_idle.json`` (a ``/gp/gpControl/status``
answer) and ``HERO7Black_gpControl.json`` (the camera's own description,
which names every status id) — and KonradIT/goprowifihack (HERO5/HERO7
command lists).

Recording is status 10, ``encoding_active``. The original script read
status 8, ``system_busy``, which is also 1 for a moment after any command and
0 during a long recording: it is not "recording".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from ...errors import CameraRejected
from ...http import HttpClient
from ..base import (  # noqa: F401 - re-exported
    MAX_STATUS_BYTES,
    SD_ERROR,
    SD_NO_CARD,
    SD_OK,
    SD_STATUS_TEXT,
    CameraStatus,
    parse_status_json,
    status_int,
)

log = logging.getLogger(__name__)

# Status ids, named as HERO7Black_gpControl.json names them.
INTERNAL_BATTERY_PRESENT = "1"
INTERNAL_BATTERY_LEVEL = "2"        # bars 0–3, 4 = charging
SYSTEM_BUSY = "8"
ENCODING_ACTIVE = "10"
VIDEO_PROGRESS_COUNTER = "13"       # seconds into the current recording
APP_COUNT = "31"
SD_STATUS = "33"                    # 0 ok, 2 no card, 3 error (-1 unknown on some firmware)
REMAINING_VIDEO_TIME = "35"         # seconds
MODE = "43"                         # 0 video, 1 photo, 2 multishot (HERO7Black_gpControl.json "modes")
SUB_MODE = "44"                     # within the mode: video 0 video, 1 time-lapse video, 3 looping, 4 TimeWarp
REMAINING_SPACE = "54"              # KB
NEXT_POLL_MSEC = "60"               # ms the camera wants between status polls
AP_STATE = "69"
INTERNAL_BATTERY_PERCENTAGE = "70"  # percent
SYSTEM_READY = "82"


PATH_STATUS = "/gp/gpControl/status"
PATH_SHUTTER = "/gp/gpControl/command/shutter?p={p}"
PATH_LOCATE = "/gp/gpControl/command/system/locate?p={p}"
PATH_SLEEP = "/gp/gpControl/command/system/sleep"
PATH_HILIGHT = "/gp/gpControl/command/storage/tag_moment"
PATH_DATE_TIME = "/gp/gpControl/command/setup/date_time?p={p}"
PATH_INFO = "/gp/gpControl/info"
#: Set mode and sub-mode at once: GPCAMERA_SUBMODE ("Set Mode and Sub-Mode", url ``/command/sub_mode``)
#: in HERO7Black_gpControl.json "commands"; parameters as in KonradIT/goprowifihack HERO5 and HERO7
#: command lists ("Secondary modes": ``sub_mode?mode=0&sub_mode=0`` is Video). ``command/mode?p=0``
#: alone is not enough: it returns to the video mode's last sub-mode, which may be time-lapse video.
PATH_SELECT_VIDEO = "/gp/gpControl/command/sub_mode?mode=0&sub_mode=0"

_int = status_int   # the shared helper, under its old name


def parse_status(body: bytes, *, camera: str | None = None) -> CameraStatus:
    """Parse a ``/gp/gpControl/status`` body: :func:`camrig.cameras.base.parse_status_json` (the
    status ids both GoPro APIs share) plus gpControl's mode (43) and sub-mode (44). Raises
    CameraRejected (naming the camera) when it is not JSON, not an object with a ``status``
    object, or lacks status 10.

    Values of the wrong type in optional fields become None; nothing else raises.
    """
    st = parse_status_json(body, camera=camera)
    return dataclasses.replace(st, mode=status_int(st.raw, MODE), sub_mode=status_int(st.raw, SUB_MODE))


def date_time_param(when: dt.datetime) -> str:
    """``setup/date_time`` parameter: ``%YY%MM%DD%hh%mm%ss``, two hex digits each, year − 2000.

    (KonradIT/goprowifihack HERO5 notes; the capture's status 40 has the same
    shape: ``%11%02%12%12%38%3A``.)
    """
    if not 2000 <= when.year <= 2255:
        raise ValueError(f"year {when.year} cannot be sent to a GoPro (2000–2255)")
    parts = (when.year - 2000, when.month, when.day, when.hour, when.minute, when.second)
    return "".join(f"%{p:02X}" for p in parts)


class GpControl:
    """Driver for one HERO5–8 over gpControl. All methods raise CameraUnreachable,
    CameraRejected (HTTP status other than 200, unreadable answer) or LinkError."""

    protocol = "gpcontrol"
    #: No keep-alive of its own: the worker's KEEP_AWAKE status request keeps Wi-Fi up.
    keep_alive_interval = None
    #: where the media list and files are served (goprowifihack ``HERO7/Mediabrowsing.md``)
    media_port = 8080

    def __init__(self, http: HttpClient, camera: str):
        self.http = http
        self.camera = camera

    def __repr__(self) -> str:
        return f"<GpControl camera={self.camera}>"

    def _command(self, path: str, *, timeout: float | None = None) -> bytes:
        res = self.http.get(path, timeout=timeout)
        if res.status != 200:
            raise CameraRejected(f"GET {path} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)
        return res.body

    def shutter(self, on: bool) -> None:
        """Start (``on``) or stop recording: ``command/shutter?p=1|0``."""
        self._command(PATH_SHUTTER.format(p=1 if on else 0))

    def status(self) -> CameraStatus:
        """``/gp/gpControl/status``, parsed."""
        return parse_status(self._command(PATH_STATUS), camera=self.camera)

    def probe(self, *, timeout: float | None = 2.0) -> None:
        """Harmless liveness probe: ``system/locate?p=0`` (turns the locate beeper off)."""
        self._command(PATH_LOCATE.format(p=0), timeout=timeout)

    def sleep(self) -> None:
        """Put the camera to sleep (``system/sleep``); Wi-Fi stays up for Wake-on-LAN."""
        self._command(PATH_SLEEP)

    def select_video(self) -> None:
        """Put the camera in plain video mode (status 43 = 0, 44 = 0): ``command/sub_mode?mode=0&sub_mode=0``.

        The worker never calls it while the camera is encoding. Raises CameraRejected when the
        camera refuses (a gpControl camera answers HTTP 500 with a JSON error record).
        """
        self._command(PATH_SELECT_VIDEO)

    def hilight(self) -> None:
        """Tag a HiLight in the current recording (``storage/tag_moment``: GPCAMERA_TAG_MOMENT,
        "Tag Moment", in HERO7Black_gpControl.json "commands"; KonradIT/goprowifihack "Tag moment").
        Called by ``CameraWorker.mark()`` from the worker thread, only while the camera's
        recording is confirmed (a HiLight tags a recording)."""
        self._command(PATH_HILIGHT)

    def reset(self) -> None:
        """Forget the kept-alive connection (the camera slept, rebooted or went out of reach)."""
        self.http.reset()

    def set_date_time(self, when: dt.datetime) -> None:
        """Set the camera clock to ``when`` (local wall time, as the camera shows it)."""
        self._command(PATH_DATE_TIME.format(p=date_time_param(when)))

    def media(self, http: HttpClient | None = None):
        """The camera's media for the offload (:class:`camrig.media.MediaAccess`): list and files
        on port :attr:`media_port` (8080), delete over gpControl. ``http``: the client to use
        (the job's own connection); default this driver's (shared with the shutter: keep it for
        short calls)."""
        from .media import LegacyMedia
        return LegacyMedia(http or self.http, self.camera, media_port=self.media_port)
