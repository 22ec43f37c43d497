"""The daemon's one asyncio loop for Bluetooth LE, and the choice of BLE client: shared by every
camera family (DESIGN.md: "bleak gets one asyncio loop in its own thread").

:class:`BleLoop` runs one asyncio event loop in one daemon thread (``ble-loop``); a family's BLE
session (:class:`camrig.cameras.open_gopro.ble.OpenGoProBle`, the legacy family's
:class:`camrig.cameras.gopro_legacy.bleak_ble.BleakLegacyBle`) submits its coroutines to it and
waits with a timeout. :func:`client_factory` picks the client class with bleak's ``BleakClient``
surface: bleak's own (BlueZ over D-Bus, imported only when a camera needs it) or the emulated
camera's stand-in. Nothing here knows a camera protocol.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from ..errors import BleError, ConfigError


class BleLoop:
    """One asyncio loop in one daemon thread, shared by every BLE session of the daemon.

    ``run(coro, timeout, camera=)`` runs ``coro`` on the loop and waits ``timeout`` seconds at
    most; a timeout cancels the coroutine and raises BleError (reason ``timeout``). The thread
    starts on first use; :meth:`close` stops it.
    """

    def __init__(self, name: str = "ble-loop"):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<BleLoop {self.name} running={self.running}>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self.running:
                self._loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run(loop=self._loop):
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self.name, daemon=True)
                self._thread.start()
                ready.wait(5.0)
            return self._loop

    def run(self, coro, timeout: float, *, camera: str | None = None):
        """Run ``coro`` on the loop from another thread; its result, or BleError on timeout."""
        if self._thread is not None and threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BleLoop.run called from the loop's own thread")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise BleError(f"BLE exchange took longer than {timeout:g} s", camera=camera,
                           reason="timeout") from None

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(2.0)


def client_factory(backend: str, *, adapter: str = "hci0", emu_dir: str | None = None,
                   timeout: float = 10.0, camera: str | None = None) -> Callable[..., Any]:
    """The BLE client class to use, as ``factory(address, disconnected_callback) -> client``.

    ``backend`` "bleak": bleak's BleakClient on ``adapter`` (BlueZ). Raises ConfigError naming
    ``camera`` when bleak is not installed or no D-Bus system bus exists (no BlueZ).
    ``"emulated"``: :class:`camrig.emulator.ble_client.EmulatedBleakClient`, reaching emulated
    cameras through their control sockets in ``emu_dir``. Nothing falls back to the other.
    """
    if backend == "bleak":
        try:
            from bleak import BleakClient
        except ImportError as exc:
            raise ConfigError("BLE_BACKEND", f"needs the Python package bleak for BLE ({exc}); "
                              "install it: pip install -r requirements.txt", camera=camera) from None
        bus = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket")
        if bus.startswith("unix:path=") and not os.path.exists(bus[len("unix:path="):].split(",")[0]):
            raise ConfigError("BLE_BACKEND", f"BLE through bleak needs BlueZ and the D-Bus system bus; "
                              f"{bus} does not exist (apt install bluez; systemctl start bluetooth)",
                              camera=camera)

        def make(address, disconnected_callback=None):
            return BleakClient(address, disconnected_callback, timeout=timeout, bluez={"adapter": adapter})
        return make
    if backend == "emulated":
        if not emu_dir:
            raise ConfigError("BLE_EMU_DIR", "is required with BLE_BACKEND 'emulated'", camera=camera)
        from ..emulator.ble_client import EmulatedBleakClient
        return functools.partial(EmulatedBleakClient, emu_dir=emu_dir, timeout=timeout)
    raise ConfigError("BLE_BACKEND", f"unknown backend {backend!r}", camera=camera)


_shared_ble_loop: BleLoop | None = None
_shared_lock = threading.Lock()


def shared_ble_loop() -> BleLoop:
    """The process's one BLE event loop (started on first use): every BLE session shares it,
    whoever builds the camera (DESIGN.md: "bleak gets one asyncio loop in its own thread")."""
    global _shared_ble_loop
    with _shared_lock:
        if _shared_ble_loop is None:
            _shared_ble_loop = BleLoop()
        return _shared_ble_loop
