"""Waking a legacy GoPro: association check, BLE Wi-Fi-on, Wake-on-LAN, probe.

The order, and why (DESIGN.md "Field facts"; KonradIT/goprowifihack HERO5 notes):

1. Is the adapter associated with the camera's AP? ``iw dev IFACE link``
   prints ``Connected to <BSSID>`` (the BSSID is the camera's Wi-Fi MAC). An
   interface without nl80211 (veth in the test rig, a wired link) makes iw say
   ``nl80211 not found.``; then operstate ``up`` counts as associated.
2. If not: the camera's Wi-Fi is off (a HERO5–8 turns it off ~10 min after it
   came up, polled or not: goprowifihack #101, #105). BLE Wi-Fi-on
   (``03 17 01 01``) turns it on; association
   then takes seconds (wpa_supplicant does it, not us).
3. Wake-on-LAN, magic packet for the Wi-Fi MAC, UDP port 9 (goprowifihack
   #65: ``wol -i 10.5.5.9 -p 9``; per-camera ``wol_port`` exists for test rigs,
   no source reports another port on a camera), to 10.5.5.9 and to 10.5.5.255: a
   sleeping camera answers no ARP, so the unicast may never leave while the
   broadcast does. Only useful while the camera's Wi-Fi is up.
4. Probe ``/gp/gpControl/command/system/locate?p=0`` (harmless) until HTTP 200.

Every step has a deadline; nothing here blocks longer than the wake timeout,
and the caller's ``stop`` event cuts every wait short.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import wakeonlan

from .errors import CamRigError, CameraRejected, CameraUnreachable, LinkError, WakeFailed
from .link import Link

log = logging.getLogger(__name__)

_IW_CONNECTED = re.compile(r"^Connected to ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5})", re.MULTILINE)
_IW_SSID = re.compile(r"^\s*SSID: (.*)$", re.MULTILINE)


@dataclass(frozen=True)
class IwLink:
    """What ``iw dev IFACE link`` said: ``connected`` (None = iw could not tell), ``bssid``, ``ssid``."""

    connected: bool | None
    bssid: str | None = None
    ssid: str | None = None


def parse_iw_link(text: str) -> IwLink:
    """Parse ``iw dev IFACE link`` output (iw 5.x/6.x).

    ``Connected to aa:bb:cc:dd:ee:ff (on wlan1)`` + ``SSID: GP24784461`` →
    connected; ``Not connected.`` → not; anything else (``nl80211 not found.``,
    ``command failed: No such device (-19)``) → ``connected=None``: iw cannot
    tell, use operstate.
    """
    text = text[:65536]
    m = _IW_CONNECTED.search(text)
    if m:
        s = _IW_SSID.search(text)
        return IwLink(True, m.group(1).lower(), s.group(1).strip() if s else None)
    if re.search(r"^Not connected\.?\s*$", text, re.MULTILINE):
        return IwLink(False)
    return IwLink(None)


def read_operstate(iface: str, *, sysfs: Path = Path("/sys/class/net")) -> str | None:
    """The kernel's RFC 2863 operstate of ``iface`` (``up``, ``down``, ``lowerlayerdown``…); None if missing."""
    try:
        return (sysfs / iface / "operstate").read_text().strip()
    except OSError:
        return None


def is_associated(iface: str, bssid: str | None, *, iw: str = "iw", timeout: float = 2.0,
                  run=subprocess.run, sysfs: Path = Path("/sys/class/net")) -> bool:
    """True when ``iface`` is associated with the AP ``bssid`` (the camera's Wi-Fi MAC).

    Falls back to operstate ``up`` where iw cannot tell (no nl80211, iw not
    installed). A missing interface is not associated. Never raises.
    """
    state = read_operstate(iface, sysfs=sysfs)
    if state is None:
        return False
    try:
        res = run([iw, "dev", iface, "link"], capture_output=True, text=True, timeout=timeout)
        info = parse_iw_link((res.stdout or "") + (res.stderr or ""))
    except (OSError, subprocess.TimeoutExpired):
        info = IwLink(None)
    if info.connected is None:
        return state == "up"
    if not info.connected:
        return False
    if bssid and info.bssid != bssid.lower():
        log.warning("%s associated with %s, not the camera's AP %s", iface, info.bssid, bssid)
        return False
    return True


def magic_packet(mac: str) -> bytes:
    """The 102-byte Wake-on-LAN magic packet for ``mac``: 6 × 0xFF, then the MAC 16 times."""
    return wakeonlan.create_magic_packet(mac)


def send_wake_on_lan(link: Link, mac: str, port: int = 9) -> list[str]:
    """Send the magic packet for ``mac`` to the camera's address and its /24 broadcast.

    Goes out through ``link`` (bound to the camera's interface). Returns the
    destinations sent to; raises WakeFailed naming the camera when none could
    be sent.
    """
    packet = magic_packet(mac)
    addr = ipaddress.IPv4Address(link.address)
    targets = [str(addr)]
    if not addr.is_loopback:
        targets.append(str(ipaddress.IPv4Network(f"{addr}/24", strict=False).broadcast_address))
    sent, errors = [], []
    try:
        sock = link.udp_socket()
    except LinkError as exc:
        raise WakeFailed(f"Wake-on-LAN: {exc}", camera=link.camera) from None
    with sock, link.exchange():
        for target in targets:
            try:
                sock.sendto(packet, (target, port))
                sent.append(f"{target}:{port}")
            except OSError as exc:
                errors.append(f"{target}:{port}: {exc.strerror}")
    if not sent:
        raise WakeFailed("Wake-on-LAN not sent: " + "; ".join(errors), camera=link.camera)
    return sent


def wait_for_association(associated: Callable[[], bool], deadline: float, stop: threading.Event, *,
                         camera: str, iface: str | None, timeout: float, clock=time.monotonic) -> None:
    """Poll ``associated()`` every 0.1 s until True, after BLE Wi-Fi-on.

    ``deadline`` is on ``clock`` (monotonic seconds); ``timeout`` is only for
    the message. Raises WakeFailed naming the camera when ``stop`` is set or the
    deadline passes (wpa_supplicant needs seconds to associate after the AP
    comes up: DESIGN.md "Timing").
    """
    while not associated():
        if stop.is_set():
            raise WakeFailed("stopping", camera=camera)
        if clock() >= deadline:
            raise WakeFailed(f"{iface} did not associate with the camera's AP within {timeout:.0f} s "
                             "of BLE Wi-Fi-on", camera=camera)
        stop.wait(0.1)


class LegacyWaker:
    """Wake one legacy GoPro (HERO5–8): BLE Wi-Fi-on if needed, Wake-on-LAN, probe.

    ``ble`` is a :class:`camrig.ble.gatttool.GatttoolBle` (or None when the
    camera has no ``bt_mac``); ``probe`` is a callable that raises
    CameraUnreachable/CameraRejected until the camera answers (the driver's
    ``locate`` probe); ``associated`` is a callable → bool. ``timeout``
    seconds bound the whole wake.
    """

    def __init__(self, camera, link: Link, probe: Callable[[], None], *, ble=None,
                 associated: Callable[[], bool] | None = None, timeout: float = 30.0,
                 wol_interval: float = 1.0, clock=time.monotonic):
        self.camera = camera
        self.link = link
        self.probe = probe
        self.ble = ble
        self.associated = associated or (lambda: True)
        self.timeout = timeout
        self.wol_interval = wol_interval
        self.clock = clock

    def __repr__(self) -> str:
        return f"<LegacyWaker camera={self.camera.name} ble={'yes' if self.ble else 'no'}>"

    def wake(self, stop: threading.Event, on_step: Callable[[str], None] = lambda s: None) -> None:
        """Bring the camera to answering HTTP. Raises WakeFailed (naming the camera and the step).

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
        next_wol = 0.0
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
            try:
                self.probe()
                return True
            except (CameraUnreachable, CameraRejected, LinkError) as exc:
                last_error = exc
            stop.wait(0.2)
        raise WakeFailed("stopping", camera=self.camera.name)
