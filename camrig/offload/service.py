"""The daemon's side of the offload: the ``offload`` command, progress in the snapshot, OFFLOAD_AFTER.

:class:`OffloadService` is installed on the controller (:func:`install`): it takes over the
``offload`` command (``controller.add_command``; args ``start`` | ``stop`` | ``status``, options
``cameras`` (list of names), ``proxies_only``, ``delete_after`` (booleans)), submits one
:class:`~camrig.offload.transfer.OffloadJob` per camera to that camera's worker (its job slot: the
worker stays the only owner of its camera, and pre-empts the job the moment recording becomes
wanted) and answers at once. Each camera's :class:`~camrig.offload.transfer.Progress` is the
snapshot's ``offload`` object (``{camera: row}``), so ``status``, the status file and the control
socket's ``snapshot`` carry it. ``OFFLOAD_AFTER`` (seconds; None = only on request) starts an
offload of every camera that long after recording stops being wanted (a thread watching
``controller.wanted``; it never touches a camera itself).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..commands import CameraResult, Result
from ..jobs import JobHandle, JobState
from .hooks import SessionTelemetry
from .transfer import DEFAULT_DIR, DEFAULT_MIN_FREE, OffloadJob, Options, Progress

log = logging.getLogger(__name__)

ACTIONS = ("start", "stop", "status")
OPTION_KEYS = ("cameras", "proxies_only", "delete_after")


def _result(ok: bool, detail: str, cameras: Mapping, data: Mapping) -> Result:
    return Result("offload", ok, detail, cameras, data)


def validate(args: Sequence[str], options: Mapping[str, Any], source: str = "api") -> None:
    """The ``offload`` command's arguments: at most one of :data:`ACTIONS` (default ``start``);
    options :data:`OPTION_KEYS` only, ``cameras`` a list of strings, the others booleans.

    :raises camrig.commands.CommandError: naming what is wrong.
    """
    from ..commands import CommandError

    if len(args) > 1 or (args and args[0] not in ACTIONS):
        raise CommandError(f"command 'offload' from {source}: takes one of {'|'.join(ACTIONS)}, "
                           f"got {' '.join(args)!r}")
    unknown = sorted(set(options) - set(OPTION_KEYS))
    if unknown:
        raise CommandError(f"command 'offload' from {source}: unknown option(s) {unknown}; "
                           f"known: {', '.join(OPTION_KEYS)}")
    cams = options.get("cameras", [])
    if not isinstance(cams, (list, tuple)) or not all(isinstance(c, str) for c in cams):
        raise CommandError(f"command 'offload' from {source}: 'cameras' must be a list of camera names")
    for key in ("proxies_only", "delete_after"):
        if key in options and not isinstance(options[key], bool):
            raise CommandError(f"command 'offload' from {source}: {key!r} must be true or false")


def settings(config) -> dict[str, Any]:
    """OFFLOAD_DIR, OFFLOAD_MIN_FREE, OFFLOAD_AFTER, OFFLOAD_WHAT from ``config`` (defaults when a
    config object predates them)."""
    return {"root": getattr(config, "offload_dir", DEFAULT_DIR),
            "min_free": getattr(config, "offload_min_free", DEFAULT_MIN_FREE),
            "after": getattr(config, "offload_after", None),
            "what": getattr(config, "offload_what", "proxies-first")}


class OffloadService:
    """Offloads through the workers. ``workers()``: the controller's current workers (a reload may
    replace them); ``config()``: the current config. Thread-safe."""

    def __init__(self, workers: Callable[[], Sequence], config: Callable[[], Any], *,
                 statvfs=None, session: SessionTelemetry | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self._workers = workers
        self._config = config
        self._statvfs = statvfs
        #: the .gpx beside each recording and the day's sync table (camrig/offload/hooks.py)
        self.session = session or SessionTelemetry(lambda: settings(self._config())["root"])
        self.clock = clock
        self._lock = threading.Lock()
        self.progress: dict[str, Progress] = {}
        self.handles: dict[str, JobHandle] = {}
        self.options: dict[str, Options] = {}
        self._auto_thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- command ------------------------------------------------------------------------------

    def handle(self, cmd) -> Result:
        """The ``offload`` command (controller loop thread; never blocks)."""
        action = cmd.args[0] if cmd.args else "start"
        opts = getattr(cmd, "options", {}) or {}
        if action == "stop":
            return self.stop(opts.get("cameras") or None)
        if action == "status":
            return _result(True, "offload progress", {}, self._data())
        return self.start(opts.get("cameras") or None, proxies_only=bool(opts.get("proxies_only")),
                          delete_after=bool(opts.get("delete_after")), source=cmd.source)

    def _data(self) -> dict:
        return {"offload": self.snapshot()}

    def start(self, cameras: Sequence[str] | None = None, *, proxies_only: bool = False,
              delete_after: bool = False, source: str = "api") -> Result:
        """Queue an offload on each camera (all when ``cameras`` is None); one per camera at a time.
        Returns at once: per camera, queued or why not; ``data``: ``root``, ``cameras`` (queued or
        already running), ``runs`` (``{camera: run id}``: the snapshot rows of this offload)."""
        cfg = self._config()
        s = settings(cfg)
        workers = {w.name: w for w in self._workers()}
        names = list(cameras) if cameras else list(workers)
        results: dict[str, CameraResult] = {}
        runs: dict[str, str] = {}
        for name in names:
            w = workers.get(name)
            if w is None:
                results[name] = CameraResult(False, f"no camera called {name!r} (cameras: {', '.join(workers)})")
                continue
            driver = getattr(w, "driver", None)
            if not callable(getattr(driver, "media", None)) or not callable(getattr(w, "submit", None)):
                results[name] = CameraResult(False, "no media access for this camera (BLE only, or a "
                                                    "family without media)")
                continue
            with self._lock:
                h = self.handles.get(name)
                if h is not None and not h.finished:
                    results[name] = CameraResult(True, f"offload already {h.state.value}")
                    runs[name] = self.progress[name].run_id
                    continue
                opts = Options(proxies_only=proxies_only, delete_after=delete_after, what=s["what"])
                prog = Progress(name)
                serial = getattr(getattr(w, "camera", None), "serial", None)
                kwargs = {} if self._statvfs is None else {"statvfs": self._statvfs}
                after_recording, after_telemetry = self.session.hooks(name)
                job = OffloadJob(name, s["root"], options=opts, progress=prog, min_free=s["min_free"],
                                 serial=serial, after_recording=after_recording,
                                 after_telemetry=after_telemetry, **kwargs)
                self.progress[name] = prog
                self.options[name] = opts
                self.handles[name] = w.submit(job)
                runs[name] = prog.run_id
            results[name] = CameraResult(True, "offload queued (runs while the camera is idle and "
                                               "recording is not wanted)")
        ok = bool(results) and all(r.ok for r in results.values())
        queued = [n for n, r in results.items() if r.ok]
        log.info("offload asked for by %s: %s", source, ", ".join(queued) or "no camera")
        return _result(ok, f"offload into {s['root']}: " + (", ".join(queued) or "no camera"),
                       results, {"root": s["root"], "cameras": queued, "runs": runs})

    def stop(self, cameras: Sequence[str] | None = None) -> Result:
        """Cancel the offloads (queued or running; a ``.part`` stays for the next one)."""
        results = {}
        with self._lock:
            for name, h in self.handles.items():
                if cameras and name not in cameras:
                    continue
                if not h.finished:
                    h.cancel()
                    results[name] = CameraResult(True, "offload cancelled")
        return Result("offload", True, "offload stopped" if results else "no offload was running", results)

    # --- snapshot -----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict]:
        """``{camera: progress row}`` (camrig.offload.transfer.Progress.as_dict) with the job's
        state folded in: ``paused`` while pre-empted by a recording, ``failed``/``cancelled`` with
        the job's error as ``last_error``."""
        out = {}
        with self._lock:
            items = list(self.progress.items())
            handles = dict(self.handles)
        for name, prog in items:
            row = prog.as_dict()
            h = handles.get(name)
            if h is not None:
                if h.state == JobState.QUEUED and h.preemptions:
                    row["state"] = "paused"
                elif h.state == JobState.QUEUED:
                    row["state"] = "queued"
                elif h.state in (JobState.FAILED, JobState.CANCELLED, JobState.PREEMPTED):
                    row["state"] = "stopped" if h.state != JobState.FAILED else "failed"
                    row["last_error"] = h.error or row["last_error"]
                row["finished"] = h.finished
            out[name] = row
        return out

    def busy(self) -> bool:
        """True while an offload is queued or running on any camera."""
        with self._lock:
            return any(not h.finished for h in self.handles.values())

    # --- OFFLOAD_AFTER -------------------------------------------------------------------------

    def watch(self, wanted: Callable[[], bool], *, interval: float = 0.5) -> None:
        """Start the OFFLOAD_AFTER thread: ``wanted()`` read every ``interval`` seconds; once it has
        been False for OFFLOAD_AFTER seconds after being True, an offload of every camera starts
        (once per stop of recording; a recording wanted for less than ``interval`` may go unseen)."""
        def run():
            last_true: float | None = None
            armed = False
            while not self._stop.wait(interval):
                after = settings(self._config())["after"]
                try:
                    now_wanted = bool(wanted())
                except Exception:
                    continue
                now = self.clock()
                if now_wanted:
                    last_true, armed = now, True
                    continue
                if after is None or not armed or last_true is None:
                    continue
                if now - last_true >= after:
                    armed = False
                    log.info("OFFLOAD_AFTER: recording not wanted for %.0f s: offload of every camera", after)
                    self.start(source="OFFLOAD_AFTER")
        self._auto_thread = threading.Thread(target=run, name="offload-after", daemon=True)
        self._auto_thread.start()

    def close(self) -> None:
        """Stop the OFFLOAD_AFTER thread (offload jobs end with their workers)."""
        self._stop.set()


def install(controller) -> OffloadService:
    """Register the ``offload`` command on ``controller`` (camrig.commands.register with this
    module's :func:`validate`, ``controller.add_command``), add the snapshot's ``offload`` section
    and start the OFFLOAD_AFTER watch. Returns the service."""
    from .. import commands

    svc = OffloadService(lambda: controller.workers, lambda: controller.config)
    commands.register("offload", validate, replace=True)
    controller.add_command("offload", svc.handle)
    controller.snapshot_extras["offload"] = svc.snapshot
    controller.snapshot_extras["sync"] = svc.session.snapshot
    svc.watch(lambda: controller.wanted)
    return svc
