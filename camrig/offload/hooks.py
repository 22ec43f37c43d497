"""After a recording's telemetry or chapters are on the Pi: its GPS track and the sync table
(issue 11 part 5, "in the session flow").

Two moments per recording, both driven by :class:`camrig.offload.transfer.OffloadJob`:

1. **Its GPMF alone is here** (Open GoPro ``GET :8080/gopro/media/gpmf?path=``, saved as
   ``<chapter stem>.gpmf.bin``, fetched before any video by ``OFFLOAD_WHAT = "proxies-first"``):
   ``<first chapter stem>.gpx`` is written from it at once, so the paddock has every HERO9–13's
   GPS track within seconds of the offload starting. Several chapters' GPMF are joined in
   chapter order (a raw GPMF stream is its payloads one after another: GoPro's GPMF spec; the
   chapters of one recording continue one stream).
2. **Every chapter is here**: the ``.gpx`` is written (again) from the MP4s themselves
   (:func:`camrig.telemetry.convert_recording` reads only their ``gpmd`` samples) — the only
   source for HERO5–8, whose cameras have no GPMF endpoint.

Each conversion adds the recording to the **sync table** (:mod:`camrig.telemetry.sync`): its
start in UTC from GPS time when the camera had a fix, else from the camera clock the daemon set,
and its offset to the day's reference recording, so an editor can line up the angles. One table
per day (the recording's UTC start date) in ``OFFLOAD_DIR/sync-YYYY-MM-DD.json``, merged with
what is already there (a restart or a second offload adds to it), written atomically; the rows of
the newest day are also in the daemon's snapshot (``sync``) and in ``gopro_manager.py status``.
A recording whose telemetry cannot be read is logged and left out; nothing here ever stops the
offload (conversion errors are ``Result.error``, not exceptions).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: a hook: ``(recording, paths, log)`` (camrig.offload.transfer.OffloadJob)
Hook = Callable[[Any, list[Path], Any], None]
#: rows of the newest day kept in the snapshot (the file has them all)
SNAPSHOT_ROWS = 50


def _telemetry():
    try:
        return importlib.import_module("camrig.telemetry")
    except ImportError:
        log.info("offload: camrig.telemetry is not in this build: no .gpx is written beside the recordings")
        return None


def chapter_order(paths: list[Path]) -> list[Path]:
    """``paths`` of one recording in chapter order: ``GH01xxxx``, ``GH02xxxx``… (the chapter number
    is characters 2–3, the recording number 4–7); other names (``GOPRxxxx`` then ``GP01xxxx``…,
    Olympus) by name, which is their order too."""
    def key(p: Path):
        n = p.name.upper()
        if n[:2] in ("GH", "GX", "GS") and n[2:4].isdigit():
            return (0, n[4:8], n[2:4])
        if n.startswith("GOPR"):
            return (0, n[4:8], "00")
        if n[:2] == "GP" and n[2:4].isdigit():
            return (0, n[4:8], n[2:4])
        return (1, n, "")
    return sorted(paths, key=key)


class SessionTelemetry:
    """The GPS tracks and sync tables of what an offload brings home.

    ``root``: callable returning ``OFFLOAD_DIR`` (read at each write: a reload may change it).
    ``convert``: :func:`camrig.telemetry.convert_recording` (tests inject one); None when this
    build has no telemetry, and then every hook does nothing (``enabled=False``: the same, on
    purpose: tests of the transfers alone). ``tz``: the zone the camera clocks
    were set in (default: this machine's; :func:`camrig.telemetry.sync.camera_clock_utc`).
    Thread-safe: every camera's job calls it from its own worker thread.
    """

    def __init__(self, root: Callable[[], str | os.PathLike[str]], *, convert=None, tz=None,
                 enabled: bool = True):
        self.convert: Callable[..., Any] | None
        if not enabled:
            self.convert = None
        else:
            mod = None if convert is not None else _telemetry()
            self.convert = convert or (mod.convert_recording if mod is not None else None)
        self.root = root
        self.tz = tz
        self._lock = threading.Lock()
        self._latest_day: str | None = None
        self._latest: list[dict] = []

    def __repr__(self) -> str:
        return f"<SessionTelemetry root={self.root()} days={self._latest_day}>"

    def hooks(self, camera: str) -> tuple[Hook | None, Hook | None]:
        """``(after_recording, after_telemetry)`` for ``camera``'s OffloadJob (None, None without
        telemetry in this build)."""
        if self.convert is None:
            return None, None

        def after_recording(recording, paths: list[Path], joblog) -> None:
            chapters = chapter_order([p for p in paths if p.suffix.upper() in (".MP4", ".360")])
            if chapters:
                self._convert(camera, chapters, chapters[0].stem, joblog, "its chapters")

        def after_telemetry(recording, paths: list[Path], joblog) -> None:
            bins = chapter_order([p for p in paths if p.name.lower().endswith(".gpmf.bin")])
            if not bins:
                return
            stem = bins[0].name[: -len(".gpmf.bin")]
            if len(bins) == 1:
                self._convert(camera, bins, stem, joblog, "its GPMF")
                return
            joined = bins[0].with_name(f".{stem}.gpmf-joined.bin")
            try:
                with open(joined, "wb") as out:
                    for b in bins:
                        out.write(b.read_bytes())
                self._convert(camera, [joined], stem, joblog, f"the GPMF of its {len(bins)} chapters")
            except OSError as exc:
                joblog.warning("%s: no early .gpx: %s", stem, exc)
            finally:
                with contextlib.suppress(OSError):
                    joined.unlink()
        return after_recording, after_telemetry

    def _convert(self, camera: str, sources: list[Path], stem: str, joblog, what: str) -> None:
        from camrig.telemetry.sync import entry_from_result

        convert = self.convert
        if convert is None:
            return
        result = convert(sources, None, ("gpx",), name=stem)
        if result.error:
            joblog.info("%s: no .gpx from %s: %s", stem, what, result.error)
            return
        for path in result.outputs.values():
            joblog.info("%s: GPS track written (from %s)", path, what)
        entry = entry_from_result(camera, result, tz=self.tz)
        if entry.start_utc is None:
            return
        try:
            self._add(entry)
        except OSError as exc:
            joblog.warning("sync table not written: %s", exc)

    def _add(self, entry) -> None:
        from camrig.telemetry.sync import SyncEntry, sync_table

        day = entry.start_utc.astimezone(UTC).strftime("%Y-%m-%d")
        path = Path(self.root()) / f"sync-{day}.json"
        with self._lock:
            entries: dict[tuple[str, str], SyncEntry] = {}
            for row in _read_rows(path):
                try:
                    start = datetime.fromisoformat(str(row["start_utc"]).replace("Z", "+00:00"))
                    e = SyncEntry(str(row["camera"]), str(row["recording"]), start, row.get("source"),
                                  float(row.get("duration_s") or 0.0), int(row.get("gps_points") or 0))
                except (KeyError, TypeError, ValueError):
                    continue            # a row we cannot read is dropped, not fatal
                entries[(e.camera, e.recording)] = e
            entries[(entry.camera, entry.recording)] = entry
            table = sync_table(entries.values(), session=day)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
            os.replace(tmp, path)
            if self._latest_day is None or day >= self._latest_day:
                self._latest_day = day
                self._latest = table["recordings"][-SNAPSHOT_ROWS:]

    def snapshot(self) -> dict | None:
        """The snapshot's ``sync``: ``{"day", "recordings": [rows]}`` of the newest day, or None."""
        with self._lock:
            if self._latest_day is None:
                return None
            return {"day": self._latest_day, "recordings": [dict(r) for r in self._latest]}


def _read_rows(path: Path) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("sync table %s unreadable (%s): written anew", path, exc)
        return []
    rows = data.get("recordings") if isinstance(data, dict) else None
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []

