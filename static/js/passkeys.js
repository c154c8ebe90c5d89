// The passkeys card: the account's passkeys (synced or not, when added and
// last used), adding one (named; an old sign-in confirms the password
// first), renaming and removing one.

import { call, withPassword } from "./api.js";
import { $, busy, button, el, reauthPrompt, reloadAccount, say, sentence, showError, withReauth } from "./ui.js";
import * as passkey from "./webauthn.js";
import { system } from "./agent.js";
import { timeEl } from "./time.js";

const prompt = reauthPrompt("passkey-reauth", "passkey-add-details", "add a passkey");
let taken = [];
$("need-passkey").hidden = !passkey.supported;
if (!passkey.supported) cannotUse("This browser cannot use passkeys: open this page in one that can.");

// Says on the passkey-needed screen why no passkey can be added or used here.
function cannotUse(why) {
  $("need-pk-none").textContent = why;
  $("need-pk-none").hidden = !why;
}

export async function loadPasskeys() {
  if (!passkey.supported) return;
  const result = await call("/auth/passkeys");
  const off = result.error === "passkeys_unavailable";
  $("passkeys-card").hidden = false;
  $("passkeys-off").hidden = !off;
  $("passkeys-off").textContent = off ? sentence(result.message) : "";
  prompt.close();
  $("passkey-add-details").hidden = off;
  $("need-passkey").hidden = off;
  cannotUse(off ? sentence(result.message) : "");
  const list = $("passkeys");
  list.replaceChildren();
  if (!result.ok) { if (!off) showError(result); return; }
  for (const key of result.data) list.append(passkeyItem(key));
  taken = result.data.map((p) => p.name);
  if (!$("passkey-name").value.trim()) $("passkey-name").value = suggestedName();
}

// A name for the next passkey, from the device, not yet taken ("Passkey on macOS 2").
export function suggestedName() {
  const os = system(navigator.userAgent);
  const base = os ? `Passkey on ${os}` : "Passkey";
  let name = base;
  for (let n = 2; taken.includes(name); n++) name = `${base} ${n}`;
  return name;
}

function passkeyItem(key) {
  const item = el("li");
  const title = el("div", "name", key.name);
  if (key.backed_up) {
    const badge = el("span", "badge", "synced");
    badge.title = "Kept in sync by its provider across your devices";
    title.append(" ", badge);
  }
  const meta = el("div", "meta", "added ");
  meta.append(timeEl(key.created_at), " · ");
  if (key.last_used_at) meta.append("last used ", timeEl(key.last_used_at));
  else meta.append("not used yet");
  const rename = button("Rename", "secondary", `Rename ${key.name}`);
  const remove = button("Remove", "danger", `Remove ${key.name}`);
  rename.addEventListener("click", () => item.replaceChildren(renameForm(key)));
  remove.addEventListener("click", async () => {
    if (!window.confirm(`Remove the passkey “${key.name}”? It will no longer sign you in.`)) return;
    remove.disabled = true;
    const path = `/auth/passkeys/${encodeURIComponent(key.id)}`;
    const result = await withReauth(prompt, (password) => call(path, "DELETE", withPassword(undefined, password)),
      `remove the passkey “${key.name}”`);
    if (!result) { remove.disabled = false; return; }
    if (result.ok) say(`Passkey “${key.name}” removed.`, true);
    else showError(result);
    await reloadAccount();
  });
  const row = el("div", "row");
  row.append(rename, remove);
  item.append(title, meta, row);
  return item;
}

function renameForm(key) {
  const form = el("form", "rename");
  const label = el("label", "", `New name for “${key.name}”`);
  const input = document.createElement("input");
  Object.assign(input, { value: key.name, maxLength: 64, required: true, autocomplete: "off" });
  label.append(input);
  const save = el("button", "", "Save");
  save.type = "submit";
  const cancel = button("Cancel", "secondary", "Cancel renaming");
  cancel.addEventListener("click", () => loadPasskeys());
  const row = el("div", "row");
  row.append(save, cancel);
  form.append(label, row);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      const result = await call(`/auth/passkeys/${encodeURIComponent(key.id)}`, "PATCH", { name: input.value.trim() });
      if (!result.ok) { showError(result, { focus: input }); return; }
      say(`Passkey renamed to “${result.data.name}”.`, true);
      await loadPasskeys();
    });
  });
  queueMicrotask(() => { input.focus(); input.select(); });
  return form;
}

// Adds a passkey named `name`; `ask`: the password prompt, if not this card's.
export async function addPasskey(name, ask = prompt) {
  if (!name || [...name].length > 64) { say("Give the passkey a name of 1 to 64 characters."); $("passkey-name").focus(); return; }
  const start = await withReauth(ask, (password) => call("/auth/passkeys/register/start", "POST", withPassword(undefined, password)),
    "add a passkey");
  if (!start) return;
  if (!start.ok) { showError(start); return; }
  const made = await passkey.create(start.data.options);
  if (made.failed) { say(made.failed); return; }
  const result = await call("/auth/passkeys/register/finish", "POST", {
    challenge_id: start.data.challenge_id,
    name,
    credential: made.answer,
  });
  if (!result.ok) { showError(result, { passkey: true }); return; }
  $("passkey-name").value = "";
  $("passkey-add-details").open = false;
  say(`Passkey “${result.data.name}” added. You can sign in with it alone from now on.`, true);
  await reloadAccount();
}

$("passkey-add").addEventListener("submit", (event) => {
  event.preventDefault();
  busy(event.target, () => addPasskey($("passkey-name").value.trim()));
});
