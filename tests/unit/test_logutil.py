"""camrig.logutil.RepeatLimiter: repeated log lines collapsed per source, never lost."""

from __future__ import annotations

import logging

import pytest

from camrig.logutil import RepeatLimiter, flush_all
from camrig.worker import CameraLog


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def front(caplog):
    clock = Clock()
    logger = logging.getLogger("test.logutil")
    caplog.set_level(logging.DEBUG, logger="test.logutil")
    limiter = RepeatLimiter(CameraLog(logger, {"camera": "front"}), window=10.0, quiet=1.0, clock=clock)

    def lines():
        return [r.getMessage() for r in caplog.records if r.name == "test.logutil"]
    return limiter, clock, lines


def test_first_occurrence_written_repeats_summarised_in_the_order_they_last_happened(front):
    limiter, clock, lines = front
    for _ in range(40):                       # a trigger flapping every 50 ms, passed through
        limiter.info("%s → %s (%s)", "idle", "recording", "shutter on")
        clock.now += 0.05
        limiter.info("recording → idle (shutter off)")
        clock.now += 0.05
    limiter.info("idle → recording (shutter on)")          # where it ended
    assert lines() == ["front: idle → recording (shutter on)", "front: recording → idle (shutter off)"]
    clock.now += 1.5                                        # the camera's log falls quiet
    limiter.flush()
    assert lines()[2:] == ["front: recording → idle (shutter off) (repeated 39 times in 4 s)",
                           "front: idle → recording (shutter on) (repeated 40 times in 4 s)"]
    limiter.flush()
    assert len(lines()) == 4                                # nothing twice


def test_a_new_message_is_never_held_back(front):
    limiter, clock, lines = front
    limiter.warning("unreachable: timed out")
    limiter.warning("unreachable: timed out")
    limiter.error("does not record after 3 shutters (sd_status 0); retrying in 2 s")
    limiter.info("unreachable: timed out")                  # another level: another message
    assert lines() == ["front: unreachable: timed out",
                       "front: does not record after 3 shutters (sd_status 0); retrying in 2 s",
                       "front: unreachable: timed out"]


def test_a_steady_repeat_is_written_once_per_window_with_its_count(front):
    limiter, clock, lines = front
    for _ in range(25):                       # an error every second, for 25 s
        limiter.error("worker thread(s) not running: rear; withholding the watchdog ping")
        clock.now += 1.0
    text = "front: worker thread(s) not running: rear; withholding the watchdog ping"
    assert lines() == [text, text + " (and 9 more times in the last 10 s)",
                       text + " (and 9 more times in the last 10 s)"]
    clock.now += 2.0
    flush_all()                                                # what the controller calls every cycle
    assert lines()[-1] == text + " (repeated 4 times in 4 s)"


def test_a_message_not_seen_for_a_window_is_new_again(front):
    limiter, clock, lines = front
    limiter.info("awake after 1.2 s")
    clock.now += 11.0
    limiter.info("awake after 1.2 s")
    assert lines() == ["front: awake after 1.2 s"] * 2


def test_exc_info_and_levels_pass_through(front, caplog):
    limiter, clock, lines = front
    try:
        raise RuntimeError("bug")
    except RuntimeError:
        limiter.exception("unexpected error (worker keeps running)")
    (record,) = [r for r in caplog.records if r.name == "test.logutil"]
    assert record.levelno == logging.ERROR and record.exc_info and record.exc_info[0] is RuntimeError
    limiter.debug("not shown")
    caplog.set_level(logging.INFO, logger="test.logutil")
    limiter.debug("filtered by level, not counted")
    assert lines()[-1] == "front: not shown"
