"""Status file (atomic write, read-back errors) and the `status` table."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from camrig import status as status_mod
from camrig.errors import CamRigError, StatusUnavailable
from camrig.status import human_kb, read_status, render_table, write_status

FULL = {
    "updated": "2026-11-21T10:00:00+00:00", "pid": 123, "wanted": True,
    "triggers": "<AnyTrigger active=True triggers=[...]>",
    "cameras": [
        {"name": "front", "interface": "wlan1", "model": "hero7", "control": "wifi",
         "state": "recording", "wanted": True, "recording": True, "mode": "video",
         "last_seen": "2026-11-21T09:59:57+00:00", "battery_percent": 84,
         "sd_status": 0, "remaining_space_kb": 27655117, "last_error": None},
        {"name": "rear", "interface": "wlan2", "model": "hero5", "control": "ble",
         "state": "fault", "wanted": True, "recording": False, "mode": "time-lapse video",
         "last_seen": "2026-11-21T09:55:00+00:00", "battery_percent": 12,
         "sd_status": 3, "remaining_space_kb": 512, "last_error": "SD card error (33=3)"},
    ],
}


# -- write / read ----------------------------------------------------------

def test_round_trip(tmp_path):
    path = tmp_path / "status.json"
    write_status(path, FULL)
    assert read_status(path) == FULL


def test_file_mode_is_0644_regardless_of_umask(tmp_path):
    path = tmp_path / "status.json"
    old = os.umask(0o077)
    try:
        write_status(path, FULL)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_creates_missing_directory(tmp_path):
    path = tmp_path / "run" / "gopro-manager" / "status.json"
    write_status(path, {"wanted": False})
    assert json.loads(path.read_text()) == {"wanted": False}


def test_write_is_atomic_replace_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    write_status(path, {"n": 1})
    inode_before = os.stat(path).st_ino
    replaced = []
    real_replace = os.replace

    def spy_replace(src, dst):
        # The new content is complete and on disk before it takes the name.
        assert os.path.dirname(src) == str(tmp_path)
        assert json.loads(open(src).read()) == {"n": 2}
        assert json.loads(open(dst).read()) == {"n": 1}
        replaced.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(status_mod.os, "replace", spy_replace)
    write_status(path, {"n": 2})
    assert len(replaced) == 1
    assert read_status(path) == {"n": 2}
    assert os.stat(path).st_ino != inode_before  # a new file, not rewritten in place
    assert sorted(os.listdir(tmp_path)) == ["status.json"]


def test_failed_write_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    write_status(path, {"n": 1})

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(status_mod.os, "fsync", broken_fsync)
    with pytest.raises(CamRigError, match="status.json.*No space left"):
        write_status(path, {"n": 2})
    assert read_status(path) == {"n": 1}
    assert sorted(os.listdir(tmp_path)) == ["status.json"]


def test_unwritable_directory_raises_naming_path(tmp_path):
    # A regular file where the directory should be: fails even for root.
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    path = blocker / "status.json"
    with pytest.raises(CamRigError) as info:
        write_status(path, FULL)
    assert str(path) in str(info.value)


def test_read_only_directory_raises_naming_path(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions")
    directory = tmp_path / "ro"
    directory.mkdir(mode=0o555)
    path = directory / "status.json"
    with pytest.raises(CamRigError, match="ro/status.json"):
        write_status(path, FULL)


def test_unserialisable_values_become_strings(tmp_path):
    path = tmp_path / "status.json"
    write_status(path, {"updated": datetime(2026, 1, 1, tzinfo=UTC)})
    assert read_status(path) == {"updated": "2026-01-01 00:00:00+00:00"}


def test_read_missing(tmp_path):
    path = tmp_path / "status.json"
    with pytest.raises(StatusUnavailable) as info:
        read_status(path)
    assert info.value.path == str(path)
    assert "missing" in info.value.reason
    assert str(path) in str(info.value)
    assert isinstance(info.value, CamRigError)


@pytest.mark.parametrize("content, reason", [
    ("{\"wanted\": tru", "not JSON"),
    ("", "not JSON"),
    ("[1, 2]", "not a JSON object"),
])
def test_read_garbage(tmp_path, content, reason):
    path = tmp_path / "status.json"
    path.write_text(content)
    with pytest.raises(StatusUnavailable, match=reason):
        read_status(path)


def test_read_not_utf8(tmp_path):
    path = tmp_path / "status.json"
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(StatusUnavailable, match="not JSON"):
        read_status(path)


def test_read_stale_with_max_age(tmp_path):
    path = tmp_path / "status.json"
    write_status(path, FULL)
    now = datetime(2026, 11, 21, 10, 0, 20, tzinfo=UTC)
    assert read_status(path, max_age=30, now=now) == FULL
    later = datetime(2026, 11, 21, 10, 5, 0, tzinfo=UTC)
    with pytest.raises(StatusUnavailable, match="stale: last updated 5m ago"):
        read_status(path, max_age=30, now=later)
    write_status(path, {"wanted": True})
    with pytest.raises(StatusUnavailable, match="stale"):
        read_status(path, max_age=30, now=now)


# -- table -------------------------------------------------------------------

def test_table_full_snapshot():
    text = render_table(FULL)
    lines = text.splitlines()
    assert text.endswith("\n")
    assert lines[0] == "wanted: RECORD  updated: 2026-11-21T10:00:00+00:00  pid: 123"
    assert lines[1] == "triggers: <AnyTrigger active=True triggers=[...]>"
    assert lines[2].split() == ["NAME", "PATH", "MODEL", "STATE", "WANTED", "REC", "HIL", "MODE",
                                "BATT", "SD", "FREE", "LAST-SEEN", "ERROR"]
    header = lines[2]
    front, rear = lines[3], lines[4]
    # Fixed width: every column starts at the same offset on every row.
    for column in ("PATH", "STATE", " MODE ", "BATT", "SD", "FREE", "LAST-SEEN", "ERROR"):
        at = header.index(column) + (1 if column.startswith(" ") else 0)
        assert front[at - 1] == " " and front[at] != " "
        assert rear[at - 1] == " " and rear[at] != " "
    assert front.split() == ["front", "wlan1", "hero7", "recording", "yes", "yes", "-", "video",
                             "84%", "ok", "26.4G", "3s", "ago", "-"]
    assert rear.startswith("rear ")
    assert "fault" in rear and "error" in rear and "512K" in rear
    assert "5m ago" in rear
    assert rear[header.index(" MODE ") + 1:].startswith("time-lapse video ")   # issue 17: mode shown
    assert rear.endswith("SD card error (33=3)")


def test_table_sparse_snapshot():
    snapshot = {"updated": None, "wanted": None,
                "cameras": [{"name": "front"},
                            {"name": "rear", "sd_status": 2, "battery_percent": None,
                             "last_seen": None, "state": "asleep", "wanted": False}]}
    lines = render_table(snapshot).splitlines()
    assert lines[0] == "wanted: -  updated: -"
    assert lines[2].split() == ["front"] + ["-"] * 10 + ["never", "-"]
    assert lines[3].split() == ["rear", "-", "-", "asleep", "no", "-", "-", "-", "-", "no", "card",
                                "-", "never", "-"]


def test_table_without_cameras():
    assert render_table({"wanted": False, "updated": "2026-11-21T10:00:00+00:00"}) == (
        "wanted: stop  updated: 2026-11-21T10:00:00+00:00\n(no cameras)\n")
    assert render_table({}) == "wanted: -  updated: -\n(no cameras)\n"


def test_table_odd_values_do_not_crash():
    snapshot = {"updated": "yesterday", "wanted": "maybe", "pid": None,
                "cameras": [None, "front", {"name": "x\ny", "sd_status": 7,
                                            "remaining_space_kb": "lots",
                                            "last_seen": "2026-11-21T10:00:00",
                                            "last_error": "line1\nline2",
                                            "battery_percent": True}]}
    text = render_table(snapshot)
    assert "code 7" in text
    assert "line1 line2" in text
    assert "x y" in text
    assert render_table(None) == "wanted: -  updated: -\n(no cameras)\n"


@pytest.mark.parametrize("kb, shown", [
    (0, "0K"), (512, "512K"), (1023, "1023K"), (1024, "1.0M"), (1536, "1.5M"),
    (27655117, "26.4G"), (200 * 1024 * 1024, "200G"), (3 * 1024 ** 3, "3.0T"),
    (None, "-"), (-1, "-"), ("12", "-"), (True, "-"),
])
def test_human_kb(kb, shown):
    assert human_kb(kb) == shown


def test_last_seen_units():
    base = {"updated": "2026-11-21T10:00:00+00:00"}

    def seen(ts):
        snap = dict(base, cameras=[{"name": "c", "last_seen": ts}])
        return render_table(snap).splitlines()[-1]

    assert "0s ago" in seen("2026-11-21T10:00:05+00:00")  # clocks disagree: not negative
    assert "119s ago" in seen("2026-11-21T09:58:01+00:00")
    assert "3h ago" in seen("2026-11-21T07:00:00+00:00")
    assert "3d ago" in seen("2026-11-18T10:00:00+00:00")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20)
camera_keys = st.sampled_from(["name", "interface", "model", "control", "state", "wanted",
                               "recording", "last_seen", "battery_percent", "sd_status",
                               "remaining_space_kb", "last_error"])


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "updated": json_values | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    "wanted": json_values, "pid": json_values, "triggers": json_values,
    "cameras": st.lists(st.dictionaries(camera_keys, json_values) | json_values, max_size=4),
}))
def test_table_never_crashes(snapshot):
    text = render_table(snapshot)
    assert text.endswith("\n")


@pytest.mark.parametrize("sd,text", [(1, "full"), (2, "no card"), (4, "busy"), (8, "swapped"),
                                     (-1, "unknown"), (9, "code 9")])
def test_table_names_every_storage_state(sd, text):
    """Status 33 as the Open GoPro spec names its values (openapi State, status 33); unknown codes
    stay visible as numbers."""
    snapshot = {"wanted": True, "cameras": [{"name": "rear", "sd_status": sd, "state": "fault"}]}
    row = render_table(snapshot).splitlines()[2]
    assert f" {text} " in f" {row} "
