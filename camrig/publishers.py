"""Outputs: publishers fed the controller's snapshot.

Every output of the daemon (the status file, the systemd ``STATUS=`` line; later the status LED
and MQTT) is a :class:`Publisher`: it is handed the same snapshot dict (docs/contracts.md,
"Status snapshot") at every cycle tick and decides for itself what to do with it (write when it
changed, send when the text changed, re-send what was dropped).

A publisher that is slow or down never delays a shutter (DESIGN.md "The shape"): the controller
hands snapshots to a :class:`Publishers` set, which gives each publisher that may block a thread
of its own fed through a one-slot mailbox (:class:`MailboxRunner`): the loop drops the newest
snapshot into the slot and goes on; a publisher still busy with an older one later gets the
newest, and the snapshots in between are skipped (counted in ``skipped``). A publisher that
declares ``nonblocking = True`` (it has been shown never to block, like the sd_notify client,
which sends with ``MSG_DONTWAIT``) is called on the loop directly.

Measured (status file of 4 cameras, ``write_status`` with its fsync, 50 writes, ext4 on the
development VM): median 0.7 ms, worst 1.3 ms; tmpfs 0.1 ms. That is fast, but the fsync on a
Raspberry Pi's SD card, or on a file system that hangs, is not bounded at all, so the status
file gets a thread of its own all the same.

The watchdog (``WATCHDOG=1``) and ``READY=1`` are not publishers: a watchdog ping says that the
loop itself makes progress, so it must be sent from the loop (camrig/controller.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

from .errors import CamRigError
from .logutil import limit_repeats
from .status import write_status

log = logging.getLogger(__name__)

#: state values the summary line compares with (camrig.worker.State's values; not imported here so
#: that a publisher needs nothing from the worker).
_RECORDING, _IDLE, _ASLEEP = "recording", "idle", "asleep"


@runtime_checkable
class Publisher(Protocol):
    """One output of the daemon.

    ``name``: short, for logs and thread names (``status-file``, ``systemd-status``).
    ``publish(snapshot)``: take the newest snapshot (a dict, docs/contracts.md "Status
    snapshot"); must not raise for an output that is down (log it and carry on). ``close()``:
    release what it holds (called once, at exit). Optional: ``nonblocking = True`` (called on the
    loop, so it must never block), ``refresh()`` (the next :meth:`publish` writes even an
    unchanged snapshot).
    """

    name: str

    def publish(self, snapshot: dict) -> None: ...

    def close(self) -> None: ...


def summary_line(rows: Sequence[dict]) -> str:
    """The systemd ``STATUS=`` text: ``3/4 recording; rear: waking``.

    ``rows`` are the snapshot's ``cameras``. Counts cameras recording out of all; names each camera
    that is not in the state wanted of it (with its state and step), each one recording on the
    driver's belief only (``recording_confirmed`` False: ``front: recording unconfirmed``), and each
    one degraded.
    """
    recording = sum(1 for r in rows if r.get("recording") and r.get("state") == _RECORDING)
    parts = [f"{recording}/{len(rows)} recording"]
    for r in rows:
        good = _RECORDING if r.get("wanted") else _IDLE
        if r.get("state") != good and not (not r.get("wanted") and r.get("state") == _ASLEEP):
            state = r.get("state")
            if r.get("step"):
                state = f"{state} ({r['step']})"
            parts.append(f"{r.get('name')}: {state}")
        elif r.get("recording") and r.get("recording_confirmed") is False:
            parts.append(f"{r.get('name')}: recording unconfirmed")
        elif r.get("degraded"):
            parts.append(f"{r.get('name')}: degraded")
    return "; ".join(parts)


def change_key(snapshot: dict) -> str:
    """What of ``snapshot`` counts as a change: everything but the times that move by themselves
    (``updated``, each camera's ``last_seen``). A string (JSON, keys sorted, odd values str()-ed)."""
    rows = snapshot.get("cameras")
    stripped = {k: v for k, v in snapshot.items() if k not in ("updated", "cameras")}
    if isinstance(rows, list):
        stripped["cameras"] = [{k: v for k, v in r.items() if k != "last_seen"} if isinstance(r, dict) else r
                               for r in rows]
    return json.dumps(stripped, sort_keys=True, default=str)


class StatusFilePublisher:
    """The status file (``STATUS_PATH``, read by ``gopro_manager.py status``), written atomically
    by :func:`camrig.status.write_status` when the snapshot changed (:func:`change_key`) and at
    least every :attr:`REFRESH_S` seconds, so that "last seen" and ``updated`` stay fresh.

    A write that fails (read-only or full file system, a directory made immutable) is logged once
    per distinct error, retried at the next change or refresh, and its recovery logged
    ("status file … writable again"). Blocks for as long as the file system does (fsync): run it
    behind a :class:`MailboxRunner` (the :class:`Publishers` set does).
    """

    name = "status-file"
    #: seconds between writes of an unchanged snapshot
    REFRESH_S = 10.0

    def __init__(self, path: str, *, clock: Callable[[], float] = time.monotonic):
        self.path = path
        self.clock = clock
        self._last_key: str | None = None
        self._last_written = 0.0
        self.error: str | None = None
        self.writes = 0

    def __repr__(self) -> str:
        return f"<StatusFilePublisher {self.path}{' failing' if self.error else ''}>"

    def refresh(self) -> None:
        """Write the next snapshot even when it did not change (start, reload, exit)."""
        self._last_key = None

    def publish(self, snapshot: dict) -> None:
        key = change_key(snapshot)
        now = self.clock()
        if key == self._last_key and now - self._last_written < self.REFRESH_S:
            return
        self._last_key = key
        self._last_written = now
        try:
            write_status(self.path, snapshot)
            self.writes += 1
            if self.error:
                log.info("status file %s writable again", self.path)
            self.error = None
        except CamRigError as exc:
            if str(exc) != self.error:
                log.warning("status file not written: %s", exc)
            self.error = str(exc)

    def close(self) -> None:
        """Nothing held between writes (each write opens and closes its file)."""


class SystemdStatusPublisher:
    """The one-line ``STATUS=`` systemd shows in ``systemctl status`` (:func:`summary_line`), sent
    when the text changes; one that was not sent (systemd's socket full, no systemd) is sent again
    with the next snapshot. Never blocks (:class:`camrig.systemd.Notifier` sends with
    ``MSG_DONTWAIT``), so it runs on the controller's loop (``nonblocking``)."""

    name = "systemd-status"
    nonblocking = True

    def __init__(self, notifier):
        self.notifier = notifier
        self.last_sent: str | None = None

    def __repr__(self) -> str:
        return f"<SystemdStatusPublisher {self.last_sent!r}>"

    def publish(self, snapshot: dict) -> None:
        summary = summary_line(snapshot.get("cameras") or [])
        if summary != self.last_sent and self.notifier.status(summary) is not False:
            self.last_sent = summary

    def close(self) -> None:
        """The notifier belongs to the controller (it also sends READY=1, WATCHDOG=1, STOPPING=1)."""


class MailboxRunner:
    """Runs one :class:`Publisher` in a thread of its own (``pub-NAME``), fed through a one-slot
    mailbox: :meth:`publish` puts the snapshot in the slot (replacing one not yet taken, counted in
    :attr:`skipped`) and returns at once, whatever the publisher is doing.

    ``force`` (kept in the slot until taken, even when a newer snapshot replaces it) calls the
    publisher's ``refresh()`` first, when it has one. An exception from the publisher is logged
    (once per repeat window) and the thread carries on with the next snapshot.
    """

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self.name = getattr(publisher, "name", type(publisher).__name__)
        self._cond = threading.Condition()
        self._slot: dict | None = None
        self._force = False
        self._closing = False
        self._busy_since: float | None = None
        self.skipped = 0          # snapshots replaced in the slot before the publisher took them
        self.delivered = 0
        self._log = limit_repeats(log)
        self._thread = threading.Thread(target=self._run, name=f"pub-{self.name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"<MailboxRunner {self.publisher!r} delivered={self.delivered} skipped={self.skipped}>"

    def publish(self, snapshot: dict, *, force: bool = False) -> None:
        """Hand over the newest snapshot; never blocks (beyond a lock held for a few instructions)."""
        with self._cond:
            if self._closing:
                return
            if self._slot is not None:
                self.skipped += 1
            self._slot = snapshot
            self._force = self._force or force
            self._cond.notify()

    def busy_for(self, now: float | None = None) -> float:
        """Seconds the publisher has been inside its current ``publish`` (0.0 when idle)."""
        since = self._busy_since
        if since is None:
            return 0.0
        return max(0.0, (time.monotonic() if now is None else now) - since)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._closing:
                    self._cond.wait()
                if self._slot is None:           # closing, and nothing left to deliver
                    break
                snapshot, force = self._slot, self._force
                self._slot, self._force = None, False
                self._busy_since = time.monotonic()
            try:
                if force and hasattr(self.publisher, "refresh"):
                    self.publisher.refresh()
                self.publisher.publish(snapshot)
                self.delivered += 1
            except Exception:  # an output's bug must not end its thread (nor touch the cameras)
                self._log.exception("publisher %s failed; it gets the next snapshot", self.name)
            finally:
                self._busy_since = None
        try:
            self.publisher.close()
        except Exception:
            log.exception("closing publisher %s failed", self.name)

    def close(self, timeout: float = 1.0) -> bool:
        """Deliver the snapshot still in the slot, close the publisher, end the thread; waits at most
        ``timeout`` seconds (a publisher hung in a write is left behind: a daemon thread). Returns
        True when the thread ended."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive()


class _Inline:
    """A nonblocking publisher called on the loop, with the runner's interface."""

    def __init__(self, publisher: Publisher):
        self.publisher = publisher
        self.name = getattr(publisher, "name", type(publisher).__name__)
        self._log = limit_repeats(log)

    def __repr__(self) -> str:
        return f"<inline {self.publisher!r}>"

    def publish(self, snapshot: dict, *, force: bool = False) -> None:
        try:
            if force and hasattr(self.publisher, "refresh"):
                self.publisher.refresh()
            self.publisher.publish(snapshot)
        except Exception:
            self._log.exception("publisher %s failed; it gets the next snapshot", self.name)

    def busy_for(self, now: float | None = None) -> float:
        return 0.0

    def close(self, timeout: float = 1.0) -> bool:
        try:
            self.publisher.close()
        except Exception:
            log.exception("closing publisher %s failed", self.name)
        return True


class Publishers:
    """The controller's outputs: every publisher gets every snapshot; none can hold up the loop.

    ``publishers``: :class:`Publisher` objects; each runs behind a :class:`MailboxRunner` unless
    it says ``nonblocking = True``. Names must be unique (ValueError otherwise): :meth:`replace`
    finds a publisher by name.
    """

    def __init__(self, publishers: Iterable[Publisher] = ()):
        self._runners: list[MailboxRunner | _Inline] = []
        for p in publishers:
            self.add(p)

    def __repr__(self) -> str:
        return f"<Publishers {[r.name for r in self._runners]}>"

    def __iter__(self):
        return (r.publisher for r in self._runners)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self._runners]

    def add(self, publisher: Publisher) -> None:
        """Start feeding ``publisher`` (ValueError if one of that name is there already)."""
        name = getattr(publisher, "name", type(publisher).__name__)
        if name in self.names:
            raise ValueError(f"a publisher named {name!r} is already registered")
        runner = _Inline(publisher) if getattr(publisher, "nonblocking", False) else MailboxRunner(publisher)
        self._runners.append(runner)

    def remove(self, name: str, timeout: float = 1.0) -> None:
        """Stop feeding the publisher called ``name`` and close it (without waiting past ``timeout``)."""
        for runner in list(self._runners):
            if runner.name == name:
                self._runners.remove(runner)
                runner.close(timeout)

    def replace(self, name: str, publisher: Publisher | None, timeout: float = 0.0) -> None:
        """Swap the publisher called ``name`` for ``publisher`` (None: just remove it). The old one
        gets what is in its slot and closes in its own time (``timeout`` 0: not waited for)."""
        self.remove(name, timeout)
        if publisher is not None:
            self.add(publisher)

    def publish(self, snapshot: dict, *, force: bool = False) -> None:
        """Hand ``snapshot`` to every publisher; ``force``: write even if unchanged. Never raises
        for a publisher's failure, never waits for a publisher that runs in its own thread."""
        for runner in self._runners:
            runner.publish(snapshot, force=force)

    def stalled(self, limit: float) -> list[tuple[str, float]]:
        """``(name, seconds)`` of each publisher inside one ``publish`` for more than ``limit`` s."""
        now = time.monotonic()
        return [(r.name, r.busy_for(now)) for r in self._runners if r.busy_for(now) > limit]

    def close(self, timeout: float = 1.0) -> None:
        """Deliver what is pending and close every publisher, within ``timeout`` seconds in all."""
        deadline = time.monotonic() + timeout
        runners, self._runners = self._runners, []
        for runner in runners:
            if not runner.close(max(0.0, deadline - time.monotonic())):
                log.warning("publisher %s did not finish within %.1f s at exit; left behind", runner.name, timeout)
