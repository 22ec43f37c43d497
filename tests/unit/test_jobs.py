"""The worker's job slot (CameraWorker.submit, camrig/jobs.py) and HiLights (CameraWorker.mark),
against an in-process emulated HERO5–8 (loopback) and, for downloads, the local media server of
test_download.py. Every test here fails on the code before issue 9 (no submit, mark or jobs)."""

from __future__ import annotations

import threading
import time

import pytest

from camrig.cameras.gopro_legacy.driver import GpControl
from camrig.cameras.gopro_legacy.waker import LegacyWaker
from camrig.config import CameraConfig
from camrig.emulator.legacy_gopro import LegacyGoPro
from camrig.http import HttpClient
from camrig.jobs import JobContext, JobPreempted, JobState
from camrig.link import AddressLink
from camrig.worker import CameraWorker, State
from tests.rig import wait_until
from tests.unit.test_download import BODY, MediaServer


def wait_for(predicate, timeout=10.0):
    assert wait_until(predicate, timeout, interval=0.02), "condition not reached"


@pytest.fixture
def media():
    s = MediaServer()
    yield s
    s.close()


@pytest.fixture
def rig(media):
    cam = LegacyGoPro("front", delay_ms=0, boot_delay=0.1, wifi_mac="06:41:69:6a:c1:05").start()
    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac="06:41:69:6a:c1:05", bt_mac=None,
                       address="127.0.0.1", http_port=cam.port, wol_port=cam.wol_port)
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=1.0, connect_timeout=0.3)
    # The emulated camera serves no media yet: the jobs' own connection goes to the media server.
    job_http = HttpClient(AddressLink("front", "127.0.0.1"), port=media.port, timeout=1.0, connect_timeout=0.3)
    driver = GpControl(http, "front")
    waker = LegacyWaker(cfg, http.link, driver.probe, timeout=5.0, wol_interval=0.2)
    worker = CameraWorker(cfg, driver, waker, keep_awake=None, confirm_delay=0.05, power_cycle_pause=0.1,
                          job_http=job_http)
    worker.start()
    wait_for(lambda: worker.state == State.IDLE and not worker.shutter_sent)
    yield cam, worker
    worker.stop()
    http.close()
    cam.close()


def _events(cam, what):
    return [e for e in cam.state()["events"] if e["what"] == what]


class Download:
    """An offload-like job: one file into ``dest``, resuming from what is already there."""

    name = "offload GX010001.MP4"

    def __init__(self, dest, resumable=True):
        self.dest = dest
        self.resumable = resumable
        self.results = []

    def __call__(self, ctx: JobContext):
        offset = self.dest.stat().st_size if self.dest.exists() else 0
        res = ctx.download(MediaServer.PATH, self.dest, offset=offset, max_bytes=10_000_000,
                           expected_size=len(BODY))
        self.results.append(res)
        return res


def test_a_job_runs_on_an_idle_camera_and_returns_its_result(rig):
    cam, worker = rig

    def read_status(ctx):
        return ctx.driver.status().encoding_active

    handle = worker.submit(read_status)
    assert handle.wait(5) and handle.state == JobState.DONE and handle.result is False
    assert handle.name == "read_status" and handle.runs == 1
    assert worker.snapshot()["job"] is None


def test_recording_wanted_preempts_a_download_which_resumes_afterwards(rig, media, tmp_path):
    cam, worker = rig
    media.drip = 0.02                          # ≈ 1.5 s for the file: long enough to interrupt
    job = Download(tmp_path / "GX010001.MP4")
    handle = worker.submit(job)
    wait_for(lambda: handle.state == JobState.RUNNING and (tmp_path / "GX010001.MP4").exists()
             and (tmp_path / "GX010001.MP4").stat().st_size > 20_000)
    assert worker.snapshot()["job"] == {"name": "offload GX010001.MP4", "state": "running", "queued": 0}
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    wait_for(lambda: handle.state == JobState.QUEUED and handle.preemptions == 1)
    partial = (tmp_path / "GX010001.MP4").stat().st_size
    assert 0 < partial < len(BODY)
    time.sleep(0.3)
    assert handle.state == JobState.QUEUED, "no job while recording is wanted"
    worker.set_wanted(False)
    assert handle.wait(10), handle
    assert handle.state == JobState.DONE and handle.runs == 2
    assert (tmp_path / "GX010001.MP4").read_bytes() == BODY
    assert handle.result.resumed and handle.result.status == 206
    assert media.requests == [None, f"bytes={partial}-"]


def test_the_shutter_does_not_wait_for_a_job_that_ignores_preemption(rig):
    """The job runs on its own thread: a job that never looks at ``cancelled`` (blocked here)
    cannot hold back the shutter."""
    cam, worker = rig
    release = threading.Event()
    started = threading.Event()

    def stubborn(ctx):
        started.set()
        release.wait(10)
        return "finished anyway"

    handle = worker.submit(stubborn)
    assert started.wait(5)
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])
    assert handle.state == JobState.RUNNING             # still blocked while the camera records
    release.set()
    assert handle.wait(5) and handle.state == JobState.DONE and handle.result == "finished anyway"


def test_a_job_that_is_not_resumable_is_reported_preempted(rig, media, tmp_path):
    cam, worker = rig
    media.drip = 0.02
    handle = worker.submit(Download(tmp_path / "f", resumable=False))
    wait_for(lambda: handle.state == JobState.RUNNING and (tmp_path / "f").exists()
             and (tmp_path / "f").stat().st_size > 0)
    worker.set_wanted(True)
    assert handle.wait(5)
    assert handle.state == JobState.PREEMPTED and handle.error == "recording wanted"
    wait_for(lambda: cam.state()["recording"])


def test_jobs_wait_while_recording_and_run_in_order_once_idle(rig):
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and not worker.shutter_sent)
    order = []
    first = worker.submit(lambda ctx: order.append("first"))
    second = worker.submit(lambda ctx: order.append("second"))
    time.sleep(0.3)
    assert (first.state, second.state) == (JobState.QUEUED, JobState.QUEUED) and order == []
    assert worker.snapshot()["job"]["queued"] == 2
    worker.set_wanted(False)
    assert first.wait(5) and second.wait(5)
    assert order == ["first", "second"]
    assert not cam.state()["recording"]


def test_a_failing_job_is_reported_and_the_worker_goes_on(rig):
    cam, worker = rig

    def broken(ctx):
        raise OSError("disk full")

    handle = worker.submit(broken)
    assert handle.wait(5) and handle.state == JobState.FAILED and "disk full" in handle.error
    worker.set_wanted(True)
    wait_for(lambda: cam.state()["recording"])


def test_a_job_checking_its_context_stops_when_preempted(rig):
    cam, worker = rig
    steps = []

    def careful(ctx):
        while True:
            ctx.check()
            steps.append(1)
            time.sleep(0.01)

    handle = worker.submit(careful)
    wait_for(lambda: len(steps) > 3)
    worker.set_wanted(True)
    assert handle.wait(5) and handle.state == JobState.PREEMPTED


def test_cancel_and_stop(rig):
    cam, worker = rig
    worker.set_wanted(True)
    queued = worker.submit(lambda ctx: None)
    queued.cancel()
    assert queued.state == JobState.CANCELLED and queued.finished
    worker.set_wanted(False)
    running = worker.submit(lambda ctx: ctx.cancelled.wait(10) and ctx.check())
    wait_for(lambda: running.state == JobState.RUNNING)
    later = worker.submit(lambda ctx: None)
    worker.stop()
    assert running.state == JobState.CANCELLED and later.state == JobState.CANCELLED
    assert worker.submit(lambda ctx: None).state == JobState.CANCELLED


def test_submit_refuses_what_is_not_callable(rig):
    cam, worker = rig
    with pytest.raises(TypeError, match="front: a job must be callable"):
        worker.submit("offload")


def test_a_retired_worker_job_sends_nothing_more(rig):
    """stop() (what a reload's retire calls) cancels the context: every call through it raises."""
    cam, worker = rig
    seen = []

    def job(ctx):
        ctx.cancelled.wait(10)
        try:
            ctx.driver.status()
        except JobPreempted:
            seen.append("preempted")
            raise

    handle = worker.submit(job)
    wait_for(lambda: handle.state == JobState.RUNNING)
    before = len(cam.state()["events"])
    worker.stop()
    assert seen == ["preempted"] and handle.state == JobState.CANCELLED
    assert len(cam.state()["events"]) == before


# --- HiLight ----------------------------------------------------------------------------------------


def test_mark_tags_a_hilight_in_the_recording(rig):
    cam, worker = rig
    worker.set_wanted(True)
    wait_for(lambda: worker.state == State.RECORDING and not worker.shutter_sent)
    handle = worker.mark()
    assert handle.wait(5) and handle.state == JobState.DONE, handle.error
    assert len(_events(cam, "hilight")) == 1


def test_mark_right_after_the_trigger_waits_for_the_recording(rig):
    """A HiLight sent before the camera encodes would tag nothing: it is held until confirmed."""
    cam, worker = rig
    worker.set_wanted(True)
    handle = worker.mark()
    assert handle.wait(5) and handle.state == JobState.DONE, handle.error
    assert len(_events(cam, "hilight")) == 1


def test_mark_when_not_recording_fails_and_sends_nothing(rig):
    cam, worker = rig
    handle = worker.mark()
    assert handle.wait(5) and handle.state == JobState.FAILED and "not recording" in handle.error
    assert _events(cam, "hilight") == []


def test_mark_on_a_driver_without_hilight_fails():
    class NoHiLight:
        protocol = "open_gopro"
        keep_alive_interval = None

    cfg = CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None)
    worker = CameraWorker(cfg, NoHiLight(), waker=None, keep_awake=None, set_clock=False)
    worker.state = State.RECORDING
    worker._wanted = True
    handle = worker.mark()
    worker._send_marks()
    assert handle.state == JobState.FAILED and handle.error == "open_gopro has no HiLight"


def test_a_job_that_wakes_wakes_an_asleep_camera_and_one_that_does_not_waits():
    """An offload a person asked for wakes an asleep camera, as a recording would (``wakes``);
    a job without it waits for the camera to wake by other means. Fails before the job's
    ``wakes``: the asleep worker only ever woke for recording, and the offload waited forever."""
    from camrig.cameras.mock import MockDriver, MockWaker
    from tests.unit.test_commands import config

    driver = MockDriver("front", asleep=True)
    waker = MockWaker(driver)
    worker = CameraWorker(config(["front"]).cameras[0], driver, waker, keep_awake=None, confirm_delay=0.01)
    worker.start()
    try:
        wait_for(lambda: worker.state == State.ASLEEP)

        class Quiet:
            name = "quiet"

            def __call__(self, ctx):
                return "ran"

        quiet = worker.submit(Quiet())
        time.sleep(0.5)
        assert waker.wakes == 0 and quiet.state == JobState.QUEUED      # it waits

        class Offload(Quiet):
            name = "offload"
            wakes = True

        loud = worker.submit(Offload())
        wait_for(lambda: loud.finished and quiet.finished, 10.0)
        assert waker.wakes == 1 and not driver.asleep
        assert loud.state == JobState.DONE and quiet.state == JobState.DONE
        assert worker.state == State.IDLE and driver.calls_to("shutter") == []    # nothing recorded
    finally:
        worker.stop()
