"""Honest clocks: is the Pi's wall clock synchronised, so that a camera clock may be set from it?

A Pi without a real-time clock boots at fake-hwclock's last saved time (or 1970) and keeps it
until systemd-timesyncd or chrony (GPS through gpsd, or NTP) corrects it. A camera clock set in
that window carries a wrong date into every file it records. So the worker sets a camera clock
only while :class:`ClockSync` says the Pi's clock is synchronised (``CAMERA_CLOCK =
"synchronised"``, the default); until then the status file says "clock not synchronised" and
camera clocks are left alone.

How it is asked, in order:

1. ``adjtimex(2)`` with ``modes = 0`` (read only), through ctypes: no subprocess, no systemd
   needed. The kernel's answer is ``TIME_ERROR`` (5, "clock not synchronized") or the status word
   has ``STA_UNSYNC`` (0x0040, "clock unsynchronized") while no time daemon has disciplined the
   clock (``include/uapi/linux/timex.h``: ``STA_UNSYNC 0x0040``, ``TIME_ERROR 5``; adjtimex(2)
   "RETURN VALUE": TIME_ERROR is returned when "either STA_UNSYNC or STA_CLOCKERR is set").
   timesyncd and chrony both clear STA_UNSYNC once they have synchronised the clock (it is what
   ``timedatectl``'s "System clock synchronized" reports, through timedated).
2. When adjtimex is refused (EPERM): the unit's ``ProtectClock=yes`` and ``SystemCallFilter=
   ~@privileged`` deny even a read-only adjtimex (systemd/systemd issue #26413: "calling
   clock_adjtime() with struct timex.mode set to 0 … I get EPERM"), the same question goes to
   timedated over D-Bus: property ``NTPSynchronized`` of ``org.freedesktop.timedate1``
   (``/org/freedesktop/timedate1``; org.freedesktop.timedate1(5)), which is what ``timedatectl
   show -p NTPSynchronized --value`` prints. Read with jeepney, no subprocess.
3. Neither answers: unknown, which counts as not synchronised (the reason is in the status).

Answers are cached for :attr:`ClockSync.ttl` seconds (every camera's worker asks at every status
check). Tests inject ``probe`` (a callable returning ``(synchronised, detail)``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: include/uapi/linux/timex.h
STA_UNSYNC = 0x0040
TIME_ERROR = 5
#: What the status says while the Pi's clock is not synchronised (the brief's words).
NOT_SYNCHRONISED = "clock not synchronised"

Probe = Callable[[], "tuple[bool | None, str]"]


class _Timex(ctypes.Structure):
    """``struct timex`` up to ``status`` (include/uapi/linux/timex.h: ``unsigned int modes``, then
    ``long offset, freq, maxerror, esterror``, ``int status``), padded to well past the kernel's
    size (208 bytes on LP64) so the kernel's write of the whole struct stays inside it."""

    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("_rest", ctypes.c_byte * 512)]


def adjtimex_probe() -> tuple[bool | None, str]:
    """Ask the kernel (``adjtimex`` with modes 0: read only). Returns ``(True, detail)`` when the
    clock is synchronised, ``(False, detail)`` when not, ``(None, why)`` when the kernel refused
    the call (EPERM under ``ProtectClock=yes``) or libc has no adjtimex."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        adjtimex = libc.adjtimex
    except (OSError, AttributeError) as exc:
        return None, f"adjtimex not available ({exc})"
    tx = _Timex()
    tx.modes = 0
    rc = adjtimex(ctypes.byref(tx))
    if rc == -1:
        err = ctypes.get_errno()
        hint = " (ProtectClock=yes denies even a read)" if err == errno.EPERM else ""
        return None, f"adjtimex refused: {errno.errorcode.get(err, err)}{hint}"
    if rc == TIME_ERROR or tx.status & STA_UNSYNC:
        return False, "the kernel says the clock is unsynchronised (adjtimex: STA_UNSYNC)"
    return True, "synchronised (adjtimex)"


def timedated_probe(bus: str = "SYSTEM", *, timeout: float = 2.0) -> tuple[bool | None, str]:
    """Ask systemd-timedated over D-Bus for ``NTPSynchronized`` (``org.freedesktop.DBus.Properties.Get``
    on ``/org/freedesktop/timedate1``). ``(None, why)`` when D-Bus or timedated does not answer."""
    try:
        from jeepney import DBusAddress, Properties
        from jeepney.io.blocking import open_dbus_connection
    except ImportError as exc:
        return None, f"jeepney not installed ({exc})"
    addr = DBusAddress("/org/freedesktop/timedate1", bus_name="org.freedesktop.timedate1",
                       interface="org.freedesktop.timedate1")
    try:
        with open_dbus_connection(bus=bus) as conn:
            reply = conn.send_and_get_reply(Properties(addr).get("NTPSynchronized"), timeout=timeout)
    except Exception as exc:        # no bus, no timedated, a D-Bus error reply: unknown
        return None, f"timedated did not answer ({type(exc).__name__}: {exc})"
    try:
        signature, value = reply.body[0]
    except (IndexError, TypeError, ValueError):
        return None, f"timedated answered {reply.body!r}"
    if signature != "b":
        return None, f"timedated answered NTPSynchronized of type {signature!r}"
    return (True, "synchronised (timedated)") if value else (False, "timedated says NTPSynchronized=no")


def default_probe() -> tuple[bool | None, str]:
    """adjtimex first; timedated over D-Bus when adjtimex is refused (see the module docstring)."""
    ok, why = adjtimex_probe()
    if ok is not None:
        return ok, why
    ok2, why2 = timedated_probe()
    if ok2 is not None:
        return ok2, why2
    return None, f"{why}; {why2}"


class ClockSync:
    """Whether camera clocks may be set now, per ``CAMERA_CLOCK``.

    ``mode``: ``"synchronised"`` (set a camera clock only while the Pi's clock is synchronised),
    ``"always"`` (trust the Pi's clock: a Pi with a battery-backed RTC, test rigs), ``"never"``.
    ``probe``: ``() -> (True | False | None, detail)`` (default :func:`default_probe`); ``ttl``:
    seconds an answer is reused; ``clock``: monotonic seconds. Thread-safe.
    """

    MODES = ("synchronised", "always", "never")

    def __init__(self, mode: str = "synchronised", *, probe: Probe | None = None, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        if mode not in self.MODES:
            raise ValueError(f"CAMERA_CLOCK {mode!r}: must be one of {', '.join(self.MODES)}")
        self.mode = mode
        self.probe = probe or default_probe
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._cached: tuple[float, bool | None, str] | None = None
        self._last_logged: bool | None = None

    def __repr__(self) -> str:
        return f"<ClockSync {self.mode}>"

    def state(self) -> tuple[bool | None, str]:
        """``(synchronised, detail)`` as the probe last said (asked again after ``ttl`` s); never raises."""
        now = self.clock()
        with self._lock:
            if self._cached is not None and now - self._cached[0] < self.ttl:
                return self._cached[1], self._cached[2]
        try:
            ok, why = self.probe()
        except Exception as exc:       # a probe's bug must never stop a worker
            ok, why = None, f"clock check failed: {type(exc).__name__}: {exc}"
        with self._lock:
            self._cached = (now, ok, why)
            if ok is not self._last_logged:
                (log.info if ok else log.warning)("Pi clock %s: %s", "synchronised" if ok else "NOT synchronised "
                                                  "(camera clocks are left alone)", why)
                self._last_logged = ok
        return ok, why

    def may_set(self) -> tuple[bool, str]:
        """``(True, "")`` when a camera clock may be set now; else ``(False, why)`` where ``why``
        starts with :data:`NOT_SYNCHRONISED` (or says CAMERA_CLOCK is "never")."""
        if self.mode == "always":
            return True, ""
        if self.mode == "never":
            return False, 'CAMERA_CLOCK is "never": camera clocks are left alone'
        ok, why = self.state()
        if ok:
            return True, ""
        return False, f"{NOT_SYNCHRONISED} ({why}); camera clocks are left alone"

    def snapshot(self) -> dict:
        """The status file's ``clock``: ``{"mode", "synchronised": bool|None, "detail"}``."""
        if self.mode != "synchronised":
            return {"mode": self.mode, "synchronised": None, "detail": f'CAMERA_CLOCK "{self.mode}"'}
        ok, why = self.state()
        return {"mode": self.mode, "synchronised": ok, "detail": why if ok else f"{NOT_SYNCHRONISED}: {why}"}


_SHARED: dict[str, ClockSync] = {}
_SHARED_LOCK = threading.Lock()


def shared_clock_sync(mode: str) -> ClockSync:
    """The process's one :class:`ClockSync` for ``CAMERA_CLOCK`` ``mode`` (every worker asks the
    same one, so the kernel or timedated is asked once per ``ttl``, not once per camera)."""
    with _SHARED_LOCK:
        sync = _SHARED.get(mode)
        if sync is None:
            sync = _SHARED[mode] = ClockSync(mode)
        return sync
