"""HTTP/2 hardening: per-stream deadlines, frames on closed streams, Host.

Every test speaks raw frames (hyperframe + hpack, Debian's python3-h2
stack) on a blocking socket with a timeout, so it sees exactly what the
server sends, and what h2's state machine would refuse to send is sent
anyway. Each test stops by itself within a few seconds.
"""
import os
import socket
import threading
import time

import pytest

hyperframe = pytest.importorskip("hyperframe")
hpack = pytest.importorskip("hpack")
from hyperframe.frame import (  # noqa: E402
    ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
    RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

NO_ERROR, PROTOCOL_ERROR, CANCEL, STREAM_CLOSED = 0x0, 0x1, 0x8, 0x5
INITIAL_WINDOW_SIZE = SettingsFrame.INITIAL_WINDOW_SIZE

ROUTES = '''
http = { max_body_size = 100000, idle_timeout = 30,
         h2 = { max_concurrent_streams = 16 } }
route { method = "GET", path = "/hello", handler = "static", body = "Hello, World!" }
route { method = "POST", path = "/hello", handler = "static", body = "posted" }
'''


class Raw:
    """One HTTP/2 connection driven frame by frame."""

    def __init__(self, port, settings=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.buf = b""
        self.frames = []        # every frame received, HEADERS with .fields
        self.closed = False
        self.sock.sendall(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())

    def send(self, *frames):
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def headers(self, sid, method="GET", path="/hello", end=True, extra=(),
                authority="127.0.0.1"):
        fields = [(":method", method), (":path", path), (":scheme", "http")]
        if authority is not None:
            fields.append((":authority", authority))
        flags = ["END_HEADERS"] + (["END_STREAM"] if end else [])
        return HeadersFrame(sid, self.enc.encode(fields + list(extra)), flags=flags)

    def _read(self, deadline):
        """Reads once; parses whole frames. False when closed or timed out."""
        self.sock.settimeout(max(0.02, deadline - time.monotonic()))
        try:
            b = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            b = b""
        if not b:
            self.closed = True
            return False
        self.buf += b
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            if isinstance(f, HeadersFrame):
                f.fields = dict(self.dec.decode(f.data))
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                self.send(SettingsFrame(0, flags=["ACK"]))
            self.frames.append(f)
        return True

    def wait(self, pred, timeout=5.0):
        """Reads until PRED(frame) holds for a received frame; that frame, or None."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            if self.closed or time.monotonic() >= deadline:
                return None
            self._read(deadline)

    def drain(self, timeout):
        """Reads for TIMEOUT seconds (or until close)."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self._read(deadline)

    def of(self, sid, kind):
        return [f for f in self.frames if f.stream_id == sid and isinstance(f, kind)]

    def ended(self, sid):
        return any("END_STREAM" in f.flags for f in self.frames
                   if f.stream_id == sid and isinstance(f, (HeadersFrame, DataFrame)))

    def close(self):
        self.sock.close()


def rst(sid, code=None):
    return lambda f: (isinstance(f, RstStreamFrame) and f.stream_id == sid and
                      (code is None or f.error_code == code))


def goaway(code=None):
    return lambda f: isinstance(f, GoAwayFrame) and (code is None or f.error_code == code)


def stream_closed_error(sid):
    """RFC 9113 5.1: a stream error or a connection error of type STREAM_CLOSED."""
    return lambda f: rst(sid, STREAM_CLOSED)(f) or goaway(STREAM_CLOSED)(f)


@pytest.fixture
def d(portico):
    return portico(ROUTES)


def response(c, sid, timeout=5.0):
    """Waits for the end of SID's response: (status, body)."""
    assert c.wait(lambda f: c.ended(sid), timeout), c.frames
    heads = c.of(sid, HeadersFrame)
    return heads[0].fields[":status"], b"".join(f.data for f in c.of(sid, DataFrame))


# ---- frames on closed or half-closed streams (h2spec 5.1/5-12, 6.1/2) --------

def test_data_on_half_closed_remote_stream_is_stream_closed(d):
    # h2spec 5.1/5 and 6.1/2: the request ended, then DATA for it
    c = Raw(d.port)
    c.send(c.headers(1), DataFrame(1, b"test", flags=["END_STREAM"]))
    assert c.wait(stream_closed_error(1)), c.frames


def test_headers_on_half_closed_remote_stream_is_stream_closed(d):
    # h2spec 5.1/6: a second HEADERS (not trailers: the request had ended)
    c = Raw(d.port)
    c.send(c.headers(1), c.headers(1))
    assert c.wait(stream_closed_error(1)), c.frames


def test_data_after_client_reset_is_stream_closed(d):
    # h2spec 5.1/8: HEADERS, RST_STREAM from the client, then DATA
    c = Raw(d.port)
    c.send(c.headers(1, "POST", end=False), RstStreamFrame(1, error_code=CANCEL),
           DataFrame(1, b"test", flags=["END_STREAM"]))
    assert c.wait(stream_closed_error(1)), c.frames


def test_headers_after_client_reset_is_stream_closed(d):
    # h2spec 5.1/9: HEADERS, RST_STREAM, HEADERS again on the same stream
    c = Raw(d.port)
    c.send(c.headers(1, "POST", end=False), RstStreamFrame(1, error_code=CANCEL),
           c.headers(1))
    assert c.wait(stream_closed_error(1)), c.frames


def test_data_on_closed_stream_is_stream_closed(d):
    # h2spec 5.1/11: the exchange is over (both sides ended), then DATA
    c = Raw(d.port)
    c.send(c.headers(1))
    assert response(c, 1) == ("200", b"Hello, World!")
    c.send(DataFrame(1, b"test", flags=["END_STREAM"]))
    assert c.wait(stream_closed_error(1)), c.frames


def test_headers_on_closed_stream_is_a_connection_error(d):
    # h2spec 5.1/12: HEADERS on a closed stream: GOAWAY(STREAM_CLOSED)
    c = Raw(d.port)
    c.send(c.headers(1))
    assert response(c, 1) == ("200", b"Hello, World!")
    c.send(c.headers(1))
    assert c.wait(goaway(STREAM_CLOSED)), c.frames


def test_closed_streams_kept_are_bounded(d):
    # many more streams than max_concurrent_streams (16) on one connection:
    # the oldest closed ones are forgotten (late frames for them ignored),
    # the connection keeps working and the last ones are still known
    c = Raw(d.port)
    n = 60
    for i in range(n):
        sid = 2 * i + 1
        c.send(c.headers(sid))
        assert response(c, sid)[0] == "200"
    c.send(DataFrame(1, b"late"))                 # long forgotten: ignored
    c.send(c.headers(2 * n + 1))
    assert response(c, 2 * n + 1)[0] == "200"
    assert not c.of(0, GoAwayFrame)
    c.send(DataFrame(2 * n - 1, b"late"))         # just closed: remembered
    assert c.wait(stream_closed_error(2 * n - 1)), c.frames[-5:]


# ---- :authority and Host (RFC 9113 8.3.1) -----------------------------------

def test_host_differing_from_authority_is_refused(d):
    c = Raw(d.port)
    c.send(c.headers(1, authority="a.example", extra=[("host", "b.example")]))
    f = c.wait(lambda f: f.stream_id == 1 and isinstance(f, (HeadersFrame, RstStreamFrame)))
    assert f is not None, c.frames
    if isinstance(f, HeadersFrame):
        assert f.fields[":status"] == "400"
    else:
        assert f.error_code == PROTOCOL_ERROR
    assert "host header differs from :authority" in d.log()


def test_second_host_is_refused(d):
    # nghttp2 itself refuses a second host header: PROTOCOL_ERROR
    c = Raw(d.port)
    c.send(c.headers(1, authority="a.example",
                     extra=[("host", "a.example"), ("host", "b.example")]))
    f = c.wait(lambda f: f.stream_id == 1 and isinstance(f, (HeadersFrame, RstStreamFrame)))
    assert f is not None, c.frames
    assert (isinstance(f, RstStreamFrame) and f.error_code == PROTOCOL_ERROR) or \
        f.fields[":status"] == "400"


def test_host_equal_to_authority_or_alone_is_fine(d):
    c = Raw(d.port)
    c.send(c.headers(1, authority="a.example", extra=[("host", "a.example")]))
    assert response(c, 1) == ("200", b"Hello, World!")
    c.send(c.headers(3, authority="A.Example", extra=[("host", "a.example")]))
    assert response(c, 3) == ("200", b"Hello, World!")
    c.send(c.headers(5, authority=None, extra=[("host", "b.example")]))
    assert response(c, 5) == ("200", b"Hello, World!")
    c.send(c.headers(7))
    assert response(c, 7) == ("200", b"Hello, World!")


# ---- per-stream deadlines ---------------------------------------------------

DRIP = '''
route.get("/drip", function(req, res)
  res:header("content-type", "text/plain")
  res:write("first")
  sleep(30)
  res:write("second")
end)
'''


def deadline_daemon(portico, tmp_path, http):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "drip.lua").write_text(DRIP)
    alog = tmp_path / "access.log"
    d = portico(f'''
http = {{ {http}, h2 = {{ max_concurrent_streams = 16 }} }}
access_log = {{ file = "{alog}", format = "$method $path $status" }}
routes "{routes}"
route {{ method = "GET", path = "/hello", handler = "static", body = "Hello, World!" }}
route {{ method = "POST", path = "/hello", handler = "static", body = "posted" }}
''')
    d.alog = alog
    return d


def alog_lines(d):
    return d.alog.read_text().splitlines() if os.path.exists(d.alog) else []


def test_zero_window_streams_are_reset_after_the_write_timeout(portico, tmp_path):
    d = deadline_daemon(portico, tmp_path, "write_timeout = 1, idle_timeout = 1.5")
    c = Raw(d.port, settings={INITIAL_WINDOW_SIZE: 0})
    sids = [1, 3, 5, 7]
    t0 = time.monotonic()
    c.send(c.headers(1), c.headers(3), c.headers(5, path="/drip"), c.headers(7, path="/drip"))
    for sid in sids:
        assert c.wait(rst(sid, CANCEL), timeout=5), c.frames
    took = time.monotonic() - t0
    assert 0.8 < took < 4, took
    assert not c.of(1, DataFrame) and not c.of(5, DataFrame)   # never a window
    # the exchanges ended: the handler sleeping in /drip was let go (499)
    deadline = time.monotonic() + 3
    while len(alog_lines(d)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = alog_lines(d)
    assert sorted(lines) == ["GET /drip 499", "GET /drip 499", "GET /hello 200",
                             "GET /hello 200"], lines
    # nothing live: the connection goes after the idle timeout
    assert c.wait(goaway(NO_ERROR), timeout=4), c.frames
    c.drain(2)
    assert c.closed


def test_window_granted_in_time_lets_the_response_through(portico, tmp_path):
    d = deadline_daemon(portico, tmp_path, "write_timeout = 1")
    c = Raw(d.port, settings={INITIAL_WINDOW_SIZE: 0})
    c.send(c.headers(1))
    assert c.wait(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1)
    time.sleep(0.6)
    c.send(WindowUpdateFrame(1, window_increment=5))
    assert c.wait(lambda f: isinstance(f, DataFrame) and f.stream_id == 1)
    time.sleep(0.6)    # progress: a new second for the rest
    c.send(WindowUpdateFrame(1, window_increment=100))
    assert response(c, 1) == ("200", b"Hello, World!")
    assert not c.of(1, RstStreamFrame)


def test_pings_do_not_keep_a_slow_body_alive(portico, tmp_path):
    d = deadline_daemon(portico, tmp_path, "body_timeout = 1")
    c = Raw(d.port)
    c.send(c.headers(1, "POST", end=False, extra=[("content-length", "100")]))
    t0 = time.monotonic()
    done = None
    for i in range(40):                # a byte and a PING every 0.1 s, for 4 s at most
        try:
            c.send(DataFrame(1, b"x"), PingFrame(0, opaque_data=b"%08d" % i))
        except OSError:
            break
        done = c.wait(lambda f: f.stream_id == 1 and (
            isinstance(f, RstStreamFrame) or
            (isinstance(f, HeadersFrame) and f.fields.get(":status") == "408")), timeout=0.1)
        if done:
            break
    took = time.monotonic() - t0
    assert done is not None, c.frames[-5:]
    assert 0.8 < took < 3, took
    assert "body timeout" in d.log()


def test_pings_do_not_keep_a_stalled_body_alive(portico, tmp_path):
    # the body stops; the client only pings: the stream still times out
    d = deadline_daemon(portico, tmp_path, "body_timeout = 1")
    c = Raw(d.port)
    c.send(c.headers(1, "POST", end=False, extra=[("content-length", "100")]),
           DataFrame(1, b"abc"))
    done = None
    for i in range(30):
        c.send(PingFrame(0, opaque_data=b"%08d" % i))
        done = c.wait(lambda f: f.stream_id == 1 and isinstance(f, (RstStreamFrame, HeadersFrame)),
                      timeout=0.1)
        if done:
            break
    assert done is not None, c.frames[-5:]
    assert isinstance(done, RstStreamFrame) or done.fields[":status"] == "408"


def test_pings_do_not_keep_an_idle_connection(portico, tmp_path):
    d = deadline_daemon(portico, tmp_path, "idle_timeout = 0.8")
    c = Raw(d.port)
    c.send(c.headers(1))
    assert response(c, 1)[0] == "200"
    got = None
    for i in range(30):
        try:
            c.send(PingFrame(0, opaque_data=b"%08d" % i))
        except OSError:
            break
        got = c.wait(goaway(NO_ERROR), timeout=0.1)
        if got or c.closed:
            break
    assert got is not None, c.frames[-5:]


def test_slow_continuation_gets_the_header_timeout(portico, tmp_path):
    # a header block in pieces, a piece every 0.25 s (fewer CONTINUATION
    # frames than nghttp2's own limit): the header timeout ends it
    d = deadline_daemon(portico, tmp_path, "header_timeout = 1")
    c = Raw(d.port)
    block = c.enc.encode([(":method", "GET"), (":path", "/hello"), (":scheme", "http"),
                          (":authority", "127.0.0.1"), ("x-a", "1" * 50)])
    # settle the SETTINGS exchange first: its ACK must not cut the block
    assert c.wait(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
    t0 = time.monotonic()
    c.send(HeadersFrame(1, block[:10]))
    for i in range(6):
        if c.wait(lambda f: isinstance(f, (GoAwayFrame, RstStreamFrame)), timeout=0.25) or c.closed:
            break
        try:
            c.send(ContinuationFrame(1, block[10 + 2 * i:12 + 2 * i]))
        except OSError:
            break
    c.wait(lambda f: isinstance(f, GoAwayFrame), timeout=0.3)
    took = time.monotonic() - t0
    assert c.closed or c.of(0, GoAwayFrame), (took, c.frames)
    assert took < 1.8, took
    assert "header timeout" in d.log(), (took, c.frames)


def test_refused_head_whose_body_stalls_is_reset_later(portico, tmp_path):
    # answered at its head (400) while its body never comes: the body
    # deadline resets the stream; the connection stays usable
    d = deadline_daemon(portico, tmp_path, "body_timeout = 0.5")
    c = Raw(d.port)
    c.send(c.headers(1, "POST", end=False, authority="a.example", extra=[("host", "b.example")]))
    assert c.wait(lambda f: isinstance(f, HeadersFrame) and f.stream_id == 1).fields[":status"] == "400"
    assert c.wait(rst(1, CANCEL), timeout=3), c.frames
    c.send(c.headers(3))
    assert response(c, 3) == ("200", b"Hello, World!")
    assert "header timeout" not in d.log()


BIG = '''
route.get("/big", function() return string.rep("x", 100000) end)
'''


def test_closed_connection_window_resets_the_stream(portico, tmp_path):
    # the stream's window is large, the connection's (65535, never updated)
    # runs out mid-response: the stream is reset after the write timeout
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "big.lua").write_text(BIG)
    d = portico(f'http = {{ write_timeout = 1 }}\nroutes "{routes}"')
    c = Raw(d.port, settings={INITIAL_WINDOW_SIZE: 1 << 20})
    c.send(c.headers(1, path="/big"))
    t0 = time.monotonic()
    assert c.wait(rst(1, CANCEL), timeout=5), c.frames[-3:]
    assert 0.8 < time.monotonic() - t0 < 4
    assert sum(len(f.data) for f in c.of(1, DataFrame)) == 65535


class Trickle:
    """An HTTP/1.1 upstream that sends a head and one chunk, then waits
    until the connection closes (closed: an Event)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
        except OSError:
            return
        c.settimeout(20)
        try:
            while b"\r\n\r\n" not in c.recv(65536):
                pass
            c.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                      b"transfer-encoding: chunked\r\n\r\n6\r\nfirst\n\r\n")
            while c.recv(4096):
                pass
        except OSError:
            pass
        c.close()
        self.closed.set()


def test_zero_window_drops_the_upstream_call(portico, tmp_path):
    up = Trickle()
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "gw.lua").write_text('local up = upstream "up"\nroute.get("/*rest", proxy(up))\n')
    d = portico(f'http = {{ write_timeout = 1 }}\n'
                f'upstream "up" {{ servers = {{ "127.0.0.1:{up.port}" }}, '
                f'timeout = {{ connect = 1, read = 20 }} }}\nroutes "{routes}"')
    c = Raw(d.port, settings={INITIAL_WINDOW_SIZE: 0})
    c.send(c.headers(1, path="/trickle"))
    t0 = time.monotonic()
    assert c.wait(rst(1, CANCEL), timeout=5), c.frames[-3:]
    assert up.closed.wait(3), "the upstream call was not dropped"
    assert time.monotonic() - t0 < 4
    up.sock.close()
