// The account's sections as tabs (Security, Apps, Tokens, Sessions,
// Activity): a tab shows its panel, the arrow keys, Home and End move
// between tabs (WAI-ARIA tabs pattern).

import { $ } from "./ui.js";

const tabs = [...document.querySelectorAll("[role=tab]")];
const name = (tab) => tab.id.slice(4); // "tab-apps" -> "apps"

// Shows the section `which` ("security", "apps"…).
export function select(which, focus = false) {
  for (const tab of tabs) {
    const on = name(tab) === which;
    tab.setAttribute("aria-selected", on);
    tab.tabIndex = on ? 0 : -1;
    $(`panel-${name(tab)}`).hidden = !on;
    if (on && focus) tab.focus();
  }
}

for (const tab of tabs) {
  const panel = $(`panel-${name(tab)}`);
  panel.setAttribute("role", "tabpanel");
  panel.setAttribute("aria-labelledby", tab.id);
  tab.setAttribute("aria-controls", panel.id);
  tab.addEventListener("click", () => select(name(tab)));
  tab.addEventListener("keydown", (event) => {
    const i = tabs.indexOf(tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (to === undefined) return;
    event.preventDefault();
    select(name(tabs[(to + tabs.length) % tabs.length]), true);
  });
}

select("security");
