// Signing in: the password, then (when the server answers mfa_required) a
// code from the authenticator app, a recovery code or a passkey; or a
// passkey alone. Then back to the app that sent the browser here (an
// allowed `rd`), or on to the account.

import { call, send } from "./api.js";
import { $, busy, say, show, showError } from "./ui.js";
import * as passkey from "./webauthn.js";
import { appName, cookieProblem, cookiesKept, domainCookieKept, meetsNeed, needFactor, needPasskey, returnTo } from "./page.js";
import { loadAccount } from "./account.js";

// The password step's token, for the second step.
let mfaToken = null;
const usingRecovery = () => !$("mfa-recovery").hidden;

$("passkey-signin").hidden = !passkey.supported;
$("mfa-passkey").hidden = !passkey.supported;

// An app needs a passkey: "Sign in with a passkey" comes first, the
// password (then a passkey at the code step) after it.
if (needPasskey && passkey.supported) {
  $("signin").classList.add("passkey-first");
  $("signin").querySelector("h2").after($("passkey-signin"));
  $("passkey-login").classList.remove("secondary");
  $("signin").querySelector("button[type=submit]").classList.add("secondary");
}

// Signed in (just now, or already when the page opened): back to the app,
// or the account; or, if the browser did not keep the cookies, why.
export async function signedIn(justSignedIn = false) {
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

$("signin").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    say("");
    const result = await send("/auth/login", "POST", {
      username: $("username").value,
      password: $("password").value,
      remember: $("remember").checked,
    });
    $("password").value = "";
    if (result.ok) return signedIn(true);
    if (result.error === "mfa_required") {
      mfaToken = result.data.mfa_token;
      show("mfa");
      if (needPasskey && passkey.supported) say(`${appName} needs a sign-in with a passkey: use your passkey instead of a code.`);
      return;
    }
    showError(result, { focus: "password" });
  });
});

$("mfa-switch").addEventListener("click", () => {
  const recovery = !usingRecovery();
  $("mfa-totp").hidden = recovery;
  $("mfa-recovery").hidden = !recovery;
  $("mfa-switch").textContent = recovery ? "Use the authenticator app instead" : "Use a recovery code instead";
  $(recovery ? "recovery-code" : "code").focus();
});

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
