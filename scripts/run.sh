#!/usr/bin/env bash
# The main job (README's first command): installs what is missing, builds, and
# runs the embedded default experiment, then prints where the results are.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
build/cinergy probe
# Simulated meter: these machines have no RAPL. On a real host use --source auto.
build/cinergy record --duration 10 --rate 1000 --source sim --out runs/record-demo.csv.gz
