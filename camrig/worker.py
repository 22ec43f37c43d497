"""CameraWorker: one thread per camera, converging the camera to the wanted state.

States (logged on every transition, shown in the status file)::

    asleep ──wake──► waking ──► idle ⇄ recording
       ▲                          │        │
       └──── unreachable ◄────────┴────────┘
    fault: SD card error (status 33 = 3) → power cycle (sleep, pause, wake);
           a camera that will not record after repeated shutters;
           adapter mismatch (its adapter is on another camera's AP): nothing sent,
           re-checked every ADAPTER_RECHECK_S.

The worker is the only thing that talks to its camera. The controller tells
it what is wanted (:meth:`set_wanted`, acted on at once: the shutter goes out
from this thread the moment the flag changes) and when to check
(:meth:`request_check`, every ``CHECK_STATUS`` cycles); the worker compares
what the camera says (status 10, ``encoding_active``) with what is wanted and
corrects it. A slow or dead camera only ever blocks its own thread.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import threading
import time
from typing import Any

from .drivers.base import SD_OK, sd_text
from .errors import AdapterMismatch, CamRigError, CameraRejected, CameraUnreachable, LinkError, WakeFailed
from .logutil import limit_repeats

log = logging.getLogger(__name__)


class State(str, enum.Enum):
    """A camera's state as the worker believes it (values are what the status file shows)."""

    ASLEEP = "asleep"
    WAKING = "waking"
    IDLE = "idle"
    RECORDING = "recording"
    FAULT = "fault"


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
    ``ready_timeout`` — how long to wait after waking for ``system_ready``; ``power_cycle_pause`` — asleep time in a power cycle.
    """

    MAX_SHUTTER_TRIES = 3     # shutters in a row without the camera recording → fault
    MAX_POWER_CYCLES = 3      # power cycles in a row without a good status → long back-off
    ADAPTER_RECHECK_S = 5.0   # adapter mismatch: look again (sysfs; iw only if the link changed)

    def __init__(self, camera, driver, waker, *, keep_awake: float | None = 60.0,
                 confirm_delay: float = 0.3, ready_timeout: float = 15.0,
                 power_cycle_pause: float = 3.0, set_clock: bool = True,
                 clock=time.monotonic, wallclock=time.time):
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
        self.log = limit_repeats(CameraLog(log, {"camera": camera.name}))

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
        self.last_contact = -1e9              # monotonic, for keep-awake
        self.last_keep_alive = -1e9           # monotonic, the driver's own keep-alive
        self.last_error: str | None = None
        self.degraded = False
        self.failures = 0
        #: faults in a row (no recording, card problems) since the camera last did what was
        #: wanted: grows the fault back-off, which a merely answering camera does not reset.
        self.fault_streak = 0
        self.shutter_tries = 0
        self.power_cycles = 0
        self.retry_at = 0.0
        self.confirm_at: float | None = None
        self.next_poll_at = 0.0
        self.woken_at: float | None = None
        #: wall clock minus monotonic clock when the camera's clock was last set (or tried):
        #: when it moves, NTP or the GPS set the wall clock, and the camera's clock is set again.
        self.clock_offset: float | None = None
        #: why the camera refused its clock the last time it was set (None: set, or not tried).
        self.clock_error: str | None = None
        #: the last status's in_video_mode (None: not reported), True once video was selected.
        self.video_mode: bool | None = None
        self.mode_warned = False              # one warning per mode correction, not one per check

    def __repr__(self) -> str:
        return (f"<CameraWorker {self.name} state={self.state.value} wanted={self._wanted} "
                f"recording={self.recording}>")

    # --- controller side ------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker thread (daemon thread named ``cam-NAME``)."""
        self._thread = threading.Thread(target=self._run, name=f"cam-{self.name}", daemon=True)
        self._thread.start()

    def set_wanted(self, wanted: bool) -> None:
        """Say whether the camera should be recording; acted on at once."""
        with self._cond:
            if wanted != self._wanted:
                self._wanted = wanted
                self._wanted_changed = True
                self._cond.notify()

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
                "degraded": self.degraded,
                "last_seen": (dt.datetime.fromtimestamp(self.last_seen, dt.timezone.utc).isoformat(timespec="seconds")
                              if self.last_seen else None),
                "battery_percent": st.battery_percent if st else None,
                "sd_status": st.sd_status if st else None,
                "remaining_space_kb": st.remaining_space_kb if st else None,
                "remaining_video_s": st.remaining_video_s if st else None,
                "mode": st.mode_name if st else None,
                "last_error": self.last_error,
                "clock_error": self.clock_error,
            }

    # --- worker thread ------------------------------------------------------------------------

    def _run(self) -> None:
        self.log.debug("worker started %r", self)
        while not self._stop.is_set():
            with self._cond:
                if not (self._wanted_changed or self._check_requested or self._stop.is_set()):
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
            except CamRigError as exc:
                self._failed(exc)
            except Exception as exc:  # a bug: log it with the camera's name, keep the worker alive
                self.log.exception("unexpected error (worker keeps running)")
                self._failed(CamRigError(f"internal error: {type(exc).__name__}: {exc}", camera=self.name))
        self.log.debug("worker stopped")

    def _next_deadline(self) -> float:
        """Monotonic time at which the worker must look again without being asked."""
        now = self.clock()
        deadlines = [now + 3600.0]
        if self.confirm_at is not None:
            deadlines.append(max(self.confirm_at, self.next_poll_at))
        if self.state in (State.ASLEEP, State.FAULT) and self._wanted:
            deadlines.append(self.retry_at)
        if self.state in (State.IDLE, State.RECORDING) and self.keep_awake:
            deadlines.append(self.last_contact + self.keep_awake)
            interval = self._keep_alive_s()
            if interval:
                deadlines.append(self.last_keep_alive + interval)
        return min(deadlines)

    def _keep_alive_s(self) -> float | None:
        """Seconds between the driver's own keep-alives (Open GoPro: 3 s, whatever else is sent:
        only the keep-alive resets the camera's keep-alive timer); None when the driver has none
        or KEEP_AWAKE is None (let it sleep)."""
        if self.keep_awake is None:
            return None
        return getattr(self.driver, "keep_alive_interval", None)

    def _reconcile(self, wanted: bool, changed: bool, check: bool) -> None:
        now = self.clock()
        if self.state in (State.IDLE, State.RECORDING):
            if changed and wanted != self.commanded:
                self._shutter(wanted)                      # the fast path: no status read first
                return
            confirm_due = self.confirm_at is not None and now >= self.confirm_at
            keep_awake_due = self.keep_awake is not None and now - self.last_contact >= self.keep_awake
            interval = self._keep_alive_s()
            if interval and now - self.last_keep_alive >= interval:
                self.driver.keep_alive()                   # Open GoPro: every 3 s while awake
                self.last_keep_alive = self.last_contact = self.clock()
                keep_awake_due = False
            if check or confirm_due or keep_awake_due:
                if now < self.next_poll_at:                # the camera asked us to poll less often
                    self.confirm_at = self.next_poll_at
                    return
                self._check()
            return
        # asleep or fault
        if self._wanted and now >= self.retry_at:
            self._wake_and_apply()
        elif check and (self.state == State.ASLEEP or self.state == State.FAULT and now >= self.retry_at):
            self._quiet_probe()

    # --- steps --------------------------------------------------------------------------------

    def _set_state(self, state: State, why: str = "") -> None:
        if state != self.state:
            self.log.info("%s → %s%s", self.state.value, state.value, f" ({why})" if why else "")
            with self._cond:
                self.state = state
                if state != State.WAKING:
                    self.step = None

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
            self.last_seen = self.wallclock()
            self.last_contact = now
            self.video_mode = status.in_video_mode
            if status.next_poll_ms:
                self.next_poll_at = now + min(status.next_poll_ms, 10_000) / 1000.0

    def _contact_ok(self) -> None:
        self.failures = 0
        if self.degraded:
            self.log.info("answering normally again")
        self.degraded = False
        self.last_error = None

    def _shutter(self, on: bool) -> None:
        if on:
            self._ensure_video_mode()
        self.driver.shutter(on)
        self.last_contact = self.clock()
        self.commanded = on
        with self._cond:
            self.recording = None   # commanded, not yet confirmed by the camera's status 10
        self.confirm_at = self.clock() + self.confirm_delay
        # Tries to start in a row while recording stays wanted; a shutter off (the trigger went
        # off, or flapped) ends the series, so a flapping trigger never looks like a dead camera.
        self.shutter_tries = self.shutter_tries + 1 if on else 0
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
        self.power_cycles = 0
        self._ensure_video_mode()                      # at first contact, and whenever it changed
        if status.encoding_active == wanted:
            self.confirm_at = None
            self.shutter_tries = 0
            self.fault_streak = 0
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
            self.confirm_at = self.clock() + max(self.confirm_delay, 0.5)
            return
        if wanted and self.shutter_tries >= self.MAX_SHUTTER_TRIES:
            sd = status.sd_status
            self._fault(f"does not record after {self.shutter_tries} shutters (sd_status {sd})")
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
            self.last_contact = self.clock()
        self.video_mode = True

    def _fault(self, why: str) -> None:
        self.failures += 1
        self.fault_streak += 1
        self.last_error = why
        self.retry_at = self.clock() + _backoff(max(self.failures, self.fault_streak), cap=60.0)
        self.confirm_at = None
        self.shutter_tries = 0
        self.commanded = None
        self.log.error("%s; retrying in %.0f s", why, self.retry_at - self.clock())
        self._set_state(State.FAULT, why)

    def _power_cycle(self, why: str) -> None:
        """Sleep + wake: what clears a jammed SD card (status 33 = 3) on HERO5–8."""
        self.power_cycles += 1
        self.last_error = why
        self.commanded = None
        self.confirm_at = None
        if self.power_cycles > self.MAX_POWER_CYCLES:
            self._fault(f"{why} persists after {self.MAX_POWER_CYCLES} power cycles: check the card")
            return
        self.log.warning("%s: power cycling (%d/%d)", why, self.power_cycles, self.MAX_POWER_CYCLES)
        self._set_state(State.FAULT, why)
        try:
            self.driver.sleep()
        except CamRigError as exc:
            self.log.info("sleep command failed (%s); waking anyway", exc)
        self.driver.reset()
        self._stop.wait(self.power_cycle_pause)
        self.retry_at = self.clock()
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
        self._set_state(State.WAKING, "recording wanted")
        self.driver.reset()
        started = self.clock()
        try:
            self.waker.wake(self._stop, on_step=self._on_wake_step)
            status = self._wait_ready()
        except WakeFailed as exc:
            if self._stop.is_set():
                return
            self.failures += 1
            self.last_error = exc.detail
            self.retry_at = self.clock() + _backoff(self.failures)
            self.log.warning("wake failed: %s; next try in %.0f s", self.last_error, self.retry_at - self.clock())
            self._set_state(State.ASLEEP, "wake failed")
            return
        self.log.info("awake after %.1f s", self.clock() - started)
        self.woken_at = self.clock()
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
            if self._stop.wait(max(0.1, self.next_poll_at - self.clock())):
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
        (warning) and kept in ``clock_error`` for the status file: footage would carry a wrong time."""
        self.clock_offset = self.wallclock() - self.clock()
        try:
            self.driver.set_date_time(dt.datetime.fromtimestamp(self.wallclock()))
        except (CamRigError, ValueError) as exc:
            why = exc.detail if isinstance(exc, CamRigError) else str(exc)
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
            self.commanded = None
            self.confirm_at = None
            self.retry_at = self.clock() + self.ADAPTER_RECHECK_S
            self._set_state(State.FAULT, "adapter mismatch")
            return
        with self._cond:
            self.last_error = msg
        if isinstance(exc, LinkError) and exc.permanent:
            self._fault(msg)
            return
        if isinstance(exc, (CameraUnreachable, LinkError)):
            self.failures += 1
            self.driver.reset()
            self.commanded = None
            self.confirm_at = None
            self.retry_at = self.clock() + (0 if self.failures <= 1 else _backoff(self.failures - 1))
            if self.state in (State.IDLE, State.RECORDING):
                self.log.warning("unreachable: %s", msg)
            self._set_state(State.ASLEEP, "unreachable")
            return
        # The camera answered, but badly (HTTP 500, not JSON, no status 10): degraded, retry soon.
        self.failures += 1
        self.degraded = True
        self.log.warning("degraded: %s", msg)
        if self.state in (State.IDLE, State.RECORDING):
            self.commanded = None
            self.confirm_at = self.clock() + _backoff(self.failures, base=1.0, cap=10.0)
        else:
            self.retry_at = self.clock() + _backoff(self.failures)
