// Signing in: the password, then (when the server answers mfa_required)
// what its `factors` offer: a code from the authenticator app, a recovery
// code or a passkey; or a passkey alone. With password sign-in off, the
// passkey first, and "Lost every passkey?": the password and a recovery
// code in one step. Then back to the app that sent the browser here (an
// allowed `rd`), or on to the account.

import { call, send } from "./api.js";
import { $, busy, say, show, showError } from "./ui.js";
import * as passkey from "./webauthn.js";
import { appName, cookieProblem, cookiesKept, domainCookieKept, meetsNeed, needFactor, needPasskey, returnTo } from "./page.js";
import { loadAccount } from "./account.js";

// The password step's token, and what the second step accepts.
let mfaToken = null;
let offered = [];
const usingRecovery = () => !$("mfa-recovery").hidden;
const submit = $("signin").querySelector("button[type=submit]");

$("passkey-signin").hidden = !passkey.supported;

// "Sign in with a passkey" first, as the main action, or after the password.
function passkeyFirst(first) {
  $("signin").classList.toggle("passkey-first", first);
  if (first) $("signin").querySelector("h2").after($("passkey-signin"));
  else submit.after($("passkey-signin"));
  $("passkey-login").classList.toggle("secondary", !first);
  submit.classList.toggle("secondary", first);
}

// The sign-in card: "password" (the passkey first when an app needs one);
// "off" (password sign-in is off: the passkey alone, and "Lost every
// passkey?"); "lost" (the password and a recovery code, the passkey still first).
function layout(state) {
  passkeyFirst(state === "password" ? needPasskey && passkey.supported : passkey.supported);
  $("password-fields").hidden = state === "off";
  submit.hidden = state === "off";
  $("lost-open").hidden = state !== "off";
  $("lost").hidden = state !== "lost";
  $("lost-code").required = state === "lost";
  submit.textContent = state === "lost" ? "Sign in with a recovery code" : "Sign in";
}

layout("password");

// Signed in (just now, or already when the page opened): back to the app,
// or the account; or, if the browser did not keep the cookies, why.
export async function signedIn(justSignedIn = false) {
  if (justSignedIn) layout("password");
  // Sent back to an app that cannot see the sign-in, the browser would
  // only come back here: say why instead.
  const toOtherApp = returnTo && new URL(returnTo).host !== window.location.host;
  const kept = justSignedIn ? await cookiesKept() : (toOtherApp && !domainCookieKept() ? "here" : "all");
  if (kept === "none" || (kept === "here" && (!returnTo || toOtherApp))) {
    if (kept === "none") show("signin");
    else await loadAccount();
    say(cookieProblem(kept));
    return;
  }
  if (returnTo) {
    const who = needFactor ? (await call("/auth/me")).data : null;
    if (meetsNeed(who)) {
      window.location.assign(returnTo);
      return;
    }
  }
  await loadAccount();
}

// The password step (with a recovery code: the way back when every passkey
// is lost); resolves to true when password sign-in is off.
async function passwordStep() {
  say("");
  const body = { username: $("username").value, password: $("password").value, remember: $("remember").checked };
  const lost = !$("lost").hidden;
  if (lost) body.recovery_code = $("lost-code").value.trim();
  const result = await send("/auth/login", "POST", body);
  // The way back answers a wrong password and a wrong code alike: both are
  // typed again, the password kept to check.
  const wrongWayBack = lost && ["invalid_code", "invalid_credentials"].includes(result.error);
  if (!wrongWayBack) $("password").value = "";
  $("lost-code").value = "";
  if (result.ok) await signedIn(true);
  else if (result.error === "mfa_required") toSecondStep(result.data);
  else if (wrongWayBack) {
    say("The password or the recovery code is wrong: check both and try again.");
    $("lost-code").focus();
  } else if (result.error !== "password_login_off") showError(result, { focus: "password" });
  return result.error === "password_login_off";
}

$("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!(await busy(event.target, passwordStep))) return;
  // Laid out once busy() gave the buttons back: a disabled one cannot take the cursor.
  layout("off");
  show("signin");
  say(passkey.supported
    ? "Password sign-in is off for this account: sign in with a passkey."
    : "Password sign-in is off for this account, and this browser cannot use passkeys: open this page in one that can.");
});

$("lost-open").addEventListener("click", () => {
  layout("lost");
  say("Lost every passkey? Sign in with your password and a recovery code. This uses up the code, and soloauth sends an alert.");
  $($("username").value ? "password" : "username").focus();
});

// The second step, with what the server accepts: a passkey first when there
// is no authenticator app, or when an app needs a passkey.
function toSecondStep({ mfa_token: token, factors }) {
  offered = factors.filter((f) => f !== "passkey" || passkey.supported);
  const keyFirst = offered.includes("passkey") && (needPasskey || !offered.includes("totp"));
  const way = keyFirst ? "passkey" : offered[0];
  if (!way) {
    say("This account signs in with a passkey, and this browser cannot use passkeys: open this page in one that can.");
    return;
  }
  mfaToken = token;
  shown(way);
  show("mfa");
  if (needPasskey && keyFirst) say(`${appName} needs a sign-in with a passkey.`);
}

// Shows one way of the second step ("totp", "recovery_code" or "passkey"),
// and links to the others the server accepts.
function shown(way) {
  const other = (f) => f !== way && offered.includes(f);
  $("mfa").querySelector("h2").textContent = way === "passkey" ? "Confirm with your passkey" : "Two-factor code";
  $("mfa-key").hidden = way !== "passkey";
  $("mfa-totp").hidden = way !== "totp";
  $("mfa-recovery").hidden = way !== "recovery_code";
  $("mfa-verify").hidden = way === "passkey";
  $("mfa-switch").hidden = !other("recovery_code");
  $("mfa-app").hidden = !other("totp");
  $("mfa-passkey").hidden = !other("passkey");
}

for (const [id, way, field] of [["mfa-switch", "recovery_code", "recovery-code"], ["mfa-app", "totp", "code"]]) {
  $(id).addEventListener("click", () => { shown(way); $(field).focus(); });
}

$("mfa-cancel").addEventListener("click", () => { mfaToken = null; say(""); show("signin"); });

// A wrong code keeps the step (the mfa_token takes a few tries); a spent
// or expired token starts again from the password.
$("mfa").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const field = usingRecovery() ? "recovery-code" : "code";
    const factor = usingRecovery()
      ? { recovery_code: $(field).value }
      : { code: $(field).value.replace(/\s/g, "") };
    const result = await send("/auth/login/totp", "POST", { mfa_token: mfaToken, ...factor });
    $("code").value = "";
    $("recovery-code").value = "";
    if (result.ok) { mfaToken = null; say(""); return signedIn(true); }
    if (result.error === "invalid_code" || result.status === 0) { showError(result, { focus: field }); return; }
    mfaToken = null;
    showError(result, { passkey: result.error === "invalid_token", after: " Sign in again with your password." });
    show("signin");
  });
});

// A passkey sign-in: alone from the sign-in card (no username needed), or
// as the second step after the password (against its mfa_token).
function passkeySignIn(form, secondStep) {
  return busy(form, async () => {
    say("");
    const start = await send("/auth/passkeys/login/start", "POST", secondStep ? { mfa_token: mfaToken } : {});
    // Refused here, the mfa_token stays good unless it had expired.
    if (!start.ok) return refused(start, secondStep && start.error === "invalid_token");
    const got = await passkey.get(start.data.options);
    if (got.failed) { say(got.failed); return; } // nothing was sent: a code may still be typed
    const result = await send("/auth/passkeys/login/finish", "POST", {
      challenge_id: start.data.challenge_id,
      credential: got.answer,
      remember: $("remember").checked,
    });
    if (result.ok) { mfaToken = null; say(""); return signedIn(true); }
    refused(result, secondStep); // an answer spends the mfa_token, right or wrong
  });
}

// Explains a refused passkey sign-in; `over`: the password step's mfa_token
// is spent, so the sign-in starts again from the password.
function refused(result, over) {
  if (over) {
    mfaToken = null;
    show("signin");
  }
  showError(result, { passkey: true, after: over ? " Sign in again." : "" });
}

$("passkey-login").addEventListener("click", () => passkeySignIn($("signin"), false));
$("mfa-passkey").addEventListener("click", () => passkeySignIn($("mfa"), true));
$("mfa-key-go").addEventListener("click", () => passkeySignIn($("mfa"), true));
