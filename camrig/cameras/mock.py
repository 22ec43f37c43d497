"""An in-memory camera that ships with the package, for tests (as gpiozero ships ``MockFactory``).

:class:`MockDriver` keeps a camera's state (recording, SD card, busy/ready, mode, asleep, clock)
in memory, answers the worker's calls (:class:`camrig.cameras.base.Driver`) from it and logs every
call; :class:`MockWaker` wakes it. Nothing touches a socket, so a worker, an assembly or a whole
controller runs on them in-process. A family for tests can build its parts from them (see
tests/unit/test_registry.py); nothing in the daemon picks them by itself.

The state is only what the worker reads (CameraStatus: status 10 encoding, 8 busy, 82 ready,
33 sd_status, 70 battery, 43/44 mode in gpControl numbering); behaviour is the simplest a
camera could have: a shutter on records at once, off stops at once, a sleeping camera answers
nothing (CameraUnreachable) until it is woken.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from typing import Any

from ..errors import CameraUnreachable, WakeFailed
from .base import MODE_PHOTO, MODE_VIDEO, SD_OK, SUB_MODE_VIDEO, CameraStatus


class MockDriver:
    """An in-memory camera answering the worker's calls (:class:`camrig.cameras.base.Driver`).

    ``recording`` (status 10), ``sd_status`` (33, :data:`camrig.cameras.base.SD_OK`…), ``busy``
    (8), ``ready`` (82; None: not reported), ``battery_percent`` (70, percent), ``mode``
    (``"video"``, ``"photo"`` or None: no mode reported, and then the worker leaves the mode
    alone), ``asleep`` (every call but :meth:`reset` raises CameraUnreachable until
    :meth:`wake`), ``keep_alive_interval`` (seconds or None). ``fail`` maps a method name
    (``"shutter"``, ``"set_date_time"``…) to the exception that call raises, after it is logged
    and before it changes anything. The attributes may be changed at any time (the camera
    "stopping by itself", a card pulled); every call is appended to :attr:`calls` as
    ``(name, args)``. Thread-safe.
    """

    protocol = "mock"

    def __init__(self, name: str = "mock", *, recording: bool = False, sd_status: int | None = SD_OK,
                 busy: bool = False, ready: bool | None = True, battery_percent: int | None = 100,
                 mode: str | None = "video", asleep: bool = False, keep_alive_interval: float | None = None,
                 fail: Mapping[str, BaseException] | None = None):
        if mode not in ("video", "photo", None):
            raise ValueError(f"mode must be 'video', 'photo' or None, got {mode!r}")
        self.name = name
        self.recording = recording
        self.sd_status = sd_status
        self.busy = busy
        self.ready = ready
        self.battery_percent = battery_percent
        self.mode = mode
        self.asleep = asleep
        self.keep_alive_interval = keep_alive_interval
        self.fail: dict[str, BaseException] = dict(fail or {})
        #: The camera's clock as last set (local wall time), None until set.
        self.clock: dt.datetime | None = None
        self.hilights = 0
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (f"<MockDriver {self.name} recording={self.recording} sd={self.sd_status} mode={self.mode} "
                f"asleep={self.asleep}>")

    def _enter(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        exc = self.fail.get(name)
        if exc is not None:
            raise exc
        if self.asleep and name != "reset":
            raise CameraUnreachable("asleep (MockDriver)", camera=self.name)

    def calls_to(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every call to ``name`` so far, oldest first."""
        return [args for n, args in list(self.calls) if n == name]

    # --- the Driver interface ----------------------------------------------------------------

    def shutter(self, on: bool) -> None:
        """Start (``on``) or stop recording, at once."""
        with self._lock:
            self._enter("shutter", on)
            self.recording = bool(on)

    def status(self) -> CameraStatus:
        """The state as one status answer."""
        with self._lock:
            self._enter("status")
            mode = {"video": MODE_VIDEO, "photo": MODE_PHOTO}.get(self.mode) if self.mode else None
            return CameraStatus(encoding_active=self.recording, system_busy=self.busy,
                                system_ready=self.ready, sd_status=self.sd_status,
                                battery_percent=self.battery_percent, mode=mode,
                                sub_mode=None if mode is None else SUB_MODE_VIDEO)

    def probe(self, *, timeout: float | None = 2.0) -> None:
        """Returns when awake; CameraUnreachable while asleep."""
        with self._lock:
            self._enter("probe")

    def sleep(self) -> None:
        """Put the camera to sleep (it stops recording, as a camera does)."""
        with self._lock:
            self._enter("sleep")
            self.asleep = True
            self.recording = False

    def set_date_time(self, when: dt.datetime) -> None:
        """Set the camera's clock (:attr:`clock`)."""
        with self._lock:
            self._enter("set_date_time", when)
            self.clock = when

    def reset(self) -> None:
        """Forget connections: nothing to forget; logged."""
        with self._lock:
            self._enter("reset")

    def keep_alive(self) -> None:
        """A keep-alive: logged."""
        with self._lock:
            self._enter("keep_alive")

    def select_video(self) -> None:
        """Plain video mode."""
        with self._lock:
            self._enter("select_video")
            self.mode = "video"

    def hilight(self) -> None:
        """Tag a HiLight (counted in :attr:`hilights`)."""
        with self._lock:
            self._enter("hilight")
            self.hilights += 1

    # --- for the waker -----------------------------------------------------------------------

    def wake(self) -> None:
        """Wake the camera (no call logged: the waker's doing)."""
        with self._lock:
            self.asleep = False


class MockWaker:
    """Wakes a :class:`MockDriver` (or, with ``driver`` None, a camera that is always awake).

    ``fail``: the WakeFailed message each wake raises instead (None: wakes succeed). ``wakes``
    counts the calls; ``timeout`` (seconds) is there because an assembly's reload sets it.
    """

    def __init__(self, driver: MockDriver | None = None, *, fail: str | None = None, timeout: float = 30.0):
        self.driver = driver
        self.fail = fail
        self.timeout = timeout
        self.wakes = 0

    def __repr__(self) -> str:
        return f"<MockWaker wakes={self.wakes}>"

    def wake(self, stop: threading.Event, on_step=None) -> None:
        """Wake the driver's camera; WakeFailed (naming it) when ``fail`` is set or ``stop`` is."""
        self.wakes += 1
        camera = self.driver.name if self.driver is not None else None
        if stop.is_set():
            raise WakeFailed("stopping", camera=camera)
        if on_step is not None:
            on_step("mock wake")
        if self.fail:
            raise WakeFailed(self.fail, camera=camera)
        if self.driver is not None:
            self.driver.wake()
