"""The emulated cameras' HTTP server base: a ThreadingHTTPServer that a camera can pull the plug on.

Shared by the GoPro body (:mod:`.body`) and the Olympus body (:mod:`.olympus`): no DNS lookup at
bind (``HTTPServer.server_bind`` calls ``socket.getfqdn()``), ``TCP_NODELAY`` on each connection
(the emulated answer delay is the camera's, not Nagle's), every open connection tracked so that a
reboot or Wi-Fi off can drop them all at once (:meth:`TrackedHttpServer.abort_connections`), and a
client that goes away mid-answer logged quietly (normal for a camera).
"""

from __future__ import annotations

import http.server
import logging
import socket
import socketserver
import threading

log = logging.getLogger("camrig.emulator")

#: SO_LINGER on, 0 s: close() sends a reset instead of a FIN
_LINGER_RESET = b"\x01\x00\x00\x00\x00\x00\x00\x00"


class TrackedHttpServer(http.server.ThreadingHTTPServer):
    """ThreadingHTTPServer without DNS, with TCP_NODELAY and connection tracking.

    ``abort_with_reset``: :meth:`abort_connections` makes the peer see a reset (True) or an EOF
    (False) — a camera whose radio goes off mid-answer; which one a real camera's peer sees is
    unverified, each body picks one.
    """

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 64
    abort_with_reset = True

    def __init__(self, addr, handler):
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)          # no getfqdn(): no DNS lookup
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), port

    def get_request(self):
        conn, addr = super().get_request()
        try:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        with self.conn_lock:
            self.connections.add(conn)
        return conn, addr

    def shutdown_request(self, request) -> None:
        with self.conn_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        """Drop every open connection (reboot, Wi-Fi off): the peer sees a reset or an EOF."""
        with self.conn_lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                if self.abort_with_reset:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:
        log.debug("connection from %s ended with an error", client_address[0], exc_info=True)
