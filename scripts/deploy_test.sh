#!/usr/bin/env bash
# Checks the deployment files: hadolint on the Dockerfile, docker-compose.yml
# parses as YAML with the forward-auth middleware, and scripts/setup_auth.sh
# writes a mode-0600 .env (never overwriting one) that a production server
# starts with and logs in with. Usage: scripts/deploy_test.sh <soloauth binary>
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: scripts/deploy_test.sh <soloauth binary>}
. scripts/lib.sh
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
trap 'stop_soloauth; rm -rf "$tmp"' EXIT
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
dotenv=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  key=${line%%=*}; value=${line#*=}; value=${value#\'}; value=${value%\'}
  dotenv+=("$key=$value")
done <"$tmp/.env"
if ! start_soloauth "$bin" "$tmp/data" "${dotenv[@]}" AUTH_ENV=production; then
  fail "production does not start from the .env"
elif soloauth_login admin "$password" >/dev/null; then
  ok "production starts from the .env and the password logs in"
else
  fail "login with the .env"; cat "$SOLOAUTH_LOG"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
