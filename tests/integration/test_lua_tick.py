"""The default instruction budget, counted from a run's first CPU tick on
(core/lua/lua_tick.c): each worker thread gets a signal per tick of its own
CPU time, which sets the count hook on the coroutine running then.

What could go wrong is tried here: a runaway loop must still be stopped
soon (not only counted), a budget renewed per GraphQL resolver must still
stop one resolver that loops, and ticks landing anywhere in busy workers
(inside waits, pcall, coroutines, C functions, the event loop) must not
break a request or the daemon."""
import concurrent.futures
import json
import os
import re
import time

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

ROUTES = r'''
route.get("/ok", function() return "alive" end)
route.get("/loop", function() local n = 0 while true do n = n + 1 end end)
route.get("/work", function(req)
  -- a few ms of mixed work: ticks land in Lua, in C functions, in pcall,
  -- in a script's coroutine and across a wait
  local n = tonumber(req.query.n) or 1
  local t, s = {}, 0
  for i = 1, 3000 * n do t[#t + 1] = i end
  local ok, v = pcall(function() for i = 1, #t do s = s + t[i] end return s end)
  local co = coroutine.wrap(function() for i = 1, 2000 do coroutine.yield(i) end end)
  for i = 1, 2000 do s = s + co() end
  local text = json.encode(t)
  sleep(0)
  local back = json.decode(text)
  s = s + #back + #(string.rep("ab", 500):gsub("a", "c"))
  return { ok = ok, s = s, v = v }
end)
'''


def expected(n):
    t = 3000 * n
    v = t * (t + 1) // 2
    return v + 2000 * 2001 // 2 + t + 1000


@pytest.fixture
def d(portico, tmp_path):
    rd = tmp_path / "routes"
    rd.mkdir()
    (rd / "r.lua").write_text(ROUTES)
    return portico(f'routes "{rd}"\n', workers=2)


def test_a_runaway_loop_is_stopped_soon(d):
    t0 = time.monotonic()
    r = requests.get(d.url + "/loop", timeout=30)
    took = time.monotonic() - t0
    assert r.status_code == 500
    assert took < 5, took   # 10 million instructions: well under a second here
    assert d.wait_log("instruction budget exceeded (10000000 instructions")
    assert re.search(r"r\.lua:3: instruction budget exceeded", d.log())
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"


def test_ticks_anywhere_in_busy_workers_break_nothing(d):
    """Two workers kept busy for a few seconds with requests whose CPU runs
    over several ticks each, runaway ones among them: every ordinary one is
    answered right, every runaway one with a 500."""
    def one(i):
        if i % 25 == 0:
            return "loop", requests.get(d.url + "/loop", timeout=30).status_code
        n = 1 + i % 4
        r = requests.get(d.url + f"/work?n={n}", timeout=30)
        return n, (r.status_code, r.json() if r.status_code == 200 else r.text)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(400)))
    for n, got in results:
        if n == "loop":
            assert got == 500
        else:
            assert got[0] == 200, got
            assert got[1]["ok"] is True and got[1]["s"] == expected(n), (n, got)
    assert d.proc.poll() is None
    assert "crash" not in d.log().lower()
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"


SCHEMA = "type Query { items(n: Int!, spin: Int!): [Item] }\ntype Item { v: Int }\n"

GQL = r'''
local graphql = require "graphql"
graphql.resolvers {
  Query = { items = function(_, a)
    local out = {}
    for i = 1, a.n do out[i] = { spin = a.spin } end
    return out
  end },
  Item = { v = function(p)
    local s = 0
    for i = 1, p.spin do s = s + 1 end
    return s
  end },
}
route.post("/graphql", "graphql")
'''


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                    reason="plugins/graphql is not built")
def test_graphql_budget_renewed_per_resolver_still_stops_one(portico, tmp_path):
    """Under the default budget each resolver call gets its own 10 million:
    30 calls of some 3 million instructions each pass (90 million in all),
    one call of 60 million is stopped, and the worker goes on."""
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "app.lua").write_text(GQL)
    d = portico(f'plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}\n'
                f'routes "{tmp_path}/app.lua"\n', plugins_dir=PLUGINS)

    def post(q):
        return requests.post(d.url + "/graphql", data=json.dumps({"query": q}),
                             headers={"content-type": "application/json"}, timeout=60)

    r = post("{ items(n: 30, spin: 1500000) { v } }")
    assert r.status_code == 200, r.text
    assert r.json() == {"data": {"items": [{"v": 1500000}] * 30}}
    t0 = time.monotonic()
    r = post("{ items(n: 1, spin: 30000000) { v } }")
    assert time.monotonic() - t0 < 10
    body = r.json()
    assert body["data"] == {"items": [{"v": None}]}
    assert "instruction budget exceeded" in body["errors"][0]["message"]
    assert post("{ items(n: 2, spin: 10) { v } }").json() == \
        {"data": {"items": [{"v": 10}, {"v": 10}]}}
