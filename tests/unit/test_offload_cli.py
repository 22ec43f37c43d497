"""``gopro-manager offload`` with no daemon (issue 10 part 4): the same transfer code in this
process, every camera at once, against real HTTP media servers (tests/unit/offload_camera.py) as
HERO12s in address mode; the status table's offload rows; the offload config keys. Before issue
10 there was no ``offload`` subcommand: these tests fail on the code before it."""

from __future__ import annotations

import json

import pytest

from camrig import cli
from camrig.config import ConfigError, config_from_mapping
from camrig.status import render_table
from tests.unit.offload_camera import MediaCamera, mp4

DAY = "2023-11-14"


@pytest.fixture
def cameras():
    cams = [MediaCamera({"100GOPRO/GX010001.MP4": mp4(200_000, k), "100GOPRO/GL010001.LRV": mp4(20_000, k)})
            for k in range(2)]
    yield cams
    for c in cams:
        c.close()


def write_config(tmp_path, cams, **extra):
    lines = ["NETWORK_MODE = 'address'", f"OFFLOAD_DIR = {str(tmp_path / 'media')!r}", "OFFLOAD_MIN_FREE = 0",
             "STATUS_PATH = None", f"CONTROL_SOCKET = {str(tmp_path / 'control.sock')!r}", "GOPROS = ["]
    lines += [f"    {{'name': 'cam{k}', 'model': 'hero12', 'address': '127.0.0.1', 'http_port': {c.port}}},"
              for k, c in enumerate(cams)]
    lines.append("]")
    lines += [f"{k} = {v!r}" for k, v in extra.items()]
    path = tmp_path / "config.py"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def test_offload_without_a_daemon_copies_every_camera(tmp_path, cameras, capsys, monkeypatch):
    monkeypatch.setattr("camrig.offload.cli.POLL_S", 0.05)
    path = write_config(tmp_path, cameras)
    rc = cli.main(["--config", str(path), "offload", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = json.loads(out[out.index("{"):])
    assert set(rows) == {"cam0", "cam1"} and all(r["state"] == "done" for r in rows.values())
    for k in range(2):
        assert (tmp_path / f"media/cam{k}/{DAY}/GX010001.MP4").read_bytes() == mp4(200_000, k)
        assert (tmp_path / f"media/cam{k}/{DAY}/GL010001.LRV").read_bytes() == mp4(20_000, k)
    assert cameras[0].turbo == [1, 0]


def test_offload_one_camera_proxies_only(tmp_path, cameras, capsys, monkeypatch):
    monkeypatch.setattr("camrig.offload.cli.POLL_S", 0.05)
    path = write_config(tmp_path, cameras)
    rc = cli.main(["--config", str(path), "offload", "--camera", "cam1", "--proxies-only", "--json"])
    assert rc == 0
    assert (tmp_path / f"media/cam1/{DAY}/GL010001.LRV").exists()
    assert not (tmp_path / f"media/cam1/{DAY}/GX010001.MP4").exists()
    assert not (tmp_path / "media/cam0").exists()


def test_offload_of_an_unknown_camera_fails(tmp_path, cameras, capsys):
    path = write_config(tmp_path, cameras)
    assert cli.main(["--config", str(path), "offload", "--camera", "rear", "--json"]) == 1
    assert "rear" in capsys.readouterr().err


def test_offload_config_keys_are_checked():
    base = {"NETWORK_MODE": "address", "GOPROS": [{"name": "a", "address": "127.0.0.2", "http_port": 8080}]}
    cfg = config_from_mapping(base)
    assert (cfg.offload_dir, cfg.offload_min_free, cfg.offload_after, cfg.offload_what) == (
        "/var/lib/gopro-manager/media", 2_000_000_000, None, "proxies-first")
    cfg = config_from_mapping({**base, "OFFLOAD_AFTER": 120, "OFFLOAD_WHAT": "in-order", "OFFLOAD_MIN_FREE": 5})
    assert (cfg.offload_after, cfg.offload_what, cfg.offload_min_free) == (120.0, "in-order", 5)
    for key, value in (("OFFLOAD_MIN_FREE", -1), ("OFFLOAD_WHAT", "lrv"), ("OFFLOAD_AFTER", "soon"),
                       ("OFFLOAD_DIR", "bad\x00dir")):
        with pytest.raises(ConfigError, match=key):
            config_from_mapping({**base, key: value})


def test_status_shows_the_offload_rows():
    snap = {"updated": "2026-11-30T02:00:00+00:00", "cameras": [{"name": "front"}],
            "offload": {"front": {"state": "running", "files_left": 3, "mb_left": 812.5, "mb_per_s": 4.2,
                                  "eta_s": 193, "current": "100GOPRO/GX010001.MP4", "last_error": None}}}
    text = render_table(snap)
    line = next(ln for ln in text.splitlines() if ln.startswith("front") and "running" in ln)
    assert "812.5" in line and "4.2" in line and "3m13s" in line and "GX010001.MP4" in line
