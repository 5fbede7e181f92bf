"""HTTP/1.1 engine, driven over loopback with curl and raw sockets.

Covers: methods and the router's automatic answers (404, 405, OPTIONS),
keep-alive and HTTP/1.0, pipelining, chunked request bodies, 100-continue,
request-smuggling hardening (every ambiguous framing is a 400 and a close),
limits (414, 431, 413), the header / body / idle timeouts (408 or close),
graceful stop, and robustness against garbage and many connections.
"""
import json
import os
import random
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import raw_request

# Small limits and timeouts keep every test fast.
LIMITS = ("http = { max_request_line = 1024, max_header_size = 2048, max_headers = 20, "
          "max_body_size = 1024, header_timeout = %s, body_timeout = 1, idle_timeout = %s, "
          "write_timeout = %s }\n")

ROUTES = '''
route { method = { "GET", "POST" }, path = "/hello", handler = "static",
        body = "hello", content_type = "text/plain", headers = { ["x-test"] = "yes" } }
route { method = "GET", path = "/a", handler = "static", body = "A" }
route { method = "GET", path = "/b", handler = "static", body = "B" }
route { method = "POST", path = "/submit", handler = "static", status = 201, body = "created" }
'''


BIG = "x" * 200000
BIG_ROUTE = 'route { method = "GET", path = "/big", handler = "static", body = "%s" }\n' % BIG


def config(header_timeout=1, idle_timeout=1, write_timeout=5, extra=""):
    return LIMITS % (header_timeout, idle_timeout, write_timeout) + ROUTES + extra


@pytest.fixture
def d(portico):
    """A daemon with the test routes, small limits and 1 s timeouts."""
    return portico(config())


# ---- raw HTTP client helpers ------------------------------------------------

class Conn:
    """A raw client connection that reads whole responses off a socket."""

    def __init__(self, port, timeout=3.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        b = self.sock.recv(65536)
        if not b:
            raise EOFError("connection closed; buffered: %r" % self.buf[:200])
        self.buf += b

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response(self, head_only=False):
        """Returns (status, headers {lowercase name: [values]}, body, raw head)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        assert parts[0] in (b"HTTP/1.1", b"HTTP/1.0"), lines[0]
        status = int(parts[1])
        headers = {}
        for ln in lines[1:]:
            name, _, value = ln.partition(b":")
            headers.setdefault(name.strip().lower().decode(), []).append(value.strip().decode())
        body = b""
        if head_only or status < 200 or status in (204, 304):
            pass
        elif "content-length" in headers:
            body = self._take(int(headers["content-length"][0]))
        elif "chunked" in ",".join(headers.get("transfer-encoding", [])):
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    while not self.buf.startswith(b"\r\n") and b"\r\n\r\n" not in self.buf:
                        self._fill()
                    self.buf = self.buf.split(b"\r\n", 1)[1] if self.buf.startswith(b"\r\n") \
                        else self.buf.split(b"\r\n\r\n", 1)[1]
                    break
                body += self._take(size)
                self._take(2)
        else:
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            body, self.buf = self.buf, b""
        return status, headers, body, head

    def closed_within(self, timeout):
        """True when the peer closes (EOF or reset) within TIMEOUT seconds and
        sends nothing more than what is already buffered."""
        self.sock.settimeout(timeout)
        try:
            while True:
                b = self.sock.recv(65536)
                if not b:
                    return True
                self.buf += b
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False


def get_ok(port):
    """A normal request still works: the daemon is alive and serving."""
    with Conn(port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, _, body, _ = c.read_response()
    assert (status, body) == (200, b"hello")


def alive(d):
    assert d.proc.poll() is None, "portico died:\n" + d.log()[-3000:]
    get_ok(d.port)


def curl(*args, timeout=10):
    """Runs curl; returns (status code, headers text, body bytes)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "5", "-D", "-", "-o", "/dev/stderr",
                        "-w", "\n%{http_code}"] + list(args),
                       capture_output=True, timeout=timeout)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    head, _, code = out.rpartition("\n")
    return int(code), head.lower(), r.stderr


# ---- methods and automatic answers -----------------------------------------

def test_curl_get_static_route(d):
    code, head, body = curl("--http1.1", d.url + "/hello")
    assert code == 200
    assert body == b"hello"
    assert "content-type: text/plain" in head
    assert "x-test: yes" in head
    assert "content-length: 5" in head
    assert head.startswith("http/1.1 200")


def test_curl_head_has_length_but_no_body(d):
    code, head, body = curl("--http1.1", "-I", d.url + "/hello")
    assert code == 200
    assert "content-length: 5" in head
    assert body.endswith(b"\r\n\r\n")   # with -I curl writes the head there, no body
    # on the wire: no body bytes, so the next response parses right after the head
    with Conn(d.port) as c:
        c.send(b"HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, hdrs, body, _ = c.read_response(head_only=True)
        assert status == 200 and hdrs["content-length"] == ["5"]
        status, _, body, _ = c.read_response()
        assert (status, body) == (200, b"A")


def test_curl_post(d):
    code, _, body = curl("--http1.1", "-d", "some=data", d.url + "/submit")
    assert code == 201
    assert body == b"created"
    code, _, body = curl("--http1.1", "-d", "x" * 500, d.url + "/hello")
    assert (code, body) == (200, b"hello")


def test_404_is_json(d):
    code, head, body = curl("--http1.1", d.url + "/nowhere")
    assert code == 404
    assert "content-type: application/json" in head
    assert json.loads(body)["error"]["status"] == 404


def test_405_lists_allowed_methods(d):
    code, head, body = curl("--http1.1", "-X", "DELETE", d.url + "/hello")
    assert code == 405
    allow = [ln for ln in head.splitlines() if ln.startswith("allow:")]
    assert allow, head
    methods = {m.strip().upper() for m in allow[0].split(":", 1)[1].split(",")}
    assert {"GET", "POST"} <= methods
    assert "DELETE" not in methods
    assert json.loads(body)["error"]["status"] == 405


def test_options_path_answers_204_with_allow(d):
    code, head, body = curl("--http1.1", "-X", "OPTIONS", d.url + "/a")
    assert code == 204
    assert "allow:" in head and "get" in head.split("allow:")[1].splitlines()[0]
    assert body == b""


def test_options_star(d):
    with Conn(d.port) as c:
        c.send(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n")
        status, hdrs, body, _ = c.read_response()
        assert status == 204
        assert "allow" in hdrs and "GET" in hdrs["allow"][0]
        # the connection stays usable
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"A")


# ---- keep-alive, HTTP/1.0, pipelining ---------------------------------------

def test_keepalive_several_requests_one_connection(d):
    with Conn(d.port) as c:
        for path, want in [(b"/a", b"A"), (b"/b", b"B"), (b"/hello", b"hello"), (b"/a", b"A")]:
            c.send(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            status, hdrs, body, _ = c.read_response()
            assert (status, body) == (200, want)
            assert "connection" not in hdrs
        c.send(b"GET /b HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        status, hdrs, body, _ = c.read_response()
        assert (status, body, hdrs["connection"]) == (200, b"B", ["close"])
        assert c.closed_within(2)


def test_http10_closes_by_default(d):
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.0\r\n\r\n")
        status, hdrs, body, head = c.read_response()
        assert (status, body) == (200, b"A")
        assert head.startswith(b"HTTP/1.0 200")
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2)


def test_http10_keepalive_on_request(d):
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, hdrs, body, _ = c.read_response()
        assert (status, body) == (200, b"A")
        assert hdrs.get("connection") == ["keep-alive"]
        c.send(b"GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status, hdrs, body, _ = c.read_response()
        assert (status, body) == (200, b"B")
        c.send(b"GET /a HTTP/1.0\r\n\r\n")
        assert c.read_response()[0] == 200
        assert c.closed_within(2)


def test_pipelining_answers_in_order(d):
    paths = [b"/a", b"/b", b"/hello", b"/missing", b"/a", b"/b", b"/hello", b"/a"]
    want = [(200, b"A"), (200, b"B"), (200, b"hello"), (404, None), (200, b"A"),
            (200, b"B"), (200, b"hello"), (200, b"A")]
    data = b"".join(b"GET " + p + b" HTTP/1.1\r\nHost: t\r\n\r\n" for p in paths[:-1])
    data += b"GET " + paths[-1] + b" HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    with Conn(d.port) as c:
        c.send(data)
        for status, body in want:
            got = c.read_response()
            assert got[0] == status
            if body is not None:
                assert got[2] == body
        assert c.closed_within(2)
        assert c.buf == b""


def test_pipelining_keeps_going_without_close(d):
    # all in one send, and the connection stays open for more afterwards
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
        for _ in range(3):
            assert c.read_response()[:3:2] == (200, b"A")
        c.send(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"B")


def test_chunked_request_body_is_consumed(d):
    with Conn(d.port) as c:
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;name=value\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n"
               b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"hello")
        assert c.read_response()[:3:2] == (200, b"B")


def test_content_length_body_is_consumed(d):
    with Conn(d.port) as c:
        c.send(b"POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 15\r\n\r\n"
               b"GET /a HTTP/1.1"
               b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (201, b"created")
        # the body looked like a request line, but it was body: next is /b
        assert c.read_response()[:3:2] == (200, b"B")


def test_expect_100_continue(d):
    with Conn(d.port) as c:
        c.send(b"POST /submit HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        while b"\r\n\r\n" not in c.buf:
            c._fill()
        assert c.buf.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert c.read_response()[0] == 100
        c.send(b"hello")
        assert c.read_response()[:3:2] == (201, b"created")


def test_expect_100_not_sent_when_answered_early(d):
    # a 404 needs no body: the final answer comes without 100 Continue, and
    # since the client may or may not send the body now, the connection closes
    with Conn(d.port) as c:
        t0 = time.monotonic()
        c.send(b"POST /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n"
               b"Expect: 100-continue\r\n\r\n")
        status, hdrs, _, head = c.read_response()
        assert status == 404
        assert not head.startswith(b"HTTP/1.1 100")
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2)
        assert c.buf == b"", "a second answer: %r" % c.buf[:100]
        assert time.monotonic() - t0 < 0.9


def test_early_answer_discards_body_then_next_request(d):
    with Conn(d.port) as c:
        c.send(b"POST /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
               b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 404
        assert c.read_response()[:3:2] == (200, b"A")
        # the body arriving after the answer
        c.send(b"DELETE /a HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert c.read_response()[0] == 405
        time.sleep(0.1)
        c.send(b"3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"B")
        # and the idle timer runs afterwards
        assert c.closed_within(3)
        assert c.buf == b""


def test_early_answer_then_stalled_body_closes_quietly(d):
    with Conn(d.port) as c:
        c.send(b"POST /missing HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\nabc")
        assert c.read_response()[0] == 404
        assert c.closed_within(3)
        assert c.buf == b"", "an answer after the answer: %r" % c.buf[:100]


# ---- request smuggling: 400 (or 501) and close -------------------------------

H = b"POST /hello HTTP/1.1\r\nHost: t\r\n"

SMUGGLING = [
    ("cl-and-te", H + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ("te-and-cl", H + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400),
    ("duplicate-cl", H + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello", 400),
    ("duplicate-cl-differs", H + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400),
    ("cl-list", H + b"Content-Length: 42, 42\r\n\r\n" + b"x" * 42, 400),
    ("cl-non-numeric", H + b"Content-Length: abc\r\n\r\n", 400),
    ("cl-hex", H + b"Content-Length: 0x5\r\n\r\nhello", 400),
    ("cl-plus", H + b"Content-Length: +5\r\n\r\nhello", 400),
    ("cl-negative", H + b"Content-Length: -1\r\n\r\n", 400),
    ("cl-empty", H + b"Content-Length: \r\n\r\n", 400),
    ("cl-overflow", H + b"Content-Length: 99999999999999999999999\r\n\r\n", 400),
    ("te-chunked-then-gzip", H + b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400),
    ("te-chunked-twice", H + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
     b"\r\n0\r\n\r\n", 400),
    ("te-xchunked", H + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", 400),
    ("te-identity", H + b"Transfer-Encoding: identity\r\n\r\n", 400),
    ("te-chunked-comma-empty", H + b"Transfer-Encoding: chunked,\r\n\r\n0\r\n\r\n", 400),
    ("te-in-http10", b"POST /hello HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    # well-formed, but a coding we do not implement: 501 on purpose
    ("te-gzip-chunked", H + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    ("chunk-size-zz", H + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-negative", H + b"Transfer-Encoding: chunked\r\n\r\n-1\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-overflow", H + b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 20 +
     b"\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-0x", H + b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-size-space", H + b"Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-empty-name", H + b"Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-nul", H + b"Transfer-Encoding: chunked\r\n\r\n5;a\x00b\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-ext-bad-quote", H + b"Transfer-Encoding: chunked\r\n\r\n5;a=\"x\rb\"\r\nhello\r\n"
     b"0\r\n\r\n", 400),
    ("chunk-ext-bare-lf", H + b"Transfer-Encoding: chunked\r\n\r\n5;a=b\nhello\r\n0\r\n\r\n", 400),
    ("chunk-data-too-long", H + b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400),
    ("chunk-bare-lf", H + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n", 400),
    ("obs-fold", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n  b\r\n\r\n", 400),
    ("obs-fold-tab", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\n\tb\r\n\r\n", 400),
    ("leading-space-first-header", b"GET /hello HTTP/1.1\r\n Host: t\r\n\r\n", 400),
    ("bare-cr-in-value", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n", 400),
    ("bare-cr-after-value", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\r\r\n\r\n", 400),
    ("bare-lf-everywhere", b"GET /hello HTTP/1.1\nHost: t\n\n", 400),
    ("bare-lf-in-headers", b"GET /hello HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n", 400),
    ("bare-lf-end-of-head", b"GET /hello HTTP/1.1\r\nHost: t\r\n\n", 400),
    ("space-before-colon", b"GET /hello HTTP/1.1\r\nHost : t\r\n\r\n", 400),
    ("space-before-colon-te", H + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    ("tab-before-colon", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A\t: b\r\n\r\n", 400),
    ("non-token-name", b"GET /hello HTTP/1.1\r\nHost: t\r\nX(A): b\r\n\r\n", 400),
    ("non-token-name-at", b"GET /hello HTTP/1.1\r\nHost: t\r\nX@A: b\r\n\r\n", 400),
    ("empty-name", b"GET /hello HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n", 400),
    ("nul-in-value", b"GET /hello HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n", 400),
    ("nul-in-name", b"GET /hello HTTP/1.1\r\nHost: t\r\nX\x00A: b\r\n\r\n", 400),
    ("missing-host", b"GET /hello HTTP/1.1\r\nX-A: b\r\n\r\n", 400),
    ("two-hosts", b"GET /hello HTTP/1.1\r\nHost: t\r\nHost: u\r\n\r\n", 400),
    ("two-hosts-same", b"GET /hello HTTP/1.1\r\nHost: t\r\nhost: t\r\n\r\n", 400),
    ("host-bad-char", b"GET /hello HTTP/1.1\r\nHost: t/x\r\n\r\n", 400),
    ("bad-version", b"GET /hello HTTP/1.x\r\nHost: t\r\n\r\n", 400),
    ("lowercase-version", b"GET /hello http/1.1\r\nHost: t\r\n\r\n", 400),
    ("two-spaces", b"GET  /hello HTTP/1.1\r\nHost: t\r\n\r\n", 400),
]


@pytest.mark.parametrize("raw,status", [c[1:] for c in SMUGGLING],
                         ids=[c[0] for c in SMUGGLING])
def test_smuggling_rejected_and_closed(d, raw, status):
    with Conn(d.port) as c:
        c.send(raw)
        got, hdrs, _, _ = c.read_response()
        assert got == status, d.log()[-1500:]
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2), "connection left open after %d" % got
        assert c.buf == b"", "more after the error: %r" % c.buf[:200]
    assert d.proc.poll() is None


def test_smuggled_request_is_never_answered(d):
    # CL.TE: a lenient server would run the "GET /b" hidden in the body
    with Conn(d.port) as c:
        c.send(H + b"Content-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 400
        assert c.closed_within(2)
        assert b"HTTP/1.1 200" not in c.buf


def test_http2_version_in_http1_is_505(d):
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 505
        assert c.closed_within(2)


# ---- limits -------------------------------------------------------------------

def test_request_line_too_long_is_414(d):
    with Conn(d.port) as c:
        c.send(b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 414
        assert c.closed_within(2)
    # without the end of the line too: the limit applies to what is buffered
    with Conn(d.port) as c:
        c.send(b"GET /" + b"a" * 1500)
        assert c.read_response()[0] == 414
        assert c.closed_within(2)
    alive(d)


def test_request_line_at_limit_is_fine(d):
    path = b"/hello?" + b"q" * (1024 - len(b"GET /hello? HTTP/1.1"))
    line = b"GET " + path + b" HTTP/1.1"
    assert len(line) == 1024
    with Conn(d.port) as c:
        c.send(line + b"\r\nHost: t\r\nConnection: close\r\n\r\n")
        assert c.read_response()[0] == 200


def test_too_many_headers_is_431(d):
    hdrs = b"".join(b"X-%d: v\r\n" % i for i in range(25))
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n" + hdrs + b"\r\n")
        assert c.read_response()[0] == 431
        assert c.closed_within(2)
    alive(d)


def test_header_section_too_large_is_431(d):
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + b"v" * 3000 + b"\r\n\r\n")
        assert c.read_response()[0] == 431
        assert c.closed_within(2)
    # a head that never ends: still 431 once the limit is buffered
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: t\r\n" + b"X-Many: v\r\n" * 15 +
               b"X-Big: " + b"v" * 3000)
        assert c.read_response()[0] == 431
        assert c.closed_within(2)
    alive(d)


def test_body_over_limit_by_content_length_is_413(d):
    with Conn(d.port) as c:
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n")
        status, hdrs, _, _ = c.read_response()
        assert status == 413
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2)
    alive(d)


def test_body_at_limit_is_fine(d):
    with Conn(d.port) as c:
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 1024\r\n\r\n" +
               b"x" * 1024 + b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"hello")
        assert c.read_response()[:3:2] == (200, b"A")


def test_chunked_body_over_limit_is_413(d):
    chunks = b"".join(b"100\r\n" + b"x" * 256 + b"\r\n" for _ in range(8)) + b"0\r\n\r\n"
    with Conn(d.port) as c:
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            c.send(chunks)
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, hdrs, _, _ = c.read_response()
        assert status == 413
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2)
    alive(d)


def test_chunked_body_with_huge_declared_chunk_is_413(d):
    with Conn(d.port) as c:
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"100000\r\n" + b"x" * 2048)
        assert c.read_response()[0] == 413
        assert c.closed_within(2)
    alive(d)


# ---- timeouts -------------------------------------------------------------------

def test_slow_head_gets_408(d):
    req = b"GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 40 + b"\r\n\r\n"
    with Conn(d.port) as c:
        t0 = time.monotonic()
        sent = 0
        try:
            while sent < len(req) and time.monotonic() - t0 < 5:
                c.send(req[sent:sent + 1])
                sent += 1
                c.sock.settimeout(0.3)
                try:
                    b = c.sock.recv(65536)
                    c.buf += b
                    if not b or b"\r\n\r\n" in c.buf:
                        break
                except socket.timeout:
                    pass
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.sock.settimeout(3)
        status, _, body, _ = c.read_response()
        elapsed = time.monotonic() - t0
        assert status == 408
        assert b"header timeout" in body
        assert sent < len(req), "the whole head went through"
        assert 0.8 < elapsed < 2.5, elapsed
        assert c.closed_within(2)
    alive(d)


def test_stalled_body_gets_408(d):
    with Conn(d.port) as c:
        t0 = time.monotonic()
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        status, _, body, _ = c.read_response()
        elapsed = time.monotonic() - t0
        assert status == 408
        assert b"body timeout" in body
        assert 0.8 < elapsed < 2.5, elapsed
        assert c.closed_within(2)
    with Conn(d.port) as c:
        t0 = time.monotonic()
        c.send(b"POST /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe")
        assert c.read_response()[0] == 408
        assert time.monotonic() - t0 < 2.5
        assert c.closed_within(2)
    alive(d)


def test_idle_keepalive_connection_is_closed(d):
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 200
        t0 = time.monotonic()
        assert c.closed_within(3)
        elapsed = time.monotonic() - t0
        assert 0.7 < elapsed < 2.5, elapsed
        assert c.buf == b"", "an idle close sends nothing: %r" % c.buf


def test_idle_timer_restarts_per_request(d):
    # requests every 0.6 s keep a 1 s idle connection alive
    with Conn(d.port) as c:
        for _ in range(3):
            c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
            assert c.read_response()[0] == 200
            time.sleep(0.6)
        c.send(b"GET /b HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"B")


def test_silent_connection_is_closed(d):
    with Conn(d.port) as c:
        t0 = time.monotonic()
        assert c.closed_within(3)
        assert time.monotonic() - t0 < 2.5
    alive(d)


# ---- graceful stop ------------------------------------------------------------

def test_sigterm_closes_idle_keepalive_and_exits_0(portico):
    d = portico(config(idle_timeout=30))
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[0] == 200
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        assert c.closed_within(3)
        assert d.proc.wait(5) == 0
        assert time.monotonic() - t0 < 2


def test_sigterm_with_half_a_head_ends_within_shutdown_timeout(portico):
    d = portico(config(header_timeout=20, idle_timeout=30, extra="shutdown_timeout = 1\n"))
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHo")
        time.sleep(0.2)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        assert c.closed_within(4)
        assert time.monotonic() - t0 < 3
        # if anything was sent, it is a whole response that closes
        if c.buf:
            assert c.buf.startswith(b"HTTP/1.1 "), c.buf
        assert d.proc.wait(5) == 0


def test_sigterm_lets_the_half_sent_request_finish(portico):
    d = portico(config(header_timeout=20, idle_timeout=30, extra="shutdown_timeout = 3\n"))
    with Conn(d.port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHo")
        time.sleep(0.2)
        d.signal(signal.SIGTERM)
        time.sleep(0.3)
        c.send(b"st: t\r\n\r\n")
        status, hdrs, body, _ = c.read_response()
        assert (status, body) == (200, b"hello")
        assert hdrs.get("connection") == ["close"]
        assert c.closed_within(2)
    assert d.proc.wait(5) == 0


# ---- robustness -----------------------------------------------------------------

def test_garbage_bytes(d):
    for junk in [b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40,
                 b"\xff\xfe\xfd\r\n\r\n", b"HELLO\r\n\r\n", b"GET\r\n\r\n",
                 b"GET /\r\n\r\n", b"\r\n" * 20, b"G E T / HTTP/1.1\r\n\r\n"]:
        out = raw_request(d.port, junk, timeout=3)
        assert out == b"" or out.startswith(b"HTTP/1.1 4"), (junk, out[:100])
    alive(d)


def test_random_64k(d):
    rnd = random.Random(1234)
    data = bytes(rnd.getrandbits(8) for _ in range(65536))
    with Conn(d.port) as c:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            assert c.closed_within(3)
        except ConnectionResetError:
            pass
        assert c.buf == b"" or c.buf.startswith(b"HTTP/1.1 4")
    alive(d)


def test_request_line_of_spaces(d):
    with Conn(d.port) as c:
        c.send(b" " * 500 + b"\r\n\r\n")
        assert c.read_response()[0] == 400
        assert c.closed_within(2)
    with Conn(d.port) as c:
        c.send(b" " * 2000)
        assert c.read_response()[0] in (400, 414)
        assert c.closed_within(2)
    alive(d)


def test_empty_connections(d):
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", d.port), timeout=2)
        s.close()
    # and one that half-closes right away
    with Conn(d.port) as c:
        c.sock.shutdown(socket.SHUT_WR)
        assert c.closed_within(3)
        assert c.buf == b""
    alive(d)


def test_half_close_after_request_still_answered(d):
    with Conn(d.port) as c:
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        assert c.read_response()[:3:2] == (200, b"A")
        assert c.closed_within(2)


def test_half_close_after_pipelined_requests_flushes_all(portico):
    big = BIG
    d = portico(config(extra=BIG_ROUTE))
    for _ in range(3):
        with Conn(d.port) as c:
            c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 3)
            c.sock.shutdown(socket.SHUT_WR)
            for _ in range(3):
                status, _, body, _ = c.read_response()
                assert status == 200 and len(body) == len(big)
            assert c.closed_within(3)
    alive(d)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def test_pipelined_answers_wait_for_a_client_that_does_not_read(portico):
    # 100 answers of 200 KB asked in one send: the daemon must not queue 20 MB
    d = portico(config(extra=BIG_ROUTE))
    get_ok(d.port)
    before = rss_kib(d.proc.pid)
    with Conn(d.port, timeout=10) as c:
        c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 100)
        time.sleep(0.5)
        grown = rss_kib(d.proc.pid) - before
        assert grown < 8 * 1024, "%d KiB queued for a client that does not read" % grown
        for i in range(100):
            status, _, body, _ = c.read_response()
            assert status == 200 and len(body) == len(BIG), i
        c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n")
        assert c.read_response()[:3:2] == (200, b"A")
    alive(d)


def test_write_timeout_closes_a_client_that_never_reads(portico):
    d = portico(config(write_timeout=1, idle_timeout=30, extra=BIG_ROUTE))
    with Conn(d.port, timeout=5) as c:
        c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 40)
        time.sleep(2.5)
        got = 0
        t0 = time.monotonic()
        try:
            while True:
                b = c.sock.recv(1 << 20)
                if not b:
                    break
                got += len(b)
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 4, "not closed"
        assert got < 40 * len(BIG)
    assert d.wait_log("write timeout", 2), d.log()[-2000:]
    alive(d)


def test_idle_timer_waits_for_a_long_answer_to_go_out(portico):
    # 6 MB of answers read slowly (~2.5 s) with a 1 s idle timeout: the idle
    # timer must not cut the last answer while it is still being written
    d = portico(config(idle_timeout=1, extra=BIG_ROUTE))
    with Conn(d.port, timeout=5) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n" * 30)
        want = 30 * len(BIG)
        got = 0
        t0 = time.monotonic()
        while got < want and time.monotonic() - t0 < 15:
            b = c.sock.recv(65536)
            if not b:
                break
            got += len(b) - b.count(b"HTTP/1.1 200")   # heads are small; count roughly
            c.buf += b
            time.sleep(0.025)
        n = 0
        while True:
            try:
                status, _, body, _ = c.read_response()
            except (EOFError, socket.timeout):
                break
            assert status == 200 and len(body) == len(BIG)
            n += 1
            if n == 30:
                break
        assert n == 30, "only %d whole answers" % n
    alive(d)


def test_many_concurrent_connections(portico):
    # a roomy header timeout: the half-sent heads wait while 200 sockets open
    d = portico(config(header_timeout=10))
    n = 200
    socks = []
    try:
        for _ in range(n):
            socks.append(socket.create_connection(("127.0.0.1", d.port), timeout=5))
        # half of them send a whole request, the other half a partial one first
        for i, s in enumerate(socks):
            s.sendall(b"GET /a HTTP/1.1\r\nHost: t\r\n" if i % 2 else
                      b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        for i, s in enumerate(socks):
            if i % 2:
                s.sendall(b"Connection: close\r\n\r\n")
        results = [None] * n

        def reader(i, s):
            s.settimeout(5)
            data = b""
            try:
                while True:
                    b = s.recv(4096)
                    if not b:
                        break
                    data += b
            except OSError:
                pass
            results[i] = data

        threads = [threading.Thread(target=reader, args=(i, s)) for i, s in enumerate(socks)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        bad = [r[:60] for r in results if not (r and r.startswith(b"HTTP/1.1 200") and
                                              r.endswith(b"\r\n\r\nA"))]
        assert not bad, "%d bad answers, e.g. %r" % (len(bad), bad[:3])
    finally:
        for s in socks:
            s.close()
    alive(d)
