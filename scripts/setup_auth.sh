#!/usr/bin/env bash
# Writes a .env for docker compose / Dokploy: the admin password's argon2id
# hash, a JWT secret and a Fernet key, and the SOLOAUTH_* lines to fill in.
# Mode 0600; never overwrites an existing .env unless --force.
#
#   scripts/setup_auth.sh               # asks for the password (or Enter to generate one)
#   scripts/setup_auth.sh --generate    # generates a password and prints it once
#   scripts/setup_auth.sh --force       # replace an existing .env
#   ENV_FILE=/path/.env scripts/setup_auth.sh
#   SOLOAUTH_IMAGE=ghcr.io/OWNER/soloauth:0.3 scripts/setup_auth.sh   # no Rust needed
#   (SOLOAUTH_ENGINE=podman to run it with podman where docker is also installed)
#
# soloauth itself does the hashing: the binary on PATH, target/release's,
# or, with SOLOAUTH_IMAGE set, the image run by docker (or podman); only
# without any of these is it built with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."

force=false
generate=false
for arg in "$@"; do
  case "$arg" in
    --force) force=true ;;
    --generate) generate=true ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

env_file=${ENV_FILE:-.env}
if [ -e "$env_file" ] && [ "$force" != true ]; then
  echo "$env_file already exists; not touching it (use --force to replace it)" >&2
  exit 1
fi

# soloauth: on PATH, already built, the image, or built now.
image=${SOLOAUTH_IMAGE:-}
if command -v soloauth >/dev/null 2>&1; then
  run=(soloauth)
elif [ -x target/release/soloauth ]; then
  run=(target/release/soloauth)
elif [ -n "$image" ]; then
  engine=${SOLOAUTH_ENGINE:-$(command -v docker || command -v podman || true)}
  [ -n "$engine" ] || { echo "SOLOAUTH_IMAGE is set but neither docker nor podman is here" >&2; exit 1; }
  run=("$engine" run --rm -i "$image")
elif command -v cargo >/dev/null 2>&1; then
  echo "building soloauth (release)…" >&2
  cargo build --release --quiet
  run=(target/release/soloauth)
else
  echo "no soloauth binary and no cargo: set SOLOAUTH_IMAGE (e.g. ghcr.io/OWNER/soloauth:0.3)" >&2
  exit 1
fi

password=""
if [ "$generate" != true ] && [ -t 0 ]; then
  read -r -s -p "Admin password (Enter to generate one): " password; echo >&2
  if [ -n "$password" ]; then
    read -r -s -p "Again: " again; echo >&2
    [ "$password" = "$again" ] || { echo "the passwords differ" >&2; exit 1; }
  fi
fi
generated=false
if [ -z "$password" ]; then
  password=$(head -c 18 /dev/urandom | base64 | tr '+/' '-_')
  generated=true
fi

hash=$(printf '%s\n' "$password" | "${run[@]}" hash-password)
secrets=$("${run[@]}" gen-secrets </dev/null | grep -E '^AUTH_(JWT_SECRET|ENCRYPTION_KEY)=')

umask 077
tmp=$(mktemp "${env_file}.XXXXXX")
{
  echo "# soloauth secrets, written by scripts/setup_auth.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "SOLOAUTH_IMAGE=${image:-ghcr.io/OWNER/soloauth:0.3}"
  echo "SOLOAUTH_DOMAIN=auth.example.com"
  echo "SOLOAUTH_APP_DOMAIN=whoami.example.com"
  echo "SOLOAUTH_COOKIE_DOMAIN=example.com"
  echo "AUTH_ADMIN_PASSWORD_HASH='$hash'"
  echo "$secrets"
} >"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$env_file"

echo "wrote $env_file (mode 600); set SOLOAUTH_IMAGE, SOLOAUTH_DOMAIN, SOLOAUTH_APP_DOMAIN and SOLOAUTH_COOKIE_DOMAIN in it" >&2
if [ "$generated" = true ]; then
  echo "admin password (shown once, store it in your password manager): $password" >&2
fi
