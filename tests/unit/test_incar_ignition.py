"""Ignition off (issue 13 part 6): the ignition pin on gpiozero's MockFactory, a real Controller
loop and CameraWorkers on MockDrivers; the power-off through a fake logind (and the clock check
through a fake timedated) on a private ``dbus-daemon --session``."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import threading
import time

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from camrig.cameras.mock import MockDriver
from camrig.inputs.clock_sync import timedated_probe
from camrig.inputs.ignition import IgnitionWatch, ShutdownError, logind_power_off
from camrig.status import render_table
from tests.fakes import MockCar
from tests.polling import eventually, wait_for
from tests.unit.test_commands import config

IGN = 26


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.close()


@pytest.fixture
def car(factory):
    made = []

    def make(*, grace=0.3, shutdown=None):
        drivers = [MockDriver("front"), MockDriver("rear")]
        cfg = dataclasses.replace(config([d.name for d in drivers]), ignition_bcm_pin=IGN, ignition_grace=grace,
                                  shutdown_on_ignition_off=shutdown is not None, marks_path=None)
        car = MockCar(cfg, drivers, pin_factory=factory, shutdown=shutdown)
        made.append(car)
        assert car.inputs.errors == [] and car.inputs.ignition is not None
        return car.ctl, car.trigger, car.workers, drivers, car.inputs

    yield make
    for car in made:
        car.close()


def recording(drivers):
    return all(d.recording for d in drivers)


def test_ignition_off_past_the_grace_stops_every_recording_then_powers_off(car, factory):
    calls = []
    ctl, trigger, workers, drivers, inputs = car(shutdown=lambda: calls.append(time.monotonic()))
    factory.pin(IGN).drive_high()                              # ignition on
    trigger.set(True)
    wait_for(lambda: recording(drivers), what="recording")
    factory.pin(IGN).drive_low()                               # ignition off
    assert eventually(lambda: not any(d.recording for d in drivers))   # files closed on the cards
    assert ctl.snapshot()["hold"] == "ignition off" and not ctl.wanted
    assert eventually(lambda: calls)                           # then the power-off, once
    time.sleep(0.2)
    assert len(calls) == 1
    snap = ctl.snapshot()
    assert snap["ignition"]["stopped"] and snap["ignition"]["shutdown"] == "asked"
    assert "ignition: OFF since" in render_table(snap) and "recordings stopped" in render_table(snap)
    assert "(ignition off)" in render_table(snap).splitlines()[0]


def test_ignition_back_on_within_the_grace_cancels(car, factory):
    calls = []
    ctl, trigger, workers, drivers, inputs = car(grace=30.0, shutdown=lambda: calls.append(1))
    factory.pin(IGN).drive_high()
    trigger.set(True)
    wait_for(lambda: recording(drivers), what="recording")
    factory.pin(IGN).drive_low()
    assert eventually(lambda: ctl.snapshot()["ignition"]["off_since"] is not None)
    factory.pin(IGN).drive_high()                              # a stall, restarted at once
    assert eventually(lambda: ctl.snapshot()["ignition"]["off_since"] is None)
    time.sleep(0.3)
    assert recording(drivers) and calls == [] and ctl.hold is None


def test_ignition_back_on_after_the_stop_gives_recording_back(car, factory):
    ctl, trigger, workers, drivers, inputs = car()           # no shutdown configured
    factory.pin(IGN).drive_high()
    trigger.set(True)
    wait_for(lambda: recording(drivers), what="recording")
    factory.pin(IGN).drive_low()
    assert eventually(lambda: not any(d.recording for d in drivers))
    assert inputs.ignition.shutdown_state is None              # SHUTDOWN_ON_IGNITION_OFF is False
    factory.pin(IGN).drive_high()
    assert eventually(lambda: recording(drivers))              # the trigger still wants it
    assert ctl.hold is None and not ctl.snapshot()["ignition"]["stopped"]


def test_off_at_start_is_not_acted_on_until_seen_on(car, factory):
    calls = []
    ctl, trigger, workers, drivers, inputs = car(shutdown=lambda: calls.append(1))   # pin low: "off"
    trigger.set(True)
    wait_for(lambda: recording(drivers), what="recording")
    time.sleep(0.6)                                            # twice the grace
    assert recording(drivers) and calls == [] and ctl.hold is None
    assert "not acted on until it has been on" in render_table(ctl.snapshot())


def test_a_failed_power_off_is_said_and_nothing_else_breaks(factory):
    def refuse():
        raise ShutdownError("power off: logind refused: org.freedesktop.DBus.Error.AccessDenied")
    factory.pin(IGN)
    dev = DigitalInputDevice(IGN, pull_up=False, pin_factory=factory)
    factory.pin(IGN).drive_high()
    posted = []
    watch = IgnitionWatch(IGN, grace=0.05, set_ignition=posted.append, shutdown=refuse, device=dev)
    try:
        factory.pin(IGN).drive_low()
        assert eventually(lambda: (watch.shutdown_state or "").startswith("failed"))
        assert "AccessDenied" in watch.shutdown_state and posted == [False]
    finally:
        watch.close()


# --- a fake logind and timedated on a private D-Bus --------------------------------------------

class FakeSystemServices:
    """``org.freedesktop.login1`` (PowerOff) and ``org.freedesktop.timedate1`` (NTPSynchronized)
    on a private bus; ``refuse`` answers PowerOff with InteractiveAuthorizationRequired (no polkit rule)."""

    def __init__(self, address: str):
        from jeepney import message_bus
        from jeepney.io.blocking import open_dbus_connection
        self.power_offs: list[tuple] = []
        self.refuse = False
        self.synchronised = True
        self._stop = threading.Event()
        self.conn = open_dbus_connection(bus=address)
        for name in ("org.freedesktop.login1", "org.freedesktop.timedate1"):
            self.conn.send_and_get_reply(message_bus.RequestName(name), timeout=5)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        from jeepney import MessageType, new_error, new_method_return
        from jeepney.low_level import HeaderFields
        while not self._stop.is_set():
            try:
                msg = self.conn.receive(timeout=0.1)
            except TimeoutError:
                continue
            except Exception:
                return
            if msg.header.message_type != MessageType.method_call:
                continue
            member = msg.header.fields.get(HeaderFields.member)
            iface = msg.header.fields.get(HeaderFields.interface)
            if iface == "org.freedesktop.login1.Manager" and member == "PowerOff":
                self.power_offs.append(msg.body)
                if self.refuse:
                    self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                                             "s", ("Interactive authentication required.",)))
                else:
                    self.conn.send(new_method_return(msg))
            elif iface == "org.freedesktop.DBus.Properties" and member == "Get" and \
                    msg.body == ("org.freedesktop.timedate1", "NTPSynchronized"):
                self.conn.send(new_method_return(msg, "v", (("b", self.synchronised),)))
            else:
                self.conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))

    def close(self):
        self._stop.set()
        self.thread.join(2)
        self.conn.close()


@pytest.fixture
def private_bus():
    if shutil.which("dbus-daemon") is None:
        pytest.skip("dbus-daemon is not installed (apt package dbus)")
    proc = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        address = proc.stdout.readline().decode().strip()
        assert address.startswith("unix:"), address
        services = FakeSystemServices(address)
        yield address, services
        services.close()
    finally:
        proc.terminate()
        proc.wait(5)


def test_power_off_calls_logind_poweroff_not_interactive(private_bus):
    address, logind = private_bus
    logind_power_off(address, timeout=5)
    assert logind.power_offs == [(False,)]


def test_power_off_refused_names_the_polkit_rule(private_bus):
    address, logind = private_bus
    logind.refuse = True
    with pytest.raises(ShutdownError, match="InteractiveAuthorizationRequired.*50-gopro-manager-poweroff.rules"):
        logind_power_off(address, timeout=5)


def test_power_off_without_a_bus_is_a_clear_error(tmp_path):
    with pytest.raises(ShutdownError, match="logind over D-Bus"):
        logind_power_off(f"unix:path={tmp_path}/no-bus", timeout=1)


def test_ignition_off_powers_off_through_the_fake_logind(private_bus, car, factory):
    """The whole path: ignition off → recordings stopped → PowerOff(false) on the bus."""
    address, logind = private_bus
    ctl, trigger, workers, drivers, inputs = car(shutdown=lambda: logind_power_off(address, timeout=5))
    factory.pin(IGN).drive_high()
    trigger.set(True)
    wait_for(lambda: recording(drivers), what="recording")
    factory.pin(IGN).drive_low()
    assert eventually(lambda: logind.power_offs == [(False,)])
    assert not any(d.recording for d in drivers)
    assert inputs.ignition.shutdown_state == "asked"


def test_timedated_ntp_synchronized_over_dbus(private_bus):
    address, services = private_bus
    assert timedated_probe(address)[0] is True
    services.synchronised = False
    ok, why = timedated_probe(address)
    assert ok is False and "NTPSynchronized=no" in why
