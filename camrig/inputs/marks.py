"""Mark the moment: one HiLight on every recording camera, answered per camera, kept in a file.

A mark comes from the mark button (``source="button"``) or ``gopro_manager.py mark`` over the
control socket. The controller's loop hands it to :meth:`MarkService.handle`, which never blocks:

* every recording camera's worker is asked for a HiLight at once (``worker.mark()``: queued on the
  worker, sent from its thread; HERO5–8 ``storage/tag_moment``, HERO10–13
  ``/gopro/media/hilight/moment``, HERO9 BLE ``01 18``; a driver without a HiLight, Olympus, fails
  it and the result says so); a camera that is not recording and not about to (recording not
  wanted) is answered at once "not recording";
* a thread of the mark's own waits on the workers' job handles (at most
  :attr:`MarkService.wait_s` seconds: the worker holds a HiLight for a camera that is waking for
  ``CameraWorker.MARK_HOLD_S`` s, then fails it), then answers the command per camera and appends
  one JSON line to ``MARKS_PATH``;
* marks within ``MARK_COALESCE`` seconds of the last one are the same mark (a chattering button, a
  storm of 20 presses in a second): they are answered with that mark's result, and no camera gets
  a second HiLight. A camera whose HiLight from an earlier mark is still pending (waking) is not
  asked again either: never a queue of late HiLights.

The marks file (JSON lines, appended, one line per mark, flushed and fsynced)::

    {"time": "2026-11-30T02:14:07.123+00:00", "source": "button", "presses": 3,
     "took": ["front", "rear"], "missed": {"roof": "not recording"}}

``time`` is the UTC time of the first press (what the telemetry output lines marks up with),
``presses`` how many presses were coalesced into it. A mark survives a camera that missed it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..commands import CameraResult, Command, Result

log = logging.getLogger(__name__)

#: a worker's state value while it records (camrig.worker.State.RECORDING)
_RECORDING = "recording"


class MarksFileError(OSError):
    """The marks file could not be written (the message names the path and the cause)."""


def append_mark(path: str, record: dict) -> None:
    """Append ``record`` as one JSON line to ``path`` (made 0644 with its directory 0755 when
    missing), flushed and fsynced: a mark is on the card before the ignition can cut the power.

    :raises MarksFileError: the file cannot be written (read-only, full, a directory in the way).
    """
    line = json.dumps(record, sort_keys=True, default=str) + "\n"
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o755, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise MarksFileError(f"marks file {path}: cannot append: {exc.strerror or exc}") from exc


def read_marks(path: str) -> list[dict]:
    """Every mark in ``path`` (oldest first); lines that are not JSON objects are skipped. [] when
    the file does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


@dataclass(eq=False)
class Mark:
    """One mark in flight: when it was taken (monotonic and UTC), its per-camera handles or
    answers, and every command coalesced into it (answered together)."""

    started: float
    utc: dt.datetime
    source: str
    handles: dict[str, Any] = field(default_factory=dict)        # camera → JobHandle
    answers: dict[str, CameraResult] = field(default_factory=dict)
    commands: list[Command] = field(default_factory=list)
    #: cameras neither recording nor about to (recording not wanted): listed, no failure
    idle: set[str] = field(default_factory=set)
    result: Result | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class MarkService:
    """The ``mark`` command's handler (see the module docstring).

    ``workers``: a callable returning the controller's current workers; ``marks_path``: the
    marks file (None: not written); ``coalesce``: seconds (``MARK_COALESCE``); ``wait_s``: how
    long the answer waits for the workers' HiLights; ``clock``/``wallclock``: monotonic / epoch
    seconds; ``on_mark(record)``: called (in the mark's thread) with the file's record once a
    mark is answered; ``config``: returns the running Config, whose ``MARKS_PATH`` and
    ``MARK_COALESCE`` then apply from the next mark on (a reload).
    """

    def __init__(self, workers: Callable[[], Sequence], *, marks_path: str | None,
                 coalesce: float = 1.0, wait_s: float = 12.0,
                 clock: Callable[[], float] = time.monotonic, wallclock: Callable[[], float] = time.time,
                 on_mark: Callable[[dict], None] | None = None, config: Callable[[], Any] | None = None):
        self.workers = workers
        self.marks_path = marks_path
        self.coalesce = coalesce
        self.wait_s = wait_s
        self.clock = clock
        self.wallclock = wallclock
        self.on_mark = on_mark
        #: the running Config (``MARKS_PATH``, ``MARK_COALESCE`` are taken from it at each mark,
        #: so a reload changes them); None: the values given here
        self.config = config
        self._lock = threading.Lock()
        self._last: Mark | None = None
        #: camera → the JobHandle of its HiLight still pending (never a second one queued behind it)
        self._pending: dict[str, Any] = {}
        self.count = 0                 # marks taken (not presses)
        self.presses = 0
        self.last_record: dict | None = None
        self.file_error: str | None = None
        self._threads: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<MarkService marks={self.count} presses={self.presses} file={self.marks_path}>"

    # --- on the loop ------------------------------------------------------------------------

    def handle(self, cmd: Command) -> Result | None:
        """Take ``cmd`` (a ``mark``) on the controller's loop without blocking. Returns None: the
        command is answered later (``cmd.answer``) from the mark's thread, with the per-camera
        results; a press coalesced into a mark already answered is answered at once."""
        now = self.clock()
        if self.config is not None:
            cfg = self.config()
            self.marks_path, self.coalesce = cfg.marks_path, cfg.mark_coalesce
        with self._lock:
            self.presses += 1
            last = self._last
            if last is not None and now - last.started < self.coalesce:
                with last.lock:
                    if last.result is None:
                        last.commands.append(cmd)
                        return None
                    done = last.result
                return Result("mark", done.ok, f"coalesced with the mark {now - last.started:.2f} s ago: "
                              f"{done.detail}", done.cameras)
            mark = Mark(started=now, utc=dt.datetime.fromtimestamp(self.wallclock(), dt.UTC),
                        source=cmd.source, commands=[cmd])
            self._last = mark
            self.count += 1
        for w in list(self.workers()):
            self._ask(mark, w)
        t = threading.Thread(target=self._finish, args=(mark,), name="mark", daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return None

    def _ask(self, mark: Mark, worker) -> None:
        """Ask one worker for the HiLight, or answer for it at once."""
        name = worker.name
        try:
            row = worker.snapshot()
        except Exception as exc:
            mark.answers[name] = CameraResult(False, f"no state: {exc}")
            return
        state = row.get("state")
        wanted = bool(row.get("wanted"))
        if state != _RECORDING and not wanted:
            mark.answers[name] = CameraResult(False, f"not recording ({state}): no HiLight")
            mark.idle.add(name)
            return
        pending = self._pending.get(name)
        if pending is not None and not pending.finished:
            mark.answers[name] = CameraResult(False, "its HiLight from an earlier mark is still pending "
                                              f"({state}); not queued twice")
            return
        mark_fn = getattr(worker, "mark", None)
        if not callable(mark_fn):
            mark.answers[name] = CameraResult(False, "HiLight not supported by this build")
            return
        try:
            handle = mark_fn()
        except Exception as exc:
            mark.answers[name] = CameraResult(False, f"HiLight not asked for: {exc}")
            return
        mark.handles[name] = handle
        self._pending[name] = handle

    # --- the mark's thread ------------------------------------------------------------------

    def _finish(self, mark: Mark) -> None:
        deadline = self.clock() + self.wait_s
        for name, handle in mark.handles.items():
            handle.wait(max(0.0, deadline - self.clock()))
            state = getattr(handle.state, "value", str(handle.state))
            if state == "done":
                mark.answers[name] = CameraResult(True, "HiLight taken")
            elif handle.finished:
                mark.answers[name] = CameraResult(False, handle.error or f"HiLight {state}")
            else:
                mark.answers[name] = CameraResult(False, f"no answer within {self.wait_s:.0f} s "
                                                  "(the HiLight may still be sent)")
        took = sorted(n for n, r in mark.answers.items() if r.ok)
        missed = {n: r.detail for n, r in sorted(mark.answers.items()) if not r.ok}
        with mark.lock:
            presses = len(mark.commands)
        record = {"time": mark.utc.isoformat(timespec="milliseconds"), "source": mark.source,
                  "presses": presses, "took": took, "missed": missed}
        if self.marks_path:
            try:
                append_mark(self.marks_path, record)
                if self.file_error:
                    log.info("marks file %s writable again", self.marks_path)
                self.file_error = None
            except MarksFileError as exc:
                if str(exc) != self.file_error:
                    log.error("%s; the mark is only in the log", exc)
                self.file_error = str(exc)
        log.info("mark at %s (%s): HiLight on %s%s", record["time"], mark.source, ", ".join(took) or "no camera",
                 "".join(f"; {n} missed it: {why}" for n, why in missed.items()))
        # Every camera that records (or is about to) was asked: those decide the answer; a camera
        # not recording is listed but is no failure of the mark.
        asked = [n for n in mark.answers if n not in mark.idle]
        failed = [n for n in sorted(asked) if not mark.answers[n].ok]
        if not mark.answers:
            detail = "no camera configured"
        elif not asked:
            detail = "no camera is recording: no HiLight"
        elif failed:
            detail = (f"HiLight on {', '.join(took) or 'no camera'}; not acknowledged by "
                      f"{', '.join(failed)}")
        else:
            detail = f"HiLight on {', '.join(took)}"
        result = Result("mark", bool(asked) and not failed, detail, dict(sorted(mark.answers.items())))
        if "data" in {f.name for f in dataclasses.fields(Result)}:
            result = dataclasses.replace(result, data={"mark": record, "asked": sorted(asked),
                                                       "failed": failed})
        with mark.lock:
            mark.result = result
            commands = list(mark.commands)
        self.last_record = record
        for cmd in commands:
            cmd.answer(result)
        if self.on_mark is not None:
            try:
                self.on_mark(record)
            except Exception:
                log.exception("mark: on_mark callback failed")

    def snapshot(self) -> dict:
        """The status file's ``marks``: ``{"count", "presses", "last", "file", "file_error"}``."""
        last = self.last_record
        return {"count": self.count, "presses": self.presses, "last": last["time"] if last else None,
                "file": self.marks_path, "file_error": self.file_error}

    def join(self, timeout: float = 1.0) -> None:
        """Wait (at most ``timeout`` s each) for marks still being answered (tests, shutdown)."""
        for t in list(self._threads):
            t.join(timeout)


def marks_in_recording(marks: Sequence[dict], start: dt.datetime | None, duration_s: float, *,
                       clock: str = "gps") -> list[dict]:
    """The marks (records of the marks file, :func:`read_marks`) that fall inside a recording that
    began at ``start`` (aware UTC; the telemetry's GPS time of track time 0, or the camera's clock)
    and lasted ``duration_s`` seconds, as ``{"t": seconds since the start, "utc", "source",
    "took", "missed", "clock"}`` (``clock`` says which start they were placed by), oldest first.
    A record without a readable ``time`` is skipped; [] without ``start``."""
    if start is None:
        return []
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    out = []
    for rec in marks:
        try:
            when = dt.datetime.fromisoformat(str(rec.get("time")))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        t = (when - start).total_seconds()
        if 0.0 <= t <= duration_s:
            out.append({"t": round(t, 3), "utc": when.isoformat(timespec="milliseconds"),
                        "source": rec.get("source"), "took": rec.get("took", []),
                        "missed": rec.get("missed", {}), "clock": clock})
    return sorted(out, key=lambda m: m["t"])
