#!/usr/bin/env bash
# Makes a libvirt daemon answer on qemu:///system, for the e2e tests and for
# `cinergy run --testvm` on machines without systemd (see docs/vm.md).
#
# * A daemon already answers: it is used as is; nothing is touched.
# * Else, as root: creates the libvirt-qemu user/group and /var/log/libvirt
#   only if missing; adds to /etc/libvirt/qemu.conf only the settings that are
#   missing (user/group "root", dynamic_ownership 0, security_driver "none"),
#   after a backup of the original file, and says what it added; starts
#   virtlogd (unless one runs) and libvirtd with their pid files in STATE_DIR;
#   waits until `virsh version` answers.
# scripts/libvirt-down.sh STATE_DIR stops exactly the daemons started here.
# Idempotent. Usage: scripts/libvirt-up.sh STATE_DIR [TIMEOUT_S (default 30)]
set -euo pipefail
uri=qemu:///system
state=${1:?usage: libvirt-up.sh STATE_DIR [TIMEOUT_S]}
timeout_s=${2:-30}
say() { echo "libvirt-up.sh: $*"; }
die() { echo "libvirt-up.sh: $*" >&2; exit 1; }
answers() { virsh -c "$uri" version >/dev/null 2>&1; }

command -v virsh >/dev/null || die "virsh not found (install libvirt-clients)"
if answers; then
  say "a libvirt daemon already answers on $uri; using it as is"
  exit 0
fi
[ "$(id -u)" -eq 0 ] || die "no libvirt daemon answers on $uri and starting one needs root"
for bin in /usr/sbin/libvirtd /usr/sbin/virtlogd; do
  [ -x "$bin" ] || die "$bin not found (install libvirt-daemon libvirt-daemon-driver-qemu)"
done
mkdir -p "$state"
state=$(cd "$state" && pwd)

# One starter at a time on this host (parallel test runs).
# (The braces keep the 2>/dev/null to this attempt: on `exec` itself it
# would silence the rest of the script.)
{ exec 9>/run/lock/cinergy-libvirt-up.lock; } 2>/dev/null || exec 9>"$state/.lock"
flock -w "$timeout_s" 9 || die "timed out waiting for another libvirt-up.sh"
if answers; then
  say "a libvirt daemon already answers on $uri (started meanwhile); using it as is"
  exit 0
fi

if ! getent group libvirt-qemu >/dev/null; then
  groupadd -r libvirt-qemu && say "created group libvirt-qemu"
fi
if ! getent passwd libvirt-qemu >/dev/null; then
  useradd -r -g libvirt-qemu -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu &&
    say "created user libvirt-qemu"
fi
if [ ! -d /var/log/libvirt ]; then
  mkdir -p /var/log/libvirt && say "created /var/log/libvirt"
fi

conf=/etc/libvirt/qemu.conf
declare -A want=([user]='"root"' [group]='"root"' [dynamic_ownership]='0' [security_driver]='"none"')
missing=()
for key in user group dynamic_ownership security_driver; do
  if [ -f "$conf" ] && grep -Eq "^[[:space:]]*${key}[[:space:]]*=" "$conf"; then
    current=$(grep -E "^[[:space:]]*${key}[[:space:]]*=" "$conf" | tail -n1 | sed -E 's/^[^=]*=[[:space:]]*//')
    [ "$current" = "${want[$key]}" ] ||
      say "warning: $conf sets $key = $current (left as is; the test VM expects ${want[$key]})"
  else
    missing+=("$key")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  mkdir -p "$(dirname "$conf")"
  if [ -f "$conf" ]; then
    backup="$conf.cinergy-backup-$(date -u +%Y%m%dT%H%M%SZ)"
    cp -p "$conf" "$backup"
    say "backed up $conf to $backup"
  fi
  {
    echo ""
    echo "# Added by cinergy scripts/libvirt-up.sh ($(date -u +%FT%TZ)): settings that were missing"
    for key in "${missing[@]}"; do echo "$key = ${want[$key]}"; done
  } >>"$conf"
  for key in "${missing[@]}"; do say "added to $conf: $key = ${want[$key]}"; done
fi

if pgrep -x virtlogd >/dev/null && [ -S /run/libvirt/virtlogd-sock ]; then
  say "virtlogd already runs; using it"
else
  # The daemons must not inherit the lock (fd 9): they would hold it for
  # ever and the next libvirt-up.sh would wait for it in vain.
  /usr/sbin/virtlogd -d --pid-file "$state/virtlogd.pid" 9>&- || die "virtlogd failed to start"
  say "started virtlogd (pid $(cat "$state/virtlogd.pid" 2>/dev/null || echo '?'))"
fi
/usr/sbin/libvirtd -d --pid-file "$state/libvirtd.pid" 9>&- || die "libvirtd failed to start"

deadline=$((SECONDS + timeout_s))
until answers; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "libvirtd started but $uri did not answer within ${timeout_s} s (see /var/log/libvirt)"
  fi
  sleep 0.2
done
say "started libvirtd (pid $(cat "$state/libvirtd.pid")); $uri answers"
