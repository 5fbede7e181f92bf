"""/metrics beyond the request families: the Lua states per worker."""
import requests

from conftest import free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics, metric

HOLD = r'''
local kept = {}
route.get("/grow", function(req)
  for i = 1, 20000 do kept[#kept + 1] = string.rep("x", 64) .. i end
  return { n = #kept }
end)
route.get("/drop", function(req)
  kept = {}
  collectgarbage("collect")
  return { n = 0 }
end)
route.get("/spin", function(req)
  local s = 0
  for i = 1, 200000 do s = s + i end
  return { s = s }
end)
'''


def scrape(aport):
    r = requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH, timeout=5)
    assert r.status_code == 200
    return parse_metrics(r.text)


def lua_daemon(portico, tmp_path, workers=1):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "hold.lua").write_text(HOLD)
    aport = free_port()
    p = portico(f'routes "{d}"\n' + admin_block(aport), start=False, workers=workers)
    p.start()
    assert wait_port(aport, proc=p.proc), p.log()
    return p, aport


def test_lua_memory_grows_and_instructions_count(portico, tmp_path):
    d, aport = lua_daemon(portico, tmp_path)
    ms = scrape(aport)
    mem0 = metric(ms, "portico_lua_memory_bytes", worker="0")
    ins0 = metric(ms, "portico_lua_instructions_total", worker="0")
    assert mem0 > 0   # the loaded scripts themselves
    assert ("portico_lua_memory_bytes", frozenset({("worker", "1")})) not in ms
    assert requests.get(d.url + "/spin", timeout=10).status_code == 200
    ms = scrape(aport)
    assert metric(ms, "portico_lua_instructions_total", worker="0") >= ins0 + 200000
    for _ in range(3):
        assert requests.get(d.url + "/grow", timeout=10).status_code == 200
    ms = scrape(aport)
    grown = metric(ms, "portico_lua_memory_bytes", worker="0")
    assert grown > mem0 + 3 * 20000 * 64, (mem0, grown)
    assert requests.get(d.url + "/drop", timeout=10).status_code == 200
    ms = scrape(aport)
    assert metric(ms, "portico_lua_memory_bytes", worker="0") < grown / 2


def test_lua_series_per_worker(portico, tmp_path):
    d, aport = lua_daemon(portico, tmp_path, workers=2)
    ms = scrape(aport)
    for w in ("0", "1"):
        assert metric(ms, "portico_lua_memory_bytes", worker=w) > 0
        assert ("portico_lua_instructions_total", frozenset({("worker", w)})) in ms
