"""HttpClient.download against a small local HTTP server (http.server) with Range support and
switches: ignore Range, stall after some bytes, drip slowly. The emulated cameras do not serve
media yet, so the server here stands in for a camera's media server.

Before this issue HttpClient had no download at all (``get`` keeps the body in memory, capped at
1 MB, 3 s in all): every test here fails on the code before it.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from camrig.errors import CameraRejected, CameraUnreachable
from camrig.http import DownloadAborted, HttpClient
from camrig.link import AddressLink, RouteLink, RouteTable

BODY = bytes(range(256)) * 1200          # 307 200 bytes, every offset distinguishable


class MediaServer:
    """One file at /videos/DCIM/100GOPRO/GX010001.MP4. Switches: ``ignore_range`` (answer 200 with
    the whole file whatever the Range), ``stall_after`` (bytes sent, then silence for
    ``stall_s``), ``drip`` (seconds between 4 KB blocks), ``length`` (Content-Length to claim)."""

    PATH = "/videos/DCIM/100GOPRO/GX010001.MP4"

    def __init__(self, body: bytes = BODY):
        self.body = body
        self.ignore_range = False
        self.stall_after: int | None = None
        self.stall_s = 5.0
        self.drip = 0.0
        self.length: int | None = None
        self.requests: list[str | None] = []        # the Range header of each request
        self.on_request = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append(rng)
                if server.on_request is not None:
                    server.on_request(rng)
                if self.path != server.PATH:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                data, status, first = server.body, 200, 0
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                if m and not server.ignore_range:
                    first = int(m.group(1))
                    last = int(m.group(2)) if m.group(2) else len(server.body) - 1
                    last = min(last, len(server.body) - 1)
                    data, status = server.body[first:last + 1], 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {first}-{first + len(data) - 1}/{len(server.body)}")
                self.send_header("Content-Length", str(server.length or len(data)))
                self.end_headers()
                sent = 0
                try:
                    for i in range(0, len(data), 4096):
                        block = data[i:i + 4096]
                        if server.stall_after is not None and sent + len(block) > server.stall_after:
                            self.wfile.write(block[:max(0, server.stall_after - sent)])
                            self.wfile.flush()
                            time.sleep(server.stall_s)
                            self.close_connection = True      # then hang up, body cut short
                            return
                        self.wfile.write(block)
                        sent += len(block)
                        if server.drip:
                            self.wfile.flush()
                            time.sleep(server.drip)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass                               # a client that hung up (abort, cap): expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = MediaServer()
    yield s
    s.close()


@pytest.fixture
def client(server):
    c = HttpClient(AddressLink("front", "127.0.0.1"), port=server.port, timeout=1.0, connect_timeout=0.5)
    yield c
    c.close()


def test_full_download_streams_to_the_file_with_progress(server, client, tmp_path):
    dest = tmp_path / "GX010001.MP4"
    seen = []
    res = client.download(MediaServer.PATH, dest, max_bytes=10_000_000, expected_size=len(BODY),
                          progress=lambda done, total: seen.append((done, total)))
    assert dest.read_bytes() == BODY
    assert (res.status, res.bytes_written, res.size, res.resumed) == (200, len(BODY), len(BODY), False)
    assert server.requests == [None]
    assert seen[-1] == (len(BODY), len(BODY))
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))


def test_download_is_not_capped_by_the_client_total_timeout(server, client, tmp_path):
    """``get``'s total timeout (1 s here) does not apply: a transfer that keeps moving runs on."""
    server.drip = 0.02                     # 76 blocks × 20 ms ≈ 1.5 s, well above the low-speed limit
    res = client.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000, low_speed_limit=1000)
    assert res.size == len(BODY) and res.elapsed > client.timeout


def test_resume_with_range_answered_206(server, client, tmp_path):
    dest = tmp_path / "f"
    dest.write_bytes(BODY[:100_000])
    res = client.download(MediaServer.PATH, dest, offset=100_000, max_bytes=10_000_000)
    assert server.requests == ["bytes=100000-"]
    assert (res.status, res.resumed, res.bytes_written, res.size) == (206, True, len(BODY) - 100_000, len(BODY))
    assert dest.read_bytes() == BODY


def test_camera_ignoring_range_restarts_from_zero(server, client, tmp_path):
    server.ignore_range = True
    dest = tmp_path / "f"
    dest.write_bytes(b"x" * 100_000)       # not the file's start: must be overwritten, not kept
    res = client.download(MediaServer.PATH, dest, offset=100_000, max_bytes=10_000_000)
    assert (res.status, res.resumed, res.bytes_written, res.size) == (200, False, len(BODY), len(BODY))
    assert dest.read_bytes() == BODY


def test_size_cap_refuses_before_writing(server, client, tmp_path):
    dest = tmp_path / "f"
    with pytest.raises(CameraRejected, match="over the 1000-byte cap"):
        client.download(MediaServer.PATH, dest, max_bytes=1000)
    assert dest.read_bytes() == b""


def test_size_cap_cuts_off_a_body_longer_than_announced(server, client, tmp_path):
    """A camera that announces no size it keeps to: cut off at the cap all the same."""
    server.length = None
    server.body = BODY
    with pytest.raises(CameraRejected):
        client.download(MediaServer.PATH, tmp_path / "f", max_bytes=len(BODY) - 1)


def test_unexpected_size_is_refused(server, client, tmp_path):
    with pytest.raises(CameraRejected, match="expected 5"):
        client.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000, expected_size=5)


def test_http_error_is_rejected_with_its_status(server, client, tmp_path):
    with pytest.raises(CameraRejected) as info:
        client.download("/videos/DCIM/100GOPRO/NOPE.MP4", tmp_path / "f", max_bytes=10_000_000)
    assert info.value.http_status == 404 and "404" in str(info.value)
    assert (tmp_path / "f").read_bytes() == b""


def test_stall_is_caught_by_the_low_speed_limit(server, client, tmp_path):
    # libcurl judges the speed on a recent average (a few seconds), so a few KB then silence drops
    # below 1000 bytes/s at once and the 1 s low-speed time runs out long before the silence ends.
    server.stall_after = 2000
    server.stall_s = 15.0
    dest = tmp_path / "f"
    t0 = time.monotonic()
    with pytest.raises(CameraUnreachable, match="stalled"):
        client.download(MediaServer.PATH, dest, max_bytes=10_000_000, low_speed_limit=1000, low_speed_time=1)
    assert time.monotonic() - t0 < 12.0                # not the server's 15 s silence
    assert dest.stat().st_size == 2000                 # what arrived is kept: resumable


def test_dropped_connection_is_unreachable_and_resumable(server, client, tmp_path):
    server.stall_after = 30_000
    server.stall_s = 0.0                                # the handler returns: connection closed short
    dest = tmp_path / "f"
    with pytest.raises(CameraUnreachable):
        client.download(MediaServer.PATH, dest, max_bytes=10_000_000)
    size = dest.stat().st_size
    server.stall_after = None
    res = client.download(MediaServer.PATH, dest, offset=size, max_bytes=10_000_000)
    assert res.resumed and dest.read_bytes() == BODY


def test_abort_event_stops_the_transfer(server, client, tmp_path):
    server.drip = 0.05
    abort = threading.Event()

    def progress(done, total):
        if done >= 20_000:
            abort.set()

    dest = tmp_path / "f"
    with pytest.raises(DownloadAborted) as info:
        client.download(MediaServer.PATH, dest, max_bytes=10_000_000, progress=progress, abort=abort)
    assert 20_000 <= info.value.size < len(BODY)
    assert dest.stat().st_size == info.value.size


def test_abort_event_stops_a_stalled_transfer(server, client, tmp_path):
    """Nothing arrives, so no write callback runs: the progress call (about once a second when
    idle) still sees the event, well before the low-speed limit (30 s here)."""
    server.stall_after = 10_000
    server.stall_s = 8.0
    abort = threading.Event()
    threading.Timer(0.3, abort.set).start()
    t0 = time.monotonic()
    with pytest.raises(DownloadAborted):
        client.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000, low_speed_time=30, abort=abort)
    assert time.monotonic() - t0 < 5.0


def test_download_into_an_open_file_object(server, client, tmp_path):
    with open(tmp_path / "f", "w+b") as fh:
        res = client.download(MediaServer.PATH, fh, max_bytes=10_000_000)
        fh.seek(0)
        assert fh.read() == BODY and res.size == len(BODY)


def test_bad_arguments_are_named(client, tmp_path):
    with pytest.raises(ValueError, match="max_bytes"):
        client.download("/x", tmp_path / "f", max_bytes=0)
    with pytest.raises(ValueError, match="offset"):
        client.download("/x", tmp_path / "f", max_bytes=10, offset=-1)


# --- route mode: chunks, the route lock free between them -------------------------------------------


class FakeIp:
    """Stands in for ``ip route replace`` (argv recorded, always succeeds)."""

    def __init__(self):
        self.calls = []

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)

        class R:
            returncode, stdout, stderr = 0, "", ""
        return R()


def test_route_mode_download_is_chunked_and_lets_other_cameras_in(server, tmp_path):
    """Each chunk is one exchange under the shared route lock; another camera's exchange waiting
    for the lock gets it between chunks instead of after the whole file."""
    table = RouteTable(run=FakeIp())
    link = RouteLink("front", "127.0.0.1", "lo", table)
    other = RouteLink("rear", "127.0.0.1", "lo", table)
    http = HttpClient(link, port=server.port, timeout=1.0, connect_timeout=0.5)
    events = []
    started = threading.Event()

    def other_camera():
        started.wait(5)
        with other.exchange():             # waits for the lock: the download holds it mid-chunk
            events.append("rear")

    def on_request(rng):
        events.append(f"front {rng}")
        if len(events) == 1:
            started.set()
            time.sleep(0.1)                # "rear" is now blocked on the lock held for this chunk

    server.on_request = on_request
    t = threading.Thread(target=other_camera)
    t.start()
    res = http.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000, chunk_bytes=100_000)
    t.join(5)
    assert (tmp_path / "f").read_bytes() == BODY
    assert res.requests == 4 and res.status == 206 and not res.resumed
    assert server.requests == ["bytes=0-99999", "bytes=100000-199999", "bytes=200000-299999",
                               "bytes=300000-307199"]
    assert events.index("rear") < len(events) - 1, events     # before the last chunk, not after the file
    http.close()


def test_route_link_chunks_by_default(server, tmp_path):
    table = RouteTable(run=FakeIp())
    http = HttpClient(RouteLink("front", "127.0.0.1", "lo", table), port=server.port)
    res = http.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000)
    assert server.requests[0] == "bytes=0-1048575" and res.status == 206 and res.size == len(BODY)
    http.close()


def test_route_mode_camera_ignoring_range_sends_the_whole_file_in_one_exchange(server, tmp_path, caplog):
    server.ignore_range = True
    table = RouteTable(run=FakeIp())
    http = HttpClient(RouteLink("front", "127.0.0.1", "lo", table), port=server.port)
    caplog.set_level("INFO", logger="camrig.http")
    res = http.download(MediaServer.PATH, tmp_path / "f", max_bytes=10_000_000, chunk_bytes=100_000)
    assert res.requests == 1 and res.status == 200 and (tmp_path / "f").read_bytes() == BODY
    assert any("ignores Range" in r.getMessage() for r in caplog.records)
    http.close()
