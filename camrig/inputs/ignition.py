"""Ignition off: close the last files on the cards, then (optionally) power the Pi off.

``IGNITION_BCM_PIN`` is high while the ignition is on (a UPS HAT's "power good" output, or a
divider from the switched 12 V; read with gpiozero ``DigitalInputDevice(pin, pull_up=False)``:
the internal pull-down makes an unconnected pin read "off"). When it has been low for
``IGNITION_GRACE`` seconds:

1. every recording is stopped (``controller.set_ignition(False)``, posted to the loop: wanted is
   False whatever the trigger and the latch say, so the cameras close their files);
2. the snapshot says so (``ignition``: ``{"on": false, "since", "stopped": true}``);
3. with ``SHUTDOWN_ON_IGNITION_OFF = True``, once no camera records any more (at most
   :attr:`IgnitionWatch.stop_wait_s` s), the Pi is powered off through logind:
   ``org.freedesktop.login1.Manager.PowerOff(false)`` on the system bus (object
   ``/org/freedesktop/login1``; org.freedesktop.login1(5): "PowerOff() … interactive … controls
   whether polkit should interactively ask the user for authentication"), allowed for the
   service user by the polkit rule ``systemd/50-gopro-manager-poweroff.rules`` (action
   ``org.freedesktop.login1.power-off``). Never sudo, never a subprocess.

The ignition coming back on during the grace period cancels it (nothing was stopped); coming
back after the stop gives recording back to the trigger and the latch. An ignition that is off
when the daemon starts is not acted on until it has been seen on once (a Pi started on the bench
with the pin unwired must not stop its recordings, or power itself off, 30 s after boot); that
is logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import warnings
from collections.abc import Callable

from ..errors import CamRigError, TriggerError

log = logging.getLogger(__name__)

LOGIND_BUS_NAME = "org.freedesktop.login1"
LOGIND_PATH = "/org/freedesktop/login1"
LOGIND_INTERFACE = "org.freedesktop.login1.Manager"


class ShutdownError(CamRigError):
    """logind refused or did not answer PowerOff (the message says which, and why)."""


def logind_power_off(bus: str = "SYSTEM", *, timeout: float = 10.0) -> None:
    """Call ``org.freedesktop.login1.Manager.PowerOff(interactive=false)`` on ``bus`` ("SYSTEM", or
    a D-Bus address such as ``unix:path=/tmp/x``) with jeepney, and wait for logind's answer.

    :raises ShutdownError: jeepney missing, no bus, or an error reply (e.g.
        ``org.freedesktop.DBus.Error.InteractiveAuthorizationRequired``: the polkit rule is not
        installed; the message says so).
    """
    try:
        from jeepney import DBusAddress, MessageType, new_method_call
        from jeepney.io.blocking import open_dbus_connection
        from jeepney.low_level import HeaderFields
    except ImportError as exc:
        raise ShutdownError(f"power off: jeepney is not installed ({exc})") from exc
    addr = DBusAddress(LOGIND_PATH, bus_name=LOGIND_BUS_NAME, interface=LOGIND_INTERFACE)
    msg = new_method_call(addr, "PowerOff", "b", (False,))
    try:
        with open_dbus_connection(bus=bus) as conn:
            reply = conn.send_and_get_reply(msg, timeout=timeout)
    except Exception as exc:
        raise ShutdownError(f"power off: logind over D-Bus ({bus}): {type(exc).__name__}: {exc}") from exc
    if reply.header.message_type == MessageType.error:
        name = str(reply.header.fields.get(HeaderFields.error_name, "?"))
        text = " ".join(str(x) for x in reply.body) if isinstance(reply.body, tuple) else str(reply.body)
        hint = (" (the polkit rule systemd/50-gopro-manager-poweroff.rules is not installed for the service user)"
                if "Authoriz" in name or "AccessDenied" in name else "")
        raise ShutdownError(f"power off: logind refused: {name}: {text}{hint}")


class IgnitionWatch:
    """Watch the ignition pin and act on a sustained "off" (see the module docstring).

    ``pin``: BCM number; ``grace``: seconds (``IGNITION_GRACE``); ``set_ignition(on: bool)``: posts
    the ignition state to the controller's loop (``Controller.set_ignition``); ``recording()``:
    True while any camera still records (after the stop, the shutdown waits for it);
    ``shutdown``: None, or the call that powers the Pi off (:func:`logind_power_off`; tests
    inject their own). ``device``: an already opened input (tests); else the pin is opened
    through ``pin_factory``.

    :raises TriggerError: the pin cannot be opened.
    """

    stop_wait_s = 20.0

    def __init__(self, pin: int | None, *, grace: float, set_ignition: Callable[[bool], object],
                 recording: Callable[[], bool] = lambda: False, shutdown: Callable[[], None] | None = None,
                 pin_factory=None, device=None, clock: Callable[[], float] = time.monotonic,
                 wallclock: Callable[[], float] = time.time):
        self.pin = pin
        self.grace = grace
        self.set_ignition = set_ignition
        self.recording = recording
        self.shutdown = shutdown
        self.clock = clock
        self.wallclock = wallclock
        self._cond = threading.Condition()
        self._closed = False
        self._off_since: float | None = None       # monotonic, while off
        self._off_utc: str | None = None
        self.stopped = False                       # recordings stopped for this "off"
        self.shutdown_state: str | None = None     # None | "waiting" | "asked" | "failed: …"
        self.seen_on = False                       # off before the first "on" is not acted on
        if device is None:
            device = self._open(pin, pin_factory)
        self._device = device
        self._thread = threading.Thread(target=self._run, name="ignition", daemon=True)
        self._device.when_activated = self._edge
        self._device.when_deactivated = self._edge
        self._edge()
        self._thread.start()

    @staticmethod
    def _open(pin, pin_factory):
        try:
            from gpiozero import DigitalInputDevice
        except ImportError as exc:
            raise TriggerError(f"IGNITION_BCM_PIN GPIO{pin}: gpiozero is not installed ({exc})") from exc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                return DigitalInputDevice(pin, pull_up=False, pin_factory=pin_factory)
            except Exception as exc:
                raise TriggerError(f"IGNITION_BCM_PIN GPIO{pin}: cannot open the pin as an input with "
                                   f"pull-down ({type(exc).__name__}: {exc})") from exc

    def __repr__(self) -> str:
        return f"<IgnitionWatch GPIO{self.pin} on={self.on} stopped={self.stopped}>"

    @property
    def on(self) -> bool:
        """True while the ignition pin is high (False once closed)."""
        try:
            return bool(self._device.is_active)
        except Exception:
            return False

    def _edge(self) -> None:
        with self._cond:
            if self._closed:
                return
            on = self.on
            if not on and not self.seen_on:
                if self._off_utc is None:
                    log.warning("ignition GPIO%s reads off at start: nothing happens until it has been on "
                                "once (is the pin wired?)", self.pin)
                    self._off_utc = "start"
                return
            if on:
                self.seen_on = True
                if self._off_since is not None:
                    log.info("ignition on again%s", " (grace period cancelled)" if not self.stopped
                             else "; recording follows the trigger and the latch again")
                self._off_since = self._off_utc = None
            elif self._off_since is None:
                self._off_since = self.clock()
                self._off_utc = dt.datetime.fromtimestamp(self.wallclock(), dt.UTC).isoformat(timespec="seconds")
                log.warning("ignition off: every recording stops in %.0f s unless it comes back on", self.grace)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                if self._off_since is None:
                    if self.stopped:
                        self.stopped = False
                        self.shutdown_state = None
                        self._post(True)
                    self._cond.wait()
                    continue
                if self.stopped:
                    self._cond.wait()
                    continue
                left = self._off_since + self.grace - self.clock()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self.stopped = True
            log.warning("ignition off for %.0f s: stopping every recording", self.grace)
            self._post(False)
            if self.shutdown is not None:
                self._power_off()

    def _post(self, on: bool) -> None:
        try:
            self.set_ignition(on)
        except Exception:
            log.exception("ignition: telling the controller failed")

    def _power_off(self) -> None:
        """(ignition thread) Wait for the recordings to end (files closed), then power off, unless
        the ignition came back on meanwhile."""
        self.shutdown_state = "waiting"
        deadline = self.clock() + self.stop_wait_s
        while self.clock() < deadline:
            with self._cond:
                if self._closed or self._off_since is None:
                    self.shutdown_state = None
                    return
            try:
                if not self.recording():
                    break
            except Exception:
                break
            with self._cond:
                self._cond.wait(0.2)
        else:
            log.error("ignition off: a camera still records after %.0f s; powering off anyway", self.stop_wait_s)
        with self._cond:
            if self._closed or self._off_since is None:
                self.shutdown_state = None
                return
        log.warning("ignition off: powering the Pi off through logind")
        self.shutdown_state = "asked"
        try:
            assert self.shutdown is not None
            self.shutdown()
        except Exception as exc:
            why = exc.detail if isinstance(exc, CamRigError) else f"{type(exc).__name__}: {exc}"
            self.shutdown_state = f"failed: {why}"
            log.error("ignition off: %s", why)

    def snapshot(self) -> dict:
        """The status file's ``ignition``: ``{"on" (the pin now), "armed" (seen on since the start),
        "off_since" (UTC, while a grace period or a stop is under way), "grace", "stopped",
        "shutdown"}``."""
        with self._cond:
            return {"on": self.on, "armed": self.seen_on,
                    "off_since": self._off_utc if self._off_since is not None else None,
                    "grace": self.grace, "stopped": self.stopped, "shutdown": self.shutdown_state}

    def close(self) -> None:
        """Stop watching and release the pin (idempotent); no shutdown is started after this."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        try:
            self._device.close()
        except Exception:
            pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(1.0)
