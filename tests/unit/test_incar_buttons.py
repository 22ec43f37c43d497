"""The mark and record buttons (issue 13 parts 1, 2, 8) on gpiozero's MockFactory, posting into a
real Controller loop with real CameraWorkers on MockDrivers: a press, a button held, chattering
contacts, a record toggle, and what the status says about who wants recording."""

from __future__ import annotations

import dataclasses
import time

import pytest
from gpiozero.pins.mock import MockFactory

from camrig.cameras.mock import MockDriver
from camrig.commands import Command
from camrig.controller import Controller
from camrig.errors import TriggerError
from camrig.inputs import install
from camrig.inputs.buttons import MarkButton, RecordButton
from camrig.status import render_table
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger, MockCar
from tests.polling import eventually, wait_for
from tests.unit.test_commands import config
from tests.unit.test_trigger import DebouncingMockPin

MARK, RECORD = 5, 6


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.close()


@pytest.fixture
def car(tmp_path, factory):
    """A running controller with two MockDriver cameras, the buttons on MockFactory pins."""
    made = []

    def make(**overrides):
        drivers = [MockDriver("front"), MockDriver("rear")]
        cfg = dataclasses.replace(config([d.name for d in drivers]), mark_bcm_pin=MARK, record_bcm_pin=RECORD,
                                  marks_path=str(tmp_path / "marks.jsonl"), **overrides)
        car = MockCar(cfg, drivers, pin_factory=factory)
        made.append(car)
        assert car.inputs.errors == []
        return car.ctl, car.trigger, car.workers, drivers, car.inputs

    yield make
    for car in made:
        car.close()


def press(factory, pin, hold: float = 0.0):
    factory.pin(pin).drive_low()
    if hold:
        time.sleep(hold)
    factory.pin(pin).drive_high()


def all_recording(workers):
    return all(w.snapshot()["state"] == "recording" and w.snapshot()["recording"] for w in workers)


def test_the_mark_button_puts_a_hilight_on_every_recording_camera(car, factory):
    ctl, trigger, workers, drivers, inputs = car()
    assert factory.pin(MARK).pull == "up"                      # button to ground, pulled up
    trigger.set(True)
    wait_for(lambda: all_recording(workers), what="recording")
    press(factory, MARK)
    assert eventually(lambda: [d.hilights for d in drivers] == [1, 1])
    assert eventually(lambda: ctl.snapshot()["marks"]["count"] == 1)
    assert inputs.mark_button.presses == 1
    assert eventually(lambda: inputs.marks.last_record is not None)
    assert inputs.marks.last_record["source"] == "button"


def test_a_button_held_down_is_one_press(car, factory):
    ctl, trigger, workers, drivers, inputs = car(mark_coalesce=0.0)
    trigger.set(True)
    wait_for(lambda: all_recording(workers), what="recording")
    press(factory, MARK, hold=0.5)
    assert eventually(lambda: [d.hilights for d in drivers] == [1, 1])
    time.sleep(0.2)                                            # a wrong repeat would show up now
    assert inputs.mark_button.presses == 1 and [d.hilights for d in drivers] == [1, 1]


def test_chattering_mark_contacts_give_one_hilight(car, factory):
    """Part 8: 20 edges in a burst (a bad contact, a storm of presses): one HiLight per camera,
    and the recordings go on."""
    ctl, trigger, workers, drivers, inputs = car(mark_coalesce=5.0)
    trigger.set(True)
    wait_for(lambda: all_recording(workers), what="recording")
    for _ in range(20):
        press(factory, MARK)
    assert eventually(lambda: ctl.snapshot()["marks"]["presses"] == 20)
    assert eventually(lambda: [d.hilights for d in drivers] == [1, 1])
    inputs.marks.join(2)
    assert [d.hilights for d in drivers] == [1, 1] and ctl.snapshot()["marks"]["count"] == 1
    assert all_recording(workers)


def test_contact_bounce_within_bounce_time_is_one_press():
    factory = MockFactory(pin_class=DebouncingMockPin)
    posted = []
    button = MarkButton(MARK, posted.append, bounce_time=30.0, pin_factory=factory)
    try:
        pin = factory.pin(MARK)
        pin.drive_low()
        for _ in range(5):
            pin.drive_high()
            pin.drive_low()
        pin.drive_high()
        assert eventually(lambda: len(posted) == 1)
        time.sleep(0.1)
        assert len(posted) == 1 and posted[0].name == "mark" and posted[0].source == "button"
    finally:
        button.close()
        factory.close()


def test_the_record_button_toggles_the_latch_and_the_status_says_button(car, factory):
    ctl, trigger, workers, drivers, inputs = car()
    inputs.record_button.guard_s = 0.0
    press(factory, RECORD)
    wait_for(lambda: all_recording(workers), what="recording by the button")
    assert ctl.latch and ctl.snapshot()["wanted_by"] == ["button"]
    assert "wanted: RECORD (by button)" in render_table(ctl.snapshot())
    trigger.set(True)                                          # the pin (here: a trigger) wants it too
    assert eventually(lambda: ctl.snapshot()["wanted_by"] == ["trigger", "button"])
    press(factory, RECORD)                                     # latch off (auto): the trigger still wants it
    assert eventually(lambda: not ctl.latch)
    assert ctl.snapshot()["wanted_by"] == ["trigger"] and all_recording(workers)
    trigger.set(False)
    assert eventually(lambda: not any(d.recording for d in drivers))


def test_record_from_the_shell_says_remote(car):
    ctl, trigger, workers, drivers, inputs = car()
    assert ctl.post(Command("record", ("on",), source="socket")).result(5).ok
    assert ctl.snapshot()["wanted_by"] == ["remote"]


def test_chattering_record_contacts_are_ignored_within_the_guard(car, factory):
    """Part 8: a record button that chatters toggles once, not on-off-on-off."""
    ctl, trigger, workers, drivers, inputs = car()
    inputs.record_button.guard_s = 30.0
    for _ in range(7):
        press(factory, RECORD)
    wait_for(lambda: all_recording(workers), what="recording")
    assert ctl.latch and inputs.record_button.presses == 1 and inputs.record_button.ignored == 6


def test_record_button_alone():
    factory = MockFactory()
    posted, latch = [], [False]
    button = RecordButton(RECORD, posted.append, lambda: latch[0], bounce_time=None, guard_s=0.0,
                          pin_factory=factory)
    try:
        press(factory, RECORD)
        latch[0] = True
        press(factory, RECORD)
        assert [(c.name, c.args, c.source) for c in posted] == [("record", ("on",), "button"),
                                                                ("record", ("auto",), "button")]
    finally:
        button.close()
        factory.close()


def test_a_button_on_a_busy_pin_is_a_clear_error_and_the_rest_goes_on(tmp_path, factory, caplog):
    """A pin that cannot be opened is named; the daemon carries on without that button."""
    from gpiozero import Button
    squatter = Button(MARK, pin_factory=factory)
    try:
        with pytest.raises(TriggerError, match="MARK_BCM_PIN GPIO5: cannot open the button"):
            MarkButton(MARK, lambda c: None, pin_factory=factory)
        cfg = dataclasses.replace(config(["front"]), mark_bcm_pin=MARK, record_bcm_pin=RECORD, marks_path=None)
        ctl = Controller(cfg, [], FlipTrigger(), Notifier(environ={}), status_path="")
        inputs = install(ctl, cfg, pin_factory=factory)
        try:
            assert inputs.mark_button is None and inputs.record_button is not None
            assert any("MARK_BCM_PIN GPIO5" in e for e in inputs.errors)
        finally:
            inputs.close()
    finally:
        squatter.close()


def test_config_of_the_car_keys():
    """Issue 13's keys: pins each used once, MARKS_PATH absolute (a warning outside the unit's
    writable folders), CAMERA_CLOCK one of three, booleans that are booleans."""
    from camrig.config import config_from_mapping
    from camrig.errors import ConfigError
    cams = [("wlan1", "GP1", "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02")]
    cfg = config_from_mapping({"GOPROS": cams, "MARK_BCM_PIN": 5, "RECORD_BCM_PIN": 6, "LED_BCM_PIN": 13,
                               "IGNITION_BCM_PIN": 26, "SHUTDOWN_ON_IGNITION_OFF": True})
    assert (cfg.mark_bcm_pin, cfg.record_bcm_pin, cfg.led_bcm_pin, cfg.ignition_bcm_pin) == (5, 6, 13, 26)
    assert cfg.marks_path == "/var/lib/gopro-manager/marks.jsonl" and cfg.warnings == ()
    assert cfg.camera_clock == "synchronised" and cfg.ignition_grace == 30.0
    for bad, match in [({"LED_BCM_PIN": 17, "GPIO_BCM_PIN": 17}, "LED_BCM_PIN: GPIO17 is already GPIO_BCM_PIN"),
                       ({"MARK_BCM_PIN": 6, "RECORD_BCM_PIN": 6}, "RECORD_BCM_PIN: GPIO6 is already MARK_BCM_PIN"),
                       ({"MARKS_PATH": "marks.jsonl"}, "MARKS_PATH: must be an absolute path"),
                       ({"CAMERA_CLOCK": "sometimes"}, "CAMERA_CLOCK: must be one of"),
                       ({"SHUTDOWN_ON_IGNITION_OFF": "yes"}, "SHUTDOWN_ON_IGNITION_OFF: must be True or False"),
                       ({"IGNITION_GRACE": -1}, "IGNITION_GRACE: must be between"),
                       ({"MARK_BCM_PIN": 40}, "MARK_BCM_PIN: must be a BCM GPIO number")]:
        with pytest.raises(ConfigError, match=match):
            config_from_mapping({"GOPROS": cams, **bad})
    warned = config_from_mapping({"GOPROS": cams, "MARKS_PATH": "/home/pi/marks.jsonl"})
    assert any("MARKS_PATH /home/pi/marks.jsonl: outside /var/lib/gopro-manager" in w for w in warned.warnings)
