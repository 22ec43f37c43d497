"""Reload planning in the assembly (Assembly.plan_reload → ReloadPlan, Assembly.apply): which
cameras keep their worker, which get a new one, which come and go, whether the trigger is rebuilt.
The plan is pure; apply is tried with cameras at an address where nothing answers."""

from __future__ import annotations

import pytest
from gpiozero.pins.mock import MockFactory

from camrig.app import Assembly, ReloadPlan
from camrig.commands import Command
from camrig.controller import Controller
from camrig.errors import ConfigError
from camrig.systemd import Notifier
from tests.unit.test_reload import cam, cfg


def test_no_change_keeps_every_worker():
    plan = Assembly.plan_reload(cfg(), cfg())
    assert (plan.update, plan.replace, plan.add, plan.remove) == (("front", "rear"), (), (), ())
    assert not plan.trigger_changed and not plan.network_mode_changed and plan.changed == ()
    assert plan.describe() == "no camera or trigger change"


def test_settings_only_change_updates_in_place():
    plan = Assembly.plan_reload(cfg(), cfg(KEEP_AWAKE=9.0, HTTP_TIMEOUT=1.5))
    assert plan.update == ("front", "rear") and not plan.replace
    assert set(plan.changed) == {"keep_awake", "http_timeout"} and not plan.trigger_changed


def test_changed_added_and_removed_cameras():
    old = cfg(GOPROS=[cam("front", 1), cam("rear", 2), cam("gone", 5)])
    new = cfg(GOPROS=[cam("side", 4), cam("front", 1), cam("rear", 3)])
    plan = Assembly.plan_reload(old, new)
    assert plan.update == ("front",)
    assert plan.replace == ("rear",) and plan.reasons == {"rear": "camera entry changed"}
    assert plan.add == ("side",) and plan.remove == ("gone",)
    assert plan.describe() == "replace rear; add side; remove gone"


def test_network_mode_change_replaces_every_camera():
    old = cfg(GOPROS=[cam("front", 1, iface="lo")])
    new = cfg(GOPROS=[cam("front", 1, iface="lo")], NETWORK_MODE="bind")
    plan = Assembly.plan_reload(old, new)
    assert plan.replace == ("front",) and not plan.update and plan.network_mode_changed
    assert set(plan.reasons.values()) == {"NETWORK_MODE changed"}


@pytest.mark.parametrize("change", [{"GPIO_BCM_PIN": 22}, {"GPIO_BCM_PIN": None, "TRIGGER_PATH": "/run/t"},
                                    {"TRIGGER_PATH": "/run/t"}, {"GPIO_BOUNCE_TIME": 0.2},
                                    {"GPIO_PIN_FACTORY": "mock"}])
def test_trigger_settings_rebuild_the_trigger(change):
    plan = Assembly.plan_reload(cfg(), cfg(**change))
    assert plan.trigger_changed and plan.update == ("front", "rear")
    assert "trigger rebuilt" in plan.describe()


def test_plan_is_a_frozen_value():
    plan = Assembly.plan_reload(cfg(), cfg())
    assert isinstance(plan, ReloadPlan)
    with pytest.raises(AttributeError):
        plan.update = ()


@pytest.fixture
def assembled():
    made = []

    def make(config):
        assembly = Assembly(config, pin_factory=MockFactory())
        workers = [assembly.worker(config, c) for c in config.cameras]
        for w in workers:
            w.start()
        made.append((assembly, workers))
        return assembly, workers

    yield make
    for assembly, workers in made:
        for w in list(workers) + [b.worker for b in assembly._built.values()]:
            w.stop(timeout=0.5)


def test_apply_carries_out_the_plan(assembled):
    old = cfg()
    assembly, (front, rear) = assembled(old)
    trigger = assembly.trigger(old)
    new = cfg(GOPROS=[cam("front", 1), cam("rear", 3), cam("side", 4)], KEEP_AWAKE=9.0)
    applied = assembly.apply(assembly.plan_reload(old, new), trigger=trigger, on_trigger=lambda: None,
                             wanted=True)
    try:
        assert applied.cameras == {"front": "kept", "rear": "replaced", "side": "added"}
        assert applied.workers[0] is front and front.keep_awake == 9.0
        assert applied.workers[1] is not rear and applied.workers[1].wanted and applied.workers[1].alive
        assert applied.trigger is trigger and applied.config is new and not applied.errors
    finally:
        applied.workers[1].stop(0.5)
        applied.workers[2].stop(0.5)
        trigger.close()


def test_a_camera_whose_new_parts_cannot_be_built_keeps_its_running_worker(assembled, monkeypatch):
    """A changed entry that cannot be built (BLE tools missing, say) must not cost the camera its
    running worker, nor the other cameras their part of the reload. Fails before the assembly
    applied reloads (no Assembly.apply; the controller's reload raised half-way, logged "reload
    failed half-way", and applied nothing of the rest of the new config)."""
    old = cfg()
    assembly, (front, rear) = assembled(old)
    trigger = assembly.trigger(old)
    real = __import__("camrig.app", fromlist=["build_camera"]).build_camera

    def build_camera(config, camera, **kwargs):
        if camera.name == "rear":
            raise ConfigError("GOPROS", "bleak is not installed", camera="rear")
        return real(config, camera, **kwargs)
    monkeypatch.setattr("camrig.app.build_camera", build_camera)
    new = cfg(GOPROS=[cam("front", 1), cam("rear", 3)])
    applied = assembly.apply(assembly.plan_reload(old, new), trigger=trigger, on_trigger=lambda: None,
                             wanted=False)
    try:
        assert applied.workers == [front, rear] and rear.alive
        assert applied.cameras["rear"].startswith("kept (new entry refused")
        assert applied.errors and "bleak" in applied.errors[0]
        # the config says what runs, so that the next reload tries the new entry again
        assert applied.config.cameras[1].http_port == 2
        assert Assembly.plan_reload(applied.config, new).replace == ("rear",)
    finally:
        trigger.close()


def test_reload_command_answers_per_camera(assembled):
    import threading
    old = cfg()
    assembly, workers = assembled(old)
    new = cfg(GOPROS=[cam("front", 1), cam("side", 4)])
    ctl = Controller(old, workers, assembly.trigger(old), Notifier(environ={}), reload=lambda: new,
                     assembly=assembly)
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    try:
        result = ctl.post(Command("reload", source="test")).result(10)
        assert result.ok and result.detail == "add side; remove rear"
        assert {k: v.detail for k, v in result.cameras.items()} == {"front": "kept", "side": "added",
                                                                     "rear": "removed"}
        assert [w.name for w in ctl.workers] == ["front", "side"]
    finally:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=0.5)
