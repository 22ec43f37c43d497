"""A stand-in GoPro media server for the offload tests: real sockets (http.server), the list
(``/gp/gpMediaList`` and ``/gopro/media/list``), files with Range, GPMF, delete, turbo transfer.
The emulated cameras serve no media yet (issue 10 part 7 is the emulator helper's): until they do
this server is the camera's media side in unit tests.

Switches: ``ignore_range``; ``drop`` (``{file name: bytes}``: that many bytes of the body, then
the connection is closed, once); ``dead`` (file names answered by a closed connection: the camera
gone); ``stall_after``/``stall_s``; ``extra`` (bytes sent beyond
the file with a Content-Length that claims them); ``raw_list`` (the list body as given); ``rate``
(bytes/s cap per connection)."""

from __future__ import annotations

import json
import re
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4(size: int, seed: int = 0) -> bytes:
    """An ISO BMFF file of exactly ``size`` bytes (≥ 64): ftyp, mdat (patterned), moov."""
    ftyp = box(b"ftyp", b"mp41\x00\x00\x00\x00mp41")
    moov = box(b"moov", box(b"mvhd", b"\x00" * 20))
    n = size - len(ftyp) - len(moov) - 8
    assert n >= 0
    body = bytes((i * 7 + seed) & 0xFF for i in range(min(n, 4096)))
    payload = (body * (n // max(1, len(body)) + 1))[:n]
    return ftyp + box(b"mdat", payload) + moov


class MediaCamera:
    """Files: ``{"100GOPRO/GH010001.MP4": bytes, ...}``; entries in the list get ``cre``/``mod``
    ``created`` and ``glrv`` for an MP4 whose LRV is present. ``requests``: (path, Range) seen."""

    def __init__(self, files: dict[str, bytes], *, created: int = 1_700_000_000):
        self.files = dict(files)
        self.created = created
        self.ignore_range = False
        self.drop: dict[str, int] = {}
        self.dead: set[str] = set()
        self.stall_after: int | None = None
        self.stall_s = 3.0
        self.extra = 0
        self.range_extra = 0                    # bytes sent beyond a 206's Content-Range (a lying camera)
        self.raw_list: bytes | None = None
        self.rate: float | None = None
        self.gpmf = True
        #: what /gopro/media/gpmf answers per file ("100GOPRO/GH010001.MP4" → bytes); others get filler
        self.gpmf_for: dict[str, bytes] = {}
        self.turbo: list[int] = []
        self.deleted: list[str] = []
        self.requests: list[tuple[str, str | None]] = []
        self.sent_bytes = 0                     # file body bytes written to sockets (bench: refetched bytes)
        self.first_byte_at: float = float("inf")  # time.monotonic() of the first and last body block sent
        self.last_byte_at: float = 0.0
        self.hold = threading.Event()          # set: every file transfer waits here first
        self.hold.set()
        cam = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body=b"", ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlsplit(self.path)
                q = parse_qs(url.query)
                cam.requests.append((url.path, self.headers.get("Range")))
                if url.path in ("/gp/gpMediaList", "/gopro/media/list"):
                    return self._send(200, cam.raw_list if cam.raw_list is not None else cam.list_body())
                if url.path == "/gopro/media/turbo_transfer":
                    cam.turbo.append(int(q["p"][0]))
                    return self._send(200, b"{}")
                if url.path in ("/gopro/media/delete/file", "/gp/gpControl/command/storage/delete"):
                    key = (q.get("path") or q.get("p"))[0].lstrip("/")
                    if key not in cam.files:
                        return self._send(400 if "path" in q else 500, b"{}")
                    del cam.files[key]
                    cam.deleted.append(key)
                    return self._send(200, b"{}")
                if url.path == "/gopro/media/gpmf":
                    key = q["path"][0]
                    if not cam.gpmf or key not in cam.files:
                        return self._send(404, b"{}")
                    return self._body(cam.gpmf_for.get(key, b"GPMF" + key.encode() * 50))
                m = re.fullmatch(r"/videos/DCIM/([^/]+)/([^/]+)", url.path)
                if not m:
                    return self._send(404, b"not found", "text/plain")
                key = f"{unquote(m.group(1))}/{unquote(m.group(2))}"
                if key not in cam.files:
                    return self._send(404, b"not found", "text/plain")
                cam.hold.wait(30)
                if key.split("/")[1] in cam.dead:
                    self.close_connection = True
                    return None
                return self._body(cam.files[key], cam.drop.pop(key.split("/")[1], None))

            def _body(self, data, drop=None):
                rng = self.headers.get("Range")
                status, first = 200, 0
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                full = len(data)
                if m and not cam.ignore_range:
                    first = int(m.group(1))
                    last = int(m.group(2)) if m.group(2) else full - 1
                    data, status = data[first:min(last, full - 1) + 1], 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {first}-{first + len(data) - 1}/{full}")
                body = data + b"\0" * (cam.extra if status == 200 else cam.range_extra)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                sent = 0
                start = time.monotonic()
                try:
                    for i in range(0, len(body), 16384):
                        block = body[i:i + 16384]
                        if drop is not None and sent + len(block) > drop:
                            self.wfile.write(block[:max(0, drop - sent)])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        if cam.stall_after is not None and sent + len(block) > cam.stall_after:
                            self.wfile.write(block[:max(0, cam.stall_after - sent)])
                            self.wfile.flush()
                            time.sleep(cam.stall_s)
                            self.close_connection = True
                            return
                        self.wfile.write(block)
                        sent += len(block)
                        cam.sent_bytes += len(block)
                        now = time.monotonic()
                        cam.first_byte_at = min(cam.first_byte_at, now)
                        cam.last_byte_at = now
                        if cam.rate:
                            ahead = sent / cam.rate - (time.monotonic() - start)
                            if ahead > 0:
                                time.sleep(ahead)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def list_body(self) -> bytes:
        folders: dict[str, list] = {}
        names = set(self.files)
        for key, data in self.files.items():
            folder, name = key.split("/", 1)
            if name.upper().endswith((".LRV", ".THM")):
                continue                      # a camera lists videos; LRV/THM are derived
            entry = {"n": name, "cre": str(self.created), "mod": str(self.created + 60), "s": str(len(data))}
            stem = name.rsplit(".", 1)[0]
            lrv = f"{folder}/GL{stem[2:]}.LRV" if stem[:2] in ("GH", "GX") else f"{folder}/{stem}.LRV"
            if lrv in names:
                entry["glrv"] = str(len(self.files[lrv]))
                entry["ls"] = "-1"
            folders.setdefault(folder, []).append(entry)
        return json.dumps({"id": "1", "media": [{"d": d, "fs": fs} for d, fs in folders.items()]}).encode()

    def close(self):
        self.hold.set()
        self.httpd.shutdown()
        self.httpd.server_close()
