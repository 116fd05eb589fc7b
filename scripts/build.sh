#!/usr/bin/env bash
# Configures and builds Cinergy into build/ (executable: build/cinergy).
# Usage: scripts/build.sh [--target NAME ...] [extra cmake configure args]
#   --target NAME  build only NAME (repeatable; e.g. --target cinergy, as
#                  scripts/run.sh does); default: everything, tests included
# The configuration is the same either way, so a later full build reuses
# what a --target build compiled.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)
targets=()
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target)
      [ $# -ge 2 ] || { echo "build.sh: --target needs a name" >&2; exit 2; }
      targets+=(--target "$2")
      shift 2
      ;;
    *)
      cmake_args+=("$1")
      shift
      ;;
  esac
done
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "${cmake_args[@]}" >/dev/null
cmake --build build -j "$jobs" "${targets[@]}"
