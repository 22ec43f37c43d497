"""The Open GoPro BLE front-end (HERO9–13) on the emulated body: GATT sessions over the control socket.

A control-socket connection that starts with ``ble_connect`` is one BLE connection (protocol in
:mod:`camrig.emulator.ble_client`). Writes to GP-0072/0074/0076 are reassembled from packets,
executed, and answered as notifications on GP-0073/0075/0077, packetized
(:mod:`camrig.cameras.open_gopro.protocol` holds the bytes and their sources: the Open GoPro BLE
spec). Registered statuses (0x53) are pushed (0x93) when they change.
"""

from __future__ import annotations

import datetime
import json
import socket
import socketserver
import threading
import time
from typing import Any, cast

from camrig.cameras.open_gopro import protocol as p

from .body import _ControlHandler, _ControlServer
from .ogp_http import MODEL_INFO

#: The front-end is a mixin on :class:`camrig.emulator.open_gopro.OpenGoPro` (the body plus the
#: Open GoPro model state); typed loosely, as the camera it completes.
_Base: Any = object

#: BLE status value sizes in bytes (openapi State formats: int32ub, int64ub; enums one byte).
STATUS_BYTES = {13: 4, 35: 4, 54: 8, 57: 4, 60: 4, 96: 4, 97: 4}
#: Open GoPro BLE spec, ID Tables, Command IDs: 0x18 "Hilight Moment".
CMD_HILIGHT_MOMENT = 0x18
CONNECT_ERRORS = {"enosys": "Function not implemented (38)", "busy": "Device or resource busy (16)",
                  "refused": "Connection refused (111)"}


class _BleSession:
    """One emulated BLE connection: the control-socket stream it lives on, its subscriptions,
    reassemblers and registered statuses."""

    def __init__(self, handler: _ControlHandler):
        self.handler = handler
        self.lock = threading.Lock()
        self.subscribed: set[str] = set()
        self.reassemblers: dict[str, p.Reassembler] = {}
        self.registered: set[int] = set()
        self.ready_at = 0.0          # monotonic time from which the camera's BLE is ready
        self.last_pushed: dict[int, int] = {}
        self.closed = False

    def send(self, obj: dict) -> None:
        with self.lock:
            if self.closed:
                return
            try:
                self.handler.wfile.write((json.dumps(obj) + "\n").encode())
                self.handler.wfile.flush()
            except OSError:
                self.closed = True

    def notify(self, char: str, message: bytes) -> None:
        if char in self.subscribed:
            for packet in p.packetize(message, to_camera=False):
                self.send({"notify": char, "data": packet.hex()})

    def drop(self) -> None:
        """The camera ends the connection (sleep, reboot, ble_drop)."""
        with self.lock:
            self.closed = True
        try:
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class _OgpControlHandler(_ControlHandler):
    """Control socket: request/response lines as for the legacy camera, or a BLE connection."""

    def take_over(self, request: dict) -> bool:
        """``{"op": "ble_connect"}``: the rest of this connection is one BLE connection."""
        if request.get("op") != "ble_connect":
            return False
        cast("OpenGoProBleFront", self.server.camera).ble_connection(self)     # an _OgpControlServer's camera
        return True


class _OgpControlServer(_ControlServer):
    def __init__(self, path: str, camera: OpenGoProBleFront):
        self.camera = camera
        socketserver.ThreadingUnixStreamServer.__init__(self, path, _OgpControlHandler)




class OpenGoProBleFront(_Base):
    """BLE GATT sessions (mixin on the Open GoPro camera's body): the control socket's
    ``ble_connect`` connections and the ``ble_message`` op."""

    # Its constructor takes this front-end's camera where the body's takes any body: only ever
    # built with self, so the narrower argument is safe here.
    _control_server_class = _OgpControlServer

    def ble_status_values(self, ids=None) -> dict[int, tuple[int, int]]:
        """Current integer statuses as ``{id: (value, byte length)}`` (string statuses left out)."""
        status = self.status_document()["status"]
        out = {}
        for key, value in status.items():
            sid = int(key)
            if (ids is None or sid in ids) and isinstance(value, int) and not isinstance(value, bool) and sid < 256:
                out[sid] = (value, STATUS_BYTES.get(sid, 1))
        return out

    def ble_connection(self, handler: _ControlHandler) -> None:
        """Serve one BLE connection on ``handler``'s stream until either side ends it."""
        session = _BleSession(handler)
        with self._lock:
            err = self._faults["ble_error"]
        if err == "hang":           # the LE connection never completes
            for _ in handler.rfile:
                pass
            return
        if err in CONNECT_ERRORS:
            session.send({"ok": False, "error": CONNECT_ERRORS[err]})
            return
        if self.ble_connect_delay > 0:
            time.sleep(self.ble_connect_delay)
        t = time.monotonic()
        with self._lock:
            if self.power != "on":
                self._boot("ble connect", t)     # connecting wakes a sleeping camera
            self._activity(None, t)
            self._event("ble_connect", t)
            session.ready_at = t + self.ble_ready_delay
            self._sessions.add(session)
        self._apply_netdev()
        session.send({"ok": True})
        try:
            for line in handler.rfile:
                if session.closed:
                    break
                try:
                    req = json.loads(line)
                except ValueError:
                    continue
                self._ble_request(session, req)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sessions.discard(session)
                self._event("ble_disconnect")

    def _ble_request(self, session: _BleSession, req: dict) -> None:
        seq, op, char = req.get("seq"), req.get("op"), str(req.get("char", "")).lower()
        if op == "ble_subscribe":
            session.subscribed.add(char)
            session.send({"ack": seq, "ok": True})
            return
        if op != "ble_write":
            session.send({"ack": seq, "ok": False, "error": f"unknown op {op!r}"})
            return
        with self._lock:
            err = self._faults["ble_error"]
        if err == "auth":
            session.send({"ack": seq, "ok": False, "error": "Insufficient Authentication"})
            return
        if char not in p.RESPONSE_OF:
            session.send({"ack": seq, "ok": False, "error": f"characteristic {char} not writable"})
            return
        try:
            message = session.reassemblers.setdefault(char, p.Reassembler(accept_ext16=False)).feed(
                bytes.fromhex(req["data"]))
        except (p.ProtocolError, ValueError, KeyError) as exc:
            session.send({"ack": seq, "ok": False, "error": f"bad packet: {exc}"})
            return
        post: list = []
        if message is not None:
            answer = self.ble_message(session, char, message, post)
            if answer is not None:
                session.notify(p.RESPONSE_OF[char], answer)
        session.send({"ack": seq, "ok": True})
        for fn in post:
            fn()

    def ble_message(self, session: _BleSession | None, char: str, message: bytes, post: list) -> bytes | None:
        """Execute one reassembled message written to ``char``; the answer message (or None)."""
        t = time.monotonic()
        mid = message[0]
        with self._lock:
            self._event("ble", t, char=char[4:8], message=message.hex())
            if session is not None and t < session.ready_at:
                return self._ble_not_ready(char, message, t)
            if char == p.COMMAND:
                if mid == p.CMD_GET_HARDWARE_INFO and len(message) == 1:
                    return self._hardware_info(p.RESULT_SUCCESS)
                if mid == p.FEATURE_COMMAND and message[1:2] == bytes([p.ACTION_SET_CAMERA_CONTROL]):
                    return self._set_camera_control(message[2:], t)
                if mid == p.CMD_AP_CONTROL and message[1:] in (b"\x01\x01", b"\x01\x00"):
                    self._ap(message[2] == 1, t)
                    post.append(self._after_wifi_change)
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_SHUTTER and message[1:] in (b"\x01\x01", b"\x01\x00"):
                    if self.power != "on":
                        return bytes([mid, p.RESULT_ERROR])
                    self._activity(None, t)
                    if message[2] == 1:
                        self._start_recording("ble", t)
                    else:
                        self._event("shutter_off", t, via="ble")
                        self._stop_recording("shutter", t)
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_LOAD_PRESET_GROUP and len(message) == 4 and message[1] == 2:
                    if self.power != "on":
                        return bytes([mid, p.RESULT_ERROR])
                    result = self._load_group(int.from_bytes(message[2:4], "big"), t, via="ble")
                    return bytes([mid, {"ok": p.RESULT_SUCCESS, "capturing": p.RESULT_ERROR}.get(
                        result, p.RESULT_INVALID)])
                if mid == CMD_HILIGHT_MOMENT and len(message) == 1:
                    # Open GoPro BLE spec, ID Tables: 0x18 "Hilight Moment" (HERO9 has no HTTP one).
                    # Answer 18 00 (on the wire 02 18 00); asleep: 18 01. While not recording it is
                    # answered 18 00 and nothing is kept, as the legacy command (unverified).
                    if self.power != "on":
                        return bytes([mid, p.RESULT_ERROR])
                    self._activity(None, t)
                    self._hilight("ble", t)
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_SLEEP and len(message) == 1:
                    post.append(lambda: self._sleep_after_answer(t))
                    return bytes([mid, p.RESULT_SUCCESS])
                if mid == p.CMD_DATE_TIME and len(message) == 9 and message[1] == 7:
                    year = int.from_bytes(message[2:4], "big")
                    try:
                        when = datetime.datetime(year, *message[4:9])
                    except ValueError:
                        return bytes([mid, p.RESULT_INVALID])
                    self._set_clock(when, t)
                    self._event("date_time", t, value=when.isoformat(), via="ble",
                                recording=self.record_started_at is not None)
                    return bytes([mid, p.RESULT_SUCCESS])
                return bytes([mid, p.RESULT_INVALID])
            if char == p.SETTINGS:
                if message == p.keep_alive():
                    self._activity("keep_alive", t)
                    self._event("keep_alive", t, via="ble")
                    return bytes([mid, p.RESULT_SUCCESS])
                return bytes([mid, p.RESULT_INVALID])
        # queries (outside the lock: status_document takes it)
        if mid in (p.QUERY_STATUS, p.QUERY_REGISTER_STATUS, p.QUERY_UNREGISTER_STATUS):
            ids = list(message[1:])
            values = self.ble_status_values(set(ids) if ids else None)
            if session is not None and mid == p.QUERY_REGISTER_STATUS:
                session.registered.update(ids)
                session.last_pushed.update({i: v[0] for i, v in values.items()})
            if session is not None and mid == p.QUERY_UNREGISTER_STATUS:
                session.registered.difference_update(ids)
                return bytes([mid, p.RESULT_SUCCESS])
            return p.query_response(mid, {i: values[i] for i in (ids or values) if i in values})
        return bytes([mid, p.RESULT_INVALID])

    def _hardware_info(self, result: int) -> bytes:
        """Get Hardware Info answer ("Query" → "Get Hardware Info"): ``3C [result]`` then model
        number (4 bytes, unverified width), model name, deprecated (empty), firmware, serial,
        AP SSID, AP MAC; not-ready answers carry no fields."""
        if result != p.RESULT_SUCCESS:
            return p.hardware_info_response(result)
        name, number = MODEL_INFO[self.model]
        return p.hardware_info_response(result, (
            int(number).to_bytes(4, "big"), name.encode(), b"", b"EMULATED", b"C3500000000000",
            str(self._base_status.get("30", "")).encode(), self.wifi_mac.replace(":", "").encode()))

    def _ble_not_ready(self, char: str, message: bytes, t: float) -> bytes | None:
        """A message during the not-ready window after a connection (hold the lock)."""
        mid = message[0]
        if char == p.COMMAND and mid == p.CMD_GET_HARDWARE_INFO:
            self._event("ble_not_ready", t, message=message.hex())
            return self._hardware_info(2)
        self._event("ble_refused_not_ready", t, char=char[4:8], message=message.hex(), how=self.ble_unready)
        if self.ble_unready == "ignore":
            return None
        if mid == p.FEATURE_COMMAND and len(message) >= 2:
            return p.generic_response(6, message[1] | 0x80)   # RESULT_RESOURCE_NOT_AVAILABLE
        return bytes([mid, p.RESULT_ERROR])

    def _set_camera_control(self, payload: bytes, t: float) -> bytes:
        """Set Camera Control (Protobuf F1 69): status 114 := camera_control_status; answer
        ``F1 E9`` ResponseGeneric. HERO9 is not listed for it: RESULT_NOT_SUPPORTED (unverified)."""
        if self.model == "hero9":
            return p.generic_response(p.PB_RESULT_NOT_SUPPORTED)
        try:
            value = p.parse_protobuf_varints(payload).get(1)
        except p.ProtocolError:
            return p.generic_response(2)                 # RESULT_ILL_FORMED
        if value not in (0, 2):                          # 1 and 3 are set by the camera only
            return p.generic_response(5)                 # RESULT_ARGUMENT_INVALID
        self.camera_control = value
        self._activity(None, t)
        self._event("camera_control", t, value=value, via="ble")
        return p.generic_response(p.PB_RESULT_SUCCESS)

    def _sleep_after_answer(self, t: float) -> None:
        with self._lock:
            self._go_asleep("ble sleep", t)
        self._apply_netdev()

    def control(self, request: dict) -> dict:
        if request.get("op") == "ble_message":
            # One message through the GATT logic without a connection (tests): {"char", "message": hex}.
            answer = self.ble_message(None, str(request["char"]).lower(), bytes.fromhex(request["message"]), [])
            return {"ok": True, "answer": answer.hex() if answer is not None else None}
        return super().control(request)


