"""Which Python runs the daemon, and which gpiozero pin factory it gets (issue 8.13)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from camrig.app import PIN_FACTORY_HELP, pin_factory_report

ROOT = Path(__file__).resolve().parents[2]


def test_too_old_python_is_refused_with_the_versions_that_work(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 9, 2, "final", 0))
    monkeypatch.setattr(sys, "argv", ["gopro_manager.py", "status"])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(ROOT / "gopro_manager.py"), run_name="__main__")
    msg = str(exc.value.code)
    assert "needs Python 3.11 or later" in msg and "3.13" in msg


def test_this_python_is_accepted():
    res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "--help"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "needs Python" not in res.stderr


def test_pin_factory_report_names_the_factory():
    assert pin_factory_report("mock") == ("MockFactory", "gpiozero.pins.mock")


def test_missing_pin_library_says_what_to_install(monkeypatch):
    # An lgpio that cannot be imported (no wheel for this Python, or pip's empty placeholder).
    monkeypatch.setitem(sys.modules, "lgpio", None)
    name, detail = pin_factory_report("lgpio")
    assert name is None
    assert "python3-lgpio" in detail and "--system-site-packages" in detail
    assert PIN_FACTORY_HELP in detail


def _config(tmp_path, body):
    path = tmp_path / "config.py"
    path.write_text(body)
    path.chmod(0o600)
    return path


def test_check_prints_the_pin_factory_in_use(tmp_path):
    cfg = _config(tmp_path, "GOPROS = [{'name': 'front', 'address': '127.0.0.1', 'http_port': 9}]\n"
                  "NETWORK_MODE = 'address'\nGPIO_BCM_PIN = 17\nGPIO_PIN_FACTORY = 'mock'\n"
                  f"TRIGGER_PATH = '{tmp_path}/trigger'\nSTATUS_PATH = None\n")
    res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "check", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert "pin factory MockFactory" in res.stdout, res.stdout + res.stderr


def test_check_fails_when_no_pin_factory_loads(tmp_path):
    cfg = _config(tmp_path, "GOPROS = [{'name': 'front', 'address': '127.0.0.1', 'http_port': 9}]\n"
                  "NETWORK_MODE = 'address'\nGPIO_BCM_PIN = 17\nGPIO_PIN_FACTORY = 'pigpio'\n"
                  f"TRIGGER_PATH = '{tmp_path}/trigger'\nSTATUS_PATH = None\n")
    try:
        import pigpio  # noqa: F401
        pytest.skip("pigpio is installed here")
    except ImportError:
        pass
    res = subprocess.run([sys.executable, str(ROOT / "gopro_manager.py"), "check", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "FAIL no pin factory" in res.stdout and "python3-lgpio" in res.stdout
