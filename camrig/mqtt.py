"""The pit wall (issue 15): the controller's snapshot published to an MQTT broker, and commands
taken from it.

One more :class:`camrig.publishers.Publisher` (name ``mqtt``): the :class:`~camrig.publishers.
Publishers` set runs it behind a :class:`~camrig.publishers.MailboxRunner`, so the controller's
loop only drops the newest snapshot into a one-slot mailbox; the broker's speed, a dead broker or a
blackholed one never reaches the loop or a shutter. The network is paho-mqtt's own thread
(``loop_start()``; paho-mqtt 2.x, ``CallbackAPIVersion.VERSION2``): ``connect_async`` means even
the TCP connect happens there, and paho reconnects with back-off (``reconnect_delay_set``, 1 s
doubling to 30 s: paho docs, "reconnect_delay_set").

Topic tree (``<car>`` is ``CAR_NAME``, ``<camera>`` a camera's name from GOPROS)::

    gopro-manager/<car>/availability        "online" / "offline"; retained; "offline" is also the
                                            last will (MQTT 3.1.1 §3.1.2.5), sent by the broker when
                                            the daemon dies without a DISCONNECT
    gopro-manager/<car>/state               retained JSON: wanted, why (wanted_by), trigger,
                                            recording count, offload progress, clock sync
    gopro-manager/<car>/<camera>/state      retained JSON: the camera's row of the snapshot
    gopro-manager/<car>/cmd                 commands in (only with MQTT_COMMANDS = True; refused
                                            with an answer otherwise)
    gopro-manager/<car>/cmd/result          answers out (not retained)
    homeassistant/<component>/gopro-manager_<car>/<object>/config
                                            retained Home Assistant discovery messages

Memory is bounded whatever the broker does: the publisher keeps the newest payload per topic (one
entry per topic: cameras + 2 + discovery entities), paho's queue of QoS 1 messages is capped
(``max_queued_messages_set``), and answers to commands wait in a queue of :data:`REPLY_QUEUE`.
While the broker is away nothing is queued: at each (re)connect the newest payload of every topic
is sent again (retained), so a subscriber sees the current state, never a backlog.

Commands (``gopro-manager/<car>/cmd``) are plain text (``record on``, ``record off``,
``record auto``, ``mark``, ``offload start``, ``offload stop``) or JSON, the control socket's
request shape plus an optional ``id`` echoed in the answer:
``{"command": "record", "args": ["on"], "id": "pit-42"}``. Each is posted to the controller
through the control socket's path (:class:`camrig.commands.Command`, ``controller.post``) with
source ``remote`` (so ``record on`` shows ``wanted_by: ["remote"]``), and answered on
``…/cmd/result`` with ``Result.as_dict()`` plus ``id`` and ``source``. Only ``record``, ``mark``
and ``offload`` are taken from the broker; ``reload`` and ``stop`` are not.

Credentials: the password is read from ``MQTT_PASSWORD_FILE`` (never the URL, which the config
refuses when it carries one), handed to paho only, and never logged; log lines name the broker by
:attr:`camrig.config.MqttConfig.url`, which has no password.
"""

from __future__ import annotations

import functools
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from .commands import Command, CommandError, Result
from .config import MqttConfig
from .logutil import limit_repeats
from .publishers import change_key

log = logging.getLogger(__name__)

#: the first topic level of everything the daemon publishes
ROOT = "gopro-manager"
#: Home Assistant's default discovery prefix (HA docs, integrations/mqtt "Discovery topic":
#: ``<discovery_prefix>/<component>/[<node_id>/]<object_id>/config``, prefix ``homeassistant``)
DISCOVERY_PREFIX = "homeassistant"
ONLINE, OFFLINE = "online", "offline"
#: commands the broker may send (``reload``/``stop`` are for the car's own operator only)
REMOTE_COMMANDS = ("record", "mark", "offload")
#: largest command payload taken, bytes
MAX_COMMAND_BYTES = 4096
#: answers waiting to be sent; beyond this, answers are dropped (counted in ``replies_dropped``)
REPLY_QUEUE = 32
#: seconds after which an unchanged retained state is sent again (``last_seen`` stays fresh)
REFRESH_S = 60.0
#: seconds between reconnect attempts: paho doubles from the first to the second
RECONNECT_DELAY = (1, 30)
#: seconds of MQTT keep-alive: a broker that stops answering is noticed within 1.5× this
KEEPALIVE_S = 15


# --- topics and payloads (pure) -----------------------------------------------------------------

def car_topic(car: str, leaf: str) -> str:
    """``gopro-manager/<car>/<leaf>`` (leaf ``state``, ``availability``, ``cmd``, ``cmd/result``)."""
    return f"{ROOT}/{car}/{leaf}"


def camera_topic(car: str, camera: str) -> str:
    """``gopro-manager/<car>/<camera>/state``: one camera's retained state."""
    return f"{ROOT}/{car}/{camera}/state"


def _object_id(text: str) -> str:
    """``text`` as a Home Assistant object id (``[a-zA-Z0-9_-]``: a camera name's ``.`` becomes ``_``)."""
    return "".join(c if c.isalnum() or c in "_-" else "_" for c in text)


def camera_payload(car: str, row: Mapping[str, Any]) -> dict:
    """One camera's retained state: the snapshot's row (docs/contracts.md "Status snapshot":
    ``state``, ``recording``, ``wanted``, ``battery_percent`` (%), ``sd_status``,
    ``remaining_space_kb`` (KB), ``remaining_video_s`` (s), ``mode``, ``job``, ``clock_error``,
    ``last_error``, ``last_seen``…) with ``car`` added."""
    return {"car": car, **row}


def car_payload(car: str, snapshot: Mapping[str, Any], *, commands: bool) -> dict:
    """The daemon's retained state.

    ``wanted`` (bool) and ``wanted_by`` (why: ``pin``, ``file``, ``latch``, ``remote``);
    ``trigger``: a trigger (pin, file or another kind) wants recording now; ``recording``/
    ``cameras``: how many cameras record, of how many; ``offload``: the snapshot's ``offload``
    when it has one, else each camera's running job (``{camera: job}``, only cameras with a job);
    ``clock_sync``: the snapshot's ``clock_sync`` when it has one, else each camera's
    ``clock_error`` (None: in sync or not checked); ``commands``: MQTT commands taken.
    """
    rows = [r for r in snapshot.get("cameras") or [] if isinstance(r, Mapping)]
    wanted_by = list(snapshot.get("wanted_by") or [])
    offload = snapshot.get("offload")
    if offload is None:
        offload = {r.get("name"): r.get("job") for r in rows if r.get("job")}
    clock = snapshot.get("clock_sync")
    if clock is None:
        clock = {r.get("name"): r.get("clock_error") for r in rows}
    return {
        "car": car,
        "updated": snapshot.get("updated"),
        "pid": snapshot.get("pid"),
        "wanted": bool(snapshot.get("wanted")),
        "wanted_by": wanted_by,
        "trigger": any(w not in ("latch", "remote") for w in wanted_by),
        "recording": sum(1 for r in rows if r.get("recording") and r.get("state") == "recording"),
        "cameras": len(rows),
        "offload": offload,
        "clock_sync": clock,
        "commands": commands,
    }


def _device(car: str, row: Mapping[str, Any] | None = None) -> dict:
    """HA ``device`` mapping (HA docs, integrations/mqtt "device": ``identifiers``, ``name``,
    ``model``, ``via_device``): one device per camera, linked to the car's daemon."""
    car_id = f"{ROOT}_{car}"
    if row is None:
        return {"identifiers": [car_id], "name": f"{car} gopro-manager", "model": "gopro-manager"}
    name = str(row.get("name"))
    return {"identifiers": [f"{car_id}_{_object_id(name)}"], "name": f"{car} {name}",
            "model": str(row.get("model") or "camera"), "via_device": car_id}


#: entities per camera: (component, key, name, value_template, extra config)
CAMERA_ENTITIES: tuple[tuple[str, str, str, str, dict], ...] = (
    ("binary_sensor", "recording", "Recording",
     "{{ 'ON' if value_json.recording else 'OFF' }}", {"device_class": "running"}),
    ("sensor", "state", "State", "{{ value_json.state }}", {}),
    ("sensor", "battery", "Battery", "{{ value_json.battery_percent }}",
     {"device_class": "battery", "unit_of_measurement": "%", "state_class": "measurement"}),
    ("sensor", "card_free", "Card free", "{{ value_json.remaining_space_kb }}",
     {"device_class": "data_size", "unit_of_measurement": "kB", "state_class": "measurement"}),
    ("sensor", "video_left", "Video left", "{{ value_json.remaining_video_s }}",
     {"device_class": "duration", "unit_of_measurement": "s"}),
    ("sensor", "last_error", "Last error", "{{ value_json.last_error or '' }}", {}),
)
#: entities of the car's daemon
CAR_ENTITIES: tuple[tuple[str, str, str, str, dict], ...] = (
    ("binary_sensor", "wanted", "Recording wanted", "{{ 'ON' if value_json.wanted else 'OFF' }}", {}),
    ("sensor", "wanted_by", "Wanted by", "{{ value_json.wanted_by | join(', ') }}", {}),
    ("sensor", "recording", "Cameras recording", "{{ value_json.recording }}", {"state_class": "measurement"}),
)
#: buttons (with MQTT_COMMANDS only): (key, name, payload pressed)
CAR_BUTTONS = (("record_on", "Record on", "record on"), ("record_auto", "Record auto", "record auto"),
               ("mark", "Mark (HiLight)", "mark"), ("offload_start", "Offload start", "offload start"),
               ("offload_stop", "Offload stop", "offload stop"))


def discovery_messages(car: str, snapshot: Mapping[str, Any], *, commands: bool) -> dict[str, dict]:
    """Home Assistant MQTT discovery: ``{topic: config}`` for every entity.

    Topic ``homeassistant/<component>/gopro-manager_<car>/<object_id>/config``; each config has
    ``name``, ``unique_id`` (``gopro-manager_<car>_<camera>_<key>``), ``device``,
    ``availability_topic`` (``gopro-manager/<car>/availability``, HA's default payloads
    ``online``/``offline``), ``state_topic`` with a ``value_template`` reading the JSON state
    (HA docs, integrations/mqtt "Discovery messages"; sensor.mqtt / binary_sensor.mqtt:
    ``state_topic``, ``value_template``, ``availability_topic``, ``unique_id``, ``device``).
    Buttons (``command_topic`` ``gopro-manager/<car>/cmd``, ``payload_press``; button.mqtt) only
    when ``commands``.
    """
    node = f"{ROOT}_{car}"
    avail = car_topic(car, "availability")
    out: dict[str, dict] = {}

    def add(component, object_id, name, device, extra):
        out[f"{DISCOVERY_PREFIX}/{component}/{node}/{object_id}/config"] = {
            "name": name, "unique_id": f"{node}_{object_id}", "device": device, "availability_topic": avail, **extra}

    car_dev = _device(car)
    for component, key, name, template, extra in CAR_ENTITIES:
        add(component, f"car_{key}", name, car_dev,
            {"state_topic": car_topic(car, "state"), "value_template": template, **extra})
    if commands:
        for key, name, payload in CAR_BUTTONS:
            add("button", f"car_{key}", name, car_dev,
                {"command_topic": car_topic(car, "cmd"), "payload_press": payload})
    for row in snapshot.get("cameras") or []:
        if not isinstance(row, Mapping) or not row.get("name"):
            continue
        cam = str(row["name"])
        dev = _device(car, row)
        for component, key, name, template, extra in CAMERA_ENTITIES:
            add(component, f"{_object_id(cam)}_{key}", name, dev,
                {"state_topic": camera_topic(car, cam), "value_template": template, **extra})
    return out


def state_messages(car: str, snapshot: Mapping[str, Any], *, commands: bool) -> dict[str, tuple[dict, str]]:
    """Every retained state message of ``snapshot``: ``{topic: (payload, change key)}``; the key
    leaves out what moves by itself (``updated``, ``last_seen``: :func:`camrig.publishers.change_key`)."""
    out: dict[str, tuple[dict, str]] = {}
    car_state = car_payload(car, snapshot, commands=commands)
    out[car_topic(car, "state")] = (car_state, json.dumps({k: v for k, v in car_state.items() if k != "updated"},
                                                          sort_keys=True, default=str))
    for row in snapshot.get("cameras") or []:
        if isinstance(row, Mapping) and row.get("name"):
            payload = camera_payload(car, row)
            out[camera_topic(car, str(row["name"]))] = (payload, change_key({"cameras": [dict(row)]}))
    return out


def parse_command(payload: bytes) -> tuple[str, tuple[str, ...], dict, Any]:
    """A command message: ``(name, args, options, id)``.

    Plain text ``record on`` (words split on white space, lower-cased), or a JSON object, the
    control socket's request plus an id: ``{"command": str, "args": [str, ...] | str,
    "options": {...}, "id": str | int}`` (``args``, ``options`` and ``id`` optional; ``id`` is
    echoed in the answer, at most 64 characters).

    :raises CommandError: empty, longer than :data:`MAX_COMMAND_BYTES`, not UTF-8, JSON that is
        not such an object, or a command the broker may not send (:data:`REMOTE_COMMANDS`).
    """
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandError(f"command of {len(payload)} bytes; at most {MAX_COMMAND_BYTES} taken")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("command is not UTF-8 text") from None
    cmd_id: Any = None
    options: dict = {}
    if text.startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"command looks like JSON but is not: {exc}") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("command"), str):
            raise CommandError('JSON command must be an object with a "command" string')
        cmd_id = obj.get("id")
        if cmd_id is not None and (not isinstance(cmd_id, (str, int)) or isinstance(cmd_id, bool)
                                   or len(str(cmd_id)) > 64):
            raise CommandError('"id" must be a string or number of at most 64 characters')
        args = obj.get("args", [])
        if isinstance(args, str):
            args = args.split()
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise CommandError('"args" must be a list of strings')
        options = obj.get("options") or {}
        if not isinstance(options, dict):
            raise CommandError('"options" must be an object')
        name, argv = obj["command"].strip().lower(), tuple(a.strip().lower() for a in args)
    else:
        words = text.split()
        if not words:
            raise CommandError("empty command")
        name, argv = words[0].lower(), tuple(w.lower() for w in words[1:])
    if name not in REMOTE_COMMANDS:
        raise CommandError(f"command {name!r} is not taken over MQTT; these are: {', '.join(REMOTE_COMMANDS)}")
    return name, argv, options, cmd_id


def _answer(result: Mapping[str, Any], cmd_id: Any) -> bytes:
    return json.dumps({**result, "id": cmd_id, "source": "remote"}, default=str).encode()


# --- the publisher ------------------------------------------------------------------------------

def read_password(path: str | None) -> str | None:
    """The broker password: the first line of ``path`` without its line end (None: no file).

    :raises OSError: the file cannot be read (the caller logs the path, never the content).
    """
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        return f.readline().rstrip("\r\n")


def make_client(cfg: MqttConfig, *, client_id: str | None = None):
    """A paho-mqtt 2.x client for ``cfg``: ``CallbackAPIVersion.VERSION2``, MQTT 3.1.1, clean
    session; TLS (``tls_set(ca_certs=MQTT_CA_FILE)``, certificate and host name checked) for
    ``mqtts``; user name from the URL and password from ``MQTT_PASSWORD_FILE``; last will
    ``offline`` (QoS 1, retained) on the availability topic; reconnect back-off
    :data:`RECONNECT_DELAY`.

    :raises OSError: the password file cannot be read. :raises ImportError: paho-mqtt missing.
    """
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id or f"{ROOT}-{cfg.car}",
                         protocol=paho.MQTTv311, clean_session=True)
    if cfg.username is not None:
        client.username_pw_set(cfg.username, read_password(cfg.password_file))
    if cfg.tls:
        client.tls_set(ca_certs=cfg.ca_file)
    client.will_set(car_topic(cfg.car, "availability"), OFFLINE, qos=1, retain=True)
    client.reconnect_delay_set(*RECONNECT_DELAY)
    return client


class MqttPublisher:
    """Publishes each snapshot to the broker in ``cfg`` and takes commands from it.

    ``cfg``: :class:`camrig.config.MqttConfig`. ``post``: where commands go (``controller.post``;
    None: every command is refused); may be set later with :meth:`attach`. ``client``: a paho
    client (default :func:`make_client`; tests pass a fake with paho's interface). ``clock``:
    monotonic seconds. ``start``: connect at once (``connect_async`` + ``loop_start``: never
    blocks). Thread use: :meth:`publish` from one thread (its MailboxRunner); callbacks on paho's
    thread; answers from a thread of its own (``mqtt-replies``).

    Counters: ``published`` (messages handed to paho), ``held`` (changes held back by
    ``MQTT_MIN_INTERVAL``), ``replies_dropped``, ``connects``.
    """

    name = "mqtt"

    def __init__(self, cfg: MqttConfig, *, post: Callable[[Command], Any] | None = None, client=None,
                 clock: Callable[[], float] = time.monotonic, client_id: str | None = None, start: bool = True):
        self.cfg = cfg
        self.car = cfg.car
        self.clock = clock
        self._post = post
        self._lock = threading.Lock()
        #: topic → newest payload (bytes): what a (re)connect sends again; one entry per topic
        self._latest: dict[str, bytes] = {}
        #: topic → (change key, monotonic time) of the last payload accepted for it
        self._accepted: dict[str, tuple[str, float]] = {}
        self._discovery_key: str | None = None
        self._connected = threading.Event()
        self._closing = False
        self.published = 0
        self.held = 0
        self.replies_dropped = 0
        self.connects = 0
        self._log = limit_repeats(log)
        self._replies: queue.Queue[tuple[str, bytes] | None] = queue.Queue(maxsize=REPLY_QUEUE)
        self._reply_thread = threading.Thread(target=self._send_replies, name="mqtt-replies", daemon=True)
        self._reply_thread.start()
        self.client = client if client is not None else make_client(cfg, client_id=client_id)
        # Enough for every topic twice over (a republish at connect while the previous QoS 1
        # messages still wait for their PUBACK), never more: paho refuses beyond it.
        self.client.max_queued_messages_set(256)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_message = self._on_message
        if start:
            self.start()

    def __repr__(self) -> str:
        return (f"<MqttPublisher {self.cfg.url} car={self.car} "
                f"{'connected' if self._connected.is_set() else 'not connected'} published={self.published}>")

    def attach(self, post: Callable[[Command], Any]) -> None:
        """Send commands to ``post`` from now on (``controller.post``)."""
        self._post = post

    def start(self) -> None:
        """Connect in paho's thread: ``connect_async`` then ``loop_start`` (neither waits for the broker)."""
        log.info("MQTT: connecting to %s as car %s (commands %s)", self.cfg.url, self.car,
                 "enabled" if self.cfg.commands else "disabled")
        self.client.connect_async(self.cfg.host, self.cfg.port, keepalive=KEEPALIVE_S)
        self.client.loop_start()

    @property
    def connected(self) -> bool:
        """The broker accepted our CONNECT and the connection has not dropped since."""
        return self._connected.is_set()

    # --- paho's thread ---------------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if getattr(reason_code, "is_failure", False):
            self._log.warning("MQTT: %s refused the connection: %s", self.cfg.url, reason_code)
            return
        self.connects += 1
        log.info("MQTT: connected to %s%s", self.cfg.url, " again" if self.connects > 1 else "")
        client.subscribe(car_topic(self.car, "cmd"), qos=1)
        client.publish(car_topic(self.car, "availability"), ONLINE, qos=1, retain=True)
        with self._lock:
            self._connected.set()
            for topic, payload in self._latest.items():
                self._send(topic, payload)

    def _on_connect_fail(self, client, userdata) -> None:
        """paho calls this inside its ``except OSError`` around a failed (re)connect (refused,
        unreachable, TLS certificate not trusted): the exception in flight says why."""
        why = sys.exc_info()[1]
        self._log.warning("MQTT: cannot connect to %s: %s; retrying with back-off", self.cfg.url,
                          why or "connection failed")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._connected.clear()
        if not self._closing:
            self._log.warning("MQTT: connection to %s lost (%s); reconnecting with back-off", self.cfg.url,
                              reason_code)

    def _on_message(self, client, userdata, message) -> None:
        if message.topic != car_topic(self.car, "cmd"):
            return
        cmd_id = None
        try:
            name, args, options, cmd_id = parse_command(message.payload)
            if not self.cfg.commands:
                raise CommandError("commands over MQTT are disabled on this car (MQTT_COMMANDS = False in its "
                                   "config); only the car's own control socket takes them")
            if self._post is None:
                raise CommandError("the daemon is not taking commands yet")
            cmd = Command(name, args, source="remote", options=options,
                          on_reply=functools.partial(self._reply, cmd_id))
        except CommandError as exc:
            log.info("MQTT: command refused: %s", exc)
            self._queue_reply(Result(self._guess_name(message.payload), False, str(exc)).as_dict(), cmd_id)
            return
        log.info("MQTT: command %s (id %s) from the broker", cmd, cmd_id)
        self._post(cmd)

    @staticmethod
    def _guess_name(payload: bytes) -> str:
        """The command word of a refused message, for the answer's ``command`` (``?`` if none)."""
        try:
            text = payload[:MAX_COMMAND_BYTES].decode("utf-8", "replace").strip()
            if text.startswith("{"):
                name = json.loads(text).get("command")
                return str(name)[:32] if name else "?"
            return (text.split() or ["?"])[0][:32]
        except Exception:
            return "?"

    # --- answers (any thread; never blocks) ----------------------------------------------------

    def _reply(self, cmd_id: Any, result: Result) -> None:
        """A command's ``on_reply``: its Result, with the message's ``id``, to ``…/cmd/result``."""
        self._queue_reply(result.as_dict(), cmd_id)

    def _queue_reply(self, result: Mapping[str, Any], cmd_id: Any) -> None:
        """Queue an answer for ``mqtt-replies``; called on the controller's loop (``on_reply``) or on
        paho's thread, so it must not block: a full queue drops the answer (counted)."""
        try:
            self._replies.put_nowait((car_topic(self.car, "cmd/result"), _answer(result, cmd_id)))
        except queue.Full:
            self.replies_dropped += 1
            self._log.warning("MQTT: %d command answer(s) dropped: the broker is not taking them", self.replies_dropped)

    def _send_replies(self) -> None:
        while True:
            item = self._replies.get()
            if item is None:
                return
            topic, payload = item
            try:
                self.client.publish(topic, payload, qos=1, retain=False)
            except Exception:
                self._log.exception("MQTT: command answer not sent")

    # --- the snapshot (the MailboxRunner's thread) -----------------------------------------------

    def refresh(self) -> None:
        """The next :meth:`publish` sends every state again, changed or not."""
        with self._lock:
            self._accepted.clear()

    def publish(self, snapshot: dict) -> None:
        """Take the newest snapshot: each retained topic whose content changed (or went unsent for
        :data:`REFRESH_S`) is sent, unless it was sent less than ``MQTT_MIN_INTERVAL`` ago (then
        it is held back and a later snapshot sends it). Discovery is sent when the cameras (names,
        models) change. Never blocks on the broker; never raises for it."""
        now = self.clock()
        commands = self.cfg.commands
        discovery = discovery_messages(self.car, snapshot, commands=commands)
        dkey = json.dumps(discovery, sort_keys=True)
        with self._lock:
            if dkey != self._discovery_key:
                old = [t for t in self._latest if t.startswith(DISCOVERY_PREFIX + "/") and t not in discovery]
                for topic in old:      # an entity gone (camera removed): HA removes it on an empty config
                    self._latest.pop(topic, None)
                    self._send(topic, b"")
                for topic, config in discovery.items():
                    encoded = json.dumps(config, sort_keys=True).encode()
                    if self._latest.get(topic) != encoded:
                        self._latest[topic] = encoded
                        self._send(topic, encoded)
                self._discovery_key = dkey
            for topic, (payload, key) in state_messages(self.car, snapshot, commands=commands).items():
                last = self._accepted.get(topic)
                if last is not None:
                    last_key, last_time = last
                    if key == last_key and now - last_time < REFRESH_S:
                        continue
                    if now - last_time < self.cfg.min_interval:
                        self.held += 1
                        continue
                self._accepted[topic] = (key, now)
                data = json.dumps(payload, default=str).encode()
                self._latest[topic] = data
                self._send(topic, data)

    def _send(self, topic: str, payload: bytes) -> None:
        """Hand a retained QoS 1 message to paho when connected (call with ``_lock`` held); when not,
        the newest payload stays in ``_latest`` and goes out at the next connect."""
        if not self._connected.is_set():
            return
        info = self.client.publish(topic, payload, qos=1, retain=True)
        rc = getattr(info, "rc", 0)
        if rc:
            self._log.warning("MQTT: publish to %s not queued (paho rc %s); sent again at the next connect",
                              topic, rc)
        else:
            self.published += 1

    def pending_topics(self) -> int:
        """How many topics the publisher holds a payload for (bounded: cameras, car, discovery)."""
        with self._lock:
            return len(self._latest)

    def close(self) -> None:
        """Say ``offline`` (retained; a clean DISCONNECT does not fire the last will), wait at most
        0.5 s for it, disconnect and end paho's thread and the answer thread."""
        self._closing = True
        try:
            if self._connected.is_set():
                info = self.client.publish(car_topic(self.car, "availability"), OFFLINE, qos=1, retain=True)
                try:
                    info.wait_for_publish(0.5)
                except (RuntimeError, ValueError):
                    pass
            self.client.disconnect()
            self.client.loop_stop()
        except Exception:
            log.exception("MQTT: closing the connection failed")
        try:
            self._replies.put_nowait(None)
        except queue.Full:
            pass
        log.info("MQTT: disconnected from %s", self.cfg.url)


def build_publisher(cfg: MqttConfig | None, post: Callable[[Command], Any] | None = None) -> MqttPublisher | None:
    """The daemon's MQTT publisher, or None when ``cfg`` is None (no MQTT_URL) or it cannot be
    built (paho-mqtt missing, password file unreadable): logged as an error, the daemon goes on
    without MQTT (the cameras matter more than the pit wall)."""
    if cfg is None:
        return None
    try:
        return MqttPublisher(cfg, post=post)
    except ImportError as exc:
        log.error("MQTT_URL is set but paho-mqtt cannot be imported (%s): pip install 'paho-mqtt>=2.1,<3'; "
                  "carrying on without MQTT", exc)
    except OSError as exc:
        log.error("MQTT: cannot read MQTT_PASSWORD_FILE %s (%s); carrying on without MQTT",
                  cfg.password_file, exc.strerror or exc)
    return None
