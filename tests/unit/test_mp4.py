"""The MP4 gpmd reader (issue 11 parts 2 and 8): sample tables, moov at either end, 64-bit boxes,
co64, chapters, reading only the samples, and hostile boxes — warnings naming file and offset,
no crash, no hang — with Hypothesis fuzzing of the box walker. Files come from tests/mp4build.py
wrapping real GPMF payloads from tests/data/gpmf."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camrig.telemetry import convert_recording, decode_recording
from camrig.telemetry.gpmf import GpmfWarning
from camrig.telemetry.mp4 import (
    Mp4Error,
    NoGpmfTrack,
    chapter_key,
    group_chapters,
    iter_boxes,
    open_gpmd_track,
    read_samples,
)
from tests.mp4build import box, build_mp4

DATA = Path(__file__).resolve().parents[1] / "data" / "gpmf"
HERO5 = (DATA / "gpmf-parser_hero5.raw").read_bytes()
HERO6 = (DATA / "gpmf-parser_hero6.raw").read_bytes()


@pytest.mark.parametrize("moov_at_end", [True, False])
@pytest.mark.parametrize("co64", [False, True])
@pytest.mark.parametrize("per_chunk", [1, 2, 3])
def test_samples_come_back_byte_for_byte_with_stts_times(tmp_path, moov_at_end, co64, per_chunk):
    payloads = [HERO5, HERO6, HERO5, HERO6, HERO5]
    path = build_mp4(tmp_path / "GH010001.MP4", payloads, duration=[1001, 1001, 1001, 1001, 533], timescale=1000,
                     moov_at_end=moov_at_end, co64=co64, samples_per_chunk=per_chunk, mdat_size=1 << 20)
    w: list[GpmfWarning] = []
    track = open_gpmd_track(path, warnings=w)
    assert w == []
    got = list(read_samples(track))
    assert [d for _, d in got] == payloads
    assert [round(s.start, 3) for s, _ in got] == [0.0, 1.001, 2.002, 3.003, 4.004]
    assert round(track.duration, 3) == 4.537


def test_a_4gib_sparse_mdat_with_64bit_size_is_seeked_over_and_barely_read(tmp_path):
    path = build_mp4(tmp_path / "big.MP4", [HERO5] * 8, mdat_size=(4 << 30) + 12345, co64=True)
    track = open_gpmd_track(path)
    assert len(list(read_samples(track))) == 8
    assert track.bytes_read < 64 * 1024  # moov + 8 payloads of 4.7 KB, nothing of the mdat
    assert path.stat().st_size > 4 << 30


def test_video_fill_interleaves_video_samples_around_the_gpmf(tmp_path):
    """mp4build's realistic layout (the bench's): video samples cover the mdat between GPMF chunks."""
    path = build_mp4(tmp_path / "v.MP4", [HERO5, HERO6], mdat_size=3 << 20, video_fill=True)
    track = open_gpmd_track(path)
    assert [d for _, d in read_samples(track)] == [HERO5, HERO6]
    moov = path.read_bytes()[path.read_bytes().rindex(b"moov") - 4:]
    video_stsz = moov[moov.index(b"stsz"):]
    count = struct.unpack(">I", video_stsz[12:16])[0]
    assert count >= (3 << 20) // (256 << 10)


def test_output_name_for_gpmf_fetched_without_the_video(tmp_path):
    raw = tmp_path / "GH010042.gpmf.bin"
    raw.write_bytes(HERO5 + HERO5)
    res = convert_recording([raw], tmp_path, name="GH010042")
    assert res.ok and res.outputs["gpx"].name == "GH010042.gpx" and res.gps_points == 36
    with pytest.raises(ValueError):
        convert_recording([raw], tmp_path, name="../x")


def test_many_tiny_boxes_stop_at_the_cap_with_a_warning(monkeypatch):
    import camrig.telemetry.mp4 as mp4
    monkeypatch.setattr(mp4, "MAX_BOXES", 50)
    data = box(b"free") * 100
    w: list[GpmfWarning] = []
    assert len(list(iter_boxes(lambda o, n: data[o:o + n], 0, len(data), source="m", warnings=w))) == 50
    assert "more than 50 boxes" in w[0].message


def test_64bit_size_near_2_to_the_64_is_clamped_not_wrapped():
    data = struct.pack(">I4sQ", 1, b"mdat", 2 ** 64 - 1) + b"\0" * 32
    w: list[GpmfWarning] = []
    boxes = list(iter_boxes(lambda o, n: data[o:o + n], 0, len(data), source="m", warnings=w, top=True))
    assert [(b.type, b.size) for b in boxes] == [(b"mdat", len(data))] and "runs past" in w[0].message


def test_the_track_is_found_by_its_gpmd_description_not_its_position(tmp_path):
    path = build_mp4(tmp_path / "a.MP4", [HERO5], video_track=True)
    assert len(open_gpmd_track(path).samples) == 1


def test_a_file_without_gpmd_raises_no_gpmf_track(tmp_path):
    path = build_mp4(tmp_path / "a.MP4", [HERO5], gpmd_track=False)
    with pytest.raises(NoGpmfTrack, match="no GPMF track"):
        open_gpmd_track(path)
    res = convert_recording([path], tmp_path)
    assert not res.ok and "no GPMF track" in res.error and res.outputs == {}


def test_a_decoder_bug_is_a_result_error_not_an_exception(tmp_path, monkeypatch):
    """The offload calls convert_recording in the daemon: an unexpected exception must not escape."""
    import camrig.telemetry.api as api

    def boom(*a, **k):
        raise KeyError("bug")
    monkeypatch.setattr(api, "decode_recording", boom)
    res = convert_recording([build_mp4(tmp_path / "a.MP4", [HERO5])], tmp_path)
    assert not res.ok and "telemetry decoder failed" in res.error and "KeyError" in res.error


def test_not_an_mp4_at_all_is_an_error_not_a_crash(tmp_path):
    p = tmp_path / "x.MP4"
    p.write_bytes(b"hello world, not a box")
    with pytest.raises(Mp4Error):
        open_gpmd_track(p)


def test_hmmt_hilights_are_read_and_put_on_the_joined_time_line(tmp_path):
    a = build_mp4(tmp_path / "GH010007.MP4", [HERO5, HERO5], hilights_ms=[1500])
    b = build_mp4(tmp_path / "GH020007.MP4", [HERO5], hilights_ms=[250, 900])
    tel = decode_recording([a, b])
    assert tel.hilights == [1.5, 2.002 + 0.25, 2.002 + 0.9]


def test_chapters_are_joined_in_order_on_one_time_line(tmp_path):
    a = build_mp4(tmp_path / "GH010042.MP4", [HERO5, HERO5])
    b = build_mp4(tmp_path / "GH020042.MP4", [HERO5])
    tel = decode_recording([a, b])
    gps = tel.gps_track()
    assert len(gps) == 3 * 18
    assert [p.chapter for p in gps[::18]] == [0, 0, 1]
    assert round(gps[36].t, 3) == 2.002  # chapter 2 starts where chapter 1 ended
    assert tel.sources == [str(a), str(b)]


def test_chapter_names_group_and_order():
    names = ["GP020123.MP4", "GOPR0123.MP4", "GP010123.MP4", "GH020042.MP4", "GH010042.MP4", "GX010043.MP4",
             "GS010044.360", "clip.mp4", "GH010042.LRV"]
    groups = group_chapters([Path("/m") / n for n in names])
    assert [[p.name for p in g] for g in groups] == [
        ["GOPR0123.MP4", "GP010123.MP4", "GP020123.MP4"], ["GH010042.MP4", "GH020042.MP4"], ["GX010043.MP4"],
        ["GS010044.360"], ["clip.mp4"], ["GH010042.LRV"]]
    assert chapter_key(Path("GH010042.MP4")) != chapter_key(Path("GX010042.MP4"))


# --- hostile boxes -------------------------------------------------------------------------------------

def corrupt(path: Path, marker: bytes, delta: int, value: bytes, nth: int = 0) -> int:
    data = bytearray(path.read_bytes())
    at = -1
    for _ in range(nth + 1):
        at = data.index(marker, at + 1)
    data[at + delta:at + delta + len(value)] = value
    path.write_bytes(bytes(data))
    return at


def test_stco_offset_past_the_end_skips_that_sample_with_a_warning(tmp_path):
    path = build_mp4(tmp_path / "a.MP4", [HERO5, HERO6, HERO5])
    at = corrupt(path, b"stco", 12 + 4, struct.pack(">I", 0x7FFFFFF0), nth=1)  # gpmd track, 2nd chunk
    w: list[GpmfWarning] = []
    track = open_gpmd_track(path, warnings=w)
    assert [s.index for s in track.samples] == [0, 2]
    assert any("past the end of the file" in x.message and x.offset == 0x7FFFFFF0 for x in w), (at, w)


def test_truncated_recording_still_gives_the_samples_before_the_cut(tmp_path):
    """moov at the start (a file cut while copying): the samples past the cut are skipped."""
    path = build_mp4(tmp_path / "a.MP4", [HERO5] * 6, moov_at_end=False)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) - 2 * len(HERO5) - 100])
    res = convert_recording([path], tmp_path, formats=("gpx",))
    assert res.ok and res.gps_points == 3 * 18
    assert any("past the end of the file" in w.message for w in res.warnings)


def test_moov_box_size_past_the_end_is_clamped_with_a_warning(tmp_path):
    path = build_mp4(tmp_path / "a.MP4", [HERO5], moov_at_end=True)
    at = corrupt(path, b"moov", -4, struct.pack(">I", 0x7FFFFFFF))
    w: list[GpmfWarning] = []
    assert len(open_gpmd_track(path, warnings=w).samples) == 1
    assert any(x.offset == at - 4 and "runs past" in x.message for x in w)


@pytest.mark.parametrize("size,expect", [(0, "size 0"), (3, "smaller than its header"),
                                         (0x10000, "runs past its parent")])
def test_bad_box_sizes_inside_moov_warn_and_never_hang(tmp_path, size, expect):
    path = build_mp4(tmp_path / "a.MP4", [HERO5], moov_at_end=True, video_track=True)
    corrupt(path, b"trak", -4, struct.pack(">I", size))  # the video trak, first in moov
    w: list[GpmfWarning] = []
    with pytest.raises(NoGpmfTrack):
        open_gpmd_track(path, warnings=w)  # the gpmd trak is behind the broken one
    assert any(expect in x.message for x in w) and all(str(path) in str(x) for x in w)


def test_absurd_table_counts_are_clamped(tmp_path):
    path = build_mp4(tmp_path / "a.MP4", [HERO5, HERO5])
    corrupt(path, b"stsz", 12, struct.pack(">I", 0xFFFFFFF0), nth=1)
    w: list[GpmfWarning] = []
    track = open_gpmd_track(path, warnings=w)
    assert len(track.samples) == 2 and any("runs past its box" in x.message for x in w)


def test_iter_boxes_on_a_64bit_size_below_its_header():
    data = struct.pack(">I4sQ", 1, b"free", 4) + box(b"free")
    w: list[GpmfWarning] = []
    assert list(iter_boxes(lambda o, n: data[o:o + n], 0, len(data), source="m", warnings=w)) == []
    assert "smaller than its header" in w[0].message


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_fuzz_box_walker_random_bytes(data):
    w: list[GpmfWarning] = []
    boxes = list(iter_boxes(lambda o, n: data[o:o + n], 0, len(data), source="f", warnings=w, top=True))
    assert sum(b.size for b in boxes) <= len(data)


_BASE: bytes | None = None


def _base(tmp: Path) -> bytes:
    global _BASE
    if _BASE is None:
        _BASE = build_mp4(tmp / "seed.MP4", [HERO5[:400], HERO6[:400]], video_track=True, hilights_ms=[5]).read_bytes()
    return _BASE


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.data())
def test_fuzz_mutated_mp4_never_crashes(tmp_path, data):
    base = bytearray(_base(tmp_path))
    for _ in range(data.draw(st.integers(1, 6))):
        base[data.draw(st.integers(0, len(base) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(base) // 2, len(base)))
    p = tmp_path / "fuzz.MP4"
    p.write_bytes(bytes(base[:cut]))
    res = convert_recording([p], tmp_path / "out", formats=("gpx", "json"))
    assert res.ok or res.error
