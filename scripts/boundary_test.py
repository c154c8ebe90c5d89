"""The boundaries between soloauth and the apps it protects, in headless
Chromium (selenium), as the owner and an attacker would meet them.

1. The compromised app. soloauth is served at http://auth.test.localhost:PORT
   with AUTH_COOKIE_DOMAIN=test.localhost, and a small app at
   http://app.test.localhost:PORT2 sits behind forward auth: on every request
   it asks soloauth's /auth/verify itself, with the browser's cookies and
   X-Forwarded-Proto/Host/Uri (what Traefik's forwardAuth does; soloauth
   trusts 127.0.0.1 as a proxy), and follows the Location it is given. The
   app plays a compromised one: it records every cookie it receives, and as
   soon as it holds soloauth_session it replays it, server to server, as that
   cookie, as a soloauth_access cookie and as a Bearer token (with Origin
   forged to soloauth's) against the API, the refresh endpoint and
   /oidc/authorize for a public client; only /auth/verify may take it. Its
   page also runs script in the owner's browser that calls soloauth's API
   same-site, with credentials, and reports what it could read; Chromium's
   performance log (DevTools' network events) shows which of those calls
   left the browser, with which cookies, and soloauth's status. The owner
   opens the app, signs in on soloauth's page, lands back on the app; then
   nothing was added to the account, the owner's session survived, and
   after "Sign out" on soloauth's page the app's copy no longer passes.
2. Logout confirmation. /oidc/logout with no id_token_hint (a plain link)
   asks "Sign out of soloauth?"; clicking Sign out ends the session. An
   app's logout link with its client_id and post_logout_redirect_uri but no
   ID token asks too, and the click goes back to the app. Again once the
   access cookie has run out (AUTH_ACCESS_TTL_SECONDS=10, the minimum; the
   test waits for the browser to drop the cookie): the page's script renews
   it first, and the session still ends.
3. Consent. A public client (no secret) asking for a code at a loopback
   redirect gets "Allow … on this device to sign in as you?": Deny sends
   error=access_denied to the listener, Allow a code that the token endpoint
   exchanges with the PKCE verifier, and the next request goes straight
   through.
4. The cookie message. A sign-in the browser cannot keep, reached from an
   app behind forward auth: http://auth.example.test with
   AUTH_COOKIE_SECURE=true (Chromium refuses Secure cookies from an insecure
   origin). The page says why, naming AUTH_COOKIE_DOMAIN and https, and
   stays; the browser does not bounce between the app and the page. (The
   cookie domains a browser refuses while it keeps the auth host's own
   cookies, on an IP address or a public suffix, stop start-up: the Rust
   tests cover those.)

Chromium resolves *.localhost to loopback by itself and treats those hosts
as secure contexts: it sets Secure cookies over plain http there and sends
them. So scenarios 1 to 3 run with AUTH_COOKIE_SECURE=true, the cookies an
https install sets (Secure, HttpOnly, the same SameSite and Domain), not the
http default (false). auth.example.test and app.example.test are mapped to
127.0.0.1 with --host-resolver-rules; being neither localhost nor https,
they are not secure contexts.

Screenshots go to target/screenshots/boundary-*.png. Fails on any failed
check, and on any script error or CSP violation in the browser log (the
failed cross-origin calls of the compromised app's own page excepted: they
are the attack being refused).

    python3 scripts/boundary_test.py target/debug/soloauth
"""

import hashlib
import html
import http.server
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_test import PASSWORD, Page as BrowserPage, page_json
from harness import Checks, api, hash_password, login, request, start_server
from oidc_test_app import b64url

SHOTS = Path("target/screenshots")
# Names that are not localhost, so not secure contexts over http (scenario 4).
RESOLVER_RULES = "MAP auth.example.test 127.0.0.1, MAP app.example.test 127.0.0.1"
check = Checks()
PROBLEMS = []  # script errors and CSP violations from the browser log


def browser():
    """Headless Chromium as browser_test.browser() starts it (the machine's
    network is closed: no background requests), plus RESOLVER_RULES."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--host-resolver-rules={RESOLVER_RULES}"]:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="boundary-chromium.")
    options.add_argument(f"--user-data-dir={profile}")
    # The performance log (DevTools' network events) shows what the
    # compromised app's script sent and what soloauth answered, though the
    # script itself may read none of it.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(1280, 900)
    driver.profile = profile  # removed by main() after quit()
    return driver


class Page(BrowserPage):
    """browser_test's page helper; screenshots named boundary-*.png, and the
    browser log's problems kept in PROBLEMS (a scenario that breaks half-way
    loses none)."""

    def __init__(self, driver, base):
        super().__init__(driver, base)
        self.problems = PROBLEMS

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(SHOTS / f"boundary-{name}.png"))

    def text(self):
        """The page's text (read in one go: the page may be going)."""
        return self.d.execute_script("return document.body ? document.body.innerText : ''")

    def wait_for(self, condition, timeout=10):
        """Waits until condition(driver) is true; False if it never was."""
        try:
            WebDriverWait(self.d, timeout).until(condition)
            return True
        except TimeoutException:
            return False

    def status(self, path):
        """The HTTP status of GET `path` from the page (its origin, its cookies)."""
        return self.d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'same-origin'}).then((r) => done(r.status), () => done(0));", path)


def serve(binary, pw_hash, host, **env):
    """soloauth behind a relay at http://<host>:<port> (AUTH_PUBLIC_URL)."""
    return start_server(binary, relay=True, relay_host=host, AUTH_ADMIN_PASSWORD_HASH=pw_hash,
                        AUTH_RATE_PER_MINUTE="1000", AUTH_RATE_BURST="100", **env)


def browser_cookies(driver):
    """Every soloauth cookie the browser holds, on any host: (name, domain) -> cookie."""
    return {(c["name"], c["domain"]): c for c in driver.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
            if c["name"].startswith("soloauth_")}


def clear_cookies(driver):
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})


def verify_with(server, cookie_header):
    """GET /auth/verify with a Cookie header: (status, Remote-User)."""
    status, headers, _ = request(server.base, "GET", "/auth/verify", {"Cookie": cookie_header})
    return status, headers.get("Remote-User")


def pkce():
    """(verifier, S256 challenge)."""
    verifier = b64url(os.urandom(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


def authorize_path(client_id, redirect_uri, challenge, state):
    return "/oidc/authorize?" + urllib.parse.urlencode({
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": "openid",
        "state": state, "nonce": b64url(os.urandom(12)), "code_challenge": challenge,
        "code_challenge_method": "S256"})


class Listener:
    """A loopback listener, as a program on the owner's device waiting for its
    code (RFC 8252), or an app's page to come back to after a logout: records
    the query of every request to `path` (its URL: `redirect_uri`)."""

    def __init__(self, path="/callback"):
        received, arrived = self.received, self.arrived = [], threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                if url.path == path:
                    received.append(dict(urllib.parse.parse_qsl(url.query)))
                    arrived.set()
                body = b'<!doctype html><link rel="icon" href="data:,"><p id="received">Received.</p>'
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next(self, action, timeout=5):
        """Runs `action` and returns the query of the next request to `path` (None if none came)."""
        self.arrived.clear()
        seen = len(self.received)
        action()
        self.arrived.wait(timeout)
        return self.received[seen] if len(self.received) > seen else None

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- the app behind forward auth ----------------------------------------------

# The compromised app's page script: soloauth's API from the owner's browser,
# same-site, with the browser's cookies. Each result says what the script
# could read: "refused: TypeError" (the browser kept the answer from it), or
# the response's type, status and body. Reported to the app at /report.
ATTACK_JS = """
const auth = AUTH_ORIGIN;
async function attempt(name, url, init) {
  try {
    const response = await fetch(url, { credentials: "include", ...init });
    const body = await response.text().catch(() => "");
    return { name, got: `${response.type} ${response.status}`, body: body.slice(0, 300) };
  } catch (error) {
    return { name, got: `refused: ${error.name}`, body: "" };
  }
}
const post = (body, type = "application/json") =>
  ({ method: "POST", headers: { "Content-Type": type }, body: JSON.stringify(body) });
(async () => {
  const results = [
    await attempt("POST /auth/passkeys/register/start (no body: a simple request, sent)",
      auth + "/auth/passkeys/register/start", { method: "POST" }),
    await attempt("POST /auth/passkeys/register/start (JSON)", auth + "/auth/passkeys/register/start", post({})),
    await attempt("POST /auth/tokens (JSON)", auth + "/auth/tokens", post({ name: "planted by the app" })),
    await attempt("POST /auth/tokens (text/plain: a simple request, sent)",
      auth + "/auth/tokens", post({ name: "planted by the app" }, "text/plain")),
    await attempt("POST /auth/refresh (no body: a simple request, sent)", auth + "/auth/refresh", { method: "POST" }),
    await attempt("POST /auth/logout (no body: a simple request, sent)", auth + "/auth/logout", { method: "POST" }),
    await attempt("GET /auth/me", auth + "/auth/me", {}),
    await attempt("GET /auth/me (no-cors)", auth + "/auth/me", { mode: "no-cors" }),
  ];
  await fetch("/report", { method: "POST", body: JSON.stringify(results) });
  document.getElementById("report").textContent = "Attempts reported.";
})();
"""


class ForwardAuthApp:
    """An app behind forward auth at http://<host>:<port>, listening on `bind`.
    Every request is first put to soloauth's /auth/verify with the browser's
    Cookie and Accept and X-Forwarded-Proto/Host/Uri; a 200 lets it through
    (the page greets Remote-User), anything else is passed on to the browser
    (a 302 to the login page, or the status). With `compromised`, the app
    replays the first soloauth_session it receives (`replay`) and its page
    runs ATTACK_JS in the owner's browser."""

    def __init__(self, host, bind="127.0.0.1", compromised=False):
        self.compromised = compromised
        self.cookies = {}      # every cookie received: name -> last value
        self.page_loads = 0    # navigations (Accept: text/html) that reached the app
        self.replays = None    # what the replay got, once it ran
        self.report = None     # what the page script reported
        self.reported = threading.Event()
        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer((bind, 0), self._handler())
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        self.server = None

    def start(self, server, public_client=None):
        """Serves in front of `server`; `public_client`: (client_id, redirect_uri)
        that the replay tries at /oidc/authorize."""
        self.server, self.public_client = server, public_client
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.server:
            self.httpd.shutdown()
        self.httpd.server_close()

    def verify(self, handler):
        """soloauth's forward-auth answer to this request: (status, headers)."""
        headers = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": handler.headers.get("Host", ""),
                   "X-Forwarded-Uri": handler.path, "X-Forwarded-Method": handler.command,
                   "Accept": handler.headers.get("Accept", "*/*")}
        if handler.headers.get("Cookie"):
            headers["Cookie"] = handler.headers["Cookie"]
        status, answer, _ = request(self.server.base, "GET", "/auth/verify", headers)
        return status, answer

    def _handler(self):
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def handle_one(self):
                stolen = None
                with app.lock:
                    for part in (self.headers.get("Cookie") or "").split(";"):
                        name, _, value = part.strip().partition("=")
                        if name:
                            app.cookies[name] = value
                    if "text/html" in self.headers.get("Accept", ""):
                        app.page_loads += 1
                    if app.compromised and app.replays is None and "soloauth_session" in app.cookies:
                        stolen = app.cookies["soloauth_session"]
                        app.replays = {}
                if stolen:  # at once, before anything else: all the app holds
                    app.replays = replay(app.server, stolen, app.public_client)
                status, answer = app.verify(self)
                if status != 200:
                    location = answer.get("Location")
                    self.send(302 if location else status, headers=[("Location", location)] if location else ())
                    return None
                return answer.get("Remote-User")

            def do_GET(self):
                user = self.handle_one()
                if user is None:
                    return
                script = ""
                if app.compromised:
                    script = "<script>" + ATTACK_JS.replace("AUTH_ORIGIN", json.dumps(app.server.public)) + "</script>"
                body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>App</title>'
                        f'<link rel="icon" href="data:,"></head><body><h1>An app behind forward auth</h1>'
                        f'<p id="greeting">Hello {html.escape(user)}</p>'
                        f'<p>Cookies received: {html.escape(", ".join(sorted(app.cookies)))}</p>'
                        f'<p id="report"></p>{script}</body></html>')
                self.send(200, body.encode())

            def do_POST(self):
                user = self.handle_one()
                if user is None:
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if self.path == "/report":
                    app.report = json.loads(self.rfile.read(length) or b"null")
                    app.reported.set()
                self.send(204)

        return Handler


# What soloauth must never hand out; their keys in a JSON body, or a code in
# a redirect to the app.
GIVEAWAYS = ('"challenge_id"', '"token"', '"secret"', '"access_token"', '"refresh_token"', '"client_secret"',
             '"username"', '"qr_png"')


def replay(server, stolen, public_client):
    """A compromised app's use of the session cookie it was sent, server to
    server, with Origin forged to soloauth's: every call below, with the
    value as that cookie, as a soloauth_access cookie and as a Bearer token
    (and, for /auth/refresh, as the refresh cookie and the body's refresh_token);
    then /auth/verify. Returns {call: {way: (status, Location, body)}}."""
    client_id, redirect_uri = public_client
    _, challenge = pkce()
    calls = [
        ("POST", "/auth/passkeys/register/start", {}),
        ("POST", "/auth/tokens", {"name": "planted by the app"}),
        ("POST", "/auth/totp/setup", {}),
        ("PUT", "/auth/password-login", {"enabled": False}),
        ("POST", "/auth/oidc/clients", {"name": "Planted", "redirect_uris": ["https://evil.example/cb"],
                                        "public": True}),
        ("GET", "/auth/me", None),
        ("DELETE", "/auth/sessions", None),
        ("POST", "/auth/refresh", {}),
        ("GET", authorize_path(client_id, redirect_uri, challenge, "replayed"), None),
    ]
    ways = {"as soloauth_session": {"Cookie": f"soloauth_session={stolen}"},
            "as soloauth_access": {"Cookie": f"soloauth_access={stolen}"},
            "as Bearer": {"Authorization": f"Bearer {stolen}"}}
    results = {}
    for method, path, body in calls:
        name = f"{method} {path.split('?')[0]}"
        results[name] = {way: send(server, method, path, creds, body) for way, creds in ways.items()}
    results["POST /auth/refresh"]["as soloauth_refresh"] = send(
        server, "POST", "/auth/refresh", {"Cookie": f"soloauth_refresh={stolen}"}, {})
    results["POST /auth/refresh"]["as refresh_token"] = send(
        server, "POST", "/auth/refresh", {}, {"refresh_token": stolen})
    results["GET /auth/verify"] = {"as soloauth_session": send(
        server, "GET", "/auth/verify", {"Cookie": f"soloauth_session={stolen}"}, None)}
    return results


def send(server, method, path, credentials, body):
    """One request as the compromised app makes it: to soloauth, with Host and
    Origin of its public URL. (status, Location, Remote-User, body text)."""
    headers = {"Host": urllib.parse.urlsplit(server.public).netloc, "Origin": server.public,
               "Accept": "text/html" if path.startswith("/oidc/") else "application/json", **credentials}
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body)
    status, answer, raw = request(server.base, method, path, headers, data)
    return status, answer.get("Location") or "", answer.get("Remote-User"), raw.decode("utf-8", "replace")


def refused(answer, server, redirect_uri):
    """A refusal that gave nothing away: 401, 403 or a 302 to the login page,
    no secret in the body, no redirect to the app."""
    status, location, _, body = answer
    to_login = status == 302 and location.startswith(server.public + "/?")
    gave = any(key in body for key in GIVEAWAYS) or (redirect_uri and location.startswith(redirect_uri))
    return (status in (401, 403) or to_login) and not gave


def sent_from(driver, origin, to):
    """The requests to `to` that pages of `origin` made since the performance
    log was last read: [{method, url, cookies, status}]. `cookies`: the names
    in the Cookie header the browser sent; `status`: soloauth's answer, or
    "not sent: <CORS error>" when the browser stopped the request at its
    preflight (whose own OPTIONS request is listed too)."""
    events = {}  # request id -> {event name: params}; ExtraInfo events may come first
    order = []
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        params = event.get("params", {})
        if "requestId" in params:
            if event.get("method") == "Network.requestWillBeSent" and params["requestId"] not in order:
                order.append(params["requestId"])
            events.setdefault(params["requestId"], {})[event.get("method")] = params
    requests = []
    for rid in order:
        seen = events[rid]
        sent = seen["Network.requestWillBeSent"]
        if not (sent.get("documentURL", "").startswith(origin) and sent["request"]["url"].startswith(to)):
            continue
        headers = seen.get("Network.requestWillBeSentExtraInfo", {}).get("headers", {})
        cookie = {k.lower(): v for k, v in headers.items()}.get("cookie", "")
        status = seen.get("Network.responseReceivedExtraInfo", {}).get("statusCode")
        if status is None and "Network.loadingFailed" in seen:
            failed = seen["Network.loadingFailed"]
            status = "not sent: " + (failed.get("corsErrorStatus") or {}).get("corsError", failed.get("errorText"))
        requests.append({"method": sent["request"]["method"], "url": sent["request"]["url"], "status": status,
                         "cookies": sorted(p.split("=")[0].strip() for p in cookie.split(";") if p.strip())})
    return requests


def attack_log(page, app):
    """Drains the browser log after the compromised app's page: its failed
    calls to soloauth (blocked by CORS, or failing) are the attack refused;
    anything else is kept as a problem (a script error, a CSP violation)."""
    for entry in page.d.get_log("browser"):
        text = entry["message"]
        expected = (f"from origin '{app.origin}' has been blocked by CORS policy" in text
                    or text.startswith(page.base + "/auth/") and "Failed to load resource" in text)
        if entry["level"] == "SEVERE" and not expected or "Content Security Policy" in text:
            page.problems.append(text)


# ---- 1. the compromised app -------------------------------------------------------

def compromised_app(driver, binary, pw_hash):
    """Scenario 1 (see the module notes)."""
    listener = Listener()  # the public client's redirect: must never get a code
    app = ForwardAuthApp("app.test.localhost", compromised=True)
    server = None
    try:
        server = serve(binary, pw_hash, "auth.test.localhost", AUTH_COOKIE_DOMAIN="test.localhost",
                       AUTH_COOKIE_SECURE="true", AUTH_TRUSTED_PROXIES="127.0.0.1/32",
                       AUTH_OIDC_CLIENT_CLI_ID="cli", AUTH_OIDC_CLIENT_CLI_REDIRECT_URIS="http://127.0.0.1/callback")
        app.start(server, ("cli", listener.redirect_uri))
        p = Page(driver, server.public)
        clear_cookies(driver)
        driver.get_log("performance")  # from here on: this scenario's requests

        driver.get(app.origin + "/")
        p.visible("signin")
        rd = driver.find_elements(By.CSS_SELECTOR, 'meta[name="soloauth-rd"]')
        check("signed out, the app (behind forward auth) sends the browser to soloauth's login page with rd",
              driver.current_url.startswith(server.public + "/?rd=") and rd
              and rd[0].get_attribute("content") == app.origin + "/", driver.current_url)
        check("Chromium resolves auth.test.localhost itself and treats it as a secure context",
              driver.execute_script("return window.isSecureContext") is True)
        p.shot("01-login-for-app")
        p.sign_in()
        at_app = p.wait_for(lambda d: d.current_url.startswith(app.origin) and d.find_elements(By.ID, "greeting"),
                            timeout=20)
        check("signing in lands back on the app, which greets the owner (Remote-User)",
              at_app and p.el("greeting").text == "Hello admin", f"at {driver.current_url}: {p.text()[:200]!r}")
        app.reported.wait(10)
        p.wait_for(lambda _: p.el("report").text)
        p.shot("02-app-signed-in")
        attack_log(p, app)

        jar = browser_cookies(driver)
        check("the browser holds soloauth_session for .test.localhost, access and refresh for auth.test.localhost only",
              sorted(jar) == [("soloauth_access", "auth.test.localhost"), ("soloauth_refresh", "auth.test.localhost"),
                              ("soloauth_session", ".test.localhost")]
              and all(c["secure"] and c["httpOnly"] for c in jar.values()), sorted(jar))
        check("the app received exactly one soloauth cookie: soloauth_session",
              sorted(app.cookies) == ["soloauth_session"], sorted(app.cookies))

        replays = app.replays or {}
        check("the app replayed the session cookie it was sent", len(replays) == 10, sorted(replays))
        for call, answers in replays.items():
            if call == "GET /auth/verify":
                continue
            shown = {way: (a[0], a[1][:60], a[3][:80]) for way, a in answers.items()}
            check(f"the app's replay of the session cookie is refused at {call} ({', '.join(answers)})",
                  all(refused(a, server, listener.redirect_uri) for a in answers.values()), shown)
        status, _, user, _ = replays.get("GET /auth/verify", {}).get("as soloauth_session", (0, "", None, ""))
        check("the same cookie passes GET /auth/verify, with Remote-User (what it is for)",
              status == 200 and user == "admin", (status, user))
        check("the public client's redirect got no code from the replay", not listener.received, listener.received)

        report = app.report or []
        check("the app's page script ran its attempts in the owner's browser and reported them", len(report) == 8,
              report)
        for attempt in report:
            readable = not attempt["got"].startswith("refused") and attempt["got"] != "opaque 0"
            gave = any(key in attempt["body"] for key in GIVEAWAYS)
            check(f"the app's script, same-site with credentials, reads nothing from {attempt['name']}",
                  not readable and not gave and not attempt["body"], attempt)
        sent = sent_from(driver, app.origin, server.public)
        writes = [r for r in sent if r["method"] == "POST"]
        arrived = [r for r in writes if isinstance(r["status"], int)]
        check("the script's POSTs that the browser sent carried the owner's access (and refresh) cookie, and "
              "soloauth answered each 403 (foreign Origin); the JSON ones never left the browser (preflight refused)",
              len(writes) == 6 and len(arrived) == 4
              and all(r["status"] == 403 and "soloauth_access" in r["cookies"] for r in arrived)
              and all(str(r["status"]).startswith("not sent") for r in writes if r not in arrived), sent)

        # The owner, from a separate API login: nothing was added, nothing ended.
        owner, _ = login(server.base, "admin", PASSWORD)
        token = owner["access_token"]
        control = {name: send(server, method, path, {"Authorization": f"Bearer {token}"}, body)[0]
                   for name, method, path, body in [("me", "GET", "/auth/me", None),
                                                    ("passkey", "POST", "/auth/passkeys/register/start", {})]}
        check("(control) the owner's own access token, sent the way the app sent the stolen cookie, is taken",
              control == {"me": 200, "passkey": 200}, control)
        passkeys, tokens, clients, me = (api(server.base, path, token=token) for path in (
            "/auth/passkeys", "/auth/tokens", "/auth/oidc/clients", "/auth/me"))
        check("afterwards no passkey, API token or app was added, nor two-factor turned on",
              passkeys == (200, []) and tokens == (200, []) and me[0] == 200 and not me[1]["totp_enabled"]
              and clients[0] == 200 and [c["from_env"] for c in clients[1]] == [True],
              (passkeys, tokens, clients, me))
        driver.get(server.public + "/")
        p.visible("account")
        mine = (page_json(driver, "/auth/me") or {}).get("session_id")
        _, sessions = api(server.base, "/auth/sessions", token=token)
        check("the owner's browser session survived the replays (DELETE /auth/sessions ended nothing)",
              mine and mine in [s["id"] for s in sessions or []], (mine, sessions))
        p.collect_log()

        p.click("signout")
        p.visible("signin")
        stolen = "soloauth_session=" + app.cookies.get("soloauth_session", "")
        check("after 'Sign out' on soloauth's page, the app's copy of the cookie no longer passes verify",
              verify_with(server, stolen) == (401, None), verify_with(server, stolen))
        driver.get(app.origin + "/")
        p.visible("signin")
        check("and the app sends the browser to the login page again",
              driver.current_url.startswith(server.public + "/?rd="), driver.current_url)
        p.collect_log()
    finally:
        app.stop()
        listener.stop()
        if server:
            server.stop()


# ---- 2. logout confirmation -------------------------------------------------------

def session_cookie(driver):
    """The Cookie header an app would send: the browser's soloauth_session."""
    values = [c["value"] for (name, _), c in browser_cookies(driver).items() if name == "soloauth_session"]
    return f"soloauth_session={values[0]}" if values else ""


def owner_signs_in(p, driver, server, fresh=False):
    """The owner signs in on soloauth's page (`fresh`: from a browser with
    no cookie); returns the session cookie's value."""
    if fresh:
        clear_cookies(driver)
    driver.get(server.public + "/")
    p.sign_in()
    p.visible("account")
    return session_cookie(driver)


def confirm_logout(p, server, session, when):
    """On "Sign out of soloauth?" (already open), click Sign out and check
    the session ended."""
    p.click("logout-confirm")
    signed_out = p.wait_for(lambda _: "You are signed out" in p.text())
    check(f"{when}: clicking Sign out says 'You are signed out'", signed_out, p.text()[:200])
    check(f"{when}: /auth/me from the page's origin answers 401", p.status("/auth/me") == 401)
    check(f"{when}: the session is over (its session cookie no longer passes verify)",
          verify_with(server, session) == (401, None), verify_with(server, session))


def logout_confirmation(driver, binary, pw_hash):
    """Scenario 2 (see the module notes), and an app's logout link with its
    post_logout_redirect_uri but no id_token_hint: asked, then back to the app."""
    domain = {"AUTH_COOKIE_DOMAIN": "test.localhost", "AUTH_COOKIE_SECURE": "true"}
    back = Listener("/signed-out")
    server = serve(binary, pw_hash, "auth.test.localhost", AUTH_OIDC_CLIENT_NOTES_ID="notes",
                   AUTH_OIDC_CLIENT_NOTES_SECRET=b64url(os.urandom(24)),
                   AUTH_OIDC_CLIENT_NOTES_REDIRECT_URIS="https://notes.example/callback",
                   AUTH_OIDC_CLIENT_NOTES_LOGOUT_URIS=back.redirect_uri, **domain)
    p = Page(driver, server.public)
    try:
        session = owner_signs_in(p, driver, server, fresh=True)
        driver.get(server.public + "/oidc/logout")
        asked = p.wait_for(lambda d: d.find_elements(By.ID, "logout-confirm"))
        check("/oidc/logout with no id_token_hint asks 'Sign out of soloauth?'",
              asked and "Sign out of soloauth?" in p.text(), p.text()[:200])
        check("opening it alone ends nothing", verify_with(server, session) == (200, "admin"))
        p.shot("03-logout-confirm")
        confirm_logout(p, server, session, "signed in")
        p.shot("04-signed-out")
        p.collect_log()

        # An app's "Sign out" link without its ID token: asked, then back to the app.
        session = owner_signs_in(p, driver, server)
        driver.get(server.public + "/oidc/logout?" + urllib.parse.urlencode(
            {"client_id": "notes", "post_logout_redirect_uri": back.redirect_uri, "state": "bye"}))
        asked = p.wait_for(lambda d: d.find_elements(By.ID, "logout-confirm"))
        check("an app's logout link without id_token_hint asks too", asked and "Sign out of soloauth?" in p.text(),
              p.text()[:200])
        got = back.next(lambda: p.click("logout-confirm"))
        check("clicking Sign out there returns to the app's post_logout_redirect_uri, with its state",
              got == {"state": "bye"}, (got, driver.current_url, p.text()[:200]))
        check("and that session is over", verify_with(server, session) == (401, None), verify_with(server, session))
        p.collect_log()
    finally:
        back.stop()
        server.stop()

    server = serve(binary, pw_hash, "auth.test.localhost", AUTH_ACCESS_TTL_SECONDS="10", **domain)
    p = Page(driver, server.public)
    try:
        session = owner_signs_in(p, driver, server, fresh=True)
        started = time.monotonic()
        gone = p.wait_for(lambda d: ("soloauth_access", "auth.test.localhost") not in browser_cookies(d), timeout=14)
        jar = sorted(browser_cookies(driver))
        check(f"with AUTH_ACCESS_TTL_SECONDS=10 the browser drops the access cookie "
              f"({time.monotonic() - started:.1f} s after signing in), keeping the session cookie",
              gone and ("soloauth_session", ".test.localhost") in jar, jar)
        driver.get(server.public + "/oidc/logout")
        asked = p.wait_for(lambda d: d.find_elements(By.ID, "logout-confirm"))
        check("access cookie expired: /oidc/logout still asks 'Sign out of soloauth?'",
              asked and "Sign out of soloauth?" in p.text(), p.text()[:200])
        check("access cookie expired: the session is alive until the click",
              verify_with(server, session) == (200, "admin"))
        confirm_logout(p, server, session, "access cookie expired")
        p.collect_log()
    finally:
        server.stop()


# ---- 3. consent for a public app on this device --------------------------------

def consent(driver, binary, pw_hash):
    """Scenario 3 (see the module notes)."""
    listener = Listener()
    server = None
    try:
        server = serve(binary, pw_hash, "auth.test.localhost", AUTH_COOKIE_DOMAIN="test.localhost",
                       AUTH_COOKIE_SECURE="true", AUTH_OIDC_CLIENT_CLI_ID="cli",
                       AUTH_OIDC_CLIENT_CLI_REDIRECT_URIS="http://127.0.0.1/callback")
        p = Page(driver, server.public)
        owner_signs_in(p, driver, server, fresh=True)

        def ask(state):
            verifier, challenge = pkce()
            return verifier, server.public + authorize_path("cli", listener.redirect_uri, challenge, state)

        _, url = ask("first")
        driver.get(url)
        asked = p.wait_for(lambda d: d.find_elements(By.ID, "consent-allow"))
        title = p.text()
        check("a public client at a loopback redirect is asked about: 'Allow … on this device to sign in as you?'",
              asked and re.search(r"Allow \S+ on this device to sign in as you\?", title), title[:300])
        check("and no code went to the listener before an answer", not listener.received, listener.received)
        p.shot("05-consent")
        got = listener.next(lambda: p.click("consent-deny"))
        check("Deny: the listener gets error=access_denied (with its state)",
              got and got.get("error") == "access_denied" and got.get("state") == "first" and "code" not in got,
              (got, driver.current_url, p.text()[:200]))
        p.collect_log()

        verifier, url = ask("second")
        driver.get(url)
        p.wait_for(lambda d: d.find_elements(By.ID, "consent-allow"))
        got = listener.next(lambda: p.click("consent-allow"))
        check("Allow: the listener gets a code (with its state)",
              got and got.get("code") and got.get("state") == "second", (got, driver.current_url, p.text()[:200]))
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": (got or {}).get("code", ""),
                                       "redirect_uri": listener.redirect_uri, "code_verifier": verifier,
                                       "client_id": "cli"})
        status, _, raw = request(server.base, "POST", "/oidc/token",
                                 {"Content-Type": "application/x-www-form-urlencoded"}, form)
        tokens = json.loads(raw or b"null") if status == 200 else raw[:200]
        check("the code and the PKCE verifier get tokens at /oidc/token",
              status == 200 and tokens.get("id_token") and tokens.get("access_token"), (status, tokens))
        p.collect_log()

        _, url = ask("third")
        got = listener.next(lambda: driver.get(url))
        check("the next authorization goes straight through, without asking again",
              got and got.get("code") and got.get("state") == "third"
              and driver.current_url.startswith(listener.redirect_uri), (got, driver.current_url))
        p.collect_log()
    finally:
        listener.stop()
        if server:
            server.stop()


# ---- 4. the cookie message ---------------------------------------------------------

def cookie_message(driver, binary, pw_hash):
    """Scenario 4 (see the module notes)."""
    # (A cookie domain a browser refuses while it keeps the auth host's own
    # cookies, such as one on an IP address or a public suffix, now stops
    # start-up: tests/it/boundaries.rs and the config's unit tests.)
    setups = [
        ("no cookie kept", "07-no-cookie", "auth.example.test", "app.example.test", "127.0.0.1",
         {"AUTH_COOKIE_DOMAIN": "example.test", "AUTH_COOKIE_SECURE": "true"}, "kept no sign-in cookie"),
    ]
    for what, shot, host, app_host, app_bind, env, words in setups:
        app = ForwardAuthApp(app_host, bind=app_bind)
        server = None
        try:
            server = serve(binary, pw_hash, host, AUTH_TRUSTED_PROXIES="127.0.0.1/32", **env)
            check(f"{what}: the server starts with AUTH_PUBLIC_URL={server.public} "
                  f"AUTH_COOKIE_DOMAIN={env['AUTH_COOKIE_DOMAIN']}", server.running())
            app.start(server)
            p = Page(driver, server.public)
            clear_cookies(driver)
            driver.get(app.origin + "/")
            p.visible("signin")
            login_page = driver.current_url
            check(f"{what}: the app sends the browser to the login page with rd",
                  login_page.startswith(server.public + "/?rd="), login_page)
            p.sign_in()
            msg = said_any(p)
            check(f"{what}: after signing in the page says so, naming AUTH_COOKIE_DOMAIN and https",
                  words in msg and f"AUTH_COOKIE_DOMAIN={env['AUTH_COOKIE_DOMAIN']}" in msg and "https" in msg, msg)
            time.sleep(1)  # the chance for a (wrong) bounce to the app and back
            check(f"{what}: the browser stays on the page (no loop between the app and the page)",
                  driver.current_url == login_page and app.page_loads == 1, (driver.current_url, app.page_loads))
            jar = sorted(browser_cookies(driver))
            check(f"{what}: the browser holds no soloauth cookie, and the sign-in form is back",
                  jar == [] and p.el("signin").is_displayed(), jar)
            p.shot(shot)
            p.collect_log()
        finally:
            app.stop()
            if server:
                server.stop()


def said_any(p):
    """The page's message once it says anything (or "" after the wait)."""
    try:
        return p.message()
    except TimeoutException:
        return ""


def main(binary):
    started = time.monotonic()
    pw_hash = hash_password(binary, PASSWORD)
    driver = browser()
    try:
        for scenario in (compromised_app, logout_confirmation, consent, cookie_message):
            try:
                scenario(driver, binary, pw_hash)
            except Exception as err:  # a broken step: report it with a screenshot, go on
                SHOTS.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(SHOTS / f"boundary-failure-{scenario.__name__}.png"))
                Page(driver, "").collect_log()
                where = traceback.extract_tb(err.__traceback__)[-1]
                check(f"{scenario.__name__} completed", False, f"{err!r} at line {where.lineno}: {where.line}")
        Page(driver, "").collect_log()
        check("no script errors or CSP violations in the browser log", not PROBLEMS, PROBLEMS)
    finally:
        driver.quit()
        shutil.rmtree(driver.profile, ignore_errors=True)
    print(f"{time.monotonic() - started:.1f} s")
    return check.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/soloauth"))
