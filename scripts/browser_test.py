"""End-to-end test of the login page in headless Chromium (selenium).

Starts the real soloauth binary on loopback and walks the page as a person
would: sign in with the password, enroll TOTP (the secret read from the page,
the code computed here), see the recovery codes, sign out, sign in with
password + code, sign in with a recovery code, revoke another session, sign
out everywhere, follow
an allowed `rd`, refuse a foreign one; then, on a server that wants a
recent sign-in for everything, confirm the password before enrolling, and
see the page admit it when the server cannot be reached; then "keep me
signed in" on and off, and the screen that explains an app's two-factor
refusal; then passkeys with Chrome's virtual authenticator: add, rename,
remove, sign in with one alone and as the second step, a cancelled ceremony,
the page's own JSON conversion, and no passkey controls without WebAuthn;
then "Sign in with soloauth" from a small test app (scripts/oidc_test_app.py):
soloauth's sign-in form, back to the app greeted by name, the Apps card
(add an app, its secret shown once, remove it), and the app's "Sign out";
then the API tokens card: make one, shown once and copied, forward auth
taking it as Bearer until it is revoked from the page.
Screenshots of each screen, desktop and
phone width, go to target/screenshots/. Fails on any script error or CSP
violation in the browser log.

The page must be served from the origin in AUTH_PUBLIC_URL (the server checks
`Origin` against it), so the browser goes through a loopback relay whose port
is bound before the server starts; the server binds a port of its own
choosing (scripts/harness.py: start_server(relay=True)). No free-port race.

    python3 scripts/browser_test.py target/debug/soloauth
"""

import base64
import hmac
import json
import os
import struct
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from harness import Checks, api, hash_password, request, start_server
from oidc_test_app import TestApp

PASSWORD = "correct horse battery staple"
SHOTS = Path("target/screenshots")
check = Checks()


def totp(secret_b32, step):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), "sha1").digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def serve(binary, **extra_env):
    """soloauth behind a relay at http://localhost:<port> (AUTH_PUBLIC_URL); browse server.public."""
    return start_server(binary, relay=True, AUTH_ADMIN_PASSWORD_HASH=hash_password(binary, PASSWORD),
                        AUTH_RATE_PER_MINUTE="1000", AUTH_RATE_BURST="100", **extra_env)


def second_session(base, recovery_code):
    """Another session, made over the API with a recovery code; its access token.
    (The password alone answers 403 mfa_required, with the mfa_token.)"""
    _, body = api(base, "/auth/login", {"username": "admin", "password": PASSWORD})
    _, body = api(base, "/auth/login/totp", {"mfa_token": body["mfa_token"],
                                             "recovery_code": recovery_code})
    return body["access_token"]


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp()}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(1280, 900)
    return driver


class Page:
    def __init__(self, driver, base):
        self.d, self.base, self.problems = driver, base, []
        self.wait = WebDriverWait(driver, 10)

    def el(self, id_):
        return self.d.find_element(By.ID, id_)

    def visible(self, id_):
        return self.wait.until(EC.visibility_of_element_located((By.ID, id_)))

    def type(self, id_, text):
        field = self.visible(id_)
        field.clear()
        field.send_keys(text)

    def click(self, id_=None, css=None):
        target = self.el(id_) if id_ else self.d.find_element(By.CSS_SELECTOR, css)
        self.wait.until(lambda _: target.is_enabled())
        target.click()

    def message(self):
        self.wait.until(lambda _: self.el("message").text.strip())
        return self.el("message").text

    def shot(self, name):
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.d.save_screenshot(str(SHOTS / f"desktop-{name}.png"))
        self.d.set_window_size(390, 844)
        self.d.save_screenshot(str(SHOTS / f"phone-{name}.png"))
        self.d.set_window_size(1280, 900)

    def collect_log(self, also=()):
        """Keeps the browser log's problems. `also`: more HTTP statuses a
        refused call may have had since the last look (a 400 asked for)."""
        for entry in self.d.get_log("browser"):
            text = entry["message"]
            # Refused API calls (401/403 while signed out) are logged by Chrome
            # as failed resource loads; they are expected. Script errors and
            # CSP violations are not.
            expected = "Failed to load resource" in text and any(
                f"status of {code}" in text for code in (401, 403, 409, 423, 429, *also))
            if entry["level"] == "SEVERE" and not expected or "Content Security Policy" in text:
                self.problems.append(text)

    def sign_in(self, password=PASSWORD):
        self.type("username", "admin")
        self.type("password", password)
        self.click(css="#signin button[type=submit]")


def reauth_check(driver, binary):
    """With AUTH_REAUTH_SECONDS=0 every sign-in counts as old: enrolling asks
    for the password first, refuses a wrong one, and goes on with the right one;
    adding a passkey asks for it too."""
    server = serve(binary, AUTH_REAUTH_SECONDS="0")
    p = Page(driver, server.public)
    try:
        driver.get(server.public + "/")
        p.sign_in()
        p.visible("account")
        p.click("enroll-start")
        p.visible("reauth")
        check("an old sign-in is asked for the password before enrolling",
              not p.el("totp-off").is_displayed() and not p.el("enroll").is_displayed())
        p.shot("09-confirm-password")
        p.type("reauth-password", "not the password")
        p.click(css="#reauth button[type=submit]")
        msg = p.message()
        check("a wrong password there is explained", "Wrong username or password" in msg, msg)
        p.type("reauth-password", PASSWORD)
        p.click(css="#reauth button[type=submit]")
        p.visible("enroll")
        check("the right password goes on to the QR code", len(p.el("secret").text.replace(" ", "")) == 32)
        # Adding a passkey asks for the password the same way.
        driver.add_virtual_authenticator(Authenticator())
        try:
            p.click(css="#passkey-add button[type=submit]")
            p.visible("passkey-reauth")
            check("an old sign-in is asked for the password before adding a passkey",
                  not p.el("passkey-add").is_displayed())
            driver.execute_script("arguments[0].scrollIntoView()", p.el("passkeys-card"))
            p.shot("16-passkey-confirm-password")
            p.type("passkey-reauth-password", PASSWORD)
            p.click(css="#passkey-reauth button[type=submit]")
            msg = said(p, "added")
            check("the right password goes on to add the passkey",
                  " added" in msg and len(passkey_items(driver)) == 1 and p.el("passkey-add").is_displayed(), msg)
            check("a passkey not backed up is not marked 'synced'", "synced" not in p.el("passkeys").text)
        finally:
            driver.remove_virtual_authenticator()
        # And adding an app ("Sign in with soloauth").
        p.click(css="#app-add-details summary")
        p.type("app-name", "Notes")
        p.type("app-redirects", "https://notes.example.com/oauth/callback")
        p.click(css="#app-add button[type=submit]")
        p.visible("app-reauth")
        check("an old sign-in is asked for the password before adding an app",
              not p.el("app-add-details").is_displayed() and not p.el("app-created").is_displayed())
        driver.execute_script("arguments[0].scrollIntoView()", p.el("apps-card"))
        p.shot("21-app-confirm-password")
        p.type("app-reauth-password", "not the password")
        p.click(css="#app-reauth button[type=submit]")
        msg = said(p, "Wrong username or password")
        check("a wrong password there is explained, and asked for again",
              "Wrong username or password" in msg and p.el("app-reauth").is_displayed(), msg)
        p.type("app-reauth-password", PASSWORD)
        p.click(css="#app-reauth button[type=submit]")
        p.visible("app-created")
        check("the right password goes on to add the app, its secret shown once",
              len(p.el("app-created-secret").text) >= 32 and "Notes" in p.el("apps").text
              and p.el("app-add-details").is_displayed() and not p.el("app-reauth").is_displayed(),
              p.el("app-created").text)
        p.collect_log()
        # With the server gone, the page says so instead of pretending.
        server.stop()
        p.click("signout")
        msg = p.message()
        check("signing out with the server gone says it failed",
              "Cannot reach the server" in msg and p.el("account").is_displayed(), msg)
        driver.get_log("browser")  # the failed request, expected here
        return p.problems
    finally:
        server.stop()


class Authenticator(VirtualAuthenticatorOptions):
    """Chrome's virtual authenticator as a device's built-in one: CTAP 2.1,
    discoverable credentials, verifies its user, synced (backed up) passkeys
    when `synced`. The server asks for
    credProtect (userVerificationRequired, enforced), which Chrome's virtual
    authenticator offers only with its credBlob extension on; selenium's
    options have no field for extensions, so to_dict adds it."""

    def __init__(self, synced=False):
        super().__init__(protocol="ctap2_1", transport=VirtualAuthenticatorOptions.Transport.INTERNAL,
                         has_resident_key=True, has_user_verification=True, is_user_verified=True)
        self.synced = synced

    def to_dict(self):
        return {**super().to_dict(), "extensions": ["credBlob"],
                "defaultBackupEligibility": self.synced, "defaultBackupState": self.synced}


def said(p, words):
    """The page's message once it contains `words` (or whatever it says after the wait)."""
    try:
        p.wait.until(lambda _: words in p.el("message").text)
    except TimeoutException:
        pass
    return p.el("message").text


def page_me(driver):
    """GET /auth/me from the page, with its cookies: the JSON, or None."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/auth/me', {credentials: 'same-origin'})"
        ".then((r) => (r.ok ? r.json() : null)).then(done, () => done(null));")


def passkey_items(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#passkeys li")


def passkey_check(driver, binary):
    """Passkeys, on a server whose TOTP is set by the environment: add one
    (named) from the account card, see it listed, rename it; sign out and
    sign in with it alone, no username typed (amr hwk + mfa); sign in with
    the password and then the passkey instead of a code (amr pwd + hwk); a
    ceremony the authenticator refuses is explained as cancelled; the same
    authenticator cannot add a second passkey; removing asks first. Then the
    page's own JSON conversion (the browser's parse*FromJSON and toJSON
    hidden) adds one and signs in with it, and without WebAuthn no passkey
    control shows."""
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    server = serve(binary, AUTH_TOTP_SECRET=secret)
    base = server.public
    p = Page(driver, base)
    scripts = []  # CDP scripts run before the page's own, removed at the end
    try:
        driver.delete_all_cookies()
        driver.add_virtual_authenticator(Authenticator(synced=True))
        driver.get(base + "/")
        p.visible("passkey-login")
        check("the sign-in card offers a passkey", p.el("passkey-login").text == "Sign in with a passkey")
        p.click("passkey-login")
        msg = said(p, "No passkey is registered yet")
        check("a passkey sign-in before any passkey is explained",
              "No passkey is registered yet" in msg and p.el("signin").is_displayed(), msg)

        p.sign_in()
        p.visible("mfa")
        check("the two-factor card offers a passkey instead", p.el("mfa-passkey").is_displayed())
        p.type("code", totp(secret, int(time.time()) // 30))
        p.click(css="#mfa button[type=submit]")
        p.visible("passkeys-card")
        suggested = p.el("passkey-name").get_attribute("value")
        check("the new passkey's name has a default", suggested.startswith("Passkey"), suggested)
        check("no passkey listed yet", not passkey_items(driver))
        p.type("passkey-name", "Work laptop")
        p.click(css="#passkey-add button[type=submit]")
        msg = said(p, "added")
        check("adding a passkey says so", "Passkey “Work laptop” added" in msg, msg)
        p.wait.until(lambda _: len(passkey_items(driver)) == 1)
        item = passkey_items(driver)[0].text
        check("the new passkey is listed with its name, dates and 'synced'",
              "Work laptop" in item and "added " in item and "not used yet" in item and "synced" in item, item)
        check("the authenticator holds it", len(driver.get_credentials()) == 1)
        check("the name field offers a default again", p.el("passkey-name").get_attribute("value") == suggested)
        driver.execute_script("arguments[0].scrollIntoView()", p.el("passkeys-card"))
        p.shot("12-passkey-added")

        p.click(css="#passkey-add button[type=submit]")
        msg = said(p, "already holds a passkey")
        check("the same authenticator cannot add a second passkey (InvalidStateError)",
              "already holds a passkey for this account" in msg and len(passkey_items(driver)) == 1, msg)

        p.click(css="#passkeys button[aria-label='Rename Work laptop']")
        field = p.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#passkeys form input")))
        check("renaming starts from the current name", field.get_attribute("value") == "Work laptop")
        field.clear()
        field.send_keys("Laptop fingerprint")
        p.click(css="#passkeys form button[type=submit]")
        msg = said(p, "renamed")
        check("renaming says so", "renamed to “Laptop fingerprint”" in msg, msg)
        p.wait.until(lambda _: "Laptop fingerprint" in p.el("passkeys").text)
        check("the list shows the new name", "Work laptop" not in p.el("passkeys").text)

        p.click("signout")
        p.visible("signin")
        p.el("username").clear()  # no username: the passkey says who
        p.click("passkey-login")
        p.visible("account")
        amr = (page_me(driver) or {}).get("amr", [])
        check("a passkey alone signs in, as two factors (amr hwk + mfa)", sorted(amr) == ["hwk", "mfa"], amr)
        p.wait.until(lambda _: "last used" in p.el("passkeys").text)
        check("the passkey shows when it was last used", "not used yet" not in p.el("passkeys").text)
        driver.execute_script("arguments[0].scrollIntoView()", p.el("passkeys-card"))
        p.shot("13-signed-in-with-passkey")

        p.click("signout")
        p.visible("signin")
        driver.set_user_verified(False)
        p.click("passkey-login")
        msg = said(p, "Cancelled")
        check("a refused or cancelled ceremony is explained as such",
              "Cancelled — no passkey was used" in msg and p.el("signin").is_displayed(), msg)
        p.shot("14-passkey-cancelled")
        driver.set_user_verified(True)

        p.sign_in()
        p.visible("mfa-passkey")
        p.shot("15-two-factor-passkey")
        p.click("mfa-passkey")
        p.visible("account")
        amr = (page_me(driver) or {}).get("amr", [])
        check("the password, then a passkey instead of a code, signs in (amr pwd + hwk)",
              sorted(amr) == ["hwk", "pwd"], amr)

        # Removing asks first; "no" keeps it.
        p.click(css="#passkeys button[aria-label='Remove Laptop fingerprint']")
        p.wait.until(EC.alert_is_present()).dismiss()
        check("removal not confirmed keeps the passkey", len(passkey_items(driver)) == 1)
        p.click(css="#passkeys button[aria-label='Remove Laptop fingerprint']")
        p.wait.until(EC.alert_is_present()).accept()
        msg = said(p, "removed")
        check("removing a passkey says so", "Passkey “Laptop fingerprint” removed" in msg, msg)
        p.wait.until(lambda _: not passkey_items(driver))
        p.collect_log()

        # The page's own conversion, for browsers without the JSON helpers.
        hide = ("delete PublicKeyCredential.parseCreationOptionsFromJSON;"
                "delete PublicKeyCredential.parseRequestOptionsFromJSON;"
                "delete PublicKeyCredential.prototype.toJSON;")
        scripts.append(driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": hide})["identifier"])
        driver.refresh()
        p.visible("passkeys-card")
        check("the JSON helpers are hidden", driver.execute_script(
            "return !PublicKeyCredential.parseRequestOptionsFromJSON && !PublicKeyCredential.prototype.toJSON"))
        p.type("passkey-name", "Converted by hand")
        p.click(css="#passkey-add button[type=submit]")
        msg = said(p, "added")
        check("without the JSON helpers, adding a passkey works", "“Converted by hand” added" in msg, msg)
        p.click("signout")
        p.visible("signin")
        p.click("passkey-login")
        p.visible("account")
        amr = (page_me(driver) or {}).get("amr", [])
        check("and signing in with it", sorted(amr) == ["hwk", "mfa"], amr)
        driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": scripts.pop()})
        p.collect_log()

        # A browser without WebAuthn: the page as before, no passkey control.
        scripts.append(driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                              {"source": "delete window.PublicKeyCredential;"})["identifier"])
        driver.refresh()
        p.visible("account")
        p.wait.until(lambda _: driver.find_elements(By.CSS_SELECTOR, "#sessions li"))
        check("without WebAuthn, no passkeys card", not p.el("passkeys-card").is_displayed())
        p.click("signout")
        p.visible("signin")
        check("nor a passkey button on the sign-in card", not p.el("passkey-login").is_displayed())
        p.sign_in()
        p.visible("mfa")
        check("nor on the two-factor card", not p.el("mfa-passkey").is_displayed())
        p.click("mfa-cancel")
        p.visible("signin")
        p.collect_log()
        return p.problems
    finally:
        for identifier in scripts:
            driver.execute_cdp_cmd("Page.removeScriptToEvaluateOnNewDocument", {"identifier": identifier})
        if driver.virtual_authenticator_id:
            driver.remove_virtual_authenticator()
        server.stop()


def soloauth_cookies(driver):
    return {c["name"]: c for c in driver.get_cookies() if c["name"].startswith("soloauth_")}


def remember_and_two_factor_check(driver, binary):
    """"Keep me signed in" is on by default and gives lasting cookies; off,
    every cookie ends with the browser. An app whose rule needs a second
    factor sends a password-only session here, and the page explains."""
    server = serve(binary)
    base = server.public
    p = Page(driver, base)
    try:
        driver.delete_all_cookies()
        driver.get(base + "/")
        p.visible("signin")
        check("'keep me signed in' is on by default", p.el("remember").is_selected())
        p.click("remember")
        p.type("username", "admin")
        p.type("password", PASSWORD)
        p.click(css="#signin button[type=submit]")
        p.visible("account")
        jar = soloauth_cookies(driver)
        # (The refresh cookie, Path=/auth, is not listed on this page.)
        check("unticked: browser-session cookies",
              sorted(jar) == ["soloauth_access", "soloauth_session"]
              and all("expiry" not in c for c in jar.values()), jar)
        p.click("signout")
        p.visible("signin")
        driver.get(base + "/")
        p.visible("signin")
        check("'keep me signed in' is ticked again on the next visit", p.el("remember").is_selected())
        p.sign_in()
        p.visible("account")
        jar = soloauth_cookies(driver)
        lasting = jar.get("soloauth_session", {}).get("expiry", 0) - time.time()
        check("ticked: the session cookie lasts the session's 30 days", 29 * 86400 < lasting <= 30 * 86400, jar)

        # What /auth/verify sends a password-only session to, for an app
        # under a two_factor rule.
        app = base + "/health"
        need = base + "/?rd=" + urllib.parse.quote(app, safe="") + "&need=two_factor"
        driver.get(need)
        p.visible("need-2fa")
        text = p.el("need-2fa").text
        host = urllib.parse.urlsplit(base).netloc
        check("the page names the app that needs a second factor", host in text, text)
        check("and says how to turn it on", "Turn on two-factor authentication below" in text, text)
        check("and does not bounce back to the app", driver.current_url == need, driver.current_url)
        p.shot("10-two-factor-needed")
        p.click("need-signout")
        p.visible("signin")
        driver.get(need)
        p.visible("signin")
        msg = p.message()
        check("signed out, the page says a second factor is needed", "needs a sign-in with a second factor" in msg, msg)
        p.shot("11-two-factor-needed-signed-out")
        p.collect_log()
        return p.problems
    finally:
        server.stop()


def app_items(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#apps > li")


def page_json(driver, path):
    """GET `path` from the page, with its cookies: the JSON, or None."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {credentials: 'same-origin'})"
        ".then((r) => (r.ok ? r.json() : null)).then(done, () => done(null));", path)


def back_at(p, app, path, action):
    """Runs `action` (a click that leaves this page), then waits until the
    browser is at `app`'s `path`, or soloauth's page says something instead
    (a refusal, or "sign in again"); (True if at the app, detail for a failed
    check: where the browser is and what it shows)."""
    target = app.origin + path
    before = p.d.find_element(By.TAG_NAME, "html")
    action()
    try:
        p.wait.until(EC.staleness_of(before))
        p.wait.until(lambda d: d.current_url.startswith(target) or (
            d.current_url.startswith(p.base) and d.find_elements(By.CSS_SELECTOR, "#message:not([hidden])")))
    except TimeoutException:
        pass
    url = p.d.current_url
    shown = p.d.find_element(By.TAG_NAME, "body").text[:300]
    return url.startswith(target), f"at {url}: {shown!r}"


def oidc_check(driver, binary):
    """"Sign in with soloauth": a small app (scripts/oidc_test_app.py, on
    127.0.0.1, configured in soloauth's environment) sends the browser to
    soloauth, which shows its sign-in form; signing in there goes back to the
    app, which exchanges the code, checks the ID token and greets the owner by
    userinfo. The session list names the app. The Apps card lists the
    environment's app (not removable), refuses a malformed redirect URI,
    adds an app and shows its secret once; a second app signs in with that
    secret without the sign-in form (already signed in); removing that app
    ends its sign-in. The app's "Sign out" ends the soloauth session too and
    comes back to the app."""
    widgets, photos = TestApp("Widgets"), TestApp("Photos")
    secret = base64.urlsafe_b64encode(os.urandom(24)).decode()
    server = None
    try:
        server = serve(binary, AUTH_ADMIN_EMAIL="owner@example.com",
                       AUTH_OIDC_CLIENT_WIDGETS_ID="widgets-test", AUTH_OIDC_CLIENT_WIDGETS_SECRET=secret,
                       AUTH_OIDC_CLIENT_WIDGETS_REDIRECT_URIS=widgets.redirect_uri,
                       AUTH_OIDC_CLIENT_WIDGETS_LOGOUT_URIS=widgets.logout_uri)
        base = server.public
        widgets.start(base, "widgets-test", secret)
        p = Page(driver, base)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})

        # Signed out: the app sends the browser to soloauth's sign-in form.
        driver.get(widgets.origin + "/")
        p.visible("sign-in")
        check("the app offers 'Sign in with soloauth'", p.el("sign-in").text == "Sign in with soloauth")
        p.click("sign-in")
        p.visible("signin")
        rd = driver.find_elements(By.CSS_SELECTOR, 'meta[name="soloauth-rd"]')
        check("signed out, the app's sign-in lands on soloauth's sign-in form, to go back to authorize",
              driver.current_url.startswith(base + "/?rd=") and rd
              and rd[0].get_attribute("content").startswith(base + "/oidc/authorize?"), driver.current_url)
        at_app, where = back_at(p, widgets, "/callback", p.sign_in)
        check("signing in there goes on to the app's callback", at_app, where)
        p.visible("greeting")
        check("the app greets the owner by the userinfo's preferred_username",
              p.el("greeting").text == "Hello admin", p.el("greeting").text)
        check("and shows the email", p.el("email").text == "owner@example.com", p.el("email").text)
        token = widgets.last.get("id_token", {})
        check("the app's ID token is signed by the JWKS, for it, with its nonce, by password (amr pwd)",
              token.get("aud") == "widgets-test" and "pwd" in token.get("amr", []), widgets.last)
        p.shot("17-app-signed-in")

        # soloauth's page: the session names the app; the Apps card.
        driver.get(base + "/")
        p.visible("account")
        p.wait.until(lambda _: app_items(driver) and driver.find_elements(By.CSS_SELECTOR, "#sessions li"))
        sessions = p.el("sessions").text
        check("the session list says which app this session signed in to", "signed in to: widgets" in sessions,
              sessions)
        check("the Apps card shows the issuer and the discovery URL to paste into apps",
              p.el("issuer").text == base
              and p.el("discovery").text == base + "/.well-known/openid-configuration",
              (p.el("issuer").text, p.el("discovery").text))
        item = app_items(driver)[0]
        check("the environment's app is listed, with its client ID and URIs",
              len(app_items(driver)) == 1 and all(
                  t in item.text for t in ("widgets", "from the environment", "widgets-test", widgets.redirect_uri,
                                           widgets.logout_uri)), item.text)
        check("and cannot be removed here", not item.find_elements(By.TAG_NAME, "button"))
        check("the Apps card's fields have labels", all(
            driver.find_element(By.CSS_SELECTOR, f"label[for={f}]") for f in ("app-name", "app-redirects", "app-logouts")))

        p.collect_log()
        p.click(css="#app-add-details summary")
        p.type("app-name", "Photos")
        p.type("app-redirects", "photos.example.com/callback")
        p.click(css="#app-add button[type=submit]")
        msg = said(p, "photos.example.com/callback")
        check("a malformed redirect URI is refused, naming it",
              msg.startswith('Redirect URI "photos.example.com/callback" is not an absolute URL')
              and len(app_items(driver)) == 1,
              msg)
        check("and the field is ready to be corrected", driver.switch_to.active_element == p.el("app-redirects"))
        p.collect_log(also=(400,))
        p.type("app-redirects", photos.redirect_uri + "\n\n")
        p.type("app-logouts", photos.logout_uri)
        p.click(css="#app-add button[type=submit]")
        p.visible("app-created")
        client_id, client_secret = p.el("app-created-id").text, p.el("app-created-secret").text
        card = p.el("app-created").text
        check("adding an app shows its client ID and secret, with 'save this now'",
              "Save this now" in card and len(client_id) >= 16 and len(client_secret) >= 32, card)
        p.wait.until(lambda _: len(app_items(driver)) == 2)
        added = [i for i in app_items(driver) if "Photos" in i.text]
        check("the new app is listed, with its URIs and a Remove button",
              added and client_id in added[0].text and photos.redirect_uri in added[0].text
              and photos.logout_uri in added[0].text
              and added[0].find_elements(By.CSS_SELECTOR, "button[aria-label='Remove Photos']"),
              [i.text for i in app_items(driver)])
        p.shot("18-app-added")
        driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        p.click("app-created-copy")
        msg = said(p, "copied")
        copied = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, (e) => done(`refused: ${e}`));")
        check("'Copy secret' puts the secret on the clipboard",
              msg == "Client secret copied." and copied == client_secret, (msg, copied))
        listed = page_json(driver, "/auth/oidc/clients") or []
        check("the secret is not in the list", listed and client_secret not in json.dumps(listed), listed)
        p.click("app-created-done")
        check("the secret is gone from the page once saved",
              not p.el("app-created").is_displayed() and client_secret not in driver.page_source)
        driver.execute_script("arguments[0].scrollIntoView()", p.el("apps-card"))
        p.shot("19-apps")

        # The secret works: the second app signs in, straight back (signed in).
        photos.start(base, client_id, client_secret)
        driver.get(photos.origin + "/")
        p.visible("sign-in")
        at_app, where = back_at(p, photos, "/callback", lambda: p.click("sign-in"))
        check("signed in already, another app's sign-in goes straight back to it", at_app, where)
        p.visible("greeting")
        check("with the secret shown once, the added app gets its tokens and the greeting",
              p.el("greeting").text == "Hello admin"
              and photos.last.get("id_token", {}).get("aud") == client_id, photos.last)
        driver.get(base + "/")
        p.visible("account")
        p.wait.until(lambda _: "Photos" in p.el("sessions").text)
        check("the session list names both apps", "signed in to: Photos, widgets" in p.el("sessions").text,
              p.el("sessions").text)

        # Removing the app ends its sign-in.
        access = photos.last["tokens"]["access_token"]
        check("the added app's access token works before", photos.userinfo(access)[0] == 200)
        p.click(css="#apps button[aria-label='Remove Photos']")
        p.wait.until(EC.alert_is_present()).dismiss()
        check("removal not confirmed keeps the app", len(app_items(driver)) == 2)
        p.click(css="#apps button[aria-label='Remove Photos']")
        p.wait.until(EC.alert_is_present()).accept()
        msg = said(p, "removed")
        check("removing an app says so", "App “Photos” removed" in msg, msg)
        p.wait.until(lambda _: len(app_items(driver)) == 1)
        status, body = photos.userinfo(access)
        check("a removed app's access token is refused", status == 401, (status, body))
        p.wait.until(lambda _: "Photos" not in p.el("sessions").text)
        check("and the session list no longer names it", "signed in to: widgets" in p.el("sessions").text,
              p.el("sessions").text)
        p.collect_log()

        # The app's "Sign out" ends the soloauth session and comes back.
        access = widgets.last["tokens"]["access_token"]
        driver.get(widgets.origin + "/")
        p.visible("greeting")
        at_app, where = back_at(p, widgets, "/signed-out", lambda: p.click("sign-out"))
        check("the app's 'Sign out' goes through soloauth and back to the app", at_app, where)
        p.visible("signed-out")
        check("the app says so (its logout state came back)", p.el("signed-out").text == "You are signed out.",
              p.el("signed-out").text)
        p.shot("20-app-signed-out")
        status, body = widgets.userinfo(access)
        check("the app's access token ends with the soloauth session", status == 401, (status, body))
        driver.get(base + "/")
        p.visible("signin")
        check("soloauth's page is signed out too", not p.el("account").is_displayed())
        driver.get(widgets.origin + "/")
        p.visible("sign-in")
        check("and the app offers to sign in again", p.el("status").text == "You are not signed in.")
        p.collect_log()
        return p.problems
    finally:
        widgets.stop()
        photos.stop()
        if server:
            server.stop()


def token_items(driver):
    return driver.find_elements(By.CSS_SELECTOR, "#tokens > li")


def tokens_check(driver, binary):
    """The API tokens card: make one (30 days), shown once, copied, listed
    with its expiry, gone from the page once saved; forward auth takes it as
    Bearer (Remote-Token: its id) until it is revoked from the page."""
    server = serve(binary)
    base = server.public
    p = Page(driver, base)

    def verify(token):
        status, headers, _ = request(base, "GET", "/auth/verify", {"Authorization": f"Bearer {token}"})
        return status, headers.get("Remote-Token")

    try:
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.get(base + "/")
        p.sign_in()
        p.visible("tokens-card")
        p.wait.until(lambda _: driver.find_elements(By.CSS_SELECTOR, "#sessions li"))
        check("no token listed yet", not token_items(driver))
        check("the tokens card's fields have labels", all(
            driver.find_element(By.CSS_SELECTOR, f"label[for={f}]") for f in ("token-name", "token-days", "token-hosts")))
        p.click(css="#token-add-details summary")
        p.type("token-name", "Backup script")
        p.type("token-days", "30")
        p.click(css="#token-add button[type=submit]")
        p.visible("token-made")
        token = p.el("token-value").text
        check("making a token shows it once, with 'save this now'",
              token.startswith("soloauth_") and "Save this now" in p.el("token-made").text
              and "Backup script" in p.el("token-made-name").text, p.el("token-made").text)
        p.wait.until(lambda _: len(token_items(driver)) == 1)
        item = token_items(driver)[0].text
        # The server's own dates, formatted as the page does (no clock race).
        listed = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/auth/tokens', {credentials: 'same-origin'}).then((r) => r.json()).then((l) =>"
            " done([new Date(l[0].expires_at).toLocaleDateString(),"
            " (Date.parse(l[0].expires_at) - Date.parse(l[0].created_at)) / 86400e3]))")
        expires, days = listed
        check("the new token expires 30 days after it was made", days == 30, listed)
        check("the new token is listed with its expiry, 'never used' and 'any host'",
              "Backup script" in item and f"expires {expires}" in item and "never used" in item
              and "any host" in item, (item, expires))
        p.shot("22-token-made")
        driver.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": base, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        p.click("token-copy")
        msg = said(p, "copied")
        copied = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.clipboard.readText().then(done, (e) => done(`refused: ${e}`));")
        check("'Copy token' puts the token on the clipboard", msg == "Token copied." and copied == token,
              (msg, copied))
        listed = page_json(driver, "/auth/tokens") or []
        check("the token is not in GET /auth/tokens", len(listed) == 1 and token not in json.dumps(listed), listed)
        p.click("token-done")
        check("the token is gone from the page once saved",
              not p.el("token-made").is_displayed() and token not in driver.page_source)
        driver.execute_script("arguments[0].scrollIntoView()", p.el("tokens-card"))
        p.shot("23-tokens")

        status, remote = verify(token)
        check("forward auth takes the token as Bearer, naming it in Remote-Token",
              status == 200 and remote and remote == (listed or [{}])[0].get("id"), (status, remote))
        p.click(css="#tokens button[aria-label='Revoke Backup script']")
        p.wait.until(EC.alert_is_present()).dismiss()
        check("revoking not confirmed keeps the token", len(token_items(driver)) == 1 and verify(token)[0] == 200)
        p.click(css="#tokens button[aria-label='Revoke Backup script']")
        p.wait.until(EC.alert_is_present()).accept()
        msg = said(p, "revoked")
        check("revoking a token says so", "Token “Backup script” revoked" in msg, msg)
        p.wait.until(lambda _: not token_items(driver))
        status, remote = verify(token)
        check("a revoked token is refused by forward auth", status == 401 and remote is None, (status, remote))
        p.collect_log()
        return p.problems
    finally:
        server.stop()


def main(binary):
    try:
        server = serve(binary)
    except RuntimeError as err:
        sys.exit(f"server did not start: {err}")
    base = server.public
    driver = browser()
    p = Page(driver, base)
    try:
        driver.get(base + "/")
        p.visible("signin")
        p.shot("01-sign-in")
        check("the sign-in form has its labels", all(
            driver.find_element(By.CSS_SELECTOR, f"label[for={f}]") for f in ("username", "password")))

        p.sign_in("not the password")
        msg = p.message()
        check("a wrong password is explained", "Wrong username or password" in msg, msg)
        p.shot("02-wrong-password")

        p.sign_in()
        p.visible("account")
        check("password sign-in shows the account", p.el("who").text == "admin", p.el("who").text)
        p.shot("03-signed-in")

        p.click("enroll-start")
        p.visible("enroll")
        p.wait.until(lambda _: p.el("qr").get_attribute("naturalWidth") not in (None, "0"))
        secret = p.el("secret").text.replace(" ", "")
        check("enrollment shows the QR code and the key", len(secret) == 32, secret)
        p.shot("04-enroll")
        step = int(time.time()) // 30
        p.type("enroll-code", totp(secret, step))
        p.click(css="#enroll button[type=submit]")
        p.visible("codes")
        codes = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#codes-list li")]
        check("confirming shows 10 recovery codes once", len(codes) == 10, codes)
        check("with the 'save these now' warning", "Save these now" in p.el("codes").text)
        p.shot("05-recovery-codes")
        p.click("codes-done")
        check("the codes are gone once saved", not driver.find_elements(By.CSS_SELECTOR, "#codes-list li"))

        p.click("signout")
        p.visible("signin")
        check("signing out returns to the sign-in form", "signed out" in p.message())

        p.sign_in()
        p.visible("mfa")
        code_field = p.el("code")
        check("the code field asks for a numeric one-time code",
              code_field.get_attribute("inputmode") == "numeric"
              and code_field.get_attribute("autocomplete") == "one-time-code")
        p.shot("06-second-factor")
        p.type("code", totp(secret, step + 1))
        p.click(css="#mfa button[type=submit]")
        p.visible("account")
        check("password + code signs in", "Two-factor authentication is on" in p.el("factor-status").text)
        p.click("signout")
        p.visible("signin")

        p.sign_in()
        p.visible("mfa")
        p.click("mfa-switch")
        p.type("recovery-code", codes[0].lower())
        p.shot("07-recovery-code")
        p.click(css="#mfa button[type=submit]")
        p.visible("account")
        check("a recovery code signs in", "9 recovery codes left" in p.el("factor-status").text,
              p.el("factor-status").text)

        # Another session, made over the API with a second recovery code.
        other = second_session(base, codes[1])
        p.collect_log()
        driver.refresh()
        p.visible("account")
        p.wait.until(lambda _: len(driver.find_elements(By.CSS_SELECTOR, "#sessions li")) == 2)
        check("the session list marks this device",
              len(driver.find_elements(By.CSS_SELECTOR, "#sessions .badge")) == 1)
        driver.execute_script("arguments[0].scrollIntoView()", p.el("sessions"))
        p.shot("08-sessions")
        p.click(css="#sessions button")
        p.wait.until(lambda _: len(driver.find_elements(By.CSS_SELECTOR, "#sessions li")) == 1)
        check("revoking another session ends it at once", api(base, "/auth/me", token=other)[0] == 401)

        # "Sign out everywhere" ends the other sessions and this one.
        other = second_session(base, codes[3])
        p.click("signout-all")
        p.visible("signin")
        check("sign out everywhere says so", "signed out everywhere" in p.message(), p.message())
        check("sign out everywhere ends the other sessions", api(base, "/auth/me", token=other)[0] == 401)
        allowed = base + "/health"
        p.collect_log()
        driver.get(base + "/?rd=" + urllib.parse.quote(allowed, safe=""))
        p.sign_in()
        p.visible("mfa")
        p.click("mfa-switch")
        p.type("recovery-code", codes[2])
        p.click(css="#mfa button[type=submit]")
        p.wait.until(lambda _: driver.current_url == allowed)
        check("an allowed rd is followed after login", driver.current_url == allowed, driver.current_url)

        driver.get(base + "/")  # back from the JSON page before the next check
        p.collect_log()
        driver.get(base + "/?rd=" + urllib.parse.quote("https://evil.example/", safe=""))
        p.visible("account")
        time.sleep(0.3)  # give a (wrong) redirect the chance to happen
        check("a foreign rd is refused", driver.current_url.startswith(base), driver.current_url)
        p.collect_log()

        p.problems += reauth_check(driver, binary)
        p.problems += remember_and_two_factor_check(driver, binary)
        p.problems += passkey_check(driver, binary)
        p.problems += oidc_check(driver, binary)
        p.problems += tokens_check(driver, binary)

        files = [Path("static") / f for f in ("index.html", "app.js", "style.css")] + sorted(Path("static/js").glob("*.js"))
        size = sum(f.stat().st_size for f in files)
        check(f"the page weighs {size} bytes, well under 64 KB", size < 64_000)
        check("no script errors or CSP violations in the browser log", not p.problems, p.problems)
    except Exception as err:  # a broken step: report it with a screenshot
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "failure.png"))
        check("the walk-through completed", False, repr(err))
    finally:
        driver.quit()
        server.stop()
    return check.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/debug/soloauth"))
