"""Emulated cameras serve their footage over the car's links (issue 10 part 7) and keep HiLights.

On the namespace rig: a seeded card is listed and served through each camera's own adapter (a
HERO7 on its media port, a HERO12 on 8080), with Range; a trigger cycle run by the real daemon
leaves a new recording on every card whose chapters carry a GPMF track. Before this change the
emulators served no file and a recording left a name only.
"""

from __future__ import annotations

import json

SEED = ["2MB"]


def test_seeded_cards_are_listed_and_served_through_each_adapter(make_ns_rig):
    rig = make_ns_rig(2, models=["hero7", "hero12"], start="awake", media=SEED)
    code, body = rig.http_get("/gp/gpMediaList", iface="wlan1", port=8080)
    (folder,) = json.loads(body)["media"]
    assert code == 200 and [f["n"] for f in folder["fs"]] == ["GH010001.MP4"]
    code, body = rig.http_get("/gopro/media/list", iface="wlan2", port=8080)
    assert code == 200 and json.loads(body)["media"][0]["fs"][0]["n"] == "GX010001.MP4"
    code, part = rig.http_get("/videos/DCIM/100GOPRO/GX010001.MP4", iface="wlan2", port=8080,
                              headers={"Range": "bytes=4-11"})
    assert code == 206 and part == b"ftypmp41"
    code, gpmf = rig.http_get("/gopro/media/gpmf?path=100GOPRO/GX010001.MP4", iface="wlan2", port=8080)
    assert code == 200 and gpmf[:4] == b"DEVC"


def test_a_trigger_cycle_leaves_footage_on_every_card(make_ns_rig):
    rig = make_ns_rig(2, models=["hero7", "hero12"], start="awake")
    rig.start_daemon()
    rig.wait_until(lambda: all(c.get("state") == "idle" for c in rig.status()["cameras"]), 20,
                   message="both cameras idle")
    rig.trigger_on()
    rig.wait_until(lambda: all(rig.recording()), 15, message="both recording")
    rig.trigger_off()
    rig.wait_until(lambda: not any(rig.recording()), 15, message="both stopped")
    for k, video in ((1, "GH010001.MP4"), (2, "GX010001.MP4")):
        names = {f["n"] for f in rig.media_files(k)}
        assert video in names and {video.replace(".MP4", ".THM")} <= names, (k, names)
    code, gpmf = rig.http_get("/gopro/media/gpmf?path=100GOPRO/GX010001.MP4", iface="wlan2", port=8080)
    assert code == 200 and gpmf[:4] == b"DEVC"
