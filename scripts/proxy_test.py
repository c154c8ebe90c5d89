#!/usr/bin/env python3
"""End-to-end forward-auth test of soloauth behind three real reverse proxies.

Starts the soloauth server, a tiny upstream HTTP server (in a thread) and, in
turn, Traefik (forwardAuth), Caddy (forward_auth) and nginx (auth_request),
each on its own loopback port protecting the upstream. Through each proxy it
checks that:

  1. an anonymous browser request gets 302 to the login page with the right rd;
  2. an anonymous API request (Accept: application/json) gets 401;
  3. a `bypass` path (AUTH_RULES) is served without a session;
  4. a `deny` host is refused 403, even with a session; a `two_factor` host
     refuses a password-only session 403, and sends a browser to the login
     page with need=two_factor; a `passkey` host does the same with
     need=passkey; a rule `from` the client's network (the address the proxy
     reports) applies, one from another network does not;
  5. a request with the cookie an app receives (the session cookie alone: the
     access and refresh cookies are host-only) reaches the upstream with
     Remote-User;
     a script with an API token (Bearer, or the Basic password of a DAV
     client) does too, for the hosts the token names and no other;
  6. with AUTH_ACCESS_TTL_SECONDS=10, an app's XHR-style request with the
     cookies a browser still holds (Max-Age honoured) passes 15 s after login;
  7. after logout, the same cookies are refused again;
  8. last, a software passkey (scripts/softkey.py) is registered and signs in
     alone, and the session cookie of that sign-in gets a browser navigation
     and an API call to the `passkey` host through to the upstream, with
     Remote-User. (Last, because the account's first passkey makes the
     password a first step only and revokes the password's sessions.)

The three proxies run side by side, so the 15 s wait is paid once.

Needs `traefik`, `caddy` and `nginx` on PATH (or in /usr/bin, /usr/sbin), loopback
only; the standard library, scripts/harness.py, and scripts/softkey.py with the
`cryptography` package. Every config and data file lives in a temporary directory.

soloauth binds a port of its own choosing (harness.start_server). Its public
URL, AUTH_PUBLIC_URL, only ever appears in the login redirect's Location,
which nobody follows here, and in the passkey's origin and RP ID (the
software passkey reports what a browser on that page would), so it is a
fixed http://auth.localtest. The proxies
cannot report a port they chose: each gets a free port, and another one if it
finds that port taken in the meantime (harness.on_free_port).

Usage (from the repository root):
    python3 scripts/proxy_test.py target/debug/soloauth
"""

import base64
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import harness
import softkey

PASSWORD = "proxy-test correct horse battery"
PUBLIC_URL = "http://auth.localtest"
SESSION_COOKIE = "soloauth_session"
ACCESS_COOKIE = "soloauth_access"
# A short access token, so "after it expired" is seconds away.
ACCESS_TTL = 10
EXPIRY_WAIT = 15
# Sign-ins and refreshes share a per-address token bucket (5 at once, 10 a
# minute by default). The run makes 4 password sign-ins, 3 refreshes and a
# passkey sign-in (2 requests) from 127.0.0.1 within about 20 s, more than the
# default lets through (the passkey's would get 429): a burst that holds them all.
RATE_BURST = 20
# home./away. are told apart by the client address the proxy reports (here
# loopback): the first rule matches it, the second never does.
RULES = ("bypass app.localtest/public/*; deny closed.localtest; two_factor admin.localtest; "
         "passkey vault.localtest; bypass home.localtest from 127.0.0.0/8; "
         "bypass away.localtest from 192.0.2.0/24")
check = harness.Checks()


def request(port, method, path, headers=None, body=None):
    """One HTTP request to 127.0.0.1:port (a proxy); never follows redirects."""
    return harness.request(f"http://127.0.0.1:{port}", method, path, headers, body)


def which(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    if not path:
        raise RuntimeError(f"{name} not found")
    return path


def Proc(name, argv, workdir, env=None):
    """A proxy process run in `workdir`, its output in workdir/<name>.log."""
    return harness.Process(name, argv, os.path.join(workdir, f"{name}.log"), env=env, cwd=workdir)


def port_open(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


# --- proxy configurations --------------------------------------------------

def start_traefik(tmp, port, auth, upstream):
    dynamic = os.path.join(tmp, "dynamic.yml")
    with open(dynamic, "w") as f:
        f.write(f"""http:
  middlewares:
    soloauth:
      forwardAuth:
        address: "http://127.0.0.1:{auth}/auth/verify"
        trustForwardHeader: true
        authResponseHeaders: ["Remote-User", "Remote-Session"]
  routers:
    app:
      rule: "PathPrefix(`/`)"
      entryPoints: ["web"]
      middlewares: ["soloauth"]
      service: upstream
  services:
    upstream:
      loadBalancer:
        servers:
          - url: "http://127.0.0.1:{upstream}"
""")
    static = os.path.join(tmp, "traefik.yml")
    with open(static, "w") as f:
        f.write(f"""global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:{port}"
providers:
  file:
    filename: "{dynamic}"
    watch: false
log:
  level: ERROR
api:
  dashboard: false
""")
    proc = Proc("traefik", [which("traefik"), f"--configFile={static}"], tmp)
    # The port opens before the file provider's router is loaded (404 until then).
    proc.wait_ready(lambda: request(port, "GET", "/", {"Accept": "application/json"})[0] != 404)
    return proc


def start_caddy(tmp, port, auth, upstream):
    caddyfile = os.path.join(tmp, "Caddyfile")
    with open(caddyfile, "w") as f:
        f.write(f"""{{
	admin off
	auto_https off
}}

http://:{port} {{
	bind 127.0.0.1
	forward_auth 127.0.0.1:{auth} {{
		uri /auth/verify
		copy_headers Remote-User Remote-Session
	}}
	reverse_proxy 127.0.0.1:{upstream}
}}
""")
    env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=tmp, XDG_CONFIG_HOME=tmp)
    argv = [which("caddy"), "run", "--config", caddyfile, "--adapter", "caddyfile"]
    proc = Proc("caddy", argv, tmp, env)
    proc.wait_ready(lambda: port_open(port))
    return proc


def start_nginx(tmp, port, auth, upstream):
    conf = os.path.join(tmp, "nginx.conf")
    temps = "\n".join(f"    {d}_temp_path {tmp}/{d}_temp;" for d in
                      ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    with open(conf, "w") as f:
        f.write(f"""daemon off;
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
{temps}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            auth_request /_soloauth;
            auth_request_set $login $upstream_http_location;
            auth_request_set $auth_user $upstream_http_remote_user;  # $remote_user is built in
            auth_request_set $auth_session $upstream_http_remote_session;
            error_page 401 = @login;
            error_page 403 = @forbidden;
            proxy_set_header Remote-User $auth_user;
            proxy_set_header Remote-Session $auth_session;
            proxy_pass http://127.0.0.1:{upstream};
        }}
        # Browsers go to the login page; API clients keep the 401.
        location @login {{
            if ($http_accept ~* "text/html") {{
                return 302 $login;
            }}
            return 401;
        }}
        # A 403 with a login URL means "a second factor is needed": browsers
        # go to the login page, which explains. (`deny` has no login URL.)
        location @forbidden {{
            set $to_login "";
            if ($login) {{ set $to_login "L"; }}
            if ($http_accept ~* "text/html") {{ set $to_login "${{to_login}}H"; }}
            if ($to_login = "LH") {{ return 302 $login; }}
            return 403;
        }}
        location = /_soloauth {{
            internal;
            proxy_pass http://127.0.0.1:{auth}/auth/verify;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
""")
    # error_log goes to the same file as stdout/stderr, so a failure prints it.
    proc = Proc("nginx", [which("nginx"), "-p", tmp, "-c", conf], tmp)
    proc.wait_ready(lambda: port_open(port))
    return proc


PROXIES = [("traefik", start_traefik), ("caddy", start_caddy), ("nginx", start_nginx)]


# --- the checks ------------------------------------------------------------

def browser_cookies(headers):
    """The cookies a login set, as {name: (value, max_age or None)}."""
    jar = {}
    for value in headers.get_all("Set-Cookie") or []:
        name, _, rest = value.partition("=")
        parts = [p.strip() for p in rest.split(";")]
        max_age = next((int(p.split("=", 1)[1]) for p in parts[1:]
                        if p.lower().startswith("max-age=")), None)
        jar[name.strip()] = (parts[0], max_age)
    return jar


def cookie_header(jar, names):
    return "; ".join(f"{n}={jar[n][0]}" for n in names if n in jar)


def login(server):
    """A browser's login: the refresh token and the cookies it holds."""
    body, headers = harness.login(server.base, "admin", PASSWORD)
    jar = browser_cookies(headers)
    for name in (SESSION_COOKIE, ACCESS_COOKIE):
        if name not in jar:
            raise RuntimeError(f"login: no {name} cookie in {headers.get_all('Set-Cookie')}")
    return body["refresh_token"], jar


def upstream_saw(body):
    try:
        return json.loads(body)
    except ValueError:
        return {}


def before_expiry(name, port, server):
    """Anonymous, bypass, deny and a fresh login through one proxy; returns
    the login (token, jar) for after_expiry."""
    host = f"app.localtest:{port}"
    path = "/some/page?x=1"
    browser = {"Host": host, "Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    api = {"Host": host, "Accept": "application/json"}

    status, headers, body = request(port, "GET", path, browser)
    location = headers.get("Location") or ""
    prefix = f"{PUBLIC_URL}/?rd="
    rd = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query).get("rd", [None])[0]
    want = f"http://{host}{path}"
    check(f"{name}: anonymous browser -> 302 with rd",
          status == 302 and location.startswith(prefix) and rd == want,
          f"HTTP {status}, Location {location!r}, rd {rd!r} (want prefix {prefix!r}, rd {want!r})")

    status, _, body = request(port, "GET", path, api)
    check(f"{name}: anonymous API -> 401", status == 401, f"HTTP {status} {body[:200]!r}")

    # A client that sends its own Remote-User must not pass it off as the
    # admin's on a bypass path. (Caddy before 2.9 sets the header to its
    # unexpanded placeholder when the answer has none: caddy#6610.)
    spoofed = dict(api, **{"Remote-User": "admin"})
    status, _, body = request(port, "GET", "/public/status.json", spoofed)
    seen = upstream_saw(body)
    user = seen.get("remote_user")
    check(f"{name}: a bypass path is served without a session, with no Remote-User",
          status == 200 and seen.get("path") == "/public/status.json"
          and (not user or user == "{http.reverse_proxy.header.Remote-User}"),
          f"HTTP {status} {body[:200]!r}")

    refresh, jar = login(server)
    # What a browser sends an app: the session cookie alone.
    cookies = cookie_header(jar, (SESSION_COOKIE,))
    closed = {"Host": f"closed.localtest:{port}", "Accept": "application/json", "Cookie": cookies}
    status, _, body = request(port, "GET", "/", closed)
    # (nginx answers its own 403 page in place of the JSON body.)
    check(f"{name}: a denied host is refused 403, session or not",
          status == 403 and (b"forbidden" in body or name == "nginx"), f"HTTP {status} {body[:200]!r}")

    admin = {"Host": f"admin.localtest:{port}", "Cookie": cookies}
    status, _, body = request(port, "GET", "/", dict(admin, Accept="application/json"))
    check(f"{name}: a two_factor app refuses a password-only session 403",
          status == 403, f"HTTP {status} {body[:200]!r}")
    status, headers, _ = request(port, "GET", "/", dict(admin, Accept="text/html"))
    location = headers.get("Location") or ""
    check(f"{name}: ... and sends a browser to the login page, which explains",
          status == 302 and location.startswith(f"{PUBLIC_URL}/?rd=") and location.endswith("&need=two_factor"),
          f"HTTP {status}, Location {location!r}")

    vault = {"Host": f"vault.localtest:{port}", "Cookie": cookies}
    status, _, body = request(port, "GET", "/", dict(vault, Accept="application/json"))
    check(f"{name}: a passkey app refuses a session without a passkey 403",
          status == 403 and (b"passkey_required" in body or name == "nginx"),
          f"HTTP {status} {body[:200]!r}")
    status, headers, _ = request(port, "GET", "/", dict(vault, Accept="text/html"))
    location = headers.get("Location") or ""
    check(f"{name}: ... and sends a browser to the login page with need=passkey",
          status == 302 and location.startswith(f"{PUBLIC_URL}/?rd=") and location.endswith("&need=passkey"),
          f"HTTP {status}, Location {location!r}")

    # `from`: judged on the client address the proxy reports.
    for where, want in (("home", 200), ("away", 401)):
        status, _, body = request(port, "GET", "/", {"Host": f"{where}.localtest:{port}", "Accept": "application/json"})
        check(f"{name}: a rule 'from' the client's network applies ({where} -> {want})",
              status == want, f"HTTP {status} {body[:200]!r}")

    status, _, body = request(port, "GET", path, dict(api, Cookie=cookies))
    seen = upstream_saw(body)
    check(f"{name}: the session cookie alone -> 200, upstream sees Remote-User admin",
          status == 200 and seen.get("remote_user") == "admin" and seen.get("path") == path,
          f"HTTP {status} {body[:300]!r}")
    token_checks(name, port, server, jar)
    return refresh, jar


def token_checks(name, port, server, jar):
    """A script and a DAV client with an API token for app.localtest."""
    status, made = harness.api(server.base, "/auth/tokens",
                               {"name": f"{name} script", "hosts": ["app.localtest"]},
                               token=jar[ACCESS_COOKIE][0])
    if status != 201:
        check(f"{name}: an API token is made", False, f"HTTP {status} {made!r}")
        return
    token = made["token"]
    dav = base64.b64encode(f"admin:{token}".encode()).decode()
    for how, authorization in (("Bearer", f"Bearer {token}"), ("Basic (DAV)", f"Basic {dav}")):
        headers = {"Host": f"app.localtest:{port}", "Accept": "application/json",
                   "Authorization": authorization}
        status, _, body = request(port, "GET", "/dav/calendar.ics", headers)
        seen = upstream_saw(body)
        check(f"{name}: an API token ({how}) gets a script to the upstream as admin",
              status == 200 and seen.get("remote_user") == "admin", f"HTTP {status} {body[:300]!r}")
    other = {"Host": f"other.localtest:{port}", "Accept": "application/json",
             "Authorization": f"Bearer {token}"}
    status, _, body = request(port, "GET", "/", other)
    check(f"{name}: ... and nowhere but the hosts it names", status == 401, f"HTTP {status} {body[:200]!r}")


def after_expiry(name, port, server, refresh, jar):
    """Past the access token's lifetime: the cookies a browser still holds
    (Max-Age honoured) pass an app's XHR; logout ends them."""
    host = f"app.localtest:{port}"
    path = "/api/feed"
    xhr = {"Host": host, "Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
    held = [n for n, (_, max_age) in jar.items() if max_age is None or max_age > EXPIRY_WAIT]
    check(f"{name}: a browser has dropped the {ACCESS_TTL} s access cookie by now",
          ACCESS_COOKIE not in held and SESSION_COOKIE in held, jar)
    status, _, body = request(port, "GET", path, dict(xhr, Cookie=cookie_header(jar, [ACCESS_COOKIE])))
    check(f"{name}: the expired access token alone is refused", status == 401, f"HTTP {status}")
    # The app receives the one cookie scoped to its domain: the session's.
    cookies = cookie_header(jar, [n for n in held if n == SESSION_COOKIE])
    status, _, body = request(port, "GET", path, dict(xhr, Cookie=cookies))
    seen = upstream_saw(body)
    check(f"{name}: {EXPIRY_WAIT} s after login an XHR still passes, as admin",
          status == 200 and seen.get("remote_user") == "admin", f"HTTP {status} {body[:300]!r}")

    # Signing out, as the login page does: refresh, then log out.
    status, _, body = harness.request(server.base, "POST", "/auth/refresh",
                                      {"Content-Type": "application/json"},
                                      json.dumps({"refresh_token": refresh}))
    token = json.loads(body).get("access_token") if status == 200 else None
    status, _, body = harness.request(server.base, "POST", "/auth/logout",
                                      {"Authorization": f"Bearer {token}"})
    if status != 204:
        check(f"{name}: logout", False, f"HTTP {status} {body[:200]!r}")
    status, _, body = request(port, "GET", path, dict(xhr, Cookie=cookies))
    browser = {"Host": host, "Accept": "text/html", "Cookie": cookies}
    status_b, headers_b, _ = request(port, "GET", path, browser)
    check(f"{name}: after logout the cookies are refused (401 API, 302 browser)",
          status == 401 and status_b == 302
          and (headers_b.get("Location") or "").startswith(f"{PUBLIC_URL}/?rd="),
          f"API HTTP {status} {body[:200]!r}; browser HTTP {status_b}")


def post(server, path, body=None, token=None):
    """POST to soloauth itself: `body` as JSON, or no body at all; with a
    Bearer `token` if given. Returns (status, headers, the decoded JSON, or
    the body's first 300 bytes when it is not JSON)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    status, headers, raw = harness.request(server.base, "POST", path, headers, body)
    try:
        return status, headers, json.loads(raw or b"null")
    except ValueError:
        return status, headers, raw[:300]


def passkey_sign_in(server):
    """Registers a software passkey from a fresh password sign-in, then signs
    in with the passkey alone, as a browser does; returns that sign-in's
    cookies. RuntimeError when a step fails."""
    key = softkey.SoftAuthenticator(urllib.parse.urlsplit(PUBLIC_URL).hostname, PUBLIC_URL)
    access = harness.login(server.base, "admin", PASSWORD)[0]["access_token"]
    status, _, started = post(server, "/auth/passkeys/register/start", token=access)
    if status != 200:
        raise RuntimeError(f"passkeys/register/start: HTTP {status} {started!r}")
    status, _, added = post(server, "/auth/passkeys/register/finish",
                            {"challenge_id": started["challenge_id"], "name": "proxy test",
                             "credential": key.create(started["options"])}, token=access)
    check("passkey: a software passkey registers (201)",
          status == 201 and isinstance(added, dict) and added.get("id") == key.credential_id(),
          f"HTTP {status} {added!r}")

    status, _, started = post(server, "/auth/passkeys/login/start")
    if status != 200:
        raise RuntimeError(f"passkeys/login/start: HTTP {status} {started!r}")
    status, headers, body = post(server, "/auth/passkeys/login/finish",
                                 {"challenge_id": started["challenge_id"],
                                  "credential": key.get(started["options"])})
    if status != 200:
        raise RuntimeError(f"passkeys/login/finish: HTTP {status} {body!r}")
    jar = browser_cookies(headers)
    status, me = harness.api(server.base, "/auth/me", token=body["access_token"])
    check("passkey: it signs in alone (200, amr hwk+mfa, session cookie)",
          status == 200 and me.get("amr") == ["hwk", "mfa"] and SESSION_COOKIE in jar,
          f"/auth/me HTTP {status} {me!r}; cookies {sorted(jar)}")
    return jar


def passkey_checks(name, port, jar):
    """The `passkey` host lets in the session a passkey signed in, with the
    cookie an app receives (the session cookie alone)."""
    vault = {"Host": f"vault.localtest:{port}", "Cookie": cookie_header(jar, (SESSION_COOKIE,))}
    path = "/secrets?x=1"
    for how, accept in (("a browser navigation", "text/html,application/xhtml+xml,*/*;q=0.8"),
                        ("an API call", "application/json")):
        status, _, body = request(port, "GET", path, dict(vault, Accept=accept))
        seen = upstream_saw(body)
        check(f"{name}: a passkey app lets in a passkey's session ({how}) -> 200, Remote-User admin",
              status == 200 and seen.get("remote_user") == "admin" and seen.get("path") == path,
              f"HTTP {status} {body[:300]!r}")


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), harness.EchoUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    procs = []
    with tempfile.TemporaryDirectory(prefix="proxy_test.") as tmp:
        try:
            server = harness.start_server(
                binary, os.path.join(tmp, "data"),
                AUTH_ADMIN_PASSWORD_HASH=harness.hash_password(binary, PASSWORD),
                AUTH_PUBLIC_URL=PUBLIC_URL,
                AUTH_TRUSTED_PROXIES="127.0.0.1/32",
                AUTH_COOKIE_SECURE="false",
                AUTH_ACCESS_TTL_SECONDS=str(ACCESS_TTL),
                AUTH_RATE_BURST=str(RATE_BURST),
                AUTH_RULES=RULES)
            procs.append(server)
            running, started = [], []
            for name, start in PROXIES:
                workdir = os.path.join(tmp, name)
                os.mkdir(workdir)
                try:
                    port, proc = harness.on_free_port(
                        lambda port: start(workdir, port, server.port, upstream.server_address[1]))
                except (RuntimeError, OSError) as e:
                    check(f"{name}: start", False, str(e))
                    continue
                procs.append(proc)
                started.append((name, port))
                try:
                    running.append((name, port, *before_expiry(name, port, server)))
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    check(f"{name}: test run", False, repr(e))
            # Real time, once for all three proxies: the server runs on the
            # system clock here (the Rust tests drive a manual one).
            time.sleep(EXPIRY_WAIT)
            for name, port, refresh, jar in running:
                try:
                    after_expiry(name, port, server, refresh, jar)
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    check(f"{name}: test run", False, repr(e))
            # Last: the first passkey ends password-only sign-in (and sessions).
            try:
                jar = passkey_sign_in(server)
            except (RuntimeError, OSError, ValueError, KeyError) as e:
                check("passkey: registered, then signs in alone", False, repr(e))
                jar = None
            for name, port in started if jar else ():
                try:
                    passkey_checks(name, port, jar)
                except (RuntimeError, OSError, ValueError, KeyError) as e:
                    check(f"{name}: test run (passkey)", False, repr(e))
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            check("setup", False, str(e))
        finally:
            for proc in reversed(procs):
                proc.stop(5)
            upstream.shutdown()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
