#!/usr/bin/env bash
# Quick start (2): set up, build, and run the whole test suite through ctest (kernel tests too:
# they need root, BPF and network namespaces, which CI machines have).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cd "${POLC_BUILD_DIR:-build}"
ctest --output-on-failure -j "$(nproc)" "$@"
