"""Mark the moment (issue 13 parts 1 and 8): a real Controller loop and real CameraWorkers on
MockDrivers, ``mark`` served by camrig.inputs (MarkService): a HiLight on every recording camera,
answered per camera off the loop, storms coalesced, the marks file, and marks while cameras are
waking, in fault, or hang."""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path

import pytest

from camrig.cameras.mock import MockDriver, MockWaker
from camrig.commands import Command
from camrig.errors import CameraRejected
from camrig.inputs.marks import MarkService, append_mark, read_marks
from tests.fakes import MockCar
from tests.polling import eventually, wait_for
from tests.unit.test_commands import config


class NoHiLightDriver(MockDriver):
    """A camera family without HiLight (Olympus): the driver has no ``hilight``."""

    protocol = "olympus"

    def __getattribute__(self, name):
        if name == "hilight":
            raise AttributeError(name)
        return super().__getattribute__(name)


class HangingHiLightDriver(MockDriver):
    """A camera whose HiLight request never comes back (until ``release``)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.release = threading.Event()
        self.entered = threading.Event()

    def hilight(self):
        self.entered.set()
        self.release.wait(10)
        super().hilight()


@pytest.fixture
def rig(tmp_path):
    """``make(drivers, wakers=None, **config)`` → (controller, trigger, workers, inputs), running."""
    made = []

    def make(drivers, wakers=None, **overrides):
        cfg = dataclasses.replace(config([d.name for d in drivers]),
                                  marks_path=str(tmp_path / "state" / "marks.jsonl"), **overrides)
        car = MockCar(cfg, drivers, wakers=wakers, worker_kwargs={"power_cycle_pause": 0.05})
        made.append(car)
        return car.ctl, car.trigger, car.workers, car.inputs

    yield make
    for car in made:
        car.close()


def recording(workers):
    return all(w.snapshot()["state"] == "recording" and w.snapshot()["recording"] for w in workers)


def test_mark_puts_a_hilight_on_every_recording_camera_and_in_the_marks_file(rig, tmp_path):
    drivers = [MockDriver("front"), MockDriver("rear"), NoHiLightDriver("olympus")]
    ctl, trigger, workers, inputs = rig(drivers)
    trigger.set(True)
    wait_for(lambda: recording(workers), what="every camera recording")
    result = ctl.post(Command("mark", source="socket")).result(10)
    assert [d.hilights for d in drivers[:2]] == [1, 1]
    assert result.cameras["front"].ok and result.cameras["rear"].ok
    assert not result.cameras["olympus"].ok and "has no HiLight" in result.cameras["olympus"].detail
    assert not result.ok and "not acknowledged by olympus" in result.detail   # it records, and took none
    assert result.data["failed"] == ["olympus"] and result.data["asked"] == ["front", "olympus", "rear"]
    lines = read_marks(str(tmp_path / "state" / "marks.jsonl"))
    assert len(lines) == 1
    mark = lines[0]
    assert mark["took"] == ["front", "rear"] and set(mark["missed"]) == {"olympus"}
    assert mark["source"] == "socket" and mark["time"].endswith("+00:00")     # UTC
    assert result.data["mark"] == mark
    assert eventually(lambda: ctl.snapshot()["marks"]["count"] == 1)


def test_a_camera_that_is_not_recording_is_listed_but_no_failure(rig):
    drivers = [MockDriver("front"), MockDriver("rear")]
    ctl, trigger, workers, _ = rig(drivers)
    result = ctl.post(Command("mark")).result(10)          # nothing wanted: nobody records
    assert not result.ok and result.detail == "no camera is recording: no HiLight"
    assert all(r.detail.startswith("not recording") for r in result.cameras.values())
    assert [d.hilights for d in drivers] == [0, 0]
    assert result.data["failed"] == [] and result.data["asked"] == []


def test_a_refused_hilight_names_the_camera(rig):
    refused = CameraRejected("HiLight refused (HTTP 500: the camera says it is not recording)", camera="rear")
    drivers = [MockDriver("front"), MockDriver("rear", fail={"hilight": refused})]
    ctl, trigger, workers, _ = rig(drivers)
    trigger.set(True)
    wait_for(lambda: recording(workers), what="recording")
    result = ctl.post(Command("mark")).result(10)
    assert result.cameras["front"].ok
    assert not result.cameras["rear"].ok and "HTTP 500" in result.cameras["rear"].detail
    assert not result.ok and result.data["failed"] == ["rear"]
    assert workers[1].snapshot()["state"] == "recording"      # a refused HiLight disturbs nothing


def test_a_storm_of_twenty_presses_is_one_hilight_per_camera(rig, tmp_path):
    """Part 8: 20 presses in a second → one HiLight per camera, every press answered, one line."""
    drivers = [MockDriver("front"), MockDriver("rear")]
    ctl, trigger, workers, _ = rig(drivers, mark_coalesce=5.0)
    trigger.set(True)
    wait_for(lambda: recording(workers), what="recording")
    presses = [ctl.post(Command("mark", source="button")) for _ in range(20)]
    results = [p.result(10) for p in presses]
    assert all(r.ok for r in results)
    assert [d.hilights for d in drivers] == [1, 1]
    assert len(read_marks(str(tmp_path / "state" / "marks.jsonl"))) == 1
    assert read_marks(str(tmp_path / "state" / "marks.jsonl"))[0]["presses"] >= 1
    snap = ctl.snapshot()["marks"]
    assert snap["count"] == 1 and snap["presses"] == 20
    # Later presses (already answered mark) are answered at once with that mark's result.
    late = ctl.post(Command("mark", source="button")).result(5)
    assert late.ok and "coalesced" in late.detail and [d.hilights for d in drivers] == [1, 1]


def test_marks_after_the_window_are_new_marks(rig, tmp_path):
    drivers = [MockDriver("front")]
    ctl, trigger, workers, _ = rig(drivers, mark_coalesce=0.0)
    trigger.set(True)
    wait_for(lambda: recording(workers), what="recording")
    for _ in range(3):
        assert ctl.post(Command("mark")).result(10).ok
    assert drivers[0].hilights == 3
    assert len(read_marks(str(tmp_path / "state" / "marks.jsonl"))) == 3


def test_a_mark_while_a_camera_is_waking_waits_for_it_off_the_loop(rig):
    """Part 8: a camera that cannot be woken holds the HiLight (MARK_HOLD_S) and then misses it;
    meanwhile the loop answers other commands and the recording camera got its HiLight at once."""
    good, asleep = MockDriver("front"), MockDriver("rear", asleep=True)
    ctl, trigger, workers, _ = rig([good, asleep], wakers=[MockWaker(good), MockWaker(asleep, fail="no answer")])
    workers[1].MARK_HOLD_S = 1.0
    trigger.set(True)
    wait_for(lambda: recording(workers[:1]), what="front recording")
    pending = ctl.post(Command("mark"))
    assert eventually(lambda: good.hilights == 1)
    assert not pending.reply.done()                           # waits for rear, off the loop
    other = ctl.post(Command("record", ("on",))).result(2)    # the loop is free
    assert other.ok
    result = pending.result(10)
    assert result.cameras["front"].ok
    assert not result.cameras["rear"].ok and "not recording within" in result.cameras["rear"].detail
    assert result.data["failed"] == ["rear"]


def test_a_hung_hilight_is_not_queued_twice_and_never_blocks_the_loop(rig):
    """Part 8: a camera whose HiLight hangs: the mark answers "no answer" within wait_s; a second
    mark does not queue a second HiLight behind the first; the trigger still reaches every camera."""
    hung, good = HangingHiLightDriver("front"), MockDriver("rear")
    ctl, trigger, workers, inputs = rig([hung, good], mark_coalesce=0.0)
    inputs.marks.wait_s = 0.5
    trigger.set(True)
    wait_for(lambda: recording(workers), what="recording")
    first = ctl.post(Command("mark")).result(5)
    assert hung.entered.is_set()
    assert not first.cameras["front"].ok and "no answer within" in first.cameras["front"].detail
    second = ctl.post(Command("mark")).result(5)
    assert "still pending" in second.cameras["front"].detail
    assert second.cameras["rear"].ok and good.hilights == 2
    trigger.set(False)                                         # the loop and rear are undisturbed
    assert eventually(lambda: not good.recording)
    hung.release.set()
    assert eventually(lambda: not hung.recording)
    assert hung.hilights == 1                                  # the one HiLight, never a queue


def test_a_mark_while_a_camera_is_in_fault_names_it(rig):
    """Part 8: a camera in fault (its card full) is not recording: named, HiLights elsewhere go on."""
    full = MockDriver("rear", sd_status=1, fail={"shutter": CameraRejected("card full", camera="rear")})
    good = MockDriver("front")
    ctl, trigger, workers, _ = rig([good, full])
    trigger.set(True)
    wait_for(lambda: workers[1].snapshot()["state"] == "fault", what="rear in fault")
    wait_for(lambda: recording(workers[:1]), what="front recording")
    workers[1].MARK_HOLD_S = 0.5
    result = ctl.post(Command("mark")).result(10)
    assert result.cameras["front"].ok
    assert not result.cameras["rear"].ok and "not recording within" in result.cameras["rear"].detail
    assert result.data["failed"] == ["rear"] and full.hilights == 0


def test_an_unwritable_marks_file_is_said_and_the_mark_still_answered(rig, tmp_path, caplog):
    drivers = [MockDriver("front")]
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "marks.jsonl").mkdir()             # a directory where the file should be
    ctl, trigger, workers, _ = rig(drivers)
    trigger.set(True)
    wait_for(lambda: recording(workers), what="recording")
    result = ctl.post(Command("mark")).result(10)
    assert result.ok and drivers[0].hilights == 1
    err = ctl.snapshot()["marks"]["file_error"]
    assert err and "marks.jsonl" in err and "cannot append" in err
    assert any("cannot append" in r.getMessage() for r in caplog.records)


def test_append_mark_writes_one_json_line_each(tmp_path):
    path = str(tmp_path / "deep" / "marks.jsonl")
    append_mark(path, {"time": "t1", "took": ["a"]})
    append_mark(path, {"time": "t2", "took": []})
    with open(path) as f:
        assert [json.loads(line)["time"] for line in f] == ["t1", "t2"]
    with open(path, "a") as f:
        f.write("garbage\n")
    assert [m["time"] for m in read_marks(path)] == ["t1", "t2"]
    assert read_marks(str(tmp_path / "none.jsonl")) == []


def test_mark_service_without_workers_says_so():
    svc = MarkService(lambda: [], marks_path=None)
    cmd = Command("mark")
    assert svc.handle(cmd) is None
    result = cmd.result(5)
    assert not result.ok and result.detail == "no camera configured"


# --- the telemetry output carries the marks (issue 13 part 1) ----------------------------------

def test_the_telemetry_output_carries_the_marks_inside_a_recording(tmp_path):
    """Fails before issue 13: the telemetry JSON/GPX knew only the camera's own HiLights (HMMT),
    not the daemon's marks (a camera that missed a mark lost it in the outputs too)."""
    import datetime as dt

    import gpxpy

    from camrig import cli as gm_cli
    from camrig.telemetry import convert_recording

    gpmf = Path(__file__).resolve().parents[1] / "data" / "gpmf" / "gopro2gpx_hero11.gpmf.bin"
    plain = convert_recording([gpmf], tmp_path / "a", ("json",))
    start = plain.start_utc
    assert start is not None and plain.duration_s > 10
    inside = (start + dt.timedelta(seconds=5)).isoformat(timespec="milliseconds")
    outside = (start - dt.timedelta(seconds=60)).isoformat(timespec="milliseconds")
    marks_file = tmp_path / "marks.jsonl"
    append_mark(str(marks_file), {"time": outside, "source": "button", "took": ["front"], "missed": {}})
    append_mark(str(marks_file), {"time": inside, "source": "button", "took": ["front"],
                                  "missed": {"rear": "not recording within 10 s"}})
    res = convert_recording([gpmf], tmp_path / "b", ("json", "gpx"), marks=read_marks(str(marks_file)))
    doc = json.loads(res.outputs["json"].read_text())
    (mark,) = doc["marks"]
    assert abs(mark["t"] - 5.0) < 0.01 and mark["clock"] == "gps" and mark["missed"] == {
        "rear": "not recording within 10 s"}
    gpx = gpxpy.parse(res.outputs["gpx"].read_text())
    assert [w.name for w in gpx.waypoints] == [f"mark {mark['utc']}"] and "front" in gpx.waypoints[0].comment
    assert json.loads(plain.outputs["json"].read_text())["marks"] == []
    # from the shell: --marks FILE
    assert gm_cli.main(["telemetry", str(gpmf), "-o", str(tmp_path / "c"), "--format", "json",
                        "--marks", str(marks_file)]) == 0
    assert len(json.loads((tmp_path / "c" / "gopro2gpx_hero11.gpmf.json").read_text())["marks"]) == 1
    assert gm_cli.main(["telemetry", str(gpmf), "--marks", str(tmp_path / "none.jsonl")]) == 2
