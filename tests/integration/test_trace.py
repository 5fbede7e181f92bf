"""One request id and one W3C trace context across a request's hops.

A route calls a gRPC service (served by the same daemon, reached over h2c
through an upstream, as the demo does) twice with grpc.call, and another
route proxies to a small HTTP server: the service sees the request's
X-Request-Id and traceparent in its metadata, the proxied hop in its
headers. A client's well-formed traceparent goes on unchanged; without one,
or with a malformed one, Portico makes one per request, the same for every
hop of that request and different for the next request. The access log's
line of the inner gRPC call has the outer request's id.
"""
import http.server
import json
import os
import re
import shutil
import threading

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                       reason="plugins/grpc.la is not built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is missing: apt-get install -y protobuf-compiler"),
]

TP_RE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")

PROTO = """syntax = "proto3";
package trace.v1;
message Req { string tag = 1; }
message Seen { string request_id = 1; string traceparent = 2; string tag = 3; }
service Echo { rpc Meta(Req) returns (Seen); }
"""

ROUTES = """
grpc.service("trace.v1.Echo", {
  Meta = function(req, ctx)
    return { request_id = ctx.metadata["x-request-id"] or "",
             traceparent = ctx.metadata["traceparent"] or "", tag = req.tag }
  end,
})

local function meta(tag, md)
  local r, err = grpc.call("self", "trace.v1.Echo/Meta", { tag = tag },
                           { timeout = 3, metadata = md })
  if not r then error(err.status .. ": " .. err.message) end
  return r
end

route.get("/t", function(req)
  return { id = req.id, a = meta("a"), b = meta("b") }
end)

route.get("/own", function(req)
  return { id = req.id, a = meta("a", { traceparent = "00-" .. string.rep("ab", 16) ..
                                         "-" .. string.rep("cd", 8) .. "-00",
                                       ["x-request-id"] = "mine-1" }) }
end)

route.any("/p/*rest", proxy(upstream "echo", { strip_prefix = "/p", timeout = 3 }))
"""


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def daemon(portico, tmp_path):
    echo = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    (tmp_path / "trace.proto").write_text(PROTO)
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "trace.lua").write_text(ROUTES)
    alog = tmp_path / "access.log"
    d = portico(start=False, plugins_dir=PLUGINS, workers=2)
    d.write(d.text +
            f'upstream "self" {{ servers = {{ "127.0.0.1:{d.port}" }}, http2 = true,\n'
            f'  timeout = {{ connect = 1, read = 5 }} }}\n'
            f'upstream "echo" {{ servers = {{ "127.0.0.1:{echo.server_address[1]}" }},\n'
            f'  timeout = {{ connect = 1, read = 5 }} }}\n'
            f'access_log = {{ file = "{alog}", format = "json" }}\n'
            f'plugin "grpc" {{ protos = {{ "{tmp_path}/trace.proto" }}, '
            f'import_paths = {{ "{tmp_path}" }} }}\n'
            f'routes "{rdir}"\n')
    d.start()
    d.alog = alog
    yield d
    echo.shutdown()
    echo.server_close()


def get(d, path, **headers):
    r = requests.get(d.url + path, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_clients_trace_and_id_reach_every_grpc_call(daemon):
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    got = get(daemon, "/t", traceparent=tp, **{"x-request-id": "walk-42"})
    assert got["id"] == "walk-42"
    for k in ("a", "b"):
        assert got[k]["traceparent"] == tp, got
        assert got[k]["request_id"] == "walk-42", got


def test_without_a_trace_one_is_made_per_request_and_shared_by_its_calls(daemon):
    one, two = get(daemon, "/t"), get(daemon, "/t")
    for got in (one, two):
        assert TP_RE.match(got["a"]["traceparent"]), got
        assert got["a"]["traceparent"] == got["b"]["traceparent"]
        assert got["a"]["request_id"] == got["b"]["request_id"] == got["id"]
        assert got["a"]["traceparent"][3:35] != "0" * 32
    assert one["a"]["traceparent"][3:35] != two["a"]["traceparent"][3:35]
    assert one["id"] != two["id"]


@pytest.mark.parametrize("bad", [
    "garbage",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",    # zero trace id
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",    # zero parent id
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    # forbidden version
    "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",    # upper case
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",  # too long for 00
    "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",    # bad separator
])
def test_a_malformed_trace_is_replaced_on_every_hop(daemon, bad):
    got = get(daemon, "/t", traceparent=bad)
    assert TP_RE.match(got["a"]["traceparent"]) and got["a"]["traceparent"] != bad
    assert got["a"]["traceparent"] == got["b"]["traceparent"]
    h = get(daemon, "/p/x", traceparent=bad)
    assert TP_RE.match(h["traceparent"]) and h["traceparent"] != bad


def test_the_proxied_hop_carries_the_same_trace(daemon):
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    h = get(daemon, "/p/x", traceparent=tp, tracestate="congo=t61rcWkgMzE",
            **{"x-request-id": "walk-7"})
    assert h["traceparent"] == tp and h["x-request-id"] == "walk-7"
    assert h["tracestate"] == "congo=t61rcWkgMzE"
    h = get(daemon, "/p/x")
    assert TP_RE.match(h["traceparent"]) and h["x-request-id"]


def test_metadata_set_by_the_script_wins(daemon):
    got = get(daemon, "/own")
    assert got["a"]["request_id"] == "mine-1"
    assert got["a"]["traceparent"] == "00-" + "ab" * 16 + "-" + "cd" * 8 + "-00"


def test_the_access_log_ties_the_inner_call_to_the_outer_request(daemon):
    get(daemon, "/t", **{"x-request-id": "walk-log-1"})
    lines = []
    for _ in range(50):
        lines = [json.loads(l) for l in daemon.alog.read_text().splitlines() if l.strip()]
        if sum(1 for l in lines if l.get("request_id") == "walk-log-1") >= 3:
            break
        threading.Event().wait(0.1)
    mine = [l for l in lines if l.get("request_id") == "walk-log-1"]
    paths = sorted(l.get("path") or l.get("uri") or "" for l in mine)
    assert paths == ["/t", "/trace.v1.Echo/Meta", "/trace.v1.Echo/Meta"], mine
    outer = [l for l in mine if (l.get("path") or l.get("uri")) == "/t"][0]
    assert outer.get("upstream_addr"), outer   # the grpc.call is the request's upstream call
