"""``gopro_manager.py telemetry INPUT… [-o DIR] [--format gpx,csv,json] [--skip-bad-fix] [--streams LIST]
[--sync FILE] [--marks FILE]``.

INPUT: MP4/.360 files, raw GPMF (``.bin``/``.raw``), or folders (searched recursively). The chapters
of one recording (GH01xxxx, GH02xxxx… / GOPRxxxx, GP01xxxx…) are joined into one output named
after the first. Writes ``<recording>.<format>`` to DIR (default: beside the input). ``--sync FILE``
also writes the sync table of every recording converted (:mod:`camrig.telemetry.sync`), each
recording's camera being the name of its folder (the offload keeps one folder per camera).

Exit status: 0 when every recording converted; 1 when any failed (each failure one line on
stderr, e.g. "GH010001.MP4: no GPMF track …", the others still processed); 2 for a usage error.
Warnings about damaged data go to stderr too, one line each, naming the file and offset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from camrig.telemetry.api import FORMATS, RAW_SUFFIXES, VIDEO_SUFFIXES, convert_recording
from camrig.telemetry.mp4 import group_chapters
from camrig.telemetry.sync import SyncEntry, entry_from_result, write_sync_table

__all__ = ["add_parser", "run", "collect_inputs"]

#: Warnings printed per recording before "… and N more".
MAX_WARNINGS_SHOWN = 20


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``telemetry`` subparser to ``sub`` (argparse subparsers); returns it."""
    p = sub.add_parser("telemetry", help="GPS/IMU telemetry of GoPro recordings (GPMF) to GPX, CSV, JSON",
                       description="Turn the GPS and IMU telemetry (GPMF) of GoPro recordings into GPX, CSV "
                                   "and JSON, without ffmpeg. Chapters of one recording (GH01xxxx, GH02xxxx… / "
                                   "GOPRxxxx, GP01xxxx…) become one track named after the first.",
                       epilog="Exit 0 when every recording converted, 1 when any failed (one line each on "
                              "stderr; the others are still converted), 2 for a usage error. See docs/telemetry.md.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="MP4/.360 files, .bin/.raw GPMF, or folders")
    p.add_argument("-o", "--output", metavar="DIR", help="write outputs here (default: beside each input)")
    p.add_argument("--format", default="gpx", metavar="LIST", help="comma-separated: gpx,csv,json (default gpx)")
    p.add_argument("--skip-bad-fix", action="store_true", help="drop GPS samples without a 2D/3D fix")
    p.add_argument("--streams", metavar="LIST", help="decode only these: GPS,ACCL,GYRO or FourCCs (default: all)")
    p.add_argument("--sync", metavar="FILE", help="also write the recordings' sync table (JSON) here")
    p.add_argument("--marks", metavar="FILE", help="the daemon's marks file (MARKS_PATH, issue 13): marks inside "
                                                   "a recording go into its JSON and GPX")
    return p


def collect_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files to convert from INPUT arguments (folders walked recursively, in name order), and one
    error line per argument that is neither a readable file nor a folder."""
    files: list[Path] = []
    errors: list[str] = []
    suffixes = VIDEO_SUFFIXES + RAW_SUFFIXES
    for arg in inputs:
        p = Path(arg)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in suffixes
                                and not f.name.startswith(".")))
        elif p.is_file():
            files.append(p)
        else:
            errors.append(f"{arg}: no such file or folder")
    return files, errors


def run(args: argparse.Namespace) -> int:
    """Run the command for parsed ``args``; returns the exit status (0 all converted, 1 any failed)."""
    formats = tuple(f.strip().lower() for f in args.format.split(",") if f.strip())
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        print(f"telemetry: unknown format {', '.join(bad) or '(none)'} (choose from {', '.join(FORMATS)})",
              file=sys.stderr)
        return 2
    streams = [s for s in args.streams.split(",") if s.strip()] if args.streams else None
    files, errors = collect_inputs(args.inputs)
    for e in errors:
        print(e, file=sys.stderr)
    failed = bool(errors)
    raw = [f for f in files if f.suffix.lower() in RAW_SUFFIXES]
    videos = [f for f in files if f.suffix.lower() not in RAW_SUFFIXES]
    recordings = group_chapters(videos) + [[f] for f in raw]
    out_dir = Path(args.output) if args.output else None
    entries: list[SyncEntry] = []
    marks = None
    if getattr(args, "marks", None):
        from camrig.inputs.marks import read_marks
        if not Path(args.marks).is_file():
            print(f"{args.marks}: no such marks file", file=sys.stderr)
            return 2
        marks = read_marks(args.marks)
    for chapters in recordings:
        res = convert_recording(chapters, out_dir, formats, skip_bad_fix=args.skip_bad_fix, streams=streams,
                                marks=marks)
        for w in res.warnings[:MAX_WARNINGS_SHOWN]:
            print(f"warning: {w}", file=sys.stderr)
        if len(res.warnings) > MAX_WARNINGS_SHOWN:
            print(f"warning: {chapters[0]}: … and {len(res.warnings) - MAX_WARNINGS_SHOWN} more", file=sys.stderr)
        if res.error:
            print(res.error, file=sys.stderr)
            failed = True
            continue
        entries.append(entry_from_result(chapters[0].resolve().parent.name, res))
        start = res.start_utc.isoformat().replace("+00:00", "Z") if res.start_utc else "no GPS fix"
        names = ", ".join(str(p) for p in res.outputs.values())
        print(f"{chapters[0].name}{f' (+{len(chapters) - 1} chapters)' if len(chapters) > 1 else ''}: "
              f"{res.gps_points} GPS points, start {start} -> {names}")
    if getattr(args, "sync", None):
        try:
            table = write_sync_table(Path(args.sync), entries)
            print(f"sync table: {len(table['recordings'])} recordings -> {args.sync}")
        except OSError as exc:
            print(f"{args.sync}: cannot write the sync table: {exc}", file=sys.stderr)
            failed = True
    return 1 if failed else 0
