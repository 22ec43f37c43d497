"""The real daemon (gopro_manager.py run) publishing to a real mosquitto, on the namespace rig
(issue 15 part 4): the broker runs inside the car's namespace on its loopback, the pit's
subscriber and command sender are ``mosquitto_sub``/``mosquitto_pub`` in the same namespace.

Witnesses: the emulated cameras (their own recording state, ``record_started_at``), the messages
``mosquitto_sub`` printed, and the daemon's status file. Root + ``ip netns`` + mosquitto, else
skipped with the reason.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.mqtt.broker import USERS, Broker

SLOW = 30.0


class Sub:
    """``mosquitto_sub`` in the car's namespace: every message as ``topic<TAB>retained<TAB>payload``."""

    def __init__(self, rig, broker: Broker, topics=("gopro-manager/#",)):
        self.path = rig.workdir / f"sub-{time.monotonic_ns()}.txt"
        self.out = open(self.path, "wb")
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "pit", "-P", USERS["pit"],
                "-q", "1", "-F", "%t\t%r\t%p"]
        for t in topics:
            argv += ["-t", t]
        self.proc = subprocess.Popen(["ip", "netns", "exec", rig.car_ns, *argv], stdout=self.out,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def messages(self) -> list[tuple[str, bool, str]]:
        out = []
        for line in self.path.read_text(errors="replace").splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3:
                out.append((parts[0], parts[1] == "1", parts[2]))
        return out

    def find(self, topic: str, **fields):
        for t, retained, payload in self.messages():
            if t != topic:
                continue
            if not fields:
                return t, retained, payload
            try:
                obj = json.loads(payload)
            except ValueError:
                continue
            if isinstance(obj, dict) and all(obj.get(k) == v for k, v in fields.items()):
                return t, retained, obj
        return None

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.out.close()


@pytest.fixture
def mqtt_rig(needs_mosquitto, make_ns_rig):
    rig = make_ns_rig(2)
    rig.ip("link", "set", "lo", "up", netns=rig.car_ns)
    broker = Broker(netns=rig.car_ns).start()
    pw = rig.workdir / "mqtt-password"
    pw.write_text(USERS["car1"] + "\n")
    pw.chmod(0o600)
    subs: list[Sub] = []

    def sub(topics=("gopro-manager/#",)):
        s = Sub(rig, broker, topics)
        subs.append(s)
        return s

    config = {"MQTT_URL": f"mqtt://car1@127.0.0.1:{broker.port}", "MQTT_PASSWORD_FILE": str(pw),
              "CAR_NAME": "car1", "MQTT_MIN_INTERVAL": 0.0, "MQTT_COMMANDS": True}
    yield rig, broker, sub, config
    for s in subs:
        s.close()
    if rig.daemon is not None:
        rig.stop_daemon()
    broker.close()


def _names(rig) -> list[str]:
    return [c["name"] for c in rig.status()["cameras"]]


def _publish(rig, broker, payload: str) -> None:
    rig.run_in_car(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-u", "pit", "-P", USERS["pit"],
                    "-q", "1", "-t", "gopro-manager/car1/cmd", "-m", payload], timeout=10).check_returncode()


def test_broker_dies_mid_recording_and_comes_back(mqtt_rig):
    """Recording, the broker SIGKILLed: the cameras keep recording (the same recording: its start
    time does not move), the trigger still stops and starts them, and the restarted broker (which
    lost every retained message) gets each camera's state again."""
    rig, broker, sub, config = mqtt_rig
    pit = sub()
    rig.start_daemon(config)
    names = _names(rig)
    rig.wait_until(lambda: pit.find("gopro-manager/car1/availability"), SLOW, message="availability online")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both cameras recording")
    for name in names:
        rig.wait_until(lambda name=name: pit.find(f"gopro-manager/car1/{name}/state", state="recording",
                                                   recording=True), SLOW, message=f"{name} recording on MQTT")
    started = [rig.camera(k).state()["record_started_at"] for k in (1, 2)]

    broker.kill()
    rig.wait_until(lambda: "connection to mqtt://car1@127.0.0.1" in rig.daemon_log(), SLOW,
                   message="the daemon noticed the broker gone")
    time.sleep(3.0)                                  # a few cycles and status checks without a broker
    assert rig.recording() == [True, True]
    assert [rig.camera(k).state()["record_started_at"] for k in (1, 2)] == started
    assert rig.status()["wanted"] is True
    rig.trigger_off()                                # the loop is not held up by the dead broker
    rig.wait_until(lambda: rig.recording() == [False, False], SLOW, message="both stopped, broker down")
    rig.trigger_on()
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording again, broker down")

    broker.start()
    back = sub()
    for name in names:                               # republished at the reconnect (back-off ≤ 30 s)
        rig.wait_until(lambda name=name: back.find(f"gopro-manager/car1/{name}/state", recording=True),
                       SLOW + 10, message=f"{name} state republished to the restarted broker")
    rig.wait_until(lambda: back.find("gopro-manager/car1/availability"), SLOW, message="online again")
    assert "car1-secret" not in rig.daemon_log()     # no credential in the log


def test_commands_and_last_will_with_the_real_daemon(mqtt_rig):
    """``record on`` from the pit records with the trigger off and says ``wanted_by: remote``;
    ``record auto`` stops; SIGKILL of the daemon: the broker publishes the last will ``offline``."""
    rig, broker, sub, config = mqtt_rig
    pit = sub(("gopro-manager/#",))
    rig.start_daemon(config)
    rig.wait_until(lambda: pit.find("gopro-manager/car1/availability"), SLOW, message="availability online")
    _publish(rig, broker, json.dumps({"command": "record", "args": ["on"], "id": "e2e-1"}))
    rig.wait_until(lambda: rig.recording() == [True, True], SLOW, message="both recording on a remote command")
    answer = rig.wait_until(lambda: pit.find("gopro-manager/car1/cmd/result", id="e2e-1"), SLOW,
                            message="the answer")[2]
    assert answer["ok"] and answer["source"] == "remote" and set(answer["cameras"]) == set(_names(rig))
    assert rig.status()["wanted_by"] == ["remote"]
    rig.wait_until(lambda: pit.find("gopro-manager/car1/state", wanted_by=["remote"], trigger=False), SLOW,
                   message="car state: wanted by remote")
    _publish(rig, broker, "record auto")
    rig.wait_until(lambda: rig.recording() == [False, False], SLOW, message="both stopped on record auto")

    rig.daemon.send_signal(signal.SIGKILL)
    rig.daemon.wait(10)
    rig.wait_until(lambda: any(t == "gopro-manager/car1/availability" and p == "offline"
                               for t, _, p in pit.messages()), SLOW, message="the last will: offline")
