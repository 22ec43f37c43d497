"""Commands (camrig/commands.py) posted to the controller's loop from any thread: stop, reload,
record on|off|auto (the latch: wanted = trigger OR latch), mark (HiLight), offload."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from gpiozero.pins.mock import MockFactory

from camrig.commands import Command, CommandError, Result
from camrig.config import CameraConfig, Config
from camrig.controller import Controller, trigger_sources
from camrig.errors import CameraUnreachable
from camrig.systemd import Notifier
from camrig.trigger import AnyTrigger, FileTrigger, GpioTrigger
from tests.fakes import FlipTrigger
from tests.fakes import FollowingWorker as Worker
from tests.polling import eventually


class HiLightWorker(Worker):
    def __init__(self, name, fail=False):
        super().__init__(name)
        self.hilights = 0
        self.fail = fail

    def hilight(self):
        if self.fail:
            raise CameraUnreachable("no answer to the HiLight", camera=self.name)
        self.hilights += 1


def config(names=("front",)):
    cams = tuple(CameraConfig(name=n, iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.2")
                 for n in names)
    return Config(cameras=cams, network_mode="address", cycle_seconds=0.05, status_path=None)


@pytest.fixture
def running():
    started = []

    def start(workers, trigger=None, **kwargs):
        trigger = trigger or FlipTrigger()
        ctl = Controller(config([w.name for w in workers]), workers, trigger, Notifier(environ={}),
                         status_path="", **kwargs)
        thread = threading.Thread(target=ctl.run, daemon=True)
        thread.start()
        started.append((ctl, thread))
        return ctl, trigger

    yield start
    for ctl, thread in started:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=0.5)


# --- the Command itself -----------------------------------------------------------------------

def test_bad_commands_are_refused_where_they_are_posted():
    with pytest.raises(CommandError, match="'dance'.*known commands"):
        Command("dance")
    with pytest.raises(CommandError, match="on\\|off\\|auto.*'sideways'"):
        Command("record", ("sideways",))
    with pytest.raises(CommandError, match="on\\|off\\|auto.*nothing"):
        Command("record")
    with pytest.raises(CommandError, match="'stop'.*takes no arguments"):
        Command("stop", ("now",))
    with pytest.raises(CommandError, match="empty command from socket"):
        Command.parse("  ", source="socket")


def test_parse_and_str():
    cmd = Command.parse("RECORD On", source="button")
    assert (cmd.name, cmd.args, cmd.source, str(cmd)) == ("record", ("on",), "button", "record on")


def test_answer_once_and_call_back():
    seen = []
    cmd = Command("stop", on_reply=seen.append)
    cmd.answer(Result("stop", True, "stopping"))
    cmd.answer(Result("stop", False, "second answer"))
    assert cmd.result(0).detail == "stopping" and [r.detail for r in seen] == ["stopping"]
    assert Result("mark", True, "x").as_dict() == {"command": "mark", "ok": True, "detail": "x", "cameras": {},
                                                  "data": {}}


# --- on the controller's loop -----------------------------------------------------------------

def test_stop_posted_from_another_thread_ends_the_loop():
    ctl = Controller(config(), [Worker("front")], FlipTrigger(), Notifier(environ={}), status_path="")
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    cmd = Command("stop", source="test")
    threading.Thread(target=ctl.post, args=(cmd,)).start()
    assert cmd.result(5).ok
    thread.join(5)
    assert not thread.is_alive()


def test_a_signal_handler_only_posts_and_the_loop_runs_the_command():
    """As gopro_manager.py wires SIGTERM/SIGHUP: the handler posts, the loop (another thread) acts."""
    ctl = Controller(config(), [Worker("front")], FlipTrigger(), Notifier(environ={}), status_path="")
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    posted = []
    previous = signal.signal(signal.SIGUSR1, lambda *_: posted.append(ctl.request_stop("SIGUSR1")))
    try:
        os.kill(os.getpid(), signal.SIGUSR1)
        assert eventually(lambda: posted)
        assert posted[0].result(5).ok and posted[0].source == "SIGUSR1"
        thread.join(5)
        assert not thread.is_alive()
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_record_on_latches_recording_whatever_the_trigger_says(running):
    front = Worker("front")
    ctl, trigger = running([front])
    result = ctl.post(Command("record", ("on",))).result(5)
    assert result.ok and result.detail == "recording wanted by: remote"   # the latch, set remotely
    assert result.cameras["front"].detail == "recording wanted"
    assert front.wanted and ctl.wanted and ctl.latch
    assert ctl.snapshot()["wanted_by"] == ["remote"]
    trigger.set(True)
    trigger.set(False)                      # the trigger going off does not end a latched recording
    assert eventually(lambda: ctl.cycle > 3)
    assert front.wanted
    assert ctl.post(Command("record", ("auto",))).result(5).ok
    assert not front.wanted and ctl.snapshot()["wanted_by"] == []


def test_record_off_never_overrides_the_trigger_and_says_so(running):
    front = Worker("front")
    ctl, trigger = running([front])
    trigger.set(True)
    assert eventually(lambda: front.wanted)
    ctl.post(Command("record", ("on",))).result(5)
    assert ctl.snapshot()["wanted_by"] == ["trigger", "remote"]
    result = ctl.post(Command("record", ("off",))).result(5)
    assert not result.ok and "still wanted by the trigger" in result.detail
    assert front.wanted and not ctl.latch
    trigger.set(False)
    assert eventually(lambda: not front.wanted)
    assert ctl.post(Command("record", ("off",))).result(5).ok


def test_wanted_by_names_the_pin_and_the_file(tmp_path):
    factory = MockFactory()
    pin = GpioTrigger(17, pin_factory=factory)
    path = tmp_path / "trigger"
    trigger = AnyTrigger([pin, FileTrigger(str(path), settle=0)])
    assert [kind for kind, _ in trigger_sources(trigger)] == ["pin", "file"]
    ctl = Controller(config(), [Worker("front")], trigger, Notifier(environ={}), status_path="")
    try:
        ctl.wanted = True
        factory.pin(17).drive_low()
        assert ctl.wanted_by() == ["pin"]
        path.touch()
        assert ctl.wanted_by() == ["pin", "file"]
        factory.pin(17).drive_high()
        ctl.latch = True
        assert ctl.wanted_by() == ["file", "latch"]
        ctl.wanted = False
        assert ctl.wanted_by() == []        # not wanted: nobody wants it (the triggers are not read)
    finally:
        trigger.close()


def test_mark_asks_each_recording_camera_for_a_hilight(running):
    front, rear, side = HiLightWorker("front"), HiLightWorker("rear", fail=True), HiLightWorker("side")
    ctl, trigger = running([front, rear, side])
    result = ctl.post(Command("mark")).result(5)
    assert not result.ok and front.hilights == 0          # nothing records: no HiLight asked for
    assert result.cameras["front"].detail == "not recording: no HiLight"
    trigger.set(True)
    assert eventually(lambda: front.wanted and side.wanted)
    result = ctl.post(Command("mark")).result(5)
    assert result.ok and front.hilights == 1 and side.hilights == 1
    assert result.cameras["front"].ok and result.cameras["side"].ok
    assert not result.cameras["rear"].ok and "no answer" in result.cameras["rear"].detail


def test_mark_without_hilight_in_this_build_says_so(running):
    ctl, trigger = running([Worker("front")])
    trigger.set(True)
    result = ctl.post(Command("mark")).result(5)
    assert not result.ok
    assert result.cameras["front"].detail == "HiLight not supported by this build"


def test_offload_is_an_honest_error(running):
    ctl, _ = running([Worker("front")])
    result = ctl.post(Command("offload")).result(5)
    assert not result.ok and "not implemented yet" in result.detail
    assert not result.cameras["front"].ok


def test_reload_without_an_assembly_is_refused(running):
    ctl, _ = running([Worker("front")], reload=lambda: config())
    before = ctl.config
    result = ctl.request_reload("test").result(5)
    assert not result.ok and "not available" in result.detail and ctl.config is before


def test_a_failing_command_is_answered_and_the_loop_goes_on(running):
    front = Worker("front")
    ctl, trigger = running([front])

    def broken(cmd):
        raise RuntimeError("bug")
    ctl._cmd_offload = broken
    result = ctl.post(Command("offload")).result(5)
    assert not result.ok and "internal error" in result.detail
    trigger.set(True)
    assert eventually(lambda: front.wanted)


def test_commands_left_at_exit_are_answered():
    ctl = Controller(config(), [Worker("front")], FlipTrigger(), Notifier(environ={}), status_path="")
    late = ctl.post(Command("mark"))           # the loop never ran
    ctl.shutdown(stop_recordings=False, timeout=0.2)
    result = late.result(0)
    assert not result.ok and result.detail == "the daemon is stopping"


def test_mark_queues_a_hilight_on_a_worker_with_a_job_slot(running):
    """The real worker has ``mark()`` (it queues the HiLight and returns a JobHandle at once): the
    command answers without waiting for any camera."""
    from camrig.jobs import JobHandle, JobState

    class MarkWorker(Worker):
        def __init__(self, name, refuse=False):
            super().__init__(name)
            self.marks, self.refuse = 0, refuse

        def mark(self):
            self.marks += 1
            handle = JobHandle(job=lambda ctx: None, name="HiLight")
            if self.refuse:
                handle._finish(JobState.FAILED, error="this camera takes no HiLight")
            return handle

    front, rear = MarkWorker("front"), MarkWorker("rear", refuse=True)
    ctl, trigger = running([front, rear])
    trigger.set(True)
    assert eventually(lambda: front.wanted and rear.wanted)
    result = ctl.post(Command("mark")).result(5)
    assert front.marks == 1 and rear.marks == 1
    assert result.ok and result.cameras["front"].ok
    assert result.cameras["rear"].detail == "this camera takes no HiLight"
