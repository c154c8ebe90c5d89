// The passkeys card's "Password sign-in" switch (off: only a passkey signs
// in, so a leaked password opens nothing), behind a recent sign-in like
// adding a passkey; and what still signs in if every passkey is lost.

import { call, withPassword } from "./api.js";
import { $, passwordCanConfirm, reauthPrompt, reloadAccount, say, showError, withReauth } from "./ui.js";

const toggle = $("password-login");
const prompt = reauthPrompt("password-login-reauth", "password-login-area", "change password sign-in");

// The switch as /auth/me describes the account (`me`).
export function showPasswordLogin(me) {
  prompt.close();
  const on = me.password_login;
  passwordCanConfirm(on);
  toggle.checked = on;
  toggle.disabled = me.password_login_from_env || (on && !me.passkeys);
  $("password-login-says").textContent = me.password_login_from_env ? "Off: set by AUTH_PASSWORD_LOGIN=off on the server."
    : !me.passkeys ? "Add a passkey first: with password sign-in off, only a passkey signs you in."
      : on ? "On: your password and a second factor sign you in. Off: only a passkey does." : "Off: only a passkey signs you in.";
  const lost = $("password-login-lost");
  lost.hidden = !me.passkeys;
  lost.textContent = `Lost every passkey? ${ifLost(me)}`;
  lost.classList.toggle("warning", !me.recovery_codes_remaining && !(on && me.totp_enabled));
}

// What still signs in when every passkey is lost.
function ifLost(me) {
  const n = me.recovery_codes_remaining;
  if (me.password_login && me.totp_enabled) return "Your password and a code from your authenticator app still sign you in.";
  if (n) return `Sign in with your password and a recovery code (${n} left).`;
  return "With no recovery code left, only someone with shell access to the server can let you in: "
    + "soloauth reset-passkeys removes the passkeys and turns password sign-in back on.";
}

toggle.addEventListener("change", async () => {
  const enabled = toggle.checked;
  toggle.checked = !enabled; // until the server agrees
  toggle.disabled = true;
  const result = await withReauth(prompt, (password) => call("/auth/password-login", "PUT", withPassword({ enabled }, password)),
    `turn password sign-in ${enabled ? "on" : "off"}`);
  toggle.disabled = false;
  if (!result) return;
  if (!result.ok) showError(result);
  else say(enabled ? "Password sign-in is on again." : "Password sign-in is off: from now on, sign in with a passkey.", true);
  await reloadAccount();
});
