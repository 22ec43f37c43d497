"""Test rigs: emulated GoPros plus the real daemon, wired the way the car wires them.

Two rigs with one API:

:class:`NamespaceRig` (root, ``ip netns``) builds the car's network for real::

    {prefix}-car                         {prefix}-camK   (K = 1..N)
    wlanK 10.5.5.100/24  <--- veth --->  eth0 10.5.5.9/24, MAC 02:47:50:00:00:0K
                                         legacy_gopro emulator, HTTP :80, WoL udp :9

Every camera has the same address (10.5.5.9) as real GoPro APs do, so camera K
is reachable only through ``wlanK``: by binding to it (``NETWORK_MODE
"bind"``) or by routing 10.5.5.9 through it (``"route"``). The daemon runs
inside ``{prefix}-car``, which has no route out of the rig, so no packet can
leave the machine.

:class:`LoopbackRig` (no root) puts camera K on 127.0.0.(K+1) with unprivileged
ports and runs the daemon in ``NETWORK_MODE "address"``: what ``make demo``
uses.

Both rigs are context managers; leaving the ``with`` block (normally or by an
exception) stops the daemon and every emulator they started and, for the
namespace rig, deletes every namespace they created, by exact name. Every
subprocess gets its own process group so that its children (the stand-in
gatttool the daemon runs) go with it.

In the namespace rig the daemon finds a stand-in ``iw`` first on its PATH
(``workdir/bin/iw`` → ``camrig/emulator/iw``); it answers ``iw dev wlanK link`` from
``workdir/iw.map``, which says which camera's AP (BSSID, SSID) each adapter reaches:
truthfully after :meth:`NamespaceRig.swap_adapters`, or as a test sets it with
:meth:`NamespaceRig.write_iw_map`.

The emulated camera's BLE side is reached by the stand-in ``gatttool`` through
``$GOPRO_EMU_DIR/<bt mac, lower case, no colons>.sock``; the rigs put every
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

from camrig.cameras.registry import family_for_model

REPO_ROOT = Path(__file__).resolve().parents[2]
DAEMON = REPO_ROOT / "gopro_manager.py"
GATTTOOL = REPO_ROOT / "camrig" / "emulator" / "gatttool"
#: Stand-in ``iw`` (sh): ``iw dev IFACE link`` answered from the rig's association map.
IW = REPO_ROOT / "camrig" / "emulator" / "iw"

#: What a real GoPro AP uses; the car side of every link gets CAR_ADDRESS.
CAMERA_ADDRESS = "10.5.5.9"
CAR_ADDRESS = "10.5.5.100"
PREFIX_LEN = 24

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

    @property
    def open_gopro(self) -> bool:
        return self.model in OPEN_GOPRO_MODELS

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
            entry.update(address=self.address, http_port=self.http_port)
            if not self.open_gopro:
                entry["wol_port"] = self.wol_port
        return entry


def wifi_mac_for(k: int) -> str:
    """Fixed, locally administered (02:…) Wi-Fi MAC of camera ``k`` (1..255)."""
    return f"02:47:50:00:00:{k:02x}"


def bt_mac_for(k: int) -> str:
    """Fixed Bluetooth MAC of camera ``k`` (1..255); never a real vendor's prefix."""
    return f"02:47:50:b7:00:{k:02x}"


#: Open GoPro models: emulated by camrig.emulator.open_gopro (HTTP on 8080, BLE sessions).
OPEN_GOPRO_MODELS = ("hero9", "hero10", "hero11", "hero12", "hero13")


def parse_models(models: Sequence[str | tuple[str, str]] | None, n: int) -> list[tuple[str, str]]:
    """``["hero7", ("hero9", "ble"), "hero12:usb"]`` → ``[(model, path), ...]``; None → n × hero7 Wi-Fi."""
    if models is None:
        return [("hero7", "wifi")] * n
    out = []
    for m in models:
        model, path = (m if isinstance(m, tuple) else (tuple(m.split(":", 1)) if ":" in m else (m, "wifi")))
        if path not in ("wifi", "usb", "ble"):
            raise ValueError(f"camera path must be wifi, usb or ble, got {path!r}")
        if path != "wifi" and model not in OPEN_GOPRO_MODELS:
            raise ValueError(f"{model} is reached over Wi-Fi only")
        out.append((model, path))
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
    lines = ["# Written by camrig.emulator.rig for a test run; safe to delete."]
    for key, value in values.items():
        lines.append(f"{key} = {value!r}")
    return "\n".join(lines) + "\n"


class _Rig:
    """What both rigs share: workdir, emulators, daemon config, daemon process, trigger.

    Subclasses provide :meth:`_build_network`, :meth:`_teardown_network`,
    :meth:`_wrap` (argv prefix to run something in a camera's or the car's
    network) and :meth:`_camera_spec`.
    """

    network_mode = "bind"

    def __init__(self, n_cameras: int, *, workdir: str | os.PathLike | None = None,
                 delay_ms: int = 20, association_delay: float = 2.0, boot_delay: float = 0.5,
                 start: str | None = None, check_status: int | None = 2, cycle_seconds: float = 0.5,
                 python: str | None = None, keep_workdir: bool = False, prefix: str = "gm",
                 models: Sequence[str | tuple[str, str]] | None = None, auto_sleep: float = 0.0,
                 idle_wifi_off: float | Mapping[int, float] = 0.0):
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
        self.trigger_path = self.workdir / "trigger"
        self.status_path = self.workdir / "status.json"
        self.config_path = self.workdir / "config.py"
        self.log_path = self.workdir / "daemon.log"
        self.cameras: list[EmulatedCamera] = []
        self._emulators: list[subprocess.Popen] = []
        self._daemon: subprocess.Popen | None = None
        self._daemon_log_file = None
        self._built = False

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

    def _emulator_argv(self, cam: EmulatedCamera) -> list[str]:
        module = family_for_model(cam.model).emulator      # the family registry names its emulator
        if module is None:
            raise ValueError(f"{cam.model}: its camera family has no emulator")
        argv = [self.python, "-m", module,
                "--name", cam.name, "--control", str(cam.control),
                "--port", str(cam.http_port), "--media-port", str(cam.media_port),
                "--wol-port", str(cam.wol_port),
                "--wifi-mac", cam.wifi_mac, "--bt-mac", cam.bt_mac,
                "--delay-ms", str(self.delay_ms),
                "--association-delay", str(self.association_delay),
                "--boot-delay", str(self.boot_delay)]
        if self.start:
            argv += ["--start", self.start]
        if cam.open_gopro:
            argv += ["--model", cam.model, "--auto-sleep", str(self.auto_sleep)]
            if cam.path == "usb":
                argv.append("--usb")
        elif self.idle_wifi_off.get(cam.k):
            argv += ["--idle-wifi-off", str(self.idle_wifi_off[cam.k])]
        return argv

    def _start_emulator(self, cam: EmulatedCamera) -> None:
        argv = self._wrap_camera(cam) + self._emulator_argv(cam)
        with open(cam.log, "ab") as log:
            proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=self._env(), stdin=subprocess.DEVNULL,
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
            "HTTP_TIMEOUT": 2.0,
            "CONNECT_TIMEOUT": 1.0,
            "WAKE_TIMEOUT": 15.0,
            "LOG_LEVEL": "debug",
        }
        if any(cam.open_gopro for cam in self.cameras):
            # Open GoPro BLE through the emulated cameras' control sockets: explicit, never a fallback.
            values.update(BLE_BACKEND="emulated", BLE_EMU_DIR=str(self.emu_dir))
        if extra:
            values.update(extra)
        return values

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
        env["PYTHONPATH"] = str(REPO_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("NOTIFY_SOCKET", None)  # never let a test daemon talk to a real systemd
        env.pop("WATCHDOG_USEC", None)
        env.pop("WATCHDOG_PID", None)
        return env

    def daemon_argv(self, *args: str) -> list[str]:
        """``[python, gopro_manager.py, --config, CFG, *args]`` run in the car's network."""
        return self._wrap_car() + [self.python, str(DAEMON), "--config", str(self.config_path), *args]

    def start_daemon(self, extra_config: Mapping[str, Any] | None = None, *,
                     wait_status: float | None = 15.0,
                     extra_env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Write the config (with ``extra_config``) and start ``gopro_manager.py run``.

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
            self._daemon = subprocess.Popen(self.daemon_argv("run"), cwd=REPO_ROOT, env=env,
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
        """What ``gopro_manager.py status`` prints (stdout, or stderr if it failed)."""
        proc = subprocess.run([self.python, str(DAEMON), "--config", str(self.config_path), "status"],
                              cwd=REPO_ROOT, env=self._env(), stdin=subprocess.DEVNULL,
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


class NamespaceRig(_Rig):
    """N emulated cameras in network namespaces, each behind its own veth ``wlanK`` of the car.

    ``NamespaceRig(3, prefix="gmt1", mode="route")`` creates netns
    ``gmt1-car`` and ``gmt1-cam1..3``. ``mode`` is the daemon's
    ``NETWORK_MODE`` ("bind" or "route"). ``delay_ms`` is each answer's
    emulated Wi-Fi + camera latency (ms), ``association_delay`` the seconds
    between BLE Wi-Fi-on and the link coming up, ``boot_delay`` the seconds
    from Wake-on-LAN to ready. ``check_status`` and ``cycle_seconds`` become
    CHECK_STATUS / CYCLE_SECONDS of the daemon config. ``idle_wifi_off`` (seconds, or
    ``{k: seconds}``) makes legacy cameras turn their Wi-Fi off that long into idleness
    although polled, as HERO5-8 do (emulator ``--idle-wifi-off``; 0, the default: never).

    Needs root and ``ip netns``; use :func:`namespaces_available` to skip.
    Leftover namespaces of a crashed earlier run with the same prefix are
    removed (their processes killed) before building.
    """

    def __init__(self, n_cameras: int, *, prefix: str = "gm", mode: str = "bind", delay_ms: int = 20,
                 association_delay: float = 2.0, workdir: str | os.PathLike | None = None, **kwargs):
        if mode not in ("bind", "route"):
            raise ValueError(f"mode must be 'bind' or 'route', got {mode!r}")
        super().__init__(n_cameras, workdir=workdir, delay_ms=delay_ms,
                         association_delay=association_delay, prefix=prefix, **kwargs)
        self.network_mode = mode
        self.car_ns = f"{prefix}-car"
        self.cam_ns = [f"{prefix}-cam{k}" for k in range(1, n_cameras + 1)]
        self._created: list[str] = []
        #: The car's Wi-Fi adapter name → the camera (k) at its other end.
        self.wiring: dict[str, int] = {}
        self.iw_map_path = self.workdir / "iw.map"
        self.bin_dir = self.workdir / "bin"

    def __repr__(self):
        return (f"<NamespaceRig {self.car_ns} cameras={self.n} mode={self.network_mode} "
                f"daemon={'running' if self._daemon and self._daemon.poll() is None else 'stopped'}>")

    def _camera_spec(self, k: int) -> EmulatedCamera:
        """Camera ``k``: Wi-Fi behind ``wlanK`` at 10.5.5.9; USB behind ``usbK`` at its own
        172.2X.1YZ.51 (from its serial); BLE only: no link at all."""
        bt = bt_mac_for(k)
        model, path = self.models[k - 1]
        serial = usb_serial_for(k) if path == "usb" else None
        address = usb_address_for(serial) if serial else CAMERA_ADDRESS
        iface = {"wifi": f"wlan{k}", "usb": f"usb{k}", "ble": None}[path]
        http_port = family_for_model(model).default_http_port
        return EmulatedCamera(k=k, name=f"cam{k}", iface=iface, ssid=f"GP-EMU-{k:02d}",
                              wifi_mac=wifi_mac_for(k), bt_mac=bt, address=address,
                              http_port=http_port, media_port=8080 if http_port == 80 else 8081, wol_port=9,
                              control=self.emu_dir / emu_socket_name(bt),
                              log=self.workdir / f"cam{k}.log", model=model, path=path, serial=serial)

    def _config_entry(self, cam: EmulatedCamera) -> dict[str, Any]:
        return cam.config_entry()

    def _emulator_argv(self, cam: EmulatedCamera) -> list[str]:
        netdev = ["--netdev", "eth0"] if cam.path == "wifi" else []
        return super()._emulator_argv(cam) + ["--listen", "0.0.0.0"] + netdev

    def _wrap_camera(self, cam: EmulatedCamera) -> list[str]:
        return ["ip", "netns", "exec", self.cam_ns[cam.k - 1]]

    def _env(self) -> dict[str, str]:
        """The stand-in iw first on PATH, reading this rig's association map."""
        env = super()._env()
        env["PATH"] = str(self.bin_dir) + os.pathsep + env.get("PATH", os.defpath)
        env["GOPRO_IW_MAP"] = str(self.iw_map_path)
        return env

    # --- associations (the iw stand-in's map) ------------------------------------------------

    def write_iw_map(self, overrides: Mapping[str, tuple[str, str] | None] | None = None) -> None:
        """Write the map the stand-in iw answers from: each adapter associated with the AP
        (BSSID, SSID) of the camera :attr:`wiring` puts at its other end, or as ``overrides``
        says (``{"wlan1": ("02:47:50:00:00:07", "GP-OTHER")}``; None: not a Wi-Fi adapter,
        iw says "nl80211 not found."). Replaced atomically."""
        lines = []
        for iface, k in sorted(self.wiring.items()):
            cam = self.cameras[k - 1]
            entry: tuple[str, str] | None = (cam.wifi_mac, cam.ssid)
            if overrides and iface in overrides:
                entry = overrides[iface]
            if entry is not None:
                lines.append(f"{iface} {entry[0]} {entry[1]}")
        tmp = self.iw_map_path.with_suffix(".tmp")
        tmp.write_text("".join(line + "\n" for line in lines))
        os.replace(tmp, self.iw_map_path)

    def swap_adapters(self, j: int, k: int) -> None:
        """Give the car's adapters ``wlanJ`` and ``wlanK`` each other's names, as udev does when
        two USB adapters enumerate in the other order: afterwards ``wlanJ`` reaches camera K's
        AP and ``wlanK`` camera J's (the iw map follows). Both links go down and up (a
        carrier change, as a re-association); returns once neither is DOWN. Calling it again
        swaps them back."""
        a, b = f"wlan{j}", f"wlan{k}"
        if a not in self.wiring or b not in self.wiring:
            raise ValueError(f"swap_adapters: {a} and {b} must both be Wi-Fi adapters of the rig")
        tmp = f"wlswp{j}x{k}"
        for name in (a, b):
            self.ip("link", "set", name, "down", netns=self.car_ns)
        self.ip("link", "set", a, "name", tmp, netns=self.car_ns)
        self.ip("link", "set", b, "name", a, netns=self.car_ns)
        self.ip("link", "set", tmp, "name", b, netns=self.car_ns)
        self.wiring[a], self.wiring[b] = self.wiring[b], self.wiring[a]
        self.write_iw_map()
        for name in (a, b):
            self.ip("link", "set", name, "up", netns=self.car_ns)
        # Back "associated" (carrier up, where the camera's Wi-Fi is on) before returning.
        wait_until(lambda: all(" state DOWN " not in self.ip("link", "show", name, netns=self.car_ns).stdout
                               for name in (a, b)), 5.0, interval=0.02,
                   message=f"{a} and {b} up after the swap")

    def _wrap_car(self) -> list[str]:
        return ["ip", "netns", "exec", self.car_ns]

    def run_in_car(self, argv: Sequence[str], *, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the car namespace, output captured as text."""
        return subprocess.run(self._wrap_car() + list(argv), cwd=REPO_ROOT, env=self._env(),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def ip(self, *args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
        """``ip [-n NETNS] ARGS…``; RigError if it fails and ``check``."""
        return _run(["ip"] + (["-n", netns] if netns else []) + list(args), check=check)

    # --- network ----------------------------------------------------------------------------

    def _build_network(self) -> None:
        self.remove_leftovers()
        for ns in [self.car_ns] + self.cam_ns:
            self.ip("netns", "add", ns)
            self._created.append(ns)
            self.ip("link", "set", "lo", "up", netns=ns)
        # Replies from 10.5.5.9 arrive on every wlanK while the kernel's route to
        # 10.5.5.0/24 names only one of them: strict reverse-path filtering (1)
        # would drop them. Loose (2) is what Raspberry Pi OS / systemd set.
        _run(["ip", "netns", "exec", self.car_ns, "sysctl", "-q", "-w",
              "net.ipv4.conf.all.rp_filter=2", "net.ipv4.conf.default.rp_filter=2"])
        for cam, cam_ns in zip(self.cameras, self.cam_ns, strict=True):
            if cam.path == "ble":
                continue                      # BLE only: the control socket is all it has
            iface = cam.iface
            if iface is None:
                raise ValueError(f"camera {cam.k} ({cam.path}) has no car-side interface")
            if cam.path == "usb":
                # The camera's USB NCM link: camera 172.2X.1YZ.51/24, the car .50 on usbK.
                host = cam.address.rsplit(".", 1)[0] + ".50"
                self.ip("link", "add", iface, "netns", self.car_ns, "type", "veth",
                        "peer", "name", "eth0", "netns", cam_ns)
                self.ip("addr", "add", f"{cam.address}/24", "dev", "eth0", netns=cam_ns)
                self.ip("addr", "add", f"{host}/24", "dev", iface, netns=self.car_ns)
                self.ip("link", "set", "eth0", "up", netns=cam_ns)
                self.ip("link", "set", iface, "up", netns=self.car_ns)
                continue
            self.ip("link", "add", iface, "netns", self.car_ns, "type", "veth",
                    "peer", "name", "eth0", "netns", cam_ns)
            self.ip("link", "set", "eth0", "address", cam.wifi_mac, netns=cam_ns)
            self.ip("addr", "add", f"{CAMERA_ADDRESS}/{PREFIX_LEN}", "broadcast", "10.5.5.255",
                    "dev", "eth0", netns=cam_ns)
            self.ip("addr", "add", f"{CAR_ADDRESS}/{PREFIX_LEN}", "broadcast", "10.5.5.255",
                    "dev", iface, netns=self.car_ns)
            self.ip("link", "set", "eth0", "up", netns=cam_ns)
            self.ip("link", "set", iface, "up", netns=self.car_ns)
            self.wiring[iface] = cam.k
        self.write_iw_map()
        self.bin_dir.mkdir(exist_ok=True)
        (self.bin_dir / "iw").unlink(missing_ok=True)
        (self.bin_dir / "iw").symlink_to(IW)

    def _teardown_network(self) -> None:
        for ns in reversed(self._created):
            delete_namespace(ns)
        self._created.clear()

    def remove_leftovers(self) -> list[str]:
        """Delete namespaces named exactly ``{prefix}-car`` or ``{prefix}-camK`` (a crashed run's).

        Returns the names removed.
        """
        return remove_rig_namespaces(self.prefix)

    def namespaces(self) -> list[str]:
        """The namespaces of this rig that exist right now."""
        existing = existing_namespaces()
        return [ns for ns in [self.car_ns] + self.cam_ns if ns in existing]

    # --- probes from the car ------------------------------------------------------------------

    def http_get(self, path: str = "/gp/gpControl/status", *, iface: str | None = None, port: int = 80,
                 timeout: float = 3.0) -> tuple[int, bytes]:
        """GET ``http://10.5.5.9:port/path`` from inside the car namespace.

        With ``iface`` the socket is bound to it (SO_BINDTODEVICE), as the
        daemon does in bind mode; without, the car's routing table decides.
        Returns ``(http status, body)``; raises RigError when no answer came
        (connection refused, timeout, no route).
        """
        proc = self.run_in_car([self.python, "-c", _HTTP_PROBE, iface or "", CAMERA_ADDRESS,
                                str(port), path, str(timeout)], timeout=timeout + 20)
        if proc.returncode != 0:
            raise RigError(f"GET {path} via {iface or 'routing'}: {proc.stderr.strip().splitlines()[-1:]}")
        status, _, body = proc.stdout.partition("\n")
        return int(status), bytes.fromhex(body.strip())

    def neighbour_mac(self, iface: str) -> str | None:
        """The MAC the car's ARP table holds for 10.5.5.9 on ``iface`` (None if none)."""
        out = self.ip("neigh", "show", CAMERA_ADDRESS, "dev", iface, netns=self.car_ns).stdout
        m = re.search(r"lladdr ([0-9a-f:]{17})", out)
        return m.group(1) if m else None


#: Run by :meth:`NamespaceRig.http_get` inside the car: argv iface addr port path timeout.
_HTTP_PROBE = r"""
import http.client, socket, sys
iface, addr, port, path, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.settimeout(timeout)
if iface:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
sock.connect((addr, port))
conn = http.client.HTTPConnection(addr, port, timeout=timeout)
conn.sock = sock
conn.request("GET", path)
resp = conn.getresponse()
body = resp.read()
print(resp.status)
print(body.hex())
"""


class LoopbackRig(_Rig):
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

    def _emulator_argv(self, cam: EmulatedCamera) -> list[str]:
        return super()._emulator_argv(cam) + ["--listen", cam.address]

    def _wrap_camera(self, cam: EmulatedCamera) -> list[str]:
        return []

    def _wrap_car(self) -> list[str]:
        return []

    def _build_network(self) -> None:
        pass  # 127.0.0.0/8 is all on lo already

    def _teardown_network(self) -> None:
        pass


def usb_address_for(serial: str) -> str:
    """172.2X.1YZ.51 from the serial's last three digits (as the daemon's config derives it)."""
    x, y, z = serial[-3], serial[-2], serial[-1]
    return f"172.2{x}.1{y}{z}.51"


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


def existing_namespaces() -> set[str]:
    """Names of the network namespaces ``ip netns list`` shows (those under /run/netns)."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def delete_namespace(ns: str) -> None:
    """Kill every process still in netns ``ns`` (exact name) and delete it; nothing if it is gone.

    ``ip netns del`` alone only unmounts the name: the namespace (and its
    veths) would live on as long as a process stays inside.
    """
    if ns not in existing_namespaces():
        return
    for pid in _run(["ip", "netns", "pids", ns], check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    _run(["ip", "netns", "del", ns], check=False)


def remove_rig_namespaces(prefix: str) -> list[str]:
    """Delete every namespace named exactly ``{prefix}-car`` or ``{prefix}-cam<K>``; return their names."""
    pattern = re.compile(rf"^{re.escape(prefix)}-(car|cam[0-9]+)$")
    removed = sorted(ns for ns in existing_namespaces() if pattern.match(ns))
    for ns in removed:
        delete_namespace(ns)
    return removed


def namespaces_available() -> tuple[bool, str]:
    """Whether :class:`NamespaceRig` can run here: ``(True, "")`` or ``(False, reason)``."""
    if os.geteuid() != 0:
        return False, "needs root (creates network namespaces with `ip netns`)"
    if shutil.which("ip") is None:
        return False, "needs iproute2's `ip` command"
    probe = f"gmprobe-{os.getpid()}"
    add = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if add.returncode != 0:
        return False, f"`ip netns add` fails here: {add.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return True, ""
