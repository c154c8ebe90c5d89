// The sessions section: every signed-in device in words ("Safari on iPhone
// · 192.168.1.23 · active 2 h ago"; the full user agent behind a
// disclosure), this one marked, with the apps each signed in to; signing
// another one out. Also the overview's count of sessions.

import { call } from "./api.js";
import { $, button, el, plural, showError } from "./ui.js";
import { device } from "./agent.js";
import { timeEl } from "./time.js";

// Loads and shows the sessions; resolves to the list ([] when refused).
export async function loadSessions() {
  const result = await call("/auth/sessions");
  const list = $("sessions");
  list.replaceChildren();
  if (!result.ok) { showError(result); return []; }
  const sessions = result.data.sort((a, b) => b.current - a.current);
  const names = sessions.map((s) => device(s.user_agent));
  const twice = (name) => names.indexOf(name) !== names.lastIndexOf(name);
  sessions.forEach((s, i) => list.append(sessionItem(s, twice(names[i]) ? `${names[i]}, ${s.ip}` : names[i])));
  const others = result.data.length - 1;
  $("session-count").textContent = others > 0 ? `This device and ${plural(others, "other")}` : "This device only";
  return sessions;
}

function sessionItem(session, name) {
  const item = el("li", "split");
  const title = el("div", "name", device(session.user_agent));
  if (session.current) title.append(" ", el("span", "badge", "this device"));
  const meta = el("div", "meta", `${session.ip || "unknown address"} · active `);
  meta.append(timeEl(session.last_seen_at), " · signed in ", timeEl(session.created_at));
  if (session.apps && session.apps.length) meta.append(` · signed in to: ${session.apps.join(", ")}`);
  const details = el("details");
  details.append(el("summary", "", "Browser details"), el("div", "ua", session.user_agent || "none sent"));
  item.append(title, meta, details);
  if (!session.current) {
    const revoke = button("Sign out this device", "secondary", `Sign out ${name}`);
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
