"""The rigs ask the camera family registry how to start an emulated camera (issue 9 part 4).

Before: ``camrig/emulator/rig.py`` branched on ``open_gopro`` and kept its own
``OPEN_GOPRO_MODELS``, so a third family's emulator could not be started by the rig, and the
loopback rig (``make demo``, ``gopro-manager demo``) started ``REPO_ROOT/gopro_manager.py``, which
an installed package does not have. These tests fail on that code.
"""

from __future__ import annotations

import pytest

from camrig.cameras.base import CameraParts
from camrig.cameras.registry import EmulatorSpec, Family, family_for_model, register, unregister
from camrig.emulator.rig import LoopbackRig, parse_models
from tests.rig import REPO_ROOT, NamespaceRig, car_address_for


def _no_build(config, cam, shared) -> CameraParts:
    raise AssertionError("not built in these tests")


@pytest.fixture
def third_family():
    """A fake family with its own emulator module and flags, on its own address."""
    def args(spec: EmulatorSpec) -> list[str]:
        return ["--who", spec.name, "--sock", spec.control_socket, "--on", f"{spec.listen}:{spec.http_port}",
                *spec.extra]

    family = register(Family(name="fakecam", title="Fake camera", models=("fake1",), controls=("wifi",),
                             default_http_port=8000, default_address="192.168.0.10", build=_no_build,
                             emulator="tests.fake_emulator", emulator_args=args))
    yield family
    unregister("fakecam")


def test_a_third_family_plugs_into_the_loopback_rig_by_its_family_entry(third_family, tmp_path):
    rig = LoopbackRig(2, models=["fake1", "hero12"], workdir=tmp_path, emulator_extra={1: ["--rate", "4MB/s"]})
    rig.cameras = [rig._camera_spec(k) for k in (1, 2)]
    fake, og = (rig._emulator_argv(c) for c in rig.cameras)
    cam = rig.cameras[0]
    assert fake == [rig.python, "-m", "tests.fake_emulator", "--who", "cam1", "--sock", str(cam.control),
                    "--on", f"{cam.address}:{cam.http_port}", "--rate", "4MB/s"]
    assert og[:3] == [rig.python, "-m", "camrig.emulator.open_gopro"]
    assert og[og.index("--model") + 1] == "hero12" and "--rate" not in og


def test_the_gopro_families_build_the_arguments_the_rig_used_to(tmp_path):
    rig = LoopbackRig(3, models=["hero7", "hero11:usb", "hero9:ble"], workdir=tmp_path, idle_wifi_off={1: 30},
                      auto_sleep=5)
    rig.cameras = [rig._camera_spec(k) for k in (1, 2, 3)]
    legacy, usb, ble = (rig._emulator_argv(c) for c in rig.cameras)
    assert legacy[2] == "camrig.emulator.legacy_gopro"
    assert legacy[legacy.index("--idle-wifi-off") + 1] == "30.0" and legacy[legacy.index("--model") + 1] == "hero7"
    assert legacy[legacy.index("--listen") + 1] == "127.0.0.2" and "--netdev" not in legacy
    assert usb[2] == "camrig.emulator.open_gopro" and "--usb" in usb
    assert usb[usb.index("--auto-sleep") + 1] == "5" and "--idle-wifi-off" not in usb
    assert "--usb" not in ble and ble[ble.index("--model") + 1] == "hero9"


def test_the_namespace_rig_puts_a_camera_at_its_family_address(third_family, tmp_path):
    rig = NamespaceRig(2, models=["fake1", "hero7"], workdir=tmp_path, prefix="gmtunit")
    fake, hero = rig._camera_spec(1), rig._camera_spec(2)
    assert (fake.address, fake.http_port) == ("192.168.0.10", 8000)
    assert (hero.address, hero.http_port) == ("10.5.5.9", 80)
    assert rig._emulator_listen(fake) == ("0.0.0.0", "eth0")
    assert car_address_for("192.168.0.10") == "192.168.0.100"
    assert car_address_for("10.5.5.9") == "10.5.5.100"
    assert car_address_for("10.0.0.100") == "10.0.0.101"
    with pytest.raises(ValueError):
        car_address_for("camera")


def test_parse_models_asks_the_family_which_paths_it_has(third_family):
    assert parse_models(["FAKE1", "hero12:usb"], 2) == [("fake1", "wifi"), ("hero12", "usb")]
    with pytest.raises(ValueError, match="Wi-Fi only"):
        parse_models(["fake1:usb"], 1)
    with pytest.raises(ValueError, match="Wi-Fi only"):
        parse_models(["hero7:ble"], 1)
    with pytest.raises(ValueError, match="hero99"):
        parse_models(["hero99"], 1)


def test_the_demo_rig_runs_the_daemon_as_a_module_not_from_a_checkout(tmp_path):
    """``gopro-manager demo`` from an installed package: nothing the loopback rig starts may
    need the checkout (gopro_manager.py beside the package, the checkout as working directory)."""
    rig = LoopbackRig(1, workdir=tmp_path)
    argv = rig.daemon_argv("run")
    assert argv[:3] == [rig.python, "-m", "camrig"]
    assert not any(str(REPO_ROOT / "gopro_manager.py") in a for a in argv)
    assert rig.cwd == tmp_path
    assert family_for_model("hero7").emulator_args is not None
