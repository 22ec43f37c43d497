"""The controller: one main loop from triggers and commands to workers, and out to publishers.

It wakes on a trigger event (at once: GPIO edge callback, inotify), on a posted command, or on its
cycle tick (``CYCLE_SECONDS``, 1 s); hands *wanted* (trigger OR the record latch) to every worker
in one pass (each worker's thread sends its shutter in parallel); asks every worker for a status
check every ``CHECK_STATUS`` cycles; hands the snapshot to its publishers (status file, systemd
``STATUS=``: camrig/publishers.py); and pings the watchdog only while the loop itself makes
progress. Signal handlers and other threads only post commands (camrig/commands.py: ``stop``,
``reload``, ``record``, ``mark``, ``offload``); this loop runs them.

Nothing here waits on anything slow: a publisher that may block runs in a thread of its own
(the newest snapshot wins), notifications to systemd never block (a dropped ``WATCHDOG=1``,
``STATUS=`` or ``READY=1`` is sent again at the next tick), and a worker replaced by a reload is
not waited for. Which workers a reload replaces is the assembly's decision
(:meth:`camrig.app.Assembly.plan_reload`, :meth:`~camrig.app.Assembly.apply`).

``WATCHDOG=1``, ``READY=1``, ``RELOADING=1`` and ``STOPPING=1`` stay here, not in a publisher:
they are statements about the loop (it is alive, start-up or a reload is done), so they must be
sent from the loop itself; a publisher thread would keep pinging while the loop hung.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from .commands import CameraResult, Command, Result
from .config import Config
from .errors import CamRigError
from .logutil import flush_all, limit_repeats
from .publishers import Publishers, StatusFilePublisher, SystemdStatusPublisher, summary_line
from .worker import CameraWorker, State

log = logging.getLogger(__name__)

__all__ = ["Controller", "summary_line", "trigger_sources"]

#: seconds a publisher may spend inside one publish before the loop says so in the log (it is
#: not waited for either way: the cameras are not affected)
PUBLISHER_STALL_S = 30.0


def trigger_sources(trigger) -> list[tuple[str, Any]]:
    """The leaf triggers inside ``trigger`` with the word the snapshot's ``wanted_by`` uses for
    each: ``pin`` (GpioTrigger), ``file`` (FileTrigger), else the trigger's ``kind`` attribute or
    ``trigger``. An AnyTrigger (anything with ``triggers``) is opened up."""
    from .trigger import FileTrigger, GpioTrigger

    inner = getattr(trigger, "triggers", None)
    if inner is not None:
        return [leaf for t in inner for leaf in trigger_sources(t)]
    if isinstance(trigger, GpioTrigger):
        kind = "pin"
    elif isinstance(trigger, FileTrigger):
        kind = "file"
    else:
        kind = str(getattr(trigger, "kind", "trigger"))
    return [(kind, trigger)]


class Controller:
    """Run the daemon's main loop until a ``stop`` command (:meth:`request_stop`).

    ``workers`` are started CameraWorkers (or objects with their interface); ``trigger`` has
    ``value``/``start(on_change)``/``close()``; ``notifier`` is a :class:`camrig.systemd.Notifier`.
    ``status_path`` None takes STATUS_PATH from the config, ``""`` disables the file.
    ``publishers``: further outputs (:class:`camrig.publishers.Publisher`) fed the same snapshot
    as the status file and ``STATUS=``. ``reload`` reads the config again (raising CamRigError for
    a bad one); ``assembly`` (:class:`camrig.app.Assembly`) plans and applies a reload: without it
    a reload is refused.
    """

    def __init__(self, config: Config, workers: Sequence[CameraWorker], trigger, notifier, *,
                 status_path: str | None = None, clock: Callable[[], float] = time.monotonic,
                 reload: Callable[[], Config] | None = None, assembly=None, publishers: Sequence = ()):
        self.config = config
        self.workers = list(workers)
        self.trigger = trigger
        self.notifier = notifier
        self._status_path_from_config = status_path is None
        self.status_path = status_path if status_path is not None else config.status_path
        self.clock = clock
        self.reload = reload
        #: camrig.app.Assembly: plans a reload (which workers to replace, whether the trigger is
        #: rebuilt) and carries it out.
        self.assembly = assembly
        self._last_ping: float | None = None
        self._ping_retry_at: float | None = None    # a WATCHDOG=1 was dropped: send it again then
        self._ready_pending = False                 # a READY=1 was dropped: send it at the next tick
        self.wanted = False
        #: ``record on`` sets it, ``record off|auto`` clears it: wanted = trigger OR latch
        self.latch = False
        #: who set the latch, for ``wanted_by``: "button" (the record button) or "remote" (the
        #: control socket, MQTT, any other source); None: set directly (tests), shown as "latch"
        self.latch_source: str | None = None
        #: while set (a reason, e.g. "ignition off"), recording is not wanted whatever the
        #: triggers and the latch say (:meth:`hold_off`; camrig/inputs/ignition.py)
        self.hold: str | None = None
        #: further parts of the snapshot: key → callable returning a JSON-ready value (the marks,
        #: the ignition, the Pi's clock: camrig/inputs); a callable that raises is left out
        self.snapshot_extras: dict[str, Callable[[], Any]] = {}
        self.cycle = 0
        self._event = threading.Event()
        self._stop = threading.Event()
        #: posted commands; SimpleQueue.put is reentrant, so a signal handler may post
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self.publishers = Publishers([SystemdStatusPublisher(notifier)])
        if self.status_path:
            self.publishers.add(StatusFilePublisher(self.status_path))
        for p in publishers:
            self.publishers.add(p)
        #: for the lines a chattering trigger or a dead worker repeat every change / every cycle
        self._repeating = limit_repeats(log)
        #: command name → handler added with :meth:`add_command` (looked up before ``_cmd_<name>``)
        self._handlers: dict[str, Callable[[Command], Result | None]] = {}
        #: the newest snapshot handed to the publishers (read by other threads: the control socket)
        self.last_snapshot: dict | None = None

    def __repr__(self) -> str:
        return (f"<Controller wanted={self.wanted} latch={self.latch} cycle={self.cycle} "
                f"cameras={len(self.workers)}>")

    # --- inputs: any thread, signal handlers included -----------------------------------------

    def post(self, cmd: Command) -> Command:
        """Queue ``cmd`` for the loop and wake it; returns ``cmd`` (wait on ``cmd.reply``). Never
        blocks, safe in a signal handler. Answered at the loop's next wake (a command posted
        after the loop ended is answered by :meth:`shutdown`)."""
        self._commands.put(cmd)
        self._event.set()
        return cmd

    def add_command(self, name: str, handler: Callable[[Command], Result | None]) -> None:
        """Run ``handler(cmd)`` for command ``name`` (declared with
        :func:`camrig.commands.register`, or a built-in one it takes over, e.g. ``offload``).

        The handler runs in the loop's thread and must not block: it starts its work (a job on a
        worker, a thread) and returns a :class:`Result`, or returns None and answers later from
        any thread with ``cmd.answer(result)``. An exception it raises is an error result.
        """
        self._handlers[name] = handler

    def request_stop(self, source: str = "api") -> Command:
        """Post ``stop``: the loop ends at its next wake."""
        return self.post(Command("stop", source=source))

    def request_reload(self, source: str = "api") -> Command:
        """Post ``reload``: the config is read again and applied on the loop."""
        return self.post(Command("reload", source=source))

    def _on_trigger(self) -> None:
        self._event.set()

    def hold_off(self, reason: str | None) -> None:
        """From any thread: while ``reason`` is set, recording is not wanted whatever the triggers
        and the latch say (the ignition went off: every camera stops and closes its file); None
        gives recording back to them. Acted on at the loop's next wake (at once: the loop is woken)."""
        self.hold = reason
        self._event.set()

    # --- the loop -----------------------------------------------------------------------------

    def run(self) -> None:
        """The main loop; returns after a ``stop`` command. Never raises for a camera's problem."""
        self.trigger.start(self._on_trigger)
        self._apply(self.trigger.value, "start")
        self._ready()
        log.info("ready: %d camera(s), trigger %r, wanted=%s", len(self.workers), self.trigger, self.wanted)
        self._publish(force=True)
        next_tick = self.clock() + self.config.cycle_seconds
        self._ping()
        while not self._stop.is_set():
            wake_at = next_tick
            ping_at = self._next_ping()
            if ping_at is not None:
                wake_at = min(wake_at, ping_at)
            self._event.wait(max(0.0, wake_at - self.clock()))
            if self._event.is_set():
                self._event.clear()
                self._run_commands()
                if self._stop.is_set():
                    break
                self._apply(self.trigger.value, "trigger")
            now = self.clock()
            if now >= next_tick:
                self._tick()
                next_tick += self.config.cycle_seconds
                if next_tick <= now:  # after a stall (suspend, overload): no burst of ticks
                    next_tick = now + self.config.cycle_seconds
            ping_at = self._next_ping()
            if ping_at is not None and now >= ping_at:
                # CYCLE_SECONDS may be longer than half of WatchdogSec: ping between ticks too.
                self._ping()
        self.notifier.stopping()
        log.info("stopping")

    def _apply(self, trigger: bool, why: str) -> None:
        """wanted = ``trigger`` OR :attr:`latch`; handed to every worker when it changes (and at start)."""
        wanted = (bool(trigger) or self.latch) and self.hold is None
        if wanted != self.wanted or why == "start":
            if wanted != self.wanted:
                if why.startswith("record"):
                    self._repeating.info("%s: recording %s", why, "wanted" if wanted else "not wanted")
                elif self.hold is not None and not wanted:
                    self._repeating.warning("%s: recording not wanted, whatever the triggers say", self.hold)
                else:
                    self._repeating.info("trigger %s: recording %s", "on" if wanted else "off",
                                         "wanted" if wanted else "not wanted")
            self.wanted = wanted
            for w in self.workers:
                w.set_wanted(wanted)

    def _ready(self) -> None:
        """``READY=1``; when it is dropped (systemd not reading) it goes again at the next tick."""
        self._ready_pending = self.notifier.ready() is False

    def _tick(self) -> None:
        self.cycle += 1
        if self._ready_pending:
            self._ready()
        # Safety net beside the event sources: a missed inotify event is caught within a cycle.
        self._apply(self.trigger.value, "tick")
        check_every = self.config.check_status
        if check_every and self.cycle % check_every == 0:
            for w in self.workers:
                w.request_check()
        self._publish()
        for name, seconds in self.publishers.stalled(PUBLISHER_STALL_S):
            self._repeating.warning("publisher %s has been stuck in one publish for %.0f s; the cameras "
                                    "are not affected, its output is stale", name, seconds)
        self._ping()
        flush_all()          # repeated log lines held back (camrig.logutil): their summaries

    def _next_ping(self) -> float | None:
        """Monotonic time the next watchdog ping is due (None: systemd does not watch us)."""
        interval = getattr(self.notifier, "watchdog_interval", None)
        if not interval:
            return None
        if self._ping_retry_at is not None:
            return self._ping_retry_at
        if self._last_ping is None:
            return self.clock()
        # WATCHDOG_USEC/2 is the notifier's interval; ping at half of that again for slack.
        return self._last_ping + interval / 2

    def _ping(self) -> None:
        """``WATCHDOG=1``, sent only from the main loop and only while every worker thread lives:
        a hung loop (or a dead worker) stops the pings and systemd restarts the daemon."""
        if getattr(self.notifier, "watchdog_interval", None) is None:
            return  # no WatchdogSec=, or WATCHDOG_PID names another process: nobody to ping
        if all(w.alive for w in self.workers):
            if self.notifier.watchdog() is not False:
                self._ping_retry_at = None
                self._last_ping = self.clock()
                return
            # Dropped (systemd's socket full) or failed: not a ping systemd got, so the schedule
            # does not move on; it is sent again at the next tick.
        else:
            dead = [w.name for w in self.workers if not w.alive]
            self._repeating.error("worker thread(s) not running: %s; withholding the watchdog ping", ", ".join(dead))
        # Look again at the next tick (or sooner, for a short WatchdogSec=), never in a busy loop.
        interval = self.notifier.watchdog_interval
        self._ping_retry_at = self.clock() + min(self.config.cycle_seconds, interval / 4)

    # --- outputs ------------------------------------------------------------------------------

    def wanted_by(self) -> list[str]:
        """Why recording is wanted now: the active trigger kinds (``pin``, ``file``) and who set
        the record latch: ``button`` (RECORD_BCM_PIN) or ``remote`` (the control socket, MQTT);
        empty while recording is not wanted (the triggers are then not read again: a read of the
        trigger file goes through its settle filter, and the loop's own reads are enough)."""
        why: list[str] = []
        if not self.wanted:
            return why
        for kind, trigger in trigger_sources(self.trigger):
            try:
                active = bool(trigger.value)
            except Exception:   # a closed or broken trigger: it wants nothing
                active = False
            if active and kind not in why:
                why.append(kind)
        if self.latch:
            why.append(self.latch_source or "latch")
        return why

    def snapshot(self) -> dict:
        """The status file's content (docs/contracts.md, "Status snapshot")."""
        return {
            "updated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "wanted": self.wanted,
            "wanted_by": self.wanted_by(),
            "triggers": repr(self.trigger),
            "network_mode": self.config.network_mode,
            "cameras": [w.snapshot() for w in self.workers],
            **self._extras(),
        }

    def _extras(self) -> dict:
        """:attr:`snapshot_extras` evaluated (``hold`` too, while set); one that raises is logged and left out."""
        out: dict[str, Any] = {"hold": self.hold} if self.hold is not None else {}
        for key, fn in list(self.snapshot_extras.items()):
            try:
                out[key] = fn()
            except Exception:
                self._repeating.exception("snapshot part %r failed; left out", key)
        return out

    def _publish(self, force: bool = False) -> None:
        """Hand a fresh snapshot to every publisher; returns at once (a publisher that may block
        runs in its own thread). ``force``: the status file is written even if nothing changed
        (start, reload, exit); otherwise when something changed, and at least every 10 s."""
        snap = self.snapshot()
        self.last_snapshot = snap
        self.publishers.publish(snap, force=force)

    def _set_status_path(self, path: str | None) -> None:
        """STATUS_PATH changed on a reload: the status file publisher follows it."""
        if path == self.status_path:
            return
        self.status_path = path
        self.publishers.replace(StatusFilePublisher.name, StatusFilePublisher(path) if path else None)

    # --- commands (on the loop) ---------------------------------------------------------------

    def _run_commands(self) -> None:
        """Run every posted command, in order, answering each (never raises)."""
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                return
            handler = self._handlers.get(cmd.name) or getattr(self, f"_cmd_{cmd.name}", None)
            if handler is None:
                cmd.answer(Result(cmd.name, False, f"command {cmd.name!r} is not served by this daemon"))
                continue
            try:
                result = handler(cmd)
            except Exception as exc:  # a bug in one command must not end the loop
                log.exception("command %s from %s failed", cmd, cmd.source)
                result = Result(cmd.name, False, f"internal error: {exc!r}")
            if result is not None:      # None: the handler answers later (cmd.answer)
                cmd.answer(result)

    def _cmd_stop(self, cmd: Command) -> Result:
        self._stop.set()
        return Result("stop", True, "stopping")

    def _cmd_reload(self, cmd: Command) -> Result:
        return self._do_reload()

    def _cmd_record(self, cmd: Command) -> Result:
        mode = cmd.args[0]
        self.latch = mode == "on"
        self.latch_source = ("button" if cmd.source == "button" else "remote") if self.latch else None
        trigger = bool(self.trigger.value)
        self._apply(trigger, f"record {mode}")
        self._publish()
        cameras = {w.name: CameraResult(True, "recording wanted" if self.wanted else "recording not wanted")
                   for w in self.workers}
        wanted_by = self.wanted_by()
        if mode == "off" and trigger:
            return Result("record", False, f"latch cleared, but recording is still wanted by the trigger "
                          f"({', '.join(wanted_by) or 'trigger'}): 'off' never overrides a trigger", cameras)
        detail = (f"recording wanted by: {', '.join(wanted_by)}" if self.wanted
                  else f"recording not wanted: {self.hold}" if self.hold is not None
                  else "recording not wanted")
        return Result("record", True, detail, cameras)

    def _cmd_mark(self, cmd: Command) -> Result:
        """A HiLight on every recording camera, without waiting on any: ``worker.mark()`` queues it
        on the worker (sent once recording is confirmed; the JobHandle tells how it ended), or, for a
        worker without ``mark``, ``worker.hilight()``; a worker with neither answers "not supported
        by this build"."""
        cameras = {}
        for w in self.workers:
            recording = w.snapshot().get("state") == State.RECORDING.value
            mark = getattr(w, "mark", None)
            if callable(mark) and recording:
                handle = mark()
                failed = handle.state.value in ("failed", "cancelled")
                cameras[w.name] = CameraResult(not failed, handle.error if failed else
                                               "HiLight queued (sent by the camera's worker)")
                continue
            hilight = getattr(w, "hilight", None)
            if not callable(hilight) and not callable(mark):
                cameras[w.name] = CameraResult(False, "HiLight not supported by this build")
            elif not recording:
                cameras[w.name] = CameraResult(False, "not recording: no HiLight")
            elif callable(hilight):         # (a recording worker with mark() was answered above)
                try:
                    hilight()
                    cameras[w.name] = CameraResult(True, "HiLight asked for")
                except CamRigError as exc:
                    cameras[w.name] = CameraResult(False, exc.detail)
        ok = any(r.ok for r in cameras.values())
        marked = [n for n, r in cameras.items() if r.ok]
        return Result("mark", ok, f"HiLight asked for on {', '.join(marked)}" if ok
                      else "no camera took a HiLight", cameras)

    def _cmd_offload(self, cmd: Command) -> Result:
        why = "offload is not implemented yet"
        return Result("offload", False, why, {w.name: CameraResult(False, why) for w in self.workers})

    # --- reload -------------------------------------------------------------------------------

    def _do_reload(self) -> Result:
        """SIGHUP / ``reload``: read the config again and apply it without dropping a recording.

        A config error keeps the running configuration. The assembly plans the reload
        (:meth:`camrig.app.Assembly.plan_reload`) and carries it out
        (:meth:`~camrig.app.Assembly.apply`): the trigger is rebuilt when its settings changed
        (the old one restored if the new one cannot be opened); a camera whose entry changed (or
        every camera, when NETWORK_MODE changed) gets a new worker, which finds the camera
        recording and leaves it so; removed cameras' workers stop without a shutter; cameras that
        did not change keep their worker, its connection and its state, and take the new
        timeouts and KEEP_AWAKE in place.
        """
        if self.reload is None or self.assembly is None:
            log.error("reload asked for, but this controller has no %s; keeping the running configuration",
                      "config loader" if self.reload is None else "assembly to apply it")
            return Result("reload", False, "reload is not available in this process")
        self.notifier.reloading()
        try:
            new = self.reload()
        except CamRigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self._ready()
            return Result("reload", False, f"refused, the running configuration stays: {exc}")
        try:
            for warning in new.warnings:
                log.warning("config: %s", warning)
            plan = self.assembly.plan_reload(self.config, new)
            applied = self.assembly.apply(plan, trigger=self.trigger, on_trigger=self._on_trigger,
                                          wanted=self.wanted)
            self.trigger = applied.trigger
            self.workers = applied.workers
            self.config = applied.config
            if self._status_path_from_config:
                self._set_status_path(applied.config.status_path)
            logging.getLogger().setLevel(getattr(logging, applied.config.log_level.upper(), logging.INFO))
            log.info("configuration reloaded from %s (%s)", new.source,
                     "changed: " + ", ".join(k.upper() for k in plan.changed) if plan.changed else "no change")
            self._apply(self.trigger.value, "reload")
            self._publish(force=True)
            cameras = {name: CameraResult(not what.startswith(("kept (", "not added")), what)
                       for name, what in applied.cameras.items()}
            return Result("reload", not applied.errors,
                          plan.describe() + (f"; errors: {'; '.join(applied.errors)}" if applied.errors else ""),
                          cameras)
        except Exception as exc:  # a bug must not take the running daemon down with it
            log.exception("reload failed half-way; carrying on with what runs")
            return Result("reload", False, f"failed half-way ({exc!r}); carrying on with what runs")
        finally:
            self._ready()

    def shutdown(self, *, stop_recordings: bool, timeout: float = 3.0) -> None:
        """Close the triggers, stop the workers within ``timeout`` seconds, write the last status.

        With ``stop_recordings`` (``ON_EXIT = "stop"``) every camera is told to stop first; by
        default (``"leave"``) cameras keep recording, so a daemon restart never cuts a lap short.
        Commands still queued are answered ("the daemon is stopping"); the publishers get the
        last snapshot and are closed (at most 1 s more: a hung status write is left behind).
        """
        try:
            self.trigger.close()
        except Exception:
            log.exception("closing the trigger failed")
        deadline = self.clock() + timeout
        if stop_recordings:
            for w in self.workers:
                w.set_wanted(False)
            while self.clock() < deadline and any(
                    w.snapshot()["state"] == State.RECORDING.value for w in self.workers):
                time.sleep(0.05)
        for w in self.workers:
            w.stop(timeout=max(0.05, deadline - self.clock()) / max(1, len(self.workers)))
        while True:
            try:
                cmd = self._commands.get_nowait()
            except queue.Empty:
                break
            cmd.answer(Result(cmd.name, cmd.name == "stop", "the daemon is stopping"))
        self._publish(force=True)
        self.publishers.close(timeout=1.0)
