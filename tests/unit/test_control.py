"""The control socket (camrig/control.py): a real AF_UNIX socket in front of a real Controller
loop; requests from a shell become commands on the loop, garbage gets a clear answer."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading

import pytest

from camrig import commands
from camrig.commands import CameraResult, Command, CommandError, Result
from camrig.control import MAX_LINE, ControlClient, ControlError, ControlServer, DaemonNotRunning, serve
from camrig.controller import Controller
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger
from tests.fakes import FollowingWorker as Worker
from tests.polling import eventually
from tests.unit.test_commands import config


@pytest.fixture
def daemon(tmp_path):
    """A running controller with two workers and its control socket at tmp_path/control.sock."""
    workers = [Worker("front"), Worker("rear")]
    trigger = FlipTrigger()
    ctl = Controller(config([w.name for w in workers]), workers, trigger, Notifier(environ={}), status_path="")
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    server = ControlServer(str(tmp_path / "control.sock"), ctl, group=None, reply_timeout=5)
    server.start()
    yield ctl, server, trigger, workers
    server.close()
    ctl.request_stop()
    thread.join(5)
    ctl.shutdown(stop_recordings=False, timeout=0.5)


def raw(path, data: bytes) -> list[dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return [json.loads(line) for line in out.splitlines()]


def test_record_on_through_the_socket_latches_recording(daemon):
    ctl, server, _, workers = daemon
    reply = ControlClient(server.path, timeout=5).request("record", ["on"])
    assert reply["ok"] and reply["command"] == "record"
    assert set(reply["cameras"]) == {"front", "rear"}
    assert ctl.latch and eventually(lambda: all(w.wanted for w in workers))
    reply = ControlClient(server.path, timeout=5).request("record", ["auto"])
    assert reply["ok"] and not ctl.latch


def test_snapshot_is_served_without_the_loop(daemon):
    ctl, server, _, _ = daemon
    assert eventually(lambda: ctl.last_snapshot is not None)
    snap = ControlClient(server.path, timeout=5).snapshot()
    assert [c["name"] for c in snap["cameras"]] == ["front", "rear"]


def test_socket_file_has_the_asked_mode_and_goes_away_on_close(tmp_path):
    server = ControlServer(str(tmp_path / "c.sock"), object(), mode=0o660, group=None)
    server.start()
    st = os.stat(server.path)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o660
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    server.close()
    assert not os.path.exists(server.path)


def test_garbage_gets_clear_answers_and_the_connection_goes_on(daemon):
    ctl, server, _, workers = daemon
    replies = raw(server.path, b"hello\n[1,2]\n{}\n{\"command\": \"dance\"}\n"
                               b"{\"command\": \"record\", \"args\": \"on\"}\n"
                               b"{\"command\": \"record\", \"args\": [\"sideways\"]}\n\xff\xfe\n"
                               b"{\"command\": \"record\", \"args\": [\"on\"]}\n")
    assert [r["ok"] for r in replies] == [False] * 7 + [True]
    assert "not a JSON object" in replies[0]["detail"]
    assert "JSON object" in replies[1]["detail"]
    assert "no \"command\"" in replies[2]["detail"]
    assert "unknown" in replies[3]["detail"] and "known commands" in replies[3]["detail"]
    assert "list of strings" in replies[4]["detail"]
    assert "on|off|auto" in replies[5]["detail"]
    assert eventually(lambda: all(w.wanted for w in workers))   # the good one still worked


def test_a_huge_line_is_refused_and_the_daemon_goes_on(daemon):
    ctl, server, _, _ = daemon
    replies = raw(server.path, b"x" * (MAX_LINE + 10) + b"\n{\"command\": \"mark\"}\n")
    assert len(replies) == 1 and not replies[0]["ok"] and "longer than" in replies[0]["detail"]
    assert ControlClient(server.path, timeout=5).request("record", ["auto"])["ok"]


def test_no_daemon_is_daemon_not_running(tmp_path):
    with pytest.raises(DaemonNotRunning, match="no gopro-manager daemon"):
        ControlClient(str(tmp_path / "none.sock")).request("mark")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(tmp_path / "dead.sock"))            # a socket file nobody listens on
    dead.close()
    with pytest.raises(DaemonNotRunning):
        ControlClient(str(tmp_path / "dead.sock")).request("mark")


def test_a_stale_socket_is_replaced_but_a_live_one_or_a_file_is_not(tmp_path):
    path = str(tmp_path / "c.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)
    dead.close()
    first = ControlServer(path, object(), group=None)
    first.start()                                       # stale one removed
    with pytest.raises(ControlError, match="another daemon is listening"):
        ControlServer(path, object(), group=None).start()
    assert serve(path, object(), group=None) is None     # logged, daemon goes on
    first.close()
    plain = tmp_path / "plain"
    plain.write_text("keep me")
    with pytest.raises(ControlError, match="not a socket; not touching it"):
        ControlServer(str(plain), object(), group=None).start()
    assert plain.read_text() == "keep me"


def test_permission_denied_names_the_group(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores the socket's permissions; the refusal is the kernel's (unix(7))")
    server = ControlServer(str(tmp_path / "c.sock"), object(), mode=0o000, group=None)
    server.start()
    try:
        with pytest.raises(ControlError, match="gopro-manager"):
            ControlClient(server.path).request("mark")
    finally:
        server.close()


def test_a_non_member_is_refused_by_the_kernel(tmp_path):
    """As root: a child process that drops to nobody (uid/gid 65534) cannot connect to a 0660
    socket owned by root:root, and the client's message says how to join the group."""
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to another user")
    os.chmod(tmp_path, 0o755)
    server = ControlServer(str(tmp_path / "c.sock"), object(), group=None)
    server.start()
    try:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:                       # child: become nobody and try
            os.close(r)
            try:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
                ControlClient(server.path, timeout=2).request("mark")
                msg = b"connected"
            except ControlError as exc:
                msg = str(exc).encode()
            except BaseException as exc:   # noqa: BLE001 - report anything to the parent
                msg = repr(exc).encode()
            os.write(w, msg)
            os._exit(0)
        os.close(w)
        os.waitpid(pid, 0)
        msg = os.read(r, 4096).decode()
        os.close(r)
        assert "permission denied" in msg and "usermod -aG gopro-manager" in msg
    finally:
        server.close()


def test_registered_commands_with_options_reach_their_handler(daemon):
    ctl, server, _, _ = daemon

    def validate(args, options, source):
        if set(options) - {"cameras"}:
            raise CommandError(f"ping from {source}: unknown options {sorted(set(options) - {'cameras'})}")

    commands.register("ping-test", validate, replace=True)
    seen = []

    def handler(cmd: Command):
        seen.append((cmd.source, dict(cmd.options)))
        # answered later, from another thread: the socket waits off the loop
        threading.Timer(0.05, cmd.answer, args=(Result("ping-test", True, "pong",
                                                        {"front": CameraResult(True, "ok")}, {"n": 1}),)).start()
        return None

    ctl.add_command("ping-test", handler)
    client = ControlClient(server.path, timeout=5)
    reply = client.request("ping-test", options={"cameras": ["front"]})
    assert reply == {"ok": True, "command": "ping-test", "detail": "pong",
                     "cameras": {"front": {"ok": True, "detail": "ok"}}, "data": {"n": 1}}
    assert seen == [("socket", {"cameras": ["front"]})]
    bad = client.request("ping-test", options={"force": True})
    assert not bad["ok"] and "unknown options ['force']" in bad["detail"]
    assert not client.request("stop", options={"now": True})["ok"]     # built-ins take no options
