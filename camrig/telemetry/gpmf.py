"""GPMF (GoPro Metadata Format) decoding: KLV walking, every value type, streams, sample times.

Primary source for every fact here: GoPro's GPMF specification, the README of
gopro/gpmf-parser (commit 9a71506), sections cited as "README §…", and its reference parser
``GPMF_parser.c`` / ``GPMF_common.h`` / ``GPMF_utils.c`` (cited "file:line" at that commit).
Written from the spec; no code copied.

KLV (README §KLV Design, §Length): a 32-bit FourCC key, then one byte type, one byte structure
size, a 16-bit big-endian repeat count, then ``size × repeat`` bytes of big-endian data padded to
a 32-bit boundary (README §Alignment and Storage; GPMF_common.h:91 ``GPMF_DATA_SIZE``). Type 0
nests more KLVs (README §GPMF Nesting): ``DEVC`` (a device) holds ``STRM`` (a stream), whose
sticky properties (``STNM`` name, ``SIUN``/``UNIT`` units, ``SCAL`` divisor, ``TYPE`` complex
layout, ``TSMP`` total samples, ``STMP`` µs timestamp, ``EMPT`` empty payloads, ``TMPC``…) come
before the sample KLV they describe (README §Property Hierarchy). Nesting is limited to 16 levels
(GPMF_parser.h:33 ``GPMF_NEST_LIMIT``); keys are 7-bit ``[A-Za-z0-9 ]`` (GPMF_common.h:93
``GPMF_VALID_FOURCC``).

Types (README §Type; GPMF_common.h:48-73; sizes GPMF_parser.c:1033 ``GPMF_SizeofType``):
``b B`` int8/uint8, ``s S`` int16/uint16, ``l L`` int32/uint32, ``j J`` int64/uint64, ``f d``
float32/float64, ``q`` Q15.16 and ``Q`` Q31.32 fixed point, ``c`` ASCII and ``u`` UTF-8 strings,
``U`` 16-byte UTC date ``yymmddhhmmss.sss``, ``F`` FourCC, ``G`` 16-byte GUID, ``?`` a complex
structure described by the stream's preceding ``TYPE`` string, in which ``x[n]`` repeats a type n
times (GPMF_parser.c:1065 ``GPMF_ExpandComplexTYPE``). ``SCAL`` is a divisor, one value for all
elements or one per element (README §Complex structures).

Hostile input (issue 11 part 8): every problem is a :class:`GpmfWarning` naming the source and
the byte offset; the bad KLV (or the rest of its level, when its size makes the next key
unknowable) is skipped and the rest decoded. Work is bounded by the input's length: a repeat
count is checked against the parent's size before anything is decoded, ``TYPE`` expansion is
capped at 255 elements (a structure is at most 255 bytes), nesting at 16 levels.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["GpmfWarning", "Klv", "iter_klv", "decode_values", "expand_type", "parse_gpsu",
           "StreamPayload", "parse_payload", "TYPE_SIZES", "NEST_LIMIT"]

#: Bytes per element of each type char (GPMF_parser.c:1033-1062; ``u`` is byte-sized text like
#: ``c``, README §Type; GPMF_common.h:62).
TYPE_SIZES: dict[str, int] = {
    "b": 1, "B": 1, "c": 1, "u": 1, "s": 2, "S": 2, "l": 4, "L": 4, "f": 4, "F": 4, "q": 4,
    "j": 8, "J": 8, "d": 8, "Q": 8, "U": 16, "G": 16,
}
#: struct codes of the numeric types (big-endian, README §KLV Design "All data is Big Endian").
_NUMERIC = {"b": "b", "B": "B", "s": "h", "S": "H", "l": "i", "L": "I", "f": "f", "q": "i",
            "j": "q", "J": "Q", "d": "d", "Q": "q"}
#: Nesting limit (GPMF_parser.h:33).
NEST_LIMIT = 16
#: A structure is at most 255 bytes (README §Structure Size), so at most 255 elements.
MAX_ELEMENTS = 255
_KEY_RE = re.compile(rb"[A-Za-z0-9 ]{4}")
_GPS_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class GpmfWarning:
    """A problem in the input: ``source`` (file name or label), absolute byte ``offset``, ``message``."""

    source: str
    offset: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}: offset {self.offset}: {self.message}"


@dataclass
class Klv:
    """One KLV: ``key`` (FourCC str), ``type`` (type char, ``"\\0"`` for a nest), ``size`` (bytes per
    sample), ``repeat`` (samples), ``offset`` (absolute byte offset of the key), ``data`` (the packed
    ``size × repeat`` bytes, no padding), ``children`` (nested KLVs, for type 0)."""

    key: str
    type: str
    size: int
    repeat: int
    offset: int
    data: bytes
    children: list[Klv] = field(default_factory=list)


Warn = Callable[[int, str], None]


def iter_klv(buf: bytes | memoryview, start: int = 0, end: int | None = None, *, base: int = 0,
             warn: Warn | None = None, depth: int = 0) -> Iterator[Klv]:
    """Yield the KLVs of ``buf[start:end]`` at one level, nests already walked into ``children``.

    ``base`` is added to offsets in warnings and in :attr:`Klv.offset` (the payload's offset in its
    file). ``warn(offset, message)`` is called for: a header cut short, a key that is not a FourCC
    (the level stops: the next key cannot be found), a size past the parent (the level stops),
    an unknown type (that KLV is skipped), nesting deeper than 16 (the nest is skipped).
    All-zero words at the end of a level are padding, not an error (README §Alignment and Storage).
    """
    end = len(buf) if end is None else min(end, len(buf))
    warn = warn or (lambda off, msg: None)
    pos = start
    while pos < end:
        if end - pos < 8:
            if any(buf[pos:end]):
                warn(base + pos, f"truncated KLV header ({end - pos} bytes left in its parent)")
            return
        key_b = bytes(buf[pos:pos + 4])
        if key_b == b"\0\0\0\0":
            # GPMF_KEY_END (GPMF_common.h:131): padding / end of the level.
            return
        if not _KEY_RE.fullmatch(key_b):
            warn(base + pos, f"not a GPMF key {key_b!r}; rest of this level skipped")
            return
        type_b, size, repeat = buf[pos + 4], buf[pos + 5], (buf[pos + 6] << 8) | buf[pos + 7]
        length = size * repeat
        padded = (length + 3) & ~3
        key = key_b.decode("ascii")
        if pos + 8 + padded > end and pos + 8 + length <= end:
            padded = end - pos - 8  # last KLV of a payload cut without its padding: still whole
        if pos + 8 + padded > end:
            warn(base + pos, f"KLV {key} size {size}×{repeat}={length} bytes runs past its parent "
                             f"(ends at {base + end}); rest of this level skipped")
            return
        data_start = pos + 8
        tchar = chr(type_b)
        if type_b == 0:
            klv = Klv(key, "\0", size, repeat, base + pos, b"")
            if depth + 1 >= NEST_LIMIT:
                warn(base + pos, f"{key} nested deeper than {NEST_LIMIT} levels; skipped")
            else:
                klv.children = list(iter_klv(buf, data_start, data_start + length, base=base, warn=warn,
                                             depth=depth + 1))
            yield klv
        elif tchar in TYPE_SIZES or tchar == "?" or tchar == "#":
            yield Klv(key, tchar, size, repeat, base + pos, bytes(buf[data_start:data_start + length]))
        else:
            warn(base + pos, f"KLV {key} has unknown type {type_b:#04x}; skipped")
        pos = data_start + padded


def expand_type(spec: str) -> str:
    """Expand a ``TYPE`` string's ``x[n]`` arrays (README §Complex structures; GPMF_parser.c:1065).

    ``"f[8]L"`` → ``"ffffffffL"``. NULs end it. Raises ValueError for an unknown type char or an
    expansion past 255 elements (a structure is at most 255 bytes, README §Structure Size).
    """
    out: list[str] = []
    i = 0
    spec = spec.split("\0", 1)[0]
    while i < len(spec):
        ch = spec[i]
        if ch == "[":
            j = spec.find("]", i)
            if j < 0 or not out or not spec[i + 1:j].isdigit():
                raise ValueError(f"bad array in TYPE {spec!r}")
            n = int(spec[i + 1:j])
            if n < 1 or len(out) + n - 1 > MAX_ELEMENTS:
                raise ValueError(f"TYPE {spec!r} expands past {MAX_ELEMENTS} elements")
            out.extend(out[-1] * (n - 1))
            i = j + 1
            continue
        if ch not in TYPE_SIZES:
            raise ValueError(f"unknown type {ch!r} in TYPE {spec!r}")
        out.append(ch)
        if len(out) > MAX_ELEMENTS:
            raise ValueError(f"TYPE {spec!r} longer than {MAX_ELEMENTS} elements")
        i += 1
    return "".join(out)


def parse_gpsu(value: str) -> datetime | None:
    """``GPSU`` (type ``U``, README §Type "yymmddhhmmss.sss", years 20xx) → aware UTC datetime, or None."""
    m = re.fullmatch(r"(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{1,6}))?", value.strip("\0 "))
    if not m:
        return None
    yy, mo, dd, hh, mi, ss, frac = m.groups()
    try:
        t = datetime(2000 + int(yy), int(mo), int(dd), int(hh), int(mi), int(ss), tzinfo=UTC)
    except ValueError:
        return None
    return t + timedelta(seconds=float("0." + frac) if frac else 0.0)


def _text(raw: bytes, utf8: bool) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8" if utf8 else "latin-1", errors="replace")


def _one(ch: str, raw: bytes) -> Any:
    """Decode one element of type ``ch`` from exactly TYPE_SIZES[ch] bytes (or a string run)."""
    if ch in _NUMERIC:
        v = struct.unpack(">" + _NUMERIC[ch], raw)[0]
        if ch == "q":
            return v / 65536.0  # Q15.16 (README §Type)
        if ch == "Q":
            return v / 4294967296.0  # Q31.32 (README §Type)
        return v
    if ch in ("c", "u"):
        return _text(raw, ch == "u")
    if ch == "U":
        return _text(raw, False)
    if ch == "F":
        return raw.decode("latin-1")
    if ch == "G":
        return raw.hex()
    raise ValueError(ch)


def decode_values(klv: Klv, complex_type: str | None = None) -> list[Any]:
    """The samples of ``klv``: a list of ``repeat`` items, each a tuple of its elements (numbers,
    strings), or, for ``c``/``u`` strings, one str per sample (or a single str when the structure
    size is 1, README §Type "size/repeat sets the length").

    Simple types: elements per sample = structure size / type size (README §Multiple axis sensor
    data). ``?`` needs ``complex_type`` (the stream's ``TYPE``, expanded by :func:`expand_type`).
    Raises ValueError when the structure size does not match the type.
    """
    t, size, n, data = klv.type, klv.size, klv.repeat, klv.data
    if t in ("c", "u"):
        if size == 1:
            return [_text(data, t == "u")]
        return [_text(data[i * size:(i + 1) * size], t == "u") for i in range(n)]
    if t == "?":
        if not complex_type:
            raise ValueError(f"{klv.key} is a complex type ('?') without a TYPE before it")
        elems = complex_type
        if sum(TYPE_SIZES[c] for c in elems) != size:
            raise ValueError(f"{klv.key}: TYPE {elems!r} is {sum(TYPE_SIZES[c] for c in elems)} bytes, "
                             f"structure size is {size}")
        if all(c in _NUMERIC and c not in "qQ" for c in elems):
            fmt = ">" + "".join(_NUMERIC[c] for c in elems)
            return list(struct.iter_unpack(fmt, data))
        out = []
        for i in range(n):
            p = i * size
            row = []
            for c in elems:
                w = TYPE_SIZES[c]
                row.append(_one(c, data[p:p + w]))
                p += w
            out.append(tuple(row))
        return out
    if t == "#":
        raise ValueError(f"{klv.key}: compressed data ('#') is not decoded")
    w = TYPE_SIZES.get(t, 0)
    if not w or size % w:
        raise ValueError(f"{klv.key}: structure size {size} is not a multiple of type {t!r} ({w} bytes)")
    k = size // w
    if t in _NUMERIC:
        vals = list(struct.iter_unpack(">" + _NUMERIC[t] * k, data)) if size else []
        if t == "q":
            vals = [tuple(v / 65536.0 for v in row) for row in vals]
        elif t == "Q":
            vals = [tuple(v / 4294967296.0 for v in row) for row in vals]
        return vals
    return [tuple(_one(t, data[i * size + j * w:i * size + (j + 1) * w]) for j in range(k)) for i in range(n)]


def _scale(rows: list, scal: list[float], elems: str | None) -> list[tuple]:
    """Divide each numeric element by its SCAL (one for all, or one per element)."""
    if not scal or all(s == 1 for s in scal):
        return [tuple(r) if isinstance(r, tuple) else (r,) for r in rows]
    if elems is None and rows and all(isinstance(v, int | float) for v in rows[0]):
        # Simple numeric type (the IMU's bulk): one divisor per element, no per-value checks.
        width = len(rows[0])
        divs = [scal[0]] * width if len(scal) == 1 else (scal + [1.0] * width)[:width]
        return [tuple([v / d for v, d in zip(r, divs, strict=True)]) for r in rows]
    out = []
    for r in rows:
        r = r if isinstance(r, tuple) else (r,)
        if len(scal) == 1:
            s = scal[0]
            out.append(tuple(v / s if isinstance(v, int | float) and (elems is None or elems[i] in _NUMERIC)
                             else v for i, v in enumerate(r)))
        else:
            out.append(tuple(v / scal[i] if i < len(scal) and isinstance(v, int | float)
                             and (elems is None or elems[i] in _NUMERIC) else v for i, v in enumerate(r)))
    return out


@dataclass
class StreamPayload:
    """One stream's data in one payload (a ``STRM`` nest).

    ``key``: the sample FourCC (``GPS5``, ``ACCL``…); ``device``: DVNM; ``device_id``: DVID;
    ``name``: STNM; ``units``: SIUN (or UNIT) per element; ``scale``: SCAL divisors;
    ``type``: expanded TYPE for ``?`` data; ``samples``: scaled tuples; ``raw_count``: repeat;
    ``props``: every other sticky KLV in the stream decoded (``TSMP``, ``STMP`` µs, ``EMPT``,
    ``GPSU`` str, ``GPSF``, ``GPSP``, ``TMPC``…), scaled where a SCAL applies to them is not known
    so raw; ``offset``: absolute offset of the sample KLV.
    """

    key: str
    device: str = ""
    device_id: Any = None
    name: str = ""
    units: list[str] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    type: str | None = None
    samples: list[tuple] = field(default_factory=list)
    props: dict[str, Any] = field(default_factory=dict)
    offset: int = 0


#: Stream properties that modify the samples rather than being samples (README §FourCC table).
_STICKY = {"STNM", "SIUN", "UNIT", "SCAL", "TYPE", "TSMP", "STMP", "EMPT", "TMPC", "TIMO", "TICK",
           "TOCK", "RMRK", "ORIN", "ORIO", "MTRX", "QUAN", "VERS", "FREE", "GPSU", "GPSF", "GPSP",
           "GPSA", "DVID", "DVNM", "STPS"}


def _prop_value(klv: Klv) -> Any:
    vals = decode_values(klv)
    if klv.type in ("c", "u"):
        return vals[0] if len(vals) == 1 else vals
    flat = [v for row in vals for v in (row if isinstance(row, tuple) else (row,))]
    return flat[0] if len(flat) == 1 else flat


def _units(v: Any) -> list[str]:
    if isinstance(v, list):
        return [str(x) for x in v]
    return [str(v)] if v not in (None, "") else []


def parse_payload(buf: bytes | memoryview, *, source: str = "", base: int = 0,
                  warnings: list[GpmfWarning] | None = None,
                  keys: set[str] | None = None) -> list[StreamPayload]:
    """Decode one GPMF payload (one MP4 sample, or a raw ``.bin``'s bytes) into its streams.

    ``keys``: decode only streams whose sample FourCC is in this set (None: all) — the rest are
    walked, not decoded. Problems are appended to ``warnings`` as :class:`GpmfWarning` and the
    payload's other streams still come back. A stream may carry several sample KLVs (Karma's
    ``GPRI``/``SYST`` pairs): each becomes its own :class:`StreamPayload`.
    """
    warnings = warnings if warnings is not None else []

    def warn(off: int, msg: str) -> None:
        warnings.append(GpmfWarning(source, off, msg))

    out: list[StreamPayload] = []
    for top in iter_klv(buf, base=base, warn=warn):
        if top.type != "\0":
            continue  # stray top-level value: not a device (GPMF_parser.c:89 expects DEVC first)
        devices = [top] if top.key == "DEVC" else [k for k in top.children if k.key == "DEVC"]
        for dev in devices:
            _parse_device(dev, out, warn, keys)
    return out


def _parse_device(dev: Klv, out: list[StreamPayload], warn: Warn, keys: set[str] | None) -> None:
    dvnm, dvid = "", None
    for k in dev.children:
        try:
            if k.key == "DVNM":
                dvnm = _prop_value(k)
            elif k.key == "DVID":
                dvid = _prop_value(k)
            elif k.key == "STRM" and k.type == "\0":
                _parse_stream(k, dvnm, dvid, out, warn, keys)
        except (ValueError, struct.error) as exc:
            warn(k.offset, f"{k.key}: {exc}; skipped")


def _parse_stream(strm: Klv, dvnm: str, dvid: Any, out: list[StreamPayload], warn: Warn,
                  keys: set[str] | None) -> None:
    props: dict[str, Any] = {}
    name, units, scal, ctype = "", [], [], None
    for k in strm.children:
        try:
            if k.type == "\0":
                _parse_stream(k, dvnm, dvid, out, warn, keys)  # nested groups (README §Multi-sample, TICK/TOCK)
                continue
            if k.key in _STICKY:
                v = _prop_value(k)
                if k.key == "STNM":
                    name = str(v)
                elif k.key in ("SIUN", "UNIT"):
                    # One unit per repeat, each ``size`` bytes (README §Complex structures:
                    # SIUN 'c' 3 4 "µT mm mm " is four units); 'c' 4 1 "m/s²" is one.
                    units = [_text(k.data[i * k.size:(i + 1) * k.size], k.type == "u").strip()
                             for i in range(k.repeat)] if k.type in ("c", "u") else _units(v)
                elif k.key == "SCAL":
                    scal = [float(x) for x in (v if isinstance(v, list) else [v])]
                    if any(s == 0 or math.isnan(s) for s in scal):
                        warn(k.offset, "SCAL of 0; treated as 1")
                        scal = [s if s and not math.isnan(s) else 1.0 for s in scal]
                elif k.key == "TYPE":
                    ctype = expand_type(str(v))
                props[k.key] = v
                continue
            # The stream's sample data.
            if keys is not None and k.key not in keys:
                continue
            rows = decode_values(k, ctype if k.type == "?" else None)
            elems = ctype if k.type == "?" else None
            sp = StreamPayload(key=k.key, device=dvnm, device_id=dvid, name=name, units=list(units),
                               scale=list(scal), type=elems, samples=_scale(rows, scal, elems),
                               props=dict(props), offset=k.offset)
            out.append(sp)
        except (ValueError, struct.error) as exc:
            warn(k.offset, f"{k.key}: {exc}; skipped")


def gps9_time(days_since_2000: float, secs_since_midnight: float) -> datetime:
    """GPS9's own sample time (README §HERO11 "days since 2000, secs since midnight (ms precision)")."""
    return _GPS_EPOCH + timedelta(days=days_since_2000, seconds=secs_since_midnight)
