"""MP4 without ffmpeg: find the ``gpmd`` track and read only its samples.

Sources: ISO/IEC 14496-12 (box header: 32-bit size + type; size 1 → a 64-bit size follows,
size 0 → the box runs to the end of the file; full boxes carry version + flags) and Apple's
QuickTime File Format "Sample Table Atoms" (``stsd``, ``stts`` (count, duration) runs, ``stsc``
(first chunk, samples per chunk, description) runs, ``stsz`` (one size for all, or a table),
``stco`` 32-bit / ``co64`` 64-bit chunk offsets, ``mdhd`` timescale, ``mvhd`` creation time in
seconds since 1904-01-01); GoPro's layout from the gpmf-parser README §"GoPro's MP4 Structure"
and §"Inside the 'meta' Track" (a ``meta`` track whose ``stsd`` data format is ``gpmd``; the
HERO4/5 ``fdsc`` SOS track is not GPMF), as gpmf-parser's demo/GPMF_mp4reader.c finds it.
HiLight tags: ``moov/udta/HMMT`` (a 32-bit count, then that many ms times; reported: Super User
question 881661 "How/where does a GoPro camera store HiLight tags", and the MAX sample here has an
``HMMT`` with count 0) and, on newer cameras, a ``HLMT`` ("Highlights") device in
``moov/udta/GPMF`` (seen in the MAX sample; its entries' layout is unverified, so they are
reported raw).

What is read: the top-level box headers (16 bytes each; ``mdat`` is seeked over, never read),
all of ``moov`` (capped at :data:`MAX_MOOV` bytes), then each ``gpmd`` sample by seek + read.

Hostile input: a box size past its parent, 0 inside a parent, below its header, a count past its
box, a sample offset past the end of the file — each a :class:`~camrig.telemetry.gpmf.GpmfWarning`
naming the file and offset; the walk stops at that level (or the sample is skipped) and what is
left is used. Sizes always move forward by at least a header, and every level is capped at
:data:`MAX_BOXES` boxes, so there are no loops.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from camrig.telemetry.gpmf import GpmfWarning

__all__ = ["Mp4Error", "NoGpmfTrack", "Box", "Sample", "GpmdTrack", "iter_boxes", "open_gpmd_track",
           "read_samples", "chapter_key", "group_chapters", "MAX_MOOV"]

#: A moov bigger than this is refused (a camera's is under a few MB for hours of video).
MAX_MOOV = 256 << 20
#: Boxes per level before the walk gives up (no real file comes near).
MAX_BOXES = 100_000
#: Table entries (stsz/stco/stts/stsc) beyond this are refused: 24 h of 1 Hz payloads is 86 400.
MAX_SAMPLES = 10_000_000
_MAC_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"gmhd"}


class Mp4Error(Exception):
    """The file is not an MP4 we can read (no moov, moov too large, not a file)."""


class NoGpmfTrack(Mp4Error):
    """The MP4 has no track whose sample description is ``gpmd``."""


@dataclass(frozen=True)
class Box:
    """A box: ``type`` (4 bytes), ``offset`` of its header, ``header`` length (8 or 16), ``size`` (whole box)."""

    type: bytes
    offset: int
    header: int
    size: int

    @property
    def body(self) -> int:
        return self.offset + self.header

    @property
    def end(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class Sample:
    """One ``gpmd`` sample: file ``offset`` and ``size`` (bytes), ``start`` and ``duration`` (seconds,
    from stts and the media timescale), ``index`` (0-based in its track)."""

    index: int
    offset: int
    size: int
    start: float
    duration: float


@dataclass
class GpmdTrack:
    """The GPMF track of one MP4: ``path``, ``timescale`` (units/s), ``samples``, ``duration`` (s),
    ``creation_time`` (mvhd, aware datetime or None: the camera clock), ``hilights_ms`` (HMMT times),
    ``udta_gpmf`` (bytes of moov/udta/GPMF, or None), ``file_size`` (bytes), ``bytes_read``
    (bytes this module read from the file so far)."""

    path: Path
    timescale: int
    samples: list[Sample]
    duration: float
    creation_time: datetime | None = None
    hilights_ms: list[int] = field(default_factory=list)
    udta_gpmf: bytes | None = None
    file_size: int = 0
    bytes_read: int = 0


def iter_boxes(read_at, start: int, end: int, *, source: str, warnings: list[GpmfWarning],
               top: bool = False) -> Iterator[Box]:
    """Yield the boxes between ``start`` and ``end``. ``read_at(offset, n) -> bytes`` reads the file
    (or a buffer). ``top``: the file's top level, where size 0 means "to the end of the file" and a
    box running past the end is a truncated recording (kept, clamped, with a warning)."""
    pos, count = start, 0
    while pos < end:
        count += 1
        if count > MAX_BOXES:
            warnings.append(GpmfWarning(source, pos, f"more than {MAX_BOXES} boxes in one level; rest skipped"))
            return
        if end - pos < 8:
            warnings.append(GpmfWarning(source, pos, f"truncated box header ({end - pos} bytes left)"))
            return
        head = read_at(pos, 16 if end - pos >= 16 else 8)
        if len(head) < 8:
            warnings.append(GpmfWarning(source, pos, "truncated box header (file ends)"))
            return
        size, kind = struct.unpack(">I4s", head[:8])
        hdr = 8
        if size == 1:
            if len(head) < 16:
                warnings.append(GpmfWarning(source, pos, f"box {kind!r}: 64-bit size cut off"))
                return
            size = struct.unpack(">Q", head[8:16])[0]
            hdr = 16
        elif size == 0:
            if not top:
                warnings.append(GpmfWarning(source, pos, f"box {kind!r} has size 0 inside its parent; rest skipped"))
                return
            size = end - pos
        if size < hdr:
            warnings.append(GpmfWarning(source, pos, f"box {kind!r} size {size} is smaller than its header; "
                                                     "rest of this level skipped"))
            return
        if pos + size > end:
            warnings.append(GpmfWarning(source, pos, f"box {kind!r} size {size} runs past "
                                                     f"{'the end of the file' if top else 'its parent'} "
                                                     f"(ends at {end}); clamped"))
            size = end - pos
        yield Box(kind, pos, hdr, size)
        pos += size


class _Reader:
    """Positioned reads on an open file, counting the bytes read."""

    def __init__(self, f: BinaryIO, size: int):
        self.f, self.size, self.bytes_read = f, size, 0

    def __call__(self, offset: int, n: int) -> bytes:
        if offset < 0 or offset >= self.size or n <= 0:
            return b""
        self.f.seek(offset)
        data = self.f.read(min(n, self.size - offset))
        self.bytes_read += len(data)
        return data


def _mem_reader(buf: bytes, base: int):
    def read_at(offset: int, n: int) -> bytes:
        rel = offset - base
        if rel < 0 or rel >= len(buf):
            return b""
        return buf[rel:rel + n]
    return read_at


def _children(buf: bytes, base: int, parent: Box, source: str, warnings: list[GpmfWarning]) -> list[Box]:
    return list(iter_boxes(_mem_reader(buf, base), parent.body, parent.end, source=source, warnings=warnings))


def _body(buf: bytes, base: int, b: Box) -> bytes:
    return buf[b.body - base:b.end - base]


def _table(body: bytes, entry: struct.Struct, count_at: int, what: str, box: Box, source: str,
           warnings: list[GpmfWarning]) -> list[tuple]:
    """Entries of a full-box table whose entry count is a u32 at ``count_at``; clamps a count that
    runs past the box (warning) and refuses more than MAX_SAMPLES entries."""
    if len(body) < count_at + 4:
        warnings.append(GpmfWarning(source, box.offset, f"{what} box too short"))
        return []
    (n,) = struct.unpack_from(">I", body, count_at)
    room = (len(body) - count_at - 4) // entry.size
    if n > room:
        warnings.append(GpmfWarning(source, box.offset, f"{what} entry count {n} runs past its box "
                                                        f"(room for {room}); clamped"))
        n = room
    if n > MAX_SAMPLES:
        warnings.append(GpmfWarning(source, box.offset, f"{what} entry count {n} is absurd; clamped to {MAX_SAMPLES}"))
        n = MAX_SAMPLES
    return [entry.unpack_from(body, count_at + 4 + i * entry.size) for i in range(n)]


_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_PAIR = struct.Struct(">II")
_TRIPLE = struct.Struct(">III")


def _parse_stbl(buf: bytes, base: int, stbl: Box, timescale: int, source: str, file_size: int,
                warnings: list[GpmfWarning]) -> list[Sample] | None:
    boxes = {b.type: b for b in _children(buf, base, stbl, source, warnings)}
    stsd = boxes.get(b"stsd")
    if stsd is None:
        return None
    body = _body(buf, base, stsd)
    # stsd: version/flags, entry count, then sample entries (size, data format, ...).
    formats = set()
    if len(body) >= 8:
        for e in iter_boxes(_mem_reader(body, stsd.body), stsd.body + 8, stsd.end, source=source,
                            warnings=warnings):
            formats.add(e.type)
    if b"gpmd" not in formats:
        return None
    sizes: list[int] = []
    if b"stsz" in boxes:
        b = boxes[b"stsz"]
        body = _body(buf, base, b)
        if len(body) >= 12:
            uniform, count = struct.unpack_from(">II", body, 4)
            if uniform:
                sizes = [uniform] * min(count, MAX_SAMPLES)
            else:
                sizes = [e[0] for e in _table(body, _U32, 8, "stsz", b, source, warnings)]
    chunk_offsets: list[int] = []
    for kind, ent in ((b"stco", _U32), (b"co64", _U64)):
        if kind in boxes:
            b = boxes[kind]
            chunk_offsets = [e[0] for e in _table(_body(buf, base, b), ent, 4, kind.decode(), b, source, warnings)]
    stsc = [(1, 1, 1)]
    if b"stsc" in boxes:
        stsc = _table(_body(buf, base, boxes[b"stsc"]), _TRIPLE, 4, "stsc", boxes[b"stsc"], source, warnings) \
            or [(1, 1, 1)]
    stts: list[tuple] = []
    if b"stts" in boxes:
        stts = _table(_body(buf, base, boxes[b"stts"]), _PAIR, 4, "stts", boxes[b"stts"], source, warnings)

    # Sample i's offset: its chunk's offset + the sizes of the samples before it in that chunk.
    offsets: list[int] = []
    n = len(sizes)
    for k, (first, per_chunk, _desc) in enumerate(stsc):
        last = stsc[k + 1][0] - 1 if k + 1 < len(stsc) else len(chunk_offsets)
        if first < 1 or per_chunk == 0:
            continue
        for chunk in range(first, min(last, len(chunk_offsets)) + 1):
            pos = chunk_offsets[chunk - 1]
            for _ in range(per_chunk):
                if len(offsets) >= n:
                    break
                offsets.append(pos)
                pos += sizes[len(offsets) - 1]
            if len(offsets) >= n:
                break
        if len(offsets) >= n:
            break
    if len(offsets) < n:
        warnings.append(GpmfWarning(source, stbl.offset, f"chunk tables cover {len(offsets)} of {n} gpmd samples; "
                                                         "the rest are skipped"))
    # Sample times from stts runs.
    starts: list[float] = []
    durs: list[float] = []
    t = 0.0
    ts = timescale or 1
    for count, delta in stts:
        for _ in range(count):
            if len(starts) >= n:
                break
            starts.append(t / ts)
            durs.append(delta / ts)
            t += delta
        if len(starts) >= n:
            break
    while len(starts) < n:  # stts shorter than stsz: assume the last duration (or 1.001 s)
        d = durs[-1] if durs else 1.001
        starts.append(t / ts)
        durs.append(d)
        t += d * ts
    samples = []
    for i, off in enumerate(offsets):
        if off + sizes[i] > file_size:
            warnings.append(GpmfWarning(source, off, f"gpmd sample {i} ({sizes[i]} bytes at {off}) runs past "
                                                     f"the end of the file ({file_size}); skipped"))
            continue
        samples.append(Sample(i, off, sizes[i], starts[i], durs[i]))
    return samples


def open_gpmd_track(path: Path | str, *, warnings: list[GpmfWarning] | None = None) -> GpmdTrack:
    """Find the ``gpmd`` track of the MP4 at ``path`` and index its samples (nothing is decoded).

    Reads the top-level box headers and ``moov`` only. Raises :class:`NoGpmfTrack` when no track's
    sample description is ``gpmd``, :class:`Mp4Error` when there is no ``moov`` (or it is over
    :data:`MAX_MOOV`), OSError when the file cannot be read.
    """
    path = Path(path)
    warnings = warnings if warnings is not None else []
    source = str(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        rd = _Reader(f, size)
        moov = None
        for b in iter_boxes(rd, 0, size, source=source, warnings=warnings, top=True):
            if b.type == b"moov":
                moov = b
                break
        if moov is None:
            raise Mp4Error(f"{path}: no moov box (not an MP4, or the recording was cut before the camera wrote it)")
        if moov.size > MAX_MOOV:
            raise Mp4Error(f"{path}: moov of {moov.size} bytes at offset {moov.offset} is over {MAX_MOOV}")
        buf = rd(moov.offset, moov.size)
        track = _parse_moov(buf, moov, path, size, warnings)
        track.bytes_read = rd.bytes_read
        return track


def _parse_moov(buf: bytes, moov: Box, path: Path, file_size: int, warnings: list[GpmfWarning]) -> GpmdTrack:
    source = str(path)
    base = moov.offset
    creation = None
    hilights: list[int] = []
    udta_gpmf = None
    found: GpmdTrack | None = None
    for b in _children(buf, base, moov, source, warnings):
        if b.type == b"mvhd":
            body = _body(buf, base, b)
            if len(body) >= 12:
                secs = struct.unpack_from(">Q" if body[0] == 1 else ">I", body, 4)[0]
                if secs:
                    try:
                        creation = _MAC_EPOCH + timedelta(seconds=secs)
                    except OverflowError:
                        warnings.append(GpmfWarning(source, b.offset, f"mvhd creation time {secs} out of range"))
        elif b.type == b"udta":
            for u in _children(buf, base, b, source, warnings):
                body = _body(buf, base, u)
                if u.type == b"HMMT" and len(body) >= 4:
                    (n,) = struct.unpack_from(">I", body, 0)
                    n = min(n, (len(body) - 4) // 4)
                    hilights = [struct.unpack_from(">I", body, 4 + 4 * i)[0] for i in range(n)]
                elif u.type == b"GPMF":
                    udta_gpmf = body
        elif b.type == b"trak" and found is None:
            found = _parse_trak(buf, base, b, path, file_size, warnings)
    if found is None:
        raise NoGpmfTrack(f"{path}: no GPMF track (no sample description 'gpmd')")
    found.creation_time = creation
    found.hilights_ms = hilights
    found.udta_gpmf = udta_gpmf
    return found


def _parse_trak(buf: bytes, base: int, trak: Box, path: Path, file_size: int,
                warnings: list[GpmfWarning]) -> GpmdTrack | None:
    source = str(path)
    mdia = next((c for c in _children(buf, base, trak, source, warnings) if c.type == b"mdia"), None)
    if mdia is None:
        return None
    timescale = 0
    minf = None
    for c in _children(buf, base, mdia, source, warnings):
        if c.type == b"mdhd":
            body = _body(buf, base, c)
            at = 20 if body[:1] == b"\x01" else 12
            if len(body) >= at + 4:
                timescale = struct.unpack_from(">I", body, at)[0]
        elif c.type == b"minf":
            minf = c
    if minf is None:
        return None
    stbl = next((c for c in _children(buf, base, minf, source, warnings) if c.type == b"stbl"), None)
    if stbl is None:
        return None
    if not timescale:
        warnings.append(GpmfWarning(source, mdia.offset, "mdhd timescale 0 or missing; 1000 assumed"))
        timescale = 1000
    samples = _parse_stbl(buf, base, stbl, timescale, source, file_size, warnings)
    if samples is None:
        return None
    duration = (samples[-1].start + samples[-1].duration) if samples else 0.0
    return GpmdTrack(path, timescale, samples, duration, file_size=file_size)


def read_samples(track: GpmdTrack, *, max_gap: int = 1 << 16) -> Iterator[tuple[Sample, bytes]]:
    """Yield ``(sample, payload bytes)`` for every sample of ``track``, in order, reading only them.

    Neighbouring samples less than ``max_gap`` bytes apart are read in one go. A sample that
    cannot be read whole (the file shrank) is skipped. Adds to ``track.bytes_read``.
    """
    samples = track.samples
    with open(track.path, "rb") as f:
        i = 0
        while i < len(samples):
            j = i + 1
            while (j < len(samples) and samples[j].offset >= samples[j - 1].offset
                   and samples[j].offset - (samples[j - 1].offset + samples[j - 1].size) < max_gap
                   and samples[j].offset + samples[j].size - samples[i].offset < 64 << 20):
                j += 1
            start = samples[i].offset
            end = max(s.offset + s.size for s in samples[i:j])
            f.seek(start)
            blob = f.read(end - start)
            track.bytes_read += len(blob)
            for s in samples[i:j]:
                data = blob[s.offset - start:s.offset - start + s.size]
                if len(data) == s.size:
                    yield s, data
            i = j


_CHAPTER = re.compile(r"^(?P<kind>GH|GX|GS|GP|GOPR)(?P<ch>\d\d)?(?P<num>\d{4})\.(?P<ext>mp4|360)$", re.IGNORECASE)


def chapter_key(path: Path) -> tuple[str, int] | None:
    """``(recording key, chapter number)`` of a GoPro file name, or None for any other name.

    GoPro's naming (GoPro support, "GoPro Camera File Naming Convention"): HERO5 and later write
    ``GHzzxxxx.MP4`` (AVC) / ``GXzzxxxx.MP4`` (HEVC) / ``GSzzxxxx.360`` (MAX), zz the chapter
    (01, 02…), xxxx the file number; earlier cameras write ``GOPRxxxx.MP4`` for the first chapter
    and ``GPzzxxxx.MP4`` for chapter zz+1. The key joins the folder, the family and the number.
    """
    m = _CHAPTER.match(path.name)
    if not m:
        return None
    kind, ch, num = m.group("kind").upper(), m.group("ch"), m.group("num")
    if kind == "GOPR":
        if ch is not None:
            return None
        return f"{path.parent}/GOPR{num}", 0
    if ch is None:
        return None
    family = "GOPR" if kind == "GP" else kind
    return f"{path.parent}/{family}{num}", int(ch)


def group_chapters(paths: list[Path]) -> list[list[Path]]:
    """Group ``paths`` into recordings, each a list of its chapters in order (first chapter first);
    names that are not GoPro chapter names are recordings of their own. Order: by first path."""
    groups: dict[str, list[tuple[int, Path]]] = {}
    order: list[str] = []
    for p in paths:
        k = chapter_key(p)
        key = k[0] if k else f"file:{p}"
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((k[1] if k else 0, p))
    return [[p for _, p in sorted(groups[key], key=lambda cp: (cp[0], cp[1].name))] for key in order]
