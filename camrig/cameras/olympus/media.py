"""An Olympus body's card for the offload (:class:`camrig.media.MediaAccess`).

Sources: OPC Communication Protocol 1.0a p. 66–67 ("Get Image List", "Format of Image List"):
``get_imglist.cgi?DIR=/DCIM/100OLYMP`` answers ``text/plain``: the fixed line ``VER_100``, then
one line per entry ``<directory>,<filename>,<size>,<attribute>,<date>,<time>`` — size in bytes,
attribute bits 0 read-only, 1 hidden, 2 system, 3 volume, 4 directory, 5 archive; date and time
FAT-packed (date bits 15–9 year since 1980, 8–5 month, 4–0 day; time bits 15–11 hours, 10–5
minutes, 4–0 seconds/2); "the list may not be sorted". joergmlpts/olympus-wifi
``src/olympuswifi/camera.py`` @364dfcd lines 491–528: lines split at CRLF, a 404 for an empty
folder means "no files" (lines 502–504), hidden, system and volume entries skipped, directories
listed in turn; line 548: a file is fetched with a plain ``GET /DCIM/<folder>/<name>``. The
image list and the downloads happen in play mode (camera.py line 150 switches to play before
any listing); :meth:`OlympusMedia.begin_offload` switches to play, :meth:`end_offload` back to
rec. Deleting needs ``exec_erase.cgi?DIR=…`` (OPC p. 88; in an E-M1 Mark II's list, hotchpotch/
olympus-camera spec/data/e-m1-mark2.xml): the OM-D and PEN-F lists have no ``exec_erase``, so on
those bodies :meth:`delete` raises UnsupportedCommand naming what the body has.

Every line is hostile input: a line without six fields, with a size or attribute that is not a
number, a directory that is not the folder asked for, or a name with ``/``, ``..`` or control
characters is left out and logged (one warning per listing, counting them), never the listing.
"""

from __future__ import annotations

import calendar
import logging
import urllib.parse

from ...errors import CameraRejected
from ...media import MAX_FILE_SIZE, MediaFile, MediaListError, safe_component
from .driver import DCIM, OlympusDriver

log = logging.getLogger(__name__)

#: The first line of every image list (OPC p. 67).
LIST_VERSION = "VER_100"
ATTR_HIDDEN, ATTR_SYSTEM, ATTR_VOLUME, ATTR_DIRECTORY = 2, 4, 8, 16
#: Most entries read from one folder's list (a DCF folder holds at most 9999 files).
MAX_ENTRIES = 20_000
#: Most folders under /DCIM listed (DCF folder numbers run 100–999).
MAX_FOLDERS = 900


def fat_datetime(date: int, time_: int) -> float | None:
    """FAT-packed ``date`` and ``time`` (OPC p. 67) as POSIX seconds of the camera's wall time read
    as if UTC (as GoPro ``cre``/``mod`` are: camrig.media.MediaFile); None when not a real date
    (month 0 or 13, day 0, hour 24…)."""
    if not (0 <= date <= 0xFFFF and 0 <= time_ <= 0xFFFF):
        return None
    year, month, day = 1980 + (date >> 9), (date >> 5) & 15, date & 31
    hour, minute, second = time_ >> 11, (time_ >> 5) & 63, 2 * (time_ & 31)
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]
            and hour < 24 and minute < 60 and second < 60):
        return None
    return float(calendar.timegm((year, month, day, hour, minute, second)))


def parse_imglist(body: bytes, folder_path: str, *,
                  camera: str | None = None) -> tuple[list[MediaFile], list[str], list[str]]:
    """Parse one ``get_imglist.cgi?DIR=folder_path`` answer.

    Returns ``(files, subfolders, problems)``: :class:`~camrig.media.MediaFile` for each usable
    file entry (camera order), the full paths of directory entries (``/DCIM/100OLYMP``), and one
    message per line left out. Raises :class:`~camrig.media.MediaListError` when the answer is not
    an image list at all (no ``VER_100`` first line, not text)."""
    text = body.decode("utf-8", "replace")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or lines[0].strip() != LIST_VERSION:
        raise MediaListError(f"get_imglist.cgi?DIR={folder_path}: not an image list (first line "
                             f"{lines[0][:40]!r}, expected {LIST_VERSION!r})", camera=camera)
    files: list[MediaFile] = []
    folders: list[str] = []
    problems: list[str] = []
    for n, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        if len(files) + len(folders) >= MAX_ENTRIES:
            problems.append(f"more than {MAX_ENTRIES} entries: the rest left out")
            break
        fields = line.split(",")
        if len(fields) != 6:
            problems.append(f"line {n}: {len(fields)} fields, not 6: {line[:80]!r}")
            continue
        directory, name = fields[0].strip(), fields[1].strip()
        try:
            size, attr, date, time_ = (int(f.strip()) for f in fields[2:])
        except ValueError:
            problems.append(f"line {n}: size/attribute/date/time not numbers: {line[:80]!r}")
            continue
        if directory.rstrip("/") != folder_path.rstrip("/"):
            problems.append(f"line {n}: directory {directory[:60]!r} is not {folder_path!r}")
            continue
        try:
            safe_component(name, what="file name")
        except MediaListError as exc:
            problems.append(f"line {n}: {exc}")
            continue
        if attr < 0 or attr & (ATTR_HIDDEN | ATTR_SYSTEM | ATTR_VOLUME):
            continue                                  # camera.py lines 515–523: not footage
        if attr & ATTR_DIRECTORY:
            folders.append(f"{folder_path.rstrip('/')}/{name}")
            continue
        if not 0 <= size <= MAX_FILE_SIZE:
            problems.append(f"line {n}: size {size} is not 0…{MAX_FILE_SIZE} bytes")
            continue
        stamp = fat_datetime(date, time_)
        try:
            files.append(MediaFile(folder=folder_path.rstrip("/").rsplit("/", 1)[-1], name=name, size=size,
                                   created=stamp, modified=stamp,
                                   extra=(("attribute", str(attr)), ("date", str(date)), ("time", str(time_)))))
        except MediaListError as exc:
            problems.append(f"line {n}: {exc}")
    return files, folders, problems


class OlympusMedia:
    """:class:`camrig.media.MediaAccess` for one Olympus body, through its :class:`OlympusDriver`
    (every request checked against the body's command list, one at a time per camera).

    ``root``: where listing starts (``/DCIM``; each DCF folder under it is listed in turn).
    """

    def __init__(self, driver: OlympusDriver, *, root: str = DCIM):
        self.driver = driver
        self.root = root

    def __repr__(self) -> str:
        return f"<OlympusMedia camera={self.driver.camera}>"

    def _list(self, folder_path: str) -> tuple[list[MediaFile], list[str]]:
        res = self.driver.request("get_imglist", [("DIR", folder_path)], ok=(200, 404))
        if res.status == 404:
            return [], []                              # empty folder (camera.py lines 502–504)
        files, folders, problems = parse_imglist(res.body, folder_path, camera=self.driver.camera)
        if problems:
            log.warning("%s: get_imglist.cgi?DIR=%s: %d line(s) left out; first: %s", self.driver.camera,
                        folder_path, len(problems), problems[0])
        return files, folders

    def list_media(self) -> list[MediaFile]:
        """Every file in every folder under ``/DCIM`` (play mode), camera order within a folder.
        Raises CameraRejected / CameraUnreachable / LinkError, MediaListError for a list that is not
        one (a folder's bad lines are left out and logged)."""
        top_files, folders = self._list(self.root)
        out = list(top_files)
        for folder in folders[:MAX_FOLDERS]:
            files, _ = self._list(folder)
            out.extend(files)
        return out

    def download_path(self, f: MediaFile) -> tuple[int | None, str]:
        """``(None, "/DCIM/<folder>/<name>")``, percent-encoded (camera.py line 548)."""
        return None, f"{self.root}/{urllib.parse.quote(f.folder)}/{urllib.parse.quote(f.name)}"

    def delete(self, f: MediaFile) -> None:
        """``exec_erase.cgi?DIR=/DCIM/<folder>/<name>`` where the body lists it (play mode);
        UnsupportedCommand (a CameraRejected) naming the body's commands where it does not."""
        self.driver.request("exec_erase", [("DIR", f"{self.root}/{f.folder}/{f.name}")])

    def begin_offload(self) -> None:
        """Play mode (the image list and downloads need it). CameraRejected while a recording is
        believed running (leaving rec mode would end it)."""
        s = self.driver.ensure_session()
        if s.recording:
            raise CameraRejected("not offloading while recording", camera=self.driver.camera)
        self.driver.switch_mode("play")

    def end_offload(self) -> None:
        """Back to rec mode, ready for the next start."""
        self.driver.switch_mode("rec")
