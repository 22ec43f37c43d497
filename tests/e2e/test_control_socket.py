"""The control socket on the real daemon (namespace rig, root): a shell's ``record on`` latches
recording on every emulated camera with no trigger, ``record auto`` lets them stop, and the
socket's snapshot says why recording is wanted."""

from __future__ import annotations

import pytest

from camrig.control import ControlClient, DaemonNotRunning

SLOW = 30.0


@pytest.mark.parametrize("mode", ["bind"])
def test_record_on_and_auto_through_the_socket(make_ns_rig, mode):
    rig = make_ns_rig(2, mode=mode)
    rig.start_daemon()
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["idle"] * 2, SLOW,
                   message="both cameras idle")
    reply = rig.control("record", ["on"])
    assert reply["ok"], reply
    assert set(reply["cameras"]) == {c["name"] for c in rig.status()["cameras"]}
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording after 'record on'")
    snap = ControlClient(str(rig.control_socket), timeout=10).snapshot()
    assert snap["wanted"] and snap["wanted_by"] == ["remote"]     # the latch, set from a shell (issue 13)
    assert rig.control("record", ["auto"])["ok"]
    rig.wait_until(lambda: rig.recording() == [False, False], SLOW, message="both stopped after 'record auto'")
    garbage = rig.control("record", ["sideways"])
    assert not garbage["ok"] and "on|off|auto" in garbage["detail"]
    rig.stop_daemon()
    with pytest.raises(DaemonNotRunning):
        rig.control("mark")
    assert not rig.control_socket.exists()
