"""Open GoPro over Bluetooth LE: one session per camera, on the daemon's one BLE loop.

:class:`camrig.ble.loop.BleLoop` (shared by every family) runs one asyncio event loop in one
daemon thread (``ble-loop``). Workers never run BLE code in their own threads: every call of an
:class:`OpenGoProBle` session submits a coroutine with :func:`asyncio.run_coroutine_threadsafe`
and waits for it with a timeout, so a hung BLE exchange blocks only the one worker that asked,
and only for ``BLE_TIMEOUT`` seconds.

The session talks to a *client* with bleak's ``BleakClient`` surface (``connect``,
``disconnect``, ``is_connected``, ``write_gatt_char``, ``start_notify``). Which class is an
explicit choice (:func:`camrig.ble.loop.client_factory`): bleak's own (``BLE_BACKEND =
"bleak"``, BlueZ over D-Bus), or the emulated camera's stand-in (``"emulated"``, tests and
demo). bleak is imported only when a camera needs it, so a Wi-Fi-only rig runs without BlueZ.

Protocol facts (bytes, characteristics, headers) live in
:mod:`camrig.cameras.open_gopro.protocol` with their sources. After connecting and subscribing,
a session polls Get Hardware Info (``01 3C``) until the camera answers success before anything
else (Open GoPro BLE spec, "BLE Setup" → "GoPro Setup" → "Wait for Camera BLE Readiness"), then
claims external control when asked to (``F1 69 08 02``, HERO10+), then registers for status
pushes.

Timeouts: bleak's BlueZ backend spends its ``timeout`` twice in ``connect()`` — first scanning
for the address (``BleakScanner.find_device_by_address(…, timeout=timeout)``, raising
BleakDeviceNotFoundError "Device with address … was not found." when it is not seen), then
connecting under a second ``async_timeout(timeout)`` (bleak 3.1.0
``bleak/backends/bluezdbus/client.py`` lines 139–160). The connect step therefore gets ``2 ×
timeout`` plus the readiness budget, so bleak's own "not found" surfaces instead of an outer
timeout. Connecting also wakes a sleeping camera (Open GoPro BLE spec, "BLE Setup" →
"Advertisements": a camera advertises for 8 h after going to sleep, and a connection makes it
boot). Open GoPro cameras must be paired once (``bluetoothctl pair``/``trust``), as the legacy
ones must be bonded.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ...ble.loop import BleLoop
from ...errors import BleError
from . import protocol as p

log = logging.getLogger(__name__)

#: Statuses read for the worker (ids: openapi_http_2.0.json State; same ids over BLE):
#: 8 busy, 10 encoding, 13 video progress s, 33 primary storage, 35 remaining video s,
#: 54 SD remaining KB, 58 Active Hilights, 60 minimum poll period ms, 70 battery %, 82 ready, 89 flat mode,
#: 96 preset group (the worker's "in video mode", issue 17).
WORKER_STATUSES = (8, 10, 13, 33, 35, 54, p.STATUS_HILIGHTS, 60, 70, 82, p.STATUS_FLAT_MODE,
                   p.STATUS_PRESET_GROUP)
#: Statuses the camera is asked to push (0x53): recording, storage, busy and ready flags.
PUSHED_STATUSES = (8, 10, 33, 82)


class OpenGoProBle:
    """One camera's BLE connection and the Open GoPro exchanges over it.

    ``bt_mac`` is the camera's address, ``factory`` makes the client (:func:`client_factory`,
    whose bleak timeout should be ``timeout``), ``loop`` is the daemon's :class:`BleLoop`,
    ``timeout`` seconds bound every exchange. Connecting gets :attr:`connect_budget` seconds:
    ``2 × timeout`` for bleak (scan, then connect) plus ``ready_timeout`` (default
    ``timeout``) for the readiness poll (Get Hardware Info every ``ready_poll`` s until it
    answers success; skipped with ``wait_ready=False``, for legacy cameras, which do not
    have it). ``claim_control`` True: claim external control (``F1 69 08 02``) on every
    connection, after readiness (a refusal is logged, not raised). ``on_push`` (any thread)
    is called with ``{status id: value}`` when the camera pushes registered statuses (0x93).
    Every public method may be called from any thread except the loop's, connects first when
    not connected, and raises BleError naming the camera (``reason``: connect, not_ready,
    write, timeout, rejected, protocol).
    """

    def __init__(self, bt_mac: str, *, camera: str, factory: Callable[..., Any], loop: BleLoop,
                 timeout: float = 10.0, on_push: Callable[[dict], None] | None = None,
                 register: Iterable[int] = PUSHED_STATUSES, wait_ready: bool = True,
                 ready_timeout: float | None = None, ready_poll: float = 0.25,
                 claim_control: bool = False):
        self.bt_mac = bt_mac
        self.camera = camera
        self.factory = factory
        self.loop = loop
        self.timeout = timeout
        self.on_push = on_push
        self.register_ids = tuple(register)
        self.wait_ready = wait_ready
        self.ready_timeout = timeout if ready_timeout is None else ready_timeout
        self.ready_poll = ready_poll
        self.claim_control = claim_control
        self.hardware_info: dict[str, bytes] = {}   # Get Hardware Info fields of the last connection
        self.pushed: dict[int, int] = {}        # last pushed value per status id
        self._client: Any = None                # a BleakClient, or the emulator's (client_factory)
        self._lock: asyncio.Lock | None = None  # made on the loop
        self._connect_lock: asyncio.Lock | None = None
        self._set_up = False                    # the connection passed readiness, claim, registration
        self._queues: dict[str, asyncio.Queue] = {}
        self._reassemblers: dict[str, p.Reassembler] = {}

    def __repr__(self) -> str:
        return f"<OpenGoProBle {self.camera} {self.bt_mac} connected={self.connected}>"

    @property
    def connected(self) -> bool:
        c = self._client
        try:
            return bool(c is not None and c.is_connected)
        except Exception:  # noqa: BLE001 - a client that cannot tell is not connected
            return False

    # --- sync API (worker threads) ----------------------------------------------------------

    @property
    def connect_budget(self) -> float:
        """Seconds the connect step may take: 2 × ``timeout`` (bleak scans, then connects, each
        under ``timeout``) + ``ready_timeout`` (readiness poll) + 2 s for subscribing and
        registering."""
        return 2 * self.timeout + (self.ready_timeout if self.wait_ready else 0.0) + 2.0

    def _run(self, coro):
        if not self.connected:
            # A reconnection happens inside the exchange: give it the connect budget.
            return self.loop.run(coro, self.connect_budget + self.timeout, camera=self.camera)
        return self.loop.run(coro, self.timeout, camera=self.camera)

    def connect(self) -> None:
        """Connect (waking the camera), subscribe to the response characteristics, wait until
        the camera's BLE is ready, claim control (``claim_control``), register pushes."""
        self.loop.run(self._ensure_connected(), self.connect_budget, camera=self.camera)

    def set_camera_control(self, status: int = p.CAMERA_CONTROL_EXTERNAL) -> None:
        """Set Camera Control (``F1 69 08 02`` for external) on GP-0072; the answer ``F1 E9``
        ``ResponseGeneric`` must say RESULT_SUCCESS (1), else BleError (``rejected``)."""
        answer = self._run(self._request(p.COMMAND, p.set_camera_control(status),
                                         bytes([p.FEATURE_COMMAND, p.ACTION_SET_CAMERA_CONTROL_RSP])))
        self._check_generic(answer, "set camera control")

    def _check_generic(self, answer: bytes, what: str) -> None:
        try:
            result = p.parse_protobuf_varints(answer[2:]).get(1)
        except p.ProtocolError as exc:
            raise BleError(f"{what}: answer unreadable: {exc}", camera=self.camera, reason="protocol") from None
        if result != p.PB_RESULT_SUCCESS:
            raise BleError(f"{what}: camera answered result {result} (EnumResultGeneric; 1 is success)",
                           camera=self.camera, reason="rejected")

    def disconnect(self) -> None:
        """Drop the connection (no error when there is none)."""
        try:
            self._run(self._disconnect())
        except BleError as exc:
            log.debug("%s: BLE disconnect: %s", self.camera, exc)

    def wifi_ap(self, on: bool) -> None:
        """Turn the camera's Wi-Fi access point on or off: ``03 17 01 01``/``03 17 01 00`` on GP-0072."""
        self._command(p.COMMAND, p.ap_control(on), "Wi-Fi AP " + ("on" if on else "off"))

    def shutter(self, on: bool) -> None:
        """Start or stop recording: ``03 01 01 01``/``03 01 01 00`` on GP-0072."""
        self._command(p.COMMAND, p.shutter(on), "shutter " + ("on" if on else "off"))

    def sleep(self) -> None:
        """Put the camera to sleep: ``01 05`` on GP-0072."""
        self._command(p.COMMAND, p.sleep(), "sleep")

    def hilight(self) -> None:
        """Hilight Moment: ``01 18`` on GP-0072, answer ``02 18 00`` on GP-0073 (BLE spec
        "Hilights" → "Hilight Moment", TLV command 0x18: "This can only be used during encoding").
        BleError ``rejected`` when the camera answers another result (not encoding)."""
        self._command(p.COMMAND, p.hilight(), "HiLight")

    def load_preset_group(self, group: int = p.PRESET_GROUP_VIDEO) -> None:
        """Presets: Load Group: ``04 3E 02 03 E8`` (video, 1000) on GP-0072, answer ``02 3E 00``;
        BleError ``rejected`` when the camera answers another result (e.g. 1 while encoding)."""
        self._command(p.COMMAND, p.load_preset_group(group), f"load preset group {group}")

    def set_date_time(self, when: dt.datetime) -> None:
        """Set the camera clock: ``09 0D 07 YYYY MM DD hh mm ss`` on GP-0072."""
        self._command(p.COMMAND, p.date_time(when), "set date/time")

    def keep_alive(self) -> None:
        """Keep-alive ``03 5B 01 42`` on GP-0074 (answer ``02 5B 00`` on GP-0075)."""
        self._command(p.SETTINGS, p.keep_alive(), "keep-alive")

    def status_values(self, ids: Iterable[int] = WORKER_STATUSES) -> dict[int, int]:
        """Get Status Values (0x13) for ``ids`` on GP-0076 → ``{status id: value}`` from GP-0077."""
        message = p.query(p.QUERY_STATUS, ids)
        answer = self._run(self._request(p.QUERY, message, p.QUERY_STATUS))
        try:
            resp = p.parse_query_response(answer)
        except p.ProtocolError as exc:
            raise BleError(f"status query answer unreadable: {exc}", camera=self.camera,
                           reason="protocol") from None
        if resp.result != p.RESULT_SUCCESS:
            raise BleError(f"status query answered result {resp.result}", camera=self.camera,
                           reason="rejected")
        return resp.values

    def _command(self, char: str, message: bytes, what: str) -> None:
        answer = self._run(self._request(char, message, message[0]))
        try:
            resp = p.parse_response(answer)
        except p.ProtocolError as exc:
            raise BleError(f"{what}: answer unreadable: {exc}", camera=self.camera, reason="protocol") from None
        if not resp.ok:
            raise BleError(f"{what}: camera answered result {resp.result} "
                           f"({'error' if resp.result == 1 else 'invalid parameter' if resp.result == 2 else '?'})",
                           camera=self.camera, reason="rejected")
        log.debug("%s: BLE %s ok", self.camera, what)

    # --- the loop's side ----------------------------------------------------------------------

    async def _ensure_connected(self) -> asyncio.Lock:
        """Connect and set up unless done; return the lock one exchange at a time holds."""
        if self._lock is None or self._connect_lock is None:
            self._lock = asyncio.Lock()
            self._connect_lock = asyncio.Lock()
        lock = self._lock
        if self.connected and self._set_up:
            return lock
        async with self._connect_lock:      # one connection at a time, set up before any use
            if self.connected and self._set_up:
                return lock
            await self._connect_and_set_up()
        return lock

    async def _connect_and_set_up(self) -> None:
        if self._client is not None:
            await self._disconnect()
        self._set_up = False
        client = self.factory(self.bt_mac, self._on_disconnect)
        try:
            await client.connect()
            self._queues = {u: asyncio.Queue() for u in p.NOTIFY_CHARACTERISTICS}
            self._reassemblers = {u: p.Reassembler() for u in p.NOTIFY_CHARACTERISTICS}
            for uuid in p.NOTIFY_CHARACTERISTICS:
                await client.start_notify(uuid, functools.partial(self._on_notify, uuid))
        except asyncio.CancelledError:
            await _quietly(client.disconnect())
            raise
        except Exception as exc:  # noqa: BLE001 - bleak raises BleakError, OSError, TimeoutError…
            await _quietly(client.disconnect())
            raise BleError(f"BLE connect to {self.bt_mac} failed: {type(exc).__name__}: {exc}",
                           camera=self.camera, reason="connect") from None
        self._client = client
        log.info("%s: BLE connected to %s", self.camera, self.bt_mac)
        if self.wait_ready:
            try:
                await self._wait_ble_ready()
            except BaseException:
                await self._disconnect()
                raise
        if self.claim_control:
            try:
                answer = await asyncio.wait_for(
                    self._exchange(p.COMMAND, p.set_camera_control(),
                                   bytes([p.FEATURE_COMMAND, p.ACTION_SET_CAMERA_CONTROL_RSP])), self.timeout)
                self._check_generic(answer, "set camera control")
                log.info("%s: external control claimed over BLE", self.camera)
            except (TimeoutError, BleError) as exc:
                log.warning("%s: claiming external control over BLE failed: %s", self.camera,
                            exc if isinstance(exc, BleError) else "no answer")
        if self.register_ids:
            message = p.query(p.QUERY_REGISTER_STATUS, self.register_ids)
            try:
                answer = await asyncio.wait_for(self._exchange(p.QUERY, message, p.QUERY_REGISTER_STATUS),
                                                self.timeout)
                resp = p.parse_query_response(answer)
                if resp.result != p.RESULT_SUCCESS:
                    raise BleError(f"answered result {resp.result}", camera=self.camera, reason="rejected")
                self.pushed.update(resp.values)
            except (TimeoutError, BleError, p.ProtocolError) as exc:
                log.info("%s: status registration failed (%s); polling only", self.camera, exc or "no answer")
        self._set_up = self.connected

    async def _wait_ble_ready(self) -> None:
        """Poll Get Hardware Info (``3C``) until it answers status 0 ("Wait for Camera BLE
        Readiness"); an unanswered poll counts as not ready. BleError ``not_ready`` after
        ``ready_timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ready_timeout
        last = "no answer"
        polls = 0
        while True:
            polls += 1
            try:
                answer = await asyncio.wait_for(
                    self._exchange(p.COMMAND, p.get_hardware_info(), p.CMD_GET_HARDWARE_INFO),
                    max(0.05, min(self.ready_poll * 4, deadline - loop.time())))
                resp = p.parse_response(answer)
                if resp.ok:
                    try:
                        self.hardware_info = p.parse_hardware_info(resp.rest)
                    except p.ProtocolError as exc:
                        log.debug("%s: hardware info unreadable: %s", self.camera, exc)
                    log.info("%s: BLE ready after %d Get Hardware Info poll(s) (%s)", self.camera, polls,
                             self.hardware_info.get("model_name", b"?").decode(errors="replace"))
                    return
                last = f"status {resp.result}"
            except TimeoutError:
                last = "no answer"
            except p.ProtocolError as exc:
                last = f"unreadable answer ({exc})"
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise BleError(f"BLE connected to {self.bt_mac} but not ready within {self.ready_timeout:.0f} s: "
                               f"Get Hardware Info answered {last} to {polls} poll(s)",
                               camera=self.camera, reason="not_ready")
            await asyncio.sleep(min(self.ready_poll, remaining))   # a last poll at the deadline

    async def _disconnect(self) -> None:
        self._set_up = False
        client, self._client = self._client, None
        if client is not None:
            await _quietly(client.disconnect())

    def _on_disconnect(self, client) -> None:
        if client is self._client:
            log.info("%s: BLE connection lost", self.camera)

    def _on_notify(self, uuid: str, _char, data) -> None:
        """Notification callback (on the loop): reassemble; pushes go to on_push, answers to the queue."""
        try:
            message = self._reassemblers[uuid].feed(bytes(data))
        except p.ProtocolError as exc:
            log.warning("%s: BLE packet on %s dropped: %s", self.camera, uuid[4:8], exc)
            return
        if message is None:
            return
        if uuid == p.QUERY_RESPONSE and message[:1] == bytes([p.PUSH_STATUS]):
            try:
                values = p.parse_query_response(message).values
            except p.ProtocolError as exc:
                log.warning("%s: status push unreadable: %s", self.camera, exc)
                return
            self.pushed.update(values)
            if self.on_push is not None:
                try:
                    self.on_push(values)
                except Exception:  # noqa: BLE001
                    log.exception("%s: status push handler failed", self.camera)
            return
        self._queues[uuid].put_nowait(message)

    async def _request(self, char: str, message: bytes, expect: int | bytes) -> bytes:
        lock = await self._ensure_connected()
        async with lock:
            return await self._exchange(char, message, expect)

    async def _exchange(self, char: str, message: bytes, expect: int | bytes) -> bytes:
        """Write ``message`` (packetized, :func:`protocol.packetize` to the camera) to ``char``;
        the answer on its response characteristic that starts with ``expect`` (a command id,
        or the two bytes feature id + response action id of a Protobuf answer); older answers
        left in the queue are dropped."""
        prefix = bytes([expect]) if isinstance(expect, int) else bytes(expect)
        queue = self._queues[p.RESPONSE_OF[char]]
        while not queue.empty():
            queue.get_nowait()
        try:
            for packet in p.packetize(message):
                await self._client.write_gatt_char(char, packet, response=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            await self._disconnect()
            raise BleError(f"BLE write {message.hex()} failed: {type(exc).__name__}: {exc}",
                           camera=self.camera, reason="write") from None
        while True:
            answer = await queue.get()
            if answer[:len(prefix)] == prefix:
                return answer
            log.debug("%s: unexpected answer %s while waiting for %s", self.camera, answer.hex(), prefix.hex())


async def _quietly(coro) -> None:
    try:
        await asyncio.wait_for(coro, 2.0)
    except Exception:  # noqa: BLE001 - a failed disconnect leaves nothing to do
        pass
