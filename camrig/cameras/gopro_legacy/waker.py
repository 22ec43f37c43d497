"""Waking a legacy GoPro (HERO5–8): association check, BLE Wi-Fi-on, Wake-on-LAN, probe.

The order and its sources are in :mod:`camrig.wake` (the link-level steps this waker shares with
the other families live there).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ...errors import AdapterMismatch, CameraRejected, CameraUnreachable, CamRigError, LinkError, WakeFailed
from ...link import Link
from ...wake import PROBE_INTERVAL_S, send_wake_on_lan, wait_for_association

log = logging.getLogger("camrig.wake")


class LegacyWaker:
    """Wake one legacy GoPro (HERO5–8): BLE Wi-Fi-on if needed, Wake-on-LAN, probe.

    ``ble`` is a :class:`camrig.cameras.gopro_legacy.gatttool.GatttoolBle` (or None when the
    camera has no ``bt_mac``); ``probe`` is a callable that raises
    CameraUnreachable/CameraRejected until the camera answers (the driver's
    ``locate`` probe); ``associated`` is a callable → bool that may raise
    AdapterMismatch (:meth:`AdapterGuard.associated`). ``timeout`` seconds bound
    the whole wake. ``probe_timeouts`` (seconds, e.g. :data:`PROBE_TIMEOUTS`) are
    passed to ``probe(timeout=…)`` one per attempt, the last repeated; None calls
    ``probe()`` as it is.
    """

    def __init__(self, camera, link: Link, probe: Callable[..., None], *, ble=None,
                 associated: Callable[[], bool] | None = None, timeout: float = 30.0,
                 wol_interval: float = 1.0, probe_timeouts: tuple[float, ...] | None = None,
                 clock=time.monotonic):
        self.camera = camera
        self.link = link
        self.probe = probe
        self.ble = ble
        self.associated = associated or (lambda: True)
        self.timeout = timeout
        self.wol_interval = wol_interval
        self.probe_timeouts = probe_timeouts
        self.clock = clock

    def __repr__(self) -> str:
        return f"<LegacyWaker camera={self.camera.name} ble={'yes' if self.ble else 'no'}>"

    def check_adapter(self) -> None:
        """Raise AdapterMismatch when the camera's adapter is on another camera's AP (the worker
        asks before it starts a wake); nothing when the link has no AdapterGuard."""
        guard = getattr(self.link, "guard", None)
        if guard is not None:
            guard.verify(need_carrier=False)   # no carrier: Wi-Fi off, which the wake is for

    def wake(self, stop: threading.Event, on_step: Callable[[str], None] = lambda s: None) -> None:
        """Bring the camera to answering HTTP. Raises WakeFailed (naming the camera and the step),
        or AdapterMismatch (before anything is sent) when the adapter is on another camera's AP.

        ``on_step`` is told each step ("ble wifi-on", "association", "wake-on-lan")
        for logs and the status file. Returns early, raising WakeFailed, when
        ``stop`` is set.
        """
        deadline = self.clock() + self.timeout
        name = self.camera.name
        ble_done = False
        if not self.associated():
            self._ble_wifi_on(stop, on_step, deadline)
            ble_done = True
            self._wait_association(deadline, stop, on_step)
        if self._wol_and_probe(deadline if ble_done else self.clock() + min(self.timeout, 8.0), stop, on_step):
            return
        if not ble_done and self.ble is not None:
            # Associated (or no way to tell, as on an address link) yet silent:
            # the camera's Wi-Fi may be off behind a link that looks up.
            log.info("%s: no answer to Wake-on-LAN; trying BLE Wi-Fi-on", name)
            self._ble_wifi_on(stop, on_step, deadline)
            self._wait_association(deadline, stop, on_step)
            if self._wol_and_probe(deadline, stop, on_step):
                return
        raise WakeFailed(f"no answer to Wake-on-LAN and probe within {self.timeout:.0f} s", camera=name)

    def _ble_wifi_on(self, stop, on_step, deadline):
        if self.ble is None:
            raise WakeFailed("Wi-Fi is off and the camera has no bt_mac: cannot turn it on over BLE",
                             camera=self.camera.name)
        on_step("ble wifi-on")
        self.ble.wifi_on(self.camera.bt_mac, camera=self.camera.name, stop=stop, deadline=deadline)

    def _wait_association(self, deadline, stop, on_step):
        on_step("association")
        wait_for_association(self.associated, deadline, stop, camera=self.camera.name,
                             iface=self.link.iface, timeout=self.timeout, clock=self.clock)

    def _wol_and_probe(self, deadline, stop, on_step) -> bool:
        on_step("wake-on-lan")
        if self.camera.wifi_mac:
            # The link is up and (where iw can tell) on this camera's AP: its MAC is the
            # camera's, so the first packets need not wait for a late ARP answer.
            self.link.pin_neighbour(self.camera.wifi_mac)
        next_wol = 0.0
        attempt = 0
        last_error: CamRigError | None = None
        while not stop.is_set():
            now = self.clock()
            if now >= deadline:
                if last_error:
                    log.info("%s: last probe error: %s", self.camera.name, last_error)
                return False
            if now >= next_wol and self.camera.wifi_mac:
                try:
                    send_wake_on_lan(self.link, self.camera.wifi_mac, self.camera.wol_port)
                except WakeFailed as exc:
                    last_error = exc
                next_wol = now + self.wol_interval
            started = self.clock()
            try:
                if self.probe_timeouts:
                    self.probe(timeout=self.probe_timeouts[min(attempt, len(self.probe_timeouts) - 1)])
                else:
                    self.probe()
                return True
            except AdapterMismatch:
                raise
            except (CameraUnreachable, CameraRejected, LinkError) as exc:
                last_error = exc
            attempt += 1
            # A refusal comes back at once: at most one probe per 0.1 s. A probe that timed out
            # has waited already: the next goes at once (its SYN is what reaches a camera that
            # has just turned ARP on).
            stop.wait(max(0.0, PROBE_INTERVAL_S - (self.clock() - started)))
        raise WakeFailed("stopping", camera=self.camera.name)
