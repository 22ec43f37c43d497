"""The status LED: what the rig is doing, at a glance, without looking away from the track.

One more publisher of the controller's snapshot (camrig/publishers.py): ``LED_BCM_PIN`` drives a
gpiozero ``LED`` (an LED and its resistor from the pin to ground: pin high = lit).

========================  ===============================================================
pattern                   when
========================  ===============================================================
off                       the daemon is not running (the pin is released at exit)
solid                     idle: recording not wanted, no camera in fault
slow blink (1 s on/off)   recording wanted and every camera recording
fast blink (0.1 s)        recording wanted but some camera is not recording, or any camera
                          in fault (wanted or not)
double flash              a mark was taken (dark 0.3 s, two 0.1 s flashes), then the pattern
========================  ===============================================================

"Recording" is the worker's confirmed state: ``state == "recording"`` and ``recording`` true (a
shutter just sent, not yet confirmed by status 10, counts as not yet recording).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping

from ..errors import TriggerError

log = logging.getLogger(__name__)

OFF, SOLID, SLOW, FAST = "off", "solid", "slow", "fast"
#: (on seconds, off seconds) of each blinking pattern
BLINK = {SLOW: (1.0, 1.0), FAST: (0.1, 0.1)}
#: the double flash: two flashes of FLASH_ON s with FLASH_OFF s between
FLASH_ON, FLASH_OFF = 0.1, 0.15


def led_pattern(snapshot: Mapping) -> str:
    """The pattern for ``snapshot`` (the controller's snapshot dict): :data:`SOLID`, :data:`SLOW`
    or :data:`FAST` (the daemon runs, so never :data:`OFF`). A malformed snapshot is :data:`FAST`
    (something is wrong)."""
    rows = snapshot.get("cameras") if isinstance(snapshot, Mapping) else None
    if not isinstance(rows, list):
        return FAST
    rows = [r for r in rows if isinstance(r, Mapping)]
    if any(r.get("state") == "fault" for r in rows):
        return FAST
    if not snapshot.get("wanted"):
        return SOLID
    if rows and all(r.get("state") == "recording" and r.get("recording") is True for r in rows):
        return SLOW
    return FAST


class LedPublisher:
    """Drive the status LED from the snapshot (see the module docstring).

    ``pin``: BCM number; ``pin_factory``: gpiozero pin factory (tests: MockFactory); ``led``: an
    already opened gpiozero LED (tests). It blocks for the double flash (≈0.8 s), so it runs
    behind the publishers' mailbox thread like the status file. A mark is noticed when the
    snapshot's ``marks.count`` grows.

    :raises TriggerError: the pin cannot be opened.
    """

    name = "status-led"

    def __init__(self, pin: int | None = None, *, pin_factory=None, led=None):
        self.pin = pin
        if led is None:
            try:
                from gpiozero import LED
            except ImportError as exc:
                raise TriggerError(f"LED_BCM_PIN GPIO{pin}: gpiozero is not installed ({exc})") from exc
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    led = LED(pin, pin_factory=pin_factory)
                except Exception as exc:
                    raise TriggerError(f"LED_BCM_PIN GPIO{pin}: cannot open the LED "
                                       f"({type(exc).__name__}: {exc})") from exc
        self.led = led
        self.pattern = OFF
        self.flashes = 0
        self._marks: int | None = None

    def __repr__(self) -> str:
        return f"<LedPublisher GPIO{self.pin} {self.pattern}>"

    def publish(self, snapshot: dict) -> None:
        """Show ``snapshot``: a double flash first when a mark was taken since the last one, then
        the pattern (:func:`led_pattern`), changed only when it differs (a blink is not restarted
        every tick). Never raises (an LED that fails is logged)."""
        try:
            marks = snapshot.get("marks") if isinstance(snapshot, dict) else None
            count = marks.get("count") if isinstance(marks, dict) else None
            flash = isinstance(count, int) and self._marks is not None and count > self._marks
            if isinstance(count, int):
                self._marks = count
            pattern = led_pattern(snapshot)
            if flash:
                self.flashes += 1
                # Dark first, so that the two flashes show whatever the pattern was (solid too).
                self.led.off()
                time.sleep(2 * FLASH_OFF)
                self.led.blink(on_time=FLASH_ON, off_time=FLASH_OFF, n=2, background=False)
                self.pattern = ""                   # the flash left the LED off: set the pattern again
            self._show(pattern)
        except Exception:
            log.exception("status LED GPIO%s failed", self.pin)

    def _show(self, pattern: str) -> None:
        if pattern == self.pattern:
            return
        self.pattern = pattern
        if pattern == SOLID:
            self.led.on()
        elif pattern == OFF:
            self.led.off()
        else:
            on, off = BLINK[pattern]
            self.led.blink(on_time=on, off_time=off, background=True)

    def close(self) -> None:
        """LED off (the daemon is not running) and the pin released."""
        try:
            self.led.off()
            self.pattern = OFF
            self.led.close()
        except Exception:
            log.exception("status LED GPIO%s: closing failed", self.pin)
