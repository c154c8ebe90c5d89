"""A single-page app on another origin signs in to soloauth with oidc-client-ts
(npm, its browser build, at the version scripts/spa/package-lock.json pins),
in headless Chromium (selenium), and calls userinfo: soloauth's CORS for
browser apps (docs/oidc.md, "Browser apps (CORS)").

soloauth runs behind the harness's relay at http://localhost:P1 (its
AUTH_PUBLIC_URL), with the SPA registered from the environment as a public
client (AUTH_OIDC_CLIENT_SPA_ID=spa, a redirect URI and no secret: PKCE).
The SPA (scripts/spa/: index.html, callback.html, app.js) is served by a
Python http.server at http://127.0.0.1:P2, the origin of that redirect URI;
its config.json (soloauth's URL, the client ID) is made by this script.
Both ports are bound before soloauth starts: no free-port race.

1. The CORS headers themselves: discovery answers the SPA's origin with
   exactly that origin (not `*`) and no Access-Control-Allow-Credentials,
   the preflight of userinfo allows the Authorization header, and an
   unregistered origin gets no Access-Control-Allow-Origin.
2. The SPA reads discovery cross-origin (oidc-client-ts's MetadataService)
   and shows the issuer. "Sign in" (signinRedirect) lands on soloauth's
   sign-in form; the owner signs in with the password there and allows the
   app on this device (the consent a public client at a loopback redirect
   gets); the browser comes back to callback.html, whose
   signinRedirectCallback exchanges the code at /oidc/token with the PKCE
   verifier, cross-origin. The page then calls /oidc/userinfo with `fetch`
   and the access token and shows `sub` and `preferred_username` (admin,
   the same sub as the ID token's); it revokes the access token
   (revokeTokens, /oidc/revoke) and userinfo then answers 401.
3. The same files served from another origin that no public client
   redirects to, http://localhost:P3 (a loopback redirect URI allows any
   port of 127.0.0.1, so the other origin differs by host), cannot read
   discovery: the library reports the failed fetch, Chromium logs the CORS
   refusal, and "Sign in" stays disabled.

Fails on any failed check and on any unexpected error in the browser log
(the CORS refusal of step 3, and the 401s of soloauth's signed-out page
and of userinfo after the revocation, are expected). A failure leaves a
screenshot in target/screenshots/spa-failure.png. Runs `npm ci` in
scripts/spa first (node_modules is not committed).

    python3 scripts/spa_test.py target/debug/soloauth
"""

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from browser_test import PASSWORD, Page, browser
from harness import Checks, hash_password, request, send_json, start_server

SPA = Path(__file__).resolve().parent / "spa"
LIBRARY = SPA / "node_modules/oidc-client-ts/dist/browser/oidc-client-ts.min.js"
SHOTS = Path("target/screenshots")
check = Checks()


class SpaServer:
    """scripts/spa/ over HTTP on 127.0.0.1, port bound at once (port 0), plus
    /config.json: {"authority": …, "client_id": "spa"} once configure() is
    called. `host` names it in its origin (127.0.0.1 or localhost)."""

    def __init__(self, host):
        self.config = {}
        spa = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                if self.path.split("?")[0] != "/config.json":
                    return super().do_GET()
                send_json(self, spa.config)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(SPA)))
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def configure(self, authority):
        self.config = {"authority": authority, "client_id": "spa"}

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def browser_log(driver):
    """The browser log's messages since the last look."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def wait_for(driver, condition, timeout=15):
    try:
        return WebDriverWait(driver, timeout).until(condition)
    except TimeoutException:
        return None


def text(driver, id_):
    found = driver.find_elements(By.ID, id_)
    return found[0].text if found else ""


def cors_headers(server, spa, other):
    """Step 1: what soloauth answers each origin, read without a browser."""
    discovery = "/.well-known/openid-configuration"
    status, headers, _ = request(server.base, "GET", discovery, {"Origin": spa.origin})
    check("discovery answers the SPA's origin with exactly that origin, without credentials",
          status == 200 and headers.get("Access-Control-Allow-Origin") == spa.origin
          and headers.get("Access-Control-Allow-Credentials") is None, (status, dict(headers)))
    status, headers, _ = request(server.base, "OPTIONS", "/oidc/userinfo", {
        "Origin": spa.origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    allowed = (headers.get("Access-Control-Allow-Headers") or "").lower()
    check("the preflight of userinfo from the SPA allows its Authorization header",
          status in (200, 204) and headers.get("Access-Control-Allow-Origin") == spa.origin
          and ("authorization" in allowed or allowed == "*"), (status, dict(headers)))
    status, headers, _ = request(server.base, "GET", discovery, {"Origin": other.origin})
    check(f"discovery answers an unregistered origin ({other.origin}) without Access-Control-Allow-Origin",
          status == 200 and headers.get("Access-Control-Allow-Origin") is None, (status, dict(headers)))


def sign_in(driver, server, spa):
    """Step 2. Returns the browser log's unexpected messages."""
    problems = []

    def keep(messages):
        for m in messages:
            # soloauth's page asks who is signed in before the sign-in
            # (/auth/me, /auth/refresh: 401), and userinfo refuses the revoked
            # token (401): Chromium logs them as failed loads. Nothing else.
            expected = any(m.startswith(server.public + path + " ") for path in (
                "/auth/me", "/auth/refresh", "/oidc/userinfo")) and "status of 401 (Unauthorized)" in m
            if not expected:
                problems.append(m)

    driver.get(spa.origin + "/index.html")
    wait_for(driver, lambda d: text(d, "issuer") or text(d, "error"))
    check("the SPA reads discovery cross-origin (oidc-client-ts's MetadataService): the issuer",
          text(driver, "issuer") == server.public, (text(driver, "issuer"), text(driver, "error")))
    keep(browser_log(driver))

    driver.find_element(By.ID, "sign-in").click()
    page = Page(driver, server.public)
    at_form = wait_for(driver, lambda d: d.current_url.startswith(server.public + "/")
                       and d.find_elements(By.ID, "signin") and d.find_element(By.ID, "signin").is_displayed())
    if not check("'Sign in' (signinRedirect) lands on soloauth's sign-in form", at_form, driver.current_url):
        return problems + [f"the SPA said: {text(driver, 'error')}"]
    page.sign_in()
    # A public client at a loopback redirect is asked about once per sign-in.
    asked = wait_for(driver, lambda d: d.find_elements(By.ID, "consent-allow")
                     or d.current_url.startswith(spa.origin + "/"))
    check("signed in, soloauth asks whether to allow the app on this device",
          asked and driver.find_elements(By.ID, "consent-allow"), driver.current_url)
    if driver.find_elements(By.ID, "consent-allow"):
        page.click("consent-allow")
    keep(browser_log(driver))

    done = wait_for(driver, lambda d: d.current_url.startswith(spa.origin + "/callback.html")
                    and (text(d, "after-revoke") or text(d, "error")))
    check("allowed, the browser comes back to the SPA's callback, which finishes the sign-in",
          done and not text(driver, "error"), (driver.current_url, text(driver, "error")))
    sub, username = text(driver, "sub"), text(driver, "username")
    print(f"     userinfo: sub={sub!r} preferred_username={username!r}")
    check("the SPA's fetch of userinfo with the access token shows preferred_username admin",
          username == "admin", username)
    check("and the same sub as the ID token's", sub and sub == text(driver, "id-sub"),
          (sub, text(driver, "id-sub")))
    check("revoked by the SPA (revokeTokens, /oidc/revoke), the access token gets 401 at userinfo",
          text(driver, "after-revoke") == "HTTP 401", text(driver, "after-revoke"))
    keep(browser_log(driver))
    return problems


def refused(driver, server, other):
    """Step 3. Returns the browser log's unexpected messages."""
    discovery = server.public + "/.well-known/openid-configuration"
    driver.get(other.origin + "/index.html")
    wait_for(driver, lambda d: text(d, "issuer") or text(d, "error"))
    error = text(driver, "error")
    check(f"from {other.origin}, not registered, the library cannot read discovery and says so",
          not text(driver, "issuer") and error.startswith("error:")
          and not driver.find_element(By.ID, "sign-in").is_enabled(), (text(driver, "issuer"), error))
    problems, blocked = [], False
    for m in browser_log(driver):
        if f"Access to fetch at '{discovery}' from origin '{other.origin}' has been blocked by CORS policy" in m:
            blocked = True
        # The failed load itself, and oidc-client-ts's logger reporting it.
        elif not (m.startswith(discovery + " ") and m.endswith("net::ERR_FAILED")
                  or m.startswith(other.origin + "/node_modules/oidc-client-ts/")
                  and m.endswith('"[JsonService] getJson:" "Network Error"')):
            problems.append(m)
    check("Chromium blocked it by CORS policy (no Access-Control-Allow-Origin for that origin)", blocked)
    return problems


def main(binary):
    if not shutil.which("npm"):
        sys.exit("npm is required (scripts/test.sh installs Node.js with npm)")
    subprocess.run(["npm", "ci", "--prefix", str(SPA), "--no-audit", "--no-fund", "--loglevel=error"],
                   check=True, stdin=subprocess.DEVNULL)
    version = json.loads((SPA / "node_modules/oidc-client-ts/package.json").read_text())["version"]
    print(f"     oidc-client-ts {version}, {LIBRARY.relative_to(SPA)}")

    spa, other = SpaServer("127.0.0.1"), SpaServer("localhost")
    server = driver = None
    try:
        server = start_server(binary, relay=True, AUTH_ADMIN_PASSWORD_HASH=hash_password(binary, PASSWORD),
                              AUTH_RATE_PER_MINUTE="1000", AUTH_RATE_BURST="100",
                              AUTH_OIDC_CLIENT_SPA_ID="spa",
                              AUTH_OIDC_CLIENT_SPA_REDIRECT_URIS=spa.origin + "/callback.html")
        spa.configure(server.public)
        other.configure(server.public)
        print(f"     soloauth at {server.public}, the SPA at {spa.origin}, unregistered at {other.origin}")
        cors_headers(server, spa, other)
        driver = browser()
        problems = sign_in(driver, server, spa)
        problems += refused(driver, server, other)
        check("no unexpected errors in the browser log", not problems, problems)
    except Exception as err:  # a broken step: report it with a screenshot
        traceback.print_exc()
        if driver:
            SHOTS.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(SHOTS / "spa-failure.png"))
        check("the walk-through completed", False, repr(err))
    finally:
        if driver:
            driver.quit()
        if server:
            server.stop()
        spa.stop()
        other.stop()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/soloauth"))
