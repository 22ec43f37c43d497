"""The media seam: what a camera family's driver offers for offload (list, fetch, delete).

Every family that can bring footage home gives its driver a ``media()`` method returning an
object with the :class:`MediaAccess` interface; the offload (camrig/offload/) only ever talks to
that interface, through the worker's job slot (camrig/jobs.py), so a family adds its footage to
the offload by implementing four methods and nothing else.

Names come from the camera, so they are hostile input: :func:`safe_component` refuses anything
that could leave the folder it is joined to (``..``, ``/``, ``\\``, NUL, control characters,
empty), and :class:`MediaFile` checks its folder, name and size at construction, so no
:class:`MediaFile` in the program can name a path outside ``OFFLOAD_DIR/<camera>/``.

Sources for the GoPro list shape: goprowifihack ``HERO7/Mediabrowsing.md`` (``/gp/gpMediaList``)
and ``openapi_http_2.0.json`` (``/gopro/media/list``, ``components.schemas.MediaList``): both
answer ``{"id", "media": [{"d": folder, "fs": [{"n", "cre", "mod", "s", ...}]}]}`` with every
value a string.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from .errors import CamRigError

#: the largest file size accepted from a camera's list (bytes): 1 TiB. SD cards top out at
#: 1 TB today and GoPro chapters at 4 GB (exFAT, HERO5–13 split at ~4 GB); anything larger
#: is a corrupt or hostile list.
MAX_FILE_SIZE = 1 << 40
#: the longest folder or file name accepted (characters): FAT/exFAT long names are ≤ 255.
MAX_NAME = 255


class MediaListError(CamRigError):
    """A camera's media list (or one entry of it) that cannot be used; the message names the
    camera, the entry and what was wrong."""


def safe_component(value: object, *, what: str = "name") -> str:
    """``value`` as one path component that stays inside the folder it is joined to.

    :param value: a folder or file name as the camera sent it (any type: the list is JSON).
    :param what: for the error message (``"folder"``, ``"file name"``).
    :returns: the same string.
    :raises MediaListError: not a str, empty, longer than :data:`MAX_NAME`, ``.`` or ``..``,
        or containing ``/``, ``\\``, NUL or another control character.
    """
    if not isinstance(value, str):
        raise MediaListError(f"{what} {value!r}: not a string")
    if not value or len(value) > MAX_NAME:
        raise MediaListError(f"{what} {value!r}: empty or longer than {MAX_NAME} characters")
    if value in (".", ".."):
        raise MediaListError(f"{what} {value!r}: refers to a folder, not a name")
    for ch in value:
        if ch in "/\\" or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise MediaListError(f"{what} {value!r}: contains {ch!r}")
    return value


@dataclass(frozen=True)
class MediaFile:
    """One file on a camera's card.

    ``folder``: its DCIM folder (``"100GOPRO"``, ``"100OLYMP"``); ``name``: as on the card
    (``"GH010123.MP4"``); ``size``: bytes, as the list says; ``created``/``modified``: POSIX
    seconds as the camera reports them (GoPro ``cre``/``mod`` are the camera's local wall time
    read as if UTC — goprowifihack ``HERO7/Mediabrowsing.md``; None when the list has none).
    ``extra``: the entry's other fields as the camera sent them (strings), for the family.

    :raises MediaListError: an unsafe folder or name (:func:`safe_component`), a size that is not
        an int in 0…:data:`MAX_FILE_SIZE`.
    """

    folder: str
    name: str
    size: int
    created: float | None = None
    modified: float | None = None
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        safe_component(self.folder, what="folder")
        safe_component(self.name, what="file name")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size <= MAX_FILE_SIZE:
            raise MediaListError(f"{self.folder}/{self.name}: size {self.size!r} is not 0…{MAX_FILE_SIZE} bytes")

    @property
    def path(self) -> str:
        """``"<folder>/<name>"``: the file's key on its camera (unique per card)."""
        return f"{self.folder}/{self.name}"

    @property
    def stem(self) -> str:
        """The name without its extension, upper case (``"GH010123"``)."""
        return self.name.rsplit(".", 1)[0].upper()

    @property
    def extension(self) -> str:
        """The extension, upper case, without the dot (``"MP4"``, ``"LRV"``, ``"THM"``; ``""``)."""
        return self.name.rsplit(".", 1)[1].upper() if "." in self.name else ""


class MediaAccess(Protocol):
    """What a family's driver gives the offload (``driver.media()`` returns one).

    Each method runs in the camera's worker thread inside a job (camrig/jobs.py) and raises
    CameraUnreachable / CameraRejected / LinkError naming the camera, or MediaListError for a
    list that cannot be read.
    """

    def list_media(self) -> list[MediaFile]:
        """Every file on the card, in the camera's order. Entries that cannot be used are left
        out and logged (one bad name never hides the rest)."""
        ...

    def download_path(self, f: MediaFile) -> tuple[int | None, str]:
        """``(port, path)`` to GET the file over the camera's HTTP link: port None = the link's
        own port; e.g. GoPro ``(8080, "/videos/DCIM/100GOPRO/GH010123.MP4")``."""
        ...

    def delete(self, f: MediaFile) -> None:
        """Delete the file on the camera (only ever called after its copy is verified)."""
        ...

    def begin_offload(self) -> None:
        """Before the first transfer (Open GoPro: turbo transfer on; Olympus: play mode)."""
        ...

    def end_offload(self) -> None:
        """After the last transfer or when pre-empted (Open GoPro: turbo transfer off)."""
        ...


def by_path(files: Iterable[MediaFile]) -> dict[str, MediaFile]:
    """``{f.path: f}``; a later duplicate path is dropped (the first one wins)."""
    out: dict[str, MediaFile] = {}
    for f in files:
        out.setdefault(f.path, f)
    return out
