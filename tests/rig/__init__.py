"""The namespace rig: emulated cameras and the real daemon on the car's network, built for real.

Tests, the soak test, the system test and the benchmark use it; the installed package keeps only
the demo's :class:`camrig.emulator.rig.LoopbackRig` (whose shared base :class:`Rig` this
extends). :class:`NamespaceRig` (root, ``ip netns``)::

    {prefix}-car                         {prefix}-camK   (K = 1..N)
    wlanK 10.5.5.100/24  <--- veth --->  eth0 10.5.5.9/24, MAC 02:47:50:00:00:0K
                                         the family's emulator, HTTP :80/:8080, WoL udp :9

The camera side gets its family's ``default_address`` (:mod:`camrig.cameras.registry`; 10.5.5.9
for GoPros, as real GoPro APs use), the car side the same /24's ``.100`` (``.101`` if the camera
is ``.100``): :func:`car_address_for`. Every GoPro has the same address, so camera K is
reachable only through ``wlanK``: by binding to it (``NETWORK_MODE "bind"``) or by routing its
address through it (``"route"``). The daemon runs inside ``{prefix}-car``, which has no route out
of the rig, so no packet can leave the machine.

The daemon finds a stand-in ``iw`` first on its PATH (``workdir/bin/iw`` → ``tests/rig/iw``); it
answers ``iw dev wlanK link`` from ``workdir/iw.map``, which says which camera's AP (BSSID, SSID)
each adapter reaches: truthfully after :meth:`NamespaceRig.swap_adapters`, or as a test sets it
with :meth:`NamespaceRig.write_iw_map`.

Leaving the ``with`` block deletes every namespace the rig created, by exact name.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from camrig.cameras.registry import family_for_model
from camrig.emulator.rig import (
    CAMERA_ADDRESS,
    GATTTOOL,
    EmulatedCamera,
    LoopbackRig,
    Rig,
    RigError,
    RigTimeout,
    _run,
    bt_mac_for,
    emu_socket_name,
    parse_models,
    wait_until,
    wifi_mac_for,
)

__all__ = [
    "CAMERA_ADDRESS", "CAR_ADDRESS", "DAEMON", "GATTTOOL", "IW", "PREFIX_LEN", "REPO_ROOT",
    "EmulatedCamera", "LoopbackRig", "NamespaceRig", "Rig", "RigError", "RigTimeout",
    "bt_mac_for", "car_address_for", "delete_namespace", "emu_socket_name", "existing_namespaces",
    "namespaces_available", "parse_models", "remove_rig_namespaces", "usb_address_for",
    "usb_serial_for", "wait_until", "wifi_mac_for",
]

#: The checkout's top directory (tests/ lives there).
REPO_ROOT = Path(__file__).resolve().parents[2]
#: The checkout's entry point (the systemd unit's habit); the rigs themselves run ``-m camrig``.
DAEMON = REPO_ROOT / "gopro_manager.py"
#: Stand-in ``iw`` (sh): ``iw dev IFACE link`` answered from the rig's association map.
IW = Path(__file__).resolve().parent / "iw"

#: The car side of a GoPro's link (CAMERA_ADDRESS's /24).
CAR_ADDRESS = "10.5.5.100"
PREFIX_LEN = 24


def car_address_for(camera_address: str) -> str:
    """The car adapter's address on a camera's /24: ``.100``, or ``.101`` when the camera is
    ``.100`` (``"10.5.5.9"`` → ``"10.5.5.100"``, ``"192.168.0.10"`` → ``"192.168.0.100"``).
    ValueError for something that is not an IPv4 address."""
    net = ipaddress.ip_network(f"{ipaddress.IPv4Address(camera_address)}/{PREFIX_LEN}", strict=False)
    car = net.network_address + 100
    return str(car + 1 if str(car) == camera_address else car)


def usb_serial_for(k: int) -> str:
    """A serial whose last three digits give camera ``k`` its own USB address 172.2X.1YZ.51."""
    return f"C35000000{(k % 9) + 1}{k:02d}"[-14:]


class NamespaceRig(Rig):
    """N emulated cameras in network namespaces, each behind its own veth ``wlanK`` of the car.

    ``NamespaceRig(3, prefix="gmt1", mode="route")`` creates netns
    ``gmt1-car`` and ``gmt1-cam1..3``. ``mode`` is the daemon's
    ``NETWORK_MODE`` ("bind" or "route"). ``delay_ms`` is each answer's
    emulated Wi-Fi + camera latency (ms), ``association_delay`` the seconds
    between BLE Wi-Fi-on and the link coming up, ``boot_delay`` the seconds
    from Wake-on-LAN to ready. ``check_status`` and ``cycle_seconds`` become
    CHECK_STATUS / CYCLE_SECONDS of the daemon config. ``idle_wifi_off`` (seconds, or
    ``{k: seconds}``) makes legacy cameras turn their Wi-Fi off that long into idleness
    although polled, as HERO5-8 do (emulator ``--idle-wifi-off``; 0, the default: never).

    Needs root and ``ip netns``; use :func:`namespaces_available` to skip.
    Leftover namespaces of a crashed earlier run with the same prefix are
    removed (their processes killed) before building.
    """

    def __init__(self, n_cameras: int, *, prefix: str = "gm", mode: str = "bind", delay_ms: int = 20,
                 association_delay: float = 2.0, workdir: str | os.PathLike | None = None, **kwargs):
        if mode not in ("bind", "route"):
            raise ValueError(f"mode must be 'bind' or 'route', got {mode!r}")
        super().__init__(n_cameras, workdir=workdir, delay_ms=delay_ms,
                         association_delay=association_delay, prefix=prefix, **kwargs)
        self.network_mode = mode
        self.car_ns = f"{prefix}-car"
        self.cam_ns = [f"{prefix}-cam{k}" for k in range(1, n_cameras + 1)]
        self._created: list[str] = []
        #: The car's Wi-Fi adapter name → the camera (k) at its other end.
        self.wiring: dict[str, int] = {}
        self.iw_map_path = self.workdir / "iw.map"
        self.bin_dir = self.workdir / "bin"

    def build(self) -> None:
        """Build each camera's template MP4 (a real GPMF track: :mod:`tests.rig.media`), then the rig."""
        from .media import build_template

        self.media_root.mkdir(parents=True, exist_ok=True)
        for k, (model, _path) in enumerate(self.models, 1):
            self.record_templates[k] = build_template(self.media_root / f"template-cam{k}.MP4", model)
        super().build()

    def __repr__(self):
        return (f"<NamespaceRig {self.car_ns} cameras={self.n} mode={self.network_mode} "
                f"daemon={'running' if self._daemon and self._daemon.poll() is None else 'stopped'}>")

    def _camera_spec(self, k: int) -> EmulatedCamera:
        """Camera ``k``: Wi-Fi behind ``wlanK`` at its family's ``default_address`` (10.5.5.9 for a
        GoPro); USB behind ``usbK`` at its own 172.2X.1YZ.51 (from its serial); BLE only: no link."""
        bt = bt_mac_for(k)
        model, path = self.models[k - 1]
        serial = usb_serial_for(k) if path == "usb" else None
        family = family_for_model(model)
        address = usb_address_for(serial) if serial else family.default_address
        iface = {"wifi": f"wlan{k}", "usb": f"usb{k}", "ble": None}[path]
        http_port = family.default_http_port
        return EmulatedCamera(k=k, name=f"cam{k}", iface=iface, ssid=f"GP-EMU-{k:02d}",
                              wifi_mac=wifi_mac_for(k), bt_mac=bt, address=address,
                              http_port=http_port, media_port=8080 if http_port == 80 else 8081, wol_port=9,
                              control=self.emu_dir / emu_socket_name(bt),
                              log=self.workdir / f"cam{k}.log", model=model, path=path, serial=serial)

    def _config_entry(self, cam: EmulatedCamera) -> dict[str, Any]:
        return cam.config_entry()

    def _emulator_listen(self, cam: EmulatedCamera) -> tuple[str, str | None]:
        return "0.0.0.0", ("eth0" if cam.path == "wifi" else None)

    @property
    def cwd(self) -> Path:
        """Processes start in the checkout's top (tests run ``gopro_manager.py`` relative to it)."""
        return REPO_ROOT

    def _wrap_camera(self, cam: EmulatedCamera) -> list[str]:
        return ["ip", "netns", "exec", self.cam_ns[cam.k - 1]]

    def _env(self) -> dict[str, str]:
        """The stand-in iw first on PATH, reading this rig's association map."""
        env = super()._env()
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", os.defpath)
        env["GOPRO_IW_MAP"] = str(self.iw_map_path)
        return env

    # --- associations (the iw stand-in's map) ------------------------------------------------

    def write_iw_map(self, overrides: Mapping[str, tuple[str, str] | None] | None = None) -> None:
        """Write the map the stand-in iw answers from: each adapter associated with the AP
        (BSSID, SSID) of the camera :attr:`wiring` puts at its other end, or as ``overrides``
        says (``{"wlan1": ("02:47:50:00:00:07", "GP-OTHER")}``; None: not a Wi-Fi adapter,
        iw says "nl80211 not found."). Replaced atomically."""
        lines = []
        for iface, k in sorted(self.wiring.items()):
            cam = self.cameras[k - 1]
            entry: tuple[str, str] | None = (cam.wifi_mac, cam.ssid)
            if overrides and iface in overrides:
                entry = overrides[iface]
            if entry is not None:
                lines.append(f"{iface} {entry[0]} {entry[1]}")
        tmp = self.iw_map_path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.iw_map_path)

    def swap_adapters(self, j: int, k: int) -> None:
        """Give the car's adapters ``wlanJ`` and ``wlanK`` each other's names, as udev does when
        two USB adapters enumerate in the other order: afterwards ``wlanJ`` reaches camera K's
        AP and ``wlanK`` camera J's (the iw map follows). Both links go down and up (a
        carrier change, as a re-association); returns once neither is DOWN. Calling it again
        swaps them back."""
        a, b = f"wlan{j}", f"wlan{k}"
        if a not in self.wiring or b not in self.wiring:
            raise ValueError(f"swap_adapters: {a} and {b} must both be Wi-Fi adapters of the rig")
        tmp = f"wlswp{j}x{k}"
        for name in (a, b):
            self.ip("link", "set", name, "down", netns=self.car_ns)
        self.ip("link", "set", a, "name", tmp, netns=self.car_ns)
        self.ip("link", "set", b, "name", a, netns=self.car_ns)
        self.ip("link", "set", tmp, "name", b, netns=self.car_ns)
        self.wiring[a], self.wiring[b] = self.wiring[b], self.wiring[a]
        self.write_iw_map()
        for name in (a, b):
            self.ip("link", "set", name, "up", netns=self.car_ns)
        # Back "associated" (carrier up, where the camera's Wi-Fi is on) before returning.
        wait_until(lambda: all(" state DOWN " not in self.ip("link", "show", name, netns=self.car_ns).stdout
                               for name in (a, b)), 5.0, interval=0.02,
                   message=f"{a} and {b} up after the swap")

    def _wrap_car(self) -> list[str]:
        return ["ip", "netns", "exec", self.car_ns]

    def run_in_car(self, argv: Sequence[str], *, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the car namespace, output captured as text."""
        return subprocess.run(self._wrap_car() + list(argv), cwd=REPO_ROOT, env=self._env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def ip(self, *args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """``ip [-n NETNS] ARGS…``; RigError if it fails and ``check``."""
        return _run(["ip"] + (["-n", netns] if netns else []) + list(args), check=check)

    # --- network ----------------------------------------------------------------------------

    def _build_network(self) -> None:
        self.remove_leftovers()
        for ns in [self.car_ns] + self.cam_ns:
            self.ip("netns", "add", ns)
            self._created.append(ns)
            self.ip("link", "set", "lo", "up", netns=ns)
        # Replies from 10.5.5.9 arrive on every wlanK while the kernel's route to
        # 10.5.5.0/24 names only one of them: strict reverse-path filtering (1)
        # would drop them. Loose (2) is what Raspberry Pi OS / systemd set.
        _run(["ip", "netns", "exec", self.car_ns, "sysctl", "-q", "-w",
              "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2"])
        for cam, cam_ns in zip(self.cameras, self.cam_ns, strict=True):
            if cam.path == "ble":
                continue                      # BLE only: the control socket is all it has
            iface = cam.iface
            if iface is None:
                raise ValueError(f"camera {cam.k} ({cam.path}) has no car-side interface")
            if cam.path == "usb":
                # The camera's USB NCM link: camera 172.2X.1YZ.51/24, the car .50 on usbK.
                host = cam.address.rsplit(".", 1)[0] + ".50"
                self.ip("link", "add", iface, "netns", self.car_ns, "type", "veth",
                        "peer", "name", "eth0", "netns", cam_ns)
                self.ip("addr", "add", f"{cam.address}/24", "dev", "eth0", netns=cam_ns)
                self.ip("addr", "add", f"{host}/24", "dev", iface, netns=self.car_ns)
                self.ip("link", "set", "eth0", "up", netns=cam_ns)
                self.ip("link", "set", iface, "up", netns=self.car_ns)
                continue
            self.ip("link", "add", iface, "netns", self.car_ns, "type", "veth",
                    "peer", "name", "eth0", "netns", cam_ns)
            self.ip("link", "set", "eth0", "address", cam.wifi_mac, netns=cam_ns)
            # The camera side at its family's address, the car side on the same /24.
            broadcast = str(ipaddress.ip_network(f"{cam.address}/{PREFIX_LEN}", strict=False).broadcast_address)
            self.ip("addr", "add", f"{cam.address}/{PREFIX_LEN}", "broadcast", broadcast,
                    "dev", "eth0", netns=cam_ns)
            self.ip("addr", "add", f"{car_address_for(cam.address)}/{PREFIX_LEN}", "broadcast", broadcast,
                    "dev", iface, netns=self.car_ns)
            self.ip("link", "set", "eth0", "up", netns=cam_ns)
            self.ip("link", "set", iface, "up", netns=self.car_ns)
            self.wiring[iface] = cam.k
        self.write_iw_map()
        self.bin_dir.mkdir(exist_ok=True)
        (self.bin_dir / "iw").unlink(missing_ok=True)
        (self.bin_dir / "iw").symlink_to(IW)

    def _teardown_network(self) -> None:
        for ns in reversed(self._created):
            delete_namespace(ns)
        self._created.clear()

    def remove_leftovers(self) -> list[str]:
        """Delete namespaces named exactly ``{prefix}-car`` or ``{prefix}-camK`` (a crashed run's).

        Returns the names removed.
        """
        return remove_rig_namespaces(self.prefix)

    def namespaces(self) -> list[str]:
        """The namespaces of this rig that exist right now."""
        existing = existing_namespaces()
        return [ns for ns in [self.car_ns] + self.cam_ns if ns in existing]

    # --- probes from the car ------------------------------------------------------------------

    def http_get(self, path: str = "/gp/gpControl/status", *, iface: str | None = None, port: int = 80,
                 timeout: float = 3.0, address: str | None = None,
                 headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
        """GET ``http://ADDRESS:port/path`` from inside the car namespace.

        ``address``: default the address of the camera wired to ``iface`` (10.5.5.9 for a GoPro),
        :data:`CAMERA_ADDRESS` without ``iface``. ``headers``: request headers (``{"Range": ...}``).
        With ``iface`` the socket is bound to it (SO_BINDTODEVICE), as the
        daemon does in bind mode; without, the car's routing table decides.
        Returns ``(http status, body)``; raises RigError when no answer came
        (connection refused, timeout, no route).
        """
        address = address or self._address_at(iface)
        proc = self.run_in_car([self.python, "-c", _HTTP_PROBE, iface or "", address,
                                str(port), path, str(timeout), json.dumps(dict(headers or {}))],
                               timeout=timeout + 20)
        if proc.returncode != 0:
            raise RigError(f"GET {path} via {iface or 'routing'}: {proc.stderr.strip().splitlines()[-1:]}")
        status, _, body = proc.stdout.partition("\n")
        return int(status), bytes.fromhex(body.strip())

    def _address_at(self, iface: str | None) -> str:
        """The address of the camera wired to ``iface`` (CAMERA_ADDRESS when none is)."""
        k = self.wiring.get(iface) if iface else None
        return self.cameras[k - 1].address if k else CAMERA_ADDRESS

    def neighbour_mac(self, iface: str) -> str | None:
        """The MAC the car's ARP table holds for the camera's address (10.5.5.9) on ``iface``
        (None if none)."""
        out = self.ip("neigh", "show", self._address_at(iface), "dev", iface, netns=self.car_ns).stdout
        m = re.search(r"lladdr ([0-9a-f:]{17})", out)
        return m.group(1) if m else None


#: Run by :meth:`NamespaceRig.http_get` inside the car: argv iface addr port path timeout.
_HTTP_PROBE = r"""
import http.client, socket, sys
import json
iface, addr, port, path, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
headers = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(timeout)
if iface:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.connect((addr, port))
conn = http.client.HTTPConnection(addr, port, timeout=timeout)
conn.sock = sock
conn.request("GET", path, headers=headers)
resp = conn.getresponse()
body = resp.read()
print(resp.status)
print(body.hex())
"""


def usb_address_for(serial: str) -> str:
    """172.2X.1YZ.51 from the serial's last three digits (as the daemon's config derives it)."""
    x, y, z = serial[-3], serial[-2], serial[-1]
    return f"172.2{x}.1{y}{z}.51"


def existing_namespaces() -> set[str]:
    """Names of the network namespaces ``ip netns list`` shows (those under /run/netns)."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def delete_namespace(ns: str) -> None:
    """Kill every process still in netns ``ns`` (exact name) and delete it; nothing if it is gone.

    ``ip netns del`` alone only unmounts the name: the namespace (and its
    veths) would live on as long as a process stays inside.
    """
    if ns not in existing_namespaces():
        return
    for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _run(["ip", "netns", "del", ns], check=False)


def remove_rig_namespaces(prefix: str) -> list[str]:
    """Delete every namespace named exactly ``{prefix}-car`` or ``{prefix}-cam<K>``; return their names."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(car|cam[0-9]+)$")
    removed = sorted(ns for ns in existing_namespaces() if pattern.match(ns))
    for ns in removed:
        delete_namespace(ns)
    return removed


def namespaces_available() -> tuple[bool, str]:
    """Whether :class:`NamespaceRig` can run here: ``(True, "")`` or ``(False, reason)``."""
    if os.geteuid() != 0:
        return False, "needs root (creates network namespaces with `ip netns`)"
    if shutil.which("ip") is None:
        return False, "needs iproute2's `ip` command"
    probe = f"gmprobe-{os.getpid()}"
    add = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if add.returncode != 0:
        return False, f"`ip netns add` fails here: {add.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return True, ""
