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
// Watch streams the order's real changes: pay it (the REST route transcoded
// from MarkPaid) while the watch is open, and the stream says PAID and ends.
const watching = els.watch.onclick();
await new Promise((r) => setTimeout(r, 600));
await realFetch(base + "/rest/v1/orders/1:pay", { method: "POST", body: '{"payment_id":"pi_web"}',
  headers: { "content-type": "application/json" } });
await watching;
process.stdout.write(els.out.textContent);
