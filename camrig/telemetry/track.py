"""From GPMF payloads to one recording's telemetry: GPS points with UTC times, sensor series, HiLights.

Timing (issue 11 part 3; gpmf-parser README §"GPMF Timing and Clocks": GPMF stores no sample
rate, the MP4 track's timing is the clock):

* every payload has a track time ``start`` and ``duration`` (seconds) from the MP4's ``stts`` and
  ``mdhd`` timescale (:mod:`camrig.telemetry.mp4`); chapters follow each other on one time line;
* the ``n`` samples of a stream in a payload are spread evenly over it: sample ``i`` is at
  ``start + duration × i / n`` — the linear per-payload clock gpmf-parser derives from the track
  (GPMF_utils.c:31 ``GetGPMFSampleRate``: samples over ``endout - startin``);
* **GPS5** (HERO5–11): UTC = ``GPSU`` of the payload + ``duration × i / n`` ("GPSU plus the
  sample's share of the payload's duration"); fix from ``GPSF`` (0 none, 2 2D, 3 3D) and DOP from
  ``GPSP`` / 100 (README §HERO5 "GPSP … DOP x100"). GoPro does not say which instant ``GPSU``
  stamps; like gopro2gpx we take it as the first sample's (unverified);
* **GPS9** (HERO11+, HERO13 only): each sample carries its own time, days since 2000 +
  seconds since midnight, and its own DOP and fix (README §HERO11);
* **GPRI** (Karma drone): its first element is a time in seconds on the drone's clock; ``SYST``
  pairs that clock (first element, s) with UNIX time (second element, s) (units from the
  stream's own ``UNIT``/``SCAL``: "s","s"), so UTC = SYST.unix + (GPRI.t − SYST.t). The element
  order (time, lat, lon, alt, eph, epv, speed, course, fix, satellites) is the stream's own
  TYPE/UNIT and matches MAVLink's GPS_RAW_INT (reported; the Karma's flight controller speaks
  MAVLink);
* raw ``.bin``/``.raw`` GPMF has no ``stts``: a payload is the run of top-level ``DEVC``s up to the
  next repeat of a device id, and its duration is the gap from its GPS time to the next payload's
  (the first GPS9 sample's own time, else ``GPSU``) when that is over 0.05 s and at most 5 s; a
  payload without one gets the median of the measured gaps, or 1.001 s when there is none (the
  payload duration GoPro's own files use: the MAX sample's stts is 10 × 1001/1000 s).

Points with latitude = longitude = altitude = 0 are not positions (the receiver had nothing) and
are dropped, counted in :attr:`Telemetry.empty_points` (gopro2gpx does the same).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from camrig.telemetry.gpmf import GpmfWarning, StreamPayload, gps9_time, iter_klv, parse_gpsu, parse_payload

__all__ = ["GpsPoint", "Series", "Telemetry", "Payload", "decode_payloads", "split_raw",
           "GPS_KEYS", "stream_keys"]

#: The GPS streams, in order of preference for "the" track of a recording.
GPS_KEYS = ("GPS9", "GPS5", "GPRI")
#: ``--streams`` names → sample FourCCs.
_STREAM_GROUPS = {"GPS": {"GPS5", "GPS9", "GPRI", "SYST"}}
DEFAULT_PAYLOAD_S = 1.001


def stream_keys(names: Iterable[str] | None) -> set[str] | None:
    """``--streams GPS,ACCL`` → the FourCCs to decode (None: all). ``GPS`` means GPS5/GPS9/GPRI/SYST."""
    if names is None:
        return None
    out: set[str] = set()
    for n in names:
        n = n.strip().upper()
        if n:
            out |= _STREAM_GROUPS.get(n, {n})
    return out


@dataclass
class GpsPoint:
    """One GPS sample. ``t``: seconds since the recording's start (track time); ``utc``: aware
    datetime or None; ``lat``/``lon`` degrees (WGS 84), ``alt`` m, ``speed2d``/``speed3d`` m/s,
    ``fix`` 0/2/3 (None unknown), ``dop`` (unitless), ``source`` GPS5/GPS9/GPRI, ``chapter`` 0-based."""

    t: float
    utc: datetime | None
    lat: float
    lon: float
    alt: float
    speed2d: float | None
    speed3d: float | None
    fix: int | None
    dop: float | None
    source: str
    chapter: int = 0

    @property
    def good_fix(self) -> bool:
        """A 2D or 3D fix."""
        return self.fix is not None and self.fix >= 2


@dataclass
class Series:
    """Every sample of one stream (FourCC ``key``) across the recording: ``samples`` is a list of
    ``(t seconds, values tuple)``; ``units`` per element (SIUN or UNIT), ``name`` (STNM),
    ``device`` (DVNM), ``type`` (TYPE of complex data), ``scale`` (SCAL), ``tsmp``/``stmp``/``empt``
    from the last payload (total samples, µs timestamp, empty payloads)."""

    key: str
    name: str = ""
    device: str = ""
    units: list[str] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    type: str | None = None
    samples: list[tuple[float, tuple]] = field(default_factory=list)
    tsmp: int | None = None
    stmp: int | None = None
    empt: int | None = None


@dataclass
class Payload:
    """One GPMF payload to decode: ``data``, track ``start``/``duration`` (s; duration None when
    unknown, raw GPMF), ``base`` (its offset in ``source``), ``chapter`` (0-based), ``source``."""

    data: bytes
    start: float
    duration: float | None
    base: int = 0
    chapter: int = 0
    source: str = ""


@dataclass
class Telemetry:
    """A recording's decoded telemetry.

    ``sources``: the files read; ``gps``: every point of every GPS stream, in time order per stream;
    ``series``: the other streams by FourCC; ``hilights``: HiLight tags, seconds since start;
    ``hilights_raw``: KLVs of the ``HLMT`` device (layout unverified); ``devices``: DVNM names;
    ``duration``: s; ``creation_time``: the first chapter's mvhd time (camera clock);
    ``warnings``; ``payloads``: count; ``empty_points``: all-zero GPS samples dropped;
    ``bytes_read`` / ``file_size``: bytes (MP4 input only).
    """

    sources: list[str] = field(default_factory=list)
    gps: list[GpsPoint] = field(default_factory=list)
    series: dict[str, Series] = field(default_factory=dict)
    hilights: list[float] = field(default_factory=list)
    hilights_raw: list[dict[str, Any]] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    duration: float = 0.0
    creation_time: datetime | None = None
    warnings: list[GpmfWarning] = field(default_factory=list)
    payloads: int = 0
    empty_points: int = 0
    bytes_read: int = 0
    file_size: int = 0
    #: the daemon's marks (issue 13, camrig.inputs.marks.marks_in_recording) inside this recording
    marks: list[dict[str, Any]] = field(default_factory=list)

    def gps_track(self, *, skip_bad_fix: bool = False) -> list[GpsPoint]:
        """The recording's GPS track: GPS9 when present, else GPS5, else GPRI (one source, so a
        HERO11's two copies of every position are not drawn twice); ``skip_bad_fix`` drops
        samples without a 2D/3D fix."""
        for key in GPS_KEYS:
            pts = [p for p in self.gps if p.source == key]
            if pts:
                return [p for p in pts if p.good_fix] if skip_bad_fix else pts
        return []

    def start_utc(self) -> datetime | None:
        """UTC of track time 0 from the first GPS sample with a fix (``utc − t``), or None."""
        for p in self.gps_track():
            if p.good_fix and p.utc is not None:
                return p.utc - timedelta(seconds=p.t)
        return None


def split_raw(data: bytes, *, source: str = "", warnings: list[GpmfWarning] | None = None) -> list[Payload]:
    """Cut a raw GPMF stream (``.bin``: the ``gpmd`` track's payloads one after another, as
    gopro2gpx ``-b`` reads them) into payloads: consecutive top-level ``DEVC``s, a new payload
    starting when a device id repeats. Durations stay unknown (None)."""
    warnings = warnings if warnings is not None else []
    payloads: list[Payload] = []
    cur_start, cur_end, seen = None, 0, set()

    def warn(off: int, msg: str) -> None:
        warnings.append(GpmfWarning(source, off, msg))

    for klv in iter_klv(data, warn=warn, depth=0):
        dvid = None
        for c in klv.children:
            if c.key == "DVID":
                dvid = c.data
                break
        end = klv.offset + 8 + ((klv.size * klv.repeat + 3) & ~3)
        if cur_start is not None and (dvid in seen or klv.key != "DEVC"):
            payloads.append(Payload(data[cur_start:cur_end], 0.0, None, base=cur_start, source=source))
            cur_start, seen = None, set()
        if cur_start is None:
            cur_start = klv.offset
        seen.add(dvid)
        cur_end = min(end, len(data))
    if cur_start is not None:
        payloads.append(Payload(data[cur_start:cur_end], 0.0, None, base=cur_start, source=source))
    return payloads


def _first(v: Any) -> Any:
    return v[0] if isinstance(v, list) and v else v


def decode_payloads(payloads: Iterable[Payload], *, keys: set[str] | None = None,
                    telemetry: Telemetry | None = None) -> Telemetry:
    """Decode ``payloads`` (in time order) into a :class:`Telemetry` (a new one, or add to
    ``telemetry``). ``keys``: sample FourCCs to decode (None: all). Payloads without a duration
    (raw GPMF) are timed from their GPSU gaps, see the module docstring."""
    tel = telemetry if telemetry is not None else Telemetry()
    decoded: list[tuple[Payload, list[StreamPayload]]] = []
    for p in payloads:
        streams = parse_payload(p.data, source=p.source, base=p.base, warnings=tel.warnings, keys=keys)
        decoded.append((p, streams))
    _fill_raw_timing(decoded, tel)
    syst: tuple[float, float] | None = None
    for p, streams in decoded:
        tel.payloads += 1
        dur = p.duration or DEFAULT_PAYLOAD_S
        tel.duration = max(tel.duration, p.start + dur)
        for sp in streams:  # the payload's SYST pairs the drone clock with UNIX time for its GPRI
            if sp.key == "SYST":
                for row in sp.samples:
                    if len(row) >= 2 and row[0] and row[1]:
                        syst = (float(row[0]), float(row[1]))
        for sp in streams:
            if sp.device and sp.device not in tel.devices:
                tel.devices.append(sp.device)
            n = len(sp.samples)
            if sp.key == "GPS5":
                _gps5(sp, p, dur, tel)
            elif sp.key == "GPS9":
                _gps9(sp, p, dur, tel)
            elif sp.key == "GPRI":
                _gpri(sp, p, dur, syst, tel)
            if keys is not None and sp.key not in keys:
                continue
            s = tel.series.get(sp.key)
            if s is None:
                s = tel.series[sp.key] = Series(sp.key, sp.name, sp.device, sp.units, sp.scale, sp.type)
            for i, row in enumerate(sp.samples):
                s.samples.append((p.start + dur * i / n, row))
            s.tsmp = _first(sp.props.get("TSMP", s.tsmp))
            s.stmp = _first(sp.props.get("STMP", s.stmp))
            s.empt = _first(sp.props.get("EMPT", s.empt))
    return tel


def _fill_raw_timing(decoded: list[tuple[Payload, list[StreamPayload]]], tel: Telemetry) -> None:
    """Give payloads with duration None a start and duration from their GPSU gaps."""
    if not decoded or all(p.duration is not None for p, _ in decoded):
        return
    ref: list[datetime | None] = []
    for _, streams in decoded:
        u = None
        for sp in streams:
            if sp.key == "GPS9" and sp.samples and len(sp.samples[0]) >= 7:
                try:
                    u = gps9_time(float(sp.samples[0][5]), float(sp.samples[0][6]))
                except (OverflowError, ValueError):
                    u = None
                break
        if u is None:
            u = next((parse_gpsu(str(sp.props["GPSU"])) for sp in streams if "GPSU" in sp.props), None)
        ref.append(u)
    gaps: list[float | None] = []
    for k in range(len(decoded)):
        a, b = ref[k], ref[k + 1] if k + 1 < len(ref) else None
        g = (b - a).total_seconds() if a is not None and b is not None else None
        gaps.append(g if g is not None and 0.05 < g <= 5.0 else None)
    known = sorted(g for g in gaps if g is not None)
    fallback = known[len(known) // 2] if known else DEFAULT_PAYLOAD_S
    t = decoded[0][0].start
    for k, (p, _) in enumerate(decoded):
        if p.duration is not None:
            t = p.start + p.duration
            continue
        gap = gaps[k]
        d = gap if gap is not None else fallback
        p.start, p.duration = t, d
        t += d


def _add(tel: Telemetry, pt: GpsPoint) -> None:
    if pt.lat == 0 and pt.lon == 0 and pt.alt == 0:
        tel.empty_points += 1
        return
    tel.gps.append(pt)


def _gps5(sp: StreamPayload, p: Payload, dur: float, tel: Telemetry) -> None:
    n = len(sp.samples)
    gpsu = parse_gpsu(str(sp.props["GPSU"])) if "GPSU" in sp.props else None
    fix = _first(sp.props.get("GPSF"))
    gpsp = _first(sp.props.get("GPSP"))
    dop = gpsp / 100.0 if isinstance(gpsp, int | float) else None
    for i, row in enumerate(sp.samples):
        if len(row) < 5:
            tel.warnings.append(GpmfWarning(p.source, sp.offset, f"GPS5 sample with {len(row)} elements; skipped"))
            return
        share = dur * i / n
        _add(tel, GpsPoint(p.start + share, gpsu + timedelta(seconds=share) if gpsu else None,
                           float(row[0]), float(row[1]), float(row[2]), float(row[3]), float(row[4]),
                           int(fix) if isinstance(fix, int | float) else None, dop, "GPS5", p.chapter))


def _gps9(sp: StreamPayload, p: Payload, dur: float, tel: Telemetry) -> None:
    n = len(sp.samples)
    for i, row in enumerate(sp.samples):
        if len(row) < 9:
            tel.warnings.append(GpmfWarning(p.source, sp.offset, f"GPS9 sample with {len(row)} elements; skipped"))
            return
        try:
            utc = gps9_time(float(row[5]), float(row[6]))
        except (OverflowError, ValueError):
            utc = None
        _add(tel, GpsPoint(p.start + dur * i / n, utc, float(row[0]), float(row[1]), float(row[2]),
                           float(row[3]), float(row[4]), int(row[8]), float(row[7]), "GPS9", p.chapter))


def _gpri(sp: StreamPayload, p: Payload, dur: float, syst: tuple[float, float] | None, tel: Telemetry) -> None:
    n = len(sp.samples)
    for i, row in enumerate(sp.samples):
        if len(row) < 10:
            tel.warnings.append(GpmfWarning(p.source, sp.offset, f"GPRI sample with {len(row)} elements; skipped"))
            return
        utc = None
        if syst is not None:
            try:
                utc = datetime.fromtimestamp(syst[1] + (float(row[0]) - syst[0]), tz=UTC)
            except (OverflowError, ValueError, OSError):
                utc = None
        _add(tel, GpsPoint(p.start + dur * i / n, utc, float(row[1]), float(row[2]), float(row[3]),
                           float(row[6]), None, int(row[8]), float(row[4]), "GPRI", p.chapter))
