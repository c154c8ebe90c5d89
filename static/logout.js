// "Sign out of soloauth?" (the OpenID Connect logout confirmation): the
// access cookie lasts half an hour, the sign-in much longer. Before the form
// goes, renew the access cookie if it has run out, so the server can tell
// which sign-in to end; then post the form as it is.
"use strict";

const form = document.getElementById("logout-form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  for (const button of form.querySelectorAll("button")) button.disabled = true;
  try {
    const me = await fetch("/auth/me", { credentials: "same-origin" });
    if (me.status === 401) await fetch("/auth/refresh", { method: "POST", credentials: "same-origin" });
  } catch {
    // Unreachable: post anyway; the server says what it can.
  }
  form.submit();
});
