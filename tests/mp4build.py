"""A small MP4 writer for tests and benches: raw GPMF payloads wrapped as a ``gpmd`` track.

Shared seam (SESSION3.md): telemetry's tests and bench use it, and so may the emulator and
offload helpers (an emulated camera serving a GoPro-like MP4). Not a general muxer: it writes
just the boxes a reader of GoPro files walks, laid out as GoPro's own files are
(gpmf-parser README, "GoPro's MP4 Structure" and "Inside the 'meta' Track"):

    ftyp
    mdat                      (optionally large and sparse: a hole, 64-bit box size)
    moov                      (at the end like a camera writes it, or at the start)
      mvhd
      [udta/HMMT]             (HiLight tags of HERO5-era cameras: count, then ms)
      [trak 'vide']           (a video track with no samples, so readers must pick by 'gpmd')
      trak
        tkhd
        mdia/mdhd (timescale), mdia/hdlr ('meta'), mdia/minf
          gmhd/gmin, gmhd/gpmd
          stbl: stsd ('gpmd'), stts, stsc, stsz, stco | co64

Box layouts: ISO/IEC 14496-12 (ISO base media file format) and Apple's QuickTime File Format
("Sample Table Atoms"); both are what gpmf-parser's demo/GPMF_mp4reader.c reads.

Typical use::

    from tests.mp4build import build_mp4
    path = build_mp4(tmp_path / "GH010001.MP4", [payload1, payload2], duration=1001, timescale=1000)
    path = build_mp4(tmp_path / "big.MP4", payloads, mdat_size=4 << 30, moov_at_end=True, co64=True)

With ``mdat_size`` the file is sparse: the payloads are spread evenly through a hole of that many
bytes (like the GPMF samples interleaved among 4 GB of video), costing no disk space.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

__all__ = ["box", "full_box", "build_mp4", "gpmf_klv"]


def box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    """One box: 32-bit size + type + payload, or size 1 + type + 64-bit size when ``large``."""
    assert len(kind) == 4
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def full_box(kind: bytes, version: int, flags: int, payload: bytes = b"") -> bytes:
    """A "full box": version (1 byte) and flags (3 bytes) before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def gpmf_klv(key: bytes, type_char: bytes | int, struct_size: int, repeat: int, data: bytes) -> bytes:
    """One GPMF KLV (gpmf-parser README, "KLV Design"): FourCC, type, struct size, repeat (16-bit),
    then ``data`` padded with zeros to a 32-bit boundary. ``type_char`` 0 (or b"\\0") nests."""
    t = type_char if isinstance(type_char, int) else type_char[0]
    pad = (-len(data)) % 4
    return key + struct.pack(">BBH", t, struct_size, repeat) + data + b"\0" * pad


def _stbl(sizes: Sequence[int], offsets: Sequence[int], durations: Sequence[int], *,
          co64: bool, samples_per_chunk: int) -> bytes:
    # stsd: one entry, data format 'gpmd' (sample entry: 6 reserved bytes + data reference index).
    entry = box(b"gpmd", b"\0" * 6 + struct.pack(">H", 1))
    stsd = full_box(b"stsd", 0, 0, struct.pack(">I", 1) + entry)
    # stts: run-length (count, delta) pairs.
    runs: list[list[int]] = []
    for d in durations:
        if runs and runs[-1][1] == d:
            runs[-1][0] += 1
        else:
            runs.append([1, d])
    stts = full_box(b"stts", 0, 0, struct.pack(">I", len(runs)) + b"".join(struct.pack(">II", *r) for r in runs))
    # stsc: samples_per_chunk samples in every chunk (the last chunk may hold fewer: a second run).
    n = len(sizes)
    spc = max(1, samples_per_chunk)
    chunks = [list(range(i, min(i + spc, n))) for i in range(0, n, spc)]
    stsc_runs = []
    for ci, chunk in enumerate(chunks):
        if not stsc_runs or stsc_runs[-1][1] != len(chunk):
            stsc_runs.append((ci + 1, len(chunk), 1))
    stsc = full_box(b"stsc", 0, 0, struct.pack(">I", len(stsc_runs))
                    + b"".join(struct.pack(">III", *r) for r in stsc_runs))
    stsz = full_box(b"stsz", 0, 0, struct.pack(">II", 0, n) + b"".join(struct.pack(">I", s) for s in sizes))
    chunk_offsets = [offsets[c[0]] for c in chunks]
    if co64:
        stco = full_box(b"co64", 0, 0, struct.pack(">I", len(chunk_offsets))
                        + b"".join(struct.pack(">Q", o) for o in chunk_offsets))
    else:
        stco = full_box(b"stco", 0, 0, struct.pack(">I", len(chunk_offsets))
                        + b"".join(struct.pack(">I", o) for o in chunk_offsets))
    return box(b"stbl", stsd + stts + stsc + stsz + stco)


def _trak_gpmd(sizes, offsets, durations, *, timescale: int, co64: bool, samples_per_chunk: int,
               track_id: int) -> bytes:
    total = sum(durations)
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, track_id, 0, total) + b"\0" * 60)
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, total, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, b"mhlr" + b"meta" + b"\0" * 12 + b"\x0aGoPro MET")
    gmhd = box(b"gmhd", full_box(b"gmin", 0, 0, b"\0" * 12) + box(b"gpmd", b"\0" * 4))
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1) + full_box(b"alis", 0, 1)))
    stbl = _stbl(sizes, offsets, durations, co64=co64, samples_per_chunk=samples_per_chunk)
    minf = box(b"minf", gmhd + dinf + stbl)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


def _trak_video(timescale: int, pieces: Sequence[tuple[int, int]] = (), *, co64: bool = False) -> bytes:
    """A video track: without ``pieces`` it has no samples (a reader that takes the first track finds
    no GPMF); with ``pieces`` ((offset, size) each) its samples fill the mdat around the GPMF, as
    a camera's interleaved video does (so a demuxer like ffmpeg's walks the whole file)."""
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\0" * 60)
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale, 0, 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, b"mhlr" + b"vide" + b"\0" * 12 + b"\x0aGoPro AVC")
    entry = box(b"avc1", b"\0" * 6 + struct.pack(">H", 1) + b"\0" * 70)
    n = len(pieces)
    offs = b"".join(struct.pack(">Q" if co64 else ">I", o) for o, _ in pieces)
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1) + entry)
               + full_box(b"stts", 0, 0, struct.pack(">I", 1 if n else 0) + (struct.pack(">II", n, 1) if n else b""))
               + full_box(b"stsc", 0, 0, struct.pack(">I", 1 if n else 0)
                          + (struct.pack(">III", 1, 1, 1) if n else b""))
               + full_box(b"stsz", 0, 0, struct.pack(">II", 0, n) + b"".join(struct.pack(">I", s) for _, s in pieces))
               + full_box(b"co64" if co64 else b"stco", 0, 0, struct.pack(">I", n) + offs))
    minf = box(b"minf", full_box(b"vmhd", 0, 1, b"\0" * 8) + stbl)
    return box(b"trak", tkhd + box(b"mdia", mdhd + hdlr + minf))


def build_mp4(path: Path | str, payloads: Sequence[bytes], *, duration: int | Sequence[int] = 1001,
              timescale: int = 1000, moov_at_end: bool = True, co64: bool = False,
              mdat_size: int | None = None, samples_per_chunk: int = 1, video_track: bool = True,
              hilights_ms: Sequence[int] | None = None, gpmd_track: bool = True,
              video_fill: bool = False, video_piece: int = 256 << 10) -> Path:
    """Write an MP4 at ``path`` whose ``gpmd`` track holds ``payloads`` (bytes each, in order).

    ``duration``: each sample's duration in ``timescale`` units (one value or one per payload;
    GoPro writes 1001/1000 s payloads). ``moov_at_end``: camera layout (moov after mdat).
    ``co64``: 64-bit chunk offsets. ``mdat_size``: make mdat this many bytes (at least the payloads)
    with the payloads spread evenly through it and the rest a sparse hole; a size over 4 GiB
    uses a 64-bit mdat header. ``samples_per_chunk``: payloads per chunk (stsc). ``video_track``:
    put an empty video track first. ``hilights_ms``: write ``moov/udta/HMMT`` with these times.
    ``gpmd_track=False`` leaves the GPMF track out (a file with no telemetry). ``video_fill``: the
    video track's samples (pieces of at most ``video_piece`` bytes, 256 KiB: a 60 Mbit/s frame)
    cover the rest of mdat, like real interleaved video (the video track is then in moov even if
    ``video_track`` is False).
    Returns ``Path(path)``. Raises ValueError when the payloads do not fit in ``mdat_size``.
    """
    path = Path(path)
    sizes = [len(p) for p in payloads]
    durations = list(duration) if not isinstance(duration, int) else [duration] * len(payloads)
    if len(durations) != len(payloads):
        raise ValueError("one duration per payload")
    ftyp = box(b"ftyp", b"mp41" + struct.pack(">I", 0) + b"mp41")
    data_len = sum(sizes)
    body = mdat_size if mdat_size is not None else data_len
    if body < data_len:
        raise ValueError(f"mdat_size {mdat_size} is smaller than the payloads ({data_len} bytes)")
    large = body + 8 > 0xFFFFFFFF
    mdat_header = 16 if large else 8

    def fill(offsets: list[int]) -> list[tuple[int, int]]:
        if not video_fill:
            return []
        used = sorted(zip(offsets, sizes, strict=True))
        pieces, pos = [], mdat_start + mdat_header
        for off, size in used + [(mdat_start + mdat_header + body, 0)]:
            while pos < off:
                n = min(off - pos, video_piece)
                pieces.append((pos, n))
                pos += n
            pos = max(pos, off + size)
        return pieces

    def moov_bytes(offsets: list[int]) -> bytes:
        mvhd = full_box(b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, timescale, sum(durations)) + b"\0" * 80)
        parts = [mvhd]
        if hilights_ms is not None:
            hmmt = struct.pack(">I", len(hilights_ms)) + b"".join(struct.pack(">I", t) for t in hilights_ms)
            parts.append(box(b"udta", box(b"HMMT", hmmt)))
        if video_track or video_fill:
            parts.append(_trak_video(timescale, fill(offsets), co64=co64))
        if gpmd_track:
            parts.append(_trak_gpmd(sizes, offsets, durations, timescale=timescale, co64=co64,
                                    samples_per_chunk=samples_per_chunk, track_id=2 if video_track else 1))
        return box(b"moov", b"".join(parts))

    # Where each payload goes inside mdat's body: evenly spread (chunks stay contiguous).
    spc = max(1, samples_per_chunk)
    chunk_starts = list(range(0, len(payloads), spc))
    gap = (body - data_len) // max(1, len(chunk_starts))
    rel: list[int] = []
    pos = 0
    for ci, first in enumerate(chunk_starts):
        pos = ci * gap + sum(sizes[:first]) if gap else sum(sizes[:first])
        for k in range(first, min(first + spc, len(payloads))):
            rel.append(pos)
            pos += sizes[k]
    if moov_at_end:
        mdat_start = len(ftyp)
        offsets = [mdat_start + mdat_header + r for r in rel]
        head = ftyp
    else:
        # moov's size does not depend on the offsets' values, so build it twice.
        mdat_start = len(ftyp)
        probe = moov_bytes([mdat_start + mdat_header + r for r in rel])
        mdat_start = len(ftyp) + len(probe)
        offsets = [mdat_start + mdat_header + r for r in rel]
        head = ftyp + moov_bytes(offsets)
    if not co64 and offsets and max(offsets) > 0xFFFFFFFF:
        raise ValueError("chunk offsets past 4 GiB need co64=True")
    with open(path, "wb") as f:
        f.write(head)
        if large:
            f.write(struct.pack(">I4sQ", 1, b"mdat", 16 + body))
        else:
            f.write(struct.pack(">I4s", 8 + body, b"mdat"))
        for off, p in zip(offsets, payloads, strict=True):
            f.seek(off)
            f.write(p)
        f.seek(mdat_start + mdat_header + body)
        f.truncate()
        if moov_at_end:
            f.write(moov_bytes(offsets))
    return path


if __name__ == "__main__":  # pragma: no cover - manual check: python -m tests.mp4build OUT.mp4 RAW...
    import sys
    out, *raws = sys.argv[1:]
    build_mp4(out, [Path(r).read_bytes() for r in raws])
    print(out, os.path.getsize(out))
