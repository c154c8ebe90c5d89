# shellcheck shell=bash
# Helpers for the bash scripts in scripts/ that run the soloauth binary
# (schemathesis.sh, deploy_test.sh, bench.sh). Source it:
#
#   . "$(dirname "$0")/lib.sh"
#   start_soloauth "$bin" "$tmp/data" AUTH_ADMIN_PASSWORD_HASH="$hash"
#   token=$(login_token admin "$password")
#   curl -H "Authorization: Bearer $token" "$SOLOAUTH_URL/auth/me"
#   stop_soloauth
#
# No free-port race: the server is started with AUTH_BIND=127.0.0.1:0, so the
# kernel gives it a free port, and start_soloauth reads the address from its
# JSON log line {"fields":{"message":"soloauth listening","addr":"…"}}. That
# line is logged at INFO by the crate's root target `soloauth`: a RUST_LOG that
# hides it (plain `warn`) makes start_soloauth fail; `warn,soloauth=info,soloauth::=warn`
# shows it and nothing else at INFO. AUTH_PUBLIC_URL is not set here: where
# a script sets one, its port cannot be the server's (unknown until it runs).
#
# Needs curl and python3 (JSON; the log line is parsed by harness.py, the
# Python scripts' helper, next to this file), as the scripts did before. The
# functions return non-zero on failure rather than exiting, so they work in `if`.

_soloauth_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# start_soloauth <binary> <data_dir> [VAR=value…]
# Starts <binary> in the background with AUTH_DATA_DIR=<data_dir>,
# AUTH_BIND=127.0.0.1:0, AUTH_LOG_FORMAT=json and the given variables (over
# the environment), waits for its "soloauth listening" line and for /health,
# and sets SOLOAUTH_URL (exported, http://127.0.0.1:PORT), SOLOAUTH_PID and
# SOLOAUTH_LOG (its stdout and stderr: $SOLOAUTH_LOG_FILE if set, else
# <data_dir>.log). On failure prints the log, stops it and returns 1.
# Waits up to SOLOAUTH_START_TIMEOUT seconds (default 20). One server at a time.
start_soloauth() {
  local bin=$1 data_dir=$2 addr="" deadline
  shift 2
  SOLOAUTH_LOG=${SOLOAUTH_LOG_FILE:-$data_dir.log}
  mkdir -p "$(dirname "$data_dir")" && : >"$SOLOAUTH_LOG" || return 1
  env AUTH_DATA_DIR="$data_dir" AUTH_BIND=127.0.0.1:0 AUTH_LOG_FORMAT=json "$@" "$bin" \
    >>"$SOLOAUTH_LOG" 2>&1 </dev/null &
  SOLOAUTH_PID=$!
  deadline=$((SECONDS + ${SOLOAUTH_START_TIMEOUT:-20}))
  while [ -z "$addr" ]; do
    if grep -q '"soloauth listening"' "$SOLOAUTH_LOG"; then
      addr=$(python3 "$_soloauth_lib_dir/harness.py" listening-addr "$SOLOAUTH_LOG")
    fi
    [ -n "$addr" ] && break
    if ! _soloauth_alive "$SOLOAUTH_PID" || [ "$SECONDS" -ge "$deadline" ]; then
      echo "soloauth logged no \"soloauth listening\" line (exited, timed out, or hidden by RUST_LOG); $SOLOAUTH_LOG:" >&2
      cat "$SOLOAUTH_LOG" >&2
      stop_soloauth
      return 1
    fi
    sleep 0.02
  done
  export SOLOAUTH_URL="http://$addr"
  if ! wait_healthy "$SOLOAUTH_URL" $((deadline - SECONDS)); then
    cat "$SOLOAUTH_LOG" >&2
    stop_soloauth
    return 1
  fi
}

# wait_healthy [url] [seconds]: until GET <url>/health answers 200 (default
# $SOLOAUTH_URL, 20 s); returns 1 if it never does.
wait_healthy() {
  local url=${1:-$SOLOAUTH_URL} deadline=$((SECONDS + ${2:-20}))
  until curl -sf -o /dev/null --max-time 5 "$url/health"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$url/health did not answer 200" >&2
      return 1
    fi
    sleep 0.02
  done
}

# stop_soloauth: SIGTERM to the server start_soloauth started, up to
# SOLOAUTH_STOP_TIMEOUT seconds (default 15) to finish, then SIGKILL.
# Does nothing when none runs; safe in an EXIT trap.
stop_soloauth() {
  local pid=${SOLOAUTH_PID:-} tenths
  [ -n "$pid" ] || return 0
  SOLOAUTH_PID=
  if kill -TERM "$pid" 2>/dev/null; then
    for ((tenths = 0; tenths < ${SOLOAUTH_STOP_TIMEOUT:-15} * 10; tenths++)); do
      _soloauth_alive "$pid" || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Whether process <pid> runs (a child that has exited but is not yet waited
# for still answers `kill -0`: look at its state).
_soloauth_alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat:0:1}" != Z ]
}

# hash_password <binary> <password>: prints the argon2id hash for the admin.
hash_password() {
  printf '%s\n' "$2" | "$1" hash-password
}

# soloauth_login <username> <password>: POST $SOLOAUTH_URL/auth/login; prints
# the JSON answer. Returns 1 (saying the status on stderr) unless it is 200.
soloauth_login() {
  local out code
  # The password goes through the environment, not argv (which `ps` shows).
  out=$(SOLOAUTH_USER=$1 SOLOAUTH_PASS=$2 python3 -c 'import json, os; print(json.dumps({"username": os.environ["SOLOAUTH_USER"], "password": os.environ["SOLOAUTH_PASS"]}))' |
    curl -s --max-time 60 -w '\n%{http_code}' -H 'Content-Type: application/json' --data-binary @- \
      "$SOLOAUTH_URL/auth/login") || { echo "login as $1: curl failed" >&2; return 1; }
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if [ "$code" != 200 ]; then
    echo "login as $1: HTTP $code $out" >&2
    return 1
  fi
  printf '%s\n' "$out"
}

# json_field <name>: the top-level field <name> of the JSON object on stdin.
json_field() {
  python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}

# login_token <username> <password>: prints a fresh access token.
login_token() {
  local out
  out=$(soloauth_login "$1" "$2") || return 1
  json_field access_token <<<"$out"
}

# login_cookies <username> <password>: prints the Cookie header value a
# browser sends an app after this login (the session cookie: the access and
# refresh cookies stay on the auth host).
login_cookies() {
  SOLOAUTH_USER=$1 SOLOAUTH_PASS=$2 python3 - "$SOLOAUTH_URL" "${BASH_SOURCE[0]%/*}" <<'PY'
import os, sys
sys.path.insert(0, sys.argv[2])
import harness
_, headers = harness.login(sys.argv[1], os.environ["SOLOAUTH_USER"], os.environ["SOLOAUTH_PASS"])
print(harness.app_cookie(headers))
PY
}
