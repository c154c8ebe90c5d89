// The API tokens card, for scripts, mobile and DAV apps behind forward
// auth: the tokens (made, last used, expiry, hosts), making one (an old
// sign-in confirms the password first) and revoking one. Like an app's
// secret, a token is in the answer to making it, and nowhere else, ever:
// shown once, in the "Token made" card.

import { call, withPassword } from "./api.js";
import { $, button, busy, copy, el, lines, reauthPrompt, say, showError, withReauth } from "./ui.js";
import { timeEl } from "./time.js";

const prompt = reauthPrompt("token-reauth", "token-add-details", "make a token");
const day = (t) => new Date(t).toLocaleDateString();

export async function loadTokens() {
  const result = await call("/auth/tokens");
  $("tokens").replaceChildren();
  prompt.close();
  if (!result.ok) { showError(result); return; }
  $("tokens").append(...result.data.map(tokenItem));
  $("tokens-none").hidden = result.data.length > 0;
}

function tokenItem(token) {
  const item = el("li");
  const title = el("div", "name", token.name);
  const expiry = token.expires_at ? `expires ${day(token.expires_at)}` : "no expiry";
  const meta = el("div", "meta", `made ${day(token.created_at)} · `);
  meta.append(...(token.last_used_at ? ["last used ", timeEl(token.last_used_at)] : ["never used"]),
    ` · ${expiry} · ${token.hosts.join(", ") || "any host"}`);
  const revoke = button("Revoke", "danger", `Revoke ${token.name}`);
  revoke.addEventListener("click", async () => {
    if (!window.confirm(`Revoke the token “${token.name}”? It is refused from the next request on.`)) return;
    revoke.disabled = true;
    const path = `/auth/tokens/${encodeURIComponent(token.id)}`;
    const result = await withReauth(prompt, (password) => call(path, "DELETE", withPassword(undefined, password)),
      `revoke the token “${token.name}”`);
    if (!result) { revoke.disabled = false; return; }
    if (result.ok) say(`Token “${token.name}” revoked.`, true);
    else showError(result);
    await loadTokens();
  });
  item.append(title, meta, revoke);
  return item;
}

async function addToken() {
  const name = $("token-name").value.trim();
  if (!name || [...name].length > 64) { say("Give the token a name of 1 to 64 characters."); $("token-name").focus(); return; }
  const body = { name, hosts: lines("token-hosts") };
  if ($("token-days").value) body.expires_in_days = Number($("token-days").value);
  const result = await withReauth(prompt, (password) => call("/auth/tokens", "POST", withPassword(body, password)));
  if (!result) return;
  if (!result.ok) {
    // A refused host pattern: the hosts field.
    showError(result, { focus: { bad_request: ["token-name", "token-hosts"] } });
    return;
  }
  for (const id of ["token-name", "token-days", "token-hosts"]) $(id).value = "";
  $("token-add-details").open = false;
  say(`Token “${result.data.name}” made.`, true);
  showToken(result.data);
  await loadTokens();
}

$("token-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, addToken);
});

let shownToken = "";
function showToken(made) {
  shownToken = made.token;
  $("token-made-name").textContent = made.name;
  $("token-value").textContent = shownToken;
  $("token-made").hidden = false;
  $("token-made").focus();
  $("token-made").scrollIntoView({ block: "start" });
}

$("token-copy").addEventListener("click", () => copy(shownToken, "Token"));

// Gone once saved, or when signing out.
export function forgetToken() {
  shownToken = "";
  $("token-value").textContent = "";
  $("token-made").hidden = true;
}

$("token-done").addEventListener("click", () => { forgetToken(); say(""); });
