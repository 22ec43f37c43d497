"""Talk to systemd through the sd_notify protocol, without libsystemd.

The protocol (sd_notify(3), systemd.service(5) ``Type=notify``): newline
separated ``KEY=VALUE`` assignments in one datagram sent to the AF_UNIX socket
named by ``$NOTIFY_SOCKET`` -- a filesystem path, or ``@name`` for the
abstract namespace.  ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) tell the
service how often systemd expects ``WATCHDOG=1`` (``WatchdogSec=``).

Outside systemd (no ``$NOTIFY_SOCKET``) every method does nothing, so the
daemon runs the same from a terminal.  The variables are removed from the
environment when read, so that child processes (gatttool, ip) cannot send
notifications in our name.  Sending never raises: a hiccup of systemd must not
kill the daemon; the first failure of a streak is logged.

Sending never blocks either (``MSG_DONTWAIT`` on a non-blocking socket): when
systemd does not read its notification socket (a stalled PID 1, a full
receive queue -- ``net.unix.max_dgram_qlen`` datagrams, unix(7)) the datagram
is dropped and counted (:attr:`Notifier.dropped`), and the caller, who knows
what the message was for, decides whether to send it again (the controller
re-sends a dropped ``WATCHDOG=1`` at its next tick and a dropped ``STATUS=``
with its next status).  A stalled systemd never delays a shutter.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import MutableMapping

log = logging.getLogger(__name__)

_ENV_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


class Notifier:
    """sd_notify client for one service process.

    :param environ: where to read ``NOTIFY_SOCKET``, ``WATCHDOG_USEC`` and
        ``WATCHDOG_PID``; they are removed from it (``os.environ`` by default,
        so ``os.unsetenv`` runs too and children do not inherit them).

    Properties: :attr:`enabled` (a notification socket is known),
    :attr:`address` (``str`` path, or ``bytes`` starting with NUL for an
    abstract socket, or ``None``), :attr:`watchdog_interval`.
    """

    def __init__(self, environ: MutableMapping[str, str] = os.environ):
        values = {name: environ.pop(name, None) for name in _ENV_VARS}
        self.address: str | bytes | None = self._parse_address(values["NOTIFY_SOCKET"])
        self._watchdog_usec = self._parse_watchdog(values["WATCHDOG_USEC"], values["WATCHDOG_PID"])
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self._failing = False
        self._full = False
        #: datagrams dropped because systemd's socket was full (it does not read it)
        self.dropped = 0

    @staticmethod
    def _parse_address(value: str | None) -> str | bytes | None:
        if not value:
            return None
        if value.startswith("@"):
            # Abstract namespace: leading NUL instead of "@" (unix(7)).
            return b"\0" + value[1:].encode()
        if value.startswith("/"):
            return value
        # "vsock:CID:PORT" (systemd >= 254, VMs) and anything newer.
        log.warning("NOTIFY_SOCKET=%r is not a unix socket; systemd notifications disabled",
                    value)
        return None

    @staticmethod
    def _parse_watchdog(usec: str | None, pid: str | None) -> int | None:
        if not usec:
            return None
        try:
            usec_value = int(usec)
        except ValueError:
            log.warning("WATCHDOG_USEC=%r is not an integer; watchdog ignored", usec)
            return None
        if usec_value <= 0:
            return None
        if pid:
            try:
                if int(pid) != os.getpid():
                    # Meant for another process (we were forked or exec'd by it).
                    return None
            except ValueError:
                log.warning("WATCHDOG_PID=%r is not an integer; watchdog ignored", pid)
                return None
        return usec_value

    @property
    def enabled(self) -> bool:
        """True when running under systemd with a notification socket."""
        return self.address is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between :meth:`watchdog` pings (half of ``WatchdogSec=``), or None.

        None when systemd does not watch this process (no ``WATCHDOG_USEC``,
        or ``WATCHDOG_PID`` names another process).
        """
        if self._watchdog_usec is None or not self.enabled:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self) -> bool:
        """Tell systemd start-up is finished (``READY=1``); ``systemctl start`` returns.
        Returns :meth:`notify`'s result (False: not sent)."""
        return self.notify(READY=1)

    def reloading(self) -> bool:
        """Tell systemd a reload began (``RELOADING=1`` + ``MONOTONIC_USEC``).

        systemd >= 253 (``Type=notify-reload``) wants the CLOCK_MONOTONIC time
        of the reload start in microseconds; send :meth:`ready` when done.
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.notify(RELOADING=1, MONOTONIC_USEC=usec)

    def stopping(self) -> bool:
        """Tell systemd the service is shutting down (``STOPPING=1``)."""
        return self.notify(STOPPING=1)

    def status(self, text: str) -> bool:
        """Set the one-line status shown by ``systemctl status`` (``STATUS=text``).

        Newlines in *text* become spaces (a newline would end the assignment).
        Returns False when it was not sent (send it again later).
        """
        return self.notify(STATUS=text)

    def watchdog(self) -> bool:
        """Keep-alive for ``WatchdogSec=`` (``WATCHDOG=1``); call every :attr:`watchdog_interval`.
        Returns False when it was not sent (dropped on a full socket): ping again soon."""
        return self.notify(WATCHDOG=1)

    def notify(self, **fields: object) -> bool:
        """Send ``KEY=VALUE`` lines in one datagram, in the order given.

        Keys are upper-cased (``status="x"`` sends ``STATUS=x``); values are
        ``str()``-ed, ``True``/``False`` sent as ``1``/``0``, newlines replaced
        by spaces.  Returns True when sent, False when disabled or the send
        failed (logged once per streak of failures, never raised).  Never
        blocks: a full socket (systemd not reading) drops the datagram
        (``EAGAIN``), counted in :attr:`dropped`.

        :raises ValueError: a key that is not ``[A-Za-z0-9_]+`` (a bug in the caller).
        """
        lines = []
        for key, value in fields.items():
            if not key or not key.replace("_", "").isalnum() or not key.isascii():
                raise ValueError(f"invalid sd_notify field name {key!r}")
            if isinstance(value, bool):
                value = int(value)
            text = str(value).replace("\r", " ").replace("\n", " ")
            lines.append(f"{key.upper()}={text}")
        address = self.address
        if address is None or not lines:            # not self.enabled
            return False
        message = "\n".join(lines).encode("utf-8", "replace")
        with self._lock:
            try:
                if self._socket is None:
                    # Non-blocking, and MSG_DONTWAIT on each send besides: a stuck systemd
                    # must never stall the main loop (it used to, for 1 s per message).
                    self._socket = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
                self._socket.sendto(message, socket.MSG_DONTWAIT, address)
            except BlockingIOError:
                # EAGAIN: systemd's receive queue is full, it is not reading.
                self.dropped += 1
                if not self._full:
                    log.warning("systemd does not read its notification socket %r (full); "
                                "dropping notifications until it does", self._shown_address())
                self._full = True
                return False
            except OSError as exc:
                if not self._failing:
                    log.warning("cannot notify systemd at %r (%s); carrying on",
                                self._shown_address(), exc)
                else:
                    log.debug("systemd notify still failing: %s", exc)
                self._failing = True
                return False
            if self._failing or self._full:
                log.info("systemd notifications work again (%d dropped on a full socket so far)",
                         self.dropped)
                self._failing = self._full = False
        return True

    def _shown_address(self) -> str:
        if isinstance(self.address, bytes):
            return "@" + self.address[1:].decode(errors="replace")
        return str(self.address)

    def close(self) -> None:
        """Close the socket (a later notify opens a new one)."""
        with self._lock:
            if self._socket is not None:
                self._socket.close()
                self._socket = None

    def __repr__(self) -> str:
        if not self.enabled:
            return "<Notifier disabled>"
        interval = self.watchdog_interval
        wd = f" watchdog={interval:g}s" if interval is not None else ""
        return f"<Notifier socket={self._shown_address()}{wd}>"
