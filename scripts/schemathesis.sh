#!/usr/bin/env bash
# schemathesis against a live soloauth's /openapi.json: every operation, positive
# and negative data, every check, authenticated with a Bearer token.
# Usage: scripts/schemathesis.sh target/debug/soloauth [extra `st run` options]
# Exits non-zero when schemathesis reports a failure or the server panics.
set -euo pipefail
bin=$(realpath "${1:?usage: $0 path/to/soloauth [st run options]}"); shift
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

st --version 2>/dev/null | grep -q 'version 4\.' ||
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'

tmp=$(mktemp -d)
trap 'stop_soloauth; rm -rf "$tmp"' EXIT

# Limits raised so that thousands of requests (and wrong passwords) from one
# client never turn into 423/429 answers. The server picks its own port
# (lib.sh); the public URL only matters for a browser's Origin and for the
# login redirect of /auth/verify, which needs Accept: text/html, and
# schemathesis sends neither: an unresolvable host (RFC 6761), not a port
# that could be another program's.
start_soloauth "$bin" "$tmp/data" AUTH_PUBLIC_URL=http://soloauth.invalid \
  AUTH_RATE_PER_MINUTE=1000000 AUTH_RATE_BURST=1000000 \
  AUTH_MAX_FAILED_ATTEMPTS=1000000 AUTH_ACCOUNT_MAX_FAILURES=1000000 \
  AUTH_ADMIN_PASSWORD_HASH="$(hash_password "$bin" pw 2>/dev/null)"
url=$SOLOAUTH_URL
# No .schemathesis/ in the work tree. /auth/refresh answers 401 to every
# refresh token schemathesis can invent (they are unguessable and single-use):
# that is the right answer, not missing credentials, so no warning for it.
# A passkey ceremony's answer (`credential`, any JSON to the schema: a
# schema cannot say what a signed WebAuthn answer is) that schemathesis
# invents is bad input, answered 400 bad_request or invalid_challenge: for
# those two operations the check that schema-valid input is accepted also
# takes 400 (every other check, and every other status, as everywhere).
cat >"$tmp/st.toml" <<'TOML'
[cache]
enabled = false

[[operations]]
include-path = "/auth/refresh"
warnings = false

[[operations]]
include-path = "/auth/passkeys/login/finish"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 409, 423, 429]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 409, 413, 422, 429]

[[operations]]
include-path = "/auth/passkeys/register/finish"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 409, 429]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 409, 413, 422, 429]

# An app that schemathesis invents (client_id, redirect_uri) is not
# registered: OIDC says show an error page (400), never redirect.
[[operations]]
include-path = "/oidc/authorize"
checks.positive_data_acceptance.expected-statuses = ["2XX", "3XX", 400]

# A redirect URI is checked as a URL (scheme, no fragment, not javascript:)
# beyond what the schema's strings say.
[[operations]]
include-path = "/auth/oidc/clients"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 429]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 409, 413, 422, 429]

# A token's host patterns are read as the access rules read them. For these
# four, a body that breaks several length limits at once can pass 16 KiB:
# 413 is a rejection too.
[[operations]]
include-path = "/auth/tokens"
checks.positive_data_acceptance.expected-statuses = ["2XX", 400, 401, 403, 429]
checks.negative_data_rejection.expected-statuses = [400, 401, 403, 404, 409, 413, 422, 429]
TOML

# A fresh session for each run: some operations end the session they run on.
run() {
  echo "==> st run $*"
  st --config-file "$tmp/st.toml" run "$url/openapi.json" -H "Authorization: Bearer $(login_token admin pw)" \
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
victim=$(soloauth_login admin pw | json_field session_id)
printf '\n[[operations]]\ninclude-path = "/auth/sessions/{id}"\nparameters = { id = "%s" }\n' \
  "$victim" >>"$tmp/st.toml"
run --include-path '/auth/sessions/{id}' "$@" || rc=1
if ! sessions=$(curl -sf -H "Authorization: Bearer $(login_token admin pw)" "$url/auth/sessions"); then
  echo "GET /auth/sessions failed: cannot tell whether DELETE /auth/sessions/{id} reached its session"; rc=1
elif grep -q "$victim" <<<"$sessions"; then
  echo "DELETE /auth/sessions/{id} never reached the real session it was given"; rc=1
fi
run --include-path /auth/logout "$@" || rc=1

if grep -q panicked "$SOLOAUTH_LOG"; then
  echo "the server panicked:"; grep panicked "$SOLOAUTH_LOG"; rc=1
fi
exit $rc
