// soloauth's login and account page: sign in (password, then a TOTP or
// recovery code or a passkey; or a passkey alone), return to an allowed
// `rd`, manage two-factor, passkeys, the apps that sign in with soloauth,
// API tokens and sessions. Session tokens live only in the server's
// HttpOnly cookies: no script here sees or stores them (an API token it
// shows once, when made).
//
// The entry module (no build step): the parts are in js/, each wiring its
// own elements when loaded (api, ui, page, webauthn, signin, account, and
// one module per card). Here: start, signed in already or not.

import { call } from "./js/api.js";
import { say, show, showError } from "./js/ui.js";
import { appName, freshSignIn, needPasskey, needTwoFactor } from "./js/page.js";
import { supported as passkeys } from "./js/webauthn.js";
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
  else if (needTwoFactor) say(`${appName} needs a sign-in with a second factor: your password, then a code or a passkey.`);
  else if (needPasskey) say(passkeys
    ? `${appName} needs a sign-in with a passkey. No passkey yet? Sign in with your password, then add one.`
    : `${appName} needs a sign-in with a passkey, and this browser cannot use passkeys: open this page in one that can.`);
}

start();
