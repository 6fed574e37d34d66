#!/usr/bin/env bash
# Quick start (1): set up, build, and run polc's main job on samples/.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
POLC=${POLC_BUILD_DIR:-build}/tools/polc/polc

run() {
  echo
  echo "\$ polc $*"
  "$POLC" "$@" || true
}

for s in samples/*/; do
  run dump --summary "$s"
done
