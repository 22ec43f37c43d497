"""Waiting for something that happens in another thread, without timing assertions."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it is truthy (→ True) or ``timeout``
    seconds have passed (→ False). Meant as ``assert eventually(lambda: ...)``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    """:func:`eventually`, raising AssertionError naming ``what`` when it does not come."""
    if not eventually(predicate, timeout):
        raise AssertionError(f"{what} not reached within {timeout} s")
