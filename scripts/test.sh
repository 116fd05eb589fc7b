#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds, and runs
# every tier: unit (no root), kernel (root: BPF, cgroups, stress-ng) and e2e
# (root: a real libvirt VM, headless Chromium). Tiers that cannot run here skip
# with a printed reason. Usage: scripts/test.sh [ctest label regex, default all]
set -euo pipefail
cd "$(dirname "$0")/.."
labels="${1:-unit|kernel|e2e}"

if [ "$(id -u)" -eq 0 ]; then
  scripts/install-deps.sh
else
  echo "test.sh: not root: skipping package install; kernel and e2e tiers will skip"
fi
scripts/build.sh

cleanup=()
on_exit() { for c in "${cleanup[@]}"; do eval "$c" || true; done; }
trap on_exit EXIT

# e2e needs a libvirt daemon: use the host's when one answers, else start one
# for the duration of the tests (stopped afterwards by its PID).
if [ "$(id -u)" -eq 0 ] && [ -x scripts/libvirt-up.sh ] && [[ "e2e" =~ $labels ]]; then
  state=$(mktemp -d /tmp/cinergy-libvirt-XXXXXX)
  # The state directory goes once empty (libvirt-down.sh removes the PID files
  # of the daemons it stopped; it keeps them when domains still run).
  if scripts/libvirt-up.sh "$state"; then
    cleanup+=("scripts/libvirt-down.sh '$state'; rmdir '$state' 2>/dev/null")
  else
    rmdir "$state" 2>/dev/null || true
  fi
fi

ctest --test-dir build --output-on-failure -L "$labels" --timeout 1800
