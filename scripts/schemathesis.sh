#!/usr/bin/env bash
# schemathesis against a live soloauth's /openapi.json: every operation, positive
# and negative data, every check, authenticated with a Bearer token.
# Usage: scripts/schemathesis.sh target/debug/soloauth [extra `st run` options]
# Exits non-zero when schemathesis reports a failure or the server panics.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 path/to/soloauth [st run options]}"); shift

st --version 2>/dev/null | grep -q 'version 4\.' ||
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'

tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid"; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url=http://127.0.0.1:$port

# Limits raised so that thousands of requests (and wrong passwords) from one
# client never turn into 423/429 answers.
AUTH_DATA_DIR=$tmp/data AUTH_BIND=127.0.0.1:$port AUTH_PUBLIC_URL=$url \
  AUTH_RATE_PER_MINUTE=1000000 AUTH_RATE_BURST=1000000 \
  AUTH_MAX_FAILED_ATTEMPTS=1000000 AUTH_ACCOUNT_MAX_FAILURES=1000000 \
  AUTH_LOG_FORMAT=json AUTH_ADMIN_PASSWORD_HASH=$(printf 'pw\n' | "$bin" hash-password 2>/dev/null) \
  "$bin" >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "$url/health" >/dev/null && break; sleep 0.1; done
curl -sf "$url/health" >/dev/null || { cat "$tmp/server.log"; exit 1; }
# No .schemathesis/ in the work tree. /auth/refresh answers 401 to every
# refresh token schemathesis can invent (they are unguessable and single-use):
# that is the right answer, not missing credentials, so no warning for it.
cat >"$tmp/st.toml" <<'TOML'
[cache]
enabled = false

[[operations]]
include-path = "/auth/refresh"
warnings = false
TOML

# A fresh session for each run: some operations end the session they run on.
login() {
  curl -sf -H 'Content-Type: application/json' -d '{"username":"admin","password":"pw"}' \
    "$url/auth/login" | python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"
}
token() { login access_token; }
run() {
  echo "==> st run $*"
  st --config-file "$tmp/st.toml" run "$url/openapi.json" -H "Authorization: Bearer $(token)" \
    --mode all --checks all --max-examples "${ST_MAX_EXAMPLES:-50}" \
    --continue-on-failure --output-sanitize false --no-color "$@"
}

rc=0
# 1. Everything but the two operations that revoke the testing session itself
#    (the TOTP ones revoke only *other* sessions, and there are none).
run --exclude-path /auth/logout --exclude-path '/auth/sessions/{id}' "$@" || rc=1
# 2. Each of those on its own session. DELETE is given the id of another real
#    session (the first call revokes it with 204, the rest find nothing: 404), so
#    its own session lives; logout's ends at its first 204, and the 401s after it
#    are right.
victim=$(login session_id)
printf '\n[[operations]]\ninclude-path = "/auth/sessions/{id}"\nparameters = { id = "%s" }\n' \
  "$victim" >>"$tmp/st.toml"
run --include-path '/auth/sessions/{id}' "$@" || rc=1
if curl -sf -H "Authorization: Bearer $(token)" "$url/auth/sessions" | grep -q "$victim"; then
  echo "DELETE /auth/sessions/{id} never reached the real session it was given"; rc=1
fi
run --include-path /auth/logout "$@" || rc=1

if grep -q panicked "$tmp/server.log"; then
  echo "the server panicked:"; grep panicked "$tmp/server.log"; rc=1
fi
exit $rc
