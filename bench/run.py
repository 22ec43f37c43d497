"""``make bench``: how fast every camera records after the trigger, for 1 to 8 cameras.

A benchmark, not a test: it measures and reports, it asserts nothing (a
missed target is printed as MISS, the exit status stays 0 unless the rig
itself fails). Needs root (network namespaces); about 8 minutes.

What it does, on one :class:`tests.rig.NamespaceRig` of 8 emulated
HERO5–8 cameras that each wait ``--delay-ms`` (20 ms) before every HTTP answer:

1. **floor**: a minimal kept-alive HTTP client's round trip to one camera —
   what the emulator and kernel cost, below which no daemon can go;
2. for N = 1, 2, 4, 8 cameras:
   - the real daemon (``gopro_manager.py run`` in the car namespace, default
     settings, first N cameras), **trigger file**: ``--flips`` times, create
     the file and measure trigger → every camera recording, with the
     emulators' own ``record_start`` times (``time.monotonic()``, one clock
     machine-wide); start skew = last camera's shutter − first camera's;
     trigger file removed → every camera stopped;
   - the daemon's parts assembled in-process with a **GPIO trigger** on
     gpiozero's ``MockFactory`` (:mod:`bench.gpio_daemon`), same flips, from
     the pin edge;
   - the **baseline** (:mod:`bench.baseline`, the original sequential
     handling re-created), ``--baseline-flips`` flips, trigger file;
3. with 4 cameras and the daemon's default settings: **recovery** (a camera
   stops by itself → records again), **wake** (a camera with Wi-Fi off,
   association delay 2 s → recording, from the trigger), and the daemon's
   **CPU** (% of one core, utime+stime from ``/proc/PID/stat``) and **RSS**
   (VmHWM, peak) over ``--window`` seconds idle and recording.

Flips are spaced by random pauses (seeded) so that triggers land at every
phase of the daemon's 1 s cycle and its status checks. Prints a table and
writes ``bench/results.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from camrig.config import Config
from camrig.trigger import FILE_SETTLE
from tests.rig import REPO_ROOT, NamespaceRig, RigError, RigTimeout, namespaces_available, wait_until

NS = (1, 2, 4, 8)
RESULTS = REPO_ROOT / "bench" / "results.json"
GPIO_PIN = 17

#: The targets of issue 3 (ms unless said), on a 2-core machine with 20 ms answer delay.
TARGETS = {"trigger_p50_ms": 50.0, "trigger_p95_ms": 80.0, "skew_p95_ms": 15.0,
           "recovery_p50_s": 2.0, "idle_cpu_pct": 1.0, "rss_mb": 60.0}

#: Config keys the rig sets for fast tests; the bench puts the daemon's own defaults back.
_DEFAULT_KEYS = {"CHECK_STATUS": "check_status", "CYCLE_SECONDS": "cycle_seconds",
                 "HTTP_TIMEOUT": "http_timeout", "CONNECT_TIMEOUT": "connect_timeout",
                 "WAKE_TIMEOUT": "wake_timeout", "KEEP_AWAKE": "keep_awake", "LOG_LEVEL": "log_level"}


def daemon_defaults() -> dict:
    """The daemon's default values of the keys the rig overrides (from :class:`Config`)."""
    fields = {f.name: f.default for f in dataclasses.fields(Config)}
    return {key: fields[attr] for key, attr in _DEFAULT_KEYS.items()}


# --- statistics ------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100), linear interpolation between closest ranks."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: list[float], scale: float = 1000.0) -> dict:
    """``{"n", "p50", "p95", "max", "min", "mean"}`` of ``values`` (seconds) × ``scale`` (ms by default)."""
    if not values:
        return {"n": 0}
    v = [x * scale for x in values]
    return {"n": len(v), "p50": round(pct(v, 50), 2), "p95": round(pct(v, 95), 2),
            "max": round(max(v), 2), "min": round(min(v), 2), "mean": round(statistics.fmean(v), 2)}


# --- /proc ----------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """utime + stime of process ``pid`` (all its threads), seconds, from /proc/PID/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> dict:
    """VmRSS and VmHWM (peak RSS) of ``pid``, KB, from /proc/PID/status."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def progress(text: str, *, done: bool = False) -> None:
    """One progress line on stderr: rewritten in place on a terminal, printed once per part otherwise."""
    if sys.stderr.isatty():
        print(f"\r  {text:<70}", end="\n" if done else "", file=sys.stderr, flush=True)
    elif done:
        print(f"  {text}", file=sys.stderr, flush=True)


# --- triggers -------------------------------------------------------------------------------

class FileFlipper:
    """Trigger file: ``fire(True)`` creates it, ``fire(False)`` removes it; returns monotonic time."""

    kind = "file"

    def __init__(self, path: Path):
        self.path = path

    def fire(self, on: bool) -> float:
        if on:
            t = time.monotonic()
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        else:
            t = time.monotonic()
            os.unlink(self.path)
        return t


class GpioFlipper:
    """The mock pin inside :mod:`bench.gpio_daemon`; the edge time is the helper's own monotonic()."""

    kind = "gpio"

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc

    def fire(self, on: bool) -> float:
        self.proc.stdin.write("on\n" if on else "off\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.startswith("edge "):
            raise RigError(f"gpio helper said {line!r}")
        return float(line.split()[1])


# --- one flip -------------------------------------------------------------------------------

@dataclasses.dataclass
class Flip:
    on: bool
    latency: float          # trigger → last camera reached the state, s
    skew: float | None      # last shutter − first shutter, s (on only)
    per_camera: list[float]


def _first(events: list[dict], what: str, since: float) -> float | None:
    ts = [e["t"] for e in events if e["what"] == what and e["t"] >= since]
    return min(ts) if ts else None


def flip(rig: NamespaceRig, ks: list[int], fire: Callable[[bool], float], on: bool, *,
         first_look: float = 0.06, timeout: float = 5.0) -> Flip:
    """Fire the trigger, wait until the cameras ``ks`` all reached ``on``, measure from their events."""
    for k in ks:
        rig.camera(k).clear_events()
    t0 = fire(on)
    time.sleep(first_look)              # leave the CPUs to the daemon and the emulators meanwhile
    deadline = time.monotonic() + timeout
    while True:
        states = {k: rig.camera(k).state() for k in ks}
        if all(s["recording"] == on for s in states.values()):
            break
        if time.monotonic() > deadline:
            raise RigTimeout(f"cameras {ks} not {'recording' if on else 'stopped'} {timeout} s after the "
                             f"trigger: {[(k, s['recording']) for k, s in states.items()]}\n{rig.describe()}")
        time.sleep(0.02)
    what = "record_start" if on else "record_stop"
    done = [_first(states[k]["events"], what, t0) for k in ks]
    if any(d is None for d in done):
        raise RigError(f"no {what} event after the trigger: {done}")
    per = [d - t0 for d in done]
    skew = None
    if on:
        shutters = [_first(states[k]["events"], "shutter_on", t0) for k in ks]
        skew = max(shutters) - min(shutters)
    return Flip(on, max(per), skew, per)


def flips(rig, ks, fire, count, rng, *, pause=(0.05, 0.4), first_look=0.06, timeout=5.0,
          label="") -> tuple[list[Flip], list[Flip]]:
    """``count`` on/off pairs with random pauses; returns (on flips, off flips).

    Each "on" lasts at least ``FILE_SETTLE`` (0.5 s) before its "off": a shorter pulse on the
    trigger file is a chatter the daemon holds for the settle window by design (camrig/trigger.py
    ``Settle``), and the "off" figure is about a clean edge."""
    ons, offs = [], []
    for i in range(count):
        time.sleep(rng.uniform(*pause))
        ons.append(flip(rig, ks, fire, True, first_look=first_look, timeout=timeout))
        time.sleep(FILE_SETTLE + rng.uniform(*pause))
        offs.append(flip(rig, ks, fire, False, first_look=first_look, timeout=timeout))
        progress(f"{label}: {i + 1}/{count} flips, last {ons[-1].latency * 1000:.1f} ms")
    progress(f"{label}: {count} flips, p50 {pct([f.latency for f in ons], 50) * 1000:.1f} ms", done=True)
    return ons, offs


def trigger_result(ons: list[Flip], offs: list[Flip]) -> dict:
    return {"on": summary([f.latency for f in ons]),
            "skew": summary([f.skew for f in ons if f.skew is not None]),
            "off": summary([f.latency for f in offs]),
            "samples_ms": [round(f.latency * 1000, 2) for f in ons]}


# --- the parts of the run -------------------------------------------------------------------

def measure_floor(rig: NamespaceRig, count: int) -> dict:
    proc = rig.run_in_car([sys.executable, "-m", "bench.floor", "--iface", rig.cameras[0].iface,
                           "--count", str(count)], timeout=60)
    if proc.returncode != 0:
        raise RigError(f"bench.floor failed: {proc.stderr}")
    rtts = json.loads(proc.stdout)
    return {"rtt": summary([r / 1000 for r in rtts]), "delay_ms": rig.delay_ms,
            "overhead_p50_ms": round(pct(rtts, 50) - rig.delay_ms, 2)}


def _gopros(rig, n):
    return rig.config_values()["GOPROS"][:n]


def start_daemon(rig: NamespaceRig, n: int, extra: dict | None = None) -> None:
    cfg = daemon_defaults() | {"GOPROS": _gopros(rig, n)} | (extra or {})
    rig.trigger_path.unlink(missing_ok=True)
    rig.start_daemon(cfg)
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * n, 30,
                   message=f"{n} cameras idle")


def _all_stopped(rig, n):
    rig.wait_until(lambda: not any(rig.recording()[:n]), 15, message="all cameras stopped")


def run_daemon_file(rig, n, args, rng) -> tuple[dict, list[Flip]]:
    ks = list(range(1, n + 1))
    start_daemon(rig, n)
    try:
        ons, offs = flips(rig, ks, FileFlipper(rig.trigger_path).fire, args.flips, rng,
                          label=f"daemon, file, N={n}")
    finally:
        rig.trigger_path.unlink(missing_ok=True)
    return trigger_result(ons, offs), ons


def run_daemon_gpio(rig, n, args, rng) -> dict:
    ks = list(range(1, n + 1))
    rig.trigger_path.unlink(missing_ok=True)
    rig.status_path.unlink(missing_ok=True)
    cfg = daemon_defaults() | {"GOPROS": _gopros(rig, n), "GPIO_BCM_PIN": GPIO_PIN,
                               "GPIO_PIN_FACTORY": "mock", "TRIGGER_PATH": None}
    path = rig.write_config(cfg)
    argv = rig._wrap_car() + [sys.executable, "-m", "bench.gpio_daemon", "--config", str(path)]
    with open(rig.workdir / f"gpio-daemon-{n}.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=rig._env(), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1,
                                start_new_session=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RigError("gpio helper did not start; see " + str(rig.workdir / f"gpio-daemon-{n}.log"))
        rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * n, 30,
                       message=f"{n} cameras idle (gpio helper)")
        ons, offs = flips(rig, ks, GpioFlipper(proc).fire, args.flips, rng, label=f"daemon, GPIO, N={n}")
        return trigger_result(ons, offs)
    finally:
        _end(proc)


def run_baseline(rig, n, args, rng) -> dict:
    ks = list(range(1, n + 1))
    rig.trigger_path.unlink(missing_ok=True)
    argv = rig._wrap_car() + [sys.executable, "-m", "bench.baseline", "--trigger", str(rig.trigger_path)]
    for cam in rig.cameras[:n]:
        argv += ["--camera", f"{cam.iface}={cam.wifi_mac}"]
    with open(rig.workdir / f"baseline-{n}.log", "ab") as log:
        proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=rig._env(), stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(1.5)
        ons, offs = flips(rig, ks, FileFlipper(rig.trigger_path).fire, args.baseline_flips, rng,
                          pause=(0.05, 0.5), first_look=0.4, timeout=15.0, label=f"baseline, N={n}")
        return trigger_result(ons, offs)
    finally:
        _end(proc)
        rig.trigger_path.unlink(missing_ok=True)
        rig.ip("route", "del", "10.5.5.9/32", netns=rig.car_ns, check=False)


def _end(proc: subprocess.Popen) -> None:
    """Stop a process this bench started (its own process group), by its id."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            pass


def run_recovery(rig, n, count, rng) -> dict:
    """Daemon running with N cameras: each time one camera stops by itself, how long until it records again."""
    ks = list(range(1, n + 1))
    FileFlipper(rig.trigger_path).fire(True)
    rig.wait_until(lambda: all(rig.recording()[:n]), 10, message="all recording")
    settings = daemon_defaults()
    # The fault must land at a uniformly random phase of the status-check period, and after the
    # worker's own confirmation read that follows the previous restart (else the samples are biased).
    period = (settings["CHECK_STATUS"] or 5) * settings["CYCLE_SECONDS"]
    samples = []
    for i in range(count):
        k = ks[i % n]
        time.sleep(rng.uniform(1.0, 1.0 + period))
        cam = rig.camera(k)
        cam.clear_events()
        cam.fault("stop_recording")
        wait_until(lambda cam=cam: cam.state()["recording"], 15, interval=0.05, message=f"cam{k} recording again",
                   describe=rig.describe)
        ev = cam.state()["events"]
        stopped = _first(ev, "record_stop", 0)
        started = _first(ev, "record_start", stopped)
        samples.append(started - stopped)
        progress(f"recovery: {i + 1}/{count}, last {samples[-1]:.2f} s")
    progress(f"recovery: {count} samples, p50 {pct(samples, 50):.2f} s", done=True)
    return {"recovery": summary(samples, scale=1.0), "unit": "s",
            "samples_s": [round(s, 3) for s in samples]}


def run_resources(rig, n, window) -> dict:
    """CPU (% of one core) and peak RSS of the daemon over ``window`` s idle, then recording."""
    pid = rig.daemon.pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    if b"camrig" not in cmdline:              # the rigs run the daemon as `python -m camrig`
        raise RigError(f"pid {pid} is not the daemon: {cmdline!r}")
    out = {}
    for phase, on in (("idle", False), ("recording", True)):
        if on:
            FileFlipper(rig.trigger_path).fire(True)
            rig.wait_until(lambda: all(rig.recording()[:n]), 10, message="all recording")
        else:
            rig.trigger_path.unlink(missing_ok=True)
            _all_stopped(rig, n)
        time.sleep(3.0)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        progress(f"resources: {window:.0f} s {phase} with {n} cameras ...", done=True)
        time.sleep(window)
        c1, t1 = cpu_seconds(pid), time.monotonic()
        mem = memory_kb(pid)
        out[phase] = {"cpu_pct": round((c1 - c0) / (t1 - t0) * 100.0, 3), "window_s": round(t1 - t0, 1),
                      "rss_mb": round(mem["VmRSS"] / 1024, 1), "peak_rss_mb": round(mem["VmHWM"] / 1024, 1)}
    rig.trigger_path.unlink(missing_ok=True)
    _all_stopped(rig, n)
    return out


def run_wake(rig, n, count, rng) -> dict:
    """A camera whose Wi-Fi is off when the trigger comes: trigger → it records (and the others)."""
    ks = list(range(1, n + 1))
    fire = FileFlipper(rig.trigger_path).fire
    rig.trigger_path.unlink(missing_ok=True)
    _all_stopped(rig, n)
    woken, others = [], []
    for i in range(count):
        k = ks[i % n]
        rig.camera(k).fault("wifi_off")
        rig.wait_until(lambda k=k: rig.camera_status(k)["state"] == "asleep", 20, message=f"cam{k} seen asleep")
        time.sleep(rng.uniform(0.0, 1.0))
        f = flip(rig, ks, fire, True, first_look=1.0, timeout=30.0)
        woken.append(f.per_camera[k - 1])
        others += [d for j, d in enumerate(f.per_camera) if j != k - 1]
        time.sleep(0.5)
        flip(rig, ks, fire, False, timeout=10.0)
        progress(f"wake: {i + 1}/{count}, last {woken[-1]:.2f} s")
    progress(f"wake: {count} samples, p50 {pct(woken, 50):.2f} s", done=True)
    return {"woken": summary(woken, scale=1.0), "others_ms": summary(others), "unit": "s",
            "association_delay_s": rig.association_delay, "boot_delay_s": rig.boot_delay,
            "samples_s": [round(s, 3) for s in woken]}


# --- report ---------------------------------------------------------------------------------

def _cell(s: dict, keys=("p50", "p95", "max")) -> str:
    if not s or not s.get("n"):
        return "-"
    return " / ".join(f"{s[k]:.0f}" if s[k] >= 100 else f"{s[k]:.1f}" for k in keys)


def render(results: dict) -> str:
    lines = []
    t = results["trigger"]
    ns = [str(n) for n in results["ns"]]
    w = 22
    head = f"{'trigger → all recording, ms':<40}" + "".join(f"{'N=' + n:>{w}}" for n in ns)
    lines += [head, "-" * len(head)]
    for key, label in (("file", "daemon, trigger file  p50/p95/max"), ("gpio", "daemon, GPIO edge     p50/p95/max"),
                       ("baseline", "baseline (sequential) p50/p95/max")):
        if key in t:
            lines.append(f"{label:<40}" + "".join(f"{_cell(t[key].get(n, {}).get('on')):>{w}}" for n in ns))
    if "baseline" in t and "file" in t:
        cells = []
        for n in ns:
            try:
                cells.append(f"{t['baseline'][n]['on']['p50'] / t['file'][n]['on']['p50']:.0f}x")
            except (KeyError, ZeroDivisionError):
                cells.append("-")
        lines.append(f"{'ratio baseline/daemon p50 (file)':<40}" + "".join(f"{c:>{w}}" for c in cells))
    lines.append("")
    lines.append(f"{'start skew (last − first shutter), ms':<40}" + "".join(f"{'N=' + n:>{w}}" for n in ns))
    for key, label in (("file", "daemon, trigger file  p50/p95"), ("gpio", "daemon, GPIO edge     p50/p95"),
                       ("baseline", "baseline              p50/p95")):
        if key in t:
            lines.append(f"{label:<40}" + "".join(
                f"{_cell(t[key].get(n, {}).get('skew'), ('p50', 'p95')):>{w}}" for n in ns))
    lines.append(f"{'trigger off → all stopped, daemon file':<40}" + "".join(
        f"{_cell(t['file'].get(n, {}).get('off')):>{w}}" for n in ns) if "file" in t else "")
    lines.append("")
    fl = results.get("floor")
    if fl:
        lines.append(f"floor: one kept-alive request to an emulated camera (delay {fl['delay_ms']} ms): "
                     f"p50 {fl['rtt']['p50']:.1f} ms, p95 {fl['rtt']['p95']:.1f} ms "
                     f"(+{fl['overhead_p50_ms']:.1f} ms over the delay)")
    rec = results.get("recovery")
    if rec:
        r = rec["recovery"]
        lines.append(f"recovery (camera stops by itself → recording), N={rec['n']}: p50 {r['p50']:.2f} s, "
                     f"p95 {r['p95']:.2f} s, max {r['max']:.2f} s  ({r['n']} samples, CHECK_STATUS "
                     f"{results['settings']['CHECK_STATUS']} × CYCLE_SECONDS {results['settings']['CYCLE_SECONDS']})")
    wk = results.get("wake")
    if wk:
        r = wk["woken"]
        lines.append(f"wake (Wi-Fi off, association {wk['association_delay_s']:g} s, boot {wk['boot_delay_s']:g} s "
                     f"→ recording), N={wk['n']}: p50 {r['p50']:.2f} s, max {r['max']:.2f} s ({r['n']} samples); "
                     f"the other cameras meanwhile: p50 {wk['others_ms']['p50']:.1f} ms")
    res = results.get("resources")
    if res:
        for phase in ("idle", "recording"):
            p = res[phase]
            lines.append(f"daemon, {res['n']} cameras, {phase:<9} {p['window_s']:.0f} s: "
                         f"CPU {p['cpu_pct']:.2f} % of one core, RSS {p['rss_mb']:.1f} MB, "
                         f"peak {p['peak_rss_mb']:.1f} MB")
    lines.append("")
    lines.append("targets: " + "; ".join(f"{k} {'ok' if v['ok'] else 'MISS'} ({v['value']} vs {v['target']})"
                                         for k, v in results["targets"].items()))
    return "\n".join(lines) + "\n"


def judge(results: dict) -> dict:
    out = {}
    t = results["trigger"]
    for kind in ("file", "gpio"):
        if kind not in t:
            continue
        worst50 = max(t[kind][n]["on"]["p50"] for n in t[kind])
        worst95 = max(t[kind][n]["on"]["p95"] for n in t[kind])
        worst_skew = max(t[kind][n]["skew"]["p95"] for n in t[kind])
        out[f"{kind} p50 worst N"] = {"value": worst50, "target": TARGETS["trigger_p50_ms"],
                                      "ok": worst50 <= TARGETS["trigger_p50_ms"]}
        out[f"{kind} p95 worst N"] = {"value": worst95, "target": TARGETS["trigger_p95_ms"],
                                      "ok": worst95 <= TARGETS["trigger_p95_ms"]}
        out[f"{kind} skew p95"] = {"value": worst_skew, "target": TARGETS["skew_p95_ms"],
                                   "ok": worst_skew <= TARGETS["skew_p95_ms"]}
    if "recovery" in results:
        v = results["recovery"]["recovery"]["p50"]
        out["recovery p50 s"] = {"value": v, "target": TARGETS["recovery_p50_s"], "ok": v <= TARGETS["recovery_p50_s"]}
    if "resources" in results:
        v = results["resources"]["idle"]["cpu_pct"]
        out["idle CPU %"] = {"value": v, "target": TARGETS["idle_cpu_pct"], "ok": v <= TARGETS["idle_cpu_pct"]}
        v = max(results["resources"][p]["peak_rss_mb"] for p in ("idle", "recording"))
        out["peak RSS MB"] = {"value": v, "target": TARGETS["rss_mb"], "ok": v <= TARGETS["rss_mb"]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--flips", type=int, default=30, help="trigger on/off pairs per N and trigger kind (30)")
    p.add_argument("--baseline-flips", type=int, default=12, help="flips per N for the baseline (12)")
    p.add_argument("--cameras", type=int, nargs="+", default=list(NS), help="values of N (1 2 4 8)")
    p.add_argument("--delay-ms", type=int, default=20, help="emulated answer delay, ms (20)")
    p.add_argument("--window", type=float, default=60.0, help="CPU/RSS window per phase, s (60)")
    p.add_argument("--recovery", type=int, default=20, help="recovery samples (20)")
    p.add_argument("--wake", type=int, default=4, help="wake samples (4)")
    p.add_argument("--skip", nargs="*", default=[], choices=("gpio", "baseline", "recovery", "wake", "resources"),
                   help="parts to leave out (for a quick look)")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--prefix", default=f"gmb{os.getpid()}", help="namespace prefix")
    p.add_argument("--out", default=str(RESULTS), help="results JSON (bench/results.json)")
    args = p.parse_args(argv)

    ok, reason = namespaces_available()
    if not ok:
        print(f"make bench: {reason}", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    ns = sorted(set(args.cameras))
    settings = daemon_defaults()
    results: dict = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
                    "machine": platform.machine()},
        "settings": settings | {"NETWORK_MODE": "bind", "delay_ms": args.delay_ms},
        "ns": ns, "flips": args.flips, "baseline_flips": args.baseline_flips, "trigger": {},
    }
    started = time.monotonic()
    with NamespaceRig(max(ns), prefix=args.prefix, delay_ms=args.delay_ms, association_delay=2.0) as rig:
        print(f"rig: {rig!r}, workdir {rig.workdir}", file=sys.stderr)
        results["floor"] = measure_floor(rig, 30)
        for n in ns:
            res, _ = run_daemon_file(rig, n, args, rng)
            results["trigger"].setdefault("file", {})[str(n)] = res
            if n == 4 or (4 not in ns and n == max(ns)):
                if "recovery" not in args.skip:
                    results["recovery"] = run_recovery(rig, n, args.recovery, rng) | {"n": n}
                if "resources" not in args.skip:
                    results["resources"] = run_resources(rig, n, args.window) | {"n": n}
                if "wake" not in args.skip:
                    results["wake"] = run_wake(rig, n, args.wake, rng) | {"n": n}
            rig.stop_daemon()
            if "gpio" not in args.skip:
                results["trigger"].setdefault("gpio", {})[str(n)] = run_daemon_gpio(rig, n, args, rng)
            if "baseline" not in args.skip:
                results["trigger"].setdefault("baseline", {})[str(n)] = run_baseline(rig, n, args, rng)
    results["runtime_s"] = round(time.monotonic() - started, 1)
    results["targets"] = judge(results)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(render(results), end="")
    print(f"(bench ran {results['runtime_s']:.0f} s; results in {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
