// The Node peer of ws_bench.py: npm `ws` serving what Portico's bench
// routes serve, on the same URLs, so that ws_load drives both the same way.
//
//   GET  /ws/echo   WebSocket: every message is sent back (text or binary as it came)
//   GET  /ws/bench  WebSocket: receives what is published
//   POST /publish   the body goes to every open /ws/bench client as a text message
//
//   node ws_peer.js PORT     (listens on 127.0.0.1 only)
//
// Written the way the ws README shows: one http server, a WebSocketServer
// per path with noServer, the broadcast loop over wss.clients. bufferutil
// (in package.json) is ws's optional native masking, as its README advises.
'use strict';
const http = require('node:http');
const { WebSocketServer, WebSocket } = require('ws');

const port = Number(process.argv[2]);
if (!(port > 0 && port < 65536)) {
  console.error('usage: node ws_peer.js PORT');
  process.exit(2);
}

const echo = new WebSocketServer({ noServer: true });
const bench = new WebSocketServer({ noServer: true });

echo.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/publish') {
    res.writeHead(404).end('not found\n');
    return;
  }
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const msg = Buffer.concat(parts);
    let n = 0;
    for (const client of bench.clients) {
      if (client.readyState === WebSocket.OPEN) {
        client.send(msg, { binary: false });
        n++;
      }
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(String(n));
  });
});
server.keepAliveTimeout = 120000;

server.on('upgrade', (req, socket, head) => {
  const wss = req.url === '/ws/echo' ? echo : req.url === '/ws/bench' ? bench : null;
  if (!wss) {
    socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
});

server.listen(port, '127.0.0.1', () => console.log(`ws_peer listening on ${port}`));
process.on('SIGTERM', () => process.exit(0));
