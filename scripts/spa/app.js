// A single-page app that signs in to soloauth with oidc-client-ts
// (scripts/spa_test.py). Its settings come from config.json, which the test
// serves next to these files: {"authority": soloauth's URL, "client_id": …}.
// index.html reads discovery and offers "Sign in" (signinRedirect);
// callback.html finishes the sign-in (signinRedirectCallback), calls
// userinfo with the access token, revokes the token and calls userinfo
// again. Every result, or the error, is shown on the page for the test.
"use strict";

const show = (id, text) => { document.getElementById(id).textContent = text; };
const fail = (err) => show("error", "error: " + (err && err.message ? err.message : String(err)));

oidc.Log.setLogger(console);
oidc.Log.setLevel(oidc.Log.WARN);

async function manager() {
  const config = await (await fetch("config.json")).json();
  return new oidc.UserManager({
    authority: config.authority,
    client_id: config.client_id,
    redirect_uri: location.origin + "/callback.html",
    response_type: "code",
    scope: "openid profile",
  });
}

async function userinfo(metadata, token) {
  const response = await fetch(metadata.userinfo_endpoint, { headers: { Authorization: "Bearer " + token } });
  return response.ok ? await response.json() : "HTTP " + response.status;
}

async function start() {
  const users = await manager();
  // Discovery, read cross-origin: what signinRedirect needs first.
  const metadata = await users.metadataService.getMetadata();
  show("issuer", metadata.issuer);
  const button = document.getElementById("sign-in");
  button.addEventListener("click", () => users.signinRedirect().catch(fail));
  button.disabled = false;
}

async function callback() {
  const users = await manager();
  const user = await users.signinRedirectCallback();
  show("id-sub", user.profile.sub);
  const metadata = await users.metadataService.getMetadata();
  const info = await userinfo(metadata, user.access_token);
  show("sub", info.sub);
  show("username", info.preferred_username);
  await users.revokeTokens(["access_token"]);
  show("after-revoke", String(await userinfo(metadata, user.access_token)));
}

(location.pathname.endsWith("/callback.html") ? callback() : start()).catch(fail);
