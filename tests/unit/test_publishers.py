"""Publishers (camrig/publishers.py): the controller's outputs, fed the same snapshot; a slow or
hung one never holds up the loop, and it gets the newest snapshot, not a backlog."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from camrig.config import CameraConfig, Config
from camrig.controller import Controller
from camrig.errors import CamRigError
from camrig.publishers import (
    MailboxRunner,
    Publisher,
    Publishers,
    StatusFilePublisher,
    SystemdStatusPublisher,
    change_key,
    summary_line,
)
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger
from tests.fakes import FollowingWorker as WantedWorker
from tests.polling import eventually


class Recorder:
    """A publisher that keeps what it got; ``gate`` (an Event) holds each publish until set."""

    def __init__(self, name="recorder", gate: threading.Event | None = None):
        self.name = name
        self.gate = gate
        self.got: list[dict] = []
        self.entered = threading.Event()
        self.closed = False

    def publish(self, snapshot):
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(30)
        self.got.append(snapshot)

    def close(self):
        self.closed = True


def config(cycle=0.05, status_path=None):
    cam = CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.2")
    return Config(cameras=(cam,), network_mode="address", cycle_seconds=cycle, status_path=status_path)


def start(ctl):
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    return thread


def test_the_builtin_publishers_satisfy_the_protocol():
    assert isinstance(StatusFilePublisher("/tmp/x"), Publisher)
    assert isinstance(SystemdStatusPublisher(Notifier(environ={})), Publisher)
    assert "status-file" in repr(Publishers([StatusFilePublisher("/tmp/x")]))


def test_a_hung_status_file_write_does_not_hold_up_the_trigger(tmp_path, monkeypatch):
    """The status file's write hangs (a dead SD card, a hung NFS mount): every trigger change still
    reaches the worker. Fails before publishers: the loop wrote the file itself and hung with it."""
    release = threading.Event()
    writes = []

    def hung_write(path, snapshot):
        writes.append(snapshot)
        release.wait(30)

    monkeypatch.setattr("camrig.publishers.write_status", hung_write)
    monkeypatch.setattr("camrig.controller.write_status", hung_write, raising=False)   # the old place
    worker, trigger = WantedWorker("front"), FlipTrigger()
    ctl = Controller(config(status_path=str(tmp_path / "status.json")), [worker], trigger,
                     Notifier(environ={}))
    thread = start(ctl)
    try:
        assert eventually(lambda: writes, timeout=5.0)        # the first write is stuck now
        for value in (True, False, True):
            trigger.set(value)
            assert eventually(lambda value=value: worker.wanted is value, timeout=5.0), value
        assert len(writes) == 1                               # still inside the first write
    finally:
        release.set()
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=0.5)
    assert not thread.is_alive()
    assert writes[-1]["wanted"] is True                        # the newest snapshot was written last


def test_a_slow_publisher_gets_the_newest_snapshot_and_skips_the_backlog():
    gate = threading.Event()
    slow = Recorder(gate=gate)
    runner = MailboxRunner(slow)
    try:
        runner.publish({"n": 1})
        assert slow.entered.wait(5)                  # the publisher is inside n=1 now
        for n in (2, 3, 4):
            runner.publish({"n": n})                 # returns at once although the publisher is stuck
        assert runner.busy_for() > 0
        gate.set()
        assert eventually(lambda: len(slow.got) == 2)
        assert [s["n"] for s in slow.got] == [1, 4]
        assert runner.skipped == 2
    finally:
        gate.set()
        assert runner.close(5)
    assert slow.closed


def test_close_delivers_the_pending_snapshot_then_closes():
    gate = threading.Event()
    slow = Recorder(gate=gate)
    runner = MailboxRunner(slow)
    runner.publish({"n": 1})
    assert slow.entered.wait(5)
    runner.publish({"n": 2})
    gate.set()
    assert runner.close(5)
    assert [s["n"] for s in slow.got] == [1, 2] and slow.closed
    runner.publish({"n": 3})                         # after close: ignored, never raises
    assert [s["n"] for s in slow.got] == [1, 2]


def test_a_failing_publisher_is_logged_and_keeps_getting_snapshots(caplog):
    class Broken:
        name = "broken"
        calls = 0

        def publish(self, snapshot):
            Broken.calls += 1
            if snapshot["n"] == 1:
                raise RuntimeError("boom")

        def close(self):
            pass

    good = Recorder("good")
    pubs = Publishers([Broken(), good])
    with caplog.at_level(logging.ERROR, logger="camrig.publishers"):
        pubs.publish({"n": 1})
        assert eventually(lambda: Broken.calls == 1 and len(good.got) == 1)
        pubs.publish({"n": 2})
        assert eventually(lambda: Broken.calls == 2 and len(good.got) == 2)
    pubs.close(5)
    assert any("publisher broken failed" in r.getMessage() for r in caplog.records)


def test_publisher_names_are_unique_and_replace_swaps_one():
    a, b = Recorder("a"), Recorder("b")
    pubs = Publishers([a])
    with pytest.raises(ValueError, match="'a'"):
        pubs.add(Recorder("a"))
    pubs.replace("a", b)
    assert pubs.names == ["b"] and list(pubs) == [b]
    assert eventually(lambda: a.closed)
    pubs.close(5)


def test_stalled_names_the_publisher_stuck_in_a_publish():
    gate = threading.Event()
    pubs = Publishers([Recorder("stuck", gate=gate), Recorder("fine")])
    try:
        pubs.publish({"n": 1})
        time.sleep(0.2)
        assert [name for name, _ in pubs.stalled(0.05)] == ["stuck"]
        assert pubs.stalled(60) == []
    finally:
        gate.set()
        pubs.close(5)


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


SNAP = {"updated": "2026-11-29T10:00:00+00:00", "pid": 1, "wanted": False, "wanted_by": [],
        "cameras": [{"name": "front", "state": "idle", "last_seen": "2026-11-29T10:00:00+00:00"}]}


def test_status_file_written_on_change_and_every_ten_seconds(tmp_path):
    path = tmp_path / "status.json"
    clock = FakeClock()
    pub = StatusFilePublisher(str(path), clock=clock)
    pub.publish(SNAP)
    assert pub.writes == 1 and json.loads(path.read_text())["wanted"] is False
    moved = dict(SNAP, updated="2026-11-29T10:00:01+00:00",
                 cameras=[dict(SNAP["cameras"][0], last_seen="2026-11-29T10:00:01+00:00")])
    clock.t += 1
    pub.publish(moved)                   # only the times moved: not a change
    assert pub.writes == 1
    clock.t += 10
    pub.publish(moved)                   # … but at least every 10 s
    assert pub.writes == 2
    pub.publish(dict(moved, wanted=True, wanted_by=["pin"]))
    assert pub.writes == 3 and json.loads(path.read_text())["wanted_by"] == ["pin"]
    pub.refresh()
    pub.publish(dict(moved, wanted=True, wanted_by=["pin"]))
    assert pub.writes == 4


def test_change_key_ignores_only_the_moving_times():
    assert change_key(SNAP) == change_key(dict(SNAP, updated="later"))
    assert change_key(SNAP) != change_key(dict(SNAP, network_mode="bind"))
    assert change_key(SNAP) != change_key(dict(SNAP, cameras=[dict(SNAP["cameras"][0], state="waking")]))


def test_status_file_error_logged_once_then_recovery(tmp_path, caplog):
    blocker = tmp_path / "state"
    blocker.write_text("a file where the directory should be")
    clock = FakeClock()
    pub = StatusFilePublisher(str(blocker / "status.json"), clock=clock)
    with caplog.at_level(logging.INFO, logger="camrig.publishers"):
        for i in range(3):
            pub.publish(dict(SNAP, wanted=bool(i % 2)))
        assert pub.error and len([r for r in caplog.records if "not written" in r.getMessage()]) == 1
        blocker.unlink()
        pub.publish(dict(SNAP, wanted=True, pid=2))
    assert pub.error is None and (blocker / "status.json").exists()
    assert [r for r in caplog.records if "writable again" in r.getMessage()]


class DroppingNotifier:
    """Notifier.status as a full systemd socket answers it: False (not sent) until ``reading``."""

    def __init__(self):
        self.reading = False
        self.sent = []

    def status(self, text):
        if not self.reading:
            return False
        self.sent.append(text)
        return True


def test_systemd_status_sent_when_changed_and_again_when_dropped():
    notifier = DroppingNotifier()
    pub = SystemdStatusPublisher(notifier)
    assert pub.nonblocking
    pub.publish(SNAP)
    assert notifier.sent == [] and pub.last_sent is None       # dropped: not counted as sent
    notifier.reading = True
    pub.publish(SNAP)
    assert notifier.sent == ["0/1 recording"]
    pub.publish(SNAP)
    assert notifier.sent == ["0/1 recording"]                  # unchanged: not sent again
    pub.publish(dict(SNAP, cameras=[{"name": "front", "state": "waking", "wanted": True}]))
    assert notifier.sent[-1] == "0/1 recording; front: waking"


def test_summary_line_is_still_importable_from_the_controller():
    from camrig.controller import summary_line as from_controller
    assert from_controller is summary_line


def test_every_publisher_gets_the_controllers_snapshot(tmp_path):
    """An extra publisher (an LED, MQTT later) gets the same snapshot as the status file."""
    extra = Recorder("extra")
    worker, trigger = WantedWorker("front"), FlipTrigger()
    path = tmp_path / "status.json"
    ctl = Controller(config(status_path=str(path)), [worker], trigger, Notifier(environ={}), publishers=[extra])
    thread = start(ctl)
    try:
        assert eventually(lambda: extra.got and path.exists())
        trigger.set(True)
        assert eventually(lambda: extra.got[-1]["wanted"] is True)
        assert eventually(lambda: json.loads(path.read_text())["wanted"] is True)
        snap = extra.got[-1]
        assert snap["cameras"][0]["name"] == "front" and snap["wanted_by"] == ["trigger"]
    finally:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=0.5)
    assert extra.closed
    assert ctl.publishers.names == []


def test_shutdown_writes_the_last_status(tmp_path):
    """As before publishers: the status file's last word is the state at exit."""
    worker = WantedWorker("front")
    path = tmp_path / "status.json"
    ctl = Controller(config(status_path=str(path)), [worker], FlipTrigger(), Notifier(environ={}))
    thread = start(ctl)
    assert eventually(lambda: path.exists())
    ctl.request_stop()
    thread.join(5)
    worker.wanted = True      # something the loop never published
    ctl.shutdown(stop_recordings=False, timeout=0.5)
    assert json.loads(path.read_text())["cameras"][0]["state"] == "recording"


def test_write_error_type_is_camrig_error():
    # StatusFilePublisher catches exactly what write_status raises for an unwritable file.
    from camrig.status import write_status
    with pytest.raises(CamRigError):
        write_status("/proc/version/status.json", {})


def test_the_loop_names_a_stuck_publisher_and_goes_on(monkeypatch, caplog):
    monkeypatch.setattr("camrig.controller.PUBLISHER_STALL_S", 0.1)
    gate = threading.Event()
    worker, trigger = WantedWorker("front"), FlipTrigger()
    ctl = Controller(config(), [worker], trigger, Notifier(environ={}), status_path="",
                     publishers=[Recorder("mqtt", gate=gate)])
    with caplog.at_level(logging.WARNING, logger="camrig.controller"):
        thread = start(ctl)
        try:
            assert eventually(lambda: any("publisher mqtt has been stuck" in r.getMessage()
                                          for r in caplog.records))
            trigger.set(True)
            assert eventually(lambda: worker.wanted)
        finally:
            gate.set()
            ctl.request_stop()
            thread.join(5)
            ctl.shutdown(stop_recordings=False, timeout=0.5)
