"""The status file the daemon publishes, and the table ``gopro_manager.py status`` prints.

The snapshot (shape in ``docs/contracts.md``, "Status snapshot") is a JSON
object: ``updated`` (ISO 8601 with offset), ``pid``, ``wanted``, ``triggers``
and ``cameras`` (a list of dicts: ``name``, ``interface``, ``model``,
``control``, ``state``, ``wanted``, ``recording``, ``last_seen``,
``battery_percent``, ``sd_status``, ``remaining_space_kb``, ``last_error``).

It is written atomically (a temporary file in the same directory, fsync,
``os.replace``), so a reader sees either the old or the new snapshot, never a
half-written one.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from datetime import UTC, datetime

# SD_STATUS_TEXT: status id 33 (sd_status) by name, one table for every driver.
from camrig.cameras.base import SD_STATUS_TEXT
from camrig.errors import CamRigError, StatusUnavailable

log = logging.getLogger(__name__)

FILE_MODE = 0o644
DIR_MODE = 0o755


COLUMNS = ("NAME", "PATH", "MODEL", "STATE", "WANTED", "REC", "HIL", "MODE", "BATT", "SD",
           "FREE", "LAST-SEEN", "ERROR")


def write_status(path: str | os.PathLike, snapshot: dict) -> None:
    """Write *snapshot* as JSON to *path* atomically, mode 0644.

    Creates the directory (mode 0755) if missing.  Values JSON cannot encode
    are written as their ``str()``.

    :raises CamRigError: the file cannot be written (message names *path*
        and the cause); the temporary file is removed.  The caller logs and
        carries on.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        data = json.dumps(snapshot, indent=2, default=str, allow_nan=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise CamRigError(f"status file {path}: snapshot is not JSON-serialisable: {exc}") from exc
    tmp = None
    try:
        os.makedirs(directory, mode=DIR_MODE, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                                   suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), FILE_MODE)  # mkstemp makes 0600; umask not applied
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(directory)
    except OSError as exc:
        cause = exc.strerror or str(exc)
        raise CamRigError(f"status file {path}: cannot write: {cause}") from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _fsync_dir(directory: str) -> None:
    # Makes the rename itself durable across a power cut (the car's ignition).
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_status(path: str | os.PathLike, *, max_age: float | None = None,
                now: datetime | None = None) -> dict:
    """Read the snapshot the daemon wrote at *path*.

    :param max_age: seconds; when given, a snapshot whose ``updated`` is older
        than this (or missing/unreadable) is refused as stale -- the file
        outlives the daemon (``RuntimeDirectoryPreserve=yes``).
    :param now: the current time for the staleness check (default: now, UTC).
    :returns: the snapshot dict.
    :raises StatusUnavailable: missing, unreadable, not JSON, not a JSON
        object, or stale; ``.path`` and ``.reason`` say which.
    """
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise StatusUnavailable(path, "missing (is gopro-manager running?)") from None
    except OSError as exc:
        raise StatusUnavailable(path, f"cannot read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise StatusUnavailable(path, f"not JSON (not UTF-8: {exc})") from exc
    try:
        snapshot = json.loads(text)
    except ValueError as exc:
        raise StatusUnavailable(path, f"not JSON ({exc})") from exc
    if not isinstance(snapshot, dict):
        raise StatusUnavailable(path, f"not a JSON object (got {type(snapshot).__name__})")
    if max_age is not None:
        updated = _parse_time(snapshot.get("updated"))
        if updated is None:
            raise StatusUnavailable(path, f"stale: no valid 'updated' time "
                                          f"({snapshot.get('updated')!r})")
        age = ((now or datetime.now(UTC)) - updated).total_seconds()
        if age > max_age:
            raise StatusUnavailable(
                path, f"stale: last updated {_ago(age)} (daemon stopped or hung?)")
    return snapshot


def render_table(snapshot: dict) -> str:
    """A fixed-width table of the cameras in *snapshot*, with a header line.

    Header: overall wanted state, update time and pid (and the triggers'
    repr on a second line when present; why recording is wanted, ``wanted_by``: pin, file,
    button, remote; then the clock when not synchronised, the ignition when off, the marks).
    Columns: NAME IFACE MODEL STATE WANTED REC HIL MODE BATT SD FREE LAST-SEEN ERROR (HIL: status
    58, the HiLights in the recording under way) (MODE: the camera's mode as its last status
    said, e.g. ``video``, ``photo``, ``time-lapse video``; ``-`` where not reported); free space human-readable from
    KB (1 KB = 1024 bytes), SD status as text, last seen relative to
    ``updated``.  Missing or ``None`` fields show as ``-``; never raises for a
    malformed snapshot.  Returns the text with a trailing newline.
    """
    if not isinstance(snapshot, dict):
        snapshot = {}
    updated_raw = snapshot.get("updated")
    updated = _parse_time(updated_raw)
    wanted = _yes_no(snapshot.get('wanted'), yes='RECORD', no='stop')
    why = snapshot.get("wanted_by")
    if snapshot.get("wanted") and isinstance(why, list) and why:
        wanted += f" (by {', '.join(_cell(w) for w in why)})"      # pin / file / button / remote
    elif snapshot.get("hold"):
        wanted += f" ({_cell(snapshot.get('hold'))})"
    head = [f"wanted: {wanted}", f"updated: {_cell(updated_raw)}"]
    if snapshot.get("pid") is not None:
        head.append(f"pid: {_cell(snapshot.get('pid'))}")
    lines = ["  ".join(head)]
    if snapshot.get("triggers"):
        lines.append(f"triggers: {_cell(snapshot.get('triggers'))}")
    lines.extend(_incar_lines(snapshot))
    cameras = snapshot.get("cameras")
    if not isinstance(cameras, list) or not cameras:
        lines.append("(no cameras)")
        return "\n".join(lines) + "\n"
    rows = [COLUMNS]
    for cam in cameras:
        if not isinstance(cam, dict):
            cam = {"name": cam}
        rows.append((
            _cell(cam.get("name")),
            _cell(cam.get("path") or cam.get("interface")),
            _cell(cam.get("model")),
            _cell(cam.get("state")),
            _yes_no(cam.get("wanted")),
            _yes_no(cam.get("recording"), yes="yes?" if cam.get("recording_confirmed") is False else "yes",
                    no="no?" if cam.get("recording_confirmed") is False else "no"),
            _cell(cam.get("hilights")),            # status 58: HiLights in this recording
            _cell(cam.get("mode")),
            _percent(cam.get("battery_percent")),
            _sd_text(cam.get("sd_status")),
            human_kb(cam.get("remaining_space_kb")),
            _last_seen(cam.get("last_seen"), updated),
            _cell(cam.get("last_error") or (f"clock not set: {cam['clock_error']}" if cam.get("clock_error")
                                             else None)),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        # The last column is not padded: row[:-1] is one shorter than widths.
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    if isinstance(snapshot.get("offload"), dict) and snapshot["offload"]:
        from camrig.offload.view import offload_lines  # issue 10: the offload's rows
        lines.extend(offload_lines(snapshot["offload"]))
    if isinstance(snapshot.get("sync"), dict) and snapshot["sync"].get("recordings"):
        from camrig.offload.view import sync_lines  # issue 11: the day's sync table
        lines.extend(sync_lines(snapshot["sync"]))
    return "\n".join(lines) + "\n"


def _incar_lines(snapshot: dict) -> list[str]:
    """Issue 13's lines under the header: the Pi's clock when it is not synchronised, the
    ignition when it is off, the marks taken (each only when the snapshot has it)."""
    lines = []
    clock = snapshot.get("clock")
    if isinstance(clock, dict) and clock.get("synchronised") is not True and clock.get("mode") == "synchronised":
        lines.append(f"clock: {_cell(clock.get('detail') or 'clock not synchronised')}")
    ign = snapshot.get("ignition")
    if isinstance(ign, dict) and ign.get("on") is False and ign.get("armed") is False:
        lines.append("ignition: off since the start: not acted on until it has been on (is the pin wired?)")
    elif isinstance(ign, dict) and ign.get("off_since"):
        text = f"ignition: OFF since {_cell(ign.get('off_since'))}"
        text += "; recordings stopped" if ign.get("stopped") else f"; recordings stop after {_cell(ign.get('grace'))} s"
        if ign.get("shutdown"):
            text += f"; power off: {_cell(ign.get('shutdown'))}"
        lines.append(text)
    marks = snapshot.get("marks")
    if isinstance(marks, dict) and marks.get("count"):
        text = f"marks: {_cell(marks.get('count'))}, last {_cell(marks.get('last'))}"
        if marks.get("file_error"):
            text += f" (NOT in the marks file: {_cell(marks.get('file_error'))})"
        lines.append(text)
    return lines


def human_kb(kb) -> str:
    """Kilobytes (1024 bytes, GoPro status 54 remaining_space) as ``'26.4G'``; ``'-'`` if unknown."""
    if isinstance(kb, bool) or not isinstance(kb, (int, float)) or kb < 0:
        return "-"
    value = float(kb)
    for unit in ("K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            break
        value /= 1024
    if unit == "K" or value >= 100:
        return f"{value:.0f}{unit}"
    return f"{value:.1f}{unit}"


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    return " ".join(str(value).split())  # one line, no tabs


def _yes_no(value, *, yes: str = "yes", no: str = "no") -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return yes if value else no
    return _cell(value)


def _percent(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _cell(value)
    return f"{value:.0f}%"


def _sd_text(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return SD_STATUS_TEXT.get(value, f"code {value}")
    return _cell(value)


def _parse_time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # assume UTC rather than fail
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 2 * 86400:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _last_seen(value, updated: datetime | None) -> str:
    if value is None:
        return "never"
    seen = _parse_time(value)
    if seen is None or updated is None:
        return _cell(value)
    return _ago((updated - seen).total_seconds())
