"""Trigger sources: where the one boolean *wanted* ("record now") comes from.

Every trigger has the same small interface (see ``docs/contracts.md``)::

    trigger.value          # bool, read live: True = "record"
    trigger.start(on_change)   # on_change() is called, from the trigger's own
                               # thread, on every change of value
    trigger.close()        # stop threads, release the pin; idempotent

``on_change`` takes no arguments and should only signal the controller (set an
event); the controller then reads ``.value``.  A trigger never raises out of
its thread: problems are logged.

* :class:`GpioTrigger` -- a GPIO input with pull-up, active when pulled to
  ground (the RaceCapture logger grounds it while the car moves), through
  gpiozero and its edge callbacks.
* :class:`FileTrigger` -- active while a file exists (``touch``/``rm`` for
  testing), watched with inotify, polling as a fallback; a flapping file is
  coalesced by :class:`Settle` (:data:`FILE_SETTLE`).
* :class:`AnyTrigger` -- active while any of its triggers is.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import threading
import time
import warnings
from collections.abc import Callable, Sequence

from camrig.errors import TriggerError

try:  # inotify_simple is a thin ctypes-free wrapper over the inotify syscalls
    from inotify_simple import INotify
    from inotify_simple import flags as inotify_flags
except ImportError:  # pragma: no cover - exercised by monkeypatching INotify
    INotify = None
    inotify_flags = None

log = logging.getLogger(__name__)

OnChange = Callable[[], None]

_FACTORY_HELP = (
    "install a GPIO library into the daemon's venv: 'lgpio' (Raspberry Pi 5, "
    "also works on older Pis; apt package python3-lgpio or 'pip install lgpio') "
    "or 'RPi.GPIO' (Raspberry Pi 4 and older; 'pip install RPi.GPIO'), or set "
    "GPIOZERO_PIN_FACTORY to one that is installed"
)


def _call(on_change: OnChange | None, who: object) -> None:
    """Call *on_change*, logging (never raising) whatever it raises."""
    if on_change is None:
        return
    try:
        on_change()
    except Exception:
        log.exception("%r: on_change callback failed", who)


class GpioTrigger:
    """Active while GPIO *pin* is pulled to ground (input with the internal pull-up).

    Wiring (RaceCapture): the logger's output grounds the pin while the car
    moves; open = inactive.  Built on ``gpiozero.DigitalInputDevice(pin,
    pull_up=True, bounce_time=bounce_time, pin_factory=pin_factory)``: with
    ``pull_up=True`` gpiozero treats the low level as *active* (gpiozero docs,
    "DigitalInputDevice").  Changes are reported at once from gpiozero's edge
    callbacks (``when_activated`` / ``when_deactivated``), which run in the pin
    driver's thread -- there is no polling.

    :param pin: BCM GPIO number (``17`` = GPIO17, physical pin 11).
    :param bounce_time: seconds; edges closer together than this are ignored
        by the pin driver (lgpio debounce / RPi.GPIO bouncetime).  ``None``
        disables debouncing.  Some drivers (RPi.GPIO) may drop the edge that
        ends a bounce burst, so the controller should also re-read
        :attr:`value` on its regular tick.
    :param pin_factory: a gpiozero pin factory; ``None`` lets gpiozero choose
        (lgpio on a Pi 5, RPi.GPIO on older Pis, or ``$GPIOZERO_PIN_FACTORY``).
        Tests pass ``gpiozero.pins.mock.MockFactory()`` explicitly; there is no
        silent fallback to a mock.
    :raises TriggerError: the pin cannot be opened (no pin factory installed,
        not a Pi, pin in use, no access to ``/dev/gpiochip*``, invalid pin);
        the message names the pin and the cause.
    """

    def __init__(self, pin: int, *, bounce_time: float | None = 0.05, pin_factory=None):
        # Imported here so that a machine without gpiozero can still use the
        # file trigger (and the tests of everything else).
        try:
            from gpiozero import DigitalInputDevice
            from gpiozero.exc import BadPinFactory
        except ImportError as exc:
            raise TriggerError(
                f"GPIO{pin}: gpiozero is not installed ({exc}); install it "
                f"into the daemon's venv ('pip install gpiozero')") from exc
        self.pin = pin
        self.bounce_time = bounce_time
        self._on_change: OnChange | None = None
        self._lock = threading.Lock()
        with warnings.catch_warnings(record=True) as caught:
            # gpiozero explains each factory it skipped in a warning; keep
            # them for the error message instead of printing them to stderr.
            warnings.simplefilter("always")
            try:
                self._device = DigitalInputDevice(
                    pin, pull_up=True, bounce_time=bounce_time, pin_factory=pin_factory)
            except BadPinFactory as exc:
                tried = "; ".join(str(w.message) for w in caught) or str(exc)
                raise TriggerError(
                    f"GPIO{pin}: no GPIO pin factory could be loaded ({tried}); "
                    f"{_FACTORY_HELP}") from exc
            except PermissionError as exc:
                raise TriggerError(
                    f"GPIO{pin}: permission denied opening the pin ({exc}); run as "
                    f"root or as a member of the 'gpio' group") from exc
            except Exception as exc:
                raise TriggerError(
                    f"GPIO{pin}: cannot open the pin as an input with pull-up: "
                    f"{type(exc).__name__}: {exc}") from exc
        for w in caught:
            log.debug("GPIO%s: gpiozero: %s", pin, w.message)
        factory = self._device.pin_factory
        if pin_factory is None and type(factory).__name__ == "MockFactory":
            # Only possible through GPIOZERO_PIN_FACTORY=mock: say so loudly,
            # the car's trigger would never fire.
            log.warning("GPIO%s: gpiozero chose the MOCK pin factory "
                        "(GPIOZERO_PIN_FACTORY=%s): the real pin is not read",
                        pin, os.environ.get("GPIOZERO_PIN_FACTORY"))
        log.debug("GPIO%s opened with %s", pin, type(factory).__name__)

    @property
    def value(self) -> bool:
        """True while the pin is pulled low (car moving); read from the pin now.

        False once closed.
        """
        device = self._device
        try:
            return bool(device.is_active)
        except Exception:  # closed, or the driver failed: not "record"
            return False

    def start(self, on_change: OnChange) -> None:
        """Call ``on_change()`` on every edge (after debouncing), from gpiozero's thread."""
        with self._lock:
            self._on_change = on_change
            self._device.when_activated = self._edge
            self._device.when_deactivated = self._edge

    def _edge(self) -> None:
        log.debug("%r: edge", self)
        _call(self._on_change, self)

    def close(self) -> None:
        """Stop the callbacks and release the pin (idempotent)."""
        with self._lock:
            # No callback from here on; closing the device also detaches the
            # pin's edge callback (setting when_* to None only warns).
            self._on_change = None
            self._device.close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has released the pin."""
        return bool(self._device.closed)

    def __repr__(self) -> str:
        if self.closed:
            return f"<GpioTrigger pin=GPIO{self.pin} closed>"
        return f"<GpioTrigger pin=GPIO{self.pin} active={self.value}>"


#: Seconds (0.5): the trigger file's settle window. A file removed less than this after it
#: appeared (or after it last changed) counts as "off" only once it has stayed absent this long;
#: an "on" always goes through at once, and so does a clean "off" (after the file stood this
#: long). Ten times the GPIO pin's default ``GPIO_BOUNCE_TIME`` (0.05 s): a logger contact that
#: chatters is not contact bounce, and 0.5 s keeps a 50 ms chatter from reaching the cameras.
FILE_SETTLE = 0.5


class Settle:
    """Coalesce a flapping boolean level, never delaying a clean edge or any "on".

    Rules, with ``window`` seconds (``FILE_SETTLE`` for the trigger file):

    * *on* (False → True) is reported at once, always: a recording is never started late.
    * *off* (True → False) is reported at once when the *on* before it lasted at least
      ``window`` (a clean edge), otherwise only once the level has stayed False for
      ``window`` (then it is reported, so the end state is always right within ``window``).
    * an *off* that reverses within ``window`` is never reported: no shutter off/on pair.

    So a level flipping every 50 ms for a minute gives one *on* at its start and, if it ends
    off, one *off* ``window`` after its end. Costs at most ``window`` of extra recording after
    a short *on*; never a second of footage. Thread-safe (the watcher thread and the
    controller both read). ``clock`` is monotonic seconds.
    """

    def __init__(self, window: float, initial: bool = False, *, clock: Callable[[], float] = time.monotonic):
        if window < 0:
            raise ValueError(f"settle window must be >= 0 seconds, got {window!r}")
        self.window = window
        self.clock = clock
        self.level = bool(initial)          # what is reported
        self._raw = bool(initial)           # what was last seen
        self._since = float("-inf")         # when the raw level last changed
        self._before = float("-inf")        # when the raw level changed the time before
        self._lock = threading.Lock()

    def feed(self, raw: bool, *, activity: bool = False, now: float | None = None) -> bool:
        """The level to report, given the ``raw`` level seen now. ``activity`` says the source
        changed in between even if ``raw`` looks the same (an inotify event for the file: it
        was created and removed between two looks)."""
        raw = bool(raw)
        with self._lock:
            now = self.clock() if now is None else now
            if raw != self._raw or activity:
                self._before = self._since if raw != self._raw else now
                self._since = now
                self._raw = raw
            if raw == self.level:
                return self.level
            if raw:                                                    # on: at once
                self.level = True
            elif self._since - self._before >= self.window or now - self._since >= self.window:
                self.level = False                                     # clean, or settled off
            return self.level

    def due(self) -> float | None:
        """Monotonic time at which a held *off* is to be reported (None: nothing held)."""
        with self._lock:
            if self.level and not self._raw:
                return self._since + self.window
            return None


# Directory events after which the file's existence may have changed, or the
# watch itself is gone (directory deleted / moved away / unmounted).
_DIR_MASK_NAMES = ("CREATE", "DELETE", "MOVED_TO", "MOVED_FROM",
                   "DELETE_SELF", "MOVE_SELF", "UNMOUNT", "ONLYDIR")
_WATCH_GONE_NAMES = ("DELETE_SELF", "MOVE_SELF", "UNMOUNT", "IGNORED")


class FileTrigger:
    """Active while the file at *path* exists (``touch PATH`` / ``rm PATH``).

    A daemon thread watches the file's directory with inotify (inotify(7):
    IN_CREATE, IN_DELETE, IN_MOVED_TO, IN_MOVED_FROM, IN_DELETE_SELF,
    IN_MOVE_SELF) and reports changes at once.  While the directory does not
    exist it polls every *poll_interval* seconds and switches to inotify as
    soon as the directory appears; a directory deleted and recreated is
    watched again.  When inotify itself is unavailable (no inotify_simple,
    instance or watch limits reached, a filesystem that refuses watches) it
    polls for good.

    A file that flaps is coalesced (:class:`Settle`, ``settle`` seconds,
    :data:`FILE_SETTLE` = 0.5 s): the file appearing is reported at once, and
    so is it disappearing after it stood ``settle`` seconds; a file removed
    sooner counts as absent only once it has stayed away ``settle`` seconds, so
    a chattering contact gives one shutter on and (if it ends off) one shutter
    off, not one per flip.  :attr:`value` reads through the same filter.

    :param path: the trigger file; only its existence matters (a dangling
        symlink counts as absent).
    :param poll_interval: seconds between checks when polling.
    :param settle: the settle window in seconds (0 passes every change on).
    :attr watch: ``"inotify"``, ``"poll"`` or ``"stopped"`` -- how it is
        watched right now (shown in ``repr``).
    """

    def __init__(self, path: str | os.PathLike, *, poll_interval: float = 0.5,
                 settle: float = FILE_SETTLE):
        if poll_interval <= 0:
            raise ValueError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        self.path = os.path.abspath(os.fspath(path))
        self.directory = os.path.dirname(self.path)
        self.name = os.path.basename(self.path)
        self.poll_interval = poll_interval
        self.watch = "stopped"
        self._on_change: OnChange | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._inotify_broken = False
        self._initial = False
        self._settle = Settle(settle, os.path.exists(self.path))

    @property
    def value(self) -> bool:
        """True while the file exists (checked on the filesystem now), through the settle filter:
        a file removed within ``settle`` s of a change still reads True until it stays away."""
        return self._settle.feed(os.path.exists(self.path))

    def start(self, on_change: OnChange) -> None:
        """Start the watcher thread; ``on_change()`` is called from it on every change.

        :raises RuntimeError: already started.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self!r} already started")
        self._on_change = on_change
        self._initial = self.value
        self._stop.clear()
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._thread = threading.Thread(
            target=self._run, name=f"FileTrigger({self.path})", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watcher thread and wait for it (at most *timeout* seconds)."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if self._wake_w >= 0:
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                log.warning("%r: watcher thread did not stop within %.1f s", self, timeout)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r, self._wake_w = -1, -1
        self._on_change = None
        self.watch = "stopped"

    # -- the watcher thread ------------------------------------------------

    def _run(self) -> None:
        last = self._initial
        inotify = None
        wd = None
        activity = False
        log.debug("%r: watching", self)
        while not self._stop.is_set():
            try:
                if inotify is None and not self._inotify_broken:
                    inotify = self._open_inotify()
                if inotify is not None and wd is None:
                    wd = self._add_watch(inotify)
                if wd is None and inotify is not None and self._inotify_broken:
                    inotify.close()
                    inotify = None
                self.watch = "inotify" if wd is not None else "poll"
                # A change may have happened while no watch was in place.
                last = self._report(last, activity)
                activity = False
                if wd is None or inotify is None:        # no watch (a watch implies inotify)
                    self._wait([], self._timeout(self.poll_interval))
                    continue
                # Recheck now and then even with a watch, in case an event was
                # lost (queue overflow); it costs one stat() a few seconds.
                if not self._wait([inotify.fileno()], self._timeout(max(5.0, self.poll_interval))):
                    continue
                gone = False
                for event in inotify.read(timeout=0):
                    names = {f.name for f in inotify_flags.from_mask(event.mask)}
                    if names & set(_WATCH_GONE_NAMES):
                        gone = True
                    if event.name == self.name:
                        activity = True   # created/removed, maybe both since the last look
                    if "Q_OVERFLOW" in names:
                        log.debug("%r: inotify queue overflow, rechecking", self)
                if gone:
                    log.info("%r: directory %s gone or moved; waiting for it to reappear",
                             self, self.directory)
                    try:
                        inotify.rm_watch(wd)
                    except OSError:  # already removed by the kernel (IN_IGNORED)
                        pass
                    wd = None
            except Exception:
                log.exception("%r: watcher failed; retrying in %.1f s", self, self.poll_interval)
                if inotify is not None:
                    try:
                        inotify.close()
                    except OSError:
                        pass
                inotify, wd = None, None
                self._wait([], self.poll_interval)
        if inotify is not None:
            inotify.close()
        log.debug("%r: watcher stopped", self)

    def _open_inotify(self):
        if INotify is None:
            self._inotify_broken = True
            log.warning("%s: inotify_simple is not installed; polling every %.1f s",
                        self.path, self.poll_interval)
            return None
        try:
            return INotify()
        except OSError as exc:
            self._inotify_broken = True
            log.warning("%s: inotify unavailable (%s); polling every %.1f s",
                        self.path, exc, self.poll_interval)
            return None

    def _add_watch(self, inotify) -> int | None:
        mask = 0
        for name in _DIR_MASK_NAMES:
            mask |= getattr(inotify_flags, name)
        try:
            return inotify.add_watch(self.directory, mask)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None  # not there yet: poll until it is
            # ENOSPC (max_user_watches), EACCES, a filesystem without inotify
            self._inotify_broken = True
            log.warning("%s: cannot watch %s with inotify (%s); polling every %.1f s",
                        self.path, self.directory, exc, self.poll_interval)
            return None

    def _wait(self, fds: list[int], timeout: float) -> bool:
        """Wait for *fds* or the stop pipe; True when one of *fds* is readable."""
        ready, _, _ = select.select([self._wake_r, *fds], [], [], timeout)
        return any(fd in ready for fd in fds)

    def _timeout(self, longest: float) -> float:
        """Seconds to wait for events: ``longest``, or less when a held "off" is due sooner."""
        due = self._settle.due()
        if due is None:
            return longest
        return min(longest, max(0.0, due - time.monotonic()) + 0.005)

    def _report(self, last: bool, activity: bool = False) -> bool:
        now = self._settle.feed(os.path.exists(self.path), activity=activity)
        if now != last:
            log.debug("%r: changed", self)
            _call(self._on_change, self)
        return now

    def __repr__(self) -> str:
        return (f"<FileTrigger path={self.path} active={self.value} "
                f"watch={self.watch}>")


class AnyTrigger:
    """Active while any of *triggers* is active (logical OR).

    :param triggers: objects with the trigger interface (``value``,
        ``start(on_change)``, ``close()``); may be empty (never active).
    """

    def __init__(self, triggers: Sequence):
        self.triggers = tuple(triggers)

    @property
    def value(self) -> bool:
        """True while any trigger's value is True."""
        return any(t.value for t in self.triggers)

    def start(self, on_change: OnChange) -> None:
        """Start every trigger with the same *on_change*.

        If one fails to start, the ones already started are closed and the
        error is raised.
        """
        started = []
        try:
            for trigger in self.triggers:
                trigger.start(on_change)
                started.append(trigger)
        except BaseException:
            for trigger in started:
                try:
                    trigger.close()
                except Exception:
                    log.exception("%r: close after failed start", trigger)
            raise

    def close(self) -> None:
        """Close every trigger; errors are logged, the others are still closed."""
        for trigger in self.triggers:
            try:
                trigger.close()
            except Exception:
                log.exception("%r: close failed", trigger)

    def __repr__(self) -> str:
        inner = ", ".join(repr(t) for t in self.triggers)
        return f"<AnyTrigger active={self.value} triggers=[{inner}]>"
