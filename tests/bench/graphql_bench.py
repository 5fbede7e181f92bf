#!/usr/bin/python3
"""GraphQL: Portico's graphql plugin against graphql-js on Node (node:http).

The same schema and data on both sides: a three-level query over 100 items
whose second and third levels are batched (graphql.batch in Lua, a
DataLoader-style loader in JavaScript: one call per level). One Portico
worker against one Node process; the server is pinned to CPU 0 and wrk to
CPU 1; the servers run alternately, 3 rounds, medians reported with the
server's CPU time per request (utime+stime from /proc/PID/stat).

    tests/bench/graphql_bench.py [--duration 5] [--rounds 3] [--conns 20]

Needs: wrk, node 20 with graphql 16 (npm install --prefix ~/.cache/portico-npm
graphql@16.8.1), a built core/portico and plugins/graphql. Traffic goes to
127.0.0.1 only and every run is bounded in time.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import ROOT, PORTICO, Server, free_port, compare_wrk  # noqa: E402

NPM = os.path.expanduser(os.environ.get("PORTICO_NPM_CACHE", "~/.cache/portico-npm"))
QUERY = "{ items(n: 100) { id name detail { id label more { id value } } } }"

SCHEMA = """
type Query { items(n: Int!): [Item!]! }
type Item { id: ID! name: String! detail: Detail! }
type Detail { id: ID! label: String! more: More! }
type More { id: ID! value: Float! }
"""

LUA = """
local graphql = require "graphql"
local items, details, more = {}, {}, {}
for i = 1, 100 do
  items[i] = { id = tostring(i), name = "item " .. i }
  details[tostring(i)] = { id = tostring(i), label = "detail " .. i }
  more[tostring(i)] = { id = tostring(i), value = i / 4 }
end
graphql.resolvers {
  Query = { items = function(_, a) return { table.unpack(items, 1, a.n) } end },
  Item = { detail = graphql.batch(function(parents)
    local out = {} for i, p in ipairs(parents) do out[i] = details[p.id] end return out end) },
  Detail = { more = graphql.batch(function(parents)
    local out = {} for i, p in ipairs(parents) do out[i] = more[p.id] end return out end) },
}
route.post("/graphql", "graphql")
"""

NODE = r"""
const { createRequire } = require('node:module');
const http = require('node:http');
const req = createRequire(process.env.NPM_DIR + '/');
const { buildSchema, graphql } = req('graphql');
const schema = buildSchema(process.env.SCHEMA);
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
const root = { items: ({ n }) => items.slice(0, n).map((it) => ({
  ...it,
  detail: (_, ctx) => ctx.details(it.id),
})) };
const fieldResolver = (src, args, ctx, info) => {
  if (info.parentType.name === 'Detail' && info.fieldName === 'more') return ctx.more(src.id);
  const v = src[info.fieldName];
  return typeof v === 'function' ? v(args, ctx, info) : v;
};
http.createServer((rq, rs) => {
  let body = '';
  rq.on('data', (c) => { body += c; });
  rq.on('end', async () => {
    const { query, variables } = JSON.parse(body);
    const ctx = { details: loader((ids) => ids.map((id) => details[id])),
                  more: loader((ids) => ids.map((id) => more[id])) };
    const r = await graphql({ schema, source: query, variableValues: variables,
                              rootValue: root, contextValue: ctx, fieldResolver });
    const out = JSON.stringify(r);
    rs.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
    rs.end(out);
  });
}).listen(+process.env.PORT, '127.0.0.1');
"""


def portico_server(work):
    port = free_port()
    os.makedirs(os.path.join(work, "routes"), exist_ok=True)
    with open(os.path.join(work, "schema.graphql"), "w") as f:
        f.write(SCHEMA)
    with open(os.path.join(work, "routes", "bench.lua"), "w") as f:
        f.write(LUA)
    conf = os.path.join(work, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{ROOT}/plugins/.libs"\nlog = {{ level = "warn" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'plugin "graphql" {{ schema = "{work}/schema.graphql" }}\n'
                f'routes "{work}/routes"\n')
    return Server("portico", [PORTICO, "-c", conf], port, port)


class NodeServer(Server):
    def start(self):
        os.environ.update(PORT=str(self.port), NPM_DIR=NPM, SCHEMA=SCHEMA)
        return super().start()


def node_server(work):
    port = free_port()
    script = os.path.join(work, "server.js")
    with open(script, "w") as f:
        f.write(NODE)
    return NodeServer("graphql-js", ["node", script], port, port)


def check_same(servers):
    """Both servers answer the benchmark query with the same data."""
    answers = []
    for s in servers:
        s.start()
        try:
            rq = urllib.request.Request(f"http://127.0.0.1:{s.port}/graphql",
                                        data=json.dumps({"query": QUERY}).encode(),
                                        headers={"content-type": "application/json"})
            answers.append(json.load(urllib.request.urlopen(rq, timeout=5)))
        finally:
            s.stop()
    if answers[0] != answers[1] or "errors" in answers[0]:
        sys.exit("graphql_bench: the servers disagree:\n%s\n%s" % tuple(
            json.dumps(a)[:300] for a in answers))
    return len(json.dumps(answers[0]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=20)
    a = ap.parse_args()
    for tool in ("wrk", "node", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"graphql_bench: {tool} is not installed")
    if not os.path.exists(os.path.join(NPM, "node_modules", "graphql")):
        subprocess.run(["npm", "install", "--prefix", NPM, "--no-audit", "--no-fund",
                        "graphql@16.8.1"], check=True, timeout=180)
    work = tempfile.mkdtemp(prefix="portico-gqlbench-")
    lua = os.path.join(work, "post.lua")
    with open(lua, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
                'wrk.body = %s\n' % json.dumps(json.dumps({"query": QUERY})))
    servers = [portico_server(work), node_server(work)]
    size = check_same(servers)
    print(f"query: {QUERY}\nresponse: {size} bytes; wrk -t1 -c{a.conns} -d{a.duration}s, "
          f"{a.rounds} rounds, medians")
    compare_wrk(servers, a.rounds, a.conns, a.duration, "/graphql", script=lua)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
