"""The MQTT publisher (camrig/mqtt.py) against a real mosquitto on loopback (issue 15 part 4):
publish and subscribe through the password file and the ACL, Home Assistant discovery, retained
state across a restart of the publisher, the last will when its process is SIGKILLed, commands
answered (enabled) and refused (disabled), a client without ACL entries and a wrong password
refused, the broker killed and restarted (state published again). A controller with fake workers
stands in for the daemon here; tests/mqtt/test_mqtt_e2e.py runs the real daemon on the namespace
rig. Skipped, saying why, without mosquitto."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from camrig.config import CameraConfig, Config, MqttConfig
from camrig.controller import Controller
from camrig.mqtt import MqttPublisher
from camrig.systemd import Notifier
from tests.fakes import FlipTrigger
from tests.fakes import FollowingWorker as Worker
from tests.mqtt.broker import Broker, Subscriber
from tests.polling import eventually

REPO = Path(__file__).resolve().parents[2]
CAMERAS = ("front", "rear")


def mqtt_cfg(broker, password_file, *, commands=False, user="car1", password=None) -> MqttConfig:
    return MqttConfig(host=broker.host, port=broker.port, tls=False, car="car1", username=user,
                      password_file=password_file(user, password), commands=commands, min_interval=0.0)


class Daemon:
    """A controller (fake workers that record as soon as recording is wanted) with the MQTT publisher."""

    def __init__(self, cfg: MqttConfig):
        cams = tuple(CameraConfig(name=n, iface=None, ssid=None, wifi_mac=None, bt_mac=None, address="127.0.0.2")
                     for n in CAMERAS)
        self.workers = [Worker(n) for n in CAMERAS]
        self.trigger = FlipTrigger()
        self.mqtt = MqttPublisher(cfg)
        self.ctl = Controller(Config(cameras=cams, network_mode="address", cycle_seconds=0.1, status_path=None),
                              self.workers, self.trigger, Notifier(environ={}), status_path="",
                              publishers=[self.mqtt])
        self.mqtt.attach(self.ctl.post)
        from camrig.offload.service import install
        self.offload = install(self.ctl)        # the daemon's offload command, as cmd_run installs it
        self.thread = threading.Thread(target=self.ctl.run, daemon=True)
        self.thread.start()

    def stop(self):
        self.offload.close()
        self.ctl.request_stop()
        self.thread.join(5)
        self.ctl.shutdown(stop_recordings=False, timeout=0.5)


@pytest.fixture
def daemons():
    made = []

    def make(cfg):
        d = Daemon(cfg)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()


@pytest.fixture
def subscribers():
    made = []

    def make(broker, user="pit", topics=("gopro-manager/#",), **kw):
        s = Subscriber(broker, user, topics, **kw)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def state(m) -> dict:
    return json.loads(m[2]) if m[2] else {}


def is_state(topic, **fields):
    return lambda m: m[1] == topic and m[2] and all(state(m).get(k) == v for k, v in fields.items())


def test_state_and_discovery_reach_a_subscriber(broker, password_file, daemons, subscribers):
    pit = subscribers(broker, topics=("gopro-manager/#", "homeassistant/#"))
    d = daemons(mqtt_cfg(broker, password_file))
    pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")
    pit.wait_for(is_state("gopro-manager/car1/front/state", state="idle"))
    d.trigger.set(True)
    for cam in CAMERAS:
        m = pit.wait_for(is_state(f"gopro-manager/car1/{cam}/state", state="recording", recording=True))
        assert state(m)["car"] == "car1"
    car = state(pit.wait_for(is_state("gopro-manager/car1/state", wanted=True)))
    assert car["wanted_by"] == ["trigger"] and car["trigger"] is True and car["cameras"] == 2
    disc = pit.wait_for(lambda m: m[1] == "homeassistant/sensor/gopro-manager_car1/rear_battery/config")
    config = state(disc)
    assert config["state_topic"] == "gopro-manager/car1/rear/state" and config["unique_id"]
    assert config["availability_topic"] == "gopro-manager/car1/availability"
    # a subscriber arriving later gets the retained state and discovery at once
    late = subscribers(broker, topics=("gopro-manager/#", "homeassistant/#"))
    m = late.wait_for(is_state("gopro-manager/car1/rear/state", state="recording"))
    assert m[3] is True                                   # retained
    late.wait_for(lambda m: m[1].startswith("homeassistant/binary_sensor/gopro-manager_car1/") and m[3])


def test_retained_state_after_a_restart_of_the_daemon(broker, password_file, daemons, subscribers):
    cfg = mqtt_cfg(broker, password_file)
    d = daemons(cfg)
    pit = subscribers(broker)
    d.trigger.set(True)
    pit.wait_for(is_state("gopro-manager/car1/front/state", recording=True))
    d.stop()
    # a clean stop says offline itself (a clean DISCONNECT does not fire the will)
    pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"offline")
    while_down = subscribers(broker)
    while_down.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"offline" and m[3])
    while_down.wait_for(is_state("gopro-manager/car1/front/state", recording=True))   # retained, still there
    daemons(cfg)
    pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")


KILLED = """
import sys, time
from camrig.config import MqttConfig
from camrig.mqtt import MqttPublisher
cfg = MqttConfig(host=sys.argv[1], port=int(sys.argv[2]), tls=False, car="car1", username="car1",
                 password_file=sys.argv[3], min_interval=0.0)
pub = MqttPublisher(cfg)
while not pub.connected:
    time.sleep(0.02)
pub.publish({"wanted": False, "wanted_by": [], "cameras": [{"name": "front", "state": "idle"}]})
print("up", flush=True)
time.sleep(60)
"""


def test_last_will_when_the_daemon_is_killed(broker, password_file, subscribers):
    """SIGKILL: no DISCONNECT reaches the broker, which then publishes the will (MQTT 3.1.1 §3.1.2.5)."""
    pit = subscribers(broker)
    proc = subprocess.Popen([sys.executable, "-c", KILLED, broker.host, str(broker.port), password_file("car1")],
                            cwd=REPO, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert proc.stdout.readline() == b"up\n"
        pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        m = pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"offline", timeout=10)
        assert m is not None
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(5)
        proc.stdout.close()


def test_commands_answered_when_enabled(broker, password_file, daemons, subscribers):
    d = daemons(mqtt_cfg(broker, password_file, commands=True))
    pit = subscribers(broker)
    pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")
    pit.publish("gopro-manager/car1/cmd", json.dumps({"command": "record", "args": ["on"], "id": "pit-1"}))
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result" and b"pit-1" in m[2]))
    assert answer["ok"] and answer["command"] == "record" and answer["source"] == "remote"
    assert set(answer["cameras"]) == set(CAMERAS) and all(c["ok"] for c in answer["cameras"].values())
    assert answer["detail"] == "recording wanted by: remote"
    car = state(pit.wait_for(is_state("gopro-manager/car1/state", wanted=True)))
    assert car["wanted_by"] == ["remote"] and car["trigger"] is False       # "wanted: remote"
    assert eventually(lambda: all(w.wanted for w in d.workers))
    pit.publish("gopro-manager/car1/cmd", "record auto")
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result"
                                and state(m).get("detail") == "recording not wanted"))
    assert answer["ok"] and answer["id"] is None
    pit.publish("gopro-manager/car1/cmd", "mark")
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result" and state(m)["command"] == "mark"))
    assert set(answer["cameras"]) == set(CAMERAS)                          # per camera, whatever each said
    pit.publish("gopro-manager/car1/cmd", json.dumps({"command": "offload", "args": ["start"],
                                                      "options": {"cameras": [CAMERAS[0]]}, "id": "pit-2"}))
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result" and b"pit-2" in m[2]))
    # reached the offload service (not refused as "takes no arguments"), answered for that camera
    # (these fake workers have no media access: the answer says so)
    assert answer["command"] == "offload" and list(answer["cameras"]) == [CAMERAS[0]], answer
    assert "no media access" in answer["cameras"][CAMERAS[0]]["detail"]
    pit.publish("gopro-manager/car1/cmd", "stop")                        # not taken from the broker
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result" and state(m)["command"] == "stop"))
    assert not answer["ok"] and "not taken over MQTT" in answer["detail"]
    assert d.thread.is_alive()


def test_commands_refused_when_disabled(broker, password_file, daemons, subscribers):
    d = daemons(mqtt_cfg(broker, password_file, commands=False))
    pit = subscribers(broker)
    pit.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")
    pit.publish("gopro-manager/car1/cmd", "record on")
    answer = state(pit.wait_for(lambda m: m[1] == "gopro-manager/car1/cmd/result"))
    assert not answer["ok"] and "MQTT_COMMANDS" in answer["detail"] and answer["command"] == "record"
    assert not d.ctl.latch and not any(w.wanted for w in d.workers)


def test_clients_outside_the_acl_are_refused(broker, password_file, daemons, subscribers, caplog):
    """The ACL: a user with no entry sees nothing and cannot command the car; a wrong password is
    refused at CONNECT; the daemon's own log never shows a password."""
    caplog.set_level(logging.DEBUG)
    d = daemons(mqtt_cfg(broker, password_file, commands=True))
    pit = subscribers(broker)
    pit.wait_for(is_state("gopro-manager/car1/front/state", state="idle"))
    outsider = subscribers(broker, "outsider", topics=("gopro-manager/#", "homeassistant/#"))
    assert eventually(lambda: outsider.subscribed)
    outsider.publish("gopro-manager/car1/cmd", "record on")
    time.sleep(1.0)                          # what the outsider would have had by now: retained state
    assert outsider.messages == []
    assert not d.ctl.latch and not any(m[1].endswith("cmd/result") for m in pit.messages)
    wrong = subscribers(broker, "pit", password="not-the-password")
    assert eventually(lambda: wrong.refused)
    assert "Not authorized" in wrong.refused[0] or "Bad user name or password" in wrong.refused[0]
    assert not wrong.messages
    # the daemon with a wrong password: refused, logged without the password, nothing breaks
    bad = MqttPublisher(mqtt_cfg(broker, password_file, user="car1", password="wrong-pw-123"),
                        client_id="gopro-manager-car1-bad")
    try:
        assert eventually(lambda: any("refused" in r.getMessage() for r in caplog.records))
        assert not bad.connected
    finally:
        bad.close()
    assert all("car1-secret" not in r.getMessage() and "wrong-pw-123" not in r.getMessage()
               for r in caplog.records)


def test_broker_killed_and_restarted_state_published_again(broker, password_file, daemons, subscribers):
    d = daemons(mqtt_cfg(broker, password_file))
    pit = subscribers(broker)
    d.trigger.set(True)
    pit.wait_for(is_state("gopro-manager/car1/rear/state", recording=True))
    pit.close()
    broker.kill()
    assert eventually(lambda: not d.mqtt.connected)
    d.trigger.set(False)                          # the loop goes on without the broker
    assert eventually(lambda: not any(w.wanted for w in d.workers))
    d.trigger.set(True)
    assert eventually(lambda: all(w.wanted for w in d.workers))
    broker.start()                                 # no persistence: every retained message is gone
    back = subscribers(broker)
    # reconnect back-off starts at 1 s and doubles: allow a few rounds
    back.wait_for(is_state("gopro-manager/car1/rear/state", recording=True), timeout=40)
    later = subscribers(broker)                    # and it is retained again on the new broker
    assert later.wait_for(is_state("gopro-manager/car1/rear/state", recording=True))[3] is True
    back.wait_for(lambda m: m[1] == "gopro-manager/car1/availability" and m[2] == b"online")
    assert d.mqtt.connects >= 2


def test_tls_with_the_ca_file_and_an_untrusted_broker_refused(needs_mosquitto, password_file, subscribers, caplog):
    """mqtts: the broker's certificate is checked against MQTT_CA_FILE (and its host name): with
    the right CA the state flows; with a CA that did not sign it, no connection, the reason is
    logged, and nothing is sent."""
    caplog.set_level(logging.INFO)
    broker = Broker(tls=True).start()
    try:
        pit = subscribers(broker)
        good = MqttConfig(host=broker.host, port=broker.port, tls=True, car="car1", username="car1",
                          password_file=password_file("car1"), ca_file=broker.ca_file, min_interval=0.0)
        pub = MqttPublisher(good)
        try:
            assert eventually(lambda: pub.connected)
            pub.publish({"wanted": False, "wanted_by": [], "cameras": [{"name": "front", "state": "idle"}]})
            pit.wait_for(is_state("gopro-manager/car1/front/state", state="idle"))
        finally:
            pub.close()
        bad = MqttPublisher(dataclasses.replace(good, ca_file=broker.other_ca_file), client_id="gm-untrusted")
        try:
            assert eventually(lambda: any("cannot connect" in r.getMessage() and "certificate" in r.getMessage()
                                          for r in caplog.records))
            assert not bad.connected
        finally:
            bad.close()
    finally:
        broker.close()
