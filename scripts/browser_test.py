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
refusal. Screenshots of each screen, desktop and
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
import struct
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from harness import Checks, api, hash_password, start_server

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

    def collect_log(self):
        for entry in self.d.get_log("browser"):
            text = entry["message"]
            # Refused API calls (401/403 while signed out) are logged by Chrome
            # as failed resource loads; they are expected. Script errors and
            # CSP violations are not.
            expected = "Failed to load resource" in text and any(
                f"status of {code}" in text for code in (401, 403, 423, 429))
            if entry["level"] == "SEVERE" and not expected or "Content Security Policy" in text:
                self.problems.append(text)

    def sign_in(self, password=PASSWORD):
        self.type("username", "admin")
        self.type("password", password)
        self.click(css="#signin button[type=submit]")


def reauth_check(driver, binary):
    """With AUTH_REAUTH_SECONDS=0 every sign-in counts as old: enrolling asks
    for the password first, refuses a wrong one, and goes on with the right one."""
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

        size = sum((Path("static") / f).stat().st_size for f in ("index.html", "app.js", "style.css"))
        check(f"the page weighs {size} bytes, well under 50 KB", size < 50_000)
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
