"""Open files stay bounded through a fault-heavy run (issue 16.7).

An adversarial run saw the daemon's open files grow 30 → 37 over three fault-heavy minutes
(the quiet soak held 18 → 18). This drives the faults that open and drop files — an adapter
deleted and plugged in again, a reload that replaces a hung camera's worker, a camera that
reboots (connections dropped), HTTP 500 bursts, the Wi-Fi going off and a BLE wake — round after
round on a mixed rig, and counts the daemon's file descriptors by kind at each quiet point (every
camera recording again). A leak grows with every round; what a round legitimately holds (one
kept-alive connection per camera, the BLE loop) is the same at every quiet point.
"""

from __future__ import annotations

import collections
import os
import time

from .test_faults import FAST_CONFIG, SLOW, _add_link, no_daemon_exceptions

ROUNDS = 5


def open_files(pid: int) -> collections.Counter:
    """The process's open file descriptors by kind (``socket``, ``pipe``, ``anon_inode``, a path)."""
    kinds: collections.Counter = collections.Counter()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue            # closed between listdir and readlink
        kinds[target.split(":", 1)[0] if ":" in target else target] += 1
    return kinds


def _quiet(rig, n):
    rig.wait_until(lambda: rig.recording() == [True] * n, SLOW, message="every camera recording")
    rig.wait_until(lambda: [c["state"] for c in rig.status()["cameras"]] == ["recording"] * n, SLOW,
                   message="status file: every camera recording")
    time.sleep(2.0)             # let retired threads end and half-closed sockets go


def test_open_files_do_not_grow_round_after_round(make_ns_rig):
    models = ["hero7", "hero7", "hero12", ("hero9", "ble")]
    n = len(models)
    rig = make_ns_rig(n, mode="bind", models=models, association_delay=0.5, boot_delay=0.5,
                      check_status=1, cycle_seconds=0.5)
    rig.start_daemon(FAST_CONFIG)
    pid = rig.daemon.pid
    rig.trigger_on()
    _quiet(rig, n)
    counts = [open_files(pid)]
    for rnd in range(ROUNDS):
        rig.ip("link", "del", "wlan2", netns=rig.car_ns)           # adapter pulled out...
        time.sleep(1.5)
        _add_link(rig, 2)                                          # ...and plugged in again
        rig.camera(1).fault("slow", seconds=3.0)                   # hung when the reload comes
        time.sleep(FAST_CONFIG["HTTP_TIMEOUT"] + 0.2)
        rig.write_config({**FAST_CONFIG, "HTTP_TIMEOUT": FAST_CONFIG["HTTP_TIMEOUT"] + 0.01 * (rnd + 1)})
        rig.daemon.send_signal(1)                                  # SIGHUP: every worker replaced
        time.sleep(1.0)
        rig.camera(1).fault("slow", seconds=0)
        rig.camera(3).fault("reboot")
        rig.camera(3).fault("http_500", on=True)
        time.sleep(1.0)
        rig.camera(3).fault("http_500", on=False)
        rig.camera(4).fault("asleep")                              # BLE-only: woken by a connect
        _quiet(rig, n)
        counts.append(open_files(pid))
    totals = [sum(c.values()) for c in counts]
    detail = "\n".join(f"round {i}: {sum(c.values())} {dict(c)}" for i, c in enumerate(counts))
    assert max(totals[1:]) <= totals[1], f"open files grow round after round:\n{detail}"
    assert totals[-1] <= totals[0] + 2, f"more open files than at the start:\n{detail}"
    no_daemon_exceptions(rig)
