"""The one place where HTTP to a camera happens (pycurl).

Timeouts, the response size cap and the way sockets reach the camera are
decided here and nowhere else. One :class:`HttpClient` per camera, used by
that camera's worker thread; its curl handle keeps the connection alive where
the Link allows (``bind`` and ``address`` modes), so a shutter costs one round
trip instead of a TCP handshake plus one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import pycurl

from .errors import CameraRejected, CameraUnreachable, LinkError
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


class _TooLarge(Exception):
    pass


class HttpClient:
    """HTTP GET to one camera through its Link.

    ``timeout`` is the whole exchange and ``connect_timeout`` the TCP
    handshake, both seconds; bodies over ``max_bytes`` are cut off and
    refused. Raises :class:`CameraUnreachable`, :class:`CameraRejected`
    (HTTP ≥ 400 is *not* raised here: callers read ``status``) or
    :class:`LinkError`.
    """

    def __init__(self, link: Link, *, port: int = 80, timeout: float = 3.0,
                 connect_timeout: float = 1.0, max_bytes: int = MAX_BODY_BYTES):
        self.link = link
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

    def reset(self) -> None:
        """Drop the kept-alive connection (after the camera slept, rebooted or a link change)."""
        with self._lock:
            if self._curl is not None:
                self._curl.close()
                self._curl = None

    close = reset
