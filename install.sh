#!/bin/bash
# gopro-manager: install (or remove) the daemon on Raspberry Pi OS / Debian Bookworm or Trixie.
#
#   sudo ./install.sh              install or update; safe to run again (idempotent)
#   sudo ./install.sh --no-start   install, but do not (re)start the service
#   sudo ./install.sh --uninstall  remove all of it but the config (/etc/gopro-manager) and the
#                                  footage/state (/var/lib/gopro-manager)
#
# What it puts where (README, "Install in the car"):
#   apt packages     python3 python3-venv iproute2 iw bluez (+ python3-lgpio where the archive
#                    has it: Raspberry Pi OS, for gpiozero's lgpio pin factory)
#   /opt/gopro-manager/venv   the project and requirements.txt's pins (python3 -m venv
#                    --system-site-packages, so that the OS's python3-lgpio is importable:
#                    PyPI has no lgpio wheel for Python 3.13, only an empty placeholder)
#   /etc/sysusers.d/gopro-manager.conf     the service user gopro-manager (+ group gpio)
#   /etc/tmpfiles.d/gopro-manager.conf     /run/gopro-manager and /var/lib/gopro-manager
#   /etc/systemd/system/gopro-manager.service   the unit (enabled)
#   /etc/polkit-1/rules.d/   every systemd/*.rules of this tree (polkit JavaScript rules)
#   /etc/udev/rules.d/       every systemd/udev/*.rules of this tree
#   /etc/gopro-manager/config.py   a skeleton (config.py.example), root:gopro-manager 0640,
#                    only when there is none: an existing config is never overwritten
#
# Exit status: 0 done; 1 a step failed (its message says which); 2 usage error; 3 not root;
# 4 not a supported system (not Debian, no systemd, Python older than 3.11). On 2, 3 and 4
# nothing has been changed.
#
# pip honours PIP_INDEX_URL, PIP_NO_INDEX and PIP_FIND_LINKS from the environment (the system
# test installs from a wheelhouse that way: its container has no network).
set -euo pipefail

PREFIX=/opt/gopro-manager
VENV=$PREFIX/venv
MANIFEST=$PREFIX/installed-files
CONF_DIR=/etc/gopro-manager
CONFIG=$CONF_DIR/config.py
STATE_DIR=/var/lib/gopro-manager
UNIT_DIR=/etc/systemd/system
UNIT=gopro-manager.service
SYSUSERS=/etc/sysusers.d/gopro-manager.conf
TMPFILES=/etc/tmpfiles.d/gopro-manager.conf
POLKIT_DIR=/etc/polkit-1/rules.d
UDEV_DIR=/etc/udev/rules.d
SERVICE_USER=gopro-manager
APT_PACKAGES=(python3 python3-venv iproute2 iw bluez)
OPTIONAL_APT_PACKAGES=(python3-lgpio)
# Only for tests: another os-release to judge the system by.
OS_RELEASE=${GOPRO_INSTALL_OS_RELEASE:-/etc/os-release}

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf 'install.sh: %s\n' "$*"; }
die() { local code=$1; shift; printf 'install.sh: %s\n' "$*" >&2; exit "$code"; }

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
}

# --- arguments and refusals (before anything is changed) ----------------------------------------

action=install
start=yes
for arg in "$@"; do
    case $arg in
        --uninstall) action=uninstall ;;
        --no-start) start=no ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die 2 "unknown argument '$arg'" ;;
    esac
done

if [ "$(id -u)" != 0 ]; then
    die 3 "must run as root (sudo $0 $*); nothing was changed"
fi

os_id="" os_like="" os_name="" codename=""
if [ -r "$OS_RELEASE" ]; then
    # shellcheck disable=SC1090
    os_id=$(. "$OS_RELEASE" && printf '%s' "${ID:-}")
    os_like=$(. "$OS_RELEASE" && printf '%s' "${ID_LIKE:-}")
    os_name=$(. "$OS_RELEASE" && printf '%s' "${PRETTY_NAME:-${ID:-unknown}}")
    codename=$(. "$OS_RELEASE" && printf '%s' "${VERSION_CODENAME:-}")
fi
case " $os_id $os_like " in
    *" debian "*|*" raspbian "*) ;;
    *) die 4 "this installs on Raspberry Pi OS / Debian (Bookworm or Trixie) only; this system is" \
              "'${os_name:-unknown: no $OS_RELEASE}'; nothing was changed" ;;
esac
case $codename in
    bookworm|trixie) ;;
    *) say "warning: tested on Bookworm and Trixie only; this is '${codename:-unknown}'" ;;
esac
if [ ! -d /run/systemd/system ]; then
    die 4 "systemd is not running (no /run/systemd/system): the daemon is a systemd service; nothing was changed"
fi
for tool in apt-get dpkg-query systemctl systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null || die 4 "$tool is missing: not a Debian system with systemd; nothing was changed"
done
if [ "$action" = install ]; then
    for f in requirements.txt pyproject.toml config.py.example systemd/$UNIT \
             systemd/sysusers.d/gopro-manager.conf systemd/tmpfiles.d/gopro-manager.conf; do
        [ -f "$SRC/$f" ] || die 2 "$SRC/$f is missing: run install.sh from a complete gopro-manager checkout"
    done
fi

# --- uninstall ------------------------------------------------------------------------------------

uninstall() {
    say "removing gopro-manager (keeping $CONF_DIR and $STATE_DIR)"
    if systemctl cat "$UNIT" >/dev/null 2>&1; then
        systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
    fi
    rm -f "$UNIT_DIR/$UNIT"
    # Polkit and udev rules: the ones this install recorded, and those of this tree.
    local f
    local rules=()
    if [ -f "$MANIFEST" ]; then mapfile -t rules < "$MANIFEST"; fi
    for f in "$SRC"/systemd/*.rules; do
        if [ -f "$f" ]; then rules+=("$POLKIT_DIR/$(basename "$f")"); fi
    done
    for f in "$SRC"/systemd/udev/*.rules; do
        if [ -f "$f" ]; then rules+=("$UDEV_DIR/$(basename "$f")"); fi
    done
    for f in "${rules[@]}"; do
        case $f in
            "$POLKIT_DIR"/*|"$UDEV_DIR"/*) rm -f "$f" ;;
        esac
    done
    rm -f "$TMPFILES" "$SYSUSERS"
    rm -rf "$PREFIX" /run/gopro-manager
    systemctl daemon-reload
    if command -v udevadm >/dev/null; then udevadm control --reload >/dev/null 2>&1 || true; fi
    if getent passwd "$SERVICE_USER" >/dev/null; then userdel "$SERVICE_USER" || true; fi
    if getent group "$SERVICE_USER" >/dev/null; then groupdel "$SERVICE_USER" || true; fi
    say "removed. Kept: $CONF_DIR (your config) and $STATE_DIR (footage, state); remove them by hand if wanted."
    say "Kept too: the gpio group, the apt packages, and what 'gopro_manager.py discover --apply' wrote"
    say "(/etc/udev/rules.d/70-gopro-manager-wifi.rules, NetworkManager connections)."
}

if [ "$action" = uninstall ]; then
    uninstall
    exit 0
fi

# --- install --------------------------------------------------------------------------------------

step() { say "$*"; }
fail() { die 1 "$*"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# 1. apt packages: only what is missing (no apt-get at all when everything is there).
missing=()
for pkg in "${APT_PACKAGES[@]}"; do installed "$pkg" || missing+=("$pkg"); done
updated=no
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed (network? see above)"
    updated=yes
    apt-get install -y -qq "${missing[@]}" || fail "apt-get install ${missing[*]} failed (see above)"
fi
for pkg in "${OPTIONAL_APT_PACKAGES[@]}"; do
    installed "$pkg" && continue
    if apt-cache policy "$pkg" 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        step "apt-get install $pkg"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" \
            || say "warning: apt-get install $pkg failed; the GPIO trigger needs it (the trigger file works without)"
    fi
done
: "$updated"

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
    || die 4 "python3 is $(python3 -V 2>&1); gopro-manager needs 3.11 or newer (Bookworm or Trixie); nothing of gopro-manager was installed"

# 2. The service user (and the gpio group), from sysusers.d.
step "service user $SERVICE_USER ($SYSUSERS)"
install -D -m 0644 "$SRC/systemd/sysusers.d/gopro-manager.conf" "$SYSUSERS"
systemd-sysusers "$SYSUSERS" || fail "systemd-sysusers $SYSUSERS failed"

# 3. /run/gopro-manager and /var/lib/gopro-manager, from tmpfiles.d (the unit's
#    RuntimeDirectory=/StateDirectory= make them too; tmpfiles has them from boot on).
install -D -m 0644 "$SRC/systemd/tmpfiles.d/gopro-manager.conf" "$TMPFILES"
systemd-tmpfiles --create "$TMPFILES" || fail "systemd-tmpfiles --create $TMPFILES failed"

# 4. The venv in one fixed place, the pins, then the project (from a copy of this tree: a
#    build inside the checkout would leave build/ and *.egg-info there).
install -d -m 0755 "$PREFIX"
: > "$MANIFEST.new"
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
    step "the venv's Python is gone (an OS upgrade?): making the venv anew"
    rm -rf "$VENV"
fi
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print(sys.version_info[:2])')" \
        != "$(python3 -c 'import sys; print(sys.version_info[:2])')" ]; then
    step "the venv is for another Python than python3 ($(python3 -V)): making it anew"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    step "venv $VENV (--system-site-packages: the OS's python3-lgpio)"
    python3 -m venv --system-site-packages "$VENV" || fail "python3 -m venv $VENV failed (python3-venv installed?)"
fi
step "pip install -r requirements.txt into $VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$SRC/requirements.txt" \
    || fail "pip install -r $SRC/requirements.txt failed (network? PIP_FIND_LINKS?)"
build=$(mktemp -d /tmp/gopro-manager-build.XXXXXX)
trap 'rm -rf "$build"' EXIT
tar -C "$SRC" --exclude=./.git --exclude='./.venv*' --exclude='*/__pycache__' --exclude=./build \
    --exclude='*.egg-info' -cf - . | tar -C "$build" -xf -
step "pip install the project ($(cd "$SRC" && git describe --always --dirty 2>/dev/null || echo 'no git'))"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall "$build" \
    || fail "pip install of the project from $SRC failed"
install -m 0644 "$SRC/README.md" "$PREFIX/README.md"
install -m 0644 "$SRC/config.py.example" "$PREFIX/config.py.example"
if "$VENV/bin/python" -c 'import lgpio' 2>/dev/null; then
    say "pin factory: lgpio importable in the venv"
else
    say "note: no lgpio in the venv (python3-lgpio is in Raspberry Pi OS's archive, not Debian's): a GPIO"
    say "      trigger needs it (or GPIO_PIN_FACTORY 'rpigpio'/'native'); the trigger file works without"
fi

# 5. Polkit and udev rules that features ship: systemd/*.rules (polkit, JavaScript) and
#    systemd/udev/*.rules (udev).
for f in "$SRC"/systemd/*.rules; do
    [ -f "$f" ] || continue
    install -D -m 0644 "$f" "$POLKIT_DIR/$(basename "$f")"
    echo "$POLKIT_DIR/$(basename "$f")" >> "$MANIFEST.new"
    step "polkit rule $POLKIT_DIR/$(basename "$f")"
done
udev_changed=no
for f in "$SRC"/systemd/udev/*.rules; do
    [ -f "$f" ] || continue
    cmp -s "$f" "$UDEV_DIR/$(basename "$f")" || udev_changed=yes
    install -D -m 0644 "$f" "$UDEV_DIR/$(basename "$f")"
    echo "$UDEV_DIR/$(basename "$f")" >> "$MANIFEST.new"
    step "udev rule $UDEV_DIR/$(basename "$f")"
done
if [ "$udev_changed" = yes ] && command -v udevadm >/dev/null && [ -S /run/udev/control ]; then
    udevadm control --reload || true
    udevadm trigger --subsystem-match=gpio || true
fi
mv "$MANIFEST.new" "$MANIFEST"

# 6. The config: a skeleton only when there is none; an existing one keeps its content and is
#    made root:gopro-manager, not writable by group or others (the daemon refuses it otherwise).
install -d -o root -g "$SERVICE_USER" -m 0750 "$CONF_DIR"
had_config=no
if [ -e "$CONFIG" ]; then
    had_config=yes
    chgrp "$SERVICE_USER" "$CONFIG"
    chmod g-w,o-rwx "$CONFIG"
    say "config $CONFIG kept as it is (group $SERVICE_USER, not writable by group or others)"
else
    install -o root -g "$SERVICE_USER" -m 0640 "$SRC/config.py.example" "$CONFIG"
    say "config skeleton $CONFIG written (from config.py.example): edit it (README step 3)"
fi

# 7. The unit.
install -m 0644 "$SRC/systemd/$UNIT" "$UNIT_DIR/$UNIT"
systemctl daemon-reload
systemctl enable --quiet "$UNIT" || fail "systemctl enable $UNIT failed"
if [ "$start" = yes ] && [ "$had_config" = yes ]; then
    step "systemctl restart $UNIT"
    systemctl restart "$UNIT" || fail "systemctl restart $UNIT failed: journalctl -u gopro-manager -n 50"
    say "gopro-manager is $(systemctl is-active "$UNIT" || true)"
else
    say "enabled, not started: edit $CONFIG, then: sudo systemctl start gopro-manager"
fi
say "next: sudo $VENV/bin/gopro-manager discover; sudo $VENV/bin/gopro-manager check"
say "done"
