"""Client for an emulated camera's control socket (tests, the namespace rig, the demo).

Protocol (docs/contracts.md, "Emulated legacy GoPro"): AF_UNIX stream socket, one JSON object
per line in, one JSON object per line out; every answer has ``"ok"``. A new connection per call
keeps the client trivially thread-safe.
"""

from __future__ import annotations

import json
import os
import socket
from typing import Any

from camrig.errors import CamRigError


class EmulatorUnavailable(CamRigError):
    """The emulated camera's control socket is missing or does not answer (emulator not running)."""


class EmulatorRequestFailed(CamRigError):
    """The emulator answered ``{"ok": false, "error": ...}``; ``answer`` is the whole reply."""

    def __init__(self, message: str, *, camera: str | None = None, answer: dict | None = None):
        self.answer = answer or {}
        super().__init__(message, camera=camera)


class EmulatorControl:
    """Talk to one emulated camera at ``sock_path``; ``timeout`` in seconds per request.

    >>> cam = EmulatorControl("/run/gopro-emu/front.sock")
    >>> cam.fault("sd_error"); cam.state()["sd_status"]
    3
    """

    def __init__(self, sock_path: str | os.PathLike, *, timeout: float = 5.0):
        self.sock_path = os.fspath(sock_path)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<EmulatorControl {self.sock_path}>"

    def request(self, op: str, **fields: Any) -> dict:
        """Send ``{"op": op, **fields}``; return the answer dict. Raises EmulatorUnavailable or
        EmulatorRequestFailed (when ``ok`` is false)."""
        if not os.path.exists(self.sock_path):
            raise EmulatorUnavailable(f"control socket {self.sock_path} does not exist (emulator not running?)")
        line = (json.dumps({"op": op, **fields}) + "\n").encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(self.timeout)
                s.connect(self.sock_path)
                s.sendall(line)
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
        except OSError as exc:
            raise EmulatorUnavailable(f"control socket {self.sock_path}: {exc}") from exc
        if not buf:
            raise EmulatorUnavailable(f"control socket {self.sock_path}: closed without an answer to {op!r}")
        answer = json.loads(buf)
        if not answer.get("ok", False):
            raise EmulatorRequestFailed(f"{op}: {answer.get('error', answer)}", answer=answer)
        return answer

    def state(self) -> dict:
        """``{"name", "power", "wifi", "system_ready", "recording", "sd_status", "record_started_at"
        (monotonic s or None), "events": [{"t", "what", ...}], "faults": {...}, ...}``."""
        return self.request("state")

    def events(self, what: str | None = None) -> list[dict]:
        """The camera's recorded events, optionally only those with ``what``."""
        return [e for e in self.state()["events"] if what is None or e["what"] == what]

    def fault(self, name: str, **kw: Any) -> dict:
        """Inject a fault: ``fault("sd_error")``, ``fault("slow", seconds=2)``,
        ``fault("http_500", on=True)``, ``fault("ble_error", error="auth")``."""
        return self.request("fault", name=name, **kw)

    def set_delay(self, ms: float) -> dict:
        """Set the wait before every HTTP answer, milliseconds."""
        return self.request("set_delay", ms=ms)

    def clear_events(self) -> dict:
        """Empty the camera's event list."""
        return self.request("clear_events")

    def ble(self, cmd_hex: str) -> str:
        """Write ``cmd_hex`` to the command characteristic GP-0072; return the camera's answer hex
        (``[len][cmd][status]``, e.g. ``"021700"``). Raises EmulatorRequestFailed on a ble_error fault."""
        return self.request("ble", cmd=cmd_hex)["response"]

    def ble_state(self) -> dict:
        """``{"ok", "ble_error": None|"enosys"|"busy"|"auth"|"refused"|"hang", "bt_mac", "power", "wifi"}``."""
        return self.request("ble_state")
