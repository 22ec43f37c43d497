"""``make system-test``: the hardened unit under a real systemd, against emulated cameras.

What it does (root only; everything it creates is named ``gmst…`` and removed
by exact name at the end, also after a failure):

1. A Debian minbase root file system with systemd for each of Bookworm
   (Python 3.11) and Trixie (Python 3.13) (``debootstrap``, with the apt
   packages install.sh wants already in it: the container has no network but
   the cameras'), cached under ``$GOPRO_SYSTEMTEST_CACHE`` (default
   ``/var/cache/gopro-manager-systemtest``) and copied for each run; a
   wheelhouse of ``requirements.txt`` and the build backend for both Pythons,
   downloaded on the host with ``pip download --only-binary=:all:``, cached by
   the hash of requirements.txt.
2. The emulated car (:class:`tests.rig.NamespaceRig`, 3 cameras,
   ``gmst-car`` and ``gmst-cam1..3``).
3. ``systemd-nspawn --boot`` on a copy of that root, joined to ``gmst-car``
   (``--network-namespace-path``, ``--capability=CAP_NET_ADMIN`` so that the
   unit can be given it), in a cgroup of its own.
4. The install as the README says it: the checkout in
   ``/usr/local/src/gopro-manager``, ``install.sh --no-start`` (pip pointed at
   the wheelhouse, bind-mounted read-only, by ``PIP_NO_INDEX``/``PIP_FIND_LINKS``):
   the venv, user, directories, rules, the unit enabled, a config skeleton;
   then the person's config (the emulated car's) and ``install.sh`` again,
   which keeps that config and starts the service. A drop-in adds what only
   the rig needs: ``GOPRO_EMU_DIR`` for the stand-in gatttool.
5. The checks: ``systemctl start`` returns (READY=1); the daemon runs as
   ``gopro-manager`` with CAP_NET_ADMIN and CAP_NET_RAW only and
   NoNewPrivs; ``systemctl status`` shows the STATUS= line; ``touch
   /run/gopro-manager/trigger`` → every emulated camera records and the journal
   shows each one starting; ``systemctl kill -s KILL`` → systemd restarts it,
   the cameras never stop; ``systemctl reload`` → still recording; ``systemctl
   stop`` → a clean exit (Result=success), cameras left recording (ON_EXIT
   "leave"); ``install.sh --uninstall`` leaves only the config and
   ``/var/lib/gopro-manager``.

Each suite runs both NETWORK_MODEs (``--suite``, ``--mode`` pick fewer).

Talks to the container with ``nsenter -t <container init pid> -a``. Prints one
line per check and ends with ``N passed, N failed``; exit status 0 only when
all passed. ``--keep`` leaves the container running for a look (and prints how
to remove it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
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
#: The Debian releases the install is tested on: Bookworm (Python 3.11) and Trixie (Python 3.13).
SUITES = ("bookworm", "trixie")
MIRROR = os.environ.get("GOPRO_SYSTEMTEST_MIRROR", "http://deb.debian.org/debian")
#: What debootstrap puts in each root: a booting systemd, and the packages install.sh would
#: otherwise fetch with apt-get (the container has no network but the car's), so that install.sh
#: finds them installed and never calls apt-get. (python3-lgpio is in Raspberry Pi OS's archive,
#: not in Debian's, for either release: the container has no pin library, as a PC has none.)
BASE_PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,iproute2,procps,iw,bluez"
PACKAGES = {"bookworm": BASE_PACKAGES, "trixie": BASE_PACKAGES}
#: Where the test puts the checkout in the container (a person's clone); install.sh runs from it.
CHECKOUT = "/usr/local/src/gopro-manager"
#: What install.sh installs (install.sh: PREFIX, VENV).
VENV = "/opt/gopro-manager/venv"
COMMAND = f"{VENV}/bin/gopro-manager"
#: A polkit rule the test adds to the checkout's systemd/ (install.sh installs systemd/*.rules).
POLKIT_PROBE = "99-gmst-probe.rules"
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


def base_rootfs(suite: str) -> Path:
    """The cached debootstrap root of Debian ``suite`` (made once; ~2 minutes and ~350 MB)."""
    packages = PACKAGES[suite]
    base = CACHE / f"{suite}-minbase"
    stamp = base / ".gmst-complete"
    if stamp.exists() and stamp.read_text().strip() == packages:
        log(f"root file system: cached {base}")
        return base
    tmp = CACHE / f"{suite}-minbase.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(base, ignore_errors=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    log(f"root file system: debootstrap {suite} into {tmp} (once; cached afterwards)")
    run(["debootstrap", "--variant=minbase", f"--include={packages}", suite, tmp, MIRROR], timeout=1800)
    (tmp / ".gmst-complete").write_text(packages + "\n")
    tmp.rename(base)
    return base


#: The container's Pythons (Bookworm 3.11, Trixie 3.13): the wheelhouse has wheels for both.
PYTHONS = {"bookworm": "3.11", "trixie": "3.13"}
#: What the wheelhouse holds beyond requirements.txt: the project's build backend (pyproject.toml's
#: build-system.requires), for install.sh's ``pip install`` of the project without an index.
BUILD_REQUIRES = ("setuptools>=68",)


def wheelhouse() -> Path:
    """Wheels of requirements.txt (and the build backend) for every container Python, cached.

    ``pip download --only-binary=:all:`` for each Python of :data:`PYTHONS` on the host's
    architecture (manylinux tags), so no container ever needs network or a compiler; keyed by
    the hash of requirements.txt and the Python list."""
    req = (REPO / "requirements.txt").read_bytes()
    key = hashlib.sha256(req + repr(sorted(PYTHONS.values())).encode() + repr(BUILD_REQUIRES).encode())
    house = CACHE / f"wheelhouse-{key.hexdigest()[:12]}"
    if (house / ".gmst-complete").exists():
        log(f"wheelhouse: cached {house}")
        return house
    for old in CACHE.glob("wheelhouse-*"):   # an older requirements.txt's
        shutil.rmtree(old, ignore_errors=True)
    house.mkdir(parents=True)
    arch = os.uname().machine
    platforms = [f"--platform={tag}_{arch}" for tag in
                 ("manylinux2014", "manylinux_2_17", "manylinux_2_28", "manylinux_2_34", "manylinux_2_36")]
    for version in sorted(set(PYTHONS.values())):
        log(f"wheelhouse: pip download -r requirements.txt for Python {version} into {house}")
        abi = "cp" + version.replace(".", "")
        run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--only-binary=:all:", f"--python-version={version}", "--implementation=cp", f"--abi={abi}",
             *platforms, "-d", house, "-r", REPO / "requirements.txt", *BUILD_REQUIRES], timeout=900)
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
        f"GATTTOOL = '{CHECKOUT}/camrig/emulator/gatttool'",
        "CHECK_STATUS = 2",
        "LOG_LEVEL = 'info'",
        "",
    ])


def install_sh(c: Container, *args: str) -> subprocess.CompletedProcess:
    """``install.sh ARGS`` in the container, pip pointed at the read-only wheelhouse (no network)."""
    return c.sh("env", "PIP_NO_INDEX=1", f"PIP_FIND_LINKS={WHEELS_IN_CONTAINER}",
                "bash", f"{CHECKOUT}/install.sh", *args, timeout=600)


def install(c: Container, rig: NamespaceRig, mode: str, checks: Checks) -> None:
    """The README's install: the checkout, ``install.sh``, the person's config, ``install.sh``
    again (idempotent: keeps that config, restarts the service)."""
    root = c.root
    dest = root / CHECKOUT.lstrip("/")
    for rel in repo_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, target)
    # A feature's polkit rule, as the incar helper's ignition power-off adds one: install.sh must
    # pick up every systemd/*.rules of the tree (and --uninstall remove it).
    (dest / "systemd" / POLKIT_PROBE).write_text("// system test: install.sh installs systemd/*.rules\n")
    log(f"copied the tree to {CHECKOUT}; install.sh (pip from the wheelhouse)")

    def first_install():
        out = install_sh(c, "--no-start").stdout
        assert "apt-get" not in out, f"install.sh ran apt-get though every package is there:\n{out}"
        st = c.sh("stat", "-c", "%U:%G %a", "/etc/gopro-manager/config.py").stdout.split()
        assert st == ["root:gopro-manager", "640"], f"config skeleton is {st}"
        assert c.sh("systemctl", "is-enabled", "gopro-manager", check=False).stdout.strip() == "enabled"
        assert c.sh("systemctl", "is-active", "gopro-manager", check=False).stdout.strip() != "active"
        ver = c.sh(f"{VENV}/bin/python", "-c", "import sys, camrig; print(sys.version.split()[0], "
                   "camrig.__file__)").stdout.strip()
        assert f"{VENV}/lib/" in ver, ver
        for path in ("/etc/sysusers.d/gopro-manager.conf", "/etc/tmpfiles.d/gopro-manager.conf",
                     "/etc/udev/rules.d/60-gopro-manager-gpio.rules", "/var/lib/gopro-manager",
                     f"/etc/polkit-1/rules.d/{POLKIT_PROBE}"):
            c.sh("test", "-e", path)
        return f"Python {ver.split()[0]}; skeleton config root:gopro-manager 640; unit enabled, not started"

    if not checks.check("install.sh (fresh): venv, user, dirs, rules, unit enabled, config skeleton", first_install):
        raise RuntimeError("install.sh failed")
    # The person's step: their config (here the emulated car's).
    (root / "etc/gopro-manager/config.py").write_text(config_text(rig, mode))
    c.sh("chmod", "0664", "/etc/gopro-manager/config.py")      # install.sh must fix this
    dropin = root / "etc/systemd/system/gopro-manager.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "systemtest.conf").write_text(
        "# Only for the system test: the stand-in gatttool reaches the emulated cameras here.\n"
        "[Service]\n"
        f"Environment=GOPRO_EMU_DIR={EMU_DIR_IN_CONTAINER}\n")

    def second_install():
        out = install_sh(c).stdout
        assert "kept as it is" in out, out
        text = (root / "etc/gopro-manager/config.py").read_text()
        assert text == config_text(rig, mode), "install.sh changed an existing config"
        st = c.sh("stat", "-c", "%U:%G %a", "/etc/gopro-manager/config.py").stdout.split()
        assert st == ["root:gopro-manager", "640"], f"config is {st} after the second run"
        return "config kept (its mode 664 made 640), service restarted"

    if not checks.check("install.sh again (idempotent): config kept, service (re)started", second_install):
        raise RuntimeError("install.sh (second run) failed")


def uninstall_check(c: Container) -> str:
    """``install.sh --uninstall``: everything gone but the config and the state directory."""
    c.sh("touch", "/var/lib/gopro-manager/footage-kept.mp4")
    install_sh(c, "--uninstall")
    for path in ("/etc/systemd/system/gopro-manager.service", "/opt/gopro-manager",
                 "/etc/sysusers.d/gopro-manager.conf", "/etc/tmpfiles.d/gopro-manager.conf",
                 "/etc/udev/rules.d/60-gopro-manager-gpio.rules", f"/etc/polkit-1/rules.d/{POLKIT_PROBE}"):
        assert c.sh("test", "-e", path, check=False).returncode != 0, f"{path} is still there"
    assert c.sh("getent", "passwd", "gopro-manager", check=False).returncode != 0, "the user is still there"
    c.sh("test", "-f", "/etc/gopro-manager/config.py")
    c.sh("test", "-f", "/var/lib/gopro-manager/footage-kept.mp4")
    return "unit, venv, user, tmpfiles, rules gone; config and /var/lib/gopro-manager kept"


def show(c: Container, *props: str) -> dict[str, str]:
    out = c.sh("systemctl", "show", "gopro-manager", *[f"--property={p}" for p in props]).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def journal(c: Container) -> str:
    return c.sh("journalctl", "-u", "gopro-manager", "--no-pager", "-o", "cat", check=False).stdout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=("route", "bind", "both"), default="both",
                        help="NETWORK_MODE of the daemon: route (CAP_NET_ADMIN), bind, or both in turn")
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all",
                        help="the Debian release of the container's root: bookworm, trixie, or all in turn")
    parser.add_argument("--keep", action="store_true", help="leave the container and the rig up")
    args = parser.parse_args(argv)
    started = time.monotonic()

    why = prerequisites()
    if why:
        print(f"system test skipped: {why}")
        print("0 passed, 0 failed, 1 skipped")
        return 0

    wheels = wheelhouse()
    checks = Checks()
    counts: dict[str, tuple[int, int]] = {}
    for suite in (SUITES if args.suite == "all" else (args.suite,)):
        base = base_rootfs(suite)
        before = (checks.passed, checks.failed)
        for mode in (("route", "bind") if args.mode == "both" else (args.mode,)):
            log(f"=== {suite}, NETWORK_MODE {mode!r}")
            run_mode(suite, mode, base, wheels, checks, keep=args.keep)
            if args.keep:
                break
        counts[suite] = (checks.passed - before[0], checks.failed - before[1])
        if args.keep:
            break
    for suite, (passed, failed) in counts.items():
        log(f"{suite}: {passed} passed, {failed} failed")
    log(f"system test took {time.monotonic() - started:.0f} s")
    print(f"{checks.passed} passed, {checks.failed} failed")
    return 0 if checks.failed == 0 and checks.passed else 1


def run_mode(suite: str, mode: str, base: Path, wheels: Path, checks: Checks, *, keep: bool) -> None:
    """Boot a fresh container of Debian ``suite`` on a fresh rig, install with install.sh, run
    every check in NETWORK_MODE ``mode``, then uninstall."""
    workdir = CACHE / f"{NAME}-run-{os.getpid()}"
    rig = NamespaceRig(3, prefix=NAME, mode=mode)
    checks.mode = f"{suite} {mode}"
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
        install(container, rig, mode, checks)
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
            out = c.sh("runuser", "-u", "nobody", "--", COMMAND, "status", "--status-path",
                       "/run/gopro-manager/status.json").stdout
            rows = [ln for ln in out.splitlines() if re.match(r"^cam\d\b", ln)]
            assert len(rows) == 3 and all("recording" in r for r in rows), out
            return None

        checks.check("gopro_manager.py status (any user) shows the restarted daemon's cameras recording",
                     lambda: wait_until(lambda: status_as_user() is None, SLOW,
                                        message="status table: all recording") and None)

        def doctor():
            res = c.sh(COMMAND, "check", "--json", check=False, timeout=120)
            report = json.loads(res.stdout)
            system = {f["item"]: f for f in report["system"]}
            assert system["service"]["status"] == "ok", system["service"]
            assert system["config file"]["status"] == "ok", system["config file"]
            assert system["gatttool"]["status"] == "ok", system["gatttool"]
            for cam in rig.cameras:
                found = {f["item"]: f for f in report["cameras"][cam.name]}
                assert found["link"]["status"] == "ok" and found["associated"]["detail"] == "yes", found
                assert found["status"]["detail"].startswith("ok: recording=yes"), found["status"]
                assert found["adapter"]["status"] == "warn" and "discover --apply" in found["adapter"]["fix"]
                # No Bluetooth in the container: the bond cannot be confirmed, and the line says what to do.
                assert found["BLE bond"]["status"] == "fail" and found["BLE bond"]["fix"], found["BLE bond"]
            assert res.returncode == 1 and report["failures"] == len(rig.cameras)
            return f"service, config file, gatttool ok; every camera link/status ok; BLE bond: " \
                   f"{found['BLE bond']['detail']}"

        checks.check("gopro-manager check --json (doctor) in the container", doctor)

        def discover():
            res = c.sh(COMMAND, "discover", "--backend", "emulated", "--emu-dir", EMU_DIR_IN_CONTAINER, "--json",
                       check=False, timeout=120)
            report = json.loads(res.stdout)
            addresses = sorted(cam["address"] for cam in report["cameras"])
            assert addresses == sorted(cam.bt_mac.upper() for cam in rig.cameras), report["cameras"]
            # The car's adapters are veths (no wireless/ in sysfs): no Wi-Fi adapter to propose, exit 7.
            assert res.returncode == 7 and report["exit"] == 7, res.stdout[-2000:]
            return f"{len(addresses)} cameras found; exit 7 (no Wi-Fi adapter: veths)"

        checks.check("gopro-manager discover --backend emulated in the container", discover)

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
        checks.check("install.sh --uninstall removes all but the config and the footage",
                     lambda: uninstall_check(c))
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
