#!/usr/bin/env bash
# Checks the deployment files: hadolint on the Dockerfile, docker-compose.yml
# parses as YAML with the forward-auth middleware, and scripts/setup_auth.sh
# writes a mode-0600 .env (never overwriting one) that a production server
# starts with and logs in with. Usage: scripts/deploy_test.sh <soloauth binary>
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/deploy_test.sh <soloauth binary>}
passed=0; failed=0
ok()   { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }

if hadolint Dockerfile; then ok "hadolint Dockerfile"; else fail "hadolint Dockerfile"; fi

if python3 - <<'PY'
import yaml
doc = yaml.safe_load(open("docker-compose.yml"))
labels = doc["services"]["soloauth"]["labels"]
assert labels["traefik.http.middlewares.soloauth.forwardauth.address"] == "http://soloauth:8001/auth/verify"
assert labels["traefik.http.middlewares.soloauth.forwardauth.trustForwardHeader"] == "true"
assert "Remote-User" in labels["traefik.http.middlewares.soloauth.forwardauth.authResponseHeaders"]
assert "soloauth-data:/data" in doc["services"]["soloauth"]["volumes"]
assert doc["services"]["whoami"]["labels"]["traefik.http.routers.whoami.middlewares"] == "soloauth@docker"
PY
then ok "docker-compose.yml parses, forwardAuth middleware wired"; else fail "docker-compose.yml"; fi

tmp=$(mktemp -d)
trap 'kill ${pid:-} 2>/dev/null || true; rm -rf "$tmp"' EXIT
PATH="$(cd "$(dirname "$bin")" && pwd):$PATH"
out=$(ENV_FILE="$tmp/.env" scripts/setup_auth.sh --generate </dev/null 2>&1)
password=$(printf '%s\n' "$out" | sed -n 's/^admin password.*: //p')
mode=$(stat -c %a "$tmp/.env")
if [ "$mode" = 600 ] && [ -n "$password" ]; then ok "setup_auth.sh writes .env mode 600"; else fail "setup_auth.sh: mode $mode"; fi
before=$(sha256sum "$tmp/.env")
if ENV_FILE="$tmp/.env" scripts/setup_auth.sh --generate </dev/null >/dev/null 2>&1; then
  fail "setup_auth.sh overwrote an existing .env"
elif [ "$(sha256sum "$tmp/.env")" = "$before" ]; then
  ok "setup_auth.sh refuses to overwrite without --force"
else
  fail "setup_auth.sh changed .env"
fi

# Start production with that .env, read as docker compose reads it.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(
  while IFS= read -r line; do
    case "$line" in ''|'#'*) continue ;; esac
    key=${line%%=*}; value=${line#*=}; value=${value#\'}; value=${value%\'}
    export "$key=$value"
  done <"$tmp/.env"
  export AUTH_ENV=production AUTH_DATA_DIR="$tmp/data" AUTH_BIND="127.0.0.1:$port" AUTH_LOG_FORMAT=json
  exec "$bin"
) >"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/auth/login" \
  -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$password\"}")
if [ "$code" = 200 ]; then ok "production starts from the .env and the password logs in"; else fail "login with the .env: HTTP $code"; cat "$tmp/server.log"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
