"""Trigger sources: GPIO through gpiozero's MockFactory, file trigger with real inotify."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from camrig import trigger as trigger_mod
from camrig.errors import CamRigError, TriggerError
from camrig.trigger import FILE_SETTLE, AnyTrigger, FileTrigger, GpioTrigger, Settle

WAIT = 10.0  # generous: the tests assert behaviour, not latency


class Recorder:
    """on_change callback that counts calls and lets a test wait for the next one."""

    def __init__(self):
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self):
        with self._cond:
            self.count += 1
            self._cond.notify_all()

    def wait_for(self, count, timeout=WAIT):
        with self._cond:
            return self._cond.wait_for(lambda: self.count >= count, timeout)


def wait_until(predicate, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- GPIO ------------------------------------------------------------------

@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.close()


def test_gpio_idle_high_is_inactive(factory):
    trig = GpioTrigger(17, pin_factory=factory)
    try:
        assert trig.value is False  # pull-up holds it high: car stopped
        assert factory.pin(17).pull == "up"
        assert repr(trig) == "<GpioTrigger pin=GPIO17 active=False>"
    finally:
        trig.close()


def test_gpio_grounded_is_active_and_calls_back(factory):
    trig = GpioTrigger(17, pin_factory=factory)
    rec = Recorder()
    trig.start(rec)
    try:
        factory.pin(17).drive_low()
        assert rec.wait_for(1)
        assert trig.value is True
        assert repr(trig) == "<GpioTrigger pin=GPIO17 active=True>"
        factory.pin(17).drive_high()
        assert rec.wait_for(2)
        assert trig.value is False
    finally:
        trig.close()


def test_gpio_same_level_twice_is_one_change(factory):
    trig = GpioTrigger(17, pin_factory=factory)
    rec = Recorder()
    trig.start(rec)
    try:
        factory.pin(17).drive_low()
        factory.pin(17).drive_low()
        assert rec.wait_for(1)
        assert rec.count == 1
    finally:
        trig.close()


def test_gpio_bounce_time_reaches_the_pin_driver(factory):
    trig = GpioTrigger(17, bounce_time=0.2, pin_factory=factory)
    try:
        assert factory.pin(17).bounce == pytest.approx(0.2)
    finally:
        trig.close()


class DebouncingMockPin(MockPin):
    """MockPin that honours ``bounce`` the way RPi.GPIO's bouncetime does.

    gpiozero's MockPin stores ``bounce`` but does not apply it (the real pin
    drivers do); this subclass drops edges that come within ``bounce`` seconds
    of the last reported one, through MockFactory's ``pin_class`` hook.
    """

    _last_reported = None

    def _call_when_changed(self):
        now = time.monotonic()
        if (self._bounce is not None and self._last_reported is not None
                and now - self._last_reported < self._bounce):
            return
        self._last_reported = now
        super()._call_when_changed()


def test_gpio_bounces_within_bounce_time_give_one_callback():
    factory = MockFactory(pin_class=DebouncingMockPin)
    # A bounce_time far longer than the test takes keeps this independent of timing.
    trig = GpioTrigger(17, bounce_time=30.0, pin_factory=factory)
    rec = Recorder()
    trig.start(rec)
    try:
        pin = factory.pin(17)
        pin.drive_low()
        for _ in range(5):  # contact bounce
            pin.drive_high()
            pin.drive_low()
        assert rec.wait_for(1)
        time.sleep(0.1)  # give a wrong extra callback the chance to show up
        assert rec.count == 1
        assert trig.value is True
    finally:
        trig.close()
        factory.close()


def test_gpio_close_releases_pin_and_stops_callbacks(factory):
    trig = GpioTrigger(17, pin_factory=factory)
    rec = Recorder()
    trig.start(rec)
    trig.close()
    assert repr(trig) == "<GpioTrigger pin=GPIO17 closed>"
    assert trig.value is False
    factory.pin(17).drive_low()
    assert rec.count == 0
    trig.close()  # idempotent
    # The pin is free again: a new device can take it.
    again = GpioTrigger(17, pin_factory=factory)
    again.close()


def test_gpio_pin_in_use_names_pin(factory):
    first = GpioTrigger(17, pin_factory=factory)
    try:
        with pytest.raises(TriggerError, match="GPIO17"):
            GpioTrigger(17, pin_factory=factory)
    finally:
        first.close()


def test_gpio_invalid_pin_is_camrig_error(factory):
    with pytest.raises(CamRigError, match="GPIO999"):
        GpioTrigger(999, pin_factory=factory)


def test_gpio_no_pin_factory_says_what_to_install(monkeypatch):
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory

    def no_factory():
        raise BadPinFactory("Unable to load any default pin factory!")

    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(no_factory))
    with pytest.raises(TriggerError) as info:
        GpioTrigger(17)
    message = str(info.value)
    assert "GPIO17" in message
    assert "lgpio" in message and "RPi.GPIO" in message


# -- file trigger ----------------------------------------------------------

@pytest.fixture
def started():
    """Start a trigger with a Recorder; close it at the end of the test."""
    triggers = []

    def start(trig):
        rec = Recorder()
        trig.start(rec)
        triggers.append(trig)
        return rec

    yield start
    for trig in triggers:
        trig.close()


def touch(path):
    with open(path, "a"):
        pass


def test_file_touch_and_rm(tmp_path, started):
    path = tmp_path / "trigger"
    trig = FileTrigger(path)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    assert trig.value is False
    touch(path)
    assert rec.wait_for(1)
    assert trig.value is True
    assert repr(trig) == f"<FileTrigger path={path} active=True watch=inotify>"
    os.unlink(path)
    assert rec.wait_for(2)
    assert trig.value is False


def test_file_inotify_reacts_faster_than_polling(tmp_path, started):
    # With a one-hour poll interval only inotify can deliver the change.
    path = tmp_path / "trigger"
    trig = FileTrigger(path, poll_interval=3600)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    touch(path)
    assert rec.wait_for(1)
    os.rename(path, tmp_path / "elsewhere")  # IN_MOVED_FROM
    assert rec.wait_for(2)
    assert trig.value is False
    os.rename(tmp_path / "elsewhere", path)  # IN_MOVED_TO
    assert rec.wait_for(3)
    assert trig.value is True


def test_file_other_files_do_not_call_back(tmp_path, started):
    path = tmp_path / "trigger"
    trig = FileTrigger(path)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    touch(tmp_path / "unrelated")
    os.unlink(tmp_path / "unrelated")
    touch(path)
    assert rec.wait_for(1)
    time.sleep(0.1)
    assert rec.count == 1


def test_file_directory_created_later(tmp_path, started):
    directory = tmp_path / "run" / "gopro-manager"
    path = directory / "trigger"
    trig = FileTrigger(path, poll_interval=0.05)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "poll")
    assert trig.value is False
    directory.mkdir(parents=True)
    assert wait_until(lambda: trig.watch == "inotify")
    touch(path)
    assert rec.wait_for(1)
    assert trig.value is True


def test_file_directory_removed_and_recreated(tmp_path, started):
    directory = tmp_path / "d"
    directory.mkdir()
    path = directory / "trigger"
    touch(path)
    trig = FileTrigger(path, poll_interval=0.05)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    assert trig.value is True
    shutil.rmtree(directory)
    assert rec.wait_for(1)
    assert trig.value is False
    assert wait_until(lambda: trig.watch == "poll")
    directory.mkdir()
    assert wait_until(lambda: trig.watch == "inotify")
    touch(path)
    assert rec.wait_for(2)
    assert trig.value is True
    os.unlink(path)
    assert rec.wait_for(3)


def test_file_directory_moved_away_is_not_followed(tmp_path, started):
    directory = tmp_path / "d"
    directory.mkdir()
    path = directory / "trigger"
    trig = FileTrigger(path, poll_interval=0.05)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    os.rename(directory, tmp_path / "old")  # IN_MOVE_SELF
    assert wait_until(lambda: trig.watch == "poll")
    touch(tmp_path / "old" / "trigger")  # not our path any more
    directory.mkdir()
    assert wait_until(lambda: trig.watch == "inotify")
    assert rec.count == 0
    touch(path)
    assert rec.wait_for(1)


def test_file_polling_fallback_when_inotify_unavailable(tmp_path, started, monkeypatch):
    def no_inotify():
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(trigger_mod, "INotify", no_inotify)
    path = tmp_path / "trigger"
    trig = FileTrigger(path, poll_interval=0.05)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "poll")
    touch(path)
    assert rec.wait_for(1)
    assert trig.value is True
    assert repr(trig).endswith("active=True watch=poll>")
    os.unlink(path)
    assert rec.wait_for(2)
    assert trig.value is False


def test_file_callback_exception_does_not_kill_thread(tmp_path):
    path = tmp_path / "trigger"
    trig = FileTrigger(path)
    calls = []

    def bad():
        calls.append(1)
        raise RuntimeError("controller bug")

    trig.start(bad)
    try:
        assert wait_until(lambda: trig.watch == "inotify")
        touch(path)
        assert wait_until(lambda: len(calls) == 1)
        os.unlink(path)
        assert wait_until(lambda: len(calls) == 2)
    finally:
        trig.close()


def test_file_close_is_prompt_even_with_long_poll(tmp_path):
    trig = FileTrigger(tmp_path / "missing" / "trigger", poll_interval=3600)
    trig.start(lambda: None)
    assert wait_until(lambda: trig.watch == "poll")
    thread = trig._thread
    trig.close()
    assert not thread.is_alive()
    assert trig.watch == "stopped"
    trig.close()  # idempotent


def test_file_restart_after_close(tmp_path):
    path = tmp_path / "trigger"
    trig = FileTrigger(path)
    trig.start(lambda: None)
    trig.close()
    rec = Recorder()
    trig.start(rec)
    try:
        assert wait_until(lambda: trig.watch == "inotify")
        touch(path)
        assert rec.wait_for(1)
    finally:
        trig.close()


# -- AnyTrigger --------------------------------------------------------------

def test_any_trigger_is_or(tmp_path, factory):
    path = tmp_path / "trigger"
    gpio = GpioTrigger(17, pin_factory=factory)
    files = FileTrigger(path)
    both = AnyTrigger([gpio, files])
    rec = Recorder()
    both.start(rec)
    try:
        assert both.value is False
        assert wait_until(lambda: files.watch == "inotify")
        factory.pin(17).drive_low()
        assert rec.wait_for(1)
        assert both.value is True
        touch(path)
        assert rec.wait_for(2)
        factory.pin(17).drive_high()
        assert rec.wait_for(3)
        assert both.value is True  # the file still says record
        os.unlink(path)
        assert rec.wait_for(4)
        assert both.value is False
        assert repr(both).startswith("<AnyTrigger active=False triggers=[<GpioTrigger pin=GPIO17")
    finally:
        both.close()
    assert files.watch == "stopped"
    assert repr(gpio) == "<GpioTrigger pin=GPIO17 closed>"


def test_any_trigger_empty_is_inactive():
    none = AnyTrigger([])
    none.start(lambda: None)
    assert none.value is False
    none.close()


def test_any_trigger_failed_start_closes_started(tmp_path):
    class Broken:
        value = False

        def start(self, on_change):
            raise TriggerError("GPIO4: broken")

        def close(self):
            pass

    files = FileTrigger(tmp_path / "trigger")
    with pytest.raises(TriggerError):
        AnyTrigger([files, Broken()]).start(lambda: None)
    assert files.watch == "stopped"
    assert files._thread is None


# -- Settle: a flapping trigger file coalesced -------------------------------------------

def flap(settle, start, period, seconds, first=True):
    """Feed ``settle`` a level flipping every ``period`` s for ``seconds`` s from ``start``,
    reading it (as the controller does) at every flip; returns (reported changes, end time)."""
    changes, level, t, raw = 0, settle.level, start, first
    while t < start + seconds:
        now = settle.feed(raw, now=t)
        changes += now != level
        level = now
        raw = not raw
        t += period
    return changes, t


def test_settle_passes_clean_edges_at_once():
    s = Settle(0.5)
    assert s.feed(True, now=10.0) is True                    # on: at once
    assert s.feed(False, now=20.0) is False                  # off after 10 s on: at once
    assert s.feed(True, now=20.1) is True                    # on: always at once
    assert s.due() is None


def test_settle_coalesces_a_50ms_flap_and_ends_right():
    """Issue 16 item 5: 60 s of a trigger flipping every 50 ms gives one "on" (and one "off"
    when it ends off), not 1200 changes; the end state is right within the window."""
    s = Settle(FILE_SETTLE)
    changes, end = flap(s, 100.0, 0.05, 60.0)
    last_off = end - 0.05                                    # 1200 flips: the last one an off
    assert changes == 1 and s.level is True                  # recording started at the first flip
    assert s.feed(False, now=end) is True                    # the off is held …
    assert s.due() == pytest.approx(last_off + FILE_SETTLE)
    assert s.feed(False, now=last_off + FILE_SETTLE) is False   # … and reported once it stayed off
    assert s.due() is None


def test_settle_an_off_that_reverses_is_never_reported():
    s = Settle(0.5)
    s.feed(True, now=0.0)
    assert s.feed(False, now=0.2) is True                    # on for 0.2 s only: held
    assert s.feed(True, now=0.4) is True                     # back on: the off never happened
    assert s.feed(True, now=5.0) is True and s.due() is None


def test_settle_flap_from_a_steady_on_costs_one_pair_then_holds():
    s = Settle(0.5)
    s.feed(True, now=0.0)
    changes, end = flap(s, 60.0, 0.05, 10.0, first=False)    # contact chatters after a minute on
    assert changes == 2 and s.level is True                  # the clean off and the on after it


def test_settle_activity_without_a_visible_change_counts_as_a_flap():
    s = Settle(0.5)
    s.feed(True, now=0.0)
    s.feed(False, now=10.0)                                  # clean off
    assert s.feed(False, activity=True, now=10.2) is False   # removed and created and removed again
    s.feed(True, now=20.0)
    assert s.feed(True, activity=True, now=20.3) is True
    assert s.feed(False, now=20.4) is True                   # the on lasted 0.1 s since: held
    assert s.feed(False, now=20.9) is False


def test_settle_zero_passes_everything():
    s = Settle(0.0)
    assert flap(s, 0.0, 0.05, 1.0)[0] == 20


def test_file_flapping_every_50ms_is_coalesced(tmp_path, started):
    """The trigger file created and removed every 50 ms for 3 s: one change reported (the first
    "on"), then the final "off" once the file stays away; a clean edge afterwards is reported at
    once. Fails before the fix: every flip was passed on (about 60 callbacks)."""
    path = tmp_path / "trigger"
    trig = FileTrigger(path)
    rec = started(trig)
    assert wait_until(lambda: trig.watch == "inotify")
    flips = 0
    t = time.monotonic()
    while time.monotonic() - t < 3.0:
        touch(path) if flips % 2 == 0 else os.unlink(path)
        flips += 1
        time.sleep(0.05)
    if os.path.exists(path):
        os.unlink(path)
    assert flips >= 40
    assert rec.count <= 2, (rec.count, flips)
    assert rec.wait_for(2)                                   # the off, once it has settled
    assert trig.value is False
    time.sleep(FILE_SETTLE + 0.1)
    touch(path)
    assert trig.value is True                                # a clean on: no wait at all
    time.sleep(FILE_SETTLE + 0.1)
    os.unlink(path)
    assert trig.value is False                               # a clean off: no wait either
    assert rec.wait_for(4) and rec.count == 4
