"""BASELINE, NOT THE DAEMON: a small re-creation of the original script's trigger handling.

This exists only so that ``make bench`` can measure, on the same rig and in
the same run, what the daemon replaced. It is deliberately the old design:

- one loop, woken every ``--cycle`` seconds (1 s) — no inotify, no edge callback;
- when the trigger file's existence changes, the cameras are handled **one
  after another**, each with the same steps the original took:

  1. ``ip route replace 10.5.5.9 dev wlanK scope link`` (route switching: all
     cameras share 10.5.5.9),
  2. association check: ``iw dev wlanK link`` (a subprocess; where ``iw`` is
     not installed, as on this rig, the exec fails fast) then operstate,
  3. ``wakeonlan -i 10.5.5.255 MAC`` (a subprocess; the venv's
     python-wakeonlan CLI, Debian's is a Perl script),
  4. a locate probe ``/gp/gpControl/command/system/locate?p=0``,
  5. the shutter ``/gp/gpControl/command/shutter?p=1|0``,

  each HTTP request on a new TCP connection (a route switch breaks kept-alive
  connections, and the original used a fresh connection per request);
- every ``CHECK_STATUS`` (5) cycles, a status read per camera, one after another.

Run inside the car namespace (``ip netns exec CAR python -m bench.baseline
--trigger PATH --camera wlan1=02:47:50:00:00:01 ...``); stops on SIGTERM.
It leaves a host route to 10.5.5.9 behind: the bench deletes it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

ADDRESS = "10.5.5.9"
BROADCAST = "10.5.5.255"

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(path: str, timeout: float = 2.0) -> bytes | None:
    """GET http://10.5.5.9{path} on a new connection; None on any failure."""
    try:
        with _opener.open(f"http://{ADDRESS}{path}", timeout=timeout) as resp:
            return resp.read()
    except (urllib.error.URLError, OSError):
        return None


def _run(argv: list[str]) -> None:
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        pass


def _associated(iface: str, iw: str | None) -> bool:
    if iw:
        _run([iw, "dev", iface, "link"])   # veth: "nl80211 not found." → fall back to operstate
    else:
        _run(["iw", "dev", iface, "link"])  # not installed: the exec fails, as it would cost nothing more
    try:
        with open(f"/sys/class/net/{iface}/operstate") as f:
            return f.read().strip() == "up"
    except OSError:
        return False


def handle_camera(iface: str, mac: str, on: bool, wakeonlan: str, iw: str | None) -> None:
    """The original per-camera sequence: route, association, WoL, probe, shutter."""
    _run(["ip", "route", "replace", f"{ADDRESS}/32", "dev", iface, "scope", "link"])
    if not _associated(iface, iw):
        return
    _run([wakeonlan, "-i", BROADCAST, mac])
    if _get("/gp/gpControl/command/system/locate?p=0") is None:
        return
    _get(f"/gp/gpControl/command/shutter?p={1 if on else 0}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--trigger", required=True, help="trigger file: record while it exists")
    p.add_argument("--camera", action="append", default=[], metavar="IFACE=MAC", required=True)
    p.add_argument("--cycle", type=float, default=1.0, help="loop period, seconds (original: 1)")
    p.add_argument("--check-status", type=int, default=5, help="status read every this many cycles")
    args = p.parse_args(argv)
    cameras = [tuple(c.split("=", 1)) for c in args.camera]
    here = os.path.dirname(sys.executable)
    wakeonlan = os.path.join(here, "wakeonlan")
    if not os.path.exists(wakeonlan):
        wakeonlan = shutil.which("wakeonlan") or "wakeonlan"
    iw = shutil.which("iw")

    stop = False

    def _stop(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    applied = os.path.exists(args.trigger)
    cycle = 0
    print(f"baseline: {len(cameras)} camera(s), cycle {args.cycle} s, applied={applied}", flush=True)
    while not stop:
        cycle += 1
        wanted = os.path.exists(args.trigger)
        if wanted != applied:
            for iface, mac in cameras:
                handle_camera(iface, mac, wanted, wakeonlan, iw)
            applied = wanted
        elif args.check_status and cycle % args.check_status == 0:
            for iface, _mac in cameras:
                _run(["ip", "route", "replace", f"{ADDRESS}/32", "dev", iface, "scope", "link"])
                _get("/gp/gpControl/status")
        time.sleep(args.cycle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
