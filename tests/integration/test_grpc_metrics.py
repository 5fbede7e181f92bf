"""/metrics for the gRPC server: calls by service, method and status code
(portico_grpc_server_handled_total), counted through the ABI's labelled
metrics; label values bounded by the contracts."""
import pytest
import requests

from conftest import free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics, metric
from test_grpc import CONF, PLUGINS, msg, pytestmark, write_routes  # noqa: F401

grpc = pytest.importorskip("grpc", reason="python3-grpcio is not installed")


def test_calls_by_method_and_code(portico, tmp_path):
    rdir, pdir = write_routes(tmp_path)
    aport = free_port()
    body = CONF.format(proto=pdir, routes=rdir, extra="max_receive_message = 65536")
    d = portico(body + admin_block(aport), plugins_dir=PLUGINS, start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    ch = grpc.insecure_channel("127.0.0.1:%d" % d.port)
    try:
        unary = ch.unary_unary("/t.v1.Echo/Unary")
        for _ in range(3):
            assert unary(msg(b"x"), timeout=5) == msg(b"x")
        with pytest.raises(grpc.RpcError) as e:
            unary(msg(b"x"), metadata=[("x-mode", "nf")], timeout=5)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as e:
            unary(msg(b"x"), metadata=[("x-mode", "boom")], timeout=5)
        assert e.value.code() == grpc.StatusCode.INTERNAL
        # a path no contract declares is not routed (the core answers it):
        # no series of its own, never the raw path
        for i in range(5):
            with pytest.raises(grpc.RpcError) as e:
                ch.unary_unary(f"/nope.v{i}.Svc/M{i}")(b"", timeout=5)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    finally:
        ch.close()
    r = requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH, timeout=5)
    ms = parse_metrics(r.text)
    name = "portico_grpc_server_handled_total"
    assert metric(ms, name, grpc_service="t.v1.Echo", grpc_method="Unary", grpc_code="OK") == 3
    assert metric(ms, name, grpc_service="t.v1.Echo", grpc_method="Unary",
                  grpc_code="NOT_FOUND") == 1
    assert metric(ms, name, grpc_service="t.v1.Echo", grpc_method="Unary",
                  grpc_code="INTERNAL") == 1
    assert "nope.v" not in r.text
