"""The controller: one main loop from triggers to workers, and everything people see.

It wakes on a trigger event (at once: GPIO edge callback, inotify) or on its
cycle tick (``CYCLE_SECONDS``, 1 s), hands *wanted* to every worker in one
pass (each worker's thread sends its shutter in parallel), asks every worker
for a status check every ``CHECK_STATUS`` cycles, publishes the status file
and the systemd ``STATUS=`` line, and pings the watchdog only while the loop
itself makes progress. Signal handlers only set flags; this loop decides.

Nothing here waits on anything slow: notifications to systemd never block
(a dropped ``WATCHDOG=1``, ``STATUS=`` or ``READY=1`` is sent again at the
next tick), and a worker replaced by a reload is not waited for.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import threading
import time
from typing import Callable, Sequence

from .config import Config
from .errors import CamRigError
from .logutil import flush_all, limit_repeats
from .status import write_status
from .worker import CameraWorker, State

log = logging.getLogger(__name__)


def summary_line(rows: Sequence[dict]) -> str:
    """The systemd ``STATUS=`` text: ``3/4 recording; rear: waking``.

    Counts cameras recording out of all; names each camera that is not in the
    state wanted of it (with its state, and its last error when it has one).
    """
    recording = sum(1 for r in rows if r.get("recording") and r.get("state") == State.RECORDING.value)
    parts = [f"{recording}/{len(rows)} recording"]
    for r in rows:
        good = State.RECORDING.value if r.get("wanted") else State.IDLE.value
        if r.get("state") != good and not (not r.get("wanted") and r.get("state") == State.ASLEEP.value):
            state = r.get("state")
            if r.get("step"):
                state = f"{state} ({r['step']})"
            parts.append(f"{r.get('name')}: {state}")
        elif r.get("degraded"):
            parts.append(f"{r.get('name')}: degraded")
    return "; ".join(parts)


class Controller:
    """Run the daemon's main loop until :meth:`request_stop`.

    ``workers`` are started CameraWorkers (or objects with their interface);
    ``trigger`` has ``value``/``start(on_change)``/``close()``; ``notifier`` is
    a :class:`camrig.systemd.Notifier`. ``status_path`` None disables the file.
    """

    def __init__(self, config: Config, workers: Sequence[CameraWorker], trigger, notifier, *,
                 status_path: str | None = None, clock: Callable[[], float] = time.monotonic,
                 reload: Callable[[], Config] | None = None, assembly=None):
        self.config = config
        self.workers = list(workers)
        self.trigger = trigger
        self.notifier = notifier
        self._status_path_from_config = status_path is None
        self.status_path = status_path if status_path is not None else config.status_path
        self.clock = clock
        self.reload = reload
        #: camrig.app.Assembly: lets a reload rebuild the trigger and replace workers. Without
        #: it a reload takes only the settings that need no new parts.
        self.assembly = assembly
        self._last_ping: float | None = None
        self._ping_retry_at: float | None = None    # a WATCHDOG=1 was dropped: send it again then
        self._ready_pending = False                 # a READY=1 was dropped: send it at the next tick
        self.wanted = False
        self.cycle = 0
        self._event = threading.Event()
        self._stop = threading.Event()
        self._reload_requested = False
        self._last_published: tuple | None = None
        self._last_written = 0.0
        self._status_error: str | None = None
        self._last_summary: str | None = None
        #: for the lines a chattering trigger or a dead worker repeat every change / every cycle
        self._repeating = limit_repeats(log)

    def __repr__(self) -> str:
        return f"<Controller wanted={self.wanted} cycle={self.cycle} cameras={len(self.workers)}>"

    # Called from signal handlers and other threads: set a flag, wake the loop, nothing more.
    def request_stop(self) -> None:
        self._stop.set()
        self._event.set()

    def request_reload(self) -> None:
        self._reload_requested = True
        self._event.set()

    def _on_trigger(self) -> None:
        self._event.set()

    def run(self) -> None:
        """The main loop; returns after :meth:`request_stop`. Never raises for a camera's problem."""
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
                if self._stop.is_set():
                    break
                self._apply(self.trigger.value, "trigger")
                if self._reload_requested:
                    self._reload_requested = False
                    self._do_reload()
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

    def _apply(self, wanted: bool, why: str) -> None:
        if wanted != self.wanted or why == "start":
            if wanted != self.wanted:
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

    def snapshot(self) -> dict:
        """The status file's content (docs/contracts.md, "Status snapshot")."""
        return {
            "updated": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "pid": os.getpid(),
            "wanted": self.wanted,
            "triggers": repr(self.trigger),
            "network_mode": self.config.network_mode,
            "cameras": [w.snapshot() for w in self.workers],
        }

    def _publish(self, force: bool = False) -> None:
        snap = self.snapshot()
        rows = snap["cameras"]
        key = (snap["wanted"], tuple(tuple(sorted((k, str(v)) for k, v in r.items() if k != "last_seen"))
                                     for r in rows))
        now = self.clock()
        summary = summary_line(rows)
        if summary != self._last_summary and self.notifier.status(summary) is not False:
            self._last_summary = summary            # a dropped STATUS= goes again at the next tick
        # Write when something changed, and at least every 10 s so "last seen" stays fresh.
        if not force and key == self._last_published and now - self._last_written < 10.0:
            return
        self._last_published = key
        self._last_written = now
        if not self.status_path:
            return
        try:
            write_status(self.status_path, snap)
            if self._status_error:
                log.info("status file %s writable again", self.status_path)
            self._status_error = None
        except CamRigError as exc:
            if str(exc) != self._status_error:
                log.warning("status file not written: %s", exc)
            self._status_error = str(exc)

    def _do_reload(self) -> None:
        """SIGHUP: read the config again and apply it without dropping a recording.

        A config error keeps the running configuration. With an
        :attr:`assembly`: the trigger is rebuilt when its settings changed
        (and the old one restored if the new one cannot be opened); a camera
        whose entry changed (or every camera, when NETWORK_MODE changed) gets
        a new worker, which finds the camera recording and leaves it so;
        removed cameras' workers stop without a shutter; cameras that did not
        change keep their worker, its connection and its state, and take the
        new timeouts and KEEP_AWAKE in place.
        """
        if self.reload is None:
            return
        self.notifier.reloading()
        try:
            new = self.reload()
        except CamRigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            self._ready()
            return
        try:
            for warning in new.warnings:
                log.warning("config: %s", warning)
            old = self.config
            changed = [f.name for f in dataclasses.fields(Config)
                       if f.compare and getattr(new, f.name) != getattr(old, f.name)]
            if self.assembly is None:
                new = self._reload_settings_only(new, old)
            else:
                new = self._reload_parts(new, old)
            self.config = new
            if self._status_path_from_config:
                self.status_path = new.status_path
            logging.getLogger().setLevel(getattr(logging, new.log_level.upper(), logging.INFO))
            log.info("configuration reloaded from %s (%s)", new.source,
                     "changed: " + ", ".join(k.upper() for k in changed) if changed else "no change")
            self._apply(self.trigger.value, "reload")
            self._publish(force=True)
        except Exception:  # a bug must not take the running daemon down with it
            log.exception("reload failed half-way; carrying on with what runs")
        finally:
            self._ready()

    def _reload_settings_only(self, new: Config, old: Config) -> Config:
        kept = [k for k in ("cameras", "network_mode", "gpio_bcm_pin", "gpio_bounce_time",
                            "trigger_path", "gpio_pin_factory")
                if getattr(new, k) != getattr(old, k)]
        if kept:
            log.warning("reload: %s changed; that takes a restart (systemctl restart gopro-manager), "
                        "the running values stay", ", ".join(k.upper() for k in kept))
            new = dataclasses.replace(new, **{k: getattr(old, k) for k in kept})
        for w in self.workers:
            w.keep_awake = new.keep_awake
        return new

    def _reload_parts(self, new: Config, old: Config) -> Config:
        from .app import TRIGGER_SETTINGS  # the assembly's module; imported late (no cycle)

        assembly = self.assembly
        if any(getattr(new, k) != getattr(old, k) for k in TRIGGER_SETTINGS):
            new = self._replace_trigger(new, old, TRIGGER_SETTINGS)
        mode_changed = new.network_mode != old.network_mode
        assembly.configure(new)
        running = {w.name: w for w in self.workers}
        workers, fresh, retire = [], [], []
        for cam in new.cameras:
            w = running.pop(cam.name, None)
            if w is not None and w.camera == cam and not mode_changed:
                assembly.update(w, new)
                workers.append(w)
                continue
            if w is not None:
                log.info("reload: %s: %s; replacing its worker (a recording goes on)", cam.name,
                         "NETWORK_MODE changed" if mode_changed else "camera entry changed")
                retire.append(w)
            else:
                log.info("reload: %s: new camera", cam.name)
            nw = assembly.worker(new, cam)
            nw.set_wanted(self.wanted)
            workers.append(nw)
            fresh.append(nw)
        for w in running.values():
            log.info("reload: %s: no longer in GOPROS; its worker stops (the camera is left as it is)",
                     w.name)
            retire.append(w)
        # Retiring never waits (a hung camera's exchange would stall every camera's trigger): the
        # old worker sends nothing more, and its successor waits for it to end before it talks.
        for w in retire:
            assembly.retire(w)
        self.workers = workers
        for w in fresh:
            w.start()
        return new

    def _replace_trigger(self, new: Config, old: Config, settings: Sequence[str]) -> Config:
        """Close the running trigger, open the one ``new`` asks for; if that fails, reopen the
        old one and keep its settings. Returns the config that now holds."""
        try:
            self.trigger.close()
        except Exception:
            log.exception("closing the trigger failed")
        try:
            trigger = self.assembly.trigger(new)
            log.info("reload: trigger is now %r", trigger)
        except CamRigError as exc:
            log.error("reload: the new trigger cannot be used (%s); keeping the running trigger", exc)
            new = dataclasses.replace(new, **{k: getattr(old, k) for k in settings})
            try:
                trigger = self.assembly.trigger(old)
            except CamRigError as exc2:
                from .trigger import FileTrigger
                path = old.trigger_path or new.trigger_path or Config.__dataclass_fields__["trigger_path"].default
                log.error("reload: the running trigger cannot be reopened either (%s); "
                          "carrying on with the trigger file %s only", exc2, path)
                trigger = FileTrigger(path)
                new = dataclasses.replace(new, gpio_bcm_pin=None, trigger_path=path)
        self.trigger = trigger
        self.trigger.start(self._on_trigger)
        return new

    def shutdown(self, *, stop_recordings: bool, timeout: float = 3.0) -> None:
        """Close the triggers and stop the workers within ``timeout`` seconds.

        With ``stop_recordings`` (``ON_EXIT = "stop"``) every camera is told to
        stop first; by default (``"leave"``) cameras keep recording, so a
        daemon restart never cuts a lap short.
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
        self._publish(force=True)
