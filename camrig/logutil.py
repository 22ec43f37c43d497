"""Repeated log lines, collapsed per source (one camera, the controller).

A chattering trigger, or a camera that fails the same way in a loop, would
otherwise write the same line hundreds of times a minute to the journal.
:class:`RepeatLimiter` wraps a logger (or a LoggerAdapter such as the
worker's ``CameraLog``) and, per source:

* always writes the **first** occurrence of a message (level and text, args
  formatted), and any message it has not seen in the last ``window`` seconds;
* holds back the same message repeated within ``window`` seconds (default
  :data:`REPEAT_WINDOW`, 10 s) and counts it;
* never loses one entirely: what was held back is written as one line,
  ``front: idle → recording (shutter on) (repeated 37 times in 4 s)``,
  once ``window`` has passed since the message was last written, or as soon as
  the source has been quiet for :data:`QUIET` seconds (1 s) -- in the order
  the messages last happened, so the journal's last line for a camera tells
  its latest state (a state change is never left unsaid).

Summaries are written on the source's next log call and by :func:`flush_all`,
which the controller calls every cycle. Times are ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

#: Seconds within which a repeated message (same level, same text) is counted, not written.
REPEAT_WINDOW = 10.0

#: Seconds of silence from a source after which its held-back messages are summarised.
QUIET = 1.0

_limiters: weakref.WeakSet[RepeatLimiter] = weakref.WeakSet()


@dataclass
class _Seen:
    written_at: float        # when this message was last written (a window starts)
    last_at: float           # when it last happened
    held: int = 0            # occurrences held back since it was written


class RepeatLimiter(logging.LoggerAdapter):
    """A LoggerAdapter over ``logger`` (a Logger or another adapter) that collapses repeats.

    ``window``: seconds a written message holds back its identical repeats; ``quiet``: seconds
    of silence after which the held-back repeats are summarised; ``clock``: monotonic seconds.
    Thread-safe. Everything else (levels, ``exc_info``, the wrapped adapter's prefix) passes
    through unchanged.
    """

    def __init__(self, logger, *, window: float = REPEAT_WINDOW, quiet: float = QUIET,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(logger, {})
        self.window = window
        self.quiet = quiet
        self.clock = clock
        self._seen: dict[tuple[int, str], _Seen] = {}
        self._last_call = float("-inf")
        self._lock = threading.RLock()
        _limiters.add(self)

    def __repr__(self) -> str:
        return f"<RepeatLimiter {self.logger!r} window={self.window:g}s>"

    def process(self, msg, kwargs):
        return msg, kwargs

    def log(self, level, msg, *args, **kwargs):
        """Write ``msg % args`` at ``level`` unless it repeats a message written within
        :attr:`window` seconds (then it is counted, and summarised later)."""
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        with self._lock:
            now = self.clock()
            self._flush(now, skip=(level, text))
            self._last_call = now
            seen = self._seen.get((level, text))
            if seen is not None and now - seen.written_at < self.window:
                seen.held += 1
                seen.last_at = now
                return
            suffix = ""
            if seen is not None and seen.held:
                suffix = f" (and {seen.held} more time{'s' if seen.held > 1 else ''} in the last " \
                         f"{now - seen.written_at:.0f} s)"
            self._seen[(level, text)] = _Seen(written_at=now, last_at=now)
            self.logger.log(level, "%s", text + suffix, **kwargs)

    def flush(self) -> None:
        """Write the summaries that are due now (a window passed, or the source fell quiet)."""
        with self._lock:
            self._flush(self.clock())

    def _flush(self, now: float, skip: tuple[int, str] | None = None) -> None:
        quiet = now - self._last_call >= self.quiet
        due = []
        for key, seen in list(self._seen.items()):
            if key == skip:
                continue
            if seen.held and (quiet or now - seen.written_at >= self.window):
                due.append((seen.last_at, key, seen))
            elif not seen.held and now - seen.written_at >= self.window:
                del self._seen[key]               # forgotten: its next occurrence is new again
        for _, (level, text), seen in sorted(due, key=lambda d: d[0]):
            times = f"{seen.held} time{'s' if seen.held > 1 else ''}"
            span = max(1.0, seen.last_at - seen.written_at)
            self.logger.log(level, "%s", f"{text} (repeated {times} in {span:.0f} s)")
            seen.held = 0
            seen.written_at = now


def flush_all() -> None:
    """Write every limiter's due summaries (the controller calls this every cycle)."""
    for limiter in list(_limiters):
        try:
            limiter.flush()
        except Exception:   # logging must never take the main loop down
            logging.getLogger(__name__).exception("flushing repeated log lines failed")


def limit_repeats(logger, **kwargs) -> RepeatLimiter:
    """``logger`` (a Logger or LoggerAdapter) wrapped in a :class:`RepeatLimiter`."""
    return RepeatLimiter(logger, **kwargs)
