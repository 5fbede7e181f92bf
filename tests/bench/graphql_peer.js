// The Node peers of tests/bench/graphql_bench.py: one node:http server that
// answers POST /graphql with graphql-js or graphql-jit (the executor Mercurius
// uses; compiled queries cached by query text, as Mercurius does).
//
//   ENGINE=js|jit CASE=batched|perfield PORT=... NPM_DIR=... SCHEMA=... node graphql_peer.js
//
// CASE=batched: items -> detail -> more, the lower levels through a
// DataLoader-style loader (one call per level), like graphql.batch.
// CASE=perfield: users -> friends -> posts -> author, a plain resolver per
// field (the data built as the Lua script and the C floor build it).
'use strict';
const { createRequire } = require('node:module');
const http = require('node:http');
const req = createRequire(process.env.NPM_DIR + '/');
const { buildSchema, graphql, parse } = req('graphql');
const schema = buildSchema(process.env.SCHEMA);
const ENGINE = process.env.ENGINE || 'js';

function batchedCase() {
  const items = [], details = {}, more = {};
  for (let i = 1; i <= 100; i++) {
    items.push({ id: String(i), name: 'item ' + i });
    details[i] = { id: String(i), label: 'detail ' + i };
    more[i] = { id: String(i), value: i / 4 };
  }
  // DataLoader-style: keys asked for in one tick are loaded in one call
  function loader(batch) {
    let queue = null;
    return (key) => new Promise((resolve) => {
      if (!queue) {
        queue = [];
        process.nextTick(() => {
          const q = queue; queue = null;
          const out = batch(q.map((x) => x.key));
          q.forEach((x, i) => x.resolve(out[i]));
        });
      }
      queue.push({ key, resolve });
    });
  }
  const resolvers = {
    Query: { items: (_, { n }) => items.slice(0, n) },
    Item: { detail: (it, _, ctx) => ctx.details(it.id) },
    Detail: { more: (d, _, ctx) => ctx.more(d.id) },
  };
  const context = () => ({ details: loader((ids) => ids.map((id) => details[id])),
                           more: loader((ids) => ids.map((id) => more[id])) });
  return { resolvers, context };
}

function perFieldCase() {
  const users = [null], posts = [null];
  for (let i = 1; i <= 100; i++) {
    const f = [], p = [];
    for (let k = 1; k <= 8; k++) f.push((i * 7 + k * 13) % 100 + 1);
    for (let k = 1; k <= 10; k++) p.push((i - 1) * 10 + k);
    users.push({ id: String(i), name: 'user ' + i, friend_ids: f, post_ids: p });
  }
  for (let j = 1; j <= 1000; j++)
    posts.push({ id: 'p' + j, title: 'post ' + j, author_id: j * 31 % 100 + 1 });
  const take = (ids, n, from) => ids.slice(0, n).map((id) => from[id]);
  const resolvers = {
    Query: { users: (_, { first }) => users.slice(1, 1 + first) },
    User: { friends: (u, { first }) => take(u.friend_ids, first, users),
            posts: (u, { first }) => take(u.post_ids, first, posts) },
    Post: { author: (p) => users[p.author_id] },
  };
  return { resolvers, context: () => ({}) };
}

const { resolvers, context } = process.env.CASE === 'perfield' ? perFieldCase() : batchedCase();
// resolvers on the schema's fields, so both engines call them the same way
for (const [type, fields] of Object.entries(resolvers))
  for (const [name, fn] of Object.entries(fields))
    schema.getType(type).getFields()[name].resolve = fn;

let execute;
if (ENGINE === 'jit') {
  const { compileQuery, isCompiledQuery } = req('graphql-jit');
  const cache = new Map();
  execute = (query, variables, ctx) => {
    let c = cache.get(query);
    if (!c) {
      c = compileQuery(schema, parse(query));
      if (!isCompiledQuery(c)) return c;   // errors
      cache.set(query, c);
    }
    return c.query({}, ctx, variables);
  };
} else {
  execute = (query, variables, ctx) => graphql({ schema, source: query, variableValues: variables,
                                                 rootValue: {}, contextValue: ctx });
}

http.createServer((rq, rs) => {
  let body = '';
  rq.on('data', (c) => { body += c; });
  rq.on('end', async () => {
    const { query, variables } = JSON.parse(body);
    const r = await execute(query, variables, context());
    const out = JSON.stringify(r);
    rs.writeHead(200, { 'content-type': 'application/json',
                        'content-length': Buffer.byteLength(out) });
    rs.end(out);
  });
}).listen(+process.env.PORT, '127.0.0.1');
