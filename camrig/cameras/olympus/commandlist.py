"""An Olympus body's own command list (``get_commandlist.cgi``), and the check every request passes
before it is sent.

Each OI.Share body describes what it accepts in its answer to ``get_commandlist.cgi`` (the real
ones are in ``camrig/emulator/captures/``: ``OM-D_oishare-2.60_commandlist.xml``,
``PEN-F_oishare-2.60_commandlist.xml``)::

    <oishare>
     <version>2.60</version>                      OI.Share protocol version
     <support func="remote"/>                     what the body offers
     <cgi name="switch_cammode">                  one command: GET /switch_cammode.cgi?...
      <http_method type="get">
       <cmd1 name="mode">                         a parameter (key)
        <param1 name="rec">                       one value it may take...
         <cmd2 name="lvqty">                      ...and the parameters that may follow it
          <param2 name="0640x0480"/> ...
        <param1 name="play"/>

A ``cmdN`` with no ``paramN`` takes any value (``<cmd1 name="DIR"/>``); a ``paramN`` without a
name is any value too; ``cmdN`` elements inside a ``cmdN`` follow any value of it
(``<cmd1 name="utctime"><cmd2 name="diff"/></cmd1>``); the lists also nest a ``cmd3`` straight
under a ``param1`` (``startmovietake`` → ``limitter``, ``liveview``), which is read the same way:
a key that may follow that value. Checking walks the parameters in order, as the seed's tool
does (joergmlpts/olympus-wifi ``src/olympuswifi/camera.py`` @364dfcd lines 152–175 parse the
list, lines 254–308 check a command and each key and value against it), and names the command
and the values the body supports when something is not there.

The answer is hostile input: the real lists declare ``encoding="Shift-JIS"`` (which expat cannot
parse by itself; ccrome/olympus-omd-remote-control ``OMD.py`` lines 55–56 strip the declaration),
so the bytes are decoded with the declared codec here and parsed as text; DTDs are refused (no
entity expansion), as are answers over :data:`MAX_COMMANDLIST_BYTES`, nesting deeper than
:data:`MAX_DEPTH` and lists of no command.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ...errors import CameraRejected

#: Largest command list accepted, bytes. The real ones are 8–9 KB (captures); an E-M1 Mark II's,
#: with movie streaming, about 13 KB (hotchpotch/olympus-camera spec/data/e-m1-mark2.xml).
MAX_COMMANDLIST_BYTES = 256 * 1024
#: Deepest nesting of elements accepted (the real lists go 7 deep: oishare/cgi/http_method/cmd1/
#: param1/cmd2/param2... cmd3/param3).
MAX_DEPTH = 24
#: Most commands accepted in one list (the real ones have 23).
MAX_COMMANDS = 1024

_DECLARATION = re.compile(rb"""^\s*<\?xml\b[^>]*?\bencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_DECLARATION_TEXT = re.compile(r"^\s*<\?xml\b[^>]*\?>")
_CMD = re.compile(r"^cmd\d+$")
_PARAM = re.compile(r"^param\d+$")


class CommandListError(CameraRejected):
    """The body's command list cannot be used (not XML, undecodable, too big, lists nothing); the
    message names the camera and what was wrong and where."""


class UnsupportedCommand(CameraRejected):
    """A request the body's command list does not accept; the message names the command, the
    parameter or value, and what the body supports instead. Raised before anything is sent."""


@dataclass(frozen=True)
class Key:
    """One parameter (a ``cmdN`` element): ``name``; ``values``: each named value (``paramN``) and
    the keys that may follow it; ``free``: the keys that may follow any value, or None when only
    the named values are accepted."""

    name: str
    values: Mapping[str, tuple[Key, ...]] = field(default_factory=dict)
    free: tuple[Key, ...] | None = None

    def accepts(self, value: str) -> tuple[Key, ...] | None:
        """The keys that may follow ``key=value``, or None when the value is not accepted."""
        if value in self.values:
            return self.values[value]
        return self.free

    def describe_values(self) -> str:
        """``"rec, play, shutter"``, ``"any value"``, or both."""
        named = ", ".join(self.values)
        if self.free is not None:
            return f"{named} or any value" if named else "any value"
        return named or "no value"


@dataclass(frozen=True)
class Command:
    """One ``<cgi>``: ``name`` (``"exec_takemotion"``), ``method`` (``"get"``/``"post"``; None when
    the list gives no ``http_method``), ``keys``: the parameters it may start with."""

    name: str
    method: str | None
    keys: tuple[Key, ...] = ()


@dataclass(frozen=True)
class CommandList:
    """A parsed command list: ``version`` (the ``<version>`` text, e.g. ``"2.60"``; None if absent),
    ``supports`` (``<support func=…>`` values), ``commands`` by name, ``source`` (for messages:
    ``"get_commandlist.cgi"`` or a built-in list's name)."""

    version: str | None
    supports: frozenset[str]
    commands: Mapping[str, Command]
    source: str = "get_commandlist.cgi"

    def has(self, command: str) -> bool:
        """Whether the list names ``command`` with an HTTP method."""
        cmd = self.commands.get(command)
        return cmd is not None and cmd.method is not None

    def check(self, command: str, params: Sequence[tuple[str, str]] = (), *, camera: str | None = None,
              method: str = "get") -> None:
        """Raise :class:`UnsupportedCommand` unless ``command`` with ``params`` (``(key, value)``
        pairs in the order they are sent) is what the list accepts, over ``method``."""
        cmd = self.commands.get(command)
        if cmd is None:
            raise UnsupportedCommand(f"{command}.cgi is not in this camera's command list ({self.source}); "
                                     f"it has: {', '.join(sorted(self.commands)) or 'nothing'}", camera=camera)
        if cmd.method != method:
            raise UnsupportedCommand(f"{command}.cgi: the command list gives it HTTP method {cmd.method!r}, "
                                     f"not {method!r}", camera=camera)
        allowed: tuple[Key, ...] = cmd.keys
        done: list[str] = []
        for key, value in params:
            k = next((a for a in allowed if a.name == key), None)
            where = f"{command}.cgi" + (f"?{'&'.join(done)}" if done else "")
            if k is None:
                if allowed:
                    accepted = ", ".join(a.name for a in allowed)
                    raise UnsupportedCommand(f"{where}: parameter {key!r} is not accepted here; "
                                             f"this camera accepts: {accepted}", camera=camera)
                raise UnsupportedCommand(f"{where}: parameter {key!r} is not accepted: this camera "
                                         "takes no (more) parameters here", camera=camera)
            follows = k.accepts(value)
            if follows is None:
                raise UnsupportedCommand(f"{where}: {key}={value!r} is not supported; this camera supports "
                                         f"{key}= {k.describe_values()}", camera=camera)
            done.append(f"{key}={value}")
            allowed = follows

    def values(self, command: str, path: Sequence[tuple[str, str]], key: str) -> tuple[str, ...] | None:
        """The named values of ``key`` after ``path`` (``values("switch_cammode", [("mode", "rec")],
        "lvqty")`` → ``("0320x0240", …)``); ``()`` when it takes any value; None when ``key``
        cannot follow ``path`` (or ``path`` itself is not accepted)."""
        cmd = self.commands.get(command)
        if cmd is None:
            return None
        allowed: tuple[Key, ...] = cmd.keys
        for k_name, value in path:
            k = next((a for a in allowed if a.name == k_name), None)
            follows = k.accepts(value) if k is not None else None
            if follows is None:
                return None
            allowed = follows
        k = next((a for a in allowed if a.name == key), None)
        if k is None:
            return None
        return tuple(k.values)


def decode(body: bytes, *, what: str = "get_commandlist.cgi", camera: str | None = None,
           limit: int = MAX_COMMANDLIST_BYTES) -> str:
    """``body`` as text, decoded with the codec its XML declaration names (``Shift-JIS`` on the
    real lists; UTF-8 when none is named), the declaration removed so the text parses by itself.

    Raises :class:`CommandListError` naming ``what``: empty, over ``limit`` bytes, an encoding
    Python does not know, bytes that are not valid in it."""
    if not isinstance(body, (bytes, bytearray)):
        raise CommandListError(f"{what}: answer is not bytes", camera=camera)
    if len(body) > limit:
        raise CommandListError(f"{what}: answer of {len(body)} bytes is over the {limit}-byte limit",
                               camera=camera)
    if not body.strip():
        raise CommandListError(f"{what}: empty answer", camera=camera)
    m = _DECLARATION.match(body)
    declared = m.group(1).decode("ascii") if m else "utf-8"
    try:
        codec = codecs.lookup(declared).name
    except LookupError:
        raise CommandListError(f"{what}: declares encoding {declared!r}, which cannot be decoded",
                               camera=camera) from None
    if codec == "utf-8":
        codec = "utf-8-sig"                           # a BOM is allowed before the declaration
    try:
        text = bytes(body).decode(codec)
    except UnicodeDecodeError as exc:
        raise CommandListError(f"{what}: not valid {declared} at byte {exc.start} "
                               f"({bytes(body[exc.start:exc.start + 4])!r})", camera=camera) from None
    return _DECLARATION_TEXT.sub("", text, count=1)


def parse_xml(body: bytes, *, what: str = "get_commandlist.cgi", camera: str | None = None,
              limit: int = MAX_COMMANDLIST_BYTES) -> ET.Element:
    """The root element of an XML answer (:func:`decode` first). Raises :class:`CommandListError`
    naming ``what`` when it is not XML (with expat's line and column), carries a DTD (refused:
    no entity expansion from a camera), or nests deeper than :data:`MAX_DEPTH`."""
    text = decode(body, what=what, camera=camera, limit=limit)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise CommandListError(f"{what}: carries a DTD (<!DOCTYPE/<!ENTITY), refused", camera=camera)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CommandListError(f"{what}: not XML ({exc})", camera=camera) from None
    _check_depth(root, what=what, camera=camera)
    return root


def _check_depth(root: ET.Element, *, what: str, camera: str | None) -> None:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CommandListError(f"{what}: elements nested deeper than {MAX_DEPTH}", camera=camera)
        stack.extend((child, depth + 1) for child in el)


def parse(body: bytes, *, camera: str | None = None, source: str = "get_commandlist.cgi") -> CommandList:
    """Parse a ``get_commandlist.cgi`` answer (bytes as received) into a :class:`CommandList`.

    Raises :class:`CommandListError` naming the camera and ``source``: see :func:`parse_xml`, and
    a list of no ``<cgi>``, a ``<cgi>`` without a name, more than :data:`MAX_COMMANDS` commands."""
    root = parse_xml(body, what=source, camera=camera)
    version = None
    supports: set[str] = set()
    commands: dict[str, Command] = {}
    for el in root:
        if el.tag == "version" and el.text and el.text.strip():
            version = el.text.strip()[:40]
        elif el.tag == "support" and el.get("func"):
            supports.add(el.get("func", "").strip())
        elif el.tag == "cgi":
            name = (el.get("name") or "").strip()
            if not name or not re.fullmatch(r"[A-Za-z0-9_]{1,64}", name):
                raise CommandListError(f"{source}: a <cgi> has no usable name ({el.get('name')!r})", camera=camera)
            method = None
            keys: tuple[Key, ...] = ()
            for child in el:
                if child.tag == "http_method":
                    method = (child.get("type") or "").strip().lower() or None
                    keys = _keys(child)
            commands[name] = Command(name, method, keys)
            if len(commands) > MAX_COMMANDS:
                raise CommandListError(f"{source}: more than {MAX_COMMANDS} commands", camera=camera)
    if not commands:
        raise CommandListError(f"{source}: lists no commands (root <{root.tag}>)", camera=camera)
    return CommandList(version, frozenset(supports), commands, source)


def _keys(parent: ET.Element) -> tuple[Key, ...]:
    """The ``cmdN`` children of ``parent`` as keys."""
    return tuple(_key(child) for child in parent if _CMD.match(child.tag) and child.get("name"))


def _key(el: ET.Element) -> Key:
    """One ``cmdN``: its named ``paramN`` values (each followed by the ``cmdN`` inside it and the
    ``cmdN`` beside the values), a nameless ``paramN`` or no ``paramN`` at all = any value."""
    beside = _keys(el)
    values: dict[str, tuple[Key, ...]] = {}
    free: tuple[Key, ...] | None = None
    params = [child for child in el if _PARAM.match(child.tag)]
    for p in params:
        follows = _keys(p) + beside
        name = p.get("name")
        if name is None or not name.strip():
            free = follows
        else:
            values[name.strip()] = follows
    if not params:
        free = beside
    return Key((el.get("name") or "").strip(), values, free)


def describe(keys: Iterable[Key]) -> list[str]:
    """Every accepted parameter path, for people: ``["mode=rec&lvqty=0320x0240", "mode=play", …]``
    (``*`` for any value). Used by the emulator's control socket and the docs."""
    out: list[str] = []

    def walk(prefix: str, ks: tuple[Key, ...], depth: int) -> None:
        if depth > MAX_DEPTH:
            return
        for k in ks:
            items = list(k.values.items()) + ([("*", k.free)] if k.free is not None else [])
            for value, follows in items:
                path = f"{prefix}&{k.name}={value}" if prefix else f"{k.name}={value}"
                out.append(path)
                walk(path, follows, depth + 1)

    walk("", tuple(keys), 0)
    return out
