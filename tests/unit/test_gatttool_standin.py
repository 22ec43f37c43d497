"""Stand-in gatttool (camrig/emulator/gatttool) against an in-process emulated camera.

Driven through a pty with pexpect, as camrig/ble/gatttool.py drives the real one. The expected
lines are BlueZ 5 gatttool's (attrib/gatttool.c, attrib/interactive.c).
"""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pexpect
import pytest

from camrig.emulator import legacy_gopro as lg

GATTTOOL = str(Path(lg.__file__).with_name("gatttool"))
BT_MAC = "C0:FF:EE:00:00:01"
PROMPT = f"[{BT_MAC}][LE]> "
TIMEOUT = 10          # generous: only to fail instead of hanging


@pytest.fixture
def emu_dir():
    d = tempfile.mkdtemp(prefix="emu")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def env(emu_dir):
    return dict(os.environ, GOPRO_EMU_DIR=emu_dir)


@pytest.fixture
def cam(emu_dir, monkeypatch):
    monkeypatch.setenv("GOPRO_EMU_DIR", emu_dir)
    camera = lg.LegacyGoPro("ble", bt_mac=BT_MAC, listen="127.0.0.1", delay_ms=1,
                            association_delay=0.2, boot_delay=0.2, start="wifi-off").start()
    assert camera.control_path == os.path.join(emu_dir, "c0ffee000001.sock")
    yield camera
    camera.close()


def one_shot(env, *args) -> tuple[int, str]:
    child = pexpect.spawn(GATTTOOL, list(args), env=env, encoding="utf-8", timeout=TIMEOUT)
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.before.replace("\r\n", "\n")


def interactive(env, mac=BT_MAC):
    child = pexpect.spawn(GATTTOOL, ["-i", "hci0", "-t", "random", "-b", mac, "-I"], env=env,
                          encoding="utf-8", timeout=TIMEOUT, echo=False)
    child.expect_exact(f"[{mac}][LE]> ")
    return child


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


# --------------------------------------------------------------------------- the file itself


def test_executable_with_env_python_shebang_and_stdlib_only():
    assert os.access(GATTTOOL, os.X_OK)
    text = Path(GATTTOOL).read_text()
    assert text.startswith("#!/usr/bin/env python3\n")
    modules = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add(node.module.split(".")[0])
    assert modules <= set(sys.stdlib_module_names), modules - set(sys.stdlib_module_names)


# --------------------------------------------------------------------------- one-shot form


@pytest.mark.parametrize("args", [
    ["-i", "hci0", "-t", "random", "-b", BT_MAC, "--char-write-req", "-a", "0x2f", "-n", "03170101"],
    ["-b", BT_MAC, "--char-write-req", "--handle=0x33", "--value=03170101"],
    ["-t", "public", "--device", BT_MAC.lower(), "--char-write-req", "-a0x002f", "-n03170101"],
])
def test_one_shot_wifi_on(cam, env, args):
    code, out = one_shot(env, *args)
    assert (code, out) == (0, "Characteristic value was written successfully\n")
    assert wait_for(lambda: cam.state()["wifi"] == "on")
    assert cam.state()["power"] == "asleep"           # Wi-Fi on does not wake the camera
    assert [e["cmd"] for e in cam.state()["events"] if e["what"] == "ble"] == ["03170101"]


def test_one_shot_invalid_handle(cam, env):
    code, out = one_shot(env, "-b", BT_MAC, "--char-write-req", "-a", "0x30", "-n", "03170101")
    assert (code, out) == (1, "Characteristic Write Request failed: Invalid handle\n")
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_one_shot_camera_out_of_range(env):
    code, out = one_shot(env, "-b", BT_MAC, "--char-write-req", "-a", "0x2f", "-n", "03170101")
    assert (code, out) == (1, "connect error: Connection refused (111)\n")


@pytest.mark.parametrize("error, line", [
    ("enosys", "connect error: Function not implemented (38)"),
    ("busy", "connect error: Device or resource busy (16)"),
    ("refused", "connect error: Connection refused (111)"),
    ("auth", "Characteristic Write Request failed: Attribute requires authentication before read/write"),
])
def test_one_shot_ble_errors(cam, env, error, line):
    cam.fault("ble_error", error=error)
    code, out = one_shot(env, "-b", BT_MAC, "--char-write-req", "-a", "0x2f", "-n", "03170101")
    assert (code, out) == (1, line + "\n")
    time.sleep(0.3)
    assert cam.state()["wifi"] == "off"


def test_one_shot_hang_never_answers(cam, env):
    cam.fault("ble_error", error="hang")
    child = pexpect.spawn(GATTTOOL, ["-b", BT_MAC, "--char-write-req", "-a", "0x2f", "-n", "03170101"],
                          env=env, encoding="utf-8", timeout=1)
    assert child.expect([pexpect.EOF, pexpect.TIMEOUT]) == 1
    assert child.isalive()
    child.terminate(force=True)


@pytest.mark.parametrize("args, line", [
    (["--char-write-req", "-a", "0x2f", "-n", "01"], "Remote Bluetooth address required"),
    (["-b", BT_MAC, "--char-write-req", "-n", "01"], "A valid handle is required"),
    (["-b", BT_MAC, "--char-write-req", "-a", "0x2f"], "A value is required"),
])
def test_one_shot_usage_errors(env, args, line):
    code, out = one_shot(env, *args)
    assert code == 1 and line in out


# --------------------------------------------------------------------------- interactive form


def test_interactive_dialogue(cam, env):
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(f"Attempting to connect to {BT_MAC}")
    child.expect_exact("Connection successful")
    child.expect_exact(PROMPT)
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Characteristic value was written successfully")
    child.expect_exact(PROMPT)
    child.sendline("char-write-req 0x33 03010101")     # handle 0x33 reaches GP-0072 too
    child.expect_exact("Characteristic value was written successfully")
    child.expect_exact(PROMPT)
    child.sendline("disconnect")
    child.expect_exact(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    cmds = [e["cmd"] for e in cam.state()["events"] if e["what"] == "ble"]
    assert cmds == ["03170101", "03010101"]
    assert wait_for(lambda: cam.state()["wifi"] == "on")


def test_interactive_prompt_is_exact_and_not_followed_by_a_newline(cam, env):
    child = interactive(env)
    child.sendline("")
    assert child.expect_exact([PROMPT, "\n"]) == 0
    child.sendline("quit")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("error, line", [
    ("enosys", "Error: connect error: Function not implemented (38)"),
    ("busy", "Error: connect error: Device or resource busy (16)"),
    ("refused", "Error: connect error: Connection refused (111)"),
])
def test_interactive_connect_errors(cam, env, error, line):
    cam.fault("ble_error", error=error)
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(f"Attempting to connect to {BT_MAC}")
    assert child.expect_exact([line, "Connection successful"]) == 0
    child.expect_exact(PROMPT)
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Command Failed: Disconnected")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_interactive_out_of_range(env):
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact("Error: connect error: Connection refused (111)")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_interactive_auth_error_on_write(cam, env):
    cam.fault("ble_error", error="auth")
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Error: Characteristic Write Request failed: "
                       "Attribute requires authentication before read/write")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_hang(cam, env):
    cam.fault("ble_error", error="hang")
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(f"Attempting to connect to {BT_MAC}")
    assert child.expect_exact(["Connection successful", "Error:", pexpect.TIMEOUT], timeout=1) == 2
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_interactive_invalid_handles_and_values(cam, env):
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline("char-write-req 0x30 03170101")
    child.expect_exact("Error: Characteristic Write Request failed: Invalid handle")
    child.sendline("char-write-req zz 03170101")
    child.expect_exact("Error: Invalid handle: zz")
    child.sendline("char-write-req 0x2f 0")
    child.expect_exact("Error: Invalid value")
    child.sendline("char-write-req 0x2f")
    child.expect_exact("Usage: char-write-req <handle> <new value>")
    child.sendline("frobnicate")
    child.expect_exact("frobnicate: command not found")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_camera_errors_can_change_between_connects(cam, env):
    child = interactive(env)
    cam.fault("ble_error", error="busy")
    child.sendline("connect")
    child.expect_exact("Error: connect error: Device or resource busy (16)")
    cam.fault("ble_error", error=None)
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline("char-write-req 0x2f 0105")
    child.expect_exact("Characteristic value was written successfully")
    child.sendline("exit")
    child.expect(pexpect.EOF)
