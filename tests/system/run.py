"""``make system-test``: the hardened unit under a real systemd, against emulated cameras.

What it does (root only; everything it creates is named ``gmst…`` and removed
by exact name at the end, also after a failure):

1. A Debian bookworm minbase root file system with systemd (``debootstrap``),
   cached under ``$GOPRO_SYSTEMTEST_CACHE`` (default
   ``/var/cache/gopro-manager-systemtest``) and copied for each run; a
   wheelhouse of ``requirements.txt`` built on the host with ``pip wheel``
   (the container has no network but the cameras'), cached by the hash of
   requirements.txt.
2. The emulated car (:class:`tests.rig.NamespaceRig`, 3 cameras,
   ``gmst-car`` and ``gmst-cam1..3``).
3. ``systemd-nspawn --boot`` on a copy of that root, joined to ``gmst-car``
   (``--network-namespace-path``, ``--capability=CAP_NET_ADMIN`` so that the
   unit can be given it), in a cgroup of its own.
4. The install as the README says it: the tree in ``/usr/local/gopro-manager``,
   ``python3 -m venv .venv`` and ``pip install -r requirements.txt`` (from the
   wheelhouse, bind-mounted read-only, ``--no-index``), the user from
   ``systemd/sysusers.d``, the config ``root:gopro-manager 0640`` in
   ``/etc/gopro-manager``, the unit in ``/etc/systemd/system``. A drop-in
   adds what only the rig needs: ``GOPRO_EMU_DIR`` for the stand-in gatttool.
5. The checks: ``systemctl start`` returns (READY=1); the daemon runs as
   ``gopro-manager`` with CAP_NET_ADMIN and CAP_NET_RAW only and
   NoNewPrivs; ``systemctl status`` shows the STATUS= line; ``touch
   /run/gopro-manager/trigger`` → every emulated camera records and the journal
   shows each one starting; ``systemctl kill -s KILL`` → systemd restarts it,
   the cameras never stop; ``systemctl reload`` → still recording; ``systemctl
   stop`` → a clean exit (Result=success), cameras left recording (ON_EXIT
   "leave").

Talks to the container with ``nsenter -t <container init pid> -a``. Prints one
line per check and ends with ``N passed, N failed``; exit status 0 only when
all passed. ``--keep`` leaves the container running for a look (and prints how
to remove it).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.rig import NamespaceRig, namespaces_available, wait_until

REPO = Path(__file__).resolve().parents[2]

NAME = "gmst"                                  # prefix of every namespace, cgroup, directory
CACHE = Path(os.environ.get("GOPRO_SYSTEMTEST_CACHE", "/var/cache/gopro-manager-systemtest"))
SUITE = "bookworm"
MIRROR = os.environ.get("GOPRO_SYSTEMTEST_MIRROR", "http://deb.debian.org/debian")
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,iproute2,procps"
INSTALL_DIR = "/usr/local/gopro-manager"
EMU_DIR_IN_CONTAINER = "/srv/gopro-emu"
WHEELS_IN_CONTAINER = "/srv/wheelhouse"
#: A clean environment for commands in the container (nsenter keeps the caller's otherwise).
CONTAINER_ENV = ["env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "LANG=C.UTF-8", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0"]
CAP_NET_ADMIN, CAP_NET_RAW = 12, 13

SLOW = 60.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(argv, *, timeout=600, check=True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(a) for a in argv], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False, **kw)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                           f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return proc


# --- prerequisites --------------------------------------------------------------------------

def prerequisites() -> str | None:
    """None when the test can run here, else why not (the caller skips with that reason)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, systemd-nspawn)"
    ok, why = namespaces_available()
    if not ok:
        return why
    missing = [pkg for cmd, pkg in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"))
               if shutil.which(cmd) is None]
    if missing and shutil.which("apt-get"):
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        if run(["apt-get", "install", "-y", "-qq", *missing], check=False, env=env).returncode != 0:
            run(["apt-get", "update", "-qq"], env=env)
            run(["apt-get", "install", "-y", "-qq", *missing], env=env)
    for cmd in ("systemd-nspawn", "debootstrap", "nsenter"):
        if shutil.which(cmd) is None:
            return f"needs {cmd}"
    return None


def base_rootfs() -> Path:
    """The cached debootstrap root (made once; ~1 minute and ~300 MB)."""
    base = CACHE / f"{SUITE}-minbase"
    stamp = base / ".gmst-complete"
    if stamp.exists() and stamp.read_text().strip() == PACKAGES:
        log(f"root file system: cached {base}")
        return base
    tmp = CACHE / f"{SUITE}-minbase.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"root file system: debootstrap {SUITE} into {tmp} (once; cached afterwards)")
    run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, tmp, MIRROR], timeout=1800)
    (tmp / ".gmst-complete").write_text(PACKAGES + "\n")
    tmp.rename(base)
    return base


def wheelhouse() -> Path:
    """Wheels of requirements.txt for the container's Python (3.11, like the host's), cached."""
    req = (REPO / "requirements.txt").read_bytes()
    house = CACHE / f"wheelhouse-{hashlib.sha256(req).hexdigest()[:12]}"
    if (house / ".gmst-complete").exists():
        log(f"wheelhouse: cached {house}")
        return house
    for old in CACHE.glob("wheelhouse-*"):   # an older requirements.txt's
        shutil.rmtree(old, ignore_errors=True)
    house.mkdir(parents=True)
    log(f"wheelhouse: pip wheel -r requirements.txt into {house}")
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "-r", REPO / "requirements.txt", "-w", house],
        timeout=900)
    (house / ".gmst-complete").write_text("")
    return house


def repo_files() -> list[str]:
    """The tree to install: what git tracks, plus new files not ignored (a developer's run)."""
    out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})


# --- the container --------------------------------------------------------------------------

class Container:
    """A systemd-nspawn container booted on ``root`` in its own cgroup, reached with nsenter."""

    def __init__(self, root: Path, netns: str, binds: list[str], *, name: str):
        self.root = root
        self.netns = netns
        self.binds = binds
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.console = root.parent / "console.log"
        self.cgroups: list[Path] = []
        self.scope: str | None = None
        self.init_pid: int | None = None

    def _cgroup_roots(self) -> list[Path]:
        fs = Path("/sys/fs/cgroup")
        if (fs / "cgroup.controllers").exists():          # unified (cgroup v2 only)
            return [fs]
        return [p for p in (fs / "systemd", fs / "unified") if p.is_dir()]  # hybrid / legacy

    def _join_cgroups(self) -> None:  # runs in the child, before exec
        for cg in self.cgroups:
            (cg / "cgroup.procs").write_text(str(os.getpid()))

    def boot(self) -> None:
        argv = ["systemd-nspawn", "--quiet", "-D", self.root, "--boot", "--register=no", "--keep-unit",
                f"--machine={self.name}", f"--network-namespace-path=/run/netns/{self.netns}",
                "--capability=CAP_NET_ADMIN", "--console=passive", "--resolv-conf=off", "--timezone=off",
                *[f"--bind{b}" for b in self.binds]]
        preexec = None
        if Path("/run/systemd/system").is_dir() and shutil.which("systemd-run"):
            # The host runs systemd: a transient scope of our own, delegated to the container.
            self.scope = f"{self.name}.scope"
            argv = ["systemd-run", "--scope", "--quiet", f"--unit={self.scope}", "--property=Delegate=yes",
                    *argv]
        else:
            # No systemd on the host: a cgroup of our own in every hierarchy nspawn uses.
            for top in self._cgroup_roots():
                cg = top / self.name
                cg.mkdir(exist_ok=True)
                self.cgroups.append(cg)
            preexec = self._join_cgroups
        log(f"booting container {self.name} in netns {self.netns}")
        with open(self.console, "wb") as out:
            self.proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, preexec_fn=preexec,
                                         start_new_session=True)
        self.init_pid = wait_until(self._find_init, 60, message="the container's init",
                                   describe=self._console_tail)
        wait_until(lambda: self.sh("systemctl", "is-system-running", check=False).stdout.strip()
                   in ("running", "degraded"), 120, interval=0.5, message="systemd in the container up",
                   describe=lambda: self.sh("systemctl", "--failed", "--no-pager", check=False).stdout)
        # nspawn's /sys shows the host's network devices, not those of the namespace it joined:
        # give the container the car's /sys/class/net (the daemon reads operstate there), as a Pi has.
        self.sh("mkdir", "-p", "/run/gmst-sys")
        self.sh("mount", "-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", "/run/gmst-sys")
        for sub in ("class/net", "devices/virtual/net"):
            self.sh("mount", "--bind", f"/run/gmst-sys/{sub}", f"/sys/{sub}")
        failed = self.sh("systemctl", "--failed", "--no-legend", "--no-pager", check=False).stdout.strip()
        log(f"container up (init pid {self.init_pid})" + (f"; failed units: {failed}" if failed else ""))

    def _console_tail(self) -> str:
        try:
            return self.console.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def _find_init(self) -> int | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"systemd-nspawn exited ({self.proc.returncode}):\n{self._console_tail()}")
        # nspawn (possibly under systemd-run's exec) → its child is the container's systemd.
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                try:
                    if os.readlink(f"/proc/{child}/exe").endswith("systemd"):
                        return int(child)
                except OSError:
                    pass
        return None

    def sh(self, *argv, check=True, timeout=300) -> subprocess.CompletedProcess:
        """Run ``argv`` in the container (every namespace of its init, a clean environment)."""
        return run(["nsenter", "-t", self.init_pid, "-a", *CONTAINER_ENV, *argv], check=check, timeout=timeout)

    def remove(self) -> None:
        """Power off (SIGKILL after 30 s), then remove its cgroup/scope."""
        if self.proc is not None and self.proc.poll() is None:
            if self.init_pid:
                self.sh("systemctl", "poweroff", check=False, timeout=30)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                log("container did not power off in 30 s; killing it")
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.scope:
            run(["systemctl", "stop", self.scope], check=False)
        for cg in self.cgroups:
            for _ in range(50):
                pids = [p for f in cg.rglob("cgroup.procs") for p in f.read_text().split()]
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                time.sleep(0.1)
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)) + [cg]:
                try:
                    d.rmdir()
                except OSError as exc:
                    log(f"cannot remove cgroup {d}: {exc}")


# --- the test -------------------------------------------------------------------------------

class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    mode = ""

    def check(self, name: str, fn) -> bool:
        name = f"[{self.mode}] {name}" if self.mode else name
        t0 = time.monotonic()
        try:
            detail = fn()
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the run goes on
            self.failed += 1
            log(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(exc).__name__}: {exc}")
            return False
        self.passed += 1
        log(f"PASS {name} ({time.monotonic() - t0:.1f} s)" + (f": {detail}" if detail else ""))
        return True


def config_text(rig: NamespaceRig, mode: str) -> str:
    cams = []
    for cam in rig.cameras:
        cams.append({"name": cam.name, "iface": cam.iface, "ssid": cam.ssid,
                     "wifi_mac": cam.wifi_mac, "bt_mac": cam.bt_mac})
    return "\n".join([
        "# gopro-manager system test: the emulated car.",
        f"GOPROS = {cams!r}",
        f"NETWORK_MODE = {mode!r}",
        "GPIO_BCM_PIN = None",
        "TRIGGER_PATH = '/run/gopro-manager/trigger'",
        f"GATTTOOL = '{INSTALL_DIR}/camrig/emulator/gatttool'",
        "CHECK_STATUS = 2",
        "LOG_LEVEL = 'info'",
        "",
    ])


def install(c: Container, rig: NamespaceRig, mode: str) -> None:
    """The README's install steps, in the container."""
    root = c.root
    dest = root / INSTALL_DIR.lstrip("/")
    for rel in repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    log(f"copied the tree to {INSTALL_DIR}; venv + pip install -r requirements.txt (wheelhouse)")
    c.sh("python3", "-m", "venv", f"{INSTALL_DIR}/.venv")
    c.sh(f"{INSTALL_DIR}/.venv/bin/pip", "install", "--quiet", "--no-index", "--find-links", WHEELS_IN_CONTAINER,
         "-r", f"{INSTALL_DIR}/requirements.txt")
    c.sh("install", "-D", "-m", "0644", f"{INSTALL_DIR}/systemd/sysusers.d/gopro-manager.conf",
         "/etc/sysusers.d/gopro-manager.conf")
    c.sh("systemd-sysusers")
    c.sh("install", "-d", "-o", "root", "-g", "gopro-manager", "-m", "0750", "/etc/gopro-manager")
    (root / "etc/gopro-manager/config.py").write_text(config_text(rig, mode))
    c.sh("chown", "root:gopro-manager", "/etc/gopro-manager/config.py")
    c.sh("chmod", "0640", "/etc/gopro-manager/config.py")
    c.sh("install", "-m", "0644", f"{INSTALL_DIR}/systemd/gopro-manager.service", "/etc/systemd/system/")
    dropin = root / "etc/systemd/system/gopro-manager.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "systemtest.conf").write_text(
        "# Only for the system test: the stand-in gatttool reaches the emulated cameras here.\n"
        "[Service]\n"
        f"Environment=GOPRO_EMU_DIR={EMU_DIR_IN_CONTAINER}\n")
    c.sh("systemctl", "daemon-reload")


def show(c: Container, *props: str) -> dict[str, str]:
    out = c.sh("systemctl", "show", "gopro-manager", *[f"--property={p}" for p in props]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(c: Container) -> str:
    return c.sh("journalctl", "-u", "gopro-manager", "--no-pager", "-o", "cat", check=False).stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("route", "bind", "both"), default="both",
                        help="NETWORK_MODE of the daemon: route (CAP_NET_ADMIN), bind, or both in turn")
    parser.add_argument("--keep", action="store_true", help="leave the container and the rig up")
    args = parser.parse_args(argv)
    started = time.monotonic()

    why = prerequisites()
    if why:
        print(f"system test skipped: {why}")
        print("0 passed, 0 failed, 1 skipped")
        return 0

    base = base_rootfs()
    wheels = wheelhouse()
    checks = Checks()
    for mode in (("route", "bind") if args.mode == "both" else (args.mode,)):
        log(f"=== NETWORK_MODE {mode!r}")
        run_mode(mode, base, wheels, checks, keep=args.keep)
        if args.keep:
            break
    log(f"system test took {time.monotonic() - started:.0f} s")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 and checks.passed else 1


def run_mode(mode: str, base: Path, wheels: Path, checks: Checks, *, keep: bool) -> None:
    """Boot a fresh container on a fresh rig, install, run every check in NETWORK_MODE ``mode``."""
    workdir = CACHE / f"{NAME}-run-{os.getpid()}"
    rig = NamespaceRig(3, prefix=NAME, mode=mode)
    checks.mode = mode
    container = None
    try:
        rig.__enter__()
        # The daemon's user must reach the emulators' BLE control sockets (stand-in gatttool).
        rig.emu_dir.chmod(0o755)
        for sock in rig.emu_dir.iterdir():
            sock.chmod(0o666)
        workdir.mkdir(parents=True)
        log(f"copying {base} to {workdir}/root")
        run(["cp", "-a", "--reflink=auto", base, workdir / "root"])
        container = Container(workdir / "root", rig.car_ns, name=f"{NAME}-{os.getpid()}",
                              binds=[f"-ro={wheels}:{WHEELS_IN_CONTAINER}", f"={rig.emu_dir}:{EMU_DIR_IN_CONTAINER}"])
        container.boot()
        install(container, rig, mode)
        c = container

        def start():
            c.sh("systemctl", "start", "gopro-manager", timeout=120)   # returns on READY=1
            p = show(c, "ActiveState", "SubState", "MainPID")
            assert (p["ActiveState"], p["SubState"]) == ("active", "running"), p
            return f"MainPID {p['MainPID']}"

        if not checks.check("systemctl start gopro-manager (Type=notify: returns on READY=1)", start):
            raise RuntimeError("the service did not start:\n" + journal(c)[-3000:])

        def unprivileged():
            pid = show(c, "MainPID")["MainPID"]
            status = c.sh("cat", f"/proc/{pid}/status").stdout
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            uids = fields["Uid"].split()
            user = c.sh("id", "-u", "gopro-manager").stdout.strip()
            assert set(uids) == {user} and user != "0", f"runs as uid {uids}, not gopro-manager ({user})"
            want = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
            for key in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
                assert int(fields[key], 16) == want, f"{key}={fields[key].strip()}, want {want:016x}"
            assert fields["NoNewPrivs"].strip() == "1"
            groups = fields["Groups"].split()
            gpio = c.sh("getent", "group", "gpio").stdout.split(":")[2]
            assert gpio in groups, f"groups {groups} lack gpio ({gpio})"
            return f"uid {user}, CapEff=CAP_NET_ADMIN+CAP_NET_RAW, NoNewPrivs, groups {groups}"

        checks.check("runs as gopro-manager with CAP_NET_ADMIN and CAP_NET_RAW only", unprivileged)

        def status_line():
            def line():
                out = c.sh("systemctl", "status", "gopro-manager", "--no-pager", check=False).stdout
                m = re.search(r'Status: "([^"]*)"', out)
                return m and m.group(1)
            text = wait_until(line, SLOW, message="Status: in systemctl status")
            assert re.match(r"^\d+/3 recording", text), text
            return text

        checks.check("systemctl status shows the STATUS= line", status_line)

        def trigger_records_all():
            c.sh("touch", "/run/gopro-manager/trigger")
            rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW, message="all three cameras recording")
            text = wait_until(lambda: all(re.search(rf"^{cam.name}: .*→ recording", journal(c), re.M)
                                          for cam in rig.cameras) and journal(c), SLOW,
                              message="journal: every camera → recording")
            return "; ".join(m.group(0) for m in re.finditer(r"^cam\d: .*→ recording.*$", text, re.M))

        checks.check("touch the trigger → every camera records, the journal shows each starting",
                     trigger_records_all)

        def wake_over_ble():
            # cam2 turns its Wi-Fi off (and sleeps): the daemon must run gatttool (a pty, the
            # stand-in's AF_UNIX socket) and send Wake-on-LAN out of wlan2, unprivileged.
            t0 = time.monotonic()
            rig.camera(2).fault("wifi_off")
            rig.wait_until(lambda: rig.recording() == [True] * 3, SLOW + 30,
                           message="cam2 recording again after BLE Wi-Fi-on and Wake-on-LAN")
            ble = [e for e in rig.camera(2).state()["events"] if e["what"] == "ble" and e["t"] >= t0]
            wol = [e for e in rig.camera(2).state()["events"] if e["what"] == "wol" and e["t"] >= t0]
            assert ble and wol, rig.describe()
            return f"{len(ble)} BLE command(s), {len(wol)} Wake-on-LAN packet(s)"

        checks.check("camera Wi-Fi off → woken by gatttool + Wake-on-LAN under the sandbox", wake_over_ble)
        starts = {cam.k: rig.camera(cam.k).state()["record_started_at"] for cam in rig.cameras}

        def kill_and_restart():
            before = show(c, "MainPID", "NRestarts")
            c.sh("systemctl", "kill", "-s", "KILL", "gopro-manager")
            after = wait_until(lambda: (lambda p: p["MainPID"] not in ("0", before["MainPID"])
                                        and p["ActiveState"] == "active" and p["SubState"] == "running" and p)(
                show(c, "MainPID", "NRestarts", "ActiveState", "SubState")), SLOW,
                message="systemd restarting the killed daemon")
            assert int(after["NRestarts"]) == int(before["NRestarts"]) + 1, (before, after)
            time.sleep(5)   # the new daemon checks every camera (CHECK_STATUS 2 cycles)
            assert rig.recording() == [True] * 3, rig.describe()
            now = {cam.k: rig.camera(cam.k).state()["record_started_at"] for cam in rig.cameras}
            assert now == starts, f"a recording was restarted: {starts} → {now}"
            return f"MainPID {before['MainPID']} → {after['MainPID']}, NRestarts {after['NRestarts']}"

        checks.check("systemctl kill -s KILL → restarted by systemd, cameras keep recording", kill_and_restart)

        def status_as_user():
            out = c.sh("runuser", "-u", "nobody", "--", f"{INSTALL_DIR}/.venv/bin/python",
                       f"{INSTALL_DIR}/gopro_manager.py", "status", "--status-path",
                       "/run/gopro-manager/status.json").stdout
            rows = [ln for ln in out.splitlines() if re.match(r"^cam\d\b", ln)]
            assert len(rows) == 3 and all("recording" in r for r in rows), out
            return None

        checks.check("gopro_manager.py status (any user) shows the restarted daemon's cameras recording",
                     lambda: wait_until(lambda: status_as_user() is None, SLOW,
                                        message="status table: all recording") and None)

        def reload():
            c.sh("systemctl", "reload", "gopro-manager", timeout=60)
            wait_until(lambda: "configuration reloaded" in journal(c), SLOW, message="reload in the journal")
            assert show(c, "ActiveState")["ActiveState"] == "active"
            assert rig.recording() == [True] * 3
            now = {cam.k: rig.camera(cam.k).state()["record_started_at"] for cam in rig.cameras}
            assert now == starts, f"a recording was restarted: {starts} → {now}"

        checks.check("systemctl reload → config reread, recordings untouched", reload)

        def stop():
            t0 = time.monotonic()
            c.sh("systemctl", "stop", "gopro-manager", timeout=60)
            took = time.monotonic() - t0
            p = show(c, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
            assert p["ActiveState"] == "inactive" and p["Result"] == "success", p
            assert "stopped" in journal(c).splitlines()[-5:] or re.search(r"^stopped$", journal(c), re.M)
            assert rig.recording() == [True] * 3, "ON_EXIT 'leave': cameras keep recording"
            return f"{took:.1f} s, Result=success, ExecMainStatus={p['ExecMainStatus']}"

        checks.check("systemctl stop → clean exit, cameras left recording (ON_EXIT leave)", stop)

        def no_denials():
            text = c.sh("journalctl", "--no-pager", "-o", "cat", "-p", "warning", "-u", "gopro-manager",
                        check=False).stdout
            bad = [ln for ln in text.splitlines()
                   if re.search(r"permission denied|operation not permitted|not permitted|seccomp|sigsys|"
                                r"traceback|CAP_NET", ln, re.I)]
            assert not bad, "\n".join(bad[:10])

        checks.check("no permission/seccomp errors in the journal", no_denials)
    except Exception as exc:  # noqa: BLE001
        checks.failed += 1
        log(f"FAIL setup: {type(exc).__name__}: {exc}")
        if container and container.init_pid:
            print(journal(container)[-4000:])
    finally:
        if keep and container is not None:
            log(f"kept: container pid {container.init_pid} (nsenter -t {container.init_pid} -a bash), "
                f"rig {rig!r}; remove with: kill {container.proc.pid}; ip netns del …; rm -rf {workdir}")
        else:
            if container is not None:
                container.remove()
            rig.close()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
