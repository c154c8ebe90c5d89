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
# computes codes independently of our own TOTP code.
need_pkgs=()
command -v zbarimg >/dev/null || need_pkgs+=(zbar-tools)
command -v oathtool >/dev/null || need_pkgs+=(oathtool)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  step "installing ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"
fi
# With the tools installed, the tests that use them must not skip.
export SOLOAUTH_REQUIRE_TOOLS=1

# --- static checks ---------------------------------------------------------
step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# --- tests -----------------------------------------------------------------
step "cargo test (unit + integration over real HTTP)"
cargo test --all-targets

step "all checks passed"
