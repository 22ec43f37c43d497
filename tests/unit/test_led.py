"""The status LED (issue 13 part 4): the pattern for each snapshot, and the LED itself on
gpiozero's MockFactory (solid, blinking, the double flash for a mark, off at exit)."""

from __future__ import annotations

import time

import pytest
from gpiozero.pins.mock import MockFactory

from camrig.inputs.led import FAST, SLOW, SOLID, LedPublisher, led_pattern
from tests.polling import eventually

LED_PIN = 13


def cam(state, recording=None):
    return {"name": "c", "state": state, "recording": recording}


@pytest.mark.parametrize(("snapshot", "pattern"), [
    ({"wanted": False, "cameras": [cam("idle", False), cam("asleep")]}, SOLID),
    ({"wanted": False, "cameras": []}, SOLID),
    ({"wanted": False, "cameras": [cam("idle", False), cam("fault")]}, FAST),
    ({"wanted": True, "cameras": [cam("recording", True), cam("recording", True)]}, SLOW),
    ({"wanted": True, "cameras": [cam("recording", True), cam("waking")]}, FAST),
    ({"wanted": True, "cameras": [cam("recording", True), cam("recording", None)]}, FAST),  # unconfirmed
    ({"wanted": True, "cameras": [cam("recording", True), cam("fault")]}, FAST),
    ({"wanted": True, "cameras": []}, FAST),
    ({"wanted": True}, FAST),                                  # malformed: something is wrong
    ("garbage", FAST),
])
def test_pattern_for_each_snapshot(snapshot, pattern):
    assert led_pattern(snapshot) == pattern


@pytest.fixture
def led():
    factory = MockFactory()
    pub = LedPublisher(LED_PIN, pin_factory=factory)
    yield pub, factory.pin(LED_PIN)
    pub.close()
    factory.close()


def levels_seen(pin, seconds):
    """The distinct levels the pin shows while polled for ``seconds``."""
    seen = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        seen.add(bool(pin.state))
        time.sleep(0.01)
    return seen


def test_solid_when_idle(led):
    pub, pin = led
    pub.publish({"wanted": False, "cameras": [cam("idle", False)]})
    assert pin.state and pub.pattern == SOLID
    assert levels_seen(pin, 0.3) == {True}


def test_fast_blink_when_a_camera_is_not_recording(led):
    pub, pin = led
    pub.publish({"wanted": True, "cameras": [cam("recording", True), cam("fault")]})
    assert pub.pattern == FAST
    assert eventually(lambda: levels_seen(pin, 0.5) == {True, False})


def test_slow_blink_when_every_camera_records_and_it_is_not_restarted_each_tick(led):
    pub, pin = led
    snap = {"wanted": True, "cameras": [cam("recording", True)]}
    pub.publish(snap)
    assert pub.pattern == SLOW
    before = pin.states[:]
    pub.publish(snap)                                          # the next tick: same pattern, no restart
    assert pin.states[:len(before)] == before
    assert eventually(lambda: levels_seen(pin, 2.5) == {True, False}, timeout=6)


def test_a_mark_is_a_double_flash_then_the_pattern_again(led):
    pub, pin = led
    pub.publish({"wanted": False, "cameras": [], "marks": {"count": 0}})
    assert pin.state
    start = len(pin.states)
    pub.publish({"wanted": False, "cameras": [], "marks": {"count": 1}})
    assert pub.flashes == 1 and pub.pattern == SOLID and pin.state
    levels = [s.state for s in pin.states[start:]]
    assert levels == [False, True, False, True, False, True]   # dark, two flashes, solid again
    pub.publish({"wanted": False, "cameras": [], "marks": {"count": 1}})
    assert pub.flashes == 1                                    # no new mark, no flash


def test_off_when_the_daemon_stops():
    factory = MockFactory()
    pub = LedPublisher(LED_PIN, pin_factory=factory)
    pub.publish({"wanted": False, "cameras": []})
    pin = factory.pin(LED_PIN)
    assert pin.state
    pub.close()
    assert not pin.state
    factory.close()


def test_a_broken_led_never_raises(caplog):
    class Broken:
        def on(self):
            raise OSError("gpiochip gone")

        def off(self):
            raise OSError("gpiochip gone")

        def close(self):
            pass

    pub = LedPublisher(LED_PIN, led=Broken())
    pub.publish({"wanted": False, "cameras": []})
    pub.close()
    assert any("status LED" in r.getMessage() for r in caplog.records)
