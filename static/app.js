// soloauth login page: sign in (password, then a TOTP or recovery code or a
// passkey; or a passkey alone), return to an allowed `rd`, manage two-factor,
// passkeys, the apps that sign in with soloauth, API tokens and sessions.
// Session tokens live only in the server's HttpOnly cookies; this script
// never sees or stores them (an API token it shows once, when made).
"use strict";

const $ = (id) => document.getElementById(id);
// Set by the server, only for an allowed target (src/http/api/page.rs).
const rdMeta = document.querySelector('meta[name="soloauth-rd"]');
const returnTo = rdMeta ? rdMeta.content : null;
// Set by the server (src/http/api/page.rs): AUTH_COOKIE_DOMAIN (empty when
// unset: the other apps' sign-in rides on a cookie for that domain) and
// whether the cookies are Secure.
const cookieMeta = document.querySelector('meta[name="soloauth-cookies"]');
const cookieDomain = cookieMeta ? cookieMeta.content : "";
const secureCookies = Boolean(cookieMeta && cookieMeta.dataset.secure === "true");
// Set by /auth/verify when an app's rule needs a second factor this
// session lacks: explain instead of bouncing back to the app.
const needTwoFactor = new URLSearchParams(window.location.search).get("need") === "two_factor";
// Set by the OpenID Connect provider when an app asks for a fresh sign-in
// (prompt=login, max_age): sign in again even if this browser is signed in.
const freshSignIn = new URLSearchParams(window.location.search).get("need") === "fresh_sign_in";
const appName = returnTo ? new URL(returnTo).host : "The app you opened";
let mfaToken = null;
let mfaRecovery = false;
let me = null;
// Passkeys need WebAuthn; without it, no passkey control is shown.
const webauthn = Boolean(window.PublicKeyCredential && navigator.credentials);

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

// The server's own words as a sentence: "no passkey…" -> "No passkey….".
const sentence = (text = "") => text && text[0].toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");

// What a refusal means, in plain words. `passkey`: the answer to a passkey
// ceremony (its invalid_credentials and invalid_token mean other things).
function explain({ resp, data }, passkey = false) {
  const code = data && data.error;
  const wait = Number(resp.headers.get("Retry-After") || 0);
  const minutes = Math.max(1, Math.ceil(wait / 60));
  switch (code) {
    case "invalid_credentials": return passkey ? `The passkey was refused: ${data.message}.` : "Wrong username or password.";
    case "invalid_code": return "That code is wrong, expired or already used.";
    case "account_locked": return `Too many failed attempts. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.`;
    case "rate_limited": return `Too many requests. Wait ${wait || 1} second${wait === 1 ? "" : "s"} and try again.`;
    case "busy": return "The server is busy. Try again in a moment.";
    case "invalid_token": return passkey ? "This sign-in expired or was already used." : "Your session has ended. Sign in again.";
    case "invalid_challenge": return "This passkey request expired or was already used. Try again.";
    case "passkey_already_registered": return "This passkey is already registered here.";
    case "passkeys_unavailable": return sentence(data.message);
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

// Whether the browser keeps a cookie for the other apps' domain. That
// cookie is HttpOnly, so a short-lived one of the same scope stands in for
// it: a browser that refuses one refuses the other.
function domainCookieKept() {
  if (!cookieDomain) return true;
  const scope = `domain=${cookieDomain}; path=/${secureCookies ? "; secure" : ""}`;
  document.cookie = `soloauth_cookie_check=1; ${scope}; max-age=60; samesite=lax`;
  const kept = document.cookie.split("; ").includes("soloauth_cookie_check=1");
  document.cookie = `soloauth_cookie_check=; ${scope}; max-age=0`;
  return kept;
}

// Whether the browser kept what a sign-in set: "all", "here" (this site's
// cookies, not the one for the other apps' domain) or "none".
async function cookiesKept() {
  if (!(await send("/auth/me", "GET")).resp.ok) return "none";
  return domainCookieKept() ? "all" : "here";
}

// Why a sign-in did not stick, for the owner who configured it.
function cookieProblem(kept) {
  const causes = [];
  if (cookieDomain) causes.push(`AUTH_COOKIE_DOMAIN=${cookieDomain} must be a domain you own that holds this site's host (a host name, not an IP address), not a public suffix such as home.arpa`);
  if (secureCookies && window.location.protocol !== "https:") {
    causes.push("soloauth's cookies are Secure: serve it over https (or set AUTH_COOKIE_SECURE=false on a plain-http test install)");
  } else if (secureCookies) {
    causes.push("the cookies are Secure, so every app must be served over https too");
  } else {
    causes.push("the browser may refuse cookies for this site (check its privacy settings), and over https they are kept more reliably");
  }
  const why = causes.join("; and ");
  if (kept === "none") return `You signed in, but this browser kept no sign-in cookie. ${why[0].toUpperCase()}${why.slice(1)}.`;
  return `You are signed in here, but this browser refused the cookie your other apps need, so they cannot see your sign-in. ${why[0].toUpperCase()}${why.slice(1)}.`;
}

async function signedIn(justSignedIn = false) {
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
    if (result.resp.ok) return signedIn(true);
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

// A passkey sign-in: alone from the sign-in card (no username needed), or
// as the second step after the password (against its mfa_token).
function passkeySignIn(form, secondStep) {
  return busy(form, async () => {
    say("");
    const start = await send("/auth/passkeys/login/start", "POST", secondStep ? { mfa_token: mfaToken } : {});
    // Refused here, the mfa_token stays good unless it had expired.
    if (!start.resp.ok) return passkeyRefused(start, secondStep && start.data && start.data.error === "invalid_token");
    const got = await ceremony(() => navigator.credentials.get({ publicKey: requestOptions(start.data.options) }));
    if (got.failed) { say(got.failed); return; } // nothing was sent: a code may still be typed
    const result = await send("/auth/passkeys/login/finish", "POST", {
      challenge_id: start.data.challenge_id,
      credential: answerJSON(got.credential),
      remember: $("remember").checked,
    });
    if (result.resp.ok) { mfaToken = null; say(""); return signedIn(true); }
    passkeyRefused(result, secondStep); // an answer spends the mfa_token, right or wrong
  });
}

// Explains a refused passkey sign-in; `over`: the password step's mfa_token
// is spent, so the sign-in starts again from the password.
function passkeyRefused(result, over) {
  if (!over) { say(explain(result, true)); return; }
  const expired = result.data && result.data.error === "invalid_token";
  mfaToken = null;
  show("signin");
  say(`${expired ? "This sign-in expired or was already used." : explain(result, true)} Sign in again.`);
}

$("passkey-login").addEventListener("click", () => passkeySignIn($("signin"), false));
$("mfa-passkey").addEventListener("click", () => passkeySignIn($("mfa"), true));

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
    if (result.resp.ok) { say(""); return signedIn(true); }
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
  const keys = me.passkeys || 0;
  const keyText = keys ? ` ${keys} passkey${keys === 1 ? "" : "s"} can sign you in with two factors.` : "";
  if (me.totp_enabled) {
    $("factor-status").textContent = `Two-factor authentication is on. ${n} recovery code${n === 1 ? "" : "s"} left.${keyText}`;
  } else {
    $("factor-status").textContent = keys
      ? `Authenticator-app codes are off: the password alone still signs in.${keyText}`
      : "Two-factor authentication is off.";
  }
  $("totp-off").hidden = me.totp_enabled;
  $("totp-on").hidden = !me.totp_enabled;
  $("enroll").hidden = true;
  $("reauth").hidden = true;
  const lacking = needTwoFactor && !hasSecondFactor(me);
  $("need-2fa").hidden = !lacking;
  $("need-app").textContent = appName;
  const hasFactor = me.totp_enabled || keys > 0;
  $("need-enable").hidden = hasFactor;
  $("need-again").hidden = !hasFactor;
  show("account");
  await Promise.all([loadSessions(), loadPasskeys(), loadApps(), loadTokens()]);
}

function describe(session) {
  const when = (t) => new Date(t).toLocaleString();
  const apps = session.apps && session.apps.length ? ` · signed in to: ${session.apps.join(", ")}` : "";
  return `${session.ip || "unknown address"} · ${session.user_agent || "unknown device"} · since ${when(session.created_at)} · last seen ${when(session.last_seen_at)}${apps}`;
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
  forgetAppCredentials();
  forgetToken();
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

// When a sensitive action answered reauth_required: hides `hide` and asks
// for the password in the form `form` (its field is `<form>-password`).
function askPassword(result, hide, form) {
  if (!(result.data && result.data.error === "reauth_required")) return false;
  say("");
  $(hide).hidden = true;
  $(form).hidden = false;
  $(`${form}-password`).focus();
  return true;
}

// Starts an enrollment. A session that signed in a while ago must confirm
// the password first (the server answers reauth_required): a stolen cookie
// alone cannot add a second factor.
async function startEnrollment(password) {
  const result = await call("/auth/totp/setup", "POST", password === undefined ? undefined : { password });
  if (askPassword(result, "totp-off", "reauth")) return;
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

// ---- passkeys (WebAuthn) ---------------------------------------------------------
// The server sends the ceremony options as JSON and takes the browser's answer
// as JSON (`toJSON()`), bytes in base64url. Browsers without the JSON helpers
// get the few byte fields converted here.

const fromB64url = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const toB64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: fromB64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

// The browser's answer (a new passkey or a signature) as JSON.
function answerJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = {};
  for (const field of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (r[field]) response[field] = toB64url(r[field]);
  }
  if (r.getAuthenticatorData) response.authenticatorData = toB64url(r.getAuthenticatorData());
  if (r.getTransports) response.transports = r.getTransports();
  const publicKey = r.getPublicKey && r.getPublicKey();
  if (publicKey) response.publicKey = toB64url(publicKey);
  if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
  return {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment || null,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// Runs the browser's part of a ceremony: { credential }, or { failed: why }
// when the browser gave none (the person cancelled, or it timed out).
async function ceremony(run, adding = false) {
  try {
    return { credential: await run() };
  } catch (err) {
    switch (err.name) {
      case "NotAllowedError": return { failed: adding
        ? "Cancelled — no passkey was added. (The request was dismissed or timed out, or this authenticator cannot make this kind of passkey.)"
        : "Cancelled — no passkey was used. (The request was dismissed or timed out.)" };
      case "InvalidStateError": return { failed: "This authenticator already holds a passkey for this account. Use that one, or add a passkey on another device or security key." };
      case "SecurityError": return { failed: `This address (${location.host}) cannot use this server's passkeys. Open the sign-in page at its usual address.` };
      default: return { failed: `The browser could not use a passkey: ${err.message || err.name}` };
    }
  }
}

// A name for the next passkey, from the device, not yet taken ("Passkey on Mac 2").
function suggestedName(taken) {
  const ua = navigator.userAgent;
  const device = [["iPhone"], ["iPad"], ["Android"], ["Mac"], ["Windows"], ["CrOS", "ChromeOS"], ["Linux"]].find(([key]) => ua.includes(key));
  const base = device ? `Passkey on ${device[1] || device[0]}` : "Passkey";
  let name = base;
  for (let n = 2; taken.includes(name); n++) name = `${base} ${n}`;
  return name;
}

async function loadPasskeys() {
  if (!webauthn) return;
  const result = await call("/auth/passkeys");
  const off = result.data && result.data.error === "passkeys_unavailable";
  $("passkeys-card").hidden = false;
  $("passkeys-off").hidden = !off;
  $("passkeys-off").textContent = off ? sentence(result.data.message) : "";
  $("passkey-add").hidden = off;
  $("passkey-reauth").hidden = true;
  const list = $("passkeys");
  list.replaceChildren();
  if (!result.resp.ok) { if (!off) say(explain(result)); return; }
  for (const passkey of result.data) list.append(passkeyItem(passkey));
  if (!$("passkey-name").value.trim()) $("passkey-name").value = suggestedName(result.data.map((p) => p.name));
}

function passkeyItem(passkey) {
  const item = document.createElement("li");
  const title = document.createElement("div");
  title.className = "name";
  title.textContent = passkey.name;
  if (passkey.backed_up) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "synced";
    badge.title = "Kept in sync by its provider across your devices";
    title.append(badge);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const added = new Date(passkey.created_at).toLocaleDateString();
  const used = passkey.last_used_at ? `last used ${new Date(passkey.last_used_at).toLocaleString()}` : "not used yet";
  meta.textContent = `added ${added} · ${used}`;
  const rename = button("Rename", "secondary", `Rename ${passkey.name}`);
  const remove = button("Remove", "danger", `Remove ${passkey.name}`);
  rename.addEventListener("click", () => item.replaceChildren(renameForm(passkey)));
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Remove the passkey “${passkey.name}”? It will no longer sign you in.`)) return;
    remove.disabled = true;
    const result = await call(`/auth/passkeys/${encodeURIComponent(passkey.id)}`, "DELETE");
    say(result.resp.ok ? `Passkey “${passkey.name}” removed.` : explain(result), result.resp.ok);
    await loadPasskeys();
  });
  const row = document.createElement("div");
  row.className = "row";
  row.append(rename, remove);
  item.append(title, meta, row);
  return item;
}

function button(text, className, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  return b;
}

function renameForm(passkey) {
  const form = document.createElement("form");
  form.className = "rename";
  const label = document.createElement("label");
  label.textContent = `New name for “${passkey.name}”`;
  const input = document.createElement("input");
  Object.assign(input, { value: passkey.name, maxLength: 64, required: true, autocomplete: "off" });
  label.append(input);
  const save = document.createElement("button");
  save.type = "submit";
  save.textContent = "Save";
  const cancel = button("Cancel", "secondary", "Cancel renaming");
  cancel.addEventListener("click", () => loadPasskeys());
  const row = document.createElement("div");
  row.className = "row";
  row.append(save, cancel);
  form.append(label, row);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      const result = await call(`/auth/passkeys/${encodeURIComponent(passkey.id)}`, "PATCH", { name: input.value.trim() });
      if (!result.resp.ok) { say(explain(result)); input.focus(); return; }
      say(`Passkey renamed to “${result.data.name}”.`, true);
      await loadPasskeys();
    });
  });
  queueMicrotask(() => { input.focus(); input.select(); });
  return form;
}

// Adds a passkey. As for TOTP, a session that signed in a while ago must
// confirm the password first (reauth_required).
async function addPasskey(password) {
  const name = $("passkey-name").value.trim();
  if (!name || [...name].length > 64) { say("Give the passkey a name of 1 to 64 characters."); $("passkey-name").focus(); return; }
  const start = await call("/auth/passkeys/register/start", "POST", password === undefined ? undefined : { password });
  if (askPassword(start, "passkey-add", "passkey-reauth")) return;
  if (!start.resp.ok) { say(explain(start)); return; }
  $("passkey-reauth").hidden = true;
  $("passkey-add").hidden = false;
  const made = await ceremony(() => navigator.credentials.create({ publicKey: creationOptions(start.data.options) }), true);
  if (made.failed) { say(made.failed); return; }
  const result = await call("/auth/passkeys/register/finish", "POST", {
    challenge_id: start.data.challenge_id,
    name,
    credential: answerJSON(made.credential),
  });
  if (!result.resp.ok) { say(explain(result, true)); return; }
  $("passkey-name").value = "";
  say(`Passkey “${result.data.name}” added. You can sign in with it alone from now on.`, true);
  await loadPasskeys();
}

$("passkey-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, () => addPasskey());
});

$("passkey-reauth").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const password = $("passkey-reauth-password").value;
    $("passkey-reauth-password").value = "";
    await addPasskey(password);
  });
});

$("passkey-reauth-cancel").addEventListener("click", () => {
  $("passkey-reauth").hidden = true;
  $("passkey-add").hidden = false;
  say("");
});

// ---- apps (OpenID Connect clients) ------------------------------------------
// Apps that "Sign in with soloauth": those of the server's environment
// (listed, removed only there) and those added here. An added app's secret
// is in the answer to adding it, and nowhere else, ever.

// What the owner pastes into an app: the issuer is this page's origin.
$("issuer").textContent = location.origin;
$("discovery").textContent = `${location.origin}/.well-known/openid-configuration`;

// The non-empty lines of a textarea.
const lines = (id) => $(id).value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

async function loadApps() {
  const result = await call("/auth/oidc/clients");
  const list = $("apps");
  list.replaceChildren();
  $("app-reauth").hidden = true;
  $("app-add-details").hidden = false;
  if (!result.resp.ok) { $("apps-none").hidden = true; say(explain(result)); return; }
  $("apps-none").hidden = result.data.length > 0;
  for (const app of result.data) list.append(appItem(app));
}

function appItem(app) {
  const item = document.createElement("li");
  const title = document.createElement("div");
  title.className = "name";
  title.textContent = app.name;
  if (app.from_env) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "from the environment";
    badge.title = "Configured by AUTH_OIDC_CLIENT_… variables: change or remove it there";
    title.append(badge);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  const kind = app.public ? "public (PKCE, no secret)" : "with a secret";
  const added = app.created_at ? ` · added ${new Date(app.created_at).toLocaleDateString()}` : "";
  meta.textContent = `client ID ${app.client_id} · ${kind}${added}`;
  const uris = document.createElement("ul");
  uris.className = "uris";
  uris.setAttribute("aria-label", `Redirect and sign-out URIs of ${app.name}`);
  for (const [uri, what] of [...app.redirect_uris.map((u) => [u, "redirect"]), ...app.logout_uris.map((u) => [u, "after sign-out"])]) {
    const li = document.createElement("li");
    li.textContent = `${what}: ${uri}`;
    uris.append(li);
  }
  item.append(title, meta, uris);
  if (!app.from_env) {
    const remove = button("Remove", "danger", `Remove ${app.name}`);
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Remove the app “${app.name}”? It can no longer sign in with soloauth, and its current sign-ins end.`)) return;
      remove.disabled = true;
      const result = await call(`/auth/oidc/clients/${encodeURIComponent(app.client_id)}`, "DELETE");
      say(result.resp.ok ? `App “${app.name}” removed.` : explain(result), result.resp.ok);
      await Promise.all([loadApps(), loadSessions()]);
    });
    const row = document.createElement("div");
    row.className = "row";
    row.append(remove);
    item.append(row);
  }
  return item;
}

// Adds an app. Like adding a passkey, a session that signed in a while ago
// must confirm the password first (reauth_required).
async function addApp(password) {
  const name = $("app-name").value.trim();
  const redirects = lines("app-redirects");
  if (!name || [...name].length > 64) { say("Give the app a name of 1 to 64 characters."); $("app-name").focus(); return; }
  if (!redirects.length || redirects.length > 10) { say("Give 1 to 10 redirect URIs, one per line."); $("app-redirects").focus(); return; }
  const body = { name, redirect_uris: redirects, logout_uris: lines("app-logouts"), public: $("app-public").checked };
  if (password !== undefined) body.password = password;
  const result = await call("/auth/oidc/clients", "POST", body);
  if (askPassword(result, "app-add-details", "app-reauth")) return;
  const error = result.data && result.data.error;
  // A wrong password is asked for again; anything else goes back to the form.
  if (password !== undefined && error === "invalid_credentials") { say(explain(result)); $("app-reauth-password").focus(); return; }
  $("app-reauth").hidden = true;
  $("app-add-details").hidden = false;
  if (!result.resp.ok) {
    if (result.resp.status !== 400) { say(explain(result)); return; }
    // The server names the field and the address it refused.
    const message = (result.data && result.data.message) || "";
    const logout = message.startsWith("logout_uris:");
    say(sentence(message.replace(/^redirect_uris: /, "Redirect URI ").replace(/^logout_uris: /, "Sign-out return URI ")));
    $(logout ? "app-logouts" : /^redirect_uris/.test(message) ? "app-redirects" : "app-name").focus();
    return;
  }
  for (const id of ["app-name", "app-redirects", "app-logouts"]) $(id).value = "";
  $("app-public").checked = false;
  $("app-add-details").open = false;
  say(`App “${result.data.name}” added.`, true);
  showAppCredentials(result.data);
  await loadApps();
}

$("app-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, () => addApp());
});

$("app-reauth").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const password = $("app-reauth-password").value;
    $("app-reauth-password").value = "";
    await addApp(password);
  });
});

$("app-reauth-cancel").addEventListener("click", () => {
  $("app-reauth").hidden = true;
  $("app-add-details").hidden = false;
  say("");
});

// The new app's client ID and secret, shown this once.
let shownSecret = "";
function showAppCredentials(added) {
  shownSecret = added.client_secret || "";
  $("app-created-name").textContent = added.name;
  $("app-created-id").textContent = added.client_id;
  $("app-created-secret").textContent = shownSecret;
  $("app-created-secret-line").hidden = !shownSecret;
  $("app-created-warning").hidden = !shownSecret;
  $("app-created-copy").hidden = !shownSecret;
  $("app-created-public").hidden = Boolean(shownSecret);
  $("app-created").hidden = false;
  $("app-created").focus();
  $("app-created").scrollIntoView({ block: "start" });
}

async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied.`, true);
  } catch {
    say(`Copying is not allowed here; select the ${what.toLowerCase()} and copy it by hand.`);
  }
}

$("app-created-copy").addEventListener("click", () => copy(shownSecret, "Client secret"));
$("app-created-copy-id").addEventListener("click", () => copy($("app-created-id").textContent, "Client ID"));

// Gone once saved, or when signing out: the secret does not linger on screen.
function forgetAppCredentials() {
  shownSecret = "";
  $("app-created-secret").textContent = "";
  $("app-created-id").textContent = "";
  $("app-created").hidden = true;
}

$("app-created-done").addEventListener("click", () => { forgetAppCredentials(); say(""); });

// ---- API tokens ----------------------------------------------------------------
// For scripts, mobile and DAV apps behind forward auth. Like an app's secret,
// a token is in the answer to making it, and nowhere else, ever.

const day = (t) => new Date(t).toLocaleDateString();
let shownToken = "";

async function loadTokens() {
  const result = await call("/auth/tokens");
  $("tokens").replaceChildren();
  $("token-reauth").hidden = true;
  $("token-add-details").hidden = false;
  if (!result.resp.ok) { say(explain(result)); return; }
  $("tokens").append(...result.data.map(tokenItem));
}

function tokenItem(token) {
  const item = document.createElement("li");
  const title = document.createElement("div");
  title.className = "name";
  title.textContent = token.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  const used = token.last_used_at ? `last used ${new Date(token.last_used_at).toLocaleString()}` : "never used";
  const expiry = token.expires_at ? `expires ${day(token.expires_at)}` : "no expiry";
  meta.textContent = `made ${day(token.created_at)} · ${used} · ${expiry} · ${token.hosts.join(", ") || "any host"}`;
  const revoke = button("Revoke", "danger", `Revoke ${token.name}`);
  revoke.addEventListener("click", async () => {
    if (!window.confirm(`Revoke the token “${token.name}”? It is refused from the next request on.`)) return;
    revoke.disabled = true;
    const result = await call(`/auth/tokens/${encodeURIComponent(token.id)}`, "DELETE");
    say(result.resp.ok ? `Token “${token.name}” revoked.` : explain(result), result.resp.ok);
    await loadTokens();
  });
  item.append(title, meta, revoke);
  return item;
}

// Makes a token; a session that signed in a while ago confirms the password.
async function addToken(password) {
  const name = $("token-name").value.trim();
  if (!name || [...name].length > 64) { say("Give the token a name of 1 to 64 characters."); $("token-name").focus(); return; }
  const body = { name, hosts: lines("token-hosts"), password };
  if ($("token-days").value) body.expires_in_days = Number($("token-days").value);
  const result = await call("/auth/tokens", "POST", body);
  if (askPassword(result, "token-add-details", "token-reauth")) return;
  if (password !== undefined && result.data && result.data.error === "invalid_credentials") { say(explain(result)); $("token-reauth-password").focus(); return; }
  $("token-reauth").hidden = true;
  $("token-add-details").hidden = false;
  if (!result.resp.ok) {
    const message = explain(result);
    say(result.resp.status === 400 ? sentence(message) : message);
    if (result.resp.status === 400) $(/host pattern/.test(message) ? "token-hosts" : "token-name").focus();
    return;
  }
  for (const id of ["token-name", "token-days", "token-hosts"]) $(id).value = "";
  $("token-add-details").open = false;
  say(`Token “${result.data.name}” made.`, true);
  shownToken = result.data.token;
  $("token-made-name").textContent = result.data.name;
  $("token-value").textContent = shownToken;
  $("token-made").hidden = false;
  $("token-made").focus();
  $("token-made").scrollIntoView({ block: "start" });
  await loadTokens();
}

$("token-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, () => addToken());
});

$("token-reauth").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, async () => {
    const password = $("token-reauth-password").value;
    $("token-reauth-password").value = "";
    await addToken(password);
  });
});

$("token-reauth-cancel").addEventListener("click", () => {
  $("token-reauth").hidden = true;
  $("token-add-details").hidden = false;
  say("");
});

$("token-copy").addEventListener("click", () => copy(shownToken, "Token"));

// Gone once saved, or when signing out.
function forgetToken() {
  shownToken = "";
  $("token-value").textContent = "";
  $("token-made").hidden = true;
}

$("token-done").addEventListener("click", () => { forgetToken(); say(""); });

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
  $("passkey-signin").hidden = !webauthn;
  $("mfa-passkey").hidden = !webauthn;
  if (freshSignIn) {
    show("signin");
    say("The app you came from asks you to sign in again.");
    return;
  }
  const result = await call("/auth/me");
  if (result.resp.ok) { await signedIn(); return; }
  show("signin");
  if (result.resp.status === 0) say(explain(result));
  else if (needTwoFactor) say(`${appName} needs a sign-in with a second factor: your password, then a code from your authenticator app.`);
})();
