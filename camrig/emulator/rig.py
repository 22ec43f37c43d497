"""Emulated GoPros plus the real daemon, wired for ``make demo``: the loopback rig.

:class:`LoopbackRig` (no root) puts camera K on 127.0.0.(K+1) with unprivileged ports and runs
the daemon (``python -m camrig``, so it works from an installed package as from a checkout) in
``NETWORK_MODE "address"``. :class:`Rig` is what it shares with the tests' namespace rig
(``tests/rig``: :class:`tests.rig.NamespaceRig`, which builds the car's network for real in
``ip netns``): the working directory, the emulators, the daemon's config and process, the
trigger file.

Each emulated camera is started as ``python -m <Family.emulator> <Family.emulator_args(spec)>``:
the camera family registry (:mod:`camrig.cameras.registry`) says which emulator plays a model
and with which arguments (:class:`~camrig.cameras.registry.EmulatorSpec`), so a new family plugs
into both rigs through its ``Family`` entry alone.

Rigs are context managers; leaving the ``with`` block (normally or by an exception) stops the
daemon and every emulator they started. Every subprocess gets its own process group so that its
children (the stand-in gatttool the daemon runs) go with it.

The emulated camera's BLE side is reached by the stand-in ``gatttool`` (shipped beside this
module) through ``$GOPRO_EMU_DIR/<bt mac, lower case, no colons>.sock``; the rigs put every
emulator's control socket there and start the daemon with that variable set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from camrig.cameras.registry import EmulatorSpec, family_for_model
from camrig.errors import CamRigError

#: The directory holding the ``camrig`` package (a checkout's top, or site-packages): put on the
#: emulators' and the daemon's PYTHONPATH so that they import this very ``camrig``.
PACKAGE_PARENT = Path(__file__).resolve().parents[2]
#: The daemon as the rigs start it: ``python -m camrig`` (needs no gopro_manager.py beside it).
DAEMON_MODULE = "camrig"
#: Stand-in gatttool (sh + python), shipped as package data beside this module.
GATTTOOL = Path(__file__).resolve().parent / "gatttool"

#: What a real GoPro AP uses (the GoPro families' ``default_address``).
CAMERA_ADDRESS = "10.5.5.9"

#: Namespace prefixes become file names under /run/netns; keep them plain.
PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$")

T = TypeVar("T")


class RigError(RuntimeError):
    """The rig could not be built or a process it started misbehaved."""


class RigTimeout(AssertionError):
    """:meth:`wait_until` gave up; an AssertionError so that pytest shows it as a test failure."""


@dataclass(frozen=True)
class EmulatedCamera:
    """One emulated camera as the rig started it.

    ``k`` counts from 1. ``address``/``http_port``/``wol_port`` are where the
    daemon reaches it (10.5.5.9:80 and :9 through ``iface`` in the namespace
    rig; 127.0.0.(k+1) and free ports in the loopback rig). ``control`` is the
    emulator's control socket, ``log`` its stdout+stderr.
    """

    k: int
    name: str
    iface: str | None
    ssid: str
    wifi_mac: str
    bt_mac: str
    address: str
    http_port: int
    media_port: int
    wol_port: int
    control: Path
    log: Path
    #: Camera model (hero5…hero13) and how the daemon reaches it ("wifi", "usb", "ble").
    model: str = "hero7"
    path: str = "wifi"
    serial: str | None = None

    def config_entry(self, *, with_iface: bool = True, with_address: bool = False) -> dict[str, Any]:
        """This camera as a ``GOPROS`` dict entry of the daemon's config.

        A USB camera in the namespace rig is given by its serial (the daemon derives
        172.2X.1YZ.51); a BLE-only camera has neither interface nor address.
        """
        entry: dict[str, Any] = {"name": self.name, "ssid": self.ssid,
                                 "wifi_mac": self.wifi_mac, "bt_mac": self.bt_mac}
        if self.model != "hero7" or self.path != "wifi":
            entry.update(model=self.model, control=self.path)
        if self.path == "wifi" and with_iface and self.iface:
            entry["iface"] = self.iface
        if self.path == "ble":
            return entry
        if self.path == "usb" and self.serial and not with_address:
            entry["serial"] = self.serial
        elif with_address or self.path == "usb":
            # wol_port is accepted for every family (only Wake-on-LAN wakers use it).
            entry.update(address=self.address, http_port=self.http_port, wol_port=self.wol_port)
        return entry


def wifi_mac_for(k: int) -> str:
    """Fixed, locally administered (02:…) Wi-Fi MAC of camera ``k`` (1..255)."""
    return f"02:47:50:00:00:{k:02x}"


def bt_mac_for(k: int) -> str:
    """Fixed Bluetooth MAC of camera ``k`` (1..255); never a real vendor's prefix."""
    return f"02:47:50:b7:00:{k:02x}"


def parse_models(models: Sequence[str | tuple[str, str]] | None, n: int) -> list[tuple[str, str]]:
    """``["hero7", ("hero9", "ble"), "hero12:usb"]`` → ``[(model, path), ...]``; None → n × hero7 Wi-Fi.

    ValueError naming the model when no family has it, the path is not wifi/usb/ble, or the
    model's family cannot be controlled over that path (:meth:`Family.refuse_control`)."""
    if models is None:
        return [("hero7", "wifi")] * n
    out = []
    for m in models:
        model, path = (m if isinstance(m, tuple) else (tuple(m.split(":", 1)) if ":" in m else (m, "wifi")))
        if path not in ("wifi", "usb", "ble"):
            raise ValueError(f"camera path must be wifi, usb or ble, got {path!r}")
        try:
            family = family_for_model(model)
        except CamRigError as exc:
            raise ValueError(f"camera model {model!r}: {exc}") from None
        refusal = family.refuse_control(model, path)
        if refusal and path != "wifi":
            raise ValueError(f"{model} is reached over Wi-Fi only ({refusal})")
        if refusal:
            raise ValueError(refusal)
        out.append((model.lower(), path))
    return out


def usb_serial_for(k: int) -> str:
    """A serial whose last three digits give camera ``k`` its own USB address 172.2X.1YZ.51."""
    return f"C35000000{(k % 9) + 1}{k:02d}"[-14:]


def emu_socket_name(bt_mac: str) -> str:
    """File name the stand-in gatttool looks for: ``aabbccddeeff.sock``."""
    return bt_mac.lower().replace(":", "") + ".sock"


def wait_until(predicate: Callable[[], T], timeout: float, *, interval: float = 0.1,
               message: str = "condition", describe: Callable[[], str] | None = None) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something truthy; return that.

    Exceptions raised by the predicate count as "not yet" (a control socket may
    not exist yet), and the last one is reported. After ``timeout`` seconds
    raises :class:`RigTimeout` naming ``message``, the last value, and what
    ``describe()`` says (e.g. the daemon log tail).
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    last_exc: BaseException | None = None
    while True:
        try:
            last = predicate()
            last_exc = None
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - "not yet", reported on timeout
            last_exc = exc
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    text = f"timed out after {timeout:g} s waiting for {message}; last value {last!r}"
    if last_exc is not None:
        text += f"; last error {type(last_exc).__name__}: {last_exc}"
    if describe is not None:
        try:
            text += "\n" + describe()
        except Exception as exc:  # noqa: BLE001
            text += f"\n(describe failed: {exc})"
    raise RigTimeout(text)


def _run(argv: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    """Run a short command (``ip …``), output captured; RigError naming it if it fails."""
    proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise RigError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _stop_process(proc: subprocess.Popen, *, timeout: float = 5.0) -> int | None:
    """SIGTERM the process group ``proc`` leads (started with start_new_session), then SIGKILL.

    Returns the exit status (negative: killed by that signal).
    """
    if proc.poll() is None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait(5.0)
    # Children of the group (a gatttool still talking) go too, even if the leader exited.
    _signal_group(proc.pid, signal.SIGKILL)
    return proc.returncode


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


def _format_config(values: Mapping[str, Any]) -> str:
    """A daemon config file: one ``KEY = repr(value)`` per line."""
    lines = ["# Written by an emulated-camera rig for a test run or the demo; safe to delete."]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}")
    return "\n".join(lines) + "\n"


class Rig:
    """What the loopback rig and the tests' namespace rig share: workdir, emulators, daemon
    config, daemon process, trigger.

    Subclasses provide :meth:`_build_network`, :meth:`_teardown_network`,
    :meth:`_wrap_camera`/:meth:`_wrap_car` (argv prefix to run something in a camera's or the
    car's network), :meth:`_camera_spec`, :meth:`_config_entry` and :meth:`_emulator_listen`.
    """

    network_mode = "bind"

    def __init__(self, n_cameras: int, *, workdir: str | os.PathLike | None = None,
                 delay_ms: int = 20, association_delay: float = 2.0, boot_delay: float = 0.5,
                 start: str | None = None, check_status: int | None = 2, cycle_seconds: float = 0.5,
                 python: str | None = None, keep_workdir: bool = False, prefix: str = "gm",
                 models: Sequence[str | tuple[str, str]] | None = None, auto_sleep: float = 0.0,
                 idle_wifi_off: float | Mapping[int, float] = 0.0,
                 emulator_extra: Mapping[int, Sequence[str]] | None = None,
                 media: Sequence[str | int] | Mapping[int, Sequence[str | int]] | None = None):
        if models is not None and n_cameras != len(models):
            raise ValueError(f"n_cameras {n_cameras} but {len(models)} models")
        if not 1 <= n_cameras <= 16:
            raise ValueError(f"n_cameras must be 1..16, got {n_cameras}")
        if not PREFIX_RE.match(prefix):
            raise ValueError(f"prefix {prefix!r} must match {PREFIX_RE.pattern}")
        if start not in (None, "asleep", "awake", "wifi-off"):
            raise ValueError(f"start must be asleep|awake|wifi-off, got {start!r}")
        self.n = n_cameras
        #: Per camera (model, path); Open GoPro cameras get ``auto_sleep`` s of auto power down.
        self.models = parse_models(models, n_cameras)
        self.auto_sleep = auto_sleep
        #: Legacy cameras (HERO5-8): seconds of idleness before the emulator turns its Wi-Fi off
        #: (``--idle-wifi-off``, policy ``ignore-requests``: polling does not prevent it); one
        #: number for every camera or ``{k: seconds}`` for some; 0 = never (the default).
        self.idle_wifi_off = self._idle_wifi_off(idle_wifi_off, n_cameras)
        #: ``{k: [arg, ...]}``: more command-line arguments for camera k's emulator (a test's
        #: ``--rate 4MB/s``); appended after the family's own.
        self.emulator_extra: dict[int, list[str]] = {k: list(v) for k, v in (emulator_extra or {}).items()}
        #: ``{k: [size, ...]}``: recordings on camera k's card at start (``"3MB"`` or bytes).
        self.media_seed = self._media_seed(media, n_cameras)
        #: ``{k: path}``: the MP4 camera k's new recordings start from (a subclass may build ones
        #: with a GPMF track; none: the emulator's minimal MP4).
        self.record_templates: dict[int, Path] = {}
        self.prefix = prefix
        self.delay_ms = delay_ms
        self.association_delay = association_delay
        self.boot_delay = boot_delay
        self.start = start
        self.check_status = check_status
        self.cycle_seconds = cycle_seconds
        self.python = python or sys.executable
        self._own_workdir = workdir is None
        self._keep_workdir = keep_workdir
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"{prefix}-rig-"))
        self.emu_dir = self.workdir / "emu"
        #: Camera k's emulated SD card is ``media_root/camK`` (listed and served by its emulator).
        self.media_root = self.workdir / "media"
        self.trigger_path = self.workdir / "trigger"
        self.status_path = self.workdir / "status.json"
        #: the daemon's control socket (camrig/control.py): one per rig, so parallel rigs never meet
        self.control_socket = self.workdir / "control.sock"
        self.config_path = self.workdir / "config.py"
        self.log_path = self.workdir / "daemon.log"
        self.cameras: list[EmulatedCamera] = []
        self._emulators: list[subprocess.Popen] = []
        self._daemon: subprocess.Popen | None = None
        self._daemon_log_file = None
        self._built = False

    @staticmethod
    def _media_seed(value, n: int) -> dict[int, list[str]]:
        """``media`` as ``{k: [size, ...]}``: one list for every camera or ``{k: [...]}`` for some."""
        if value is None:
            return {}
        per = dict(value) if isinstance(value, Mapping) else {k: list(value) for k in range(1, n + 1)}
        for k in per:
            if not isinstance(k, int) or not 1 <= k <= n:
                raise ValueError(f"media: camera {k!r} is not one of 1..{n}")
        return {k: [str(s) for s in sizes] for k, sizes in per.items()}

    @staticmethod
    def _idle_wifi_off(value: float | Mapping[int, float], n: int) -> dict[int, float]:
        """``idle_wifi_off`` as ``{k: seconds}``; ValueError naming a bad camera number or value."""
        per = dict(value) if isinstance(value, Mapping) else {k: value for k in range(1, n + 1)}
        for k, seconds in per.items():
            if not isinstance(k, int) or not 1 <= k <= n:
                raise ValueError(f"idle_wifi_off: camera {k!r} is not one of 1..{n}")
            if not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
                raise ValueError(f"idle_wifi_off: cam{k}'s {seconds!r} must be 0..3600 seconds")
        return {k: float(s) for k, s in per.items() if s}

    # --- context manager --------------------------------------------------------------------

    def __enter__(self):
        try:
            self.build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(failed=exc_type is not None)
        return False

    def build(self) -> None:
        """Make the workdir, the network, start every emulator and write the daemon config."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o700)
        self.emu_dir.mkdir(exist_ok=True)
        self.cameras = [self._camera_spec(k) for k in range(1, self.n + 1)]
        self._build_network()
        self._built = True
        for cam in self.cameras:
            self._start_emulator(cam)
        for cam in self.cameras:
            self._wait_emulator(cam)
        self.write_config()

    def close(self, *, failed: bool = False) -> None:
        """Stop the daemon and every emulator, take the network down, remove the workdir.

        Safe to call twice and after a half-finished :meth:`build`. The workdir
        is kept (and its path printed to stderr) when ``failed`` or when the rig
        was made with ``keep_workdir=True``.
        """
        self.stop_daemon()
        while self._emulators:
            _stop_process(self._emulators.pop(), timeout=3.0)
        self._teardown_network()
        self._built = False
        if self._own_workdir and not (failed or self._keep_workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir.exists():
            print(f"rig: kept {self.workdir}", file=sys.stderr)

    # --- emulators --------------------------------------------------------------------------

    def emulator_spec(self, cam: EmulatedCamera) -> EmulatorSpec:
        """What camera ``cam``'s emulator is asked to play (its family turns it into arguments)."""
        listen, netdev = self._emulator_listen(cam)
        return EmulatorSpec(name=cam.name, model=cam.model, control=cam.path, k=cam.k,
                            control_socket=str(cam.control), listen=listen, netdev=netdev,
                            address=cam.address, http_port=cam.http_port, media_port=cam.media_port,
                            wol_port=cam.wol_port, wifi_mac=cam.wifi_mac, bt_mac=cam.bt_mac,
                            delay_ms=self.delay_ms, association_delay=self.association_delay,
                            boot_delay=self.boot_delay, start=self.start, auto_sleep=self.auto_sleep,
                            idle_wifi_off=self.idle_wifi_off.get(cam.k, 0.0),
                            media_dir=str(self.media_dir(cam.k)),
                            record_template=(str(self.record_templates[cam.k])
                                             if cam.k in self.record_templates else None),
                            media_seed=tuple(self.media_seed.get(cam.k, ())),
                            extra=tuple(self.emulator_extra.get(cam.k, ())))

    def media_dir(self, k: int) -> Path:
        """Camera ``k``'s emulated SD card: ``<d>/<n>`` files its emulator lists and serves."""
        return self.media_root / f"cam{k}"

    def _emulator_argv(self, cam: EmulatedCamera) -> list[str]:
        """``[python, -m, <family's emulator>, <family's emulator_args(spec)>]``; ValueError when
        the model's family has no emulator."""
        family = family_for_model(cam.model)          # the family registry names its emulator
        if family.emulator is None:
            raise ValueError(f"{cam.model}: camera family {family.name!r} has no emulator")
        return [self.python, "-m", family.emulator, *family.emulator_args(self.emulator_spec(cam))]

    def _start_emulator(self, cam: EmulatedCamera) -> None:
        argv = self._wrap_camera(cam) + self._emulator_argv(cam)
        with open(cam.log, "ab") as log:
            proc = subprocess.Popen(argv, cwd=self.cwd, env=self._env(), stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._emulators.append(proc)

    def _wait_emulator(self, cam: EmulatedCamera, timeout: float = 15.0) -> None:
        proc = self._emulators[cam.k - 1]

        def ready():
            if proc.poll() is not None:
                raise RigError(f"emulator {cam.name} exited with {proc.returncode}:\n{_tail(cam.log, 20)}")
            return self.camera(cam.k).state()

        try:
            wait_until(ready, timeout, message=f"emulator {cam.name} control socket {cam.control}",
                       describe=lambda: _tail(cam.log, 20))
        except RigTimeout as exc:
            raise RigError(str(exc)) from None

    def camera(self, k: int):
        """Client for camera ``k``'s control socket (:class:`camrig.emulator.control.EmulatorControl`)."""
        from camrig.emulator.control import EmulatorControl
        return EmulatorControl(str(self.cameras[k - 1].control))

    def emulator_log(self, k: int, lines: int = 50) -> str:
        """Last ``lines`` lines of camera ``k``'s emulator output."""
        return _tail(self.cameras[k - 1].log, lines)

    # --- daemon -----------------------------------------------------------------------------

    def config_values(self, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The daemon config as a dict of keys; ``extra`` overrides or adds keys."""
        values: dict[str, Any] = {
            "GOPROS": [self._config_entry(cam) for cam in self.cameras],
            "NETWORK_MODE": self.network_mode,
            "GPIO_BCM_PIN": None,
            "TRIGGER_PATH": str(self.trigger_path),
            "CHECK_STATUS": self.check_status,
            "CYCLE_SECONDS": self.cycle_seconds,
            "GATTTOOL": str(GATTTOOL),
            "STATUS_PATH": str(self.status_path),
            "CONTROL_SOCKET": str(self.control_socket),
            "HTTP_TIMEOUT": 2.0,
            "CONNECT_TIMEOUT": 1.0,
            "WAKE_TIMEOUT": 15.0,
            "LOG_LEVEL": "debug",
            # BLE (where a family's driver uses the BLE_BACKEND) through the emulated cameras'
            # control sockets: explicit, never a fallback.
            "BLE_BACKEND": "emulated",
            "BLE_EMU_DIR": str(self.emu_dir),
            # issue 13: the rig's host clock need not be synchronised, and its emulated cameras
            # are to get their clocks all the same; marks stay in the workdir, never /var/lib.
            "CAMERA_CLOCK": "always",
            "MARKS_PATH": str(self.workdir / "marks.jsonl"),
        }
        if extra:
            values.update(extra)
        return values

    def control(self, command: str, args: Sequence[str] = (), options: Mapping[str, Any] | None = None,
                *, timeout: float = 35.0) -> dict:
        """Send one request to the running daemon's control socket (camrig/control.py) and
        return its reply dict; raises camrig.control.DaemonNotRunning without a daemon."""
        from ..control import ControlClient
        return ControlClient(str(self.control_socket), timeout=timeout).request(command, args, options)

    def write_config(self, extra: Mapping[str, Any] | None = None) -> Path:
        """Write the daemon config (mode 0600, as the daemon demands) and return its path."""
        tmp = self.config_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(_format_config(self.config_values(extra)))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.config_path)
        return self.config_path

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GOPRO_EMU_DIR"] = str(self.emu_dir)
        env["PYTHONPATH"] = str(PACKAGE_PARENT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("NOTIFY_SOCKET", None)  # never let a test daemon talk to a real systemd
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        return env

    def daemon_argv(self, *args: str) -> list[str]:
        """``[python, -m, camrig, --config, CFG, *args]`` run in the car's network."""
        return self._wrap_car() + [self.python, "-m", DAEMON_MODULE, "--config", str(self.config_path), *args]

    def start_daemon(self, extra_config: Mapping[str, Any] | None = None, *,
                     wait_status: float | None = 15.0,
                     extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Write the config (with ``extra_config``) and start the daemon (``python -m camrig run``).

        Output (stdout and stderr) goes to :attr:`log_path`, appended across
        restarts. Waits up to ``wait_status`` seconds for the daemon's first
        status file (None: don't wait). Raises RigError if the daemon exits or
        no status file appears. ``extra_env`` is added to the daemon's
        environment (a test's own ``NOTIFY_SOCKET``, ``WATCHDOG_USEC``).
        """
        if self._daemon is not None and self._daemon.poll() is None:
            raise RigError("the daemon is already running; stop_daemon() first")
        self.write_config(extra_config)
        self.status_path.unlink(missing_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"--- rig: starting daemon {time.monotonic():.3f}\n".encode())
            log.flush()
            env = self._env() | dict(extra_env or {})
            self._daemon = subprocess.Popen(self.daemon_argv("run"), cwd=self.cwd, env=env,
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        if wait_status is not None:
            def up():
                if self._daemon.poll() is not None:
                    raise RigError(f"daemon exited with {self._daemon.returncode}:\n{self.daemon_log(40)}")
                return self.status_path.exists() and self.status()
            try:
                wait_until(up, wait_status, message="the daemon's first status file",
                           describe=lambda: self.daemon_log(40))
            except RigTimeout as exc:
                raise RigError(str(exc)) from None
        return self._daemon

    def stop_daemon(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the daemon, wait up to ``timeout`` s, then SIGKILL. Returns its exit status or None."""
        proc, self._daemon = self._daemon, None
        if proc is None:
            return None
        return _stop_process(proc, timeout=timeout)

    @property
    def daemon(self) -> subprocess.Popen | None:
        """The running daemon's Popen (None before :meth:`start_daemon` / after :meth:`stop_daemon`)."""
        return self._daemon

    def daemon_log(self, lines: int | None = None) -> str:
        """The daemon's output so far (all of it, or the last ``lines`` lines)."""
        if lines is None:
            try:
                return self.log_path.read_text(errors="replace")
            except FileNotFoundError:
                return ""
        return _tail(self.log_path, lines)

    def status(self) -> dict:
        """The daemon's status file, parsed (shape: docs/contracts.md "Status snapshot")."""
        return json.loads(self.status_path.read_text())

    def camera_status(self, k: int) -> dict:
        """Camera ``k``'s entry in the status file (found by name)."""
        name = self.cameras[k - 1].name
        for entry in self.status()["cameras"]:
            if entry.get("name") == name:
                return entry
        raise KeyError(f"{name} not in status file")

    def status_table(self) -> str:
        """What ``gopro-manager status`` prints (stdout, or stderr if it failed)."""
        proc = subprocess.run([self.python, "-m", DAEMON_MODULE, "--config", str(self.config_path), "status"],
                              cwd=self.cwd, env=self._env(), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        return proc.stdout if proc.returncode == 0 else (proc.stdout + proc.stderr)

    # --- trigger ----------------------------------------------------------------------------

    def trigger_on(self) -> None:
        """Ask for recording: create TRIGGER_PATH."""
        self.trigger_path.touch()

    def trigger_off(self) -> None:
        """Stop asking for recording: remove TRIGGER_PATH."""
        self.trigger_path.unlink(missing_ok=True)

    # --- helpers for tests ------------------------------------------------------------------

    def wait_until(self, predicate: Callable[[], T], timeout: float, *, interval: float = 0.1,
                   message: str = "condition") -> T:
        """:func:`wait_until` that appends the daemon log tail to its timeout message."""
        return wait_until(predicate, timeout, interval=interval, message=message,
                          describe=self.describe)

    def describe(self) -> str:
        """Daemon log tail and every emulator's state, for failure messages."""
        parts = ["--- daemon log (tail):", self.daemon_log(40)]
        for cam in self.cameras:
            try:
                state = self.camera(cam.k).state()
                state = {k: v for k, v in state.items() if k != "events"} | {
                    "events": [e.get("what") for e in state.get("events", [])][-12:]}
            except Exception as exc:  # noqa: BLE001
                state = f"unavailable: {exc}"
            parts.append(f"--- {cam.name}: {state}")
        return "\n".join(parts)

    def hilights(self, k: int) -> list[dict]:
        """Camera ``k``'s HiLights this session, in order: ``[{"t" (monotonic s), "via", "offset_s",
        "recording"}]`` (control op ``hilights``)."""
        return self.camera(k).request("hilights")["hilights"]

    def media_files(self, k: int) -> list[dict]:
        """What is on camera ``k``'s card: ``[{"d", "n", "s" (bytes)}]``, LRVs and THMs included."""
        return self.camera(k).request("media")["files"]

    def recording(self) -> list[bool]:
        """Every emulator's own idea of whether it records, camera 1 first."""
        return [bool(self.camera(cam.k).state()["recording"]) for cam in self.cameras]

    # --- subclass hooks ---------------------------------------------------------------------

    def _camera_spec(self, k: int) -> EmulatedCamera:
        raise NotImplementedError

    def _config_entry(self, cam: EmulatedCamera) -> dict[str, Any]:
        raise NotImplementedError

    def _build_network(self) -> None:
        raise NotImplementedError

    def _teardown_network(self) -> None:
        raise NotImplementedError

    def _wrap_camera(self, cam: EmulatedCamera) -> list[str]:
        raise NotImplementedError

    def _wrap_car(self) -> list[str]:
        raise NotImplementedError

    def _emulator_listen(self, cam: EmulatedCamera) -> tuple[str, str | None]:
        """(address the emulator listens on, its network device or None)."""
        raise NotImplementedError

    @property
    def cwd(self) -> Path:
        """Working directory of every process the rig starts: its workdir."""
        return self.workdir


#: The old private name of :class:`Rig`.
_Rig = Rig


class LoopbackRig(Rig):
    """N emulated cameras on 127.0.0.2 … 127.0.0.(N+1), daemon in NETWORK_MODE "address". No root.

    Every camera gets its own loopback address and free unprivileged TCP ports
    (HTTP, media) and a free UDP port (Wake-on-LAN); BLE goes through the
    stand-in gatttool as in the namespace rig. Without a network device, the
    emulator's "Wi-Fi off" closes its listening sockets instead of taking a
    link down.
    """

    network_mode = "address"

    def __repr__(self):
        return (f"<LoopbackRig {self.workdir} cameras={self.n} "
                f"daemon={'running' if self._daemon and self._daemon.poll() is None else 'stopped'}>")

    def _camera_spec(self, k: int) -> EmulatedCamera:
        bt = bt_mac_for(k)
        address = f"127.0.0.{k + 1}"
        http_port, media_port = _free_ports(address, socket.SOCK_STREAM, 2)
        (wol_port,) = _free_ports(address, socket.SOCK_DGRAM, 1)
        model, path = self.models[k - 1]
        return EmulatedCamera(k=k, name=f"cam{k}", iface=None, ssid=f"GP-EMU-{k:02d}",
                              wifi_mac=wifi_mac_for(k), bt_mac=bt, address=address,
                              http_port=http_port, media_port=media_port, wol_port=wol_port,
                              control=self.emu_dir / emu_socket_name(bt),
                              log=self.workdir / f"cam{k}.log", model=model, path=path)

    def _config_entry(self, cam: EmulatedCamera) -> dict[str, Any]:
        return cam.config_entry(with_iface=False, with_address=True)

    def _emulator_listen(self, cam: EmulatedCamera) -> tuple[str, str | None]:
        return cam.address, None

    def _wrap_camera(self, cam: EmulatedCamera) -> list[str]:
        return []

    def _wrap_car(self) -> list[str]:
        return []

    def _build_network(self) -> None:
        pass  # 127.0.0.0/8 is all on lo already

    def _teardown_network(self) -> None:
        pass


def _free_ports(address: str, kind: int, count: int) -> list[int]:
    """``count`` distinct ports the kernel calls free on ``address`` right now (TCP or UDP).

    Another process may take one before the emulator binds it; the emulator
    then fails to start and the rig says so.
    """
    socks, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, kind)
            s.bind((address, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


