"""The Open GoPro BLE byte protocol: characteristics, packet headers, TLV commands and queries.

Pure functions and one small reassembler, no I/O: the daemon's BLE session
(:mod:`camrig.cameras.open_gopro.ble`) and the emulated camera (:mod:`camrig.emulator.open_gopro`)
both build on it, so the bytes one writes are the bytes the other parses.

Sources (Open GoPro BLE specification, gopro.github.io/OpenGoPro/ble):

- "BLE Setup" → "BLE Characteristics": GP-XXXX is ``b5f9XXXX-aa8d-11e3-9046-0002a5d5c51b``;
  Command GP-0072 → Command Response GP-0073, Settings GP-0074 → Settings Response GP-0075,
  Query GP-0076 → Query Response GP-0077 (responses are notifications).
- "Data Protocol" → "Packetization": a packet is at most 20 bytes; a message longer than fits
  in one packet goes as one start packet and continuation packets.
- "Data Protocol" → "Packet Headers": start packets have bit 7 = 0 and bits 6–5 = header type:
  00 General (5-bit length in bits 4–0), 01 Extended 13-bit (length in bits 4–0 of byte 0 and
  byte 1), 10 Extended 16-bit (length in bytes 1–2), 11 reserved. Continuation packets have
  bit 7 = 1 and a 4-bit counter in bits 3–0 that starts at 0 for the first continuation packet.
  Multi-byte values are big-endian. The Extended 16-bit header "can not be used for sending
  messages to the camera. It is only used to receive messages"; the spec's tip: "Always use
  Extended (13-bit) packet headers when sending messages" ("Packetization": a message of less
  than 20 bytes goes in one packet with its start header). (gopro/OpenGoPro
  ``docs/ble/_sources/protocol/data_protocol.rst.txt`` lines 38–95.)
- "BLE Setup" → "GoPro Setup" → "Wait for Camera BLE Readiness": "It takes some time for the
  camera's BLE communication to become ready after establishing connection … the client shall
  continuously poll Get Hardware Info until it returns a success status" (gopro/OpenGoPro
  gh-pages ``docs/ble/protocol/ble_setup/index.html``). Get Hardware Info is command 0x3C on
  GP-0072, listed for HERO9 Black and later ("Query" → "Get Hardware Info"); its answer is
  ``3C [status]`` then length-value fields (model number, model name, deprecated, firmware,
  serial, AP SSID, AP MAC).
- "Control" → "Set Camera Control": Protobuf, Feature 0xF1 Action 0x69
  ``RequestSetCameraControlStatus`` (field 1 ``camera_control_status``, enum
  ``EnumCameraControlStatus``: CAMERA_IDLE 0, CAMERA_CONTROL 1, CAMERA_EXTERNAL_CONTROL 2),
  answered by Feature 0xF1 Action 0xE9 ``ResponseGeneric`` (field 1 ``result``,
  ``EnumResultGeneric``: RESULT_SUCCESS = 1); listed for HERO10 Black and later (gopro/OpenGoPro
  ``protobuf/set_camera_control_status.proto`` lines 17–39; gh-pages operations table
  ``assets/js/706de4f1.9c9e232a.js``, "Set Camera Control"). "Data Protocol" → "Protobuf":
  ``[feature id][action id][serialized protobuf]``, proto2.
- "Data Protocol" → "Message Payload" → "Type Length Value": a command is
  ``[command id][param length][param]…``; its response ``[command id][result]…``, result 0 =
  success, 1 = error, 2 = invalid parameter. Query responses are
  ``[query id][result]`` then ``[status id][length][value]`` triples.
- "ID Tables" → "Command IDs": 0x01 Set Shutter, 0x05 Sleep, 0x0D Set Date Time
  (year uint16, month, day, hour, minute, second), 0x17 Set AP Control.
- "Commands Quick Reference" (BLE spec 2.0 command table; the tutorial "Send BLE Commands" logs the
  same bytes): 0x3E "Presets: Load Group", Video ``04 3E 02 03 E8``, Photo ``04 3E 02 03 E9``,
  Timelapse ``04 3E 02 03 EA`` (a 2-byte big-endian preset group id, EnumPresetGroup 1000/1001/1002),
  answered ``02 3E 00``; listed for HERO9 Black and later (Photo/Timelapse not on HERO11 Mini).
- "ID Tables" → "Status IDs" (and OpenAPI ``components.schemas.State``): 89 Flatmode (int8,
  EnumFlatMode), 96 Preset Group (int32, EnumPresetGroup), 97 Preset (int32).
- "ID Tables" → "Query IDs": 0x13 Get Status Values, 0x53 Register for Status Value Updates,
  0x93 the camera's asynchronous status value notification.
- "State Management" → "Keep Alive": write setting 0x5B (91) value 0x42 (66) to GP-0074, i.e.
  ``03 5B 01 42``, answered ``02 5B 00`` on GP-0075; send it every 3 s.
- DESIGN.md "Field facts": the same command bytes on the legacy cameras' GP-0072
  (``03 17 01 01`` Wi-Fi on, ``03 01 01 01`` shutter on, ``01 05`` sleep).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

#: Open GoPro 128-bit UUIDs, GP-XXXX form ("BLE Setup", "BLE Characteristics").
GP_UUID = "b5f9{:04x}-aa8d-11e3-9046-0002a5d5c51b"


def gp_uuid(short: int) -> str:
    """``GP-00XX`` → the full 128-bit UUID string (lower case)."""
    return GP_UUID.format(short)


COMMAND = gp_uuid(0x0072)
COMMAND_RESPONSE = gp_uuid(0x0073)
SETTINGS = gp_uuid(0x0074)
SETTINGS_RESPONSE = gp_uuid(0x0075)
QUERY = gp_uuid(0x0076)
QUERY_RESPONSE = gp_uuid(0x0077)
#: Write characteristic → the characteristic its answer is notified on.
RESPONSE_OF = {COMMAND: COMMAND_RESPONSE, SETTINGS: SETTINGS_RESPONSE, QUERY: QUERY_RESPONSE}
NOTIFY_CHARACTERISTICS = (COMMAND_RESPONSE, SETTINGS_RESPONSE, QUERY_RESPONSE)

MAX_PACKET = 20                 # bytes per GATT write/notification (BLE <= 4.2)
MAX_ONE_PACKET = MAX_PACKET - 1 # a message this long or shorter fits one packet with a General header
MAX_GENERAL = 0x1F              # 5-bit length
MAX_EXT13 = 0x1FFF              # 13-bit length
MAX_EXT16 = 0xFFFF              # 16-bit length

HDR_GENERAL, HDR_EXT13, HDR_EXT16, HDR_RESERVED = 0, 1, 2, 3
CONTINUATION = 0x80

# Command ids ("ID Tables" → "Command IDs") and query ids ("Query IDs").
CMD_SHUTTER = 0x01
CMD_SLEEP = 0x05
CMD_DATE_TIME = 0x0D
CMD_AP_CONTROL = 0x17
#: "Hilights" → "Hilight Moment": TLV command 0x18 on GP-0072, answered on GP-0073 ("This can
#: only be used during encoding"; gopro/OpenGoPro docs/ble/features/hilights.html at 36f57a3
#: lists HERO9–HERO12 Black; "ID Tables" → "Command IDs" 0x18 Hilight Moment).
CMD_HILIGHT = 0x18
#: Status 58: OpenAPI ``components.schemas.State.properties.status.properties.58`` "Active
#: Hilights" (int8, HERO9 Black and later); BLE spec "Status IDs" 58 "The number of hilights in
#: currently-encoding video (value is set to 0 when encoding stops)". gpControl calls it
#: ``num_hilights`` (HERO7Black_gpControl.json).
STATUS_HILIGHTS = 58
CMD_GET_HARDWARE_INFO = 0x3C
CMD_LOAD_PRESET_GROUP = 0x3E      # "Presets: Load Group"
#: EnumPresetGroup (OpenAPI components.schemas.EnumPresetGroup; BLE spec protobuf enums).
PRESET_GROUP_VIDEO, PRESET_GROUP_PHOTO, PRESET_GROUP_TIMELAPSE = 1000, 1001, 1002
PRESET_GROUPS = (PRESET_GROUP_VIDEO, PRESET_GROUP_PHOTO, PRESET_GROUP_TIMELAPSE)
STATUS_FLAT_MODE = 89             # Flatmode, EnumFlatMode
STATUS_PRESET_GROUP = 96          # Preset Group, EnumPresetGroup
STATUS_PRESET = 97                # Preset id
FEATURE_COMMAND = 0xF1            # Protobuf feature "Command" (Set Camera Control …)
ACTION_SET_CAMERA_CONTROL = 0x69
ACTION_SET_CAMERA_CONTROL_RSP = 0xE9
CAMERA_CONTROL_EXTERNAL = 2       # EnumCameraControlStatus CAMERA_EXTERNAL_CONTROL
PB_RESULT_SUCCESS = 1             # EnumResultGeneric RESULT_SUCCESS
PB_RESULT_NOT_SUPPORTED = 3       # EnumResultGeneric RESULT_NOT_SUPPORTED
SETTING_KEEP_ALIVE = 0x5B       # setting 91
KEEP_ALIVE_VALUE = 0x42         # 66
QUERY_STATUS = 0x13
QUERY_REGISTER_STATUS = 0x53
QUERY_UNREGISTER_STATUS = 0x73
PUSH_STATUS = 0x93

RESULT_SUCCESS, RESULT_ERROR, RESULT_INVALID = 0, 1, 2

#: Statuses whose value is signed: 33 Primary Storage has -1 (unknown), sent as 0xFF.
SIGNED_STATUSES = frozenset({33})


class ProtocolError(ValueError):
    """Bytes that break the packet or message rules (bad header, counter out of order, short TLV)."""


def packetize(message: bytes, *, to_camera: bool = True) -> list[bytes]:
    """Split ``message`` into ≤ 20-byte packets with Open GoPro packet headers.

    ``to_camera`` (the daemon writing to a camera): a General header when the message fits in
    one packet (≤ 19 bytes), an Extended 13-bit header otherwise; never the Extended 16-bit
    header, which the camera does not accept ("Packet Headers" → "Extended (16-bit)": "can not
    be used for sending messages to the camera"); longer than 8191 bytes raises ProtocolError.
    ``to_camera=False`` (the emulated camera answering): the smallest header that holds the
    length — General (≤ 31 bytes), Extended 13-bit (≤ 8191), Extended 16-bit (≤ 65535).
    Continuation headers count 0x80, 0x81, … (the 4-bit counter wraps after 0x8F).
    ``03 17 01 01`` is ``[b"\\x03\\x17\\x01\\x01"]``.
    """
    n = len(message)
    if n == 0:
        raise ProtocolError("an empty message cannot be sent")
    if n <= (MAX_ONE_PACKET if to_camera else MAX_GENERAL):
        header = bytes([n])
    elif n <= MAX_EXT13:
        header = bytes([(HDR_EXT13 << 5) | (n >> 8), n & 0xFF])
    elif to_camera:
        raise ProtocolError(f"message of {n} bytes: a camera accepts at most {MAX_EXT13} "
                            "(Extended 13-bit header; the 16-bit one is for answers only)")
    elif n <= MAX_EXT16:
        header = bytes([HDR_EXT16 << 5, n >> 8, n & 0xFF])
    else:
        raise ProtocolError(f"message of {n} bytes is longer than the 16-bit header allows")
    first = MAX_PACKET - len(header)
    packets = [header + message[:first]]
    rest = message[first:]
    counter = 0
    while rest:
        packets.append(bytes([CONTINUATION | (counter & 0x0F)]) + rest[:MAX_PACKET - 1])
        rest = rest[MAX_PACKET - 1:]
        counter += 1
    return packets


@dataclass
class Reassembler:
    """Accumulate notified packets of one characteristic into messages.

    :meth:`feed` returns the complete message (payload without headers) when the packet
    completes one, else None. A continuation without a start packet, a counter out of order
    or a reserved header raises ProtocolError and drops the partial message.
    ``accept_ext16`` False (the camera's side: what a client writes) also refuses the Extended
    16-bit header, which "can not be used for sending messages to the camera" ("Data
    Protocol" → "Packet Headers").
    """

    accept_ext16: bool = True

    _buffer: bytearray = field(default_factory=bytearray)
    _expected: int = 0
    _counter: int = 0
    _active: bool = False

    def reset(self) -> None:
        self._buffer.clear()
        self._expected = self._counter = 0
        self._active = False

    def feed(self, packet: bytes) -> bytes | None:
        if not packet:
            raise ProtocolError("empty packet")
        b0 = packet[0]
        if b0 & CONTINUATION:
            if not self._active:
                raise ProtocolError(f"continuation packet {b0:#04x} without a start packet")
            if (b0 & 0x0F) != (self._counter & 0x0F):
                counter = self._counter
                self.reset()
                raise ProtocolError(f"continuation counter {b0 & 0x0F} where {counter & 0x0F} was due")
            self._counter += 1
            self._buffer += packet[1:]
        else:
            if self._active:
                self.reset()   # a new start packet abandons an unfinished message
            kind = (b0 >> 5) & 0x03
            if kind == HDR_GENERAL:
                length, body = b0 & 0x1F, packet[1:]
            elif kind == HDR_EXT13:
                if len(packet) < 2:
                    raise ProtocolError("extended 13-bit header cut short")
                length, body = ((b0 & 0x1F) << 8) | packet[1], packet[2:]
            elif kind == HDR_EXT16:
                if not self.accept_ext16:
                    raise ProtocolError(f"extended 16-bit header {packet[:3].hex()} from a client: "
                                        "the camera only sends it, never receives it")
                if len(packet) < 3:
                    raise ProtocolError("extended 16-bit header cut short")
                length, body = (packet[1] << 8) | packet[2], packet[3:]
            else:
                raise ProtocolError(f"reserved header type in {b0:#04x}")
            self._active, self._expected, self._counter = True, length, 0
            self._buffer = bytearray(body)
        if len(self._buffer) > self._expected:
            expected = self._expected
            self.reset()
            raise ProtocolError(f"message longer than its header's {expected} bytes")
        if len(self._buffer) == self._expected:
            message = bytes(self._buffer)
            self.reset()
            return message
        return None


# --- messages ---------------------------------------------------------------------------------

def tlv_command(command_id: int, *params: bytes) -> bytes:
    """``[id]([len][param])…`` (TLV command, "Message Payload" → "Type Length Value")."""
    out = bytearray([command_id])
    for p in params:
        out += bytes([len(p)]) + p
    return bytes(out)


def shutter(on: bool) -> bytes:
    """Set Shutter: ``01 01 01`` / ``01 01 00`` (packet ``03 01 01 01`` / ``03 01 01 00``)."""
    return tlv_command(CMD_SHUTTER, bytes([1 if on else 0]))


def ap_control(on: bool) -> bytes:
    """Set AP Control (Wi-Fi access point): ``17 01 01`` / ``17 01 00``."""
    return tlv_command(CMD_AP_CONTROL, bytes([1 if on else 0]))


def sleep() -> bytes:
    """Sleep: ``05`` (packet ``01 05``)."""
    return bytes([CMD_SLEEP])


def hilight() -> bytes:
    """Hilight Moment: ``18`` (packet ``01 18``), no parameters; the answer ``18 00`` is success,
    ``18 01`` an error (e.g. not encoding)."""
    return bytes([CMD_HILIGHT])


def date_time(when: dt.datetime) -> bytes:
    """Set Date Time: ``0D 07 YYYY MM DD hh mm ss`` (year big-endian uint16)."""
    if not 2000 <= when.year <= 0xFFFF:
        raise ValueError(f"year {when.year} cannot be sent")
    return tlv_command(CMD_DATE_TIME, when.year.to_bytes(2, "big")
                       + bytes([when.month, when.day, when.hour, when.minute, when.second]))


def load_preset_group(group: int) -> bytes:
    """Presets: Load Group: ``3E 02`` + the group id as 2 bytes big-endian; the video group (1000)
    is ``3E 02 03 E8`` (packet ``04 3E 02 03 E8``, answer ``02 3E 00``). ValueError for an id
    outside 0..65535."""
    if not 0 <= group <= 0xFFFF:
        raise ValueError(f"preset group id {group} does not fit two bytes")
    return tlv_command(CMD_LOAD_PRESET_GROUP, group.to_bytes(2, "big"))


def get_hardware_info() -> bytes:
    """Get Hardware Info: ``3C`` (packet ``01 3C``) on GP-0072; polled after connecting until
    it answers success ("Wait for Camera BLE Readiness")."""
    return bytes([CMD_GET_HARDWARE_INFO])


def hardware_info_response(result: int, fields: tuple[bytes, ...] = ()) -> bytes:
    """``3C [result]`` then each field as ``[length][bytes]`` (what the camera answers)."""
    out = bytearray([CMD_GET_HARDWARE_INFO, result])
    for f in fields:
        out += bytes([len(f)]) + f
    return bytes(out)


def parse_hardware_info(rest: bytes) -> dict[str, bytes]:
    """The length-value fields after ``3C [status]`` → ``{"model_number", "model_name",
    "deprecated", "firmware_version", "serial_number", "ap_ssid", "ap_mac_address"}`` (bytes;
    fields missing at the end are left out). ProtocolError when a field is cut short."""
    names = ("model_number", "model_name", "deprecated", "firmware_version", "serial_number",
             "ap_ssid", "ap_mac_address")
    out: dict[str, bytes] = {}
    i = 0
    for name in names:
        if i >= len(rest):
            break
        n = rest[i]
        if i + 1 + n > len(rest):
            raise ProtocolError(f"hardware info field {name} announces {n} bytes, {len(rest) - i - 1} present")
        out[name] = bytes(rest[i + 1:i + 1 + n])
        i += 1 + n
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b, value = value & 0x7F, value >> 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def set_camera_control(status: int = CAMERA_CONTROL_EXTERNAL) -> bytes:
    """Set Camera Control: ``F1 69`` + ``RequestSetCameraControlStatus`` with field 1 (varint)
    = ``status`` — external control (2) is ``F1 69 08 02`` (packet ``04 F1 69 08 02``). Encoded
    by hand (protobuf wire format: tag = field << 3 | wire type 0, then the varint), so the
    daemon needs no protobuf package."""
    return bytes([FEATURE_COMMAND, ACTION_SET_CAMERA_CONTROL]) + bytes([1 << 3]) + _varint(status)


def parse_protobuf_varints(payload: bytes) -> dict[int, int]:
    """The varint fields (wire type 0) of a serialized protobuf message → ``{field: value}``.
    Other wire types are skipped (length-delimited) or refused (ProtocolError), as is a
    truncated message. Enough for ``ResponseGeneric`` (field 1 ``result``)."""
    out: dict[int, int] = {}
    i = 0

    def varint() -> int:
        nonlocal i
        value = shift = 0
        while True:
            if i >= len(payload):
                raise ProtocolError(f"protobuf varint cut short: {payload.hex()}")
            b = payload[i]
            i += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while i < len(payload):
        key = varint()
        field_no, wire = key >> 3, key & 7
        if wire == 0:
            out[field_no] = varint()
        elif wire == 2:
            n = varint()
            if i + n > len(payload):
                raise ProtocolError(f"protobuf field {field_no} cut short: {payload.hex()}")
            i += n
        else:
            raise ProtocolError(f"protobuf wire type {wire} not handled: {payload.hex()}")
    return out


def generic_response(result: int, action: int = ACTION_SET_CAMERA_CONTROL_RSP) -> bytes:
    """``F1 [action]`` + ``ResponseGeneric`` with ``result`` (what the camera answers)."""
    return bytes([FEATURE_COMMAND, action, 1 << 3]) + _varint(result)


def keep_alive() -> bytes:
    """Keep-alive: setting 0x5B value 0x42 → ``5B 01 42`` (packet ``03 5B 01 42``), on GP-0074."""
    return tlv_command(SETTING_KEEP_ALIVE, bytes([KEEP_ALIVE_VALUE]))


def query(query_id: int, status_ids) -> bytes:
    """``[query id][status id]…``, e.g. Get Status Values 10 and 8: ``13 0A 08``."""
    ids = list(status_ids)
    if not all(0 <= i <= 255 for i in ids):
        raise ValueError(f"status ids must be 0..255: {ids}")
    return bytes([query_id, *ids])


@dataclass(frozen=True)
class Response:
    """A command or settings response: ``id``, ``result`` (0 success) and the bytes after them."""

    id: int
    result: int
    rest: bytes = b""

    @property
    def ok(self) -> bool:
        return self.result == RESULT_SUCCESS


def parse_response(message: bytes) -> Response:
    """``[id][result]…`` → Response. ProtocolError when shorter than 2 bytes."""
    if len(message) < 2:
        raise ProtocolError(f"response of {len(message)} bytes: {message.hex()}")
    return Response(message[0], message[1], bytes(message[2:]))


@dataclass(frozen=True)
class QueryResponse:
    """A query response or push: ``id`` (0x13, 0x53, 0x93), ``result``, ``values`` {status id: int}."""

    id: int
    result: int
    values: dict[int, int]


def decode_value(status_id: int, raw: bytes) -> int:
    """A status value's bytes → int (big-endian; signed for 33, where 0xFF is -1)."""
    return int.from_bytes(raw, "big", signed=status_id in SIGNED_STATUSES)


def encode_value(status_id: int, value: int, length: int = 1) -> bytes:
    """int → a status value's bytes (the inverse of :func:`decode_value`)."""
    return int(value).to_bytes(length, "big", signed=status_id in SIGNED_STATUSES)


def parse_query_response(message: bytes) -> QueryResponse:
    """``[query id][result]([status id][len][value])…`` → QueryResponse.

    ProtocolError when a triple is cut short.
    """
    if len(message) < 2:
        raise ProtocolError(f"query response of {len(message)} bytes: {message.hex()}")
    values: dict[int, int] = {}
    i = 2
    while i < len(message):
        if i + 2 > len(message):
            raise ProtocolError(f"status triple cut short at byte {i}: {message.hex()}")
        sid, length = message[i], message[i + 1]
        raw = message[i + 2:i + 2 + length]
        if len(raw) != length:
            raise ProtocolError(f"status {sid} announces {length} bytes, {len(raw)} present")
        values[sid] = decode_value(sid, raw)
        i += 2 + length
    return QueryResponse(message[0], message[1], values)


def query_response(query_id: int, values: dict[int, tuple[int, int]] | dict[int, int],
                   result: int = RESULT_SUCCESS) -> bytes:
    """Build ``[query id][result]([id][len][value])…``; values ``{id: int}`` (1 byte) or
    ``{id: (int, length)}`` (what the emulated camera sends)."""
    out = bytearray([query_id, result])
    for sid, v in values.items():
        value, length = v if isinstance(v, tuple) else (v, 1)
        out += bytes([sid, length]) + encode_value(sid, value, length)
    return bytes(out)
