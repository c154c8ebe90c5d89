// soloauth's login and account page: sign in (password, then a TOTP or
// recovery code or a passkey; or a passkey alone), return to an allowed
// `rd`, manage two-factor, passkeys, the apps that sign in with soloauth,
// API tokens and sessions. Session tokens live only in the server's
// HttpOnly cookies: no script here sees or stores them (an API token it
// shows once, when made).
//
// This is the entry module (index.html loads it as type="module"; no build
// step). The parts are in js/, each wiring its own elements when loaded:
//   api.js       fetch wrapper: JSON, cookies, one answer shape, refresh
//   ui.js        message box, showError, busy buttons, views, withReauth
//   page.js      what the server told the page (rd, cookies, need)
//   webauthn.js  passkey ceremonies, base64url <-> bytes
//   signin.js    the sign-in steps, and where to go once signed in
//   account.js   the signed-in view, sign-out, loadAccount (every card)
//   totp.js, passkeys.js, apps.js, tokens.js, sessions.js: one card each
// Here: start, signed in already or not.

import { call } from "./js/api.js";
import { say, show, showError } from "./js/ui.js";
import { appName, freshSignIn, needTwoFactor } from "./js/page.js";
import { signedIn } from "./js/signin.js";

async function start() {
  if (freshSignIn) {
    show("signin");
    say("The app you came from asks you to sign in again.");
    return;
  }
  const result = await call("/auth/me");
  if (result.ok) { await signedIn(); return; }
  show("signin");
  if (result.status === 0) showError(result);
  else if (needTwoFactor) say(`${appName} needs a sign-in with a second factor: your password, then a code from your authenticator app.`);
}

start();
