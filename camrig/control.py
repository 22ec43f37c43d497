"""The control socket: how a shell (``gopro-manager mark|record|offload``) talks to the daemon.

An ``AF_UNIX`` stream socket at ``CONTROL_SOCKET`` (default ``/run/gopro-manager/control.sock``,
in the unit's ``RuntimeDirectory=``), mode 0660, group ``gopro-manager`` when that group exists:
who may record, mark or offload is who may open the file (the kernel checks it at ``connect()``;
a non-member gets ``EACCES`` and the client says how to join the group). Each connection
carries one JSON object per line each way (UTF-8, at most :data:`MAX_LINE` bytes a line), any
number of requests, answered in order::

    → {"command": "record", "args": ["on"], "options": {}}
    ← {"ok": true, "command": "record", "detail": "...",
       "cameras": {"front": {"ok": true, "detail": "..."}}, "data": {}}
    → {"command": "snapshot"}
    ← {"ok": true, "command": "snapshot", "detail": "", "cameras": {}, "data": {}, "snapshot": {...}}

A request becomes a :class:`camrig.commands.Command` (``source="socket"``) posted to the
controller's loop, exactly like a signal, a button or an MQTT command; the connection's thread
waits for the loop's answer (never the loop for the socket). ``snapshot`` is answered from the
newest snapshot the controller handed its publishers, without the loop. A request that is not
JSON, not an object, too long, or names an unknown command gets ``{"ok": false, "detail": why}``;
a line over :data:`MAX_LINE` also ends the connection (the rest of it cannot be framed). Nothing
a client sends can stop the loop or a recording.

Sources: ``unix(7)`` (``SO_PEERCRED``, path length ≤ 107 bytes, permissions checked at connect),
``socket(7)``.
"""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .commands import Command, CommandError
from .errors import CamRigError

log = logging.getLogger(__name__)

DEFAULT_PATH = "/run/gopro-manager/control.sock"
#: the group allowed to use the socket (installed by install.sh / sysusers.d)
GROUP = "gopro-manager"
#: longest request or reply line (bytes, newline included)
MAX_LINE = 64 * 1024
#: ``sun_path`` holds 108 bytes with its NUL (unix(7))
MAX_PATH = 107
#: seconds a connection may sit without sending a line before it is closed
IDLE_TIMEOUT = 60.0
#: seconds a request waits for the loop's answer
REPLY_TIMEOUT = 30.0
#: connections served at once; more are answered "busy" and closed
MAX_CLIENTS = 8


class ControlError(CamRigError):
    """The control socket cannot be served or used (the message names the path and what to do)."""


class DaemonNotRunning(ControlError):
    """No daemon listens on the control socket (the CLI exits 3)."""


def _error(command: str, detail: str) -> dict:
    return {"ok": False, "command": command, "detail": detail, "cameras": {}, "data": {}}


def _peer(conn: socket.socket) -> str:
    """``"pid=N uid=N"`` of the process at the other end (``SO_PEERCRED``, unix(7))."""
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _gid = struct.unpack("3i", raw)
        return f"pid={pid} uid={uid}"
    except OSError:
        return "peer unknown"


class ControlServer:
    """Serve the control socket for ``controller`` (a :class:`camrig.controller.Controller`:
    ``post(cmd)`` and ``last_snapshot`` are all it uses) in threads of its own.

    ``path``: the socket file (≤ :data:`MAX_PATH` bytes; its folder must exist). ``mode``: its
    permission bits (0660). ``group``: its group when that group exists (else the daemon's own,
    logged). ``reply_timeout``: seconds a request waits for the loop.

    :meth:`start` raises :class:`ControlError` when another daemon already listens there, the
    path is something other than a socket (never removed), or it cannot be bound.
    """

    def __init__(self, path: str, controller, *, mode: int = 0o660, group: str | None = GROUP,
                 reply_timeout: float = REPLY_TIMEOUT, idle_timeout: float = IDLE_TIMEOUT,
                 max_clients: int = MAX_CLIENTS):
        self.path = str(path)
        self.controller = controller
        self.mode = mode
        self.group = group
        self.reply_timeout = reply_timeout
        self.idle_timeout = idle_timeout
        self._slots = threading.BoundedSemaphore(max_clients)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._inode: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return f"<ControlServer {self.path} {'listening' if self._sock else 'closed'}>"

    # --- binding ------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind, set mode and group, listen, and serve from a daemon thread."""
        if len(os.fsencode(self.path)) > MAX_PATH:
            raise ControlError(f"control socket {self.path}: longer than {MAX_PATH} bytes (unix(7)); "
                               "choose a shorter CONTROL_SOCKET")
        self._clear_stale()
        folder = os.path.dirname(self.path) or "."
        # Bound under a temporary name, given its mode and group, then renamed into place: no
        # moment where the final path exists with the process umask's permissions.
        tmp = os.path.join(folder, f".{os.path.basename(self.path)}.{os.getpid()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            sock.bind(tmp)
            os.chmod(tmp, self.mode)
            self._set_group(tmp)
            sock.listen(16)
            os.rename(tmp, self.path)
        except OSError as exc:
            sock.close()
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ControlError(f"control socket {self.path}: cannot listen: {exc.strerror or exc}") from None
        st = os.stat(self.path)
        self._inode = (st.st_dev, st.st_ino)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept, name="control-socket", daemon=True)
        self._thread.start()
        log.info("control socket listening on %s (mode %o)", self.path, self.mode)

    def _clear_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlError(f"control socket {self.path}: exists and is not a socket; not touching it "
                               "(remove it or choose another CONTROL_SOCKET)")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(self.path)
        except OSError:
            os.unlink(self.path)        # left by a daemon that died: nobody listens
            log.info("control socket %s: removed a stale socket nobody listened on", self.path)
            return
        finally:
            probe.close()
        raise ControlError(f"control socket {self.path}: another daemon is listening there "
                           "(is gopro-manager running twice?)")

    def _set_group(self, path: str) -> None:
        if not self.group:
            return
        try:
            gid = grp.getgrnam(self.group).gr_gid
        except KeyError:
            log.info("control socket: no group %r on this system; only the daemon's own user and group "
                     "may use %s (install.sh creates the group)", self.group, self.path)
            return
        try:
            os.chown(path, -1, gid)
        except PermissionError:
            log.warning("control socket: cannot give %s to group %r (the daemon's user is not a member)",
                        self.path, self.group)

    # --- serving ------------------------------------------------------------------------------

    def _accept(self) -> None:
        sock = self._sock
        while sock is not None and not self._closed.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            if not self._slots.acquire(blocking=False):
                with contextlib.suppress(OSError):
                    conn.sendall(self._encode(_error("", f"busy: {MAX_CLIENTS} clients already connected")))
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="control-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        peer = _peer(conn)
        try:
            conn.settimeout(self.idle_timeout)
            stream = conn.makefile("rb")
            while not self._closed.is_set():
                try:
                    line = stream.readline(MAX_LINE + 1)
                except (TimeoutError, OSError):
                    return
                if not line:
                    return
                if len(line) > MAX_LINE:
                    conn.sendall(self._encode(_error("", f"request longer than {MAX_LINE} bytes; closing")))
                    log.warning("control socket: a request over %d bytes from %s; connection closed",
                                MAX_LINE, peer)
                    return
                if not line.strip():
                    continue
                conn.sendall(self._encode(self.handle(line, peer=peer)))
        except OSError:
            return
        finally:
            self._slots.release()
            with contextlib.suppress(OSError):
                conn.close()

    def handle(self, line: bytes, *, peer: str = "test") -> dict:
        """One request line → its reply (a dict, see the module docstring). Never raises."""
        try:
            request = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return _error("", f"not a JSON object on one line: {exc}")
        if not isinstance(request, dict):
            return _error("", "a request is a JSON object such as {\"command\": \"mark\"}")
        name = request.get("command")
        if not isinstance(name, str) or not name:
            return _error("", "the request has no \"command\" string")
        args = request.get("args", [])
        options = request.get("options", {})
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return _error(name, "\"args\" must be a list of strings")
        if not isinstance(options, dict):
            return _error(name, "\"options\" must be an object")
        if name == "snapshot":
            snap = getattr(self.controller, "last_snapshot", None)
            if snap is None:
                return _error(name, "no snapshot yet (the daemon is starting)")
            return {"ok": True, "command": name, "detail": "", "cameras": {}, "data": {}, "snapshot": snap}
        try:
            cmd = Command(name, tuple(args), source="socket", options=options)
        except CommandError as exc:
            return _error(name, exc.detail)
        log.info("control socket: %s from %s", cmd, peer)
        self.controller.post(cmd)
        try:
            return cmd.result(self.reply_timeout).as_dict()
        except TimeoutError:
            return _error(name, f"the daemon did not answer within {self.reply_timeout:.0f} s")

    @staticmethod
    def _encode(reply: Mapping[str, Any]) -> bytes:
        data = json.dumps(reply, separators=(",", ":"), default=str).encode() + b"\n"
        if len(data) > MAX_LINE:
            data = json.dumps(_error(str(reply.get("command", "")), "reply too long for one line")).encode() + b"\n"
        return data

    def close(self) -> None:
        """Stop listening and remove the socket file (only if it is still ours)."""
        self._closed.set()
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        try:
            st = os.stat(self.path)
            if self._inode == (st.st_dev, st.st_ino):
                os.unlink(self.path)
        except OSError:
            pass


class ControlClient:
    """Talk to the running daemon: ``request("record", ["on"])`` → the reply dict.

    ``path``: the socket (the config's ``CONTROL_SOCKET``); ``timeout``: seconds for a reply
    (the daemon itself gives up on the loop after :data:`REPLY_TIMEOUT`).

    :raises DaemonNotRunning: no socket file, or nobody listening on it.
    :raises ControlError: permission denied (not in the group), no answer in time, or a reply
        that is not one JSON object.
    """

    def __init__(self, path: str = DEFAULT_PATH, *, timeout: float = REPLY_TIMEOUT + 5.0):
        self.path = str(path)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<ControlClient {self.path}>"

    def request(self, command: str, args: Sequence[str] = (), options: Mapping[str, Any] | None = None,
                *, timeout: float | None = None) -> dict:
        """Send one request and return its reply (``{"ok", "command", "detail", "cameras", "data"}``)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            try:
                self._connect(sock, self.timeout if timeout is None else timeout)
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise DaemonNotRunning(f"no gopro-manager daemon is listening on {self.path} "
                                       f"({exc.strerror}); is the service running?") from None
            except PermissionError:
                raise ControlError(f"permission denied on {self.path}: it is for root and the group "
                                   f"{GROUP!r} (add yourself: usermod -aG {GROUP} USER, then log in again)") from None
            body = {"command": command, "args": list(args), "options": dict(options or {})}
            try:
                sock.sendall(json.dumps(body).encode() + b"\n")
            except (BrokenPipeError, ConnectionResetError):
                pass     # answered and closed at once ("busy"): that answer is read below
            try:
                line = sock.makefile("rb").readline(MAX_LINE + 1)
            except TimeoutError:
                raise ControlError(f"the daemon did not answer {command!r} on {self.path} in time") from None
            except OSError as exc:
                raise ControlError(f"the daemon closed {self.path} without answering {command!r} "
                                   f"({exc.strerror or exc})") from None
        finally:
            sock.close()
        if not line:
            raise ControlError(f"the daemon closed {self.path} without answering {command!r}")
        try:
            reply = json.loads(line)
        except ValueError:
            raise ControlError(f"the daemon's answer on {self.path} is not JSON: {line[:80]!r}") from None
        if not isinstance(reply, dict):
            raise ControlError(f"the daemon's answer on {self.path} is not a JSON object")
        return reply

    def _connect(self, sock: socket.socket, timeout: float) -> None:
        """``connect()``, waiting while the daemon's listen backlog is full: a socket with a timeout
        is non-blocking underneath, and a non-blocking AF_UNIX connect to a full backlog fails with
        EAGAIN at once instead of waiting (unix(7), ERRORS: EAGAIN) — 20 presses at once would see
        some fail. Retried every 20 ms until ``timeout`` seconds have passed (issue 13 part 8)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                sock.connect(self.path)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise ControlError(f"the daemon on {self.path} accepted no connection within "
                                       f"{timeout:.0f} s (its backlog stayed full)") from None
                time.sleep(0.02)

    def snapshot(self) -> dict:
        """The daemon's newest status snapshot (docs/contracts.md "Status snapshot")."""
        reply = self.request("snapshot")
        if not reply.get("ok"):
            raise ControlError(f"snapshot refused: {reply.get('detail')}")
        return reply["snapshot"]


def serve(path: str | None, controller, **kwargs) -> ControlServer | None:
    """Start a :class:`ControlServer` on ``path`` for the daemon, or None when ``path`` is None
    (disabled) or it cannot be served: the error is logged and the daemon goes on (the trigger
    and the cameras do not need the socket)."""
    if not path:
        return None
    server = ControlServer(path, controller, **kwargs)
    try:
        server.start()
    except ControlError as exc:
        log.error("%s; mark, record and offload from the shell will not reach this daemon", exc)
        return None
    return server


__all__ = ["DEFAULT_PATH", "GROUP", "MAX_LINE", "ControlClient", "ControlError", "ControlServer",
           "DaemonNotRunning", "serve"]
