"""GPS and motion telemetry from GoPro recordings: GPMF → GPX, CSV and JSON, without ffmpeg (issue 11).

The public API the offload calls after a recording is fetched::

    from camrig.telemetry import convert_recording
    result = convert_recording([Path("GH010042.MP4"), Path("GH020042.MP4")], out_dir, formats=("gpx",))
    result.outputs        # {"gpx": Path(".../GH010042.gpx")}
    result.start_utc      # recording start from GPS time (None without a fix)

:func:`convert_recording` never raises for bad telemetry: problems are in ``result.error`` (one line,
e.g. "no GPMF track") and ``result.warnings``; it raises only ValueError for a bad argument.
Modules: :mod:`.mp4` (box walker, gpmd samples, chapters), :mod:`.gpmf` (KLV and types),
:mod:`.track` (streams, sample times, GPS points), :mod:`.outputs` (GPX/CSV/JSON),
:mod:`.sync` (per-session sync table), :mod:`.cli` (``gopro_manager.py telemetry``).
"""

from __future__ import annotations

from camrig.telemetry.api import (
    FORMATS,
    RAW_SUFFIXES,
    VIDEO_SUFFIXES,
    Result,
    convert_recording,
    decode_raw,
    decode_recording,
)

__all__ = ["convert_recording", "Result", "decode_recording", "decode_raw", "FORMATS", "RAW_SUFFIXES",
           "VIDEO_SUFFIXES"]
