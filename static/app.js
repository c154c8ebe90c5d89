// soloauth minimal login page: signs in with the HttpOnly cookies the server sets.
"use strict";

const $ = (id) => document.getElementById(id);

async function api(path, options = {}) {
  const resp = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  const body = resp.status === 204 ? null : await resp.json().catch(() => null);
  return { resp, body };
}

let mfaToken = null;
// Set by the server only for an allowed target (see src/api/page.rs).
const rdMeta = document.querySelector('meta[name="soloauth-rd"]');
const returnTo = rdMeta ? rdMeta.content : null;

async function showMe() {
  let { resp, body } = await api("/auth/me");
  if (resp.status === 401) {
    // The access cookie may have expired: try the refresh cookie once.
    const refreshed = await api("/auth/refresh", { method: "POST", body: "{}" });
    if (refreshed.resp.ok) ({ resp, body } = await api("/auth/me"));
  }
  const signedIn = resp.ok;
  if (signedIn && returnTo) {
    window.location.assign(returnTo);
    return;
  }
  $("login").hidden = signedIn || mfaToken !== null;
  $("second-factor").hidden = signedIn || mfaToken === null;
  $("signed-in").hidden = !signedIn;
  if (signedIn) $("who").textContent = body.username;
}

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.target.querySelector("button");
  button.disabled = true;
  $("message").textContent = "";
  try {
    const { resp, body } = await api("/auth/login", {
      method: "POST",
      body: JSON.stringify({ username: $("username").value, password: $("password").value }),
    });
    if (resp.ok) {
      $("password").value = "";
      await showMe();
    } else if (body && body.error === "mfa_required") {
      $("password").value = "";
      mfaToken = body.mfa_token;
      await showMe();
      $("code").focus();
    } else {
      $("message").textContent = (body && body.message) || "Sign-in failed";
    }
  } finally {
    button.disabled = false;
  }
});

$("second-factor").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.target.querySelector("button");
  button.disabled = true;
  const value = $("code").value.trim();
  const factor = /^[0-9 ]+$/.test(value) ? { code: value } : { recovery_code: value };
  try {
    const { resp, body } = await api("/auth/login/totp", {
      method: "POST",
      body: JSON.stringify({ mfa_token: mfaToken, ...factor }),
    });
    mfaToken = null; // single use, right or wrong
    $("code").value = "";
    $("message").textContent = resp.ok ? "" : ((body && body.message) || "Wrong code") + " — sign in again.";
    await showMe();
  } finally {
    button.disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  await api("/auth/logout", { method: "POST" });
  await showMe();
});

showMe();
