"""``gopro-manager [--config PATH] offload [--camera NAME …] [--proxies-only] [--delete-after] [--json] [--stop]``.

With a daemon running, the command asks it through the control socket (``CONTROL_SOCKET``,
camrig/control.py): ``{"command": "offload", "args": ["start"], "options": {"cameras": […],
"proxies_only": …, "delete_after": …}}``, then follows the socket's ``snapshot`` (its ``offload``
object) with a live bar per camera until every camera is done, failed or stopped. Ctrl-C stops
following; the daemon carries on (``offload --stop`` cancels it). With no daemon (the socket is
absent or nobody listens) it does the same work in this process: the cameras' parts as
``check`` builds them, one :class:`~camrig.offload.transfer.OffloadJob` per camera on a thread
of its own (the same transfer code, without a worker: nothing records meanwhile, since no daemon
runs). ``--json`` prints the final per-camera rows as JSON instead of bars.

Exit status: 0 every camera done, 1 a camera failed or was refused, 3 (``--stop`` only) no daemon.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import CamRigError
from .view import Bars, finished

log = logging.getLogger(__name__)

EXIT_NO_DAEMON = 3
POLL_S = 0.5


def add_parser(sub, parents) -> None:
    """The ``offload`` subcommand on ``sub`` (argparse subparsers)."""
    p = sub.add_parser("offload", parents=parents,
                       help="copy the cameras' footage onto the Pi (through the daemon when it runs)")
    p.add_argument("--camera", action="append", metavar="NAME", default=[],
                   help="only this camera (repeat for more; default: every camera)")
    p.add_argument("--proxies-only", action="store_true", help="only the .LRV proxies, .THM and telemetry")
    p.add_argument("--delete-after", action="store_true",
                   help="delete a recording on the camera once all of it is verified and fsynced here")
    p.add_argument("--json", action="store_true", help="print the result per camera as JSON, no bars")
    p.add_argument("--stop", action="store_true", help="cancel the daemon's offload")


def _options(args) -> dict[str, Any]:
    return {"cameras": list(args.camera), "proxies_only": bool(args.proxies_only),
            "delete_after": bool(args.delete_after)}


def cmd_offload(args, config) -> int:
    """Run the command (see the module docstring); returns the exit status."""
    from ..control import ControlClient, DaemonNotRunning

    path = config.control_socket
    if path:
        client = ControlClient(path)
        try:
            reply = client.request("offload", ["stop" if args.stop else "start"], {} if args.stop else _options(args))
        except DaemonNotRunning as exc:
            if args.stop:
                print(f"no daemon: {exc}", file=sys.stderr)
                return EXIT_NO_DAEMON
            log.info("no daemon listens at %s (%s): offloading in this process", path, exc)
        else:
            return _follow(client, reply, args)
    elif args.stop:
        print("CONTROL_SOCKET is None: no daemon to stop", file=sys.stderr)
        return EXIT_NO_DAEMON
    return run_in_process(config, args)


def _print_refusals(cameras: dict) -> bool:
    bad = False
    for name, r in cameras.items():
        if not r.get("ok"):
            print(f"{name}: {r.get('detail')}", file=sys.stderr)
            bad = True
    return bad


def _follow(client, reply: dict, args) -> int:
    """Follow the daemon's offload through ``snapshot`` until every camera asked is finished."""
    if args.stop:
        print(reply.get("detail", ""))
        return 0 if reply.get("ok") else 1
    cams = reply.get("cameras") or {}
    refused = _print_refusals(cams)
    names = [n for n, r in cams.items() if r.get("ok")]
    if not names:
        print(reply.get("detail") or "offload refused", file=sys.stderr)
        return 1
    if not args.json:
        print(reply.get("detail", ""))
    bars = None if args.json else Bars(names)
    runs = (reply.get("data") or {}).get("runs") or {}
    rows: dict = {}
    from ..control import ControlError
    try:
        while True:
            try:
                snap = client.snapshot()
            except ControlError as exc:          # the daemon went away (stopped, crashed)
                if bars is not None:
                    bars.close()
                print(f"lost the daemon while following the offload: {exc}", file=sys.stderr)
                return 1
            snap = snap.get("snapshot", snap) if isinstance(snap, dict) else {}
            # only this offload's rows: the snapshot may still hold an earlier offload's, finished
            rows = {n: r for n, r in (snap.get("offload") or {}).items()
                    if n in names and (n not in runs or r.get("run") == runs[n])}
            if bars is not None:
                bars.update(rows)
            if rows and len(rows) == len(names) and all(finished(r) for r in rows.values()):
                break
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        if bars is not None:
            bars.close()
        print("\nstopped following; the daemon carries on (gopro-manager offload --stop cancels it)",
              file=sys.stderr)
        return 130
    if bars is not None:
        bars.close()
    return _report(rows, args, refused)


def _report(rows: dict, args, refused: bool) -> int:
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for name, r in rows.items():
            print(f"{name}: {r.get('state')}: {r.get('files_done', 0)} file(s), {r.get('mb_done', 0)} MB"
                  + (f"; last error: {r['last_error']}" if r.get("last_error") else ""))
    ok = not refused and all(r.get("state") == "done" for r in rows.values())
    return 0 if ok else 1


@dataclass
class _Run:
    """One camera's in-process offload: its job, context, parts and job connection."""

    name: str
    job: Any
    ctx: Any
    parts: Any
    http: Any
    error: str | None = None


def run_in_process(config, args) -> int:
    """The offload without a daemon: every camera (or ``--camera``) at once, one thread each."""
    from ..app import build_parts
    from ..jobs import JobContext, JobPreempted
    from .hooks import SessionTelemetry
    from .service import settings
    from .transfer import OffloadJob, Options, Progress

    s = settings(config)
    wanted = set(args.camera)
    parts = [p for p in build_parts(config) if not wanted or p.camera.name in wanted]
    unknown = wanted - {p.camera.name for p in parts}
    for name in sorted(unknown):
        print(f"{name}: no such camera in {config.source}", file=sys.stderr)
    session = SessionTelemetry(lambda: s["root"])
    opts = Options(proxies_only=args.proxies_only, delete_after=args.delete_after, what=s["what"])
    runs: list[_Run] = []
    for p in parts:
        name = p.camera.name
        if not callable(getattr(p.driver, "media", None)):
            print(f"{name}: no media access (BLE only)", file=sys.stderr)
            unknown.add(name)
            continue
        progress = Progress(name)
        after_recording, after_telemetry = session.hooks(name)
        job = OffloadJob(name, s["root"], options=opts, progress=progress, min_free=s["min_free"],
                         serial=p.camera.serial, after_recording=after_recording,
                         after_telemetry=after_telemetry)
        sibling = p.http.sibling()
        ctx = JobContext(name, http=sibling, driver=p.driver, log=logging.getLogger(f"camrig.{name}"))
        runs.append(_Run(name, job, ctx, p, sibling))

    def run(r: _Run) -> None:
        try:
            connect = getattr(r.parts.driver, "connect", None)
            if callable(connect):
                connect()
            r.job(r.ctx)
        except JobPreempted:
            r.error = "interrupted"
            r.job.progress.set(state="stopped")
        except (CamRigError, OSError) as exc:
            r.error = exc.detail if isinstance(exc, CamRigError) else str(exc)
            r.job.progress.set(state="failed", last_error=r.error)
        except Exception as exc:     # a bug: say so, the other cameras go on
            log.exception("%s: offload failed", r.name)
            r.error = f"{type(exc).__name__}: {exc}"
            r.job.progress.set(state="failed", last_error=r.error)

    threads = [threading.Thread(target=run, args=(r,), name=f"offload-{r.name}", daemon=True) for r in runs]
    for t in threads:
        t.start()
    bars = None if args.json else Bars([r.name for r in runs])
    try:
        while any(t.is_alive() for t in threads):
            if bars is not None:
                bars.update({r.name: r.job.progress.as_dict() for r in runs})
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        for r in runs:
            r.ctx.cancelled.set()
        for t in threads:
            t.join(5.0)
        print("\ninterrupted: what arrived stays in .part files and resumes next time", file=sys.stderr)
        return 130
    finally:
        for r in runs:
            r.http.close()
            r.parts.http.close()
            if r.parts.ble is not None:
                r.parts.ble.disconnect()
    rows: dict[str, dict] = {}
    for r in runs:
        row = r.job.progress.as_dict()
        if r.error and row["state"] not in ("failed", "stopped"):
            row["state"], row["last_error"] = "failed", r.error
        rows[r.name] = row
    if bars is not None:
        bars.update(rows)
        bars.close()
    return _report(rows, args, bool(unknown))
