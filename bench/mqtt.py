"""``make bench`` MQTT part (issue 15 parts 3 and 5): ``python -m bench.mqtt``.

A benchmark, not a test: it measures and prints, it asserts nothing. Needs mosquitto (Debian
package ``mosquitto``) and, for part 1, root (network namespaces).

1. **Never in the way**: the real daemon (``gopro_manager.py run``, default settings, 4 emulated
   HERO7 cameras on :class:`NamespaceRig`) with MQTT_URL pointing at a broker that is
   - **up**: mosquitto in the car namespace (password file, ACL: tests/mqtt/broker.py);
   - **down**: nothing listens on the port (connection refused; paho's back-off);
   - **blackholed**: a listening socket that accepts and never answers (TCP up, no CONNACK ever),
   and ``--flips`` trigger-file flips each: trigger → every camera recording (the emulators'
   own ``record_start`` times, as in :mod:`bench.run`).
2. **Scale**: ``--cars`` (20) daemons × ``--cameras`` (8) cameras simulated in this one process
   through the same code as the daemon (one :class:`camrig.mqtt.MqttPublisher` per car, behind
   :class:`camrig.publishers.Publishers`, fed a snapshot every ``CYCLE_SECONDS`` (1 s) like the
   controller, ``MQTT_MIN_INTERVAL`` 0.5 s, the default) against one mosquitto on loopback. Each camera changes
   state (recording ↔ idle, battery) at random, on average every ``--change-every`` s; a pit
   subscriber on ``gopro-manager/#`` takes every message. Reported: messages/s the broker
   delivered, the broker's CPU (% of one core, /proc/PID/stat), and the delay from a camera's
   state change to the subscriber (p50/p95/max; includes waiting for the next 1 s cycle and the
   min interval, as in the daemon), and from the first snapshot carrying the change being handed
   to the publisher to the subscriber. A change superseded before it was sent (the newest state
   wins) has no delay figure; ``changes_delivered`` counts those that arrived.

Writes ``bench/results-mqtt.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import run as base
from camrig.config import MqttConfig
from camrig.mqtt import MqttPublisher
from camrig.publishers import Publishers
from tests.mqtt.broker import SKIP_REASON, USERS, Broker, Subscriber

RESULTS = base.REPO_ROOT / "bench" / "results-mqtt.json"

#: a TCP listener that accepts connections and never says a word (run in the car namespace)
SILENT_LISTENER = """
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(64)
held = []
print("listening", flush=True)
while True:
    c, _ = s.accept()
    held.append(c)          # never read, never answer, never close
"""


# --- part 1: trigger → recording with the broker up, down, blackholed ---------------------------

def _mqtt_keys(port: int, pw: Path) -> dict:
    return {"MQTT_URL": f"mqtt://car1@127.0.0.1:{port}", "MQTT_PASSWORD_FILE": str(pw), "CAR_NAME": "car1"}


def run_conditions(args, rng) -> dict:
    n = args.rig_cameras
    ks = list(range(1, n + 1))
    out: dict = {}
    with base.NamespaceRig(n, prefix=args.prefix, delay_ms=args.delay_ms) as rig:
        print(f"rig: {rig!r}, workdir {rig.workdir}", file=sys.stderr)
        rig.ip("link", "set", "lo", "up", netns=rig.car_ns)
        pw = rig.workdir / "mqtt-password"
        pw.write_text(USERS["car1"] + "\n")
        pw.chmod(0o600)
        conditions = [("none", None), ("up", "up"), ("down", "down"), ("blackholed", "blackholed")]
        for label, kind in conditions:
            broker = silent = None
            extra: dict = {}
            try:
                if kind == "up":
                    broker = Broker(netns=rig.car_ns).start()
                    extra = _mqtt_keys(broker.port, pw)
                elif kind == "down":
                    extra = _mqtt_keys(base_free_port(), pw)
                elif kind == "blackholed":
                    port = base_free_port()
                    silent = subprocess.Popen(rig._wrap_car() + [sys.executable, "-c", SILENT_LISTENER, str(port)],
                                              stdout=subprocess.PIPE, text=True)
                    if silent.stdout.readline().strip() != "listening":
                        raise RuntimeError("silent listener did not start")
                    extra = _mqtt_keys(port, pw)
                mark = len(rig.daemon_log())        # the rig's log runs on across daemon starts
                base.start_daemon(rig, n, extra)
                try:
                    ons, offs = base.flips(rig, ks, base.FileFlipper(rig.trigger_path).fire, args.flips, rng,
                                           label=f"MQTT broker {label}, N={n}")
                finally:
                    rig.trigger_path.unlink(missing_ok=True)
                log = rig.daemon_log()[mark:]
                out[label] = base.trigger_result(ons, offs) | {
                    "connected": "MQTT: connected to" in log,
                    "password_in_log": USERS["car1"] in log}
            finally:
                rig.stop_daemon()
                if broker is not None:
                    broker.close()
                if silent is not None:
                    silent.kill()
                    silent.wait(5)
    return out


def base_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- part 2: scale ------------------------------------------------------------------------------

class Car:
    """One simulated daemon: ``cameras`` rows, a 1 s cycle handing the snapshot to its publishers."""

    def __init__(self, k: int, cameras: int, broker: Broker, rng: random.Random, cycle: float,
                 min_interval: float):
        self.name = f"car{k}"
        self.rng = rng
        self.cycle = cycle
        self.lock = threading.Lock()
        self.rows = [{"name": f"cam{j}", "model": "hero7", "state": "idle", "recording": False, "wanted": False,
                      "battery_percent": 100, "remaining_space_kb": 30_000_000, "bench_changed_at": None}
                     for j in range(1, cameras + 1)]
        #: (camera, bench_changed_at) → monotonic time the first snapshot carrying that change was handed over
        self.handed: dict[tuple[str, float], float] = {}
        cfg = MqttConfig(host=broker.host, port=broker.port, tls=False, car=self.name, username="bench",
                         password_file=None, min_interval=min_interval)
        self.publisher = MqttPublisher(cfg, client_id=f"bench-{self.name}-{os.getpid()}", start=False)
        self.publisher.client.username_pw_set("bench", USERS["bench"])   # the ACL's bench user
        self.publisher.start()
        self.publishers = Publishers([self.publisher])

    def change(self, j: int) -> None:
        with self.lock:
            row = self.rows[j]
            rec = not row["recording"]
            row.update(recording=rec, wanted=rec, state="recording" if rec else "idle",
                       battery_percent=max(0, row["battery_percent"] - 1), bench_changed_at=time.monotonic())

    def tick(self) -> None:
        with self.lock:
            now = time.monotonic()
            rows = [dict(r) for r in self.rows]
        for r in rows:
            if r["bench_changed_at"] is not None:
                self.handed.setdefault((r["name"], r["bench_changed_at"]), now)
        wanted = any(r["wanted"] for r in rows)
        self.publishers.publish({"updated": None, "pid": 0, "wanted": wanted, "wanted_by": ["pin"] if wanted else [],
                                 "cameras": rows})

    def close(self) -> None:
        self.publishers.close(timeout=2.0)


def run_scale(args, rng) -> dict:
    broker = Broker().start()
    cars: list[Car] = []
    stop = threading.Event()
    try:
        pit = Subscriber(broker, "bench", ("gopro-manager/+/+/state",), client_id=f"bench-pit-{os.getpid()}")
        for k in range(1, args.cars + 1):
            cars.append(Car(k, args.cameras, broker, random.Random(rng.random()), args.cycle, args.min_interval))
        base.progress("scale: waiting for every car to connect")
        deadline = time.monotonic() + 30
        while not all(c.publisher.connected for c in cars) and time.monotonic() < deadline:
            time.sleep(0.1)
        connected = sum(c.publisher.connected for c in cars)

        def ticker(car: Car):
            time.sleep(car.rng.uniform(0, car.cycle))            # cars' cycles in every phase
            next_t = time.monotonic()
            while not stop.is_set():
                car.tick()
                next_t += car.cycle
                stop.wait(max(0.0, next_t - time.monotonic()))

        def changer():
            total = args.cars * args.cameras
            rate = total / args.change_every                       # changes per second, all cameras
            while not stop.is_set():
                stop.wait(rng.expovariate(rate))
                car = cars[rng.randrange(len(cars))]
                car.change(rng.randrange(args.cameras))

        threads = [threading.Thread(target=ticker, args=(c,), daemon=True) for c in cars]
        threads.append(threading.Thread(target=changer, daemon=True))
        for t in threads:
            t.start()
        time.sleep(3.0)                                             # warm-up: the first full publish
        first = len(pit.messages)
        cpu0, t0 = broker.cpu_seconds(), time.monotonic()
        self_cpu0 = time.process_time()
        base.progress(f"scale: {args.cars} cars × {args.cameras} cameras, {args.window:g} s window")
        time.sleep(args.window)
        t1 = time.monotonic()
        cpu1 = broker.cpu_seconds()
        self_cpu1 = time.process_time()
        window_msgs = [m for m in pit.messages[first:] if m[0] <= t1]
        stop.set()
        for t in threads:
            t.join(3)
        delays, pipe = [], []
        by_name = {c.name: c for c in cars}
        seen: set[tuple[str, str, float]] = set()
        for t_rx, _topic, payload, _retain in window_msgs:
            row = json.loads(payload)
            changed = row.get("bench_changed_at")
            if changed is None or (row["car"], row["name"], changed) in seen:
                continue                  # only the first message carrying a change counts
            seen.add((row["car"], row["name"], changed))
            delays.append(t_rx - changed)
            handed = by_name[row["car"]].handed.get((row["name"], changed))
            if handed is not None:
                pipe.append(t_rx - handed)
        published = sum(c.publisher.published for c in cars)
        held = sum(c.publisher.held for c in cars)
        skipped = sum(r.skipped for c in cars for r in c.publishers._runners)
        elapsed = t1 - t0
        result = {
            "cars": args.cars, "cameras_per_car": args.cameras, "cars_connected": connected,
            "change_every_s": args.change_every, "min_interval_s": args.min_interval, "window_s": round(elapsed, 1),
            "camera_messages_per_s": round(len(window_msgs) / elapsed, 1),
            "published_total": published, "held_by_min_interval": held, "mailbox_skipped": skipped,
            "broker_cpu_pct": round(100 * (cpu1 - cpu0) / elapsed, 1),
            "simulator_cpu_pct": round(100 * (self_cpu1 - self_cpu0) / elapsed, 1),
            "change_to_subscriber": base.summary(delays),
            "changes_delivered": len(delays),
            "snapshot_to_subscriber": base.summary(pipe),
        }
        pit.close()
        return result
    finally:
        stop.set()
        for c in cars:
            c.close()
        broker.close()


# --- report ---------------------------------------------------------------------------------------

def render(results: dict) -> str:
    lines = ["", "MQTT (issue 15)"]
    cond = results.get("conditions")
    if cond:
        lines.append(f"  trigger → all {results['rig_cameras']} cameras recording, ms (p50 / p95 / max), "
                     f"{results['flips']} flips each:")
        for label, r in cond.items():
            on = r["on"]
            lines.append(f"    broker {label:<11} {on['p50']:>7} / {on['p95']:>7} / {on['max']:>7}"
                         f"   connected={r['connected']} password in log={r['password_in_log']}")
    s = results.get("scale")
    if s:
        c, p = s["change_to_subscriber"], s["snapshot_to_subscriber"]
        lines += [f"  scale: {s['cars']} cars × {s['cameras_per_car']} cameras ({s['cars_connected']} connected), "
                  f"a change per camera every {s['change_every_s']:g} s on average, MQTT_MIN_INTERVAL "
                  f"{s.get('min_interval_s')} s, {s['window_s']} s:",
                  f"    camera state messages delivered: {s['camera_messages_per_s']}/s; broker CPU "
                  f"{s['broker_cpu_pct']}% of one core (simulator {s['simulator_cpu_pct']}%)",
                  f"    change → subscriber, ms: p50 {c.get('p50')} p95 {c.get('p95')} max {c.get('max')} "
                  f"(n={c.get('n')})",
                  f"    snapshot hand-over → subscriber, ms: p50 {p.get('p50')} p95 {p.get('p95')} max {p.get('max')}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mqtt", description=__doc__.split("\n")[0])
    p.add_argument("--flips", type=int, default=20, help="trigger flips per broker condition (20)")
    p.add_argument("--rig-cameras", type=int, default=4, help="emulated cameras for part 1 (4)")
    p.add_argument("--delay-ms", type=int, default=20, help="emulated answer delay, ms (20)")
    p.add_argument("--cars", type=int, default=20, help="simulated daemons for the scale part (20)")
    p.add_argument("--cameras", type=int, default=8, help="cameras per simulated daemon (8)")
    p.add_argument("--change-every", type=float, default=5.0, help="mean seconds between one camera's changes (5)")
    p.add_argument("--cycle", type=float, default=1.0, help="simulated CYCLE_SECONDS (1)")
    p.add_argument("--window", type=float, default=30.0, help="scale measuring window, s (30)")
    p.add_argument("--min-interval", type=float, default=0.5, help="MQTT_MIN_INTERVAL of the simulated cars (0.5)")
    p.add_argument("--skip", nargs="*", default=[], choices=("conditions", "scale"))
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--prefix", default=f"gmq{os.getpid()}", help="namespace prefix")
    p.add_argument("--out", default=str(RESULTS))
    args = p.parse_args(argv)
    if SKIP_REASON:
        print(f"bench.mqtt: skipped: {SKIP_REASON}", file=sys.stderr)
        return 0
    rng = random.Random(args.seed)
    results: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "cpus": os.cpu_count(),
                     "flips": args.flips, "rig_cameras": args.rig_cameras}
    if "conditions" not in args.skip:
        ok, reason = base.namespaces_available()
        if ok:
            results["conditions"] = run_conditions(args, rng)
        else:
            print(f"bench.mqtt: broker up/down/blackholed part skipped: {reason}", file=sys.stderr)
    if "scale" not in args.skip:
        results["scale"] = run_scale(args, rng)
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(render(results), end="")
    print(f"(results in {args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
