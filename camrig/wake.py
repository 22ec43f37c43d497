"""Link-level waking, shared by the camera families: the association check, Wake-on-LAN, probes.

What lives here does not know a camera protocol: :class:`AdapterGuard` (is this adapter
associated with this camera's AP, or with another camera's?), ``iw``/sysfs parsing,
:func:`send_wake_on_lan`, :func:`wait_for_association`, :data:`PROBE_TIMEOUTS` and
:func:`association_check`, the AdapterGuard an assembly hands to a camera's waker and Link. Each
family's waker (:mod:`camrig.cameras.gopro_legacy.waker`, :mod:`camrig.cameras.open_gopro.waker`)
puts these steps in its own order.

The legacy order, and why (DESIGN.md "Field facts"; KonradIT/goprowifihack HERO5 notes):

1. Is the adapter associated with the camera's AP? ``iw dev IFACE link``
   prints ``Connected to <BSSID>`` (the BSSID is the camera's Wi-Fi MAC). An
   interface without nl80211 (veth in the test rig, a wired link) makes iw say
   ``nl80211 not found.``; then operstate ``up`` counts as associated.
   Associated with *another* AP (two adapters named the other way round) is an
   :class:`~camrig.errors.AdapterMismatch`: nothing is woken or sent
   (:class:`AdapterGuard`, also consulted before every HTTP exchange).
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
   Before the first packet the camera's neighbour (ARP) entry is set from its
   ``wifi_mac`` (:meth:`camrig.link.Link.pin_neighbour`): a waking camera answers
   ARP late and Linux asks again only after ``retrans_time`` (1 s), which cost
   ~0.8 s per wake. Each probe then has a short timeout that grows
   (:data:`PROBE_TIMEOUTS`), so a SYN lost to a camera still booting is sent
   again within 0.1 s rather than after TCP's 1 s retransmission.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import wakeonlan

from .errors import AdapterMismatch, CameraUnreachable, LinkError, WakeFailed
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


#: operstates in which an adapter cannot be associated: no carrier (cfg80211 turns the carrier
#: off when a station disconnects). iw is not asked then.
_NO_CARRIER = frozenset({"down", "lowerlayerdown", "notpresent"})


@dataclass(frozen=True)
class LinkState:
    """What sysfs says about an interface, cheaply (three small reads, no subprocess).

    ``ifindex`` changes when another device takes the name (adapters renamed by udev),
    ``carrier_changes`` on every carrier up/down, i.e. on every association and
    disassociation of a Wi-Fi station (Documentation/ABI/testing/sysfs-class-net:
    ``carrier_changes``, ``ifindex``, ``operstate``). While all three are unchanged the
    adapter is still associated with the AP ``iw`` last named, so iw is not asked again.
    """

    ifindex: str
    carrier_changes: str
    operstate: str


def read_link_state(iface: str, *, sysfs: Path = Path("/sys/class/net")) -> LinkState | None:
    """``iface``'s :class:`LinkState`, or None when the interface does not exist."""
    operstate = read_operstate(iface, sysfs=sysfs)
    if operstate is None:
        return None
    values = []
    for name in ("ifindex", "carrier_changes"):
        try:
            values.append((sysfs / iface / name).read_text().strip())
        except OSError:
            values.append("?")
    return LinkState(values[0], values[1], operstate)


def run_iw_link(iface: str, *, iw: str = "iw", timeout: float = 2.0, run=subprocess.run) -> IwLink:
    """Run ``iw dev IFACE link`` (argv list, ``timeout`` seconds) and parse it; never raises
    (iw missing or hung → ``IwLink(None)``: cannot tell)."""
    try:
        res = run([iw, "dev", iface, "link"], capture_output=True, text=True, timeout=timeout)
        return parse_iw_link((res.stdout or "") + (res.stderr or ""))
    except (OSError, subprocess.TimeoutExpired):
        return IwLink(None)


class AdapterGuard:
    """Is this camera's Wi-Fi adapter associated with this camera's AP, and no other?

    Every GoPro AP is 10.5.5.9, so an adapter associated with another camera's AP (udev
    naming two USB adapters the other way round, a wpa_supplicant config on the wrong
    interface) reaches the other camera under this camera's name: its shutter, its
    Wake-on-LAN, and BLE Wi-Fi-on sent to this camera's Bluetooth address while waiting for
    an association that can never match. The guard compares the BSSID that ``iw dev IFACE
    link`` reports (``Connected to <BSSID>``, iw/link.c) with the camera's ``wifi_mac`` (its
    AP's BSSID); without a ``wifi_mac`` it compares the SSID with ``ssid``. It asks iw at
    first contact and again whenever the interface's :class:`LinkState` changed (a
    re-association, a renamed adapter), so the check before every exchange costs three sysfs
    reads.

    ``peers`` maps every other camera's BSSID (lower case) and SSID to ``(name, iface)``, to
    name whose AP the adapter is on and to tell two swapped adapters apart. A mismatch raises
    :class:`~camrig.errors.AdapterMismatch` and is logged once per change (not on every
    poll); the return to the right AP is logged once too.
    """

    def __init__(self, camera: str, iface: str, wifi_mac: str | None, *, ssid: str | None = None,
                 peers: dict[str, tuple[str, str | None]] | None = None, iw: str = "iw",
                 timeout: float = 2.0, run=subprocess.run, sysfs: Path = Path("/sys/class/net")):
        self.camera = camera
        self.iface = iface
        self.wifi_mac = wifi_mac.lower() if wifi_mac else None
        self.ssid = ssid
        self.peers = {k.lower() if _is_mac(k) else k: v for k, v in (peers or {}).items()}
        self._iw = iw
        self._timeout = timeout
        self._run = run
        self._sysfs = sysfs
        self._lock = threading.Lock()
        self._seen: tuple[LinkState, IwLink] | None = None
        self._reported: str | None = None          # the mismatch last logged (its message)
        self._ssid_warned: str | None = None
        #: The current mismatch (None: none seen at the last look), for ``check`` and tests.
        self.mismatch: AdapterMismatch | None = None

    def __repr__(self) -> str:
        return f"<AdapterGuard {self.camera} {self.iface} expects {self.wifi_mac or self.ssid}>"

    def _look(self) -> tuple[LinkState | None, IwLink]:
        """The interface's state and what iw says, iw asked only when the state changed."""
        state = read_link_state(self.iface, sysfs=self._sysfs)
        if state is None:
            return None, IwLink(False)
        if state.operstate in _NO_CARRIER:
            return state, IwLink(False)
        if self._seen is not None and self._seen[0] == state:
            return state, self._seen[1]
        info = run_iw_link(self.iface, iw=self._iw, timeout=self._timeout, run=self._run)
        # "Not connected" with a carrier (wpa_supplicant mid-handshake) is asked again next time.
        self._seen = (state, info) if info.connected is not False else None
        return state, info

    def _judge(self, info: IwLink) -> None:
        """Raise AdapterMismatch when ``info`` names another AP than the camera's; log changes."""
        if not info.connected:
            return
        found = info.bssid or ""
        if self.wifi_mac:
            wrong = found != self.wifi_mac
            if not wrong and self.ssid and info.ssid and info.ssid != self.ssid and self._ssid_warned != info.ssid:
                self._ssid_warned = info.ssid
                log.warning("%s: %s is on its AP %s, whose SSID is %r, not the configured ssid %r "
                            "(renamed camera?); going on: the BSSID decides", self.camera, self.iface,
                            found, info.ssid, self.ssid)
        elif self.ssid and info.ssid:
            wrong = info.ssid != self.ssid
        else:
            return                                   # nothing to compare with
        if not wrong:
            if self._reported:
                log.warning("%s: %s is associated with the camera's own AP %s again", self.camera,
                            self.iface, found)
            self._reported = None
            self.mismatch = None
            return
        exc = self._mismatch(info)
        self.mismatch = exc
        if exc.detail != self._reported:
            log.error("%s", exc)
            self._reported = exc.detail
        raise exc

    def _mismatch(self, info: IwLink) -> AdapterMismatch:
        found = info.bssid or "?"
        expected = self.wifi_mac or f"SSID {self.ssid!r}"
        other = self.peers.get(found) or (self.peers.get(info.ssid) if info.ssid else None)
        seen = f"{found}" + (f" (SSID {info.ssid!r})" if info.ssid else "")
        swapped_with = None
        if other is None:
            msg = (f"adapter mismatch: {self.iface} is associated with {seen}, not the camera's AP "
                   f"{expected}; no configured camera has that AP")
        else:
            name, other_iface = other
            msg = f"adapter mismatch: {self.iface} is associated with {name}'s AP {seen}, not this camera's {expected}"
            if other_iface and other_iface != self.iface:
                back = run_iw_link(other_iface, iw=self._iw, timeout=self._timeout, run=self._run)
                if back.connected and ((self.wifi_mac and back.bssid == self.wifi_mac)
                                       or (not self.wifi_mac and back.ssid == self.ssid)):
                    swapped_with = other_iface
                    msg += (f"; {other_iface} is on this camera's AP: the adapters {self.iface} and "
                            f"{other_iface} are swapped ({self.iface} reaches {name}, {other_iface} reaches "
                            f"{self.camera}). Swap the adapters or their names (udev), or swap the iface of "
                            f"{self.camera} and {name} in GOPROS")
                else:
                    msg += f" ({name} is configured on {other_iface})"
        msg += "; nothing is sent to it until that is put right"
        return AdapterMismatch(msg, camera=self.camera, iface=self.iface, expected=self.wifi_mac or "",
                               found=found, other=other[0] if other else None, swapped_with=swapped_with)

    def verify(self, *, need_carrier: bool = True) -> None:
        """Before an exchange: raise AdapterMismatch if the adapter is on another camera's AP,
        and (``need_carrier``) CameraUnreachable at once if it has no carrier (nothing could
        reach the camera: a request would only block its worker for ``CONNECT_TIMEOUT``,
        delaying a wake the trigger asks for meanwhile). ``need_carrier=False`` before a wake,
        whose BLE Wi-Fi-on is what brings the carrier back.

        Interface missing, or iw cannot tell (no nl80211, iw missing): no verdict, no error (the
        exchange then fails or succeeds on its own). Three sysfs reads unless the link changed.
        """
        with self._lock:
            state, info = self._look()
            if need_carrier and state is not None and state.operstate in _NO_CARRIER:
                raise CameraUnreachable(f"{self.iface} is not associated (operstate {state.operstate}): "
                                        "the camera's Wi-Fi is off or out of range", camera=self.camera)
            self._judge(info)

    def associated(self) -> bool:
        """True when the adapter is associated with the camera's AP (the waker's question).

        Where iw cannot tell (no nl80211: veth in a test rig, a wired link; iw not
        installed), operstate ``up`` counts as associated. A missing interface is not
        associated. Raises AdapterMismatch when it is associated with another AP: the caller
        must then neither wake (BLE Wi-Fi-on would go to this camera, the association wait
        could never end) nor send anything.
        """
        with self._lock:
            state, info = self._look()
            if state is None:
                return False
            if info.connected is None:
                return state.operstate == "up"
            self._judge(info)
            return bool(info.connected)


def _is_mac(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}", text))


def is_associated(iface: str, bssid: str | None, *, iw: str = "iw", timeout: float = 2.0,
                  run=subprocess.run, sysfs: Path = Path("/sys/class/net")) -> bool:
    """True when ``iface`` is associated with the AP ``bssid`` (the camera's Wi-Fi MAC).

    One look, no memory (for ``gopro_manager.py check`` and tools; the daemon keeps an
    :class:`AdapterGuard` per camera). Falls back to operstate ``up`` where iw cannot tell
    (no nl80211, iw not installed). A missing interface is not associated. Associated with
    another AP: False (the mismatch is logged); never raises.
    """
    guard = AdapterGuard(iface, iface, bssid, iw=iw, timeout=timeout, run=run, sysfs=sysfs)
    try:
        return guard.associated()
    except AdapterMismatch:
        return False


def magic_packet(mac: str) -> bytes:
    """The 102-byte Wake-on-LAN magic packet for ``mac``: 6 × 0xFF, then the MAC 16 times."""
    return wakeonlan.create_magic_packet(mac)


def send_wake_on_lan(link: Link, mac: str, port: int = 9) -> list[str]:
    """Send the magic packet for ``mac`` to the camera's address and its /24 broadcast.

    Goes out through ``link`` (bound to the camera's interface). Returns the
    destinations sent to; raises WakeFailed naming the camera when none could
    be sent (the link lost its carrier, no socket), AdapterMismatch when the
    link's adapter is on another camera's AP (nothing is sent).
    """
    packet = magic_packet(mac)
    addr = ipaddress.IPv4Address(link.address)
    targets = [str(addr)]
    if not addr.is_loopback:
        targets.append(str(ipaddress.IPv4Network(f"{addr}/24", strict=False).broadcast_address))
    sent, errors = [], []
    try:
        link.verify_adapter()
    except CameraUnreachable as exc:
        raise WakeFailed(f"Wake-on-LAN not sent: {exc.detail}", camera=link.camera) from None
    try:
        sock = link.udp_socket()
    except LinkError as exc:
        raise WakeFailed(f"Wake-on-LAN: {exc}", camera=link.camera) from None
    try:
        with sock, link.exchange():
            for target in targets:
                try:
                    sock.sendto(packet, (target, port))
                    sent.append(f"{target}:{port}")
                except OSError as exc:
                    errors.append(f"{target}:{port}: {exc.strerror}")
    except CameraUnreachable as exc:           # carrier lost between the two looks
        raise WakeFailed(f"Wake-on-LAN not sent: {exc.detail}", camera=link.camera) from None
    if not sent:
        raise WakeFailed("Wake-on-LAN not sent: " + "; ".join(errors), camera=link.camera)
    return sent


#: Seconds between association checks while waiting (an AdapterGuard reads sysfs; iw runs
#: only once the carrier is up).
ASSOCIATION_POLL_S = 0.05

#: Per-probe timeouts (s) during a wake, the last repeated. Short at first: a SYN sent to a
#: camera still booting is lost, and TCP would resend it only after its 1 s initial RTO
#: (RFC 6298 2.1); growing, so a camera slow to answer is still waited for.
PROBE_TIMEOUTS = (0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 2.0)

#: Least seconds from one probe to the next (a refused connection fails at once).
PROBE_INTERVAL_S = 0.1


def wait_for_association(associated: Callable[[], bool], deadline: float, stop: threading.Event, *,
                         camera: str, iface: str | None, timeout: float, clock=time.monotonic) -> None:
    """Poll ``associated()`` every :data:`ASSOCIATION_POLL_S` s until True, after BLE Wi-Fi-on.

    ``associated`` may raise AdapterMismatch (associated, but with another camera's AP): it
    propagates, the wait ends at once.

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
        stop.wait(ASSOCIATION_POLL_S)


def association_check(config, cam, link: Link | None = None):
    """A callable → bool telling whether the camera's Wi-Fi adapter is associated with its AP
    (raising AdapterMismatch when it is on another camera's AP), or None where there is no
    adapter of its own to ask (address links, USB, BLE only). The same AdapterGuard becomes
    ``link.guard``, consulted before every exchange.

    ``config`` is the :class:`camrig.config.Config` (every camera's ``wifi_mac``/``ssid`` name the
    peers' APs), ``cam`` the :class:`camrig.config.CameraConfig`.
    """
    if cam.control != "wifi" or not cam.iface or config.network_mode == "address":
        return None
    peers: dict[str, tuple[str, str | None]] = {}
    for other in config.cameras:
        if other.name != cam.name and other.control == "wifi":
            for key in (other.wifi_mac, other.ssid):
                if key:
                    peers[key] = (other.name, other.iface)
    guard = AdapterGuard(cam.name, cam.iface, cam.wifi_mac, ssid=cam.ssid, peers=peers)
    if link is not None:
        link.guard = guard
    return guard.associated
