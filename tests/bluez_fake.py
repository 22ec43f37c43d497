"""A D-Bus daemon of the tests' own and a stand-in ``org.bluez`` on it (jeepney), for the doctor's
and discover's BlueZ paths: BlueZ not running, access denied, no adapter, devices with
Paired/Trusted. bleak and :func:`camrig.doctor.bluez_devices` reach it through
``DBUS_SYSTEM_BUS_ADDRESS`` / an explicit address."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading

import pytest


@contextlib.contextmanager
def dbus_daemon(tmp_path):
    """A dbus-daemon of our own (session configuration) → its address; skips without dbus-daemon."""
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        pytest.skip("dbus-daemon is not installed")
    address = f"unix:path={tmp_path}/bus"
    proc = subprocess.Popen([daemon, "--session", "--nofork", f"--address={address}", "--print-address"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("unix:"), line
        yield address
    finally:
        proc.terminate()
        proc.wait(5)


class FakeBluez:
    """org.bluez on ``address``: answers GetManagedObjects with ``objects``, or the error ``error``."""

    def __init__(self, address: str, objects: dict, error: str | None = None):
        from jeepney.bus_messages import message_bus
        from jeepney.io.blocking import open_dbus_connection
        self.conn = open_dbus_connection(bus=address)
        self.conn.send_and_get_reply(message_bus.RequestName("org.bluez"), timeout=5)
        self.objects, self.error = objects, error
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        from jeepney import MessageType, new_error, new_method_return
        from jeepney.low_level import HeaderFields
        while not self.stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            except OSError:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            if msg.header.fields.get(HeaderFields.member) == "GetManagedObjects" and self.error is None:
                self.conn.send(new_method_return(msg, "a{oa{sa{sv}}}", (self.objects,)))
            else:
                self.conn.send(new_error(msg, self.error or "org.freedesktop.DBus.Error.UnknownMethod"))

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.conn.close()
