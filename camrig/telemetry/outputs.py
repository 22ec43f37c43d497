"""GPX 1.1, CSV and JSON from a recording's :class:`~camrig.telemetry.track.Telemetry`.

* **GPX 1.1** through gpxpy (Topografix GPX 1.1 schema): one ``trk`` per recording, one ``trkseg``,
  a ``trkpt`` per GPS sample with ``ele`` (m), ``time`` (UTC; omitted when the sample has none),
  ``fix`` (``none``/``2d``/``3d``) and ``pdop`` (GoPro's "DOP" without saying which one; GPX has
  no plain DOP element). GPX 1.1 dropped 1.0's ``speed``, so the 2D ground speed (m/s) goes in
  Garmin's TrackPointExtension v2 (``gpxtpx:speed``, m/s; namespace
  ``http://www.garmin.com/xmlschemas/TrackPointExtension/v2``, schema TrackPointExtensionv2.xsd),
  what Garmin, Strava and others write and read.
* **CSV** with RaceRender's documented column headings (racerender.com/Developer/DataFormat.html:
  ``Time`` "sample time in seconds", ``Latitude``, ``Longitude``, ``Altitude`` (m recommended),
  ``Speed (m/s)``, ``GPS_Update`` (1 on a row that is a new GPS sample), ``Accuracy`` (m)); we add
  ``UTC`` (ISO 8601), ``Fix`` (0/2/3), ``DOP`` and ``Speed 3D (m/s)`` as extra columns. One row per
  GPS sample; ``Time`` is seconds since the recording's first frame (track time).
* **JSON**: every decoded stream with its units, name, device and samples ``[t, v1, v2…]``, the
  GPS points, HiLights and warnings.

``skip_bad_fix`` drops samples without a 2D/3D fix (as gopro2gpx ``-s``); by default they are
kept and marked (``fix`` none / ``Fix`` 0).
"""

from __future__ import annotations

import csv
import io
import json
import math
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any

import gpxpy
import gpxpy.gpx

from camrig.telemetry.track import GpsPoint, Telemetry

__all__ = ["to_gpx", "to_csv", "to_json", "CSV_COLUMNS", "TPX_NS", "write_outputs"]

TPX_NS = "http://www.garmin.com/xmlschemas/TrackPointExtension/v2"
#: RaceRender's headings first (DataFormat.html), then ours.
CSV_COLUMNS = ["Time", "Latitude", "Longitude", "Altitude", "Speed (m/s)", "GPS_Update", "UTC", "Fix", "DOP",
               "Speed 3D (m/s)"]
_FIX = {0: "none", 2: "2d", 3: "3d"}


def _iso(t: datetime | None) -> str:
    return t.isoformat().replace("+00:00", "Z") if t else ""


def to_gpx(tel: Telemetry, *, name: str, skip_bad_fix: bool = False) -> str:
    """GPX 1.1 text of ``tel``'s GPS track, one ``trk`` named ``name``; each of ``tel.marks`` (the
    daemon's marks, issue 13) a waypoint at the GPS fix nearest its time."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "gopro-manager telemetry"
    gpx.nsmap["gpxtpx"] = TPX_NS
    trk = gpxpy.gpx.GPXTrack(name=name)
    seg = gpxpy.gpx.GPXTrackSegment()
    for p in tel.gps_track(skip_bad_fix=skip_bad_fix):
        pt = gpxpy.gpx.GPXTrackPoint(latitude=p.lat, longitude=p.lon, elevation=p.alt, time=p.utc)
        if p.fix in _FIX:
            pt.type_of_gpx_fix = _FIX[p.fix]
        if p.dop is not None and math.isfinite(p.dop):
            pt.position_dilution = round(p.dop, 2)
        if p.speed2d is not None and math.isfinite(p.speed2d):
            ext = ET.Element(f"{{{TPX_NS}}}TrackPointExtension")
            ET.SubElement(ext, f"{{{TPX_NS}}}speed").text = f"{p.speed2d:.3f}"
            pt.extensions.append(ext)
        seg.points.append(pt)
    trk.segments.append(seg)
    gpx.tracks.append(trk)
    fixes = tel.gps_track(skip_bad_fix=True)
    for m in tel.marks:          # issue 13: each mark a waypoint at the GPS fix nearest its time
        near = min(fixes, key=lambda p: abs(p.t - m["t"]), default=None)
        if near is not None:
            gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(
                latitude=near.lat, longitude=near.lon, elevation=near.alt, time=near.utc,
                name=f"mark {m['utc']}", comment=f"HiLight on {', '.join(m['took']) or 'no camera'}"))
    return gpx.to_xml(version="1.1")


def _num(v: float | None, digits: int) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.{digits}f}".rstrip("0").rstrip(".")


def to_csv(tel: Telemetry, *, skip_bad_fix: bool = False) -> str:
    """CSV text (header + one row per GPS sample), columns :data:`CSV_COLUMNS`."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for p in tel.gps_track(skip_bad_fix=skip_bad_fix):
        w.writerow([f"{p.t:.3f}", _num(p.lat, 7), _num(p.lon, 7), _num(p.alt, 3), _num(p.speed2d, 3), 1,
                    _iso(p.utc), "" if p.fix is None else p.fix, _num(p.dop, 2), _num(p.speed3d, 3)])
    return out.getvalue()


def _clean(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, tuple | list):
        return [_clean(x) for x in v]
    return v


def _point(p: GpsPoint) -> dict[str, Any]:
    return {"t": round(p.t, 6), "utc": _iso(p.utc) or None, "lat": p.lat, "lon": p.lon, "alt": p.alt,
            "speed2d": _clean(p.speed2d), "speed3d": _clean(p.speed3d), "fix": p.fix, "dop": _clean(p.dop),
            "source": p.source, "chapter": p.chapter}


def to_json(tel: Telemetry, *, name: str, skip_bad_fix: bool = False) -> str:
    """JSON text: ``{"recording", "sources", "devices", "duration_s", "camera_clock_start",
    "gps_start_utc", "units", "gps": [...], "streams": {FourCC: {"name", "device", "units", "scale",
    "type", "tsmp", "stmp_us", "empt", "samples": [[t, v…]…]}}, "hilights_s", "hilights_raw", "marks"
    (the daemon's marks inside the recording, issue 13: ``{"t", "utc", "source", "took", "missed", "clock"}``),
    "empty_points", "warnings"}``. Times in seconds since the recording's start unless named UTC."""
    gps = [p for p in tel.gps if p.good_fix] if skip_bad_fix else tel.gps
    streams = {}
    for key, s in sorted(tel.series.items()):
        if key in ("GPS5", "GPS9", "GPRI"):
            rows = [[round(t, 6), *_clean(v)] for t, v in s.samples
                    if not skip_bad_fix or key != "GPS9" or (len(v) > 8 and v[8] >= 2)]
        else:
            rows = [[round(t, 6), *_clean(v)] for t, v in s.samples]
        streams[key] = {"name": s.name, "device": s.device, "units": s.units, "scale": _clean(s.scale),
                        "type": s.type, "tsmp": s.tsmp, "stmp_us": s.stmp, "empt": s.empt, "samples": rows}
    doc = {
        "recording": name,
        "sources": tel.sources,
        "devices": tel.devices,
        "duration_s": round(tel.duration, 6),
        "camera_clock_start": _iso(tel.creation_time) or None,
        "gps_start_utc": _iso(tel.start_utc()) or None,
        "units": {"t": "s", "lat": "deg", "lon": "deg", "alt": "m", "speed2d": "m/s", "speed3d": "m/s",
                  "dop": "", "fix": "0 none, 2 2D, 3 3D"},
        "gps": [_point(p) for p in gps],
        "streams": streams,
        "hilights_s": tel.hilights,
        "hilights_raw": tel.hilights_raw,
        "marks": tel.marks,
        "empty_points": tel.empty_points,
        "warnings": [str(w) for w in tel.warnings],
    }
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))


def write_outputs(tel: Telemetry, stem: Path, formats: tuple[str, ...], *,
                  skip_bad_fix: bool = False) -> dict[str, Path]:
    """Write ``stem.gpx`` / ``.csv`` / ``.json`` for each of ``formats``; returns ``{format: path}``.
    Each file is written to a temporary name and renamed, so a reader never sees half a file.
    Raises OSError when the folder is not writable, ValueError for an unknown format."""
    out: dict[str, Path] = {}
    for fmt in formats:
        if fmt == "gpx":
            text = to_gpx(tel, name=stem.name, skip_bad_fix=skip_bad_fix)
        elif fmt == "csv":
            text = to_csv(tel, skip_bad_fix=skip_bad_fix)
        elif fmt == "json":
            text = to_json(tel, name=stem.name, skip_bad_fix=skip_bad_fix)
        else:
            raise ValueError(f"unknown format {fmt!r} (gpx, csv, json)")
        path = stem.with_name(stem.name + "." + fmt)
        tmp = path.with_name("." + path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        out[fmt] = path
    return out
