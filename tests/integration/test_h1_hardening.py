"""HTTP/1.1 hardening (issue 11): request-targets outside the URI grammar,
heads that arrive a few bytes at a time, and request trailers.

Everything goes over raw sockets to 127.0.0.1, bounded in size and time.
"""
import socket

import pytest

from conftest import raw_request

ROUTES = '''
route { method = { "GET", "POST" }, path = "/*rest", handler = "static", body = "ok" }
'''

# RFC 3986 leaves these out of URIs ('#' starts a fragment, never sent).
EXCLUDED = '#"<>\\^`{|}'


def status_of(resp):
    """The status code of the first response in RESP, or None."""
    if not resp.startswith(b"HTTP/1.1 "):
        return None
    return int(resp[9:12])


@pytest.mark.parametrize("ch", list(EXCLUDED))
def test_target_char_outside_uri_grammar_is_400(portico, ch):
    d = portico(ROUTES)
    for target in ("/a%sb" % ch, "/a?q=%s" % ch, "http://h/x%s" % ch):
        req = ("GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target).encode()
        resp = raw_request(d.port, req)
        assert status_of(resp) == 400, (target, resp[:200])
    assert d.proc.poll() is None


def test_percent_encoded_forms_of_excluded_chars_stay_fine(portico):
    d = portico(ROUTES)
    enc = "".join("%%%02X" % ord(c) for c in EXCLUDED)
    req = ("GET /a%s?q=%s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
           % (enc, enc)).encode()
    resp = raw_request(d.port, req)
    assert status_of(resp) == 200, resp[:200]


def dribble(port, data, piece=3, timeout=5.0):
    """Sends DATA PIECE bytes per write (no Nagle); returns what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
        except OSError:
            pass   # answered and closed before the end: read the answer
        s.settimeout(timeout)
        out = b""
        try:
            while b"\r\n\r\n" not in out or len(out) < 12:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def test_head_dribbled_in_small_pieces_is_parsed(portico):
    """A 24 KiB head in 3-byte writes: parsed once it is whole, same as at once."""
    d = portico('http = { max_header_size = 65536 }\n' + ROUTES)
    fields = "".join("X-F%02d: %s\r\n" % (i, chr(97 + i % 26) * 480) for i in range(50))
    head = ("GET /x HTTP/1.1\r\nHost: h\r\n%sConnection: close\r\n\r\n" % fields).encode()
    assert len(head) > 24000
    resp = dribble(d.port, head)
    assert status_of(resp) == 200, resp[:200]


def test_bad_byte_in_dribbled_head_is_400(portico):
    d = portico(ROUTES)
    head = b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: " + b"a" * 3000 + b"\x01" + b"b" * 3000 + b"\r\n\r\n"
    resp = dribble(d.port, head, piece=5)
    assert status_of(resp) == 400, resp[:200]
    assert d.proc.poll() is None


# ---- request trailers ------------------------------------------------------

import json
import threading

TRAILER_ROUTES = r'''
route.post("/tr", function(req)
  local t = {}
  for k, v in pairs(req.trailers) do t[k] = v end
  return { body = req.body, trailers = t, any_case = req.trailers["X-SUM"] or json.null,
           in_headers = req.headers["x-sum"] or json.null }
end)
route.post("/again", function(req)
  return { same = rawequal(req.trailers, req.trailers), n = #req.body }
end)
'''


def lua_trailer_daemon(portico, tmp_path, extra=""):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    (d / "tr.lua").write_text(TRAILER_ROUTES)
    return portico(f'routes "{d}"\n{extra}')


def chunked_post(path, chunks, trailer_lines, head_extra=""):
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks)
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
            + head_extra.encode() + b"Transfer-Encoding: chunked\r\n\r\n" + body + b"0\r\n"
            + b"".join(t + b"\r\n" for t in trailer_lines) + b"\r\n")


def json_body(resp):
    return json.loads(resp.partition(b"\r\n\r\n")[2])


def test_lua_route_sees_request_trailers(portico, tmp_path):
    d = lua_trailer_daemon(portico, tmp_path)
    req = chunked_post("/tr", [b"hello ", b"world"], [
        b"X-Sum: abc", b"x-sum: def", b"X-Note:  spaced out  ", b"Content-Length: 99",
        b"Transfer-Encoding: gzip", b"Host: evil", b"Authorization: x"])
    resp = raw_request(d.port, req)
    assert status_of(resp) == 200, resp
    j = json_body(resp)
    assert j["body"] == "hello world"
    # repeats joined as for headers, OWS trimmed, forbidden fields dropped
    assert j["trailers"] == {"x-sum": "abc, def", "x-note": "spaced out"}
    assert j["any_case"] == "abc, def"
    assert j["in_headers"] is None      # never merged into the header section


def test_trailers_arriving_a_byte_at_a_time_are_kept(portico, tmp_path):
    d = lua_trailer_daemon(portico, tmp_path)
    req = chunked_post("/tr", [b"x" * 100], [b"X-Sum: %d" % i for i in range(20)])
    resp = dribble(d.port, req, piece=1)
    assert status_of(resp) == 200, resp[:300]
    assert json_body(resp)["trailers"]["x-sum"] == ", ".join(str(i) for i in range(20))


def test_no_trailers_is_an_empty_table(portico, tmp_path):
    d = lua_trailer_daemon(portico, tmp_path)
    resp = raw_request(d.port, chunked_post("/tr", [b"abc"], []))
    assert json_body(resp)["trailers"] == {}
    resp = raw_request(d.port, b"POST /again HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"
                                b"Content-Length: 3\r\n\r\nabc")
    assert json_body(resp) == {"same": False, "n": 3}


@pytest.mark.parametrize("line", [
    b"X-Bad : 1",           # whitespace before the colon
    b" X-Fold: 1",          # obs-fold
    b"X-Ctl: a\x01b",       # a control byte
    b"X-NoColon",
    b"X(A): 1",             # not a token
])
def test_malformed_trailer_field_is_400(portico, tmp_path, line):
    d = lua_trailer_daemon(portico, tmp_path)
    resp = raw_request(d.port, chunked_post("/tr", [b"abc"], [b"X-Ok: 1", line]))
    assert status_of(resp) == 400, resp[:200]
    assert d.proc.poll() is None


def test_trailers_are_bounded_by_the_header_limits(portico, tmp_path):
    d = lua_trailer_daemon(portico, tmp_path,
                           "http = { max_header_size = 1024, max_headers = 8 }")
    ok = raw_request(d.port, chunked_post("/tr", [b"a"], [b"X-%d: v" % i for i in range(8)]))
    assert status_of(ok) == 200, ok[:200]
    many = raw_request(d.port, chunked_post("/tr", [b"a"], [b"X-%d: v" % i for i in range(9)]))
    assert status_of(many) == 400, many[:200]
    big = raw_request(d.port, chunked_post("/tr", [b"a"], [b"X-Big: " + b"v" * 1100]))
    assert status_of(big) == 400, big[:200]
    assert d.proc.poll() is None


# ---- trailers through the proxy --------------------------------------------

def proxy_daemon(portico, tmp_path, port, protocol, opts=""):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "gw.lua").write_text('''
local up = upstream "up"
route.any("/*rest", proxy(up, { %s }))
''' % opts)
    return portico(f'upstream "up" {{ servers = {{ "127.0.0.1:{port}" }}, protocol = "{protocol}", '
                   f'timeout = {{ connect = 1, read = 3 }}, retries = 0 }}\nroutes "{routes}"')


class OneShotUpstream:
    """A loopback listener whose thread serves one connection (serve(c))."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        self.serve(c)

    def close(self):
        self.sock.close()


class H2TrailerUpstream(OneShotUpstream):
    """An h2c upstream that answers each request with the JSON of its body
    length and the trailer fields it received."""

    def __init__(self):
        import h2.config
        import h2.connection
        import h2.events
        self.h2 = h2
        super().__init__()

    def serve(self, c):
        h2 = self.h2
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        c.sendall(conn.data_to_send())
        c.settimeout(10)
        streams = {}
        try:
            while True:
                data = c.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        streams[ev.stream_id] = {"n": 0, "trailers": {}}
                    elif isinstance(ev, h2.events.DataReceived):
                        streams[ev.stream_id]["n"] += len(ev.data)
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                    elif isinstance(ev, h2.events.TrailersReceived):
                        streams[ev.stream_id]["trailers"] = dict(ev.headers)
                    elif isinstance(ev, h2.events.StreamEnded):
                        body = json.dumps(streams.pop(ev.stream_id)).encode()
                        conn.send_headers(ev.stream_id, [(":status", "200"),
                                                         ("content-length", str(len(body)))])
                        conn.send_data(ev.stream_id, body, end_stream=True)
                out = conn.data_to_send()
                if out:
                    c.sendall(out)
        except (OSError, h2.exceptions.ProtocolError):
            pass
        finally:
            c.close()


class H1TrailerUpstream(OneShotUpstream):
    """An HTTP/1.1 upstream that reads one chunked request and answers with
    the raw bytes after its last chunk (the trailer section)."""

    def serve(self, c):
        c.settimeout(10)
        buf = b""
        try:
            while b"\r\n0\r\n" not in buf or not buf.endswith(b"\r\n\r\n"):
                b = c.recv(65536)
                if not b:
                    return
                buf += b
            head, _, body = buf.partition(b"\r\n\r\n")
            tail = body[body.index(b"\r\n0\r\n") + 5:] if not body.startswith(b"0\r\n") \
                else body[3:]
            out = json.dumps({"chunked": b"transfer-encoding: chunked" in head.lower(),
                              "tail": tail.decode("latin1")}).encode()
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (len(out), out))
        except OSError:
            pass
        finally:
            c.close()


def test_proxy_delivers_request_trailers_to_an_h2c_upstream(portico, tmp_path):
    pytest.importorskip("h2")
    up = H2TrailerUpstream()
    try:
        d = proxy_daemon(portico, tmp_path, up.port, "h2c")
        req = chunked_post("/up", [b"hello", b" world"],
                           [b"X-Checksum: sha256=abc", b"Content-Length: 7", b"X-Two: 2"])
        resp = raw_request(d.port, req)
        assert status_of(resp) == 200, resp[:300]
        j = json_body(resp)
        assert j["n"] == 11
        assert j["trailers"] == {"x-checksum": "sha256=abc", "x-two": "2"}
    finally:
        up.close()


def test_proxy_sends_request_trailers_in_the_last_chunk_upstream(portico, tmp_path):
    up = H1TrailerUpstream()
    try:
        d = proxy_daemon(portico, tmp_path, up.port, "http")
        req = chunked_post("/up", [b"hello"], [b"X-Checksum: abc", b"Host: evil"])
        resp = raw_request(d.port, req)
        assert status_of(resp) == 200, resp[:300]
        j = json_body(resp)
        assert j["chunked"] is True
        assert j["tail"] == "x-checksum: abc\r\n\r\n"
    finally:
        up.close()


def test_buffered_proxy_delivers_request_trailers_to_an_h2c_upstream(portico, tmp_path):
    pytest.importorskip("h2")
    up = H2TrailerUpstream()
    try:
        d = proxy_daemon(portico, tmp_path, up.port, "h2c", "buffer_body = true")
        for chunks in ([b"abc", b"def"], []):      # an empty body too
            req = chunked_post("/up", chunks, [b"X-Checksum: 1", b"Te: trailers"])
            resp = raw_request(d.port, req)
            assert status_of(resp) == 200, resp[:300]
            j = json_body(resp)
            assert j["n"] == sum(len(c) for c in chunks)
            assert j["trailers"] == {"x-checksum": "1"}
    finally:
        up.close()


# ---- request trailers from an HTTP/2 client ---------------------------------

def h2_post_with_trailers(port, path, chunks, trailers, timeout=5.0):
    """Sends one h2c POST whose body ends with a trailer HEADERS frame and
    returns (status, body)."""
    import h2.config
    import h2.connection
    import h2.events
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "POST"), (":path", path), (":scheme", "http"),
                          (":authority", "127.0.0.1")])
    for c in chunks:
        conn.send_data(1, c)
    conn.send_headers(1, trailers, end_stream=True)
    s.sendall(conn.data_to_send())
    status, body, done = None, b"", False
    try:
        while not done:
            data = s.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    status = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, 1)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            out = conn.data_to_send()
            if out:
                s.sendall(out)
    finally:
        s.close()
    return status, body


def test_lua_route_sees_request_trailers_from_an_h2_client(portico, tmp_path):
    pytest.importorskip("h2")
    d = lua_trailer_daemon(portico, tmp_path)
    status, body = h2_post_with_trailers(d.port, "/tr", [b"hello ", b"world"], [
        ("x-sum", "abc"), ("x-note", "n"), ("authorization", "x"), ("content-type", "a/b")])
    assert status == 200
    j = json.loads(body)
    assert j["body"] == "hello world"
    assert j["trailers"] == {"x-sum": "abc", "x-note": "n"}   # forbidden fields dropped
    assert j["in_headers"] is None
    # content-length in trailers: nghttp2 resets the stream when it disagrees
    # with the body; else it is dropped like the others
    status, _ = h2_post_with_trailers(d.port, "/tr", [b"hello"], [("content-length", "99")])
    assert status is None
    status, body = h2_post_with_trailers(d.port, "/tr", [b"x"], [("content-length", "1")])
    assert status == 200 and json.loads(body)["trailers"] == {}
    status, body = h2_post_with_trailers(d.port, "/tr", [b"x"], [("x-ok", "1")])
    assert status == 200 and json.loads(body)["trailers"] == {"x-ok": "1"}


def test_h2_client_trailers_over_the_header_limit_are_refused(portico, tmp_path):
    pytest.importorskip("h2")
    d = lua_trailer_daemon(portico, tmp_path, "http = { max_headers = 4 }")
    status, _ = h2_post_with_trailers(d.port, "/tr", [b"x"],
                                      [("x-t%d" % i, "v") for i in range(10)])
    assert status in (400, 431, None)   # refused (or the stream reset), never kept
    status, body = h2_post_with_trailers(d.port, "/tr", [b"x"], [("x-ok", "1")])
    assert status == 200 and json.loads(body)["trailers"] == {"x-ok": "1"}


def test_proxy_passes_h2_client_trailers_to_an_h2c_upstream(portico, tmp_path):
    pytest.importorskip("h2")
    up = H2TrailerUpstream()
    try:
        d = proxy_daemon(portico, tmp_path, up.port, "h2c")
        status, body = h2_post_with_trailers(d.port, "/up", [b"hello", b" world"],
                                             [("x-checksum", "sha256=abc")])
        assert status == 200
        j = json.loads(body)
        assert j["n"] == 11 and j["trailers"] == {"x-checksum": "sha256=abc"}
    finally:
        up.close()
