#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, makes sure a
# libvirt daemon answers (starting one for the duration of the run when none
# does, stopped again at the end), and runs the quick experiment with the
# built-in test VM: scenarios A, B, C, the analysis and the HTML report.
#
# Energy: the host's real RAPL meter when it has one (--source auto); on a
# host without RAPL (most VMs, CI) the SIMULATED meter (--source sim), and it
# says so loudly: the figures of such a run are modelled, not measured.
#
# Usage: scripts/run.sh [more `cinergy run` flags, e.g. --profile paper --live]
# On a real host with KVM, RAPL and your own VM: see docs/orchestrator.md.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "run.sh: $*"; }
if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: must run as root (cgroups, stress-ng placement, libvirt, RAPL counters)" >&2
  exit 1
fi

scripts/install-deps.sh --no-browser
scripts/build.sh --target cinergy  # the executable only; tests build in scripts/test.sh

# Real RAPL (powercap or the perf power PMU), else the simulated meter.
source_flag=(--source auto)
if ls /sys/class/powercap/intel-rapl:*/energy_uj >/dev/null 2>&1 ||
   [ -e /sys/bus/event_source/devices/power/events/energy-pkg ]; then
  say "this host has RAPL: measuring real energy (--source auto)"
else
  source_flag=(--source sim)
  say "************************************************************************"
  say "this host has NO RAPL energy counters: using the SIMULATED meter"
  say "(--source sim). Power figures of this run are MODELLED, NOT MEASURED;"
  say "every output says simulated. Run on a bare-metal host for real figures."
  say "************************************************************************"
fi

# A libvirt daemon for the test VM (without one it runs as plain qemu).
state=$(mktemp -d /tmp/cinergy-libvirt-XXXXXX)
stop_libvirt() { scripts/libvirt-down.sh "$state" || true; rm -rf "$state"; }
if scripts/libvirt-up.sh "$state"; then
  trap stop_libvirt EXIT
else
  say "no libvirt daemon could be started: the test VM runs as a plain qemu process"
  rm -rf "$state"
fi

# The run directory: the user's --out, else runs/<host>-<UTC timestamp>.
run_dir=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [ "${args[$i]}" = "--out" ] && run_dir=${args[$((i + 1))]:-}
done
out_flag=()
if [ -z "$run_dir" ]; then
  run_dir="runs/$(hostname)-$(date -u +%Y%m%dT%H%M%SZ)"
  out_flag=(--out "$run_dir")
fi
set +e
build/cinergy run --testvm --profile quick "${source_flag[@]}" "${out_flag[@]}" "$@"
rc=$?
set -e
if [ -d "$run_dir" ]; then
  say "results: $run_dir (manifest.json, <host>-*.csv, trace-*.csv.xz, evaluation*.json, report.html)"
  if [ -f "$run_dir/report.html" ]; then say "open the report: $run_dir/report.html"; fi
fi
exit "$rc"
