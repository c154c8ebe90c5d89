// Times in words: "just now", "2 h ago", "in 3 days". A <time> shows one,
// the exact time in its title and, focused, on screen (style.css).

const units = [["year", 31536e3], ["month", 2592e3], ["week", 604800], ["day", 86400], ["h", 3600], ["min", 60]];

// Milliseconds from an RFC 3339 string or unix seconds.
export const ms = (at) => (typeof at === "number" ? at * 1000 : Date.parse(at));

export function ago(at, now = Date.now()) {
  const seconds = Math.round((ms(at) - now) / 1000);
  const [unit, size] = units.find(([, s]) => Math.abs(seconds) >= s) || [];
  if (!unit) return "just now";
  const n = Math.floor(Math.abs(seconds) / size);
  const words = `${n} ${unit}${n !== 1 && unit !== "h" && unit !== "min" ? "s" : ""}`;
  return seconds < 0 ? `${words} ago` : `in ${words}`;
}

export function timeEl(at) {
  const t = document.createElement("time");
  const when = new Date(ms(at));
  t.dateTime = when.toISOString();
  t.title = when.toLocaleString();
  t.tabIndex = 0;
  t.textContent = ago(at);
  return t;
}
