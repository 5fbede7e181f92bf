-- A browser page calling orders.v1.Orders (conf/routes/orders_grpc.lua)
-- through gRPC-Web: open http://127.0.0.1:8080/grpc-web. The page frames
-- and encodes the few messages by hand (no generated code, no library):
-- application/grpc-web-text, read as a stream, so Watch shows each event as
-- it comes. doc/grpc.md, "gRPC-Web".

local page = [==[
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Portico: gRPC-Web demo</title>
<style>
 body { font: 15px/1.4 system-ui, sans-serif; max-width: 46em; margin: 2em auto; padding: 0 1em; }
 fieldset { margin: 1em 0; } input { width: 8em; } pre { background: #f4f4f4; padding: .6em; min-height: 3em; }
</style>
</head>
<body>
<h1>orders.v1.Orders from a browser</h1>
<p>Each button is one gRPC-Web call (<code>application/grpc-web-text</code>) to the
Lua service; the status comes in the trailer frame at the end of the body.</p>
<fieldset><legend>Create</legend>
 item <input id="item" value="book"> quantity <input id="qty" type="number" value="2">
 <button id="create">Create</button></fieldset>
<fieldset><legend>Get / Watch</legend>
 id <input id="oid" type="number" value="1">
 <button id="get">Get</button> <button id="watch">Watch (server streaming)</button></fieldset>
<pre id="out"></pre>
<script>
"use strict";
const out = document.getElementById("out");
const show = (s) => { out.textContent += s + "\n"; };
const STATUS = ["STATUS_UNSPECIFIED", "PENDING", "PAID", "SHIPPED"];

// ---- protobuf, the little we need --------------------------------------
function varint(n) {                       // n: a BigInt >= 0
  const b = [];
  do { let x = Number(n & 0x7fn); n >>= 7n; b.push(n ? x | 0x80 : x); } while (n);
  return b;
}
function field(num, wire) { return varint(BigInt(num << 3 | wire)); }
function encString(num, s) {
  const u = new TextEncoder().encode(s);
  return [...field(num, 2), ...varint(BigInt(u.length)), ...u];
}
function encInt(num, v) { return v ? [...field(num, 0), ...varint(BigInt.asUintN(64, BigInt(v)))] : []; }
function decode(bytes) {                   // -> { num: [values] }; varints as BigInt
  const f = {}; let i = 0;
  const rv = () => { let r = 0n, s = 0n, b; do { b = bytes[i++]; r |= BigInt(b & 0x7f) << s; s += 7n; } while (b & 0x80); return r; };
  while (i < bytes.length) {
    const key = Number(rv()), num = key >> 3, wt = key & 7;
    let v;
    if (wt === 0) v = rv();
    else if (wt === 2) { const n = Number(rv()); v = bytes.subarray(i, i + n); i += n; }
    else if (wt === 1) { v = bytes.subarray(i, i + 8); i += 8; }
    else if (wt === 5) { v = bytes.subarray(i, i + 4); i += 4; }
    else throw new Error("wire type " + wt);
    (f[num] = f[num] || []).push(v);
  }
  return f;
}
const one = (f, n, d) => (f[n] ? f[n][f[n].length - 1] : d);
function orderText(b) {
  const f = decode(b), ts = f[5] ? decode(one(f, 5)) : null;
  return JSON.stringify({ id: String(one(f, 1, 0n)), item: new TextDecoder().decode(one(f, 2, new Uint8Array())),
    quantity: Number(one(f, 3, 0n)), status: STATUS[Number(one(f, 4, 0n))],
    created_at: ts ? new Date(Number(one(ts, 1, 0n)) * 1000).toISOString() : null });
}
function eventText(b) {
  const f = decode(b);
  return JSON.stringify({ id: String(one(f, 1, 0n)), status: STATUS[Number(one(f, 2, 0n))], seq: Number(one(f, 3, 0n)) });
}

// ---- gRPC-Web text -------------------------------------------------------
function b64(bytes) { let s = ""; for (const x of bytes) s += String.fromCharCode(x); return btoa(s); }
function unb64(s) {                        // pieces may each be padded: "AAA=BBBB"
  let r = "";
  for (const part of s.match(/[^=]+=*/g) || []) r += atob(part);
  const u = new Uint8Array(r.length); for (let i = 0; i < r.length; i++) u[i] = r.charCodeAt(i); return u;
}

async function call(method, msg, onMessage) {
  const frame = new Uint8Array(5 + msg.length);
  new DataView(frame.buffer).setUint32(1, msg.length);
  frame.set(msg, 5);
  const res = await fetch("/orders.v1.Orders/" + method, { method: "POST", body: b64(frame),
    headers: { "content-type": "application/grpc-web-text", "x-grpc-web": "1", "grpc-timeout": "20S" } });
  if (res.headers.get("grpc-status")) {   // Trailers-Only (a refusal by a filter or the core)
    return { status: res.headers.get("grpc-status"), message: decodeURIComponent(res.headers.get("grpc-message") || "") };
  }
  const reader = res.body.getReader();
  let text = "", buf = new Uint8Array(0), trailers = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (value) text += new TextDecoder().decode(value);
    const whole = text.length - text.length % 4;        // base64 in groups of four
    if (whole) {
      const add = unb64(text.slice(0, whole)); text = text.slice(whole);
      const n = new Uint8Array(buf.length + add.length); n.set(buf); n.set(add, buf.length); buf = n;
    }
    while (buf.length >= 5) {
      const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
      if (buf.length < 5 + len) break;
      const flags = buf[0], payload = buf.slice(5, 5 + len);
      buf = buf.slice(5 + len);
      if (flags & 0x80) trailers = new TextDecoder().decode(payload);
      else onMessage(payload);
    }
    if (done) break;
  }
  const t = {};
  for (const line of (trailers || "").split("\r\n")) {
    const k = line.indexOf(":"); if (k > 0) t[line.slice(0, k)] = line.slice(k + 1).trim();
  }
  return { status: t["grpc-status"], message: decodeURIComponent(t["grpc-message"] || "") };
}

function done(r) { show("  grpc-status " + r.status + (r.message ? " (" + r.message + ")" : "")); }
document.getElementById("create").onclick = async () => {
  show("Create:");
  const msg = [...encString(1, document.getElementById("item").value), ...encInt(2, Number(document.getElementById("qty").value))];
  done(await call("Create", new Uint8Array(msg), (b) => {
    const o = orderText(b); show("  " + o); document.getElementById("oid").value = JSON.parse(o).id; }));
};
document.getElementById("get").onclick = async () => {
  show("Get:");
  done(await call("Get", new Uint8Array(encInt(1, document.getElementById("oid").value)), (b) => show("  " + orderText(b))));
};
document.getElementById("watch").onclick = async () => {
  show("Watch:");
  done(await call("Watch", new Uint8Array(encInt(1, document.getElementById("oid").value)), (b) => show("  " + eventText(b))));
};
</script>
</body>
</html>
]==]

route.get("/grpc-web", function()
  return 200, page, { ["content-type"] = "text/html; charset=utf-8" }
end)
