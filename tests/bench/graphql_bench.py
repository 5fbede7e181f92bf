#!/usr/bin/python3
"""GraphQL: Portico's graphql plugin against graphql-js and graphql-jit on Node.

Two cases, the same schema, data and answers (byte for byte) on every side:

- batched: `{ items(n: 100) { id name detail { id label more { id value } } } }`,
  the second and third levels batched (graphql.batch in Lua, a
  DataLoader-style loader in JavaScript: one call per level); Portico
  against graphql-js.
- perfield: 12 users -> 5 friends each -> 3 posts each -> each post's author,
  a plain resolver per field (253 resolver calls, 1,117 fields per answer);
  Portico with Lua resolvers, the C floor (the same resolvers in C, the
  tests/plugins/gqlfloor.c fixture, through the same executor), graphql-jit
  (compiled queries cached by text, as Mercurius does) and graphql-js.

One Portico worker against one Node process; the server is pinned to CPU 0
and wrk to CPU 1; the servers run alternately, ROUNDS rounds, medians
reported with the server's CPU time per request (utime+stime from
/proc/PID/stat); ratios are within the run.

    tests/bench/graphql_bench.py [--case all|batched|perfield] [--duration 5]
        [--rounds 3] [--conns N] [--profile perf.txt] [--gql-opts 'max_complexity = 5000,']

--profile records Portico (Lua resolvers, perfield case) with `perf record -g`
under the same load and writes `perf report`'s flat top symbols to the file.

--callgrind N counts the user-space instructions per request of Portico
(perfield with Lua resolvers, perfield with the C floor, batched) under
valgrind's callgrind: started uninstrumented, 20 requests of warm-up, then
instrumentation on (callgrind_control) for N requests one after another on
one connection, off again; other work on the machine does not change the
count. The callgrind files are kept in --callgrind-dir when given (for
callgrind_annotate: the profile of exactly those N requests).

Needs: wrk, node 20 with graphql 16.8.1 and graphql-jit 0.8.9 (installed
with npm into ~/.cache/portico-npm when missing), a built core/portico,
plugins/graphql and tests/plugins/gqlfloor.la (`make tests/plugins/gqlfloor.la`).
Traffic goes to 127.0.0.1 only and every run is bounded in time.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from http_bench import ROOT, PORTICO, Server, free_port, measure, run_wrk  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NPM = os.path.expanduser(os.environ.get("PORTICO_NPM_CACHE", "~/.cache/portico-npm"))
NPM_PKGS = {"graphql": "16.8.1", "graphql-jit": "0.8.9"}
FLOOR_SO = os.path.join(ROOT, "tests", "plugins", ".libs", "gqlfloor.so")

BATCHED = {
    "query": "{ items(n: 100) { id name detail { id label more { id value } } } }",
    "conns": 20,
    "schema": """
type Query { items(n: Int!): [Item!]! }
type Item { id: ID! name: String! detail: Detail! }
type Detail { id: ID! label: String! more: More! }
type More { id: ID! value: Float! }
""",
    "lua": """
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
""",
}

PERFIELD = {
    "query": "{ users(first: 12) { id name friends(first: 5) { id name "
             "posts(first: 3) { id title author { id name } } } } }",
    "conns": 64,
    "schema": """
type Query { users(first: Int!): [User!]! }
type User { id: ID! name: String! friends(first: Int!): [User!]! posts(first: Int!): [Post!]! }
type Post { id: ID! title: String! author: User! }
""",
    # the data as tests/plugins/gqlfloor.c and graphql_peer.js build it
    "lua": """
local graphql = require "graphql"
local users, posts = {}, {}
for i = 1, 100 do
  local f, p = {}, {}
  for k = 1, 8 do f[k] = (i * 7 + k * 13) % 100 + 1 end
  for k = 1, 10 do p[k] = (i - 1) * 10 + k end
  users[i] = { id = tostring(i), name = "user " .. i, friend_ids = f, post_ids = p }
end
for j = 1, 1000 do
  posts[j] = { id = "p" .. j, title = "post " .. j, author_id = j * 31 % 100 + 1 }
end
local function take(ids, n, from)
  local out = {}
  for k = 1, math.min(n, #ids) do out[k] = from[ids[k]] end
  return out
end
graphql.resolvers {
  Query = { users = function(_, a)
    local out = {}
    for i = 1, math.min(a.first, #users) do out[i] = users[i] end
    return out
  end },
  User = { friends = function(u, a) return take(u.friend_ids, a.first, users) end,
           posts = function(u, a) return take(u.post_ids, a.first, posts) end },
  Post = { author = function(p) return users[p.author_id] end },
}
route.post("/graphql", "graphql")
""",
    # the resolvers' work in C; the one-line Lua wrappers declare what they
    # take, as the Lua resolvers do (a C function, vararg to Lua, would get
    # the info table made for it)
    "floor_lua": """
local graphql = require "graphql"
local c = require("gqlfloor").resolvers
local users, friends, posts, author = c.Query.users, c.User.friends, c.User.posts, c.Post.author
graphql.resolvers {
  Query = { users = function(_, a) return users(_, a) end },
  User = { friends = function(u, a) return friends(u, a) end,
           posts = function(u, a) return posts(u, a) end },
  Post = { author = function(p) return author(p) end },
}
route.post("/graphql", "graphql")
""",
}


def portico_server(work, name, case, lua, gql_opts):
    """A Portico serving CASE with the route script LUA in WORK/NAME."""
    port = free_port()
    d = tempfile.mkdtemp(prefix=name + "-", dir=work)
    os.makedirs(os.path.join(d, "routes"))
    os.makedirs(os.path.join(d, "plugins"))
    for so in (os.path.join(ROOT, "plugins", ".libs", "graphql.so"), FLOOR_SO):
        if os.path.exists(so):
            os.symlink(so, os.path.join(d, "plugins", os.path.basename(so)))
    with open(os.path.join(d, "schema.graphql"), "w") as f:
        f.write(case["schema"])
    with open(os.path.join(d, "routes", "bench.lua"), "w") as f:
        f.write(lua)
    floor = 'plugin "gqlfloor" {}\n' if "gqlfloor" in lua else ""
    conf = os.path.join(d, "portico.conf")
    with open(conf, "w") as f:
        f.write(f'workers = 1\nplugins_dir = "{d}/plugins"\nlog = {{ level = "warn" }}\n'
                f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                f'plugin "graphql" {{ schema = "{d}/schema.graphql", {gql_opts} }}\n{floor}'
                f'routes "{d}/routes"\n')
    return Server(name, [PORTICO, "-c", conf], port, port)


class NodeServer(Server):
    def __init__(self, name, argv, port, env):
        super().__init__(name, argv, port, port)
        self.env = env

    def start(self):
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return super().start()
        finally:
            os.environ.clear()
            os.environ.update(saved)


def node_server(name, engine, case_name, case):
    port = free_port()
    return NodeServer(name, ["node", os.path.join(HERE, "graphql_peer.js")], port,
                      dict(PORT=str(port), NPM_DIR=NPM, SCHEMA=case["schema"], ENGINE=engine,
                           CASE=case_name))


def ask(s, query):
    rq = urllib.request.Request(f"http://127.0.0.1:{s.port}/graphql",
                                data=json.dumps({"query": query}).encode(),
                                headers={"content-type": "application/json",
                                         "accept": "application/json"})
    return urllib.request.urlopen(rq, timeout=5).read()


def check_same(servers, query):
    """Every server answers QUERY with the same bytes and no error; the size."""
    answers = []
    for s in servers:
        s.start()
        try:
            answers.append(ask(s, query))
        finally:
            s.stop()
    for s, a in zip(servers, answers):
        if a != answers[0] or b'"errors"' in a:
            sys.exit("graphql_bench: %s and %s disagree:\n%s\n%s" % (
                servers[0].name, s.name, answers[0][:300], a[:300]))
    return len(answers[0])


def compare(servers, rounds, conns, duration, script):
    """wrk against SERVERS alternately, ROUNDS times; medians and ratios."""
    res = {s.name: [] for s in servers}
    for _ in range(rounds):
        for s in servers:
            s.start()
            try:
                res[s.name].append(measure(s, lambda: run_wrk(s.port, conns, duration,
                                                              "/graphql", 1, script)))
            finally:
                s.stop()
    print(f"{'server':<12} {'req/s':>8} {'p99 ms':>8} {'cpu us/req':>10} {'errors':>6}   "
          "rounds (req/s)")
    med = {}
    for s in servers:
        med[s.name] = {k: statistics.median(r[k] for r in res[s.name]) for k in res[s.name][0]}
        m = med[s.name]
        print(f"{s.name:<12} {m['rps']:>8.0f} {m['p99']:>8.2f} {m['us_req']:>10.1f} "
              f"{m['errors']:>6.0f}   " + " ".join(f"{r['rps']:.0f}" for r in res[s.name]))
    p = med[servers[0].name]
    for s in servers[1:]:
        n = med[s.name]
        print(f"ratio {servers[0].name}/{s.name}: req/s {p['rps'] / n['rps']:.2f}, p99 "
              f"{p['p99'] / n['p99']:.2f}, cpu/req {p['us_req'] / n['us_req']:.2f} "
              "(lower is better for p99 and cpu)")
    return med


def wrk_script(work, name, query):
    path = os.path.join(work, name + ".lua")
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\nwrk.headers["content-type"] = "application/json"\n'
                'wrk.body = %s\n' % json.dumps(json.dumps({"query": query})))
    return path


def profile(server, conns, duration, script, out):
    """perf record -g of SERVER under wrk; perf report's top symbols to OUT."""
    data = out + ".data"
    server.start()
    try:
        ask(server, PERFIELD["query"])
        perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o", data, "-p",
                                 str(server.proc.pid), "--", "sleep", str(duration)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        run_wrk(server.port, conns, duration - 1, "/graphql", 1, script)
        perf.wait(duration + 30)
    finally:
        server.stop()
    rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--sort", "dso,symbol", "-g", "none", "--percent-limit", "0.7"],
                         capture_output=True, text=True, timeout=120).stdout
    with open(out, "w") as f:
        f.write("\n".join(line for line in rep.splitlines()
                          if line.strip() and not line.startswith("#")) + "\n")
    if not os.environ.get("KEEP_PERF_DATA"):
        os.unlink(data)
    print(f"profile: {out}")


def callgrind_count(work, name, case, lua, gql_opts, n, keep):
    """Instructions per request of a Portico serving CASE, N requests
    counted by callgrind (see --callgrind)."""
    import http.client
    srv = portico_server(work, name, case, lua, gql_opts)
    if keep:
        os.makedirs(keep, exist_ok=True)   # callgrind does not start without it
    out = os.path.join(keep or work, f"callgrind.{name}.out")
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                             f"--callgrind-out-file={out}"] + srv.argv,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = json.dumps({"query": case["query"]})
    hdrs = {"content-type": "application/json", "accept": "application/json"}
    try:
        from http_bench import wait_port
        wait_port(srv.port, 120)
        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)

        def ask_n(k):
            for _ in range(k):
                conn.request("POST", "/graphql", body, hdrs)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200 or b'"errors"' in data:
                    raise RuntimeError(f"{name}: {r.status} {data[:200]!r}")
        ask_n(20)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                       capture_output=True, timeout=60)
        ask_n(n)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True,
                       capture_output=True, timeout=60)
        conn.close()
    finally:
        proc.terminate()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    total = 0
    for f in os.listdir(keep or work):   # a file per thread with --separate-threads
        if f.startswith(f"callgrind.{name}.out"):
            with open(os.path.join(keep or work, f)) as fh:
                # "summary:" counts from the start (0: uninstrumented), "totals:" what was
                total += max([int(line.split()[1]) for line in fh
                              if line.startswith(("summary:", "totals:"))] or [0])
    return total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=("all", "batched", "perfield"), default="all")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=0, help="default: 20 batched, 64 perfield")
    ap.add_argument("--profile", metavar="FILE", help="perf profile of the perfield case")
    ap.add_argument("--gql-opts", default="", help="extra options of the graphql plugin")
    ap.add_argument("--callgrind", type=int, metavar="N",
                    help="instructions per request over N requests (callgrind), no wrk")
    ap.add_argument("--callgrind-dir", help="keep the callgrind files here")
    a = ap.parse_args()
    if a.callgrind:
        work = tempfile.mkdtemp(prefix="portico-gqlbench-")
        try:
            runs = []
            if a.case in ("all", "perfield"):
                runs += [("perfield", PERFIELD, PERFIELD["lua"])]
                if os.path.exists(FLOOR_SO):
                    runs += [("perfield-floor", PERFIELD, PERFIELD["floor_lua"])]
            if a.case in ("all", "batched"):
                runs += [("batched", BATCHED, BATCHED["lua"])]
            for name, case, lua in runs:
                ir = callgrind_count(work, name, case, lua, a.gql_opts, a.callgrind,
                                     a.callgrind_dir)
                print(f"{name:<16} {ir:>12,.0f} instructions/request ({a.callgrind} requests)")
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    for tool in ("wrk", "node", "taskset") + (("perf",) if a.profile else ()):
        if not shutil.which(tool):
            sys.exit(f"graphql_bench: {tool} is not installed")
    missing = [f"{p}@{v}" for p, v in NPM_PKGS.items()
               if not os.path.exists(os.path.join(NPM, "node_modules", p, "package.json"))]
    if missing:
        subprocess.run(["npm", "install", "--prefix", NPM, "--no-audit", "--no-fund"] + missing,
                       check=True, timeout=180)
    if a.case != "batched" and not os.path.exists(FLOOR_SO):
        sys.exit("graphql_bench: build the C floor first: make tests/plugins/gqlfloor.la")
    work = tempfile.mkdtemp(prefix="portico-gqlbench-")
    try:
        if a.profile:
            script = wrk_script(work, "perfield", PERFIELD["query"])
            profile(portico_server(work, "profiled", PERFIELD, PERFIELD["lua"], a.gql_opts),
                    a.conns or PERFIELD["conns"], max(a.duration, 5), script, a.profile)
            return
        if a.case in ("all", "batched"):
            c = BATCHED
            servers = [portico_server(work, "portico", c, c["lua"], a.gql_opts),
                       node_server("graphql-js", "js", "batched", c)]
            size = check_same(servers, c["query"])
            conns = a.conns or c["conns"]
            print(f"\n== batched: {c['query']}\nresponse: {size} bytes, identical; wrk -t1 "
                  f"-c{conns} -d{a.duration}s, {a.rounds} rounds, medians")
            compare(servers, a.rounds, conns, a.duration, wrk_script(work, "batched", c["query"]))
        if a.case in ("all", "perfield"):
            c = PERFIELD
            servers = [portico_server(work, "portico", c, c["lua"], a.gql_opts),
                       portico_server(work, "c-floor", c, c["floor_lua"], a.gql_opts),
                       node_server("graphql-jit", "jit", "perfield", c),
                       node_server("graphql-js", "js", "perfield", c)]
            size = check_same(servers, c["query"])
            conns = a.conns or c["conns"]
            print(f"\n== perfield: {c['query']}\nresponse: {size} bytes, identical; wrk -t1 "
                  f"-c{conns} -d{a.duration}s, {a.rounds} rounds, medians")
            compare(servers, a.rounds, conns, a.duration, wrk_script(work, "perfield", c["query"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
