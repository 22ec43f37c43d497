"""The per-session sync table: each recording's start in UTC and the offsets between cameras.

An editor lines up the angles of several cameras with it (issue 11 part 5). Each recording's
start (track time 0, the first frame) comes from:

* **GPS** when the camera had a fix: the first fixed GPS sample's UTC minus its track time
  (:meth:`camrig.telemetry.track.Telemetry.start_utc`); GPS time is the same for every camera;
* else the **camera clock**: the MP4's ``mvhd`` creation time. GoPro writes the camera's local
  wall time there, not UTC (the MAX sample's mvhd says 15:45:32 where its GPS says 23:45:14 UTC:
  US Pacific time), and the daemon sets every camera's clock to the Pi's local wall time
  (``camrig/worker.py``, ``set_date_time(datetime.fromtimestamp(...))``), so it is read as
  local time in ``tz`` (default: this machine's zone) and converted to UTC. Good to the second
  at best (mvhd has whole seconds) and to the daemon's last clock set.

``offset_s`` of a recording is its start minus the reference recording's start (the earliest
GPS-timed one, else the earliest), in seconds: positive means it started later.

The table as JSON::

    {"session": "...", "reference": "GH010042@front", "generated_utc": "...Z",
     "recordings": [{"camera": "front", "recording": "GH010042", "start_utc": "...Z",
                     "source": "gps" | "camera_clock" | null, "offset_s": 0.0,
                     "duration_s": 612.4, "gps_points": 6100}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

__all__ = ["SyncEntry", "entry_from_result", "camera_clock_utc", "sync_table", "write_sync_table"]


@dataclass
class SyncEntry:
    """One recording: ``camera`` (name in the config), ``recording`` (stem), ``start_utc`` (aware,
    or None when neither GPS nor the camera clock is known), ``source`` ("gps"/"camera_clock"/None),
    ``duration_s``, ``gps_points``."""

    camera: str
    recording: str
    start_utc: datetime | None
    source: str | None
    duration_s: float = 0.0
    gps_points: int = 0


def camera_clock_utc(wall: datetime | None, tz: tzinfo | None = None) -> datetime | None:
    """The UTC of a camera-clock time ``wall`` (mvhd creation time, decoded as if UTC by
    :mod:`camrig.telemetry.mp4`, really the camera's local wall time): reinterpret its fields as
    wall time in ``tz`` (default: this machine's local zone, which the daemon set the camera to)."""
    if wall is None:
        return None
    naive = wall.replace(tzinfo=None)
    if tz is None:
        return naive.astimezone().astimezone(UTC)  # naive → local zone → UTC
    return naive.replace(tzinfo=tz).astimezone(UTC)


def entry_from_result(camera: str, result: Any, *, tz: tzinfo | None = None) -> SyncEntry:
    """A :class:`SyncEntry` from a :class:`camrig.telemetry.Result` (GPS start when fixed, else the
    camera clock converted with ``tz``)."""
    source: str | None
    if result.start_utc is not None:
        start, source = result.start_utc, "gps"
    else:
        start = camera_clock_utc(result.camera_clock_start, tz)
        source = "camera_clock" if start is not None else None
    return SyncEntry(camera, result.recording, start, source, result.duration_s, result.gps_points)


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z") if t else None


def sync_table(entries: Iterable[SyncEntry], *, session: str = "") -> dict[str, Any]:
    """The sync table (dict, see the module docstring) of ``entries``; recordings sorted by start
    (unknown starts last, with ``offset_s`` None)."""
    items = list(entries)
    timed = [e for e in items if e.start_utc is not None]
    gps = [e for e in timed if e.source == "gps"]
    ref = min(gps or timed, key=lambda e: e.start_utc) if timed else None  # type: ignore[arg-type, return-value]
    rows = []
    for e in sorted(items, key=lambda e: (e.start_utc is None, e.start_utc or datetime.min.replace(tzinfo=UTC))):
        off = None
        if ref is not None and e.start_utc is not None and ref.start_utc is not None:
            off = round((e.start_utc - ref.start_utc).total_seconds(), 3)
        rows.append({"camera": e.camera, "recording": e.recording, "start_utc": _iso(e.start_utc),
                     "source": e.source, "offset_s": off, "duration_s": round(e.duration_s, 3),
                     "gps_points": e.gps_points})
    return {"session": session, "reference": f"{ref.recording}@{ref.camera}" if ref else None,
            "generated_utc": _iso(datetime.now(UTC)), "recordings": rows}  # wall time, for people


def write_sync_table(path: Path, entries: Iterable[SyncEntry], *, session: str = "") -> dict[str, Any]:
    """Write :func:`sync_table` as JSON to ``path`` (atomically: temp file + rename); returns it.
    Raises OSError when it cannot be written."""
    table = sync_table(entries, session=session)
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    return table
