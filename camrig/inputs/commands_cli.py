"""``gopro_manager.py mark`` and ``gopro_manager.py record on|off|auto``: through the daemon.

Both talk to the running daemon over its control socket (``CONTROL_SOCKET``, camrig/control.py:
mode 0660, group ``gopro-manager``), print each camera's answer, and exit:

- 0 — every recording camera acknowledged (``mark``: took the HiLight; ``record``: the latch is
  as asked and every camera has been told);
- 1 — some did not (named on stderr), the daemon refused (``record off`` while a trigger still
  wants recording), or the socket could not be used (permission denied: not in the group);
- 3 — no daemon is running (no socket, or nobody listening on it);
- 78 — the config cannot be read (to find ``CONTROL_SOCKET``).

``--socket PATH`` overrides the config's CONTROL_SOCKET; ``--json`` prints the daemon's reply as is.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_OK, EXIT_FAILED, EXIT_NO_DAEMON = 0, 1, 3


def add_mark_parser(sub, parent) -> None:
    """The ``mark`` subcommand on ``sub`` (argparse subparsers); ``parent`` carries ``--config``."""
    p = sub.add_parser("mark", parents=[parent], help="a HiLight on every recording camera, now (through the daemon)")
    _common(p)


def add_record_parser(sub, parent) -> None:
    """The ``record on|off|auto`` subcommand."""
    p = sub.add_parser("record", parents=[parent],
                       help="record on (latch), off or auto (the triggers decide), through the daemon")
    p.add_argument("mode", choices=("on", "off", "auto"), help="on: record whatever the triggers say; "
                   "off/auto: clear the latch (a trigger that wants recording still wins)")
    _common(p)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--socket", metavar="PATH", help="control socket (default: CONTROL_SOCKET of the config)")
    p.add_argument("--json", action="store_true", help="print the daemon's JSON reply")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="seconds to wait for the daemon's answer (default 30)")


def _socket_path(args, load_config) -> str:
    if getattr(args, "socket", None):
        return args.socket
    from ..control import DEFAULT_PATH
    path = load_config(args).control_socket
    return path or DEFAULT_PATH


def run(args, load_config, *, out=None, err=None) -> int:
    """Run ``mark`` or ``record`` (``args.command``); ``load_config(args)`` reads the config (for
    CONTROL_SOCKET; ConfigError propagates: the CLI exits 78). Returns the exit status."""
    from ..control import ControlClient, ControlError, DaemonNotRunning

    out = out or sys.stdout
    err = err or sys.stderr
    command = args.command
    request_args = [args.mode] if command == "record" else []
    path = _socket_path(args, load_config)
    try:
        reply = _request(ControlClient(path, timeout=args.timeout + 5.0), command, request_args, args.timeout)
    except DaemonNotRunning as exc:
        print(f"{command}: {exc.detail}", file=err)
        return EXIT_NO_DAEMON
    except ControlError as exc:
        print(f"{command}: {exc.detail}", file=err)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(reply, indent=2), file=out)
    else:
        print(render_reply(reply), file=out, end="")
    failed = failed_cameras(reply)
    if reply.get("ok") and not failed:
        return EXIT_OK
    if failed:
        print(f"{command}: not acknowledged by {', '.join(failed)}", file=err)
    else:
        print(f"{command}: {reply.get('detail') or 'refused'}", file=err)
    return EXIT_FAILED


#: seconds a request answered "busy" (the daemon serves 8 clients at once) is retried for
BUSY_RETRY_S = 5.0


def _request(client, command: str, request_args: list[str], timeout: float) -> dict:
    """One request; a "busy" answer (every client slot taken: a storm of marks from shells) is
    retried every 50 ms for at most :data:`BUSY_RETRY_S` s, then returned as it is."""
    import time
    deadline = time.monotonic() + BUSY_RETRY_S
    while True:
        reply = client.request(command, request_args, timeout=timeout + 5.0)
        if reply.get("ok") or not str(reply.get("detail", "")).startswith("busy") or time.monotonic() >= deadline:
            return reply
        time.sleep(0.05)


def failed_cameras(reply: dict) -> list[str]:
    """The cameras that should have acknowledged and did not: for ``mark`` the daemon's
    ``data.failed`` (recording cameras that missed the HiLight; a camera not recording is no
    failure), else every camera whose answer is not ok."""
    data = _dict(reply.get("data"))
    if isinstance(data.get("failed"), list):
        return [str(n) for n in data["failed"]]
    cams = _dict(reply.get("cameras"))
    return sorted(str(n) for n, r in cams.items() if not (isinstance(r, dict) and r.get("ok")))


def render_reply(reply: dict) -> str:
    """``detail`` on the first line, then one line per camera: ``  NAME  ok|FAIL|-  detail`` (``-``:
    not recording, so not asked)."""
    lines = [str(reply.get("detail") or ("ok" if reply.get("ok") else "failed"))]
    mark = _dict(_dict(reply.get("data")).get("mark"))
    if mark.get("time"):
        lines[0] += f"  (mark at {mark['time']} UTC)"
    cams = _dict(reply.get("cameras"))
    failed = set(failed_cameras(reply))
    width = max((len(str(n)) for n in cams), default=0)
    for name, raw in cams.items():
        r = _dict(raw)
        status = "ok" if r.get("ok") else "FAIL" if name in failed else "-"
        lines.append(f"  {str(name).ljust(width)}  {status:<4}  {r.get('detail', '')}")
    return "\n".join(lines) + "\n"


def _dict(value) -> dict:
    """``value`` when it is a dict, else {} (a reply from another version may lack a part)."""
    return value if isinstance(value, dict) else {}
