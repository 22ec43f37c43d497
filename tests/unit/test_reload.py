"""SIGHUP reload in process: the Controller with a real Assembly, the GPIO trigger through
gpiozero's MockFactory. Cameras sit at an address where nothing answers: only the trigger,
the workers' identity and their settings matter here."""

from __future__ import annotations

import threading
import time

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from camrig.app import Assembly
from camrig.config import config_from_mapping
from camrig.controller import Controller
from camrig.systemd import Notifier
from tests.polling import eventually


def cam(name, port):
    return {"name": name, "address": "127.0.0.1", "http_port": port, "wol_port": 9}


def cfg(**values):
    base = {"GOPROS": [cam("front", 1), cam("rear", 2)], "NETWORK_MODE": "address", "GPIO_BCM_PIN": 17,
            "TRIGGER_PATH": None, "CYCLE_SECONDS": 0.05, "STATUS_PATH": None, "CHECK_STATUS": None,
            "WAKE_TIMEOUT": 1.0, "HTTP_TIMEOUT": 0.5, "CONNECT_TIMEOUT": 0.2}
    base.update(values)
    return config_from_mapping(base)


@pytest.fixture
def daemon():
    factory = MockFactory()
    holder = {}
    started = []

    def start(config):
        assembly = Assembly(config, pin_factory=factory)
        workers = [assembly.worker(config, c) for c in config.cameras]
        ctl = Controller(config, workers, assembly.trigger(config), Notifier(environ={}),
                         reload=lambda: holder["next"], assembly=assembly)
        for w in workers:
            w.start()
        thread = threading.Thread(target=ctl.run, daemon=True)
        thread.start()
        started.append((ctl, thread))
        return ctl

    def reload(ctl, config):
        holder["next"] = config
        before = ctl.config
        ctl.request_reload()
        assert eventually(lambda: ctl.config is not before or ctl.config == config, timeout=10.0), "reload did not happen"
        time.sleep(0.1)

    yield factory, start, reload
    for ctl, thread in started:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=1.0)


def test_gpio_pin_change_moves_the_trigger(daemon):
    factory, start, reload = daemon
    ctl = start(cfg())
    factory.pin(17).drive_low()                      # active low: recording wanted
    assert eventually(lambda: ctl.wanted is True, timeout=10.0)
    reload(ctl, cfg(GPIO_BCM_PIN=22))
    assert "22" in repr(ctl.trigger)
    factory.pin(17).drive_high()                     # the old pin no longer counts …
    time.sleep(0.2)
    factory.pin(22).drive_high()
    assert eventually(lambda: ctl.wanted is False, timeout=10.0)         # … the new one does
    factory.pin(22).drive_low()
    assert eventually(lambda: ctl.wanted is True, timeout=10.0)
    assert all(w.wanted for w in ctl.workers)
    DigitalInputDevice(17, pin_factory=factory).close()  # pin 17 was released


def test_a_trigger_that_cannot_open_keeps_the_running_one(daemon):
    factory, start, reload = daemon
    ctl = start(cfg())
    blocker = DigitalInputDevice(5, pin_factory=factory)   # someone else holds GPIO5
    try:
        reload(ctl, cfg(GPIO_BCM_PIN=5, KEEP_AWAKE=7.0))
        assert ctl.config.gpio_bcm_pin == 17 and "17" in repr(ctl.trigger)
        assert ctl.config.keep_awake == 7.0              # the rest of the reload still applies
        factory.pin(17).drive_low()
        assert eventually(lambda: ctl.wanted is True, timeout=10.0)
    finally:
        blocker.close()


def test_unchanged_cameras_keep_their_worker_changed_ones_get_a_new_one(daemon):
    factory, start, reload = daemon
    ctl = start(cfg())
    front, rear = ctl.workers
    reload(ctl, cfg(GOPROS=[cam("front", 1), cam("rear", 3), cam("side", 4)], KEEP_AWAKE=9.0,
                    HTTP_TIMEOUT=1.5))
    assert [w.name for w in ctl.workers] == ["front", "rear", "side"]
    assert ctl.workers[0] is front and front.alive
    assert front.keep_awake == 9.0 and ctl.assembly.parts("front").http.timeout == 1.5
    assert ctl.workers[1] is not rear and not rear.alive and ctl.workers[1].alive
    assert ctl.workers[1].camera.http_port == 3
    reload(ctl, cfg(GOPROS=[cam("side", 4)]))
    assert [w.name for w in ctl.workers] == ["side"] and not front.alive


def test_network_mode_change_replaces_every_worker(daemon):
    factory, start, reload = daemon
    ctl = start(cfg(GOPROS=[dict(cam("front", 1), iface="lo")]))
    (front,) = ctl.workers
    reload(ctl, cfg(GOPROS=[dict(cam("front", 1), iface="lo")], NETWORK_MODE="bind"))
    assert ctl.workers[0] is not front and ctl.workers[0].alive and not front.alive
    assert ctl.assembly.parts("front").link.kind == "bind"


def test_capability_is_read_from_proc_status(tmp_path):
    from gopro_manager import CAP_NET_ADMIN, has_capability
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t0000000000003000\n")
    assert has_capability(CAP_NET_ADMIN, status_path=str(status)) is True
    status.write_text("Name:\tpython\nCapEff:\t0000000000002000\n")
    assert has_capability(CAP_NET_ADMIN, status_path=str(status)) is False
    assert has_capability(CAP_NET_ADMIN, status_path=str(tmp_path / "missing")) is None
