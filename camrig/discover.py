"""``gopro_manager.py discover [--json] [--apply]``: find the cameras and the Wi-Fi adapters, propose the config.

1. **Bluetooth LE scan** (bleak, BlueZ over D-Bus) for GoPros: an advertisement carrying the
   16-bit service UUID ``FEA6`` (Open GoPro BLE spec, "BLE Setup" → "Advertisements": "Always
   0xFEA6. This can be used to filter for GoPros"; a camera advertises only once put in pairing
   mode, while on and 8 h after sleeping) or a local name ``GoPro XXXX`` (the last four digits of
   the serial: unverified, docs/models.md "Setup"). Name, address, RSSI (dBm).
2. **Identify** each camera where it can connect: Open GoPro "Get Hardware Info" (command
   ``3C`` on GP-0072, answer on GP-0073: model number, model name, firmware, serial, AP SSID,
   AP MAC; polled until it answers success, "Wait for Camera BLE Readiness"), parsed by
   :func:`camrig.cameras.open_gopro.protocol.parse_hardware_info`. A legacy camera (HERO5–8) has
   no such command: only its name is known, and its model must be typed in.
3. **Wi-Fi adapters** from sysfs (``/sys/class/net/*``: ``wireless``/``phy80211`` present,
   ``address``, ``device/driver``) and ``iw dev IFACE link`` (associated BSSID and SSID; parsed by
   :func:`camrig.wake.parse_iw_link`). The Raspberry Pi's on-board adapter (driver ``brcmfmac``)
   is left for the Pi's own network.
4. **Proposals**: one ``GOPROS`` entry per camera (the dict form), a udev rule pinning each
   camera adapter's name to its MAC, and the NetworkManager commands that join each camera's AP
   on its adapter (``nmcli … ifname …``; the password is asked by ``nmcli --ask`` and kept by
   NetworkManager, never in the config). The pinned names are ``wlcam1``, ``wlcam2``, …, not
   ``wlanN``: systemd.link(5), ``Name=``, warns that a name in the kernel's own namespace (such
   as ``eth0``) races with the kernel's naming.
5. ``--apply`` writes the udev rule and adds the NetworkManager connections after asking.

Backends: ``bleak`` (BlueZ) or ``emulated``: the emulated cameras' control sockets in
``--emu-dir`` (each ``<btmac>.sock``, camrig/emulator/ble_client.py) stand in for the radio. The
emulators do not advertise; the emulated scan makes each one's advertisement from its control
socket's ``state``: the name ``GoPro`` + the last four hex digits of its Bluetooth address, RSSI
-50 dBm, service ``FEA6`` (the stand-in's choice, not a camera's behaviour). Identification then
goes through :class:`camrig.emulator.ble_client.EmulatedBleakClient` exactly as through bleak.

Exit status (``EXIT_*``): 0 found cameras and proposed; 1 the scan found no GoPro; 2 usage; 3 no
Bluetooth adapter; 4 BlueZ or the D-Bus system bus not running; 5 permission denied on D-Bus;
6 two cameras advertise the same name (still proposed, told apart by address); 7 no Wi-Fi
adapter for a camera (still proposed, without ``iface``); 8 ``--apply`` declined or failed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from camrig.wake import IwLink, run_iw_link

EXIT_OK = 0
EXIT_NOTHING_FOUND = 1
EXIT_USAGE = 2
EXIT_NO_BT_ADAPTER = 3
EXIT_BLUEZ_NOT_RUNNING = 4
EXIT_DBUS_DENIED = 5
EXIT_DUPLICATE_NAMES = 6
EXIT_NO_WIFI_ADAPTER = 7
EXIT_APPLY_FAILED = 8

#: GoPro's 16-bit service UUID in the advertisement, as the 128-bit Bluetooth base UUID form bleak reports.
GOPRO_SERVICE_UUID = "0000fea6-0000-1000-8000-00805f9b34fb"
NAME_RE = re.compile(r"^GoPro \w{4}$")
#: Where ``--apply`` writes the adapter names (camrig/doctor.py reads the same file).
UDEV_RULE = Path("/etc/udev/rules.d/70-gopro-manager-wifi.rules")
#: The driver of the Raspberry Pi's on-board Wi-Fi (Broadcom FullMAC), left for the Pi's own network.
ONBOARD_DRIVERS = frozenset({"brcmfmac"})
IFACE_PREFIX = "wlcam"


class DiscoverError(Exception):
    """Why the scan cannot run: ``exit_code`` (an ``EXIT_*``) and a message that says what to do."""

    def __init__(self, exit_code: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code


@dataclasses.dataclass
class Advertisement:
    """One GoPro seen in the scan: ``name`` (local name), ``address`` (Bluetooth address, upper
    case), ``rssi`` (dBm, None when not reported), ``service_uuids`` (128-bit, lower case)."""

    name: str
    address: str
    rssi: int | None
    service_uuids: tuple[str, ...] = ()


@dataclasses.dataclass
class Camera:
    """A camera found: its advertisement, and what Get Hardware Info said (None: not read).
    ``model`` is the config's model name (``hero12``) or None; ``note`` why nothing was read."""

    name: str
    address: str
    rssi: int | None
    model_name: str | None = None
    model: str | None = None
    serial: str | None = None
    firmware: str | None = None
    ap_ssid: str | None = None
    ap_mac: str | None = None
    note: str | None = None


@dataclasses.dataclass
class WifiAdapter:
    """A Wi-Fi interface: ``name``, ``driver`` (None when sysfs has no driver link), ``mac`` (lower
    case), ``bssid``/``ssid`` of the AP it is associated with (None: not associated or unknown),
    ``onboard`` (the Pi's own adapter, not proposed for a camera)."""

    name: str
    driver: str | None
    mac: str
    bssid: str | None = None
    ssid: str | None = None
    onboard: bool = False


@dataclasses.dataclass
class Proposal:
    """``gopros`` (config dict entries), ``udev_rule`` (the file's text), ``nmcli`` (argv lists,
    in order), ``warnings`` (text), ``exit_code`` (0, 6 or 7)."""

    gopros: list[dict[str, Any]]
    udev_rule: str
    nmcli: list[list[str]]
    warnings: list[str]
    exit_code: int = EXIT_OK


# --- the scan ------------------------------------------------------------------------------------

def is_gopro(name: str | None, service_uuids: Sequence[str]) -> bool:
    """True for an advertisement with the FEA6 service or a ``GoPro XXXX`` name."""
    return GOPRO_SERVICE_UUID in [u.lower() for u in service_uuids] or bool(name and NAME_RE.match(name))


def _bleak_error(exc: BaseException, adapter: str) -> DiscoverError:
    """Map what bleak/dbus-fast raise to a DiscoverError (exit code and what to do)."""
    text = f"{type(exc).__name__}: {exc}"
    name = getattr(exc, "dbus_error", None) or (exc.args[0] if exc.args and isinstance(exc.args[0], str) else "")
    if isinstance(exc, PermissionError) or name == "org.freedesktop.DBus.Error.AccessDenied" \
            or "DENIED" in str(getattr(exc, "reason", "")):
        return DiscoverError(EXIT_DBUS_DENIED, f"permission denied on the D-Bus system bus ({text}): run it as "
                                               "root (sudo), or allow this user in /etc/dbus-1/system.d/bluetooth.conf")
    if isinstance(exc, (FileNotFoundError, ConnectionRefusedError)):
        return DiscoverError(EXIT_BLUEZ_NOT_RUNNING, f"no D-Bus system bus ({text}): sudo systemctl start dbus "
                                                     "bluetooth")
    if name in ("org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner"):
        return DiscoverError(EXIT_BLUEZ_NOT_RUNNING, "BlueZ is not running (org.bluez is not on the system bus): "
                                                     "sudo apt install bluez && sudo systemctl enable --now bluetooth")
    if "not found" in str(exc).lower() and "adapter" in str(exc).lower() or \
            str(getattr(exc, "reason", "")).endswith(("NO_BLUETOOTH", "NO_BLE_CENTRAL_ROLE")):
        return DiscoverError(EXIT_NO_BT_ADAPTER, f"no Bluetooth adapter {adapter} ({exc}): plug one in, or name "
                                                 "another with --adapter (bluetoothctl list)")
    if str(getattr(exc, "reason", "")).endswith("POWERED_OFF"):
        return DiscoverError(EXIT_NO_BT_ADAPTER, f"Bluetooth adapter {adapter} is off ({exc}): "
                                                 "bluetoothctl power on; rfkill unblock bluetooth")
    return DiscoverError(EXIT_BLUEZ_NOT_RUNNING, f"the Bluetooth scan failed ({text}): is BlueZ running? "
                                                 "systemctl status bluetooth")


async def _scan_bleak(timeout: float, adapter: str) -> list[Advertisement]:
    from bleak import BleakScanner
    found = await BleakScanner.discover(timeout=timeout, return_adv=True, bluez={"adapter": adapter})
    out = []
    for device, adv in found.values():
        name = adv.local_name or device.name
        if is_gopro(name, adv.service_uuids):
            out.append(Advertisement(name or "?", device.address.upper(), adv.rssi,
                                     tuple(u.lower() for u in adv.service_uuids)))
    return out


def _emulated_state(sock: Path, timeout: float) -> dict | None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock))
            s.sendall(b'{"op": "state"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer = json.loads(data)
        return answer if answer.get("ok") else None
    except (OSError, ValueError):
        return None


def scan_emulated(emu_dir: str | os.PathLike, *, timeout: float = 2.0) -> list[Advertisement]:
    """The emulated cameras in ``emu_dir`` as advertisements (see the module docstring); a
    camera powered off does not advertise. Raises DiscoverError(3) when the directory is missing."""
    root = Path(emu_dir)
    if not root.is_dir():
        raise DiscoverError(EXIT_NO_BT_ADAPTER, f"no emulated Bluetooth: {root} is not a directory (--emu-dir)")
    out = []
    for sock in sorted(root.glob("*.sock")):
        state = _emulated_state(sock, timeout)
        if state is None or state.get("power") == "off":
            continue
        mac = str(state.get("bt_mac") or sock.stem).upper()
        if ":" not in mac:
            mac = ":".join(mac[i:i + 2] for i in range(0, 12, 2))
        out.append(Advertisement(f"GoPro {mac.replace(':', '')[-4:]}", mac, -50, (GOPRO_SERVICE_UUID,)))
    return out


def scan(backend: str = "bleak", *, adapter: str = "hci0", emu_dir: str | None = None,
         timeout: float = 5.0) -> list[Advertisement]:
    """Scan ``timeout`` seconds for GoPros → advertisements, by address. Raises DiscoverError."""
    if backend == "emulated":
        if not emu_dir:
            raise DiscoverError(EXIT_USAGE, "--backend emulated needs --emu-dir")
        return scan_emulated(emu_dir)
    try:
        import bleak  # noqa: F401
    except ImportError as exc:
        raise DiscoverError(EXIT_BLUEZ_NOT_RUNNING, f"bleak is not installed ({exc}): "
                                                    "pip install -r requirements.txt") from None
    try:
        return asyncio.run(asyncio.wait_for(_scan_bleak(timeout, adapter), timeout + 15))
    except TimeoutError:
        raise DiscoverError(EXIT_BLUEZ_NOT_RUNNING, f"the Bluetooth scan did not end within {timeout + 15:g} s: "
                                                    "systemctl restart bluetooth") from None
    except Exception as exc:  # bleak's errors, dbus-fast's, OSError: all mapped to a message
        raise _bleak_error(exc, adapter) from None


# --- identification: Get Hardware Info -------------------------------------------------------

def config_model(model_name: str | None) -> str | None:
    """``"HERO12 Black"`` → ``"hero12"`` (the config's model names); None when not a HERO5–13."""
    m = re.search(r"HERO\s?(\d+)", model_name or "", re.I)
    if m and 5 <= int(m.group(1)) <= 13:
        return f"hero{int(m.group(1))}"
    return None


async def hardware_info(make_client: Callable[..., Any], address: str, *, timeout: float = 10.0) -> dict[str, bytes]:
    """Connect, ask Get Hardware Info (``3C``) until it answers success, disconnect.

    ``make_client(address, disconnected_callback)`` is :func:`camrig.ble.loop.client_factory`'s
    factory (bleak or the emulated stand-in). Returns the fields of
    :func:`~camrig.cameras.open_gopro.protocol.parse_hardware_info`. Raises whatever the client
    raises on connect/write, TimeoutError after ``timeout`` seconds without success."""
    from camrig.cameras.open_gopro import protocol as p

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    client = make_client(address, None)
    await client.connect()
    try:
        answers: asyncio.Queue[bytes] = asyncio.Queue()
        reassembler = p.Reassembler()

        def on_notify(_char: Any, data: bytearray) -> None:
            try:
                message = reassembler.feed(bytes(data))
            except p.ProtocolError:
                return
            if message and message[0] == p.CMD_GET_HARDWARE_INFO:
                answers.put_nowait(message)

        await client.start_notify(p.COMMAND_RESPONSE, on_notify)
        while True:
            for packet in p.packetize(p.get_hardware_info()):
                await client.write_gatt_char(p.COMMAND, packet, response=True)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no Get Hardware Info answer from {address} within {timeout:g} s")
            response = p.parse_response(await asyncio.wait_for(answers.get(), remaining))
            if response.ok:
                return p.parse_hardware_info(response.rest)
            await asyncio.sleep(0.2)               # not ready yet: ask again
    finally:
        await client.disconnect()


def identify(adverts: list[Advertisement], make_client: Callable[..., Any] | None, *,
             timeout: float = 10.0) -> list[Camera]:
    """A :class:`Camera` per advertisement, with model/serial/AP where Get Hardware Info answers."""
    cams = []
    for adv in adverts:
        cam = Camera(adv.name, adv.address, adv.rssi)
        if make_client is None:
            cam.note = "not connected (--no-connect)"
        else:
            try:
                info = asyncio.run(hardware_info(make_client, adv.address, timeout=timeout))
            except Exception as exc:  # a legacy camera, not paired, out of range: the name only
                cam.note = (f"model not readable over BLE ({type(exc).__name__}: {exc}): a HERO5–8 (legacy) "
                            "has no Get Hardware Info; or pair it first")
            else:
                def text(key: str, info: dict[str, bytes] = info) -> str | None:
                    return info[key].decode(errors="replace") if info.get(key) else None
                cam.model_name, cam.serial, cam.firmware = text("model_name"), text("serial_number"), \
                    text("firmware_version")
                cam.ap_ssid = text("ap_ssid")
                raw = text("ap_mac_address")
                if raw and re.fullmatch(r"[0-9A-Fa-f]{12}", raw):
                    raw = ":".join(raw[i:i + 2] for i in range(0, 12, 2))
                cam.ap_mac = raw.lower() if raw else None
                cam.model = config_model(cam.model_name)
        cams.append(cam)
    return cams


# --- Wi-Fi adapters --------------------------------------------------------------------------

def wifi_adapters(sysfs: str | os.PathLike = "/sys/class/net", *, iw: str = "iw",
                  run: Callable[..., Any] = subprocess.run) -> list[WifiAdapter]:
    """The Wi-Fi interfaces under ``sysfs`` (``/sys/class/net``), by name, each with what
    ``iw dev NAME link`` says (``run`` runs it; injectable for tests)."""
    root = Path(sysfs)
    if not root.is_dir():
        return []
    out = []
    for dev in sorted(root.iterdir(), key=lambda d: d.name):
        if not ((dev / "wireless").exists() or (dev / "phy80211").exists()):
            continue
        try:
            mac = (dev / "address").read_text().strip().lower()
        except OSError:
            continue
        driver_link = dev / "device" / "driver"
        driver = os.path.basename(os.readlink(driver_link)) if driver_link.is_symlink() else None
        link: IwLink = run_iw_link(dev.name, iw=iw, run=run)
        out.append(WifiAdapter(dev.name, driver, mac, link.bssid if link.connected else None,
                               link.ssid if link.connected else None, onboard=driver in ONBOARD_DRIVERS))
    return out


# --- proposals -------------------------------------------------------------------------------

def _config_name(cam: Camera, duplicated: bool) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", cam.name.lower()).strip("-") or "gopro"
    return f"{base}-{cam.address.replace(':', '').lower()}" if duplicated else base


def propose(cams: list[Camera], adapters: list[WifiAdapter]) -> Proposal:
    """GOPROS entries, the udev rule and the nmcli commands for ``cams`` and ``adapters``.

    An adapter already associated with a camera's AP (BSSID = the camera's AP MAC) goes to that
    camera; the others (not on-board, not associated elsewhere) are handed out in name order.
    Two cameras with one advertised name are named by address too (exit code 6); a camera left
    without an adapter gets ``iface`` None (exit code 7)."""
    warnings: list[str] = []
    exit_code = EXIT_OK
    counts: dict[str, list[Camera]] = {}
    for cam in cams:
        counts.setdefault(cam.name, []).append(cam)
    for name, same in counts.items():
        if len(same) > 1:
            warnings.append(f"{len(same)} cameras advertise the same name {name!r} "
                            f"({', '.join(c.address for c in same)}): they are named by address below; "
                            "switch one off and scan again to tell which is which")
            exit_code = EXIT_DUPLICATE_NAMES
    free = [a for a in adapters if not a.onboard and a.bssid is None]
    by_bssid = {a.bssid: a for a in adapters if a.bssid}
    chosen: dict[str, WifiAdapter | None] = {}
    for cam in cams:
        if cam.ap_mac and cam.ap_mac in by_bssid:
            chosen[cam.address] = by_bssid[cam.ap_mac]
    for cam in cams:
        if cam.address not in chosen:
            chosen[cam.address] = free.pop(0) if free else None
    gopros: list[dict[str, Any]] = []
    rules: list[str] = []
    nmcli: list[list[str]] = []
    missing: list[str] = []
    for k, cam in enumerate(cams, start=1):
        name = _config_name(cam, len(counts[cam.name]) > 1)
        adapter = chosen[cam.address]
        iface = f"{IFACE_PREFIX}{k}" if adapter else None
        entry: dict[str, Any] = {"name": name, "model": cam.model or "hero7", "control": "wifi", "iface": iface,
                                 "ssid": cam.ap_ssid, "wifi_mac": cam.ap_mac, "bt_mac": cam.address}
        gopros.append(entry)
        if adapter is None or iface is None:
            missing.append(name)
            continue
        rules.append(f'# {name} ({cam.model_name or cam.name}): {adapter.driver or "?"} adapter, now {adapter.name}\n'
                     f'SUBSYSTEM=="net", ACTION=="add", ATTR{{address}}=="{adapter.mac}", NAME="{iface}"\n')
        con = name if name.startswith("gopro") else f"gopro-{name}"
        ssid = cam.ap_ssid or "<SSID shown on the camera>"
        nmcli.append(["nmcli", "connection", "add", "type", "wifi", "con-name", con, "ifname", iface, "ssid", ssid,
                      "wifi-sec.key-mgmt", "wpa-psk", "ipv4.method", "auto", "ipv4.never-default", "yes",
                      "ipv6.method", "disabled", "connection.autoconnect", "yes"])
        nmcli.append(["nmcli", "--ask", "connection", "up", con])
    if missing:
        warnings.append(f"no free Wi-Fi adapter for {', '.join(missing)}: plug in one USB Wi-Fi adapter per camera "
                        "and scan again (the Pi's on-board adapter stays for its own network)")
        if exit_code == EXIT_OK:
            exit_code = EXIT_NO_WIFI_ADAPTER
    for cam in cams:
        if cam.model is None:
            warnings.append(f"{cam.name} ({cam.address}): model unknown ({cam.note or 'not reported'}); "
                            "set its \"model\" (hero5–hero8) and \"ssid\", \"wifi_mac\" by hand")
    rule = ("# gopro-manager: each camera's Wi-Fi adapter keeps its name (written by discover --apply)\n"
            + "".join(rules)) if rules else ""
    return Proposal(gopros, rule, nmcli, warnings, exit_code)


def gopros_text(gopros: list[dict[str, Any]]) -> str:
    """The ``GOPROS = [...]`` block, one camera per line."""
    return "GOPROS = [\n" + "".join(f"    {entry!r},\n" for entry in gopros) + "]\n"


# --- apply -------------------------------------------------------------------------------------

def _con_name(argv: list[str]) -> str:
    return argv[argv.index("con-name") + 1]


def apply(proposal: Proposal, *, rule_path: Path = UDEV_RULE, ask: Callable[[str], str] = input,
          run: Callable[..., Any] = subprocess.run, out: Callable[[str], None] = print,
          which: Callable[[str], str | None] = shutil.which) -> int:
    """Write the udev rule and add the NetworkManager connections after ``ask`` says yes.
    Returns EXIT_OK or EXIT_APPLY_FAILED (declined, not root, a command failed)."""
    if not proposal.udev_rule:
        out("nothing to apply: no camera has a Wi-Fi adapter")
        return EXIT_APPLY_FAILED
    cons = [_con_name(argv) for argv in proposal.nmcli if argv[2] == "add"]
    answer = ask(f"Write {rule_path} and add the NetworkManager connections {', '.join(cons)}? [y/N] ")
    if answer.strip().lower() not in ("y", "yes"):
        out("nothing written")
        return EXIT_APPLY_FAILED
    try:
        rule_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = rule_path.with_name(rule_path.name + ".tmp")
        tmp.write_text(proposal.udev_rule)
        tmp.replace(rule_path)
    except PermissionError as exc:
        out(f"cannot write {rule_path} ({exc}): --apply needs root (sudo)")
        return EXIT_APPLY_FAILED
    out(f"wrote {rule_path}: the names apply when the adapters are plugged in again, or at the next boot")
    if which("udevadm"):
        run(["udevadm", "control", "--reload"], capture_output=True, text=True, timeout=30, check=False)
    if not which("nmcli"):
        out("NetworkManager (nmcli) is not installed: join each camera's AP by hand (README step 2)")
        return EXIT_APPLY_FAILED
    failed = 0
    for argv in proposal.nmcli:
        if argv[2] == "add" and "<SSID shown on the camera>" in argv:
            out(f"skipped {_con_name(argv)}: the camera's SSID is unknown; run the command with its SSID by hand")
            continue
        if argv[1] == "--ask":
            out(f"$ sudo {' '.join(argv)}   (asks the camera's Wi-Fi password; run it when the camera's Wi-Fi is on)")
            continue
        res = run(argv, capture_output=True, text=True, timeout=60, check=False)
        if res.returncode != 0:
            failed += 1
            out(f"FAIL {' '.join(argv)}: {(res.stderr or res.stdout).strip()}")
        else:
            out(f"added NetworkManager connection {_con_name(argv)}")
    return EXIT_APPLY_FAILED if failed else EXIT_OK


# --- the command ---------------------------------------------------------------------------------

def _print_report(cams: list[Camera], adapters: list[WifiAdapter], proposal: Proposal, *, adapter: str,
                  out: Callable[[str], None]) -> None:
    out(f"Bluetooth LE ({adapter}): {len(cams)} GoPro camera(s)")
    for cam in cams:
        rssi = f"RSSI {cam.rssi} dBm" if cam.rssi is not None else "RSSI ?"
        what = (f"{cam.model_name}, serial {cam.serial}, firmware {cam.firmware}, AP {cam.ap_ssid} ({cam.ap_mac})"
                if cam.model_name else (cam.note or ""))
        out(f"  {cam.name:<11} {cam.address}  {rssi:<13} {what}")
    out(f"Wi-Fi adapters: {len(adapters) or 'none'}")
    for a in adapters:
        state = f"associated with {a.bssid} ({a.ssid})" if a.bssid else "not associated"
        out(f"  {a.name:<8} {a.driver or '?':<12} {a.mac}  {state}"
            + ("  (on-board: left for the Pi's own network)" if a.onboard else ""))
    out("")
    out("Proposed cameras (paste into /etc/gopro-manager/config.py):")
    out(gopros_text(proposal.gopros))
    if proposal.udev_rule:
        out(f"Proposed udev rule ({UDEV_RULE}):")
        out(proposal.udev_rule)
        out("Join each camera's AP on its adapter (NetworkManager keeps the password; never in config.py):")
        for argv in proposal.nmcli:
            out("  sudo " + " ".join(argv))
    for w in proposal.warnings:
        out(f"warning: {w}")


def run_discover(*, backend: str = "bleak", adapter: str = "hci0", emu_dir: str | None = None,
                 timeout: float = 5.0, connect: bool = True, sysfs: str = "/sys/class/net", as_json: bool = False,
                 do_apply: bool = False, yes: bool = False, rule_path: Path = UDEV_RULE,
                 out: Callable[[str], None] = print, iw_run: Callable[..., Any] = subprocess.run,
                 ask: Callable[[str], str] | None = None, run: Callable[..., Any] = subprocess.run) -> int:
    """The whole ``discover``; returns an ``EXIT_*`` code (see the module docstring)."""
    try:
        adverts = scan(backend, adapter=adapter, emu_dir=emu_dir, timeout=timeout)
    except DiscoverError as exc:
        out(json.dumps({"error": str(exc), "exit": exc.exit_code}) if as_json else f"discover: {exc}")
        return exc.exit_code
    adverts.sort(key=lambda a: (-(a.rssi if a.rssi is not None else -999), a.address))
    adapters = wifi_adapters(sysfs, run=iw_run)
    if not adverts:
        msg = (f"no GoPro found in {timeout:g} s on {adapter}: wake each camera (press a button; a HERO5–8 in "
               "pairing mode: Connections → Connect Device → GoPro App) and scan again, nearer the Pi")
        if as_json:
            out(json.dumps({"error": msg, "exit": EXIT_NOTHING_FOUND,
                            "adapters": [dataclasses.asdict(a) for a in adapters]}))
        else:
            out(f"discover: {msg}")
        return EXIT_NOTHING_FOUND
    make = None
    if connect:
        from camrig.ble.loop import client_factory
        from camrig.errors import ConfigError
        try:
            make = client_factory(backend, adapter=adapter, emu_dir=emu_dir, timeout=10.0)
        except ConfigError as exc:
            out(f"discover: cannot connect to read the models: {exc.detail if hasattr(exc, 'detail') else exc}")
    cams = identify(adverts, make)
    proposal = propose(cams, adapters)
    if as_json:
        out(json.dumps({"cameras": [dataclasses.asdict(c) for c in cams],
                        "adapters": [dataclasses.asdict(a) for a in adapters],
                        "proposal": {"gopros": proposal.gopros, "udev_rule": proposal.udev_rule,
                                     "nmcli": proposal.nmcli},
                        "warnings": proposal.warnings, "exit": proposal.exit_code}, indent=2))
    else:
        _print_report(cams, adapters, proposal, adapter=adapter, out=out)
    if not do_apply:
        return proposal.exit_code
    ask_fn: Callable[[str], str]
    if yes:
        ask_fn = _yes
    elif ask is not None:
        ask_fn = ask
    elif sys.stdin.isatty():
        ask_fn = input
    else:
        out("discover --apply asks before writing: run it in a terminal, or add --yes")
        return EXIT_APPLY_FAILED
    code = apply(proposal, rule_path=rule_path, ask=ask_fn, run=run, out=out)
    return code or proposal.exit_code


def _yes(_prompt: str) -> str:
    return "y"


def add_parser(sub) -> None:
    """The ``discover`` subparser (camrig/cli.py)."""
    p = sub.add_parser("discover", help="scan for GoPros (BLE) and Wi-Fi adapters; propose GOPROS, a udev rule "
                                        "and the nmcli commands; --apply writes them after asking")
    p.add_argument("--json", action="store_true", help="one JSON object for scripts")
    p.add_argument("--apply", action="store_true", help="write the udev rule and add the NetworkManager "
                                                        "connections (asks first; needs root)")
    p.add_argument("--yes", action="store_true", help="with --apply: do not ask")
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="BLE scan seconds (default 5)")
    p.add_argument("--adapter", default="hci0", help="Bluetooth adapter (default hci0)")
    p.add_argument("--no-connect", action="store_true", help="do not connect to read model and serial")
    p.add_argument("--backend", choices=("bleak", "emulated"), default="bleak",
                   help="bleak (BlueZ; default) or emulated (the emulated cameras' sockets in --emu-dir)")
    p.add_argument("--emu-dir", help="with --backend emulated: the emulated cameras' control sockets")
    p.add_argument("--sysfs", default="/sys/class/net", help="network interfaces' sysfs (tests)")
    p.add_argument("--udev-rule", default=str(UDEV_RULE), help="where --apply writes the udev rule")


def cmd_discover(args) -> int:
    """``discover``: see the module docstring; returns an ``EXIT_*`` code."""
    if args.timeout <= 0:
        print("discover: --timeout must be more than 0 seconds", file=sys.stderr)
        return EXIT_USAGE
    return run_discover(backend=args.backend, adapter=args.adapter, emu_dir=args.emu_dir, timeout=args.timeout,
                        connect=not args.no_connect, sysfs=args.sysfs, as_json=args.json, do_apply=args.apply,
                        yes=args.yes, rule_path=Path(args.udev_rule))
