#!/usr/bin/env bash
# Writes tests/fixtures/<version>/: a data directory written by that release
# through real HTTP, and fixture.json with what its owner would still hold
# (tokens, the TOTP secret, recovery codes, a passkey's key…). The tests in
# tests/it/fixtures.rs open a copy of each with the current build and use
# everything in it.
#
# Usage: scripts/make_fixture.sh 0.2.0
# Builds the tag v<version> in a scratch worktree (its own target directory
# under target/, kept for next time), then runs the maker (an ignored test of
# the current tree) against that build. Run it once per release, right after
# tagging, and commit the fixture with a test that opens it.
set -euo pipefail
version=${1:?usage: $0 VERSION (e.g. 0.2.0)}
root=$(git rev-parse --show-toplevel)
cd "$root"
out="tests/fixtures/$version"
[ ! -e "$out" ] || { echo "$out exists already; remove it first to make it again" >&2; exit 1; }
git rev-parse -q --verify "refs/tags/v$version" >/dev/null ||
  { echo "no tag v$version" >&2; exit 1; }

scratch=$(mktemp -d)
trap 'git worktree remove --force "$scratch/src" 2>/dev/null || true; rm -rf "$scratch"' EXIT
git worktree add -q --detach "$scratch/src" "v$version"
echo "building soloauth $version (tag v$version)"
cargo build --quiet --manifest-path "$scratch/src/Cargo.toml" --target-dir "$root/target/release-$version"

mkdir -p "$out"
SOLOAUTH_FIXTURE_BIN="$root/target/release-$version/debug/soloauth" \
SOLOAUTH_FIXTURE_VERSION="$version" \
SOLOAUTH_FIXTURE_OUT="$root/$out" \
  cargo test --quiet --test it fixtures::make -- --ignored --exact
echo "wrote $out ($(du -sh "$out" | cut -f1))"
