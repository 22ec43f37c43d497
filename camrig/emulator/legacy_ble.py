"""The legacy BLE front-end on the emulated body: the one-message commands on GP-0072.

What the stand-in gatttool (and the control socket's ``ble`` op) writes: ``[len][cmd][params]``,
answered ``[len][cmd][status]`` as the camera notifies on GP-0073 (DESIGN.md field facts;
KonradIT/goprowifihack "Bluetooth" notes). The same bytes are Open GoPro BLE commands (Open GoPro
BLE spec "Commands": Set Shutter ``03 01 01 01``, Set AP Control ``03 17 01 01``, Sleep ``01
05``, HiLight Moment ``01 18``), so both emulated families carry this front-end.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .body import CameraBody

    _Base = CameraBody
else:
    _Base = object

# BLE command bytes on characteristic GP-0072 (DESIGN.md field facts; KonradIT goprowifihack
# "Bluetooth" notes): [len][cmd][params...]; the answer on GP-0073 is [len][cmd][status 0=ok].
BLE_WIFI_ON = bytes.fromhex("03170101")
BLE_WIFI_OFF = bytes.fromhex("03170100")
BLE_SHUTTER_ON = bytes.fromhex("03010101")
BLE_SHUTTER_OFF = bytes.fromhex("03010100")
BLE_SLEEP = bytes.fromhex("0105")
BLE_HILIGHT = bytes.fromhex("0118")
BLE_OK, BLE_FAILED, BLE_INVALID = 0, 1, 2



class LegacyBleFront(_Base):
    """The ``ble`` control-socket op (mixin on :class:`~.body.CameraBody`)."""

    def ble(self, cmd_hex: str) -> dict:
        """Execute a command written to GP-0072; ``{"ok": True, "response": "<[len][cmd][status]> hex"}``.

        Commands (DESIGN.md field facts, KonradIT goprowifihack BLE notes): 03170101 Wi-Fi on,
        03170100 Wi-Fi off, 03010101/03010100 shutter on/off, 0105 sleep, 0118 HiLight.
        Emulator choices: a shutter or HiLight while asleep answers status 1 (error) and does
        nothing; unknown or malformed commands answer status 2 (invalid parameter).
        With the ble_error fault set nothing is executed: ``{"ok": False, "error": <fault>}``,
        except ``refuse``: the camera answers status 1 (``02 17 01`` for Wi-Fi-on) and does nothing.
        """
        try:
            cmd = bytes.fromhex(cmd_hex)
        except (ValueError, TypeError):
            return {"ok": False, "error": f"not hex: {cmd_hex!r}"}
        with self._lock:
            if self._faults["ble_error"] == "refuse":   # the camera answers "refused", does nothing
                self._event("ble", cmd=cmd.hex(), refused=True)
                return {"ok": True, "response": bytes([2, cmd[1] if len(cmd) > 1 else 0, BLE_FAILED]).hex()}
            if self._faults["ble_error"]:
                return {"ok": False, "error": self._faults["ble_error"]}
        t = time.monotonic()
        status = BLE_OK
        wifi_changed = False
        with self._lock:
            self._event("ble", t, cmd=cmd.hex())
            if cmd == BLE_WIFI_ON:
                self._idle_since = t                # an AP already up stays up (reported, #101)
                self._wifi_on_later()
            elif cmd == BLE_WIFI_OFF:
                wifi_changed = self.wifi == "on"
                self._wifi_off("ble wifi off", t)
            elif cmd in (BLE_SHUTTER_ON, BLE_SHUTTER_OFF):
                if self.power != "on":
                    status = BLE_FAILED
                elif cmd == BLE_SHUTTER_ON:
                    self._start_recording("ble", t)
                else:
                    self._event("shutter_off", t, via="ble")
                    self._stop_recording("shutter", t)
            elif cmd == BLE_SLEEP:
                self._go_asleep("ble sleep", t)
            elif cmd == BLE_HILIGHT:
                if self.power != "on":
                    status = BLE_FAILED
                else:
                    self._hilight("ble", t)
            else:
                status = BLE_INVALID
        if wifi_changed:
            self._after_wifi_change()
        elif cmd == BLE_SLEEP:
            self._apply_netdev()
        code = cmd[1] if len(cmd) > 1 else 0
        return {"ok": True, "response": bytes([2, code, status]).hex()}

