"""Links: how packets reach camera K when every camera is 10.5.5.9.

Every GoPro access point hands out the same subnet and sits at 10.5.5.9, so
with one USB Wi-Fi adapter per camera the kernel has several equal routes to
the same address. A Link decides which one a socket uses:

- :class:`BoundLink` (``NETWORK_MODE = "bind"``, the default): each socket is
  bound to the camera's interface with ``SO_BINDTODEVICE`` before it
  connects. Cameras are independent, so connections are kept alive and
  commands to several cameras go out in parallel. Unprivileged on Linux ≥
  5.7 ("net: core: enable SO_BINDTODEVICE for non-root users"); older
  kernels need ``CAP_NET_RAW``.
- :class:`RouteLink` (``"route"``, the original script's behaviour):
  ``ip route replace 10.5.5.9 dev IFACE scope link`` before each exchange,
  serialised by one lock shared by all cameras; no connection is reused
  across a switch (a kept-alive connection would meet the other camera's
  RST). Needs ``CAP_NET_ADMIN``.
- :class:`AddressLink` (``"address"``): the camera has an address of its own
  (the loopback demo, a USB-connected camera); plain sockets.

Every Link with an interface may carry an ``AdapterGuard`` (:attr:`Link.guard`, set by
``camrig.app``): :meth:`Link.exchange` asks it first, so no packet (HTTP, Wake-on-LAN)
goes out of an adapter associated with another camera's AP. :meth:`Link.pin_neighbour`
sets the camera's neighbour (ARP) entry from its known MAC before a wake's first packets.

libcurl's own ``CURLOPT_INTERFACE`` is not used: when ``SO_BINDTODEVICE``
fails (``CAP_NET_RAW`` missing on a kernel before 5.7) libcurl silently binds the interface's IP address
instead (lib/cf-socket.c, ``bindlocal``), and as every adapter carries
10.5.5.100 that reaches whichever camera the routing table picks. The Link
opens the socket itself (pycurl's ``OPENSOCKETFUNCTION``) and a failed bind is
a :class:`~camrig.errors.LinkError`, loudly.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import LinkError

if TYPE_CHECKING:
    from .wake import AdapterGuard

log = logging.getLogger(__name__)

SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)  # <asm-generic/socket.h>


class Link:
    """Base class: the seam between a camera's protocol code and the network.

    ``address`` is the camera's IPv4 address, ``iface`` the interface that
    reaches it (or None). Subclasses decide how sockets are made
    (:meth:`open_socket`), whether connections may be reused
    (:attr:`reuse_connections`) and what must hold around one exchange
    (:meth:`exchange`).
    """

    reuse_connections = True
    kind = "link"

    def __init__(self, camera: str, address: str, iface: str | None = None, *,
                 neighbours: NeighbourTable | None = None):
        self.camera = camera
        self.address = address
        self.iface = iface
        #: An object with ``verify()`` raising AdapterMismatch (camrig.wake.AdapterGuard), or None.
        self.guard: AdapterGuard | None = None
        #: Where :meth:`pin_neighbour` writes; None: never (address links).
        self.neighbours = neighbours

    def __repr__(self) -> str:
        via = f" iface={self.iface}" if self.iface else ""
        return f"<{type(self).__name__} camera={self.camera} address={self.address}{via}>"

    def open_socket(self, family: int, socktype: int, protocol: int) -> socket.socket:
        """A new, unconnected socket that reaches this camera.

        Raises LinkError when the socket cannot be made to reach it.
        """
        return socket.socket(family, socktype, protocol)

    def udp_socket(self) -> socket.socket:
        """A UDP socket for Wake-on-LAN, with ``SO_BROADCAST`` set, reaching this camera."""
        sock = self.open_socket(socket.AF_INET, socket.SOCK_DGRAM, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        return sock

    @contextlib.contextmanager
    def exchange(self) -> Iterator[None]:
        """Hold whatever one request/response exchange with the camera needs.

        Raises AdapterMismatch (a permanent LinkError) before anything is sent when the
        :attr:`guard` finds the adapter on another camera's AP.
        """
        self.verify_adapter()
        yield

    def verify_adapter(self) -> None:
        """Ask the :attr:`guard` (if any); AdapterMismatch when the adapter is on another AP."""
        if self.guard is not None:
            self.guard.verify()

    def pin_neighbour(self, mac: str) -> bool:
        """Set the camera's neighbour entry (``address`` → ``mac`` on :attr:`iface`) so that the
        first packets of a wake need no ARP answer. True when set; False where it cannot be
        (no interface, no :attr:`neighbours`, no ``CAP_NET_ADMIN``: see NeighbourTable)."""
        if not self.iface or self.neighbours is None:
            return False
        return self.neighbours.pin(self.address, mac, self.iface, self.camera)

    def check(self) -> None:
        """Raise LinkError if this link cannot work right now (interface missing, no privilege)."""


class AddressLink(Link):
    """The camera has an address of its own: plain sockets, kept-alive connections."""

    kind = "address"


def bind_to_device(sock: socket.socket, iface: str, camera: str) -> None:
    """``SO_BINDTODEVICE`` ``sock`` to ``iface``; LinkError (naming the camera) when refused.

    ``EPERM`` (kernel < 5.7 without ``CAP_NET_RAW``, or re-binding a bound socket) is permanent;
    ``ENODEV`` (USB adapter not plugged in yet) is not.
    """
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, iface.encode() + b"\0")
    except PermissionError:
        raise LinkError(f"cannot bind a socket to {iface}: permission denied. On kernels before 5.7 "
                        "NETWORK_MODE 'bind' needs CAP_NET_RAW (see the unit file); or use NETWORK_MODE 'route'",
                        camera=camera, permanent=True) from None
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            raise LinkError(f"interface {iface} does not exist (USB Wi-Fi adapter unplugged?)",
                            camera=camera) from None
        raise LinkError(f"cannot bind a socket to {iface}: {exc.strerror}", camera=camera) from None


class NeighbourTable:
    """Sets a camera's neighbour (ARP) entry from its known Wi-Fi MAC; shared by all cameras.

    A camera waking up answers ARP late, and Linux re-sends an unanswered ARP request only
    after ``retrans_time`` (1 s): the first Wake-on-LAN unicast and the first probe waited
    ~0.8 s for it (``make bench``). ``ip neigh replace ADDRESS lladdr MAC dev IFACE nud
    reachable`` (ip-neighbour(8); argv list, no shell, ``timeout`` seconds) lets them leave
    at once. ``reachable``, not ``permanent``: the kernel re-verifies it after
    ``base_reachable_time`` (≈ 30 s) and falls back to ARP if the MAC were wrong.

    Needs ``CAP_NET_ADMIN`` (route mode has it; the unit file grants it). Without it the
    first refusal is logged once and no further attempt is made: the wake then relies on
    its short probe timeouts and ARP (camrig.wake.PROBE_TIMEOUTS). Other failures are
    logged at debug and tried again next wake. Never raises.
    """

    def __init__(self, *, ip: str = "ip", timeout: float = 2.0, run=subprocess.run):
        self._ip = ip
        self._timeout = timeout
        self._run = run
        self._lock = threading.Lock()
        self.denied = False

    def __repr__(self) -> str:
        return f"<NeighbourTable {'denied' if self.denied else 'ok'}>"

    def pin(self, address: str, mac: str, iface: str, camera: str) -> bool:
        """Set ``address`` → ``mac`` on ``iface``; True when ``ip`` succeeded."""
        if self.denied:
            return False
        argv = [self._ip, "neigh", "replace", address, "lladdr", mac, "dev", iface, "nud", "reachable"]
        try:
            res = self._run(argv, capture_output=True, text=True, timeout=self._timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.debug("%s: %s failed: %s", camera, " ".join(argv), exc)
            return False
        if res.returncode == 0:
            return True
        msg = (res.stderr or res.stdout or "").strip() or f"exit status {res.returncode}"
        if "Operation not permitted" in msg:
            with self._lock:
                first, self.denied = not self.denied, True
            if first:
                log.info("cannot set the cameras' neighbour (ARP) entries without CAP_NET_ADMIN (%s); "
                         "waking with short probe retries and ARP instead (≈ 0.5–1 s slower per wake)", msg)
            return False
        log.debug("%s: %s: %s", camera, " ".join(argv), msg)
        return False


_default_neighbours: NeighbourTable | None = None


def default_neighbours() -> NeighbourTable:
    """The process's one NeighbourTable (made on first use), shared by every interface link."""
    global _default_neighbours
    if _default_neighbours is None:
        _default_neighbours = NeighbourTable()
    return _default_neighbours


class BoundLink(Link):
    """Every socket for this camera is bound to its interface (``SO_BINDTODEVICE``)."""

    kind = "bind"
    iface: str          # always given

    def __init__(self, camera: str, address: str, iface: str, *, neighbours: NeighbourTable | None = None):
        super().__init__(camera, address, iface, neighbours=neighbours or default_neighbours())

    def open_socket(self, family: int, socktype: int, protocol: int) -> socket.socket:
        sock = socket.socket(family, socktype, protocol)
        try:
            bind_to_device(sock, self.iface, self.camera)
        except LinkError:
            sock.close()
            raise
        return sock

    def check(self) -> None:
        with self.open_socket(socket.AF_INET, socket.SOCK_DGRAM, 0):
            pass


class RouteTable:
    """The one host route to the cameras' shared address, switched between interfaces.

    Shared by every :class:`RouteLink`; its lock serialises all exchanges, so a
    switch never happens under another camera's feet. ``ip`` is run with an
    argv list (no shell), ``timeout`` seconds at most. Remembers the interface
    it last routed to and skips the switch when it is unchanged.
    """

    def __init__(self, *, ip: str = "ip", timeout: float = 2.0, run=subprocess.run):
        self.lock = threading.Lock()
        self._ip = ip
        self._timeout = timeout
        self._run = run
        self._current: tuple[str, str] | None = None

    def __repr__(self) -> str:
        cur = f"{self._current[0]} dev {self._current[1]}" if self._current else "unset"
        return f"<RouteTable {cur}>"

    def switch(self, address: str, iface: str, camera: str) -> None:
        """Route ``address`` through ``iface``; call with :attr:`lock` held. LinkError on failure."""
        if self._current == (address, iface):
            return
        argv = [self._ip, "route", "replace", f"{address}/32", "dev", iface, "scope", "link"]
        try:
            res = self._run(argv, capture_output=True, text=True, timeout=self._timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            self._current = None
            raise LinkError(f"{' '.join(argv)} failed: {exc}", camera=camera) from None
        if res.returncode != 0:
            self._current = None
            msg = (res.stderr or res.stdout).strip() or f"exit status {res.returncode}"
            permanent = "Operation not permitted" in msg
            raise LinkError(f"{' '.join(argv)}: {msg}" + (" (route mode needs CAP_NET_ADMIN)" if permanent else ""),
                            camera=camera, permanent=permanent)
        self._current = (address, iface)

    def forget(self) -> None:
        """Assume nothing about the current route (after an error, or an outside change)."""
        self._current = None


class RouteLink(Link):
    """Reach the camera by pointing the shared host route at its interface for each exchange."""

    kind = "route"
    iface: str          # always given
    reuse_connections = False

    def __init__(self, camera: str, address: str, iface: str, table: RouteTable, *,
                 neighbours: NeighbourTable | None = None):
        super().__init__(camera, address, iface, neighbours=neighbours or default_neighbours())
        self.table = table

    @contextlib.contextmanager
    def exchange(self) -> Iterator[None]:
        self.verify_adapter()          # outside the route lock: it may run iw
        with self.table.lock:
            self.table.switch(self.address, self.iface, self.camera)
            yield

    def udp_socket(self) -> socket.socket:
        """Wake-on-LAN goes out of this camera's interface even in route mode.

        The broadcast to 10.5.5.255 would otherwise leave by whichever adapter
        the kernel picks. Binding needs ``CAP_NET_RAW`` (granted by the unit);
        without it the packet follows the route, which :meth:`exchange` sets.
        """
        sock = super().udp_socket()
        try:
            bind_to_device(sock, self.iface, self.camera)
        except LinkError as exc:
            if exc.permanent:
                log.debug("%s: Wake-on-LAN socket not bound (%s); following the route", self.camera, exc)
            else:
                sock.close()
                raise
        return sock

    def check(self) -> None:
        try:
            socket.if_nametoindex(self.iface)
        except OSError:
            raise LinkError(f"interface {self.iface} does not exist (USB Wi-Fi adapter unplugged?)",
                            camera=self.camera) from None


def make_link(camera, mode: str, *, route_table: RouteTable | None = None) -> Link:
    """The Link for ``camera`` (a CameraConfig) in NETWORK_MODE ``mode``.

    In ``route`` mode every camera must share one ``route_table``.
    """
    if mode == "bind":
        return BoundLink(camera.name, camera.address, camera.iface)
    if mode == "route":
        if route_table is None:
            raise ValueError("route mode needs the shared RouteTable")
        return RouteLink(camera.name, camera.address, camera.iface, route_table)
    if mode == "address":
        return AddressLink(camera.name, camera.address, camera.iface)
    raise ValueError(f"unknown NETWORK_MODE {mode!r}")
