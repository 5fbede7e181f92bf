// The npm `ws` client against a Portico WebSocket endpoint: echoes text,
// binary and a 1 MiB message (with permessage-deflate, as ws offers it),
// then closes with 1000. Prints one JSON line with what it saw.
import WebSocket from "ws";

const url = process.argv[2];
const ws = new WebSocket(url, ["orders.v1"], { perMessageDeflate: true });
const seen = { texts: [], binaryOk: false, bigOk: false };
const big = Buffer.alloc(1 << 20, 7);
const timer = setTimeout(() => { console.log(JSON.stringify({ error: "timeout", seen })); process.exit(2); }, 10000);

ws.on("open", () => {
  seen.protocol = ws.protocol;
  seen.extensions = ws.extensions;
  ws.send("hello from ws");
});
ws.on("message", (data, isBinary) => {
  if (!isBinary) {
    seen.texts.push(data.toString());
    ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  } else if (data.length === 4) {
    seen.binaryOk = data[3] === 255;
    ws.send(big, { binary: true });
  } else {
    seen.bigOk = Buffer.compare(data, big) === 0;
    ws.close(1000, "done");
  }
});
ws.on("close", (code) => {
  clearTimeout(timer);
  seen.code = code;
  console.log(JSON.stringify(seen));
});
ws.on("error", (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
