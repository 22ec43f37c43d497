"""BLE Wi-Fi-on for legacy GoPros (HERO5–8) through BlueZ's ``gatttool``, driven by pexpect.

The dialogue (``gatttool -i hci0 -t random -b MAC -I``; lines as BlueZ ≥ 5.55's
attrib/interactive.c prints them, cited from bluez/bluez 690c16df6)::

    [D4:D9:19:9A:4C:7B][LE]> connect
    Attempting to connect to D4:D9:19:9A:4C:7B                                  (interactive.c:397)
    Connection successful                                                        (interactive.c:172)
    characteristics 0x0001 0xffff b5f90072-aa8d-11e3-9046-0002a5d5c51b           (once per camera)
    handle: 0x002e, char properties: 0x08, char value handle: 0x002f, uuid: b5f90072-…  (:272)
    characteristics 0x0001 0xffff b5f90073-aa8d-11e3-9046-0002a5d5c51b
    handle: 0x0030, char properties: 0x10, char value handle: 0x0031, uuid: b5f90073-…
    char-desc 0x0032 0x0032                                                      (find the CCCD)
    handle: 0x0032, uuid: 00002902-0000-1000-8000-00805f9b34fb                   (:292)
    char-write-req 0x0032 0100                                    (notifications on GP-0073)
    Characteristic value was written successfully                                (:626)
    char-write-req 0x002f 03170101                                (Wi-Fi AP on, on GP-0072)
    Characteristic value was written successfully
    Notification handle = 0x0031 value: 02 17 00                                 (:114-130)

``03 17 01 01`` is "Wi-Fi AP on" on the command characteristic GP-0072 (``b5f90072-…``); the
camera answers ``[len][cmd][status]`` on GP-0073 (DESIGN.md "Field facts"; KonradIT/goprowifihack
HERO5 notes). "Characteristic value was written successfully" is only the ATT Write Response
(char_write_req_cb, interactive.c:612-627): the camera's own answer is the notification, which
comes only once notifications are enabled by writing ``0100`` to GP-0073's Client
Characteristic Configuration descriptor (Bluetooth Core Vol 3 Part G 3.3.3.3), on every
connection (Open GoPro BLE spec, "BLE Setup": GoPro cameras do not cache subscriptions). So the
step succeeds on the answer ``02 17 00`` and fails on any other status (``02 17 01``: refused).

ATT handles differ by model and firmware, so they are not guessed: ``characteristics`` with the
UUID gives each value handle; the CCCD is the ``0x2902`` descriptor found with ``char-desc`` one
handle at a time after GP-0073's value (in the one table we have it is the next handle, 0x0032;
reported, see docs/models.md). The result is cached per camera and dropped when an exchange
after the connect fails (a firmware update may move the handles).

Output details handled (BlueZ ≥ 5.55): ``Error: `` and ``Command Failed: `` are wrapped in colour
codes (``\\x1b[0;91m…\\x1b[0m``, interactive.c:64-68); connect errors read ``connect to <MAC>:
<strerror> (<errno>)`` (btio/btio.c:232 and 2138; before 5.55 ``connect error: …``, still
recognised); a command on a link that dropped prints ``Command Failed: Disconnected`` at once
(interactive.c:636), detected at once instead of waiting for a timeout; readline echoes what we
type. Failures, each logged with the camera's name: ``Function not implemented (38)``,
``Device or resource busy (16)``, ``Connection refused (111)``, a dropped link, a wrong handle,
no answer in time: retried with back-off within the wake's deadline. ``Attribute requires
authentication before read/write`` and ``Encryption required before read/write`` (att.c:48-49,
68-69: not bonded, or the bond is gone) and a refusal by the camera are not retried: a person
must pair the camera (``bluetoothctl pair``/``trust``). Every wait has a timeout and the child
is killed on any exit path: gatttool cannot hang the daemon.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

import pexpect

from ...errors import BleError

log = logging.getLogger(__name__)

WIFI_ON = "03170101"
WIFI_OFF = "03170100"
#: GP-0072 command and GP-0073 command response (DESIGN.md field facts; Open GoPro BLE spec).
COMMAND_UUID = "b5f90072-aa8d-11e3-9046-0002a5d5c51b"
RESPONSE_UUID = "b5f90073-aa8d-11e3-9046-0002a5d5c51b"
#: Client Characteristic Configuration descriptor; 0x0001 = notifications on (Core Vol 3 Part G 3.3.3.3).
CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
NOTIFICATIONS_ON = "0100"
#: Declarations that end a characteristic's descriptors (primary/secondary service, characteristic).
_DECLARATIONS = {f"0000{u}-0000-1000-8000-00805f9b34fb" for u in ("2800", "2801", "2803")}
_CCCD_SEARCH = 4        # descriptors looked at after GP-0073's value before giving up

#: BlueZ gatttool error lines → short reason.
KNOWN_ERRORS = {
    r"Function not implemented \(38\)": "enosys",
    r"Device or resource busy \(16\)": "busy",
    r"Connection refused \(111\)": "refused",
    r"Attribute requires authentication": "auth",
    r"Encryption required before read/write": "encrypt",
    r"Host is down \(112\)": "down",
    r"No route to host \(113\)": "noroute",
    r"Invalid handle": "handle",
    r"Attribute can't be written": "handle",
    r"No attribute found within the given range": "nochar",
    r"Connection timed out \(110\)": "timeout",
    r"Transport endpoint is not connected \(107\)": "notconn",
    r"Command Failed: (?:\x1b\[[0-9;]*m)*Disconnected": "disconnected",
    r"No such device": "nodev",
}
#: Reasons not worth retrying: a person must pair the camera or install gatttool, or the camera
#: itself said no.
NOT_RETRIED = frozenset({"auth", "encrypt", "missing", "rejected"})
# Whole lines only (up to the newline, at most 500 characters), so that a line read in two
# pieces is not cut short and a flood without newlines costs linear time.
_ERROR_RE = re.compile("(?:" + "|".join(f"(?:{p})" for p in KNOWN_ERRORS) + r")[^\r\n]{0,500}\r?\n")
_GENERIC_ERROR = re.compile(r"(?:Error|error|Command Failed): ?[^\r\n]{0,500}\r?\n")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_WRITTEN = r"Characteristic value was written successfully"
_NOTIFICATION = re.compile(r"Notification handle = 0x([0-9a-fA-F]{4}) value: ((?:[0-9a-fA-F]{2} ?){0,600})\r?\n")


def classify_error(text: str) -> str:
    """Short reason for a gatttool error line (``busy``, ``auth``…), ``other`` when unknown."""
    for pattern, reason in KNOWN_ERRORS.items():
        if re.search(pattern, text):
            return reason
    return "other"


def clean(text: str) -> str:
    """gatttool output without ANSI colour/cursor sequences and stray control characters."""
    return "".join(c for c in _ANSI.sub("", text) if c.isprintable() or c == " ").strip()


@dataclass(frozen=True)
class GattHandles:
    """One camera's ATT handles: ``command`` (GP-0072 value), ``response`` (GP-0073 value) and
    ``cccd`` (GP-0073's Client Characteristic Configuration descriptor); ints 0x0001–0xFFFF."""

    command: int
    response: int
    cccd: int


class GatttoolBle:
    """Send legacy BLE commands with gatttool.

    ``gatttool`` is the executable (config ``GATTTOOL``), ``adapter`` the HCI
    adapter (``hci0``), ``timeout`` seconds per step (connect, each discovery
    command, each write, the camera's answer), ``attempts`` how many tries with
    backoff (``backoff`` seconds, doubling). A lock serialises gatttool runs:
    BlueZ handles one LE connection attempt per adapter at a time (more gives
    ``Device or resource busy``). ``handles`` caches each camera's
    :class:`GattHandles` by BT MAC (upper case); ``last_commands`` is what the
    last dialogue sent (for logs and tests).
    """

    def __init__(self, gatttool: str = "gatttool", *, adapter: str = "hci0", timeout: float = 10.0,
                 attempts: int = 4, backoff: float = 1.0, env: dict | None = None):
        self.gatttool = gatttool
        self.adapter = adapter
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.env = env
        self.handles: dict[str, GattHandles] = {}
        self.last_commands: list[str] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<GatttoolBle {self.gatttool} adapter={self.adapter}>"

    def wifi_on(self, bt_mac: str, *, camera: str, stop: threading.Event | None = None,
                deadline: float | None = None) -> None:
        """Turn the camera's Wi-Fi AP on; returns once the camera answered ``02 17 00``.

        Raises BleError (with ``reason``) after the last attempt, or at once for a camera that
        is not paired (``auth``, ``encrypt``) or refuses (``rejected``).
        """
        self.write(bt_mac, WIFI_ON, camera=camera, stop=stop, deadline=deadline)

    def write(self, bt_mac: str, value_hex: str, *, camera: str, stop: threading.Event | None = None,
              deadline: float | None = None) -> str:
        """Write ``value_hex`` (``[len][cmd][params]``) to GP-0072 and wait for the camera's answer.

        ``deadline`` (``time.monotonic()`` seconds, e.g. the wake's) bounds the retries, the
        wait for the adapter and the back-off: the first attempt always runs (each step at most
        ``timeout``), later ones only within the deadline, so a gatttool that hangs stretches a
        wake past WAKE_TIMEOUT by one BLE_TIMEOUT at most (not attempts × BLE_TIMEOUT +
        back-off). Returns the command's value handle (``"0x002f"``). Raises BleError.
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
                if exc.reason in NOT_RETRIED:
                    break  # a person must pair the camera / install gatttool; retrying cannot help
            finally:
                self._lock.release()
            if attempt < self.attempts:
                left = remaining()
                stop.wait(delay if left is None else max(0.0, min(delay, left)))
                delay = min(delay * 2, 8.0)
        raise last or BleError("BLE write abandoned (stopping)", camera=camera, reason="stopped")

    # --- one gatttool run ---------------------------------------------------------------------

    def _dialogue(self, bt_mac: str, value_hex: str, camera: str, *, timeout: float | None = None) -> str:
        mac = bt_mac.upper()
        argv = ["-i", self.adapter, "-t", "random", "-b", mac, "-I"]
        prompt = re.escape(f"[{mac}][LE]>")
        self.last_commands = []
        try:
            child = pexpect.spawn(self.gatttool, argv, timeout=timeout or self.timeout, encoding="utf-8",
                                  codec_errors="replace", env=self.env, echo=False)
        except pexpect.ExceptionPexpect as exc:
            raise BleError(f"cannot run {self.gatttool}: {exc}", camera=camera, reason="missing") from None
        child.delaybeforesend = None   # pexpect waits 50 ms before each line by default; readline needs none
        try:
            self._expect(child, [prompt], "start", camera)
            self._send(child, "connect")
            self._expect(child, [r"Connection successful"], "connect", camera)
            handles = self.handles.get(mac)
            try:
                if handles is None:
                    handles = self._discover(child, camera)
                    self.handles[mac] = handles
                    log.info("%s: GATT handles: command 0x%04x, response 0x%04x, its CCCD 0x%04x", camera,
                             handles.command, handles.response, handles.cccd)
                self._send(child, f"char-write-req 0x{handles.cccd:04x} {NOTIFICATIONS_ON}")
                self._expect(child, [_WRITTEN], "enable notifications", camera)
                self._send(child, f"char-write-req 0x{handles.command:04x} {value_hex}")
                self._answer(child, handles, value_hex, camera)
            except BleError as exc:
                if exc.reason not in ("disconnected", "rejected"):
                    # Connected, yet the exchange failed: the handles may have moved (a firmware
                    # update); a write to a stale handle can even succeed at ATT level on another
                    # characteristic. The next attempt discovers them again.
                    self.handles.pop(mac, None)
                raise
            return f"0x{handles.command:04x}"
        finally:
            try:
                if child.isalive():
                    child.sendline("exit")
                    child.expect(pexpect.EOF, timeout=1)
            except (pexpect.ExceptionPexpect, OSError):
                pass
            child.close(force=True)

    def _send(self, child, line: str) -> None:
        self.last_commands.append(line)
        child.sendline(line)

    def _discover(self, child, camera: str) -> GattHandles:
        """Value handles of GP-0072 and GP-0073 with ``characteristics``, GP-0073's CCCD with
        ``char-desc``. Raises BleError (``nochar`` when the camera has no such characteristic)."""
        values = []
        for uuid, name in ((COMMAND_UUID, "GP-0072"), (RESPONSE_UUID, "GP-0073")):
            self._send(child, f"characteristics 0x0001 0xffff {uuid}")
            self._expect(child, [rf"char value handle: 0x([0-9a-fA-F]{{4}}), uuid: {uuid}"],
                         f"discover {name}", camera)
            values.append(int(child.match.group(1), 16))
        command, response = values
        for handle in range(response + 1, min(response + 1 + _CCCD_SEARCH, 0x10000)):
            self._send(child, f"char-desc 0x{handle:04x} 0x{handle:04x}")
            self._expect(child, [rf"handle: 0x{handle:04x}, uuid: ([0-9a-fA-F-]{{36}})"],
                         "discover GP-0073's CCCD", camera)
            uuid = child.match.group(1).lower()
            if uuid == CCCD_UUID:
                return GattHandles(command, response, handle)
            if uuid in _DECLARATIONS:
                break
        raise BleError(f"no Client Characteristic Configuration descriptor after GP-0073 (value handle "
                       f"0x{response:04x}): cannot enable the camera's answers", camera=camera, reason="nochar")

    def _answer(self, child, handles: GattHandles, value_hex: str, camera: str) -> None:
        """Wait (``timeout``) for the camera's ``[len][cmd][status]`` on GP-0073; the ATT write
        acknowledgement alone is not enough. Raises BleError: ``rejected`` for a status ≠ 0."""
        cmd = bytes.fromhex(value_hex)
        cmd_id = cmd[1] if len(cmd) > 1 else None
        deadline = time.monotonic() + child.timeout
        acked = False
        while True:
            left = max(0.05, deadline - time.monotonic())
            index = self._expect(child, [_WRITTEN, _NOTIFICATION], "write" if not acked else
                                 f"camera's answer on GP-0073 (handle 0x{handles.response:04x})",
                                 camera, timeout=left)
            if index == 0:
                acked = True
                continue
            handle = int(child.match.group(1), 16)
            answer = bytes.fromhex(child.match.group(2).replace(" ", ""))
            if handle != handles.response or len(answer) < 3 or answer[1] != cmd_id:
                log.debug("%s: notification on 0x%04x ignored: %s", camera, handle, answer.hex(" "))
                continue
            if answer[2] == 0:
                log.info("%s: BLE %s answered %s", camera, value_hex, answer.hex(" "))
                return
            what = {1: "refused (error)", 2: "invalid parameter"}.get(answer[2], "failed")
            raise BleError(f"camera answered {answer.hex(' ')} to {cmd.hex(' ')}: {what}", camera=camera,
                           reason="rejected")

    def _expect(self, child, patterns, step, camera, timeout: float | None = -1):
        index = child.expect(list(patterns) + [_ERROR_RE, _GENERIC_ERROR, pexpect.EOF, pexpect.TIMEOUT],
                             timeout=timeout)
        n = len(patterns)
        if index < n:
            return index
        if index in (n, n + 1):
            line = clean(child.after) if isinstance(child.after, str) else "error"
            reason = classify_error(child.after if isinstance(child.after, str) else "")
            raise BleError(f"gatttool {step}: {line or 'error'}", camera=camera, reason=reason)
        if index == n + 2:
            tail = [clean(t) for t in (child.before or "").splitlines()]
            tail = [t for t in tail if t][-1:] or ["no output"]
            raise BleError(f"gatttool exited during {step}: {tail[0]}", camera=camera, reason="exited")
        waited = child.timeout if timeout is None or timeout == -1 else timeout
        raise BleError(f"gatttool {step}: no answer within {waited:.0f} s", camera=camera, reason="timeout")
