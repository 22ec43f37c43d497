"""Waking an Open GoPro camera (HERO9–13): BLE connect, Wi-Fi AP on, probe; no Wake-on-LAN.

Why this order (Open GoPro BLE spec, "BLE Setup" → "Advertisements": a sleeping camera keeps
advertising for 8 h and a BLE connection makes it boot; DESIGN.md field facts: Open GoPro
cameras do not wake on LAN):

- ``control = "ble"``: connect (wakes the camera); the worker then reads status over BLE
  until the camera is ready.
- ``control = "wifi"``: if the adapter is not associated with the camera's AP, or the camera
  does not answer the probe, connect over BLE (wakes it) and turn its AP on
  (``03 17 01 01``); wait for association (wpa_supplicant does it); probe
  ``/gopro/camera/keep_alive`` until it answers.
- ``control = "usb"``: probe; when silent and a bt_mac is known, connect over BLE to wake it.

Then :meth:`driver.connect` enables wired control (USB) and claims external control (HERO10+).
A HERO10+ on Wi-Fi or USB lets its BLE connection go afterwards (BlueZ keeps ~4 per adapter);
a HERO9 keeps it for its shutter.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...errors import CameraRejected, CameraUnreachable, CamRigError, LinkError, WakeFailed
from ...wake import wait_for_association
from .models import BLE_SHUTTER_MODELS

log = logging.getLogger(__name__)


class OpenGoProWaker:
    """Wake one Open GoPro camera. ``driver`` is its OpenGoProHttp / OpenGoProBleDriver,
    ``ble`` its OpenGoProBle session (None without bt_mac), ``associated`` a callable → bool
    (None: no interface to ask), ``timeout`` seconds for the whole wake."""

    def __init__(self, camera, driver, *, ble=None, associated: Callable[[], bool] | None = None,
                 timeout: float = 30.0, probe_window: float = 3.0, clock=time.monotonic):
        self.camera = camera
        self.driver = driver
        self.ble = ble
        self.associated = associated
        self.timeout = timeout
        self.probe_window = probe_window
        self.clock = clock

    def __repr__(self) -> str:
        return (f"<OpenGoProWaker camera={self.camera.name} control={self.camera.control} "
                f"ble={'yes' if self.ble else 'no'}>")

    def wake(self, stop: threading.Event, on_step: Callable[[str], None] = lambda s: None) -> None:
        """Bring the camera to answering. Raises WakeFailed naming the camera and the step."""
        deadline = self.clock() + self.timeout
        name = self.camera.name
        control = self.camera.control
        if control == "ble":
            on_step("ble connect")
            self.ble.connect()                       # BleError is a WakeFailed
            self._connect_driver()
            return
        used_ble = False
        if control == "wifi" and self.associated is not None and not self.associated():
            self._ble_wake(stop, on_step, wifi=True)
            used_ble = True
            self._wait_association(self.associated, deadline, stop, on_step)
        window = deadline if used_ble or self.ble is None else min(deadline, self.clock() + self.probe_window)
        if not self._probe(window, stop, on_step):
            if used_ble or self.ble is None:
                raise WakeFailed(f"no answer on {self.camera.address}:{self.camera.http_port} within "
                                 f"{self.timeout:.0f} s" + ("" if self.ble else " (no bt_mac to wake it over BLE)"),
                                 camera=name)
            log.info("%s: no answer over %s; waking over BLE", name, control)
            self._ble_wake(stop, on_step, wifi=control == "wifi")
            if control == "wifi" and self.associated is not None:
                self._wait_association(self.associated, deadline, stop, on_step)
            if not self._probe(deadline, stop, on_step):
                raise WakeFailed(f"woken over BLE but no answer on {self.camera.address}:"
                                 f"{self.camera.http_port} within {self.timeout:.0f} s", camera=name)
        self._connect_driver()
        if self.ble is not None and self.camera.model not in BLE_SHUTTER_MODELS:
            self.ble.disconnect()

    def _ble_wake(self, stop, on_step, *, wifi: bool) -> None:
        if self.ble is None:
            raise WakeFailed("the camera's Wi-Fi is off and it has no bt_mac: cannot wake it over BLE",
                             camera=self.camera.name)
        if stop.is_set():
            raise WakeFailed("stopping", camera=self.camera.name)
        on_step("ble connect")
        self.ble.connect()
        if wifi:
            on_step("ble wifi-on")
            self.ble.wifi_ap(True)

    def _wait_association(self, associated: Callable[[], bool], deadline, stop, on_step) -> None:
        on_step("association")
        wait_for_association(associated, deadline, stop, camera=self.camera.name,
                             iface=self.camera.iface, timeout=self.timeout, clock=self.clock)

    def _probe(self, deadline, stop, on_step) -> bool:
        on_step("probe")
        last: CamRigError | None = None
        while not stop.is_set():
            try:
                self.driver.probe()
                return True
            except (CameraUnreachable, CameraRejected, LinkError) as exc:
                last = exc
            if self.clock() >= deadline:
                if last:
                    log.info("%s: last probe error: %s", self.camera.name, last)
                return False
            stop.wait(0.2)
        raise WakeFailed("stopping", camera=self.camera.name)

    def _connect_driver(self) -> None:
        try:
            self.driver.connect()
        except (CameraUnreachable, CameraRejected, LinkError) as exc:
            raise WakeFailed(f"answered, but connecting failed: {exc}", camera=self.camera.name) from None
