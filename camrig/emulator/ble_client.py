"""Stand-in for bleak's ``BleakClient``: reaches an emulated camera's GATT table over its control socket.

Picked only when the daemon's config says ``BLE_BACKEND = "emulated"`` (with ``BLE_EMU_DIR``);
the daemon's BLE session (:mod:`camrig.cameras.open_gopro.ble`) runs unchanged above it. It offers the
part of bleak's surface that session uses — ``connect()``, ``disconnect()``, ``is_connected``,
``write_gatt_char(char, data, response=True)``, ``start_notify(char, callback)``,
``stop_notify(char)`` and the constructor's ``disconnected_callback`` — with bleak's calling
conventions (coroutines on the caller's loop; ``callback(characteristic, bytearray)``).

The camera with Bluetooth address ``AA:BB:CC:DD:EE:FF`` is the control socket
``<emu_dir>/aabbccddeeff.sock`` (AF_UNIX, so it works across network namespaces). One BLE
connection is one stream connection to it, speaking JSON lines (docs/contracts.md,
"Emulated Open GoPro"):

    → {"op": "ble_connect", "bt_mac": "aa:bb:…"}            ← {"ok": true} | {"ok": false, "error": …}
    → {"op": "ble_subscribe", "seq": N, "char": UUID}       ← {"ack": N, "ok": true}
    → {"op": "ble_write", "seq": N, "char": UUID, "data": HEX}
                                                            ← {"notify": UUID, "data": HEX} …
                                                            ← {"ack": N, "ok": true|false, "error": …}

The camera may send ``notify`` lines at any time (pushed statuses); end of stream is the
connection dropping (camera asleep, rebooted, out of range), reported to
``disconnected_callback`` as bleak does.

``connect()`` spends ``timeout`` twice, as bleak's BlueZ backend does (bleak 3.1.0
``bleak/backends/bluezdbus/client.py`` lines 139–160): first "scanning" — waiting up to
``timeout`` for the camera's socket to exist (a camera coming into range during the scan is
found), else "Device with address … was not found." — then connecting under a second, full
``timeout``.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

from .legacy_gopro import ble_socket_path


class EmulatedBleError(Exception):
    """What bleak's BleakError is to bleak: the connection or a write failed."""


class _Characteristic:
    """The ``characteristic`` argument of a notification callback (bleak passes a BleakGATTCharacteristic)."""

    def __init__(self, uuid: str):
        self.uuid = uuid

    def __repr__(self) -> str:
        return f"<Characteristic {self.uuid}>"


class EmulatedBleakClient:
    """``EmulatedBleakClient(address, disconnected_callback=None, *, emu_dir, timeout=10.0)``."""

    def __init__(self, address: str, disconnected_callback: Callable[[EmulatedBleakClient], None] | None = None,
                 *, emu_dir: str, timeout: float = 10.0):
        self.address = address
        self.disconnected_callback = disconnected_callback
        self.emu_dir = emu_dir
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self._callbacks: dict[str, Callable] = {}
        self._acks: dict[int, asyncio.Future] = {}
        self._seq = 0
        self._connected = False

    def __repr__(self) -> str:
        return f"<EmulatedBleakClient {self.address} connected={self._connected}>"

    @property
    def is_connected(self) -> bool:
        return self._connected

    @staticmethod
    def _uuid(char: Any) -> str:
        return str(getattr(char, "uuid", char)).lower()

    async def connect(self, **kwargs: Any) -> None:
        timeout = kwargs.get("timeout", self.timeout)
        path = ble_socket_path(self.address, self.emu_dir)
        loop = asyncio.get_running_loop()
        scan_until = loop.time() + timeout            # discovery: up to one full timeout
        while not os.path.exists(path):
            if loop.time() >= scan_until:
                raise EmulatedBleError(f"Device with address {self.address} was not found.")
            await asyncio.sleep(0.05)

        async def establish():
            self._reader, self._writer = await asyncio.open_unix_connection(path, limit=1 << 20)
            self._send({"op": "ble_connect", "bt_mac": self.address})
            return await self._reader.readline()

        try:
            line = await asyncio.wait_for(establish(), timeout)   # connection: a second full timeout
        except (TimeoutError, OSError) as exc:
            await self._close()
            raise EmulatedBleError(f"connect to {self.address}: {type(exc).__name__} {exc}") from None
        answer = json.loads(line) if line else {"ok": False, "error": "closed"}
        if not answer.get("ok"):
            await self._close()
            raise EmulatedBleError(f"connect to {self.address}: {answer.get('error')}")
        self._connected = True
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    async def disconnect(self) -> bool:
        was = self._connected
        await self._close()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        return was

    async def start_notify(self, char: Any, callback: Callable, **_kwargs: Any) -> None:
        uuid = self._uuid(char)
        self._callbacks[uuid] = callback
        await self._call({"op": "ble_subscribe", "char": uuid})

    async def stop_notify(self, char: Any) -> None:
        self._callbacks.pop(self._uuid(char), None)

    async def write_gatt_char(self, char: Any, data: bytes, response: bool | None = None) -> None:
        await self._call({"op": "ble_write", "char": self._uuid(char), "data": bytes(data).hex()})

    # --- internals ---------------------------------------------------------------------------

    def _send(self, obj: dict) -> None:
        if self._writer is None:
            raise EmulatedBleError(f"Not connected to {self.address}")
        self._writer.write((json.dumps(obj) + "\n").encode())

    async def _call(self, obj: dict) -> None:
        if not self._connected or self._writer is None:
            raise EmulatedBleError(f"Not connected to {self.address}")
        self._seq += 1
        seq = self._seq
        fut = asyncio.get_running_loop().create_future()
        self._acks[seq] = fut
        try:
            self._send({**obj, "seq": seq})
            await self._writer.drain()
            answer = await asyncio.wait_for(fut, self.timeout)
        except (TimeoutError, OSError) as exc:
            raise EmulatedBleError(f"{obj['op']} to {self.address}: {type(exc).__name__} {exc}") from None
        finally:
            self._acks.pop(seq, None)
        if not answer.get("ok"):
            raise EmulatedBleError(f"{obj['op']} to {self.address} failed: {answer.get('error')}")

    async def _read_loop(self) -> None:
        reader = self._reader
        if reader is None:                  # not connected
            return
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                msg = json.loads(line)
                if "notify" in msg:
                    cb = self._callbacks.get(msg["notify"])
                    if cb is not None:
                        result = cb(_Characteristic(msg["notify"]), bytearray.fromhex(msg["data"]))
                        if asyncio.iscoroutine(result):
                            await result
                elif "ack" in msg:
                    fut = self._acks.get(msg["ack"])
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return
        was = self._connected
        await self._close()
        for fut in self._acks.values():
            if not fut.done():
                fut.set_result({"ok": False, "error": "disconnected"})
        if was and self.disconnected_callback is not None:
            self.disconnected_callback(self)

    async def _close(self) -> None:
        self._connected = False
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (TimeoutError, OSError):
                pass
