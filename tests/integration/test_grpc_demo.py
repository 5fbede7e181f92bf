"""The demo's GraphQL schema reads the demo's gRPC service with grpc.call
(issue 13's "done when": a GraphQL resolver in the demo reads from it).
conf/routes/graphql.lua, orders_graphql.lua and orders_grpc.lua run as
shipped; the upstream "orders" points at this daemon's own port, as
conf/portico.conf points at 8080. (The CRM behind Order.customer is
test_shop_demo.py's: here it is not running, and not needed.)"""
import os
import shutil

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, free_port  # noqa: E402

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
HAVE_GRPC = all(os.path.exists(os.path.join(PLUGINS, p)) for p in ("grpc.so", "soap.so"))


def crm_conf(conf, port):
    """The CRM service orders_graphql.lua opens, on a port nothing serves."""
    return (f'upstream "crm" {{ servers = {{ "127.0.0.1:{port}" }}, timeout = {{ connect = 1 }} }}\n'
            f'plugin "soap" {{ services = {{ crm = {{ wsdl = "{conf}/soap/crm.wsdl", '
            f'upstream = "crm", path = "/crm" }} }} }}\n')


@pytest.mark.skipif(not HAVE_GRPC, reason="plugins/grpc.la is not built")
@pytest.mark.skipif(shutil.which("protoc") is None,
                    reason="protoc is missing: apt-get install -y protobuf-compiler")
def test_graphql_order_field_reads_the_grpc_service(portico, tmp_path):
    conf = os.path.join(SRCDIR, "conf")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    for f in ("orders_grpc.lua", "graphql.lua", "orders_graphql.lua"):
        shutil.copy(os.path.join(conf, "routes", f), rdir / f)
    proto = os.path.join(conf, "proto")
    d = portico(start=False, plugins_dir=PLUGINS, workers=2)
    d.write(d.text +
            f'upstream "orders" {{ servers = {{ "127.0.0.1:{d.port}" }}, http2 = true,\n'
            f'  timeout = {{ connect = 1, read = 5 }} }}\n' + crm_conf(conf, free_port()) +
            f'plugin "graphql" {{ schema = "{conf}/schema.graphql" }}\n'
            f'plugin "grpc" {{ protos = {{ "{proto}/orders.proto" }}, '
            f'import_paths = {{ "{proto}" }} }}\n'
            f'routes "{rdir}"\n')
    d.start()
    # an order made over REST (transcoded from the contract) ...
    r = requests.post(d.url + "/rest/v1/orders", json={"item": "lamp", "quantity": 2}, timeout=5)
    assert r.status_code == 200, r.text
    oid = r.json()["id"]

    def gql(q):
        r = requests.post(d.url + "/graphql", json={"query": q}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()

    # ... read by GraphQL through grpc.call over h2c to orders.v1.Orders/Get
    got = gql('{ order(id: "%s") { id item quantity status createdAt customerId customer '
              '{ name } } }' % oid)
    assert "errors" not in got, got
    o = got["data"]["order"]
    assert o["id"] == oid and o["item"] == "lamp" and o["quantity"] == 2
    assert o["status"] == "PENDING" and o["createdAt"].endswith("Z")
    assert o["customerId"] is None and o["customer"] is None   # no customer: no CRM call
    # NOT_FOUND is a null order, not an error; a bad id likewise
    assert gql('{ order(id: "999999") { id } }') == {"data": {"order": None}}
    assert gql('{ order(id: "x") { id } }') == {"data": {"order": None}}
    # several in one query, beside the in-memory fields
    got = gql('{ a: order(id: "%s") { item } b: order(id: "999") { item } hello }' % oid)
    assert got["data"] == {"a": {"item": "lamp"}, "b": None, "hello": "hello, world"}


@pytest.mark.skipif(not HAVE_GRPC, reason="plugins/grpc.la is not built")
def test_graphql_order_field_when_the_service_is_down(portico, tmp_path):
    """The upstream refuses: the field is null with an error naming the
    gRPC status, and the rest of the answer stands."""
    conf = os.path.join(SRCDIR, "conf")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    for f in ("graphql.lua", "orders_graphql.lua"):
        shutil.copy(os.path.join(conf, "routes", f), rdir / f)
    proto = os.path.join(conf, "proto")
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    dead = s.getsockname()[1]
    s.close()
    d = portico(f'upstream "orders" {{ servers = {{ "127.0.0.1:{dead}" }}, http2 = true,\n'
                f'  timeout = {{ connect = 1, read = 2 }} }}\n' + crm_conf(conf, dead) +
                f'plugin "graphql" {{ schema = "{conf}/schema.graphql" }}\n'
                f'plugin "grpc" {{ protos = {{ "{proto}/orders.proto" }}, '
                f'import_paths = {{ "{proto}" }} }}\n'
                f'routes "{rdir}"\n', plugins_dir=PLUGINS)
    r = requests.post(d.url + "/graphql", json={"query": '{ order(id: "1") { id } hello }'},
                      timeout=10)
    got = r.json()
    assert got["data"] == {"order": None, "hello": "hello, world"}, got
    assert "UNAVAILABLE" in got["errors"][0]["message"], got
