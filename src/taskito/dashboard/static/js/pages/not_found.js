// The page for a path the dashboard does not have.

import { h } from "../dom.js";
import { href } from "../router.js";

export function mount(ctx) {
  ctx.setTitle("Not found");
  ctx.root.append(h("section", { class: "panel" }, h("h2", {}, "There is no such page"),
    h("p", {}, h("a", { href: href("/") }, "Back to the overview"))));
  return { refresh: async () => {} };
}
