// The signed-in view: who is signed in and with which factors, the notice
// when an app needs a second factor this session lacks, signing out (here or
// everywhere); and loadAccount, which shows it and loads every card.

import { call } from "./api.js";
import { $, onAccountReload, say, show, showError } from "./ui.js";
import { appName, hasSecondFactor, needTwoFactor } from "./page.js";
import { showTotp } from "./totp.js";
import { loadPasskeys } from "./passkeys.js";
import { forgetAppCredentials, loadApps } from "./apps.js";
import { forgetToken, loadTokens } from "./tokens.js";
import { loadSessions } from "./sessions.js";

export async function loadAccount() {
  const result = await call("/auth/me");
  if (!result.ok) { show("signin"); return; }
  const me = result.data;
  $("who").textContent = me.username;
  const n = me.recovery_codes_remaining;
  const keys = me.passkeys || 0;
  const keyText = keys ? ` ${keys} passkey${keys === 1 ? "" : "s"} can sign you in with two factors.` : "";
  if (me.totp_enabled) {
    $("factor-status").textContent = `Two-factor authentication is on. ${n} recovery code${n === 1 ? "" : "s"} left.${keyText}`;
  } else {
    $("factor-status").textContent = keys
      ? `Authenticator-app codes are off: the password alone still signs in.${keyText}`
      : "Two-factor authentication is off.";
  }
  showTotp(me);
  const lacking = needTwoFactor && !hasSecondFactor(me);
  $("need-2fa").hidden = !lacking;
  $("need-app").textContent = appName;
  const hasFactor = me.totp_enabled || keys > 0;
  $("need-enable").hidden = hasFactor;
  $("need-again").hidden = !hasFactor;
  show("account");
  await Promise.all([loadSessions(), loadPasskeys(), loadApps(), loadTokens()]);
}

onAccountReload(loadAccount);

// Signs this device out; says so only when the server confirmed it (or
// the session had already ended).
async function signOut(done = "You are signed out.") {
  const result = await call("/auth/logout", "POST");
  if (!result.ok && result.error !== "invalid_token") {
    showError(result, { before: "Signing out failed: " });
    return;
  }
  forgetAppCredentials();
  forgetToken();
  say(done, true);
  show("signin");
}

$("signout").addEventListener("click", () => signOut());
$("need-signout").addEventListener("click", () => signOut("Signed out. Sign in again with your password and a code."));

$("signout-all").addEventListener("click", async () => {
  const result = await call("/auth/sessions", "DELETE");
  if (!result.ok) { showError(result, { before: "Signing out the other devices failed: " }); return; }
  await signOut("You are signed out everywhere.");
});
