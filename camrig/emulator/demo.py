"""``make demo``: a mixed rig of emulated GoPros, the real daemon, one trigger, no root.

Starts a :class:`~camrig.emulator.rig.LoopbackRig` (a HERO7 and a HERO12 over "Wi-Fi", a HERO9
over BLE only through the emulated cameras' control sockets, a HERO11 over "USB"; cameras on 127.0.0.2–5,
daemon in ``NETWORK_MODE "address"``), then shows the status table three
times: after start-up, after the trigger file appears (all cameras recording),
after it is removed (all stopped). Exit status 0 when every step happened, 1
(with the daemon's log tail) when one did not.

Run as ``python gopro_manager.py demo`` or ``python -m camrig.emulator.demo``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .rig import LoopbackRig, RigError, RigTimeout

#: The default demo: one camera of each kind the daemon drives.
DEFAULT_MODELS = ("hero7", "hero12", "hero9:ble", "hero11:usb")


def run_demo(argv: Sequence[str] | None = None, *, out=None) -> int:
    """Run the demo; returns the process exit status (0 ok, 1 a step failed).

    ``argv``: ``[--models LIST | --cameras N] [--timeout SECONDS] [--keep]``.
    By default a mixed rig (:data:`DEFAULT_MODELS`: a HERO7 over Wi-Fi, a HERO12 over Wi-Fi,
    a HERO9 over BLE only, a HERO11 over USB); ``--cameras N`` gives N HERO7s instead.
    ``--timeout`` bounds each wait for the cameras (start, stop); ``--keep`` keeps the rig's
    working directory (config, logs) and prints its path.
    """
    out = out or sys.stdout
    parser = argparse.ArgumentParser(prog="gopro_manager.py demo",
                                     description="Emulated GoPros of several models record on a trigger file.")
    parser.add_argument("--models", default=None,
                        help="comma-separated MODEL[:PATH] list, PATH wifi|usb|ble "
                             f"(default {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--cameras", type=int, default=None, help="N emulated HERO7s instead (1–16)")
    parser.add_argument("--timeout", type=float, default=10.0,
                        help="seconds to wait for the cameras at each step (default 10)")
    parser.add_argument("--keep", action="store_true", help="keep the working directory (config, logs)")
    args = parser.parse_args(list(argv) if argv is not None else None)

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    if args.cameras is not None and args.models is None:
        models = ["hero7"] * args.cameras
    else:
        models = (args.models or ",".join(DEFAULT_MODELS)).split(",")
    try:
        rig = LoopbackRig(len(models), models=models, keep_workdir=args.keep, prefix="gmdemo")
    except ValueError as exc:
        parser.error(str(exc))
    failed = False
    try:
        with rig:
            try:
                _steps(rig, args.timeout, say)
            except (RigError, RigTimeout) as exc:
                failed = True
                say(f"\ndemo FAILED: {str(exc).splitlines()[0]}")
                say("--- daemon log (last 40 lines):")
                say(rig.daemon_log(40))
                for cam in rig.cameras:
                    say(f"--- {cam.name} emulator log (last 10 lines):")
                    say(rig.emulator_log(cam.k, 10))
    except (RigError, RigTimeout, OSError) as exc:
        say(f"demo FAILED while setting up: {exc}")
        return 1
    if failed:
        return 1
    say("\ndemo OK: every camera started and stopped with the trigger.")
    return 0


def _steps(rig: LoopbackRig, timeout: float, say) -> None:
    names = ", ".join(f"{c.name} ({c.model} over {c.path}"
                      + ("" if c.path == "ble" else f" at {c.address}:{c.http_port}") + ")" for c in rig.cameras)
    say(f"{len(rig.cameras)} emulated cameras: {names}")
    say(f"daemon config: {rig.config_path}")
    rig.start_daemon()
    rig.wait_until(lambda: _all_states(rig, {"idle"}), max(timeout, 20.0),
                   message="the daemon to find every camera idle")
    say("\n$ gopro_manager.py status")
    say(rig.status_table())

    say(f"$ touch {rig.trigger_path}")
    t0 = time.monotonic()
    rig.trigger_on()
    rig.wait_until(lambda: all(rig.recording()) and _all_states(rig, {"recording"}), timeout,
                   message="every camera to record")
    say(f"every camera records ({time.monotonic() - t0:.1f} s after the trigger)\n")
    say("$ gopro_manager.py status")
    say(rig.status_table())

    say(f"$ rm {rig.trigger_path}")
    t0 = time.monotonic()
    rig.trigger_off()
    rig.wait_until(lambda: not any(rig.recording()) and _all_states(rig, {"idle"}), timeout,
                   message="every camera to stop")
    say(f"every camera stopped ({time.monotonic() - t0:.1f} s after the trigger went away)\n")
    say("$ gopro_manager.py status")
    say(rig.status_table())
    rig.stop_daemon()


def _all_states(rig: LoopbackRig, states: set[str]) -> bool:
    """True when the status file lists every camera of the rig in one of ``states``, confirmed
    by the camera's own status (``recording`` true exactly when the state is "recording"), so
    that the table printed next is consistent."""
    cameras = rig.status().get("cameras", [])
    return len(cameras) == len(rig.cameras) and all(
        c.get("state") in states and c.get("recording") == (c.get("state") == "recording") for c in cameras)


if __name__ == "__main__":
    sys.exit(run_demo(sys.argv[1:]))
