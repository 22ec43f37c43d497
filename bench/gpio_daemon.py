"""The daemon with a GPIO trigger on gpiozero's MockFactory, driven over stdin (bench only).

Why this and not a test hook in the daemon: a mock pin lives inside the
process that opened it, so something in that process must drive it. This
helper assembles the daemon from exactly the parts ``gopro_manager.py run``
uses (``build_parts``, ``build_trigger`` with an explicit ``MockFactory``,
``build_workers``, ``Controller``), runs it in the car namespace (started with
``ip netns exec``, the same as ``os.setns`` into the namespace), and drives
the pin from its main thread. gpiozero calls the edge callback synchronously
in the thread that changes a mock pin, as lgpio/RPi.GPIO call it from their
own edge thread on a Pi: the path from edge to shutter is the real one.

Protocol: one word per line on stdin: ``on`` (drive the pin low = active,
pull-up wiring), ``off`` (high), ``quit``. For each ``on``/``off`` it prints
``edge <monotonic seconds>``, taken immediately before the pin changes.

``python -m bench.gpio_daemon --config PATH`` (the config names GPIO_BCM_PIN,
GPIO_PIN_FACTORY "mock" and TRIGGER_PATH None).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time


def main(argv: list[str] | None = None) -> int:
    from gpiozero.pins.mock import MockFactory

    from camrig.app import build_parts, build_trigger, build_workers, setup_logging
    from camrig.config import load_config
    from camrig.controller import Controller
    from camrig.systemd import Notifier

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    args = p.parse_args(argv)

    config = load_config(args.config)
    if config.gpio_bcm_pin is None:
        print("config has no GPIO_BCM_PIN", file=sys.stderr)
        return 2
    setup_logging(config.log_level, stream=sys.stderr)
    factory = MockFactory()
    parts = build_parts(config)
    trigger = build_trigger(config, pin_factory=factory)
    workers = build_workers(config, parts)
    controller = Controller(config, workers, trigger, Notifier(environ={}))
    for w in workers:
        w.start()
    loop = threading.Thread(target=controller.run, name="controller", daemon=True)
    loop.start()
    pin = factory.pin(config.gpio_bcm_pin)
    print("ready", flush=True)
    try:
        for line in sys.stdin:
            word = line.strip()
            if word == "on":
                t = time.monotonic()
                pin.drive_low()
            elif word == "off":
                t = time.monotonic()
                pin.drive_high()
            elif word == "quit":
                break
            else:
                continue
            print(f"edge {t:.6f}", flush=True)
    finally:
        controller.request_stop()
        loop.join(5.0)
        controller.shutdown(stop_recordings=False)
        for part in parts:
            part.http.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
