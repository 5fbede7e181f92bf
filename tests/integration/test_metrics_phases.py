"""/metrics: where a request's time goes, per phase (filters, handler,
upstream wait) and per plugin (the time inside each plugin's filter and
handler callbacks; route scripts count as "lua", built-in handlers as
"core")."""
import requests

from conftest import free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics, metric
from test_metrics_more import Backend

ROUTES = r'''
filter("slow", function(req, res, opts) sleep(0.06) end)
route.get("/filtered", function(req) return "f" end, { slow = true })
route.get("/busy", function(req)
  local s = 0
  for i = 1, 300000 do s = s + i end
  return { s = s }
end)
route.get("/deny", function(req) return "never" end, { deny = true })
filter("deny", function(req, res) return 403, "no" end)
route.any("/api/*rest", proxy(upstream "users", { strip_prefix = "/api" }))
'''


def scrape(aport):
    r = requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH, timeout=5)
    assert r.status_code == 200
    return parse_metrics(r.text)


def phase(ms, name, suffix):
    return metric(ms, "portico_request_phase_seconds_" + suffix, phase=name)


def test_phases_and_plugin_time(portico, tmp_path):
    b = Backend()
    b.delay = 0.08
    try:
        routes = tmp_path / "routes"
        routes.mkdir()
        (routes / "r.lua").write_text(ROUTES)
        aport = free_port()
        d = portico(f'upstream "users" {{ servers = {{ "127.0.0.1:{b.port}" }}, timeout = '
                    f'{{ connect = 1, read = 2 }} }}\nroutes "{routes}"\n'
                    'route { method = "GET", path = "/static", handler = "static", body = "s" }\n'
                    + admin_block(aport), start=False)
        d.start()
        assert wait_port(aport, proc=d.proc), d.log()
        ms = scrape(aport)
        assert phase(ms, "filters", "count") == 0
        for path, code in (("/filtered", 200), ("/busy", 200), ("/static", 200),
                           ("/deny", 403), ("/api/x", 200)):
            assert requests.get(d.url + path, timeout=5).status_code == code, path
        ms = scrape(aport)
        # every routed request has a filters phase (zero filters included) ...
        assert phase(ms, "filters", "count") == 5
        # ... the sleeping Lua filter's wait is in it
        assert phase(ms, "filters", "sum") >= 0.05
        # a filter that answered: no handler ran
        assert phase(ms, "handler", "count") == 4
        # the proxied request waited on the upstream, and that is in the handler too
        assert phase(ms, "upstream_wait", "count") == 1
        assert phase(ms, "upstream_wait", "sum") >= 0.07
        assert phase(ms, "handler", "sum") >= 0.07
        buckets = [(dict(lab), v) for (n, lab), v in ms.items()
                   if n == "portico_request_phase_seconds_bucket"]
        inf = [v for lab, v in buckets if lab["phase"] == "handler" and lab["le"] == "+Inf"]
        assert inf == [4]
        # per plugin: the Lua filters ran twice (slow, deny), the
        # Lua handlers twice, the core's static and proxy handlers twice
        assert metric(ms, "portico_plugin_calls_total", plugin="lua", kind="filter") == 2
        assert metric(ms, "portico_plugin_calls_total", plugin="lua", kind="handler") == 2
        assert metric(ms, "portico_plugin_calls_total", plugin="core", kind="handler") == 2
        busy = metric(ms, "portico_plugin_call_seconds_total", plugin="lua", kind="handler")
        assert busy > 0
        # a filter's wait is not its call time: sleep() yields at once
        assert metric(ms, "portico_plugin_call_seconds_total", plugin="lua",
                      kind="filter") < 0.06
    finally:
        b.close()
