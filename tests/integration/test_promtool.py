"""The whole /metrics exposition, with every protocol plugin loaded and
traffic through each, as Debian's `promtool check metrics` reads it (the
parser and linter Prometheus ships). Skips where promtool is missing
(Debian package prometheus; .ci/run installs it)."""
import os
import shutil
import subprocess

import pytest
import requests

from conftest import SRCDIR, BUILDDIR, free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = [
    pytest.mark.skipif(shutil.which("promtool") is None,
                       reason="promtool is missing: apt-get install -y prometheus"),
    pytest.mark.skipif(shutil.which("protoc") is None, reason="protoc is missing"),
    pytest.mark.skipif(not all(os.path.exists(os.path.join(PLUGINS, p + ".so"))
                               for p in ("grpc", "graphql", "webhook", "rest")),
                       reason="the plugins are not built"),
]

WEBHOOK = r'''
webhook.source("test", { path = "/hooks/test", scheme = "hmac", header = "x-sig",
                         secrets = { "0123456789abcdef" } }, function(event) end)
route.get("/v1/hello/:name", function(req) return { hello = req.params.name } end,
          { rate = { limit = 100, period = 1 } })
-- a grpc.call through the upstream "orders" (the demo's GraphQL order field
-- does the same, but it also needs the demo's SOAP CRM)
route.get("/v1/order/:id", function(req)
  local o, err = grpc.call("orders", "orders.v1.Orders/Get", { id = tonumber(req.params.id) },
                           { timeout = 2 })
  return o and { item = o.item } or { error = err.status }
end)
-- a SOAP call to a ledger that is not there: a transport fault, counted
route.get("/v1/account/:id", function(req)
  local r, fault = soap.client("ledger"):GetAccount({ accountId = tonumber(req.params.id) })
  return { kind = fault and fault.kind }
end)
'''


def test_promtool_accepts_the_whole_exposition(portico, tmp_path):
    conf = os.path.join(SRCDIR, "conf")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    for f in ("orders_grpc.lua", "graphql.lua"):
        shutil.copy(os.path.join(conf, "routes", f), rdir / f)
    (rdir / "hooks.lua").write_text(WEBHOOK)
    proto = os.path.join(conf, "proto")
    aport = free_port()
    d = portico(start=False, plugins_dir=PLUGINS, workers=2)
    d.write(d.text +
            f'upstream "orders" {{ servers = {{ "127.0.0.1:{d.port}" }}, http2 = true,\n'
            f'  timeout = {{ connect = 1, read = 5 }} }}\n'
            'plugin "rest" { }\nplugin "webhook" { durability = "normal" }\n'
            f'plugin "graphql" {{ schema = "{conf}/schema.graphql" }}\n'
            f'plugin "grpc" {{ protos = {{ "{proto}/orders.proto" }}, '
            f'import_paths = {{ "{proto}" }} }}\n'
            f'plugin "soap" {{ services = {{ ledger = {{ wsdl = "{conf}/soap/ledger.wsdl", '
            f'url = "http://127.0.0.1:{free_port()}/ledger", timeout = 2 }} }} }}\n'
            f'routes "{rdir}"\n' + admin_block(aport))
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    r = requests.post(d.url + "/rest/v1/orders", json={"item": "lamp", "quantity": 2}, timeout=5)
    assert r.status_code == 200, r.text
    oid = r.json()["id"]
    r = requests.get(d.url + "/v1/order/" + oid, timeout=10)
    assert r.status_code == 200 and r.json() == {"item": "lamp"}, r.text
    r = requests.post(d.url + "/graphql", json={"query": "{ hello }"}, timeout=10)
    assert r.status_code == 200, r.text
    assert requests.get(d.url + "/v1/hello/x", timeout=5).status_code == 200
    r = requests.get(d.url + "/v1/account/2", timeout=10)
    assert r.status_code == 200 and r.json() == {"kind": "transport"}, r.text
    assert requests.post(d.url + "/hooks/test", data=b"{}", timeout=5).status_code == 401
    assert requests.get(d.url + "/nope", timeout=5).status_code == 404
    text = requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH, timeout=5).text
    fams = parse_metrics(text)
    names = {n for n, _ in fams}
    for want in ("portico_http_requests_total", "portico_request_phase_seconds_bucket",
                 "portico_plugin_calls_total", "portico_grpc_server_handled_total",
                 "portico_graphql_operations_total", "portico_upstream_requests_total",
                 "portico_lua_memory_bytes", "portico_soap_calls_total",
                 "portico_soap_call_duration_seconds_total"):
        assert want in names, want
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
