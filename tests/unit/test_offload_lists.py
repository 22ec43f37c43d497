"""Media lists (gpMediaList, /gopro/media/list) parsed defensively, and files grouped into
recordings (issue 10 parts 1 and 9). Before issue 10 there was no parser or grouping at all:
every test here fails on the code before it (ImportError)."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from camrig.cameras.gopro_legacy.media import parse_media_list, proxy_name, size_known
from camrig.media import MAX_FILE_SIZE, MediaFile, MediaListError
from camrig.offload.recordings import group, name_parts

# goprowifihack HERO7/Mediabrowsing.md, the example answer (values are strings)
HERO7_LIST = {"id": "id", "media": [{"d": "131GOPRO", "fs": [
    {"n": "GOPR8204.MP4", "cre": "1495712610", "mod": "1495712610", "glrv": "612380", "ls": "-1", "s": "54447740"},
    {"n": "GOPR0004.JPG", "cre": "1495729970", "mod": "1495729970", "s": "146317687"},
]}]}


def parse(doc, **kw):
    return parse_media_list(json.dumps(doc).encode(), camera="front", **kw)


def test_the_documented_answer_parses_with_its_lrv_and_thm():
    files = parse(HERO7_LIST)
    by = {f.name: f for f in files}
    assert by["GOPR8204.MP4"].size == 54447740
    assert by["GOPR8204.MP4"].created == 1495712610.0
    assert by["GOPR8204.LRV"].size == 612380            # glrv: same name, .LRV (goprowifihack)
    assert not size_known(by["GOPR8204.THM"])
    assert by["GOPR0004.JPG"].size == 146317687
    assert "GOPR0004.LRV" not in by                      # a photo has no proxy


def test_hostile_entries_are_skipped_and_logged_never_raised(caplog):
    doc = {"id": "1", "media": [
        {"d": "100GOPRO", "fs": [
            {"n": "../../etc/passwd", "s": "10"}, {"n": "/abs.MP4", "s": "10"}, {"n": "a/b.MP4", "s": "1"},
            {"n": "nul\x00.MP4", "s": "1"}, {"n": "GH010001.MP4", "s": "-5"},
            {"n": "GH010002.MP4", "s": str(MAX_FILE_SIZE + 1)}, {"n": "GH010003.MP4", "s": "12x"},
            {"n": "GH010004.MP4", "s": "100"}, {"n": "GH010004.MP4", "s": "999"}, {"n": "..", "s": "1"},
            "not an object", {"s": "3"}, {"n": 5, "s": "1"},
            {"n": "G0010008.JPG", "g": "1", "b": "8", "l": "396", "s": "1"},
        ]},
        {"d": "../..", "fs": [{"n": "GH010009.MP4", "s": "1"}]},
        {"d": "101GOPRO"}, 7,
    ]}
    with caplog.at_level(logging.INFO):
        files = parse(doc)
    assert [f.path for f in files if f.extension == "MP4"] == ["100GOPRO/GH010004.MP4"]
    assert next(f for f in files if f.name == "GH010004.MP4").size == 100       # the first wins
    assert "duplicate" in caplog.text and "skipped" in caplog.text and "grouped" in caplog.text


def test_a_body_that_is_not_a_list_raises_media_list_error():
    for body in (b"<html>", b"[]", b'{"media": 3}', b"\xff\xfe"):
        try:
            parse_media_list(body, camera="front")
        except MediaListError as exc:
            assert "front" in str(exc)
        else:
            raise AssertionError(f"{body!r} accepted")


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=4),
                           max_leaves=20)
names = st.text(alphabet=st.characters(codec="utf-8"), min_size=0, max_size=20) | st.sampled_from(
    ["GH010001.MP4", "GX020001.MP4", "GOPR0001.MP4", "GP010001.MP4", "..", ".", "a/b", "\x00", ""])
entry = st.fixed_dictionaries({"n": names | json_values, "s": st.integers(-10, 1 << 41).map(str) | json_values},
                              optional={"cre": st.integers(-1, 1 << 41).map(str) | json_values,
                                        "glrv": st.integers(-5, 1 << 30).map(str) | json_values,
                                        "ls": st.sampled_from(["-1", "0", "5"])})
lists = st.fixed_dictionaries({"id": st.text(max_size=3), "media": st.lists(
    st.fixed_dictionaries({"d": st.sampled_from(["100GOPRO", "..", "a/b", ""]) | json_values,
                           "fs": st.lists(entry | json_values, max_size=8)}) | json_values, max_size=4)})


@settings(max_examples=300, deadline=None)
@given(lists)
def test_any_list_parses_into_safe_unique_files(doc):
    """Whatever the camera sends: no exception but MediaListError, every file a safe MediaFile,
    every path unique, every size 0…MAX_FILE_SIZE."""
    files = parse(doc)
    assert len({f.path for f in files}) == len(files)
    for f in files:
        assert isinstance(f, MediaFile)
        assert "/" not in f.name and "\x00" not in f.name and f.name not in (".", "..")
        assert "/" not in f.folder and f.folder not in (".", "..")
        assert 0 <= f.size <= MAX_FILE_SIZE


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_raise_only_media_list_error(body):
    try:
        parse_media_list(body, camera="front")
    except MediaListError:
        pass


chapter_names = st.builds(lambda q, c, i, e: f"G{q}{c:02d}{i:04d}.{e}", st.sampled_from("HXL"), st.integers(1, 99),
                          st.integers(0, 20), st.sampled_from(["MP4", "LRV", "THM"])) | st.builds(
    lambda c, i, e: (f"GOPR{i:04d}.{e}" if c == 0 else f"GP{c:02d}{i:04d}.{e}"), st.integers(0, 5),
    st.integers(0, 20), st.sampled_from(["MP4", "LRV", "THM"])) | st.sampled_from(["GOPR0001.JPG", "X.BIN"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["100GOPRO", "101GOPRO"]), chapter_names), max_size=30))
def test_grouping_puts_every_file_in_exactly_one_recording_in_chapter_order(pairs):
    files = [MediaFile(d, n, 10) for d, n in pairs]
    recs = group(files)
    grouped = [f.path for r in recs for f in r.files]
    assert sorted(grouped) == sorted({f.path for f in files})
    for r in recs:
        chapters = [name_parts(f).chapter for f in r.chapters]
        assert chapters == sorted(chapters)
        ids = {(f.folder, name_parts(f).media_id) for f in r.chapters + r.proxies}
        assert len(ids) <= 1


def test_hero6_and_hero5_chapters_group_with_their_proxies():
    files = [MediaFile("100GOPRO", n, 1) for n in (
        "GH020078.MP4", "GH010078.MP4", "GL010078.LRV", "GL020078.LRV", "GH010078.THM",
        "GP010012.MP4", "GOPR0012.MP4", "GOPR0012.LRV", "GX010013.MP4", "GOPR0004.JPG")]
    recs = {r.key: r for r in group(files)}
    r78 = recs["100GOPRO/0078"]
    assert [f.name for f in r78.chapters] == ["GH010078.MP4", "GH020078.MP4"]
    assert [f.name for f in r78.proxies] == ["GL010078.LRV", "GL020078.LRV"]
    assert [f.name for f in r78.thumbnails] == ["GH010078.THM"]
    assert [f.name for f in recs["100GOPRO/0012"].chapters] == ["GOPR0012.MP4", "GP010012.MP4"]
    assert [f.name for f in recs["100GOPRO/GOPR0004.JPG"].others] == ["GOPR0004.JPG"]
    assert proxy_name("GX010013.MP4") == "GL010013.LRV" and proxy_name("GP010012.MP4") == "GP010012.LRV"


def test_unicode_digits_in_sizes_and_times_are_skipped_not_raised():
    """hypothesis found it: str.isdigit() takes "²", which int() refuses (ValueError escaped)."""
    files = parse({"id": "1", "media": [{"d": "100GOPRO", "fs": [
        {"n": "GH010001.MP4", "s": "²"}, {"n": "GH010002.MP4", "s": "10", "cre": "²"}]}]})
    assert [f.name for f in files if f.extension == "MP4"] == ["GH010002.MP4"]
    assert files[0].created is None
