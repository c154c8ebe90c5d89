#!/usr/bin/env bash
# Fuzzes soloauth's parsers of client input with cargo-fuzz (libFuzzer).
#
#   scripts/fuzz.sh [seconds-per-target]      (default 120)
#
# Targets (fuzz/fuzz_targets/): token (JWT verify, refresh-token parse),
# headers (X-Forwarded-*, X-Original-URL, client IP, rd allow-list),
# body (JSON and form request bodies, TOTP and recovery codes) and config
# (Config::from_lookup, hermetic). Each runs for the given time, one after
# the other, at low priority. Property: no panic, plus a few invariants.
#
# Runs on stable Rust through RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags).
# Build output goes to fuzz/target, the growing corpus to fuzz/corpus/<target>
# (seeded from the checked-in fuzz/seeds/<target>), crashing inputs to
# fuzz/artifacts/<target>/ and each run's full log to fuzz/artifacts/<target>.log.
#
# Environment:
#   FUZZ_TARGETS="token body"   only these targets (default: all of them)
#   FUZZ_SANITIZER=address      build with ASan (default: none; soloauth
#                               forbids unsafe code, and ASan halves the speed)
#   FUZZ_NICE=10                niceness of the build and the fuzzer
#
# Reproduce a crash:  RUSTC_BOOTSTRAP=1 cargo fuzz run -a -s none <target> fuzz/artifacts/<target>/crash-…
# Exit status: non-zero if any target crashed (or failed to build or run).
set -euo pipefail

secs="${1:-120}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-none}"
nice_level="${FUZZ_NICE:-10}"
build_flags=(--release --debug-assertions --sanitizer "$sanitizer")

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz (a few minutes)"
    nice -n "$nice_level" cargo install cargo-fuzz --locked
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
    read -r -a targets <<<"$FUZZ_TARGETS"
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer; the first build takes several minutes)"
build_start=$(date +%s)
for target in "${targets[@]}"; do
    nice -n "$nice_level" cargo fuzz build "${build_flags[@]}" "$target"
done
echo "== built in $(($(date +%s) - build_start)) s"

failed=0
summary=()
for target in "${targets[@]}"; do
    corpus="fuzz/corpus/$target"
    artifacts="fuzz/artifacts/$target"
    log="fuzz/artifacts/$target.log"
    mkdir -p "$corpus" "$artifacts"
    if [ -d "fuzz/seeds/$target" ]; then
        cp -n "fuzz/seeds/$target"/* "$corpus"/ 2>/dev/null || true
    fi
    args=(
        "-max_total_time=$secs"
        -rss_limit_mb=4096
        -timeout=10
        -max_len=4096
        -print_final_stats=1
    )
    if [ -f "fuzz/dicts/$target.dict" ]; then
        args+=("-dict=fuzz/dicts/$target.dict")
    fi
    marker="$(mktemp)"
    echo "== fuzzing $target for $secs s (log: $log)"
    status=0
    nice -n "$nice_level" cargo fuzz run "${build_flags[@]}" "$target" -- "${args[@]}" \
        >"$log" 2>&1 || status=$?
    new_artifacts=$(find "$artifacts" -type f -newer "$marker" | sort | tr '\n' ' ')
    rm -f "$marker"

    # libFuzzer's final stats line, or else its last status line (#N ...).
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
    if [ -z "$execs" ]; then
        execs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]].*/\1/p' "$log" | tail -n 1)
    fi
    corpus_size=$(find "$corpus" -type f | wc -l)
    cov=$(sed -n 's/^#[0-9]*[[:space:]].* cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1, ft \2/p' "$log" | tail -n 1)
    if [ -n "$new_artifacts" ]; then
        line="$target: ${execs:-?} executions, ${cov:-no coverage line}, corpus $corpus_size; CRASH artifact written: ${new_artifacts% }"
        failed=1
        echo "---- $target: last lines of $log"
        grep -v '^#[0-9]' "$log" | tail -n 40
    elif [ "$status" -ne 0 ]; then
        line="$target: ${execs:-?} executions; FAILED (exit $status, no artifact; see $log)"
        failed=1
        tail -n 30 "$log"
    else
        line="$target: ${execs:-?} executions in $secs s, ${cov:-no coverage line}, corpus $corpus_size; no crash"
    fi
    echo "$line"
    summary+=("$line")
done

echo
echo "== fuzz summary ($secs s per target)"
printf '%s\n' "${summary[@]}"
exit "$failed"
