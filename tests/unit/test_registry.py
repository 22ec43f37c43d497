"""The camera family registry (issue 9 part 1): families and models, defaults, and a third
family added through the registry alone, run by the daemon's own assembly and controller on the
shipped MockDriver/MockWaker (in-process, loopback, no root)."""

from __future__ import annotations

import threading
import time

import pytest

from camrig.app import Assembly, build_camera
from camrig.cameras import registry
from camrig.cameras.base import CameraParts, Shared
from camrig.cameras.mock import MockDriver, MockWaker
from camrig.cameras.registry import Family, family_for_model, register, unregister
from camrig.config import CameraConfig, Config, config_from_mapping
from camrig.controller import Controller
from camrig.errors import ConfigError
from camrig.systemd import Notifier
from camrig.worker import CameraWorker, State


def eventually(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


def test_builtin_families_list_every_model_once():
    names = [f.name for f in registry.families()]
    assert names[:2] == ["gopro_legacy", "open_gopro"]
    assert registry.models()[:9] == ("hero5", "hero6", "hero7", "hero8",
                                     "hero9", "hero10", "hero11", "hero12", "hero13")
    assert len(set(registry.models())) == len(registry.models())
    assert family_for_model("HERO7").name == "gopro_legacy"
    assert family_for_model("hero12").name == "open_gopro"


def test_defaults_come_from_the_family():
    cfg = config_from_mapping({"GOPROS": [{"iface": "wlan1", "model": "hero7"},
                                          {"iface": "wlan2", "model": "hero12"}]})
    legacy, og = cfg.cameras
    assert (legacy.family, legacy.http_port, legacy.address) == ("gopro_legacy", 80, "10.5.5.9")
    assert (og.family, og.http_port, og.address) == ("open_gopro", 8080, "10.5.5.9")
    assert family_for_model("hero7").emulator == "camrig.emulator.legacy_gopro"
    assert family_for_model("hero12").emulator == "camrig.emulator.open_gopro"


def test_unknown_model_names_the_camera_and_lists_the_known_models():
    with pytest.raises(ConfigError) as info:
        family_for_model("hero99", camera="front")
    assert info.value.camera == "front" and "hero99" in str(info.value)
    for model in ("hero5", "hero13"):
        assert model in str(info.value)
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"GOPROS": [{"iface": "wlan1", "model": "hero99"}]})
    assert info.value.key == "GOPROS[0].model" and info.value.camera == "wlan1"
    assert "hero7" in str(info.value) and "hero12" in str(info.value)


def test_family_rules_stay_with_the_family():
    with pytest.raises(ConfigError, match="Wi-Fi only"):
        config_from_mapping({"GOPROS": [{"name": "a", "model": "hero7", "control": "ble",
                                         "bt_mac": "02:47:50:b7:00:01"}]})
    with pytest.raises(ConfigError, match="GoPro Connect"):
        config_from_mapping({"GOPROS": [{"name": "a", "model": "hero9", "control": "usb", "serial": "C123"}]})
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"GOPROS": [{"iface": "wlan1", "model": "hero9"}]})
    assert info.value.key == "GOPROS[0].bt_mac"


def test_a_model_belongs_to_one_family():
    with pytest.raises(ValueError, match="already belong"):
        register(Family(name="clash", title="Clash", models=("hero7",), build=_build_fake))
    assert [f.name for f in registry.families()].count("clash") == 0


# --- a third family, through the registry alone --------------------------------------------------

FAKE_DRIVERS: dict[str, MockDriver] = {}


def _build_fake(config: Config, cam: CameraConfig, shared: Shared) -> CameraParts:
    from camrig.http import HttpClient
    from camrig.link import make_link

    link = make_link(cam, config.network_mode, route_table=shared.route_table)
    http = HttpClient(link, port=cam.http_port, timeout=config.http_timeout,
                      connect_timeout=config.connect_timeout)
    driver = MockDriver(cam.name, mode=None)
    FAKE_DRIVERS[cam.name] = driver
    return CameraParts(cam, link, http, driver, MockWaker(driver, timeout=config.wake_timeout))


@pytest.fixture
def fake_family():
    family = register(Family(name="fakecam", title="Fake camera", models=("fake1", "fake2"),
                             controls=("wifi",), default_http_port=8000, default_address="127.0.0.1",
                             validate=lambda cam: ([("ssid", "is required for a fake camera", None)]
                                                   if cam.model == "fake2" and cam.ssid is None else []),
                             build=_build_fake))
    FAKE_DRIVERS.clear()
    yield family
    unregister("fakecam")
    FAKE_DRIVERS.clear()


def test_a_third_family_is_configured_through_the_registry_alone(fake_family):
    assert "fake1" in registry.models()
    cfg = config_from_mapping({"NETWORK_MODE": "address",
                               "GOPROS": [{"name": "olly", "model": "FAKE1"}, {"name": "front", "model": "hero7",
                                                                               "address": "127.0.0.2"}]})
    olly = cfg.camera("olly")
    assert (olly.family, olly.model, olly.http_port, olly.address) == ("fakecam", "fake1", 8000, "127.0.0.1")
    assert not olly.open_gopro
    with pytest.raises(ConfigError, match="Wi-Fi only|wifi only"):
        config_from_mapping({"GOPROS": [{"name": "olly", "model": "fake1", "control": "usb", "serial": "C123"}]})
    with pytest.raises(ConfigError) as info:
        config_from_mapping({"NETWORK_MODE": "address", "GOPROS": [{"name": "olly", "model": "fake2"}]})
    assert info.value.key == "GOPROS[0].ssid" and info.value.camera == "olly"
    parts = build_camera(cfg, olly)
    try:
        assert isinstance(parts.driver, MockDriver) and isinstance(parts.waker, MockWaker)
    finally:
        parts.http.close()


def test_the_daemon_runs_a_third_family_camera_that_records_and_stops_with_the_trigger(fake_family, tmp_path):
    trigger_path = tmp_path / "trigger"
    cfg = config_from_mapping({"NETWORK_MODE": "address", "TRIGGER_PATH": str(trigger_path),
                               "CYCLE_SECONDS": 0.1, "KEEP_AWAKE": None,
                               "GOPROS": [{"name": "olly", "model": "fake1"}]})
    assembly = Assembly(cfg)
    workers = [assembly.worker(cfg, cam) for cam in cfg.cameras]
    assert isinstance(workers[0], CameraWorker)
    driver = FAKE_DRIVERS["olly"]
    driver.asleep = True                       # the worker must wake it through the family's waker
    for w in workers:
        w.start()
    controller = Controller(cfg, workers, assembly.trigger(cfg), Notifier(environ={}), status_path="",
                            assembly=assembly)
    thread = threading.Thread(target=controller.run, daemon=True)
    thread.start()
    try:
        assert eventually(lambda: workers[0].state == State.ASLEEP), workers[0]   # not wanted: not woken
        assert assembly.parts("olly").waker.wakes == 0
        assert not driver.recording and driver.calls_to("shutter") == []
        trigger_path.touch()
        assert eventually(lambda: driver.recording and workers[0].state == State.RECORDING)
        assert driver.calls_to("shutter") == [(True,)]
        assert assembly.parts("olly").waker.wakes >= 1
        trigger_path.unlink()
        assert eventually(lambda: not driver.recording and workers[0].state == State.IDLE)
        assert driver.calls_to("shutter") == [(True,), (False,)]
    finally:
        controller.request_stop()
        thread.join(5)
        controller.shutdown(stop_recordings=False, timeout=1.0)
        assembly.close()
    assert not thread.is_alive()


def test_the_fake_family_is_gone_after_its_test():
    assert "fakecam" not in [f.name for f in registry.families()]
    with pytest.raises(ConfigError):
        family_for_model("fake1")
