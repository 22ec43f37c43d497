"""Group a camera's files into recordings: chapters, their ``.LRV`` proxies and ``.THM`` thumbnails.

GoPro names (sources):

- HERO6 and later: ``G<q><cc><nnnn>.<ext>`` — ``q`` the quality letter (``H`` AVC, ``X`` HEVC;
  ``L`` for the ``.LRV`` proxy), ``cc`` the chapter 01–99, ``nnnn`` the media id shared by every
  chapter of one recording (OpenAPI ``openapi_http_2.0.json``, tag "Media", section "Chapters":
  ``GH010078.MP4``, ``GH020078.MP4`` … ``GL010078.LRV``, ``GH010078.THM``).
- HERO5 (and HERO7 Black in some modes): the first chapter is ``GOPR<nnnn>.MP4``, the next ones
  ``GP01<nnnn>.MP4``, ``GP02<nnnn>.MP4`` …; the proxy has the video's name with ``.LRV``
  (KonradIT/goprowifihack ``HERO7/Mediabrowsing.md``: "The preview file has the same file name as
  the actual video file, but with .LRV extension").
- Anything else (photos ``GOPR0004.JPG``, grouped photos ``G0010008.JPG``, other families' names)
  is a recording of its own, keyed by its name without the extension.

Pure functions, no I/O: the offload plans with them, tests feed them anything (hypothesis).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..media import MediaFile

_HERO6 = re.compile(r"^G([A-Z])(\d{2})(\d{4})$")
_HERO5_FIRST = re.compile(r"^GOPR(\d{4})$")
_HERO5_NEXT = re.compile(r"^GP(\d{2})(\d{4})$")

#: extensions of the full-resolution video (``.360``/``.36P``: MAX spherical, OpenAPI "Chapters")
VIDEO_EXTENSIONS = frozenset({"MP4", "360", "36P"})
PROXY_EXTENSIONS = frozenset({"LRV"})
THUMBNAIL_EXTENSIONS = frozenset({"THM"})


@dataclass(frozen=True)
class NameParts:
    """What a file name says: ``media_id`` (``"0078"``, or the whole stem for a name that is not
    a GoPro chapter), ``chapter`` (1, 2…; HERO5's ``GOPR`` first chapter is 1, ``GP01`` is 2),
    ``chaptered`` (the name follows a chapter pattern)."""

    media_id: str
    chapter: int
    chaptered: bool


def name_parts(f: MediaFile) -> NameParts:
    """Parse ``f.name`` (see the module docstring for the patterns). Never raises."""
    stem = f.stem
    m = _HERO6.match(stem)
    if m and f.extension in VIDEO_EXTENSIONS | PROXY_EXTENSIONS | THUMBNAIL_EXTENSIONS:
        return NameParts(m.group(3), int(m.group(2)), True)
    m = _HERO5_FIRST.match(stem)
    if m and f.extension in VIDEO_EXTENSIONS | PROXY_EXTENSIONS | THUMBNAIL_EXTENSIONS:
        return NameParts(m.group(1), 1, True)
    m = _HERO5_NEXT.match(stem)
    if m and f.extension in VIDEO_EXTENSIONS | PROXY_EXTENSIONS | THUMBNAIL_EXTENSIONS:
        return NameParts(m.group(2), int(m.group(1)) + 1, True)
    return NameParts(stem, 1, False)


def kind(f: MediaFile) -> str:
    """``"video"`` (a chapter), ``"proxy"`` (LRV), ``"thumbnail"`` (THM) or ``"other"``."""
    ext = f.extension
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in PROXY_EXTENSIONS:
        return "proxy"
    if ext in THUMBNAIL_EXTENSIONS:
        return "thumbnail"
    return "other"


@dataclass
class Recording:
    """One recording on one card: ``key`` (``"100GOPRO/0078"``), ``chapters`` (video files in
    chapter order), ``proxies`` (LRV, chapter order), ``thumbnails`` (THM), ``others`` (a photo
    or any file that is not a chapter)."""

    key: str
    chapters: list[MediaFile] = field(default_factory=list)
    proxies: list[MediaFile] = field(default_factory=list)
    thumbnails: list[MediaFile] = field(default_factory=list)
    others: list[MediaFile] = field(default_factory=list)

    @property
    def files(self) -> list[MediaFile]:
        """Every file of the recording: chapters, proxies, thumbnails, others."""
        return [*self.chapters, *self.proxies, *self.thumbnails, *self.others]

    @property
    def size(self) -> int:
        """Bytes of every file whose size the list gives."""
        return sum(f.size for f in self.files)

    @property
    def label(self) -> str:
        """For the journal: the first chapter's (or file's) name and how many chapters."""
        first = (self.chapters or self.files)[0].name
        n = len(self.chapters)
        return f"{first}" + (f" ({n} chapters)" if n > 1 else "")


def group(files: Iterable[MediaFile]) -> list[Recording]:
    """Group ``files`` into recordings, in the order each recording's first file appears.

    Chapters, proxies and thumbnails with the same folder and media id belong together (a HERO6+
    ``GH`` and ``GX`` of the same id would too: a card never holds both). A file path given twice
    is kept once (the first). Every input file ends up in exactly one recording.
    """
    out: dict[str, Recording] = {}
    seen: set[str] = set()
    for f in files:
        if f.path in seen:
            continue
        seen.add(f.path)
        parts = name_parts(f)
        k = kind(f)
        if parts.chaptered and k != "other":
            key = f"{f.folder}/{parts.media_id}"
        else:
            key = f"{f.folder}/{f.name}"
        rec = out.setdefault(key, Recording(key))
        {"video": rec.chapters, "proxy": rec.proxies, "thumbnail": rec.thumbnails,
         "other": rec.others}[k if parts.chaptered or k == "other" else "other"].append(f)
    for rec in out.values():
        rec.chapters.sort(key=lambda f: (name_parts(f).chapter, f.name))
        rec.proxies.sort(key=lambda f: (name_parts(f).chapter, f.name))
        rec.thumbnails.sort(key=lambda f: (name_parts(f).chapter, f.name))
    return list(out.values())
