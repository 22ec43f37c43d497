"""gopro-manager: every camera in the car records while the trigger says so.

Commands::

    gopro-manager [--config PATH] run            the daemon (default command)
    gopro-manager [--config PATH] status [--json] the cameras as the daemon last saw them
    gopro-manager [--config PATH] check          validate the config, probe each camera once
    gopro-manager [--config PATH] mark [--json]  a HiLight on every recording camera (control socket)
    gopro-manager [--config PATH] record on|off|auto [--json]   the record latch (control socket)
    gopro-manager [--config PATH] offload        copy the cameras' footage onto the Pi
    gopro-manager demo                           a mixed rig of emulated cameras on loopback, no root

Three ways in, one :func:`main`: the ``gopro-manager`` console script (``pip install .``;
``[project.scripts]`` in pyproject.toml), ``python -m camrig``, and ``python gopro_manager.py``
(the shim in a checkout, which the systemd unit runs).

The config is ``--config PATH``, else ``config.py`` beside ``gopro_manager.py`` (in a checkout),
else ``/etc/gopro-manager/config.py``. A config error exits with status 78 (EX_CONFIG) and one
line that names the key, the camera and the bad value.
"""

from __future__ import annotations

import sys

#: Python versions this runs on: 3.11 (Raspberry Pi OS Bookworm) to 3.13 (Trixie). Older ones lack
#: what the code relies on (asyncio.TimeoutError is TimeoutError from 3.11 on, in the BLE loop).
#: gopro_manager.py checks the same before it imports camrig.
MIN_PYTHON = (3, 11)


def python_too_old(version_info=None) -> str | None:
    """The message refusing a Python older than :data:`MIN_PYTHON` (``sys.version_info`` by
    default), or None when this one will do."""
    if (version_info or sys.version_info) >= MIN_PYTHON:
        return None
    return (f"gopro-manager needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or later (3.11 on Raspberry Pi OS "
            f"Bookworm, 3.13 on Trixie); this is {sys.version.split()[0]} ({sys.executable})")


if python_too_old():            # before the imports below, which need 3.11 (python -m camrig)
    sys.exit(python_too_old())

import argparse  # noqa: E402 - after the version check, which must run on any Python 3
import json  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import cast  # noqa: E402

from camrig.config import Config, ConfigError, find_config, load_config  # noqa: E402

#: Where ``config.py`` is looked for before /etc/gopro-manager: beside gopro_manager.py, in the
#: checkout camrig/ sits in (also with ``pip install -e .``); None for an installed package,
#: whose site-packages is no place for a config.
_TOP = Path(__file__).resolve().parents[1]
SCRIPT_DIR: Path | None = _TOP if (_TOP / "gopro_manager.py").is_file() else None
EXIT_CONFIG = ConfigError.EXIT_STATUS
DEFAULT_STATUS_PATH = cast("str | None", Config.__dataclass_fields__["status_path"].default)

log = logging.getLogger("gopro_manager")


def _load(args) -> Config:
    return load_config(find_config(args.config, SCRIPT_DIR))


def in_private_tmp(path: str) -> bool:
    """True for paths in /tmp or /var/tmp, which PrivateTmp=yes makes the daemon's own."""
    parts = Path(path).parts
    return parts[:2] == ("/", "tmp") or parts[:3] == ("/", "var", "tmp")


CAP_NET_ADMIN = 12  # <linux/capability.h>


def has_capability(cap: int, *, status_path: str = "/proc/self/status") -> bool | None:
    """Whether this process has capability ``cap`` in its effective set (None: cannot tell)."""
    try:
        with open(status_path, encoding="ascii") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> cap & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def cmd_run(args) -> int:
    """Run the daemon until SIGTERM/SIGINT; SIGHUP reloads the config.

    On SIGTERM the daemon exits within 5 s (systemd's TimeoutStopSec is 10):
    ``ON_EXIT = "leave"`` (default) leaves recording cameras recording, so a
    restart or an update never cuts a lap short; ``"stop"`` stops them first
    (at most 3 s, then it exits anyway).
    """
    from camrig import control
    from camrig.app import Assembly, setup_logging
    from camrig.controller import Controller
    from camrig.errors import CamRigError, LinkError, TriggerError
    from camrig.systemd import Notifier

    notifier = Notifier()  # first: takes NOTIFY_SOCKET out of the environment children inherit
    config = _load(args)
    setup_logging(config.log_level)
    for warning in config.warnings:
        log.warning("config: %s", warning)
    if notifier.enabled:
        for key, path in (("TRIGGER_PATH", config.trigger_path), ("STATUS_PATH", config.status_path)):
            if path and in_private_tmp(path):
                log.warning("config: %s %s: the unit gives the daemon a private /tmp (PrivateTmp=yes), so "
                            "nobody else sees this file; use a path in /run/gopro-manager", key, path)
    log.info("gopro-manager starting: %d camera(s), NETWORK_MODE %s, config %s",
             len(config.cameras), config.network_mode, config.source)

    if config.network_mode == "route" and has_capability(CAP_NET_ADMIN) is False:
        # Otherwise every `ip route replace` fails and the cameras merely look asleep.
        log.error("NETWORK_MODE 'route' needs CAP_NET_ADMIN, which this process lacks: run it from the "
                  "unit (AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW) or use NETWORK_MODE 'bind'")
    assembly = Assembly(config)
    workers = [assembly.worker(config, cam) for cam in config.cameras]
    for w in workers:
        try:
            assembly.parts(w.name).link.check()
        except LinkError as exc:
            # Not fatal: a USB adapter may be plugged in later; the worker keeps trying.
            log.log(logging.ERROR if exc.permanent else logging.WARNING, "%s", exc)
    try:
        trigger = assembly.trigger(config)
    except TriggerError as exc:
        log.error("%s", exc)
        if not config.trigger_path:
            return EXIT_CONFIG
        from camrig.trigger import FileTrigger
        log.error("carrying on with the trigger file %s only", config.trigger_path)
        trigger = FileTrigger(config.trigger_path)

    from camrig.mqtt import build_publisher  # issue 15: None without MQTT_URL
    mqtt = build_publisher(config.mqtt)
    controller = Controller(config, workers, trigger, notifier, reload=lambda: _load(args),
                            assembly=assembly, publishers=[mqtt] if mqtt else [])
    if mqtt:
        mqtt.attach(controller.post)
    from camrig.offload.service import install as install_offload  # issue 10
    offload = install_offload(controller)
    # Signal handlers only post a command (camrig/commands.py); the controller's loop runs it.
    signal.signal(signal.SIGTERM, lambda *_: controller.request_stop("SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: controller.request_stop("SIGINT"))
    signal.signal(signal.SIGHUP, lambda *_: controller.request_reload("SIGHUP"))
    for w in workers:
        w.start()
    # mark / record / offload from a shell (camrig/control.py); a socket that cannot be served is
    # logged and the daemon goes on: the trigger and the cameras do not need it. CONTROL_SOCKET
    # changed by a reload takes effect at the next start.
    control_server = control.serve(config.control_socket, controller)
    from camrig.inputs import install as install_inputs  # issue 13: buttons, LED, ignition, marks
    inputs = install_inputs(controller, config, pin_factory=assembly.pin_factory)
    try:
        controller.run()
    except CamRigError as exc:
        log.error("%s", exc)
        return 1
    finally:
        offload.close()
        if control_server is not None:
            control_server.close()
        inputs.close()
        controller.shutdown(stop_recordings=controller.config.on_exit == "stop")
        assembly.close()
    log.info("stopped")
    return 0


def cmd_status(args) -> int:
    """Print the status file as a table (or JSON)."""
    from camrig.errors import StatusUnavailable
    from camrig.status import read_status, render_table

    path = args.status_path
    if path is None:
        try:
            path = _load(args).status_path
        except ConfigError as exc:
            print(f"warning: {exc}; reading {DEFAULT_STATUS_PATH}", file=sys.stderr)
            path = DEFAULT_STATUS_PATH
    if path is None:
        print("STATUS_PATH is None in the config: the daemon writes no status file", file=sys.stderr)
        return 1
    try:
        snapshot = read_status(path)
    except StatusUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(snapshot, indent=2))
    else:
        sys.stdout.write(render_table(snapshot))
    return 0


def cmd_check(args) -> int:
    """The doctor (camrig/doctor.py): config, the Pi's setup, every camera once; exit 0 when nothing failed."""
    from camrig.doctor import run_check
    return run_check(_load(args), as_json=getattr(args, "json", False))


def cmd_discover(args) -> int:
    from camrig.discover import cmd_discover as run
    return run(args)


def cmd_offload(args) -> int:
    """Copy the cameras' footage onto the Pi (camrig/offload/cli.py)."""
    from camrig.offload.cli import cmd_offload as offload
    return offload(args, _load(args))


def _inputs_cli(args) -> int:
    """``mark`` / ``record``: camrig/inputs/commands_cli.py."""
    from camrig.inputs.commands_cli import run
    return run(args, _load)


def cmd_demo(args) -> int:
    from camrig.emulator.demo import run_demo
    return run_demo(args.demo_args)


def cmd_telemetry(args) -> int:
    from camrig.telemetry.cli import run
    return run(args)


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and run the command; returns the exit status
    (0 ok, 1 failed, 78 config error, 130 interrupted). argparse exits 2 on a usage error."""
    config_help = "config file (default: config.py beside gopro_manager.py, then /etc/gopro-manager/config.py)"
    prog = "gopro_manager.py" if Path(sys.argv[0]).name == "gopro_manager.py" else "gopro-manager"
    parser = argparse.ArgumentParser(prog=prog, description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--config", metavar="PATH", help=config_help)
    # `--config` is also accepted after the subcommand (`check --config FILE`, where people type
    # it); SUPPRESS keeps a subcommand without it from overwriting one given before it.
    with_config = argparse.ArgumentParser(add_help=False)
    with_config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help=config_help)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", parents=[with_config], help="run the daemon (default)")
    p_status = sub.add_parser("status", parents=[with_config], help="print the cameras' state from the status file")
    p_status.add_argument("--json", action="store_true", help="print the raw JSON")
    p_status.add_argument("--status-path", metavar="PATH", help="status file (default: STATUS_PATH)")
    p_check = sub.add_parser("check", parents=[with_config],
                             help="doctor: the config, the Pi's setup (adapters, BLE bonds, GPIO, clock, unit) "
                                  "and each camera once")
    p_check.add_argument("--json", action="store_true", help="one JSON object for scripts")
    from camrig.discover import add_parser as add_discover_parser  # issue 14: discover
    add_discover_parser(sub)
    from camrig.inputs.commands_cli import add_mark_parser, add_record_parser  # issue 13
    add_mark_parser(sub, with_config)
    add_record_parser(sub, with_config)
    from camrig.offload.cli import add_parser as add_offload_parser  # issue 10
    add_offload_parser(sub, [with_config])
    p_demo = sub.add_parser("demo", help="a mixed rig of emulated cameras (HERO7, HERO12, HERO9 over BLE, "
                                         "HERO11 over USB), trigger on and off")
    p_demo.add_argument("demo_args", nargs=argparse.REMAINDER)
    from camrig.telemetry.cli import add_parser as add_telemetry_parser  # issue 11
    add_telemetry_parser(sub)
    args = parser.parse_args(argv)
    command = args.command or "run"
    if command == "status" and not hasattr(args, "json"):
        args.json, args.status_path = False, None
    handler = {"run": cmd_run, "status": cmd_status, "check": cmd_check, "demo": cmd_demo,
               "telemetry": cmd_telemetry,
               "discover": cmd_discover,
               "mark": _inputs_cli, "record": _inputs_cli,
               "offload": cmd_offload}[command]
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130

