#!/usr/bin/env python3
"""soloauth's OpenID Connect provider against real relying parties.

Starts soloauth with four apps configured in its environment and its public
URL (the issuer) on a loopback port this process holds from the start
(harness.Relay: a byte-for-byte relay to the server's own port, so the issuer
is http://127.0.0.1:PORT before the server starts and no other program can
take that port). Then:

  1. npm openid-client v6 (scripts/oidc/rp.mjs, in Node.js): the whole code
     flow for a client_secret_basic, a client_secret_post and a public (PKCE)
     client, with refresh, revocation and RP-initiated logout.
  2. Apache httpd with Debian's mod_auth_openidc protecting a tiny upstream
     (in a thread here) that echoes the headers it gets: a browser-like client
     (a cookie jar, redirects followed by hand) asks for /protected/, goes to
     soloauth's authorize, on to its login page, signs in, comes back to
     Apache's redirect_uri with a code, and reaches the upstream with the
     owner's claims; then logs out through mod_auth_openidc and soloauth.

Apache cannot report a port it chose: it gets a free one, and another if that
was taken in between (harness.on_free_port). As root, Apache runs as nobody
(setpriv), in a directory of its own that it owns.

Prints `ok   <check>` / `FAIL <check>: <why>` lines and `N passed, M failed`;
exits non-zero on any failure.

Usage (from the repository root; scripts/oidc_rp_test.sh installs what it needs first):
    python3 scripts/oidc/rp_test.py target/debug/soloauth
"""

import html
import http.cookiejar
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import harness  # noqa: E402  (scripts/harness.py)

PASSWORD = "rp-test correct horse battery staple"
OWNER = {
    "preferred_username": "admin",
    "name": "Ada Admin",
    "email": "ada@example.com",
    "groups": ["admin", "family"],
}
# Secrets with characters that form-urlencoding changes (RFC 6749 §2.3.1):
# HTTP Basic carries them encoded, so the server must decode them.
BASIC_SECRET = "basic-_.~+/=:secret %20&x" + secrets.token_urlsafe(8)
POST_SECRET = "post-_.~+/=:secret %20&x" + secrets.token_urlsafe(8)
APACHE_SECRET = "apache-" + secrets.token_urlsafe(24)
UA = "soloauth-rp-test (a browser-like client)"
check = harness.Checks()


def which(name):
    path = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/usr/bin")
    if not path:
        raise RuntimeError(f"{name} not found")
    return path


# --- soloauth ----------------------------------------------------------------

def start_soloauth(binary):
    front = harness.Relay()
    issuer = f"http://127.0.0.1:{front.port}"
    env = {
        "AUTH_PUBLIC_URL": issuer,
        "AUTH_ADMIN_PASSWORD_HASH": harness.hash_password(binary, PASSWORD),
        "AUTH_ADMIN_NAME": OWNER["name"],
        "AUTH_ADMIN_EMAIL": OWNER["email"],
        "AUTH_ADMIN_GROUPS": ",".join(OWNER["groups"]),
        # A handful of sign-ins from one address in a few seconds.
        "AUTH_RATE_PER_MINUTE": "1000",
        "AUTH_RATE_BURST": "1000",
        "RUST_LOG": os.environ.get("RUST_LOG", "warn,soloauth=info,soloauth::=warn"),
    }
    apps = {
        # name: (client_id, secret or None, redirect URIs, logout URIs)
        "BASIC": ("rp-basic", BASIC_SECRET, "https://basic.rp.test/auth/callback",
                  "https://basic.rp.test/signed-out"),
        "POST": ("rp-post", POST_SECRET, "https://post.rp.test/oauth/cb",
                 "https://post.rp.test/"),
        # A native app (RFC 8252): loopback, any port.
        "PUBLIC": ("rp-public", None, "http://127.0.0.1/callback", "http://127.0.0.1/bye"),
        "APACHE": ("apache-rp", APACHE_SECRET, "http://127.0.0.1/protected/redirect_uri",
                   "http://127.0.0.1/signed-out"),
    }
    for name, (client_id, secret, redirect, logout) in apps.items():
        env[f"AUTH_OIDC_CLIENT_{name}_ID"] = client_id
        if secret is not None:
            env[f"AUTH_OIDC_CLIENT_{name}_SECRET"] = secret
        env[f"AUTH_OIDC_CLIENT_{name}_REDIRECT_URIS"] = redirect
        env[f"AUTH_OIDC_CLIENT_{name}_LOGOUT_URIS"] = logout
    try:
        server = harness.start_server(binary, **env)
    except BaseException:
        front.close()
        raise
    server.relay = front  # closed by server.stop()
    front.start(("127.0.0.1", server.port))
    server.issuer = issuer
    return server


# --- 1. openid-client ------------------------------------------------------------

def run_openid_client(server):
    clients = [
        {"id": "rp-basic", "secret": BASIC_SECRET, "auth": "client_secret_basic",
         "redirect_uri": "https://basic.rp.test/auth/callback",
         "post_logout_redirect_uri": "https://basic.rp.test/signed-out"},
        {"id": "rp-post", "secret": POST_SECRET, "auth": "client_secret_post",
         "redirect_uri": "https://post.rp.test/oauth/cb",
         "post_logout_redirect_uri": "https://post.rp.test/"},
        {"id": "rp-public", "auth": "none",
         "redirect_uri": "http://127.0.0.1:49152/callback",
         "post_logout_redirect_uri": "http://127.0.0.1:49152/bye"},
    ]
    env = dict(os.environ, OIDC_ISSUER=server.issuer, OIDC_USERNAME="admin",
               OIDC_PASSWORD=PASSWORD, OIDC_CLIENTS=json.dumps(clients),
               OIDC_EXPECT=json.dumps(OWNER))
    print("--- openid-client (Node.js): scripts/oidc/rp.mjs", flush=True)
    done = subprocess.run(["node", os.path.join(HERE, "rp.mjs")], env=env, cwd=HERE,
                          stdin=subprocess.DEVNULL, timeout=120)
    check("openid-client: every check of rp.mjs passed", done.returncode == 0,
          f"rp.mjs exited {done.returncode} (its FAIL lines are above)")


# --- 2. Apache with mod_auth_openidc ----------------------------------------------

def start_apache(workdir, port, issuer, upstream_port):
    with open(os.path.join(HERE, "apache.conf.in")) as f:
        conf = f.read()
    values = {
        "DIR": workdir, "PORT": str(port), "ISSUER": issuer, "UPSTREAM": str(upstream_port),
        "CLIENT_ID": "apache-rp", "CLIENT_SECRET": APACHE_SECRET,
        "PASSPHRASE": secrets.token_urlsafe(24),
        "OIDC_LOG_LEVEL": os.environ.get("OIDC_APACHE_LOG_LEVEL", "info"),
    }
    for name, value in values.items():
        conf = conf.replace(f"@{name}@", value)
    if re.search(r"@[A-Z_]+@", conf):
        raise RuntimeError(f"apache.conf.in: unfilled {re.search(r'@[A-Z_]+@', conf).group()}")
    path = os.path.join(workdir, "apache.conf")
    with open(path, "w") as f:
        f.write(conf)
    argv = [which("apache2"), "-d", workdir, "-f", path, "-DFOREGROUND"]
    if os.getuid() == 0:
        # Not as root: as nobody, in a directory nobody owns.
        os.chown(workdir, 65534, 65534)
        os.chown(path, 65534, 65534)
        argv = [which("setpriv"), "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"] + argv
    # Apache's own environment, without any APACHE_* variables of the caller.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C"}
    proc = harness.Process("apache2", argv, os.path.join(workdir, "apache2.out"), env=env, cwd=workdir)

    def ready():
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    try:
        proc.wait_ready(ready)
    except RuntimeError as err:
        raise RuntimeError(f"{err}\nerror.log:\n{read(os.path.join(workdir, 'error.log'))}") from None
    return proc


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError as err:
        return f"({err})"


class Browser:
    """A browser's cookies (http.cookiejar: by host, not port, as browsers
    keep them) and one request at a time, redirects never followed."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.trail = []  # "METHOD URL -> STATUS Location" lines, for failures

    def request(self, method, url, headers=None, body=None):
        req = urllib.request.Request(url, method=method, headers={"User-Agent": UA, **(headers or {})})
        self.jar.add_cookie_header(req)
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        send = {k: v for k, v in req.header_items()}
        status, resp_headers, data = harness.request(f"{parts.scheme}://{parts.netloc}", method, path, send, body)
        self.jar.extract_cookies(_Response(resp_headers), req)
        location = resp_headers.get("Location")
        self.trail.append(f"{method} {url} -> {status}" + (f" Location: {location}" if location else ""))
        return status, resp_headers, data

    def get(self, url, accept="text/html"):
        return self.request("GET", url, {"Accept": accept})

    def follow(self, url):
        """GET url, which must answer a redirect; returns the absolute Location."""
        status, headers, data = self.get(url)
        location = headers.get("Location")
        if status not in (302, 303) or not location:
            raise Failure(f"GET {url}: expected a redirect, got {status}: {data[:300]!r}")
        # As sent when absolute (urljoin would drop an empty query, "…?").
        return location if urllib.parse.urlsplit(location).scheme else urllib.parse.urljoin(url, location)


class _Response:
    """What http.cookiejar needs of a response."""

    def __init__(self, headers):
        self._headers = headers

    def info(self):
        return self._headers


class Failure(Exception):
    pass


def query(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def apache_flow(server, base, browser):
    issuer = server.issuer
    # 1. The app sends an anonymous browser to soloauth's authorize.
    authorize = browser.follow(f"{base}/protected/")
    q = query(authorize)
    check("apache: /protected/ sends the browser to soloauth's authorize",
          authorize.startswith(f"{issuer}/oidc/authorize?"), authorize)
    check("apache: its request: code, client_id, PKCE S256, state, nonce, the scopes",
          q.get("response_type") == "code" and q.get("client_id") == "apache-rp"
          and q.get("code_challenge_method") == "S256" and q.get("code_challenge")
          and q.get("state") and q.get("nonce")
          and set(q.get("scope", "").split()) >= {"openid", "email", "profile", "groups"},
          json.dumps(q))
    check("apache: its redirect_uri", q.get("redirect_uri") == f"{base}/protected/redirect_uri",
          q.get("redirect_uri"))

    # 2. Not signed in: soloauth's login page, with the authorize request as rd.
    login_page = browser.follow(authorize)
    check("soloauth: authorize sends a browser without a session to the login page",
          login_page.startswith(f"{issuer}/?rd="), login_page)

    # 3. The browser signs in on that page and goes where the page goes.
    back = sign_in_on_page(browser, issuer, login_page)

    # 4. Back at Apache's redirect_uri with a code; Apache exchanges it.
    q = query(back)
    check("soloauth: authorize sends the signed-in browser to Apache's redirect_uri with code, state, iss",
          back.startswith(f"{base}/protected/redirect_uri?") and q.get("code") and q.get("state")
          and q.get("iss") == issuer, back)
    original = browser.follow(back)
    check("apache: the code is exchanged, the browser goes back to /protected/",
          original == f"{base}/protected/", original)

    # 5. The upstream, with the owner's claims.
    status, _, data = browser.get(original, accept="application/json")
    if not check("apache: /protected/ reaches the upstream (200)", status == 200, f"{status}: {data[:500]!r}"):
        return
    seen = {k.lower(): v for k, v in json.loads(data)["headers"].items()}

    def claim(name):
        return seen.get(f"oidc_claim_{name}".lower())

    check("apache: REMOTE_USER is preferred_username", seen.get("x-remote-user") == "admin",
          seen.get("x-remote-user"))
    for name in ("email", "name", "preferred_username"):
        check(f"apache: claim {name} reaches the upstream", claim(name) == OWNER[name], f"{claim(name)!r}")
    check("apache: claim groups reaches the upstream",
          claim("groups") == ",".join(OWNER["groups"]), f"{claim('groups')!r}")
    check("apache: claim iss (from the ID token) is the issuer", claim("iss") == issuer, f"{claim('iss')!r}")
    check("apache: claim aud is its client_id", claim("aud") == "apache-rp", f"{claim('aud')!r}")
    check("apache: claim email_verified", claim("email_verified") in ("1", "true"), f"{claim('email_verified')!r}")

    # 6. A second request rides on Apache's own session.
    status, _, _ = browser.get(f"{base}/protected/again", accept="application/json")
    check("apache: its session serves the next request", status == 200, str(status))

    # 7. Logout through mod_auth_openidc: soloauth's end_session, back to the app.
    signed_out = f"{base}/signed-out"
    end_session = browser.follow(f"{base}/protected/redirect_uri?logout={urllib.parse.quote(signed_out, safe='')}")
    q = query(end_session)
    check("apache: logout goes to soloauth's end_session_endpoint with id_token_hint",
          end_session.startswith(f"{issuer}/oidc/logout?") and q.get("id_token_hint")
          and q.get("post_logout_redirect_uri") == signed_out, end_session)
    after = browser.follow(end_session)
    check("soloauth: logout sends the browser back to the registered post_logout_redirect_uri",
          urllib.parse.urlsplit(after)._replace(query="").geturl() == signed_out, after)
    # No state was sent: nothing to add to the URI, which comes back as it is
    # (an empty query, "…/signed-out?", is another URI: RFC 3986 §6.2.3).
    check("soloauth: logout without state redirects to exactly the post_logout_redirect_uri",
          after == signed_out, f"Location: {after!r}, expected {signed_out!r}")
    # Signed out of both: the app sends the browser to soloauth, which asks for a sign-in.
    again = browser.follow(f"{base}/protected/")
    check("apache: after logout, /protected/ goes to soloauth again", again.startswith(f"{issuer}/oidc/authorize?"), again)
    login_again = browser.follow(again)
    check("soloauth: after logout, authorize asks for a sign-in", login_again.startswith(f"{issuer}/?rd="), login_again)


def sign_in_on_page(browser, issuer, login_page):
    """What a person does on soloauth's login page: the page (GET) names the
    target in <meta name="soloauth-rd"> when the server allows it; sign in
    (POST /auth/login, no Origin: the page's own fetch is same-origin), at
    once, as a password manager or a passkey would; the page then goes to
    that target. Returns where the target redirects."""
    status, _, page = browser.get(login_page)
    meta = re.search(rb'<meta name="soloauth-rd" content="([^"]*)">', page)
    rd = html.unescape(meta.group(1).decode()) if meta else None
    if not check_once("soloauth: the login page answers 200 and will go back to the authorize request",
                      status == 200 and rd is not None and rd == query(login_page).get("rd"),
                      f"{status}, meta rd {rd!r}, rd {query(login_page).get('rd')!r}"):
        raise Failure("the login page does not lead back to the authorize request")
    body = json.dumps({"username": "admin", "password": PASSWORD})
    status, _, data = browser.request(
        "POST", f"{issuer}/auth/login", {"Content-Type": "application/json", "Accept": "application/json"}, body)
    if not check_once("soloauth: POST /auth/login", status == 200, f"{status}: {data[:300]!r}"):
        raise Failure("cannot sign in")
    target = browser.follow(rd)
    check("soloauth: a sign-in right away on the login page is enough (no second trip to it)",
          not target.startswith(f"{issuer}/?"), target)
    return target


_once = set()


def check_once(name, ok, detail=""):
    """A passing check counted once however often a loop makes it."""
    if ok and name in _once:
        return True
    _once.add(name)
    return check(name, ok, detail)


def run_apache(server, workroot):
    print("--- Apache httpd + mod_auth_openidc", flush=True)
    up = http.server.ThreadingHTTPServer(("127.0.0.1", 0), harness.EchoUpstream)
    threading.Thread(target=up.serve_forever, daemon=True).start()
    apache = None
    try:
        def start(port):
            workdir = tempfile.mkdtemp(prefix="apache.", dir=workroot)
            return start_apache(workdir, port, server.issuer, up.server_address[1])

        port, apache = harness.on_free_port(start)
        workdir = os.path.dirname(apache.log_path)
        browser = Browser()
        try:
            apache_flow(server, f"http://127.0.0.1:{port}", browser)
        except (Failure, OSError) as err:
            check("apache: the browser's journey", False, str(err))
        if check.failed:
            print("the browser's requests:\n  " + "\n  ".join(browser.trail))
            print(f"Apache error.log:\n{read(os.path.join(workdir, 'error.log'))}")
    finally:
        if apache:
            apache.stop()
        up.shutdown()
        up.server_close()


def main():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} path/to/soloauth")
    binary = os.path.abspath(sys.argv[1])
    workroot = tempfile.mkdtemp(prefix="soloauth-rp.")
    os.chmod(workroot, 0o755)  # Apache's directory inside, for nobody
    server = None
    try:
        server = start_soloauth(binary)
        print(f"soloauth at {server.base}, issuer {server.issuer}", flush=True)
        for part in (lambda: run_openid_client(server), lambda: run_apache(server, workroot)):
            try:
                part()
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                check("a relying party could not be run", False, str(err))
        if "panicked" in server.log():
            check("soloauth: no panic", False, server.log())
    finally:
        if server:
            if check.failed:
                print(f"soloauth's log:\n{server.log()}")
            server.stop()
        shutil.rmtree(workroot, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
