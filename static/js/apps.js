// The apps section: apps that "Sign in with soloauth" (OpenID Connect
// clients), those of the server's environment (listed, removed only there)
// and those added here; adding one (an old sign-in confirms the password
// first) and removing one. An added app's secret is in the answer to adding
// it, and nowhere else, ever: shown once, in the "App added" card. Also
// the issuer and discovery URL to give apps, with copy buttons.

import { call, withPassword } from "./api.js";
import { $, button, busy, copy, el, lines, reauthPrompt, say, showError, withReauth } from "./ui.js";
import { loadSessions } from "./sessions.js";

const prompt = reauthPrompt("app-reauth", "app-add-details", "add an app");

// What the owner pastes into an app: the issuer is this page's origin.
$("issuer").textContent = location.origin;
$("discovery").textContent = `${location.origin}/.well-known/openid-configuration`;
$("issuer-copy").addEventListener("click", () => copy($("issuer").textContent, "Issuer"));
$("discovery-copy").addEventListener("click", () => copy($("discovery").textContent, "Discovery URL"));

export async function loadApps() {
  const result = await call("/auth/oidc/clients");
  const list = $("apps");
  list.replaceChildren();
  prompt.close();
  if (!result.ok) { $("apps-none").hidden = true; showError(result); return; }
  $("apps-none").hidden = result.data.length > 0;
  for (const app of result.data) list.append(appItem(app));
}

function appItem(app) {
  const item = el("li");
  const title = el("div", "name", app.name);
  if (app.from_env) {
    const badge = el("span", "badge", "from the environment");
    badge.title = "Configured by AUTH_OIDC_CLIENT_… variables: change or remove it there";
    title.append(" ", badge);
  }
  const need = { two_factor: "needs two factors", passkey: "needs a passkey" }[app.policy];
  if (need) title.append(" ", el("span", "badge", need));
  const kind = app.public ? "public (PKCE, no secret)" : "with a secret";
  const added = app.created_at ? ` · added ${new Date(app.created_at).toLocaleDateString()}` : "";
  const meta = el("div", "meta", `client ID ${app.client_id} · ${kind}${added}`);
  const uris = el("ul", "uris");
  uris.setAttribute("aria-label", `Redirect and sign-out URIs of ${app.name}`);
  for (const [uri, what] of [...app.redirect_uris.map((u) => [u, "redirect"]), ...app.logout_uris.map((u) => [u, "after sign-out"])]) {
    uris.append(el("li", "", `${what}: ${uri}`));
  }
  item.append(title, meta, uris);
  if (!app.from_env) {
    const remove = button("Remove", "danger", `Remove ${app.name}`);
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Remove the app “${app.name}”? It can no longer sign in with soloauth, and its current sign-ins end.`)) return;
      remove.disabled = true;
      const path = `/auth/oidc/clients/${encodeURIComponent(app.client_id)}`;
      const result = await withReauth(prompt, (password) => call(path, "DELETE", withPassword(undefined, password)),
        `remove the app “${app.name}”`);
      if (!result) { remove.disabled = false; return; }
      if (result.ok) say(`App “${app.name}” removed.`, true);
      else showError(result);
      await Promise.all([loadApps(), loadSessions()]);
    });
    const row = el("div", "row");
    row.append(remove);
    item.append(row);
  }
  return item;
}

async function addApp() {
  const name = $("app-name").value.trim();
  const redirects = lines("app-redirects");
  if (!name || [...name].length > 64) { say("Give the app a name of 1 to 64 characters."); $("app-name").focus(); return; }
  if (!redirects.length || redirects.length > 10) { say("Give 1 to 10 redirect URIs, one per line."); $("app-redirects").focus(); return; }
  const body = { name, redirect_uris: redirects, logout_uris: lines("app-logouts"), public: $("app-public").checked, policy: $("app-policy").value };
  const result = await withReauth(prompt, (password) => call("/auth/oidc/clients", "POST", withPassword(body, password)));
  if (!result) return;
  if (!result.ok) {
    // A refused address: the field that holds it.
    showError(result, { focus: { bad_request: ["app-name", "app-redirects", "app-logouts"] } });
    return;
  }
  $("app-add").reset();
  $("app-add-details").open = false;
  say(`App “${result.data.name}” added.`, true);
  showAppCredentials(result.data);
  await loadApps();
}

$("app-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, addApp);
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

$("app-created-copy").addEventListener("click", () => copy(shownSecret, "Client secret"));
$("app-created-copy-id").addEventListener("click", () => copy($("app-created-id").textContent, "Client ID"));

// Gone once saved, or when signing out: the secret does not linger on screen.
export function forgetAppCredentials() {
  shownSecret = "";
  $("app-created-secret").textContent = "";
  $("app-created-id").textContent = "";
  $("app-created").hidden = true;
}

$("app-created-done").addEventListener("click", () => { forgetAppCredentials(); say(""); });
