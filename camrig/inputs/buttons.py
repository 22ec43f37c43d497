"""The car's push buttons: mark the moment, and record on/off.

Each is a momentary push button between its GPIO and ground, read with gpiozero ``Button(pin,
pull_up=True, bounce_time=BUTTON_BOUNCE_TIME, pin_factory=...)`` (gpiozero docs, "Button":
``pull_up=True`` — the pin is pulled high, and pressing connects it to ground, which is
"pressed"), through the same pin factory as the trigger (``GPIO_PIN_FACTORY``; tests pass
gpiozero's ``MockFactory``). ``when_pressed`` runs in the pin driver's thread; a button only
posts a command to the controller (``controller.post``), it never waits for it.

Bad contacts and impatient thumbs:

* a button held down is one press (``when_pressed`` fires on the edge; ``hold_repeat`` is off);
* contact bounce shorter than ``bounce_time`` is filtered by the pin driver; chatter longer than
  that reaches us as several presses: the mark service coalesces marks within ``MARK_COALESCE``
  s, and the record button ignores presses within :attr:`RecordButton.guard_s` of the last one
  (two toggles in a blink would undo each other);
* a callback's error is logged, never raised into the pin driver's thread.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable

from ..commands import Command
from ..errors import TriggerError

log = logging.getLogger(__name__)


def open_button(pin: int, what: str, *, bounce_time: float | None, pin_factory=None):
    """gpiozero ``Button(pin, pull_up=True, bounce_time=…)``.

    :raises TriggerError: the pin cannot be opened (no pin factory, pin busy, no access); the
        message names ``what`` (e.g. "MARK_BCM_PIN") and the pin.
    """
    try:
        from gpiozero import Button
    except ImportError as exc:
        raise TriggerError(f"{what} GPIO{pin}: gpiozero is not installed ({exc})") from exc
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return Button(pin, pull_up=True, bounce_time=bounce_time, pin_factory=pin_factory)
        except Exception as exc:
            raise TriggerError(f"{what} GPIO{pin}: cannot open the button "
                               f"({type(exc).__name__}: {exc})") from exc


class MarkButton:
    """``MARK_BCM_PIN``: each press posts ``mark`` (source ``button``) to ``post`` (the
    controller's :meth:`~camrig.controller.Controller.post`). ``presses`` counts the edges seen."""

    def __init__(self, pin: int, post: Callable[[Command], object], *, bounce_time: float | None = 0.05,
                 pin_factory=None):
        self.pin = pin
        self.post = post
        self.presses = 0
        self._button = open_button(pin, "MARK_BCM_PIN", bounce_time=bounce_time, pin_factory=pin_factory)
        self._button.when_pressed = self._pressed

    def __repr__(self) -> str:
        return f"<MarkButton GPIO{self.pin} presses={self.presses}>"

    def _pressed(self) -> None:
        self.presses += 1
        try:
            self.post(Command("mark", source="button"))
        except Exception:
            log.exception("mark button GPIO%s: posting the mark failed", self.pin)

    def close(self) -> None:
        """Release the pin (idempotent)."""
        self._button.close()


class RecordButton:
    """``RECORD_BCM_PIN``: each press toggles the record latch: ``record on`` when the latch is
    off, ``record auto`` (latch cleared: the triggers decide again) when it is on; source
    ``button``, so the status says recording is wanted by the ``button``.

    ``latch()`` reads the controller's latch now (a bool); presses within ``guard_s`` seconds of the
    last accepted one are ignored (chatter, a double press), counted in ``ignored``.
    """

    def __init__(self, pin: int, post: Callable[[Command], object], latch: Callable[[], bool], *,
                 bounce_time: float | None = 0.05, guard_s: float = 0.5, pin_factory=None,
                 clock: Callable[[], float] = time.monotonic):
        self.pin = pin
        self.post = post
        self.latch = latch
        self.guard_s = guard_s
        self.clock = clock
        self.presses = 0
        self.ignored = 0
        self._last: float | None = None
        self._lock = threading.Lock()
        self._button = open_button(pin, "RECORD_BCM_PIN", bounce_time=bounce_time, pin_factory=pin_factory)
        self._button.when_pressed = self._pressed

    def __repr__(self) -> str:
        return f"<RecordButton GPIO{self.pin} presses={self.presses} ignored={self.ignored}>"

    def _pressed(self) -> None:
        now = self.clock()
        with self._lock:
            if self._last is not None and now - self._last < self.guard_s:
                self.ignored += 1
                return
            self._last = now
            self.presses += 1
        try:
            mode = "auto" if self.latch() else "on"
            self.post(Command("record", (mode,), source="button"))
        except Exception:
            log.exception("record button GPIO%s: posting the command failed", self.pin)

    def close(self) -> None:
        """Release the pin (idempotent)."""
        self._button.close()
