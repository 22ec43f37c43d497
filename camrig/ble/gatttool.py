"""BLE Wi-Fi-on for legacy GoPros (HERO5–8) through BlueZ's ``gatttool``, driven by pexpect.

The dialogue (``gatttool -i hci0 -t random -b MAC -I``)::

    [D4:D9:19:9A:4C:7B][LE]> connect
    Attempting to connect to D4:D9:19:9A:4C:7B
    Connection successful
    [D4:D9:19:9A:4C:7B][LE]> char-write-req 0x2f 03170101
    Characteristic value was written successfully

``03 17 01 01`` is "Wi-Fi AP on" written to the command characteristic GP-0072
(DESIGN.md "Field facts"; KonradIT/goprowifihack HERO5 notes). gatttool
addresses it by ATT handle, which varies by model: 0x2f on the HERO5/HERO7
(BerlinUnited/NaoTH's gatttool script uses 0x2f), 0x33 on others; we write
0x2f and fall back to 0x33 when 0x2f is refused. Legacy cameras must have
been bonded once (``bluetoothctl pair``/``trust``), else the write fails
with "Attribute requires authentication".

Known failures, each retried with backoff and logged with the camera's name:
``Function not implemented (38)`` (adapter down / LE not supported yet),
``Device or resource busy (16)`` (another connection in progress),
``Connection refused (111)`` (camera out of range or BLE asleep),
``Attribute requires authentication`` (not bonded). Every wait has a timeout
and the child is killed on any exit path: gatttool cannot hang the daemon.
"""

from __future__ import annotations

import logging
import re
import threading
import time

import pexpect

from ..errors import BleError

log = logging.getLogger(__name__)

WIFI_ON = "03170101"
WIFI_OFF = "03170100"
HANDLES = ("0x2f", "0x33")

#: BlueZ gatttool error lines → short reason. ``permanent`` reasons are not
#: worth retrying quickly (a person must pair the camera).
KNOWN_ERRORS = {
    r"Function not implemented \(38\)": "enosys",
    r"Device or resource busy \(16\)": "busy",
    r"Connection refused \(111\)": "refused",
    r"Attribute requires authentication": "auth",
    r"Host is down \(112\)": "down",
    r"No route to host \(113\)": "noroute",
    r"Invalid handle": "handle",
    r"Connection timed out \(110\)": "timeout",
    r"Transport endpoint is not connected \(107\)": "notconn",
    r"No such device": "nodev",
}
_ERROR_RE = re.compile("|".join(f"(?:{p})" for p in KNOWN_ERRORS))
_GENERIC_ERROR = re.compile(r"(?:Error|error): ?[^\r\n]*")


def classify_error(text: str) -> str:
    """Short reason for a gatttool error line (``busy``, ``auth``…), ``other`` when unknown."""
    for pattern, reason in KNOWN_ERRORS.items():
        if re.search(pattern, text):
            return reason
    return "other"


class GatttoolBle:
    """Send legacy BLE commands with gatttool.

    ``gatttool`` is the executable (config ``GATTTOOL``), ``adapter`` the HCI
    adapter (``hci0``), ``timeout`` seconds per step (connect, write),
    ``attempts`` how many tries with backoff (``backoff`` seconds, doubling).
    A lock serialises gatttool runs: BlueZ handles one LE connection attempt
    per adapter at a time (more gives ``Device or resource busy``).
    """

    def __init__(self, gatttool: str = "gatttool", *, adapter: str = "hci0", timeout: float = 10.0,
                 attempts: int = 4, backoff: float = 1.0, env: dict | None = None):
        self.gatttool = gatttool
        self.adapter = adapter
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.env = env
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<GatttoolBle {self.gatttool} adapter={self.adapter}>"

    def wifi_on(self, bt_mac: str, *, camera: str, stop: threading.Event | None = None,
                deadline: float | None = None) -> None:
        """Turn the camera's Wi-Fi AP on. Raises BleError (with ``reason``) after the last attempt."""
        self.write(bt_mac, WIFI_ON, camera=camera, stop=stop, deadline=deadline)

    def write(self, bt_mac: str, value_hex: str, *, camera: str, stop: threading.Event | None = None,
              deadline: float | None = None) -> str:
        """Write ``value_hex`` to the command characteristic (handle 0x2f, else 0x33), with retries.

        ``deadline`` (``time.monotonic()`` seconds, e.g. the wake's) bounds the retries, the
        wait for the adapter and the back-off: the first attempt always runs (at most
        ``timeout``), later ones only within the deadline, so a gatttool that hangs stretches a
        wake past WAKE_TIMEOUT by one BLE_TIMEOUT at most (not attempts × BLE_TIMEOUT +
        back-off). Returns the handle that took the write. Raises BleError.
        """
        stop = stop or threading.Event()
        delay = self.backoff
        last: BleError | None = None

        def remaining() -> float | None:
            return None if deadline is None else deadline - time.monotonic()

        for attempt in range(1, self.attempts + 1):
            if stop.is_set():
                break
            left = remaining()
            if attempt > 1 and left is not None and left <= 0:
                break
            wait = -1 if left is None else (max(left, 0.0) if attempt > 1 else max(left, self.timeout))
            if not self._lock.acquire(timeout=wait):
                last = BleError("BLE adapter busy with another camera until the wake deadline",
                                camera=camera, reason="busy")
                break
            try:
                left = remaining()
                timeout = self.timeout if left is None or attempt == 1 else max(0.1, min(self.timeout, left))
                return self._dialogue(bt_mac, value_hex, camera, timeout=timeout)
            except BleError as exc:
                last = exc
                level = logging.WARNING if attempt == self.attempts else logging.INFO
                log.log(level, "%s: BLE write %s attempt %d/%d failed: %s", camera, value_hex, attempt,
                        self.attempts, exc.detail)
                if exc.reason in ("auth", "missing"):
                    break  # a person must bond the camera / install gatttool; retrying cannot help
            finally:
                self._lock.release()
            if attempt < self.attempts:
                left = remaining()
                stop.wait(delay if left is None else max(0.0, min(delay, left)))
                delay = min(delay * 2, 8.0)
        raise last or BleError("BLE write abandoned (stopping)", camera=camera, reason="stopped")

    def _dialogue(self, bt_mac: str, value_hex: str, camera: str, *, timeout: float | None = None) -> str:
        argv = ["-i", self.adapter, "-t", "random", "-b", bt_mac.upper(), "-I"]
        prompt = re.escape(f"[{bt_mac.upper()}][LE]>")
        try:
            child = pexpect.spawn(self.gatttool, argv, timeout=timeout or self.timeout, encoding="utf-8",
                                  codec_errors="replace", env=self.env, echo=False)
        except pexpect.ExceptionPexpect as exc:
            raise BleError(f"cannot run {self.gatttool}: {exc}", camera=camera, reason="missing") from None
        try:
            self._expect(child, [prompt], "start", camera)
            child.sendline("connect")
            self._expect(child, [r"Connection successful"], "connect", camera)
            refused: BleError | None = None
            for handle in HANDLES:
                child.sendline(f"char-write-req {handle} {value_hex}")
                try:
                    self._expect(child, [r"Characteristic value was written successfully"], "write", camera)
                    log.info("%s: BLE wrote %s to handle %s", camera, value_hex, handle)
                    return handle
                except BleError as exc:
                    if exc.reason not in ("handle", "other"):
                        raise
                    refused = exc  # this model has the characteristic elsewhere: next handle
            raise refused
        finally:
            try:
                if child.isalive():
                    child.sendline("exit")
                    child.expect(pexpect.EOF, timeout=1)
            except (pexpect.ExceptionPexpect, OSError):
                pass
            child.close(force=True)

    def _expect(self, child, patterns, step, camera):
        index = child.expect(list(patterns) + [_ERROR_RE, _GENERIC_ERROR, pexpect.EOF, pexpect.TIMEOUT])
        n = len(patterns)
        if index < n:
            return index
        if index in (n, n + 1):
            line = child.after.strip() if isinstance(child.after, str) else "error"
            # Read the rest of the line for the log (e.g. "connect error: ...").
            raise BleError(f"gatttool {step}: {line}", camera=camera, reason=classify_error(line))
        if index == n + 2:
            tail = (child.before or "").strip().splitlines()[-1:] or ["no output"]
            raise BleError(f"gatttool exited during {step}: {tail[0]}", camera=camera, reason="exited")
        raise BleError(f"gatttool {step}: no answer within {child.timeout:.0f} s", camera=camera,
                       reason="timeout")
