"""SIGHUP reload in process: the Controller with a real Assembly, the GPIO trigger through
gpiozero's MockFactory. Cameras sit at an address where nothing answers: only the trigger,
the workers' identity and their settings matter here."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from gpiozero import DigitalInputDevice
from gpiozero.pins.mock import MockFactory

from camrig.app import Assembly
from camrig.config import config_from_mapping
from camrig.controller import Controller
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.systemd import Notifier
from camrig.worker import State
from tests.polling import eventually


def cam(name, port, **extra):
    return {"name": name, "address": "127.0.0.1", "http_port": port, "wol_port": 9, **extra}


def cfg(**values):
    base = {"GOPROS": [cam("front", 1), cam("rear", 2)], "NETWORK_MODE": "address", "GPIO_BCM_PIN": 17,
            "TRIGGER_PATH": None, "CYCLE_SECONDS": 0.05, "STATUS_PATH": None, "CHECK_STATUS": None,
            "WAKE_TIMEOUT": 1.0, "HTTP_TIMEOUT": 0.5, "CONNECT_TIMEOUT": 0.2}
    base.update(values)
    return config_from_mapping(base)


class ReloadWatch(Notifier):
    """A disabled Notifier that tells when a reload has begun (``RELOADING=1``)."""

    def __init__(self):
        super().__init__(environ={})
        self.reloading_seen = threading.Event()

    def reloading(self):
        self.reloading_seen.set()
        super().reloading()


@pytest.fixture
def daemon():
    factory = MockFactory()
    holder = {}
    started = []

    def start(config):
        assembly = Assembly(config, pin_factory=factory)
        workers = [assembly.worker(config, c) for c in config.cameras]
        ctl = Controller(config, workers, assembly.trigger(config), ReloadWatch(),
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
        assert eventually(lambda: ctl.config is not before or ctl.config == config, timeout=10.0), \
            "reload did not happen"
        time.sleep(0.1)

    start.holder = holder
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


@pytest.fixture
def hung_camera():
    """A TCP port that accepts connections and never answers (a hung camera's HTTP server):
    yields (port, accepted connections list)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)      # held open, never read, never answered

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


def test_replacing_a_hung_cameras_worker_does_not_stall_the_trigger(daemon, hung_camera):
    """Issue 16 item 3: the reload that replaces a worker stuck in an exchange with a hung camera
    must not hold the main loop. Fails before the fix: the loop joined the old worker for up to
    2 s, so every camera followed the trigger ~2 s late."""
    factory, start, _ = daemon
    port, accepted = hung_camera
    ctl = start(cfg(GOPROS=[cam("front", port), cam("rear", 2)], HTTP_TIMEOUT=4.0, CONNECT_TIMEOUT=1.0))
    front, rear = ctl.workers
    assert eventually(lambda: accepted, timeout=10.0)          # front's status request hangs now
    start.holder["next"] = cfg(GOPROS=[dict(cam("front", port), wol_port=10), cam("rear", 2)],
                               HTTP_TIMEOUT=4.0, CONNECT_TIMEOUT=1.0)
    ctl.request_reload()
    assert ctl.notifier.reloading_seen.wait(5.0)
    factory.pin(17).drive_low()                              # the car moves during the reload
    # generous bound (the loop's reaction is milliseconds); the old code took 2 s
    assert eventually(lambda: rear.wanted and ctl.workers[0] is not front, timeout=0.5)
    assert ctl.workers[1] is rear and ctl.workers[0].wanted
    assert front.alive                                       # still inside its exchange: not waited for
    assert eventually(lambda: not front.alive, timeout=10.0)  # it ends by itself


def test_a_replaced_worker_sends_no_stale_shutter_and_never_overlaps_its_successor():
    """A worker retired while its status request is in flight must not act on the answer: the
    camera stopped by itself, the old worker (recording wanted) would start it again, while the
    new worker has the trigger off. Retiring returns at once; the new worker's first exchange
    comes only after the old worker has ended. Fails before the fix: retire() joined for up to
    2 s, the old worker sent its stale shutter on, and the camera recorded a stray clip."""
    camera = LegacyGoPro("front", delay_ms=0, boot_delay=0.1).start()
    try:
        config = cfg(GOPROS=[dict(cam("front", camera.port), wol_port=camera.wol_port)],
                     HTTP_TIMEOUT=5.0, CONNECT_TIMEOUT=1.0)
        assembly = Assembly(config, pin_factory=MockFactory())
        old = assembly.worker(config, config.cameras[0])
        old.start()
        old.set_wanted(True)
        assert eventually(lambda: old.state == State.RECORDING and old.snapshot()["recording"] is True,
                          timeout=10.0)
        assert eventually(lambda: old.clock() >= old.next_poll_at)   # the camera's poll interval (status 60)
        camera.fault("stop_recording")
        camera.fault("slow", seconds=1.5)
        old.request_check()
        time.sleep(0.3)                       # its status request is now waiting on the camera
        old_http = assembly.parts("front").http
        new = assembly.worker(config, config.cameras[0])
        new.set_wanted(False)                 # the trigger went off meanwhile
        raw = assembly.parts("front").driver
        first_status, overlaps = raw.status, []

        def status():
            overlaps.append(old.alive)
            return first_status()
        raw.status = status
        retired_at = time.monotonic()
        assembly.retire(old)
        took = time.monotonic() - retired_at
        camera.fault("slow", seconds=0)
        new.start()
        assert took < 0.5, f"retire() waited {took:.2f} s for the old worker"
        assert eventually(lambda: not old.alive, timeout=10.0)
        assert eventually(lambda: new.state == State.IDLE and new.snapshot()["recording"] is False,
                          timeout=10.0)
        time.sleep(0.5)
        stale = [e for e in camera.state()["events"] if e["what"] == "shutter_on" and e["t"] > retired_at]
        assert not stale, stale
        assert camera.state()["recording"] is False
        assert overlaps and not any(overlaps), "the new worker talked while the old one was in an exchange"
        assert eventually(lambda: old_http._curl is None)     # closed by the reaper once it ended
        new.stop()
    finally:
        camera.close()


def test_capability_is_read_from_proc_status(tmp_path):
    from camrig.cli import CAP_NET_ADMIN, has_capability
    status = tmp_path / "status"
    status.write_text("Name:\tpython\nCapEff:\t0000000000003000\n")
    assert has_capability(CAP_NET_ADMIN, status_path=str(status)) is True
    status.write_text("Name:\tpython\nCapEff:\t0000000000002000\n")
    assert has_capability(CAP_NET_ADMIN, status_path=str(status)) is False
    assert has_capability(CAP_NET_ADMIN, status_path=str(tmp_path / "missing")) is None
