"""The one place where HTTP to a camera happens (pycurl).

Timeouts, the response size cap and the way sockets reach the camera are
decided here and nowhere else. One :class:`HttpClient` per camera, used by
that camera's worker thread; its curl handle keeps the connection alive where
the Link allows (``bind`` and ``address`` modes), so a shutter costs one round
trip instead of a TCP handshake plus one.

Two kinds of exchange: :meth:`HttpClient.get` (a command or a status: body in memory, capped at
``max_bytes``, one total timeout) and :meth:`HttpClient.download` (a media file streamed to disk:
no total time cap but a low-speed limit, ``Range`` to resume, a size cap, a progress callback and
an abort event). A download uses a curl handle of its own (its own TCP connection), so it never
holds the client's lock that a shutter needs; the camera worker runs downloads from a sibling
client (:meth:`HttpClient.sibling`) on its job thread (docs/architecture.md).
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

import pycurl

from .errors import CameraRejected, CameraUnreachable, CamRigError, LinkError
from .link import Link

log = logging.getLogger(__name__)

#: Largest body accepted from a camera, bytes. A HERO7 status is ~3 KB and its
#: full capability description (/gp/gpControl) ~200 KB.
MAX_BODY_BYTES = 1024 * 1024

# libcurl error codes (curl/curl.h) that mean "the camera is not there".
_UNREACHABLE = {
    pycurl.E_COULDNT_CONNECT: "connection refused or no route",
    pycurl.E_OPERATION_TIMEDOUT: "timed out",
    pycurl.E_GOT_NOTHING: "empty reply",
    pycurl.E_RECV_ERROR: "connection reset",
    pycurl.E_SEND_ERROR: "send failed",
    pycurl.E_COULDNT_RESOLVE_HOST: "cannot resolve",
}


@dataclass(frozen=True)
class Response:
    """One HTTP answer: ``status`` code, ``body`` bytes, ``elapsed`` seconds."""

    status: int
    body: bytes
    elapsed: float


@dataclass(frozen=True)
class DownloadResult:
    """One finished download: ``status`` the HTTP code of the last answer (200, or 206 for a
    range), ``bytes_written`` bytes written by this call, ``size`` bytes in the file now,
    ``resumed`` True when the camera honoured ``Range`` (206) for a non-zero ``offset`` (False: it
    sent the whole file and the file was rewritten from byte 0), ``elapsed`` seconds,
    ``requests`` HTTP requests made (more than one only when chunked, see :meth:`HttpClient.download`)."""

    status: int
    bytes_written: int
    size: int
    resumed: bool
    elapsed: float
    requests: int = 1


class DownloadAborted(CamRigError):
    """The ``abort`` event of :meth:`HttpClient.download` was set: the transfer stopped (libcurl's
    progress callback returned non-zero, CURLE_ABORTED_BY_CALLBACK). What arrived stays in the file:
    ``size`` bytes, from which the caller may resume with ``offset=size``."""

    def __init__(self, message: str, *, camera: str | None = None, size: int = 0):
        self.size = size
        super().__init__(message, camera=camera)


#: Default low-speed limit of a download: below ``LOW_SPEED_LIMIT`` bytes/s for
#: ``LOW_SPEED_TIME`` s is a stalled transfer (libcurl CURLOPT_LOW_SPEED_LIMIT/_TIME).
LOW_SPEED_LIMIT = 10_000
LOW_SPEED_TIME = 10
#: In route mode a download is cut into ``Range`` requests of this many bytes, each one exchange
#: under the shared route lock, so other cameras' exchanges wait one chunk at most (not a file).
ROUTE_CHUNK_BYTES = 1024 * 1024
#: Seconds a chunked download leaves the route lock free between chunks, so that a waiting
#: exchange of another camera gets it (Python's lock is not fair: without a pause the downloader
#: would take it straight back).
ROUTE_CHUNK_PAUSE = 0.01

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


class HttpClient:
    """HTTP GET to one camera through its Link.

    ``timeout`` is the whole exchange and ``connect_timeout`` the TCP
    handshake, both seconds; bodies over ``max_bytes`` are cut off and
    refused. Raises :class:`CameraUnreachable`, :class:`CameraRejected`
    (HTTP ≥ 400 is *not* raised here: callers read ``status``) or
    :class:`LinkError`. ``headers``: extra request header lines (``"User-Agent: OI.Share v2"``)
    sent with every request; the attribute may be replaced between requests (a family that
    learns the camera's dialect from its first answer).
    """

    def __init__(self, link: Link, *, port: int = 80, timeout: float = 3.0,
                 connect_timeout: float = 1.0, max_bytes: int = MAX_BODY_BYTES,
                 headers: tuple[str, ...] = ()):
        self.link = link
        self.headers = tuple(headers)
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._curl: pycurl.Curl | None = None
        self._socket_error: LinkError | None = None

    def __repr__(self) -> str:
        return f"<HttpClient {self.link!r} port={self.port}>"

    def _handle(self) -> pycurl.Curl:
        if self._curl is None:
            c = pycurl.Curl()
            c.setopt(pycurl.NOSIGNAL, 1)              # threads: no SIGALRM for timeouts
            c.setopt(pycurl.PROXY, "")               # never through an http_proxy from the environment
            c.setopt(pycurl.NOPROXY, "*")
            c.setopt(pycurl.TCP_NODELAY, 1)
            c.setopt(pycurl.FOLLOWLOCATION, 0)
            c.setopt(pycurl.OPENSOCKETFUNCTION, self._open_socket)
            if not self.link.reuse_connections:
                c.setopt(pycurl.FORBID_REUSE, 1)
                c.setopt(pycurl.FRESH_CONNECT, 1)
            self._curl = c
        return self._curl

    def _open_socket(self, purpose, address):
        # pycurl calls this for every new connection; an exception here would
        # only be printed by pycurl, so keep it and report it after perform().
        try:
            return self.link.open_socket(address.family, address.socktype, address.protocol)
        except LinkError as exc:
            self._socket_error = exc
            return pycurl.SOCKET_BAD

    def get(self, path: str, *, port: int | None = None, timeout: float | None = None) -> Response:
        """GET ``path`` (starting with '/') on the camera; the answer, whatever its status code.

        Raises CameraUnreachable on connection errors and timeouts,
        CameraRejected when the body exceeds ``max_bytes``, LinkError when the
        Link could not make a socket.
        """
        url = f"http://{self.link.address}:{port or self.port}{path}"
        chunks: list[bytes] = []
        size = 0

        def write(data: bytes):
            nonlocal size
            size += len(data)
            if size > self.max_bytes:
                return 0  # makes libcurl stop with CURLE_WRITE_ERROR
            chunks.append(data)
            return None

        with self._lock, self.link.exchange():
            c = self._handle()
            self._socket_error = None
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.HTTPHEADER, list(self.headers))
            c.setopt(pycurl.WRITEFUNCTION, write)
            c.setopt(pycurl.TIMEOUT_MS, int((timeout or self.timeout) * 1000))
            c.setopt(pycurl.CONNECTTIMEOUT_MS, int(self.connect_timeout * 1000))
            c.setopt(pycurl.MAXFILESIZE, self.max_bytes)
            start = time.monotonic()
            try:
                c.perform()
            except pycurl.error as exc:
                code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
                if self._socket_error is not None:
                    raise self._socket_error from None
                if code in (pycurl.E_WRITE_ERROR, pycurl.E_FILESIZE_EXCEEDED):
                    raise CameraRejected(f"GET {path}: answer larger than {self.max_bytes} bytes, refused",
                                         camera=self.link.camera) from None
                if code == pycurl.E_PARTIAL_FILE:
                    # The camera answered, then the answer was cut short: a bad answer (the
                    # worker marks the camera degraded), not an absent camera (which starts a wake).
                    raise CameraRejected(f"GET {path}: answer cut short ({message or code})",
                                         camera=self.link.camera) from None
                what = _UNREACHABLE.get(code, "curl error")
                raise CameraUnreachable(f"GET {path}: {what} ({message or code})",
                                        camera=self.link.camera) from None
            status = c.getinfo(pycurl.RESPONSE_CODE)
            elapsed = time.monotonic() - start
        body = b"".join(chunks)
        log.debug("%s: GET %s -> %s (%d bytes, %.1f ms)", self.link.camera, path, status, len(body),
                  elapsed * 1000)
        return Response(status=status, body=body, elapsed=elapsed)

    def sibling(self) -> HttpClient:
        """A new client for the same camera (same Link, port and timeouts) with a connection of its
        own: what the worker's job thread uses, so a job never holds this client's lock."""
        return HttpClient(self.link, port=self.port, timeout=self.timeout,
                          connect_timeout=self.connect_timeout, max_bytes=self.max_bytes, headers=self.headers)

    def download(self, path: str, dest: str | os.PathLike[str] | BinaryIO, *, max_bytes: int,
                 offset: int = 0, expected_size: int | None = None, port: int | None = None,
                 low_speed_limit: int = LOW_SPEED_LIMIT, low_speed_time: int = LOW_SPEED_TIME,
                 connect_timeout: float | None = None,
                 progress: Callable[[int, int | None], None] | None = None,
                 abort: threading.Event | None = None, chunk_bytes: int | None = None) -> DownloadResult:
        """GET ``path`` and stream the body into ``dest`` (a file name, or a binary file object open
        for writing that can seek and truncate); returns a :class:`DownloadResult`.

        ``offset`` (bytes) > 0 resumes: ``Range: bytes=offset-`` (RFC 9110 §14.2) and the body is
        written from ``offset`` on when the camera answers 206 (``resumed=True``); a camera that
        ignores Range answers 200 with the whole file, which then replaces the file from byte 0
        (``resumed=False``). A file name is opened for update (kept up to ``offset``) when
        ``offset`` > 0, else created or truncated. ``expected_size`` (bytes): the file's full size
        as the caller knows it (media list); an answer naming another size is refused.
        ``max_bytes`` (bytes) caps the whole file: refused before anything is written when the
        answer says it is larger, and cut off when more arrives. No total time cap: the transfer
        fails when slower than ``low_speed_limit`` bytes/s for ``low_speed_time`` seconds
        (libcurl CURLOPT_LOW_SPEED_LIMIT / CURLOPT_LOW_SPEED_TIME); ``connect_timeout`` seconds
        (default the client's) for the TCP handshake. ``progress(bytes_done, bytes_total)`` is
        called from this thread after each block written (``bytes_done`` counts from byte 0 of
        the file; ``bytes_total`` None while unknown). Setting ``abort`` stops the transfer
        within one libcurl progress call (CURLOPT_XFERINFOFUNCTION returning non-zero gives
        CURLE_ABORTED_BY_CALLBACK; libcurl calls it often while data flows and about once a
        second when nothing arrives) and raises :class:`DownloadAborted`.

        Route mode (``RouteLink``: one host route shared by every camera, switched under one lock
        held for each exchange): a download of one request would hold the route lock, so every
        other camera's exchanges (status, shutter) would wait for the whole file. Here a download
        over a route link is cut into ``Range`` requests of ``chunk_bytes`` (default
        :data:`ROUTE_CHUNK_BYTES`), each its own exchange, with the lock left free for
        :data:`ROUTE_CHUNK_PAUSE` s between them: another camera waits one chunk at most (about
        0.5 s at 2 MB/s). A camera that ignores Range (200 to the first chunk) sends the whole
        file in that one exchange: the lock is then held for all of it (logged). ``chunk_bytes``
        given explicitly chunks on any link.

        Raises CameraRejected (HTTP status other than 200/206, with ``http_status``; a size over
        ``max_bytes`` or other than ``expected_size``; a malformed Content-Range),
        CameraUnreachable (connection failed, stalled below the low-speed limit, connection
        dropped mid-body: resumable from the file's size), DownloadAborted, LinkError (the Link
        could not make a socket; AdapterMismatch before anything is sent), OSError (the file).
        """
        if max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {max_bytes!r}")
        if offset < 0:
            raise ValueError(f"offset must be 0 or more, not {offset!r}")
        if chunk_bytes is None and getattr(self.link, "kind", None) == "route":
            chunk_bytes = ROUTE_CHUNK_BYTES
        if chunk_bytes is not None and chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be positive, not {chunk_bytes!r}")
        own = not hasattr(dest, "write")
        fh: IO[bytes]
        if own:
            name = cast("str | os.PathLike[str]", dest)
            fh = open(name, "r+b" if offset and os.path.exists(name) else "wb")  # noqa: SIM115
        else:
            fh = cast(IO[bytes], dest)
        start = time.monotonic()
        try:
            fh.seek(offset)
            fh.truncate()
            return self._download(path, fh, max_bytes=max_bytes, offset=offset, expected_size=expected_size,
                                  port=port, low_speed_limit=low_speed_limit, low_speed_time=low_speed_time,
                                  connect_timeout=connect_timeout, progress=progress, abort=abort,
                                  chunk_bytes=chunk_bytes, start=start)
        finally:
            fh.flush()
            if own:
                fh.close()

    def _download(self, path, fh, *, max_bytes, offset, expected_size, port, low_speed_limit,
                  low_speed_time, connect_timeout, progress, abort, chunk_bytes, start) -> DownloadResult:
        url = f"http://{self.link.address}:{port or self.port}{path}"
        camera = self.link.camera
        pos = offset                  # where the next byte goes in the file
        written = 0
        total: int | None = expected_size
        resumed = False
        requests = 0
        status = 0
        while True:
            first = pos
            last = None if chunk_bytes is None else first + chunk_bytes - 1
            if last is not None and total is not None:       # chunked, size known
                last = min(last, total - 1)
            if requests:
                time.sleep(ROUTE_CHUNK_PAUSE)      # let a waiting exchange take the route lock
            if abort is not None and abort.is_set():
                raise DownloadAborted(f"GET {path}: aborted at {pos} bytes", camera=camera, size=pos)
            ans = self._download_one(url, path, fh, first=first, last=last, max_bytes=max_bytes,
                                     expected_size=expected_size, total=total,
                                     low_speed_limit=low_speed_limit, low_speed_time=low_speed_time,
                                     connect_timeout=connect_timeout, progress=progress, abort=abort)
            requests += 1
            status, got, total, ranged = ans
            if not ranged:                          # 200: the whole file from byte 0
                written = got
                pos = got
                resumed = False
                if requests == 1 and chunk_bytes is not None and getattr(self.link, "kind", None) == "route":
                    log.info("%s: GET %s: the camera ignores Range; the whole file (%d bytes) was sent "
                             "under the route lock", camera, path, got)
                break
            if requests == 1 and first > 0:
                resumed = True
            written += got
            pos += got
            if last is None or total is None or pos >= total:
                break
            if got == 0:
                raise CameraRejected(f"GET {path}: empty range answer at {pos} of {total} bytes", camera=camera)
        if total is not None and pos < total:
            raise CameraUnreachable(f"GET {path}: {pos} of {total} bytes, then the answer ended",
                                    camera=camera)
        elapsed = time.monotonic() - start
        log.debug("%s: GET %s -> %s (%d bytes written, file %d bytes, %d request(s), %.1f s)", camera, path,
                  status, written, pos, requests, elapsed)
        return DownloadResult(status=status, bytes_written=written, size=pos, resumed=resumed,
                              elapsed=elapsed, requests=requests)

    def _download_one(self, url, path, fh, *, first, last, max_bytes, expected_size, total,
                      low_speed_limit, low_speed_time, connect_timeout, progress, abort):
        """One GET (with ``Range: bytes=first-[last]`` when ``first`` > 0 or ``last`` is set), body
        into ``fh``. Returns (status, bytes written, total size or None, ranged: 206)."""
        camera = self.link.camera
        head: dict = {"status": 0, "length": None, "range": None}
        state = {"got": 0, "checked": False, "ranged": False, "total": total, "why": None, "error": b""}
        socket_error: list[LinkError] = []

        def header(line: bytes):
            text = line.decode("iso-8859-1").strip()
            if text.startswith("HTTP/"):
                parts = text.split()
                head.update(status=int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0,
                            length=None, range=None)
            elif ":" in text:
                key, _, value = text.partition(":")
                key = key.strip().lower()
                if key == "content-length" and value.strip().isdigit():
                    head["length"] = int(value.strip())
                elif key == "content-range":
                    head["range"] = value.strip()

        def check_head() -> bool:
            """Before the first body byte: is this an answer to write? Sets state; False → stop."""
            state["checked"] = True
            st = head["status"]
            if st not in (200, 206):
                state["why"] = "status"
                return True                        # keep a little of the body for the message
            if st == 206:
                m = _CONTENT_RANGE.match(head["range"] or "")
                if m is None or int(m.group(1)) != first:
                    state["why"] = f"Content-Range {head['range']!r} does not answer bytes={first}-"
                    return False
                size = None if m.group(3) == "*" else int(m.group(3))
                state["ranged"] = True
            else:
                size = head["length"]
                if first > 0:
                    fh.seek(0)                     # Range ignored: the whole file, from byte 0
                    fh.truncate()
            if size is not None:
                if size > max_bytes:
                    state["why"] = f"file of {size} bytes is over the {max_bytes}-byte cap"
                    return False
                if expected_size is not None and size != expected_size:
                    state["why"] = f"file is {size} bytes, expected {expected_size}"
                    return False
                state["total"] = size
            return True

        def write(data: bytes):
            if not state["checked"] and not check_head():
                return 0
            if state["why"] == "status":        # an error answer: keep its start for the message
                state["error"] += data[:512]
                return 0 if len(state["error"]) >= 512 else None
            base = first if state["ranged"] else 0
            if base + state["got"] + len(data) > max_bytes:
                state["why"] = f"more than the {max_bytes}-byte cap arrived"
                return 0
            fh.write(data)
            state["got"] += len(data)
            if progress is not None:
                progress(base + state["got"], state["total"])
            return None

        def xferinfo(dltotal, dlnow, ultotal, ulnow):
            return 1 if abort is not None and abort.is_set() else 0

        def open_socket(purpose, address):
            try:
                return self.link.open_socket(address.family, address.socktype, address.protocol)
            except LinkError as exc:
                socket_error.append(exc)
                return pycurl.SOCKET_BAD

        c = pycurl.Curl()
        try:
            c.setopt(pycurl.NOSIGNAL, 1)
            c.setopt(pycurl.PROXY, "")
            c.setopt(pycurl.NOPROXY, "*")
            c.setopt(pycurl.FOLLOWLOCATION, 0)
            c.setopt(pycurl.OPENSOCKETFUNCTION, open_socket)
            c.setopt(pycurl.FORBID_REUSE, 1)
            c.setopt(pycurl.URL, url)
            c.setopt(pycurl.HTTPHEADER, list(self.headers))
            c.setopt(pycurl.HEADERFUNCTION, header)
            c.setopt(pycurl.WRITEFUNCTION, write)
            c.setopt(pycurl.NOPROGRESS, 0)
            c.setopt(pycurl.XFERINFOFUNCTION, xferinfo)
            c.setopt(pycurl.CONNECTTIMEOUT_MS, int((connect_timeout or self.connect_timeout) * 1000))
            c.setopt(pycurl.TIMEOUT_MS, 0)                      # no total cap: the low-speed limit instead
            c.setopt(pycurl.LOW_SPEED_LIMIT, int(low_speed_limit))
            c.setopt(pycurl.LOW_SPEED_TIME, max(1, int(round(low_speed_time))))
            if first > 0 or last is not None:
                c.setopt(pycurl.RANGE, f"{first}-{'' if last is None else last}")
            with self.link.exchange():
                try:
                    c.perform()
                except pycurl.error as exc:
                    code, message = exc.args[0], exc.args[1] if len(exc.args) > 1 else ""
                    done = (first if state["ranged"] else 0) + state["got"]
                    if socket_error:
                        raise socket_error[0] from None
                    if state["why"] == "status":
                        pass                       # an HTTP error answer cut short: refused below
                    elif code == pycurl.E_ABORTED_BY_CALLBACK:
                        raise DownloadAborted(f"GET {path}: aborted at {done} bytes", camera=camera,
                                              size=done) from None
                    elif code == pycurl.E_WRITE_ERROR and state["why"]:
                        raise CameraRejected(f"GET {path}: {state['why']}", camera=camera,
                                             http_status=head["status"] or None) from None
                    elif code == pycurl.E_OPERATION_TIMEDOUT and head["status"]:
                        raise CameraUnreachable(f"GET {path}: stalled: below {low_speed_limit} bytes/s for "
                                                f"{low_speed_time} s at {done} bytes", camera=camera) from None
                    else:
                        what = _UNREACHABLE.get(code, "curl error")
                        if code == pycurl.E_PARTIAL_FILE:
                            what = "connection dropped mid-file"
                        raise CameraUnreachable(f"GET {path}: {what} at {done} bytes ({message or code})",
                                                camera=camera) from None
        finally:
            c.close()
        if not state["checked"]:
            check_head()                       # an empty body: still look at the status
            if state["why"] and state["why"] != "status":
                raise CameraRejected(f"GET {path}: {state['why']}", camera=camera)
        if state["why"] == "status":
            snippet = state["error"][:80].decode("utf-8", "replace")
            raise CameraRejected(f"GET {path} answered HTTP {head['status']}" + (f": {snippet!r}" if snippet else ""),
                                 camera=camera, http_status=head["status"])
        return head["status"], state["got"], state["total"], state["ranged"]

    def reset(self) -> None:
        """Drop the kept-alive connection (after the camera slept, rebooted or a link change)."""
        with self._lock:
            if self._curl is not None:
                self._curl.close()
                self._curl = None

    close = reset
