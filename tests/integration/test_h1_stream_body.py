"""An HTTP/1.1 request without a body to a route that streams its body.

Routes with `stream_body` (the proxy, gRPC and gRPC-Web) start their handler
at the head and read the body as it comes; a request with no body at all
(no Content-Length, or 0) must still tell the handler the body ended, at
once: before, the end never came and the request hung until body_timeout.
A gRPC-Web unary call with no message is the case a browser can send.
"""
import os
import shutil
import socket
import time

import pytest

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                       reason="plugins/grpc.la is not built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is missing: apt-get install -y protobuf-compiler"),
]

PROTO = """syntax = "proto3";
package e.v1;
message M { string s = 1; }
service Echo { rpc Unary(M) returns (M); }
"""


@pytest.fixture
def daemon(portico, tmp_path):
    (tmp_path / "e.proto").write_text(PROTO)
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "e.lua").write_text('grpc.service("e.v1.Echo", { Unary = function(req) '
                                'return req end })\n')
    d = portico(start=False, plugins_dir=PLUGINS)
    d.write(d.text + 'http = { body_timeout = 20 }\n'
            f'plugin "grpc" {{ protos = {{ "{tmp_path}/e.proto" }}, '
            f'import_paths = {{ "{tmp_path}" }} }}\nroutes "{rdir}"\n')
    return d.start()


def exchange(port, head):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(head.encode())
        t0 = time.monotonic()
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data, time.monotonic() - t0


@pytest.mark.parametrize("length", ["", "content-length: 0\r\n"])
def test_grpc_web_call_without_a_body_is_answered_at_once(daemon, length):
    data, took = exchange(daemon.port,
                          "POST /e.v1.Echo/Unary HTTP/1.1\r\nhost: x\r\n"
                          "content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n"
                          f"{length}\r\n")
    assert data.startswith(b"HTTP/1.1 200"), data
    assert took < 3, took
    # and the connection still serves: a call with a message after it
    body = b"\x00\x00\x00\x00\x03\x0a\x01a"
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as s:
        s.sendall(b"POST /e.v1.Echo/Unary HTTP/1.1\r\nhost: x\r\n"
                  b"content-type: application/grpc-web+proto\r\nx-grpc-web: 1\r\n"
                  b"content-length: %d\r\n\r\n" % len(body) + body)
        got = s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200"), got
