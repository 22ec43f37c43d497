"""The controller: one main loop from triggers to workers, and everything people see.

It wakes on a trigger event (at once: GPIO edge callback, inotify) or on its
cycle tick (``CYCLE_SECONDS``, 1 s), hands *wanted* to every worker in one
pass (each worker's thread sends its shutter in parallel), asks every worker
for a status check every ``CHECK_STATUS`` cycles, publishes the status file
and the systemd ``STATUS=`` line, and pings the watchdog only while the loop
itself makes progress. Signal handlers only set flags; this loop decides.
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
                 reload: Callable[[], Config] | None = None):
        self.config = config
        self.workers = list(workers)
        self.trigger = trigger
        self.notifier = notifier
        self.status_path = status_path if status_path is not None else config.status_path
        self.clock = clock
        self.reload = reload
        self.wanted = False
        self.cycle = 0
        self._event = threading.Event()
        self._stop = threading.Event()
        self._reload_requested = False
        self._last_published: tuple | None = None
        self._last_written = 0.0
        self._status_error: str | None = None
        self._last_summary: str | None = None

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
        self.notifier.ready()
        log.info("ready: %d camera(s), trigger %r, wanted=%s", len(self.workers), self.trigger, self.wanted)
        self._publish(force=True)
        next_tick = self.clock() + self.config.cycle_seconds
        while not self._stop.is_set():
            self._event.wait(max(0.0, next_tick - self.clock()))
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
        self.notifier.stopping()
        log.info("stopping")

    def _apply(self, wanted: bool, why: str) -> None:
        if wanted != self.wanted or why == "start":
            if wanted != self.wanted:
                log.info("trigger %s: recording %s", "on" if wanted else "off", "wanted" if wanted else "not wanted")
            self.wanted = wanted
            for w in self.workers:
                w.set_wanted(wanted)

    def _tick(self) -> None:
        self.cycle += 1
        # Safety net beside the event sources: a missed inotify event is caught within a cycle.
        self._apply(self.trigger.value, "tick")
        check_every = self.config.check_status
        if check_every and self.cycle % check_every == 0:
            for w in self.workers:
                w.request_check()
        self._publish()
        if all(w.alive for w in self.workers):
            self.notifier.watchdog()
        else:
            dead = [w.name for w in self.workers if not w.alive]
            log.error("worker thread(s) not running: %s; withholding the watchdog ping", ", ".join(dead))

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
        if summary != self._last_summary:
            self.notifier.status(summary)
            self._last_summary = summary
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
        if self.reload is None:
            return
        self.notifier.reloading()
        try:
            new = self.reload()
            kept = [k for k in ("cameras", "network_mode", "gpio_bcm_pin", "trigger_path", "gpio_pin_factory")
                    if getattr(new, k) != getattr(self.config, k)]
            if kept:
                log.warning("reload: %s changed; that takes a restart (systemctl restart gopro-manager), "
                            "the running values stay", ", ".join(k.upper() for k in kept))
                new = dataclasses.replace(new, **{k: getattr(self.config, k) for k in kept})
            self.config = new
            log.info("configuration reloaded from %s", self.config.source)
        except CamRigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
        finally:
            self.notifier.ready()

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
