"""REST transcoding: google.api.http annotations on a grpc.service in Lua.

curl (a subprocess) and requests against shop.v1.Orders: path variables
(one segment, `{name=shelves/*/books/*}`, `**`, `:verb` suffixes), query
parameters (nested with dots, repeated), body "*" and a body field,
response_body, additional_bindings, server streaming as a JSON array, gRPC
errors as HTTP statuses with {code, message, details}, bad JSON, an unknown
field and a wrong type as 400 naming the problem, the service's filters on
the REST routes, and the OpenAPI listing.

Needs protobuf-compiler and curl; the protobuf library (plugins/grpc/pb_*.c).
"""
import json
import os
import shutil
import subprocess

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, Daemon, free_port

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
HAVE_PB = not os.path.exists(os.path.join(SRCDIR, "plugins", "grpc", "pbstub.c"))

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                       reason="the grpc plugin is not built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is not installed (Debian protobuf-compiler)"),
    pytest.mark.skipif(not HAVE_PB, reason="needs the protobuf library (plugins/grpc/pb_*.c)"),
]

PROTO = """syntax = "proto3";
package shop.v1;
import "google/api/annotations.proto";

message Item { string sku = 1; int32 count = 2; }
message Page { int32 size = 1; string token = 2; }
message Order {
  int64 id = 1; string status = 2; repeated string tags = 3; Item item = 4;
  bool rush = 5; int32 qty = 6; string shop = 7; string view = 8;
}
message GetOrderRequest {
  int64 id = 1; string view = 2; repeated string tags = 3; Page page = 4; bool rush = 5;
}
message CreateOrderRequest { string parent = 1; Order order = 2; }
message ListReply { repeated Order orders = 1; int32 total = 2; }
message NameRequest { string name = 1; }
message Named { string name = 1; }

service Orders {
  rpc GetOrder(GetOrderRequest) returns (Order) {
    option (google.api.http) = {
      get: "/v1/orders/{id}"
      additional_bindings { get: "/v1/orders/{id}/views/{view}" }
    };
  }
  rpc CreateOrder(CreateOrderRequest) returns (Order) {
    option (google.api.http) = { post: "/v1/{parent=shops/*}/orders" body: "order" };
  }
  rpc UpdateOrder(Order) returns (Order) {
    option (google.api.http) = { put: "/v1/orders/{id}" body: "*" };
  }
  rpc ListOrders(GetOrderRequest) returns (ListReply) {
    option (google.api.http) = { get: "/v1/orders" response_body: "orders" };
  }
  rpc CancelOrder(GetOrderRequest) returns (Order) {
    option (google.api.http) = { post: "/v1/orders/{id}:cancel" };
  }
  rpc Watch(GetOrderRequest) returns (stream Order) {
    option (google.api.http) = { get: "/v1/orders/{id}:watch" };
  }
  rpc GetBook(NameRequest) returns (Named) {
    option (google.api.http) = { get: "/v1/{name=shelves/*/books/*}" };
  }
  rpc GetFile(NameRequest) returns (Named) {
    option (google.api.http) = { get: "/v1/files/{name=**}" };
  }
  rpc Fail(GetOrderRequest) returns (Order) {
    option (google.api.http) = { get: "/v1/fail/{view}" };
  }
  rpc NoRest(GetOrderRequest) returns (Order);
}

service Admin {
  rpc Stats(NameRequest) returns (Named) {
    option (google.api.http) = { get: "/v1/admin/stats" };
  }
}
"""

LUA = r"""
grpc.service("shop.v1.Orders", {
  GetOrder = function(req, ctx)
    if req.id == 404 then
      error(grpc.error("NOT_FOUND", "no order 404",
            { { type_url = "type.googleapis.com/shop.v1.Named", value = "\10\3abc" } }))
    end
    ctx:set_header("x-order", tostring(req.id))
    local view = req.view
    if view == "" then view = ctx.metadata["x-tenant"] end
    return { id = req.id, status = "PAID", view = view, tags = req.tags, rush = req.rush,
             qty = req.page and req.page.size or 0 }
  end,
  CreateOrder = function(req)
    local o = req.order or {}
    o.shop = req.parent
    return o
  end,
  UpdateOrder = function(req) req.status = "UPDATED"; return req end,
  ListOrders = function(req)
    return { orders = { { id = 1 }, { id = 2, status = "NEW" } }, total = 2 }
  end,
  CancelOrder = function(req) return { id = req.id, status = "CANCELLED" } end,
  Watch = function(req, ctx)
    for i = 1, 3 do
      if not ctx:send({ id = req.id, qty = i, tags = req.tags }) then return end
    end
  end,
  GetBook = function(req) return { name = req.name } end,
  GetFile = function(req) return { name = req.name } end,
  Fail = function(req)
    if req.view == "boom" then error("secret kaboom") end
    error(grpc.error(req.view, "failing with " .. req.view))
  end,
})
grpc.service("shop.v1.Admin", {
  Stats = function() return { name = "secret" } end,
}, { ip = { deny = { "127.0.0.1" } } })
"""


@pytest.fixture
def shop(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "shop.lua").write_text(LUA)
    pdir = tmp_path / "proto"
    pdir.mkdir()
    (pdir / "shop.proto").write_text(PROTO)
    body = (f'plugin "rest" {{}}\n'
            f'plugin "grpc" {{ protos = {{ "shop.proto" }}, import_paths = {{ "{pdir}" }} }}\n'
            f'openapi = {{ path = "/openapi.json", title = "shop" }}\n'
            f'routes "{rdir}"\n')
    return portico(body, plugins_dir=PLUGINS)


def get(d, path, **kw):
    return requests.get(d.url + path, timeout=5, **kw)


def curl(d, *args):
    """curl -s -w '\\n%{http_code}' ARGS: (status, body)."""
    out = subprocess.run(["curl", "-s", "--max-time", "5", "-w", "\n%{http_code}"] + list(args),
                         capture_output=True, timeout=10, check=True).stdout.decode()
    body, _, code = out.rpartition("\n")
    return int(code), body


def _core_gives_trailers():
    try:
        with open(os.path.join(SRCDIR, "core", "upstream", "http_client_h2.c")) as f:
            return "hc_resp_trailer_add" in f.read()
    except OSError:
        return False


# a reply with messages ends with HTTP/2 trailers the upstream call must hand over
need_up_trailers = pytest.mark.skipif(
    not _core_gives_trailers(),
    reason="the core's HTTP/2 client does not hand over response trailers yet (grpc-httpclient)")

need_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


# ---- path variables, query, body ------------------------------------------------------------

@need_curl
def test_get_with_path_variable_curl(shop):
    code, body = curl(shop, shop.url + "/v1/orders/42")
    assert code == 200
    assert json.loads(body) == {"id": "42", "status": "PAID"}   # int64 is a string in JSON
    # the same over HTTP/2 (h2c with prior knowledge)
    code, body = curl(shop, "--http2-prior-knowledge", shop.url + "/v1/orders/43?view=H2")
    assert code == 200 and json.loads(body) == {"id": "43", "status": "PAID", "view": "H2"}


def test_query_parameters_nested_and_repeated(shop):
    r = get(shop, "/v1/orders/7?view=FULL&tags=a&tags=b%20c&page.size=25&rush=true")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-order"] == "7"
    assert r.json() == {"id": "7", "status": "PAID", "view": "FULL", "tags": ["a", "b c"],
                        "rush": True, "qty": 25}
    # a query parameter never replaces a path variable
    assert get(shop, "/v1/orders/7?id=9").json()["id"] == "7"


def test_additional_binding(shop):
    r = get(shop, "/v1/orders/5/views/BRIEF")
    assert r.json() == {"id": "5", "status": "PAID", "view": "BRIEF"}


@need_curl
def test_body_field_and_multi_segment_variable(shop):
    code, body = curl(shop, "-X", "POST", "-H", "content-type: application/json",
                      "-d", '{"id": "3", "tags": ["x"], "item": {"sku": "A1", "count": 2}}',
                      shop.url + "/v1/shops/s9/orders?order.status=ignored")
    assert code == 200, body
    assert json.loads(body) == {"id": "3", "tags": ["x"], "item": {"sku": "A1", "count": 2},
                                "shop": "shops/s9"}


def test_body_star(shop):
    r = requests.put(shop.url + "/v1/orders/11", json={"id": "999", "status": "NEW", "qty": 4},
                     timeout=5)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "11", "status": "UPDATED", "qty": 4}   # the path's id wins
    # an empty body is the empty message
    r = requests.put(shop.url + "/v1/orders/12", timeout=5)
    assert r.json() == {"id": "12", "status": "UPDATED"}


def test_response_body(shop):
    r = get(shop, "/v1/orders")
    assert r.status_code == 200
    assert r.json() == [{"id": "1"}, {"id": "2", "status": "NEW"}]


def test_verb_suffix_and_shared_route(shop):
    r = requests.post(shop.url + "/v1/orders/8:cancel", timeout=5)
    assert r.json() == {"id": "8", "status": "CANCELLED"}
    # GET /v1/orders/{id} and GET /v1/orders/{id}:watch share one route
    r = get(shop, "/v1/orders/8:watch")
    assert r.status_code == 200
    assert r.json() == [{"id": "8", "qty": 1}, {"id": "8", "qty": 2}, {"id": "8", "qty": 3}]
    assert get(shop, "/v1/orders/8:nope").status_code == 400   # "8:nope" is not an int64


def test_templates_with_wildcards(shop):
    assert get(shop, "/v1/shelves/s1/books/b%2F2").json() == {"name": "shelves/s1/books/b%2F2"}
    assert get(shop, "/v1/shelves/s1/books").status_code == 404
    assert get(shop, "/v1/files/a/b/c.txt").json() == {"name": "a/b/c.txt"}


# ---- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name,status", [
    ("INVALID_ARGUMENT", 400), ("NOT_FOUND", 404), ("ALREADY_EXISTS", 409),
    ("PERMISSION_DENIED", 403), ("UNAUTHENTICATED", 401), ("RESOURCE_EXHAUSTED", 429),
    ("FAILED_PRECONDITION", 400), ("UNIMPLEMENTED", 501), ("UNAVAILABLE", 503),
    ("DEADLINE_EXCEEDED", 504), ("INTERNAL", 500), ("ABORTED", 409), ("OUT_OF_RANGE", 400)])
def test_grpc_errors_map_to_http(shop, name, status):
    r = get(shop, "/v1/fail/" + name)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    j = r.json()
    assert j["message"] == "failing with " + name and j["details"] == []
    assert isinstance(j["code"], int) and j["code"] > 0


def test_error_details_and_lua_error(shop):
    r = get(shop, "/v1/orders/404")
    assert r.status_code == 404
    assert r.json() == {"code": 5, "message": "no order 404",
                        "details": [{"@type": "type.googleapis.com/shop.v1.Named",
                                     "name": "abc"}]}
    r = get(shop, "/v1/fail/boom")
    assert r.status_code == 500 and "kaboom" not in r.text
    assert r.json()["code"] == 13


def test_bad_json_names_the_problem(shop):
    r = requests.post(shop.url + "/v1/shops/s1/orders", data=b'{"id": ', timeout=5,
                      headers={"content-type": "application/json"})
    assert r.status_code == 400
    j = r.json()
    assert j["code"] == 3 and "not JSON" in j["message"] and "line 1" in j["message"]
    r = requests.put(shop.url + "/v1/orders/1", data=b"[1]", timeout=5)
    assert r.status_code == 400 and "JSON object" in r.json()["message"]
    assert shop.wait_log("not JSON")


def test_unknown_field_and_wrong_type(shop):
    r = requests.put(shop.url + "/v1/orders/1", json={"nope": 1}, timeout=5)
    assert r.status_code == 400
    assert "nope" in r.json()["message"]
    r = requests.put(shop.url + "/v1/orders/1", json={"qty": "many"}, timeout=5)
    assert r.status_code == 400
    assert "qty" in r.json()["message"]
    r = get(shop, "/v1/orders/abc")
    assert r.status_code == 400 and "id" in r.json()["message"]
    r = get(shop, "/v1/orders/1?page.size=big")
    assert r.status_code == 400 and "size" in r.json()["message"]
    r = get(shop, "/v1/orders/1?view.x=1")
    assert r.status_code == 400


def test_hostile_requests(shop):
    assert get(shop, "/v1/orders/1?%zz=1").status_code == 400
    q = "&".join("tags=%d" % i for i in range(65))
    r = get(shop, "/v1/orders/1?" + q)
    assert r.status_code == 400 and "query parameters" in r.json()["message"]
    assert get(shop, "/v1/orders/1?" + "a." * 40 + "b=1").status_code == 400
    assert get(shop, "/v1/orders/%00").status_code in (400, 404)
    r = requests.put(shop.url + "/v1/orders/1", data=b"{" * 5000, timeout=5)
    assert r.status_code == 400
    # still serving
    assert get(shop, "/v1/orders/2").json()["id"] == "2"


def test_filters_of_the_service_run(shop):
    # Admin's options deny 127.0.0.1: its REST route is refused too
    assert get(shop, "/v1/admin/stats").status_code == 403
    # and the method without an annotation has no REST route
    assert get(shop, "/v1/norest").status_code == 404


# ---- OpenAPI -------------------------------------------------------------------------------------

def test_openapi_lists_the_rest_routes(shop):
    doc = get(shop, "/openapi.json").json()
    paths = doc["paths"]
    assert "get" in paths["/v1/orders/{id}"] and "put" in paths["/v1/orders/{id}"]
    assert "post" in paths["/v1/orders/{id}"]   # :cancel
    op = paths["/v1/orders/{id}"]["get"]
    assert "shop.v1.Orders/GetOrder" in op["summary"] and "shop.v1.Orders/Watch" in op["summary"]
    assert op["tags"] == ["shop.v1.Orders"]
    assert "shop.v1.GetOrderRequest" in op["description"]
    assert [p["name"] for p in op["parameters"]] == ["id"]
    assert "/v1/shelves/{name_2}/books/{name_4}" in paths
    assert "/v1/files/{name}" in paths
    assert "/v1/orders/{id}/views/{view}" in paths


# ---- a service on an upstream: grpc.transcode ------------------------------------------------

@pytest.fixture
def proxied(tmp_path):
    """Daemon A serves shop.v1.Orders in Lua over h2c; daemon B transcodes
    REST to it with grpc.transcode."""
    started = []
    pdir = tmp_path / "proto"
    pdir.mkdir()
    (pdir / "shop.proto").write_text(PROTO)

    def daemon(name, lua, extra=""):
        d = tmp_path / name
        (d / "routes").mkdir(parents=True)
        (d / "routes" / "r.lua").write_text(lua)
        body = (f'plugin "rest" {{}}\n'
                f'plugin "grpc" {{ protos = {{ "shop.proto" }}, import_paths = {{ "{pdir}" }}, '
                f'max_receive_message = 4096 }}\n{extra}\nroutes "{d / "routes"}"\n')
        dm = Daemon(str(d), body, plugins_dir=PLUGINS)
        started.append(dm)
        return dm.start()

    a = daemon("a", LUA)
    down = free_port()
    b = daemon("b", """
grpc.transcode("shop.v1.Orders", { upstream = "shop" })
grpc.transcode("shop.v1.Admin", { upstream = "nowhere", ip = { deny = { "127.0.0.2" } } })
""", extra=(f'upstream "shop" {{ servers = {{ "127.0.0.1:{a.port}" }}, http2 = true }}\n'
            f'upstream "nowhere" {{ servers = {{ "127.0.0.1:{down}" }}, http2 = true }}'))
    yield a, b
    for d in started:
        d.stop()


@need_up_trailers
def test_upstream_transcoding(proxied):
    a, b = proxied
    r = get(b, "/v1/orders/7?tags=x&page.size=3", headers={"x-tenant": "acme"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "7", "status": "PAID", "tags": ["x"], "qty": 3, "view": "acme"}
    r = requests.put(b.url + "/v1/orders/11", json={"status": "NEW"}, timeout=5)
    assert r.json() == {"id": "11", "status": "UPDATED"}
    assert get(b, "/v1/orders").json() == [{"id": "1"}, {"id": "2", "status": "NEW"}]
    r = get(b, "/v1/orders/9:watch")
    assert r.json() == [{"id": "9", "qty": 1}, {"id": "9", "qty": 2}, {"id": "9", "qty": 3}]


def test_upstream_errors(proxied):
    a, b = proxied
    r = get(b, "/v1/orders/404")
    assert r.status_code == 404
    assert r.json() == {"code": 5, "message": "no order 404",
                        "details": [{"@type": "type.googleapis.com/shop.v1.Named",
                                     "name": "abc"}]}
    r = get(b, "/v1/fail/UNAVAILABLE")
    assert r.status_code == 503 and r.json()["message"] == "failing with UNAVAILABLE"
    r = get(b, "/v1/fail/boom")
    assert r.status_code == 500 and r.json()["code"] == 13
    # the upstream is down: UNAVAILABLE
    r = get(b, "/v1/admin/stats")
    assert r.status_code == 503 and r.json()["code"] == 14
    # bad input never reaches the upstream
    assert get(b, "/v1/orders/abc").status_code == 400


@need_up_trailers
def test_upstream_reply_over_the_limit(proxied):
    a, b = proxied
    # 4096 bytes of max_receive_message: 200 tags of 30 bytes come back too big
    q = "&".join("tags=" + "t" * 30 for _ in range(60))
    r = get(b, "/v1/orders/1?" + q)
    assert r.status_code == 200
    q = "&".join("tags=" + "t" * 90 for _ in range(60))
    r = get(b, "/v1/orders/1?" + q)
    assert r.status_code in (429, 400), r.text


def test_stream_collected_past_the_limit(proxied):
    a, b = proxied
    # 4096 bytes of max_receive_message: three messages of 60 tags do not fit
    q = "&".join("tags=" + "t" * 30 for _ in range(60))
    r = get(a, "/v1/orders/9:watch?" + q)
    assert r.status_code == 429, r.text
    assert "collected whole" in r.json()["message"]
    assert a.wait_log("collected whole")
    # small enough: fine
    assert len(get(a, "/v1/orders/9:watch?tags=x").json()) == 3


def test_transcode_config_errors(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    pdir = tmp_path / "proto"
    pdir.mkdir()
    (pdir / "shop.proto").write_text(PROTO)
    bad = PROTO.replace('get: "/v1/{name=shelves/*/books/*}"', 'get: "/v1/{name=shelves/*/books/*"')
    (pdir / "bad.proto").write_text(bad.replace("package shop.v1;", "package bad.v1;"))
    for lua, want in [('grpc.transcode("shop.v1.Nope", { upstream = "x" })',
                       "r.lua:1: grpc.transcode: no service shop.v1.Nope"),
                      ('grpc.transcode("shop.v1.Orders")', "must name the upstream"),
                      ('grpc.service("bad.v1.Orders", {})',
                       "r.lua:1: grpc.service: /bad.v1.Orders/GetBook: google.api.http: path "
                       "template \"/v1/{name=shelves/*/books/*\": '}' expected"),
                      ('grpc.service("shop.v1.Orders", {})\ngrpc.service("shop.v1.Orders", {})',
                       "r.lua:2: grpc.service: shop.v1.Orders is already served")]:
        (rdir / "r.lua").write_text(lua + "\n")
        d = portico(f'plugin "grpc" {{ protos = {{ "shop.proto", "bad.proto" }}, '
                    f'import_paths = {{ "{pdir}" }} }}\nroutes "{rdir}"\n', plugins_dir=PLUGINS,
                    start=False)
        d.start(expect_ok=False)
        assert d.proc.wait(10) != 0
        out = d.log() + d.proc.stdout.read().decode()
        assert want in out, out
