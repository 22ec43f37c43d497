"""A real Eclipse Mosquitto broker for the MQTT tests and ``bench/mqtt.py`` (issue 15).

:class:`Broker` runs the Debian package's ``mosquitto`` (2.x) on a free loopback port (or any
address, e.g. inside a rig namespace through ``prefix``) with a password file made by
``mosquitto_passwd`` and an ACL file, no anonymous access, no persistence (a restarted broker has
lost every retained message: the daemon must publish them again). Config keys from mosquitto.conf(5):
``listener``, ``allow_anonymous``, ``password_file``, ``acl_file``, ``persistence``, ``user``,
``log_dest``; ACL lines ``user``, ``topic [read|write|readwrite] <topic>`` and ``pattern``.

Users: ``car1`` (password ``car1-secret``) may read and write ``gopro-manager/car1/#`` and write
``homeassistant/#``; ``pit`` reads everything under ``gopro-manager/#`` and ``homeassistant/#``
and writes ``gopro-manager/+/cmd``; ``outsider`` (valid password) has no ACL entry at all;
``bench`` (bench/mqtt.py) reads and writes all of ``gopro-manager/#`` and ``homeassistant/#``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")
#: why the broker tests skip (None: they run)
SKIP_REASON = (None if MOSQUITTO and MOSQUITTO_PASSWD else
               "mosquitto not installed (apt-get install -y mosquitto mosquitto-clients; .ci/run installs it)")

USERS = {"car1": "car1-secret", "pit": "pit-secret", "outsider": "outsider-secret", "bench": "bench-secret"}
ACL = """\
user car1
topic readwrite gopro-manager/car1/#
topic write homeassistant/#

user pit
topic read gopro-manager/#
topic write gopro-manager/+/cmd
topic read homeassistant/#

user bench
topic readwrite gopro-manager/#
topic readwrite homeassistant/#

user outsider
"""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (bound and released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Broker:
    """One mosquitto process. ``start()`` waits until it accepts connections; ``kill()`` is SIGKILL,
    ``restart()`` starts it again on the same port with the same files (nothing retained).

    ``netns``: run it inside that network namespace (``ip netns exec``; root only).
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, netns: str | None = None,
                 tls: bool = False):
        self.tls = tls
        self.host = host
        self.port = port or free_port(host if netns is None else "127.0.0.1")
        self.netns = netns
        self.dir = Path(tempfile.mkdtemp(prefix="gm-mosquitto-"))
        os.chmod(self.dir, 0o755)
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "mosquitto.log"
        self._write_files()

    def _make_certificates(self) -> None:
        """A CA (``ca.pem``) and a server certificate for ``self.host`` (subjectAltName IP) signed by
        it, with the ``openssl`` CLI; plus ``other-ca.pem``, a CA that signed nothing here."""
        d = self.dir

        def ssl(*argv):
            subprocess.run(["openssl", *argv], check=True, capture_output=True, cwd=d)
        for name in ("ca", "other-ca"):
            ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=gm test {name}",
                "-keyout", f"{name}.key", "-out", f"{name}.pem")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={self.host}", "-keyout", "server.key",
            "-out", "server.csr")
        (d / "san.ext").write_text(f"subjectAltName=IP:{self.host}\n")
        ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "san.ext", "-out", "server.pem")
        self.ca_file = str(d / "ca.pem")
        self.other_ca_file = str(d / "other-ca.pem")

    def _write_files(self) -> None:
        if self.tls:
            self._make_certificates()
        passwd = self.dir / "passwd"
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run([MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd), user, password],
                           check=True, capture_output=True)
        (self.dir / "acl").write_text(ACL)
        me = pwd.getpwuid(os.geteuid()).pw_name
        (self.dir / "mosquitto.conf").write_text(
            f"listener {self.port} {self.host}\n"
            + (f"cafile {self.dir / 'ca.pem'}\ncertfile {self.dir / 'server.pem'}\nkeyfile {self.dir / 'server.key'}\n"
               if self.tls else "") +
            "allow_anonymous false\n"
            f"password_file {passwd}\n"
            f"acl_file {self.dir / 'acl'}\n"
            "persistence false\n"
            f"user {me}\n"                    # as root: do not drop to 'mosquitto' (it cannot read our dir)
            f"log_dest file {self.log_path}\n"
            "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
        for f in ("passwd", "acl", "mosquitto.conf"):
            os.chmod(self.dir / f, 0o600)

    def __repr__(self) -> str:
        return f"<Broker {self.host}:{self.port} pid={self.proc.pid if self.proc else None}>"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.poll() is None else None

    def start(self, timeout: float = 10.0) -> Broker:
        argv = [MOSQUITTO, "-c", str(self.dir / "mosquitto.conf")]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        seen = len(self.log())            # a restart appends to the same log: look past the old lines
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: "
                                   f"{self.proc.stderr.read().decode(errors='replace') if self.proc.stderr else ''}"
                                   f"{self.log()}")
            if self.netns is None and self._accepts():
                return self
            if self.netns is not None and " running" in self.log()[seen:]:
                return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port} within {timeout} s: {self.log()}")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5):
                return True
        except OSError:
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)

    def restart(self) -> Broker:
        self.kill()
        return self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds the broker process has used (/proc/PID/stat, fields 14 and 15)."""
        if not self.proc:
            return 0.0
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Subscriber:
    """A paho client that records every message on ``topics`` (a test's or the bench's pit wall).

    ``messages``: list of ``(monotonic time, topic, payload bytes, retain)``; ``wait_for(pred,
    timeout)`` polls them. ``refused``: the CONNACK/SUBACK failures seen.
    """

    def __init__(self, broker: Broker, user: str = "pit", topics=("gopro-manager/#",), *, password: str | None = None,
                 client_id: str | None = None):
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[float, str, bytes, bool]] = []
        self.refused: list[str] = []
        self.subscribed = False
        self.connected = False
        self.topics = list(topics)
        self.client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311,
                                  client_id=client_id or f"test-{user}-{os.getpid()}-{id(self)}")
        self.client.username_pw_set(user, USERS.get(user) if password is None else password)
        if broker.tls:
            self.client.tls_set(ca_certs=broker.ca_file)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(broker.host, broker.port, keepalive=15)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None):
        if reason_code.is_failure:
            self.refused.append(f"connect: {reason_code}")
            return
        self.connected = True
        for t in self.topics:
            client.subscribe(t, qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        for rc in reason_codes:
            if rc.is_failure:
                self.refused.append(f"subscribe: {rc}")
        self.subscribed = True

    def _on_message(self, client, userdata, message):
        self.messages.append((time.monotonic(), message.topic, bytes(message.payload), bool(message.retain)))

    def wait_for(self, predicate, timeout: float = 5.0):
        """The first message ``(t, topic, payload, retain)`` for which ``predicate`` is true, waiting
        at most ``timeout`` s; AssertionError naming what came instead."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if predicate(m):
                    return m
            seen = len(self.messages)
            if time.monotonic() > deadline:
                raise AssertionError(f"no such message within {timeout} s; got {len(self.messages)}: "
                                     f"{[(t, p[:120]) for _, t, p, _ in self.messages[-8:]]}")
            time.sleep(0.02)

    def publish(self, topic: str, payload, **kw):
        return self.client.publish(topic, payload, qos=1, **kw)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
