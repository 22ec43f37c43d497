"""MQTT publisher (issue 15), without a broker: the config block, topic and payload building, Home
Assistant discovery, command parsing, and the publisher's bounded memory, rate limit, republish at
connect and command answers against a fake paho client. The real broker: tests/mqtt/."""

from __future__ import annotations

import json
import threading

import pytest

from camrig.commands import Result
from camrig.config import CAR_NAME_RE, MqttConfig, config_from_mapping
from camrig.controller import Controller
from camrig.errors import ConfigError
from camrig.mqtt import (
    REFRESH_S,
    REPLY_QUEUE,
    MqttPublisher,
    camera_topic,
    car_payload,
    car_topic,
    discovery_messages,
    parse_command,
    read_password,
    state_messages,
)
from camrig.publishers import Publishers
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger
from tests.fakes import FollowingWorker as Worker
from tests.polling import eventually

GOPROS = [("wlan1", "GP1", "aa:bb:cc:dd:ee:01", "d4:d9:19:9a:4c:01")]


def mqtt_config(tmp_path, **keys):
    values = {"GOPROS": GOPROS, **keys}
    return config_from_mapping(values).mqtt


# --- config --------------------------------------------------------------------------------------

def test_no_mqtt_url_means_no_mqtt_even_with_the_other_keys(tmp_path):
    assert mqtt_config(tmp_path) is None
    assert mqtt_config(tmp_path, MQTT_URL=None, CAR_NAME="car1", MQTT_COMMANDS=True) is None


def test_urls_ports_tls_and_user(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = mqtt_config(tmp_path, MQTT_URL="mqtts://car7@broker.local", MQTT_PASSWORD_FILE=str(pw),
                      MQTT_CA_FILE=str(ca), CAR_NAME="car7", MQTT_MIN_INTERVAL=0.5, MQTT_COMMANDS=True)
    assert (cfg.host, cfg.port, cfg.tls, cfg.username, cfg.car, cfg.min_interval, cfg.commands) == \
        ("broker.local", 8883, True, "car7", "car7", 0.5, True)
    assert cfg.url == "mqtts://car7@broker.local:8883"
    plain = mqtt_config(tmp_path, MQTT_URL="mqtt://10.0.0.2", CAR_NAME="c")
    assert (plain.port, plain.tls, plain.username, plain.commands, plain.min_interval) == \
        (1883, False, None, False, 0.5)
    assert mqtt_config(tmp_path, MQTT_URL="mqtt://h:1884", CAR_NAME="c").port == 1884
    assert read_password(str(pw)) == "s3cret"


def test_a_password_in_the_url_is_refused_and_never_shown(tmp_path):
    with pytest.raises(ConfigError) as exc:
        mqtt_config(tmp_path, MQTT_URL="mqtts://car7:hunter2@broker:8883", CAR_NAME="car7")
    assert exc.value.key == "MQTT_URL" and "MQTT_PASSWORD_FILE" in str(exc.value)
    assert "hunter2" not in str(exc.value) and "***" in str(exc.value)


@pytest.mark.parametrize("keys,key,words", [
    ({"MQTT_URL": "http://broker", "CAR_NAME": "c"}, "MQTT_URL", "mqtt://"),
    ({"MQTT_URL": "mqtt://", "CAR_NAME": "c"}, "MQTT_URL", "no broker host"),
    ({"MQTT_URL": "mqtt://b/topic", "CAR_NAME": "c"}, "MQTT_URL", "no path"),
    ({"MQTT_URL": "mqtt://b:99999", "CAR_NAME": "c"}, "MQTT_URL", "not a URL"),
    ({"MQTT_URL": 1883, "CAR_NAME": "c"}, "MQTT_URL", "must be a string"),
    ({"MQTT_URL": "mqtt://b"}, "CAR_NAME", "missing"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "car/1"}, "CAR_NAME", "topic level"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "car#"}, "CAR_NAME", "topic level"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "c", "MQTT_COMMANDS": "yes"}, "MQTT_COMMANDS", "True or False"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "c", "MQTT_MIN_INTERVAL": -1}, "MQTT_MIN_INTERVAL", "between"),
    ({"MQTT_URL": "mqtt://u@b", "CAR_NAME": "c", "MQTT_PASSWORD_FILE": "/nonexistent/pw"},
     "MQTT_PASSWORD_FILE", "readable"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "c", "MQTT_PASSWORD_FILE": "/etc/hostname"}, "MQTT_PASSWORD_FILE",
     "names no user"),
    ({"MQTT_URL": "mqtt://b", "CAR_NAME": "c", "MQTT_CA_FILE": "/etc/hostname"}, "MQTT_CA_FILE", "no TLS"),
    ({"MQTT_URL": "mqtts://b", "CAR_NAME": "c", "MQTT_CA_FILE": "/nonexistent/ca"}, "MQTT_CA_FILE", "readable"),
])
def test_bad_mqtt_settings_name_the_key(tmp_path, keys, key, words):
    with pytest.raises(ConfigError) as exc:
        mqtt_config(tmp_path, **keys)
    assert exc.value.key == key and words in str(exc.value)


def test_mqtt_keys_are_known_keys():
    cfg = config_from_mapping({"GOPROS": GOPROS, "MQTT_URL": "mqtt://b", "CAR_NAME": "c"})
    assert not cfg.warnings
    assert CAR_NAME_RE.match("car-7_b") and not CAR_NAME_RE.match("-car")


# --- topics and payloads -------------------------------------------------------------------------

ROW = {"name": "front", "model": "hero7", "state": "recording", "recording": True, "wanted": True,
       "battery_percent": 84, "remaining_space_kb": 27655117, "last_seen": "2026-11-21T10:00:00+00:00",
       "clock_error": None, "job": None}


def snapshot(**over):
    snap = {"updated": "2026-11-21T10:00:00+00:00", "pid": 1, "wanted": True, "wanted_by": ["pin"],
            "cameras": [dict(ROW), dict(ROW, name="rear.cam", state="idle", recording=False,
                                         job={"name": "offload GX010001.MP4", "state": "running", "queued": 0},
                                         clock_error="camera clock 12 s off")]}
    snap.update(over)
    return snap


def test_topic_tree():
    assert car_topic("car7", "state") == "gopro-manager/car7/state"
    assert car_topic("car7", "availability") == "gopro-manager/car7/availability"
    assert camera_topic("car7", "front") == "gopro-manager/car7/front/state"


def test_car_state_says_wanted_why_trigger_offload_and_clock():
    state = car_payload("car7", snapshot(), commands=False)
    assert state["wanted"] and state["wanted_by"] == ["pin"] and state["trigger"]
    assert (state["recording"], state["cameras"]) == (1, 2)
    assert state["offload"] == {"rear.cam": {"name": "offload GX010001.MP4", "state": "running", "queued": 0}}
    assert state["clock_sync"] == {"front": None, "rear.cam": "camera clock 12 s off"}
    remote = car_payload("car7", snapshot(wanted_by=["remote"]), commands=True)
    assert remote["wanted_by"] == ["remote"] and not remote["trigger"] and remote["commands"]
    # the snapshot's own offload / clock_sync (when a later build has them) win
    own = car_payload("car7", snapshot(offload={"done": 3, "of": 7}, clock_sync={"ok": True}), commands=False)
    assert own["offload"] == {"done": 3, "of": 7} and own["clock_sync"] == {"ok": True}


def test_state_messages_change_key_ignores_times_that_move_by_themselves():
    a = state_messages("car7", snapshot(), commands=False)
    moved = snapshot(updated="2026-11-21T11:00:00+00:00")
    for row in moved["cameras"]:
        row["last_seen"] = "2026-11-21T11:00:00+00:00"
    b = state_messages("car7", moved, commands=False)
    front = "gopro-manager/car7/front/state"
    assert a[front][1] == b[front][1]
    assert a[front][0]["car"] == "car7" and a[front][0]["battery_percent"] == 84
    c = state_messages("car7", snapshot(cameras=[dict(ROW, battery_percent=83)]), commands=False)
    assert c[front][1] != a[front][1]
    assert a["gopro-manager/car7/state"][1] == b["gopro-manager/car7/state"][1]


def test_home_assistant_discovery():
    """HA docs (integrations/mqtt, "Discovery messages"): topic
    <prefix>/<component>/[<node_id>/]<object_id>/config; each config with device, unique_id,
    availability_topic and state_topic + value_template."""
    disc = discovery_messages("car7", snapshot(), commands=False)
    ids = [c["unique_id"] for c in disc.values()]
    assert len(ids) == len(set(ids))
    for topic, config in disc.items():
        parts = topic.split("/")
        assert parts[0] == "homeassistant" and parts[2] == "gopro-manager_car7" and parts[-1] == "config"
        assert len(parts) == 5 and parts[1] in ("sensor", "binary_sensor")
        assert all(c.isalnum() or c in "_-" for c in parts[3])
        assert config["availability_topic"] == "gopro-manager/car7/availability"
        assert config["device"]["identifiers"] and config["state_topic"] and "value_json" in config["value_template"]
    battery = disc["homeassistant/sensor/gopro-manager_car7/rear_cam_battery/config"]
    assert battery["state_topic"] == "gopro-manager/car7/rear.cam/state"
    assert battery["device"]["via_device"] == "gopro-manager_car7"
    assert battery["device_class"] == "battery" and battery["unit_of_measurement"] == "%"
    assert not any(t.startswith("homeassistant/button/") for t in disc)
    with_cmds = discovery_messages("car7", snapshot(), commands=True)
    buttons = {t: c for t, c in with_cmds.items() if t.startswith("homeassistant/button/")}
    assert {c["payload_press"] for c in buttons.values()} == {"record on", "record auto", "mark",
                                                             "offload start", "offload stop"}
    assert all(c["command_topic"] == "gopro-manager/car7/cmd" for c in buttons.values())


# --- commands ------------------------------------------------------------------------------------

@pytest.mark.parametrize("payload,expected", [
    (b"record on", ("record", ("on",), {}, None)),
    (b"  RECORD  Auto\n", ("record", ("auto",), {}, None)),
    (b"mark", ("mark", (), {}, None)),
    (b"offload start", ("offload", ("start",), {}, None)),
    (b'{"command": "record", "args": ["off"], "id": "pit-42"}', ("record", ("off",), {}, "pit-42")),
    (b'{"command": "offload", "args": "stop", "id": 7}', ("offload", ("stop",), {}, 7)),
    (b'{"command": "offload", "args": ["start"], "options": {"cameras": ["front"]}}',
     ("offload", ("start",), {"cameras": ["front"]}, None)),
    (b'{"command": "mark"}', ("mark", (), {}, None)),
])
def test_parse_command(payload, expected):
    assert parse_command(payload) == expected


@pytest.mark.parametrize("payload,words", [
    (b"", "empty"),
    (b"reload", "not taken over MQTT"),
    (b"stop", "not taken over MQTT"),
    (b"\xff\xfe", "UTF-8"),
    (b"{not json", "not: "),
    (b'["record"]', "object"),
    (b'{"command": "record", "args": [1]}', "list of strings"),
    (b'{"command": "mark", "id": true}', '"id"'),
    (b'{"command": "mark", "options": [1]}', '"options"'),
    (b"mark " + b"x" * 5000, "at most 4096"),
])
def test_bad_commands_are_refused(payload, words):
    from camrig.commands import CommandError
    with pytest.raises(CommandError, match=words.replace("(", r"\(")):
        parse_command(payload)


# --- the publisher against a fake paho client ----------------------------------------------------

class Info:
    def __init__(self, rc=0):
        self.rc = rc

    def wait_for_publish(self, timeout=None):
        return True


class FakeClient:
    """paho's interface as MqttPublisher uses it; ``block`` makes publish() hang until set."""

    def __init__(self):
        self.sent: list[tuple[str, bytes, bool]] = []
        self.block: threading.Event | None = None
        self.subscribed: list[str] = []
        self.on_connect = self.on_disconnect = self.on_message = None

    def max_queued_messages_set(self, n):
        self.max_queued = n

    def connect_async(self, host, port, keepalive=60):
        self.target = (host, port)

    def loop_start(self):
        pass

    def loop_stop(self):
        pass

    def disconnect(self):
        pass

    def subscribe(self, topic, qos=0):
        self.subscribed.append(topic)

    def publish(self, topic, payload, qos=0, retain=False):
        if self.block is not None:
            self.block.wait(10)
        self.sent.append((topic, payload if isinstance(payload, bytes) else str(payload).encode(), retain))
        return Info()

    def connect(self, pub):
        class RC:
            is_failure = False
        pub._on_connect(self, None, {}, RC(), None)

    def topics(self):
        return [t for t, _, _ in self.sent]


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def publisher(commands=False, min_interval=1.0, post=None):
    cfg = MqttConfig(host="broker", port=1883, tls=False, car="car7", username="car7", commands=commands,
                     min_interval=min_interval)
    client, clock = FakeClient(), Clock()
    return MqttPublisher(cfg, client=client, clock=clock, post=post), client, clock


def test_nothing_queued_while_disconnected_and_memory_stays_bounded():
    """A broker that is away: thousands of snapshots later the publisher holds one payload per topic
    and has handed nothing to paho; the connect sends each topic's newest payload once."""
    pub, client, clock = publisher(min_interval=0.0)
    for i in range(5000):
        clock.t += 0.5
        pub.publish(snapshot(cameras=[dict(ROW, battery_percent=i % 100)]))
    assert client.sent == []
    topics = pub.pending_topics()
    assert topics == len(discovery_messages("car7", snapshot(cameras=[ROW]), commands=False)) + 2
    client.connect(pub)
    sent = client.topics()
    assert sent[0] == "gopro-manager/car7/availability" and client.sent[0][1] == b"online"
    assert len(sent) == len(set(sent)) == topics + 1            # + availability
    front = [p for t, p, _ in client.sent if t == "gopro-manager/car7/front/state"]
    assert json.loads(front[0])["battery_percent"] == 4999 % 100
    assert client.subscribed == ["gopro-manager/car7/cmd"]


def test_change_sent_unchanged_not_min_interval_holds_back_then_sends():
    pub, client, clock = publisher(min_interval=2.0)
    client.connect(pub)
    pub.publish(snapshot())
    front = "gopro-manager/car7/front/state"
    assert client.topics().count(front) == 1
    clock.t += 0.5
    pub.publish(snapshot(updated="later"))                    # nothing but the time moved
    assert client.topics().count(front) == 1
    pub.publish(snapshot(cameras=[dict(ROW, recording=False, state="idle")]))
    assert client.topics().count(front) == 1 and pub.held >= 1   # too soon: held back
    clock.t += 2.0
    pub.publish(snapshot(cameras=[dict(ROW, recording=False, state="idle")]))
    assert client.topics().count(front) == 2
    assert json.loads(client.sent[-1][1] if client.sent[-1][0] == front else
                      [p for t, p, _ in client.sent if t == front][-1])["state"] == "idle"
    clock.t += REFRESH_S
    pub.publish(snapshot(cameras=[dict(ROW, recording=False, state="idle")]))
    assert client.topics().count(front) == 3                   # refreshed: last_seen stays fresh
    assert all(retain for t, _, retain in client.sent)


def test_a_removed_camera_s_discovery_is_cleared():
    pub, client, clock = publisher()
    client.connect(pub)
    pub.publish(snapshot())
    pub.publish(snapshot(cameras=[dict(ROW)]))
    cleared = [t for t, p, _ in client.sent if p == b""]
    assert cleared and all("rear_cam" in t for t in cleared)


def test_a_blocked_client_never_holds_up_the_loop():
    """paho stuck (its lock held, a full socket): Publishers.publish still returns at once, the
    snapshots in between are dropped (newest wins), not queued."""
    pub, client, clock = publisher(min_interval=0.0)
    client.connect(pub)
    client.block = threading.Event()
    pubs = Publishers([pub])
    try:
        for i in range(200):
            pubs.publish(snapshot(cameras=[dict(ROW, battery_percent=i % 100)]))
        runner = next(r for r in pubs._runners if r.name == "mqtt")
        assert runner.skipped >= 198 and not client.block.is_set()
    finally:
        client.block.set()
        pubs.close(timeout=2.0)


def test_commands_refused_when_disabled_with_an_answer():
    posted = []
    pub, client, clock = publisher(commands=False, post=posted.append)
    client.connect(pub)

    class Msg:
        topic = "gopro-manager/car7/cmd"
        payload = b'{"command": "record", "args": ["on"], "id": "q1"}'

    pub._on_message(client, None, Msg())
    assert eventually(lambda: any(t.endswith("cmd/result") for t in client.topics()))
    answer = json.loads([p for t, p, _ in client.sent if t.endswith("cmd/result")][0])
    assert posted == []
    assert answer["ok"] is False and "MQTT_COMMANDS" in answer["detail"] and answer["id"] == "q1"
    assert answer["command"] == "record" and answer["source"] == "remote"
    pub.close()


def test_commands_posted_as_remote_and_answered_per_camera():
    posted = []
    pub, client, clock = publisher(commands=True, post=posted.append)
    client.connect(pub)

    class Msg:
        topic = "gopro-manager/car7/cmd"
        payload = b"record on"

    pub._on_message(client, None, Msg())
    assert len(posted) == 1 and posted[0].source == "remote" and str(posted[0]) == "record on"
    from camrig.commands import CameraResult
    posted[0].answer(Result("record", True, "recording wanted by: remote", {"front": CameraResult(True, "ok")}))
    assert eventually(lambda: any(t.endswith("cmd/result") for t in client.topics()))
    answer = json.loads([p for t, p, _ in client.sent if t.endswith("cmd/result")][0])
    assert answer["cameras"] == {"front": {"ok": True, "detail": "ok"}} and answer["ok"]
    pub.close()


def test_answers_are_bounded_and_never_block_the_caller():
    """paho blocked: answers beyond REPLY_QUEUE are dropped and counted, the caller (the
    controller's loop, via on_reply) never waits."""
    pub, client, clock = publisher(commands=True)
    client.connect(pub)
    client.block = threading.Event()
    try:
        for i in range(REPLY_QUEUE + 50):
            pub._queue_reply(Result("mark", True, "x").as_dict(), i)
        assert pub._replies.qsize() <= REPLY_QUEUE
        assert pub.replies_dropped >= 49
    finally:
        client.block.set()
        pub.close()


# --- the controller: a remote latch says so ------------------------------------------------------

def test_record_on_from_remote_shows_wanted_by_remote():
    """Fails before this change: the latch was always reported as ``latch`` whoever set it."""
    from camrig.commands import Command
    from camrig.config import CameraConfig, Config
    cams = (CameraConfig(name="front", iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.2"),)
    ctl = Controller(Config(cameras=cams, network_mode="address", cycle_seconds=0.05, status_path=None),
                     [Worker("front")], FlipTrigger(), Notifier(environ={}), status_path="")
    thread = threading.Thread(target=ctl.run, daemon=True)
    thread.start()
    try:
        result = ctl.post(Command("record", ("on",), source="remote")).result(5)
        assert result.ok and result.detail == "recording wanted by: remote"
        assert ctl.snapshot()["wanted_by"] == ["remote"]
        ctl.post(Command("record", ("auto",), source="remote")).result(5)
        assert ctl.snapshot()["wanted_by"] == []
        ctl.post(Command("record", ("on",), source="socket")).result(5)
        assert ctl.snapshot()["wanted_by"] == ["remote"]      # issue 13: pin / file / button / remote
    finally:
        ctl.request_stop()
        thread.join(5)
        ctl.shutdown(stop_recordings=False, timeout=0.5)
