"""Response trailers through the plain (non-gRPC) proxy.

An HTTP/1.1 upstream answers chunked with a trailer section; the proxy
hands the trailers on: to an HTTP/1.1 client in its chunked response, to an
HTTP/2 client as a trailing HEADERS frame. Fields that may not be trailers
(RFC 9110 6.5.1: content-length, set-cookie, ...) are dropped; a response
with Content-Length carries none and is unchanged.
"""
import shutil
import socket
import subprocess
import threading

import pytest

BODY = b"hello, trailers"


def _upstream():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(30)

    def serve(c):
        with c:
            c.settimeout(5)
            data = b""
            try:
                while True:
                    while b"\r\n\r\n" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            return
                        data += chunk
                    head, data = data.split(b"\r\n\r\n", 1)
                    path = head.split(b" ")[1]
                    if path.endswith(b"/fixed"):
                        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(BODY) +
                                  BODY)
                        continue
                    c.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n"
                              b"trailer: x-digest, server-timing\r\n\r\n" +
                              b"%x\r\n" % len(BODY) + BODY + b"\r\n0\r\n"
                              b"x-digest: sha-256=abc\r\nserver-timing: db;dur=53\r\n"
                              b"set-cookie: evil=1\r\ncontent-length: 99\r\n\r\n")
            except OSError:
                return

    def loop():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()
    threading.Thread(target=loop, daemon=True).start()
    return srv


@pytest.fixture
def daemon(portico, tmp_path):
    up = _upstream()
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "p.lua").write_text('route.any("/p/*rest", proxy(upstream "up", '
                                '{ strip_prefix = "/p", timeout = 3 }))\n')
    d = portico(f'upstream "up" {{ servers = {{ "127.0.0.1:{up.getsockname()[1]}" }},\n'
                f'  timeout = {{ connect = 1, read = 3 }} }}\nroutes "{rdir}"\n')
    yield d
    up.close()


def h1(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nhost: x\r\nte: trailers\r\nconnection: close\r\n\r\n"
                  % path.encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_h1_client_gets_the_trailers_in_its_chunked_response(daemon):
    data = h1(daemon.port, "/p/chunked")
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"transfer-encoding: chunked" in head.lower()
    assert BODY in body
    tail = body.split(b"\r\n0\r\n", 1)[1].lower()
    assert b"x-digest: sha-256=abc\r\n" in tail and b"server-timing: db;dur=53\r\n" in tail
    assert b"set-cookie" not in tail and b"content-length" not in tail
    assert tail.endswith(b"\r\n\r\n")


def test_a_content_length_response_is_unchanged(daemon):
    data = h1(daemon.port, "/p/fixed")
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"content-length: %d" % len(BODY) in head.lower() and body == BODY


@pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp (nghttp2-client) is missing")
def test_h2_client_gets_the_trailers_as_trailing_headers(daemon):
    out = subprocess.run(["nghttp", "-v", "-t", "5", f"http://127.0.0.1:{daemon.port}/p/chunked"],
                         capture_output=True, timeout=20).stdout.decode(errors="replace")
    assert BODY.decode() in out
    # after the body: the trailer fields, then the HEADERS frame that ends the stream
    after = out.rsplit("recv DATA frame", 1)[1]
    fields, frame = after.split("recv HEADERS frame", 1)
    assert "END_STREAM" in frame.split("send ")[0], out
    assert "x-digest: sha-256=abc" in fields and "server-timing: db;dur=53" in fields, out
    assert "set-cookie" not in fields and "content-length" not in fields
