-- The shop's live dashboard: open http://127.0.0.1:8080/shop?token=$(scripts/demo-token)
-- (scripts/demo prints that URL). One static page, no build step, no CDN:
-- its script opens the WebSocket /ws/orders (live.lua; a browser cannot set
-- an Authorization header on a WebSocket, so the JWT rides in
-- ?access_token=) and lists each order change the hub pushes:
-- created by POST /v1/orders, paid by the payment webhook.

local page = [==[
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Portico shop: live orders</title>
<style>
 body { font: 15px/1.4 system-ui, sans-serif; max-width: 52em; margin: 2em auto; padding: 0 1em; }
 table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #ddd; }
 .PENDING { color: #a60; } .PAID { color: #070; font-weight: bold; } .SHIPPED { color: #06c; }
 #state { font-size: 90%; color: #555; } #log { background: #f4f4f4; padding: .6em; max-height: 14em; overflow: auto; font-size: 85%; }
 tr.flash { animation: flash 1.5s; } @keyframes flash { from { background: #ffc; } to { background: none; } }
</style>
</head>
<body>
<h1>Orders, live</h1>
<p id="state">connecting...</p>
<form id="ask" hidden>JWT (<code>scripts/demo-token</code>): <input id="tok" size="40"> <button>Connect</button></form>
<table><thead><tr><th>#</th><th>item</th><th>qty</th><th>customer</th><th>status</th><th>payment</th><th>created</th></tr></thead>
<tbody id="orders"></tbody></table>
<h2>Changes</h2>
<pre id="log"></pre>
<p>Create one: <code>curl -H "Authorization: Bearer $(scripts/demo-token)" -d '{"item":"book","quantity":2,"customer_id":2}' http://HOST/v1/orders</code>;
pay it: <code>scripts/webhook-sign stripe whsec_portico_demo_0123456789abcdef --order ID http://HOST/hooks/stripe</code></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
for (const c of document.querySelectorAll("code")) c.textContent = c.textContent.replace("HOST", location.host);

// the token: ?token= once (then out of the address bar), kept for this tab
const q = new URLSearchParams(location.search);
if (q.get("token")) { sessionStorage.setItem("token", q.get("token")); history.replaceState(null, "", location.pathname); }
let token = sessionStorage.getItem("token"), delay = 1000;

function cell(tr, text) { const td = document.createElement("td"); td.textContent = text ?? ""; tr.appendChild(td); return td; }
function show(o) {                          // one row per order, replaced on each change
  const id = "order-" + Number(o.id);
  const tr = document.createElement("tr");
  tr.id = id; tr.className = "flash";
  cell(tr, o.id); cell(tr, o.item); cell(tr, o.quantity); cell(tr, o.customer_id || "");
  cell(tr, o.status).className = String(o.status);
  cell(tr, o.payment_id ? o.payment_id + " (" + (o.amount / 100).toFixed(2) + ")" : "");
  cell(tr, o.created_at);
  const old = $(id);
  if (old) old.replaceWith(tr); else $("orders").prepend(tr);
}
function log(line) { $("log").textContent = new Date().toLocaleTimeString() + "  " + line + "\n" + $("log").textContent.slice(0, 20000); }

function connect() {
  if (!token) { $("state").textContent = "no token: paste one"; $("ask").hidden = false; return; }
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + "/ws/orders?access_token=" + encodeURIComponent(token));
  ws.onopen = () => { $("state").textContent = "connected: changes appear as they happen"; $("ask").hidden = true; delay = 1000; };
  ws.onmessage = (m) => {
    let msg; try { msg = JSON.parse(m.data); } catch { return; }
    if (!msg || typeof msg.order !== "object" || msg.order === null) return;   // e.g. a hello
    show(msg.order);
    log(msg.event + " #" + msg.order.id + " " + msg.order.status);
  };
  ws.onclose = (e) => {
    $("state").textContent = "disconnected (" + (e.code === 1006 ? "refused: a bad or expired token?" : e.code) +
      "); again in " + delay / 1000 + " s";
    $("ask").hidden = false;
    setTimeout(connect, delay); delay = Math.min(delay * 2, 30000);
  };
}
$("ask").onsubmit = (e) => { e.preventDefault(); token = $("tok").value.trim(); sessionStorage.setItem("token", token); delay = 1000; connect(); };
connect();
</script>
</body>
</html>
]==]

route.get("/shop", function()
  return 200, page, {
    ["content-type"] = "text/html; charset=utf-8",
    ["referrer-policy"] = "no-referrer",          -- the token was in the URL
    ["x-content-type-options"] = "nosniff",
    ["content-security-policy"] = "default-src 'none'; script-src 'unsafe-inline'; " ..
      "style-src 'unsafe-inline'; connect-src 'self' ws: wss:",
  }
end, { summary = "The shop's live dashboard (HTML): order changes over /ws/orders" })
