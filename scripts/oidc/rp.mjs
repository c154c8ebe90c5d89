// A real relying party against soloauth: npm openid-client v6 (the library
// Immich uses), with three clients in turn, one per way of authenticating at
// the token endpoint: client_secret_basic, client_secret_post, and a public
// client (none + PKCE). For each: discovery, an authorization URL with PKCE,
// state and nonce, the browser's part done with fetch (sign in to soloauth
// for its cookies, GET the authorization URL without following redirects,
// read the code from the Location), authorizationCodeGrant (openid-client
// checks the iss parameter, state, PKCE, the ID token's iss, aud, exp, iat
// and nonce; with enableNonRepudiationChecks also its RS256 signature against
// the JWKS), the ID token's at_hash (openid-client does not check it in the
// code flow: checked here), fetchUserInfo, refreshTokenGrant (new tokens; the
// old refresh token then refused), tokenRevocation (the grant ends), and
// RP-initiated logout with buildEndSessionUrl.
//
// Run by scripts/oidc_rp_test.sh (through rp_test.py), which starts soloauth
// with these clients. Everything comes from the environment:
//   OIDC_ISSUER    the issuer (AUTH_PUBLIC_URL without its trailing slash)
//   OIDC_USERNAME, OIDC_PASSWORD   the owner's sign-in
//   OIDC_CLIENTS   JSON: [{"id", "secret" (absent: public), "auth":
//                  "client_secret_basic"|"client_secret_post"|"none",
//                  "redirect_uri", "post_logout_redirect_uri"}]
//   OIDC_EXPECT    JSON: the claims userinfo and the ID token must carry
//                  ({"preferred_username", "name", "email", "groups"})
// Prints `ok   <check>` per check and `FAIL <check>: <why>` per failure, then
// `N passed, M failed`; exits 1 if any failed.

import { createHash } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import * as client from "openid-client";

const env = (name) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const ISSUER = env("OIDC_ISSUER");
const USERNAME = env("OIDC_USERNAME");
const PASSWORD = env("OIDC_PASSWORD");
const CLIENTS = JSON.parse(env("OIDC_CLIENTS"));
const EXPECT = JSON.parse(env("OIDC_EXPECT"));
const SCOPE = "openid profile email groups offline_access";

let passed = 0;
let failed = 0;
function check(name, ok, detail = "") {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}: ${detail}`);
  }
  return ok;
}
const show = (v) => JSON.stringify(v);

// What an openid-client error says: its message, its OAuth error and
// description when the server sent one, and its cause.
function explain(err) {
  const parts = [`${err.name}: ${err.message}`];
  if (err.code) parts.push(`code=${err.code}`);
  if (err.error) parts.push(`error=${err.error}`);
  if (err.error_description) parts.push(`error_description=${show(err.error_description)}`);
  if (err.status) parts.push(`status=${err.status}`);
  if (err.cause && typeof err.cause === "object") parts.push(`cause=${show(err.cause)}`);
  return parts.join(" ");
}

// A step that must succeed for the flow to go on: its failure is a FAIL
// with the library's own error, and ends this client's flow.
class Stop extends Error {}
async function step(name, fn) {
  try {
    const value = await fn();
    check(name, true);
    return value;
  } catch (err) {
    check(name, false, err instanceof Stop ? err.message : explain(err));
    throw new Stop(name);
  }
}

// A step that must fail with this OAuth `error`.
async function refused(name, expectedError, fn) {
  try {
    await fn();
    check(name, false, "succeeded; it should have been refused");
  } catch (err) {
    check(name, err.error === expectedError, `expected error=${expectedError}, got ${explain(err)}`);
  }
}

// ---- the browser: cookies, with their Path, as a browser keeps them -------

class Browser {
  constructor() {
    this.cookies = new Map(); // name -> { value, path }
  }

  take(url, response) {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(";").map((s) => s.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = new URL(url).pathname.replace(/\/[^/]*$/, "") || "/";
      let expired = false;
      for (const attr of attrs) {
        const [k, v = ""] = attr.split("=");
        if (k.toLowerCase() === "path" && v.startsWith("/")) path = v;
        if (k.toLowerCase() === "max-age" && Number(v) <= 0) expired = true;
      }
      if (expired || value === "") this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }

  header(url) {
    const path = new URL(url).pathname;
    return [...this.cookies]
      .filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith("/") ? c.path : `${c.path}/`))
      .map(([name, c]) => `${name}=${c.value}`)
      .join("; ");
  }

  // One request, never following redirects. No Origin header: a top-level
  // navigation sends none, and soloauth refuses a foreign one.
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers || {});
    const cookie = this.header(url);
    if (cookie) headers.set("cookie", cookie);
    const response = await fetch(url, { ...init, headers, redirect: "manual" });
    this.take(url, response);
    return response;
  }

  async signIn() {
    const url = `${ISSUER}/auth/login`;
    const r = await this.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: USERNAME, password: PASSWORD }),
    });
    if (r.status !== 200) throw new Stop(`POST /auth/login: HTTP ${r.status} ${await r.text()}`);
    if (!this.cookies.has("soloauth_session")) throw new Stop("POST /auth/login set no soloauth_session cookie");
  }

  // The authorization request, as the owner's browser makes it: a public
  // app at a loopback redirect first gets soloauth's "Allow … on this device
  // to sign in as you?" page, whose form the owner posts with Allow (as
  // Chromium posts a same-origin form: Origin null, Sec-Fetch-Site
  // same-origin). Returns the Location as a URL, and whether it was asked.
  async authorize(url) {
    const r = await this.fetch(url);
    if (r.status !== 200) return { location: await this.location(url, r), asked: false };
    const page = await r.text();
    if (!page.includes('id="consent-form"')) throw new Stop(`GET ${url}: HTTP 200: ${page.slice(0, 300)}`);
    const form = new URLSearchParams();
    for (const [, name, value] of page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      form.append(name, value.replaceAll("&quot;", '"').replaceAll("&#39;", "'").replaceAll("&lt;", "<")
        .replaceAll("&gt;", ">").replaceAll("&amp;", "&"));
    }
    form.append("consent", "allow");
    const posted = await this.fetch(`${ISSUER}/oidc/authorize`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "null", "sec-fetch-site": "same-origin" },
      body: form.toString(),
    });
    return { location: await this.location(url, posted), asked: true };
  }

  // The Location of a response that must be a 302, as a URL.
  async location(url, r) {
    const location = r.headers.get("location");
    if (r.status !== 302 || !location) {
      throw new Stop(`${url}: HTTP ${r.status}, Location ${location}: ${(await r.text()).slice(0, 300)}`);
    }
    return new URL(location, url);
  }

  // GET a URL that must answer 302; returns the Location as a URL.
  async redirected(url) {
    const r = await this.fetch(url);
    const location = r.headers.get("location");
    if (r.status !== 302 || !location) {
      throw new Stop(`GET ${url}: HTTP ${r.status}, Location ${location}: ${(await r.text()).slice(0, 300)}`);
    }
    return new URL(location, url);
  }
}

// ---- one client's whole flow ------------------------------------------------

const b64url = (buf) => buf.toString("base64url");
const atHash = (accessToken) => b64url(createHash("sha256").update(accessToken, "ascii").digest().subarray(0, 16));

function decodeJwtPart(jwt, index) {
  return JSON.parse(Buffer.from(jwt.split(".")[index], "base64url").toString("utf8"));
}

function clientAuth(c) {
  switch (c.auth) {
    case "client_secret_basic":
      return client.ClientSecretBasic(c.secret);
    case "client_secret_post":
      return client.ClientSecretPost(c.secret);
    case "none":
      return client.None();
    default:
      throw new Error(`unknown auth ${c.auth}`);
  }
}

function expectedClaims(claims, where) {
  for (const [name, value] of Object.entries(EXPECT)) {
    check(`${where}: ${name} is ${show(value)}`, isDeepStrictEqual(claims[name], value), `got ${show(claims[name])}`);
  }
}

async function flow(c) {
  const tag = `[${c.auth}]`;
  const config = await step(`${tag} discovery of ${ISSUER}`, () =>
    client.discovery(new URL(ISSUER), c.id, { token_endpoint_auth_method: c.auth }, clientAuth(c), {
      execute: [client.allowInsecureRequests],
    }),
  );
  // Check the ID token's signature too (openid-client skips it by default for
  // ID tokens from the token endpoint).
  client.enableNonRepudiationChecks(config);
  const meta = config.serverMetadata();
  check(`${tag} discovered issuer is byte-identical`, meta.issuer === ISSUER, `got ${show(meta.issuer)}`);

  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const authUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: c.redirect_uri,
    scope: SCOPE,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
    nonce,
  });

  const browser = new Browser();
  await step(`${tag} the browser signs in to soloauth`, () => browser.signIn());
  const callback = await step(`${tag} authorize answers 302 to the redirect_uri`, async () => {
    const { location, asked } = await browser.authorize(authUrl.href);
    const device = c.auth === "none" && new URL(c.redirect_uri).hostname === "127.0.0.1";
    check(`${tag} ${device ? "a public app at a loopback redirect is allowed by the owner first" : "no consent page"}`,
      asked === device, `asked: ${asked}`);
    if (!location.href.startsWith(c.redirect_uri)) throw new Stop(`Location is ${location.href}`);
    return location;
  });
  check(`${tag} the redirect carries iss`, callback.searchParams.get("iss") === ISSUER, callback.href);

  const tokens = await step(`${tag} authorizationCodeGrant (state, iss, PKCE, ID token, nonce, signature)`, () =>
    client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
      idTokenExpected: true,
    }),
  );
  const claims = tokens.claims();
  const header = decodeJwtPart(tokens.id_token, 0);
  check(`${tag} ID token: alg RS256 with a kid`, header.alg === "RS256" && typeof header.kid === "string", show(header));
  check(`${tag} ID token: iss`, claims.iss === ISSUER, show(claims.iss));
  check(`${tag} ID token: aud is the client_id`, [].concat(claims.aud).includes(c.id), show(claims.aud));
  check(`${tag} ID token: nonce`, claims.nonce === nonce, show(claims.nonce));
  check(`${tag} ID token: at_hash matches the access token`, claims.at_hash === atHash(tokens.access_token),
    `at_hash ${show(claims.at_hash)}, computed ${atHash(tokens.access_token)}`);
  const now = Math.floor(Date.now() / 1000);
  check(`${tag} ID token: auth_time is a recent number`, Number.isInteger(claims.auth_time) && Math.abs(now - claims.auth_time) < 300,
    show(claims.auth_time));
  check(`${tag} ID token: amr includes pwd`, Array.isArray(claims.amr) && claims.amr.includes("pwd"), show(claims.amr));
  check(`${tag} ID token: sid`, typeof claims.sid === "string" && claims.sid.length > 0, show(claims.sid));
  check(`${tag} ID token: sub`, typeof claims.sub === "string" && claims.sub.length > 0, show(claims.sub));
  check(`${tag} token response: Bearer, expires_in, refresh_token`,
    tokens.token_type === "bearer" && tokens.expiresIn() > 0 && typeof tokens.refresh_token === "string",
    show({ token_type: tokens.token_type, expires_in: tokens.expires_in, refresh: typeof tokens.refresh_token }));
  expectedClaims(claims, `${tag} ID token`);

  const info = await step(`${tag} fetchUserInfo (sub checked against the ID token)`, () =>
    client.fetchUserInfo(config, tokens.access_token, claims.sub),
  );
  expectedClaims(info, `${tag} userinfo`);

  const renewed = await step(`${tag} refreshTokenGrant`, () => client.refreshTokenGrant(config, tokens.refresh_token));
  check(`${tag} refresh: a new access token and a new refresh token`,
    renewed.access_token !== tokens.access_token && renewed.refresh_token && renewed.refresh_token !== tokens.refresh_token,
    "the same tokens came back");
  if (renewed.id_token) {
    const again = renewed.claims();
    const same = ["iss", "sub", "aud", "auth_time", "sid"].filter((k) => !isDeepStrictEqual(again[k], claims[k]));
    check(`${tag} refresh: the new ID token keeps iss, sub, aud, auth_time, sid`, same.length === 0,
      `differ: ${same.map((k) => `${k} ${show(claims[k])} -> ${show(again[k])}`).join(", ")}`);
    check(`${tag} refresh: the new ID token's at_hash matches`, again.at_hash === undefined || again.at_hash === atHash(renewed.access_token),
      show(again.at_hash));
  }
  await step(`${tag} fetchUserInfo with the refreshed access token`, () =>
    client.fetchUserInfo(config, renewed.access_token, claims.sub),
  );
  await refused(`${tag} the old refresh token is refused (invalid_grant)`, "invalid_grant", () =>
    client.refreshTokenGrant(config, tokens.refresh_token),
  );
  await step(`${tag} the current refresh token still works after that`, async () => {
    const third = await client.refreshTokenGrant(config, renewed.refresh_token);
    renewed.refresh_token = third.refresh_token;
    renewed.access_token = third.access_token;
  });

  await step(`${tag} tokenRevocation of the refresh token`, () => client.tokenRevocation(config, renewed.refresh_token));
  await refused(`${tag} the revoked refresh token is refused (invalid_grant)`, "invalid_grant", () =>
    client.refreshTokenGrant(config, renewed.refresh_token),
  );
  try {
    await client.fetchUserInfo(config, renewed.access_token, claims.sub);
    check(`${tag} userinfo refuses the revoked grant's access token`, false, "userinfo answered");
  } catch (err) {
    check(`${tag} userinfo refuses the revoked grant's access token`, err.status === 401, explain(err));
  }

  // RP-initiated logout: back to the app with its state; the session is over.
  const logoutState = client.randomState();
  const endUrl = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: c.post_logout_redirect_uri,
    state: logoutState,
  });
  const back = await step(`${tag} end_session answers 302 to the post_logout_redirect_uri`, async () => {
    const location = await browser.redirected(endUrl.href);
    if (!location.href.startsWith(c.post_logout_redirect_uri)) throw new Stop(`Location is ${location.href}`);
    return location;
  });
  check(`${tag} logout: state comes back`, back.searchParams.get("state") === logoutState, back.href);
  const after = await step(`${tag} after logout, authorize sends the browser to the login page`, async () => {
    const location = await browser.redirected(authUrl.href);
    if (!location.href.startsWith(`${ISSUER}/?rd=`)) throw new Stop(`Location is ${location.href}`);
    return location;
  });
  check(`${tag} the login page's rd is the authorize request`,
    (after.searchParams.get("rd") || "").startsWith(`${ISSUER}/oidc/authorize?`), after.href);
}

for (const c of CLIENTS) {
  try {
    await flow(c);
  } catch (err) {
    if (!(err instanceof Stop)) check(`[${c.auth}] flow`, false, err.stack || String(err));
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
