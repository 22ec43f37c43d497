"""The daemon as systemd sees it: the real ``gopro_manager.py run`` as a subprocess,
a real AF_UNIX datagram socket at ``$NOTIFY_SOCKET`` standing in for systemd, and
emulated cameras on loopback (``NETWORK_MODE "address"``; no root needed).

What systemd relies on (systemd/gopro-manager.service, ``Type=notify``):
READY=1 once the trigger is armed, not after the cameras woke; WATCHDOG=1 from
the main loop at least every WatchdogSec/2 however long CYCLE_SECONDS is; a
STATUS= line naming what is wrong; SIGTERM → STOPPING=1 and exit (ON_EXIT
decides about recording cameras); SIGHUP → RELOADING=1 … READY=1 with no
recording dropped; NOTIFY_SOCKET never reaches a child process. Bounds are
generous "does not hang" bounds, except the 5 s that SIGTERM promises.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from camrig.cli import in_private_tmp
from tests.rig import GATTTOOL

from .helpers import find_events, log_lines

SLOW = 30.0
#: What the daemon promises systemd (TimeoutStopSec=10 leaves room for Python's start-up too).
EXIT_WITHIN = 5.0


class NotifySocket:
    """A datagram socket bound at a path, as systemd's notification socket; records every
    assignment it receives as ``(monotonic time, "KEY=VALUE")``, in order."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            with self._lock:
                self.messages.extend((now, line) for line in data.decode().split("\n") if line)

    def lines(self, prefix: str = "", since: float = float("-inf")) -> list[str]:
        with self._lock:
            return [m for t, m in self.messages if m.startswith(prefix) and t >= since]

    def times(self, line: str) -> list[float]:
        with self._lock:
            return [t for t, m in self.messages if m == line]

    def statuses(self) -> list[str]:
        return [m[len("STATUS="):] for m in self.lines("STATUS=")]

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    ns = NotifySocket(tmp_path / "notify")
    yield ns
    ns.close()


def _start(rig, notify, extra=None, **env):
    """Start the daemon with ``NOTIFY_SOCKET`` (and ``env``) set; returns its Popen."""
    environ = {"NOTIFY_SOCKET": notify.path, **{k: str(v) for k, v in env.items()}}
    proc = rig.start_daemon(extra, wait_status=None, extra_env=environ)
    rig.wait_until(lambda: notify.lines("READY=1") or proc.poll() is not None, SLOW, message="READY=1")
    assert proc.poll() is None, rig.daemon_log(40)
    return proc


def _wait_exit(rig, proc, within):
    """Wait up to ``within`` s for the daemon to exit; its exit status."""
    try:
        return proc.wait(within)
    except Exception:  # noqa: BLE001 - subprocess.TimeoutExpired: report with the log
        pytest.fail(f"daemon still running {within:g} s after SIGTERM:\n{rig.daemon_log(40)}")


def test_ready_comes_while_a_camera_still_sleeps_and_status_names_it(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(2, start="asleep")
    rig.camera(1).fault("ignore_wol", on=True)   # cam1 will not wake, whatever the daemon does
    rig.trigger_on()
    _start(rig, notify_socket, {"WAKE_TIMEOUT": 30.0})

    # READY=1 went out with the trigger armed, long before cam1 could ever wake.
    assert rig.camera(1).state()["power"] == "asleep"
    assert notify_socket.lines("STATUS=")

    # cam2 wakes and records; the STATUS= line counts it and names cam1 with what it is doing.
    rig.wait_until(lambda: any(re.match(r"^1/2 recording; cam1: (waking|asleep)", s)
                               for s in notify_socket.statuses()),
                   SLOW, message="STATUS=1/2 recording; cam1: waking …")
    assert rig.recording() == [False, True]

    rig.camera(1).fault("ignore_wol", on=False)
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW + 30, message="cam1 recording once it wakes")
    rig.wait_until(lambda: "2/2 recording" in notify_socket.statuses(), SLOW, message="STATUS=2/2 recording")


def test_watchdog_pings_between_long_cycles_and_stop(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(1)
    # WatchdogSec=2 s (pings due every 1 s) while the loop ticks only every 30 s.
    proc = _start(rig, notify_socket, {"CYCLE_SECONDS": 30.0}, WATCHDOG_USEC=2_000_000)
    ready_at = notify_socket.times("READY=1")[0]
    rig.wait_until(lambda: len(notify_socket.lines("WATCHDOG=1", since=ready_at)) >= 3, 15.0,
                   message="three WATCHDOG=1 pings within 15 s although a cycle lasts 30 s")

    proc.send_signal(signal.SIGTERM)
    assert _wait_exit(rig, proc, EXIT_WITHIN) == 0, rig.daemon_log(20)
    assert notify_socket.lines("STOPPING=1")
    # Nothing after STOPPING: not even a last ping.
    stop_at = notify_socket.times("STOPPING=1")[0]
    assert not notify_socket.lines("WATCHDOG=1", since=stop_at + 0.001)


def test_watchdog_usec_for_another_pid_is_ignored(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(1)
    _start(rig, notify_socket, WATCHDOG_USEC=1_000_000, WATCHDOG_PID=1)
    time.sleep(2.0)  # four intervals' worth of pings, had the daemon taken it as its own
    assert notify_socket.lines("WATCHDOG=1") == []


def test_sigterm_leaves_cameras_recording_by_default(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(2)
    proc = _start(rig, notify_socket)
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording")

    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert _wait_exit(rig, proc, EXIT_WITHIN) == 0, rig.daemon_log(20)
    assert notify_socket.lines("STOPPING=1")
    assert rig.recording() == [True, True], "ON_EXIT 'leave' must leave the cameras recording"
    for k in (1, 2):
        assert not find_events(rig, k, "shutter_off", since=t0), rig.describe()
    # Under systemd (NOTIFY_SOCKET set) a trigger file in /tmp is worth a warning: PrivateTmp=yes.
    assert bool(log_lines(rig, "TRIGGER_PATH", "PrivateTmp")) == in_private_tmp(str(rig.trigger_path))


def test_sigterm_with_on_exit_stop_stops_them_and_still_exits_in_time(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(2)
    proc = _start(rig, notify_socket, {"ON_EXIT": "stop", "HTTP_TIMEOUT": 2.0})
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording")
    rig.camera(2).fault("slow", seconds=8)   # cam2 answers nothing in time any more

    proc.send_signal(signal.SIGTERM)
    assert _wait_exit(rig, proc, EXIT_WITHIN) == 0, rig.daemon_log(30)
    assert rig.recording()[0] is False, rig.describe()
    assert log_lines(rig, "stopped")


def _reload(rig, proc, notify, values):
    """Write ``values`` as the config, SIGHUP, wait for RELOADING=1 then READY=1 after it."""
    rig.write_config(values)
    t = time.monotonic()
    proc.send_signal(signal.SIGHUP)

    def reloaded():
        started = [x for x in notify.times("RELOADING=1") if x >= t]
        return started and [x for x in notify.times("READY=1") if x >= started[0]]
    rig.wait_until(reloaded, SLOW, message="RELOADING=1 then READY=1")


def test_sighup_reload_changes_cameras_and_trigger_without_dropping_recordings(make_loopback_rig,
                                                                              notify_socket):
    rig = make_loopback_rig(4)
    entries = [rig._config_entry(cam) for cam in rig.cameras]
    proc = _start(rig, notify_socket, {"GOPROS": entries[:3]})
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True, True, False], SLOW,
                   message="cam1..3 recording, cam4 (not configured) not")
    started = [rig.camera(k).state()["record_started_at"] for k in (1, 2, 3)]
    t_reload = time.monotonic()

    # cam2's entry changes (new worker), cam3 goes, cam4 comes; the trigger file moves.
    trigger2 = rig.workdir / "trigger2"
    trigger2.touch()
    changed2 = dict(entries[1], ssid="GP-RENAMED")
    _reload(rig, proc, notify_socket, {"GOPROS": [entries[0], changed2, entries[3]],
                                       "TRIGGER_PATH": str(trigger2), "KEEP_AWAKE": 5.0})

    rig.wait_until(lambda: rig.recording() == [True] * 4, SLOW, message="cam4 recording after the reload")
    assert [rig.camera(k).state()["record_started_at"] for k in (1, 2, 3)] == started, \
        "a recording was restarted by the reload"
    for k in (1, 2, 3):
        assert not find_events(rig, k, "shutter_off", since=t_reload), rig.describe()
    assert log_lines(rig, "reload: cam2", "camera entry changed"), rig.daemon_log()
    assert log_lines(rig, "reload: cam3", "no longer in gopros"), rig.daemon_log()
    assert log_lines(rig, "reload: cam4", "new camera"), rig.daemon_log()
    assert not log_lines(rig, "reload: cam1"), "cam1 did not change and keeps its worker"
    rig.wait_until(lambda: [c["name"] for c in rig.status()["cameras"]] == ["cam1", "cam2", "cam4"], SLOW,
                   message="status file lists cam1, cam2, cam4")

    # The old trigger file no longer counts; the new one does. cam3 is not ours any more.
    rig.trigger_off()
    time.sleep(1.5)  # three cycles
    assert rig.recording() == [True] * 4, rig.daemon_log(20)
    trigger2.unlink()
    rig.wait_until(lambda: rig.recording() == [False, False, True, False], SLOW,
                   message="cam1, cam2, cam4 stopped by the new trigger file; cam3 left alone")
    assert proc.poll() is None


def test_sighup_with_a_broken_config_keeps_the_running_one(make_loopback_rig, notify_socket):
    rig = make_loopback_rig(1)
    proc = _start(rig, notify_socket)
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True], SLOW, message="recording")
    rig.config_path.write_text("GOPROS = [\n")   # a syntax error
    os.chmod(rig.config_path, 0o600)
    t = time.monotonic()
    proc.send_signal(signal.SIGHUP)
    rig.wait_until(lambda: [x for x in notify_socket.times("READY=1") if x >= t], SLOW,
                   message="READY=1 after the refused reload")
    assert log_lines(rig, "reload refused"), rig.daemon_log()
    assert proc.poll() is None and rig.recording() == [True]
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False], SLOW, message="the running config still works")


def test_notify_socket_is_not_passed_to_child_processes(make_loopback_rig, notify_socket, tmp_path):
    # A gatttool that records its environment, then is the stand-in gatttool.
    seen = tmp_path / "gatttool-env"
    wrapper = tmp_path / "gatttool"
    wrapper.write_text(f'#!/bin/sh\nenv > "{seen}.tmp" && mv "{seen}.tmp" "{seen}"\nexec "{GATTTOOL}" "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    rig = make_loopback_rig(1, start="wifi-off", association_delay=0.5)
    rig.trigger_on()
    _start(rig, notify_socket, {"GATTTOOL": str(wrapper), "WAKE_TIMEOUT": 3.0},
           WATCHDOG_USEC=30_000_000)
    rig.wait_until(seen.exists, SLOW, message="the daemon to run gatttool (BLE Wi-Fi-on)")
    env = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert "GOPRO_EMU_DIR" in env      # the environment did arrive
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        assert name not in env, f"{name} leaked to gatttool"
    rig.wait_until(lambda: rig.recording() == [True], SLOW + 30, message="recording after the BLE wake")
