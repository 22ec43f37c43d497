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
