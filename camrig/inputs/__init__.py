"""In the car (issue 13): the mark and record buttons, the status LED, the ignition, the marks
file and honest camera clocks, wired to the controller by :func:`install`.

- :mod:`camrig.inputs.marks` — the ``mark`` command (HiLight on every recording camera, per-camera
  answers off the loop, storms coalesced, ``MARKS_PATH``);
- :mod:`camrig.inputs.buttons` — ``MARK_BCM_PIN``, ``RECORD_BCM_PIN`` (gpiozero ``Button``);
- :mod:`camrig.inputs.led` — ``LED_BCM_PIN`` (a publisher of the snapshot);
- :mod:`camrig.inputs.ignition` — ``IGNITION_BCM_PIN``, ``IGNITION_GRACE``,
  ``SHUTDOWN_ON_IGNITION_OFF`` (logind over D-Bus);
- :mod:`camrig.inputs.clock_sync` — ``CAMERA_CLOCK`` (camera clocks only from a synchronised Pi);
- :mod:`camrig.inputs.commands_cli` — ``gopro_manager.py mark`` / ``record`` over the control socket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """What :func:`install` opened; :meth:`close` releases it (pins, threads)."""

    marks: Any = None
    mark_button: Any = None
    record_button: Any = None
    led: Any = None
    ignition: Any = None
    errors: list[str] = field(default_factory=list)

    def close(self) -> None:
        """Release every pin (idempotent). The LED is the controller's publisher: closed with it."""
        for part in (self.mark_button, self.record_button, self.ignition):
            if part is not None:
                try:
                    part.close()
                except Exception:
                    log.exception("closing %r failed", part)
        if self.marks is not None:
            self.marks.join(0.5)


def install(controller, config, *, pin_factory=None, shutdown=None) -> Inputs:
    """Wire issue 13's inputs and outputs to ``controller`` for ``config``:

    - ``mark`` is served by a :class:`~camrig.inputs.marks.MarkService` (``controller.add_command``);
      the snapshot gets ``marks`` and ``clock``;
    - each configured pin is opened through ``pin_factory`` (None: ``GPIO_PIN_FACTORY``, else
      gpiozero's own choice); a pin that cannot be opened is logged as an error and left out (the
      trigger and the cameras do not need it), and listed in ``Inputs.errors``;
    - ``shutdown``: the power-off call used when ``SHUTDOWN_ON_IGNITION_OFF`` (default: logind
      over the system bus, :func:`~camrig.inputs.ignition.logind_power_off`; tests inject their own).

    ``MARKS_PATH``, ``MARK_COALESCE`` and ``CAMERA_CLOCK`` follow a reload; the pins are opened
    once: a reload that changes them takes effect at the next start (logged by the reload as a
    changed key). Never raises for a pin; returns the :class:`Inputs` to close at exit.
    """
    from ..errors import CamRigError
    from .clock_sync import shared_clock_sync
    from .marks import MarkService

    inputs = Inputs()
    marks = MarkService(lambda: controller.workers, marks_path=config.marks_path,
                        coalesce=config.mark_coalesce, config=lambda: controller.config)
    inputs.marks = marks
    controller.add_command("mark", marks.handle)
    controller.snapshot_extras["marks"] = marks.snapshot
    controller.snapshot_extras["clock"] = lambda: shared_clock_sync(controller.config.camera_clock).snapshot()
    pins = [config.mark_bcm_pin, config.record_bcm_pin, config.led_bcm_pin, config.ignition_bcm_pin]
    if all(p is None for p in pins):
        return inputs
    factory = pin_factory
    if factory is None and config.gpio_pin_factory is not None:
        from ..app import make_pin_factory
        try:
            factory = make_pin_factory(config.gpio_pin_factory)
        except CamRigError as exc:
            inputs.errors.append(str(exc))
            log.error("%s; no button, LED or ignition pin", exc)
            return inputs

    def opened(what, build):
        try:
            return build()
        except CamRigError as exc:
            inputs.errors.append(exc.detail)
            log.error("%s; carrying on without it", exc.detail)
            return None

    if config.mark_bcm_pin is not None:
        from .buttons import MarkButton
        inputs.mark_button = opened("mark button", lambda: MarkButton(
            config.mark_bcm_pin, controller.post, bounce_time=config.button_bounce_time or None,
            pin_factory=factory))
    if config.record_bcm_pin is not None:
        from .buttons import RecordButton
        inputs.record_button = opened("record button", lambda: RecordButton(
            config.record_bcm_pin, controller.post, lambda: controller.latch,
            bounce_time=config.button_bounce_time or None, pin_factory=factory))
    if config.led_bcm_pin is not None:
        from .led import LedPublisher
        inputs.led = opened("status LED", lambda: LedPublisher(config.led_bcm_pin, pin_factory=factory))
        if inputs.led is not None:
            controller.publishers.add(inputs.led)
    if config.ignition_bcm_pin is not None:
        from .ignition import IgnitionWatch, logind_power_off
        power_off = (shutdown or logind_power_off) if config.shutdown_on_ignition_off else None

        def recording() -> bool:
            return any(w.snapshot().get("state") == "recording" for w in controller.workers)

        inputs.ignition = opened("ignition", lambda: IgnitionWatch(
            config.ignition_bcm_pin, grace=config.ignition_grace,
            set_ignition=lambda on: controller.hold_off(None if on else "ignition off"),
            recording=recording, shutdown=power_off, pin_factory=factory))
        if inputs.ignition is not None:
            controller.snapshot_extras["ignition"] = inputs.ignition.snapshot
    return inputs
