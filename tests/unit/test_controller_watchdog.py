"""The controller pings systemd's watchdog only while its main loop makes progress
and every worker thread lives; a real datagram socket plays systemd."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from camrig.config import CameraConfig, Config
from camrig.controller import Controller
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger
from tests.polling import eventually


class FakeTrigger:
    value = False

    def start(self, on_change):
        pass

    def close(self):
        pass


class FakeWorker:
    def __init__(self, name):
        self.name = name
        self.alive = True

    def set_wanted(self, wanted):
        pass

    def request_check(self):
        pass

    def snapshot(self):
        return {"name": self.name, "state": "idle", "wanted": False, "recording": False}

    def stop(self, timeout=0):
        self.alive = False


@pytest.fixture
def systemd_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.1)
    yield str(tmp_path / "notify"), sock
    sock.close()


def drain(sock) -> list[str]:
    """Every line queued on the socket now (without waiting for more)."""
    out = []
    sock.setblocking(False)
    try:
        while True:
            try:
                out += sock.recv(4096).decode().splitlines()
            except BlockingIOError:
                return out
    finally:
        sock.settimeout(0.1)


def run_controller(config, workers, notifier, publish_hook=None):
    ctl = Controller(config, workers, FakeTrigger(), notifier, status_path="")
    if publish_hook:
        original = ctl._publish

        def publish(force=False):
            publish_hook()
            original(force)
        ctl._publish = publish
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    return ctl, thread


def config(cycle=0.1):
    cam = CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.2")
    return Config(cameras=(cam,), network_mode="address", cycle_seconds=cycle, status_path=None)


def test_pings_stop_while_a_worker_thread_is_dead(systemd_socket):
    path, sock = systemd_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})  # ping every ≤ 0.2 s
    worker = FakeWorker("front")
    ctl, thread = run_controller(config(), [worker], notifier)
    try:
        time.sleep(0.6)
        assert "WATCHDOG=1" in drain(sock)
        worker.alive = False
        time.sleep(0.3)
        drain(sock)                      # a ping may have been in flight
        time.sleep(0.6)
        assert "WATCHDOG=1" not in drain(sock)
        worker.alive = True
        time.sleep(0.6)
        assert "WATCHDOG=1" in drain(sock)
    finally:
        ctl.request_stop()
        thread.join(5)
    assert not thread.is_alive()


def test_pings_stop_while_the_main_loop_hangs(systemd_socket):
    path, sock = systemd_socket
    notifier = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    hang = threading.Event()
    release = threading.Event()

    def publish_hook():  # a status write stuck on a dead file system, say
        if hang.is_set():
            release.wait(10)

    ctl, thread = run_controller(config(), [FakeWorker("front")], notifier, publish_hook)
    try:
        time.sleep(0.6)
        assert "WATCHDOG=1" in drain(sock)
        hang.set()
        time.sleep(0.3)
        drain(sock)
        time.sleep(0.8)
        assert "WATCHDOG=1" not in drain(sock)
        hang.clear()
        release.set()
        time.sleep(0.6)
        assert "WATCHDOG=1" in drain(sock)
    finally:
        release.set()
        ctl.request_stop()
        thread.join(5)


def test_no_pings_without_watchdog_usec(systemd_socket):
    path, sock = systemd_socket
    ctl, thread = run_controller(config(), [FakeWorker("front")], Notifier({"NOTIFY_SOCKET": path}))
    try:
        time.sleep(0.5)
        lines = drain(sock)
        assert "READY=1" in lines and "WATCHDOG=1" not in lines
    finally:
        ctl.request_stop()
        thread.join(5)
    assert "STOPPING=1" in drain(sock)


class WantedWorker(FakeWorker):
    wanted = False

    def set_wanted(self, wanted):
        self.wanted = wanted


class CountingNotifier(Notifier):
    def __init__(self, environ):
        super().__init__(environ)
        self.watchdog_calls = 0

    def watchdog(self):
        self.watchdog_calls += 1
        return super().watchdog()


def fill(address):
    """Queue datagrams until the kernel refuses more: systemd not reading its socket."""
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    try:
        while True:
            try:
                filler.sendto(b"STATUS=filler", address)
            except BlockingIOError:
                return
    finally:
        filler.close()


def test_a_stalled_systemd_does_not_slow_the_trigger(systemd_socket):
    """Issue 16 item 4: nobody reads the notify socket; every trigger change still reaches the
    workers at once. Fails before the fix: each WATCHDOG=1/STATUS= blocked the loop for 1 s."""
    path, sock = systemd_socket
    fill(path)
    notifier = CountingNotifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    worker = WantedWorker("front")
    trigger = FlipTrigger()
    ctl = Controller(config(), [worker], trigger, notifier, status_path="")
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)
        for value in (True, False, True, False, True):
            trigger.set(value)
            # generous bound: the loop reacts in milliseconds; the old code up to 1 s per message
            assert eventually(lambda value=value: worker.wanted is value, timeout=0.5), value
            time.sleep(0.2)
        assert notifier.dropped > 0
        calls, t0 = notifier.watchdog_calls, time.monotonic()
        time.sleep(0.5)
        elapsed = time.monotonic() - t0      # more than 0.5 s on a loaded machine
        # dropped pings are retried at the next tick (CYCLE_SECONDS 0.1), not in a busy loop: at
        # most about one a tick (twice that, for wakes by other events), never hundreds
        assert notifier.watchdog_calls - calls <= 2 * (elapsed / 0.1) + 2
        drain(sock)                      # systemd reads again: the next ping gets through
        time.sleep(0.3)
        assert "WATCHDOG=1" in drain(sock)
    finally:
        ctl.request_stop()
        thread.join(5)
    assert not thread.is_alive()


def test_a_dropped_ready_and_status_line_are_sent_again(systemd_socket):
    """READY=1 and STATUS= dropped on a full socket are sent once systemd reads again, not lost
    (systemd would wait for READY=1 until its start timeout; the status would stay stale until
    the summary changed). Fails before the fix: both counted as sent."""
    path, sock = systemd_socket
    fill(path)
    ctl, thread = run_controller(config(), [FakeWorker("front")], Notifier({"NOTIFY_SOCKET": path}))
    try:
        time.sleep(1.5)                  # systemd stalled for a while (longer than the old 1 s timeout)
        # systemd reads again: the backlog, and whatever the loop re-sends as soon as there is room
        # (which can land while the backlog is still being read).
        lines = [line for line in drain(sock) if line != "STATUS=filler"]
        time.sleep(0.3)
        lines += drain(sock)
        assert "READY=1" in lines and "STATUS=0/1 recording" in lines
    finally:
        ctl.request_stop()
        thread.join(5)


def test_a_dead_worker_is_looked_at_once_per_tick_not_in_a_busy_loop(systemd_socket, caplog):
    """While a worker thread is dead the ping is withheld, and the loop looks again at the next
    tick. Fails before the fix: the overdue ping made the loop spin (tens of thousands of looks
    and error lines a second)."""
    path, sock = systemd_socket

    class Watched(FakeWorker):
        looks = 0
        dead = False

        @property
        def alive(self):
            Watched.looks += 1
            return not Watched.dead

        @alive.setter
        def alive(self, value):
            pass

    worker = Watched("front")
    ctl, thread = run_controller(config(), [worker], Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"}))
    try:
        time.sleep(0.3)
        with caplog.at_level("ERROR", logger="camrig.controller"):
            looks = Watched.looks
            Watched.dead = True
            time.sleep(0.5)
            looks = Watched.looks - looks
            Watched.dead = False
        assert 1 <= looks <= 30, looks            # CYCLE_SECONDS 0.1: about 5 ticks, a few looks each
        assert [r for r in caplog.records if "withholding" in r.getMessage()]
    finally:
        ctl.request_stop()
        thread.join(5)
