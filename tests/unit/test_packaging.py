"""The package (issue 9 part 5): pyproject.toml agrees with the requirements files, ships what
the demo and the rig read, and its three ways in (``gopro-manager``, ``python -m camrig``,
``python gopro_manager.py``) run the same :func:`camrig.cli.main`."""

from __future__ import annotations

import fnmatch
import os
import re
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from camrig import cli

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def requirement_lines(name: str) -> list[str]:
    """The requirements of ``name`` (a requirements file), comments and spaces dropped."""
    out = []
    for line in (ROOT / name).read_text().splitlines():
        req = line.split("#", 1)[0].replace(" ", "")
        if req:
            out.append(req)
    return out


@pytest.mark.parametrize("extra,name", [(None, "requirements.txt"), ("dev", "requirements-dev.txt"),
                                        ("clients", "requirements-clients.txt")])
def test_pyproject_pins_are_the_requirements_files(extra, name):
    """requirements.txt stays what the Pi install, `make venv` and the system test install from;
    pyproject.toml must say the same, pin for pin, in the same order."""
    project = PYPROJECT["project"]
    declared = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    assert [d.replace(" ", "") for d in declared] == requirement_lines(name)


def test_console_script_is_cli_main():
    assert PYPROJECT["project"]["scripts"] == {"gopro-manager": "camrig.cli:main"}
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    assert cli.MIN_PYTHON == (3, 11)


def test_package_data_covers_what_the_emulators_read():
    """Every capture (and its SHA256SUMS/README) and the fake gatttool are in package-data, so
    a `pip install .` (not only a checkout) can run the demo; the fake iw only the namespace rig
    uses lives with it under tests/rig (issue 9 part 4)."""
    data = PYPROJECT["tool"]["setuptools"]["package-data"]

    def shipped(package: str, name: str) -> bool:
        return any(fnmatch.fnmatch(name, pattern) for pattern in data.get(package, ()))

    captures = ROOT / "camrig" / "emulator" / "captures"
    for f in captures.iterdir():
        if f.is_file() and f.suffix != ".py":
            assert shipped("camrig.emulator.captures", f.name), f"{f.name} is not in package-data"
    assert shipped("camrig.emulator", "gatttool")
    assert os.access(ROOT / "camrig" / "emulator" / "gatttool", os.X_OK), "gatttool is not executable"
    assert not shipped("camrig.emulator", "iw")
    assert os.access(ROOT / "tests" / "rig" / "iw", os.X_OK), "tests/rig/iw is not executable"


def _entry_points() -> list[list[str]]:
    ways = [[sys.executable, str(ROOT / "gopro_manager.py")], [sys.executable, "-m", "camrig"]]
    script = Path(sys.executable).with_name("gopro-manager")
    if script.exists():                      # the venv has the project installed (make venv)
        ways.append([str(script)])
    return ways


def test_the_ways_in_behave_the_same(tmp_path):
    """Same help text (but for the program's name), same refusal and exit status for a bad
    config, same status read, whichever way it was started."""
    bad = tmp_path / "config.py"
    bad.write_text("GOPROS = [('wlan1', 'GP1', 'nope', None)]\n")
    bad.chmod(0o600)
    runs = []
    for way in _entry_points():
        helped = subprocess.run([*way, "--help"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        refused = subprocess.run([*way, "--config", str(bad), "check"], capture_output=True, text=True,
                                 timeout=60, cwd=tmp_path)
        status = subprocess.run([*way, "status", "--status-path", str(tmp_path / "none.json")],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        # After the usage block, which wraps differently with the program name's length.
        runs.append((helped.returncode, helped.stdout.split("\n\n", 1)[1],
                     refused.returncode, refused.stderr, status.returncode, status.stderr))
    commands = re.search(r"\{([a-z,-]+)\}", runs[0][1])
    assert runs[0][0] == 0 and commands and {"run", "status", "check", "discover", "demo"} <= set(
        commands.group(1).split(","))
    assert runs[0][2] == 78 and "GOPROS[0].wifi_mac" in runs[0][3]
    assert runs[0][4] == 1 and "none.json" in runs[0][5]
    assert all(r == runs[0] for r in runs[1:]), runs


def test_the_shim_refuses_old_python_as_the_package_does(monkeypatch):
    """gopro_manager.py checks the version before importing camrig; its words are cli's."""
    monkeypatch.setattr(sys, "version_info", (3, 9, 2, "final", 0))
    monkeypatch.setattr(sys, "argv", ["gopro_manager.py", "status"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "gopro_manager.py"), run_name="__main__")
    assert exc.value.code == cli.python_too_old((3, 9, 2, "final", 0))
    assert cli.python_too_old((3, 11, 0)) is None


def test_config_beside_the_shim_is_found_from_every_way_in():
    """In a checkout (and an editable install) config.py is looked for beside gopro_manager.py,
    whichever way the daemon was started."""
    assert cli.SCRIPT_DIR == ROOT
