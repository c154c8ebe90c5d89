#!/usr/bin/env bash
# Benchmarks soloauth on this machine (release build, loopback) and prints the
# figures with the ratios between runs made in this one invocation: the
# machine is shared and noisy, so compare ratios, not absolute numbers.
#
#   scripts/bench.sh                                   # about 15 minutes
#   BENCH_SECONDS=10 BENCH_ROUNDS=1 scripts/bench.sh   # a quick look
#   BENCH_BIN=path/to/soloauth scripts/bench.sh        # that binary, no build
#   BENCH_PROBE_BIN=path/to/bare_probe scripts/bench.sh  # that probe, no build
#   BENCH_SEED_BIN=path/to/seed_store scripts/bench.sh   # that seeder, no build
#
# The server binds a port of its own choosing each time it starts (lib.sh,
# harness.py): no fixed port to collide with, no free-port race.
#
# 1. GET /auth/verify (session cookie) vs GET /health, bare and with the same
#    cookie, and vs a bare poem probe (examples/bare_probe.rs: one route, no
#    middleware, the same runtime), 16 and 64 connections, 30 s runs
#    interleaved over 3 rounds; median throughput and p99, server CPU per
#    request (/proc); the ratios against their goals.
# 2. Login: p50 of a password login vs one argon2id verification, same run.
# 3. A 64-way wrong-password login flood: verify p99 and throughput during it
#    vs quiet, and peak RSS.
# 4. Idle RSS after start, after 100k and after 300k verify requests, and one
#    minute after the last login; time from start to the first healthy
#    answer; release binary size.
# 5. Snapshots of a realistic store (1 000 sessions, 10 000 audit events,
#    added by examples/seed_store.rs): verify throughput and p99 while
#    snapshots are written back to back (SIGUSR1 asks for one; they
#    coalesce, so the next starts as soon as the last is written) vs quiet,
#    in one run; one snapshot's duration (median) and size.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=${BENCH_SECONDS:-30}
ROUNDS=${BENCH_ROUNDS:-3}
. scripts/lib.sh

if ! command -v wrk >/dev/null; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk
fi
TARGET=${CARGO_TARGET_DIR:-target}
if [ -n "${BENCH_BIN:-}" ]; then
  BIN=$BENCH_BIN
else
  cargo build --release --quiet
  BIN=$TARGET/release/soloauth
fi
if [ -n "${BENCH_PROBE_BIN:-}" ]; then
  PROBE_BIN=$BENCH_PROBE_BIN
else
  cargo build --release --quiet --example bare_probe
  PROBE_BIN=$TARGET/release/examples/bare_probe
fi
if [ -n "${BENCH_SEED_BIN:-}" ]; then
  SEED_BIN=$BENCH_SEED_BIN
else
  cargo build --release --quiet --example seed_store
  SEED_BIN=$TARGET/release/examples/seed_store
fi

DATA=$(mktemp -d)
PASSWORD="bench-password-$$"
PROBE_PID=""
SNAPPER=""
cleanup() {
  [ -z "$SNAPPER" ] || kill "$SNAPPER" 2>/dev/null || true
  stop_soloauth
  [ -z "$PROBE_PID" ] || kill "$PROBE_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DATA"
}
trap cleanup EXIT

# Warnings only, but for the crate root's few lines (the "soloauth listening"
# line that gives the port among them): no per-request logging.
export RUST_LOG='warn,soloauth=info,soloauth::=warn'
# The abuse limits would (rightly) stop one client's flood before it hashes:
# lift them so the benchmark measures the server, not the limiter.
export AUTH_RATE_PER_MINUTE=100000000 AUTH_RATE_BURST=100000000
export AUTH_MAX_FAILED_ATTEMPTS=100000000 AUTH_ACCOUNT_MAX_FAILURES=100000000
AUTH_ADMIN_PASSWORD_HASH=$(hash_password "$BIN" "$PASSWORD")
export AUTH_ADMIN_PASSWORD_HASH

# First run creates the data dir and secrets; time the ordinary starts after it.
start_soloauth "$BIN" "$DATA/data"
stop_soloauth
# Median of 7 starts, from spawn to the first 200 on /health (the port read
# from the server's log line through a pipe, /health then polled in-process
# every 0.5 ms, so the poller's own start-up is not counted).
startup_ms=$(python3 - "$BIN" "$DATA/data" <<'PY'
import statistics, sys, time
sys.path.insert(0, "scripts")
from harness import start_server
binary, data_dir = sys.argv[1], sys.argv[2]
times = []
for _ in range(7):
    t = time.perf_counter()
    server = start_server(binary, data_dir, health_interval=0.0005)
    times.append(time.perf_counter() - t)
    server.stop()
print(f"{statistics.median(times) * 1000:.0f}")
PY
)
start_soloauth "$BIN" "$DATA/data"
BASE=$SOLOAUTH_URL
PID=$SOLOAUTH_PID

# What a browser sends an app after signing in: the session cookie (what
# verify checks first) and the access cookie.
COOKIE="Cookie: $(login_cookies admin "$PASSWORD")"

# The bare poem probe, on a port of its own choosing too: it prints
# "bare probe listening on ADDR".
"$PROBE_BIN" >"$DATA/probe.log" 2>&1 </dev/null &
PROBE_PID=$!
for _ in $(seq 500); do
  PROBE_ADDR=$(awk '/bare probe listening on/{print $NF; exit}' "$DATA/probe.log")
  [ -n "$PROBE_ADDR" ] && break
  sleep 0.02
done
[ -n "$PROBE_ADDR" ] || { echo "the bare probe did not start:" >&2; cat "$DATA/probe.log" >&2; exit 1; }
PROBE_URL="http://$PROBE_ADDR"
wait_healthy "$PROBE_URL" 20

p99() { awk '$1=="99%"{v=$2; if (v ~ /us$/) {sub("us","",v); v/=1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v*=1000}; print v}'; }
rps() { awk '/Requests\/sec/{print $2}'; }
reqs() { awk '/requests in/{print $1}'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/${1:-$PID}/stat"; }
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

# One wrk run; prints "rps p99_ms cpu_us requests" (CPU: server, user +
# system; the server is $MEASURED_PID, by default soloauth).
measure_raw() {
  local conns=$1 url=$2; shift 2
  local before after out pid=${MEASURED_PID:-$PID}
  before=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$conns" -d"${SECS}s" --latency "$@" "$url")
  after=$(cpu_ticks "$pid")
  echo "$(echo "$out" | rps) $(echo "$out" | p99) $(( (after - before) * TICK_US )) $(echo "$out" | reqs)"
}

# One wrk run; prints "rps p99_ms cpu_us_per_request".
measure() { measure_raw "$@" | awk '{printf "%s %s %.1f\n", $1, $2, $3 / $4}'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r); wrk shares the cores with the server"
echo

# --- 1. verify vs health vs the bare probe, interleaved --------------------------
# ROUNDS rounds of the bare probe, health, health with the session cookie, and
# verify per connection count, in alternating order so a slow spell on the
# shared machine hits all alike; the table shows medians over the rounds, CPU
# per request over all of them. "/health + cookie" carries the same 300-odd-byte
# cookie as the verify runs: the difference between it and verify is the check
# itself. The probe is the limit: bare poem, one JSON route, no middleware.
declare -A RUNS
for ((round = 1; round <= ROUNDS; round++)); do
  for conns in 16 64; do
    order="probe health cookie verify"; (( round % 2 == 0 )) && order="verify cookie health probe"
    for what in $order; do
      case $what in
        probe) out=$(MEASURED_PID=$PROBE_PID measure_raw "$conns" "$PROBE_URL/health") ;;
        health) out=$(measure_raw "$conns" "$BASE/health") ;;
        cookie) out=$(measure_raw "$conns" "$BASE/health" -H "$COOKIE") ;;
        verify) out=$(measure_raw "$conns" "$BASE/auth/verify" -H "$COOKIE") ;;
      esac
      RUNS[$what,$conns]+="$out"$'\n'
    done
  done
done
# Median rps, median p99, CPU µs per request over all rounds (mawk: no asort).
median() { sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
summary() {
  local runs; runs=$(cat)
  echo "$(cut -d' ' -f1 <<<"$runs" | median) $(cut -d' ' -f2 <<<"$runs" | median)" \
    "$(awk '{t+=$3; n+=$4} END{printf "%.1f", t/n}' <<<"$runs")"
}
# "x<throughput ratio> tput, x<p99 ratio> p99" of verify against run set $2.
versus() { awk -v a="$1" -v b="$3" -v c="$2" -v d="$4" 'BEGIN{printf "x%.2f tput, x%.2f p99", a/b, c/d}'; }
printf '%-36s %11s %9s %9s %26s\n' "median of $ROUNDS runs x ${SECS}s" "requests/s" "p99 (ms)" "CPU/req" "verify vs this"
for conns in 16 64; do
  read -r vr vp vc <<<"$(printf '%s' "${RUNS[verify,$conns]}" | summary)"
  for what in probe health cookie; do
    read -r r p c <<<"$(printf '%s' "${RUNS[$what,$conns]}" | summary)"
    case $what in
      probe) label="bare poem probe GET /health"; pc=$c ;;
      health) label="GET /health"; hr=$r ;;
      cookie) label="GET /health + cookie" ;;
    esac
    printf '%-36s %11s %9s %6s µs %26s\n' "$label, $conns conns" "$r" "$p" "$c" "$(versus "$vr" "$vp" "$r" "$p")"
  done
  printf '%-36s %11s %9s %6s µs\n' "GET /auth/verify + cookie, $conns conns" "$vr" "$vp" "$vc"
  awk -v c="$conns" -v vr="$vr" -v hr="$hr" -v vc="$vc" -v pc="$pc" 'BEGIN{
    printf "  ratio, %s conns: verify/health req/s = %.2f (goal >= 0.85); verify/probe CPU per request = %.2f (goal <= 1.5)\n", c, vr/hr, vc/pc}'
  # Each round's own verify/health ratios, so the spread is visible too.
  paste <(printf '%s' "${RUNS[verify,$conns]}") <(printf '%s' "${RUNS[health,$conns]}") |
    awk -v c="$conns" '{t = t sprintf(" x%.2f", $1/$5); q = q sprintf(" x%.2f", $2/$6)}
      END{printf "  verify/health per round, %s conns: tput%s; p99%s\n", c, t, q}'
done
echo

# --- 2. login latency vs one argon2 verification ---------------------------------
login_p50=$(python3 - "$BASE" "$PASSWORD" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
base, password = sys.argv[1], sys.argv[2]
body = json.dumps({"username": "admin", "password": password})
# One kept-alive connection, as a browser's: the figure is the server's time.
conn = http.client.HTTPConnection(urllib.parse.urlsplit(base).netloc)
times = []
for _ in range(40):
    t = time.perf_counter()
    conn.request("POST", "/auth/login", body, {"Content-Type": "application/json"})
    resp = conn.getresponse(); resp.read()
    times.append(time.perf_counter() - t)
    assert resp.status == 200, resp.status
print(f"{statistics.median(times) * 1000:.2f}")
PY
)
hash_ms=$("$BIN" bench-hash 2>/dev/null | awk '/median/{print $2}')
printf '%-48s %8s ms\n' "password login p50 (HTTP, session, flush)" "$login_p50"
printf '%-48s %8s ms\n' "one argon2id verification, p50 (same machine)" "$hash_ms"
awk -v a="$login_p50" -v b="$hash_ms" 'BEGIN{printf "ratio: login / argon2 = %.2f (goal <= 1.2)\n\n", a/b}'

# --- 3. a 64-way wrong-password flood ---------------------------------------------
read -r quiet_rps quiet_p99 _ <<<"$(measure 16 "$BASE/auth/verify" -H "$COOKIE")"
wrk -t1 -c64 -d"$((SECS + 4))s" -s scripts/bench/login_flood.lua "$BASE/auth/login" >"$DATA/flood.txt" 2>&1 &
FLOOD=$!
sleep 2
read -r flood_rps flood_p99 _ <<<"$(measure 16 "$BASE/auth/verify" -H "$COOKIE")"
wait $FLOOD
printf '%-48s %12s %12s\n' "" "quiet" "64-way flood"
printf '%-48s %12s %12s\n' "verify p99 (ms)" "$quiet_p99" "$flood_p99"
printf '%-48s %12s %12s\n' "verify requests/s" "$quiet_rps" "$flood_rps"
printf '%-48s %12s\n' "wrong-password logins/s during the flood" "$(rps <"$DATA/flood.txt")"
printf '%-48s %12s\n' "flood answers refused (401, or 503 busy)" "$(awk '/Non-2xx/{print $NF}' "$DATA/flood.txt")"
awk -v k="$(awk '/VmHWM/{print $2}' "/proc/$PID/status")" \
  'BEGIN{printf "%-48s %12.1f   (%.1f MB; goal < 64 MB)\n", "peak RSS so far (MiB)", k/1024, k*1024/1e6}'
awk -v a="$flood_p99" -v b="$quiet_p99" -v c="$flood_rps" -v d="$quiet_rps" \
  'BEGIN{printf "ratio: flood / quiet: p99 x%.2f, throughput x%.2f\n\n", a/b, c/d}'

# --- 4. memory, start time, size ---------------------------------------------------
kill "$PROBE_PID" 2>/dev/null || true
wait "$PROBE_PID" 2>/dev/null || true
PROBE_PID=""
stop_soloauth
start_soloauth "$BIN" "$DATA/data"
BASE=$SOLOAUTH_URL
PID=$SOLOAUTH_PID
sleep 1
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
fresh_rss=$(rss)
# Runs wrk until the server has answered $1 verify requests in all (the metrics
# count them), lets it settle, and prints the RSS.
verify_until() {
  wrk -t1 -c16 -d600s -H "$COOKIE" "$BASE/auth/verify" >/dev/null &
  local wrk_pid=$!
  until [ "$(curl -sf "$BASE/metrics" | awk '/^soloauth_verify_total\{outcome="allowed"\}/{print $2}')" -ge "$1" ] 2>/dev/null; do sleep 0.2; done
  kill "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null || true
  sleep 1
  rss
}
rss_100k=$(verify_until 100000)
rss_300k=$(verify_until 300000)
# One password login (its argon2 work area), then a minute with none.
login_token admin "$PASSWORD" >/dev/null
rss_login=$(rss)
sleep 60
rss_after_login=$(rss)
printf '%-48s %8s\n' "start to first healthy answer (ms, median of 7)" "$startup_ms"
printf '%-48s %8s\n' "idle RSS after start (MiB)" "$(mib "$fresh_rss")"
printf '%-48s %8s\n' "idle RSS after 100k verify requests (MiB)" "$(mib "$rss_100k")"
printf '%-48s %8s\n' "idle RSS after 300k verify requests (MiB)" "$(mib "$rss_300k")"
printf '%-48s %8s\n' "RSS just after a login (MiB)" "$(mib "$rss_login")"
awk -v k="$rss_after_login" 'BEGIN{printf "%-48s %8.1f   (%.1f MB; goal <= 20 MB)\n", "RSS one minute after the last login (MiB)", k/1024, k*1024/1e6}'
printf '%-48s %8s\n' "release binary size (MiB)" "$(mib $(( $(stat -c %s "$BIN") / 1024 )))"
echo

# --- 5. snapshots of a realistic store ---------------------------------------------
# The sessions and events are added with the server stopped (sled admits one
# process). Snapshots are logged at INFO by soloauth::backup: show those.
stop_soloauth
"$SEED_BIN" "$DATA/data" 1000 10000 >/dev/null
start_soloauth "$BIN" "$DATA/data" RUST_LOG="$RUST_LOG,soloauth::backup=info"
BASE=$SOLOAUTH_URL
PID=$SOLOAUTH_PID
snapshots_logged() { grep -c '"snapshot written"' "$SOLOAUTH_LOG" || true; }
# The one written at start, then a quiet run.
until [ "$(snapshots_logged)" -ge 1 ]; do sleep 0.1; done
read -r quiet_rps quiet_p99 _ <<<"$(measure 16 "$BASE/auth/verify" -H "$COOKIE")"
# Back to back: a SIGUSR1 every 20 ms (kill is a shell builtin); those that
# come while one is written coalesce into the next.
(
  end=$((SECONDS + SECS + 3))
  while [ "$SECONDS" -lt "$end" ] && kill -USR1 "$PID" 2>/dev/null; do sleep 0.02; done
) &
SNAPPER=$!
sleep 1
first=$(snapshots_logged)
read -r snap_rps snap_p99 _ <<<"$(measure 16 "$BASE/auth/verify" -H "$COOKIE")"
last=$(snapshots_logged)
wait "$SNAPPER" 2>/dev/null || true
SNAPPER=""
# Duration (median) and size of the snapshots written during the run.
read -r snap_ms snap_bytes snap_records snap_busy <<<"$(python3 - "$SOLOAUTH_LOG" "$first" "$last" "$SECS" <<'PY'
import json, statistics, sys
log, first, last, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
written = []
for line in open(log):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "snapshot written":
        written.append(fields)
during = written[first:last] or written[-1:]
ms = [w["duration_ms"] for w in during]
print(f'{statistics.median(ms):.1f} {during[-1]["bytes"]} {during[-1]["records"]} {100 * sum(ms) / 1000 / secs:.0f}')
PY
)"
printf '%-48s %12s %12s\n' "" "quiet" "snapshots"
printf '%-48s %12s %12s\n' "verify p99 (ms)" "$quiet_p99" "$snap_p99"
printf '%-48s %12s %12s\n' "verify requests/s" "$quiet_rps" "$snap_rps"
printf '%-48s %12s   (busy writing %s%% of the run)\n' "snapshots written during the run" "$((last - first))" "$snap_busy"
printf '%-48s %12s\n' "one snapshot, median duration (ms)" "$snap_ms"
awk -v b="$snap_bytes" -v r="$snap_records" 'BEGIN{printf "%-48s %12.2f   (%d records: 1 000 sessions, 10 000 events and the rest)\n", "one snapshot, size (MiB)", b/1048576, r}'
awk -v a="$snap_p99" -v b="$quiet_p99" -v c="$snap_rps" -v d="$quiet_rps" \
  'BEGIN{printf "ratio: during snapshots / quiet: p99 x%.2f, throughput x%.2f\n", a/b, c/d}'
