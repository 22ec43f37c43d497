"""Links and the HTTP client: real sockets on loopback, the route table with a recorded `ip`."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import threading

import pytest

from camrig.errors import CameraRejected, CameraUnreachable, LinkError
from camrig.http import HttpClient
from camrig.link import AddressLink, BoundLink, RouteLink, RouteTable, bind_to_device


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peers: list = []

    def do_GET(self):  # noqa: N802
        type(self).peers.append(self.client_address)
        size = int(self.path.rsplit("=", 1)[1]) if "size=" in self.path else 2
        body = b"x" * size
        self.send_response(500 if "fail" in self.path else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.peers = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_address_link_keeps_the_connection_alive(server):
    client = HttpClient(AddressLink("cam1", "127.0.0.1"), port=server.server_address[1])
    for _ in range(3):
        assert client.get("/a").status == 200
    assert len({peer for peer in _Handler.peers}) == 1  # one TCP connection for three requests
    client.close()


def test_http_error_status_is_returned_not_raised(server):
    client = HttpClient(AddressLink("cam1", "127.0.0.1"), port=server.server_address[1])
    assert client.get("/fail").status == 500


def test_body_over_the_cap_is_refused(server):
    client = HttpClient(AddressLink("cam1", "127.0.0.1"), port=server.server_address[1], max_bytes=1000)
    assert len(client.get("/?size=1000").body) == 1000
    with pytest.raises(CameraRejected, match="larger than 1000 bytes"):
        client.get("/?size=1001")


def test_refused_connection_is_unreachable_naming_the_camera():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
        client = HttpClient(AddressLink("rear", "127.0.0.1"), port=port)
        with pytest.raises(CameraUnreachable, match=r"^rear: GET /x: connection refused"):
            client.get("/x")


def test_silent_camera_times_out():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts the handshake, never answers
        client = HttpClient(AddressLink("rear", "127.0.0.1"), port=s.getsockname()[1], timeout=0.3)
        with pytest.raises(CameraUnreachable, match="timed out"):
            client.get("/x")


def test_bound_link_to_missing_interface_fails_loudly(server):
    client = HttpClient(BoundLink("front", "127.0.0.1", "nosuch0"), port=server.server_address[1])
    with pytest.raises(LinkError, match="front: interface nosuch0 does not exist") as info:
        client.get("/a")
    assert not info.value.permanent
    assert _Handler.peers == []  # nothing reached any server: no silent fallback


def test_bound_link_reaches_through_its_interface(server):
    if os.geteuid() != 0:
        pytest.skip("SO_BINDTODEVICE needs CAP_NET_RAW (run as root)")
    client = HttpClient(BoundLink("front", "127.0.0.1", "lo"), port=server.server_address[1])
    assert client.get("/a").status == 200


class _RefusingSocket:
    """A socket whose SO_BINDTODEVICE is refused as kernels before 5.7 refuse it without CAP_NET_RAW."""

    def setsockopt(self, *args):
        raise PermissionError(1, "Operation not permitted")


def test_bind_refused_is_permanent_and_loud():
    with pytest.raises(LinkError, match=r"^front: cannot bind a socket to wlan1: permission denied.*CAP_NET_RAW") \
            as info:
        bind_to_device(_RefusingSocket(), "wlan1", "front")
    assert info.value.permanent


def test_unprivileged_bind_works_on_this_kernel():
    # Linux >= 5.7 lets any user bind an unbound socket to a device ("net: core: enable
    # SO_BINDTODEVICE for non-root users");
    # CAP_NET_RAW is only needed to change an existing binding.
    with socket.socket() as s:
        bind_to_device(s, "lo", "front")


class RecordingIp:
    """Stands in for subprocess.run of `ip`: records argv, answers with a given exit status."""

    def __init__(self, returncode=0, stderr=""):
        self.calls = []
        self.returncode = returncode
        self.stderr = stderr

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        return subprocess.CompletedProcess(argv, self.returncode, "", self.stderr)


def test_route_link_switches_the_route_once_per_interface_change():
    ip = RecordingIp()
    table = RouteTable(run=ip)
    a = RouteLink("front", "10.5.5.9", "wlan1", table)
    b = RouteLink("rear", "10.5.5.9", "wlan2", table)
    for link in (a, a, b, a):
        with link.exchange():
            assert table.lock.locked()
    assert ip.calls == [
        ["ip", "route", "replace", "10.5.5.9/32", "dev", "wlan1", "scope", "link"],
        ["ip", "route", "replace", "10.5.5.9/32", "dev", "wlan2", "scope", "link"],
        ["ip", "route", "replace", "10.5.5.9/32", "dev", "wlan1", "scope", "link"],
    ]
    assert not a.reuse_connections


def test_route_switch_failure_names_camera_and_capability():
    table = RouteTable(run=RecordingIp(2, "RTNETLINK answers: Operation not permitted\n"))
    link = RouteLink("rear", "10.5.5.9", "wlan2", table)
    with pytest.raises(LinkError, match="rear: ip route replace.*CAP_NET_ADMIN") as info:
        with link.exchange():
            pass
    assert info.value.permanent
    assert not table.lock.locked()
