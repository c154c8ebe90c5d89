// The sessions card: every signed-in device (this one marked, with the apps
// each signed in to), and signing another one out.

import { call } from "./api.js";
import { $, button, el, showError } from "./ui.js";

export async function loadSessions() {
  const result = await call("/auth/sessions");
  const list = $("sessions");
  list.replaceChildren();
  if (!result.ok) { showError(result); return; }
  for (const session of result.data) list.append(sessionItem(session));
}

function describe(session) {
  const when = (t) => new Date(t).toLocaleString();
  const apps = session.apps && session.apps.length ? ` · signed in to: ${session.apps.join(", ")}` : "";
  return `${session.ip || "unknown address"} · ${session.user_agent || "unknown device"} · since ${when(session.created_at)} · last seen ${when(session.last_seen_at)}${apps}`;
}

function sessionItem(session) {
  const item = el("li");
  const title = el("div", "", session.current ? "This device" : "Another device");
  if (session.current) title.append(el("span", "badge", "current"));
  item.append(title, el("div", "meta", describe(session)));
  if (!session.current) {
    const revoke = button("Sign out this device", "secondary", `Sign out ${describe(session)}`);
    revoke.addEventListener("click", async () => {
      revoke.disabled = true;
      const result = await call(`/auth/sessions/${encodeURIComponent(session.id)}`, "DELETE");
      if (!result.ok) showError(result);
      await loadSessions();
    });
    item.append(revoke);
  }
  return item;
}
