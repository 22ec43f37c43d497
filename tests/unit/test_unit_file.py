"""The systemd unit: systemd-analyze verify has nothing to say, and the keys we rely on are there."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "gopro-manager.service"
INSTALLED_COMMAND = "/opt/gopro-manager/venv/bin/gopro-manager"


def unit_sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None,
                                       comment_prefixes=("#", ";"))
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string(UNIT.read_text())
    return parser


def test_systemd_analyze_verify_is_silent(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        print("skipped: systemd-analyze is not installed")
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text()
    assert f"ExecStart={INSTALLED_COMMAND} " in text
    # The install path does not exist on a development machine; point
    # ExecStart at an interpreter that does, keep everything else.
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={INSTALLED_COMMAND} ", f"ExecStart={sys.executable} "))
    result = subprocess.run([analyze, "verify", str(copy)],
                            capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    assert result.returncode == 0


def test_unit_keys():
    unit = unit_sections()
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["ExecStart"] == f"{INSTALLED_COMMAND} run"     # install.sh's venv
    assert service["StateDirectory"] == "gopro-manager"
    assert service["Restart"] == "on-failure"
    assert service["RestartSec"] == "2"
    assert service["WatchdogSec"] == "30"
    assert service["TimeoutStopSec"] == "10"
    assert service["KillSignal"] == "SIGTERM"
    assert service["RuntimeDirectory"] == "gopro-manager"
    assert service["RuntimeDirectoryPreserve"] == "yes"
    assert service["RestartPreventExitStatus"] == "78"
    assert service["User"] == "gopro-manager"
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert set(unit["Unit"]["After"].split()) >= {"network.target", "bluetooth.target"}
    assert unit["Install"]["WantedBy"] == "multi-user.target"


SYSUSERS = UNIT.parent / "sysusers.d" / "gopro-manager.conf"


def service_values(key: str) -> list[str]:
    """Every value of ``key`` in [Service], in order (systemd keys may repeat)."""
    values, section = [], None
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith(key + "="):
            values.append(line[len(key) + 1:])
    return values


def test_least_privilege():
    service = unit_sections()["Service"]
    assert (service["User"], service["Group"]) == ("gopro-manager", "gopro-manager")
    assert service["SupplementaryGroups"].split() == ["gpio"]
    # Exactly the two capabilities, as ambient ones, and nothing to gain more.
    assert set(service["AmbientCapabilities"].split()) == {"CAP_NET_ADMIN", "CAP_NET_RAW"}
    assert set(service["CapabilityBoundingSet"].split()) == {"CAP_NET_ADMIN", "CAP_NET_RAW"}
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
                       "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes", "RestrictNamespaces": "yes",
                       "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes", "RestrictSUIDSGID": "yes",
                       "DevicePolicy": "closed", "SystemCallArchitectures": "native"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_NETLINK", "AF_BLUETOOTH"}
    assert service_values("SystemCallFilter")[0] == "@system-service"
    # GPIO through the gpio group's devices; a pty for the gatttool dialogue.
    allowed = " ".join(service_values("DeviceAllow"))
    for device in ("char-gpiochip", "/dev/ptmx", "char-pts"):
        assert device in allowed
    # The runtime directory is where the status and trigger files live, and the only writable place.
    assert service["ReadWritePaths"] == "/run/gopro-manager"
    assert service["WorkingDirectory"] == "/run/gopro-manager"


def test_sysusers_creates_the_user_and_the_gpio_group():
    entries = [line.split() for line in SYSUSERS.read_text().splitlines()
               if line.strip() and not line.lstrip().startswith("#")]
    assert ["u", "gopro-manager", "-"] == entries[0][:3]
    assert ["g", "gpio", "-"] in [e[:3] for e in entries]


def test_systemd_analyze_security_exposure_at_most_3(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(f"ExecStart={INSTALLED_COMMAND} ", f"ExecStart={sys.executable} "))
    result = subprocess.run([analyze, "security", "--offline=true", "--no-pager", str(copy)],
                            capture_output=True, text=True, timeout=60)
    if "--offline" in result.stderr and result.returncode != 0:
        pytest.skip(f"systemd-analyze too old for --offline: {result.stderr.strip()}")
    import re
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert match, result.stdout + result.stderr
    assert float(match.group(1)) <= 3.0, result.stdout
