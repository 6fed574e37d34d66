#!/usr/bin/env bash
# Installs every package polc needs (Debian), then configures and builds it (Release, all cores).
# Idempotent and quiet: re-running when nothing changed takes seconds. Output only on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libyaml-cpp-dev libz3-dev antlr4 libantlr4-runtime-dev
  llvm-14-dev llvm-14-tools clang-14 libclang-14-dev libclang-cpp14-dev libclang-rt-14-dev clang-format-14
  libbpf-dev libelf-dev zlib1g-dev bpftool
  libcli11-dev nlohmann-json3-dev libfmt-dev libgtest-dev libgmock-dev
  iproute2 iptables nftables iputils-ping python3 python3-jsonschema iperf3
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${#missing[@]} package(s): ${missing[*]}"
  log=$(mktemp)
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
           --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: package installation failed (see above)" >&2
    exit 1
  fi
  rm -f "$log"
fi

BUILD_DIR=${POLC_BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  log=$(mktemp)
  if ! cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${POLC_CMAKE_ARGS:-} >"$log" 2>&1; then
    cat "$log" >&2
    echo "setup: cmake configure failed (see above)" >&2
    exit 1
  fi
  rm -f "$log"
fi
log=$(mktemp)
if ! cmake --build "$BUILD_DIR" -j "$(nproc)" >"$log" 2>&1; then
  grep -E "error|Error|FAILED" "$log" | head -50 >&2 || true
  tail -20 "$log" >&2
  echo "setup: build failed (see above; full log: $log)" >&2
  exit 1
fi
rm -f "$log"
