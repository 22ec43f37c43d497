"""HERO9–13 media over HTTP (Wi-Fi or USB, port 8080): list, files, GPMF, delete, turbo transfer.

Sources: the OpenAPI description ``openapi_http_2.0.json`` (capture
``OpenGoPro_openapi_http_2.0.json``):

- ``GET /gopro/media/list`` (``OGP_MEDIA_LIST``, ``components.schemas.MediaList``): the same shape
  as gpMediaList (``{"id", "media": [{"d", "fs": [{"n", "cre", "mod", "s", "glrv", "ls"}]}]}``,
  "each property actually comes as a string"); grouped photo items (``GroupedMediaListItem``: ``g``,
  ``b``, ``l``, ``m``) are not offloaded. Parsed by the HERO5–8 parser
  (:func:`camrig.cameras.gopro_legacy.media.parse_media_list`).
- ``GET /videos/DCIM/{directory}/{filename}`` (``OGP_DOWNLOAD_MEDIA``).
- ``GET /gopro/media/gpmf?path=<d>/<n>`` (``OGP_MEDIA_GPMF``, "Binary GPMF data"), listed for
  HERO9 Black and later: the telemetry without the video.
- ``GET /gopro/media/delete/file?path=<d>/<n>`` (``OGP_DELETE_SINGLE_FILE``; 200 empty, 400 "Requested
  delete path was not found in the media list").
- ``GET /gopro/media/turbo_transfer?p=1|0`` (``OGP_TURBO_MODE_ENABLE``: "should only be used during
  media offload"; "Disabling / enabling turbo mode will also enable / disable the transferring
  media camera UI").
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from ...errors import CameraRejected
from ...http import HttpClient
from ...media import MediaFile
from ..gopro_legacy.media import LIST_TIMEOUT, MAX_LIST_BYTES, file_path, parse_media_list

log = logging.getLogger(__name__)

PATH_MEDIA_LIST = "/gopro/media/list"
PATH_GPMF = "/gopro/media/gpmf?path={path}"
PATH_DELETE = "/gopro/media/delete/file?path={path}"
PATH_TURBO = "/gopro/media/turbo_transfer?p={p}"


class OpenGoProMedia:
    """:class:`camrig.media.MediaAccess` for a HERO9–13 reached over HTTP. ``http``: the client
    to use (the job's own connection); everything goes to its port (8080 on a camera). Raises
    CameraUnreachable / CameraRejected / LinkError naming the camera, MediaListError."""

    protocol = "open_gopro"

    def __init__(self, http: HttpClient, camera: str, *, list_timeout: float = LIST_TIMEOUT):
        self.http = http
        self.camera = camera
        self.list_timeout = list_timeout
        #: True while this offload switched turbo transfer on
        self.turbo = False

    def __repr__(self) -> str:
        return f"<OpenGoProMedia {self.camera} :{self.http.port}>"

    def _get_ok(self, path: str) -> bytes:
        res = self.http.get(path)
        if res.status != 200:
            raise CameraRejected(f"GET {path} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)
        return res.body

    def list_media(self) -> list[MediaFile]:
        """``GET /gopro/media/list``, parsed; a client of its own (bigger cap, longer timeout)."""
        client = HttpClient(self.http.link, port=self.http.port, timeout=self.list_timeout,
                            connect_timeout=self.http.connect_timeout, max_bytes=MAX_LIST_BYTES)
        try:
            res = client.get(PATH_MEDIA_LIST)
        finally:
            client.close()
        if res.status != 200:
            raise CameraRejected(f"GET {PATH_MEDIA_LIST} answered HTTP {res.status}", camera=self.camera,
                                 http_status=res.status)
        return parse_media_list(res.body, camera=self.camera, source=PATH_MEDIA_LIST)

    def download_path(self, f: MediaFile) -> tuple[int | None, str]:
        """``(None, "/videos/DCIM/<folder>/<name>")`` on the client's own port."""
        return None, file_path(f)

    def telemetry_path(self, f: MediaFile) -> tuple[int | None, str] | None:
        """``(None, "/gopro/media/gpmf?path=<folder>/<name>")`` for a video chapter (MP4), else None."""
        if f.extension != "MP4":
            return None
        return None, PATH_GPMF.format(path=quote(f.path, safe="/"))

    def delete(self, f: MediaFile) -> None:
        """``GET /gopro/media/delete/file?path=<folder>/<name>``; CameraRejected unless 200."""
        self._get_ok(PATH_DELETE.format(path=quote(f.path, safe="/")))

    def begin_offload(self) -> None:
        """Turbo transfer on (``?p=1``). A camera that refuses it is logged and the offload goes on
        at normal speed (turbo is an optimisation)."""
        try:
            self._get_ok(PATH_TURBO.format(p=1))
            self.turbo = True
        except CameraRejected as exc:
            log.warning("%s: turbo transfer refused (%s); offloading at normal speed", self.camera, exc.detail)

    def end_offload(self) -> None:
        """Turbo transfer off (``?p=0``) when :meth:`begin_offload` switched it on."""
        if self.turbo:
            self._get_ok(PATH_TURBO.format(p=0))
            self.turbo = False
