// A minimal DOM for running the HTML view's script under Node (tests/frontend/test_graph_picture.py):
// it records the elements the script creates and the handlers it registers, then fires a few events.
const created = [];
function element(tag) {
  const el = {
    tag, attrs: {}, children: [], handlers: {}, style: {}, textContent: "", clientWidth: 800,
    classList: { set: new Set(), add(c) { this.set.add(c); }, remove(c) { this.set.delete(c); },
                 toggle(c, on) { if (on) this.set.add(c); else this.set.delete(c); } },
    setAttribute(k, v) { this.attrs[k] = v; },
    appendChild(child) { this.children.push(child); return child; },
    addEventListener(name, fn) { this.handlers[name] = fn; },
    getBoundingClientRect() { return { left: 0, top: 0 }; },
  };
  created.push(el);
  return el;
}
const byId = {};
globalThis.document = {
  getElementById(id) { return byId[id] || (byId[id] = element(id)); },
  createElementNS(_ns, tag) { return element(tag); },
};
globalThis.window = { handlers: {}, addEventListener(name, fn) { this.handlers[name] = fn; } };
const fs = require("fs");
eval(fs.readFileSync(process.argv[2], "utf8"));
const groups = created.filter(e => e.tag === "g" && e.handlers.click);
groups[0].handlers.click({ stopPropagation() {} });
const search = byId["search"];
search.handlers.input({ target: { value: "gemm" } });
byId["view"].handlers.wheel({ preventDefault() {}, deltaY: -1, clientX: 10, clientY: 10 });
console.log(JSON.stringify({
  nodes: groups.length,
  info: byId["info"].textContent.length > 0,
  hits: created.filter(e => e.classList.set.has("hit")).length,
  transform: byId["scene"].attrs.transform || "",
}));
