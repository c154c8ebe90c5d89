// The signed-in view: the overview (who, what signing in takes, the
// sessions, the last sign-in), signing out (here or everywhere), and the
// screen shown instead when an app needs a second factor, or a passkey,
// this session lacks; and loadAccount, which shows it and loads every section.

import { call } from "./api.js";
import { $, busy, onAccountReload, plural, say, show, showError } from "./ui.js";
import { appName, meetsNeed, needFactor, needPasskey } from "./page.js";
import { select } from "./tabs.js";
import { setupPrompt, showTotp } from "./totp.js";
import { addPasskey, loadPasskeys, suggestedName } from "./passkeys.js";
import { showPasswordLogin } from "./password-login.js";
import { forgetAppCredentials, loadApps } from "./apps.js";
import { forgetToken, loadTokens } from "./tokens.js";
import { loadSessions } from "./sessions.js";
import { loadActivity } from "./activity.js";
import { timeEl } from "./time.js";
import { device } from "./agent.js";

export async function loadAccount() {
  const result = await call("/auth/me");
  if (!result.ok) { show("signin"); return; }
  const me = result.data;
  $("who").textContent = me.username;
  const keys = me.passkeys || 0;
  const n = me.recovery_codes_remaining;
  const keyText = keys ? ` ${plural(keys, "passkey")} can sign you in with two factors.` : "";
  $("factor-status").textContent = me.totp_enabled
    ? `Two-factor authentication is on. ${plural(n, "recovery code")} left.${keyText}`
    : keys ? `Authenticator-app codes are off: ${keys === 1 ? "your passkey is" : `your ${keys} passkeys are`} the second factor.`
      : "Two-factor authentication is off.";
  $("protection").textContent = signingInTakes(me.factors);
  showTotp(me);
  showPasswordLogin(me);
  // An app needs a second factor, or a passkey: the two-factor card alone,
  // with the need's own screen and its next step.
  const need = needFactor && !meetsNeed(me);
  const hasFactor = me.totp_enabled || keys > 0;
  $("account").classList.toggle("need", need);
  $("account").classList.toggle("need-pk", need && needPasskey);
  $("account").classList.toggle("has-factor", hasFactor);
  $("need-2fa").hidden = !need || needPasskey;
  $("need-pk").hidden = !need || !needPasskey;
  $("need-app").textContent = appName;
  $("need-pk-app").textContent = appName;
  $("need-enable").hidden = hasFactor;
  $("need-again").hidden = !hasFactor;
  $("need-pk-add").hidden = keys > 0;
  $("need-pk-again").hidden = !keys;
  if (need) select("security");
  show("account");
  const [sessions, events] = await Promise.all([loadSessions(), loadActivity(), loadPasskeys(), loadApps(), loadTokens()]);
  $("last-signin").replaceChildren(...lastSignIn(sessions, events));
}

onAccountReload(loadAccount);

// What a sign-in takes now, from /auth/me's `factors` ("Your password and a code or a passkey").
function signingInTakes(factors) {
  if (!factors.includes("password")) return "A passkey (password sign-in is off)";
  const second = [factors.includes("totp") && "a code", factors.includes("passkey") && "a passkey"].filter(Boolean);
  return second.length ? `Your password and ${second.join(" or ")}` : "Your password alone: no second factor";
}

// The newest sign-in of another session ("Safari on iPhone · 192.168.1.23 · 2 h ago"), else this one's.
function lastSignIn(sessions, events) {
  const current = sessions.find((s) => s.current);
  const mine = (e) => current && e.detail.split(" ").includes(`session=${current.id}`);
  const before = events.find((e) => e.kind === "login_success" && !mine(e));
  if (!before) return current ? ["This session, ", timeEl(current.created_at)] : [];
  const session = sessions.find((s) => before.detail.split(" ").includes(`session=${s.id}`));
  return [[session ? device(session.user_agent) : "", before.ip].filter(Boolean).join(" · ") + " · ", timeEl(before.at)];
}

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
$("need-signout").addEventListener("click", () => signOut("Signed out. Sign in with your password and a code, or with a passkey."));
$("need-passkey").addEventListener("click", () => addPasskey(suggestedName(), setupPrompt));
$("need-pk-signout").addEventListener("click", () => signOut(`Signed out. Sign in with your passkey, and you go on to ${appName}.`));
$("need-pk-passkey").addEventListener("click", () => busy($("need-pk"), () => addPasskey(suggestedName(), setupPrompt)));

$("signout-all").addEventListener("click", async () => {
  const result = await call("/auth/sessions", "DELETE");
  if (!result.ok) { showError(result, { before: "Signing out the other devices failed: " }); return; }
  await signOut("You are signed out everywhere.");
});
