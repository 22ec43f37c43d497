"""GoPro HERO9–13: the Open GoPro API, over HTTP (Wi-Fi AP or USB-C, port 8080) or BLE alone.

Parts: :mod:`.driver` (:class:`~.driver.OpenGoProHttp`, :class:`~.driver.OpenGoProBleDriver`),
:mod:`.waker`, :mod:`.ble` (the BLE session on the shared :class:`camrig.ble.loop.BleLoop`),
:mod:`.protocol` (BLE framing, with sources) and :mod:`.models`. :data:`FAMILY` is this
family's registry entry (:mod:`camrig.cameras.registry`); the parts are imported only when a
camera is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import EmulatorSpec, Family, Problem
from .models import BLE_SHUTTER_MODELS, OPEN_GOPRO_MODELS

if TYPE_CHECKING:
    from ...config import CameraConfig, Config
    from ..base import CameraParts, Shared


def _check_control(model: str, control: str) -> str | None:
    if control == "usb" and model == "hero9":
        # /gopro/camera/control/wired_usb lists HERO10 Black and later only (OpenAPI
        # x-supported-cameras); a HERO9 on USB is "GoPro Connect", the Wi-Fi API over USB
        # Ethernet (goprowifihack HERO9/GoPro-Connect.md), which this daemon does not drive.
        return ("a HERO9 has no Open GoPro wired USB control (the API lists HERO10 and later); on "
                "USB it is 'GoPro Connect', which this daemon does not drive: use control 'wifi' or 'ble'")
    return None


def _validate(cam: CameraConfig) -> list[Problem]:
    if cam.bt_mac is None and cam.model in BLE_SHUTTER_MODELS:
        return [("bt_mac", f"is required for a {cam.model.upper()}: it cannot start or stop "
                 "recording over Wi-Fi or USB, only over BLE", None)]
    return []


def _holds_ble(cam: CameraConfig) -> bool:
    """Recording over BLE (control 'ble', every HERO9) keeps the connection open: keep-alive
    every 3 s, pushed status. Wi-Fi/USB HERO10+ connect only briefly."""
    return cam.control == "ble" or cam.model in BLE_SHUTTER_MODELS


def emulator_args(spec: EmulatorSpec) -> list[str]:
    """:mod:`camrig.emulator.open_gopro`'s arguments: the common ones, ``--model``,
    ``--auto-sleep SECONDS`` and ``--usb`` for a camera on its USB-C port."""
    args = spec.common_args() + ["--model", spec.model, "--auto-sleep", str(spec.auto_sleep)]
    if spec.control == "usb":
        args.append("--usb")
    return args + list(spec.extra)


def build(config: Config, cam: CameraConfig, shared: Shared) -> CameraParts:
    """A HERO9–13's parts: Open GoPro over HTTP (Wi-Fi or USB) or over BLE alone, with a BLE
    session on the shared loop when the camera has a bt_mac. Raises ConfigError naming the
    camera when BLE is needed and bleak/BlueZ are missing."""
    from ...ble.loop import client_factory
    from ...http import HttpClient
    from ...link import make_link
    from ...wake import association_check
    from ..base import CameraParts
    from .ble import OpenGoProBle
    from .driver import OpenGoProBleDriver, OpenGoProHttp
    from .waker import OpenGoProWaker

    session = None
    if cam.bt_mac:
        factory = client_factory(config.ble_backend, adapter=config.ble_adapter, emu_dir=config.ble_emu_dir,
                                 timeout=config.ble_timeout, camera=cam.name)
        session = OpenGoProBle(cam.bt_mac, camera=cam.name, factory=factory, loop=shared.ble_loop(),
                               timeout=config.ble_timeout)
    # USB and BLE cameras have an address of their own (or none): plain sockets.
    mode = config.network_mode if cam.control == "wifi" else "address"
    link = make_link(cam, mode, route_table=shared.route_table)
    http = HttpClient(link, port=cam.http_port, timeout=config.http_timeout,
                      connect_timeout=config.connect_timeout)
    keep_alive = None if config.keep_awake is None else 3.0
    driver: OpenGoProBleDriver | OpenGoProHttp
    if cam.control == "ble":
        driver = OpenGoProBleDriver(session, cam.name, cam.model, keep_alive_interval=keep_alive)
    else:
        driver = OpenGoProHttp(http, cam.name, cam.model, usb=cam.control == "usb",
                               ble=session, keep_alive_interval=keep_alive)
    associated = association_check(config, cam, link)
    waker = OpenGoProWaker(cam, driver, ble=session, associated=associated, timeout=config.wake_timeout)
    return CameraParts(cam, link, http, driver, waker, ble=session)


FAMILY = Family(
    name="open_gopro",
    title="Open GoPro",
    models=OPEN_GOPRO_MODELS,
    controls=("wifi", "usb", "ble"),
    default_http_port=8080,               # openapi_http_2.0.json, info.description "Socket Address"
    default_address="10.5.5.9",
    check_control=_check_control,
    validate=_validate,
    holds_ble=_holds_ble,
    build=build,
    emulator="camrig.emulator.open_gopro",
    emulator_args=emulator_args,
)
