"""An emulated Olympus beside a HERO7 and a HERO12, driven by the real daemon (issue 12).

The Olympus is plugged in through its Family entry alone (camrig/cameras/olympus: emulator and
emulator_args): the rigs put it at its family's address, 192.168.0.10, behind its own adapter.
Witnesses: the emulators' own state and events, the daemon's status file. Before issue 12 there
was no ``olympus`` model: every test here fails at the config.
"""

from __future__ import annotations

import time

import pytest

from .helpers import find_events

MODELS = ["hero7", "hero12", "olympus"]
SLOW = 40.0
FAST = {"CHECK_STATUS": 1, "CYCLE_SECONDS": 0.5, "WAKE_TIMEOUT": 4.0, "HTTP_TIMEOUT": 1.5}


def _rows(rig) -> dict[str, dict]:
    return {c["name"]: c for c in rig.status()["cameras"]}


def _record_and_stop(rig, address: str):
    t0 = time.monotonic()
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="all three recording")
    assert rig.camera(3).state()["record_started_at"] >= t0
    rig.wait_until(lambda: _rows(rig)["cam3"]["state"] == "recording" and _rows(rig)["cam3"]["recording"],
                   SLOW, message="status file: the Olympus recording")
    oly = _rows(rig)["cam3"]
    assert oly["model"] == "olympus" and oly["address"] == address
    assert oly["recording_confirmed"] is False and "startmovietake accepted" in oly["recording_evidence"]
    rig.wait_until(lambda: _rows(rig)["cam1"]["recording_confirmed"] is True, SLOW,
                   message="the HERO7's recording confirmed by its status 10")
    assert "yes?" in rig.status_table()
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 3, SLOW, message="all three stopped")
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="status file: all idle")
    assert len(rig.camera(3).state()["files"]) >= 1          # the movie is on the card


def _check_olympus_protocol(rig):
    # The clock waits for the first accepted stop (no state query says the body is idle before),
    # then goes out at the next status read that finds it idle.
    rig.wait_until(lambda: any(e["what"] == "request" and e["path"].startswith("/set_utctimediff.cgi?utctime=")
                               for e in rig.camera(3).state()["events"]), SLOW,
                   message="the Olympus clock set after the first stop")
    reqs = [e for e in rig.camera(3).state()["events"] if e["what"] == "request"]
    paths = [e["path"] for e in reqs]
    assert paths[0] == "/get_connectmode.cgi" and "/get_commandlist.cgi" in paths
    assert any(p.startswith("/switch_cammode.cgi?mode=rec&lvqty=") for p in paths)
    assert "/exec_takemotion.cgi?com=startmovietake" in paths and "/exec_takemotion.cgi?com=stopmovietake" in paths
    assert any(p.startswith("/set_utctimediff.cgi?utctime=") for p in paths)
    assert {e["host"] for e in reqs} == {"192.168.0.10"}
    assert {e["ua"] for e in reqs[1:]} == {"OI.Share v2"}
    assert not find_events(rig, 3, "refused")                 # nothing the list lacks was sent


def _drop_and_regain_wifi_while_recording(rig):
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="all three recording again")
    t = time.monotonic()
    rig.camera(3).request("wifi", on=False)                   # the body drops recording (OPC p. 112)
    assert rig.camera(3).state()["recording"] is False
    assert find_events(rig, 3, "record_stop", since=t, why="network disconnected")
    rig.wait_until(lambda: _rows(rig)["cam3"]["state"] in ("asleep", "waking"), SLOW,
                   message="the daemon notices the Olympus is gone")
    rig.wait_until(lambda: "turn on the camera's Wi-Fi" in (_rows(rig)["cam3"]["last_error"] or ""), SLOW,
                   message="status file says to turn on the camera's Wi-Fi")
    assert rig.recording()[:2] == [True, True]                # the GoPros record on
    rig.camera(3).request("wifi", on=True)
    rig.wait_until(lambda: find_events(rig, 3, "record_start", since=t), 60.0,
                   message="the Olympus recording again once its AP is back")
    rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="all three recording after the drop")
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False] * 3, SLOW, message="all three stopped after the drop")


def test_olympus_beside_gopros_on_loopback(make_loopback_rig):
    rig = make_loopback_rig(3, models=MODELS)
    rig.start_daemon(FAST)
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="all three idle")
    _record_and_stop(rig, rig.cameras[2].address)
    _check_olympus_protocol(rig)
    _drop_and_regain_wifi_while_recording(rig)


@pytest.mark.parametrize("mode", ["bind", "route"])
def test_olympus_beside_gopros_in_namespaces(make_ns_rig, mode):
    rig = make_ns_rig(3, mode=mode, models=MODELS, association_delay=1.0)
    status, body = rig.http_get("/get_connectmode.cgi", iface="wlan3")      # at 192.168.0.10 via wlan3
    assert status == 200 and b"<connectmode>" in body
    rig.camera(3).request("clear_events")                       # the probe was not the daemon
    rig.start_daemon(FAST)
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 3, SLOW,
                   message="all three idle")
    _record_and_stop(rig, "192.168.0.10")
    _check_olympus_protocol(rig)
    if mode == "route":
        # The one route table switches 192.168.0.10 as well as 10.5.5.9, each to its own adapter.
        routes = rig.ip("route", "show", netns=rig.car_ns).stdout
        assert "192.168.0.10 dev wlan3" in routes, routes
        assert "10.5.5.9 dev wlan" in routes, routes
    _drop_and_regain_wifi_while_recording(rig)


def test_olympus_movies_come_home_with_the_offload(make_ns_rig):
    """Issue 12 "Done when" with issue 10: the movie the Olympus saved when the trigger went off
    comes home byte for byte through its own adapter (play mode, plain GET /DCIM/...), beside the
    HERO7's footage, and the body is put back in rec mode afterwards."""
    from camrig.emulator.olympus import movie_bytes

    rig = make_ns_rig(2, mode="bind", models=["hero7", "olympus"], start="awake")
    out = rig.workdir / "offload"
    rig.start_daemon({**FAST, "OFFLOAD_DIR": str(out), "OFFLOAD_MIN_FREE": 0})
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 2, SLOW,
                   message="both idle")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording")
    time.sleep(1.0)
    rig.trigger_off()
    rig.wait_until(lambda: rig.recording() == [False, False], SLOW, message="both stopped")
    movies = rig.camera(2).state()["files"]
    assert movies, "the Olympus saved no movie"
    res = rig.run_in_car([rig.python, "-m", "camrig", "--config", str(rig.config_path), "offload", "--json"],
                         timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr + rig.daemon_log(60)
    name = rig.status()["cameras"][1]["name"]
    for f in movies:
        got = list((out / name).glob(f"*/{f['name']}"))
        assert len(got) == 1, sorted(p.name for p in (out / name).rglob("*"))
        assert got[0].read_bytes() == movie_bytes(f["name"], f["size"])
    assert not list(out.rglob("*.part"))
    assert rig.camera(2).state()["mode"] == "rec"           # end_offload switched it back
