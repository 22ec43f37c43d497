"""The camera family registry: which models exist, and what each family needs to run one.

A *family* is a set of models that speak one protocol (``gopro_legacy``: HERO5–8 gpControl;
``open_gopro``: HERO9–13). Each lives in a package ``camrig/cameras/<family>/`` holding its
driver, waker and BLE parts, and declares one :class:`Family` (its ``FAMILY``) naming its models,
defaults, config rules, how to build a camera's parts and which emulator stands in for it. The
config (:mod:`camrig.config`), the assembly (:func:`camrig.app.build_camera`) and the emulated
rig ask this module instead of branching on the family::

    config.py ──model──▶ family_for_model() ──▶ Family(models, controls, default_http_port,
    app.py ─────────────▶                         default_address, check_control, validate,
    emulator/rig.py ────▶                         holds_ble, build, emulator, emulator_args)
    tests/rig ──────────▶

Adding a family: one package with a ``FAMILY`` and one line in :data:`BUILTIN`. Tests add one
with :func:`register` (and take it away with :func:`unregister`). Families are loaded on first
use, so importing the registry (or the config) imports no driver, BLE stack or pexpect.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError

if TYPE_CHECKING:
    from ..config import CameraConfig, Config
    from .base import CameraParts, Shared

#: The families shipped with the daemon: module paths, each with a ``FAMILY``. Order = listing order.
BUILTIN = (
    "camrig.cameras.gopro_legacy",
    "camrig.cameras.open_gopro",
    "camrig.cameras.olympus",
)

#: Every control path the daemon knows: a camera's own Wi-Fi AP through an adapter of its own,
#: its USB-C port (Open GoPro wired control, NCM), or Bluetooth LE alone.
CONTROLS = ("wifi", "usb", "ble")

#: One config problem: (camera key such as ``"bt_mac"``, message, the offending value).
Problem = tuple[str, str, Any]


def _no_problems(cam: CameraConfig) -> list[Problem]:
    return []


def _holds_no_ble(cam: CameraConfig) -> bool:
    return False


@dataclass(frozen=True)
class EmulatorSpec:
    """One emulated camera as a rig (``camrig.emulator.rig``, ``tests.rig``) wants it played.

    ``name`` (the config's camera name), ``model`` (``"hero12"``), ``control`` (``"wifi"``,
    ``"usb"`` or ``"ble"``), ``k`` (the rig's camera number, from 1). ``control_socket``: path of
    the emulator's AF_UNIX control socket. ``listen``: IPv4 address its servers bind (``0.0.0.0``
    in a namespace); ``netdev``: the camera-side network device whose link it takes down for
    "Wi-Fi off" (None: it closes its sockets instead). ``address``: where the daemon reaches it
    (the family's ``default_address`` behind a car adapter, 127.0.0.K on loopback).
    ``http_port``/``media_port`` TCP, ``wol_port`` UDP. ``wifi_mac``/``bt_mac`` as the config
    gives them. ``delay_ms``: wait before every answer (ms). ``association_delay``: seconds from
    BLE Wi-Fi-on to the link up; ``boot_delay``: seconds from power-on to ready. ``start``: None,
    ``"asleep"``, ``"awake"`` or ``"wifi-off"``. ``auto_sleep``: seconds of idleness before an
    auto power down (0 never; families that have one). ``idle_wifi_off``: seconds of idleness
    before the Wi-Fi goes off although polled (0 never; families that do that). ``media_dir``: the
    emulated SD card's directory (None: none); ``record_template``: the MP4 a new recording's
    files start from (None: the emulator's own); ``media_seed``: sizes of recordings put on the
    card at start (``"3MB"``). ``extra``: more arguments a test asks for, appended last as they are.
    """

    name: str
    model: str
    control: str
    k: int
    control_socket: str
    listen: str
    address: str
    http_port: int
    media_port: int
    wol_port: int
    wifi_mac: str
    bt_mac: str
    netdev: str | None = None
    delay_ms: float = 20
    association_delay: float = 2.0
    boot_delay: float = 0.5
    start: str | None = None
    auto_sleep: float = 0.0
    idle_wifi_off: float = 0.0
    media_dir: str | None = None
    record_template: str | None = None
    media_seed: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    def common_args(self) -> list[str]:
        """The arguments every GoPro emulator (:mod:`camrig.emulator.legacy_gopro`,
        :mod:`camrig.emulator.open_gopro`) takes: ``--name --control --listen [--netdev] --port
        --media-port --wol-port --wifi-mac --bt-mac --delay-ms --association-delay --boot-delay
        [--start] [--media DIR [--record-template MP4] [--seed SIZES]]`` (docs/contracts.md,
        "Emulated cameras")."""
        args = ["--name", self.name, "--control", self.control_socket, "--listen", self.listen,
                "--port", str(self.http_port), "--media-port", str(self.media_port),
                "--wol-port", str(self.wol_port), "--wifi-mac", self.wifi_mac, "--bt-mac", self.bt_mac,
                "--delay-ms", str(self.delay_ms), "--association-delay", str(self.association_delay),
                "--boot-delay", str(self.boot_delay)]
        if self.netdev:
            args += ["--netdev", self.netdev]
        if self.start:
            args += ["--start", self.start]
        if self.media_dir:
            args += ["--media", self.media_dir]
            if self.record_template:
                args += ["--record-template", self.record_template]
            if self.media_seed:
                args += ["--seed", ",".join(self.media_seed)]
        return args


def _common_emulator_args(spec: EmulatorSpec) -> list[str]:
    return spec.common_args() + list(spec.extra)


@dataclass(frozen=True)
class Family:
    """One camera family.

    ``name``: the package name (``"open_gopro"``). ``title``: for people (``"Open GoPro"``).
    ``models``: lower-case model names a camera entry may give (``"hero12"``). ``controls``: the
    control paths (of :data:`CONTROLS`) its cameras may use. ``default_http_port`` (TCP port) and
    ``default_address`` (IPv4; ``CAMERA_ADDRESS`` overrides it when set) fill a camera entry that
    gives none. ``build(config, cam, shared) -> CameraParts``: the camera's link, HTTP client,
    driver and waker (:class:`camrig.cameras.base.CameraParts`); may raise ConfigError naming the
    camera (a BLE stack missing). ``check_control(model, control) -> message or None``: refuse a
    model/control pair (None: only ``controls`` is checked). ``validate(cam) -> [Problem]``: the
    family's rules on a whole entry (a HERO9 needs ``bt_mac``). ``holds_ble(cam)``: the camera
    keeps a BLE connection open (counted against the adapter's limit in the config).
    ``emulator``: module run as ``python -m <emulator>`` for an emulated camera of this family
    (:mod:`camrig.emulator.rig`, :mod:`tests.rig`), None if there is none.
    ``emulator_args(spec: EmulatorSpec) -> [str]``: that module's command-line arguments for one
    emulated camera (default: :meth:`EmulatorSpec.common_args` plus ``spec.extra``); a family
    whose emulator takes other flags says so here, so the rigs never branch on the family.
    ``shared(config, previous) -> object``:
    what the family's cameras share (the legacy gatttool runner), made once per assembly and
    updated in place from ``config`` on a reload (``previous`` is the object made before, or None);
    a camera finds it as ``shared.family[family.name]``. ``fixed_address``: see the field.
    """

    name: str
    title: str
    models: tuple[str, ...]
    build: Callable[[Config, CameraConfig, Shared], CameraParts]
    controls: tuple[str, ...] = ("wifi",)
    default_http_port: int = 80
    default_address: str = "10.5.5.9"
    check_control: Callable[[str, str], str | None] | None = None
    validate: Callable[[CameraConfig], list[Problem]] = _no_problems
    holds_ble: Callable[[CameraConfig], bool] = _holds_no_ble
    emulator: str | None = None
    emulator_args: Callable[[EmulatorSpec], list[str]] = _common_emulator_args
    shared: Callable[[Config, Any], Any] | None = None
    #: ``default_address`` is the camera's own (an Olympus is always 192.168.0.10): ``CAMERA_ADDRESS``,
    #: the GoPros' shared address, does not replace it (an entry's ``address`` still does).
    fixed_address: bool = False

    def refuse_control(self, model: str, control: str) -> str | None:
        """Why ``model`` cannot be driven over ``control`` (a message), or None when it can."""
        if self.check_control is not None:
            message = self.check_control(model, control)
            if message:
                return message
        if control not in self.controls:
            return (f"a {model.upper()} ({self.title}) is controlled over {' or '.join(self.controls)} only")
        return None


_families: dict[str, Family] = {}
_lock = threading.RLock()
_loaded = False


def _load_builtin() -> None:
    global _loaded
    with _lock:
        if _loaded:
            return
        _loaded = True
        for module in BUILTIN:
            register(importlib.import_module(module).FAMILY)


def register(family: Family) -> Family:
    """Add ``family``; returns it. Raises ValueError when its name is taken or one of its models
    already belongs to another family (a model has exactly one family)."""
    with _lock:
        if family.name in _families:
            raise ValueError(f"camera family {family.name!r} is already registered")
        for other in _families.values():
            shared = set(other.models) & set(family.models)
            if shared:
                raise ValueError(f"camera family {family.name!r}: models {sorted(shared)} already "
                                 f"belong to {other.name!r}")
        bad = [c for c in family.controls if c not in CONTROLS]
        if bad or not family.models:
            raise ValueError(f"camera family {family.name!r}: no models, or unknown controls {bad}")
        _families[family.name] = family
        return family


def unregister(name: str) -> None:
    """Remove the family called ``name`` (tests); KeyError if there is none."""
    with _lock:
        del _families[name]


def families() -> tuple[Family, ...]:
    """Every registered family, the built-in ones first."""
    _load_builtin()
    with _lock:
        return tuple(_families.values())


def models() -> tuple[str, ...]:
    """Every model name any family accepts, in family order."""
    return tuple(m for f in families() for m in f.models)


def family(name: str) -> Family:
    """The family called ``name``; KeyError if there is none."""
    _load_builtin()
    with _lock:
        return _families[name]


def family_for_model(model: str, *, key: str = "model", camera: str | None = None) -> Family:
    """The family that drives ``model`` (case-insensitive). Raises ConfigError under ``key``
    naming ``camera`` and listing every known model when no family has it."""
    if isinstance(model, str):
        wanted = model.lower()
        for fam in families():
            if wanted in fam.models:
                return fam
    raise ConfigError(key, "must be one of " + ", ".join(models()), value=model, camera=camera)
