"""The offload job against a real HTTP media server (tests/unit/offload_camera.py): files land
byte for byte under OFFLOAD_DIR/<camera>/<day>/, resume with Range, restart when Range is ignored,
verify size and moov, keep the camera's times, never fetch twice, stop for OFFLOAD_MIN_FREE, and
survive hostile answers (issue 10 parts 2, 3, 9). Before issue 10 there was no offload: every
test here fails on the code before it."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import sqlite3
import threading
from types import SimpleNamespace

import pytest

from camrig.cameras.gopro_legacy.media import LegacyMedia
from camrig.cameras.open_gopro.media import OpenGoProMedia
from camrig.errors import CameraUnreachable
from camrig.http import HttpClient
from camrig.jobs import JobContext, JobPreempted
from camrig.link import AddressLink
from camrig.offload.transfer import DiskLow, OffloadJob, Options, Progress
from camrig.offload.verify import VerifyError, verify_file
from tests.unit.offload_camera import MediaCamera, mp4

DAY = "2023-11-14"          # 1_700_000_000 read as UTC


def files_a():
    return {
        "100GOPRO/GH010001.MP4": mp4(300_000, 1), "100GOPRO/GH020001.MP4": mp4(200_000, 2),
        "100GOPRO/GL010001.LRV": mp4(30_000, 3), "100GOPRO/GL020001.LRV": mp4(20_000, 4),
        "100GOPRO/GH010001.THM": b"\xff\xd8thumb", "100GOPRO/GH020001.THM": b"\xff\xd8thumb2",
        "100GOPRO/GOPR0004.JPG": b"\xff\xd8photo" * 100,
    }


@pytest.fixture
def camera():
    cam = MediaCamera(files_a())
    yield cam
    cam.close()


class Driver:
    def __init__(self, cam, family="legacy"):
        self.cam, self.family = cam, family

    def media(self, http):
        if self.family == "legacy":
            return LegacyMedia(http, "front", media_port=self.cam.port)
        return OpenGoProMedia(http, "front")


def context(cam, family="legacy", cancelled=None):
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=cam.port, timeout=2.0, connect_timeout=0.5)
    return JobContext("front", http=http, driver=Driver(cam, family), log=logging.getLogger("t"),
                      cancelled=cancelled)


def fake_statvfs(free):
    return lambda path: SimpleNamespace(f_bavail=free[0] // 4096, f_frsize=4096)


def job(tmp_path, **kw):
    kw.setdefault("min_free", 0)
    kw.setdefault("retry_pause", 0.05)
    return OffloadJob("front", tmp_path / "media", **kw)


def test_every_file_arrives_byte_for_byte_with_the_camera_times(camera, tmp_path):
    j = job(tmp_path)
    summary = j(context(camera))
    day = tmp_path / "media" / "front" / DAY
    for key, data in files_a().items():
        got = (day / key.split("/")[1]).read_bytes()
        assert got == data, key
        assert os.stat(day / key.split("/")[1]).st_mtime == 1_700_000_060      # the camera's mod
    assert not list(day.glob("*.part"))
    assert summary["files"] == 7 and summary["failed"] == 0
    db = sqlite3.connect(tmp_path / "media" / "front" / ".offload.sqlite3")
    rows = dict(db.execute("SELECT name, sha256 FROM files WHERE state='done'").fetchall())
    assert rows["GH010001.MP4"] == hashlib.sha256(files_a()["100GOPRO/GH010001.MP4"]).hexdigest()
    assert j.progress.as_dict()["files_left"] == 0 and j.progress.as_dict()["state"] == "done"


def test_proxies_come_first_and_nothing_is_fetched_twice(camera, tmp_path):
    job(tmp_path)(context(camera))
    gets = [p for p, _ in camera.requests if p.startswith("/videos/")]
    first_mp4 = next(i for i, p in enumerate(gets) if p.endswith(".MP4"))
    assert all(not p.endswith(".MP4") for p in gets[:first_mp4])
    assert {p.rsplit("/", 1)[1] for p in gets[:first_mp4]} >= {"GL010001.LRV", "GL020001.LRV"}
    camera.requests.clear()
    summary = job(tmp_path)(context(camera))           # a second run: only the list
    assert [p for p, _ in camera.requests if p.startswith("/videos/")] == []
    assert summary["files"] == 0 and summary["skipped"] == 7


def test_proxies_only_fetches_no_full_file(camera, tmp_path):
    job(tmp_path, options=Options(proxies_only=True))(context(camera))
    day = tmp_path / "media" / "front" / DAY
    assert sorted(p.name for p in day.iterdir()) == ["GH010001.THM", "GH020001.THM", "GL010001.LRV", "GL020001.LRV"]


def test_a_dropped_connection_resumes_with_range_from_the_part(camera, tmp_path):
    camera.drop = {"GH010001.MP4": 100_000}
    job(tmp_path, options=Options(telemetry=False))(context(camera))
    ranges = [r for p, r in camera.requests if p.endswith("GH010001.MP4")]
    assert ranges[0] is None and ranges[1] == "bytes=100000-"
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == files_a()["100GOPRO/GH010001.MP4"]


def test_a_camera_that_ignores_range_gets_the_file_restarted_logged_once(camera, tmp_path, caplog):
    camera.ignore_range = True
    camera.drop = {"GH010001.MP4": 100_000, "GH020001.MP4": 50_000}
    with caplog.at_level(logging.WARNING):
        j = job(tmp_path)
        j(context(camera))
    assert caplog.text.count("ignores Range") == 1
    assert j.progress.range_ok is False
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == files_a()["100GOPRO/GH010001.MP4"]
    assert (tmp_path / "media/front" / DAY / "GH020001.MP4").read_bytes() == files_a()["100GOPRO/GH020001.MP4"]


def test_preemption_keeps_the_part_and_the_next_run_resumes_it(camera, tmp_path):
    cancelled = threading.Event()
    camera.rate = 400_000                              # 0.75 s for the first MP4
    j = job(tmp_path)

    def cut():
        while not any(p.endswith("GH010001.MP4") for p, _ in camera.requests):
            threading.Event().wait(0.01)
        threading.Event().wait(0.3)
        cancelled.set()
    threading.Thread(target=cut, daemon=True).start()
    with pytest.raises(JobPreempted):
        j(context(camera, cancelled=cancelled))
    part = tmp_path / "media/front" / DAY / "GH010001.MP4.part"
    assert 0 < part.stat().st_size < 300_000
    assert not (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()     # never a final name half-written
    have = part.stat().st_size
    camera.rate = None
    j(context(camera))
    ranges = [r for p, r in camera.requests if p.endswith("GH010001.MP4")]
    assert ranges[-1] == f"bytes={have}-"
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == files_a()["100GOPRO/GH010001.MP4"]


def test_a_crash_after_the_rename_is_not_fetched_again(camera, tmp_path):
    j = job(tmp_path)
    j(context(camera))
    db = sqlite3.connect(tmp_path / "media" / "front" / ".offload.sqlite3")
    with db:
        db.execute("UPDATE files SET state='partial' WHERE name='GH010001.MP4'")   # as if killed in between
    camera.requests.clear()
    job(tmp_path)(context(camera))
    assert not [p for p, _ in camera.requests if p.endswith("GH010001.MP4")]
    assert db.execute("SELECT state FROM files WHERE name='GH010001.MP4'").fetchone()[0] == "done"


def test_more_bytes_than_announced_are_refused_and_nothing_gets_the_name(camera, tmp_path):
    camera.extra = 10
    j = job(tmp_path, options=Options(telemetry=False))
    summary = j(context(camera))
    day = tmp_path / "media/front" / DAY
    assert not (day / "GH010001.MP4").exists() and not (day / "GH010001.MP4.part").exists()
    assert summary["failed"] >= 5
    assert "expected" in j.progress.last_error or "cap" in j.progress.last_error


def test_a_file_without_moov_is_not_kept(tmp_path):
    broken = mp4(100_000)[:-40] + b"\0" * 40              # moov overwritten: a recording not closed
    cam = MediaCamera({"100GOPRO/GH010002.MP4": broken})
    try:
        j = job(tmp_path)
        j(context(cam))
        assert not (tmp_path / "media/front" / DAY / "GH010002.MP4").exists()
        assert "moov" in j.progress.last_error or "box" in j.progress.last_error
    finally:
        cam.close()


def test_verify_file_walks_top_level_boxes(tmp_path):
    good = tmp_path / "a.MP4"
    good.write_bytes(mp4(1000))
    verify_file(good, expected_size=1000, extension="MP4")
    with pytest.raises(VerifyError, match="list says"):
        verify_file(good, expected_size=999, extension="MP4")
    cut = tmp_path / "b.MP4"
    cut.write_bytes(mp4(1000)[:900])
    with pytest.raises(VerifyError, match="runs past the end of the file"):
        verify_file(cut, expected_size=None, extension="MP4")


def test_min_free_stops_before_a_file_that_would_not_fit_and_says_so(camera, tmp_path):
    free = [400_000]
    j = job(tmp_path, min_free=100_000, statvfs=fake_statvfs(free))
    with pytest.raises(DiskLow, match="OFFLOAD_MIN_FREE"):
        j(context(camera))
    assert not (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()


def test_disk_full_mid_file_keeps_the_part_and_no_final_name(camera, tmp_path, monkeypatch):
    import camrig.offload.transfer as transfer
    monkeypatch.setattr(transfer, "SPACE_CHECK_BYTES", 16_384)
    free = [10**12]
    j = job(tmp_path, min_free=1000, statvfs=fake_statvfs(free), options=Options(what="in-order", telemetry=False))
    real_write = transfer.HashingWriter.write

    def write(self, data):
        if self.hashed > 150_000:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)
    monkeypatch.setattr(transfer.HashingWriter, "write", write)
    with pytest.raises(OSError, match="No space"):
        j(context(camera))
    day = tmp_path / "media/front" / DAY
    assert not (day / "GH010001.MP4").exists()


def test_the_camera_vanishing_mid_file_fails_the_job_after_retries_keeping_the_part(camera, tmp_path):
    camera.drop = {"GH010001.MP4": 100_000}
    j = job(tmp_path, options=Options(telemetry=False))
    real = j._download

    def download(*args, **kw):
        try:
            return real(*args, **kw)
        finally:
            if str(args[2]).endswith("GH010001.MP4.part"):
                camera.dead.add("GH010001.MP4")         # gone after the first cut
    j._download = download
    with pytest.raises(CameraUnreachable):
        j(context(camera))
    part = tmp_path / "media/front" / DAY / "GH010001.MP4.part"
    assert part.stat().st_size == 100_000
    assert not (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()


def test_a_stalled_transfer_is_cut_by_the_low_speed_limit_and_resumed(camera, tmp_path):
    camera.stall_after, camera.stall_s = 250_000, 2.5
    j = job(tmp_path, low_speed_time=1, options=Options(telemetry=False))
    j(context(camera))
    camera.stall_after = None
    assert (tmp_path / "media/front" / DAY / "GH010001.MP4").read_bytes() == files_a()["100GOPRO/GH010001.MP4"]


def test_hostile_names_never_write_outside_the_camera_folder(tmp_path):
    cam = MediaCamera({"100GOPRO/GH010001.MP4": mp4(1000)})
    cam.raw_list = (b'{"id":"1","media":[{"d":"100GOPRO","fs":[{"n":"../../../evil.MP4","s":"1000"},'
                    b'{"n":"/etc/evil.MP4","s":"1000"},{"n":"GH010001.MP4","s":"1000","cre":"1700000000"}]},'
                    b'{"d":"..","fs":[{"n":"GH010001.MP4","s":"1000"}]}]}')
    try:
        job(tmp_path)(context(cam))
        everything = [p for p in tmp_path.rglob("*") if p.is_file()]
        assert all((tmp_path / "media" / "front") in p.parents for p in everything)
        assert (tmp_path / "media/front" / DAY / "GH010001.MP4").exists()
    finally:
        cam.close()


def test_same_name_in_two_folders_does_not_overwrite(tmp_path):
    cam = MediaCamera({"100GOPRO/GH010001.MP4": mp4(1000, 1), "101GOPRO/GH010001.MP4": mp4(2000, 2)})
    try:
        job(tmp_path)(context(cam))
        day = tmp_path / "media/front" / DAY
        assert (day / "GH010001.MP4").read_bytes() == mp4(1000, 1)
        assert (day / "101GOPRO" / "GH010001.MP4").read_bytes() == mp4(2000, 2)
    finally:
        cam.close()


def test_delete_after_deletes_only_verified_recordings(camera, tmp_path):
    camera.extra = 0
    job(tmp_path, options=Options(delete_after=True))(context(camera))
    assert "100GOPRO/GH010001.MP4" in camera.deleted and "100GOPRO/GH020001.MP4" in camera.deleted
    assert "100GOPRO/GL010001.LRV" in camera.deleted
    assert "100GOPRO/GOPR0004.JPG" in camera.deleted              # a photo, verified by its size
    assert (tmp_path / "media/front" / DAY / "GOPR0004.JPG").exists()


def test_delete_after_keeps_a_recording_whose_chapter_failed(tmp_path):
    broken = mp4(100_000)[:-40] + b"\0" * 40
    cam = MediaCamera({"100GOPRO/GH010003.MP4": mp4(1000), "100GOPRO/GH020003.MP4": broken})
    try:
        job(tmp_path, options=Options(delete_after=True))(context(cam))
        assert cam.deleted == []
    finally:
        cam.close()


def test_open_gopro_turbo_on_and_off_and_gpmf_first(tmp_path):
    cam = MediaCamera(files_a())
    try:
        job(tmp_path)(context(cam, family="open_gopro"))
        assert cam.turbo == [1, 0]
        gets = [p for p, _ in cam.requests if p.startswith(("/videos/", "/gopro/media/gpmf"))]
        first_mp4 = next(i for i, p in enumerate(gets) if p.endswith(".MP4"))
        assert "/gopro/media/gpmf" in gets[:first_mp4]
        assert (tmp_path / "media/front" / DAY / "GH010001.gpmf.bin").read_bytes().startswith(b"GPMF")
    finally:
        cam.close()


def test_progress_reports_rate_eta_and_what_is_left():
    t = [0.0]
    p = Progress("front", clock=lambda: t[0])
    p.plan(3, 30_000_000)
    for _ in range(5):
        t[0] += 1.0
        p.fetched(2_000_000)
    row = p.as_dict()
    assert row["mb_left"] == 20.0 and row["mb_per_s"] == 2.0 and row["eta_s"] == 10
    t[0] += 10
    assert p.as_dict()["mb_per_s"] == 0.0 and p.as_dict()["eta_s"] is None


def test_a_gpx_is_written_beside_a_recording_once_its_chapters_are_here(tmp_path):
    """The after-recording hook (camrig.offload.hooks) through camrig.telemetry: a real HERO7 GPMF
    payload (tests/data/gpmf) in an MP4 built by tests/mp4build.py, served by the media server."""
    from pathlib import Path

    from camrig.offload.hooks import SessionTelemetry
    from tests.mp4build import build_mp4

    seed = (Path(__file__).resolve().parents[1] / "data/gpmf/gopro2gpx_hero07.gpmf.bin").read_bytes()
    built = build_mp4(tmp_path / "src.MP4", [seed], duration=1001, timescale=1000)
    cam = MediaCamera({"100GOPRO/GH010042.MP4": Path(built).read_bytes()})
    try:
        after_recording, _ = SessionTelemetry(lambda: tmp_path / "media").hooks("front")
        job(tmp_path, after_recording=after_recording)(context(cam))
        gpx = tmp_path / "media/front" / DAY / "GH010042.gpx"
        assert gpx.exists() and b"<trkpt" in gpx.read_bytes()
    finally:
        cam.close()


def test_a_family_whose_media_takes_no_connection_is_called_bare(camera, tmp_path):
    """Olympus' driver.media() takes no argument (its session lives on the driver): the job calls
    it bare instead of failing with a TypeError."""
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=camera.port, timeout=2.0, connect_timeout=0.5)

    class Bare:
        def media(self):
            return LegacyMedia(http, "front", media_port=camera.port)
    ctx = JobContext("front", http=http, driver=Bare(), log=logging.getLogger("t"))
    summary = job(tmp_path)(ctx)
    assert summary["files"] == 7


def test_a_range_answer_longer_than_its_content_range_is_refused(camera, tmp_path):
    """A camera that answers 206 with more bytes than its Content-Range names (here in 64 kB Range
    chunks, as route mode asks) must not get them written as the next bytes of the file: before
    the fix they were, and a file of the right size with foreign bytes in it got its final name."""
    camera.range_extra = 100
    http = HttpClient(AddressLink("front", "127.0.0.1"), port=camera.port, timeout=2.0, connect_timeout=0.5)
    ctx = JobContext("front", http=http, driver=Driver(camera), log=logging.getLogger("t"))
    real = ctx.download
    ctx.download = lambda path, dest, **kw: real(path, dest, chunk_bytes=65_536, **kw)
    j = job(tmp_path, options=Options(telemetry=False))
    j(ctx)
    day = tmp_path / "media/front" / DAY
    for key, data in files_a().items():
        p = day / key.split("/")[1]
        assert not p.exists() or p.read_bytes() == data, key
    assert not (day / "GH010001.MP4").exists()
    assert "arrived" in (j.progress.last_error or "")


def _payloads(raw: bytes) -> list[bytes]:
    """A raw GPMF stream cut into its top-level KLV payloads (key 4, type 1, size 1, repeat 2,
    data padded to 4 bytes: GoPro's GPMF spec)."""
    out, at = [], 0
    while at + 8 <= len(raw):
        size, repeat = raw[at + 5], int.from_bytes(raw[at + 6:at + 8], "big")
        end = at + 8 + (size * repeat + 3) // 4 * 4
        out.append(raw[at:end])
        at = end
    return out


def test_the_gpmf_gives_a_gpx_and_a_sync_row_before_any_video_arrives(tmp_path):
    """Issue 11 part 5: an Open GoPro recording of two chapters; its GPMF (real HERO11 GPS9, split
    in two at a payload boundary) is fetched first and joined into ``GH010042.gpx`` at once — no
    chapter is on the Pi yet — and the day's sync table (file, snapshot, status table) has the
    recording, timed by GPS. Fails before the after_telemetry hook (the .gpx came only after the
    video, and no sync table was written)."""
    from pathlib import Path

    from camrig.offload.hooks import SessionTelemetry
    from camrig.status import render_table
    from camrig.telemetry import convert_recording

    raw = (Path(__file__).resolve().parents[1] / "data/gpmf/gopro2gpx_hero11.gpmf.bin").read_bytes()
    parts = _payloads(raw)
    half = len(parts) // 2
    cam = MediaCamera({"100GOPRO/GH010042.MP4": mp4(200_000, 1), "100GOPRO/GH020042.MP4": mp4(100_000, 2)})
    cam.gpmf_for = {"100GOPRO/GH010042.MP4": b"".join(parts[:half]),
                    "100GOPRO/GH020042.MP4": b"".join(parts[half:])}
    day_dir = tmp_path / "media/front" / DAY
    calls = []

    def convert(sources, out_dir, formats, **kw):
        calls.append(([p.name for p in sources], sorted(p.name for p in day_dir.glob("*.MP4"))))
        return convert_recording(sources, out_dir, formats, **kw)

    session = SessionTelemetry(lambda: tmp_path / "media", convert=convert)
    after_recording, after_telemetry = session.hooks("front")
    try:
        job(tmp_path, after_recording=after_recording, after_telemetry=after_telemetry)(
            context(cam, family="open_gopro"))
    finally:
        cam.close()
    first_sources, videos_then = calls[0]
    assert first_sources == [".GH010042.gpmf-joined.bin"] and videos_then == []     # before any video
    gpx = day_dir / "GH010042.gpx"
    assert gpx.exists() and gpx.read_bytes().count(b"<trkpt") == 679                 # both halves
    assert not list(day_dir.glob(".*joined*"))
    sync_files = list((tmp_path / "media").glob("sync-*.json"))
    assert len(sync_files) == 1 and sync_files[0].name == "sync-2025-01-07.json"     # the GPS day
    table = json.loads(sync_files[0].read_text())
    assert [(r["camera"], r["recording"], r["source"], r["offset_s"]) for r in table["recordings"]] == \
        [("front", "GH010042", "gps", 0.0)]
    assert table["recordings"][0]["start_utc"] == "2025-01-07T10:33:02.100000Z"
    snap = session.snapshot()
    assert snap["day"] == "2025-01-07" and snap["recordings"][0]["recording"] == "GH010042"
    text = render_table({"cameras": [{"name": "front", "state": "idle"}], "sync": snap})
    assert "sync table 2025-01-07" in text and "GH010042" in text and "+0.000 s" in text


def test_the_sync_table_merges_cameras_and_restarts(tmp_path):
    """Two cameras' recordings on one day land in one table with their offsets; a second service
    (a daemon restart) adds to the file instead of replacing it; an unreadable file is rewritten."""
    import datetime as dt
    from types import SimpleNamespace

    from camrig.offload.hooks import SessionTelemetry

    def fake(start):
        def convert(sources, out_dir, formats, name=None, **kw):
            return SimpleNamespace(error=None, outputs={}, recording=name, start_utc=start,
                                   camera_clock_start=None, duration_s=60.0, gps_points=600)
        return convert

    t0 = dt.datetime(2026, 5, 1, 9, 0, 0, tzinfo=dt.UTC)
    log = logging.getLogger("t")
    a = SessionTelemetry(lambda: tmp_path, convert=fake(t0))
    a.hooks("front")[0](None, [tmp_path / "GH010001.MP4"], log)
    b = SessionTelemetry(lambda: tmp_path, convert=fake(t0 + dt.timedelta(seconds=1.25)))
    b.hooks("rear")[0](None, [tmp_path / "GX010007.MP4"], log)
    table = json.loads((tmp_path / "sync-2026-05-01.json").read_text())
    assert [(r["camera"], r["offset_s"]) for r in table["recordings"]] == [("front", 0.0), ("rear", 1.25)]
    (tmp_path / "sync-2026-05-01.json").write_text("not json")
    b.hooks("rear")[0](None, [tmp_path / "GX010007.MP4"], log)
    table = json.loads((tmp_path / "sync-2026-05-01.json").read_text())
    assert [r["camera"] for r in table["recordings"]] == ["rear"]
