#!/usr/bin/env bash
# Stops the libvirt daemons that scripts/libvirt-up.sh STATE_DIR started, by
# the PIDs in STATE_DIR (nothing else; a daemon found running by libvirt-up.sh
# is left alone). Idempotent. Usage: scripts/libvirt-down.sh STATE_DIR
set -euo pipefail
state=${1:?usage: libvirt-down.sh STATE_DIR}
say() { echo "libvirt-down.sh: $*"; }

stop_daemon() {  # name
  local name=$1 file="$state/$1.pid" pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file" 2>/dev/null || true)
  if [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
      [ -d "/proc/$pid" ] || break
      sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
      kill -KILL "$pid" 2>/dev/null || true
      say "$name (pid $pid) killed after 10 s"
    else
      say "stopped $name (pid $pid)"
    fi
  fi
  rm -f "$file"
}

# libvirt's qemu runs with -no-shutdown: without libvirtd a domain that powers
# off would never exit. So the daemons stay while domains run (someone uses them).
if [ -f "$state/libvirtd.pid" ] && command -v virsh >/dev/null; then
  left=$(virsh -c qemu:///system list --name 2>/dev/null | sed '/^$/d' || true)
  if [ -n "$left" ]; then
    echo "libvirt-down.sh: not stopping libvirtd: domains still running: $(echo "$left" | tr '\n' ' ')(stop them, then run again)" >&2
    exit 1
  fi
fi
stop_daemon libvirtd
stop_daemon virtlogd
