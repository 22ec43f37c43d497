"""The camera worker's job slot: low-priority work on the camera between recordings.

A *job* is a callable ``job(ctx: JobContext) -> Any`` (offload, telemetry fetch…), handed to
:meth:`camrig.worker.CameraWorker.submit`, which returns a :class:`JobHandle`. Optional attributes
of the callable: ``name`` (str, for logs and the status row; default the callable's name) and
``resumable`` (bool, default False: see pre-emption below).

The worker runs one job at a time, on a job thread of its own, and only while recording is not
wanted and the camera is idle; the job talks to the camera through ``ctx.http`` (a second HTTP
connection, :meth:`camrig.http.HttpClient.sibling`) so the worker's own connection stays free for
the shutter. When recording becomes wanted (``set_wanted(True)``), the camera leaves idle or the
worker stops, ``ctx.cancelled`` is set at once: a download in flight is aborted (libcurl progress
callback), the next ``ctx.check()`` raises :class:`JobPreempted`, and the worker does not wait for
the job to notice before its shutter goes out. A pre-empted job with ``resumable = True`` is
queued again (first in line) and called again, from the start, once the camera is idle and
nothing is wanted: it keeps its own progress (a download resumes with ``offset=``); any other is
reported ``preempted``. docs/architecture.md, "Camera worker", draws the whole.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class JobPreempted(Exception):
    """Raised inside a job by :meth:`JobContext.check` (or a call through the context) once the
    job has been pre-empted: recording became wanted, the camera left idle, or the worker stopped."""


class JobState(str, enum.Enum):  # noqa: UP042 - StrEnum would change str() and format() of members
    """Where a job is: ``queued`` → ``running`` → ``done`` | ``failed`` | ``preempted`` (not
    resumable) | ``cancelled`` (:meth:`JobHandle.cancel`, or the worker stopped first). A resumable
    job pre-empted goes from ``running`` back to ``queued``."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    PREEMPTED = "preempted"
    CANCELLED = "cancelled"


def job_name(job: Callable) -> str:
    """A job's name: its ``name`` attribute, else its function or class name."""
    name = getattr(job, "name", None)
    if isinstance(name, str) and name:
        return name
    return getattr(job, "__name__", None) or type(job).__name__


@dataclass(eq=False)
class JobHandle:
    """What :meth:`CameraWorker.submit` (and :meth:`CameraWorker.mark`) return.

    ``state`` (:class:`JobState`), ``result`` (the job's return value once ``done``), ``error``
    (why it ``failed``, was ``preempted`` or ``cancelled``: a string), ``runs`` (times started;
    more than one after resumable pre-emptions), ``preemptions``. Thread-safe to read.
    """

    job: Callable
    name: str
    resumable: bool = False
    state: JobState = JobState.QUEUED
    result: Any = None
    error: str | None = None
    runs: int = 0
    preemptions: int = 0
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _cancel: Callable[[JobHandle], None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        """True once the job is in a final state (done, failed, preempted, cancelled)."""
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait at most ``timeout`` seconds for a final state; True when reached."""
        return self._finished.wait(timeout)

    def cancel(self) -> None:
        """Withdraw the job: a queued job is dropped, a running one is told to stop (its context is
        cancelled, a download aborted); its final state is then ``cancelled``."""
        if self._cancel is not None:
            self._cancel(self)

    def _finish(self, state: JobState, *, result: Any = None, error: str | None = None) -> None:
        self.state = state
        self.result = result
        self.error = error
        self._finished.set()


class JobContext:
    """What a running job gets: ``camera`` (name), ``cancelled`` (threading.Event, set at
    pre-emption), ``http`` (an HttpClient of its own for this camera — a second connection — or
    None when the camera has no HTTP, e.g. BLE only), ``driver`` (the worker's driver: its calls
    share the worker's connection, so keep them short; each checks pre-emption first) and ``log``
    (the camera's logger).

    Every call through the context checks pre-emption first and raises :class:`JobPreempted`, so a
    pre-empted job sends nothing more; :meth:`download` passes ``cancelled`` as the abort event.
    """

    def __init__(self, camera: str, *, http, driver, log, cancelled: threading.Event | None = None):
        self.camera = camera
        self.cancelled = cancelled or threading.Event()
        #: why it was pre-empted ("recording wanted", "camera asleep", …), set with ``cancelled``.
        self.reason: str | None = None
        #: True when it was cancelled (JobHandle.cancel, worker stopping), not merely pre-empted.
        self.cancel_requested = False
        self._http = http
        self._driver = driver
        self.log = log

    def __repr__(self) -> str:
        return f"<JobContext {self.camera} cancelled={self.cancelled.is_set()}>"

    def check(self) -> None:
        """Raise :class:`JobPreempted` if the job has been pre-empted; call it between steps."""
        if self.cancelled.is_set():
            raise JobPreempted(f"{self.camera}: job pre-empted")

    @property
    def http(self):
        """The job's own HttpClient (second connection), or None; checks pre-emption first."""
        self.check()
        return self._http

    @property
    def driver(self):
        """The worker's driver, each call checked for pre-emption first."""
        self.check()
        return _Checked(self._driver, self)

    def download(self, path: str, dest, **kwargs):
        """``http.download(path, dest, abort=cancelled, **kwargs)`` (camrig.http.HttpClient.download);
        a download aborted by pre-emption raises :class:`JobPreempted` (what arrived stays in
        ``dest``: resume with ``offset=``). Raises LookupError when the camera has no HTTP."""
        from .http import DownloadAborted

        http = self.http
        if http is None:
            raise LookupError(f"{self.camera}: no HTTP connection to download {path} over")
        try:
            return http.download(path, dest, abort=self.cancelled, **kwargs)
        except DownloadAborted as exc:
            if self.cancelled.is_set():
                raise JobPreempted(f"{self.camera}: job pre-empted during GET {path} at {exc.size} bytes") from None
            raise


class _Checked:
    """A driver whose every callable attribute checks pre-emption before it runs."""

    def __init__(self, target, ctx: JobContext):
        self._target = target
        self._ctx = ctx

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if name.startswith("_") or not callable(attr):
            return attr
        ctx = self._ctx

        def checked(*args, **kwargs):
            ctx.check()
            return attr(*args, **kwargs)
        return checked
