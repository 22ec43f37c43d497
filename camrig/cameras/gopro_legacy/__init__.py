"""GoPro HERO5–8: the gpControl HTTP API over the camera's Wi-Fi AP (port 80).

Parts: :mod:`.driver` (:class:`~.driver.GpControl`), :mod:`.waker` (BLE Wi-Fi-on, Wake-on-LAN,
probe), :mod:`.gatttool` (BLE Wi-Fi-on through BlueZ's gatttool, the default) and
:mod:`.bleak_ble` (the same through bleak, ``LEGACY_BLE = "bleak"``). :data:`FAMILY` is this
family's registry entry (:mod:`camrig.cameras.registry`); the parts are imported only when a
camera is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..registry import EmulatorSpec, Family

if TYPE_CHECKING:
    from ...config import CameraConfig, Config
    from ..base import CameraParts, Shared

#: Legacy gpControl models (HERO5–8): HTTP on port 80, BLE Wi-Fi-on through gatttool.
LEGACY_MODELS = ("hero5", "hero6", "hero7", "hero8")


def _check_control(model: str, control: str) -> str | None:
    if control != "wifi":
        return (f"a {model.upper()} (gpControl) is controlled over Wi-Fi only; "
                "'usb' and 'ble' need an Open GoPro camera (hero9 … hero13)")
    return None


def _shared_gatttool(config: Config, previous: Any) -> Any:
    """The one gatttool runner of the assembly: made once, its settings updated on a reload."""
    from .gatttool import GatttoolBle

    if previous is None:
        return GatttoolBle(config.gatttool, adapter=config.ble_adapter, timeout=config.ble_timeout)
    previous.gatttool = config.gatttool
    previous.adapter = config.ble_adapter
    previous.timeout = config.ble_timeout
    return previous


def emulator_args(spec: EmulatorSpec) -> list[str]:
    """:mod:`camrig.emulator.legacy_gopro`'s arguments: the common ones, ``--model`` (how it names
    new files), and ``--idle-wifi-off SECONDS`` when the rig wants the Wi-Fi to go off although polled."""
    args = spec.common_args() + ["--model", spec.model]
    if spec.idle_wifi_off:
        args += ["--idle-wifi-off", str(spec.idle_wifi_off)]
    return args + list(spec.extra)


def build(config: Config, cam: CameraConfig, shared: Shared) -> CameraParts:
    """A HERO5–8's parts: gpControl over its Link, BLE Wi-Fi-on through the shared gatttool
    runner (or bleak with ``LEGACY_BLE = "bleak"``), Wake-on-LAN. Raises ConfigError naming the
    camera when bleak is asked for and missing."""
    from ...http import HttpClient
    from ...link import make_link
    from ...wake import PROBE_TIMEOUTS, association_check
    from ..base import CameraParts
    from .driver import GpControl
    from .waker import LegacyWaker

    ble = shared.family.get(FAMILY.name)
    if config.legacy_ble == "bleak" and cam.bt_mac:
        from ...ble.loop import client_factory
        from .bleak_ble import BleakLegacyBle

        factory = client_factory("bleak", adapter=config.ble_adapter, timeout=config.ble_timeout, camera=cam.name)
        ble = BleakLegacyBle(factory, shared.ble_loop(), timeout=config.ble_timeout)
    link = make_link(cam, config.network_mode, route_table=shared.route_table)
    http = HttpClient(link, port=cam.http_port, timeout=config.http_timeout,
                      connect_timeout=config.connect_timeout)
    driver = GpControl(http, cam.name)
    associated = association_check(config, cam, link)
    waker = LegacyWaker(cam, link, driver.probe, ble=ble if cam.bt_mac else None,
                        associated=associated, timeout=config.wake_timeout, probe_timeouts=PROBE_TIMEOUTS)
    return CameraParts(cam, link, http, driver, waker)


FAMILY = Family(
    name="gopro_legacy",
    title="gpControl",
    models=LEGACY_MODELS,
    controls=("wifi",),
    default_http_port=80,                 # goprowifihack HERO4/HERO5 notes
    default_address="10.5.5.9",
    check_control=_check_control,
    build=build,
    shared=_shared_gatttool,
    emulator="camrig.emulator.legacy_gopro",
    emulator_args=emulator_args,
)
