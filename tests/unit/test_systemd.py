"""sd_notify against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

from camrig.systemd import Notifier


@pytest.fixture
def path_socket(tmp_path):
    """A datagram socket bound at a filesystem path: (NOTIFY_SOCKET value, socket)."""
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    yield address, sock
    sock.close()


@pytest.fixture
def abstract_socket():
    """A datagram socket in the abstract namespace: ("@name", socket)."""
    name = f"gopro-manager-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(5)
    yield "@" + name, sock
    sock.close()


def received(sock):
    return sock.recv(4096).decode()


def nothing_pending(sock):
    sock.setblocking(False)
    try:
        sock.recv(4096)
    except BlockingIOError:
        return True
    finally:
        sock.settimeout(5)
    return False


@pytest.mark.parametrize("which", ["path_socket", "abstract_socket"])
def test_messages_arrive_exactly(which, request):
    address, sock = request.getfixturevalue(which)
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.enabled
    notifier.ready()
    assert received(sock) == "READY=1"
    notifier.status("2/2 cameras recording")
    assert received(sock) == "STATUS=2/2 cameras recording"
    notifier.watchdog()
    assert received(sock) == "WATCHDOG=1"
    notifier.stopping()
    assert received(sock) == "STOPPING=1"
    notifier.close()


def test_status_newlines_become_spaces(path_socket):
    address, sock = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.status("front: fault\nrear: recording")
    assert received(sock) == "STATUS=front: fault rear: recording"


def test_notify_fields_in_order(path_socket):
    address, sock = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    assert notifier.notify(READY=1, status="up", ERRNO=0, X_FLAG=True) is True
    assert received(sock) == "READY=1\nSTATUS=up\nERRNO=0\nX_FLAG=1"
    with pytest.raises(ValueError):
        notifier.notify(**{"BAD=KEY": 1})


def test_reloading_sends_monotonic_usec(path_socket):
    address, sock = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address})
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    lines = received(sock).split("\n")
    assert lines[0] == "RELOADING=1"
    key, value = lines[1].split("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_environment_variables_are_removed(path_socket):
    address, _ = path_socket
    environ = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000",
               "WATCHDOG_PID": str(os.getpid()), "PATH": "/usr/bin"}
    Notifier(environ)
    assert environ == {"PATH": "/usr/bin"}


def test_children_do_not_inherit_from_os_environ(path_socket, monkeypatch):
    address, _ = path_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    notifier = Notifier()
    assert notifier.enabled
    child = subprocess.run(
        [sys.executable, "-c",
         "import os; print(os.environ.get('NOTIFY_SOCKET'), os.environ.get('WATCHDOG_USEC'))"],
        capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "None None"


def test_no_op_without_notify_socket(tmp_path):
    environ = {"WATCHDOG_USEC": "30000000"}
    notifier = Notifier(environ)
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    notifier.ready()
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()
    notifier.reloading()
    assert notifier.notify(READY=1) is False
    assert environ == {}
    assert repr(notifier) == "<Notifier disabled>"


def test_watchdog_interval_is_half_of_watchdog_usec(path_socket):
    address, _ = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000"})
    assert notifier.watchdog_interval == 15.0
    assert repr(notifier) == f"<Notifier socket={address} watchdog=15s>"


def test_watchdog_pid_ours(path_socket):
    address, _ = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000",
                         "WATCHDOG_PID": str(os.getpid())})
    assert notifier.watchdog_interval == 1.0


def test_watchdog_pid_of_another_process_is_ignored(path_socket):
    address, _ = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000",
                         "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_interval is None


@pytest.mark.parametrize("usec", ["", "0", "-5", "soon"])
def test_bad_watchdog_usec_means_no_watchdog(path_socket, usec):
    address, _ = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval is None


def test_unsupported_socket_kind_disables(caplog):
    with caplog.at_level(logging.WARNING, logger="camrig.systemd"):
        notifier = Notifier({"NOTIFY_SOCKET": "vsock:2:1234"})
    assert not notifier.enabled
    assert "vsock" in caplog.text


def test_send_failure_logged_once_never_raised(tmp_path, caplog):
    missing = str(tmp_path / "gone")
    notifier = Notifier({"NOTIFY_SOCKET": missing})
    with caplog.at_level(logging.WARNING, logger="camrig.systemd"):
        assert notifier.notify(READY=1) is False
        notifier.watchdog()
        notifier.status("still here")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert missing in warnings[0].getMessage()


def test_recovers_after_failure(tmp_path, caplog):
    address = str(tmp_path / "notify")
    notifier = Notifier({"NOTIFY_SOCKET": address})
    notifier.ready()  # nobody listening yet
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(5)
    try:
        with caplog.at_level(logging.INFO, logger="camrig.systemd"):
            assert notifier.notify(READY=1) is True
        assert received(sock) == "READY=1"
        assert nothing_pending(sock)
        assert "work again" in caplog.text
    finally:
        sock.close()


def fill(address: str) -> int:
    """Queue datagrams on the socket at ``address`` until the kernel refuses more (EAGAIN):
    systemd not reading its notification socket. Returns how many were queued."""
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    queued = 0
    try:
        while True:
            try:
                filler.sendto(b"STATUS=filler", address)
            except BlockingIOError:
                return queued
            queued += 1
    finally:
        filler.close()


def drain(sock) -> list[str]:
    out = []
    sock.setblocking(False)
    try:
        while True:
            try:
                out.append(sock.recv(4096).decode())
            except BlockingIOError:
                return out
    finally:
        sock.settimeout(5)


def test_full_socket_drops_without_blocking_and_counts(path_socket, caplog):
    """Issue 16 item 4: systemd not reading its socket must not stall the caller. Fails before the
    fix: each notification waited 1 s (the socket timeout) before giving up."""
    address, sock = path_socket
    notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
    assert fill(address) > 0
    with caplog.at_level(logging.INFO, logger="camrig.systemd"):
        for _ in range(3):
            started = time.monotonic()
            sent = notifier.status("1/1 recording"), notifier.watchdog()
            # generous bound: a non-blocking send returns in microseconds; the old code took 2 s
            assert time.monotonic() - started < 0.5
            assert sent == (False, False)
        assert notifier.dropped == 6
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 1 and "does not read" in warnings[0].getMessage()
        drain(sock)                                   # systemd reads again
        assert notifier.watchdog() is True
    assert received(sock) == "WATCHDOG=1"
    assert "work again (6 dropped" in caplog.text
