"""``gopro_manager.py mark`` and ``record on|off|auto`` over the control socket (issue 13 parts 3
and 8): each camera's result printed, exit 0 / 1 (naming the cameras) / 3 (no daemon); garbage,
a huge line and a user outside the group get clear answers and never disturb a recording."""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import pwd
import socket
import threading

import pytest

from camrig.cameras.mock import MockDriver
from camrig.control import MAX_LINE, ControlServer
from camrig.errors import CameraRejected
from camrig.inputs.commands_cli import failed_cameras, render_reply, run
from tests.fakes import MockCar
from tests.polling import wait_for
from tests.unit.test_commands import config
from tests.unit.test_control import raw


@pytest.fixture
def daemon(tmp_path):
    """A running controller (front, rear on MockDrivers; rear refuses HiLights when asked to),
    the mark service installed, and its control socket at tmp_path/c.sock."""
    drivers = [MockDriver("front"), MockDriver("rear")]
    cfg = dataclasses.replace(config(["front", "rear"]), marks_path=str(tmp_path / "marks.jsonl"))
    car = MockCar(cfg, drivers)
    server = ControlServer(str(tmp_path / "c.sock"), car.ctl, group=None, reply_timeout=15)
    server.start()
    yield car.ctl, server, car.trigger, car.workers, drivers
    server.close()
    car.close()


def cli(command, socket_path, mode=None):
    args = argparse.Namespace(command=command, socket=socket_path, json=False, timeout=15.0, mode=mode)
    out, err = io.StringIO(), io.StringIO()

    def no_config(_args):
        raise AssertionError("--socket given: the config is not read")

    status = run(args, no_config, out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def recording(drivers):
    return all(d.recording for d in drivers)


def test_mark_exit_0_when_every_recording_camera_took_it(daemon):
    ctl, server, trigger, workers, drivers = daemon
    trigger.set(True)
    wait_for(lambda: recording(drivers) and all(w.snapshot()["state"] == "recording" for w in workers))
    status, out, err = cli("mark", server.path)
    assert status == 0, (out, err)
    assert out.startswith("HiLight on front, rear") and "UTC" in out
    assert "  front  ok" in out and "  rear   ok" in out
    assert [d.hilights for d in drivers] == [1, 1]


def test_mark_exit_1_names_the_camera_that_missed_it(daemon):
    ctl, server, trigger, workers, drivers = daemon
    drivers[1].fail["hilight"] = CameraRejected("HiLight refused (HTTP 500)", camera="rear")
    trigger.set(True)
    wait_for(lambda: all(w.snapshot()["state"] == "recording" and w.snapshot()["recording"] for w in workers))
    status, out, err = cli("mark", server.path)
    assert status == 1
    assert "  rear   FAIL  HiLight refused (HTTP 500)" in out
    assert "not acknowledged by rear" in err
    assert recording(drivers)                                 # the recording goes on


def test_mark_with_nothing_recording_exits_1_and_says_so(daemon):
    ctl, server, trigger, workers, drivers = daemon
    status, out, err = cli("mark", server.path)
    assert status == 1 and "no camera is recording" in err
    assert "  front  -" in out


def test_record_on_auto_off(daemon):
    ctl, server, trigger, workers, drivers = daemon
    status, out, err = cli("record", server.path, "on")
    assert status == 0 and "recording wanted by: remote" in out
    wait_for(lambda: recording(drivers))
    trigger.set(True)
    status, out, err = cli("record", server.path, "off")      # a trigger still wants it
    assert status == 1 and "never overrides a trigger" in err
    assert recording(drivers)
    trigger.set(False)
    status, out, err = cli("record", server.path, "auto")
    assert status == 0 and "recording not wanted" in out
    wait_for(lambda: not any(d.recording for d in drivers))


def test_no_daemon_exits_3(tmp_path):
    status, out, err = cli("mark", str(tmp_path / "none.sock"))
    assert status == 3 and "no gopro-manager daemon is listening" in err
    leftover = tmp_path / "dead.sock"                         # a socket nobody listens on any more
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(leftover))
    s.close()
    assert cli("record", str(leftover), "on")[0] == 3


def test_garbage_and_a_huge_line_are_answered_and_recording_goes_on(daemon):
    """Part 8: the control socket sent garbage or a line over 64 KiB: clear answers, nothing
    crashes, the recording is undisturbed, and the next client is served."""
    ctl, server, trigger, workers, drivers = daemon
    trigger.set(True)
    wait_for(lambda: recording(drivers))
    replies = raw(server.path, b"\xff\xfe garbage\n{\"command\": \"mark\", \"args\": 5}\n[1,2]\n"
                               b"{\"command\": \"ignition\", \"args\": [\"off\"]}\n")
    assert [r["ok"] for r in replies] == [False] * 4
    assert "not a JSON object" in replies[0]["detail"] and "list of strings" in replies[1]["detail"]
    assert "unknown" in replies[3]["detail"]                  # no way to stop recordings from outside
    huge = raw(server.path, b"{\"command\": \"mark\", \"x\": \"" + b"a" * (MAX_LINE + 10) + b"\"}\n")
    assert len(huge) == 1 and not huge[0]["ok"] and "longer than" in huge[0]["detail"]
    assert recording(drivers) and ctl.wanted
    assert cli("mark", server.path)[0] == 0                   # still served


def test_render_and_failed_cameras_survive_odd_replies():
    assert failed_cameras({"cameras": {"a": {"ok": False}, "b": {"ok": True}, "c": "junk"}}) == ["a", "c"]
    assert failed_cameras({"data": {"failed": ["x"]}, "cameras": {}}) == ["x"]
    assert render_reply({}) == "failed\n"
    assert render_reply({"ok": True, "detail": "d", "cameras": None, "data": []}) == "d\n"


def _nobody():
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        return None


@pytest.mark.skipif(os.geteuid() != 0 or _nobody() is None, reason="needs root and the user nobody")
def test_a_user_outside_the_group_is_told_how_to_join(tmp_path):
    """Part 8: the socket is 0660 root:gopro-manager (here root:root); a non-member's connect()
    is refused by the kernel, and the CLI says so and how to fix it (exit 1, not 3). The client
    runs in a forked child that became ``nobody``."""
    nobody = _nobody()
    sock_path = tmp_path / "c.sock"
    server = ControlServer(str(sock_path), controller=None, group=None)
    server.start()
    os.chmod(tmp_path, 0o755)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:                                              # the child: nobody, then the CLI
        status = 99
        try:
            os.close(read_end)
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            status, out, err = cli("mark", str(sock_path))
            os.write(write_end, err.encode()[:4000])
        finally:
            os._exit(status)
    try:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as f:
            err = f.read().decode()
        _, wait_status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(wait_status) == 1, err
        assert "permission denied" in err and "usermod -aG gopro-manager" in err
    finally:
        server.close()


def test_a_full_listen_backlog_is_waited_for_not_an_error(tmp_path):
    """Part 8 (a storm of `mark` from shells): fails before the fix — a client socket with a
    timeout is non-blocking, and its connect() to a full AF_UNIX backlog raised BlockingIOError
    (EAGAIN) at once; now the client waits for the daemon to accept."""
    from camrig.control import ControlClient

    path = str(tmp_path / "s.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(0)
    fillers = []
    while True:                                   # fill the backlog: nobody accepts yet
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(path)
        except BlockingIOError:
            s.close()
            break
        fillers.append(s)
    replies, errors = [], []

    def client():
        try:
            replies.append(ControlClient(path, timeout=10).request("mark"))
        except Exception as exc:
            errors.append(exc)

    t = threading.Thread(target=client)
    t.start()
    t.join(0.3)
    assert not errors, errors                     # still waiting, no EAGAIN
    srv.settimeout(5)
    for _ in range(len(fillers) + 1):             # the daemon catches up
        conn, _ = srv.accept()
        conn.settimeout(0.5)
        try:
            line = conn.makefile("rb").readline()
        except TimeoutError:
            line = b""
        if line:
            conn.sendall(b'{"ok": true, "command": "mark", "detail": "x", "cameras": {}, "data": {}}\n')
        conn.close()
    t.join(10)
    assert not errors and replies and replies[0]["ok"]
    for s in fillers:
        s.close()
    srv.close()


def _one_shot_server(path, answers):
    """A listener that answers each of ``answers`` (bytes) to one connection and closes it at once,
    without reading the request (what the daemon does when all its client slots are taken)."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(8)
    closed = threading.Event()

    def serve():
        for answer in answers:
            conn, _ = srv.accept()
            conn.sendall(answer)
            conn.close()
            closed.set()
        srv.close()

    threading.Thread(target=serve, daemon=True).start()
    return closed


BUSY = b'{"ok": false, "command": "", "detail": "busy: 8 clients already connected", "cameras": {}, "data": {}}\n'


def test_a_busy_answer_before_the_request_is_read_is_returned_not_a_broken_pipe(tmp_path, monkeypatch):
    """Fails before the fix: the daemon answered "busy" and closed before the client sent its
    request, and the client's sendall raised BrokenPipeError instead of returning the answer."""
    import camrig.control as control

    path = str(tmp_path / "s.sock")
    closed = _one_shot_server(path, [BUSY])
    real_dumps = control.json.dumps

    def dumps_after_close(*a, **kw):             # the request goes out only once the daemon closed
        closed.wait(5)
        return real_dumps(*a, **kw)

    monkeypatch.setattr(control.json, "dumps", dumps_after_close)
    reply = control.ControlClient(path, timeout=5).request("mark")
    assert not reply["ok"] and reply["detail"].startswith("busy")


def test_the_cli_retries_a_busy_daemon(tmp_path):
    ok = b'{"ok": true, "command": "mark", "detail": "HiLight on front", "cameras": {}, "data": {"failed": []}}\n'
    path = str(tmp_path / "s.sock")
    _one_shot_server(path, [BUSY, BUSY, ok])
    status, out, err = cli("mark", path)
    assert status == 0 and out.startswith("HiLight on front"), (out, err)
