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
assert doc["volumes"]["soloauth-data"]["name"] == "${SOLOAUTH_VOLUME:-soloauth-data}"
assert doc["services"]["whoami"]["labels"]["traefik.http.routers.whoami.middlewares"] == "soloauth@docker"
# The container gets AUTH_* variables only: compose's own are SOLOAUTH_*.
assert all(k.startswith("AUTH_") for k in doc["services"]["soloauth"]["environment"])
assert "build" not in doc["services"]["soloauth"]
PY
then ok "docker-compose.yml parses, forwardAuth middleware wired, volume named"; else fail "docker-compose.yml"; fi

# The Dokploy template, by the rules of Dokploy's templates repository
# (blueprints/<id>/: its validate-docker-compose, validate-template and
# generate-meta --check scripts).
if python3 - <<'PY'
import json, os, re, tomllib, yaml
root = "templates/dokploy/soloauth"
compose = yaml.safe_load(open(f"{root}/docker-compose.yml"))
template = tomllib.load(open(f"{root}/template.toml", "rb"))
meta = json.load(open(f"{root}/meta.json"))
services = compose["services"]
assert "networks" not in compose, "no top-level networks: Dokploy adds dokploy-network"
for name, svc in services.items():
    assert re.fullmatch(r"[a-z0-9-]+", name), name
    for banned in ("networks", "container_name", "ports", "build"):
        assert banned not in svc, f"{name} has {banned}"
    assert "restart" in svc and ":" in svc["image"] and not svc["image"].endswith(":latest")
for variables in template.get("variables", {}).values():
    assert isinstance(variables, str)
domains = template["config"]["domains"]
assert domains and all(d["serviceName"] in services and d["port"] and "${" in d["host"] for d in domains)
assert domains[0]["port"] == 8001
env = template["config"]["env"]
# Every variable the template sets reaches the container, and only AUTH_* ones.
passed = set(services["soloauth"]["environment"])
assert set(env) == passed and all(k.startswith("AUTH_") for k in env), (set(env), passed)
assert env["AUTH_PUBLIC_URL"] == "https://${main_domain}"
labels = dict(l.split("=", 1) for l in services["soloauth"]["labels"])
assert labels["traefik.enable"] == "true"
assert labels["traefik.http.middlewares.soloauth.forwardauth.address"] == "http://soloauth:8001/auth/verify"
assert "Remote-User" in labels["traefik.http.middlewares.soloauth.forwardauth.authResponseHeaders"]
assert any(v.endswith(":/data") for v in services["soloauth"]["volumes"])
for field in ("id", "name", "version", "description", "links", "logo", "tags"):
    assert meta.get(field), field
assert meta["id"] == os.path.basename(root)
assert all(k in meta["links"] for k in ("github", "website", "docs"))
assert os.path.isfile(f"{root}/{meta['logo']}")
assert services["soloauth"]["image"].endswith(":" + meta["version"])
PY
then ok "the Dokploy template follows the templates repository's rules"; else fail "templates/dokploy/soloauth"; fi

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
