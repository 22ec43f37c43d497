"""install.sh refuses, changing nothing (issue 14 part 4): without root (exit 3), on a system that is
not Debian (exit 4), with an unknown argument (exit 2). The install itself runs in the nspawn
containers of ``make system-test`` (Bookworm and Trixie). New with install.sh."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "install.sh"
#: What install.sh would create first; none may appear after a refusal.
CREATED = ("/etc/sysusers.d/gopro-manager.conf", "/etc/tmpfiles.d/gopro-manager.conf", "/opt/gopro-manager",
           "/etc/systemd/system/gopro-manager.service")


def _before() -> dict[str, bool]:
    return {p: os.path.exists(p) for p in CREATED}


def run(*args: str, env: dict[str, str] | None = None, user: int | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, user=user, check=False)


def test_it_is_valid_bash():
    assert subprocess.run(["bash", "-n", str(INSTALL)], capture_output=True, text=True).returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run it as another user")
def test_without_root_it_says_so_and_changes_nothing():
    where = Path(tempfile.mkdtemp(prefix="gm-install-test-"))     # pytest's tmp_path is root-only
    try:
        where.chmod(0o755)
        copy = where / "install.sh"
        shutil.copy(INSTALL, copy)
        copy.chmod(0o755)
        before = _before()
        res = subprocess.run(["bash", str(copy)], capture_output=True, text=True, timeout=60, user=65534,
                             cwd="/", check=False)
    finally:
        shutil.rmtree(where)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "must run as root" in res.stderr and "nothing was changed" in res.stderr
    assert _before() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="the root check comes first")
@pytest.mark.parametrize("os_release,name", [
    ('ID=fedora\nPRETTY_NAME="Fedora Linux 41"\n', "Fedora Linux 41"),
    ('ID=arch\n', "arch"),
])
def test_on_another_system_it_says_so_and_changes_nothing(tmp_path, os_release, name):
    fake = tmp_path / "os-release"
    fake.write_text(os_release)
    before = _before()
    res = run(env={"GOPRO_INSTALL_OS_RELEASE": str(fake)})
    assert res.returncode == 4, res.stdout + res.stderr
    assert "Raspberry Pi OS / Debian (Bookworm or Trixie) only" in res.stderr and f"'{name}'" in res.stderr
    assert "nothing was changed" in res.stderr
    assert res.stdout == ""
    assert _before() == before


@pytest.mark.skipif(os.geteuid() != 0, reason="the root check comes first")
def test_without_systemd_running_it_says_so(tmp_path):
    if Path("/run/systemd/system").is_dir():
        pytest.skip("systemd runs here")
    fake = tmp_path / "os-release"
    fake.write_text('ID=debian\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n')
    before = _before()
    res = run(env={"GOPRO_INSTALL_OS_RELEASE": str(fake)})
    assert res.returncode == 4 and "systemd is not running" in res.stderr, res.stderr
    assert _before() == before


def test_an_unknown_argument_is_a_usage_error():
    res = run("--frobnicate")
    assert res.returncode == 2
    assert "unknown argument '--frobnicate'" in res.stderr and "--uninstall" in res.stderr


def test_help_lists_the_options():
    res = run("--help")
    assert res.returncode == 0
    for option in ("--no-start", "--uninstall"):
        assert option in res.stdout
