// The page's shared pieces: the message box (`say`), the one way a refusal
// is shown (`showError`: the server's answer in plain words, the cursor in
// the field it concerns), busy buttons, switching views, small element
// builders, and `withReauth`: the "confirm your password" step every
// sensitive action goes through.

export const $ = (id) => document.getElementById(id);

export function say(text, ok = false) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
  box.classList.toggle("ok", ok);
}

// The server's own words as a sentence: "no passkey…" -> "No passkey….".
export const sentence = (text = "") => text && text[0].toUpperCase() + text.slice(1) + (/[.!?]$/.test(text) ? "" : ".");

// A refusal's message names the request's field first ("redirect_uris: …").
const fieldWords = { redirect_uris: "Redirect URI", logout_uris: "Sign-out return URI" };
const inWords = (message) => message.replace(/^(\w+): /, (all, field) => (fieldWords[field] ? `${fieldWords[field]} ` : all));
export const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// What a refusal means, in plain words. `passkey`: the answer to a passkey
// ceremony (its invalid_credentials and invalid_token mean other things).
function explain({ status, error, message, retryAfter: wait }, passkey) {
  switch (error) {
    case "invalid_credentials": return passkey ? `The passkey was refused: ${message}.` : "Wrong username or password.";
    case "invalid_code": return "That code is wrong. Try again.";
    case "account_locked": return `Too many failed attempts. Try again in ${plural(Math.max(1, Math.ceil(wait / 60)), "minute")}.`;
    case "rate_limited": return `Too many requests. Wait ${plural(wait || 1, "second")} and try again.`;
    case "busy": return "The server is busy. Try again in a moment.";
    case "invalid_token": return passkey ? "This sign-in expired or was already used." : "Your session has ended. Sign in again.";
    case "invalid_challenge": return "This passkey request expired or was already used. Try again.";
    case "passkey_already_registered": return "This passkey is already registered here.";
    case "passkeys_unavailable": case "no_passkey": case "last_passkey": case "password_login_managed_by_env":
    case "password_login_off": return sentence(message);
    case "bad_request": if (message) return sentence(inWords(message)); break;
    default: if (message) return message;
  }
  return `Something went wrong (HTTP ${status}).`;
}

// Shows a refused call (an answer from api.js) in the message box, between
// `before` and `after`, and puts the cursor in the field it concerns:
// `focus` is a field (or its id) for any refusal, or maps error codes to
// field ids; of several, the one holding a value the refusal quotes.
export function showError(result, { passkey = false, before = "", after = "", focus = null } = {}) {
  say(before + explain(result, passkey) + after);
  const field = fieldFor(result, focus);
  if (field) field.focus();
}

function fieldFor(result, focus) {
  if (typeof focus === "string") return $(focus);
  if (!focus || focus instanceof Element) return focus;
  const ids = [].concat(focus[result.error] || []);
  const quoted = (id) => lines(id).some((value) => result.message.includes(JSON.stringify(value)));
  const id = ids.find(quoted) || ids[0];
  return id ? $(id) : null;
}

// The non-empty lines of a field, trimmed.
export const lines = (id) => $(id).value.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);

// Runs `work` with every button of `form` disabled.
export async function busy(form, work) {
  const buttons = form.querySelectorAll("button");
  buttons.forEach((b) => { b.disabled = true; });
  try { return await work(); } finally { buttons.forEach((b) => { b.disabled = false; }); }
}

// Shows one of the page's three views, the cursor in its first field (or
// on the passkey's button when it comes first).
export function show(view) {
  for (const id of ["signin", "mfa", "account"]) $(id).hidden = id !== view;
  const signin = $("signin").classList.contains("passkey-first") ? "passkey-login" : "username";
  const mfa = ["mfa-key-go", "code", "recovery-code"].find((id) => !$(id).closest("#mfa [hidden]"));
  const focus = { signin, mfa }[view];
  if (focus) $(focus).focus();
}

// An element with a class (none if empty) and text.
export function el(tag, className = "", text = undefined) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function button(text, className, label) {
  const b = el("button", className, text);
  b.type = "button";
  b.setAttribute("aria-label", label);
  return b;
}

export async function copy(text, what) {
  try {
    await navigator.clipboard.writeText(text);
    say(`${what} copied.`, true);
  } catch {
    say(`Copying is not allowed here; select the ${what.toLowerCase()} and copy it by hand.`);
  }
}

// ---- "confirm your password" ---------------------------------------------
// Adding or removing a factor or a credential needs a recent sign-in or the
// password (docs/API.md, "Recent sign-in"): without, the server answers
// reauth_required. A card's prompt is the form `id` (field `<id>-password`,
// button `<id>-cancel`), made here and shown in place of the element `hide`;
// `what` says what the password is for.

export function reauthPrompt(id, hide, what) {
  const form = el("form");
  form.id = id;
  form.hidden = true;
  form.innerHTML = `<p></p><label for="${id}-password">Password</label>
    <input id="${id}-password" type="password" autocomplete="current-password" required>
    <div class="row"><button type="submit">Continue</button>
    <button type="button" id="${id}-cancel" class="secondary">Cancel</button></div>`;
  $(hide).after(form);
  const field = $(`${id}-password`);
  const text = form.querySelector("p");
  let answer = null; // resolves the question asked: the password, or null
  const settle = (password) => { const resolve = answer; answer = null; if (resolve) resolve(password); };
  const prompt = {
    form,
    field,
    what,
    // Shows the prompt; resolves to the password given, or null.
    ask(reason) {
      settle(null);
      text.textContent = `You signed in a while ago. Confirm your password to ${reason || what}.`;
      $(hide).hidden = true;
      form.hidden = false;
      field.focus();
      return new Promise((resolve) => { answer = resolve; });
    },
    // Puts the card back; a question still open resolves to null.
    close() {
      settle(null);
      form.hidden = true;
      $(hide).hidden = false;
    },
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const password = field.value;
    field.value = "";
    settle(password);
  });
  $(`${id}-cancel`).addEventListener("click", () => { prompt.close(); say(""); });
  return prompt;
}

// While password sign-in is off, the password cannot confirm it is you: a
// new passkey sign-in can (password-login.js says which, from /auth/me).
let passwordConfirms = true;
export function passwordCanConfirm(on) { passwordConfirms = on; }

// Runs `action(password)`, a sensitive call that returns its answer; the
// first try goes without a password. Answered reauth_required, `prompt`
// asks for it (`reason`: what for, if not what the prompt says) and the
// action runs again with it; a wrong one is said and asked for again.
// Resolves to the answer to act on, or null if the password was not given.
export async function withReauth(prompt, action, reason = "") {
  let result = await action(undefined);
  if (result.error !== "reauth_required") return result;
  if (!passwordConfirms) {
    say(`You signed in a while ago: to ${reason || prompt.what}, sign out and sign in again with your passkey (password sign-in is off).`);
    return null;
  }
  say("");
  for (;;) {
    const password = await prompt.ask(reason);
    if (password === null) return null;
    result = await busy(prompt.form, () => action(password));
    if (result.error === "invalid_credentials") showError(result, { focus: prompt.field });
    else if (result.error !== "reauth_required") break;
  }
  prompt.close();
  return result;
}

// Reloads the whole account view. account.js registers how (a card that
// changed the account calls this without importing the view that shows it).
let accountReload = async () => {};
export function onAccountReload(reload) { accountReload = reload; }
export function reloadAccount() { return accountReload(); }
