"""HTTP/2 (h2c prior knowledge): requests, limits and connection life.

Frame-level tests speak HTTP/2 with the `h2` library over a raw socket;
the rest use curl. Every socket has a timeout, so no test can hang.
"""
import shutil
import signal
import socket
import subprocess
import time

import pytest

h2 = pytest.importorskip("h2")
import h2.config  # noqa: E402
import h2.connection  # noqa: E402
import h2.events  # noqa: E402
import h2.settings  # noqa: E402
from hyperframe.frame import DataFrame, Frame, GoAwayFrame, HeadersFrame  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

ROUTES = '''
http = { max_body_size = 1000, idle_timeout = 30,
         h2 = { max_concurrent_streams = 8, max_header_list_size = 4096 } }
route { method = "GET", path = "/hello", handler = "static", body = "Hello, World!" }
route { method = "POST", path = "/hello", handler = "static", body = "posted" }
'''

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")


class Client:
    """A minimal HTTP/2 client: the h2 state machine on a blocking socket."""

    def __init__(self, port, timeout=5.0, handshake=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.timeout = timeout
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.streams = {}       # id -> {"headers", "data", "ended", "reset"}
        self.goaway = None      # the last ConnectionTerminated event
        self.goaways = []
        self.closed = False
        if handshake:
            self.conn.initiate_connection()
            self.flush()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def request(self, method, path, body=None, headers=(), end=True):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1")] + list(headers)
        self.conn.send_headers(sid, hdrs, end_stream=end and body is None)
        if body is not None:
            self.conn.send_data(sid, body, end_stream=end)
        self.streams[sid] = {"headers": None, "data": b"", "ended": False, "reset": None}
        self.flush()
        return sid

    def _handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.ResponseReceived):
            st["headers"] = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            st["data"] += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            st["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            if st is not None:
                st["reset"] = ev.error_code
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = ev
            self.goaways.append(ev)

    def pump(self, until, timeout=None):
        """Reads and handles frames until UNTIL() is true; False on close/timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            if self.closed or time.monotonic() > deadline:
                return False
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return until()
            except ConnectionResetError:
                data = b""
            if not data:
                self.closed = True
                break
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError:
                events = []
            for ev in events:
                self._handle(ev)
            try:
                self.flush()
            except OSError:
                pass
        return until()

    def done(self, sid):
        st = self.streams[sid]
        return st["ended"] or st["reset"] is not None

    def wait(self, *sids, timeout=None):
        assert self.pump(lambda: all(self.done(s) for s in sids), timeout), \
            {s: self.streams[s] for s in sids}
        return [self.streams[s] for s in sids] if len(sids) > 1 else self.streams[sids[0]]

    def wait_closed(self, timeout=5.0):
        return self.pump(lambda: self.closed, timeout)

    def close(self):
        self.sock.close()


def read_raw_frames(sock, timeout=5.0):
    """Reads until the peer closes (or TIMEOUT); returns (frames, closed)."""
    buf = b""
    deadline = time.monotonic() + timeout
    closed = False
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            b = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not b:
            closed = True
            break
        buf += b
    frames = []
    while len(buf) >= 9:
        f, length = Frame.parse_frame_header(memoryview(buf[:9]))
        if len(buf) < 9 + length:
            break
        f.parse_body(memoryview(buf[9:9 + length]))
        frames.append(f)
        buf = buf[9 + length:]
    return frames, closed


def curl(*args, timeout=10):
    return subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "--max-time", "5"] + list(args),
                          capture_output=True, timeout=timeout)


@pytest.fixture
def d(portico):
    return portico(ROUTES)


# ---- requests -----------------------------------------------------------------

@needs_curl
def test_curl_get_over_h2c(d):
    r = curl("-i", d.url + "/hello")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert out.startswith("HTTP/2 200")
    assert "content-length: 13" in out
    assert out.endswith("Hello, World!")


@needs_curl
def test_curl_head_has_length_and_no_body(d):
    r = curl("-I", d.url + "/hello")
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr
    assert out.startswith("HTTP/2 200")
    assert "content-length: 13" in out
    assert "Hello" not in out


@needs_curl
def test_curl_post_bodies_within_and_over_the_limit(d, tmp_path):
    small = tmp_path / "small"
    small.write_bytes(b"x" * 500)
    big = tmp_path / "big"
    big.write_bytes(b"y" * 300000)
    r = curl("-w", "\n%{http_code}", "--data-binary", "@" + str(small), d.url + "/hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "posted\n200"
    # the rest of an upload answered early is read and dropped: curl sees a clean 413
    r = curl("-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "@" + str(big),
             d.url + "/hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == "413"


def test_get_head_post_frames(d):
    c = Client(d.port)
    g = c.request("GET", "/hello")
    h = c.request("HEAD", "/hello")
    p = c.request("POST", "/hello", body=b"a" * 400, headers=[("content-type", "text/plain")])
    sg, sh, sp = c.wait(g, h, p)
    assert sg["headers"][":status"] == "200"
    assert sg["headers"]["content-length"] == "13"
    assert sg["headers"]["server"] == "portico"
    assert sg["data"] == b"Hello, World!"
    assert sh["headers"][":status"] == "200"
    assert sh["headers"]["content-length"] == "13"
    assert sh["data"] == b""
    assert sp["headers"][":status"] == "200" and sp["data"] == b"posted"
    assert all(s["reset"] is None for s in (sg, sh, sp))
    c.close()


def test_body_in_several_data_frames_and_trailers(d):
    c = Client(d.port)
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "POST"), (":path", "/hello"), (":scheme", "http"),
                              (":authority", "localhost")])
    c.streams[sid] = {"headers": None, "data": b"", "ended": False, "reset": None}
    for _ in range(4):
        c.conn.send_data(sid, b"z" * 100)
    c.conn.send_headers(sid, [("x-checksum", "abc")], end_stream=True)
    c.flush()
    st = c.wait(sid)
    assert st["headers"][":status"] == "200" and st["data"] == b"posted"
    c.close()


def test_404_and_405_with_allow(d):
    c = Client(d.port)
    a = c.request("GET", "/nope")
    b = c.request("PUT", "/hello", body=b"x")
    sa, sb = c.wait(a, b)
    assert sa["headers"][":status"] == "404"
    assert b"not found" in sa["data"]
    assert sb["headers"][":status"] == "405"
    allow = sb["headers"]["allow"]
    assert "GET" in allow and "POST" in allow
    c.close()


def test_body_over_the_limit_gets_413(d):
    c = Client(d.port)
    # no content-length: the limit is found while the DATA arrives
    sid = c.request("POST", "/hello", body=b"q" * 3000)
    st = c.wait(sid)
    assert st["headers"][":status"] == "413"
    # the connection is still good
    st = c.wait(c.request("GET", "/hello"))
    assert st["data"] == b"Hello, World!"
    c.close()


def test_declared_length_over_the_limit_answers_before_the_body(d):
    c = Client(d.port)
    sid = c.request("POST", "/hello", headers=[("content-length", "5000000")], end=False)
    assert c.pump(lambda: c.streams[sid]["headers"] is not None)
    assert c.streams[sid]["headers"][":status"] == "413"
    # the client will not be made to upload megabytes for nothing
    assert c.pump(lambda: c.streams[sid]["reset"] is not None)
    assert c.streams[sid]["reset"] == 0   # NO_ERROR
    c.close()


def test_many_concurrent_streams(portico):
    d = portico(ROUTES.replace("max_concurrent_streams = 8", "max_concurrent_streams = 256"))
    c = Client(d.port)
    assert c.pump(lambda: c.conn.remote_settings.max_concurrent_streams == 256)
    sids = [c.request("GET", "/hello") for _ in range(200)]
    for st in c.wait(*sids, timeout=10):
        assert st["headers"][":status"] == "200" and st["data"] == b"Hello, World!"
    c.close()


def test_cookie_crumbs_and_host_do_not_break_requests(d):
    c = Client(d.port)
    sid = c.request("GET", "/hello?x=1", headers=[("cookie", "a=1"), ("cookie", "b=2")])
    st = c.wait(sid)
    assert st["headers"][":status"] == "200"
    c.close()


# ---- limits -------------------------------------------------------------------

def test_max_concurrent_streams_refuses_the_excess(d):
    # the requests go out before the server's SETTINGS arrive, as real clients do
    c = Client(d.port)
    sids = [c.request("POST", "/hello", end=False) for _ in range(12)]
    assert c.pump(lambda: sum(c.streams[s]["reset"] is not None for s in sids) >= 4)
    assert c.conn.remote_settings.max_concurrent_streams == 8
    refused = [s for s in sids if c.streams[s]["reset"] is not None]
    assert len(refused) == 4
    assert all(c.streams[s]["reset"] == h2.errors.ErrorCodes.REFUSED_STREAM for s in refused)
    assert refused == sids[8:]
    # the admitted ones still complete
    for s in sids[:8]:
        c.conn.end_stream(s)
    c.flush()
    for st in c.wait(*sids[:8]):
        assert st["headers"][":status"] == "200"
    assert c.goaway is None
    c.close()


def test_oversized_header_list_gets_431(d):
    c = Client(d.port)
    big = [("x-big-%d" % i, "v" * 200) for i in range(40)]   # ~9.5 KB > 4096
    sid = c.request("GET", "/hello", headers=big)
    st = c.wait(sid)
    assert st["headers"][":status"] == "431"
    st = c.wait(c.request("GET", "/hello"))
    assert st["headers"][":status"] == "200"
    c.close()


def test_connect_is_refused(d):
    c = Client(d.port)
    c.conn.config.validate_outbound_headers = False
    sid = c.conn.get_next_available_stream_id()
    c.conn.send_headers(sid, [(":method", "CONNECT"), (":authority", "example.com:443")])
    c.streams[sid] = {"headers": None, "data": b"", "ended": False, "reset": None}
    c.flush()
    st = c.wait(sid)
    assert st["reset"] == h2.errors.ErrorCodes.PROTOCOL_ERROR
    c.close()


def test_uppercase_header_name_resets_the_stream(d):
    c = Client(d.port)
    c.conn.config.validate_outbound_headers = False
    c.conn.config.normalize_outbound_headers = False
    sid = c.request("GET", "/hello", headers=[("X-Upper", "1")])
    st = c.wait(sid)
    assert st["reset"] == h2.errors.ErrorCodes.PROTOCOL_ERROR
    st = c.wait(c.request("GET", "/hello"))
    assert st["headers"][":status"] == "200"
    c.close()


# ---- connection life ----------------------------------------------------------

def test_garbage_after_preface_gets_goaway(d):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" +
                  b"this is not an HTTP/2 frame at all, not even close\r\n" * 4)
        frames, closed = read_raw_frames(s)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert goaways, frames
    assert goaways[-1].error_code != 0
    assert closed


def test_bad_preface_closes_the_connection(d):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n" + b"\x00" * 64)
        deadline = time.monotonic() + 5
        closed = False
        data = b""
        while time.monotonic() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not b:
                closed = True
                break
            data += b
    assert closed
    assert not data.startswith(b"\x00\x00")   # no HTTP/2 SETTINGS: it was never h2


def test_idle_connection_gets_goaway(portico):
    d = portico(ROUTES.replace("idle_timeout = 30", "idle_timeout = 0.5"))
    c = Client(d.port)
    st = c.wait(c.request("GET", "/hello"))
    assert st["headers"][":status"] == "200"
    t0 = time.monotonic()
    assert c.wait_closed(timeout=5)
    assert 0.3 < time.monotonic() - t0 < 4
    assert c.goaway is not None and c.goaway.error_code == 0


def test_graceful_stop_sends_goaway_and_finishes_open_streams(d):
    idle = Client(d.port)
    st = idle.wait(idle.request("GET", "/hello"))
    assert st["headers"][":status"] == "200"
    busy = Client(d.port)
    sid = busy.request("POST", "/hello", end=False)      # open, body still to come
    assert busy.pump(lambda: busy.conn.remote_settings.max_concurrent_streams == 8)
    time.sleep(0.1)
    d.signal(signal.SIGTERM)
    # an idle connection: GOAWAY(NO_ERROR) naming the last stream, then close
    assert idle.wait_closed(timeout=5)
    assert idle.goaway is not None
    assert idle.goaway.error_code == 0 and idle.goaway.last_stream_id == 1
    # a busy one: a notice first; the open stream may finish
    assert busy.pump(lambda: busy.goaway is not None)
    assert busy.goaway.error_code == 0
    # h2 closes its state machine on any GOAWAY: go on with raw frames
    busy.sock.sendall(DataFrame(sid, b"late body", flags=["END_STREAM"]).serialize())
    frames, closed = read_raw_frames(busy.sock, timeout=8)
    heads = [dict(busy.conn.decoder.decode(f.data)) for f in frames
             if isinstance(f, HeadersFrame) and f.stream_id == sid]
    body = b"".join(f.data for f in frames if isinstance(f, DataFrame) and f.stream_id == sid)
    goaways = [f for f in frames if isinstance(f, GoAwayFrame)]
    assert heads and heads[0][":status"] == "200"
    assert body == b"posted"
    assert goaways and goaways[-1].last_stream_id == sid and goaways[-1].error_code == 0
    assert closed
    assert d.proc.wait(10) == 0
