// The grpc-js peer of grpc_bench.py: bench.Echo from grpc_echo.proto,
// loaded at start with @grpc/proto-loader (as Portico loads it), one process.
//
//   Echo  unary: answers the request message (decoded, then encoded again)
//   Chat  bidi: sends every message back as it comes, ends when the client does
//
//   node grpc_peer.js PORT     (listens on 127.0.0.1 only, plaintext h2c)
'use strict';
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const port = Number(process.argv[2]);
if (!(port > 0 && port < 65536)) {
  console.error('usage: node grpc_peer.js PORT');
  process.exit(2);
}

const def = protoLoader.loadSync(path.join(__dirname, 'grpc_echo.proto'), { keepCase: true });
const bench = grpc.loadPackageDefinition(def).bench;

const server = new grpc.Server();
server.addService(bench.Echo.service, {
  Echo: (call, callback) => callback(null, call.request),
  Chat: (call) => {
    call.on('data', (msg) => call.write(msg));
    call.on('end', () => call.end());
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) {
    console.error(err.message);
    process.exit(1);
  }
});
process.on('SIGTERM', () => process.exit(0));
