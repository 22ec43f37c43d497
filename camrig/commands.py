"""Inputs: commands posted to the controller's loop.

A :class:`Command` is posted from any thread (a signal handler, later a button or the control
socket) with ``controller.post(cmd)``; the controller's loop runs it between two of its own
steps (never in the poster's thread) and answers it through ``cmd.reply`` (a
:class:`concurrent.futures.Future`) and the optional ``on_reply`` callback, with a
:class:`Result` that says per camera what happened.

Commands (``name``, ``args``):

``record on|off|auto``
    ``on`` sets the record latch: recording is wanted whatever the triggers say
    (wanted = trigger OR latch). ``off`` and ``auto`` clear it: recording follows the triggers
    again. Neither can stop a recording a trigger wants (a trigger wins: a missed lap cannot be
    filmed again); ``off`` says so in an error result when a trigger still wants recording,
    ``auto`` does not.
``mark``
    A HiLight on every recording camera (``worker.hilight()``, when this build's worker has it).
``offload``
    Not built yet (the offload issue builds it): an error result, never a pretend success.

More commands are added at run time: :func:`register` declares a name and how its arguments are
checked (so a bad command is refused in the poster's thread), and the controller's
``add_command(name, handler)`` says who runs it. ``options`` carry named values from the control
socket or MQTT (JSON: strings, numbers, booleans, lists); a command that takes none refuses them.
``reload``
    Read the config again and apply it (what SIGHUP posts).
``stop``
    End the main loop (what SIGTERM and SIGINT post); the caller then shuts the daemon down.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from .errors import CamRigError

log = logging.getLogger(__name__)

#: the command names built into the controller (:func:`known` lists these and registered ones)
COMMANDS = ("record", "mark", "offload", "reload", "stop")
#: the argument of ``record``
RECORD_MODES = ("on", "off", "auto")


class CommandError(CamRigError, ValueError):
    """A command that cannot be posted: unknown name, wrong arguments (the message says which)."""


#: ``validate(args, options, source)``: raises CommandError naming what is wrong
Validator = Callable[[tuple[str, ...], Mapping[str, Any], str], None]


def _no_arguments(name: str) -> Validator:
    def validate(args: tuple[str, ...], options: Mapping[str, Any], source: str) -> None:
        if args:
            raise CommandError(f"command {name!r} from {source}: takes no arguments, got {' '.join(args)!r}")
        if options:
            raise CommandError(f"command {name!r} from {source}: takes no options, got {sorted(options)}")
    return validate


def _record(args: tuple[str, ...], options: Mapping[str, Any], source: str) -> None:
    if len(args) != 1 or args[0] not in RECORD_MODES:
        raise CommandError(f"command 'record' from {source}: takes one of "
                           f"{'|'.join(RECORD_MODES)}, got {' '.join(args) or 'nothing'!r}")
    if options:
        raise CommandError(f"command 'record' from {source}: takes no options, got {sorted(options)}")


_validators: dict[str, Validator] = {name: _no_arguments(name) for name in COMMANDS}
_validators["record"] = _record


def register(name: str, validate: Validator | None = None, *, replace: bool = False) -> None:
    """Declare command ``name`` (lower case letters, digits, ``-``/``_``) and how its arguments
    are checked (None: it takes none). ``replace``: a feature that builds a built-in command
    (``offload``) swaps its validator; otherwise a taken name raises ValueError."""
    if not name or not all(c.isalnum() or c in "-_" for c in name) or name != name.lower():
        raise ValueError(f"command name {name!r}: lower-case letters, digits, '-' and '_' only")
    if name in _validators and not replace:
        raise ValueError(f"command {name!r} is already registered")
    _validators[name] = validate or _no_arguments(name)


def known() -> tuple[str, ...]:
    """Every command name that may be posted (built in and registered), in registration order."""
    return tuple(_validators)


@dataclass(frozen=True)
class CameraResult:
    """What a command did to one camera: ``ok`` and a short ``detail`` for people."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Result:
    """A command's answer: ``ok`` overall, ``detail`` for people, ``cameras`` by camera name
    (empty for commands that are not about cameras, like ``stop``), ``data`` for programs."""

    command: str
    ok: bool
    detail: str
    cameras: Mapping[str, CameraResult] = field(default_factory=dict)
    #: further JSON-ready payload (an offload's plan, a mark's UTC time…)
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        """JSON-ready: ``{"command", "ok", "detail", "cameras": {name: {"ok", "detail"}}, "data"}``."""
        return {"command": self.command, "ok": self.ok, "detail": self.detail,
                "cameras": {k: dataclasses.asdict(v) for k, v in self.cameras.items()},
                "data": dict(self.data)}


@dataclass(eq=False)
class Command:
    """One request to the controller's loop.

    ``name``: one of :func:`known`; ``args``: strings (``record`` takes one of
    :data:`RECORD_MODES`, the others none unless registered otherwise); ``options``: named JSON
    values (only commands registered to take them); ``source``: who posted it, for the log and for
    why recording is wanted (``SIGHUP``, ``button``, ``socket``, ``remote``…); ``reply``: the
    Future the loop completes with a :class:`Result` (``cmd.reply.result(timeout)`` waits for
    it); ``on_reply``: called with the Result in the loop's thread, after ``reply`` is set (it
    must not block; errors are logged).

    :raises CommandError: unknown name or wrong arguments (at construction, in the poster's
        thread: a bad command never reaches the loop).
    """

    name: str
    args: tuple[str, ...] = ()
    source: str = "api"
    on_reply: Callable[[Result], None] | None = None
    reply: Future = field(default_factory=Future, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.args = tuple(self.args)
        if not all(isinstance(a, str) for a in self.args):
            raise CommandError(f"command {self.name!r} from {self.source}: arguments must be strings")
        if not isinstance(self.options, Mapping):
            raise CommandError(f"command {self.name!r} from {self.source}: options must be a mapping")
        self.options = dict(self.options)
        validate = _validators.get(self.name)
        if validate is None:
            raise CommandError(f"command {self.name!r} from {self.source}: unknown; "
                               f"known commands: {', '.join(known())}")
        validate(self.args, self.options, self.source)

    @classmethod
    def parse(cls, text: str, *, source: str = "api", on_reply=None) -> Command:
        """``"record on"`` → ``Command("record", ("on",))``; words separated by white space.

        :raises CommandError: empty text, unknown command, wrong arguments.
        """
        words = str(text).split()
        if not words:
            raise CommandError(f"empty command from {source}")
        return cls(words[0].lower(), tuple(w.lower() for w in words[1:]), source=source, on_reply=on_reply)

    def __str__(self) -> str:
        return " ".join((self.name, *self.args))

    def answer(self, result: Result) -> None:
        """Complete :attr:`reply` (once; a second answer is ignored) and call :attr:`on_reply`."""
        if self.reply.done():
            return
        self.reply.set_result(result)
        if self.on_reply is not None:
            try:
                self.on_reply(result)
            except Exception:
                log.exception("command %s from %s: its reply callback failed", self, self.source)

    def result(self, timeout: float | None = None) -> Result:
        """Wait at most ``timeout`` seconds for the answer (TimeoutError when it does not come)."""
        return self.reply.result(timeout)
