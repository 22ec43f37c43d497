"""``python -m bench.offload`` (part of ``make bench``): the offload (issue 10 part 8).

A benchmark, not a test: it measures and prints, it asserts nothing (a missed target is printed
as MISS; the exit status is 0 unless the bench itself breaks). No root needed: the cameras' media
sides are tests/unit/offload_camera.py servers on loopback (real sockets, each transfer capped at
``--rate`` MB/s), their control sides in-process emulated HERO5–8s (``--delay-ms`` per answer);
the emulators' own media serving (issue 10 part 7) and the namespace rig are not used here. For
the latency part the media servers run in a process of their own (not the measured one's GIL).

1. **aggregate**: ``gopro_manager.py offload --json`` in a fresh process (no daemon: the in-process
   path, the same transfer code the daemon's workers run) copies 4 cameras × ``--files`` files of
   ``--file-mb`` MB each, every camera capped at R = ``--rate`` MB/s → aggregate MB/s against 4R
   (target ≥ 90 %); that process's CPU (utime+stime of wait4, % of one core) and peak RSS
   (ru_maxrss; target ≤ 80 MB).
2. **resume after kill**: the same, SIGKILLed when about half is on disk, then run again: bytes
   the cameras sent in all, minus the files' size = bytes fetched again (target ≤ 1 MB per camera).
3. **trigger → recording** (p50/p95 over ``--flips`` flips, from the trigger to the last camera's
   ``record_start``): 4 workers under a real Controller with the offload service, idle vs while
   an offload runs on every camera (target: p95 within 10 ms of idle).
4. **the same on the namespace rig** (root): the real daemon (``gopro_manager.py run``), 4
   emulated HERO7s serving their cards over their own links, capped by the emulators
   (``media_rate``), the trigger file; the offload asked for over the control socket.

Writes bench/results-offload.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.unit.offload_camera import MediaCamera, mp4  # noqa: E402

RESULTS = ROOT / "bench" / "results-offload.json"
TARGETS = {"aggregate_fraction": 0.90, "p95_extra_ms": 10.0, "refetch_mb_per_camera": 1.0, "rss_mb": 80.0}


def cameras(n: int, files: int, size: int, rate: float) -> list[MediaCamera]:
    out = []
    for k in range(n):
        cam = MediaCamera({f"100GOPRO/GH{c + 1:02d}{k + 1:04d}.MP4": mp4(size, k * 10 + c) for c in range(files)})
        cam.rate = rate
        out.append(cam)
    return out


class RemoteCameras:
    """:func:`cameras` in a process of their own (``python -m bench.offload --serve``), so that the
    media servers' Python threads do not share the measured daemon's interpreter (its GIL): a
    camera's CPU is not the Pi's. ``ports``: one per camera."""

    def __init__(self, n: int, files: int, size: int, rate: float):
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.offload", "--serve", str(n), str(files), str(size),
                                      str(rate)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ports = [int(p) for p in self.proc.stdout.readline().split()]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def serve(n: int, files: int, size: int, rate: float) -> None:
    cams = cameras(n, files, size, rate)
    print(" ".join(str(c.port) for c in cams), flush=True)
    sys.stdin.read()                     # until the bench closes our stdin
    for c in cams:
        c.close()


def write_config(d: Path, cams: list[MediaCamera]) -> Path:
    lines = ["NETWORK_MODE = 'address'", f"OFFLOAD_DIR = {str(d / 'media')!r}", "OFFLOAD_MIN_FREE = 0",
             "STATUS_PATH = None", f"CONTROL_SOCKET = {str(d / 'none.sock')!r}", "LOG_LEVEL = 'warning'",
             "GOPROS = ["]
    lines += [f"    {{'name': 'cam{k}', 'model': 'hero12', 'address': '127.0.0.1', 'http_port': {c.port}}},"
              for k, c in enumerate(cams)]
    lines.append("]")
    path = d / "config.py"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def offload_cmd(config: Path) -> list[str]:
    return [sys.executable, str(ROOT / "gopro_manager.py"), "--config", str(config), "offload", "--json"]


def run_offload(config: Path, *, kill_at_bytes: int | None = None, media: Path | None = None) -> dict:
    """Run the CLI offload; returns wall s, cpu s, peak RSS KB, exit status, killed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(offload_cmd(config), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    killed = False
    hwm = 0
    # Peak RSS: VmHWM of the process after its exec (ru_maxrss would count the pages it shared
    # with this process between fork and exec: the cameras' files held here in memory).
    while os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        hwm = max(hwm, _vm_hwm_kb(proc.pid))
        if kill_at_bytes is not None and media is not None:
            have = sum(p.stat().st_size for p in media.rglob("*") if p.is_file() and p.suffix != ".sqlite3")
            if have >= kill_at_bytes:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        time.sleep(0.02)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "rss_kb": hwm,
            "status": os.waitstatus_to_exitcode(status), "killed": killed}


def _vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def aggregate(args) -> dict:
    size = int(args.file_mb * 1e6)
    rate = args.rate * 1e6
    cams = cameras(4, args.files, size, rate)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_offload(write_config(Path(tmp), cams))
            total = 4 * args.files * size
            got = sum(p.stat().st_size for p in (Path(tmp) / "media").rglob("*.MP4"))
            # the transfer itself: first body byte sent by any camera → last one (the process's
            # start-up and the list are not the link's)
            span = max(c.last_byte_at for c in cams) - min(c.first_byte_at for c in cams)
            mbps = total / span / 1e6
            return {"cameras": 4, "rate_mb_s": args.rate, "total_mb": total / 1e6, "complete": got == total,
                    "wall_s": round(r["wall_s"], 2), "transfer_s": round(span, 2), "aggregate_mb_s": round(mbps, 2),
                    "fraction_of_4r": round(mbps / (4 * args.rate), 3),
                    "cpu_percent": round(100 * r["cpu_s"] / r["wall_s"], 1),
                    "peak_rss_mb": round(r["rss_kb"] / 1024, 1),
                    "status": r["status"]}
    finally:
        for c in cams:
            c.close()


def resume(args) -> dict:
    size = int(args.file_mb * 1e6)
    cams = cameras(4, args.files, size, args.rate * 1e6)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = write_config(Path(tmp), cams)
            total = 4 * args.files * size
            first = run_offload(cfg, kill_at_bytes=total // 2, media=Path(tmp) / "media")
            second = run_offload(cfg)
            got = sum(p.stat().st_size for p in (Path(tmp) / "media").rglob("*.MP4"))
            sent = sum(c.sent_bytes for c in cams)
            refetched = max(0, sent - total)
            return {"killed": first["killed"], "complete": got == total and second["status"] == 0,
                    "refetched_mb": round(refetched / 1e6, 3),
                    "refetched_mb_per_camera": round(refetched / 4 / 1e6, 3)}
    finally:
        for c in cams:
            c.close()


def latency(args) -> dict:
    from camrig.cameras.gopro_legacy.driver import GpControl
    from camrig.cameras.gopro_legacy.waker import LegacyWaker
    from camrig.config import CameraConfig, Config
    from camrig.controller import Controller
    from camrig.emulator.legacy_gopro import LegacyGoPro
    from camrig.http import HttpClient
    from camrig.link import AddressLink
    from camrig.offload.service import install
    from camrig.systemd import Notifier
    from camrig.worker import CameraWorker, State
    from tests.fakes import FlipTrigger

    rnd = random.Random(7)
    size = int(args.latency_file_mb * 1e6)
    remote = RemoteCameras(4, 1, size, args.latency_rate * 1e6)
    emus, workers, clients = [], [], []
    tmp = tempfile.TemporaryDirectory()
    try:
        ccs = []
        for k, port in enumerate(remote.ports):
            name = f"cam{k}"
            mac = f"06:41:69:6a:c1:{k:02x}"
            emu = LegacyGoPro(name, delay_ms=args.delay_ms, boot_delay=0.1, wifi_mac=mac).start()
            cc = CameraConfig(name=name, iface=None, ssid=None, wifi_mac=mac, bt_mac=None, address="127.0.0.1",
                              http_port=emu.port, wol_port=emu.wol_port)
            http = HttpClient(AddressLink(name, "127.0.0.1"), port=emu.port, timeout=1.0, connect_timeout=0.3)
            job_http = HttpClient(AddressLink(name, "127.0.0.1"), port=port, timeout=2.0, connect_timeout=0.3)
            driver = GpControl(http, name)
            driver.media_port = port
            w = CameraWorker(cc, driver, LegacyWaker(cc, http.link, driver.probe, timeout=5.0, wol_interval=0.2),
                             keep_awake=None, confirm_delay=0.3, job_http=job_http)
            emus.append(emu)
            workers.append(w)
            clients.append(http)
            ccs.append(cc)
        config = Config(cameras=tuple(ccs), network_mode="address", status_path=None,
                        offload_dir=str(Path(tmp.name) / "media"), offload_min_free=0, control_socket=None)
        trigger = FlipTrigger()
        ctl = Controller(config, workers, trigger, Notifier(environ={}), status_path="")
        svc = install(ctl)
        for w in workers:
            w.start()
        deadline = time.monotonic() + 20
        while not all(w.state == State.IDLE for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        loop = threading.Thread(target=ctl.run, daemon=True)
        loop.start()

        def flips(n: int, offloading: bool) -> list[float]:
            out = []
            for _ in range(n):
                if offloading:               # every camera's transfer is running again
                    end = time.monotonic() + 10
                    while time.monotonic() < end and not all(
                            svc.snapshot().get(w.name, {}).get("state") == "running" and
                            svc.snapshot()[w.name].get("mb_per_s", 0) > 0 for w in workers):
                        time.sleep(0.02)
                time.sleep(rnd.uniform(0.2, 1.0))
                t0 = time.monotonic()
                trigger.set(True)
                end = time.monotonic() + 10
                while time.monotonic() < end and not all(e.record_started_at is not None for e in emus):
                    time.sleep(0.002)
                if all(e.record_started_at is not None for e in emus):
                    out.append(max(e.record_started_at for e in emus) - t0)
                trigger.set(False)
                end = time.monotonic() + 10
                while time.monotonic() < end and not (
                        all(e.record_started_at is None for e in emus)
                        and all(w.state == State.IDLE and not w.shutter_sent for w in workers)):
                    time.sleep(0.01)
            return out

        idle = flips(args.flips, False)
        svc.start()
        busy = flips(args.flips, True)
        svc.stop()
        ctl.request_stop()
        loop.join(5)
        ctl.shutdown(stop_recordings=True)
        svc.close()

        def q(xs, p):
            xs = sorted(xs)
            return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] * 1000 if xs else None
        return {"flips": args.flips, "idle_p50_ms": round(q(idle, 0.5), 1), "idle_p95_ms": round(q(idle, 0.95), 1),
                "offload_p50_ms": round(q(busy, 0.5), 1), "offload_p95_ms": round(q(busy, 0.95), 1),
                "samples": {"idle": len(idle), "offload": len(busy)},
                "idle_mean_ms": round(statistics.mean(idle) * 1000, 1) if idle else None,
                "offload_mean_ms": round(statistics.mean(busy) * 1000, 1) if busy else None}
    finally:
        for h in clients:
            h.close()
        for e in emus:
            e.close()
        remote.close()
        tmp.cleanup()


def latency_rig(args) -> dict:
    """Trigger → recording with the real daemon on the namespace rig (root): 4 emulated HERO7s
    serving a ``--rig-file-mb`` chapter each, capped at ``--latency-rate`` MB/s by the emulators
    themselves, the trigger file, ``--flips`` flips idle then during an offload started through
    the control socket. Times: trigger file created → the last camera's own ``record_start``."""
    from tests.rig import NamespaceRig

    rnd = random.Random(11)
    with NamespaceRig(4, prefix="gmbo", mode="bind", delay_ms=args.delay_ms, models=["hero7"] * 4,
                      start="awake", media=[f"{args.rig_file_mb}MB"]) as rig:
        out = rig.workdir / "offload"
        rig.start_daemon({"OFFLOAD_DIR": str(out), "OFFLOAD_MIN_FREE": 0})
        rig.wait_until(lambda: all(c.get("state") == "idle" for c in rig.status()["cameras"]), 60,
                       message="every camera idle")
        for k in range(1, 5):
            rig.camera(k).fault("media_rate", rate=f"{args.latency_rate}MB/s")

        def offloading() -> bool:
            rows = rig.status().get("offload") or {}
            return len(rows) == 4 and all(r.get("state") == "running" and r.get("mb_per_s", 0) > 0
                                          for r in rows.values())

        def flips(n: int, busy: bool) -> list[float]:
            got = []
            for _ in range(n):
                if busy:
                    rig.wait_until(offloading, 30, message="every camera offloading again")
                time.sleep(rnd.uniform(0.2, 1.0))
                t0 = time.monotonic()
                rig.trigger_on()
                rig.wait_until(lambda: all(rig.recording()), 15, message="every camera recording")
                starts = [max(e["t"] for e in rig.camera(k).events("record_start")) for k in range(1, 5)]
                got.append(max(starts) - t0)
                rig.trigger_off()
                rig.wait_until(lambda: not any(rig.recording()), 15, message="every camera stopped")
                rig.wait_until(lambda: all(c.get("state") == "idle" and not c.get("shutter_sent")
                                           for c in rig.status()["cameras"]), 15, message="every camera idle")
            return got

        idle = flips(args.flips, False)
        reply = rig.control("offload", ["start"])
        if not reply.get("ok"):
            raise RuntimeError(f"offload refused: {reply}")
        busy = flips(args.flips, True)
        rig.control("offload", ["stop"])
        rig.stop_daemon()
    return _latency_row(idle, busy, args.flips)


def _latency_row(idle: list[float], busy: list[float], flips: int) -> dict:
    def q(xs, p):
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))] * 1000, 1) if xs else None
    return {"flips": flips, "idle_p50_ms": q(idle, 0.5), "idle_p95_ms": q(idle, 0.95),
            "offload_p50_ms": q(busy, 0.5), "offload_p95_ms": q(busy, 0.95),
            "samples": {"idle": len(idle), "offload": len(busy)}}


def mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.offload", description=__doc__.split("\n")[0])
    p.add_argument("--rate", type=float, default=4.0, help="MB/s cap per camera (default 4)")
    p.add_argument("--files", type=int, default=2, help="files per camera (default 2)")
    p.add_argument("--file-mb", type=float, default=10.0, help="MB per file (default 10)")
    p.add_argument("--flips", type=int, default=20, help="trigger flips, idle and during the offload (default 20)")
    p.add_argument("--delay-ms", type=int, default=20, help="emulated camera answer delay (default 20 ms)")
    p.add_argument("--latency-rate", type=float, default=2.0, help="MB/s per camera during the flips (default 2)")
    p.add_argument("--latency-file-mb", type=float, default=60.0, help="MB per camera to offload during the flips")
    p.add_argument("--rig-file-mb", type=int, default=150, help="MB per camera's card on the rig (default 150)")
    p.add_argument("--skip", nargs="*", default=[], choices=("aggregate", "resume", "latency", "rig"))
    p.add_argument("--serve", nargs=4, metavar=("N", "FILES", "SIZE", "RATE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve:
        n, files, size, rate = args.serve
        serve(int(n), int(files), int(size), float(rate))
        return 0
    results: dict = {"targets": TARGETS, "args": vars(args)}
    if "aggregate" not in args.skip:
        a = results["aggregate"] = aggregate(args)
        print(f"aggregate   4 × {args.rate} MB/s: {a['aggregate_mb_s']} MB/s = {a['fraction_of_4r'] * 100:.0f} % of 4R "
              f"[{mark(a['fraction_of_4r'] >= TARGETS['aggregate_fraction'] and a['complete'])}]; "
              f"CPU {a['cpu_percent']} % of a core; peak RSS {a['peak_rss_mb']} MB "
              f"[{mark(a['peak_rss_mb'] <= TARGETS['rss_mb'])}]")
    if "resume" not in args.skip:
        r = results["resume"] = resume(args)
        print(f"resume      killed mid-offload → {r['refetched_mb_per_camera']} MB fetched again per camera "
              f"[{mark(r['refetched_mb_per_camera'] <= TARGETS['refetch_mb_per_camera'] and r['complete'])}]"
              f"{'' if r['complete'] else ' (INCOMPLETE)'}")
    if "latency" not in args.skip:
        lat = results["latency"] = latency(args)
        extra = lat["offload_p95_ms"] - lat["idle_p95_ms"]
        print(f"trigger→rec p50/p95 idle {lat['idle_p50_ms']}/{lat['idle_p95_ms']} ms, during offload "
              f"{lat['offload_p50_ms']}/{lat['offload_p95_ms']} ms (p95 {extra:+.1f} ms) "
              f"[{mark(extra <= TARGETS['p95_extra_ms'])}]")
    if "rig" not in args.skip:
        if os.geteuid() != 0:
            print("trigger→rec on the namespace rig: skipped (needs root)")
        else:
            lat = results["latency_rig"] = latency_rig(args)
            extra = lat["offload_p95_ms"] - lat["idle_p95_ms"]
            print(f"rig, daemon p50/p95 idle {lat['idle_p50_ms']}/{lat['idle_p95_ms']} ms, during offload "
                  f"{lat['offload_p50_ms']}/{lat['offload_p95_ms']} ms (p95 {extra:+.1f} ms) "
                  f"[{mark(extra <= TARGETS['p95_extra_ms'])}]")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
