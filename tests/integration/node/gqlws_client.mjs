// Drives the npm graphql-ws client (on the npm ws WebSocket) against a
// Portico GraphQL route, for tests/integration/test_graphql_ws.py.
//
//   node gqlws_client.mjs ws://127.0.0.1:PORT/graphql EVENTS
//
// Connects with connectionParams { token: "good", user: "ada" }, runs the
// query { hello, me }, then subscribes to postAdded(author: "ada") and
// prints one JSON line per message it gets:
//   {"query": <result>}            the query's result
//   {"connected": true}            the connection was acknowledged
//   {"subscribed": true}           the subscribe message went out
//   {"next": <result>}             each subscription event
//   {"done": true} / {"error": ...}
// It ends after EVENTS events, or by itself after 15 seconds.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const url = process.argv[2];
const want = Number(process.argv[3] || 1);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const timer = setTimeout(() => {
  out({ error: 'timeout' });
  process.exit(2);
}, 15000);

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { token: 'good', user: 'ada' },
  lazy: false,
  retryAttempts: 0,
  on: { connected: () => out({ connected: true }) },
});

function finish(code) {
  clearTimeout(timer);
  client.dispose();
  setTimeout(() => process.exit(code), 50);
}

try {
  const query = await new Promise((resolve, reject) => {
    let result;
    client.subscribe({ query: '{ hello me }' }, {
      next: (r) => { result = r; },
      error: reject,
      complete: () => resolve(result),
    });
  });
  out({ query });
  let n = 0;
  client.subscribe(
    { query: 'subscription S($a: String!) { postAdded(author: $a) { id title } }',
      variables: { a: 'ada' }, operationName: 'S' },
    {
      next: (r) => {
        out({ next: r });
        if (++n >= want) {
          out({ done: true });
          finish(0);
        }
      },
      error: (e) => { out({ error: JSON.stringify(e) || String(e) }); finish(1); },
      complete: () => { out({ complete: true }); },
    },
  );
  out({ subscribed: true });
} catch (e) {
  out({ error: String(e && (e.message || e.reason || e.code || e)) });
  finish(1);
}
