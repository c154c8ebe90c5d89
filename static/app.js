// soloauth login page: sign in (password, then a TOTP or recovery code),
// return to an allowed `rd`, manage two-factor and sessions. Tokens live only
// in the server's HttpOnly cookies; this script never sees or stores them.
"use strict";

const $ = (id) => document.getElementById(id);
// Set by the server, only for an allowed target (src/http/api/page.rs).
const rdMeta = document.querySelector('meta[name="soloauth-rd"]');
const returnTo = rdMeta ? rdMeta.content : null;
// Set by /auth/verify when an app's rule needs a second factor this
// session lacks: explain instead of bouncing back to the app.
const needTwoFactor = new URLSearchParams(window.location.search).get("need") === "two_factor";
const appName = returnTo ? new URL(returnTo).host : "The app you opened";
let mfaToken = null;
let mfaRecovery = false;
let me = null;

// ---- talking to the server ----------------------------------------------

async function send(path, method, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, options);
  } catch {
    // No answer at all (offline, server down): say so instead of failing silently.
    const message = "Cannot reach the server. Check your connection and try again.";
    return { resp: { ok: false, status: 0, headers: new Headers() }, data: { error: "network", message } };
  }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  return { resp, data };
}

// One refresh at a time, across tabs too (a refresh token works once).
let refreshing = null;
function refreshOnce() {
  const run = async () => (await send("/auth/refresh", "POST", {})).resp.ok;
  if (!refreshing) {
    const locked = navigator.locks ? navigator.locks.request("soloauth-refresh", run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A call with the access cookie; on an expired token, refresh once and retry.
async function call(path, method = "GET", body = undefined) {
  let result = await send(path, method, body);
  if (result.resp.status === 401 && result.data && result.data.error === "invalid_token") {
    if (await refreshOnce()) result = await send(path, method, body);
  }
  return result;
}

// ---- messages and busy buttons --------------------------------------------

function say(text, ok = false) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("ok", ok);
}

function explain({ resp, data }) {
  const code = data && data.error;
  const wait = Number(resp.headers.get("Retry-After") || 0);
  const minutes = Math.max(1, Math.ceil(wait / 60));
  switch (code) {
    case "invalid_credentials": return "Wrong username or password.";
    case "invalid_code": return "That code is wrong, expired or already used.";
    case "account_locked": return `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`;
    case "rate_limited": return `Too many requests. Wait ${wait || 1} second${wait === 1 ? "" : "s"} and try again.`;
    case "busy": return "The server is busy. Try again in a moment.";
    case "invalid_token": return "Your session has ended. Sign in again.";
    default: return (data && data.message) || `Something went wrong (HTTP ${resp.status}).`;
  }
}

// Runs `work` with every button of `form` disabled.
async function busy(form, work) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try { return await work(); } finally { buttons.forEach((b) => { b.disabled = false; }); }
}

function show(view) {
  for (const id of ["signin", "mfa", "account"]) $(id).hidden = id !== view;
  const focus = { signin: "username", mfa: mfaRecovery ? "recovery-code" : "code" }[view];
  if (focus) $(focus).focus();
}

// ---- signing in ------------------------------------------------------------

const hasSecondFactor = (who) => Boolean(who && who.amr && who.amr.some((m) => m === "otp" || m === "hwk"));

async function signedIn() {
  if (returnTo) {
    const who = needTwoFactor ? (await call("/auth/me")).data : null;
    if (!needTwoFactor || hasSecondFactor(who)) {
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
    if (result.resp.ok) return signedIn();
    if (result.data && result.data.error === "mfa_required") {
      mfaToken = result.data.mfa_token;
      return show("mfa");
    }
    say(explain(result));
    $("password").focus();
  });
});

$("mfa-switch").addEventListener("click", () => {
  mfaRecovery = !mfaRecovery;
  $("mfa-totp").hidden = mfaRecovery;
  $("mfa-recovery").hidden = !mfaRecovery;
  $("mfa-switch").textContent = mfaRecovery ? "Use the authenticator app instead" : "Use a recovery code instead";
  $(mfaRecovery ? "recovery-code" : "code").focus();
});

$("mfa-cancel").addEventListener("click", () => { mfaToken = null; say(""); show("signin"); });

$("mfa").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const factor = mfaRecovery
      ? { recovery_code: $("recovery-code").value }
      : { code: $("code").value.replace(/\s/g, "") };
    const result = await send("/auth/login/totp", "POST", { mfa_token: mfaToken, ...factor });
    mfaToken = null; // good for one try, right or wrong
    $("code").value = "";
    $("recovery-code").value = "";
    if (result.resp.ok) { say(""); return signedIn(); }
    say(`${explain(result)} Sign in again.`);
    show("signin");
  });
});

// ---- the signed-in view ----------------------------------------------------

async function loadAccount() {
  const result = await call("/auth/me");
  if (!result.resp.ok) { show("signin"); return; }
  me = result.data;
  $("who").textContent = me.username;
  const n = me.recovery_codes_remaining;
  $("factor-status").textContent = me.totp_enabled
    ? `Two-factor authentication is on. ${n} recovery code${n === 1 ? "" : "s"} left.`
    : "Two-factor authentication is off.";
  $("totp-off").hidden = me.totp_enabled;
  $("totp-on").hidden = !me.totp_enabled;
  $("enroll").hidden = true;
  $("reauth").hidden = true;
  const lacking = needTwoFactor && !hasSecondFactor(me);
  $("need-2fa").hidden = !lacking;
  $("need-app").textContent = appName;
  $("need-enable").hidden = me.totp_enabled;
  $("need-again").hidden = !me.totp_enabled;
  show("account");
  await loadSessions();
}

function describe(session) {
  const when = (t) => new Date(t).toLocaleString();
  return `${session.ip || "unknown address"} · ${session.user_agent || "unknown device"} · since ${when(session.created_at)} · last seen ${when(session.last_seen_at)}`;
}

async function loadSessions() {
  const result = await call("/auth/sessions");
  const list = $("sessions");
  list.replaceChildren();
  if (!result.resp.ok) return;
  for (const session of result.data) {
    const item = document.createElement("li");
    const title = document.createElement("div");
    title.textContent = session.current ? "This device" : "Another device";
    if (session.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "current";
      title.append(badge);
    }
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = describe(session);
    item.append(title, meta);
    if (!session.current) {
      const revoke = document.createElement("button");
      revoke.type = "button";
      revoke.className = "secondary";
      revoke.textContent = "Sign out this device";
      revoke.setAttribute("aria-label", `Sign out ${describe(session)}`);
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        const r = await call(`/auth/sessions/${encodeURIComponent(session.id)}`, "DELETE");
        if (!r.resp.ok) say(explain(r));
        await loadSessions();
      });
      item.append(revoke);
    }
    list.append(item);
  }
}

// Signs this device out; says so only when the server confirmed it (or
// the session had already ended).
async function signOut(done = "You are signed out.") {
  const result = await call("/auth/logout", "POST");
  const ended = result.resp.ok || (result.data && result.data.error === "invalid_token");
  if (!ended) { say(`Signing out failed: ${explain(result)}`); return; }
  me = null;
  say(done, true);
  show("signin");
}

$("signout").addEventListener("click", () => signOut());
$("need-signout").addEventListener("click", () => signOut("Signed out. Sign in again with your password and a code."));

$("signout-all").addEventListener("click", async () => {
  const result = await call("/auth/sessions", "DELETE");
  if (!result.resp.ok) { say(`Signing out the other devices failed: ${explain(result)}`); return; }
  await signOut("You are signed out everywhere.");
});

// ---- two-factor management -------------------------------------------------

// Starts an enrollment. A session that signed in a while ago must confirm
// the password first (the server answers reauth_required): a stolen cookie
// alone cannot add a second factor.
async function startEnrollment(password) {
  const result = await call("/auth/totp/setup", "POST", password === undefined ? undefined : { password });
  if (result.data && result.data.error === "reauth_required") {
    say("");
    $("totp-off").hidden = true;
    $("reauth").hidden = false;
    $("reauth-password").focus();
    return;
  }
  if (!result.resp.ok) { say(explain(result)); return; }
  say("");
  $("qr").src = result.data.qr_png;
  $("secret").textContent = result.data.secret.replace(/(.{4})/g, "$1 ").trim();
  $("totp-off").hidden = true;
  $("reauth").hidden = true;
  $("enroll").hidden = false;
  $("enroll-code").focus();
}

$("enroll-start").addEventListener("click", () => startEnrollment());

$("reauth").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const password = $("reauth-password").value;
    $("reauth-password").value = "";
    await startEnrollment(password);
  });
});

for (const id of ["enroll-cancel", "reauth-cancel"]) {
  $(id).addEventListener("click", () => {
    $("enroll").hidden = true;
    $("reauth").hidden = true;
    $("totp-off").hidden = false;
  });
}

$("enroll").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const result = await call("/auth/totp/confirm", "POST", { code: $("enroll-code").value.replace(/\s/g, "") });
    $("enroll-code").value = "";
    if (!result.resp.ok) { say(explain(result)); return; }
    say("Two-factor authentication is on.", true);
    await loadAccount();
    showCodes(result.data.recovery_codes);
  });
});

$("regenerate").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const result = await call("/auth/recovery-codes", "POST", { code: $("regenerate-code").value.replace(/\s/g, "") });
    $("regenerate-code").value = "";
    if (!result.resp.ok) { say(explain(result)); return; }
    say("New recovery codes made; the old ones no longer work.", true);
    await loadAccount();
    showCodes(result.data.recovery_codes);
  });
});

$("disable").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const result = await call("/auth/totp/disable", "POST", {
      password: $("disable-password").value,
      code: $("disable-code").value.trim(),
    });
    $("disable-password").value = "";
    $("disable-code").value = "";
    if (!result.resp.ok) { say(explain(result)); return; }
    say("Two-factor authentication is off.", true);
    await loadAccount();
  });
});

// ---- recovery codes, shown once ----------------------------------------------

let shownCodes = [];
function showCodes(codes) {
  shownCodes = codes;
  const list = $("codes-list");
  list.replaceChildren(...codes.map((c) => { const li = document.createElement("li"); li.textContent = c; return li; }));
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
  const text = `soloauth recovery codes for ${me ? me.username : "admin"} (${new Date().toISOString()})\n` +
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

// ---- start -------------------------------------------------------------------

(async () => {
  const result = await call("/auth/me");
  if (result.resp.ok) { await signedIn(); return; }
  show("signin");
  if (result.resp.status === 0) say(explain(result));
  else if (needTwoFactor) say(`${appName} needs a sign-in with a second factor: your password, then a code from your authenticator app.`);
})();
