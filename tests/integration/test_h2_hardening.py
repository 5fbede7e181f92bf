"""HTTP/2 hardening: per-stream deadlines, frames on closed streams, Host.

Every test speaks raw frames (hyperframe + hpack, Debian's python3-h2
stack) on a blocking socket with a timeout, so it sees exactly what the
server sends, and what h2's state machine would refuse to send is sent
anyway. Each test stops by itself within a few seconds.
"""
import socket
import time

import pytest

hyperframe = pytest.importorskip("hyperframe")
hpack = pytest.importorskip("hpack")
from hyperframe.frame import (  # noqa: E402
    DataFrame, Frame, GoAwayFrame, HeadersFrame,
    RstStreamFrame, SettingsFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

NO_ERROR, PROTOCOL_ERROR, CANCEL, STREAM_CLOSED = 0x0, 0x1, 0x8, 0x5

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
