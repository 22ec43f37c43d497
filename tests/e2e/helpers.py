"""Small helpers the end-to-end tests share: reading emulator events and daemon log lines."""

from __future__ import annotations

from typing import Any


def events(rig, k: int) -> list[dict]:
    """Camera ``k``'s emulator events, oldest first (``{"t": monotonic seconds, "what": ..., detail}``)."""
    return rig.camera(k).state()["events"]


def find_events(rig, k: int, what: str, *, since: float = float("-inf"), **detail: Any) -> list[dict]:
    """Camera ``k``'s events named ``what`` at or after monotonic time ``since`` whose
    fields match ``detail`` (e.g. ``find_events(rig, 1, "ble", cmd="03170101")``)."""
    return [e for e in events(rig, k)
            if e["what"] == what and e["t"] >= since and all(e.get(f) == v for f, v in detail.items())]


def log_mark(rig) -> int:
    """How many lines the daemon log has now: pass it as ``after=`` to see only what comes next
    (rigs shared by several tests keep every earlier test's lines)."""
    return len(rig.daemon_log().splitlines())


def log_lines(rig, *words: str, after: int = 0) -> list[str]:
    """Daemon log lines (from line ``after`` on) containing every one of ``words`` (case-insensitive)."""
    words = tuple(w.lower() for w in words)
    return [line for line in rig.daemon_log().splitlines()[after:] if all(w in line.lower() for w in words)]
