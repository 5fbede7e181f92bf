// The npm grpc-web client (GrpcWebClientBase, as generated stubs use it)
// in Node, with XMLHttpRequest from xhr2. Messages are raw bytes (the
// serializers are the identity), so no generated code is needed.
//   node client.mjs BASE FORMAT(text|binary) CALLS...   CALL: unary:PATH:HEX[:k=v]  stream:PATH:HEX
// Prints one JSON line per call: { messages: [hex], code, details, metadata }.
import xhr2 from "xhr2";
import grpcWeb from "grpc-web";

globalThis.XMLHttpRequest = xhr2;
const { GrpcWebClientBase, MethodDescriptor, MethodType } = grpcWeb;
const [base, format, ...calls] = process.argv.slice(2);
const client = new GrpcWebClientBase({ format });
const hex = (u) => Buffer.from(u).toString("hex");
const bytes = (h) => new Uint8Array(Buffer.from(h, "hex"));
class Raw { constructor(b) { this.b = b; } serializeBinary() { return this.b; } }

function run(spec) {
  const [kind, path, h, ...md] = spec.split(":");
  const metadata = Object.fromEntries(md.map((kv) => kv.split("=")));
  const desc = new MethodDescriptor(path, kind === "unary" ? MethodType.UNARY : MethodType.SERVER_STREAMING,
    Raw, Raw, (r) => r.serializeBinary(), (b) => new Raw(b));
  return new Promise((resolve) => {
    const res = { messages: [], code: null, details: null, metadata: null };
    if (kind === "unary") {
      const call = client.rpcCall(base + path, new Raw(bytes(h)), metadata, desc, (err, reply) => {
        if (err) { res.code = err.code; res.details = err.message; }
        else { res.messages.push(hex(reply.b)); res.code = 0; }
        resolve(res);
      });
      call.on("metadata", (m) => { res.metadata = m; });
    } else {
      const s = client.serverStreaming(base + path, new Raw(bytes(h)), metadata, desc);
      s.on("data", (m) => res.messages.push(hex(m.b)));
      s.on("status", (st) => { res.code = st.code; res.details = st.details; });
      s.on("error", (e) => { res.code = e.code; res.details = e.message; resolve(res); });
      s.on("end", () => resolve(res));
    }
  });
}

for (const c of calls) process.stdout.write(JSON.stringify(await run(c)) + "\n");
