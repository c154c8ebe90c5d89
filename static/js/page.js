// What the server told this page, and whether the browser keeps a
// sign-in's cookies. The server (src/http/api/page.rs) writes an allowed
// `rd` into <meta name="soloauth-rd"> and the cookie domain and Secure flag
// into <meta name="soloauth-cookies">; /auth/verify and the OpenID Connect
// provider add `need` to the address.

import { send } from "./api.js";

const rdMeta = document.querySelector('meta[name="soloauth-rd"]');
// Where to go back after signing in (only a target the server allowed).
export const returnTo = rdMeta ? rdMeta.content : null;
export const appName = returnTo ? new URL(returnTo).host : "The app you opened";

// AUTH_COOKIE_DOMAIN (empty when unset: the other apps' sign-in rides on a
// cookie for that domain) and whether the cookies are Secure.
const cookieMeta = document.querySelector('meta[name="soloauth-cookies"]');
const cookieDomain = cookieMeta ? cookieMeta.content : "";
const secureCookies = Boolean(cookieMeta && cookieMeta.dataset.secure === "true");

const need = new URLSearchParams(window.location.search).get("need");
// An app's rule needs a second factor, or a passkey, this session lacks:
// explain instead of bouncing back to the app.
export const needTwoFactor = need === "two_factor";
export const needPasskey = need === "passkey";
// An app asks for a fresh sign-in (prompt=login, max_age): sign in again
// even if this browser is signed in.
export const freshSignIn = need === "fresh_sign_in";

// Whether the session `who` (/auth/me) signed in as `need` asks: any
// second factor (a code or a passkey, amr otp or hwk), or a passkey (hwk).
// The page follows `rd` only then: the app would send it back here.
const wanted = { two_factor: ["otp", "hwk"], passkey: ["hwk"] }[need];
export const needFactor = Boolean(wanted);
export const meetsNeed = (who) => !wanted || Boolean(who && who.amr && who.amr.some((m) => wanted.includes(m)));

// Whether the browser keeps a cookie for the other apps' domain. That
// cookie is HttpOnly, so a short-lived one of the same scope stands in for
// it: a browser that refuses one refuses the other.
export function domainCookieKept() {
  if (!cookieDomain) return true;
  const scope = `domain=${cookieDomain}; path=/${secureCookies ? "; secure" : ""}`;
  document.cookie = `soloauth_cookie_check=1; ${scope}; max-age=60; samesite=lax`;
  const kept = document.cookie.split("; ").includes("soloauth_cookie_check=1");
  document.cookie = `soloauth_cookie_check=; ${scope}; max-age=0`;
  return kept;
}

// Whether the browser kept what a sign-in set: "all", "here" (this site's
// cookies, not the one for the other apps' domain) or "none".
export async function cookiesKept() {
  if (!(await send("/auth/me", "GET")).ok) return "none";
  return domainCookieKept() ? "all" : "here";
}

// Why a sign-in did not stick, for the owner who configured it.
export function cookieProblem(kept) {
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
