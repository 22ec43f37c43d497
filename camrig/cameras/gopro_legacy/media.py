"""HERO5–8 media over Wi-Fi: the list, the files, delete (what the offload needs, camrig/media.py).

Sources:

- List: ``GET :8080/gp/gpMediaList`` (KonradIT/goprowifihack ``HERO7/Mediabrowsing.md``, "Media
  List"; the capture ``HERO7Black_gpControl.json`` names it ``GPCAMERA_MEDIA_LIST`` /
  ``services.media_list`` ``/gp/gpMediaList``). The answer is
  ``{"id": …, "media": [{"d": "100GOPRO", "fs": [{"n", "cre", "mod", "s", "glrv", "ls"}]}]}``,
  every value a string: ``n`` the file name, ``cre``/``mod`` Unix seconds, ``s`` the size in
  bytes, ``glrv`` the size of the low-resolution proxy (same name, ``.LRV``), ``ls`` "always
  seems to be -1" (same file).
- Files: ``GET :8080/videos/DCIM/<d>/<n>`` (same file, "Other info": the cherokee front end at
  ``:8080/videos/DCIM``).
- Delete: ``GET :80/gp/gpControl/command/storage/delete?p=/<d>/<n>`` (goprowifihack HERO4/HERO5
  command lists, "Delete file: …/command/storage/delete?p=file (eg. /100GOPRO/G0010124.JPG)"; the
  capture ``HERO7Black_gpControl.json`` line ~9070: ``GPCAMERA_DELETE_FILE_ID`` url
  ``/command/storage/delete``). Unverified on a HERO7 itself: the command is listed, its answer
  is not documented; anything but HTTP 200 is taken as a refusal.

The list does not name ``.LRV`` and ``.THM`` files: they are derived here from each video entry
(:func:`derived_files`), the LRV with the size ``glrv`` (else ``ls``) gives, the THM with size
unknown (``extra`` ``("size", "unknown")``: fetched without a size check, capped at
:data:`MAX_THUMBNAIL_BYTES`). Names follow camrig/offload/recordings.py.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import quote

from ...errors import CameraRejected
from ...http import HttpClient
from ...media import MAX_FILE_SIZE, MediaFile, MediaListError, by_path

log = logging.getLogger(__name__)

#: the port the media server of a HERO5–8 listens on (goprowifihack ``HERO7/Mediabrowsing.md``)
MEDIA_PORT = 8080
PATH_MEDIA_LIST = "/gp/gpMediaList"
PATH_DELETE = "/gp/gpControl/command/storage/delete?p=/{path}"
#: largest media list accepted (bytes): ~150 bytes an entry, so ~100 000 files.
MAX_LIST_BYTES = 16 * 1024 * 1024
#: seconds for the list (a full card makes the camera walk its folders)
LIST_TIMEOUT = 30.0
#: a THM (EXIF thumbnail) is ~17 KB (OpenAPI "Chapters" listing); anything over 4 MB is refused
MAX_THUMBNAIL_BYTES = 4 * 1024 * 1024
#: ``extra`` marker of a file whose size the list does not give (a derived THM)
SIZE_UNKNOWN = ("size", "unknown")


#: ASCII digits only: str.isdigit() also takes "²" and other digits int() refuses (found by hypothesis)
_DIGITS = re.compile(r"[0-9]{1,20}\Z")
_SIGNED_DIGITS = re.compile(r"-?[0-9]{1,20}\Z")


def _seconds(value) -> float | None:
    """A ``cre``/``mod`` string (or int) as float seconds; None when missing or not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return float(value) if 0 <= value < 1 << 40 else None
    if isinstance(value, str) and _DIGITS.match(value.strip()):
        v = int(value.strip())
        return float(v) if v < 1 << 40 else None
    return None


def _size(value) -> int | None:
    """``s``/``glrv``/``ls`` as int (the list sends strings; ints are taken too); None when it is
    not a whole number. A negative number (``"-1"``) comes back as is (the caller decides)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if _SIGNED_DIGITS.match(text) and len(text) <= 20:
            return int(text)
    return None


def parse_media_list(body: bytes, *, camera: str, source: str = PATH_MEDIA_LIST) -> list[MediaFile]:
    """Parse a GoPro media list (gpMediaList and Open GoPro ``/gopro/media/list`` share the shape)
    into :class:`MediaFile` s, in the camera's order, with derived LRV/THM files after each video.

    Entries that cannot be used (not an object, no name, an unsafe name such as ``../x``, ``a/b``
    or one with NUL, a size that is not 0…1 TiB, a duplicate path, a grouped photo item) are left
    out and logged with the camera's name; the rest is returned.

    :raises MediaListError: the body is not JSON, or not an object with a ``media`` list.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MediaListError(f"{source}: not JSON ({exc})", camera=camera) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("media"), list):
        raise MediaListError(f"{source}: not an object with a 'media' list", camera=camera)
    files: list[MediaFile] = []
    skipped: list[str] = []
    groups = 0
    for folder_entry in doc["media"]:
        if not isinstance(folder_entry, dict) or not isinstance(folder_entry.get("fs"), list):
            skipped.append(f"folder entry {str(folder_entry)[:60]!r}: no 'd' and 'fs' list")
            continue
        folder: Any = folder_entry.get("d")          # checked by MediaFile (safe_component)
        for item in folder_entry["fs"]:
            if not isinstance(item, dict):
                skipped.append(f"{folder!r}: entry {str(item)[:60]!r} is not an object")
                continue
            if "g" in item or "b" in item:
                groups += 1            # a burst / time-lapse photo group (OpenAPI GroupedMediaListItem)
                continue
            size = _size(item.get("s"))
            extra = tuple(sorted((str(k), str(v)) for k, v in item.items()
                                 if k not in ("n", "s", "cre", "mod") and isinstance(v, (str, int))))
            try:
                name: Any = item.get("n")
                f = MediaFile(folder=folder, name=name, size=size if size is not None else -1,
                              created=_seconds(item.get("cre")), modified=_seconds(item.get("mod")),
                              extra=extra)
            except MediaListError as exc:
                skipped.append(exc.detail if hasattr(exc, "detail") else str(exc))
                continue
            files.append(f)
    listed = by_path(files)
    if len(listed) < len(files):
        skipped.append(f"{len(files) - len(listed)} duplicate path(s) (the first of each kept)")
    for why in skipped[:20]:
        log.warning("%s: media list: entry skipped: %s", camera, why)
    if len(skipped) > 20:
        log.warning("%s: media list: %d more entries skipped", camera, len(skipped) - 20)
    if groups:
        log.info("%s: media list: %d grouped photo item(s) (burst, time-lapse) are not offloaded", camera, groups)
    # LRV and THM after their video; a file the camera lists by itself wins over a derived one.
    out: list[MediaFile] = []
    seen: set[str] = set()
    for f in listed.values():
        for g in (f, *derived_files(f)):
            if g.path in seen or (g is not f and g.path in listed):
                continue
            seen.add(g.path)
            out.append(g)
    return out


def proxy_name(name: str) -> str | None:
    """The ``.LRV`` name of video ``name``: ``GH010078.MP4`` → ``GL010078.LRV`` (HERO6+, OpenAPI
    "Chapters"), ``GOPR0078.MP4`` → ``GOPR0078.LRV``, ``GP010078.MP4`` → ``GP010078.LRV``
    (goprowifihack: same name, .LRV); None for a name that is neither."""
    stem, _, ext = name.rpartition(".")
    if ext.upper() not in ("MP4",) or len(stem) != 8:
        return None
    up = stem.upper()
    if up[0] == "G" and up[1] in "HXML" and up[2:].isdigit():
        return f"GL{stem[2:]}.LRV"
    if up.startswith("GOPR") and up[4:].isdigit() or up.startswith("GP") and up[2:].isdigit():
        return f"{stem}.LRV"
    return None


def derived_files(f: MediaFile) -> list[MediaFile]:
    """The LRV (when ``glrv`` or ``ls`` gives a positive size) and THM of video ``f``, as
    :class:`MediaFile` s marked ``("derived", "1")`` in ``extra``; [] for anything else."""
    lrv = proxy_name(f.name)
    if lrv is None:
        return []
    extra = dict(f.extra)
    out = []
    size = next((s for s in (_size(extra.get("glrv")), _size(extra.get("ls"))) if s is not None and s > 0), None)
    if size is not None and size <= MAX_FILE_SIZE:
        out.append(MediaFile(f.folder, lrv, size, f.created, f.modified, (("derived", "1"),)))
    thm = f.name.rpartition(".")[0] + ".THM"
    out.append(MediaFile(f.folder, thm, 0, f.created, f.modified, (("derived", "1"), SIZE_UNKNOWN)))
    return out


def size_known(f: MediaFile) -> bool:
    """False for a file whose size the list does not give (a derived THM)."""
    return SIZE_UNKNOWN not in f.extra


def file_path(f: MediaFile) -> str:
    """``/videos/DCIM/<folder>/<name>``, each part percent-encoded (OpenAPI
    ``/videos/DCIM/{directory}/{filename}``, goprowifihack "Other info")."""
    return f"/videos/DCIM/{quote(f.folder, safe='')}/{quote(f.name, safe='')}"


class LegacyMedia:
    """:class:`camrig.media.MediaAccess` for a HERO5–8. ``http``: the client to use (the job's own
    connection, :attr:`camrig.jobs.JobContext.http`); the list and files come from
    ``media_port`` (8080) at the same address, delete goes to ``http``'s own port (80).
    Raises CameraUnreachable / CameraRejected / LinkError naming the camera, MediaListError."""

    protocol = "gpcontrol"

    def __init__(self, http: HttpClient, camera: str, *, media_port: int = MEDIA_PORT,
                 list_timeout: float = LIST_TIMEOUT):
        self.http = http
        self.camera = camera
        self.media_port = media_port
        self.list_timeout = list_timeout

    def __repr__(self) -> str:
        return f"<LegacyMedia {self.camera} :{self.media_port}>"

    def _list_client(self) -> HttpClient:
        return HttpClient(self.http.link, port=self.media_port, timeout=self.list_timeout,
                          connect_timeout=self.http.connect_timeout, max_bytes=MAX_LIST_BYTES)

    def list_media(self) -> list[MediaFile]:
        """``GET :8080/gp/gpMediaList``, parsed (:func:`parse_media_list`)."""
        client = self._list_client()
        try:
            res = client.get(PATH_MEDIA_LIST)
        finally:
            client.close()
        if res.status != 200:
            raise CameraRejected(f"GET {PATH_MEDIA_LIST} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)
        return parse_media_list(res.body, camera=self.camera)

    def download_path(self, f: MediaFile) -> tuple[int | None, str]:
        """``(8080, "/videos/DCIM/<folder>/<name>")``."""
        return self.media_port, file_path(f)

    def telemetry_path(self, f: MediaFile) -> tuple[int | None, str] | None:
        """None: gpControl has no telemetry endpoint (the GPMF track is inside the MP4)."""
        return None

    def delete(self, f: MediaFile) -> None:
        """``GET :80/gp/gpControl/command/storage/delete?p=/<folder>/<name>``; CameraRejected
        unless HTTP 200."""
        path = PATH_DELETE.format(path=quote(f.path, safe="/"))
        res = self.http.get(path)
        if res.status != 200:
            raise CameraRejected(f"GET {path} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)

    def begin_offload(self) -> None:
        """Nothing to switch on a HERO5–8: gpControl has no turbo transfer mode (the capture
        ``HERO7Black_gpControl.json`` lists none)."""
        return None

    def end_offload(self) -> None:
        """Nothing to switch back (see :meth:`begin_offload`)."""
        return None
