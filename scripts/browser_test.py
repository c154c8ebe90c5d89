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
refusal; then an app whose rule needs a passkey (AUTH_RULES, at
vault.test.localhost): its screen adds a passkey in place, signs in again
with it (the passkey first on the sign-in card) and goes on to the app;
then passkeys with Chrome's virtual authenticator: add, rename,
remove, sign in with one alone and as the second step, a cancelled ceremony,
the page's own JSON conversion, and no passkey controls without WebAuthn;
then "Sign in with soloauth" from a small test app (scripts/oidc_test_app.py):
soloauth's sign-in form, back to the app greeted by name, the Apps card
(add an app, its secret shown once, remove it), and the app's "Sign out";
then the API tokens card: make one, shown once and copied, forward auth
taking it as Bearer until it is revoked from the page; then a passkey as
the second factor with TOTP off, password sign-in turned off (the passkey
first, "Lost every passkey?": the password and a recovery code) and back
on, and an OIDC app that requires a passkey; then the account
page with everything set up (TOTP, a passkey, two apps, a token, three
sessions, more than a page of activity): the overview first and the
sections as tabs, their heights at desktop and phone width, sessions and
activity in words, and the contrast of every text and focus ring in the
light and the dark scheme (computed from the rendered colours, here and on
the sign-in, code, two-factor-needed, passkey-needed and OIDC pages).
Screenshots of each screen, desktop and
phone width, go to target/screenshots/ (dashboard-*.png: the ones
docs/screenshots/ keeps). Fails on any script error or CSP
violation in the browser log.

The page must be served from the origin in AUTH_PUBLIC_URL (the server checks
`Origin` against it), so the browser goes through a loopback relay whose port
is bound before the server starts; the server binds a port of its own
choosing (scripts/harness.py: start_server(relay=True)). No free-port race.

    python3 scripts/browser_test.py target/debug/soloauth
"""

import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import shutil
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
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select
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

    def tab(self, name):
        """Shows the account's section `name` (security, apps, tokens, sessions, activity)."""
        self.click(f"tab-{name}")
        return self.visible(f"panel-{name}")

    def open(self, details):
        """Opens the add-form `details` (e.g. passkey-add-details) unless it is open."""
        if not self.visible(details).get_attribute("open"):
            self.click(css=f"#{details} > summary")


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
            p.open("passkey-add-details")
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
                  " added" in msg and len(passkey_items(driver)) == 1 and p.el("passkey-add-details").is_displayed(), msg)
            check("a passkey not backed up is not marked 'synced'", "synced" not in p.el("passkeys").text)
        finally:
            driver.remove_virtual_authenticator()
        # And adding an app ("Sign in with soloauth").
        p.tab("apps")
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
        # And turning password sign-in off; with it off, the password cannot
        # confirm turning it back on: a new passkey sign-in can.
        p.tab("security")
        p.click("password-login")
        p.visible("password-login-reauth")
        check("an old sign-in is asked for the password before turning password sign-in off",
              not p.el("password-login-area").is_displayed() and p.el("password-login").is_selected())
        p.type("password-login-reauth-password", PASSWORD)
        p.click(css="#password-login-reauth button[type=submit]")
        msg = said(p, "Password sign-in is off")
        p.wait.until(lambda _: p.el("password-login-area").is_displayed() and not p.el("password-login").is_selected())
        check("the right password turns it off", msg == "Password sign-in is off: from now on, sign in with a passkey.", msg)
        p.click("password-login")
        msg = said(p, "a while ago")
        check("with it off, turning it back on asks for a new passkey sign-in, not the password",
              "sign in again with your passkey" in msg and "turn password sign-in on" in msg
              and not p.el("password-login-reauth").is_displayed() and not p.el("password-login").is_selected(), msg)
        p.tab("tokens")
        p.open("token-add-details")
        p.type("token-name", "Backup")
        p.click(css="#token-add button[type=submit]")
        msg = said(p, "make a token")
        check("and so do the other sensitive actions (making a token)",
              "to make a token, sign out and sign in again with your passkey" in msg
              and not p.el("token-reauth").is_displayed() and not token_items(driver), msg)
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


def same_card(driver, a, b):
    """Whether the elements `a` and `b` are in the same card."""
    return driver.execute_script(
        "return document.getElementById(arguments[0]).closest('.card') === document.getElementById(arguments[1]).closest('.card')",
        a, b)


# Every text shown against its effective background (the backgrounds behind
# it, blended), and every focus ring (:focus-visible, as the keyboard shows
# it) against what is around it: the WCAG contrast ratio of the
# rendered colours. Answers what falls short: text under 4.5:1, a logo or
# focus ring under 3:1.
CONTRAST_JS = """
const rgba = (c) => { const m = /rgba?\\(([^)]*)\\)/.exec(c || ''); if (!m) return null;
  const v = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
const over = (top, below) => [0, 1, 2].map((i) => top[i] * top[3] + below[i] * (1 - top[3])).concat(1);
const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
function backdrop(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  return layers.reverse().reduce((below, c) => over(c, below), [255, 255, 255, 1]);
}
const shown = (e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility === 'visible';
const name = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' "' + (e.textContent || e.placeholder || '').trim().slice(0, 30) + '"';
const bad = [];
const test = (e, fg, bg, min, what) => { const r = ratio(over(fg, bg), bg); if (r < min) bad.push(`${what} ${name(e)}: ${r.toFixed(2)}`); };
let texts = 0, rings = 0;
for (const e of document.querySelectorAll('body *')) {
  if (!shown(e) || e.closest('[disabled]')) continue;
  if ([...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) {
    texts++; test(e, rgba(getComputedStyle(e).color), backdrop(e), 4.5, 'text');
  }
  if (e.placeholder && !e.value) test(e, rgba(getComputedStyle(e, '::placeholder').color), backdrop(e), 4.5, 'placeholder');
  if (e.matches('svg.logo')) test(e, rgba(getComputedStyle(e).color), backdrop(e), 3, 'logo');
}
const focusable = [...document.querySelectorAll('a[href], button, input, textarea, summary, [tabindex]')]
  .filter((e) => shown(e) && !e.disabled && e.tabIndex >= 0);
if (document.activeElement) document.activeElement.blur();  // focused by a click, it shows no ring until refocused
for (const e of focusable) {
  e.focus({focusVisible: true});  // as the keyboard focuses it
  if (document.activeElement !== e) continue;
  rings++;
  const s = getComputedStyle(e);
  if (!e.matches(':focus-visible') || s.outlineStyle === 'none' || parseFloat(s.outlineWidth) < 2) { bad.push(`no focus ring on ${name(e)}`); continue; }
  const around = parseFloat(s.outlineOffset) < 0 ? backdrop(e) : backdrop(e.parentElement);
  test(e, rgba(s.outlineColor), around, 3, 'focus ring on');
}
if (document.activeElement) document.activeElement.blur();
window.scrollTo(0, 0);
return {bad, texts, rings};
"""


def color_scheme(driver, scheme):
    """Emulates prefers-color-scheme `scheme` ("light", "dark"; "" for the system's)."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})


def contrast_checks(p, where):
    """Checks the contrast of what `where` shows now, in the light and the dark scheme."""
    try:
        for scheme in ("light", "dark"):
            color_scheme(p.d, scheme)
            found = p.d.execute_script(CONTRAST_JS)
            check(f"{where}, {scheme}: {found['texts']} texts at 4.5:1 or more and {found['rings']} focus rings at 3:1",
                  not found["bad"] and found["texts"] and found["rings"], found["bad"])
    finally:
        color_scheme(p.d, "")


def shown_text(driver):
    return driver.find_element(By.TAG_NAME, "body").text


def phone_rows(p, css):
    """At phone width: how many of the buttons `css` show, on how many lines,
    and whether the first (the main action) is as wide as its form."""
    p.d.set_window_size(390, 844)
    try:
        return p.d.execute_script("""
            const shown = [...document.querySelectorAll(arguments[0])].filter((b) => b.getClientRects().length);
            const tops = new Set(shown.map((b) => Math.round(b.getBoundingClientRect().top)));
            const form = shown[0].form.getBoundingClientRect(), first = shown[0].getBoundingClientRect();
            return {buttons: shown.length, rows: tops.size, verify_wide: first.width > form.width * 0.8};""", css)
    finally:
        p.d.set_window_size(1280, 900)


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


def page_amr(driver):
    """The page's session's `amr`, sorted ([] when signed out)."""
    return sorted((page_me(driver) or {}).get("amr", []))


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
        check("with no passkey yet, the code step offers none", not p.el("mfa-passkey").is_displayed())
        p.type("code", totp(secret, int(time.time()) // 30))
        p.click(css="#mfa button[type=submit]")
        p.visible("passkeys-card")
        suggested = p.el("passkey-name").get_attribute("value")
        check("the new passkey's name has a default", suggested.startswith("Passkey"), suggested)
        check("no passkey listed yet", not passkey_items(driver))
        p.open("passkey-add-details")
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

        p.open("passkey-add-details")
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
        amr = page_amr(driver)
        check("a passkey alone signs in, as two factors (amr hwk + mfa)", amr == ["hwk", "mfa"], amr)
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
        amr = page_amr(driver)
        check("the password, then a passkey instead of a code, signs in (amr pwd + hwk)",
              amr == ["hwk", "pwd"], amr)

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
        p.open("passkey-add-details")
        p.type("passkey-name", "Converted by hand")
        p.click(css="#passkey-add button[type=submit]")
        msg = said(p, "added")
        check("without the JSON helpers, adding a passkey works", "“Converted by hand” added" in msg, msg)
        p.click("signout")
        p.visible("signin")
        p.click("passkey-login")
        p.visible("account")
        amr = page_amr(driver)
        check("and signing in with it", amr == ["hwk", "mfa"], amr)
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
        check("and says how to turn it on: its main action sets up an authenticator app, or adds a passkey, in place",
              p.el("enroll-start").is_displayed() and p.el("need-passkey").is_displayed()
              and same_card(driver, "need-2fa", "enroll-start") and same_card(driver, "need-2fa", "need-passkey"), text)
        repeated = [i for i in ("overview", "tab-security", "passkeys-card", "apps-card", "tokens-card", "sessions", "events")
                    if p.el(i).is_displayed()]
        check("and the dashboard does not repeat below the notice", not repeated, repeated)
        check("and does not bounce back to the app", driver.current_url == need, driver.current_url)
        p.shot("10-two-factor-needed")
        contrast_checks(p, "the two-factor-needed screen")
        p.click("enroll-start")
        p.visible("enroll")
        check("setting up the authenticator app happens on that screen", same_card(driver, "need-2fa", "enroll"))
        p.wait.until(lambda _: p.el("qr").get_attribute("naturalWidth") not in (None, "0"))
        secret = p.el("secret").text.replace(" ", "")
        step = int(time.time()) // 30
        p.type("enroll-code", totp(secret, step))
        p.click(css="#enroll button[type=submit]")
        p.visible("codes")
        check("the recovery codes show on that screen, before signing in again",
              same_card(driver, "need-2fa", "codes") and not p.el("need-signout").is_displayed())
        said_on = shown_text(driver).count("Two-factor authentication is on")
        check("and do not come with 'Two-factor authentication is on' three times", said_on <= 1, said_on)
        p.shot("10-two-factor-needed-codes")
        p.click("codes-done")
        again = p.visible("need-signout")
        check("with two-factor on, the main action is to sign in again with a code or a passkey",
              again.text == "Sign in again with your code or passkey" and not p.el("enroll-start").is_displayed(),
              again.text)
        p.shot("10-two-factor-needed-then-on")
        p.click("need-signout")
        p.visible("signin")
        driver.get(need)
        p.visible("signin")
        msg = p.message()
        check("signed out, the page says a second factor is needed", "needs a sign-in with a second factor" in msg, msg)
        p.shot("11-two-factor-needed-signed-out")
        p.sign_in()
        p.type("code", totp(secret, step + 1))
        p.click(css="#mfa button[type=submit]")
        p.wait.until(lambda _: driver.current_url == app)
        check("signed in again with a code, the page goes on to the app", driver.current_url == app, driver.current_url)
        p.collect_log()
        return p.problems
    finally:
        server.stop()


def verify_vault(server, driver, vault):
    """What /auth/verify answers a proxy (trusted: 127.0.0.1) asking for a
    browser's navigation to `vault` with the browser's session cookie:
    (status, Location)."""
    url = urllib.parse.urlsplit(vault)
    cookie = soloauth_cookies(driver).get("soloauth_session", {}).get("value", "")
    status, headers, _ = request(server.base, "GET", "/auth/verify", {
        "Cookie": f"soloauth_session={cookie}", "Accept": "text/html", "X-Forwarded-Proto": url.scheme,
        "X-Forwarded-Host": url.netloc, "X-Forwarded-Uri": url.path})
    return status, headers.get("Location")


def check_fits_phone(driver, id_, description):
    """Checks that at a phone's size the page needs no sideways scrolling and
    the element `id_` (the main action) shows whole, as wide as its card's text."""
    phone_size(driver, True)
    try:
        phone = driver.execute_script("""
            const e = document.getElementById(arguments[0]), r = e.getBoundingClientRect();
            return {scroll: document.documentElement.scrollWidth <= innerWidth, shown: r.width > 0 && r.left >= 0
                    && r.right <= innerWidth, width: Math.round(r.width), window: innerWidth};""", id_)
    finally:
        phone_size(driver, False)
    check(description, phone["scroll"] and phone["shown"], phone)


def passkey_needed_check(driver, binary):
    """An app whose rule needs a passkey (AUTH_RULES `passkey
    vault.test.localhost`, under AUTH_COOKIE_DOMAIN=test.localhost; soloauth
    at auth.test.localhost: Chromium resolves *.localhost to loopback, and
    the relay's port serves the vault's URL too). /auth/verify sends a
    password-only session to the page with need=passkey; the page does not
    bounce back but says the vault needs a passkey and adds one in place,
    then offers to sign in again with it: signed out, the sign-in card puts
    the passkey first, and signing in with it goes on to the vault. A session
    that signed in with a passkey goes on at once."""
    server = serve(binary, relay_host="auth.test.localhost", AUTH_COOKIE_DOMAIN="test.localhost",
                   AUTH_TRUSTED_PROXIES="127.0.0.1", AUTH_RULES="passkey vault.test.localhost")
    base = server.public
    vault = f"http://vault.test.localhost:{urllib.parse.urlsplit(base).port}/health"
    p = Page(driver, base)
    try:
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.add_virtual_authenticator(Authenticator())
        driver.get(base + "/")
        p.sign_in()
        p.visible("account")
        status, need = verify_vault(server, driver, vault)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(need or "").query)
        check("the vault's rule sends a password-only session to the page with rd and need=passkey",
              status == 302 and need.startswith(base + "/?") and query == {"rd": [vault], "need": ["passkey"]},
              (status, need))
        driver.get(need)
        p.visible("need-pk")
        text = p.el("need-pk").text
        check("the page names the app that needs a passkey", "vault.test.localhost" in text
              and "needs a sign-in with a passkey" in text, text)
        check("with no passkey yet, its main action adds one, in place (no authenticator app offered)",
              p.el("need-pk-passkey").is_displayed() and same_card(driver, "need-pk", "need-pk-passkey")
              and "secondary" not in p.el("need-pk-passkey").get_attribute("class")
              and not p.el("need-pk-signout").is_displayed() and not p.el("enroll-start").is_displayed()
              and not p.el("need-2fa").is_displayed(), text)
        repeated = [i for i in ("overview", "tab-security", "passkeys-card", "apps-card", "tokens-card", "sessions", "events")
                    if p.el(i).is_displayed()]
        check("and the dashboard does not repeat below it", not repeated, repeated)
        check("and the page does not bounce back to the vault", driver.current_url == need, driver.current_url)
        check_fits_phone(driver, "need-pk-passkey", "on a phone the passkey-needed screen fits, its main action whole")
        p.shot("27-passkey-needed")
        contrast_checks(p, "the passkey-needed screen")

        p.click("need-pk-passkey")
        msg = said(p, "added")
        again = p.visible("need-pk-signout")
        check("'Add a passkey' there adds one in place, then offers to sign in again with it",
              "Passkey “" in msg and " added" in msg and len(driver.get_credentials()) == 1
              and again.text == "Sign in again with your passkey" and same_card(driver, "need-pk", "need-pk-signout")
              and not p.el("need-pk-passkey").is_displayed() and not p.el("overview").is_displayed(), msg)
        check("still without bouncing back", driver.current_url == need, driver.current_url)
        p.shot("27-passkey-needed-then-added")

        p.click("need-pk-signout")
        p.visible("signin")
        msg = said(p, "Signed out")
        check("signing in again signs this session out and says to use the passkey",
              "Sign in with your passkey" in msg and "vault.test.localhost" in msg and page_me(driver) is None, msg)
        check("keeping rd and need", driver.current_url == need, driver.current_url)
        driver.get(need)
        p.visible("signin")
        msg = p.message()
        check("signed out, the sign-in screen says plainly that the app needs a passkey",
              "vault.test.localhost" in msg and "needs a sign-in with a passkey" in msg, msg)
        first = driver.execute_script(
            "const y = (id) => document.getElementById(id).getBoundingClientRect().top;"
            "return y('passkey-login') < y('username') && y('passkey-login') < y('password');")
        check("and puts 'Sign in with a passkey' first, as its main action",
              first and p.el("passkey-login").is_displayed() and "secondary" not in p.el("passkey-login").get_attribute("class")
              and driver.switch_to.active_element == p.el("passkey-login"))
        check_fits_phone(driver, "passkey-login", "on a phone too")
        p.shot("28-passkey-needed-sign-in")
        contrast_checks(p, "the sign-in screen when an app needs a passkey")

        p.click("passkey-login")
        p.wait.until(lambda _: driver.current_url == vault)
        check("signed in with the passkey, the page goes on to the vault", driver.current_url == vault, driver.current_url)
        status, _ = verify_vault(server, driver, vault)
        check("and the vault's rule lets that session in", status == 200, status)
        driver.get(need)
        p.wait.until(lambda _: driver.current_url == vault)
        check("a session that signed in with a passkey goes on to the vault at once", driver.current_url == vault,
              driver.current_url)
        p.collect_log()
        return p.problems
    finally:
        if driver.virtual_authenticator_id:
            driver.remove_virtual_authenticator()
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
        p.tab("sessions")
        sessions = p.el("sessions").text
        check("the session list says which app this session signed in to", "signed in to: widgets" in sessions,
              sessions)
        p.tab("apps")
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
            driver.find_element(By.CSS_SELECTOR, f"label[for={f}]") for f in ("app-name", "app-redirects", "app-logouts", "app-policy")))

        p.collect_log()
        p.click(css="#app-add-details summary")
        choices = [o.text for o in Select(p.el("app-policy")).options]
        check("the add-app form asks what sign-in the app requires, any sign-in by default",
              p.el("app-policy").get_attribute("value") == "one_factor"
              and choices == ["Any sign-in", "Two factors (a code or a passkey)", "A passkey"]
              and driver.find_element(By.CSS_SELECTOR, "label[for=app-policy]").text == "Sign-in this app requires",
              choices)
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
        check("an app added with the default asks any sign-in, and the list says nothing more",
              [a["policy"] for a in listed if a["client_id"] == client_id] == ["one_factor"]
              and "needs" not in added[0].text, listed)
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
        p.tab("sessions")
        p.wait.until(lambda _: "Photos" in p.el("sessions").text)
        check("the session list names both apps", "signed in to: Photos, widgets" in p.el("sessions").text,
              p.el("sessions").text)

        # Removing the app ends its sign-in.
        access = photos.last["tokens"]["access_token"]
        check("the added app's access token works before", photos.userinfo(access)[0] == 200)
        p.tab("apps")
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
        p.tab("sessions")
        p.wait.until(lambda _: "Photos" not in p.el("sessions").text)
        check("and the session list no longer names it", "signed in to: widgets" in p.el("sessions").text,
              p.el("sessions").text)
        p.collect_log()

        # An app that requires a passkey: chosen in the form, sent as policy, shown in the list.
        p.tab("apps")
        p.click(css="#app-add-details summary")
        p.type("app-name", "Vault")
        p.type("app-redirects", "https://vault.example.com/callback")
        Select(p.el("app-policy")).select_by_visible_text("A passkey")
        p.click(css="#app-add button[type=submit]")
        p.visible("app-created")
        vault_id = p.el("app-created-id").text
        p.click("app-created-done")
        p.wait.until(lambda _: len(app_items(driver)) == 2)
        vault = [i.text for i in app_items(driver) if "Vault" in i.text]
        listed = page_json(driver, "/auth/oidc/clients") or []
        check("an app added with 'A passkey' requires a passkey, and the list says so",
              [a["policy"] for a in listed if a["client_id"] == vault_id] == ["passkey"]
              and vault and "needs a passkey" in vault[0] and vault_id in vault[0], (vault, listed))
        p.click(css="#app-add-details summary")
        check("and the form is back to any sign-in", p.el("app-policy").get_attribute("value") == "one_factor",
              p.el("app-policy").get_attribute("value"))
        p.click(css="#app-add-details summary")
        p.click(css="#apps button[aria-label='Remove Vault']")
        p.wait.until(EC.alert_is_present()).accept()
        p.wait.until(lambda _: len(app_items(driver)) == 1)
        p.collect_log()

        oidc_pages_check(p, base)

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


def apart(driver, a, b):
    """The gap in px between the boxes of the elements (CSS selectors) `a` and `b`
    (the larger of the horizontal and the vertical one; negative when they overlap)."""
    return driver.execute_script(
        "const [a, b] = [arguments[0], arguments[1]].map((s) => document.querySelector(s).getBoundingClientRect());"
        "return Math.max(b.left - a.right, a.left - b.right, b.top - a.bottom, a.top - b.bottom);", a, b)


def oidc_pages_check(p, base):
    """The OIDC provider's own pages (signed in): the error pages show what
    the app sent and the way back; "Sign out of soloauth?" and the consent
    page keep their two actions apart; all share the page's stylesheet and
    logo, readable in both colour schemes."""
    d = p.d
    d.get(base + "/oidc/authorize?response_type=code")
    back = p.visible("back")
    check("an OIDC error page says what is wrong and links back to the account page",
          "sent no client_id" in d.find_element(By.TAG_NAME, "main").text and back.get_attribute("href") == base + "/")
    contrast_checks(p, "the OIDC error page")
    sent = "https://evil.example/cb?a=1&b=<i>x</i>"
    d.get(base + "/oidc/authorize?" + urllib.parse.urlencode(
        {"client_id": "widgets-test", "response_type": "code", "scope": "openid", "redirect_uri": sent}))
    shown = p.visible("sent-redirect-uri").text
    check("the redirect-URI error page shows the URI the app sent, as text, and the way back",
          shown == sent and not d.find_elements(By.CSS_SELECTOR, "main i") and p.el("back").is_displayed(), shown)
    phone_size(d, True)
    wide = d.execute_script("return document.documentElement.scrollWidth - innerWidth")
    phone_size(d, False)
    check("on a phone, the long names there wrap: nothing scrolls sideways", wide <= 0, wide)
    p.shot("24-oidc-error")
    contrast_checks(p, "the OIDC redirect-URI error page")
    p.collect_log(also=(400,))  # the error pages' status

    d.get(base + "/oidc/logout")
    p.visible("logout-confirm")
    gap = apart(d, "#logout-confirm", "#logout-form a")
    check("'Sign out of soloauth?': its two actions do not touch, the link is styled as an action",
          gap >= 8 and "button" in p.d.find_element(By.CSS_SELECTOR, "#logout-form a").get_attribute("class"), gap)
    check("the OIDC pages have the page's logo", d.find_elements(By.CSS_SELECTOR, "h1 svg.logo"))
    p.shot("25-oidc-logout")
    contrast_checks(p, "the OIDC sign-out page")

    verifier = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    made = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/auth/oidc/clients', {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify({name: 'Desk app', redirect_uris: ['http://127.0.0.1:9/callback'], public: true})})"
        ".then((r) => r.json()).then(done, (e) => done(String(e)));")
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    d.get(base + "/oidc/authorize?" + urllib.parse.urlencode(
        {"client_id": made.get("client_id", ""), "response_type": "code", "scope": "openid", "state": "s",
         "redirect_uri": "http://127.0.0.1:9/callback", "code_challenge": challenge, "code_challenge_method": "S256"}))
    p.visible("consent-allow")
    gap = apart(d, "#consent-allow", "#consent-deny")
    check("the consent page's two actions do not touch", gap >= 8, gap)
    p.shot("26-oidc-consent")
    contrast_checks(p, "the OIDC consent page")
    d.get(base + "/")
    p.visible("account")
    p.tab("apps")
    p.wait.until(lambda _: len(app_items(d)) == 2)
    p.click(css="#apps button[aria-label='Remove Desk app']")
    p.wait.until(EC.alert_is_present()).accept()
    p.wait.until(lambda _: len(app_items(d)) == 1)


def enroll_totp(p):
    """Sets up the authenticator app from the account page (a recent sign-in:
    no password asked); (its secret, the step its code was for, the recovery codes)."""
    p.tab("security")
    p.click("enroll-start")
    p.visible("enroll")
    p.wait.until(lambda _: p.el("qr").get_attribute("naturalWidth") not in (None, "0"))
    secret = p.el("secret").text.replace(" ", "")
    step = int(time.time()) // 30
    p.type("enroll-code", totp(secret, step))
    p.click(css="#enroll button[type=submit]")
    p.visible("codes")
    codes = [li.text for li in p.d.find_elements(By.CSS_SELECTOR, "#codes-list li")]
    p.click("codes-done")
    return secret, step, codes


def first_on_card(driver, first, *after):
    """Whether the element `first` shows above every element of `after` (ids)."""
    return driver.execute_script(
        "const y = (id) => document.getElementById(id).getBoundingClientRect().top;"
        "return arguments[1].every((id) => y(arguments[0]) < y(id));", first, list(after))


def passwordless_check(driver, binary):
    """A passkey as the second factor, then password sign-in off (issue 28).
    With TOTP off, the Password sign-in switch is disabled until a passkey
    exists, saying why; a passkey added on the account page becomes the step
    after the password: that step shows the passkey alone (no code field),
    which signs in (amr pwd + hwk), and the overview says signing in takes
    the password and a passkey. The switch turns password sign-in off (a
    recent sign-in: no password asked); the last passkey then cannot be
    removed; the password step is refused in plain words with "Sign in with a
    passkey" first, and the passkey alone signs in (amr hwk + mfa). With TOTP
    set up (recovery codes), "Lost every passkey?" takes the password and a
    recovery code in one step (a wrong code is typed again; amr pwd + otp;
    the Activity tab says a code was used), and the switch turns password
    sign-in back on: the code step is as before. Restarted with
    AUTH_PASSWORD_LOGIN=off, the switch is off and disabled, naming it."""
    data = tempfile.mkdtemp(prefix="soloauth-browser.")
    server = serve(binary, data_dir=os.path.join(data, "data"))
    base = server.public
    p = Page(driver, base)
    try:
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.add_virtual_authenticator(Authenticator())
        driver.get(base + "/")
        p.sign_in()
        p.visible("account")
        switch = p.visible("password-login")
        check("before any passkey, the Password sign-in switch is on and disabled, saying why",
              switch.is_selected() and not switch.is_enabled() and switch.get_attribute("role") == "switch"
              and p.el("password-login-says").text.startswith("Add a passkey first"), p.el("password-login-area").text)
        check("and the overview says the password alone signs in",
              p.el("protection").text == "Your password alone: no second factor", p.el("protection").text)

        # (a) A passkey, with TOTP off: the second factor.
        p.open("passkey-add-details")
        p.type("passkey-name", "Laptop")
        p.click(css="#passkey-add button[type=submit]")
        msg = said(p, "added")
        p.wait.until(lambda _: p.el("password-login").is_enabled())
        takes = p.el("protection").text
        check("with a passkey and no authenticator app, the overview says signing in takes the password and a passkey",
              "“Laptop” added" in msg and takes == "Your password and a passkey", (msg, takes))
        lost = p.el("password-login-lost")
        check("the switch can be turned off now; beside it, with no recovery code, the way back is the server's shell",
              switch.is_selected() and p.el("password-login-says").text.startswith("On: ")
              and lost.text.startswith("Lost every passkey? With no recovery code left")
              and "soloauth reset-passkeys" in lost.text and "warning" in lost.get_attribute("class"), lost.text)
        check_fits_phone(driver, "password-login-area", "on a phone the switch and its words fit")
        driver.execute_script("arguments[0].scrollIntoView()", p.el("passkeys-card"))
        p.shot("29-password-sign-in-switch")
        contrast_checks(p, "the passkeys card with the Password sign-in switch")

        p.click("signout")
        p.visible("signin")
        p.sign_in()
        go = p.visible("mfa-key-go")
        check("with TOTP off, the password step asks for the passkey: no code field, the passkey the main action",
              not p.el("code").is_displayed() and not p.el("mfa-verify").is_displayed()
              and not p.el("mfa-switch").is_displayed() and not p.el("mfa-passkey").is_displayed()
              and "secondary" not in go.get_attribute("class") and driver.switch_to.active_element == go
              and p.el("mfa").find_element(By.TAG_NAME, "h2").text == "Confirm with your passkey", p.el("mfa").text)
        check_fits_phone(driver, "mfa-key-go", "on a phone the passkey step fits, its main action whole")
        p.shot("30-passkey-second-step")
        contrast_checks(p, "the passkey second step")
        p.click("mfa-key-go")
        p.visible("account")
        amr = page_amr(driver)
        check("the passkey finishes the sign-in (amr pwd + hwk)", amr == ["hwk", "pwd"], amr)
        p.collect_log()

        # (b) Password sign-in off.
        p.click("password-login")
        msg = said(p, "Password sign-in is off")
        p.wait.until(lambda _: not p.el("password-login").is_selected())
        me = page_me(driver) or {}
        check("the switch turns password sign-in off, no password asked after a recent sign-in",
              me.get("password_login") is False and not p.el("password-login-reauth").is_displayed()
              and p.el("password-login-says").text == "Off: only a passkey signs you in.", (msg, me))
        check("the overview says a passkey alone signs in",
              p.el("protection").text == "A passkey (password sign-in is off)", p.el("protection").text)
        p.click(css="#passkeys button[aria-label='Remove Laptop']")
        p.wait.until(EC.alert_is_present()).accept()
        p.wait.until(lambda _: p.el("message").text != msg)
        refused = p.el("message").text
        check("the last passkey cannot be removed while password sign-in is off: the server's reason is shown",
              len(passkey_items(driver)) == 1 and refused and "removed" not in refused, refused)
        p.collect_log()

        p.click("signout")
        p.visible("signin")
        p.sign_in()
        msg = said(p, "Password sign-in is off")
        key = p.visible("passkey-login")
        check("signed out, the password step is refused in plain words",
              msg == "Password sign-in is off for this account: sign in with a passkey.", msg)
        check("and 'Sign in with a passkey' comes first, as the main action, 'Lost every passkey?' after it",
              first_on_card(driver, "passkey-login", "lost-open") and "secondary" not in key.get_attribute("class")
              and not p.el("password").is_displayed() and p.el("lost-open").is_displayed()
              and driver.switch_to.active_element == key, p.el("signin").text)
        check_fits_phone(driver, "passkey-login", "on a phone too")
        p.shot("31-password-sign-in-off")
        contrast_checks(p, "the sign-in screen with password sign-in off")
        p.click("passkey-login")
        p.visible("account")
        amr = page_amr(driver)
        check("the passkey alone signs in (amr hwk + mfa)", amr == ["hwk", "mfa"], amr)

        # (c) The way back: the password and a recovery code.
        secret, step, codes = enroll_totp(p)
        lost = p.el("password-login-lost").text
        check("with recovery codes, the way back is the password and a recovery code",
              lost == "Lost every passkey? Sign in with your password and a recovery code (10 left).", lost)
        p.click("signout")
        p.visible("signin")
        p.sign_in()
        said(p, "Password sign-in is off")
        p.click("lost-open")
        code = p.visible("lost-code")
        msg = p.message()
        submit = driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]")
        check("'Lost every passkey?' asks for the password and a recovery code, saying it uses up the code and alerts",
              p.el("password").is_displayed() and code.is_displayed() and "uses up the code" in msg and "alert" in msg
              and driver.switch_to.active_element == p.el("password"), msg)
        check("that way stays secondary: the passkey first and the main action",
              first_on_card(driver, "passkey-login", "password", "lost-code")
              and "secondary" in submit.get_attribute("class") and submit.text == "Sign in with a recovery code"
              and "secondary" not in p.el("passkey-login").get_attribute("class"), submit.text)
        check_fits_phone(driver, "lost-code", "on a phone it fits")
        p.shot("32-lost-every-passkey")
        contrast_checks(p, "the 'Lost every passkey?' form")
        p.type("password", PASSWORD)
        p.type("lost-code", "AAAAA-BBBBB")
        p.click(css="#signin button[type=submit]")
        msg = said(p, "wrong")
        check("a wrong recovery code is said (as the server says it: password or code), the password kept to check",
              "password or the recovery code is wrong" in msg and p.el("password").get_attribute("value") == PASSWORD
              and driver.switch_to.active_element == p.el("lost-code"), msg)
        p.type("lost-code", codes[0])
        p.click(css="#signin button[type=submit]")
        p.visible("account")
        amr = page_amr(driver)
        check("the password and a recovery code sign in, in one step (amr pwd + otp)", amr == ["otp", "pwd"], amr)
        p.tab("activity")
        p.wait.until(lambda _: "Used a recovery code" in p.el("events").text)
        used = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#events > li") if "recovery code" in li.text]
        check("the Activity tab says a recovery code was used", used and used[0].startswith("Used a recovery code")
              and ": 9 left" in used[0], used)
        p.tab("security")
        p.click("password-login")
        msg = said(p, "on again")
        p.wait.until(lambda _: p.el("password-login").is_selected())
        check("the switch turns password sign-in back on",
              (page_me(driver) or {}).get("password_login") is True
              and p.el("protection").text == "Your password and a code or a passkey", (msg, p.el("protection").text))
        p.collect_log()

        p.click("signout")
        p.visible("signin")
        p.sign_in()
        p.visible("mfa")
        check("with TOTP on, the code step is as before: the code field, a recovery code and a passkey offered",
              p.el("code").is_displayed() and p.el("mfa-switch").is_displayed() and p.el("mfa-passkey").is_displayed()
              and not p.el("mfa-key").is_displayed(), p.el("mfa").text)
        p.type("code", totp(secret, max(step + 1, int(time.time()) // 30)))
        p.click(css="#mfa button[type=submit]")
        p.visible("account")
        p.collect_log()

        # Held off by the environment: the switch says so, and cannot be turned on.
        server.stop()
        server = serve(binary, data_dir=os.path.join(data, "data"), AUTH_PASSWORD_LOGIN="off")
        p = Page(driver, server.public)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.get(server.public + "/")
        p.visible("passkey-login")
        p.click("passkey-login")
        switch = p.visible("password-login")
        p.wait.until(lambda _: p.el("password-login-says").text)
        check("with AUTH_PASSWORD_LOGIN=off, the switch is off and disabled, saying why",
              not switch.is_selected() and not switch.is_enabled()
              and p.el("password-login-says").text == "Off: set by AUTH_PASSWORD_LOGIN=off on the server.",
              p.el("password-login-area").text)
        p.collect_log()
        return p.problems
    finally:
        if driver.virtual_authenticator_id:
            driver.remove_virtual_authenticator()
        server.stop()
        shutil.rmtree(data, ignore_errors=True)


def oidc_passkey_check(driver, binary):
    """An OIDC app that requires a passkey (AUTH_OIDC_CLIENT_VAULT_POLICY=passkey,
    the small test app of scripts/oidc_test_app.py). Signed in with the
    password and a code, its sign-in sends the browser to the login page
    with need=passkey, which offers to sign in again with the passkey;
    signed in with it, the browser goes back to the app with a code, and
    the ID token the app gets at the token endpoint says acr passkey, amr hwk."""
    vault = TestApp("Vault")
    secret = base64.urlsafe_b64encode(os.urandom(24)).decode()
    server = None
    try:
        server = serve(binary, AUTH_OIDC_CLIENT_VAULT_ID="vault-test", AUTH_OIDC_CLIENT_VAULT_SECRET=secret,
                       AUTH_OIDC_CLIENT_VAULT_REDIRECT_URIS=vault.redirect_uri, AUTH_OIDC_CLIENT_VAULT_POLICY="passkey")
        base = server.public
        vault.start(base, "vault-test", secret)
        p = Page(driver, base)
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.add_virtual_authenticator(Authenticator())
        driver.get(base + "/")
        p.sign_in()
        p.visible("account")
        p.open("passkey-add-details")
        p.click(css="#passkey-add button[type=submit]")
        said(p, "added")
        totp_secret, step, _ = enroll_totp(p)
        p.click("signout")
        p.visible("signin")
        p.sign_in()
        p.type("code", totp(totp_secret, max(step + 1, int(time.time()) // 30)))
        p.click(css="#mfa button[type=submit]")
        p.visible("account")
        amr = page_amr(driver)
        check("signed in with the password and a code (amr pwd + otp)", amr == ["otp", "pwd"], amr)

        driver.get(vault.origin + "/")
        p.click("sign-in")
        p.visible("need-pk-signout")
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(driver.current_url).query)
        check("the passkey app's sign-in sends that session to the login page with need=passkey",
              driver.current_url.startswith(base + "/?") and query.get("need") == ["passkey"]
              and query.get("rd", [""])[0].startswith(base + "/oidc/authorize?"), driver.current_url)
        p.click("need-pk-signout")
        p.visible("passkey-login")
        at_app, where = back_at(p, vault, "/callback", lambda: p.click("passkey-login"))
        check("signed in again with the passkey, the browser goes back to the app with a code", at_app, where)
        p.visible("greeting")
        token = vault.last.get("id_token", {})
        check("the ID token the app got at the token endpoint says acr passkey, amr hwk",
              token.get("acr") == "passkey" and "hwk" in token.get("amr", []), vault.last)
        p.collect_log()
        return p.problems
    finally:
        if driver.virtual_authenticator_id:
            driver.remove_virtual_authenticator()
        vault.stop()
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
        p.visible("account")
        p.tab("tokens")
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


IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
# User agents and what the page calls them (static/js/agent.js).
AGENTS = [
    (IPHONE, "Safari on iPhone"),
    (FIREFOX_WINDOWS, "Firefox on Windows"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 OPR/111.0.0.0", "Opera on macOS"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Safari/605.1.15", "Safari on macOS"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36", "Chrome on ChromeOS"),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", "Firefox on Linux"),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 "
     "Mobile/15E148 Safari/604.1", "Chrome on iPad"),
    ("curl/8.5.0", "curl"),
    ("", "Unknown device"),
]


def session_from(base, recovery_code, ip, agent):
    """A session made over the API from `ip` (X-Forwarded-For, believed from
    loopback) with the user agent `agent`; its access token."""
    headers = {"Content-Type": "application/json", "X-Forwarded-For": ip, "User-Agent": agent}

    def post(path, body):
        _, _, raw = request(base, "POST", path, headers, json.dumps(body))
        return json.loads(raw or b"null")

    token = post("/auth/login", {"username": "admin", "password": PASSWORD})["mfa_token"]
    return post("/auth/login/totp", {"mfa_token": token, "recovery_code": recovery_code}).get("access_token")


def wrong_password(base, ip):
    request(base, "POST", "/auth/login", {"Content-Type": "application/json", "X-Forwarded-For": ip},
            json.dumps({"username": "admin", "password": "not it"}))


def page_post(driver, path, body):
    """POST `body` from the page, with its cookies: the status."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0], {method: 'POST', credentials: 'same-origin', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify(arguments[1])}).then((r) => done(r.status), (e) => done(String(e)));", path, body)


def module(driver, name, function):
    """Imports static/js/`name` in the page and answers `function(module)` (JavaScript)."""
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"import('/static/js/{name}').then((m) => done(({function})(m)), (e) => done(`failed: ${{e}}`));")


def audited_kinds():
    """The names of the audited event kinds, from src/auth/events.rs."""
    source = Path("src/auth/events.rs").read_text()
    names = dict(re.findall(r'Kind::(\w+)[^=\n]*=> "(\w+)"', source))
    audited = re.search(r"pub const AUDITED: \[Kind; \d+\] = \[(.*?)\];", source, re.S).group(1)
    return [names[k] for k in re.findall(r"Kind::(\w+)", audited)]


def sizes(driver):
    """The page's height (to the end of its content), the window's and where the overview ends (px)."""
    return driver.execute_script(
        "return {page: Math.ceil(document.querySelector('main').getBoundingClientRect().bottom + scrollY), window: innerHeight,"
        " overview: Math.round(document.getElementById('overview').getBoundingClientRect().bottom + scrollY)}")


def phone_size(driver, on):
    """A phone's screen, 390x844 (overlay scrollbars, touch), or the desktop window back."""
    if on:
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})
    else:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def full_shot(driver, path):
    """A screenshot of the whole page, beyond the window."""
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    path.write_bytes(base64.b64decode(shot["data"]))


def loaded(p, sessions=1):
    """Waits until the account shows `sessions` sessions and some activity."""
    p.visible("account")
    p.wait.until(lambda _: len(p.d.find_elements(By.CSS_SELECTOR, "#sessions > li")) == sessions
                 and p.d.find_elements(By.CSS_SELECTOR, "#events > li"))


def dashboard_check(driver, binary):
    """The account page as the issue describes it: TOTP on, a passkey, two
    apps, a token, three sessions (an iPhone at home, Firefox elsewhere,
    this browser), a lockout and more than a page of activity. The overview
    comes first and fits the first screen; the sections are tabs, two
    columns on a wide screen and one on a phone; sessions and activity read
    in words; every text and focus ring has its contrast in both schemes."""
    server = serve(binary, AUTH_TRUSTED_PROXIES="127.0.0.1")
    base = server.public
    p = Page(driver, base)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.add_virtual_authenticator(Authenticator(synced=True))
        driver.get(base + "/")
        p.visible("signin")
        contrast_checks(p, "the sign-in screen")
        p.sign_in()
        loaded(p)
        empty = sizes(driver)
        phone_size(driver, True)
        empty_phone = sizes(driver)
        phone_size(driver, False)
        print(f"     before anything is set up: {empty['page']} px at 1280x900, {empty_phone['page']} px at 390x844")
        check("before anything is set up, the account fits the first screen on a desktop",
              empty["page"] <= empty["window"], empty)

        # An app that needs a second factor: "Add a passkey" there adds one at once.
        driver.get(base + "/?rd=" + urllib.parse.quote(base + "/health", safe="") + "&need=two_factor")
        p.click("need-passkey")
        msg = said(p, "added")
        again = p.visible("need-signout")
        check("on the two-factor-needed screen, 'Add a passkey' adds one in place, then offers to sign in again",
              "Passkey “Passkey on Linux” added" in msg and same_card(driver, "need-2fa", "need-signout")
              and not p.el("overview").is_displayed(), msg)
        driver.get(base + "/")
        loaded(p)

        # TOTP on, from the page; two apps and a token, as the page asks
        # for them (a recent sign-in: no password asked).
        secret, step, codes = enroll_totp(p)
        for name, uri in [("Photos", "https://photos.example.com/auth/callback"),
                          ("Notes", "https://notes.example.com/oauth/callback")]:
            page_post(driver, "/auth/oidc/clients", {"name": name, "redirect_uris": [uri]})
        page_post(driver, "/auth/tokens", {"name": "Backup script", "hosts": ["files.example.com"]})
        # A wrong password from each of 50 addresses (a second page of
        # activity), five from one (a lockout); two more sessions.
        for i in range(50):
            wrong_password(base, f"10.0.{i // 200}.{i % 200 + 1}")
        for _ in range(5):
            wrong_password(base, "198.51.100.4")
        iphone = session_from(base, codes[0], "192.168.1.23", IPHONE)
        session_from(base, codes[1], "203.0.113.7", FIREFOX_WINDOWS)
        check("two more sessions signed in over the API", iphone)
        driver.refresh()
        loaded(p, sessions=3)

        # The overview.
        p.wait.until(lambda _: p.el("last-signin").text)
        facts = {i: p.el(i).text for i in ("who", "protection", "session-count", "last-signin")}
        check("the overview says who, how the account is protected, the sessions and the last sign-in",
              facts["who"] == "admin" and facts["protection"] == "Your password and a code or a passkey"
              and facts["session-count"] == "This device and 2 others"
              and re.fullmatch(r"Firefox on Windows · 203\.0\.113\.7 · (just now|\d+ min ago)", facts["last-signin"]), facts)
        desktop = {}
        for section in ("security", "apps", "tokens", "sessions", "activity"):
            p.tab(section)
            desktop[section] = sizes(driver)
        p.tab("security")
        print("     set up, at 1280x900: " + ", ".join(f"{k} {v['page']} px" for k, v in desktop.items())
              + f"; the overview ends at {desktop['security']['overview']} px of {desktop['security']['window']}")
        check("the overview fits the first screen", desktop["security"]["overview"] <= desktop["security"]["window"],
              desktop["security"])
        tallest = max(v["page"] for k, v in desktop.items() if k != "activity")
        check(f"set up, every section but the activity is at most {tallest} px tall, far below 2,563 px",
              tallest < 1300, desktop)
        check("a page of activity (50 events) stays under 2,563 px too", desktop["activity"]["page"] < 2563, desktop)
        columns = driver.execute_script(
            "const [a, b] = ['totp-card', 'passkeys-card'].map((id) => document.getElementById(id).getBoundingClientRect());"
            "return a.top === b.top && a.right < b.left;")
        check("on a wide screen, the security section has two columns", columns)
        driver.save_screenshot(str(SHOTS / "dashboard-overview.png"))
        contrast_checks(p, "the security section")
        p.open("passkey-add-details")
        p.click(css="#totp-on details summary")
        check("the add and change forms open there, in place", p.el("passkey-name").is_displayed()
              and p.el("regenerate-code").is_displayed())
        driver.save_screenshot(str(SHOTS / "dashboard-security.png"))
        contrast_checks(p, "the security section's forms")
        p.click(css="#passkey-add-details > summary")
        p.click(css="#totp-on details summary")

        # Tabs with the keyboard.
        p.el("tab-security").send_keys(Keys.ARROW_RIGHT)
        check("the arrow keys move between the tabs",
              p.el("panel-apps").is_displayed() and driver.switch_to.active_element == p.el("tab-apps")
              and p.el("tab-apps").get_attribute("aria-selected") == "true")

        # Apps: the issuer and the discovery URL with copy buttons.
        check("the apps section lists both apps, with the issuer and discovery URL to copy",
              len(app_items(driver)) == 2 and p.el("issuer-copy").is_displayed() and p.el("discovery-copy").is_displayed())
        check("adding an app opens from a button", not p.el("app-add").is_displayed())
        contrast_checks(p, "the apps section")
        p.tab("tokens")
        check("the tokens section lists the token", len(token_items(driver)) == 1 and not p.el("token-add").is_displayed())
        contrast_checks(p, "the tokens section")

        # Sessions in words.
        p.tab("sessions")
        items = driver.find_elements(By.CSS_SELECTOR, "#sessions > li")
        phone_item = [i for i in items if "Safari on iPhone" in i.text]
        text = phone_item[0].text if phone_item else [i.text for i in items]
        check("a session reads 'Safari on iPhone · 192.168.1.23 · active …'",
              phone_item and re.search(r"^Safari on iPhone\n192\.168\.1\.23 · active (just now|\d+ min ago)", text), text)
        full = phone_item[0].find_element(By.CSS_SELECTOR, "details") if phone_item else None
        check("its full user agent is behind a disclosure",
              full is not None and IPHONE not in full.text and full.get_attribute("textContent").endswith(IPHONE))
        driver.save_screenshot(str(SHOTS / "dashboard-sessions.png"))
        stamp = phone_item[0].find_element(By.TAG_NAME, "time") if phone_item else None
        exact = stamp.get_attribute("title") if stamp else ""
        check("its times are <time> elements with the exact time in a title, focusable",
              stamp is not None and stamp.get_attribute("datetime") and exact and stamp.get_attribute("tabindex") == "0")
        if stamp:
            driver.execute_script("arguments[0].focus()", stamp)
            after = driver.execute_script("return getComputedStyle(arguments[0], '::after').content", stamp)
            check("focused, a time shows the exact time", exact in after, after)
        signout = phone_item[0].find_element(By.TAG_NAME, "button") if phone_item else None
        check("the sign-out button's accessible name is short: 'Sign out Safari on iPhone'",
              signout is not None and signout.get_attribute("aria-label") == "Sign out Safari on iPhone",
              signout and signout.get_attribute("aria-label"))
        contrast_checks(p, "the sessions section")
        named = module(driver, "agent.js", "(m) => arguments[0].map(([ua]) => m.device(ua))".replace(
            "arguments[0]", json.dumps(AGENTS)))
        check("user agents are named by the small table (Edge and Opera before Chrome, Chrome before Safari)",
              named == [n for _, n in AGENTS], list(zip(named, [n for _, n in AGENTS])))
        words = module(driver, "time.js", "(m) => { const now = Date.now(), s = now / 1000; return [m.ago(s - 7200, now),"
                       " m.ago(s + 3 * 86400, now), m.ago(s - 5, now), m.ago(s - 120, now),"
                       " m.ago(new Date(now - 86400e3).toISOString(), now)]; }")
        check("times read relative: '2 h ago', 'in 3 days', 'just now'",
              words == ["2 h ago", "in 3 days", "just now", "2 min ago", "1 day ago"], words)

        # Activity in words, paged.
        p.tab("activity")
        events = driver.find_elements(By.CSS_SELECTOR, "#events > li")
        listed = [e.text for e in events]
        lockouts = [e for e in events if e.text.startswith(
            "5 failed attempts from 198.51.100.4: that address is locked for 15 minutes")]
        check("a lockout reads in words, with a badge",
              lockouts and lockouts[0].find_element(By.CLASS_NAME, "badge").text == "lockout", listed[:8])
        check("the activity shows the newest 50 events, and 'Show older'",
              len(events) == 50 and p.el("events-more").is_displayed(), len(events))
        check("a sign-in from a new address says so, with a badge",
              any(t.startswith("Signed in with password and a code from a new address 203.0.113.7 new address")
                  for t in listed), listed[:6])
        check("recovery codes used are counted", any(t.startswith("Used a recovery code from 192.168.1.23: 9 left")
                                                     for t in listed), listed[:8])
        driver.save_screenshot(str(SHOTS / "dashboard-activity.png"))
        contrast_checks(p, "the activity section")
        p.click("events-more")
        p.wait.until(lambda _: len(driver.find_elements(By.CSS_SELECTOR, "#events > li")) > 50)
        older = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#events > li")]
        check("'Show older' asks for 100 and shows the rest, and then has no more to show",
              50 < len(older) < 100 and not p.el("events-more").is_displayed()
              and driver.switch_to.active_element.text == older[50], len(older))
        kinds = audited_kinds()
        described = module(driver, "activity.js", "(m) => " + json.dumps(kinds) + ".map((kind) => m.describe("
                           "{kind, ip: '203.0.113.7', detail: ''})[0])")
        fallback = [k for k, d in zip(kinds, described) if d.startswith(k.replace("_", " "))]
        check(f"every one of the {len(kinds)} audited kinds has words", len(kinds) >= 22 and not fallback, fallback)
        samples = module(driver, "activity.js", "(m) => [m.describe({kind: 'login_success', ip: '203.0.113.7',"
                         " detail: 'amr=hwk,mfa ip=new user_agent=known session=x'}), m.describe({kind: 'lockout',"
                         " ip: '198.51.100.4', detail: 'scope=ip failures=5 minutes=15'}),"
                         " m.describe({kind: 'made_up', ip: '', detail: ''})]")
        check("e.g. 'Signed in with a passkey from a new address 203.0.113.7'; an unknown kind by its name",
              samples == [["Signed in with a passkey from a new address 203.0.113.7", "new address"],
                          ["5 failed attempts from 198.51.100.4: that address is locked for 15 minutes", "lockout"],
                          ["made up"]], samples)

        # A phone: one column, the same overview first.
        p.tab("security")
        phone_size(driver, True)
        phone = sizes(driver)
        stacked = driver.execute_script(
            "const [a, b] = ['totp-card', 'passkeys-card'].map((id) => document.getElementById(id).getBoundingClientRect());"
            "const tabs = document.querySelector('.tabs');"
            "return b.top > a.bottom && tabs.scrollWidth <= tabs.clientWidth && document.documentElement.scrollWidth <= innerWidth;")
        print(f"     set up, at 390x844: security {phone['page']} px; the overview ends at {phone['overview']} px")
        check("on a phone, one column, the five tabs fit and nothing scrolls sideways", stacked)
        check(f"on a phone the set-up account is {phone['page']} px tall, far below 2,966 px", phone["page"] < 1800, phone)
        full_shot(driver, SHOTS / "dashboard-phone.png")
        color_scheme(driver, "dark")
        full_shot(driver, SHOTS / "dashboard-phone-dark.png")
        phone_size(driver, False)
        driver.save_screenshot(str(SHOTS / "dashboard-dark.png"))
        color_scheme(driver, "")

        # The code step, in both schemes.
        p.click("signout")
        p.visible("signin")
        p.sign_in()
        p.visible("mfa")
        contrast_checks(p, "the code step")
        # A step other than the enrollment's (a code works once), in the server's window.
        p.type("code", totp(secret, max(step + 1, int(time.time()) // 30)))
        p.click(css="#mfa button[type=submit]")
        p.visible("account")
        p.collect_log()
        return p.problems
    finally:
        color_scheme(driver, "")
        phone_size(driver, False)
        if driver.virtual_authenticator_id:
            driver.remove_virtual_authenticator()
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
        said_on = shown_text(driver).count("Two-factor authentication is on")
        check("the recovery-codes screen says 'Two-factor authentication is on' once", said_on == 1, said_on)
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
        phone_actions = phone_rows(p, "#mfa button")
        check("on a phone the code step's actions are one wide button and a list, one per line",
              phone_actions["rows"] == phone_actions["buttons"] and phone_actions["verify_wide"], phone_actions)
        # A wrong code keeps the code step (the mfa_token takes 3 tries).
        p.type("code", totp(secret, step + 1000))
        p.click(css="#mfa button[type=submit]")
        msg = said(p, "wrong")
        check("a wrong code is explained and the code step stays",
              "That code is wrong" in msg and p.el("mfa").is_displayed() and not p.el("signin").is_displayed(), msg)
        check("its field is cleared and has the cursor",
              p.el("code").get_attribute("value") == "" and driver.switch_to.active_element == p.el("code"))
        p.shot("06-wrong-code")
        p.type("code", totp(secret, step + 1))
        p.click(css="#mfa button[type=submit]")
        p.wait.until(lambda _: p.el("account").is_displayed() or p.el("signin").is_displayed())
        kept = p.el("account").is_displayed()
        check("then the right code signs in (the mfa_token outlived the wrong one)", kept, p.el("message").text)
        if not kept:  # a server that spends the token on a wrong code: go on from the password
            p.sign_in()
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
        p.tab("sessions")
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
        # The page decides where to go before it loads the account's lists.
        p.wait.until(lambda _: driver.find_elements(By.CSS_SELECTOR, "#sessions li"))
        check("a foreign rd is refused", driver.current_url.startswith(base), driver.current_url)
        p.collect_log()

        p.problems += reauth_check(driver, binary)
        p.problems += remember_and_two_factor_check(driver, binary)
        p.problems += passkey_needed_check(driver, binary)
        p.problems += passkey_check(driver, binary)
        p.problems += oidc_check(driver, binary)
        p.problems += tokens_check(driver, binary)
        p.problems += passwordless_check(driver, binary)
        p.problems += oidc_passkey_check(driver, binary)
        p.problems += dashboard_check(driver, binary)

        files = [Path("static") / f for f in ("index.html", "app.js", "style.css")] + sorted(Path("static/js").glob("*.js"))
        size = sum(f.stat().st_size for f in files)
        packed = len(gzip.compress(b"".join(f.read_bytes() for f in files), 9))
        # 64 KB until the account page grew its overview, tabs, and sessions and activity in words;
        # 84 KB until a passkey became a second factor and password sign-in could be turned off.
        check(f"the page weighs {size} bytes ({packed} gzipped), under 93 KB (27 KB gzipped)",
              size < 93_000 and packed < 27_000)
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
