"""How the offload looks to people: the ``status`` table's offload rows and the live bars.

:func:`offload_lines` renders the snapshot's ``offload`` object (``{camera: row}``, rows from
:meth:`camrig.offload.transfer.Progress.as_dict`); :class:`Bars` draws one tqdm bar per camera
(tqdm: a well-kept, pure-Python progress bar library, pinned in requirements.txt) from the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

COLUMNS = ("OFFLOAD", "STATE", "FILES-LEFT", "MB-LEFT", "MB/S", "ETA", "CURRENT", "ERROR")


def _eta(seconds) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())


def offload_lines(rows: Mapping[str, Any]) -> list[str]:
    """A blank line, then a fixed-width table: per camera its state, files and MB left, MB/s,
    ETA, current file and last error. Never raises for malformed rows."""
    table = [COLUMNS]
    for name, row in rows.items():
        if not isinstance(row, Mapping):
            row = {}
        table.append((_cell(name), _cell(row.get("state")), _cell(row.get("files_left")), _cell(row.get("mb_left")),
                      _cell(row.get("mb_per_s")), _eta(row.get("eta_s")), _cell(row.get("current")),
                      _cell(row.get("last_error"))))
    widths = [max(len(r[i]) for r in table) for i in range(len(COLUMNS))]
    out = [""]
    for r in table:
        out.append("  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)), r[-1]]).rstrip())
    return out


SYNC_COLUMNS = ("SYNC", "RECORDING", "START (UTC)", "FROM", "OFFSET")


def sync_lines(sync: Mapping[str, Any]) -> list[str]:
    """A blank line, then the day's sync table (camrig/offload/hooks.py, ``{"day", "recordings"}``):
    per recording its camera, name, start in UTC, where the start came from (``gps`` or the
    ``camera_clock``) and its offset to the reference in seconds. Never raises for bad rows."""
    table = [SYNC_COLUMNS]
    for row in sync.get("recordings") or []:
        if not isinstance(row, Mapping):
            continue
        off = row.get("offset_s")
        table.append((_cell(row.get("camera")), _cell(row.get("recording")), _cell(row.get("start_utc")),
                      _cell(row.get("source")),
                      f"{off:+.3f} s" if isinstance(off, (int, float)) and not isinstance(off, bool) else "-"))
    widths = [max(len(r[i]) for r in table) for i in range(len(SYNC_COLUMNS))]
    out = ["", f"sync table {_cell(sync.get('day'))} (OFFLOAD_DIR/sync-{_cell(sync.get('day'))}.json):"]
    for r in table:
        out.append("  ".join([*(c.ljust(w) for c, w in zip(r[:-1], widths, strict=False)), r[-1]]).rstrip())
    return out


FINAL_STATES = ("done", "failed", "stopped")


def finished(row: Mapping[str, Any]) -> bool:
    """The camera's offload ended (done, failed, stopped)."""
    return bool(row.get("finished")) or row.get("state") in FINAL_STATES and row.get("finished") is not False


class Bars:
    """One tqdm bar per camera, in MB, updated from snapshot rows (:meth:`update`); ``file``
    (default stderr). :meth:`close` leaves the bars on screen."""

    def __init__(self, cameras, *, file=None, disable: bool = False):
        from tqdm import tqdm

        self._bars = {}
        for i, name in enumerate(cameras):
            self._bars[name] = tqdm(total=0, desc=name, unit="MB", position=i, leave=True, file=file,
                                    disable=disable, bar_format="{desc:<10} {percentage:3.0f}%|{bar:30}| "
                                    "{n:.1f}/{total:.1f} MB {postfix}")

    def update(self, rows: Mapping[str, Any]) -> None:
        for name, bar in self._bars.items():
            row = rows.get(name)
            if not isinstance(row, Mapping):
                continue
            total = float(row.get("mb_total") or 0)
            left = float(row.get("mb_left") or 0)
            bar.total = round(total, 1)
            bar.n = round(max(0.0, total - left), 1)
            bits = [str(row.get("state"))]
            if row.get("mb_per_s"):
                bits.append(f"{row['mb_per_s']} MB/s ETA {_eta(row.get('eta_s'))}")
            if row.get("last_error"):
                bits.append(str(row["last_error"])[:60])
            bar.set_postfix_str(" ".join(bits), refresh=False)
            bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
