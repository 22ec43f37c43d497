"""Self-tests of the rigs, without the daemon.

Namespace tests need root and ``ip netns`` (skipped with the reason
otherwise). They check what every end-to-end test relies on: camera K answers
only through wlanK, by binding or by routing; the car has no way out; and
nothing is left behind, even after an exception or a crashed earlier run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request

import pytest

from tests.rig import (
    CAMERA_ADDRESS,
    LoopbackRig,
    NamespaceRig,
    RigError,
    bt_mac_for,
    existing_namespaces,
    namespaces_available,
    wifi_mac_for,
)

from .conftest import remove_namespaces_of_dead_runs, unique_prefix

SHUTTER_ON = "/gp/gpControl/command/shutter?p=1"


def test_rig_builds_namespaces_links_and_emulators(make_ns_rig):
    rig = make_ns_rig(3, start="awake")
    assert rig.namespaces() == [rig.car_ns] + [f"{rig.prefix}-cam{k}" for k in (1, 2, 3)]
    for cam in rig.cameras:
        car_side = rig.ip("-j", "addr", "show", "dev", cam.iface, netns=rig.car_ns).stdout
        (car_if,) = json.loads(car_side)
        assert car_if["operstate"] == "UP"
        assert {"local": "10.5.5.100", "prefixlen": 24} in [
            {"local": a["local"], "prefixlen": a["prefixlen"]} for a in car_if["addr_info"] if a["family"] == "inet"]
        (cam_if,) = json.loads(rig.ip("-j", "addr", "show", "dev", "eth0", netns=rig.cam_ns[cam.k - 1]).stdout)
        assert cam_if["address"] == wifi_mac_for(cam.k)
        assert CAMERA_ADDRESS in [a["local"] for a in cam_if["addr_info"] if a["family"] == "inet"]
        assert cam.control.name == bt_mac_for(cam.k).replace(":", "") + ".sock"
        assert rig.camera(cam.k).state()["name"] == cam.name
    assert rig.config_path.stat().st_mode & 0o077 == 0


def test_car_namespace_has_no_route_out(make_ns_rig):
    rig = make_ns_rig(2, start="awake")
    routes = json.loads(rig.ip("-j", "route", "show", "table", "all", netns=rig.car_ns).stdout)
    for route in routes:
        if route.get("table") == "local" or route.get("type") in ("local", "broadcast"):
            continue
        assert route["dst"] in ("10.5.5.0/24",) or route["dst"].startswith("fe80") \
            or route["dst"].startswith("ff00") or route["dst"] == "multicast", route
    assert all(r["dst"] != "default" for r in routes), routes


@pytest.mark.parametrize("k", [1, 2, 3])
def test_camera_k_answers_only_through_wlan_k_when_bound(make_ns_rig, k):
    rig = make_ns_rig(3, start="awake")
    status, body = rig.http_get("/gp/gpControl/status", iface=f"wlan{k}")
    assert status == 200
    assert "status" in json.loads(body)
    assert rig.neighbour_mac(f"wlan{k}") == wifi_mac_for(k)

    # A command bound to wlanK reaches camera K and no other.
    status, _ = rig.http_get(SHUTTER_ON, iface=f"wlan{k}")
    assert status == 200
    rig.wait_until(lambda: rig.recording() == [j == k for j in (1, 2, 3)], 5.0,
                   message=f"only camera {k} recording")

    # With camera K's link down, wlanK reaches nothing (no other camera answers instead).
    rig.ip("link", "set", "eth0", "down", netns=rig.cam_ns[k - 1])
    with pytest.raises(RigError):
        rig.http_get("/gp/gpControl/status", iface=f"wlan{k}", timeout=1.5)
    for other in {1, 2, 3} - {k}:
        assert rig.http_get("/gp/gpControl/status", iface=f"wlan{other}")[0] == 200


def test_route_switch_reaches_the_routed_camera(make_ns_rig):
    rig = make_ns_rig(3, start="awake")
    for k in (3, 1, 2):
        rig.ip("route", "replace", CAMERA_ADDRESS, "dev", f"wlan{k}", "scope", "link", netns=rig.car_ns)
        status, body = rig.http_get(SHUTTER_ON)  # not bound: the route decides
        assert status == 200
        rig.wait_until(lambda k=k: rig.recording()[k - 1], 5.0, message=f"camera {k} recording")
        assert rig.neighbour_mac(f"wlan{k}") == wifi_mac_for(k)
    assert rig.recording() == [True, True, True]


def test_cleanup_removes_namespaces_and_processes(needs_netns):
    rig = NamespaceRig(2, prefix=unique_prefix(), start="awake")
    with rig:
        names = rig.namespaces()
        pids = [int(p) for ns in names
                for p in subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()]
        assert len(names) == 3 and pids
        workdir = rig.workdir
    assert not set(names) & existing_namespaces()
    for pid in pids:
        assert not _alive(pid), f"process {pid} survived the rig"
    assert not workdir.exists()


def test_cleanup_after_an_exception(needs_netns):
    rig = NamespaceRig(2, prefix=unique_prefix(), start="awake")
    with pytest.raises(ZeroDivisionError):
        with rig:
            names = rig.namespaces()
            raise ZeroDivisionError("on purpose")
    assert names and not set(names) & existing_namespaces()
    assert rig.workdir.exists()  # kept for the post-mortem
    subprocess.run(["rm", "-rf", "--", str(rig.workdir)], check=True)


def test_leftovers_of_a_crashed_run_are_removed(needs_netns):
    prefix = unique_prefix()
    stale = [f"{prefix}-car", f"{prefix}-cam7"]
    bystander = f"{prefix}x-car"  # similar name, not ours: must survive
    sleeper = None
    try:
        for ns in stale + [bystander]:
            subprocess.run(["ip", "netns", "add", ns], check=True)
        sleeper = subprocess.Popen(["ip", "netns", "exec", stale[1], "sleep", "300"], start_new_session=True)
        time.sleep(0.2)
        with NamespaceRig(1, prefix=prefix, start="awake") as rig:
            assert f"{prefix}-cam7" not in existing_namespaces()
            assert rig.namespaces() == [f"{prefix}-car", f"{prefix}-cam1"]
            assert bystander in existing_namespaces()
        assert sleeper.wait(5) == -signal.SIGKILL
        assert not set(stale) & existing_namespaces()
    finally:
        if sleeper is not None and sleeper.poll() is None:
            os.killpg(sleeper.pid, signal.SIGKILL)
        for ns in stale + [bystander]:
            if ns in existing_namespaces():
                subprocess.run(["ip", "netns", "del", ns], check=False)


def test_loopback_rig_serves_each_camera_on_its_own_address(make_loopback_rig):
    rig = make_loopback_rig(3, start="awake")
    for cam in rig.cameras:
        assert cam.address == f"127.0.0.{cam.k + 1}"
        url = f"http://{cam.address}:{cam.http_port}/gp/gpControl/status"
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert "status" in json.loads(resp.read())
    with urllib.request.urlopen(f"http://127.0.0.3:{rig.cameras[1].http_port}{SHUTTER_ON}", timeout=5):
        pass
    rig.wait_until(lambda: rig.recording() == [False, True, False], 5.0, message="only cam2 recording")
    config = rig.config_values()
    assert config["NETWORK_MODE"] == "address"
    assert [c["address"] for c in config["GOPROS"]] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def test_loopback_rig_stops_its_emulators(tmp_path):
    with LoopbackRig(2, start="awake", workdir=tmp_path / "rig") as rig:
        procs = list(rig._emulators)
        assert all(p.poll() is None for p in procs)
    assert all(p.poll() is not None for p in procs)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_namespaces_unavailable_without_root_says_why(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ok, reason = namespaces_available()
    assert not ok and "root" in reason


def test_session_sweep_removes_namespaces_of_a_dead_run_only(needs_netns):
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs
    stale = [f"gmt{dead.pid}-1-car", f"gmt{dead.pid}-1-cam1"]
    live = f"gmt{os.getpid()}-999-car"
    try:
        for ns in stale + [live]:
            subprocess.run(["ip", "netns", "add", ns], check=True)
        remove_namespaces_of_dead_runs()
        assert not set(stale) & existing_namespaces()
        assert live in existing_namespaces()
    finally:
        for ns in stale + [live]:
            if ns in existing_namespaces():
                subprocess.run(["ip", "netns", "del", ns], check=False)
