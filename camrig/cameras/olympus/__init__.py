"""Olympus / OM System bodies (E-M1, E-M5, PEN, TG, OM-1; the Olympus Air) over their Wi-Fi AP.

One family for every OI.Share body (``model = "olympus"``): each is an access point at
192.168.0.10 (OPC Communication Protocol 1.0a p. 12), so it fits the rig like a HERO5–8 — its
own adapter, ``bind`` or ``route`` — at another address. The protocol (:mod:`.driver`), the
command list every request is checked against (:mod:`.commandlist`), the card (:mod:`.media`)
and the waker that cannot wake (:mod:`.waker`) live here; the emulated body is
:mod:`camrig.emulator.olympus`. What is verified and what is not: docs/models.md, "Olympus".

Config::

    {"name": "olympus", "model": "olympus", "iface": "wlan3"}            # address 192.168.0.10
    {"name": "olympus", "model": "olympus", "iface": "wlan3", "address": "192.168.0.10"}

``CAMERA_ADDRESS`` (the GoPros' shared address) does not apply: an Olympus is always at
192.168.0.10 unless its entry says otherwise. ``bt_mac`` and ``wifi_mac`` are not needed; a
``bt_mac`` is ignored (nothing is sent over BLE: an Olympus cannot be woken that way either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..registry import EmulatorSpec, Family

if TYPE_CHECKING:
    from ...config import CameraConfig, Config
    from ..base import CameraParts, Shared

MODELS = ("olympus",)
#: OPC 1.0a p. 12: "The camera's IP address is static, 192.168.0.10."
DEFAULT_ADDRESS = "192.168.0.10"




def build(config: Config, cam: CameraConfig, shared: Shared) -> CameraParts:
    """An Olympus's parts: its Link (bind/route/address as configured), a
    :class:`~.driver.SerialHttpClient` (one request at a time), :class:`~.driver.OlympusDriver`
    and :class:`~.waker.OlympusWaker` (which waits for the camera's AP: it cannot be woken)."""
    from ...link import make_link
    from ...wake import association_check
    from ..base import CameraParts
    from .driver import OlympusDriver, SerialHttpClient
    from .waker import OlympusWaker

    link = make_link(cam, config.network_mode, route_table=shared.route_table)
    http = SerialHttpClient(link, port=cam.http_port, timeout=config.http_timeout,
                            connect_timeout=config.connect_timeout)
    driver = OlympusDriver(http, cam.name)
    associated = association_check(config, cam, link)
    waker = OlympusWaker(cam, link, driver.probe, associated=associated, timeout=config.wake_timeout)
    return CameraParts(cam, link, http, driver, waker)


def emulator_args(spec: EmulatorSpec) -> list[str]:
    """:mod:`camrig.emulator.olympus`'s arguments for one emulated body: name, control socket,
    listen address, HTTP port, the netdev its Wi-Fi takes down, answer delay; ``--start wifi-off``
    only when the rig asks for it (an Olympus cannot be woken, so "asleep" starts it on); the
    command list alternates OM-D, PEN-F with ``k`` unless ``spec.extra`` names one (``--list``)."""
    args = ["--name", spec.name, "--control", spec.control_socket, "--listen", spec.listen,
            "--port", str(spec.http_port), "--delay-ms", str(spec.delay_ms)]
    if spec.netdev:
        args += ["--netdev", spec.netdev]
    if spec.start == "wifi-off":
        args += ["--start", "wifi-off"]
    if "--list" not in spec.extra:
        args += ["--list", "OM-D" if spec.k % 2 else "PEN-F"]
    return args + list(spec.extra)


FAMILY = Family(
    name="olympus",
    title="Olympus OI.Share",
    models=MODELS,
    controls=("wifi",),
    default_http_port=80,                 # OPC 1.0a p. 13, Table 2-1: commands over HTTP, port 80
    default_address=DEFAULT_ADDRESS,
    fixed_address=True,
    build=build,
    emulator="camrig.emulator.olympus",
    emulator_args=emulator_args,
)
