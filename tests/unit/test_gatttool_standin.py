"""Stand-in gatttool (camrig/emulator/gatttool) against an in-process emulated camera.

Driven through a pty with pexpect, as camrig/cameras/gopro_legacy/gatttool.py drives the real one. The expected
lines are BlueZ ≥ 5.55 gatttool's (attrib/gatttool.c, attrib/interactive.c, btio/btio.c, attrib/att.c
at bluez/bluez 690c16df6; the stand-in's docstring cites the lines). Tests marked "issue 8 item 7"
fail on the stand-in before it printed colours, ``connect to <MAC>:`` errors, the ATT table and
notifications.
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
PROMPT = f"[{BT_MAC}][LE]> "                                    # not connected: no colour
CPROMPT = f"\x1b[0;94m[{BT_MAC}]\x1b[0m[LE]> "                    # connected: MAC in COLOR_BLUE
ERROR = "\x1b[0;91mError: \x1b[0m"                                 # interactive.c:64-65
FAILED = "\x1b[0;91mCommand Failed: \x1b[0m"                       # interactive.c:67-68
CONNECT_TO = f"connect to {BT_MAC}: "                               # btio.c:232/2138 (BlueZ >= 5.55)
UUID = "b5f900{}-aa8d-11e3-9046-0002a5d5c51b"
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
    ["-b", BT_MAC, "--char-write-req", "--handle=2f", "--value=03170101"],
    ["-t", "public", "--device", BT_MAC.lower(), "--char-write-req", "-a0x002f", "-n03170101"],
])
def test_one_shot_wifi_on(cam, env, args):
    code, out = one_shot(env, *args)
    assert (code, out) == (0, "Characteristic value was written successfully\n")
    assert wait_for(lambda: cam.state()["wifi"] == "on")
    assert cam.state()["power"] == "asleep"           # Wi-Fi on does not wake the camera
    assert [e["cmd"] for e in cam.state()["events"] if e["what"] == "ble"] == ["03170101"]


@pytest.mark.parametrize("handle, error", [
    ("0x99", "Invalid handle"),                  # no attribute there
    ("0x33", "Attribute can't be written"),      # GP-0074's declaration: 0x33 is not GP-0072 here
    ("0x31", "Attribute can't be written"),      # GP-0073's value: notify only
])
def test_one_shot_wrong_handles(cam, env, handle, error):
    code, out = one_shot(env, "-b", BT_MAC, "--char-write-req", "-a", handle, "-n", "03170101")
    assert (code, out) == (1, f"Characteristic Write Request failed: {error}\n")
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_one_shot_camera_out_of_range(env):
    code, out = one_shot(env, "-b", BT_MAC, "--char-write-req", "-a", "0x2f", "-n", "03170101")
    assert (code, out) == (1, CONNECT_TO + "Connection refused (111)\n")


@pytest.mark.parametrize("error, line", [
    ("enosys", CONNECT_TO + "Function not implemented (38)"),
    ("busy", CONNECT_TO + "Device or resource busy (16)"),
    ("refused", CONNECT_TO + "Connection refused (111)"),
    ("auth", "Characteristic Write Request failed: Attribute requires authentication before read/write"),
    ("encrypt", "Characteristic Write Request failed: Encryption required before read/write"),
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


def connected(env):
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(f"Attempting to connect to {BT_MAC}\r\n")
    child.expect_exact("Connection successful\r\n")
    child.expect_exact(CPROMPT)
    return child


def test_interactive_dialogue(cam, env):
    """Issue 8 item 7: discovery lines, the CCCD write, and the camera's answer as a notification."""
    child = connected(env)
    child.sendline(f"characteristics 0x0001 0xffff {UUID.format('72')}")
    child.expect_exact(f"handle: 0x002e, char properties: 0x08, char value handle: 0x002f, uuid: "
                       f"{UUID.format('72')}\r\n")
    child.sendline(f"characteristics 0x0001 0xffff {UUID.format('73')}")
    child.expect_exact(f"handle: 0x0030, char properties: 0x10, char value handle: 0x0031, uuid: "
                       f"{UUID.format('73')}\r\n")
    child.sendline("char-desc 0x0031 0x0033")
    child.expect_exact(f"handle: 0x0031, uuid: {UUID.format('73')}\r\n"
                       "handle: 0x0032, uuid: 00002902-0000-1000-8000-00805f9b34fb\r\n"
                       "handle: 0x0033, uuid: 00002803-0000-1000-8000-00805f9b34fb\r\n")
    child.sendline("char-write-req 0x0032 0100")
    child.expect_exact("Characteristic value was written successfully\r\n" + CPROMPT)
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Characteristic value was written successfully\r\n" + CPROMPT +
                       "Notification handle = 0x0031 value: 02 17 00 \r\n" + CPROMPT)
    child.sendline("char-write-req 0x2f 03010101")     # shutter while asleep: the camera says 01
    child.expect_exact("Notification handle = 0x0031 value: 02 01 01 \r\n")
    child.sendline("disconnect")
    child.expect_exact(PROMPT)
    child.sendline("exit")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    cmds = [e["cmd"] for e in cam.state()["events"] if e["what"] == "ble"]
    assert cmds == ["03170101", "03010101"]
    assert wait_for(lambda: cam.state()["wifi"] == "on")


def test_no_notification_until_the_cccd_is_written_on_this_connection(cam, env):
    """The ATT acknowledgement alone; subscriptions are not kept across connections (Open GoPro
    BLE spec, "BLE Setup")."""
    child = connected(env)
    child.sendline("char-write-req 0x0032 0100")
    child.expect_exact("Characteristic value was written successfully")
    child.sendline("disconnect")
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Characteristic value was written successfully\r\n" + CPROMPT)
    assert child.expect_exact(["Notification", pexpect.TIMEOUT], timeout=0.5) == 1
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert [e["cmd"] for e in cam.state()["events"] if e["what"] == "ble"] == ["03170101"]


def test_characteristics_not_found(cam, env):
    child = connected(env)
    child.sendline(f"characteristics 0x0001 0xffff {UUID.format('99')}")
    child.expect_exact(ERROR + "Discover all characteristics failed: No attribute found within the given range")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_table_shift_moves_every_handle(cam, env):
    child = interactive(dict(env, GOPRO_EMU_ATT_SHIFT="8"))
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline(f"characteristics 0x0001 0xffff {UUID.format('72')}")
    child.expect_exact(f"handle: 0x0036, char properties: 0x08, char value handle: 0x0037, uuid: "
                       f"{UUID.format('72')}")
    child.sendline("char-write-req 0x2f 03170101")     # GP-0004 now: written, but not the command
    child.expect_exact("Characteristic value was written successfully")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_prompt_is_exact_and_lines_are_echoed_like_readline(cam, env):
    child = pexpect.spawn(GATTTOOL, ["-t", "random", "-b", BT_MAC, "-I"], env=env, encoding="utf-8",
                          timeout=TIMEOUT, echo=False)
    child.expect_exact(PROMPT)
    assert child.before == ""                      # the prompt is the first thing, no newline after it
    child.sendline("")
    child.expect_exact("\r\n" + PROMPT)            # readline echoes the (empty) line
    child.sendline("disconnect")
    child.expect_exact("disconnect\r\n" + PROMPT)
    child.sendline("quit")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("error, line", [
    ("enosys", ERROR + CONNECT_TO + "Function not implemented (38)"),
    ("busy", ERROR + CONNECT_TO + "Device or resource busy (16)"),
    ("refused", ERROR + CONNECT_TO + "Connection refused (111)"),
])
def test_interactive_connect_errors(cam, env, error, line):
    """Issue 8 item 7: coloured "Error: " and btio's "connect to <MAC>: …" (BlueZ ≥ 5.55)."""
    cam.fault("ble_error", error=error)
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(f"Attempting to connect to {BT_MAC}")
    assert child.expect_exact([line, "Connection successful"]) == 0
    child.expect_exact(PROMPT)
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact(FAILED + "Disconnected")
    child.sendline("exit")
    child.expect(pexpect.EOF)


def test_interactive_out_of_range(env):
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact(ERROR + CONNECT_TO + "Connection refused (111)")
    child.sendline("exit")
    child.expect(pexpect.EOF)


@pytest.mark.parametrize("error, text", [("auth", "Attribute requires authentication before read/write"),
                                         ("encrypt", "Encryption required before read/write")])
def test_interactive_pairing_errors_on_write(cam, env, error, text):
    cam.fault("ble_error", error=error)
    child = connected(env)
    child.sendline("char-write-req 0x0032 0100")
    child.expect_exact(f"{ERROR}Characteristic Write Request failed: {text}")
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact(f"{ERROR}Characteristic Write Request failed: {text}")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_dropped_link(cam, env):
    """Issue 8 item 7: the link drops after connecting; the next command fails at once."""
    cam.fault("ble_error", error="drop")
    child = interactive(env)
    child.sendline("connect")
    child.expect_exact("Connection successful\r\n" + PROMPT)      # prompt without colour: disconnected
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact(FAILED + "Disconnected\r\n")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_refusal_is_the_cameras_answer(cam, env):
    """The write is acknowledged at ATT level; the camera's answer says 01 (refused)."""
    cam.fault("ble_error", error="refuse")
    child = connected(env)
    child.sendline("char-write-req 0x0032 0100")
    child.expect_exact("Characteristic value was written successfully")
    child.sendline("char-write-req 0x2f 03170101")
    child.expect_exact("Characteristic value was written successfully\r\n" + CPROMPT +
                       "Notification handle = 0x0031 value: 02 17 01 \r\n")
    child.sendline("exit")
    child.expect(pexpect.EOF)
    time.sleep(0.3)
    assert cam.state()["wifi"] == "off"


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
    child.sendline("char-write-req 0x99 03170101")
    child.expect_exact(ERROR + "Characteristic Write Request failed: Invalid handle")
    child.sendline("char-write-req 0x30 03170101")
    child.expect_exact(ERROR + "Characteristic Write Request failed: Attribute can't be written")
    child.sendline("char-write-req zz 03170101")
    child.expect_exact(ERROR + "A valid handle is required")
    child.sendline("char-write-req 0x2f 0")
    child.expect_exact(ERROR + "Invalid value")
    child.sendline("char-write-req 0x2f")
    child.expect_exact("Usage: char-write-req <handle> <new value>")
    child.sendline("frobnicate")
    child.expect_exact(ERROR + "frobnicate: command not found")
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not [e for e in cam.state()["events"] if e["what"] == "ble"]


def test_interactive_camera_errors_can_change_between_connects(cam, env):
    child = interactive(env)
    cam.fault("ble_error", error="busy")
    child.sendline("connect")
    child.expect_exact(ERROR + CONNECT_TO + "Device or resource busy (16)")
    cam.fault("ble_error", error=None)
    child.sendline("connect")
    child.expect_exact("Connection successful")
    child.sendline("char-write-req 0x2f 0105")
    child.expect_exact("Characteristic value was written successfully")
    child.sendline("exit")
    child.expect(pexpect.EOF)
