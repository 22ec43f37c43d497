"""GPMF KLV decoding (issue 11 parts 3 and 8): every type of GoPro's spec, TYPE/SCAL/SIUN, nesting,
alignment, and hostile input (warnings naming file and offset, the rest decoded, no crash or
hang), with Hypothesis fuzzing of the KLV walker. Payloads are built by hand from the spec
(gpmf-parser README §KLV Design) with :func:`tests.mp4build.gpmf_klv`."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from camrig.telemetry.gpmf import (
    GpmfWarning,
    decode_values,
    expand_type,
    iter_klv,
    parse_gpsu,
    parse_payload,
)
from tests.mp4build import gpmf_klv as klv


def nest(key: bytes, *children: bytes) -> bytes:
    body = b"".join(children)
    assert len(body) % 4 == 0
    return klv(key, 0, 4, len(body) // 4, body)


def stream(*children: bytes) -> bytes:
    return nest(b"DEVC", klv(b"DVID", b"L", 4, 1, struct.pack(">I", 1)), klv(b"DVNM", b"c", 1, 6, b"Camera"),
                nest(b"STRM", *children))


def only(streams, key):
    found = [s for s in streams if s.key == key]
    assert len(found) == 1, [s.key for s in streams]
    return found[0]


@pytest.mark.parametrize("t,fmt,values,expected", [
    (b"b", ">3b", (-1, 2, -128), (-1, 2, -128)),
    (b"B", ">3B", (255, 0, 7), (255, 0, 7)),
    (b"s", ">3h", (-2, 300, -32768), (-2, 300, -32768)),
    (b"S", ">3H", (65535, 1, 2), (65535, 1, 2)),
    (b"l", ">2i", (-5, 2_000_000_000), (-5, 2_000_000_000)),
    (b"L", ">2I", (4_000_000_000, 1), (4_000_000_000, 1)),
    (b"f", ">2f", (1.5, -0.25), (1.5, -0.25)),
    (b"d", ">2d", (1e100, -3.125), (1e100, -3.125)),
    (b"j", ">2q", (-(2 ** 40), 3), (-(2 ** 40), 3)),
    (b"J", ">2Q", (2 ** 63, 3), (2 ** 63, 3)),
    (b"q", ">2i", (3 << 16 | 0x8000, -(1 << 16)), (3.5, -1.0)),  # Q15.16
    (b"Q", ">2q", ((7 << 32) | (1 << 30), -(1 << 32)), (7.25, -1.0)),  # Q31.32
])
def test_numeric_types_decode_big_endian(t, fmt, values, expected):
    data = struct.pack(fmt, *values)
    k = next(iter_klv(klv(b"TEST", t, len(data), 1, data)))
    assert decode_values(k) == [expected]


def test_string_fourcc_guid_and_utc_types():
    assert decode_values(next(iter_klv(klv(b"STNM", b"c", 1, 5, b"Hello")))) == ["Hello"]
    assert decode_values(next(iter_klv(klv(b"STNM", b"u", 1, 6, "grüß".encode())))) == ["grüß"]
    assert decode_values(next(iter_klv(klv(b"SIUN", b"c", 3, 2, b"m\0\0deg")))) == ["m", "deg"]
    assert decode_values(next(iter_klv(klv(b"FCCS", b"F", 4, 2, b"SNOWURBA")))) == [("SNOW",), ("URBA",)]
    guid = bytes(range(16))
    assert decode_values(next(iter_klv(klv(b"GUID", b"G", 16, 1, guid)))) == [(guid.hex(),)]
    assert decode_values(next(iter_klv(klv(b"GPSU", b"U", 16, 1, b"170417173103.055")))) == [("170417173103.055",)]


def test_gpsu_is_yymmddhhmmss_sss_utc():
    t = parse_gpsu("170417173103.055")
    assert t is not None and t.isoformat() == "2017-04-17T17:31:03.055000+00:00"
    assert parse_gpsu("garbage") is None
    assert parse_gpsu("171317173103.000") is None  # month 13


def test_padding_to_32_bits_between_klvs():
    """README §Alignment: 'b' 1 1 has 3 pad bytes, 'b' 1 15 has one; the next key follows."""
    data = klv(b"DMO1", b"b", 1, 1, b"\x05") + klv(b"DMO2", b"b", 1, 15, bytes(range(15))) + \
        klv(b"DMO3", b"L", 4, 1, struct.pack(">I", 9))
    assert len(data) == 12 + 24 + 12
    ks = list(iter_klv(data))
    assert [k.key for k in ks] == ["DMO1", "DMO2", "DMO3"]
    assert decode_values(ks[2]) == [(9,)]


def test_complex_type_with_arrays_and_per_element_scale_and_units():
    """README §Complex structures: TYPE "f[2]sL", SIUN per element, SCAL per element (1 for flags)."""
    assert expand_type("f[2]sL") == "ffsL"
    sample = struct.pack(">ffhI", 1.0, 2.0, 500, 7)
    payload = stream(klv(b"TYPE", b"c", 1, 6, b"f[2]sL"),
                     klv(b"SIUN", b"c", 2, 4, b"uTmmmm  "),
                     klv(b"SCAL", b"l", 4, 4, struct.pack(">4i", 1, 2, 100, 1)),
                     klv(b"myDD", b"?", len(sample), 2, sample * 2))
    s = only(parse_payload(payload), "myDD")
    assert s.type == "ffsL"
    assert s.units == ["uT", "mm", "mm", ""]
    assert s.samples == [(1.0, 1.0, 5.0, 7), (1.0, 1.0, 5.0, 7)]


def test_gps9_complex_stream_and_sticky_properties():
    """GPS9 (README §HERO11): lllllllSS with a SCAL per element; STNM, UNIT, TSMP kept."""
    row = struct.pack(">7i2H", 488083646, 93550506, 248083, 1499, 146, 9137, 38_000_100, 396, 3)
    payload = stream(klv(b"TSMP", b"L", 4, 1, struct.pack(">I", 10)),
                     klv(b"STNM", b"c", 1, 8, b"GPS (9D)"),
                     klv(b"TYPE", b"c", 1, 9, b"lllllllSS"),
                     klv(b"SCAL", b"l", 4, 9, struct.pack(">9i", 10_000_000, 10_000_000, 1000, 1000, 100, 1, 1000,
                                                         100, 1)),
                     klv(b"GPS9", b"?", len(row), 1, row))
    s = only(parse_payload(payload), "GPS9")
    assert s.name == "GPS (9D)" and s.props["TSMP"] == 10
    lat, lon, alt, sp2, sp3, days, secs, dop, fix = s.samples[0]
    assert (lat, lon, alt, sp2, sp3) == (48.8083646, 9.3550506, 248.083, 1.499, 1.46)
    assert (days, secs, dop, fix) == (9137, 38000.1, 3.96, 3)


def test_scal_single_value_applies_to_every_axis():
    data = struct.pack(">6h", 418, 836, -418, 0, 418, 418)
    s = only(parse_payload(stream(klv(b"SIUN", b"c", 4, 1, "m/s²".encode("latin-1")),
                                  klv(b"SCAL", b"s", 2, 1, struct.pack(">h", 418)),
                                  klv(b"ACCL", b"s", 6, 2, data))), "ACCL")
    assert s.samples == [(1.0, 2.0, -1.0), (0.0, 1.0, 1.0)]
    assert s.units == ["m/s²"]


def test_keys_filter_decodes_only_the_asked_streams():
    payload = stream(klv(b"ACCL", b"s", 6, 1, b"\0" * 6)) + stream(klv(b"GYRO", b"s", 6, 1, b"\0" * 6))
    assert [s.key for s in parse_payload(payload, keys={"GYRO"})] == ["GYRO"]


# --- hostile input -----------------------------------------------------------------------------------

def warned(payload: bytes, **kw) -> tuple[list, list[GpmfWarning]]:
    w: list[GpmfWarning] = []
    return parse_payload(payload, source="x.bin", warnings=w, **kw), w


def test_klv_size_past_its_parent_is_a_warning_with_offset_and_earlier_streams_survive():
    good = stream(klv(b"ACCL", b"s", 6, 1, b"\0\1\0\2\0\3"))
    bad = bytearray(stream(klv(b"GYRO", b"s", 6, 1, b"\0" * 6)))
    bad[-10:-8] = b"\x7f\xff"  # GYRO repeat 32767: far past its STRM
    streams, w = warned(good + bytes(bad))
    assert [s.key for s in streams] == ["ACCL"]
    assert len(w) == 1 and "runs past its parent" in w[0].message and w[0].source == "x.bin"
    assert w[0].offset == len(good) + len(bad) - 16  # the GYRO key's offset


def test_unknown_type_is_skipped_and_the_next_klv_decoded():
    payload = stream(klv(b"ODD1", b"Z", 4, 1, b"abcd"), klv(b"ACCL", b"s", 6, 1, b"\0\1\0\2\0\3"))
    streams, w = warned(payload)
    assert only(streams, "ACCL").samples == [(1, 2, 3)]
    assert any("unknown type" in x.message and "ODD1" in x.message for x in w)


def test_bad_key_and_truncated_header_stop_the_level_with_a_warning():
    streams, w = warned(stream(klv(b"ACCL", b"s", 6, 1, b"\0" * 6)) + b"\xff\xfe\x00\x01" + b"\0" * 4)
    assert [s.key for s in streams] == ["ACCL"] and "not a GPMF key" in w[0].message
    streams, w = warned(stream(klv(b"ACCL", b"s", 6, 1, b"\0" * 6)) + b"GYRO\x73")
    assert [s.key for s in streams] == ["ACCL"] and "truncated KLV header" in w[0].message


def test_absurd_type_array_and_struct_mismatch_are_warnings():
    streams, w = warned(stream(klv(b"TYPE", b"c", 1, 12, b"f[999999999]"), klv(b"BIGX", b"?", 4, 1, b"\0" * 4)))
    assert streams == [] and any("255" in x.message for x in w)
    streams, w = warned(stream(klv(b"ACCL", b"s", 5, 1, b"\0" * 5)))
    assert streams == [] and "not a multiple" in w[0].message
    streams, w = warned(stream(klv(b"FACE", b"?", 4, 1, b"\0" * 4)))
    assert streams == [] and "without a TYPE" in w[0].message


def test_scal_of_zero_is_treated_as_one():
    streams, w = warned(stream(klv(b"SCAL", b"s", 2, 1, b"\0\0"), klv(b"ACCL", b"s", 2, 1, b"\0\5")))
    assert only(streams, "ACCL").samples == [(5.0,)] and "SCAL of 0" in w[0].message


def test_nesting_deeper_than_16_is_cut_not_recursed_forever():
    inner = klv(b"ACCL", b"s", 2, 1, b"\0\1")
    for _ in range(40):
        inner = nest(b"NEST", inner)
    w: list = []
    list(iter_klv(inner, warn=lambda off, msg: w.append(msg)))
    assert any("deeper than 16" in m for m in w)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_crash(data):
    streams, _ = warned(data)
    assert isinstance(streams, list)


_SEED = stream(klv(b"TSMP", b"L", 4, 1, struct.pack(">I", 3)), klv(b"TYPE", b"c", 1, 3, b"lsB"),
               klv(b"SCAL", b"l", 4, 3, struct.pack(">3i", 10, 2, 1)),
               klv(b"CMPX", b"?", 7, 2, b"\0\0\0\1\0\2\3" * 2),
               klv(b"GPSU", b"U", 16, 1, b"170417173103.055"), klv(b"ACCL", b"s", 6, 2, b"\0\1" * 6))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(_SEED) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_mutated_payload_never_crashes_and_warns_with_offsets(mutations):
    data = bytearray(_SEED)
    for pos, val in mutations:
        data[pos] = val
    streams, w = warned(bytes(data))
    assert all(0 <= x.offset <= len(data) for x in w)
    for s in streams:
        assert len(s.samples) <= 0xFFFF
