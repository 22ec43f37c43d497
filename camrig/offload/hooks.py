"""After a recording's chapters are on the Pi: the ``.gpx`` beside them (issue 11's telemetry).

:func:`gpx_hook` returns the hook :class:`camrig.offload.transfer.OffloadJob` calls with
``(recording, paths, log)`` once every chapter of a recording is verified here: it writes
``<first chapter stem>.gpx`` beside the chapters with
:func:`camrig.telemetry.convert_recording` (which never raises for bad telemetry: a recording
without a GPS fix or without a GPMF track is logged, not an error of the offload). None when this
build has no ``camrig.telemetry``.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def gpx_hook():
    """The hook, or None when ``camrig.telemetry`` is not in this build."""
    try:
        telemetry = importlib.import_module("camrig.telemetry")
    except ImportError:
        log.info("offload: camrig.telemetry is not in this build: no .gpx is written beside the recordings")
        return None
    convert = telemetry.convert_recording

    def hook(recording, paths: list[Path], joblog) -> None:
        chapters = sorted((p for p in paths if p.suffix.upper() == ".MP4"),
                          key=lambda p: (p.name[4:8], p.name[2:4]) if p.name[:2] in ("GH", "GX") else ("", p.name))
        if not chapters:
            return
        result = convert(chapters, None, ("gpx",))
        if result.error:
            joblog.info("%s: no .gpx: %s", chapters[0].name, result.error)
        else:
            for path in result.outputs.values():
                joblog.info("%s: GPS track written", path)
    return hook
