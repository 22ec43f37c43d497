"""``gopro_manager.py check``: the doctor — validate the config, look at the Pi's setup, probe each camera.

System (once): the pin factory and whether it opens the trigger pin, who may open the GPIO
chips, gatttool where a camera uses it, the clock's synchronisation, the config file's owner and
mode, the unit's state. Per camera: its Wi-Fi adapter present and named as configured (the udev
rule ``discover --apply`` writes pins a name to a MAC), associated with the configured BSSID
(``wifi_mac``; a camera answering behind another camera's adapter is an error), BLE bonded
(BlueZ ``org.bluez.Device1`` ``Paired``/``Trusted`` over the D-Bus system bus) where the model
needs it, then the link, the status, the card and the camera clock as ``check`` always did.

Every finding is a :class:`Finding`; a ``fail`` (or ``warn``) one carries ``fix``, what to do,
printed at the end of its line after ``→``. ``check --json`` prints
``{"ok", "config", "system": [finding…], "cameras": {name: [finding…]}, "failures"}``.
Exit status: 0 nothing failed (warnings allowed), 1 something failed, 78 config error.

BlueZ facts: BlueZ exports each known device as ``/org/bluez/hciN/dev_AA_BB_CC_DD_EE_FF`` with
the interface ``org.bluez.Device1`` (properties ``Address``, ``Paired``, ``Trusted``, ``Bonded``
from BlueZ 5.66 on, ``Connected``) under the object manager at ``/`` (BlueZ doc/device-api.txt,
org.bluez.Device1; GetManagedObjects: D-Bus specification, "org.freedesktop.DBus.ObjectManager").
The legacy cameras refuse BLE writes until bonded (gatttool's "Attribute requires authentication
before read/write", attrib/att.c; docs/models.md); an Open GoPro camera pairs once (Open GoPro
BLE spec, "Pairing").
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime as dt
import grp
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from camrig.config import Config

SERVICE_USER = "gopro-manager"
UNIT = "gopro-manager.service"
#: The config the service reads (the unit runs the installed ``gopro-manager``, which reads only this).
SERVICE_CONFIG = "/etc/gopro-manager/config.py"
#: The udev rule ``discover --apply`` writes: one ``NAME=`` per adapter MAC.
WIFI_UDEV_RULE = Path("/etc/udev/rules.d/70-gopro-manager-wifi.rules")

OK, WARN, FAIL, SKIP = "ok", "warn", "fail", "skip"

#: adjtimex(2) returns TIME_ERROR (5) while the kernel clock is not synchronised (include/uapi/linux/timex.h).
TIME_ERROR = 5


@dataclasses.dataclass
class Finding:
    """One line of the doctor's report: ``item`` (the column, e.g. ``"adapter"``), ``status``
    (``ok``/``warn``/``fail``/``skip``), ``detail`` (the text after the column, as printed) and
    ``fix`` (what to do; set on every ``fail``)."""

    item: str
    status: str
    detail: str
    fix: str | None = None

    def line(self, indent: str = "  ") -> str:
        """The printed line: ``{indent}{item:<13} {detail}[ → {fix}]`` (``check``'s columns)."""
        return f"{indent}{self.item:<13} {self.detail}" + (f" → {self.fix}" if self.fix else "")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --- BlueZ over D-Bus (jeepney) ----------------------------------------------------------------

class BluezUnavailable(Exception):
    """BlueZ cannot be asked. ``kind``: ``"no-bus"`` (no D-Bus system bus), ``"not-running"``
    (org.bluez is not on the bus), ``"denied"`` (the bus's policy refused us), ``"error"``."""

    FIXES = {
        "no-bus": "start D-Bus: sudo systemctl start dbus",
        "not-running": "start BlueZ: sudo apt install bluez && sudo systemctl enable --now bluetooth",
        "denied": "run check as root (sudo), or allow this user in /etc/dbus-1/system.d/bluetooth.conf",
        "error": "see journalctl -u bluetooth",
    }

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind

    @property
    def fix(self) -> str:
        return self.FIXES[self.kind]


def bluez_devices(adapter: str = "hci0", *, bus: str = "SYSTEM", timeout: float = 5.0) -> dict[str, dict[str, Any]]:
    """Every device BlueZ knows on ``adapter``: ``{"AA:BB:…" (upper case): {"Paired": bool,
    "Trusted": bool, "Bonded": bool (BlueZ ≥ 5.66, else absent), "Connected": bool, "Name": str}}``.

    One ``GetManagedObjects`` call on ``org.bluez`` at ``/`` over the D-Bus ``bus`` (``"SYSTEM"``
    or an address such as ``unix:path=…``; ``$DBUS_SYSTEM_BUS_ADDRESS`` is honoured), within
    ``timeout`` seconds. Raises :class:`BluezUnavailable` (its ``kind`` says why)."""
    from jeepney import DBusAddress, new_method_call
    from jeepney.io.blocking import open_dbus_connection
    from jeepney.wrappers import DBusErrorResponse, unwrap_msg

    try:
        conn = open_dbus_connection(bus=bus)
    except PermissionError as exc:
        raise BluezUnavailable("denied", f"permission denied on the D-Bus system bus ({exc})") from None
    except (OSError, ValueError, KeyError) as exc:
        raise BluezUnavailable("no-bus", f"no D-Bus system bus ({type(exc).__name__}: {exc})") from None
    except Exception as exc:  # jeepney's AuthenticationError and the like
        raise BluezUnavailable("denied", f"the D-Bus system bus refused us ({type(exc).__name__}: {exc})") from None
    try:
        call = new_method_call(DBusAddress("/", bus_name="org.bluez", interface="org.freedesktop.DBus.ObjectManager"),
                               "GetManagedObjects")
        try:
            (objects,) = unwrap_msg(conn.send_and_get_reply(call, timeout=timeout))
        except DBusErrorResponse as exc:
            name = exc.name or ""
            if name in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"):
                raise BluezUnavailable("not-running",
                                       "BlueZ is not running (org.bluez is not on the system bus)") from None
            if name == "org.freedesktop.DBus.Error.AccessDenied":
                raise BluezUnavailable("denied", f"permission denied asking BlueZ ({exc})") from None
            raise BluezUnavailable("error", f"BlueZ answered {exc}") from None
        except TimeoutError:
            raise BluezUnavailable("not-running", f"BlueZ did not answer within {timeout:g} s (bluetooth.service "
                                   "not running, or no Bluetooth adapter)") from None
    finally:
        conn.close()
    prefix = f"/org/bluez/{adapter}/dev_"
    out: dict[str, dict[str, Any]] = {}
    for path, interfaces in objects.items():
        props = interfaces.get("org.bluez.Device1")
        if props is None or not str(path).startswith(prefix):
            continue
        values = {k: v[1] for k, v in props.items()}          # variants are (signature, value)
        address = str(values.get("Address") or path[len(prefix):].replace("_", ":")).upper()
        out[address] = {k: values[k] for k in ("Paired", "Trusted", "Bonded", "Connected", "Name") if k in values}
    return out


# --- the doctor --------------------------------------------------------------------------------

def clock_synchronised() -> bool | None:
    """True when the kernel clock is synchronised (adjtimex(2) state not TIME_ERROR), None when it
    cannot be asked (what ``timedatectl``'s "System clock synchronized" reads, via timedated)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(512)      # struct timex, modes = 0: read only
        state = libc.adjtimex(buf)
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


def _run(argv: list[str], timeout: float = 5.0) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None


def unit_state(unit: str = UNIT) -> tuple[str | None, str]:
    """``(ActiveState or None, LoadState)`` of ``unit`` from ``systemctl show``; ``(None, why)``
    when systemd is not running here or systemctl is missing."""
    if not Path("/run/systemd/system").is_dir():
        return None, "systemd is not running here"
    res = _run(["systemctl", "show", unit, "--property=ActiveState,LoadState,SubState"])
    if res is None or res.returncode != 0:
        return None, "systemctl show failed"
    props = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
    return props.get("ActiveState"), props.get("LoadState", "?")


def read_udev_names(path: Path = WIFI_UDEV_RULE) -> dict[str, str]:
    """``{interface name: MAC (lower case)}`` from a udev rules file of lines with
    ``ATTR{address}=="…"`` and ``NAME="…"`` (the rule ``discover --apply`` writes); {} when absent."""
    names: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return names
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        mac = re.search(r'ATTR\{address\}=="([0-9A-Fa-f:]{17})"', line)
        name = re.search(r'\bNAME="([^"]+)"', line)
        if mac and name:
            names[name.group(1)] = mac.group(1).lower()
    return names


@dataclasses.dataclass
class Doctor:
    """The checks, with every outside thing injectable for tests: ``sysfs`` (``/sys/class/net``),
    ``udev_rule`` (the adapter-name rule), ``bluez`` (``adapter -> devices``, as
    :func:`bluez_devices`), ``clock`` (as :func:`clock_synchronised`), ``unit`` (as
    :func:`unit_state`), ``dev`` (``/dev``, for the GPIO chips), ``service_user``."""

    config: Config
    sysfs: Path = Path("/sys/class/net")
    udev_rule: Path = WIFI_UDEV_RULE
    bluez: Callable[[str], dict[str, dict[str, Any]]] = bluez_devices
    clock: Callable[[], bool | None] = clock_synchronised
    unit: Callable[[], tuple[str | None, str]] = unit_state
    dev: Path = Path("/dev")
    service_user: str = SERVICE_USER
    _bluez_cache: dict[str, Any] = dataclasses.field(default_factory=dict)

    # system ------------------------------------------------------------------------------

    def system(self) -> list[Finding]:
        """The once-per-Pi findings, in printed order."""
        out = self.gpio()
        out += self.gatttool()
        out.append(self.clock_sync())
        out.append(self.config_file())
        out.append(self.unit_finding())
        return out

    def gpio(self) -> list[Finding]:
        """Pin factory (the line ``check`` always printed), whether it opens GPIO_BCM_PIN, and
        whether the service's group may open the GPIO chips."""
        from camrig.app import PIN_FACTORY_HELP, make_pin_factory, pin_factory_report

        cfg = self.config
        factory, detail = pin_factory_report(cfg.gpio_pin_factory)
        if cfg.gpio_bcm_pin is None:
            return [Finding("GPIO", OK, f"not used (no GPIO_BCM_PIN); pin factory would be {factory or 'none'}")]
        item = f"GPIO{cfg.gpio_bcm_pin}"
        if not factory:
            return [Finding(item, FAIL, f"FAIL no pin factory: {detail}", "install one (see above)")]
        out = [Finding(item, OK, f"pin factory {factory} ({detail})")]
        try:
            from gpiozero import Device, DigitalInputDevice
            pf = make_pin_factory(cfg.gpio_pin_factory) if cfg.gpio_pin_factory else Device._default_pin_factory()
            try:
                DigitalInputDevice(cfg.gpio_bcm_pin, pin_factory=pf).close()
                out.append(Finding("GPIO pin", OK, f"ok: {factory} opens BCM {cfg.gpio_bcm_pin}"))
            finally:
                pf.close()
        except Exception as exc:  # GPIOPinInUse (the running daemon holds it), PinInvalidPin, OSError
            busy = "in use" in str(exc).lower() or "busy" in str(exc).lower()
            if busy:
                out.append(Finding("GPIO pin", OK, f"ok: BCM {cfg.gpio_bcm_pin} is in use (by the running "
                                                   f"daemon?): {exc}"))
            else:
                out.append(Finding("GPIO pin", FAIL, f"FAIL {factory} cannot open BCM {cfg.gpio_bcm_pin}: "
                                                     f"{type(exc).__name__}: {exc}",
                                   f"check GPIO_BCM_PIN (0–27) and the wiring; {PIN_FACTORY_HELP}"))
        chips = sorted(self.dev.glob("gpiochip*"))
        if chips:
            bad = []
            for chip in chips:
                st = chip.stat()
                try:
                    group = grp.getgrgid(st.st_gid).gr_name
                except KeyError:
                    group = str(st.st_gid)
                if group != "gpio" or (st.st_mode & 0o060) != 0o060:
                    bad.append(f"{chip} {group} {stat.filemode(st.st_mode)}")
            if bad:
                out.append(Finding("GPIO access", FAIL, f"FAIL the service's group gpio cannot open {', '.join(bad)}",
                                   "sudo ./install.sh (udev rule 60-gopro-manager-gpio.rules), then "
                                   "sudo udevadm trigger --subsystem-match=gpio"))
            else:
                out.append(Finding("GPIO access", OK, f"ok: {len(chips)} chip(s) group gpio, rw"))
        return out

    def gatttool(self) -> list[Finding]:
        """gatttool present when a camera uses it (legacy family, ``bt_mac``, LEGACY_BLE gatttool)."""
        users = [c.name for c in self.config.cameras
                 if c.bt_mac and c.family == "gopro_legacy" and self.config.legacy_ble == "gatttool"]
        if not users:
            return []
        path = shutil.which(self.config.gatttool)
        if path:
            return [Finding("gatttool", OK, f"ok: {path} (for {', '.join(users)})")]
        return [Finding("gatttool", FAIL, f"FAIL {self.config.gatttool!r} not found (needed by {', '.join(users)})",
                        "sudo apt install bluez (Debian's bluez ships gatttool), or set GATTTOOL to its path")]

    def clock_sync(self) -> Finding:
        synced = self.clock()
        if synced is None:
            return Finding("clock sync", SKIP, "cannot tell whether the clock is synchronised")
        if synced:
            return Finding("clock sync", OK, "ok: system clock synchronised")
        return Finding("clock sync", WARN, "WARN system clock not synchronised: the cameras get this Pi's "
                                           "time, footage dates may be wrong",
                       "give the Pi network time once (timedatectl set-ntp true) or an RTC/GPS time source")

    def config_file(self) -> Finding:
        """Owner and mode of the config: the service user must read it, nobody but root write it."""
        path = self.config.source
        if not path or not os.path.exists(path):
            return Finding("config file", SKIP, "no config file")
        st = os.stat(path)
        mode = stat.S_IMODE(st.st_mode)
        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = str(st.st_uid)
        try:
            group = grp.getgrgid(st.st_gid).gr_name
        except KeyError:
            group = str(st.st_gid)
        where = f"{path} {owner}:{group} {mode:04o}"
        fix = f"sudo chown root:{self.service_user} {path} && sudo chmod 640 {path}"
        try:
            user = pwd.getpwnam(self.service_user)
        except KeyError:
            return Finding("config file", SKIP, f"{where}; no user {self.service_user} here (install.sh not run)")
        readable = ((st.st_uid == user.pw_uid and mode & 0o400) or (st.st_gid == user.pw_gid and mode & 0o040)
                    or mode & 0o004)
        if not readable:
            return Finding("config file", FAIL,
                           f"FAIL {where}: the service user {self.service_user} cannot read it", fix)
        if st.st_uid not in (0, user.pw_uid) or mode & 0o022:
            return Finding("config file", FAIL,
                           f"FAIL {where}: writable by others than root (the daemon refuses it)", fix)
        note = "" if os.path.realpath(path) == SERVICE_CONFIG else f" (the service reads {SERVICE_CONFIG}, not this)"
        return Finding("config file", OK, f"ok: {where}{note}")

    def unit_finding(self) -> Finding:
        active, load = self.unit()
        if active is None:
            return Finding("service", SKIP, f"unit state unknown: {load}")
        if load == "not-found":
            return Finding("service", WARN, f"WARN {UNIT} is not installed", "sudo ./install.sh")
        if active == "active":
            return Finding("service", OK, f"ok: {UNIT} active")
        return Finding("service", FAIL, f"FAIL {UNIT} is {active}",
                       "sudo systemctl enable --now gopro-manager; why it stopped: journalctl -u gopro-manager -n 50")

    # per camera ------------------------------------------------------------------------------

    def adapter(self, cam) -> list[Finding]:
        """The camera's adapter present in sysfs, and named as the udev rule pins it."""
        if cam.control != "wifi" or not cam.iface:
            return []
        dev = self.sysfs / cam.iface
        if not dev.exists():
            here = sorted(p.name for p in self.sysfs.iterdir() if p.name != "lo") if self.sysfs.is_dir() else []
            return [Finding("adapter", FAIL,
                            f"FAIL {cam.iface} not found (interfaces here: {', '.join(here) or 'none'})",
                            f"plug in {cam.name}'s Wi-Fi adapter; 'gopro_manager.py discover' lists the adapters "
                            "and pins their names")]
        try:
            mac = (dev / "address").read_text().strip().lower()
        except OSError:
            mac = "?"
        pinned = read_udev_names(self.udev_rule)
        if cam.iface not in pinned:
            return [Finding("adapter", WARN, f"WARN {cam.iface} ({mac}) present, its name not pinned by a udev rule: "
                                             "two adapters may swap names at boot",
                            "sudo gopro_manager.py discover --apply")]
        if pinned[cam.iface] != mac:
            return [Finding("adapter", FAIL, f"FAIL {cam.iface} has MAC {mac}, but {self.udev_rule} gives that name "
                                             f"to {pinned[cam.iface]}",
                            f"plug in the adapter {pinned[cam.iface]} or rerun sudo gopro_manager.py discover --apply; "
                            "then reboot (or unplug and replug the adapters)")]
        return [Finding("adapter", OK, f"ok: {cam.iface} ({mac}), name pinned by udev")]

    def ble_bond(self, cam) -> list[Finding]:
        """BlueZ Paired/Trusted for a camera that talks BLE through BlueZ (not the emulated backend)."""
        if not cam.bt_mac:
            return []
        legacy = cam.family == "gopro_legacy"
        if not legacy and not cam.open_gopro:
            return []
        if self.config.ble_backend == "emulated" and not legacy:
            return [Finding("BLE bond", SKIP, "BLE_BACKEND 'emulated': no BlueZ bond to check")]
        adapter = self.config.ble_adapter
        if adapter not in self._bluez_cache:
            try:
                self._bluez_cache[adapter] = self.bluez(adapter)
            except BluezUnavailable as exc:
                self._bluez_cache[adapter] = exc
        got = self._bluez_cache[adapter]
        if isinstance(got, BluezUnavailable):
            return [Finding("BLE bond", FAIL, f"FAIL cannot ask BlueZ about {cam.bt_mac}: {got}", got.fix)]
        mac = cam.bt_mac.upper()
        pair = (f"put {cam.name} in pairing mode, then: bluetoothctl --timeout 30 scan on; "
                f"bluetoothctl pair {mac}; bluetoothctl trust {mac}")
        dev = got.get(mac)
        if dev is None:
            return [Finding("BLE bond", FAIL, f"FAIL {mac} unknown to BlueZ on {adapter} (never paired)", pair)]
        if not dev.get("Paired"):
            return [Finding("BLE bond", FAIL, f"FAIL {mac} known on {adapter} but not paired", pair)]
        if not dev.get("Trusted"):
            return [Finding("BLE bond", FAIL, f"FAIL {mac} paired but not trusted", f"bluetoothctl trust {mac}")]
        bonded = "" if "Bonded" not in dev else (", bonded" if dev["Bonded"] else ", not bonded")
        return [Finding("BLE bond", OK, f"ok: {mac} paired, trusted{bonded} on {adapter}")]


def _probe(p, config: Config) -> list[Finding]:
    """What ``check`` always did per camera: link, association (a mismatch is a FAIL), status,
    card, video mode, camera clock set (not while recording)."""
    from camrig.cameras.base import sd_text
    from camrig.errors import AdapterMismatch, CamRigError

    out: list[Finding] = []
    try:
        p.link.check()
        out.append(Finding("link", OK, f"ok ({p.link.kind})"))
    except CamRigError as exc:
        out.append(Finding("link", FAIL, f"FAIL {exc}", "see the adapter line; is the camera on and its Wi-Fi up?"))
        return out
    guard = getattr(p.link, "guard", None)
    if guard is not None:
        try:
            ok = guard.associated()
        except AdapterMismatch as exc:
            # Never probe across it: the answer would come from another camera.
            out.append(Finding("associated", FAIL, f"MISMATCH {exc.detail}",
                               "the adapters' names are swapped or one joined another camera's AP: "
                               "sudo gopro_manager.py discover --apply pins names to MACs; "
                               "nmcli con up <camera SSID> ifname <its adapter>"))
            return out
        out.append(Finding("associated", OK if ok else WARN,
                           "yes" if ok else "NO (camera Wi-Fi off, or wpa_supplicant not connected)",
                           None if ok else "turn the camera's Wi-Fi on (the daemon wakes it over BLE) or: "
                                           "nmcli con up <camera SSID>"))
    try:
        describe = getattr(p.driver, "describe", None)      # the family's own facts (Olympus)
        if callable(describe):
            for key, value in describe().items():
                out.append(Finding(key, OK, str(value)))
        st = p.driver.status()
        if st.storage_problem:
            out.append(Finding("card", FAIL, f"FAIL {st.storage_problem} (sd_status {st.sd_status}): the camera "
                                             "cannot record until it is fixed",
                               "insert, free or format the card"))
        rec = ("yes" if st.encoding_active else "no") + ("" if st.encoding_confirmed
                                                          else " (unconfirmed: no state query)")
        out.append(Finding("status", OK, f"ok: recording={rec} "
                                         f"mode={st.mode_name or 'not reported'} battery={st.battery_percent}% "
                                         f"sd_status={st.sd_status} ({sd_text(st.sd_status)}) "
                                         f"free={st.remaining_space_kb} KB"))
        if st.in_video_mode is False:
            out.append(Finding("mode", OK, f"not video ({st.mode_name}): the daemon selects video before recording"))
        # Never while recording (a file is open), nor when "not recording" is only a belief (an
        # Olympus has no state query: setting its clock switches it to play mode, which would end
        # a movie a previous daemon started).
        from camrig.inputs.clock_sync import ClockSync  # issue 13: only from a synchronised Pi clock
        clock_ok, clock_why = ClockSync(config.camera_clock).may_set()
        if not st.encoding_active and st.encoding_confirmed and not clock_ok:
            out.append(Finding("clock", WARN, f"WARN not set: {clock_why}",
                               "give the Pi its time (README 'Honest clocks': gpsd + chrony with a GPS)"))
        elif not st.encoding_active and st.encoding_confirmed:
            try:
                p.driver.set_date_time(dt.datetime.now())
                via = getattr(p.driver, "clock_via", None)
                out.append(Finding("clock", OK, f"ok: set to this Pi's time{' over ' + via.upper() if via else ''}"))
            except (CamRigError, ValueError) as exc:
                why = exc.detail if isinstance(exc, CamRigError) else str(exc)
                out.append(Finding("clock", WARN, f"WARN the camera refused its clock ({why}): its footage keeps "
                                                  "its own time"))
    except CamRigError as exc:
        hint = getattr(p.waker, "wake_hint", None)
        out.append(Finding("status", FAIL, f"FAIL {exc}",
                           hint or "is the camera on and in range? see the lines above"))
    return out


def run_check(config: Config, *, as_json: bool = False, doctor: Doctor | None = None, out=print) -> int:
    """The whole ``check``: prints the report (text, or one JSON object with ``as_json``) through
    ``out``; returns 0 when nothing failed, 1 otherwise."""
    from camrig.app import build_parts

    doctor = doctor or Doctor(config)
    system = doctor.system()
    cameras: dict[str, list[Finding]] = {}
    headers: dict[str, str] = {}
    for p in build_parts(config):
        cam = p.camera
        where = f"BLE {cam.bt_mac}" if cam.control == "ble" else f"{cam.path} → {cam.address}:{cam.http_port}"
        headers[cam.name] = f"{cam.name} ({cam.model}, {cam.control}, {where}):"
        try:
            found = doctor.adapter(cam) + doctor.ble_bond(cam) + _probe(p, config)
        finally:
            p.http.close()
            if p.ble is not None:
                p.ble.disconnect()
        cameras[cam.name] = found
    failures = sum(f.status == FAIL for f in system) + sum(f.status == FAIL for fs in cameras.values() for f in fs)
    if as_json:
        out(json.dumps({"ok": failures == 0, "config": config.source, "warnings": list(config.warnings),
                        "system": [f.as_dict() for f in system],
                        "cameras": {n: [f.as_dict() for f in fs] for n, fs in cameras.items()},
                        "failures": failures}, indent=2))
    else:
        out(f"config {config.source}: ok ({len(config.cameras)} camera(s), NETWORK_MODE {config.network_mode})")
        for warning in config.warnings:
            out(f"  warning: {warning}")
        for f in system:
            out(f.line(indent=""))
        for name, fs in cameras.items():
            out(headers[name])
            for f in fs:
                out(f.line())
        out(f"{failures} problem(s) found" if failures else "no problems found")
    return 1 if failures else 0
