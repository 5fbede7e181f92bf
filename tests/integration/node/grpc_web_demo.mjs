// Runs the demo page's script (conf/routes/grpc_web_demo.lua) in Node
// against BASE: fake buttons and inputs, real fetch. Prints the output pane.
import { readFileSync } from "node:fs";
const [base, luaFile] = process.argv.slice(2);
const src = readFileSync(luaFile, "utf8");
const script = src.slice(src.indexOf("<script>") + 8, src.indexOf("</script>"));
const els = {};
const el = (id) => (els[id] ||= { id, value: { item: "book", qty: "2", oid: "1" }[id] ?? "", textContent: "", onclick: null });
globalThis.document = { getElementById: el };
const realFetch = globalThis.fetch;
globalThis.fetch = (url, opts) => realFetch(base + url, opts);
new Function(script)();
await els.create.onclick();
await els.get.onclick();
el("oid").value = "999";
await els.get.onclick();
el("oid").value = "1";
await els.watch.onclick();
process.stdout.write(els.out.textContent);
