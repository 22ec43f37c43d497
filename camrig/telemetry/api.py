"""The telemetry API: decode a recording (its chapters, or raw GPMF) and write GPX/CSV/JSON.

:func:`convert_recording` is what the offload calls after fetching a recording; the CLI
(:mod:`camrig.telemetry.cli`) calls it per recording too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from camrig.telemetry.gpmf import GpmfWarning, decode_values, iter_klv
from camrig.telemetry.mp4 import Mp4Error, NoGpmfTrack, open_gpmd_track, read_samples
from camrig.telemetry.outputs import write_outputs
from camrig.telemetry.track import Payload, Telemetry, decode_payloads, split_raw, stream_keys

__all__ = ["Result", "convert_recording", "decode_recording", "decode_raw", "FORMATS", "RAW_SUFFIXES",
           "VIDEO_SUFFIXES"]

log = logging.getLogger(__name__)

FORMATS = ("gpx", "csv", "json")
VIDEO_SUFFIXES = (".mp4", ".360")
RAW_SUFFIXES = (".bin", ".raw")
#: Raw GPMF bigger than this is refused (a whole day of 1 Hz payloads is ~500 MB; a .bin is the
#: whole gpmd track in memory).
MAX_RAW = 1 << 30


@dataclass
class Result:
    """What :func:`convert_recording` did for one recording.

    ``recording``: the stem of the outputs (first chapter's name without suffix); ``chapters``:
    the input paths; ``outputs``: ``{format: path}`` written; ``ok``: outputs written and no
    error; ``error``: one line (e.g. "…: no GPMF track") or None; ``warnings``: problems in the
    input, each naming the file and offset; ``gps_points``: samples in the GPS track;
    ``start_utc``: the recording's start from GPS time (None without a fix);
    ``camera_clock_start``: the first chapter's mvhd creation time (the camera clock);
    ``duration_s``; ``bytes_read`` / ``file_size`` (bytes, MP4 input).
    """

    recording: str
    chapters: list[Path]
    outputs: dict[str, Path] = field(default_factory=dict)
    error: str | None = None
    warnings: list[GpmfWarning] = field(default_factory=list)
    gps_points: int = 0
    start_utc: datetime | None = None
    camera_clock_start: datetime | None = None
    duration_s: float = 0.0
    bytes_read: int = 0
    file_size: int = 0
    telemetry: Telemetry | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.outputs)


def _hilights_from_udta(data: bytes, source: str, warnings: list[GpmfWarning]) -> list[dict]:
    """KLVs of the ``HLMT`` device ("Highlights") in ``moov/udta/GPMF``, decoded generically: the
    entries' layout is unverified (the only sample here has none), so they are reported raw."""
    out = []

    def warn(off: int, msg: str) -> None:
        warnings.append(GpmfWarning(source, off, "udta/GPMF: " + msg))

    for dev in iter_klv(data, warn=warn):
        if dev.key != "DEVC":
            continue
        dvid = next((c for c in dev.children if c.key == "DVID"), None)
        if dvid is None or dvid.data[:4] != b"HLMT":
            continue
        for c in dev.children:
            if c.key in ("DVID", "DVNM"):
                continue
            try:
                vals = [] if c.type == "\0" else decode_values(c)
            except ValueError:
                vals = [c.data.hex()]
            out.append({"key": c.key, "type": c.type if c.type != "\0" else "nest", "values": vals})
    return out


def _mp4_payloads(chapters: Sequence[Path], tel: Telemetry) -> Iterator[Payload]:
    t0 = 0.0
    for ci, path in enumerate(chapters):
        track = open_gpmd_track(path, warnings=tel.warnings)
        if ci == 0:
            tel.creation_time = track.creation_time
        tel.sources.append(str(path))
        tel.hilights.extend(t0 + ms / 1000.0 for ms in track.hilights_ms)
        if track.udta_gpmf:
            tel.hilights_raw.extend(_hilights_from_udta(track.udta_gpmf, str(path), tel.warnings))
        for s, data in read_samples(track):
            yield Payload(data, t0 + s.start, s.duration, base=s.offset, chapter=ci, source=str(path))
        tel.bytes_read += track.bytes_read
        tel.file_size += track.file_size
        t0 += track.duration


def decode_recording(chapters: Sequence[Path | str], *, streams: Iterable[str] | None = None) -> Telemetry:
    """Decode the ``gpmd`` tracks of a recording's chapters (MP4/.360, in order) as one time line.

    ``streams``: ``--streams`` names (``GPS``, ``ACCL``, ``GYRO``, any FourCC), None for all.
    Raises :class:`~camrig.telemetry.mp4.NoGpmfTrack` / :class:`~camrig.telemetry.mp4.Mp4Error` /
    OSError for a chapter that cannot be read at all; damage inside is a warning.
    """
    tel = Telemetry()
    paths = [Path(p) for p in chapters]
    return decode_payloads(_mp4_payloads(paths, tel), keys=stream_keys(streams), telemetry=tel)


def decode_raw(path: Path | str, *, streams: Iterable[str] | None = None) -> Telemetry:
    """Decode a raw GPMF file (``.bin``: a ``gpmd`` track's payloads back to back; ``.raw``: one
    payload). Raises NoGpmfTrack when it holds no GPMF device, Mp4Error when over 1 GiB."""
    path = Path(path)
    if path.stat().st_size > MAX_RAW:
        raise Mp4Error(f"{path}: raw GPMF over {MAX_RAW} bytes")
    data = path.read_bytes()
    tel = Telemetry(sources=[str(path)], file_size=len(data), bytes_read=len(data))
    payloads = split_raw(data, source=str(path), warnings=tel.warnings)
    if not payloads:
        raise NoGpmfTrack(f"{path}: no GPMF (no DEVC at the start)")
    return decode_payloads(payloads, keys=stream_keys(streams), telemetry=tel)


def convert_recording(chapters: list[Path], out_dir: Path | None = None, formats: Sequence[str] = ("gpx",), *,
                      skip_bad_fix: bool = False, streams: Iterable[str] | None = None,
                      name: str | None = None, marks: Sequence[dict] | None = None) -> Result:
    """Decode one recording and write ``<first chapter stem>.<fmt>`` for each of ``formats`` into
    ``out_dir`` (default: beside the first chapter).

    ``chapters``: the recording's files in order (``GH01xxxx.MP4``, ``GH02xxxx.MP4``…; see
    :func:`camrig.telemetry.mp4.group_chapters`), or one ``.bin``/``.raw`` raw GPMF file.
    ``formats``: any of ``gpx``, ``csv``, ``json``. ``skip_bad_fix``: drop GPS samples without a 2D/3D
    fix. ``streams``: decode only these (``GPS``, ``ACCL``, ``GYRO``, FourCCs); GPX/CSV need GPS only,
    so with ``formats=("gpx",)`` and no ``streams`` only the GPS streams are decoded. ``name``: the
    outputs' stem (default: the first chapter's stem; e.g. ``name="GH010042"`` for the GPMF of
    ``GH010042.MP4`` fetched over Open GoPro's ``/gopro/media/gpmf`` and saved as
    ``GH010042.gpmf.bin``). ``marks``: the daemon's marks file records (issue 13,
    :func:`camrig.inputs.marks.read_marks`): those inside the recording go into the JSON
    (``marks``) and the GPX (waypoints), placed by GPS time, else by the camera's clock.
    Never raises for a bad file (nor for a bug in the decoder, which is logged with its traceback):
    ``Result.error`` says what was wrong (one line), e.g.
    "GH010001.MP4: no GPMF track (no sample description 'gpmd')". Raises ValueError for an empty
    ``chapters`` or an unknown format.
    """
    if not chapters:
        raise ValueError("no chapters")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise ValueError(f"unknown format(s) {', '.join(bad)} (gpx, csv, json)")
    paths = [Path(p) for p in chapters]
    first = paths[0]
    stem = name or first.stem
    if name is not None and (not name or "/" in name or name in (".", "..")):
        raise ValueError(f"bad output name {name!r}")
    res = Result(recording=stem, chapters=paths)
    if streams is None and "json" not in formats:
        streams = ("GPS",)
    try:
        if first.suffix.lower() in RAW_SUFFIXES:
            tel = decode_raw(first, streams=streams)
        else:
            tel = decode_recording(paths, streams=streams)
    except NoGpmfTrack as exc:
        res.error = str(exc)
        return res
    except (Mp4Error, OSError) as exc:
        res.error = f"{first}: {exc}" if str(first) not in str(exc) else str(exc)
        return res
    except Exception as exc:  # a decoder bug must not take the offload (or the daemon) down
        log.exception("telemetry: decoding %s failed", first)
        res.error = f"{first}: telemetry decoder failed: {exc!r}"
        return res
    if marks:
        from camrig.inputs.marks import marks_in_recording
        gps_start = tel.start_utc()
        tel.marks = marks_in_recording(marks, gps_start or tel.creation_time, tel.duration,
                                       clock="gps" if gps_start else "camera")
    res.telemetry = tel
    res.warnings = tel.warnings
    res.gps_points = len(tel.gps_track(skip_bad_fix=skip_bad_fix))
    res.start_utc = tel.start_utc()
    res.camera_clock_start = tel.creation_time
    res.duration_s = tel.duration
    res.bytes_read, res.file_size = tel.bytes_read, tel.file_size
    if tel.payloads == 0:
        res.error = f"{first}: the GPMF track has no readable payloads"
        return res
    directory = Path(out_dir) if out_dir is not None else first.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        res.outputs = write_outputs(tel, directory / stem, tuple(formats), skip_bad_fix=skip_bad_fix)
    except OSError as exc:
        res.error = f"{directory}: cannot write outputs: {exc}"
    return res
