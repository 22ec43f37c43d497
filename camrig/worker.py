"""CameraWorker: one thread per camera, converging the camera to the wanted state.

The worker is an explicit state machine (:data:`TRANSITIONS`, checked by ``_set_state``; one step
method per state, dispatched by ``_reconcile``; drawn in docs/architecture.md, "Camera worker")::

                 ┌──────── wake (recording wanted) ────────┐
                 │                                          ▼
    ┌────────► asleep ◄──── wake failed / unreachable ─── waking
    │            │  ▲                                       │
    │ answering  │  │ unreachable                           │ awake (status read)
    │ (probe)    ▼  │                                       ▼
    │          idle ◄──────── shutter off / status ───────► recording
    │            │              shutter on / status          │
    │            └──────────────► fault ◄────────────────────┘
    │                (card, no recording, adapter mismatch,
    │                 power cycle: → asleep → waking)
    └── fault → asleep | waking | idle | recording (back-off over)

    An awake camera (idle, recording) never goes straight to waking: it is first found asleep
    (unreachable) or in fault (power cycle).

``recording`` is what the camera is doing or was just told to do: ``shutter_sent`` (a flag, in
the snapshot too) is True from a shutter until the status that confirms or contradicts it
(≈ ``confirm_delay`` later), and the snapshot's ``recording`` is None meanwhile; ``recording``
with ``shutter_sent`` False is confirmed by the camera's status 10 (``encoding_active``).

The worker is the only thing that talks to its camera. The controller tells
it what is wanted (:meth:`set_wanted`, acted on at once: the shutter goes out
from this thread the moment the flag changes) and when to check
(:meth:`request_check`, every ``CHECK_STATUS`` cycles); the worker compares
what the camera says (status 10, ``encoding_active``) with what is wanted and
corrects it. A slow or dead camera only ever blocks its own thread.

Job slot (:meth:`submit`, camrig/jobs.py): low-priority work (offload, telemetry fetch) runs on a
job thread the worker starts, one job at a time, only while the camera is idle (confirmed) and
recording is not wanted, over a second HTTP connection of its own. ``set_wanted(True)``, leaving
idle and :meth:`stop` pre-empt it at once (its context cancelled, a download aborted); the
shutter does not wait for the job to notice. :meth:`mark` sends a HiLight from this thread while
the camera records.
"""

from __future__ import annotations

import collections
import datetime as dt
import enum
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .cameras.base import SD_OK, sd_text, status_int
from .errors import AdapterMismatch, CameraRejected, CameraUnreachable, CamRigError, LinkError, WakeFailed
from .http import DownloadAborted
from .jobs import JobContext, JobHandle, JobPreempted, JobState, job_name
from .logutil import limit_repeats

log = logging.getLogger(__name__)


class State(str, enum.Enum):  # noqa: UP042 - StrEnum would change str() and format() of members
    """A camera's state as the worker believes it (values are what the status file shows).

    ``IDLE``/``RECORDING``: awake and not recording / recording, as the last status said or as the
    last shutter commanded (``CameraWorker.shutter_sent`` True until a status confirms it).
    """

    ASLEEP = "asleep"
    WAKING = "waking"
    IDLE = "idle"
    RECORDING = "recording"
    FAULT = "fault"


#: Allowed transitions (from → the states it may go to); ``_set_state`` checks every change against
#: it. Staying in a state is no transition. An awake camera is never woken without first being
#: found asleep or in fault.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.ASLEEP: frozenset({State.WAKING, State.IDLE, State.RECORDING, State.FAULT}),
    State.WAKING: frozenset({State.ASLEEP, State.IDLE, State.RECORDING, State.FAULT}),
    State.IDLE: frozenset({State.RECORDING, State.ASLEEP, State.FAULT}),
    State.RECORDING: frozenset({State.IDLE, State.ASLEEP, State.FAULT}),
    State.FAULT: frozenset({State.ASLEEP, State.WAKING, State.IDLE, State.RECORDING}),
}


class IllegalTransition(RuntimeError):
    """A state change :data:`TRANSITIONS` does not allow: a bug in the worker, never the camera's
    doing. Raised only where transitions are strict (tests); the daemon logs it at error level with
    the camera's name and takes the transition (its belief must follow what it just did)."""


def strict_transitions() -> bool:
    """Whether an illegal transition raises: under pytest (``PYTEST_CURRENT_TEST`` set, inherited by
    the e2e daemons) or with ``CAMRIG_STRICT_TRANSITIONS=1``; otherwise it is logged only."""
    return os.environ.get("CAMRIG_STRICT_TRANSITIONS") == "1" or "PYTEST_CURRENT_TEST" in os.environ


@dataclass
class Timers:
    """The worker's deadlines and last times, monotonic seconds.

    ``retry_at``: asleep or in fault, the next wake or probe; ``confirm_at``: the status read that
    confirms a shutter (None: none due); ``next_poll_at``: not before (the camera's status 60);
    ``last_contact``: last exchange (for KEEP_AWAKE); ``last_keep_alive``: the driver's own keep-alive.
    """

    retry_at: float = 0.0
    confirm_at: float | None = None
    next_poll_at: float = 0.0
    last_contact: float = -1e9
    last_keep_alive: float = -1e9


@dataclass
class Counters:
    """The worker's counts in a row. ``failures``: failed exchanges or wakes since the camera last
    answered well (back-off); ``fault_streak``: faults since the camera last did what was wanted
    (grows the fault back-off, which a merely answering camera does not reset); ``shutter_tries``:
    shutters on while recording stays wanted and unconfirmed; ``power_cycles``: power cycles without
    a good status."""

    failures: int = 0
    fault_streak: int = 0
    shutter_tries: int = 0
    power_cycles: int = 0


class _Field:
    """``worker.retry_at`` for ``worker.timers.retry_at`` (and the same for every Timers and
    Counters field): the flat names tests and older code use."""

    def __init__(self, group: str):
        self.group = group

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        return getattr(getattr(obj, self.group), self.name)

    def __set__(self, obj, value):
        setattr(getattr(obj, self.group), self.name, value)


class CameraLog(logging.LoggerAdapter):
    """Prefixes every message with the camera's name: ``front: shutter on``."""

    def process(self, msg, kwargs):
        return f"{self.extra['camera']}: {msg}", kwargs


def _backoff(failures: int, base: float = 2.0, cap: float = 30.0) -> float:
    """Seconds to wait after ``failures`` consecutive failures: 2, 4, 8, 16, 30, 30…"""
    return min(cap, base * (2 ** max(0, failures - 1)))


class CameraWorker:
    """Drive one camera towards the wanted state in a thread of its own.

    ``camera`` is its CameraConfig; ``driver`` speaks its protocol (shutter,
    status, probe, sleep, set_date_time, reset); ``waker`` brings it from
    asleep to answering (``wake(stop, on_step)``). Times are seconds:
    ``keep_awake`` — a light status request when nothing else was sent for
    that long (a HERO5–8 turns Wi-Fi off after ~10 min without requests), None
    to let it sleep; ``confirm_delay`` — how long after a shutter the status is
    read to confirm it (a camera starts encoding ≈ 130 ms after the shutter,
    DESIGN.md "Timing"); until then ``recording`` in the snapshot is None;
    ``ready_timeout`` — how long to wait after waking for ``system_ready``; ``power_cycle_pause`` —
    asleep time in a power cycle.
    ``job_http`` — the HttpClient jobs use (a second connection); default: a sibling of the
    driver's ``http`` (None for a driver without one: jobs then get ``ctx.http`` None).
    ``clock_sync`` — :class:`camrig.inputs.clock_sync.ClockSync`: the camera clock is set only while
    it allows (the Pi's clock synchronised); until then ``clock_error`` says "clock not
    synchronised" and the camera's clock is left alone. None sets it whenever due.
    """

    MAX_SHUTTER_TRIES = 3     # shutters in a row without the camera recording → fault
    MAX_POWER_CYCLES = 3      # power cycles in a row without a good status → long back-off
    ADAPTER_RECHECK_S = 5.0   # adapter mismatch: look again (sysfs; iw only if the link changed)
    MARK_HOLD_S = 10.0        # a HiLight asked for while recording is wanted but not yet confirmed
    JOB_JOIN_S = 5.0          # at stop: how long the worker waits for a pre-empted job to end

    #: The step method for each state (``_reconcile`` dispatches on it; every State has one).
    STEPS = {State.ASLEEP: "_step_asleep", State.WAKING: "_step_waking", State.IDLE: "_step_idle",
             State.RECORDING: "_step_recording", State.FAULT: "_step_fault"}

    retry_at = _Field("timers")
    confirm_at = _Field("timers")
    next_poll_at = _Field("timers")
    last_contact = _Field("timers")
    last_keep_alive = _Field("timers")
    failures = _Field("counters")
    fault_streak = _Field("counters")
    shutter_tries = _Field("counters")
    power_cycles = _Field("counters")

    def __init__(self, camera, driver, waker, *, keep_awake: float | None = 60.0,
                 confirm_delay: float = 0.3, ready_timeout: float = 15.0,
                 power_cycle_pause: float = 3.0, set_clock: bool = True,
                 clock=time.monotonic, wallclock=time.time, job_http=None, clock_sync=None):
        self.camera = camera
        self.name = camera.name
        self.driver = driver
        self.waker = waker
        self.keep_awake = keep_awake
        self.confirm_delay = confirm_delay
        self.ready_timeout = ready_timeout
        self.power_cycle_pause = power_cycle_pause
        self.set_clock = set_clock
        self.clock = clock
        self.wallclock = wallclock
        #: camrig.inputs.clock_sync.ClockSync (``may_set() -> (bool, why)``): a camera clock is
        #: set only while the Pi's clock is synchronised; None: always (tests, older callers)
        self.clock_sync = clock_sync
        self.log: logging.LoggerAdapter = limit_repeats(CameraLog(log, {"camera": camera.name}))

        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wanted = False
        self._wanted_changed = False
        self._check_requested = True       # first thing: find out what the camera is doing

        # Observed state; written by the worker thread, read under _cond by snapshot().
        self.state = State.ASLEEP
        self.step: str | None = None
        self.recording: bool | None = None
        self.commanded: bool | None = None
        self.last_status = None
        self.last_seen: float | None = None   # wall clock, for people
        self.last_error: str | None = None
        self.degraded = False
        self.timers = Timers()
        self.counters = Counters()
        #: a shutter went out and no status has answered it yet (see the module docstring).
        self.shutter_sent = False
        #: wall clock minus monotonic clock when the camera's clock was last set (or tried):
        #: when it moves, NTP or the GPS set the wall clock, and the camera's clock is set again.
        self.clock_offset: float | None = None
        #: why the camera refused its clock the last time it was set (None: set, or not tried).
        self.clock_error: str | None = None
        #: the last status's in_video_mode (None: not reported), True once video was selected.
        self.video_mode: bool | None = None
        self.mode_warned = False              # one warning per mode correction, not one per check

        # The job slot (under _cond): queued jobs, the running one, its context and thread.
        self._jobs: collections.deque[JobHandle] = collections.deque()
        self._job: JobHandle | None = None
        self._job_ctx: JobContext | None = None
        self._job_thread: threading.Thread | None = None
        self._job_http = job_http
        self._marks: list[tuple[JobHandle, float]] = []     # HiLights asked for, with their expiry

    def __repr__(self) -> str:
        return (f"<CameraWorker {self.name} state={self.state.value} wanted={self._wanted} "
                f"recording={self.recording}>")

    # --- controller side ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (daemon thread named ``cam-NAME``)."""
        self._thread = threading.Thread(target=self._run, name=f"cam-{self.name}", daemon=True)
        self._thread.start()

    def set_wanted(self, wanted: bool) -> None:
        """Say whether the camera should be recording; acted on at once. Recording wanted
        pre-empts a running job here, in the caller's thread, before the worker thread wakes: the
        shutter never waits for the job to notice."""
        with self._cond:
            if wanted:
                self._preempt_job("recording wanted")
            if wanted != self._wanted:
                self._wanted = wanted
                self._wanted_changed = True
                self._cond.notify()

    def submit(self, job: Callable[[JobContext], Any]) -> JobHandle:
        """Queue ``job`` (a callable taking a :class:`~camrig.jobs.JobContext`; optional attributes
        ``name``, ``resumable`` and ``wakes`` — True: an asleep camera is woken for it, as for a
        recording; an offload a person asked for) for the job slot; returns its :class:`~camrig.jobs.JobHandle`
        at once. Jobs run one at a time, in order, on a job thread, only while the camera is idle
        (confirmed by a status) and recording is not wanted; see camrig/jobs.py for pre-emption.
        Raises TypeError when ``job`` is not callable."""
        if not callable(job):
            raise TypeError(f"{self.name}: a job must be callable, not {type(job).__name__}")
        handle = JobHandle(job=job, name=job_name(job), resumable=bool(getattr(job, "resumable", False)),
                           _cancel=self._cancel_job)
        with self._cond:
            if self._stop.is_set():
                handle._finish(JobState.CANCELLED, error="the worker has stopped")
                return handle
            self._jobs.append(handle)
            self._cond.notify()
        self.log.info("job %s queued", handle.name)
        return handle

    def mark(self) -> JobHandle:
        """Tag a HiLight in the current recording (driver ``hilight()``; gpControl
        ``storage/tag_moment``), sent from the worker thread after any pending shutter.

        Sent once the camera records (confirmed by a status); held while recording is wanted but
        not yet confirmed (waking, shutter just sent) for at most :attr:`MARK_HOLD_S` s; fails at
        once when recording is not wanted (a HiLight tags a recording), and when the driver has no
        HiLight (Olympus). The handle ends ``done`` or ``failed`` (``error`` says why).
        """
        handle = JobHandle(job=self._send_hilight, name="HiLight")
        with self._cond:
            if self._stop.is_set():
                handle._finish(JobState.CANCELLED, error="the worker has stopped")
                return handle
            self._marks.append((handle, self.clock() + self.MARK_HOLD_S))
            self._cond.notify()
        return handle

    @property
    def wanted(self) -> bool:
        return self._wanted

    def request_check(self) -> None:
        """Ask for a status check (compare recording with wanted, correct it) as soon as the camera allows."""
        with self._cond:
            self._check_requested = True
            self._cond.notify()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread; waits at most ``timeout`` seconds (an exchange in flight may outlive it)."""
        self._stop.set()
        with self._cond:
            self._preempt_job("worker stopping", cancel=True)
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> dict[str, Any]:
        """The camera's row of the status file (shape in docs/contracts.md)."""
        with self._cond:
            st = self.last_status
            return {
                "name": self.name,
                "interface": self.camera.iface,
                "address": self.camera.address,
                "model": self.camera.model,
                "control": self.camera.control,
                "path": getattr(self.camera, "path", self.camera.iface),
                "state": self.state.value,
                "step": self.step,
                "wanted": self._wanted,
                "recording": self.recording,
                # False: ``recording`` is the driver's belief, not a state read (Olympus OI.Share
                # has no state query); None while a shutter is unanswered.
                "recording_confirmed": (None if self.recording is None
                                        else (st.encoding_confirmed if st is not None else True)),
                "recording_evidence": st.recording_evidence if st is not None else None,
                "degraded": self.degraded,
                "last_seen": (dt.datetime.fromtimestamp(self.last_seen, dt.UTC).isoformat(timespec="seconds")
                              if self.last_seen else None),
                "battery_percent": st.battery_percent if st else None,
                "sd_status": st.sd_status if st else None,
                "remaining_space_kb": st.remaining_space_kb if st else None,
                "remaining_video_s": st.remaining_video_s if st else None,
                "mode": st.mode_name if st else None,
                # status 58: "Active Hilights" (OpenAPI State) / num_hilights (gpControl): HiLights
                # in the recording under way, 0 once it stops
                "hilights": status_int(st.raw, "58") if st else None,
                "last_error": self.last_error,
                "clock_error": self.clock_error,
                "shutter_sent": self.shutter_sent,
                "job": self._job_row(),
            }

    def _job_row(self) -> dict[str, Any] | None:
        """The snapshot's ``job``: the running (else first queued) job's name and state, and how
        many are queued; None when the slot is empty. Call with _cond held."""
        job = self._job or (self._jobs[0] if self._jobs else None)
        if job is None:
            return None
        return {"name": job.name, "state": job.state.value, "queued": len(self._jobs)}

    # --- worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self.log.debug("worker started %r", self)
        try:
            while not self._stop.is_set():
                with self._cond:
                    self._start_job()
                    if not (self._wanted_changed or self._check_requested or self._stop.is_set()
                            or self._marks_due()):
                        timeout = self._next_deadline() - self.clock()
                        if timeout > 0:
                            self._cond.wait(timeout)
                    wanted, changed, check = self._wanted, self._wanted_changed, self._check_requested
                    self._wanted_changed = False
                    self._check_requested = False
                if self._stop.is_set():
                    break
                try:
                    self._reconcile(wanted, changed, check)
                    if self._marks:
                        self._send_marks()
                except CamRigError as exc:
                    self._failed(exc)
                except Exception as exc:  # a bug: log it with the camera's name, keep the worker alive
                    self.log.exception("unexpected error (worker keeps running)")
                    self._failed(CamRigError(f"internal error: {type(exc).__name__}: {exc}", camera=self.name))
        finally:
            self._end_jobs()
        self.log.debug("worker stopped")

    def _next_deadline(self) -> float:
        """Monotonic time at which the worker must look again without being asked."""
        now = self.clock()
        deadlines = [now + 3600.0]
        t = self.timers
        if t.confirm_at is not None:
            deadlines.append(max(t.confirm_at, t.next_poll_at))
        if self.state in (State.ASLEEP, State.FAULT) and (self._wanted or self._jobs_wake()):
            deadlines.append(t.retry_at)
        if self.state in (State.IDLE, State.RECORDING) and self.keep_awake:
            deadlines.append(t.last_contact + self.keep_awake)
            interval = self._keep_alive_s()
            if interval:
                deadlines.append(t.last_keep_alive + interval)
        deadlines.extend(expiry for _, expiry in self._marks)
        return min(deadlines)

    def _keep_alive_s(self) -> float | None:
        """Seconds between the driver's own keep-alives (Open GoPro: 3 s, whatever else is sent:
        only the keep-alive resets the camera's keep-alive timer); None when the driver has none
        or KEEP_AWAKE is None (let it sleep)."""
        if self.keep_awake is None:
            return None
        return getattr(self.driver, "keep_alive_interval", None)

    def _reconcile(self, wanted: bool, changed: bool, check: bool) -> None:
        """One look at the camera: the step method of the current state (:attr:`STEPS`).
        ``wanted`` as seen when the loop woke, ``changed`` whether it changed since the last
        look, ``check`` whether a status check was asked for."""
        getattr(self, self.STEPS[self.state])(wanted, changed, check, self.clock())

    def _step_idle(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        """Idle: shutter at once when recording became wanted (no status read first); else
        keep-alive, confirmation, check and KEEP_AWAKE as due."""
        self._step_awake(wanted, changed, check, now)

    def _step_recording(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        """Recording: as idle (:meth:`_step_awake`), the fast path being a shutter off."""
        self._step_awake(wanted, changed, check, now)

    def _step_awake(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        if changed and wanted != self.commanded:
            self._shutter(wanted)                      # the fast path: no status read first
            return
        t = self.timers
        confirm_due = t.confirm_at is not None and now >= t.confirm_at
        keep_awake_due = self.keep_awake is not None and now - t.last_contact >= self.keep_awake
        interval = self._keep_alive_s()
        if interval and now - t.last_keep_alive >= interval:
            self.driver.keep_alive()                   # Open GoPro: every 3 s while awake
            t.last_keep_alive = t.last_contact = self.clock()
            keep_awake_due = False
        if check or confirm_due or keep_awake_due:
            if now < t.next_poll_at:                   # the camera asked us to poll less often
                t.confirm_at = t.next_poll_at
                return
            self._check()

    def _step_asleep(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        """Asleep: wake when recording is wanted (or a queued job needs the camera: ``wakes``) and
        the back-off is over; otherwise, when a check is asked for, see quietly whether it answers
        (it may have been woken by hand)."""
        if (self._wanted or self._jobs_wake()) and now >= self.timers.retry_at:
            self._wake_and_apply()
        elif check:
            self._quiet_probe()

    def _step_waking(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        """Waking is a step inside :meth:`_wake_and_apply`; seen here only after a wake was cut
        short (stopping): wake again when recording is wanted, never probe."""
        if self._wanted and now >= self.timers.retry_at:
            self._wake_and_apply()

    def _step_fault(self, wanted: bool, changed: bool, check: bool, now: float) -> None:
        """Fault: nothing until the back-off is over; then wake (recording wanted, or a queued job
        that needs the camera) or probe."""
        if now < self.timers.retry_at:
            return
        if self._wanted or self._jobs_wake():
            self._wake_and_apply()
        elif check:
            self._quiet_probe()

    # --- steps --------------------------------------------------------------------------------

    def _set_state(self, state: State, why: str = "") -> None:
        """Move to ``state`` (logged). A change :data:`TRANSITIONS` does not allow is a bug: logged
        at error level with the camera's name, and raised as IllegalTransition where transitions
        are strict (:func:`strict_transitions`); the daemon takes it anyway. Leaving idle pre-empts
        a running job."""
        if state == self.state:
            return
        if state not in TRANSITIONS[self.state]:
            self.log.error("illegal transition %s → %s (%s): a bug in the worker", self.state.value,
                           state.value, why or "no reason given")
            if strict_transitions():
                raise IllegalTransition(f"{self.name}: {self.state.value} → {state.value} ({why})")
        self.log.info("%s → %s%s", self.state.value, state.value, f" ({why})" if why else "")
        with self._cond:
            self.state = state
            if state != State.WAKING:
                self.step = None
            if state != State.IDLE:
                self._preempt_job(f"camera {state.value}")

    def _observe(self, status) -> None:
        now = self.clock()
        before = self.last_status.sd_status if self.last_status is not None else None
        if status.sd_status != before and status.sd_status is not None:
            level = logging.INFO if status.sd_status == SD_OK else logging.WARNING
            self.log.log(level, "SD card: %s → %s (sd_status %s)", sd_text(before), sd_text(status.sd_status),
                         status.sd_status)
        with self._cond:
            self.last_status = status
            self.recording = status.encoding_active
            self.shutter_sent = False
            self.last_seen = self.wallclock()
            self.timers.last_contact = now
            self.video_mode = status.in_video_mode
            if status.next_poll_ms:
                self.timers.next_poll_at = now + min(status.next_poll_ms, 10_000) / 1000.0

    def _contact_ok(self) -> None:
        self.counters.failures = 0
        if self.degraded:
            self.log.info("answering normally again")
        self.degraded = False
        self.last_error = None

    def _shutter(self, on: bool) -> None:
        if on:
            self._ensure_video_mode()
        self.driver.shutter(on)
        self.timers.last_contact = self.clock()
        self.commanded = on
        with self._cond:
            self.recording = None   # commanded, not yet confirmed by the camera's status 10
            self.shutter_sent = True
        self.timers.confirm_at = self.clock() + self.confirm_delay
        # Tries to start in a row while recording stays wanted; a shutter off (the trigger went
        # off, or flapped) ends the series, so a flapping trigger never looks like a dead camera.
        c = self.counters
        c.shutter_tries = c.shutter_tries + 1 if on else 0
        self._set_state(State.RECORDING if on else State.IDLE, "shutter on" if on else "shutter off")

    def _check(self) -> None:
        # Compare the answer with what was wanted when the request went out: a trigger change
        # during the request is the loop's next fast-path shutter, not a shutter the camera
        # ignored (counting it as one put a flapping trigger's camera in fault for 2 s).
        wanted = self._wanted
        status = self.driver.status()
        self._observe(status)
        self._contact_ok()
        if not status.encoding_active and self._wall_clock_moved():
            self._set_camera_clock()                   # not while recording: a file is open
        if status.sd_error:
            self._power_cycle(f"SD card error (sd_status {status.sd_status})")
            return
        self.counters.power_cycles = 0
        self._ensure_video_mode()                      # at first contact, and whenever it changed
        if status.encoding_active == wanted:
            self.timers.confirm_at = None
            self.counters.shutter_tries = 0
            self.counters.fault_streak = 0
            self._set_state(State.RECORDING if wanted else State.IDLE, "confirmed by status")
            return
        if wanted and status.storage_problem:
            # The card keeps it from recording (33 = 1 full, 2 no card, 4 busy, 8 swapped):
            # shuttering again would be refused or take nothing, every second, forever.
            self._fault(f"{status.storage_problem} (sd_status {status.sd_status}): cannot record")
            return
        if wanted and not status.ready:
            # Only a start waits: a camera may report system_busy all through a recording, and
            # waiting for it to finish before a stop would record on for ever.
            self.log.info("not ready (system_busy=%s, system_ready=%s); waiting", status.system_busy,
                          status.system_ready)
            self.timers.confirm_at = self.clock() + max(self.confirm_delay, 0.5)
            return
        if wanted and self.counters.shutter_tries >= self.MAX_SHUTTER_TRIES:
            sd = status.sd_status
            self._fault(f"does not record after {self.counters.shutter_tries} shutters (sd_status {sd})")
            return
        if wanted:
            why = "stopped recording by itself" if self.commanded else "not recording"
            self.log.warning("%s; starting it again", why)
        else:
            self.log.warning("recording though not wanted; stopping it")
        self._shutter(wanted)

    def _ensure_video_mode(self) -> None:
        """Select video mode when the last status said the camera is in another (photo,
        time-lapse…) and not encoding: a shutter in photo mode takes a photo, and a camera that
        never records is shuttered again and again and put in fault (issue 17).

        Never while encoding (a file is open; the camera finishes what it is capturing first).
        Drivers without ``select_video`` and statuses without a mode are left alone. A refusal
        (CameraRejected) is logged and the shutter goes out anyway; the next check tries again.
        """
        select = getattr(self.driver, "select_video", None)
        st = self.last_status
        if select is None or st is None or self.video_mode is not False:
            if self.video_mode:
                self.mode_warned = False
            return
        if st.encoding_active:
            if not self.mode_warned:
                self.log.warning("recording in %s mode, not video; video is selected once it stops",
                                 st.mode_name)
                self.mode_warned = True
            return
        log = self.log.warning if not self.mode_warned else self.log.info
        log("in %s mode, not video: selecting video mode", st.mode_name)
        self.mode_warned = True
        try:
            select()
        except CameraRejected as exc:
            self.log.warning("could not select video mode: %s", exc.detail)
            return
        finally:
            self.timers.last_contact = self.clock()
        self.video_mode = True

    def _fault(self, why: str) -> None:
        c, t = self.counters, self.timers
        c.failures += 1
        c.fault_streak += 1
        self.last_error = why
        t.retry_at = self.clock() + _backoff(max(c.failures, c.fault_streak), cap=60.0)
        t.confirm_at = None
        c.shutter_tries = 0
        self.commanded = None
        self.shutter_sent = False
        self.log.error("%s; retrying in %.0f s", why, t.retry_at - self.clock())
        self._set_state(State.FAULT, why)

    def _power_cycle(self, why: str) -> None:
        """Sleep + wake: what clears a jammed SD card (status 33 = 3) on HERO5–8."""
        self.counters.power_cycles += 1
        self.last_error = why
        self.commanded = None
        self.shutter_sent = False
        self.timers.confirm_at = None
        if self.counters.power_cycles > self.MAX_POWER_CYCLES:
            self._fault(f"{why} persists after {self.MAX_POWER_CYCLES} power cycles: check the card")
            return
        self.log.warning("%s: power cycling (%d/%d)", why, self.counters.power_cycles, self.MAX_POWER_CYCLES)
        self._set_state(State.FAULT, why)
        try:
            self.driver.sleep()
        except CamRigError as exc:
            self.log.info("sleep command failed (%s); waking anyway", exc)
        self.driver.reset()
        self._stop.wait(self.power_cycle_pause)
        self.timers.retry_at = self.clock()
        self._set_state(State.ASLEEP, "power cycle")
        if self._wanted:
            self._wake_and_apply()

    def _quiet_probe(self) -> None:
        """An asleep camera nobody wants recording: see whether it answers, without waking it."""
        try:
            status = self.driver.status()
        except AdapterMismatch:
            raise                                      # a fault, not sleep
        except (CameraUnreachable, LinkError, CameraRejected) as exc:
            self.log.debug("still asleep: %s", exc)
            return
        self._observe(status)
        self._contact_ok()
        if not status.encoding_active and self._wall_clock_moved():
            self._set_camera_clock()                   # first contact with a camera found awake
        self.commanded = status.encoding_active
        self._set_state(State.RECORDING if status.encoding_active else State.IDLE, "answering")
        if status.sd_error or status.encoding_active != self._wanted or status.in_video_mode is False:
            self.request_check()

    def _wake_and_apply(self) -> None:
        check_adapter = getattr(self.waker, "check_adapter", None)
        if check_adapter is not None:
            check_adapter()                            # never wake across an adapter mismatch
        self._set_state(State.WAKING, "recording wanted" if self._wanted else
                        f"job {self._jobs[0].name if self._jobs else ''} queued")
        self.driver.reset()
        started = self.clock()
        try:
            self.waker.wake(self._stop, on_step=self._on_wake_step)
            status = self._wait_ready()
        except WakeFailed as exc:
            if self._stop.is_set():
                return
            self.counters.failures += 1
            self.last_error = exc.detail
            self.timers.retry_at = self.clock() + _backoff(self.counters.failures)
            self.log.warning("wake failed: %s; next try in %.0f s", self.last_error,
                             self.timers.retry_at - self.clock())
            self._set_state(State.ASLEEP, "wake failed")
            return
        self.log.info("awake after %.1f s", self.clock() - started)
        self._contact_ok()
        if status.sd_error:
            self._power_cycle(f"SD card error (sd_status {status.sd_status}) after wake")
            return
        if self.set_clock and not status.encoding_active:
            self._set_camera_clock()        # never while recording: a file is open (_check sets it later)
        self._ensure_video_mode()
        self.commanded = status.encoding_active
        self._set_state(State.RECORDING if status.encoding_active else State.IDLE, "awake")
        if status.encoding_active != self._wanted:
            if self._wanted and status.storage_problem:
                self._fault(f"{status.storage_problem} (sd_status {status.sd_status}): cannot record")
                return
            self._shutter(self._wanted)

    def _on_wake_step(self, step: str) -> None:
        self.log.info("waking: %s", step)
        with self._cond:
            self.step = step

    def _wait_ready(self):
        """After a wake: status until the camera is ready for a shutter (a start too soon after
        power-on can put the SD card in error, status 33 = 3). Raises WakeFailed on timeout."""
        deadline = self.clock() + self.ready_timeout
        while True:
            try:
                status = self.driver.status()
                self._observe(status)
                # A camera that answers and records is awake, whatever status 8 says (a HERO5–8
                # may report system_busy while encoding: unverified either way).
                if status.ready or status.sd_error or status.encoding_active:
                    return status
            except (CameraUnreachable, CameraRejected) as exc:
                if self.clock() >= deadline:
                    raise WakeFailed(f"answered the probe but not status: {exc}", camera=self.name) from None
            if self.clock() >= deadline:
                raise WakeFailed(f"not ready within {self.ready_timeout:.0f} s of waking", camera=self.name)
            if self._stop.wait(max(0.1, self.timers.next_poll_at - self.clock())):
                raise WakeFailed("stopping", camera=self.name)

    def _wall_clock_moved(self) -> bool:
        """The camera's clock was never set by us (a camera found awake), or the wall clock
        jumped (> 60 s) against the monotonic one since it was set or tried (a Pi boots at
        1970 or at fake-hwclock's stale time; NTP or the GPS corrects it later)."""
        if not self.set_clock:
            return False
        if self.clock_offset is None:
            return True
        moved = self.wallclock() - self.clock() - self.clock_offset
        if abs(moved) <= 60.0:
            return False
        self.log.info("wall clock moved by %+.0f s since the camera's clock was set; setting it again", moved)
        return True

    def _set_camera_clock(self) -> None:
        """Set the camera's clock to the Pi's local wall time; a refusal is logged once per change
        (warning) and kept in ``clock_error`` for the status file: footage would carry a wrong time.
        While the Pi's own clock is not synchronised (``clock_sync``), nothing is sent: the clock is
        left alone, ``clock_error`` says why, and it is tried again at the next check."""
        if self.clock_sync is not None:
            allowed, why = self.clock_sync.may_set()
            if not allowed:
                if why != self.clock_error:
                    self.log.info("camera clock not set: %s", why)
                with self._cond:
                    self.clock_error = why
                self.clock_offset = None            # try again at the next check
                return
        self.clock_offset = self.wallclock() - self.clock()
        try:
            self.driver.set_date_time(dt.datetime.fromtimestamp(self.wallclock()))
        except (CamRigError, ValueError) as exc:
            why = exc.detail if isinstance(exc, CamRigError) else str(exc)
            if getattr(exc, "retry_later", False):
                # Not now, but soon (an Olympus after its first stop): try again at the next
                # status read that finds the camera idle, not only when the wall clock moves.
                self.clock_offset = None
            if why != self.clock_error:
                self.log.warning("could not set the camera clock (its footage keeps its own time): %s", why)
            with self._cond:
                self.clock_error = why
            return
        if self.clock_error is not None:
            self.log.info("camera clock set")
        with self._cond:
            self.clock_error = None

    def _failed(self, exc: CamRigError) -> None:
        """An exchange failed: decide what the camera's state now is."""
        msg = exc.detail
        if isinstance(exc, AdapterMismatch):
            # Logged by the AdapterGuard once per change; here only the state, no re-logging.
            with self._cond:
                self.last_error = msg
                self.shutter_sent = False
            self.commanded = None
            self.timers.confirm_at = None
            self.timers.retry_at = self.clock() + self.ADAPTER_RECHECK_S
            self._set_state(State.FAULT, "adapter mismatch")
            return
        with self._cond:
            self.last_error = msg
        if isinstance(exc, LinkError) and exc.permanent:
            self._fault(msg)
            return
        c, t = self.counters, self.timers
        if isinstance(exc, (CameraUnreachable, LinkError)):
            c.failures += 1
            self.driver.reset()
            self.commanded = None
            self.shutter_sent = False
            t.confirm_at = None
            t.retry_at = self.clock() + (0 if c.failures <= 1 else _backoff(c.failures - 1))
            if self.state in (State.IDLE, State.RECORDING):
                self.log.warning("unreachable: %s", msg)
            self._set_state(State.ASLEEP, "unreachable")
            return
        # The camera answered, but badly (HTTP 500, not JSON, no status 10): degraded, retry soon.
        c.failures += 1
        self.degraded = True
        self.log.warning("degraded: %s", msg)
        if self.state in (State.IDLE, State.RECORDING):
            self.commanded = None
            t.confirm_at = self.clock() + _backoff(c.failures, base=1.0, cap=10.0)
        else:
            t.retry_at = self.clock() + _backoff(c.failures)

    # --- job slot (camrig/jobs.py; docs/architecture.md "Camera worker") ----------------------

    def _jobs_wake(self) -> bool:
        """A queued job needs the camera awake (its ``wakes`` attribute: an offload a person asked
        for wakes the cameras, as a recording would)."""
        with self._cond:
            return any(getattr(h.job, "wakes", False) for h in self._jobs)

    def _job_free(self) -> bool:
        """The slot may run a job now: confirmed idle, nothing wanted, nothing pending. _cond held."""
        return (self.state == State.IDLE and not self._wanted and not self._wanted_changed
                and not self.shutter_sent and self.timers.confirm_at is None and not self._stop.is_set())

    def _start_job(self) -> None:
        """(worker thread, _cond held) Start the first queued job on a job thread when the slot is free."""
        if self._job is not None or not self._jobs or not self._job_free():
            return
        handle = self._jobs.popleft()
        if self._job_http is None:
            http = getattr(self.driver, "http", None)
            sibling = getattr(http, "sibling", None)
            self._job_http = sibling() if callable(sibling) else False     # False: no HTTP here
        ctx = JobContext(self.name, http=self._job_http or None, driver=self.driver, log=self.log)
        handle.state = JobState.RUNNING
        handle.runs += 1
        self._job, self._job_ctx = handle, ctx
        self._job_thread = threading.Thread(target=self._job_main, args=(handle, ctx),
                                            name=f"job-{self.name}", daemon=True)
        self.log.info("job %s started%s", handle.name, f" (run {handle.runs})" if handle.runs > 1 else "")
        self._job_thread.start()

    def _job_main(self, handle: JobHandle, ctx: JobContext) -> None:
        """(job thread) Run one job; record how it ended; requeue it if pre-empted and resumable."""
        result, error, outcome = None, None, JobState.DONE
        try:
            result = handle.job(ctx)
        except (JobPreempted, DownloadAborted) as exc:
            outcome, error = JobState.PREEMPTED, ctx.reason or str(exc)
        except Exception as exc:      # the job's own failure (camera, disk, bug): the worker goes on
            if ctx.cancelled.is_set():
                outcome, error = JobState.PREEMPTED, ctx.reason or "pre-empted"
            else:
                outcome = JobState.FAILED
                error = exc.detail if isinstance(exc, CamRigError) else f"{type(exc).__name__}: {exc}"
                if isinstance(exc, (CamRigError, OSError)):
                    self.log.warning("job %s failed: %s", handle.name, error)
                else:
                    self.log.exception("job %s failed (a bug in the job)", handle.name)
        with self._cond:
            self._job = self._job_ctx = self._job_thread = None
            if outcome == JobState.PREEMPTED and ctx.cancel_requested:
                outcome = JobState.CANCELLED
            if outcome == JobState.PREEMPTED and handle.resumable and not self._stop.is_set():
                handle.preemptions += 1
                handle.state = JobState.QUEUED
                self._jobs.appendleft(handle)
                self.log.info("job %s pre-empted (%s); queued again", handle.name, error)
            else:
                if outcome == JobState.PREEMPTED:
                    handle.preemptions += 1
                    self.log.info("job %s pre-empted (%s)", handle.name, error)
                elif outcome == JobState.DONE:
                    self.log.info("job %s done", handle.name)
                handle._finish(outcome, result=result, error=error)
            self._cond.notify()

    def _preempt_job(self, why: str, *, cancel: bool = False) -> None:
        """(any thread, _cond held) Tell the running job to stop at once: its context cancelled
        (a download aborts within one libcurl progress call). ``cancel``: it ends ``cancelled``,
        not ``preempted`` (and is not queued again)."""
        ctx = self._job_ctx
        if ctx is None or ctx.cancelled.is_set():
            return
        ctx.reason = why
        ctx.cancel_requested = cancel
        ctx.cancelled.set()

    def _cancel_job(self, handle: JobHandle) -> None:
        """JobHandle.cancel: drop it from the queue, or stop it if it runs."""
        with self._cond:
            if handle in self._jobs:
                self._jobs.remove(handle)
                handle._finish(JobState.CANCELLED, error="cancelled")
            elif handle is self._job:
                self._preempt_job("cancelled", cancel=True)

    def _end_jobs(self) -> None:
        """(worker thread, at stop) Pre-empt the running job, wait for it (at most JOB_JOIN_S s),
        cancel the queue and unanswered HiLights, close the job connection."""
        with self._cond:
            self._preempt_job("worker stopping", cancel=True)
            thread = self._job_thread
        if thread is not None:
            thread.join(self.JOB_JOIN_S)
            if thread.is_alive():
                self.log.warning("job still running %.0f s after the worker stopped", self.JOB_JOIN_S)
        with self._cond:
            while self._jobs:
                self._jobs.popleft()._finish(JobState.CANCELLED, error="the worker stopped")
            for handle, _ in self._marks:
                handle._finish(JobState.CANCELLED, error="the worker stopped")
            self._marks.clear()
        if self._job_http and (thread is None or not thread.is_alive()):
            self._job_http.close()

    # --- HiLight (mark) -------------------------------------------------------------------

    def _marks_due(self) -> bool:
        """A HiLight can be sent or answered now (not held for a confirmation). _cond held."""
        if not self._marks:
            return False
        if self.state == State.RECORDING and not self.shutter_sent:
            return True
        return not self._wanted or any(self.clock() >= exp for _, exp in self._marks)

    def _send_marks(self) -> None:
        """(worker thread) Send, hold or fail each HiLight asked for by :meth:`mark`."""
        now = self.clock()
        with self._cond:
            marks, self._marks = self._marks, []
        keep = []
        for handle, expiry in marks:
            if self.state == State.RECORDING and not self.shutter_sent:
                self._send_hilight(handle)
            elif self._wanted and now < expiry:
                keep.append((handle, expiry))          # recording wanted, not confirmed yet
            else:
                why = ("not recording: a HiLight tags a recording" if not self._wanted
                       else f"not recording within {self.MARK_HOLD_S:.0f} s")
                self.log.info("HiLight not sent: %s", why)
                handle._finish(JobState.FAILED, error=why)
        if keep:
            with self._cond:
                self._marks[:0] = keep

    def _send_hilight(self, handle: JobHandle) -> None:
        hilight = getattr(self.driver, "hilight", None)
        if hilight is None:
            handle._finish(JobState.FAILED, error=f"{getattr(self.driver, 'protocol', 'this driver')} has no HiLight")
            return
        try:
            hilight()
        except CamRigError as exc:
            self.log.warning("HiLight failed: %s", exc.detail)
            handle._finish(JobState.FAILED, error=exc.detail)
            return
        self.timers.last_contact = self.clock()
        self.log.info("HiLight")
        handle._finish(JobState.DONE)
