// A user agent in words ("Safari on iPhone"), from two small tables. Order
// matters: the first key found wins, so Edge and Opera (whose agents also
// say Chrome) come before Chrome, Chrome (which also says Safari) before
// Safari, and iPhone, Android and ChromeOS before the macOS and Linux their
// agents also name.

const browsers = [["Edg", "Edge"], ["OPR", "Opera"], ["Opera", "Opera"], ["SamsungBrowser", "Samsung Internet"],
  ["Vivaldi", "Vivaldi"], ["Firefox", "Firefox"], ["FxiOS", "Firefox"], ["CriOS", "Chrome"], ["Chrome", "Chrome"],
  ["Safari", "Safari"]];
const systems = [["iPhone", "iPhone"], ["iPad", "iPad"], ["Android", "Android"], ["CrOS", "ChromeOS"],
  ["Windows", "Windows"], ["Mac OS X", "macOS"], ["Macintosh", "macOS"], ["Linux", "Linux"]];

const find = (table, ua) => (table.find(([key]) => ua.includes(key)) || [])[1];

// The device's system ("iPhone", "macOS"), or "".
export const system = (ua) => find(systems, ua) || "";

// "Safari on iPhone"; an agent of neither table by its first word ("curl").
export function device(ua) {
  if (!ua) return "Unknown device";
  const browser = find(browsers, ua) || ua.split(/[\s/;(]/)[0];
  const os = system(ua);
  return os ? `${browser} on ${os}` : browser;
}
