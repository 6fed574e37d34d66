#!/usr/bin/env bash
# Quick start (1): set up, build, and run polc's main job on samples/: what was loaded, the lint
# report, reachability questions with their explanation, every sample's expected flows checked,
# and a compile to eBPF objects with the capacity report.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
POLC=${POLC_BUILD_DIR:-build}/tools/polc/polc
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

# Prints the command, runs it; exit 1 (findings, a deny) is an answer, exit 2 is a failure.
run() {
  echo
  echo "\$ polc $*"
  local rc=0
  "$POLC" "$@" || rc=$?
  if [ "$rc" -ge 2 ]; then
    echo "demo: 'polc $*' failed (exit $rc)" >&2
    exit "$rc"
  fi
}

echo "== What polc loaded from each sample"
for s in samples/*/; do
  run dump --summary "${s%/}"
done

echo
echo "== Lint: the CI gate (samples/broken has one mistake for every check)"
run lint samples/demo
run lint samples/broken --color never

echo
echo "== Reachability, with the deciding rules"
run query samples/demo "can frontend reach database:5432?"
run query samples/demo "can frontend reach backend:80"
run query samples/demo "who can reach database"
run query samples/l7-api "can default/client reach api:8080 DELETE /api/v1/users/1"
run matrix samples/demo

echo
echo "== Every sample's expected flows (samples/*/expect.txt), checked"
for s in samples/*/; do
  if [ -f "$s/expect.txt" ]; then
    echo "\$ polc query ${s%/} --batch ${s}expect.txt"
    "$POLC" query "${s%/}" --batch "${s}expect.txt" >/dev/null
  fi
done

echo
echo "== Compile to eBPF (objects + map layout + capacity report)"
run compile samples/demo -o "$OUT/demo" --report
ls -l "$OUT/demo"/*/ 2>/dev/null | sed 's/^/  /' || true
