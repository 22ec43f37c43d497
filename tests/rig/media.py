"""Media for the emulated cameras' SD cards: MP4 chapters that carry a real GPMF track.

The emulators (``camrig/emulator/media.py``) list and serve what is in their card directory and
start every new recording from a *template* MP4. The rig builds one template per camera with
:func:`tests.mp4build.build_mp4` from a real camera's GPMF (``tests/data/gpmf``, the telemetry
fixtures: the HERO5/6/7/11 streams of juanmcasillas/gopro2gpx's samples), so that every chapter a
test or a trigger cycle puts on a card carries a real ``gpmd`` track; sizes are reached with a
sparse ``free`` box, so a "3MB" chapter costs ~0.4 MB of disk.
"""

from __future__ import annotations

import struct
from pathlib import Path

from tests.mp4build import build_mp4

GPMF_DIR = Path(__file__).resolve().parents[1] / "data" / "gpmf"
#: Model → the GPMF stream its template carries (the nearest camera the fixtures have).
GPMF_STREAM = {"hero5": "gopro2gpx_hero05.gpmf.bin", "hero6": "gopro2gpx_hero06.gpmf.bin",
               "hero7": "gopro2gpx_hero07.gpmf.bin", "hero8": "gopro2gpx_hero07.gpmf.bin"}
GPMF_STREAM_DEFAULT = "gopro2gpx_hero11.gpmf.bin"


def gpmf_payloads(stream: bytes) -> list[bytes]:
    """Split a raw GPMF stream (payloads concatenated) into its payloads: each top-level KLV
    (``DEVC``) is one (gpmf-parser README, "KLV Design": FourCC, type, size, repeat, data padded
    to 32 bits). ValueError when the stream does not end on a KLV boundary."""
    out, pos = [], 0
    while pos + 8 <= len(stream):
        _type, size, repeat = struct.unpack_from(">BBH", stream, pos + 4)
        length = size * repeat
        end = pos + 8 + length + (-length) % 4
        if end > len(stream):
            break
        out.append(stream[pos:end])
        pos = end
    if pos != len(stream):
        raise ValueError(f"GPMF stream: {len(stream) - pos} bytes left over at {pos}")
    return out


def build_template(path: Path, model: str) -> Path:
    """Write ``path``: an MP4 (moov at the end, as a camera writes it) whose ``gpmd`` track holds
    the GPMF of :data:`GPMF_STREAM` for ``model``, one payload per 1.001 s; returns ``path``."""
    stream = (GPMF_DIR / GPMF_STREAM.get(model, GPMF_STREAM_DEFAULT)).read_bytes()
    return build_mp4(path, gpmf_payloads(stream), duration=1001, timescale=1000, moov_at_end=True)
