// Runs the shop page's script (GET BASE/shop, conf/routes/shop.lua) in Node
// with a tiny fake DOM and the real WebSocket (node --experimental-websocket):
// it opens /ws/orders with ?token=TOKEN; once connected, this script creates
// an order (POST /v1/orders) and pays it (the transcoded MarkPaid), waits for
// the page to show both changes, and prints the page's rows and state as JSON.
const [base, token] = process.argv.slice(2);
const html = await (await fetch(base + "/shop")).text();
const script = html.slice(html.indexOf("<script>") + 8, html.indexOf("</script>"));

const byId = {};
function el(tag, id) {
  const e = { tag, id, textContent: "", className: "", hidden: false, children: [], parent: null,
    appendChild(c) { c.parent = e; e.children.push(c); if (c.id) byId[c.id] = c; return c; },
    prepend(c) { c.parent = e; e.children.unshift(c); if (c.id) byId[c.id] = c; },
    replaceWith(c) { const p = e.parent, i = p.children.indexOf(e); p.children[i] = c; c.parent = p; byId[c.id] = c; } };
  if (id) byId[id] = e;
  return e;
}
for (const id of ["state", "ask", "tok", "orders", "log"]) el("div", id);
const store = {};
globalThis.document = {
  getElementById: (id) => byId[id] || null,
  createElement: (tag) => el(tag),
  querySelectorAll: () => [],
};
globalThis.location = { search: "?token=" + encodeURIComponent(token), host: new URL(base).host,
                        protocol: "http:", pathname: "/shop" };
let replaced = null;
globalThis.history = { replaceState: (_a, _b, url) => { replaced = url; } };
globalThis.sessionStorage = { getItem: (k) => store[k] ?? null, setItem: (k, v) => { store[k] = String(v); } };
new Function(script)();

const until = async (cond, what) => {
  for (let i = 0; i < 200; i++) { if (cond()) return; await new Promise((r) => setTimeout(r, 50)); }
  throw new Error("timed out waiting for " + what + "; state: " + byId.state.textContent);
};
await until(() => byId.state.textContent.startsWith("connected"), "the WebSocket");
const auth = { authorization: "Bearer " + token, "content-type": "application/json" };
const r = await fetch(base + "/v1/orders", { method: "POST", headers: auth,
  body: JSON.stringify({ item: "<img src=x onerror=alert(1)>", quantity: 3, customer_id: 4 }) });
const id = (await r.json()).order.id;
await until(() => byId.log.textContent.includes("order.created #" + id), "order.created");
await fetch(base + "/rest/v1/orders/" + id + ":pay", { method: "POST", headers: auth,
  body: JSON.stringify({ payment_id: "pi_page", amount: 1250 }) });
await until(() => byId.log.textContent.includes("order.paid #" + id + " PAID"), "order.paid");
const rows = byId.orders.children.map((tr) => tr.children.map((td) => String(td.textContent)));  // a DOM keeps strings
process.stdout.write(JSON.stringify({ rows, replaced, token_kept: store.token === token,
  statusClass: byId.orders.children[0].children[4].className,
  log: byId.log.textContent.split("\n").filter(Boolean).map((l) => l.slice(l.indexOf("  ") + 2)) }) + "\n");
process.exit(0);
