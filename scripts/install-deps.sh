#!/usr/bin/env bash
# Installs every Debian package Cinergy needs to build, test and run.
# Idempotent: packages already present are left alone; nothing is removed and
# no configuration file of the host is touched here (see scripts/setup-libvirt.sh).
#
# Usage: scripts/install-deps.sh [--no-vm] [--no-browser]
#   --no-vm       skip qemu/libvirt daemon and prometheus packages (build and
#                 unit tests only)
#   --no-browser  skip chromium (only the report's browser test needs it)
set -euo pipefail

want_vm=1
want_browser=1
for arg in "$@"; do
  case "$arg" in
    --no-vm) want_vm=0 ;;
    --no-browser) want_browser=0 ;;
    *) echo "install-deps.sh: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: must run as root (apt-get install)" >&2
  exit 1
fi

pkgs=(
  # build
  build-essential cmake pkg-config git ca-certificates
  # eBPF
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev liblzma-dev
  # libraries
  libboost-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libeigen3-dev libvirt-dev libzstd-dev
  # cinergy serve: /metrics (prometheus-cpp core + pull, with civetweb) and the
  # HTTP client of its bench and tests
  prometheus-cpp-dev libcurl4-openssl-dev
  # the paper method's least squares: LAPACK's ?gelsd, the routine scipy calls
  liblapack-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev
  # workload generator, used by scenario A/C and the kernel tests
  stress-ng
  # tests: python3 reads traces, and pandas.read_csv(trace) is the one-line
  # load the trace format promises (tests/sampler/trace_test.cpp); the paper
  # method's reference is pandas + scikit-learn (tests/model/paper_reference.py;
  # python3-sklearn brings numpy and scipy)
  python3 python3-pandas python3-sklearn
)
# npm installs the report's charting library at build time (report/web). A
# host that already has npm (e.g. from nodesource's nodejs) keeps its own.
if ! command -v npm >/dev/null 2>&1; then
  pkgs+=(npm)
fi
if [ "$want_vm" -eq 1 ]; then
  # A real VM without systemd/udev: see docs/vm.md. On a host with
  # systemd, libvirt-daemon-system is the usual package; these are a subset of it.
  pkgs+=(qemu-system-x86 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients busybox-static cpio)
  # The e2e test of cinergy serve runs a real Prometheus server of its own on
  # 127.0.0.1 (temporary config and data, stopped by its PID). On a host
  # with systemd as PID 1, Debian's package also enables its own service
  # (prometheus.service on :9090); this script does not touch that.
  pkgs+=(prometheus)
fi
if [ "$want_browser" -eq 1 ]; then
  pkgs+=(chromium)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps.sh: all ${#pkgs[@]} packages already installed"
  exit 0
fi

echo "install-deps.sh: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps.sh: done"
