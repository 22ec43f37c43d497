"""Load and validate ``config.py`` into frozen dataclasses.

The config file is Python, executed as the daemon's user (root on the
original install), so it is refused when anyone but its owner may write it.
The original script's config works unchanged::

    GOPROS = [("wlan1", "GP24784461", "06:41:69:6a:c1:05", "d4:d9:19:9a:4c:7b"), ...]
    GPIO_BCM_PIN = 17
    TRIGGER_PATH = "/tmp/gopro-trigger"
    CHECK_STATUS = 5

Every problem raises :class:`~camrig.errors.ConfigError` naming the key, the
camera and the bad value; the entry point turns it into exit status 78.
Values that end up on a command line (interface names, MACs, paths) are
checked against strict patterns here, before anything runs.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cameras import registry
from .errors import ConfigError

#: Linux interface names: 1–15 chars, no '/', whitespace or ':' (dev_valid_name in net/core/dev.c).
IFACE_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}\Z")
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}\Z")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
ADAPTER_RE = re.compile(r"^hci[0-9]{1,2}\Z")

#: Models, their control paths, defaults (port, address) and rules come from the camera family
#: registry (camrig/cameras/registry.py): ``registry.models()``, ``registry.family_for_model()``.

#: How the daemon reaches a camera: its Wi-Fi AP through an adapter of its own, its USB-C
#: port (Open GoPro wired control, NCM), or Bluetooth LE alone (Open GoPro).
CONTROLS = registry.CONTROLS
#: BlueZ keeps about this many LE connections per adapter (DESIGN.md field facts).
MAX_BLE_PER_ADAPTER = 4
BLE_BACKENDS = ("bleak", "emulated")
LEGACY_BLE_CHOICES = ("gatttool", "bleak")
#: Open GoPro over USB: 172.2X.1YZ.51:8080, XYZ = last three digits of the serial
#: (openapi_http_2.0.json, info.description "Socket Address").
SERIAL_RE = re.compile(r"^[A-Za-z0-9]{3,20}\Z")
NETWORK_MODES = ("bind", "route", "address")
ON_EXIT_CHOICES = ("leave", "stop")
LOG_LEVELS = ("debug", "info", "warning", "error")
PIN_FACTORIES = ("lgpio", "rpigpio", "pigpio", "native", "mock")
CAMERA_CLOCK_CHOICES = ("synchronised", "always", "never")
#: Folders the systemd unit lets the daemon write (StateDirectory=, RuntimeDirectory=).
WRITABLE_DIRS = ("/var/lib/gopro-manager/", "/run/gopro-manager/")
#: The pins of issue 13, each distinct from the trigger pin and from one another.
PIN_KEYS = ("GPIO_BCM_PIN", "MARK_BCM_PIN", "RECORD_BCM_PIN", "LED_BCM_PIN", "IGNITION_BCM_PIN")

DEFAULT_CONFIG_PATHS = ("config.py", "/etc/gopro-manager/config.py")


@dataclass(frozen=True)
class CameraConfig:
    """One camera.

    ``iface`` is the Wi-Fi interface that reaches it (None only in ``address``
    mode), ``address`` its IPv4 address (10.5.5.9 for every GoPro AP),
    ``wifi_mac`` the camera's AP BSSID (the Wake-on-LAN target), ``bt_mac`` its
    BLE address, ``http_port``/``wol_port`` TCP/UDP ports (80 and 9 on a real
    camera: goprowifihack HERO4/HERO5 notes and #65; no source reports another
    Wake-on-LAN port, so another ``wol_port`` is for test rigs, unverified on a camera).
    """

    name: str
    iface: str | None
    ssid: str | None
    wifi_mac: str | None
    bt_mac: str | None
    model: str = "hero7"
    control: str = "wifi"
    address: str = "10.5.5.9"
    http_port: int = 80
    wol_port: int = 9
    serial: str | None = None

    @property
    def family(self) -> str:
        """The camera family's name (``"gopro_legacy"``, ``"open_gopro"``: camrig/cameras/registry.py)."""
        return registry.family_for_model(self.model, camera=self.name).name

    @property
    def open_gopro(self) -> bool:
        """True for HERO9–13 (Open GoPro API), False for HERO5–8 (gpControl) and other families."""
        return self.family == "open_gopro"

    @property
    def path(self) -> str:
        """How the daemon reaches the camera, for people: ``wifi wlan1``, ``usb 172.27.189.51``, ``ble``."""
        if self.control == "wifi":
            return f"wifi {self.iface}" if self.iface else f"wifi {self.address}"
        if self.control == "usb":
            return f"usb {self.address}"
        return "ble"


@dataclass(frozen=True)
class Config:
    """The whole validated configuration. Times are seconds."""

    cameras: tuple[CameraConfig, ...]
    gpio_bcm_pin: int | None = None
    gpio_bounce_time: float = 0.05
    gpio_pin_factory: str | None = None
    trigger_path: str | None = "/run/gopro-manager/trigger"
    #: Status check every this many cycles. 2 (not the original script's 5): a camera that stops
    #: by itself records again within ~1 s at the median, 2 s at worst (``make bench``).
    check_status: int | None = 2
    cycle_seconds: float = 1.0
    network_mode: str = "bind"
    camera_address: str = "10.5.5.9"
    gatttool: str = "gatttool"
    ble_adapter: str = "hci0"
    status_path: str | None = "/run/gopro-manager/status.json"
    #: the control socket (camrig/control.py) for mark/record/offload from a shell; None: none
    control_socket: str | None = "/run/gopro-manager/control.sock"
    http_timeout: float = 3.0
    connect_timeout: float = 1.0
    wake_timeout: float = 30.0
    ble_timeout: float = 10.0
    #: Open GoPro BLE client: "bleak" (BlueZ) or "emulated" (the emulator's stand-in, tests and demo).
    ble_backend: str = "bleak"
    #: Directory of the emulated cameras' control sockets; BLE_BACKEND "emulated" only.
    ble_emu_dir: str | None = None
    #: Legacy (HERO5–8) BLE Wi-Fi-on through "gatttool" or "bleak".
    legacy_ble: str = "gatttool"
    #: Seconds without a request after which an idle camera gets a light status request. It
    #: finds out early that a camera went silent and keeps HERO9–13 awake (keep-alive every 3 s);
    #: it does NOT keep a HERO5–8's Wi-Fi up: reported HERO5s turn the AP off ~10 min after it
    #: came up whatever is polled (goprowifihack #101, #105), and the next wake turns it back on
    #: over BLE. None lets idle cameras sleep.
    keep_awake: float | None = 60.0
    on_exit: str = "leave"
    log_level: str = "info"
    # --- issue 13, in the car: buttons, status LED, ignition, marks, honest clocks -------------
    #: BCM pin of the mark-the-moment button (push button to ground; None: no button).
    mark_bcm_pin: int | None = None
    #: BCM pin of the record button (toggles the record latch; push button to ground).
    record_bcm_pin: int | None = None
    #: BCM pin of the status LED (through a resistor to ground; None: no LED).
    led_bcm_pin: int | None = None
    #: BCM pin that is high while the ignition is on (UPS HAT output or a divider; None: unused).
    ignition_bcm_pin: int | None = None
    #: Seconds the ignition must stay off before every recording is stopped.
    ignition_grace: float = 30.0
    #: After ignition off (and the recordings stopped): power the Pi off through logind.
    shutdown_on_ignition_off: bool = False
    #: Seconds the buttons' contacts are debounced for.
    button_bounce_time: float = 0.05
    #: Marks within this many seconds of the last one are one mark (a storm is coalesced).
    mark_coalesce: float = 1.0
    #: Every mark, one JSON line each (None: not written).
    marks_path: str | None = "/var/lib/gopro-manager/marks.jsonl"
    #: When a camera clock is set: "synchronised" (only from a synchronised Pi clock), "always", "never".
    camera_clock: str = "synchronised"
    #: MQTT publisher (issue 15): None unless MQTT_URL is set (:class:`MqttConfig`)
    mqtt: MqttConfig | None = None
    # --- offload (issue 10): camrig/offload/ -------------------------------------------------
    #: where footage goes: OFFLOAD_DIR/<camera>/<YYYY-MM-DD>/<name as on the camera> (the unit's
    #: StateDirectory=gopro-manager)
    offload_dir: str = "/var/lib/gopro-manager/media"
    #: bytes the offload keeps free on the disk under OFFLOAD_DIR (2 GB); it stops and says so
    offload_min_free: int = 2_000_000_000
    #: seconds after recording stops being wanted before an offload of every camera starts;
    #: None: only on request (``gopro-manager offload``)
    offload_after: float | None = None
    #: "proxies-first" (every LRV, THM and GPMF telemetry, then the full files) or "in-order"
    offload_what: str = "proxies-first"
    source: str | None = field(default=None, compare=False)
    #: Non-fatal findings (unknown keys, with the nearest known one), logged at start and by `check`.
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def camera(self, name: str) -> CameraConfig:
        """The camera called ``name``; KeyError if there is none."""
        for cam in self.cameras:
            if cam.name == name:
                return cam
        raise KeyError(name)


#: the MQTT block's keys (issue 15; checked by :func:`check_mqtt` at the end of this file)
MQTT_KEYS = ("MQTT_URL", "MQTT_PASSWORD_FILE", "MQTT_CA_FILE", "CAR_NAME", "MQTT_MIN_INTERVAL", "MQTT_COMMANDS")

#: config key → Config attribute. The order is the order of config.py.example.
_SCALAR_KEYS: dict[str, str] = {
    "GPIO_BCM_PIN": "gpio_bcm_pin",
    "GPIO_BOUNCE_TIME": "gpio_bounce_time",
    "GPIO_PIN_FACTORY": "gpio_pin_factory",
    "TRIGGER_PATH": "trigger_path",
    "CHECK_STATUS": "check_status",
    "CYCLE_SECONDS": "cycle_seconds",
    "NETWORK_MODE": "network_mode",
    "CAMERA_ADDRESS": "camera_address",
    "GATTTOOL": "gatttool",
    "BLE_ADAPTER": "ble_adapter",
    "STATUS_PATH": "status_path",
    "CONTROL_SOCKET": "control_socket",
    "HTTP_TIMEOUT": "http_timeout",
    "CONNECT_TIMEOUT": "connect_timeout",
    "WAKE_TIMEOUT": "wake_timeout",
    "BLE_TIMEOUT": "ble_timeout",
    "BLE_BACKEND": "ble_backend",
    "BLE_EMU_DIR": "ble_emu_dir",
    "LEGACY_BLE": "legacy_ble",
    "KEEP_AWAKE": "keep_awake",
    "ON_EXIT": "on_exit",
    "LOG_LEVEL": "log_level",
    # issue 13 (in the car)
    "MARK_BCM_PIN": "mark_bcm_pin",
    "RECORD_BCM_PIN": "record_bcm_pin",
    "LED_BCM_PIN": "led_bcm_pin",
    "IGNITION_BCM_PIN": "ignition_bcm_pin",
    "IGNITION_GRACE": "ignition_grace",
    "SHUTDOWN_ON_IGNITION_OFF": "shutdown_on_ignition_off",
    "BUTTON_BOUNCE_TIME": "button_bounce_time",
    "MARK_COALESCE": "mark_coalesce",
    "MARKS_PATH": "marks_path",
    "CAMERA_CLOCK": "camera_clock",
    # offload (issue 10)
    "OFFLOAD_DIR": "offload_dir",
    "OFFLOAD_MIN_FREE": "offload_min_free",
    "OFFLOAD_AFTER": "offload_after",
    "OFFLOAD_WHAT": "offload_what",
}
KNOWN_KEYS = frozenset(_SCALAR_KEYS) | {"GOPROS"} | frozenset(MQTT_KEYS)
_CAMERA_KEYS = ("name", "iface", "ssid", "wifi_mac", "bt_mac", "model", "control",
                "address", "http_port", "wol_port", "serial")


def find_config(explicit: str | None, script_dir: str | os.PathLike | None) -> Path:
    """The config file to use: ``explicit`` if given, else ``config.py`` in ``script_dir``
    (beside gopro_manager.py; None: not looked for), else ``/etc/gopro-manager/config.py``.

    Raises ConfigError (key ``--config``) when none exists.
    """
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError("--config", "no such file", value=str(path))
        return path
    candidates = ([] if script_dir is None else [Path(script_dir) / DEFAULT_CONFIG_PATHS[0]]) \
        + [Path(DEFAULT_CONFIG_PATHS[1])]
    for path in candidates:
        if path.is_file():
            return path
    raise ConfigError("--config", "no config file found; looked at "
                      + ", ".join(str(p) for p in candidates)
                      + " (copy config.py.example there)")


def check_file_safety(path: Path) -> None:
    """Refuse a config file that someone other than its owner (or root) could have written.

    It is executed as Python by the daemon, which runs with network privileges,
    so a group- or world-writable file (or one owned by another unprivileged
    user) would hand those privileges to anyone who can write it.
    """
    try:
        st = path.stat()
    except OSError as exc:
        raise ConfigError("--config", f"cannot read: {exc.strerror}", value=str(path)) from None
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise ConfigError("--config", f"writable by group or others (mode {stat.filemode(st.st_mode)}); "
                          f"run: chmod go-w {path}", value=str(path))
    if st.st_uid not in (0, os.geteuid()):
        raise ConfigError("--config", f"owned by uid {st.st_uid}, not by root or the daemon's user",
                          value=str(path))


def load_config(path: str | os.PathLike, *, check_permissions: bool = True) -> Config:
    """Execute the config file at ``path`` and validate it.

    Raises ConfigError for an unsafe file, a Python error in it (the line is
    named), or any invalid value.
    """
    path = Path(path)
    if check_permissions:
        check_file_safety(path)
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--config", f"cannot read: {exc}", value=str(path)) from None
    namespace: dict[str, Any] = {"__file__": str(path), "__name__": "gopro_manager_config"}
    try:
        code = compile(source, str(path), "exec")
        exec(code, namespace)  # noqa: S102 - the config file is Python by design, checked above
    except SyntaxError as exc:
        raise ConfigError("--config", f"Python syntax error at line {exc.lineno}: {exc.msg}",
                          path=str(path)) from None
    # SystemExit/KeyboardInterrupt too: `sys.exit()` in config.py must not end the daemon
    # (exit 0 would not even be restarted by systemd) nor kill it on a SIGHUP reload.
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # the config's own code failed
        line = _error_line(exc, str(path))
        raise ConfigError("--config", f"{type(exc).__name__} at line {line}: {exc}",
                          path=str(path)) from None
    values = {k: v for k, v in namespace.items() if k.isupper() and not k.startswith("_")}
    return config_from_mapping(values, source=str(path))


def _error_line(exc: BaseException, filename: str) -> str:
    tb = exc.__traceback__
    line = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = str(tb.tb_lineno)
        tb = tb.tb_next
    return line


def config_from_mapping(values: Mapping[str, Any], *, source: str | None = None) -> Config:
    """Validate a mapping of config keys (as a config file defines them) into a Config.

    Unknown upper-case keys are not fatal (the original script's config may
    define helpers of its own) but each becomes a warning naming the nearest
    known key, so a typo (``CHECK_STAUTS``) is not silently ignored.
    """
    def err(key, message, value=..., camera=None):
        return ConfigError(key, message, value=value, camera=camera, path=source)

    warnings = []
    for key in values:
        if key not in KNOWN_KEYS:
            hint = _nearest(key, KNOWN_KEYS)
            warnings.append(f"{key}: unknown key, ignored" + (f" (did you mean {hint}?)" if hint else ""))
    kwargs: dict[str, Any] = {}
    for key, attr in _SCALAR_KEYS.items():
        if key in values:
            kwargs[attr] = _SCALAR_CHECKS[attr](key, values[key], err)
    _check_pins(values, err)
    marks_path = kwargs.get("marks_path", Config.__dataclass_fields__["marks_path"].default)
    if marks_path and not marks_path.startswith(WRITABLE_DIRS):
        warnings.append(f"MARKS_PATH {marks_path}: outside {' and '.join(d.rstrip('/') for d in WRITABLE_DIRS)}, "
                        "the only folders the unit lets the daemon write (ProtectSystem=strict): marks "
                        "may fail to be written")
    if "GOPROS" not in values:
        raise err("GOPROS", "missing: list the cameras, e.g. "
                  "GOPROS = [('wlan1', 'GP12345678', 'aa:bb:cc:dd:ee:01', 'd4:d9:19:9a:4c:01')]")
    mode = kwargs.get("network_mode", "bind")
    default_address = kwargs.get("camera_address")      # None: each family's default address
    cameras = _check_cameras(values["GOPROS"], mode, default_address, err)
    _check_ble(cameras, kwargs, err)
    if kwargs.get("gpio_bcm_pin") is None and kwargs.get("trigger_path", "/run/gopro-manager/trigger") is None:
        raise err("TRIGGER_PATH", "both GPIO_BCM_PIN and TRIGGER_PATH are None: nothing could ever "
                  "start a recording", value=None)
    kwargs["mqtt"] = check_mqtt(values, err)
    return Config(cameras=cameras, source=source, warnings=tuple(warnings), **kwargs)


# --- scalar checks ---------------------------------------------------------------------------

def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and v not in (float("inf"), float("-inf"))


def _number(lo, hi, *, optional=False, integer=False):
    def check(key, value, err):
        if value is None and optional:
            return None
        ok = _is_int(value) if integer else _is_number(value)
        kind = "a whole number" if integer else "a number of seconds"
        if not ok:
            raise err(key, f"must be {kind}{' or None' if optional else ''}", value)
        if not lo <= value <= hi:
            raise err(key, f"must be between {lo} and {hi}", value)
        return int(value) if integer else float(value)
    return check


def _choice(choices, *, optional=False):
    def check(key, value, err):
        if value is None and optional:
            return None
        if not isinstance(value, str) or value.lower() not in choices:
            raise err(key, "must be one of " + ", ".join(repr(c) for c in choices)
                      + (" or None" if optional else ""), value)
        return value.lower()
    return check


def _path(*, optional):
    def check(key, value, err):
        if value is None and optional:
            return None
        if not isinstance(value, (str, os.PathLike)) or not str(value):
            raise err(key, "must be a path string" + (" or None" if optional else ""), value)
        value = str(value)
        if "\0" in value or "\n" in value:
            raise err(key, "must not contain NUL or newline characters", value)
        try:
            os.fsencode(value)
        except UnicodeError:
            raise err(key, "is not a file name this system can encode", value) from None
        return value
    return check


def _executable(key, value, err):
    value = _path(optional=False)(key, value, err)
    if value.startswith("-"):
        raise err(key, "must not start with '-'", value)
    return value


def _bool(key, value, err):
    if not isinstance(value, bool):
        raise err(key, "must be True or False", value)
    return value


def _absolute_path(*, optional):
    plain = _path(optional=optional)

    def check(key, value, err):
        value = plain(key, value, err)
        if value is not None and not os.path.isabs(value):
            raise err(key, "must be an absolute path (the daemon's working directory is /run/gopro-manager)",
                      value)
        return value
    return check


def _check_pins(values: Mapping[str, Any], err) -> None:
    """Every configured pin of :data:`PIN_KEYS` used once: a button on the trigger's pin would
    start recordings by itself."""
    seen: dict[int, str] = {}
    for key in PIN_KEYS:
        pin = values.get(key)
        if pin is None or not _is_int(pin):
            continue
        if pin in seen:
            raise err(key, f"GPIO{pin} is already {seen[pin]}; every pin needs its own GPIO", pin)
        seen[pin] = key


def _ipv4(key, value, err):
    if not isinstance(value, str):  # ipaddress would take 167773449 for 10.0.0.9
        raise err(key, "must be an IPv4 address such as '10.5.5.9'", value)
    try:
        return str(ipaddress.IPv4Address(value))
    except (ValueError, TypeError):
        raise err(key, "must be an IPv4 address such as '10.5.5.9'", value) from None


def _adapter(key, value, err):
    if not isinstance(value, str) or not ADAPTER_RE.match(value):
        raise err(key, "must be a Bluetooth adapter name such as 'hci0'", value)
    return value


def _gpio_pin(key, value, err):
    if value is None:
        return None
    if not _is_int(value) or not 0 <= value <= 27:
        raise err(key, "must be a BCM GPIO number from 0 to 27, or None to disable the pin", value)
    return value


def _socket_path(key, value, err):
    """CONTROL_SOCKET: a path of at most 107 bytes (unix(7) ``sun_path``), or None."""
    value = _path(optional=True)(key, value, err)
    if value is not None and len(os.fsencode(value)) > 107:
        raise err(key, "is longer than 107 bytes, the most a Unix socket path may be (unix(7))", value)
    return value


_SCALAR_CHECKS = {
    "gpio_bcm_pin": _gpio_pin,
    "gpio_bounce_time": _number(0.0, 5.0),
    "gpio_pin_factory": _choice(PIN_FACTORIES, optional=True),
    "trigger_path": _path(optional=True),
    "check_status": _number(1, 3600, optional=True, integer=True),
    "cycle_seconds": _number(0.05, 60.0),
    "network_mode": _choice(NETWORK_MODES),
    "camera_address": _ipv4,
    "gatttool": _executable,
    "ble_adapter": _adapter,
    "status_path": _path(optional=True),
    "control_socket": _socket_path,
    "http_timeout": _number(0.1, 120.0),
    "connect_timeout": _number(0.05, 60.0),
    "wake_timeout": _number(1.0, 600.0),
    "ble_timeout": _number(1.0, 120.0),
    "ble_backend": _choice(BLE_BACKENDS),
    "ble_emu_dir": _path(optional=True),
    "legacy_ble": _choice(LEGACY_BLE_CHOICES),
    "keep_awake": _number(1.0, 3600.0, optional=True),
    "on_exit": _choice(ON_EXIT_CHOICES),
    "log_level": _choice(LOG_LEVELS),
    # issue 13 (in the car)
    "mark_bcm_pin": _gpio_pin,
    "record_bcm_pin": _gpio_pin,
    "led_bcm_pin": _gpio_pin,
    "ignition_bcm_pin": _gpio_pin,
    "ignition_grace": _number(0.0, 3600.0),
    "shutdown_on_ignition_off": _bool,
    "button_bounce_time": _number(0.0, 1.0),
    "mark_coalesce": _number(0.0, 60.0),
    "marks_path": _absolute_path(optional=True),
    "camera_clock": _choice(CAMERA_CLOCK_CHOICES),
    # offload (issue 10)
    "offload_dir": _path(optional=False),
    "offload_min_free": _number(0, 1 << 50, integer=True),
    "offload_after": _number(0.0, 86400.0, optional=True),
    "offload_what": _choice(("proxies-first", "in-order")),
}


# --- cameras ---------------------------------------------------------------------------------

def _check_cameras(value, mode, default_address, err) -> tuple[CameraConfig, ...]:
    if not isinstance(value, (list, tuple)):
        raise err("GOPROS", "must be a list of cameras (4-tuples or dicts)", value)
    if not value:
        raise err("GOPROS", "lists no camera", value)
    if len(value) > 16:
        raise err("GOPROS", f"lists {len(value)} cameras; at most 16 are supported")
    cameras = []
    for index, entry in enumerate(value):
        cameras.append(_check_camera(index, entry, mode, default_address, err))
    for attr, what in (("name", "name"), ("iface", "interface"), ("wifi_mac", "Wi-Fi MAC"),
                       ("bt_mac", "Bluetooth MAC")):
        seen: dict[str, str] = {}
        for cam in cameras:
            v = getattr(cam, attr)
            if v is None:
                continue
            if v.lower() in seen:
                raise err("GOPROS", f"{what} used by two cameras ({seen[v.lower()]!r} and {cam.name!r})",
                          v, camera=cam.name)
            seen[v.lower()] = cam.name
    seen_addr: dict[tuple, str] = {}
    for cam in cameras:
        if cam.control == "usb":   # every USB camera has an address of its own
            k = (cam.address, cam.http_port)
            if k in seen_addr:
                raise err("GOPROS", f"USB cameras {seen_addr[k]!r} and {cam.name!r} share an address; "
                          "their serials' last three digits must differ", f"{cam.address}:{cam.http_port}",
                          camera=cam.name)
            seen_addr[k] = cam.name
    if mode == "address":
        seen_addr = {}
        for cam in cameras:
            if cam.control == "ble":
                continue
            k = (cam.address, cam.http_port)
            if k in seen_addr:
                raise err("GOPROS", f"in NETWORK_MODE 'address' every camera needs its own address; "
                          f"{seen_addr[k]!r} and {cam.name!r} share", f"{cam.address}:{cam.http_port}",
                          camera=cam.name)
            seen_addr[k] = cam.name
    return tuple(cameras)


def _check_camera(index, entry, mode, default_address, err) -> CameraConfig:
    where = f"GOPROS[{index}]"
    if isinstance(entry, (tuple, list)):
        if len(entry) != 4:
            raise err(where, "a camera tuple must be a 4-tuple (iface, ssid, wifi_mac, bt_mac)", entry)
        raw = dict(zip(("iface", "ssid", "wifi_mac", "bt_mac"), entry, strict=True))
    elif isinstance(entry, Mapping):
        raw = dict(entry)
        for k in raw:
            if k not in _CAMERA_KEYS:
                hint = _nearest(str(k), _CAMERA_KEYS)
                shown = k if isinstance(k, str) and k.isidentifier() else repr(k)  # one-line message
                raise err(f"{where}.{shown}", "unknown camera key" + (f" (did you mean {hint!r}?)" if hint else ""),
                          camera=_guess_name(raw, index))
    else:
        raise err(where, "must be a 4-tuple (iface, ssid, wifi_mac, bt_mac) or a dict", entry)

    guess = _guess_name(raw, index)
    model = raw.get("model", "hero7")
    try:
        family = registry.family_for_model(model)
    except ConfigError:
        raise err(f"{where}.model", "must be one of " + ", ".join(registry.models()), model,
                  camera=guess) from None
    model = model.lower()
    control = raw.get("control", "wifi")
    if not isinstance(control, str) or control.lower() not in CONTROLS:
        raise err(f"{where}.control", "must be one of " + ", ".join(CONTROLS), control, camera=guess)
    control = control.lower()
    refused = family.refuse_control(model, control)
    if refused:
        raise err(f"{where}.control", refused, control, camera=guess)

    iface = raw.get("iface")
    if iface is None:
        if mode != "address" and control == "wifi":
            raise err(f"{where}.iface", f"is required in NETWORK_MODE {mode!r} (the Wi-Fi interface "
                      "that reaches this camera)", iface, camera=guess)
    elif not isinstance(iface, str) or not IFACE_RE.match(iface):
        raise err(f"{where}.iface", "must be a Linux interface name such as 'wlan1'", iface, camera=guess)
    elif control != "wifi":
        raise err(f"{where}.iface", f"a camera with control {control!r} uses no Wi-Fi interface; "
                  "remove 'iface'", iface, camera=guess)

    name = raw.get("name")
    if name is None:
        name = iface or f"cam{index + 1}"
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise err(f"{where}.name", "must be 1–32 letters, digits, '_', '.', '-'", name)

    def field_err(key, message, value):
        return err(f"{where}.{key}", message, value, camera=name)

    ssid = raw.get("ssid")
    if ssid is not None and (not isinstance(ssid, str) or not ssid.isprintable()
                             or not 0 < len(ssid.encode()) <= 32):
        raise field_err("ssid", "must be the camera's AP name (1–32 bytes)", ssid)

    macs = {}
    for key in ("wifi_mac", "bt_mac"):
        v = raw.get(key)
        if v is not None and (not isinstance(v, str) or not MAC_RE.match(v)):
            raise field_err(key, "must be a MAC address such as 'd4:d9:19:9a:4c:7b'", v)
        macs[key] = v.lower() if v else None

    if macs["bt_mac"] is None:
        if control == "ble":
            raise field_err("bt_mac", "is required with control 'ble' (the camera's Bluetooth address; "
                            "pair it once with bluetoothctl)", None)

    serial = raw.get("serial")
    if serial is not None and (not isinstance(serial, str) or not SERIAL_RE.match(serial)
                               or not serial[-3:].isdigit()):
        raise field_err("serial", "must be the camera's serial number (letters and digits, ending in "
                        "three digits), e.g. 'C3501324645504'", serial)
    if control == "usb":
        if "address" in raw:
            address = raw["address"]
        elif serial is None:
            raise field_err("serial", "is required with control 'usb': the camera's USB address "
                            "172.2X.1YZ.51 comes from the last three digits XYZ of its serial", None)
        else:
            address = usb_address(serial)
    else:
        address = raw.get("address", family.default_address if default_address is None or family.fixed_address
                          else default_address)
    try:
        if not isinstance(address, str):  # ipaddress would take 167773449 for 10.0.0.9
            raise TypeError(address)
        address = str(ipaddress.IPv4Address(address))
    except (ValueError, TypeError):
        raise field_err("address", "must be an IPv4 address", address) from None

    ports = {}
    for key, default in (("http_port", family.default_http_port), ("wol_port", 9)):
        v = raw.get(key, default)
        if not _is_int(v) or not 1 <= v <= 65535:
            raise field_err(key, "must be a port number from 1 to 65535", v)
        ports[key] = v

    cam = CameraConfig(name=name, iface=iface, ssid=ssid, wifi_mac=macs["wifi_mac"],
                       bt_mac=macs["bt_mac"], model=model, control=control,
                       address=address, serial=serial, **ports)
    for key, message, value in family.validate(cam):        # the family's own rules
        raise field_err(key, message, value)
    return cam


def usb_address(serial: str) -> str:
    """The address of an Open GoPro camera on its USB-C port: ``172.2X.1YZ.51``.

    X, Y, Z are the last three digits of the serial number (openapi_http_2.0.json,
    info.description, "Socket Address" → "USB"): serial C0000123456789 → 172.27.189.51.
    """
    digits = serial[-3:]
    if len(digits) != 3 or not digits.isdigit():
        raise ValueError(f"serial {serial!r} does not end in three digits")
    return f"172.2{digits[0]}.1{digits[1]}{digits[2]}.51"


def _check_ble(cameras, kwargs, err) -> None:
    """Cross-camera BLE checks: the per-adapter connection limit and the emulated backend's directory.

    Cameras that keep their BLE connection open (control 'ble', and what their family's
    ``holds_ble`` says: every HERO9, whose shutter goes over BLE) hold one of the ~4 LE
    connections BlueZ manages per adapter (DESIGN.md field facts). Legacy cameras and Wi-Fi/USB
    HERO10+ connect only briefly to wake, so they do not count.
    """
    adapter = kwargs.get("ble_adapter", "hci0")
    held = [c.name for c in cameras
            if c.control == "ble" or registry.family_for_model(c.model, camera=c.name).holds_ble(c)]
    if len(held) > MAX_BLE_PER_ADAPTER:
        raise err("GOPROS", f"{len(held)} cameras keep a BLE connection open on adapter {adapter} "
                  f"({', '.join(held)}); BlueZ manages about {MAX_BLE_PER_ADAPTER} per adapter: "
                  "control the others over Wi-Fi or USB", len(held), camera=held[MAX_BLE_PER_ADAPTER])
    if kwargs.get("ble_backend") == "emulated" and not kwargs.get("ble_emu_dir"):
        raise err("BLE_EMU_DIR", "is required with BLE_BACKEND 'emulated' (the directory of the emulated "
                  "cameras' control sockets)", None)


def _guess_name(raw, index):
    name = raw.get("name") or raw.get("iface")
    return name if isinstance(name, str) else f"cam{index + 1}"


def _nearest(word: str, choices) -> str | None:
    """The choice closest to ``word`` by edit distance, if it is close (≤ 2 edits)."""
    best, best_d = None, 3
    for c in choices:
        d = _distance(word.upper(), str(c).upper())
        if d < best_d:
            best, best_d = c, d
    return best


def _distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


# --- MQTT, the pit wall (issue 15) ------------------------------------------------------------

#: topic-safe car name: it is one level of every topic (no ``/``, ``+``, ``#``) and part of Home
#: Assistant's unique_id/object_id (``[a-zA-Z0-9_-]``)
CAR_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")
MQTT_SCHEMES = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttConfig:
    """The MQTT publisher's settings (issue 15), from ``MQTT_URL`` and its sibling keys.

    ``host``/``port``: the broker (``mqtt://`` defaults to 1883, ``mqtts://`` to 8883 and TLS);
    ``username``: from the URL, or None; ``password_file``: the file the password is read from
    at each connect (never the URL, never the Config: no credential in a repr or a log line);
    ``ca_file``: CA bundle for ``mqtts`` (None: the system's); ``car``: the topic level
    ``gopro-manager/<car>/…``; ``min_interval``: seconds between two publishes of one topic;
    ``commands``: accept commands on ``gopro-manager/<car>/cmd``.
    """

    host: str
    port: int
    tls: bool
    car: str
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    min_interval: float = 0.5
    commands: bool = False

    @property
    def url(self) -> str:
        """The broker as a URL for logs: never a password (there is none in it)."""
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def _redacted_url(value: str) -> str:
    """``value`` with any password in it replaced by ``***`` (for an error message)."""
    return re.sub(r"(//[^/@:]*):[^/@]*@", r"\1:***@", value)


def check_mqtt(values: Mapping[str, Any], err) -> MqttConfig | None:
    """Validate the MQTT block: None when ``MQTT_URL`` is absent or None (the other MQTT keys are
    then not looked at: ``MQTT_URL = None`` switches MQTT off and keeps the rest for later).

    :raises ConfigError: naming the key: a URL that is not ``mqtt[s]://[user@]host[:port]``, a
        password in the URL (it belongs in ``MQTT_PASSWORD_FILE``; the message shows the URL with
        the password replaced by ``***``), a missing or unreadable password or CA file, a car
        name that is not topic-safe, a bad interval or a non-bool ``MQTT_COMMANDS``.
    """
    import urllib.parse

    url = values.get("MQTT_URL")
    if url is None:             # MQTT off; the other keys may stay (MQTT_URL = None switches it off)
        return None
    if not isinstance(url, str):
        raise err("MQTT_URL", "must be a string such as 'mqtts://car1@broker.local:8883'", url)
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise err("MQTT_URL", f"not a URL ({exc})", _redacted_url(url)) from None
    if parts.password is not None:
        raise err("MQTT_URL", "has a password in it; put the password in the file MQTT_PASSWORD_FILE names "
                  "(a URL ends up in logs, a file does not)", _redacted_url(url))
    if parts.scheme not in MQTT_SCHEMES:
        raise err("MQTT_URL", "must start with mqtt:// (plain TCP) or mqtts:// (TLS)", url)
    if not parts.hostname:
        raise err("MQTT_URL", "names no broker host", url)
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise err("MQTT_URL", "must be only mqtt[s]://[user@]host[:port], no path or query", url)
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password_file = values.get("MQTT_PASSWORD_FILE")
    if password_file is not None:
        password_file = _path(optional=False)("MQTT_PASSWORD_FILE", password_file, err)
        if username is None:
            raise err("MQTT_PASSWORD_FILE", "set, but MQTT_URL names no user (mqtts://USER@host)", password_file)
        if not os.access(password_file, os.R_OK) or not os.path.isfile(password_file):
            raise err("MQTT_PASSWORD_FILE", "is not a readable file", password_file)
    ca_file = values.get("MQTT_CA_FILE")
    if ca_file is not None:
        ca_file = _path(optional=False)("MQTT_CA_FILE", ca_file, err)
        if parts.scheme != "mqtts":
            raise err("MQTT_CA_FILE", "set, but MQTT_URL is mqtt:// (no TLS): use mqtts://", ca_file)
        if not os.access(ca_file, os.R_OK) or not os.path.isfile(ca_file):
            raise err("MQTT_CA_FILE", "is not a readable file", ca_file)
    car = values.get("CAR_NAME")
    if car is None:
        raise err("CAR_NAME", "missing: MQTT_URL is set, and every car needs a name of its own on the broker "
                  "(topics gopro-manager/<CAR_NAME>/...), e.g. CAR_NAME = 'car7'")
    if not isinstance(car, str) or not CAR_NAME_RE.match(car):
        raise err("CAR_NAME", "must be 1-32 letters, digits, '_' or '-', starting with a letter or digit "
                  "(it is a topic level: no '/', '+', '#')", car)
    min_interval = _number(0.0, 3600.0)("MQTT_MIN_INTERVAL", values.get("MQTT_MIN_INTERVAL", 0.5), err)
    commands = values.get("MQTT_COMMANDS", False)
    if not isinstance(commands, bool):
        raise err("MQTT_COMMANDS", "must be True or False", commands)
    return MqttConfig(host=parts.hostname, port=port or MQTT_SCHEMES[parts.scheme], tls=parts.scheme == "mqtts",
                      car=car, username=username, password_file=password_file, ca_file=ca_file,
                      min_interval=min_interval, commands=commands)
