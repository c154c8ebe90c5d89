#!/usr/bin/env bash
# Runs the integration tests N times in a row (default 20) and stops at the
# first failure: a test that fails one run in twenty is a failing test.
#
#     scripts/repeat_tests.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo test --test it --no-run --quiet
for i in $(seq 1 "$runs"); do
  if ! out=$(cargo test --test it --quiet 2>&1); then
    printf '%s\n' "$out" | tail -n 60
    echo "run $i of $runs FAILED"
    exit 1
  fi
  echo "run $i of $runs: $(printf '%s\n' "$out" | grep -E '^test result' | tail -n 1)"
done
echo "$runs of $runs runs passed"
