"""Legacy (HERO5–8) BLE Wi-Fi-on through bleak instead of gatttool (``LEGACY_BLE = "bleak"``).

It borrows the Open GoPro GATT session (:class:`camrig.cameras.open_gopro.ble.OpenGoProBle`,
without its readiness poll or status registration): HERO5–8 take the same ``03 17 01 01`` on
GP-0072 and answer on GP-0073 (DESIGN.md field facts). That session is imported when a legacy
camera is built with ``LEGACY_BLE = "bleak"``, never at import time; the loop it runs on is the
shared :class:`camrig.ble.loop.BleLoop`.
"""

from __future__ import annotations

import threading

from ...ble.loop import BleLoop


class BleakLegacyBle:
    """Legacy (HERO5–8) BLE Wi-Fi-on through the BLE session instead of gatttool
    (``LEGACY_BLE = "bleak"``): same ``wifi_on(bt_mac, camera=, stop=)`` as
    :class:`camrig.cameras.gopro_legacy.gatttool.GatttoolBle`. Writes ``03 17 01 01`` to GP-0072 by UUID and
    disconnects (legacy cameras answer ``02 17 00`` on GP-0073 too, DESIGN.md field facts).
    """

    def __init__(self, factory, loop: BleLoop, *, timeout: float = 10.0):
        self.factory = factory
        self.loop = loop
        self.timeout = timeout

    def wifi_on(self, bt_mac: str, *, camera: str, stop: threading.Event | None = None,
                deadline: float | None = None) -> None:
        # ``deadline`` (the wake's) is not needed here: one connection, bounded by ``timeout``.
        # No readiness poll: Get Hardware Info (0x3C) is an Open GoPro command (HERO9+).
        from ..open_gopro.ble import OpenGoProBle

        session = OpenGoProBle(bt_mac, camera=camera, factory=self.factory, loop=self.loop,
                               timeout=self.timeout, register=(), wait_ready=False)
        try:
            session.wifi_ap(True)
        finally:
            session.disconnect()
