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
