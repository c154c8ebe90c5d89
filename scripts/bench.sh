#!/usr/bin/env bash
# Benchmarks on this machine, release build, loopback. Prints figures and the
# ratios between runs made in this one invocation (the machine is shared and
# noisy: compare ratios, not absolute numbers).
#
#   scripts/bench.sh            # about 1 minute
#   BENCH_SECONDS=30 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-10}
PORT=${BENCH_PORT:-18401}
BASE="http://127.0.0.1:$PORT"

if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi
cargo build --release --quiet
BIN=target/release/soloauth

DATA=$(mktemp -d)
LOG=$(mktemp)
PASSWORD="bench-password-$$"
cleanup() { [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$DATA" "$LOG"; }
trap cleanup EXIT

export AUTH_DATA_DIR="$DATA" AUTH_BIND="127.0.0.1:$PORT" AUTH_LOG_FORMAT=json RUST_LOG=warn
# The abuse limits would (rightly) stop a flood from one IP before it hashes:
# lift them so the flood really reaches argon2.
export AUTH_RATE_PER_MINUTE=100000000 AUTH_RATE_BURST=100000000
export AUTH_MAX_FAILED_ATTEMPTS=100000000 AUTH_ACCOUNT_MAX_FAILURES=100000000
AUTH_ADMIN_PASSWORD_HASH=$(printf '%s\n' "$PASSWORD" | "$BIN" hash-password)
export AUTH_ADMIN_PASSWORD_HASH

"$BIN" >"$LOG" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/health" >/dev/null && break; sleep 0.05; done

TOKEN=$(curl -sf -X POST "$BASE/auth/login" -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" | python3 -c 'import json,sys;print(json.load(sys.stdin)["access_token"])')

# p99 latency in ms from `wrk --latency` output.
p99() { awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}'; }
rps() { awk '/Requests\/sec/{print $2}'; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
hwm_kb() { awk '/VmHWM/{print $2}' "/proc/$PID/status"; }

AUTHED="$BASE/auth/verify"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB; wrk on the same cores as the server"
echo "hot path measured: GET /auth/verify with the session cookie (forward auth)"
echo

quiet=$(wrk -t1 -c16 -d"${SECS}s" --latency -H "Cookie: soloauth_access=$TOKEN" "$AUTHED")
quiet_p99=$(echo "$quiet" | p99); quiet_rps=$(echo "$quiet" | rps)
rss_before=$(rss_kb)

wrk -t1 -c64 -d"$((SECS + 4))s" --latency -s scripts/bench/login_flood.lua "$BASE/auth/login" >"$DATA/flood.txt" 2>&1 &
FLOOD=$!
sleep 2
flood=$(wrk -t1 -c16 -d"${SECS}s" --latency -H "Cookie: soloauth_access=$TOKEN" "$AUTHED")
wait $FLOOD
flood_p99=$(echo "$flood" | p99); flood_rps=$(echo "$flood" | rps)
logins_rps=$(rps <"$DATA/flood.txt")
non2xx=$(awk '/Non-2xx/{print $NF}' "$DATA/flood.txt")
peak=$(hwm_kb)

printf '%-46s %12s %12s\n' "" "quiet" "64-way flood"
printf '%-46s %12s %12s\n' "verify p99 (ms)" "$quiet_p99" "$flood_p99"
printf '%-46s %12s %12s\n' "verify requests/s" "$quiet_rps" "$flood_rps"
printf '%-46s %12s\n' "wrong-password logins/s during the flood" "$logins_rps"
printf '%-46s %12s\n' "flood responses (all refused: 401 or 503 busy)" "${non2xx:-0}"
printf '%-46s %12s\n' "RSS before the flood (MiB)" "$(awk -v k="$rss_before" 'BEGIN{printf "%.1f", k/1024}')"
printf '%-46s %12s\n' "peak RSS, whole run (MiB)" "$(awk -v k="$peak" 'BEGIN{printf "%.1f", k/1024}')"
echo
awk -v q="$quiet_p99" -v f="$flood_p99" 'BEGIN{printf "ratio: flood p99 / quiet p99 = %.2f\n", f/q}'
awk -v q="$quiet_rps" -v f="$flood_rps" 'BEGIN{printf "ratio: flood throughput / quiet throughput = %.2f\n", f/q}'
