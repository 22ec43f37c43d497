"""After a recording's chapters are on the Pi: the ``.gpx`` beside them (issue 11's telemetry).

:func:`gpx_hook` returns the hook :class:`camrig.offload.transfer.OffloadJob` calls with
``(recording, paths, log)`` once every chapter of a recording is verified here. It writes
``<first chapter stem>.gpx`` beside the chapters through ``camrig.telemetry`` when this build has
it (the telemetry issue's package: its ``write_gpx(mp4_paths, gpx_path)``), and is None when it
does not (nothing is pretended: the offload says once that no GPX is written).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def gpx_hook():
    """The hook, or None when ``camrig.telemetry`` (with ``write_gpx``) is not in this build."""
    try:
        telemetry = importlib.import_module("camrig.telemetry")
    except ImportError:
        log.info("offload: camrig.telemetry is not in this build: no .gpx is written beside the recordings")
        return None
    write_gpx = getattr(telemetry, "write_gpx", None)
    if not callable(write_gpx):
        log.info("offload: camrig.telemetry has no write_gpx(): no .gpx is written beside the recordings")
        return None

    def hook(recording, paths: list[Path], joblog) -> None:
        chapters = [p for p in paths if p.suffix.upper() == ".MP4"]
        if not chapters:
            return
        chapters.sort()
        gpx = chapters[0].with_suffix(".gpx")
        write_gpx(chapters, gpx)
        joblog.info("%s: GPS track written", gpx)
    return hook
