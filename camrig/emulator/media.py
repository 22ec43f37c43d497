"""The emulated camera's media: an SD card on disk, its lists, its files, and the ways a transfer fails.

:class:`MediaStore` is the body's SD card: a directory ``ROOT/<d>/<n>`` (``d`` a DCF folder such
as ``100GOPRO``). What it lists is what is on disk; a recording that stops adds its files there
(:meth:`MediaStore.add_recording`). :class:`MediaFront` is the front-end (a mixin on
:class:`~.body.CameraBody`) that serves it over HTTP. Sources:

- Media list, HERO5–8 ``GET :8080/gp/gpMediaList`` (KonradIT/goprowifihack ``HERO7/Mediabrowsing.md``:
  ``{"id", "media": [{"d": "131GOPRO", "fs": [{"n", "cre", "mod", "glrv", "ls", "s"}]}]}``, every
  value a string; ``glrv`` "the size of low-resolution preview video in bytes", ``ls`` "always
  seems to be -1"; ``cre``/``mod`` Unix seconds) and HERO9–13 ``GET :8080/gopro/media/list``
  (``captures/OpenGoPro_openapi_http_2.0.json``, ``components.schemas`` ``MediaList`` /
  ``SingleMediaListItem``: ``n``, ``cre``, ``mod``, ``s`` required, ``glrv``, ``ls`` "-1 if there
  is no LRV file", and "each property actually comes as a string"). Both answer the same shape.
- Files: ``GET :8080/videos/DCIM/<d>/<n>`` (OpenAPI ``OGP_DOWNLOAD_MEDIA``; goprowifihack
  ``HERO5/Mediabrowsing.md`` "http://10.5.5.9:8080/videos/DCIM"). HTTP Range as RFC 9110 §14
  (one range; 206 with ``Content-Range``; 416 with ``Content-Range: bytes */SIZE`` past the end);
  whether a camera honours Range is not in the sources: switch ``no_range`` (``--no-range``).
- Names (reported: GoPro's "Camera File Naming Convention" as quoted by toddmricker.com and
  vafudr.blogspot.com; a HERO6 owner's notes on blogs.callutheran.edu 2018-11): HERO6 and later
  ``GH<cc><nnnn>.MP4`` (AVC) or ``GX<cc><nnnn>.MP4`` (HEVC; HERO11 and later record HEVC only),
  chapter ``cc`` from 01, the proxy ``GL<cc><nnnn>.LRV``, the thumbnail ``GH<cc><nnnn>.THM``;
  HERO5 ``GOPR<nnnn>.MP4`` then chapters ``GP<cc><nnnn>.MP4`` from 01, with ``.LRV``/``.THM`` of
  the same stem (the HERO5's LRV/THM names are unverified).
- ``GET /gopro/media/gpmf?path=<d>/<n>`` (OpenAPI ``OGP_MEDIA_GPMF``: "Binary GPMF data",
  ``application/octet-stream``): the payloads of the file's ``gpmd`` track, concatenated (boxes as
  ISO/IEC 14496-12; track layout as gpmf-parser's README "GoPro's MP4 Structure").
- ``GET /gopro/media/turbo_transfer?p=1|0`` (OpenAPI ``OGP_TURBO_MODE_ENABLE``): the state is kept
  and logged; it does not change the rate (unverified what it does on a camera).
- Delete: Open GoPro ``GET /gopro/media/delete/file?path=100GOPRO/X.MP4`` (OpenAPI
  ``OGP_DELETE_SINGLE_FILE``: 200 ``{}``, 400 "Requested delete path was not found in the media
  list"); HERO5–8 ``GET /gp/gpControl/command/storage/delete?p=/100GOPRO/X.MP4`` (the capability
  capture names ``GPCAMERA_DELETE_FILE_ID`` ``/command/storage/delete``; the ``p`` form, with or
  without the leading ``/``, is what clients send (reported); a missing file answers the gpControl
  500 error record: unverified). Deleting a video deletes its LRV and THM too (unverified).

Transfer faults (control socket ``fault``; docs/contracts.md): ``media_drop{after}`` drops the
connection after that many body bytes; ``media_stall{after, seconds}`` stops sending after that
many bytes for ``seconds`` (default: until the fault is cleared or the client goes);
``media_extra{bytes}`` sends that many bytes more than the list says; ``hostile_list`` adds
hostile entries to every list (``../``, absolute, ``/`` and NUL in names, negative and huge
sizes, a duplicate); ``no_range`` ignores Range; ``media_rate{rate}`` caps the camera's media
bandwidth (all its connections together), as ``--rate 4MB/s`` does.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .body import CameraBody, _Handler

    _Base = CameraBody
else:
    _Base = object

#: Body bytes written per send (and per token-bucket reservation).
CHUNK = 64 * 1024
#: A DCF folder of a GoPro (``100GOPRO`` … ``999GOPRO``) and a file name on the card.
FOLDER_RE = re.compile(r"^[1-9][0-9]{2}GOPRO$")
NAME_RE = re.compile(r"^[A-Z0-9_]{1,16}\.[A-Z0-9]{3}$")
#: Files a list names (videos and photos); proxies and thumbnails ride along with their video.
LISTED = (".MP4", ".JPG", ".360")
#: What a new recording's files are when there is no template: a few MB (sparse).
DEFAULT_RECORD_BYTES = 2_000_000
#: A thumbnail's bytes: a JPEG start and end marker only (not a decodable image; what a client
#: needs from a THM is unverified).
THM_BYTES = b"\xff\xd8\xff\xfe\x00\x10emulated THM\x00\x00\xff\xd9"
#: The hostile entries ``hostile_list`` adds to a list (issue 10 part 9).
HOSTILE_ENTRIES = (
    {"n": "../../etc/passwd", "s": "10"}, {"n": "/etc/shadow", "s": "10"},
    {"n": "sub/dir.MP4", "s": "10"}, {"n": "NUL\u0000.MP4", "s": "10"},
    {"n": "GH019998.MP4", "s": "-5"}, {"n": "GH019999.MP4", "s": "99999999999999999999999"},
)
_UNITS = {"": 1, "B": 1, "K": 1000, "KB": 1000, "KIB": 1024, "M": 1000**2, "MB": 1000**2, "MIB": 1024**2,
          "G": 1000**3, "GB": 1000**3, "GIB": 1024**3}


def parse_rate(text: str | float | int | None) -> float | None:
    """``"4MB/s"`` → 4e6 bytes/s (``KB``/``MB``/``GB`` decimal, ``KiB``/``MiB``/``GiB`` binary, a
    bare number bytes/s); None, 0 or ``"0"`` → None (no cap). ValueError naming the text otherwise."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)(?:/s)?\s*", text)
        if not m or m.group(2).upper() not in _UNITS:
            raise ValueError(f"rate {text!r} is not a number of bytes per second such as '4MB/s'")
        value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if value < 0:
        raise ValueError(f"rate {text!r} is negative")
    return value or None


def parse_size(text: str | int) -> int:
    """``"3MB"`` → 3_000_000 bytes (units as :func:`parse_rate`); ValueError otherwise."""
    rate = parse_rate(text if isinstance(text, int) else text.removesuffix("/s") + "")
    return int(rate or 0)


class TokenBucket:
    """A token bucket of ``rate`` bytes/s holding at most ``burst`` bytes (default: a quarter
    second's worth, at least one :data:`CHUNK`). :meth:`reserve` takes ``n`` bytes now and says
    how long (seconds) the sender must wait before sending them; tokens may go negative, so
    concurrent senders share the rate. ``clock`` (seconds, monotonic) is injectable for tests.
    Thread-safe."""

    def __init__(self, rate: float, *, burst: float | None = None, clock: Callable[[], float] = time.monotonic):
        if rate <= 0:
            raise ValueError(f"token bucket rate must be > 0 bytes/s, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(float(CHUNK), self.rate / 4)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self, n: int) -> float:
        """Take ``n`` bytes; return the delay (s, ≥ 0) before they may be sent."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            self._tokens -= n
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


@dataclass(frozen=True)
class Range:
    """A satisfiable byte range ``[start, end]`` (inclusive) of a ``size``-byte file."""

    start: int
    end: int
    size: int


def parse_range(header: str | None, size: int) -> Range | None | str:
    """One ``Range: bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` header against a ``size``-byte file
    (RFC 9110 §14.1.2): a :class:`Range`; None to answer the whole file (no header, another unit,
    several ranges, a malformed one: a server may ignore Range); ``"unsatisfiable"`` (416) when
    the first byte is past the end or a suffix of 0 bytes is asked for."""
    if not header:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*([0-9]*)\s*-\s*([0-9]*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:                                    # suffix: the last n bytes
        n = int(last)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return Range(max(0, size - n), size - 1, size)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None                                  # invalid: ignored
    if start >= size:
        return "unsatisfiable"
    return Range(start, min(end, size - 1), size)


def free_box(size: int) -> bytes:
    """The header of a ``free`` box of ``size`` bytes in all (≥ 8; ≥ 16 when past 4 GiB): a box a
    reader skips (ISO/IEC 14496-12 §8.1.2), used to pad a file to a requested size."""
    if size < 8:
        raise ValueError(f"a free box is at least 8 bytes, not {size}")
    if size > 0xFFFFFFFF:
        return struct.pack(">I4sQ", 1, b"free", size)
    return struct.pack(">I4s", size, b"free")


def minimal_mp4() -> bytes:
    """A tiny MP4 without samples (``ftyp``, empty ``mdat``, ``moov`` with an ``mvhd``): what a
    new recording holds when the emulator was given no template. Box layouts ISO/IEC 14496-12."""
    ftyp = struct.pack(">I4s4sI4s", 20, b"ftyp", b"mp41", 0, b"mp41")
    mdat = struct.pack(">I4s", 8, b"mdat")
    mvhd_body = struct.pack(">IIIII", 0, 0, 0, 1000, 0) + b"\0" * 80
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    return ftyp + mdat + moov


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, box end) of each box in ``data[start:end]``; stops at a bad size."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos + head, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, s, e in _boxes(data, start, end):
        if k == kind:
            return s, e
    return None


def gpmf_of(path: Path) -> bytes | None:
    """The GPMF of an MP4 alone: its ``gpmd`` track's samples, in order, concatenated (read with
    ``moov/trak/mdia/minf/stbl``: ``stsd`` format ``gpmd``, ``stsz``, ``stsc``, ``stco``/``co64``).
    None when the file is not an MP4 with such a track. Reads the ``moov`` (and the samples) only."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            pos, moov = 0, None
            while pos + 8 <= size:
                f.seek(pos)
                head = f.read(16)
                box_size, kind = struct.unpack_from(">I4s", head)
                if box_size == 1 and len(head) == 16:
                    box_size = struct.unpack_from(">Q", head, 8)[0]
                elif box_size == 0:
                    box_size = size - pos
                if box_size < 8:
                    return None
                if kind == b"moov":
                    if box_size > 64 << 20:
                        return None
                    f.seek(pos)
                    moov = f.read(box_size)
                    break
                pos += box_size
            if moov is None:
                return None
            for kind, s, e in _boxes(moov, 8, len(moov)):
                if kind != b"trak":
                    continue
                stbl = _stbl_of(moov, s, e)
                if stbl is None:
                    continue
                chunks = _sample_spans(moov, *stbl)
                if chunks is None:
                    continue
                out = bytearray()
                for offset, length in chunks:
                    f.seek(offset)
                    out += f.read(length)
                return bytes(out)
    except OSError:
        return None
    return None


def _stbl_of(moov: bytes, s: int, e: int) -> tuple[int, int] | None:
    """The ``stbl`` span of a trak whose ``stsd`` entry is ``gpmd``, else None."""
    mdia = _child(moov, s, e, b"mdia")
    minf = mdia and _child(moov, mdia[0], mdia[1], b"minf")
    stbl = minf and _child(moov, minf[0], minf[1], b"stbl")
    stsd = stbl and _child(moov, stbl[0], stbl[1], b"stsd")
    if not stbl or not stsd or stsd[1] - stsd[0] < 16 or moov[stsd[0] + 12:stsd[0] + 16] != b"gpmd":
        return None
    return stbl


def _sample_spans(moov: bytes, s: int, e: int) -> list[tuple[int, int]] | None:
    """(file offset, length) of every sample of the stbl at ``moov[s:e]``, in order."""
    stsz, stsc = _child(moov, s, e, b"stsz"), _child(moov, s, e, b"stsc")
    stco, co64 = _child(moov, s, e, b"stco"), _child(moov, s, e, b"co64")
    if not stsz or not stsc or not (stco or co64):
        return None
    fixed, count = struct.unpack_from(">II", moov, stsz[0] + 4)
    sizes = [fixed] * count if fixed else list(struct.unpack_from(f">{count}I", moov, stsz[0] + 12))
    if co64:
        n = struct.unpack_from(">I", moov, co64[0] + 4)[0]
        offsets = list(struct.unpack_from(f">{n}Q", moov, co64[0] + 8))
    else:
        assert stco is not None
        n = struct.unpack_from(">I", moov, stco[0] + 4)[0]
        offsets = list(struct.unpack_from(f">{n}I", moov, stco[0] + 8))
    runs_n = struct.unpack_from(">I", moov, stsc[0] + 4)[0]
    runs = [struct.unpack_from(">III", moov, stsc[0] + 8 + 12 * i) for i in range(runs_n)]
    spans, sample = [], 0
    for ci, offset in enumerate(offsets):
        first_chunk = ci + 1
        per = next((r[1] for r in reversed(runs) if r[0] <= first_chunk), 1)
        pos = offset
        for _ in range(per):
            if sample >= len(sizes):
                break
            spans.append((pos, sizes[sample]))
            pos += sizes[sample]
            sample += 1
    return spans


def recording_names(model: str, number: int, chapters: int, *, hevc: bool) -> list[list[str]]:
    """Per chapter, the file names of recording ``number`` (1–9999): ``[[MP4, LRV, THM], ...]``
    (module docstring, "Names"). ``model`` ``"hero5"`` uses the HERO5 scheme."""
    if not 1 <= number <= 9999 or not 1 <= chapters <= 99:
        raise ValueError(f"recording {number} with {chapters} chapters is out of range")
    out = []
    for c in range(1, chapters + 1):
        if model == "hero5":
            stem = f"GOPR{number:04d}" if c == 1 else f"GP{c - 1:02d}{number:04d}"
            out.append([stem + ".MP4", stem + ".LRV", stem + ".THM"])
        else:
            enc = "X" if hevc else "H"
            stem = f"G{enc}{c:02d}{number:04d}"
            out.append([stem + ".MP4", f"GL{c:02d}{number:04d}.LRV", stem + ".THM"])
    return out


class MediaStore:
    """The SD card: files under ``root/<d>/<n>``. ``model`` picks the naming; ``template`` is the
    MP4 a new chapter starts from (a GPMF-carrying file the rig builds; None: :func:`minimal_mp4`);
    ``hevc`` names videos ``GX`` instead of ``GH``; ``record_bytes`` pads each new chapter (sparse)
    to that size with a ``free`` box (None: the template's own size). ``owned`` (a directory the
    emulator made) is removed by :meth:`close`. Thread-safe."""

    def __init__(self, root: str | os.PathLike, *, model: str = "hero7", template: str | os.PathLike | None = None,
                 hevc: bool = False, record_bytes: int | None = DEFAULT_RECORD_BYTES, owned: bool = False):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.hevc = hevc
        self.record_bytes = record_bytes
        self.owned = owned
        self.template = Path(template).read_bytes() if template else minimal_mp4()
        self._lock = threading.RLock()

    def close(self) -> None:
        """Remove the directory when the store made it (nothing otherwise)."""
        if self.owned:
            shutil.rmtree(self.root, ignore_errors=True)

    # --- listing ------------------------------------------------------------------------------

    def folders(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and FOLDER_RE.match(p.name))

    def entries(self) -> list[tuple[str, list[dict[str, str]]]]:
        """``[(d, [{"n", "cre", "mod", "s", ["glrv", "ls"]}, ...]), ...]`` of what is on disk, every
        value a string; videos carry ``glrv`` (their LRV's size, when there is one) and ``ls`` "-1"
        (as the HERO7 list in goprowifihack shows)."""
        out = []
        with self._lock:
            for d in self.folders():
                files = []
                for p in sorted((self.root / d).iterdir()):
                    if not p.is_file() or not NAME_RE.match(p.name) or p.suffix not in LISTED:
                        continue
                    st = p.stat()
                    item = {"n": p.name, "cre": str(int(st.st_mtime)), "mod": str(int(st.st_mtime)),
                            "s": str(st.st_size)}
                    if p.suffix == ".MP4":
                        lrv = self.companions(d, p.name)[0]
                        if lrv.is_file():
                            item["glrv"] = str(lrv.stat().st_size)
                        item["ls"] = "-1"
                    files.append(item)
                if files:
                    out.append((d, files))
        return out

    def list_doc(self, list_id: str, *, hostile: bool = False) -> dict:
        """The media list document (module docstring). ``hostile`` adds :data:`HOSTILE_ENTRIES`
        and a duplicate of the first file, and a folder named ``../x``."""
        media = []
        for d, files in self.entries():
            if hostile:
                files = files + [dict(h, cre="0", mod="0") for h in HOSTILE_ENTRIES] + files[:1]
            media.append({"d": d, "fs": files})
        if hostile:
            media.append({"d": "../x", "fs": [{"n": "GH010001.MP4", "cre": "0", "mod": "0", "s": "1"}]})
        return {"id": list_id, "media": media}

    # --- files --------------------------------------------------------------------------------

    def resolve(self, d: str, n: str) -> Path | None:
        """The file ``d/n`` when both are names a camera uses and it exists; None otherwise (never a
        path outside the root)."""
        if not FOLDER_RE.match(d) or not NAME_RE.match(n):
            return None
        p = self.root / d / n
        return p if p.is_file() else None

    def companions(self, d: str, n: str) -> tuple[Path, Path]:
        """(LRV, THM) paths beside video ``d/n`` (they may not exist)."""
        stem = n.rsplit(".", 1)[0]
        lrv = ("GL" + stem[2:] if stem[:2] in ("GH", "GX") else stem) + ".LRV"
        return self.root / d / lrv, self.root / d / (stem + ".THM")

    def delete(self, d: str, n: str) -> bool:
        """Delete ``d/n`` (and a video's LRV and THM); False when there is no such file."""
        with self._lock:
            p = self.resolve(d, n)
            if p is None:
                return False
            p.unlink()
            if n.endswith(".MP4"):
                for c in self.companions(d, n):
                    c.unlink(missing_ok=True)
            return True

    def next_number(self) -> int:
        """The next recording number: one past the highest ``nnnn`` on the card (1 on an empty one)."""
        best = 0
        for d in self.folders():
            for p in (self.root / d).iterdir():
                m = re.fullmatch(r"(?:GOPR|G[HXPL][0-9]{2})([0-9]{4})\.[A-Z0-9]{3}", p.name)
                if m:
                    best = max(best, int(m.group(1)))
        return best + 1

    def add_recording(self, *, chapters: int = 1, size: int | None = None, when: float | None = None,
                      folder: str = "100GOPRO") -> list[str]:
        """Write a new recording: per chapter the MP4 (the template padded to ``size`` bytes, default
        :attr:`record_bytes`), its LRV (the template as is) and THM; mtimes ``when`` (epoch s,
        default now). Returns the names written, MP4 first per chapter."""
        with self._lock:
            number = self.next_number()
            names = recording_names(self.model, number, chapters, hevc=self.hevc)
            (self.root / folder).mkdir(exist_ok=True)
            written = []
            for mp4, lrv, thm in names:
                self._write_mp4(self.root / folder / mp4, size if size is not None else self.record_bytes)
                (self.root / folder / lrv).write_bytes(self.template)
                (self.root / folder / thm).write_bytes(THM_BYTES)
                for n in (mp4, lrv, thm):
                    if when is not None:
                        os.utime(self.root / folder / n, (when, when))
                    written.append(n)
            return written

    def _write_mp4(self, path: Path, size: int | None) -> None:
        """The template, then (when ``size`` asks for more) a ``free`` box reaching ``size`` bytes,
        sparse: only its header is written."""
        pad = 0 if size is None else size - len(self.template)
        if 0 < pad < 8:
            pad = 8
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(self.template)
            if pad > 0:
                f.write(free_box(pad))
                f.truncate(len(self.template) + pad)
        os.replace(tmp, path)


def _split_path(text: str) -> tuple[str, str] | None:
    """``"/100GOPRO/X.MP4"`` or ``"100GOPRO/X.MP4"`` (URL-encoded or not) → ``(d, n)``; None otherwise."""
    parts = urllib.parse.unquote(text).strip("/").split("/")
    return (parts[0], parts[1]) if len(parts) == 2 else None


class MediaFront(_Base):
    """Media over HTTP on the body (mixin): lists, files with Range and a rate cap, GPMF, turbo
    transfer, delete, and the transfer faults (module docstring). The body gives it
    :attr:`media` (a :class:`MediaStore`), :attr:`bucket` (a :class:`TokenBucket` or None) and
    the ``no_range`` switch and ``media_*`` faults in its fault table."""

    media: MediaStore | None
    bucket: TokenBucket | None

    def media_list(self) -> dict:
        """The media list document (both families; module docstring); without a card, the body's."""
        if self.media is None:
            return super().media_list()
        with self._lock:
            hostile = bool(self._faults.get("hostile_list"))
        return self.media.list_doc(str(zlib.crc32(self.name.encode())), hostile=hostile)

    def _route_media(self, path: str):
        """The HERO5–8 media server (:8080): the list (files are streamed by :meth:`_serve_file`)."""
        if path == "/gp/gpMediaList":
            return 200, self.media_list()
        return 404, None

    def set_rate(self, rate: str | float | None) -> None:
        """Cap this camera's media bandwidth (bytes/s, or ``"4MB/s"``); None or 0: no cap."""
        value = parse_rate(rate)
        with self._lock:
            self.bucket = TokenBucket(value) if value else None
            self.rate = value

    def _media_command(self, path: str, params: dict, t: float):
        """Open GoPro media commands and the legacy delete (hold _lock): ``(code, body)`` or None
        when ``path`` is not one of them (or there is no card, except the list and turbo transfer)."""
        if path == "/gopro/media/list":
            return 200, self.media_list()
        if path == "/gopro/media/turbo_transfer":
            if params.get("p") not in ("0", "1"):
                return 400, {}
            self.turbo_transfer = params["p"] == "1"
            self._event("turbo_transfer", t, on=self.turbo_transfer)
            return 200, {}
        if self.media is None:
            return None
        if path == "/gopro/media/delete/file":
            where = _split_path(params.get("path", ""))
            if where is None or not self.media.delete(*where):
                return 400, {}       # "Requested delete path was not found in the media list."
            self._event("delete", t, path="/".join(where), via="http")
            return 200, {}
        if path == "/gp/gpControl/command/storage/delete":
            where = _split_path(params.get("p", ""))
            if where is None or not self.media.delete(*where):
                return 500, None
            self._event("delete", t, path="/".join(where), via="http")
            return 200, {}
        return None

    def _serve_file(self, h: _Handler, path: str, params: dict) -> bool:
        """Stream a file (``/videos/DCIM/<d>/<n>``) or a file's GPMF (``/gopro/media/gpmf``) when
        ``path`` is one and this server serves media; False otherwise (the caller routes it)."""
        if self.media is None or not self._serves_files(h.server.role):
            return False
        if path.startswith("/videos/DCIM/"):
            where = _split_path(path.removeprefix("/videos/DCIM/"))
            p = self.media.resolve(*where) if where else None
            if p is None:
                h.reply(404, b"", "text/plain")
                return True
            ctype = "video/mp4" if p.suffix == ".MP4" else ("image/jpeg" if p.suffix == ".JPG"
                                                           else "application/octet-stream")
            self._stream(h, p, ctype)
            return True
        if path == "/gopro/media/gpmf" and h.server.role == "gpcontrol":
            where = _split_path(params.get("path", ""))
            p = self.media.resolve(*where) if where else None
            if p is None:
                h.reply(404, b"", "text/plain")
                return True
            h.reply(200, gpmf_of(p) or b"", "application/octet-stream")
            return True
        return False

    def _serves_files(self, role: str) -> bool:
        """Whether the server of ``role`` serves ``/videos/DCIM`` (HERO5–8: the media port only)."""
        return role == "media"

    def _stream(self, h: _Handler, p: Path, ctype: str) -> None:
        """Answer a file with Range (unless ``no_range``), the rate cap and the transfer faults."""
        with self._lock:
            faults = dict(self._faults)
        size = p.stat().st_size
        extra = int(faults.get("media_extra") or 0)
        rng = None if faults.get("no_range") else parse_range(h.headers.get("Range"), size)
        accept = "" if faults.get("no_range") else "Accept-Ranges: bytes\r\n"
        if rng == "unsatisfiable":
            h.send_raw(416, f"{accept}Content-Range: bytes */{size}\r\n", b"", "text/plain")
            return
        if isinstance(rng, Range):
            start, length = rng.start, rng.end - rng.start + 1
            head = f"{accept}Content-Range: bytes {rng.start}-{rng.end}/{size}\r\n"
            code = 206
        else:
            start, length, head, code = 0, size + extra, accept, 200
        self._event("media_get", path=f"{p.parent.name}/{p.name}", start=start, length=length, code=code)
        if not h.send_head(code, head, length, ctype):
            return
        if h.command == "HEAD":
            return
        drop = faults.get("media_drop")
        stall = faults.get("media_stall")
        sent = 0
        try:
            with open(p, "rb") as f:
                f.seek(start)
                while sent < length:
                    n = min(CHUNK, length - sent)
                    if drop is not None and sent + n > int(drop["after"]):
                        n = int(drop["after"]) - sent
                        if n <= 0:
                            self._event("media_dropped", path=p.name, sent=sent)
                            h.abort()
                            return
                    if stall is not None and sent >= int(stall["after"]):
                        self._event("media_stalled", path=p.name, sent=sent)
                        self._stall(stall)
                        stall = None
                    elif stall is not None and sent + n > int(stall["after"]):
                        n = int(stall["after"]) - sent
                    data = f.read(n)
                    if len(data) < n:               # the list's extra bytes (media_extra)
                        data += b"\0" * (n - len(data))
                    bucket = self.bucket
                    if bucket is not None:
                        delay = bucket.reserve(len(data))
                        if delay > 0:
                            time.sleep(delay)
                    h.wfile.write(data)
                    sent += len(data)
        except OSError:
            h.close_connection = True

    def _stall(self, stall: dict) -> None:
        """Send nothing for ``stall["seconds"]`` (None: until the fault is cleared or the camera closes)."""
        seconds = stall.get("seconds")
        deadline = None if seconds is None else time.monotonic() + float(seconds)
        while not self._closing.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            with self._lock:
                if self._faults.get("media_stall") is None:
                    return
            time.sleep(0.05)

    def media_fault(self, name: str, kw: dict[str, Any]) -> bool:
        """Set a media fault (hold _lock); False when ``name`` is not one. ValueError on a bad value."""
        if name == "media_drop":
            self._faults[name] = None if kw.get("on") is False else {"after": _nonneg(kw.get("after", 0), name)}
        elif name == "media_stall":
            seconds = kw.get("seconds")
            self._faults[name] = None if kw.get("on") is False else {
                "after": _nonneg(kw.get("after", 0), name),
                "seconds": None if seconds is None else float(_nonneg(seconds, name))}
        elif name == "media_extra":
            self._faults[name] = 0 if kw.get("on") is False else _nonneg(kw.get("bytes", 1000), name)
        elif name == "media_rate":
            self.set_rate(kw.get("rate"))
        else:
            return False
        return True


def _nonneg(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number of bytes/seconds") from None
    if number < 0:
        raise ValueError(f"{name}: {value!r} must not be negative")
    return number


def abort_connection(conn: socket.socket) -> None:
    """Reset ``conn`` (SO_LINGER 0, then shutdown): the peer sees the transfer cut."""
    try:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
