"""The Lua sandbox against hostile and careless route scripts (issue 11):
objects kept past their request, a budget that pcall/coroutines/error
handlers cannot defeat, finalizers, globals at request time, collectgarbage,
and strings handed to C that the collector must not take early.

Every test that provokes something ends by checking that the daemon still
answers, on the same worker."""
import http.server
import json
import os
import re
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN, BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
OK = 'route.get("/ok", function() return "alive" end)\n'
BUDGETS = {
    # counted from every run's first instruction (a budget under 5,000,000)
    "exact": "lua = { max_instructions = 1000000 }",
    # the default 10,000,000: counted from a run's first CPU tick on
    "default": "",
}
FAST = BUDGETS["exact"]


@pytest.fixture(autouse=True, params=sorted(BUDGETS))
def budget(request):
    """Every test runs under both ways of counting the budget."""
    global FAST
    FAST = BUDGETS[request.param]
    yield request.param
    FAST = BUDGETS["exact"]


def daemon(portico, tmp_path, script, extra=None, **kw):
    extra = FAST if extra is None else extra
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "s.lua").write_text(script + OK)
    return portico(f'routes "{d}"\n{extra}', **kw)


def alive(d):
    for _ in range(3):
        r = requests.get(d.url + "/ok", timeout=5)
        assert r.text == "alive"
    assert d.proc.poll() is None


# ---- 1. objects kept past their request ------------------------------------

KEEP = r'''
local last
route.get("/save", function(req) last = req; return "ok" end)
route.get("/use", function(req) return { v = tostring(last.headers["x-a"]) } end)
'''


def test_req_kept_past_its_request_is_an_error_not_a_crash(portico, tmp_path):
    # the exact script from the issue
    d = daemon(portico, tmp_path, KEEP)
    assert requests.get(d.url + "/save", headers={"x-a": "1"}, timeout=5).text == "ok"
    # other requests reuse the freed exchange's memory meanwhile
    for i in range(20):
        assert requests.get(d.url + "/ok", headers={"x-a": "other%d" % i}, timeout=5).ok
    for _ in range(5):
        r = requests.get(d.url + "/use", headers={"x-a": "2"}, timeout=5)
        assert r.status_code == 500
    assert d.wait_log("the request has ended")
    assert re.search(r"s\.lua:4: .*the request has ended", d.log())
    alive(d)


KEEP_MORE = r'''
local kept = {}
route.get("/save", function(req, res)
  kept.req, kept.res, kept.headers = req, res, req.headers
  kept.ctx = req.ctx
  kept.ctx.mine = "still here"
  return "ok"
end)
filter("keepf", function(req, res) kept.freq = req end)
route.get("/f", function() return "f" end, { keepf = true })
local function try(f)
  local ok, err = pcall(f)
  return ok and "no error" or tostring(err)
end
route.get("/use", function(req)
  return {
    path = try(function() return kept.req.path end),
    header = try(function() return kept.req:header("x-a") end),
    json = try(function() return kept.req:json() end),
    ctx = try(function() return kept.req.ctx end),
    set = try(function() kept.req.ctx = {} end),
    consumer = try(function() kept.req:set_consumer("x") end),
    status = try(function() kept.res:status(201) end),
    header_set = try(function() kept.res:header("x", "y") end),
    write = try(function() kept.res:write("late") end),
    finish = try(function() kept.res:finish() end),
    trailer = try(function() kept.res:trailer("x", "y") end),
    freq = try(function() return kept.freq.method end),
    -- plain tables copied out of the request stay usable
    copied = kept.headers["x-a"],
    ctx_table = kept.ctx.mine,
  }
end)
'''


def test_every_req_and_res_method_refuses_after_the_request(portico, tmp_path):
    d = daemon(portico, tmp_path, KEEP_MORE)
    assert requests.get(d.url + "/save", headers={"x-a": "first"}, timeout=5).text == "ok"
    assert requests.get(d.url + "/f", timeout=5).text == "f"
    for i in range(10):
        requests.get(d.url + "/ok", headers={"x-a": "x" * (i * 50)}, timeout=5)
    r = requests.get(d.url + "/use", headers={"x-a": "second"}, timeout=5).json()
    for k in ("path", "header", "json", "ctx", "set", "consumer", "status", "header_set",
              "write", "finish", "trailer", "freq"):
        assert "the request has ended" in r[k], (k, r[k])
    assert r["copied"] == "first"
    assert r["ctx_table"] == "still here"
    alive(d)


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers with the request's headers as JSON; keeps them for the test."""
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):
        hdrs = {k.lower(): v for k, v in self.headers.items()}
        Echo.seen.append(hdrs)
        body = json.dumps({"headers": hdrs}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def echo():
    Echo.seen = []
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_upstream_responses_proxies_and_coroutines_kept_past_their_request(
        portico, tmp_path, echo):
    d = daemon(portico, tmp_path, r'''
local kept = {}
local p = proxy(upstream "echo")
route.get("/save", function(req)
  kept.up = http.request{ url = "http://127.0.0.1:%d/x", headers = { ["x-k"] = "v" } }
  kept.req = req
  kept.co = coroutine.wrap(function() local n = 0 while true do n = n + 1 coroutine.yield(n) end end)
  kept.co()
  return "ok"
end)
route.get("/use", function(req, res)
  local ok, err = pcall(p, kept.req, res)
  return { up = kept.up.headers["content-type"], body = json.decode(kept.up.body).headers["x-k"],
           co = kept.co(), proxy = tostring(err) }
end)
''' % echo, extra=FAST + '\nupstream "echo" { servers = { "127.0.0.1:%d" } }' % echo)
    assert requests.get(d.url + "/save", timeout=5).text == "ok"
    for _ in range(10):
        requests.get(d.url + "/ok", timeout=5)
    r = requests.get(d.url + "/use", timeout=5).json()
    assert r["up"] == "application/json" and r["body"] == "v" and r["co"] == 2
    assert "the request has ended" in r["proxy"]
    alive(d)


def test_a_requests_own_coroutine_cannot_be_resumed_by_another(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
local kept
route.get("/wait", function() kept = coroutine.running(); sleep(0.5); return "woke" end)
route.get("/poke", function()
  local a = { pcall(coroutine.resume, kept) }
  local b = { pcall(coroutine.close, kept) }
  return { resume = tostring(a[2]), close = tostring(b[2]) }
end)
''')
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "w", requests.get(d.url + "/wait", timeout=5)))
    t.start()
    time.sleep(0.2)
    r = requests.get(d.url + "/poke", timeout=5).json()
    assert "Portico's" in r["resume"] and "Portico's" in r["close"], r
    t.join()
    assert out["w"].text == "woke"
    alive(d)


GQL_SCHEMA = ("interface Node { id: ID }\ntype U implements Node { id: ID }\n"
              "type Query { save: String  use: String  spin: String  ok: String  node: Node }\n")
GQL_ROUTES = r'''
local graphql = require "graphql"
local kept = {}
graphql.context(function(ctx) ctx.who = "ada" end)
graphql.resolvers {
  Query = {
    save = function(parent, args, ctx, info)
      kept.ctx, kept.args, kept.info, kept.parent = ctx, args, info, parent
      kept.co = coroutine.running()
      return "saved"
    end,
    use = function()
      local info = {}
      for k, v in pairs(kept.info or {}) do info[#info + 1] = k .. "=" .. type(v) end
      return json.encode({ who = kept.ctx.who, hdr = kept.ctx.headers["x-a"],
                           info = #info, co = coroutine.status(kept.co) })
    end,
    spin = function() while true do pcall(function() while true do end end) end end,
    ok = function() return "ok" end,
    node = function() return { id = "1" } end,
  },
  -- called by the executor directly, outside any coroutine
  Node = { __resolveType = function()
    while true do pcall(function() while true do end end) end
  end },
}
route.post("/graphql", "graphql")
'''


def gql(d, q):
    return requests.post(d.url + "/graphql", json={"query": q}, headers={"x-a": "h"},
                         timeout=10)


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                    reason="plugins/graphql is not built")
def test_graphql_context_args_and_info_kept_past_their_request(portico, tmp_path):
    (tmp_path / "schema.graphql").write_text(GQL_SCHEMA)
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "g.lua").write_text(GQL_ROUTES + OK)
    d = portico(f'plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}\n'
                f'routes "{rdir}"\n{FAST}', plugins_dir=PLUGINS)
    assert gql(d, "{ save }").json() == {"data": {"save": "saved"}}
    for _ in range(10):
        assert gql(d, "{ ok }").json() == {"data": {"ok": "ok"}}
    r = gql(d, "{ use }").json()
    got = json.loads(r["data"]["use"])
    assert got["who"] == "ada" and got["hdr"] == "h" and got["co"] == "dead"
    # the budget holds in a resolver too, and the worker goes on
    t0 = time.monotonic()
    r = gql(d, "{ spin }")
    assert time.monotonic() - t0 < 8
    assert r.json()["data"] in (None, {"spin": None}) and r.json()["errors"]
    assert gql(d, "{ ok }").json() == {"data": {"ok": "ok"}}
    t0 = time.monotonic()
    r = gql(d, "{ node { id } }")
    assert time.monotonic() - t0 < 8
    assert r.json()["errors"]
    assert gql(d, "{ ok }").json() == {"data": {"ok": "ok"}}
    alive(d)


# ---- 2. the instruction budget against everything that catches errors -------

SPINS = {
    # the exact script from the issue
    "pcall": "while true do pcall(function() while true do end end) end",
    "xpcall": "while true do xpcall(function() while true do end end, function(e) return e end) end",
    "handler": "while true do xpcall(error, function() while true do end end) end",
    "handler_pcall": "while true do xpcall(error, function() while true do pcall(error) end end) end",
    "resume": "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
    "resume_pcall": "while true do coroutine.resume(coroutine.create(function() "
                    "while true do pcall(function() while true do end end) end end)) end",
    "wrap": "while true do pcall(coroutine.wrap(function() while true do end end)) end",
    "wrap_plain": "while true do coroutine.wrap(function() while true do end end)() end",
    "close": "while true do local co = coroutine.create(function() "
             "local x <close> = setmetatable({}, { __close = function() while true do end end }) "
             "coroutine.yield() end) coroutine.resume(co) coroutine.close(co) end",
    "tbc": "local x <close> = setmetatable({}, { __close = function() "
           "while true do pcall(function() while true do end end) end end }) "
           "while true do end",
    "sort": "table.sort({ 3, 2, 1, 5, 4 }, function(a, b) "
            "while true do pcall(function() while true do end end) end end)",
    "gsub": "string.gsub(string.rep('a', 100), 'a', function() "
            "while true do pcall(function() while true do end end) end end)",
    "load": "while true do load(function() while true do end end) end",
    "tostring": "local t = setmetatable({}, { __tostring = function() "
                "while true do pcall(error) end end }) while true do pcall(tostring, t) end",
    "nested": "while true do pcall(pcall, pcall, function() "
              "while true do pcall(coroutine.wrap(function() while true do end end)) end end) end",
    "error_obj": "while true do pcall(error, setmetatable({}, { __tostring = function() "
                 "while true do end end })) end",
}


@pytest.mark.parametrize("name", sorted(SPINS))
def test_budget_holds_whatever_catches_errors(portico, tmp_path, name):
    d = daemon(portico, tmp_path, 'route.get("/spin", function()\n%s\nend)\n' % SPINS[name])
    t0 = time.monotonic()
    r = requests.get(d.url + "/spin", timeout=15)
    assert r.status_code == 500
    assert time.monotonic() - t0 < 10
    assert d.wait_log("instruction budget exceeded")
    alive(d)


def test_budget_holds_in_a_filter(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
filter("spin", function() while true do pcall(function() while true do end end) end end)
route.get("/f", function() return "never" end, { spin = true })
''')
    r = requests.get(d.url + "/f", timeout=15)
    assert r.status_code == 500
    assert d.wait_log("instruction budget exceeded")
    alive(d)


def check_refuses(portico, tmp_path, script, needle, timeout=60):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "load.lua").write_text(script)
    dd = portico(f'routes "{rdir}"', start=False)
    p = subprocess.run([BIN, "-t", "-c", dd.conf_path], capture_output=True, text=True,
                       timeout=timeout)
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert re.search(needle, out), out


@pytest.mark.parametrize("name", ["pcall", "resume_pcall", "wrap", "sort", "load", "tbc"])
def test_load_time_budget_refuses_the_scripts_with_file_and_line(portico, tmp_path, name):
    check_refuses(portico, tmp_path, "local x = 1\n%s\n" % SPINS[name],
                  r"load\.lua:\d+: .*(too long|budget)")


def test_load_time_spin_refuses_a_reload_and_the_old_routes_serve(portico, tmp_path):
    d = daemon(portico, tmp_path, "")
    (tmp_path / "routes" / "s.lua").write_text(OK + SPINS["pcall"] + "\n")
    d.signal(1)  # SIGHUP
    assert d.wait_log("too long", timeout=60), d.log()
    assert re.search(r"s\.lua:\d+: ", d.log())
    alive(d)


# ---- 3. finalizers -----------------------------------------------------------

def test_finalizer_cannot_run_unbounded(portico, tmp_path):
    # the exact script from the issue
    d = daemon(portico, tmp_path, r'''
route.get("/gc", function()
  setmetatable({}, { __gc = function() while true do end end }); collectgarbage()
  return "done"
end)
''')
    r = requests.get(d.url + "/gc", timeout=15)
    assert r.status_code == 500
    assert d.wait_log("__gc")
    alive(d)


GC_WAYS = {
    "false_then_function": "local mt = { __gc = false } setmetatable({}, mt) "
                           "mt.__gc = function() while true do end end",
    "later": "local mt = {} setmetatable({}, mt) mt.__gc = function() while true do end end "
             "setmetatable({}, mt)",
    "headers_mt": "getmetatable(req.headers).__gc = function() while true do end end",
    # the same metatable made first for req.trailers
    "trailers_mt": "getmetatable(req.trailers).__gc = function() while true do end end "
                   "local h = req.headers",
    "json_mt": "getmetatable(json.decode('[1]')).__gc = function() while true do end end "
               "json.decode('[2]')",
    "json_array_mt": "getmetatable(json.array({})).__gc = function() while true do end end "
                     "json.array({})",
    "string_mt": "getmetatable('').__gc = function() while true do end end",
    "rawset_mt": "local mt = {} rawset(mt, '__gc', function() while true do end end) "
                 "setmetatable({}, mt)",
}


@pytest.mark.parametrize("name", sorted(GC_WAYS))
def test_no_way_to_install_a_finalizer(portico, tmp_path, name):
    d = daemon(portico, tmp_path, r'''
route.get("/gc", function(req)
  local ok, err = pcall(function() %s end)
  for i = 1, 3 do local t = {} for j = 1, 1000 do t[j] = {} end end
  collectgarbage()
  collectgarbage()
  return { ok = ok, err = tostring(err) }
end)
''' % GC_WAYS[name])
    r = requests.get(d.url + "/gc", timeout=15)
    # refused (an error the script can see), never a hang
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is False, r.json()
    for _ in range(2):
        requests.get(d.url + "/gc", timeout=15)
    alive(d)


def test_finalizer_at_load_time_refuses_the_scripts(portico, tmp_path):
    check_refuses(portico, tmp_path, "local x = 1\nsetmetatable({}, { __gc = function() end })\n",
                  r"load\.lua:2: .*__gc")


# ---- 11. isolation: globals, collectgarbage ---------------------------------

def test_assigning_a_global_at_request_time_is_an_error_with_the_line(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
config = { name = "ada" }        -- globals set while the scripts load are fine
route.get("/read", function() return { name = config.name, json = type(json) } end)
route.get("/leak", function(req)
  user = req.headers["x-user"]
  sleep(0.2)
  return { user = user }
end)
route.get("/g", function() _G.x = 1 end)
route.get("/existing", function() config = nil end)
route.get("/rawset", function() rawset(_G, "y", 1) end)
route.get("/after", function() return { config = type(config), x = tostring(x), y = tostring(y),
                                         user = tostring(user) } end)
''')
    assert requests.get(d.url + "/read", timeout=5).json() == {"name": "ada", "json": "table"}
    out = {}

    def one(u):
        out[u] = requests.get(d.url + "/leak", headers={"x-user": u}, timeout=5)
    ts = [threading.Thread(target=one, args=(u,)) for u in ("alice", "bob")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert out["alice"].status_code == 500 and out["bob"].status_code == 500
    assert d.wait_log("global")
    assert re.search(r"s\.lua:5: .*global 'user'", d.log()), d.log()
    for p in ("/g", "/existing", "/rawset"):
        assert requests.get(d.url + p, timeout=5).status_code == 500, p
    assert requests.get(d.url + "/after", timeout=5).json() == {
        "config": "table", "x": "nil", "y": "nil", "user": "nil"}
    alive(d)


LIB_WRITES = {
    "new_field": "string.x = 1",
    "replace_fn": "string.format = function() return 'pwned' end",
    "rawset": "rawset(string, 'format', function() return 'pwned' end)",
    "json": "json.encode = function() return 'pwned' end",
    "table_insert": "table.insert(math, 1)",
    "metatable": "setmetatable(string, nil)",
    "coroutine": "coroutine.resume = nil",
}


def test_libraries_are_read_only_at_request_time(portico, tmp_path):
    # a library function one request replaced would run in every other one
    d = daemon(portico, tmp_path, r'''
function string.trim(s) return (s:gsub("^%%s+", ""):gsub("%%s+$", "")) end  -- fine while loading
local writes = { %s }
route.get("/w/:k", function(req)
  local ok, err = pcall(writes[req.params.k])
  return { ok = ok, err = tostring(err) }
end)
route.get("/use", function()
  return { fmt = string.format("%%d", 5), enc = json.encode({ 1 }), trim = ("  hi "):trim(),
           trim2 = string.trim(" x "), co = coroutine.wrap(function() return 7 end)() }
end)
''' % ", ".join("%s = function() %s end" % (k, v) for k, v in LIB_WRITES.items()))
    for k in LIB_WRITES:
        r = requests.get(d.url + "/w/" + k, timeout=5).json()
        assert r["ok"] is False, (k, r)
        assert "read-only" in r["err"] or "protected" in r["err"], (k, r)
    assert requests.get(d.url + "/use", timeout=5).json() == {
        "fmt": "5", "enc": "[1]", "trim": "hi", "trim2": "x", "co": 7}
    alive(d)


def test_collectgarbage_is_limited_to_harmless_options(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
route.get("/cg", function(req)
  local out = {}
  for _, o in ipairs({ "count", "step", "collect", "isrunning", "stop", "restart",
                       "incremental", "generational", "setpause", "setstepmul", "bogus" }) do
    local ok, err = pcall(collectgarbage, o)
    out[o] = ok and "ok" or tostring(err)
  end
  return out
end)
route.get("/spin", function() while true do collectgarbage() end end)
''')
    r = requests.get(d.url + "/cg", timeout=5).json()
    for o in ("count", "step", "collect", "isrunning"):
        assert r[o] == "ok", (o, r[o])
    for o in ("stop", "restart", "incremental", "generational", "setpause", "setstepmul",
              "bogus"):
        assert "collectgarbage" in r[o] and r[o] != "ok", (o, r[o])
    # a full collection costs budget: a loop of them ends like any other loop
    t0 = time.monotonic()
    assert requests.get(d.url + "/spin", timeout=15).status_code == 500
    assert time.monotonic() - t0 < 10
    alive(d)


# ---- 9a. http.request header values converted from numbers -------------------

NUMERIC = r'''
local URL = "http://127.0.0.1:%d/h"
route.get("/num", function(req)
  local headers = {}
  for i = 1, 16 do headers["x-n" .. i] = 100000 + i end
  local opts = { url = URL, headers = headers, timeout = 5 }
  local n = tonumber(req.query.n)
  -- fill the state with live objects, to within N nodes of its cap, so
  -- that the header conversions below hit the cap and run the collector
  collectgarbage()
  local hog = false
  pcall(function() while true do hog = { hog } end end)
  for i = 1, n do hog = hog and hog[1] end
  local ok, res, err = pcall(http.request, opts)
  hog = nil
  return { ok = ok, err = tostring(err or (not ok and res) or "") }
end)
'''


def test_numeric_header_values_arrive_intact_under_gc_pressure(portico, tmp_path, echo):
    d = daemon(portico, tmp_path, NUMERIC % echo,
               extra="lua = { max_instructions = 100000000, max_memory = 2097152 }")
    want = {"x-n%d" % i: str(100000 + i) for i in range(1, 17)}
    for n in range(0, 40):
        Echo.seen = []
        requests.get(d.url + "/num?n=%d" % n, timeout=10)
        for seen in Echo.seen:
            got = {k: v for k, v in seen.items() if k.startswith("x-n")}
            assert got == want, (n, got)
        assert d.proc.poll() is None, d.log()[-2000:]
    # a plain one, with room to spare
    Echo.seen = []
    r = requests.get(d.url + "/num?n=100000", timeout=10)
    assert Echo.seen, r.text
    assert {k: v for k, v in Echo.seen[0].items() if k.startswith("x-n")} == want
    alive(d)


def test_memory_held_across_a_wait_fails_others_without_killing_the_worker(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
route.get("/hold", function()
  local hog = false
  pcall(function() while true do hog = { hog } end end)
  sleep(0.6)
  return hog and "held" or "?"
end)
route.get("/json", function(req) return { a = { 1, 2, 3 }, q = req.query } end)
filter("f", function(req, res, opts) req.consumer = opts end)
route.get("/filtered", function(req) return { x = req.consumer } end, { f = "v" })
''', extra="lua = { max_instructions = 100000000, max_memory = 2097152 }")
    out = {}
    t = threading.Thread(target=lambda: out.setdefault(
        "hold", requests.get(d.url + "/hold", timeout=10)))
    t.start()
    time.sleep(0.3)
    # while the state is full: new requests (a new coroutine, req/res, filter
    # options) fail with a 500 or get through, but the worker lives
    for p in ("/json?a=1", "/filtered", "/ok", "/json?b=2"):
        r = requests.get(d.url + p, timeout=5)
        assert r.status_code in (200, 500), (p, r.status_code)
    t.join()
    assert out["hold"].status_code in (200, 500)
    assert d.proc.poll() is None
    alive(d)
    assert requests.get(d.url + "/filtered", timeout=5).json() == {"x": "v"}


def test_req_ctx_set_in_a_filter_reaches_the_handler(portico, tmp_path):
    d = daemon(portico, tmp_path, r'''
filter("f", function(req, res, opts) req.ctx.x = opts; req.mine = { n = 1 } end)
route.get("/filtered", function(req)
  return { x = req.ctx.x, n = req.mine and req.mine.n, same = req.ctx == req.ctx }
end, { f = "v" })
''')
    assert requests.get(d.url + "/filtered", timeout=5).json() == {"x": "v", "n": 1, "same": True}
    alive(d)
