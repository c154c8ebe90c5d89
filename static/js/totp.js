// The two-factor card (an authenticator app: enroll with its QR code, make
// new recovery codes, turn it off) and the recovery codes, shown once.
// After a change the whole account reloads (reloadAccount, which shows this
// card's state through showTotp).

import { call, withPassword } from "./api.js";
import { $, busy, el, reauthPrompt, reloadAccount, say, showError, withReauth } from "./ui.js";

const prompt = reauthPrompt("reauth", "totp-off", "set up an authenticator app");
// The card's password prompt, for what starts from it (a passkey, when an app needs one).
export const setupPrompt = prompt;
let username = null;

// The card as /auth/me describes it (`me`), nothing half done.
export function showTotp(me) {
  username = me.username;
  prompt.close();
  $("totp-off").hidden = me.totp_enabled;
  $("totp-on").hidden = !me.totp_enabled;
  $("enroll").hidden = true;
}

// Starts an enrollment (an old sign-in confirms the password first: a
// stolen cookie alone cannot add a second factor).
async function startEnrollment() {
  const result = await withReauth(prompt, (password) => call("/auth/totp/setup", "POST", withPassword(undefined, password)));
  if (!result) return;
  if (!result.ok) { showError(result); return; }
  say("");
  $("qr").src = result.data.qr_png;
  $("secret").textContent = result.data.secret.replace(/(.{4})/g, "$1 ").trim();
  $("totp-off").hidden = true;
  $("enroll").hidden = false;
  $("enroll-code").focus();
}

$("enroll-start").addEventListener("click", () => startEnrollment());

$("enroll-cancel").addEventListener("click", () => {
  $("enroll").hidden = true;
  $("totp-off").hidden = false;
});

// A form that sends a code and, done, reloads the account (and shows new
// recovery codes when the answer has them).
function onSubmit(id, work) {
  $(id).addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.target, async () => {
      const { result, done } = await work();
      if (!result.ok) { showError(result); return; }
      say(done, true);
      await reloadAccount();
      if (result.data && result.data.recovery_codes) showCodes(result.data.recovery_codes);
    });
  });
}

const code = (id) => $(id).value.replace(/\s/g, "");

onSubmit("enroll", async () => {
  const result = await call("/auth/totp/confirm", "POST", { code: code("enroll-code") });
  $("enroll-code").value = "";
  return { result, done: "Your authenticator app is set up." };
});

onSubmit("regenerate", async () => {
  const result = await call("/auth/recovery-codes", "POST", { code: code("regenerate-code") });
  $("regenerate-code").value = "";
  return { result, done: "New recovery codes made; the old ones no longer work." };
});

onSubmit("disable", async () => {
  const result = await call("/auth/totp/disable", "POST", {
    password: $("disable-password").value,
    code: $("disable-code").value.trim(),
  });
  $("disable-password").value = "";
  $("disable-code").value = "";
  return { result, done: "Authenticator app removed." };
});

// ---- recovery codes, shown once ----------------------------------------------

let shownCodes = [];
function showCodes(codes) {
  shownCodes = codes;
  $("codes-list").replaceChildren(...codes.map((c) => el("li", "", c)));
  $("codes").hidden = false;
  $("codes").focus();
  $("codes").scrollIntoView({ block: "start" });
}

$("codes-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(shownCodes.join("\n"));
    say("Recovery codes copied.", true);
  } catch {
    say("Copying is not allowed here; download them instead.");
  }
});

$("codes-download").addEventListener("click", () => {
  const text = `soloauth recovery codes for ${username || "admin"} (${new Date().toISOString()})\n` +
    "Each code works once.\n\n" + shownCodes.join("\n") + "\n";
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  link.download = "soloauth-recovery-codes.txt";
  link.click();
  URL.revokeObjectURL(link.href);
});

$("codes-done").addEventListener("click", () => {
  shownCodes = [];
  $("codes-list").replaceChildren();
  $("codes").hidden = true;
  say("");
});
