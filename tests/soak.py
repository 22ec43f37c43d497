#!/usr/bin/env python3
"""Soak run: the real daemon, 4 emulated cameras, the trigger on and off at random and faults
injected at random, for 20 minutes (``--minutes`` for shorter runs). ``make soak``, or from the top of the checkout
``python -m tests.soak [--minutes N] [-v]``.

Needs root (the namespace rig). Not part of ``make test``.

Every ``--sample`` seconds it reads each emulator's own recording flag (the witness that does
not depend on the daemon's opinion). Per camera it reports:

- **recorded**: the share of trigger-on time the camera was recording, outside the injected
  outage windows (target ≥ 99 %). A window runs from a fault's injection to its end plus a
  recovery allowance (the daemon's retry back-off, a wake, a power cycle); the time a camera
  needs to start after the trigger comes on is *not* excused.
- **restarts**: recordings the daemon started while the trigger was already on (after the
  camera stopped by itself, rebooted, jammed its card, lost Wi-Fi…).
- faults injected (a swapped-adapter fault counts for both cameras; two are the daemon's own:
  ``reload_hung`` -- the camera answers in 5 s and a SIGHUP reload replaces its worker
  mid-exchange; ``notify_stalled`` -- the stand-in systemd stops reading its notification socket
  for 20 s; neither excuses any *other* camera), and the daemon's exceptions (``unexpected error``
  / ``Traceback`` lines in
  its log; target 0), its RSS and open file descriptors after warm-up and at the end, each
  counted when every camera has settled (targets:
  growth ≤ 5 MB, no fd growth).

- systemd's watchdog as seen by the stand-in: the longest gap between two ``WATCHDOG=1``
  outside its stalls (after a stall, from the moment it reads again; target ≤ ``WatchdogSec``,
  the daemon re-sends a dropped ping at its next tick).

Exit status 0 when every target is met, 1 otherwise, 2 when it cannot run here.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.rig import NamespaceRig, namespaces_available

#: fault name → (how long it lasts, s; recovery allowance after it ends, s).
#: Momentary faults (the camera does something once) last 0 s.
FAULTS = {
    "stop_recording": (0, 8),       # noticed at the next check, restarted
    "reboot": (0, 10),              # recording lost, boot_delay until ready
    "sd_error": (0, 20),            # power cycle: sleep, pause, wake, ready
    "wifi_off": (0, 25),            # BLE Wi-Fi-on, association, Wake-on-LAN, ready
    "asleep": (0, 15),              # Wake-on-LAN
    "slow": (8, 25),                # 5 s answers: unreachable to the daemon, then back-off
    "http_500": (8, 12),
    "bad_json": (8, 12),
    "truncated_json": (8, 12),
    "no_key_10": (8, 12),
    "link_down": (8, 25),           # the car's adapter for that camera goes down
    "ble_busy": (0, 30),            # Wi-Fi off and the first BLE attempts fail "busy"
    # Two cameras' adapters swap names (udev order) for 10 s: both in fault, nothing sent to
    # either; back on their own APs: re-checked within 5 s (ADAPTER_RECHECK_S), then as usual.
    "swapped_adapters": (10, 12),
    "reload_hung": (6, 25),         # 5 s answers; a reload replaces its worker mid-exchange
    "notify_stalled": (20, 0),      # systemd stops reading: no window, no camera may notice
}

#: WatchdogSec= of the stand-in systemd (the daemon pings every quarter of it).
WATCHDOG_SEC = 6.0


class StandInSystemd:
    """systemd's notification socket, as far as the soak needs it: a datagram socket at ``path``
    read by a thread that records when each ``WATCHDOG=1`` arrives; :meth:`stall` stops the
    reading for a while (its receive queue fills: the daemon must drop, never block)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.pings: list[float] = []
        self.stalls: list[list[float]] = []      # [start, end] monotonic
        self._reading = threading.Event()
        self._reading.set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if not self._reading.wait(0.2):
                continue
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"WATCHDOG=1" in data.split(b"\n"):
                self.pings.append(time.monotonic())

    def stall(self, now: float, seconds: float) -> None:
        self._reading.clear()
        self.stalls.append([now, now + seconds])

    def resume(self) -> None:
        self.stalls[-1][1] = time.monotonic()
        self._reading.set()

    @property
    def stalled(self) -> bool:
        return not self._reading.is_set()

    def longest_gap(self) -> float:
        """Longest wait for a WATCHDOG=1 while reading: a gap across a stall counts from its end."""
        longest = 0.0
        for a, b in itertools.pairwise(self.pings):
            for s0, s1 in self.stalls:
                if a <= s1 and s0 <= b:
                    a = max(a, s1)
            longest = max(longest, b - a)
        return longest

    def close(self):
        self._stop.set()
        self._reading.set()
        self._thread.join(2)
        self.sock.close()


def reload_with_entry_changed(rig, gopros: list, k: int, count: int) -> None:
    """Rewrite the config with camera ``k``'s entry changed (its SSID, which the daemon does not
    use to talk to it) and SIGHUP the daemon: the reload replaces that camera's worker."""
    entry = gopros[k - 1]
    entry["ssid"] = f"{entry['ssid'].split('~')[0]}~{count}"
    rig.write_config(dict(CONFIG, GOPROS=gopros))
    os.kill(rig.daemon.pid, signal.SIGHUP)

CONFIG = {
    "CHECK_STATUS": 2,
    "CYCLE_SECONDS": 0.5,
    "WAKE_TIMEOUT": 10.0,
    "HTTP_TIMEOUT": 2.0,
    "CONNECT_TIMEOUT": 1.0,
    "BLE_TIMEOUT": 3.0,
    "LOG_LEVEL": "info",
}


@dataclass
class Camera:
    k: int
    on_time: float = 0.0          # trigger-on time outside outage windows, s
    recorded: float = 0.0         # of which recording
    restarts: int = 0
    faults: int = 0
    windows: list = field(default_factory=list)   # (start, end) monotonic
    busy_until: float = 0.0       # no new fault before this
    pending_clear: list = field(default_factory=list)
    last_event_t: float = float("-inf")
    events: list = field(default_factory=list)    # (t, "record_start" | "record_stop")
    reloads: int = 0              # reload_hung faults so far (each changes its config entry)

    def in_window(self, t: float) -> bool:
        return any(a <= t <= b for a, b in self.windows)


def _overlap(a0, a1, intervals) -> float:
    return sum(max(0.0, min(a1, b1) - max(a0, b0)) for b0, b1 in intervals)


def account(cam: Camera, on_intervals, t_end: float) -> None:
    """Exact accounting from the emulator's own record_start/record_stop times: trigger-on time
    outside outage windows, how much of it the camera recorded, and the restarts."""
    recording, started = [], None
    for t, what in sorted(cam.events):
        if what == "record_start" and started is None:
            started = t
        elif what == "record_stop" and started is not None:
            recording.append((started, t))
            started = None
    if started is not None:
        recording.append((started, t_end))
    # merge overlapping outage windows
    windows = []
    for a, b in sorted(cam.windows):
        if windows and a <= windows[-1][1]:
            windows[-1][1] = max(windows[-1][1], b)
        else:
            windows.append([a, b])
    for on, off in on_intervals:
        # the pieces of [on, off] outside every window
        pieces, cursor = [], on
        for a, b in windows:
            if b <= cursor or a >= off:
                continue
            if a > cursor:
                pieces.append((cursor, a))
            cursor = max(cursor, b)
        if cursor < off:
            pieces.append((cursor, off))
        for p0, p1 in pieces:
            cam.on_time += p1 - p0
            cam.recorded += _overlap(p0, p1, recording)
        cam.restarts += sum(1 for t, what in cam.events if what == "record_start" and on + 3 < t <= off)


def proc_stats(pid: int) -> tuple[float, int]:
    """(RSS in MB, open fds) of ``pid``."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def steady(rig, trigger: bool) -> bool:
    """Every camera as the trigger wants it, confirmed by its status, nobody degraded: the moment
    to count the daemon's fds and RSS (a wake in flight holds a gatttool pty and sockets)."""
    want = "recording" if trigger else "idle"
    try:
        rows = rig.status()["cameras"]
        return (rig.recording() == [trigger] * rig.n
                and all(c["state"] == want and c["recording"] is trigger and not c["degraded"] for c in rows))
    except (OSError, ValueError, KeyError):
        return False


def inject(rig, cam: Camera, name: str, now: float, rnd: random.Random, log, cams=(), *, systemd=None,
           gopros=None) -> None:
    duration, grace = FAULTS[name]
    ctl = rig.camera(cam.k)
    if name == "notify_stalled":
        if systemd is None or systemd.stalled:
            return
        systemd.stall(now, duration)
        cam.pending_clear.append((now + duration, systemd.resume))
        cam.faults += 1
        log(f"systemd: stops reading its notification socket for {duration:g} s (no allowance)")
        return
    if name == "swapped_adapters":
        # Needs a second camera with no fault of its own, and one more left fault-free.
        partners = [c for c in cams if c is not cam and now >= c.busy_until]
        if len(partners) < 2:
            name = "stop_recording"
            duration, grace = FAULTS[name]
        else:
            other = rnd.choice(partners)
            rig.swap_adapters(cam.k, other.k)
            cam.pending_clear.append((now + duration, lambda a=cam.k, b=other.k: rig.swap_adapters(a, b)))
            other.faults += 1
            other.windows.append((now, now + duration + grace))
            other.busy_until = now + duration + grace
            log(f"cam{other.k}: adapter swapped with cam{cam.k}'s")
    if name == "swapped_adapters":
        pass
    elif name == "reload_hung":
        ctl.fault("slow", seconds=5)
        cam.reloads += 1
        # by then its worker is inside an exchange that the camera takes 5 s to answer
        cam.pending_clear.append((now + 1.5, lambda: reload_with_entry_changed(rig, gopros, cam.k, cam.reloads)))
        cam.pending_clear.append((now + duration, lambda: ctl.fault("slow", seconds=0)))
    elif name == "slow":
        ctl.fault("slow", seconds=5)
        cam.pending_clear.append((now + duration, lambda: ctl.fault("slow", seconds=0)))
    elif name in ("http_500", "bad_json", "truncated_json", "no_key_10"):
        ctl.fault(name, on=True)
        cam.pending_clear.append((now + duration, lambda n=name: ctl.fault(n, on=False)))
    elif name == "link_down":
        rig.ip("link", "set", f"wlan{cam.k}", "down", netns=rig.car_ns)
        cam.pending_clear.append((now + duration, lambda: rig.ip("link", "set", f"wlan{cam.k}", "up",
                                                                  netns=rig.car_ns)))
    elif name == "ble_busy":
        ctl.fault("ble_error", error="busy")
        ctl.fault("wifi_off")
        cam.pending_clear.append((now + 3.0, lambda: ctl.fault("ble_error", error=None)))
        duration = 3.0
    else:
        ctl.fault(name)
    cam.faults += 1
    cam.windows.append((now, now + duration + grace))
    cam.busy_until = now + duration + grace
    log(f"cam{cam.k}: fault {name} ({duration:g} s + {grace:g} s allowance)")


def run(args) -> int:
    ok, reason = namespaces_available()
    if not ok:
        print(f"soak: cannot run here: {reason}", file=sys.stderr)
        return 2
    rnd = random.Random(args.seed)
    start_wall = time.strftime("%H:%M:%S")

    def log(msg):
        if args.verbose:
            print(f"[{time.monotonic() - t0:7.1f}] {msg}", flush=True)

    prefix = f"gmsoak{os.getpid()}"
    with NamespaceRig(args.cameras, prefix=prefix, mode=args.mode, association_delay=1.0, boot_delay=0.5,
                      check_status=CONFIG["CHECK_STATUS"], cycle_seconds=CONFIG["CYCLE_SECONDS"],
                      keep_workdir=args.keep) as rig:
        systemd = StandInSystemd(rig.workdir / "notify")
        gopros = rig.config_values()["GOPROS"]
        rig.start_daemon(CONFIG, extra_env={"NOTIFY_SOCKET": systemd.path,
                                            "WATCHDOG_USEC": str(int(WATCHDOG_SEC * 1_000_000))})
        pid = rig.daemon.pid
        cams = [Camera(k) for k in range(1, args.cameras + 1)]
        t0 = time.monotonic()
        end = t0 + args.minutes * 60
        trigger = False
        next_trigger = t0 + rnd.uniform(3, 8)
        next_fault = t0 + rnd.uniform(10, 20)
        warm_stats = None
        on_intervals: list = []     # [on, off] monotonic times of the trigger
        fd_trace: list = []         # the daemon's open fds every 10 s, whatever it is doing
        print(f"soak: {args.cameras} cameras, {args.minutes:g} min, seed {args.seed}, mode {args.mode}, "
              f"daemon pid {pid}, started {start_wall}", flush=True)
        while True:
            now = time.monotonic()
            if now >= end:
                break
            warm_at = min(60.0, args.minutes * 60 / 4)
            if (warm_stats is None and now - t0 >= warm_at and all(now >= c.busy_until for c in cams)
                    and steady(rig, trigger)):
                time.sleep(2)
                warm_stats = proc_stats(pid)
                log(f"after warm-up: RSS {warm_stats[0]:.1f} MB, {warm_stats[1]} fds")
            if now - t0 >= len(fd_trace) * 10:
                fd_trace.append(proc_stats(pid)[1])
            # trigger
            if now >= next_trigger:
                trigger = not trigger
                (rig.trigger_on if trigger else rig.trigger_off)()
                if trigger:
                    on_intervals.append([time.monotonic(), None])
                else:
                    on_intervals[-1][1] = time.monotonic()
                next_trigger = now + (rnd.uniform(20, 120) if trigger else rnd.uniform(4, 20))
                log(f"trigger {'on' if trigger else 'off'}")
            # faults: inject, clear
            for cam in cams:
                for item in list(cam.pending_clear):
                    if now >= item[0]:
                        item[1]()
                        cam.pending_clear.remove(item)
            if now >= next_fault and (warm_stats is not None or now - t0 < warm_at - 40):
                free = [c for c in cams if now >= c.busy_until]
                # never all cameras at once: at least one camera stays fault-free
                if len(free) > 1 or (len(free) == 1 and sum(now < c.busy_until for c in cams) < len(cams) - 1):
                    cam = rnd.choice(free)
                    inject(rig, cam, rnd.choice(sorted(FAULTS)), now, rnd, log, cams, systemd=systemd,
                           gopros=gopros)
                next_fault = now + rnd.uniform(args.fault_every * 0.5, args.fault_every * 1.5)
            # collect the emulators' events (monotonic times; the deque keeps the last 1000)
            for cam in cams:
                for e in rig.camera(cam.k).state()["events"]:
                    if e["t"] > cam.last_event_t and e["what"] in ("record_start", "record_stop"):
                        cam.events.append((e["t"], e["what"]))
                if cam.events:
                    cam.last_event_t = max(cam.last_event_t, cam.events[-1][0])
            if rig.daemon.poll() is not None:
                print(f"soak: the daemon exited with {rig.daemon.returncode}", flush=True)
                break
            time.sleep(args.sample)
        t_end = time.monotonic()
        if on_intervals and on_intervals[-1][1] is None:
            on_intervals[-1][1] = t_end
        for cam in cams:
            for e in rig.camera(cam.k).state()["events"]:
                if e["t"] > cam.last_event_t and e["what"] in ("record_start", "record_stop"):
                    cam.events.append((e["t"], e["what"]))
            for _, clear in cam.pending_clear:
                clear()
            account(cam, on_intervals, t_end)
        # Quiet end: no fault left, every camera settled (up to 90 s), then count.
        for k in range(1, args.cameras + 1):
            ctl = rig.camera(k)
            for name in ("http_500", "bad_json", "truncated_json", "no_key_10"):
                ctl.fault(name, on=False)
            ctl.fault("slow", seconds=0)
            ctl.fault("ble_error", error=None)
            rig.ip("link", "set", f"wlan{k}", "up", netns=rig.car_ns)
        settle = time.monotonic() + 90
        while time.monotonic() < settle and not steady(rig, trigger):
            time.sleep(0.5)
        time.sleep(2)
        end_stats = proc_stats(pid) if rig.daemon.poll() is None else (float("nan"), -1)
        warm_stats = warm_stats or end_stats
        text = rig.daemon_log()
        exceptions = len(re.findall(r"unexpected error|Traceback", text))
        alive = rig.daemon.poll() is None
        code = rig.stop_daemon()
        workdir = rig.workdir
        systemd.close()
        watchdog_gap = systemd.longest_gap()
        stalls, pings = len(systemd.stalls), len(systemd.pings)

    print()
    print(f"{'camera':8} {'trigger-on s':>12} {'recorded':>9} {'restarts':>8} {'faults':>6}")
    results_ok = True
    for cam in cams:
        share = cam.recorded / cam.on_time if cam.on_time else 1.0
        results_ok &= share >= 0.99
        print(f"cam{cam.k:<5} {cam.on_time:12.1f} {share:9.2%} {cam.restarts:8d} {cam.faults:6d}")
    rss_growth = end_stats[0] - warm_stats[0]
    fd_growth = end_stats[1] - warm_stats[1]
    print()
    print(f"daemon exceptions: {exceptions} (target 0)")
    print(f"daemon RSS: {warm_stats[0]:.1f} MB after warm-up → {end_stats[0]:.1f} MB at the quiet end "
          f"(growth {rss_growth:+.1f} MB, target ≤ 5)")
    print(f"daemon open fds: {warm_stats[1]} after warm-up → {end_stats[1]} at the quiet end "
          f"(growth {fd_growth:+d}, target 0)")
    if fd_trace:
        print(f"daemon open fds every 10 s during the run: min {min(fd_trace)}, max {max(fd_trace)}; "
              f"first 5 {fd_trace[:5]}, last 5 {fd_trace[-5:]}")
    print(f"systemd watchdog: {pings} WATCHDOG=1 received, {stalls} stall(s); longest gap while reading "
          f"{watchdog_gap:.1f} s (target ≤ WatchdogSec {WATCHDOG_SEC:g} s)")
    print(f"daemon alive at the end: {alive}; exit status on SIGTERM: {code}")
    if args.keep:
        print(f"workdir kept: {workdir}")
    met = (results_ok and exceptions == 0 and rss_growth <= 5 and fd_growth <= 0 and alive and code == 0
           and pings > 0 and watchdog_gap <= WATCHDOG_SEC)
    print("soak: targets " + ("MET" if met else "NOT MET"))
    return 0 if met else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=20.0, help="session length (default 20)")
    p.add_argument("--cameras", type=int, default=4)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed)")
    p.add_argument("--mode", choices=("bind", "route"), default="bind")
    p.add_argument("--fault-every", type=float, default=30.0, help="mean seconds between faults")
    p.add_argument("--sample", type=float, default=0.5, help="seconds between reads of the emulators' events")
    p.add_argument("--keep", action="store_true", help="keep the rig's workdir (daemon log)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every trigger change and fault")
    args = p.parse_args(argv)
    if args.seed is None:
        args.seed = random.randrange(1_000_000)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
