"""Assembly: from a validated Config to running parts, with every seam explicit.

This is the only place that picks the real implementations (pycurl over a
Link, gatttool, gpiozero's default pin factory). Tests and the emulated rig
use the same functions with the config pointing at emulators: there is no
silent fallback to a fake anywhere.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from .ble.loop import BleLoop, shared_ble_loop
from .cameras import registry
from .cameras.base import CameraParts, Shared
from .config import CameraConfig, Config
from .errors import CameraUnreachable, CamRigError, TriggerError
from .link import RouteTable
from .trigger import AnyTrigger, FileTrigger, GpioTrigger
from .wake import association_check
from .worker import CameraWorker

__all__ = ["Assembly", "CameraParts", "Shared", "association_check", "build_camera", "build_parts",
           "build_trigger", "build_worker", "build_workers", "setup_logging", "shared_ble_loop"]

log = logging.getLogger(__name__)

#: syslog priorities (sd-daemon(3)): a line starting "<4>" is a warning to journald.
PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalFormatter(logging.Formatter):
    """``<6>front: shutter on`` — priority prefix for journald; adds a timestamp
    and the level name only when stdout is not the journal (a terminal, a file)."""

    def __init__(self, journal: bool):
        super().__init__()
        self.journal = journal

    def format(self, record: logging.LogRecord) -> str:
        prio = PRIORITY.get(record.levelno, 6)
        msg = record.getMessage()
        if record.exc_info:
            msg += "\n" + self.formatException(record.exc_info)
        if self.journal:
            # journald splits on newlines: keep every continuation line at the same priority.
            return "\n".join(f"<{prio}>{line}" for line in msg.splitlines() or [""])
        stamp = self.formatTime(record, "%H:%M:%S") + f".{int(record.msecs):03d}"
        return f"<{prio}>{stamp} {record.levelname.lower():7s} {msg}"


def setup_logging(level: str = "info", stream=None) -> None:
    """Log to stdout (or ``stream``) with syslog priority prefixes, at ``level``."""
    stream = stream or sys.stdout
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JournalFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))


def build_camera(config: Config, cam: CameraConfig, *, route_table: RouteTable | None = None,
                 ble: Any = None, ble_loop: BleLoop | None = None, shared: Shared | None = None) -> CameraParts:
    """The parts for one camera: its family (:func:`camrig.cameras.registry.family_for_model`)
    builds them (:attr:`Family.build <camrig.cameras.registry.Family.build>`).

    ``shared`` is what the assembly's cameras share; without it one is made from ``route_table``,
    ``ble`` (the legacy family's gatttool runner, or None) and ``ble_loop`` (default: the
    process's :func:`shared_ble_loop`). Raises ConfigError naming the camera when its model has
    no family or its family cannot build it here (BLE needed and bleak/BlueZ missing).
    """
    family = registry.family_for_model(cam.model, camera=cam.name)
    if shared is None:
        shared = Shared(route_table, None if ble_loop is None else (lambda: ble_loop),
                        {} if ble is None else {"gopro_legacy": ble})
    return family.build(config, cam, shared)


def shared_parts(config: Config, *, route_table: RouteTable | None = None, previous: Shared | None = None) -> Shared:
    """What every camera of ``config`` shares: ``route_table`` and each family's own shared object
    (:attr:`Family.shared <camrig.cameras.registry.Family.shared>`), made anew or, given
    ``previous``, updated in place (a reload)."""
    shared = previous if previous is not None else Shared(route_table)
    shared.route_table = route_table
    for family in registry.families():
        if family.shared is not None:
            shared.family[family.name] = family.shared(config, shared.family.get(family.name))
    return shared


def build_parts(config: Config) -> list[CameraParts]:
    """Parts for every camera; one RouteTable shared in route mode, each family's shared object
    (the gatttool runner) shared by its cameras."""
    shared = shared_parts(config, route_table=RouteTable() if config.network_mode == "route" else None)
    return [build_camera(config, cam, shared=shared) for cam in config.cameras]


#: Open GoPro status ids whose BLE push makes the worker check the camera at once, instead of at
#: the next CHECK_STATUS: 10 encoding, 33 primary storage (Open GoPro spec, "Status IDs").
PUSH_CHECK_IDS = frozenset({10, 33})


def build_worker(config: Config, parts: CameraParts) -> CameraWorker:
    """The CameraWorker for one camera (not started). A camera with an Open GoPro BLE session has
    its status pushes (registered with query 0x53) wired to an immediate check: a camera that stops
    recording or reports a storage problem is corrected without waiting for the next check."""
    from .inputs.clock_sync import shared_clock_sync
    worker = CameraWorker(parts.camera, parts.driver, parts.waker, keep_awake=config.keep_awake,
                          clock_sync=shared_clock_sync(config.camera_clock))
    if parts.ble is not None:
        def on_push(values, worker=worker):
            if PUSH_CHECK_IDS.intersection(values):
                worker.request_check()
        parts.ble.on_push = on_push
    return worker


def build_workers(config: Config, parts: list[CameraParts]) -> list[CameraWorker]:
    """One CameraWorker per camera (not started)."""
    return [build_worker(config, p) for p in parts]


#: Config attributes that shape the trigger: a reload that changes one rebuilds the trigger.
TRIGGER_SETTINGS = ("gpio_bcm_pin", "gpio_bounce_time", "gpio_pin_factory", "trigger_path")
#: TRIGGER_PATH's default (a str: the fallback when no trigger opens).
DEFAULT_TRIGGER_PATH = cast(str, Config.__dataclass_fields__["trigger_path"].default)


@dataclass(frozen=True)
class ReloadPlan:
    """What a reload from ``old`` to ``new`` does (:meth:`Assembly.plan_reload`); names are camera
    names, each list in the order of ``new.cameras`` (``remove``: of ``old.cameras``).

    ``update``: unchanged cameras: they keep their worker, its connection and its state, and take
    the new timeouts and KEEP_AWAKE in place. ``replace``: cameras whose entry changed (all of
    them when NETWORK_MODE changed): a new worker, which finds the camera recording and leaves it
    so. ``add``: new cameras. ``remove``: cameras no longer in GOPROS: their worker stops without a
    shutter. ``trigger_changed``: one of :data:`TRIGGER_SETTINGS` changed: the trigger is rebuilt.
    ``network_mode_changed``: a new RouteTable. ``changed``: the Config attributes that differ.
    ``reasons``: why each camera in ``replace`` is replaced, for the log.
    """

    old: Config
    new: Config
    update: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    trigger_changed: bool = False
    network_mode_changed: bool = False
    changed: tuple[str, ...] = ()
    reasons: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for the log: ``replace rear; add side; trigger rebuilt`` (``no change``)."""
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("keep", self.update), ("replace", self.replace), ("add", self.add), ("remove", self.remove))
                 if names and what != "keep"]
        if self.trigger_changed:
            parts.append("trigger rebuilt")
        return "; ".join(parts) or "no camera or trigger change"


@dataclass
class Applied:
    """What :meth:`Assembly.apply` left running: ``config`` (``plan.new``, with the running trigger
    settings kept when the new trigger could not be opened), ``trigger`` (started), ``workers``
    (in GOPROS order, every one started), and per camera what happened (``kept``, ``replaced``,
    ``added``, ``removed``, or why it was not)."""

    config: Config
    trigger: object
    workers: list[CameraWorker]
    cameras: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

#: Seconds a replacement worker waits, at most, for the worker it replaces to end before it talks
#: to the camera itself. The old worker ends within its exchange in flight (``HTTP_TIMEOUT``, a BLE
#: step's ``BLE_TIMEOUT``); past this it is wedged, and the baton keeps it from sending anything.
HANDOVER_TIMEOUT = 15.0

#: Driver methods that touch nothing but our own state: allowed to a retired worker.
_LOCAL_CALLS = frozenset({"reset"})


class Retired(CameraUnreachable):
    """Raised inside a retired worker's thread when it tries to talk to its camera again: a reload
    gave the camera to a new worker, so nothing more is sent (no stale shutter)."""


@dataclass(eq=False)
class Baton:
    """Who may talk to one camera: passed from a retired worker to the worker replacing it.

    ``after`` is the predecessor's :attr:`done` (None for the first worker of a camera): the
    worker holding this baton waits for it (at most ``wait_limit`` seconds) before its first
    exchange, so two workers never talk to one camera at once. :meth:`retire` (any thread, never
    blocks) makes every later exchange of the holder raise :class:`Retired`; :attr:`done` is set
    once its thread has ended, its predecessor's too, and its parts are closed.
    """

    camera: str
    after: threading.Event | None = None
    wait_limit: float = HANDOVER_TIMEOUT
    retired: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def enter(self) -> None:
        """Before each exchange (in the worker's thread): wait for the predecessor to be done,
        then raise :class:`Retired` if this worker has been retired."""
        after = self.after
        if after is not None and not after.is_set():
            started = time.monotonic()
            while not after.wait(0.05):
                if self.retired:
                    break
                if time.monotonic() - started >= self.wait_limit:
                    log.warning("%s: the replaced worker is still inside an exchange after %.0f s; "
                                "the new worker talks to the camera anyway (the old one sends nothing more)",
                                self.camera, self.wait_limit)
                    break
            else:
                log.info("%s: the replaced worker's exchange in flight ended after %.1f s; "
                         "the new worker takes over", self.camera, time.monotonic() - started)
            self.after = None
        if self.retired:
            raise Retired("this worker was replaced by a reload; it sends nothing more", camera=self.camera)

    def retire(self) -> None:
        """From now on the holder sends nothing (an exchange already under way runs out)."""
        self.retired = True


class Guarded:
    """``target`` (a driver or a waker) with :meth:`Baton.enter` before every public call that
    may talk to the camera (every callable attribute but ``reset``, which only drops our own
    connection state). Attributes that are not callables are passed through."""

    def __init__(self, target, baton: Baton):
        self._target = target
        self._baton = baton

    def __getattr__(self, name: str):
        attr = getattr(self._target, name)
        if name.startswith("_") or name in _LOCAL_CALLS or not callable(attr):
            return attr
        baton = self._baton

        @functools.wraps(attr)
        def guarded(*args, **kwargs):
            baton.enter()
            return attr(*args, **kwargs)
        return guarded

    def __repr__(self) -> str:
        return f"<Guarded {self._target!r}>"


class RetiredLog(logging.LoggerAdapter):
    """The log of a retired worker: ``front (replaced): …``, and below ERROR only at DEBUG: the
    new worker speaks for the camera now, the old one's last words (an exchange it abandoned)
    would only confuse the journal. Errors (a bug) keep their level."""

    def log(self, level, msg, *args, **kwargs):
        super().log(level if level >= logging.ERROR else logging.DEBUG, msg, *args, **kwargs)

    def process(self, msg, kwargs):
        return f"{self.extra['camera']} (replaced): {msg}", kwargs


@dataclass(eq=False)
class _Built:
    parts: CameraParts
    worker: CameraWorker
    baton: Baton


class Assembly:
    """Builds the daemon's parts from a Config, and rebuilds them on a reload (SIGHUP).

    Holds what cameras share (:attr:`shared`: the RouteTable in route mode, each family's shared
    object such as the gatttool runner) and every camera's parts with its worker, by camera name, so that
    a reload can replace one camera's worker and leave the others (and their
    recordings) alone. ``pin_factory`` overrides ``GPIO_PIN_FACTORY`` (tests
    pass gpiozero's MockFactory).

    Each worker talks to its camera through a :class:`Baton`: a replacement waits for the worker
    it replaces to end (never two workers on one camera), and a retired worker sends nothing more.
    """

    def __init__(self, config: Config, *, pin_factory=None):
        self.pin_factory = pin_factory
        self.network_mode = config.network_mode
        self.route_table = RouteTable() if config.network_mode == "route" else None
        self.shared = shared_parts(config, route_table=self.route_table)
        self._built: dict[str, _Built] = {}
        self._replaced: dict[int, _Built] = {}     # id(worker) → entry: replaced, not yet retired
        self._reapers: list[threading.Thread] = []

    def __repr__(self) -> str:
        return f"<Assembly mode={self.network_mode} cameras={sorted(self._built)}>"

    def configure(self, config: Config) -> None:
        """Take the shared settings of ``config``: each family's shared object updated in place
        (gatttool runner settings); a new RouteTable when NETWORK_MODE changes (every worker must
        then be replaced)."""
        if config.network_mode != self.network_mode:
            self.network_mode = config.network_mode
            self.route_table = RouteTable() if config.network_mode == "route" else None
        shared_parts(config, route_table=self.route_table, previous=self.shared)

    def worker(self, config: Config, cam: CameraConfig) -> CameraWorker:
        """A new (not started) worker for ``cam`` with fresh parts; replaces any earlier one of that
        name, whose end it waits for (at most :data:`HANDOVER_TIMEOUT` s) before its first exchange."""
        parts = build_camera(config, cam, shared=self.shared)
        previous = self._built.get(cam.name)
        if previous is not None:
            self._replaced[id(previous.worker)] = previous
        baton = Baton(cam.name, after=previous.baton.done if previous is not None else None)
        # A Guarded passes every attribute through: to the worker it is the driver (the waker).
        guarded = dataclasses.replace(parts, driver=cast(Any, Guarded(parts.driver, baton)),
                                      waker=cast(Any, Guarded(parts.waker, baton)))
        worker = build_worker(config, guarded)
        self._built[cam.name] = _Built(parts, worker, baton)
        return worker

    def parts(self, name: str) -> CameraParts:
        """The parts serving camera ``name`` (KeyError if none)."""
        return self._built[name].parts

    def update(self, worker: CameraWorker, config: Config) -> None:
        """Apply the per-camera settings of ``config`` that need no new parts to a running worker."""
        parts = self._built[worker.name].parts
        worker.keep_awake = config.keep_awake
        from .inputs.clock_sync import shared_clock_sync
        worker.clock_sync = shared_clock_sync(config.camera_clock)
        parts.http.timeout = config.http_timeout
        parts.http.connect_timeout = config.connect_timeout
        parts.waker.timeout = config.wake_timeout

    def retire(self, worker: CameraWorker) -> None:
        """Stop ``worker`` without waiting for it: no shutter is sent (a recording goes on), and
        from now on it sends nothing at all (an exchange in flight runs out, its answer unused).

        Returns at once: a reaper thread waits for the worker's thread to end, then closes its
        HTTP client (and BLE session) and lets the worker that replaces it (if any) begin.
        """
        entry = self._replaced.pop(id(worker), None)
        current = self._built.get(worker.name)
        if entry is None and current is not None and current.worker is worker:
            entry = self._built.pop(worker.name)
        if entry is None:           # not built here: all we can do is ask it to stop
            worker.stop(timeout=0)
            return
        entry.baton.retire()
        worker.log = RetiredLog(logging.getLogger("camrig.worker"), {"camera": worker.name})
        worker.stop(timeout=0)
        self._reapers = [t for t in self._reapers if t.is_alive()]
        reaper = threading.Thread(target=self._reap, args=(entry,), name=f"retire-{worker.name}",
                                  daemon=True)
        self._reapers.append(reaper)
        reaper.start()

    @staticmethod
    def _reap(entry: _Built, *, limit: float = 600.0) -> None:
        """(reaper thread) Wait for a retired worker's thread to end, close its parts, pass the baton."""
        started = time.monotonic()
        while entry.worker.alive and time.monotonic() - started < limit:
            time.sleep(0.05)
        if entry.worker.alive:
            log.warning("%s: the replaced worker has not ended after %.0f s; its connection is left open",
                        entry.worker.name, limit)
            return
        if entry.baton.after is not None:       # its own predecessor may still be in an exchange
            entry.baton.after.wait(limit)
        try:
            entry.parts.http.close()
            if entry.parts.ble is not None:
                entry.parts.ble.disconnect()
        except Exception:
            log.exception("%s: closing the replaced worker's connection failed", entry.worker.name)
        log.debug("%s: replaced worker ended after %.1f s; its connection closed",
                  entry.worker.name, time.monotonic() - started)
        entry.baton.done.set()

    def close(self) -> None:
        """Close every HTTP client whose worker has stopped (at exit)."""
        for entry in self._built.values():
            self._close(entry)

    @staticmethod
    def _close(entry: _Built) -> None:
        # A worker still inside a slow exchange holds its client's lock: closing would wait for
        # it (up to HTTP_TIMEOUT) and delay the exit; the process exit closes the socket anyway.
        if not entry.worker.alive:
            entry.parts.http.close()

    def trigger(self, config: Config):
        """The trigger ``config`` asks for (:func:`build_trigger`); TriggerError if it cannot be opened."""
        return build_trigger(config, pin_factory=self.pin_factory)

    # --- reload (SIGHUP, the ``reload`` command) -----------------------------------------------

    @staticmethod
    def plan_reload(old: Config, new: Config) -> ReloadPlan:
        """Compare two configs: which cameras keep their worker, which get a new one, which come
        and go, whether the trigger is rebuilt (:class:`ReloadPlan`). Pure: touches nothing.

        A camera is kept when its entry (:class:`CameraConfig`, every field) is equal and
        NETWORK_MODE did not change; a changed entry or NETWORK_MODE is a replacement.
        """
        changed = tuple(f.name for f in dataclasses.fields(Config)
                        if f.compare and getattr(new, f.name) != getattr(old, f.name))
        mode_changed = new.network_mode != old.network_mode
        before = {c.name: c for c in old.cameras}
        now = {c.name for c in new.cameras}
        update, replace, add, reasons = [], [], [], {}
        for cam in new.cameras:
            was = before.get(cam.name)
            if was is None:
                add.append(cam.name)
            elif was == cam and not mode_changed:
                update.append(cam.name)
            else:
                replace.append(cam.name)
                reasons[cam.name] = "NETWORK_MODE changed" if mode_changed else "camera entry changed"
        remove = [c.name for c in old.cameras if c.name not in now]
        return ReloadPlan(old, new, tuple(update), tuple(replace), tuple(add), tuple(remove),
                          trigger_changed=any(getattr(new, k) != getattr(old, k) for k in TRIGGER_SETTINGS),
                          network_mode_changed=mode_changed, changed=changed, reasons=reasons)

    def apply(self, plan: ReloadPlan, *, trigger, on_trigger: Callable[[], None], wanted: bool) -> Applied:
        """Carry ``plan`` out without dropping a recording, and without waiting for any camera.

        ``trigger``: the running trigger; it is closed and the new one opened and started with
        ``on_trigger`` when ``plan.trigger_changed`` (if the new one cannot be opened the old
        settings are reopened and kept; if even that fails, the trigger file alone). Then: shared
        settings (:meth:`configure`), unchanged workers updated in place (:meth:`update`), new
        workers built with ``wanted`` and started, replaced and removed workers retired
        (:meth:`retire`: never waited for). A camera whose new parts cannot be built (ConfigError:
        BLE tools missing, say) keeps its running worker, or is left out if it is new; that is
        logged and listed in :attr:`Applied.errors`.
        """
        config = plan.new
        if plan.trigger_changed:
            trigger, config = self._replace_trigger(trigger, plan.old, config)
            trigger.start(on_trigger)
        self.configure(config)
        cameras: dict[str, str] = {}
        errors: list[str] = []
        workers: list[CameraWorker] = []
        fresh: list[CameraWorker] = []
        retire: list[CameraWorker] = []
        kept_entries: dict[str, CameraConfig] = {}   # refused replacements: the entry that still runs
        for cam in config.cameras:
            running = self._built.get(cam.name)
            if cam.name in plan.update and running is not None:
                self.update(running.worker, config)
                workers.append(running.worker)
                cameras[cam.name] = "kept"
                continue
            try:
                nw = self.worker(config, cam)
            except CamRigError as exc:
                errors.append(f"{cam.name}: {exc}")
                if running is not None:
                    log.error("reload: %s: its new parts cannot be built (%s); the running worker stays",
                              cam.name, exc)
                    workers.append(running.worker)
                    cameras[cam.name] = f"kept (new entry refused: {exc})"
                    kept_entries[cam.name] = running.worker.camera
                else:
                    log.error("reload: %s: cannot be added: %s", cam.name, exc)
                    cameras[cam.name] = f"not added: {exc}"
                continue
            if running is not None:
                log.info("reload: %s: %s; replacing its worker (a recording goes on)", cam.name,
                         plan.reasons.get(cam.name, "camera entry changed"))
                retire.append(running.worker)
                cameras[cam.name] = "replaced"
            else:
                log.info("reload: %s: new camera", cam.name)
                cameras[cam.name] = "added"
            nw.set_wanted(wanted)
            workers.append(nw)
            fresh.append(nw)
        for name in plan.remove:
            gone = self._built.get(name)
            if gone is not None:
                log.info("reload: %s: no longer in GOPROS; its worker stops (the camera is left as it is)", name)
                retire.append(gone.worker)
                cameras[name] = "removed"
        # Retiring never waits (a hung camera's exchange would stall every camera's trigger): the
        # old worker sends nothing more, and its successor waits for it to end before it talks.
        for w in retire:
            self.retire(w)
        for w in fresh:
            w.start()
        if kept_entries:   # the config says what runs, so that the next reload tries the new entry again
            config = dataclasses.replace(config, cameras=tuple(kept_entries.get(c.name, c) for c in config.cameras))
        return Applied(config, trigger, workers, cameras, errors)

    def _replace_trigger(self, trigger, old: Config, new: Config):
        """Close ``trigger``, open the one ``new`` asks for; if that fails, reopen the one of ``old``
        and keep its settings; if that fails too, the trigger file alone. Returns ``(trigger, the
        config that now holds)``; the trigger is not started."""
        try:
            trigger.close()
        except Exception:
            log.exception("closing the trigger failed")
        try:
            opened = self.trigger(new)
            log.info("reload: trigger is now %r", opened)
            return opened, new
        except CamRigError as exc:
            log.error("reload: the new trigger cannot be used (%s); keeping the running trigger", exc)
            new = dataclasses.replace(new, **{k: getattr(old, k) for k in TRIGGER_SETTINGS})
        try:
            return self.trigger(old), new
        except CamRigError as exc2:
            path = old.trigger_path or new.trigger_path or DEFAULT_TRIGGER_PATH
            log.error("reload: the running trigger cannot be reopened either (%s); "
                      "carrying on with the trigger file %s only", exc2, path)
            return FileTrigger(path), dataclasses.replace(new, gpio_bcm_pin=None, trigger_path=path)


def build_trigger(config: Config, *, pin_factory=None):
    """The trigger: GPIO pin OR trigger file, whichever are configured.

    ``pin_factory`` overrides ``GPIO_PIN_FACTORY`` (tests pass gpiozero's
    MockFactory). Raises TriggerError when the pin cannot be opened.
    """
    triggers: list[GpioTrigger | FileTrigger] = []
    if config.gpio_bcm_pin is not None:
        factory = pin_factory or make_pin_factory(config.gpio_pin_factory)
        triggers.append(GpioTrigger(config.gpio_bcm_pin, bounce_time=config.gpio_bounce_time,
                                    pin_factory=factory))
    if config.trigger_path:
        triggers.append(FileTrigger(config.trigger_path))
    return triggers[0] if len(triggers) == 1 else AnyTrigger(triggers)


def make_pin_factory(name: str | None):
    """gpiozero pin factory by config name, or None for gpiozero's own choice
    (lgpio, then RPi.GPIO, …; ``GPIOZERO_PIN_FACTORY`` in the environment also works)."""
    if name is None:
        return None
    try:
        if name == "lgpio":
            from gpiozero.pins.lgpio import LGPIOFactory as factory
        elif name == "rpigpio":
            from gpiozero.pins.rpigpio import RPiGPIOFactory as factory
        elif name == "pigpio":
            from gpiozero.pins.pigpio import PiGPIOFactory as factory
        elif name == "native":
            from gpiozero.pins.native import NativeFactory as factory
        elif name == "mock":
            from gpiozero.pins.mock import MockFactory as factory
        else:  # config validation keeps this unreachable
            raise TriggerError(f"GPIO_PIN_FACTORY: unknown pin factory {name!r}")
        return factory()
    except CamRigError:
        raise
    except Exception as exc:
        raise TriggerError(f"GPIO_PIN_FACTORY {name!r} cannot be used here: {exc}") from None


#: What to do when no pin factory loads; Python 3.13 (Raspberry Pi OS Trixie) has no lgpio wheel on
#: PyPI: ``pip install lgpio`` there installs the empty placeholder 0.0.0.2 (PyPI lists only
#: 0.2.2.0 wheels for 3.9–3.12 and that placeholder), so lgpio must come from the OS package.
PIN_FACTORY_HELP = (
    "install lgpio from the OS ('sudo apt install python3-lgpio') and create the venv with "
    "'python3 -m venv --system-site-packages'; on Python 3.11 'pip install lgpio' works too, on "
    "3.13 pip installs an empty placeholder (lgpio 0.0.0.2). Or set GPIO_PIN_FACTORY to one that is "
    "installed (rpigpio, native)")


def pin_factory_report(name: str | None) -> tuple[str | None, str]:
    """Which gpiozero pin factory the daemon would use, for ``check`` and the start-up log.

    ``name`` is ``GPIO_PIN_FACTORY`` (None: gpiozero's own order, lgpio → rpigpio → pigpio →
    native). Returns ``(class name, detail)``; class name None when none loads, and then
    ``detail`` says why and what to do. The factory is closed again: no pin is claimed.
    """
    import warnings

    try:
        import gpiozero  # noqa: F401
        from gpiozero import Device
    except ImportError as exc:
        return None, f"gpiozero is not installed ({exc}): pip install -r requirements.txt"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            factory = make_pin_factory(name) if name else Device._default_pin_factory()
        except Exception as exc:  # BadPinFactory, TriggerError, an import error inside a factory
            tried = "; ".join(str(w.message) for w in caught)
            return None, f"{exc}{' (' + tried + ')' if tried else ''}; {PIN_FACTORY_HELP}"
    try:
        lgpio_note = ""
        if type(factory).__name__ == "LGPIOFactory":
            import lgpio  # the real module has the chip calls; the 0.0.0.2 placeholder has none
            lgpio_note = f", lgpio {getattr(lgpio, 'LGPIO_PY_VERSION', '?')}"
        return type(factory).__name__, f"{type(factory).__module__}{lgpio_note}"
    finally:
        try:
            factory.close()
        except Exception:
            pass
