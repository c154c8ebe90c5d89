// The activity section: the audit log (GET /auth/events, newest first) in
// words, 50 at a time ("Show older" asks again for 50 more, up to 1000).
// New addresses, lockouts and alarms carry a badge. The kinds and their
// details are those of src/auth/events.rs; an unknown kind shows its name.

import { call } from "./api.js";
import { $, el, plural, showError } from "./ui.js";
import { timeEl } from "./time.js";

const PAGE = 50;
const MAX = 1000;
let limit = PAGE;

const amr = { pwd: "password", otp: "a code", hwk: "a passkey" };
const via = {
  reauth: "confirming the password", totp_confirm: "setting up the authenticator app",
  totp_disable: "turning two-factor off", recovery_codes: "making new recovery codes",
};
const cli = (d) => (d.by === "cli" ? " (command line)" : "");
const client = (d) => d.client || "an app";

// Each kind in words: (detail as an object, " from <address>") -> [text, badge?].
const kinds = {
  login_success: (d, from) => [`Signed in with ${(d.amr || "").split(/[+,]/).map((m) => amr[m]).filter(Boolean).join(" and ")}${from}`,
    d.ip === "new" ? "new address" : d.user_agent === "new" ? "new device" : ""],
  login_failure: (d, from) => [`${d.reason === "passkey" ? "A passkey was refused" : "Wrong password"}${from}${d.via in via ? `, ${via[d.via]}` : ""}`],
  mfa_failure: (d, from) => [`Wrong code${from}${d.via in via ? `, ${via[d.via]}` : ""}`],
  lockout: (d, from) => [`${plural(Number(d.failures), "failed attempt")}${from}: ${d.scope === "account" ? "the account is" : "that address is"} locked for ${d.minutes} minutes`, "lockout"],
  unlock: (d) => [`Lockouts cleared${cli(d)}`],
  recovery_code_used: (d, from) => [`Used a recovery code${from}: ${d.remaining} left`, Number(d.remaining) < 3 ? "few left" : ""],
  refresh_reuse: (d, from) => [`A sign-in was renewed twice with one token${from}: that session was ended`, "alarm"],
  session_revoked: (d, from) => [d.reason === "logout" ? `Signed out${from}`
    : d.reason === "oidc_logout" ? `Signed out by an app${from}`
      : d.reason === "others" ? `Signed out everywhere else${from}: ${plural(Number(d.count), "session")} ended`
        : d.count ? `${plural(Number(d.count), "session")} ended${d.reason ? " by a security change" : cli(d)}`
          : `Signed out another device${from}`],
  totp_enabled: (d, from) => [`Turned two-factor authentication on${from}`],
  totp_disabled: (d, from) => [`Turned two-factor authentication off${d.by ? cli(d) : from}`, "two-factor off"],
  recovery_codes_regenerated: (d, from) => [`Made new recovery codes${from}`],
  keys_rotated: (d) => [`${d.oidc_kid ? "New signing key for apps" : "Stored secrets re-encrypted"}${cli(d)}`],
  passkey_added: (d, from) => [`Added a passkey${from}`],
  passkey_removed: (d, from) => [d.count ? `Removed ${plural(Number(d.count), "passkey")}${cli(d)}` : `Removed a passkey${from}`],
  passkey_login: (d, from) => [`Used a passkey${from}`],
  password_login_changed: (d, from) => d.enabled === "false" ? [`Turned password sign-in off${from}`]
    : [`Turned password sign-in back on${d.by ? cli(d) : from}`, "password on"],
  passkey_clone_suspected: (d, from) => [`A passkey's counter went backwards${from} (a copied passkey?): refused`, "alarm"],
  oidc_authorized: (d, from) => [`Signed in to ${client(d)}${from}`],
  oidc_code_reuse: (d) => [`${client(d)} used a sign-in code twice: its sign-in was ended`, "alarm"],
  oidc_client_added: (d, from) => [`Added the app ${client(d)}${from}`],
  oidc_client_removed: (d, from) => [`Removed the app ${client(d)}${from}`],
  token_created: (d, from) => [`Made an API token${from}`],
  token_revoked: (d, from) => [`Revoked an API token${from}`],
};
const badgeClass = { "new address": "warn", "new device": "warn", "few left": "warn", lockout: "bad", alarm: "bad", "two-factor off": "bad", "password on": "warn" };

// `detail` ("reason=credentials via=login") as an object.
const parse = (detail) => Object.fromEntries((detail || "").split(" ").map((w) => w.split("=")).filter((p) => p.length === 2));

// An event in words and its badge ("" for none).
export function describe(event) {
  const d = parse(event.detail);
  const from = !event.ip ? "" : d.ip === "new" ? ` from a new address ${event.ip}` : ` from ${event.ip}`;
  const say = kinds[event.kind];
  return say ? say(d, from) : [`${event.kind.replace(/_/g, " ")}${from}`];
}

function eventItem(event) {
  const [text, badge] = describe(event);
  const item = el("li");
  const what = el("span", "", text);
  if (badge) what.append(" ", el("span", `badge ${badgeClass[badge] || ""}`, badge));
  const when = timeEl(event.at);
  when.className = "meta";
  item.append(what, when);
  item.tabIndex = -1;
  return item;
}

// Loads the newest events (`older`: 50 more than shown) and shows them;
// resolves to the list ([] when refused).
export async function loadActivity(older = false) {
  limit = older ? Math.min(limit + PAGE, MAX) : PAGE;
  const result = await call(`/auth/events?limit=${limit}`);
  if (!result.ok) { showError(result); return []; }
  const list = $("events");
  const shown = list.children.length;
  list.replaceChildren(...result.data.map(eventItem));
  $("events-none").hidden = result.data.length > 0;
  $("events-more").hidden = result.data.length < limit || limit >= MAX;
  if (older && list.children[shown]) list.children[shown].focus();
  return result.data;
}

$("events-more").addEventListener("click", () => loadActivity(true));
