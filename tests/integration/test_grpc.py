"""The grpc plugin's server: grpc.service in Lua, driven by real clients.

- an echo service (t.v1.Echo) through python3-grpcio with raw bytes
  (identity serializers): the four call kinds, metadata, errors, deadlines,
  cancellation, compression, size limits, over h2c and h2 over TLS;
- malformed input the grpcio client will not send, as raw HTTP/2 frames
  (python3-h2): bad flags, a length prefix past the limit, a truncated
  message, a wrong content-type, an unknown grpc-encoding;
- the built-in services (health, reflection) with messages generated from
  Debian grpc-proto by protoc --python_out;
- grpc's interop cases against grpc.testing.TestService written in Lua
  (conf/grpc/test_service.lua).

Needs python3-grpcio, python3-h2, protobuf-compiler and grpc-proto.
"""
import importlib
import os
import shutil
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

from conftest import BUILDDIR, SRCDIR

grpc = pytest.importorskip("grpc", reason="python3-grpcio is not installed (Debian python3-grpcio)")
h2conn = pytest.importorskip("h2.connection", reason="python3-h2 is not installed")
import h2.config  # noqa: E402
import h2.events  # noqa: E402

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
GRPC_PROTO = "/usr/share/grpc-proto"

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                       reason="the grpc plugin is not built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is not installed (Debian protobuf-compiler)"),
]

need_grpc_proto = pytest.mark.skipif(not os.path.isdir(GRPC_PROTO),
                                     reason="Debian grpc-proto is not installed")

ECHO_PROTO = """syntax = "proto3";
package t.v1;
message M { string s = 1; bytes b = 2; }
service Echo {
  rpc Unary(M) returns (M);
  rpc Server(M) returns (stream M);
  rpc Client(stream M) returns (M);
  rpc Bidi(stream M) returns (stream M);
  rpc Missing(M) returns (M);
}
service Other { rpc Call(M) returns (M); }
"""

# Handlers that echo the message they get (decoded to a table and encoded
# back); the behaviour is chosen by metadata.
ECHO_LUA = r"""
local keep = {}
grpc.health("t.v1.Sick", "NOT_SERVING")
route.post("/health/:svc/:st", function(req)
  grpc.health(req.params.svc, req.params.st)
  return 200, "ok"
end)
grpc.service("t.v1.Echo", {
  Unary = function(req, ctx)
    local mode = ctx.metadata["x-mode"]
    if mode == "boom" then error("secret kaboom") end
    if mode == "nf" then
      error(grpc.error("NOT_FOUND", "no such order",
            { { type_url = "type.googleapis.com/t.v1.M", value = "\10\2hi" } }))
    end
    if mode == "nfmsg" then
      error(grpc.error("NOT_FOUND", "no such order",
            { { ["@type"] = "type.googleapis.com/t.v1.M", s = "hi" } }))
    end
    if mode == "code" then error(grpc.error(tonumber(ctx.metadata["x-code"]), ctx.metadata["x-msg"])) end
    if mode == "sleep" then
      sleep(tonumber(ctx.metadata["x-sleep"]))
      log.info("handler woke after its sleep")
    end
    if mode == "spin" then while true do end end
    if mode == "keep" then keep.ctx = ctx end
    if mode == "usekept" then
      local ok, why = pcall(function() return keep.ctx.method end)
      ctx:set_header("x-kept", tostring(ok) .. " " .. tostring(why):gsub("^.-: ", ""))
    end
    if mode == "sendunary" then ctx:send(req) end
    if mode == "recvunary" then ctx:recv() end
    if mode == "badmd" then ctx:set_header("Bad Key", "v") end
    if mode == "nil" then return nil end
    if mode == "ret" then return nil, grpc.error(grpc.code.ABORTED, "try again") end
    if mode == "req" then ctx:set_header("x-req-method", ctx.request.method) end
    if mode == "bad" then return 42 end
    if mode == "nocompress" then ctx:set_compression(false) end
    if mode == "info" then
      ctx:set_header("x-method", ctx.method)
      ctx:set_header("x-peer", ctx.peer)
      ctx:set_header("x-deadline", ctx.deadline and "yes" or "no")
      ctx:set_header("x-compressed", tostring(ctx.compressed))
    end
    local v = ctx.metadata["x-echo"]
    if v then ctx:set_header("x-echo", v) end
    local b = ctx.metadata["x-echo-bin"]
    if b then ctx:set_trailer("x-echo-bin", b) end
    return req
  end,
  Server = function(req, ctx)
    local n = tonumber(ctx.metadata["x-n"] or "3")
    for i = 1, n do
      if ctx.metadata["x-sleep"] then sleep(tonumber(ctx.metadata["x-sleep"])) end
      local ok, why = ctx:send(req)
      if not ok then return end
    end
  end,
  Client = function(ctx)
    if ctx.metadata["x-sleep"] then sleep(tonumber(ctx.metadata["x-sleep"])) end
    local last, n = nil, 0
    for m in ctx:recv() do last = m; n = n + 1 end
    ctx:set_trailer("x-count", tostring(n))
    return last
  end,
  Bidi = function(ctx)
    for m in ctx:recv() do ctx:send(m) end
  end,
})
"""

CONF = """
plugin "grpc" {{ protos = {{ "echo.proto" }}, import_paths = {{ "{proto}" }}, {extra} }}
routes "{routes}"
"""


def write_routes(tmp_path, lua=ECHO_LUA, name="echo.lua"):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / name).write_text(lua)
    pdir = tmp_path / "proto"
    pdir.mkdir(exist_ok=True)
    (pdir / "echo.proto").write_text(ECHO_PROTO)
    return rdir, pdir


def echo_daemon(portico, tmp_path, extra="max_receive_message = 65536", workers=1, start=True,
                lua=ECHO_LUA, **kw):
    rdir, pdir = write_routes(tmp_path, lua)
    body = CONF.format(proto=pdir, routes=rdir, extra=extra)
    return portico(body, plugins_dir=PLUGINS, workers=workers, start=start, **kw)


def msg(s=b"", b=b""):
    """t.v1.M on the wire."""
    out = b""
    if s:
        out += b"\x0a" + varint(len(s)) + s
    if b:
        out += b"\x12" + varint(len(b)) + b
    return out


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


@pytest.fixture
def echo(portico, tmp_path):
    d = echo_daemon(portico, tmp_path)
    ch = grpc.insecure_channel("127.0.0.1:%d" % d.port)
    yield d, ch
    ch.close()


# ---- the four kinds over grpcio ------------------------------------------------------------

def test_unary_echoes_with_metadata_both_ways(echo):
    d, ch = echo
    m = msg(b"hello")
    r, call = ch.unary_unary("/t.v1.Echo/Unary").with_call(
        m, metadata=[("x-echo", "abc"), ("x-echo-bin", b"\x00\x01\xff")], timeout=5)
    assert r == m
    assert ("x-echo", "abc") in [(k, v) for k, v in call.initial_metadata()]
    assert ("x-echo-bin", b"\x00\x01\xff") in [(k, v) for k, v in call.trailing_metadata()]
    assert call.code() == grpc.StatusCode.OK


def test_ctx_fields(echo):
    d, ch = echo
    _, call = ch.unary_unary("/t.v1.Echo/Unary").with_call(
        msg(b"x"), metadata=[("x-mode", "info")], timeout=5)
    md = dict(call.initial_metadata())
    assert md["x-method"] == "/t.v1.Echo/Unary"
    assert md["x-peer"].startswith("127.0.0.1:")
    assert md["x-deadline"] == "yes"
    assert md["x-compressed"] == "false"


def test_empty_message(echo):
    d, ch = echo
    assert ch.unary_unary("/t.v1.Echo/Unary")(b"", timeout=5) == b""


def test_server_streaming(echo):
    d, ch = echo
    out = list(ch.unary_stream("/t.v1.Echo/Server")(msg(b"s"), metadata=[("x-n", "4")],
                                                     timeout=5))
    assert out == [msg(b"s")] * 4


def test_server_streaming_zero_messages(echo):
    d, ch = echo
    assert list(ch.unary_stream("/t.v1.Echo/Server")(msg(b"s"), metadata=[("x-n", "0")],
                                                      timeout=5)) == []


def test_client_streaming(echo):
    d, ch = echo
    msgs = [msg(b"a" * 100), msg(b"b"), msg(b"c" * 60000), msg(b"last")]
    r, call = ch.stream_unary("/t.v1.Echo/Client").with_call(iter(msgs), timeout=5)
    assert r == msg(b"last")
    assert dict(call.trailing_metadata())["x-count"] == "4"


def test_client_streaming_into_a_handler_that_reads_late(echo):
    """3 MB queue up while the handler sleeps: the body is paused past 1 MiB
    (ABI 1.7) or queued (1.6), and every message arrives in order."""
    d, ch = echo
    msgs = [msg(b"%d" % i, b"q" * 60000) for i in range(50)]
    r, call = ch.stream_unary("/t.v1.Echo/Client").with_call(
        iter(msgs), metadata=[("x-sleep", "0.5")], timeout=20)
    assert r == msgs[-1]
    assert dict(call.trailing_metadata())["x-count"] == "50"


def test_bidi_ping_pong(echo):
    d, ch = echo
    q = []
    ev = threading.Event()

    def gen():
        for i in range(5):
            yield msg(b"p%d" % i)
            ev.wait(5)
            ev.clear()

    got = []
    for r in ch.stream_stream("/t.v1.Echo/Bidi")(gen(), timeout=10):
        got.append(r)
        ev.set()
    assert got == [msg(b"p%d" % i) for i in range(5)]
    del q


def test_bidi_empty_stream(echo):
    d, ch = echo
    assert list(ch.stream_stream("/t.v1.Echo/Bidi")(iter([]), timeout=5)) == []


def test_many_calls_on_one_connection(echo):
    d, ch = echo
    u = ch.unary_unary("/t.v1.Echo/Unary")
    futs = [u.future(msg(b"%d" % i), timeout=10) for i in range(200)]
    assert [f.result() for f in futs] == [msg(b"%d" % i) for i in range(200)]


# ---- errors ----------------------------------------------------------------------------------

def test_grpc_error_with_details(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", "nf")], timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    assert e.value.details() == "no such order"
    det = dict(e.value.trailing_metadata())["grpc-status-details-bin"]
    # google.rpc.Status { code = 5, message, details = [Any { type_url, value }] }
    assert det.startswith(b"\x08\x05\x12\x0dno such order\x1a")
    assert b"type.googleapis.com/t.v1.M" in det and det.endswith(b"\x12\x04\x0a\x02hi")


def test_grpc_error_details_as_messages(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", "nfmsg")], timeout=5)
    assert e.value.code() == grpc.StatusCode.NOT_FOUND
    det = dict(e.value.trailing_metadata())["grpc-status-details-bin"]
    assert b"type.googleapis.com/t.v1.M" in det and det.endswith(b"\x12\x04\x0a\x02hi")


def test_lua_error_is_internal_and_not_sent(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", "boom")], timeout=5)
    assert e.value.code() == grpc.StatusCode.INTERNAL
    assert "kaboom" not in e.value.details()
    line = [i for i, t in enumerate(ECHO_LUA.split("\n"), 1) if "secret kaboom" in t][0]
    assert d.wait_log("echo.lua:%d: secret kaboom" % line), d.log()


@pytest.mark.parametrize("code", [1, 3, 9, 14, 16])
def test_status_codes_and_message(echo, code):
    """Codes as numbers; the message travels percent-encoded ('%' too)."""
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(
            msg(b"x"), metadata=[("x-mode", "code"), ("x-code", str(code)),
                                 ("x-msg", "plain message %41 100%")], timeout=5)
    assert e.value.code().value[0] == code
    assert e.value.details() == "plain message %41 100%"


def test_returned_error_and_the_req_object(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", "ret")], timeout=5)
    assert e.value.code() == grpc.StatusCode.ABORTED and e.value.details() == "try again"
    _, call = ch.unary_unary("/t.v1.Echo/Unary").with_call(msg(b"x"), metadata=[("x-mode", "req")],
                                                          timeout=5)
    assert dict(call.initial_metadata())["x-req-method"] == "POST"


def test_misuse_in_handlers_is_internal_and_logged(echo):
    d, ch = echo
    u = ch.unary_unary("/t.v1.Echo/Unary")
    for mode, why in (("spin", "instruction"), ("sendunary", "ctx:send is for streaming"),
                      ("recvunary", "ctx:recv is for streaming"), ("badmd", "metadata key")):
        with pytest.raises(grpc.RpcError) as e:
            u(msg(b"x"), metadata=[("x-mode", mode)], timeout=10)
        assert e.value.code() == grpc.StatusCode.INTERNAL, mode
        assert d.wait_log(why), (mode, d.log())
    # a ctx kept past its call refuses use
    u(msg(b"x"), metadata=[("x-mode", "keep")], timeout=5)
    _, call = u.with_call(msg(b"x"), metadata=[("x-mode", "usekept")], timeout=5)
    assert dict(call.initial_metadata())["x-kept"] == "false ctx.method: the call has ended " \
        "(a ctx is only valid during its call)"
    assert u(msg(b"ok"), timeout=5) == msg(b"ok")


def test_handler_returning_nothing_or_garbage_is_internal(echo):
    d, ch = echo
    for mode in ("nil", "bad"):
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", mode)], timeout=5)
        assert e.value.code() == grpc.StatusCode.INTERNAL
    assert "returned no message" in d.log()


def test_unimplemented_method_and_service(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Missing")(msg(b"x"), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "Missing" in e.value.details()
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Nope/Call")(msg(b"x"), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_deadline_exceeded_while_the_handler_sleeps(echo):
    d, ch = echo
    t0 = time.monotonic()
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x"), metadata=[("x-mode", "sleep"),
                                                                ("x-sleep", "3")], timeout=0.3)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.monotonic() - t0 < 2
    # the server is fine afterwards
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")


def test_server_enforces_grpc_timeout(echo):
    """The server answers DEADLINE_EXCEEDED itself (raw HTTP/2: no client timer)."""
    d, ch = echo
    t0 = time.monotonic()
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"x")),
                 extra=[("grpc-timeout", "200m"), ("x-mode", "sleep"), ("x-sleep", "3")])
    assert st.status == "4", st
    assert time.monotonic() - t0 < 2.5


def abi_minor():
    with open(os.path.join(SRCDIR, "sdk", "include", "portico", "plugin.h")) as f:
        for line in f:
            if line.startswith("#define PT_ABI_MINOR"):
                return int(line.split()[2])
    return 0


@pytest.mark.skipif(abi_minor() < 7, reason="lua_task_abandon is ABI 1.7")
def test_deadline_abandons_the_waiting_handler(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"x")),
                 extra=[("grpc-timeout", "100m"), ("x-mode", "sleep"), ("x-sleep", "0.5")])
    assert st.status == "4", st
    time.sleep(1.0)
    assert "handler woke after its sleep" not in d.log()
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")


def test_client_cancel_ends_the_stream(echo):
    d, ch = echo
    call = ch.unary_stream("/t.v1.Echo/Server")(msg(b"s"), metadata=[("x-n", "1000"),
                                                                      ("x-sleep", "0.05")],
                                                 timeout=10)
    it = iter(call)
    assert next(it) == msg(b"s")
    call.cancel()
    with pytest.raises(grpc.RpcError) as e:
        list(it)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert d.wait_log("the client cancelled the call"), d.log()
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")


def test_bidi_cancel_after_begin_ends_a_waiting_recv(echo):
    d, ch = echo
    ev = threading.Event()

    def gen():
        ev.wait(5)
        return
        yield

    call = ch.stream_stream("/t.v1.Echo/Bidi")(gen(), timeout=10)
    time.sleep(0.2)
    call.cancel()
    ev.set()
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")


# ---- limits and compression -------------------------------------------------------------------

def test_message_over_max_receive_is_resource_exhausted(echo):
    d, ch = echo
    with pytest.raises(grpc.RpcError) as e:
        ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x", b"y" * 70000), timeout=5)
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")


def test_reply_over_max_send_is_resource_exhausted(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, extra="max_send_message = 1000")
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/t.v1.Echo/Unary")(msg(b"x", b"y" * 2000), timeout=5)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        with pytest.raises(grpc.RpcError) as e:
            list(ch.unary_stream("/t.v1.Echo/Server")(msg(b"x", b"y" * 2000), timeout=5))
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("comp", [grpc.Compression.Gzip, grpc.Compression.Deflate])
def test_client_compressed_messages(echo, comp):
    d, ch = echo
    m = msg(b"z", b"\0" * 50000)
    _, call = ch.unary_unary("/t.v1.Echo/Unary").with_call(
        m, compression=comp, metadata=[("x-mode", "info")], timeout=5)
    assert dict(call.initial_metadata())["x-compressed"] == "true"
    out = list(ch.stream_stream("/t.v1.Echo/Bidi")(iter([m, msg(b"q")]), compression=comp,
                                                   timeout=5))
    assert out == [m, msg(b"q")]


def test_compressed_bomb_is_resource_exhausted(echo):
    """A small gzip message that inflates past max_receive_message."""
    import gzip
    d, ch = echo
    bomb = gzip.compress(msg(b"x", b"\0" * 1000000))
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(bomb, flag=1), extra=[("grpc-encoding", "gzip")])
    assert st.status == "8", st


def test_server_compresses_large_replies_when_accepted(echo):
    d, ch = echo
    big = msg(b"z", b"\0" * 50000)
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(big),
                 extra=[("grpc-accept-encoding", "gzip")])
    assert st.status == "0", st
    assert st.headers.get("grpc-encoding") == "gzip"
    assert st.data[0] == 1 and len(st.data) < 2000
    import gzip
    assert gzip.decompress(st.data[5:]) == big
    # small replies and ctx:set_compression(false) go plain
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"small")),
                 extra=[("grpc-accept-encoding", "gzip")])
    assert st.data == frame(msg(b"small"))
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(big),
                 extra=[("grpc-accept-encoding", "gzip"), ("x-mode", "nocompress")])
    assert st.data == frame(big)
    # a client that accepts nothing gets it plain
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(big))
    assert st.data == frame(big)
    assert "gzip" in st.headers.get("grpc-accept-encoding", "")


# ---- malformed input, raw HTTP/2 -------------------------------------------------------------

class Result:
    def __init__(self):
        self.headers, self.trailers, self.data, self.reset = {}, {}, b"", None

    @property
    def status(self):
        return self.trailers.get("grpc-status", self.headers.get("grpc-status"))

    @property
    def message(self):
        return self.trailers.get("grpc-message", self.headers.get("grpc-message"))

    def __repr__(self):
        return "Result(%r, %r, %r, reset=%r)" % (self.headers, self.trailers, self.data[:64],
                                                 self.reset)


def frame(payload, flag=0):
    return struct.pack(">BI", flag, len(payload)) + payload


def h2_call(port, path, body, content_type="application/grpc", extra=(), end=True,
            timeout=5.0, chunks=None, sock=None, must=True):
    """One call over a new h2c connection; returns a Result."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c = h2conn.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    hdrs = [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1"), ("content-type", content_type), ("te", "trailers")]
    c.send_headers(sid, hdrs + list(extra))
    if chunks is None:
        chunks = [body[i:i + 16384] for i in range(0, len(body), 16384)] or [b""]
    chunks = list(chunks)
    res, got_headers = Result(), False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            # the body as the server's flow-control window lets it go
            while chunks and c.local_flow_control_window(sid) >= len(chunks[0]):
                c.send_data(sid, chunks.pop(0))
                if not chunks and end:
                    c.end_stream(sid)
            s.sendall(c.data_to_send())
            b = s.recv(65536)
            if not b:
                break
            for ev in c.receive_data(b):
                if isinstance(ev, h2.events.ResponseReceived):
                    res.headers = dict(ev.headers)
                    got_headers = True
                elif isinstance(ev, h2.events.TrailersReceived):
                    res.trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    res.data += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamReset):
                    res.reset = ev.error_code
                    return res
                elif isinstance(ev, h2.events.StreamEnded):
                    return res
            s.sendall(c.data_to_send())
    except socket.timeout:
        pass
    finally:
        s.close()
    assert not must or got_headers or res.reset is not None, "no answer in %ss" % timeout
    return res


def test_wrong_content_type_is_415(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", b"{}", content_type="application/json")
    assert st.headers[":status"] == "415"
    assert b"application/grpc" in st.data
    # a content-type that only starts like it: 415 (a 1.7 core tells it as a
    # gRPC status, UNKNOWN, since the type starts with application/grpc)
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(b""), content_type="application/grpcx")
    assert st.headers[":status"] == "415" or st.status == "2", st
    # +proto and parameters are fine
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(b""), content_type="application/grpc+proto")
    assert st.status == "0"


def test_bad_flags_byte_is_internal(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"x"), flag=7))
    assert st.status == "13", st
    assert st.headers[":status"] == "200" and st.headers["content-type"] == "application/grpc"


def test_length_prefix_past_the_limit(echo):
    """Answered as soon as the prefix is in: the 2 GB never has to come."""
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", struct.pack(">BI", 0, 0x7FFFFFFF) + b"abc", end=False)
    assert st.status == "8", st
    assert "max_receive_message" in st.message


def test_truncated_message_and_prefix(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"hello"))[:-2])
    assert st.status == "13" and "truncated" in st.message, st
    st = h2_call(d.port, "/t.v1.Echo/Unary", b"\x00\x00\x00")
    assert st.status == "13" and "prefix" in st.message, st


def test_message_split_over_many_data_frames(echo):
    d, ch = echo
    body = frame(msg(b"abc", b"q" * 3000)) + b""
    parts = [body[i:i + 7] for i in range(0, len(body), 7)]
    st = h2_call(d.port, "/t.v1.Echo/Unary", None, chunks=parts)
    assert st.status == "0" and st.data == body


def test_two_messages_to_a_unary_method(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"a")) + frame(msg(b"b")))
    assert st.status == "12", st
    st = h2_call(d.port, "/t.v1.Echo/Unary", b"")
    assert st.status == "12", st


def test_compressed_flag_without_encoding(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"a"), flag=1))
    assert st.status == "13", st


def test_corrupt_compressed_message(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(b"not gzip at all", flag=1),
                 extra=[("grpc-encoding", "gzip")])
    assert st.status == "13", st


def test_unknown_encoding_is_unimplemented(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"a"), flag=1),
                 extra=[("grpc-encoding", "snappy")])
    assert st.status == "12", st
    assert "gzip" in st.headers.get("grpc-accept-encoding", "")


def test_malformed_grpc_timeout(echo):
    d, ch = echo
    for bad in ("1", "abcS", "123456789S", "10x", ""):
        st = h2_call(d.port, "/t.v1.Echo/Unary", frame(msg(b"a")), extra=[("grpc-timeout", bad)])
        assert st.status == "13", (bad, st)


def test_trailers_only_error(echo):
    d, ch = echo
    st = h2_call(d.port, "/t.v1.Echo/Missing", frame(msg(b"a")))
    assert st.headers["grpc-status"] == "12" and not st.trailers and not st.data


def test_garbage_storm_leaves_the_server_up(echo):
    d, ch = echo
    import random
    rnd = random.Random(13)
    for i in range(60):
        body = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(0, 40)))
        path = rnd.choice(["/t.v1.Echo/Unary", "/t.v1.Echo/Client", "/t.v1.Echo/Bidi",
                           "/t.v1.Echo/Server"])
        h2_call(d.port, path, body, end=rnd.random() < 0.8, timeout=0.5, must=False)
    assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"ok"), timeout=5) == msg(b"ok")
    assert d.proc.poll() is None


# ---- config and scripts -----------------------------------------------------------------------

def test_unknown_service_in_a_script_names_the_line(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, start=False,
                    lua='\n\ngrpc.service("t.v1.Nope", {})\n')
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "echo.lua:3" in d.log() and "no service t.v1.Nope" in d.log(), d.log()


def test_unknown_method_in_a_script_names_the_line(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, start=False,
                    lua='grpc.service("t.v1.Echo", {\n  Unary = function() end,\n'
                        '  Unray = function() end })\n')
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "echo.lua:1" in d.log() and "no method Unray" in d.log() and "Unary" in d.log(), d.log()


def test_proto_error_names_the_config_line(portico, tmp_path):
    rdir, pdir = write_routes(tmp_path, "")
    (pdir / "broken.proto").write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    body = '\n\nplugin "grpc" { protos = { "broken.proto" }, import_paths = { "%s" } }\nroutes "%s"\n' \
        % (pdir, rdir)
    d = portico(body, plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    log = d.log()
    assert "portico.conf:" in log and "broken.proto:2" in log, log


def test_bad_options_are_refused(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, start=False, extra="max_receive_message = -5")
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "max_receive_message must be" in d.log()


def test_descriptor_set_loads_without_protoc_at_run_time(portico, tmp_path):
    rdir, pdir = write_routes(tmp_path)
    pb = tmp_path / "echo.pb"
    subprocess.run(["protoc", "--include_imports", "-o", str(pb), "-I", str(pdir),
                    str(pdir / "echo.proto")], check=True)
    body = 'plugin "grpc" { descriptors = { "%s" }, protoc = "/nonexistent/protoc",\n' \
           '  reflection = false, health = false }\nroutes "%s"\n' % (pb, rdir)
    d = portico(body, plugins_dir=PLUGINS)
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"d"), timeout=5) == msg(b"d")
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/grpc.health.v1.Health/Check")(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reload_with_a_broken_proto_keeps_serving(portico, tmp_path):
    import signal
    d = echo_daemon(portico, tmp_path)
    (tmp_path / "proto" / "echo.proto").write_text("this is not proto")
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused", 10), d.log()
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"r"), timeout=5) == msg(b"r")


# ---- TLS -----------------------------------------------------------------------------------------

def make_cert(directory):
    cert, key = os.path.join(directory, "c.crt"), os.path.join(directory, "c.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not found")
def test_h2_over_tls(portico, tmp_path):
    cert, key = make_cert(str(tmp_path))
    d = echo_daemon(portico, tmp_path, start=False)
    plain = 'listen { address = "127.0.0.1", port = %d }' % d.port
    d.text = d.text.replace(plain, 'listen { address = "127.0.0.1", port = %d, tls = '
                            '{ cert = "%s", key = "%s" } }' % (d.port, cert, key))
    d.write(d.text)
    d.start()
    creds = grpc.ssl_channel_credentials(open(cert, "rb").read())
    with grpc.secure_channel("localhost:%d" % d.port, creds) as ch:
        assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"tls"), timeout=5) == msg(b"tls")
        out = list(ch.stream_stream("/t.v1.Echo/Bidi")(iter([msg(b"1"), msg(b"2")]), timeout=5))
        assert out == [msg(b"1"), msg(b"2")]


# ---- built-in services -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pb2(tmp_path_factory):
    """Message classes for health, reflection and grpc.testing (protoc --python_out)."""
    if not os.path.isdir(GRPC_PROTO):
        pytest.skip("Debian grpc-proto is not installed")
    out = str(tmp_path_factory.mktemp("pb2"))
    files = ["grpc/health/v1/health.proto", "grpc/reflection/v1/reflection.proto",
             "grpc/reflection/v1alpha/reflection.proto", "grpc/testing/test.proto",
             "grpc/testing/messages.proto", "grpc/testing/empty.proto"]
    subprocess.run(["protoc", "-I", GRPC_PROTO, "--python_out", out] + files, check=True)
    # the generated modules live in the package `grpc`, like grpcio: let it find them
    grpc.__path__.append(os.path.join(out, "grpc"))
    try:
        yield {
            "health": importlib.import_module("grpc.health.v1.health_pb2"),
            "refl": importlib.import_module("grpc.reflection.v1.reflection_pb2"),
            "refl_alpha": importlib.import_module("grpc.reflection.v1alpha.reflection_pb2"),
            "messages": importlib.import_module("grpc.testing.messages_pb2"),
            "empty": importlib.import_module("grpc.testing.empty_pb2"),
        }
    finally:
        grpc.__path__.remove(os.path.join(out, "grpc"))


@need_grpc_proto
def test_health_check_and_watch(echo, pb2):
    d, ch = echo
    H = pb2["health"]
    check = ch.unary_unary("/grpc.health.v1.Health/Check",
                           request_serializer=H.HealthCheckRequest.SerializeToString,
                           response_deserializer=H.HealthCheckResponse.FromString)
    S = H.HealthCheckResponse
    assert check(H.HealthCheckRequest(service=""), timeout=5).status == S.SERVING
    assert check(H.HealthCheckRequest(service="t.v1.Echo"), timeout=5).status == S.SERVING
    assert check(H.HealthCheckRequest(service="t.v1.Sick"), timeout=5).status == S.NOT_SERVING
    for name in ("no.Such", "t.v1.Other"):   # Other: in the contract, served by no script
        with pytest.raises(grpc.RpcError) as e:
            check(H.HealthCheckRequest(service=name), timeout=5)
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
    watch = ch.unary_stream("/grpc.health.v1.Health/Watch",
                            request_serializer=H.HealthCheckRequest.SerializeToString,
                            response_deserializer=H.HealthCheckResponse.FromString)
    call = watch(H.HealthCheckRequest(service="t.v1.Echo"), timeout=5)
    it = iter(call)
    assert next(it).status == S.SERVING
    # a script changes it: the Watch hears it
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(
        "http://127.0.0.1:%d/health/t.v1.Echo/NOT_SERVING" % d.port, method="POST"), timeout=5)
    assert next(it).status == S.NOT_SERVING
    assert check(H.HealthCheckRequest(service="t.v1.Echo"), timeout=5).status == S.NOT_SERVING
    call.cancel()
    # a service of the contracts that no script serves is unknown
    call = watch(H.HealthCheckRequest(service="no.Such"), timeout=5)
    assert next(iter(call)).status == S.SERVICE_UNKNOWN
    call.cancel()


@need_grpc_proto
@pytest.mark.parametrize("version", ["v1", "v1alpha"])
def test_reflection(echo, pb2, version):
    d, ch = echo
    R = pb2["refl" if version == "v1" else "refl_alpha"]
    info = ch.stream_stream("/grpc.reflection.%s.ServerReflection/ServerReflectionInfo" % version,
                            request_serializer=R.ServerReflectionRequest.SerializeToString,
                            response_deserializer=R.ServerReflectionResponse.FromString)
    reqs = [R.ServerReflectionRequest(list_services=""),
            R.ServerReflectionRequest(file_containing_symbol="t.v1.Echo"),
            R.ServerReflectionRequest(file_containing_symbol="t.v1.M"),
            R.ServerReflectionRequest(file_by_filename="echo.proto"),
            R.ServerReflectionRequest(file_by_filename="nope.proto"),
            R.ServerReflectionRequest(file_containing_extension=R.ExtensionRequest(
                containing_type="t.v1.M", extension_number=5)),
            R.ServerReflectionRequest(all_extension_numbers_of_type="t.v1.M"),
            R.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health.Check")]
    out = list(info(iter(reqs), timeout=5))
    assert len(out) == len(reqs)
    names = {s.name for s in out[0].list_services_response.service}
    assert names == {"t.v1.Echo", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                     "grpc.reflection.v1alpha.ServerReflection"}
    from google.protobuf import descriptor_pb2
    for r in out[1:4]:
        fd = descriptor_pb2.FileDescriptorProto.FromString(
            r.file_descriptor_response.file_descriptor_proto[0])
        assert fd.name == "echo.proto" and fd.service[0].name == "Echo"
    assert out[4].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert out[5].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert out[6].all_extension_numbers_response.base_type_name == "t.v1.M"
    assert out[2].original_request == reqs[2]
    # the built-in services' own contracts, from grpc-proto
    fd = descriptor_pb2.FileDescriptorProto.FromString(
        out[7].file_descriptor_response.file_descriptor_proto[0])
    assert fd.name == "grpc/health/v1/health.proto"


def test_builtins_switched_off(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, extra="reflection = false, health = false")
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        for path in ("/grpc.health.v1.Health/Check",
                     "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"):
            with pytest.raises(grpc.RpcError) as e:
                ch.unary_unary(path)(b"", timeout=5)
            assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ---- grpc's interop cases, against grpc.testing.TestService in Lua -----------------------------

TEST_SERVICE = os.path.join(SRCDIR, "conf", "grpc", "test_service.lua")


@pytest.fixture
def interop(portico, tmp_path, pb2):
    rdir = tmp_path / "iroutes"
    rdir.mkdir()
    shutil.copy(TEST_SERVICE, rdir / "test_service.lua")
    body = ('plugin "grpc" { protos = { "grpc/testing/test.proto" }, '
            'import_paths = { "%s" } }\nroutes "%s"\n' % (GRPC_PROTO, rdir))
    d = portico(body, plugins_dir=PLUGINS)
    ch = grpc.insecure_channel("127.0.0.1:%d" % d.port)
    M, E = pb2["messages"], pb2["empty"]

    def stub(kind, name, req, resp):
        return getattr(ch, kind)("/grpc.testing.TestService/" + name,
                                 request_serializer=req.SerializeToString,
                                 response_deserializer=resp.FromString)

    s = type("Stub", (), {})()
    s.EmptyCall = stub("unary_unary", "EmptyCall", E.Empty, E.Empty)
    s.UnaryCall = stub("unary_unary", "UnaryCall", M.SimpleRequest, M.SimpleResponse)
    s.StreamingOutputCall = stub("unary_stream", "StreamingOutputCall",
                                 M.StreamingOutputCallRequest, M.StreamingOutputCallResponse)
    s.StreamingInputCall = stub("stream_unary", "StreamingInputCall",
                                M.StreamingInputCallRequest, M.StreamingInputCallResponse)
    s.FullDuplexCall = stub("stream_stream", "FullDuplexCall", M.StreamingOutputCallRequest,
                            M.StreamingOutputCallResponse)
    s.UnimplementedCall = stub("unary_unary", "UnimplementedCall", E.Empty, E.Empty)
    s.UnimplementedService = ch.unary_unary(
        "/grpc.testing.UnimplementedService/UnimplementedCall",
        request_serializer=E.Empty.SerializeToString, response_deserializer=E.Empty.FromString)
    s.M, s.E, s.d, s.ch = M, E, d, ch
    yield s
    ch.close()


def zeros(n):
    return b"\0" * n


def test_interop_empty_unary(interop):
    assert interop.EmptyCall(interop.E.Empty(), timeout=5) == interop.E.Empty()


def test_interop_large_unary(interop):
    M = interop.M
    r = interop.UnaryCall(M.SimpleRequest(response_size=314159,
                                          payload=M.Payload(body=zeros(271828))), timeout=10)
    assert r.payload.body == zeros(314159)


def test_interop_client_compressed_unary(interop):
    M = interop.M

    def req(expect):
        return M.SimpleRequest(expect_compressed=M.BoolValue(value=expect), response_size=314159,
                               payload=M.Payload(body=zeros(271828)))
    with pytest.raises(grpc.RpcError) as e:
        interop.UnaryCall(req(True), timeout=10)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    r = interop.UnaryCall(req(True), compression=grpc.Compression.Gzip, timeout=10)
    assert len(r.payload.body) == 314159
    r = interop.UnaryCall(req(False), timeout=10)
    assert len(r.payload.body) == 314159


def test_interop_server_compressed_unary(interop):
    """The compressed flag itself, read from raw frames (grpcio hides it)."""
    M = interop.M
    for want in (True, False):
        body = M.SimpleRequest(response_compressed=M.BoolValue(value=want), response_size=314159,
                               payload=M.Payload(body=zeros(271828))).SerializeToString()
        st = h2_call(interop.d.port, "/grpc.testing.TestService/UnaryCall", frame(body),
                     extra=[("grpc-accept-encoding", "identity, deflate, gzip")], timeout=10)
        assert st.status == "0", st
        assert st.data[0] == (1 if want else 0)
        r = interop.UnaryCall(M.SimpleRequest(response_compressed=M.BoolValue(value=want),
                                              response_size=314159,
                                              payload=M.Payload(body=zeros(271828))), timeout=10)
        assert len(r.payload.body) == 314159


def test_interop_client_streaming(interop):
    M = interop.M
    sizes = [27182, 8, 1828, 45904]
    r = interop.StreamingInputCall(
        iter([M.StreamingInputCallRequest(payload=M.Payload(body=zeros(n))) for n in sizes]),
        timeout=10)
    assert r.aggregated_payload_size == 74922


def test_interop_server_streaming(interop):
    M = interop.M
    sizes = [31415, 9, 2653, 58979]
    req = M.StreamingOutputCallRequest(response_parameters=[M.ResponseParameters(size=n)
                                                            for n in sizes])
    out = list(interop.StreamingOutputCall(req, timeout=10))
    assert [len(r.payload.body) for r in out] == sizes


def test_interop_ping_pong(interop):
    M = interop.M
    pairs = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
    ev = threading.Event()

    def gen():
        for out, inp in pairs:
            yield M.StreamingOutputCallRequest(response_parameters=[M.ResponseParameters(size=out)],
                                               payload=M.Payload(body=zeros(inp)))
            assert ev.wait(10)
            ev.clear()

    got = []
    for r in interop.FullDuplexCall(gen(), timeout=20):
        got.append(len(r.payload.body))
        ev.set()
    assert got == [p[0] for p in pairs]


def test_interop_empty_stream(interop):
    assert list(interop.FullDuplexCall(iter([]), timeout=5)) == []


def test_interop_custom_metadata(interop):
    M = interop.M
    md = [("x-grpc-test-echo-initial", "test_initial_metadata_value"),
          ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")]
    req = M.SimpleRequest(response_size=314159, payload=M.Payload(body=zeros(271828)))
    r, call = interop.UnaryCall.with_call(req, metadata=md, timeout=10)
    assert len(r.payload.body) == 314159
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in \
        [(k, v) for k, v in call.initial_metadata()]
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in \
        [(k, v) for k, v in call.trailing_metadata()]
    call = interop.FullDuplexCall(iter([M.StreamingOutputCallRequest(
        response_parameters=[M.ResponseParameters(size=314159)],
        payload=M.Payload(body=zeros(271828)))]), metadata=md, timeout=10)
    assert [len(r.payload.body) for r in call] == [314159]
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in \
        [(k, v) for k, v in call.initial_metadata()]
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in \
        [(k, v) for k, v in call.trailing_metadata()]


@pytest.mark.parametrize("text", ["test status message",
                                  "\t\ntest with whitespace\r\nand Unicode BMP \u263a and "
                                  "non-BMP \U0001f608\t\n"])
def test_interop_status_code_and_message(interop, text):
    M = interop.M
    with pytest.raises(grpc.RpcError) as e:
        interop.UnaryCall(M.SimpleRequest(response_status=M.EchoStatus(code=2, message=text)),
                          timeout=5)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == text
    call = interop.FullDuplexCall(iter([M.StreamingOutputCallRequest(
        response_status=M.EchoStatus(code=2, message=text))]), timeout=5)
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == text


def test_interop_unimplemented_method_and_service(interop):
    for call in (interop.UnimplementedCall, interop.UnimplementedService):
        with pytest.raises(grpc.RpcError) as e:
            call(interop.E.Empty(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_interop_timeout_on_sleeping_server(interop):
    M = interop.M

    def gen():
        yield M.StreamingOutputCallRequest(payload=M.Payload(body=zeros(27182)))
        time.sleep(1)

    with pytest.raises(grpc.RpcError) as e:
        list(interop.FullDuplexCall(gen(), timeout=0.001))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_interop_cancel_after_begin(interop):
    ev = threading.Event()

    def gen():
        ev.wait(5)
        return
        yield

    fut = interop.StreamingInputCall.future(gen(), timeout=10)
    time.sleep(0.1)
    fut.cancel()
    ev.set()
    assert fut.cancelled() or fut.code() == grpc.StatusCode.CANCELLED


def test_interop_cancel_after_first_response(interop):
    M = interop.M
    ev = threading.Event()

    def gen():
        yield M.StreamingOutputCallRequest(response_parameters=[M.ResponseParameters(size=31415)],
                                           payload=M.Payload(body=zeros(27182)))
        ev.wait(5)

    call = interop.FullDuplexCall(gen(), timeout=10)
    it = iter(call)
    assert len(next(it).payload.body) == 31415
    call.cancel()
    ev.set()
    with pytest.raises(grpc.RpcError) as e:
        list(it)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    assert interop.EmptyCall(interop.E.Empty(), timeout=5) == interop.E.Empty()


def test_bad_protobuf_is_internal(interop):
    # field 3 (payload) says 100 bytes follow, 2 do
    st = h2_call(interop.d.port, "/grpc.testing.TestService/UnaryCall", frame(b"\x1a\x64ab"))
    assert st.status == "13", st
    assert interop.d.wait_log("cannot decode the request"), interop.d.log()
    # a wire type that does not exist
    st = h2_call(interop.d.port, "/grpc.testing.TestService/UnaryCall", frame(b"\x0f\x01"))
    assert st.status == "13", st
    # in a stream
    st = h2_call(interop.d.port, "/grpc.testing.TestService/FullDuplexCall", frame(b"\x12\x64ab"))
    assert st.status == "13", st


def test_reload_with_a_new_method(portico, tmp_path):
    import signal
    d = echo_daemon(portico, tmp_path, workers=2)
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        with pytest.raises(grpc.RpcError) as e:
            ch.unary_unary("/t.v1.Echo/Added")(msg(b"x"), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    (tmp_path / "proto" / "echo.proto").write_text(
        ECHO_PROTO.replace("rpc Missing(M) returns (M);",
                           "rpc Missing(M) returns (M);\n  rpc Added(M) returns (M);"))
    (tmp_path / "routes" / "echo.lua").write_text(
        ECHO_LUA.replace("  Bidi = function(ctx)", "  Added = function(req, ctx) return req end,\n"
                         "  Bidi = function(ctx)"))
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live", 15), d.log()
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        for _ in range(4):   # both workers
            assert ch.unary_unary("/t.v1.Echo/Added")(msg(b"new"), timeout=5) == msg(b"new")
            assert ch.unary_unary("/t.v1.Echo/Unary")(msg(b"old"), timeout=5) == msg(b"old")


def test_filters_named_in_the_options_run_on_calls(portico, tmp_path):
    """{ jwt = true }: no token is UNAUTHENTICATED; a token names the consumer."""
    jwt = pytest.importorskip("jwt", reason="python3-jwt is not installed")
    secret = "grpc-test-secret-0123456789abcdef0123"
    lua = ('grpc.service("t.v1.Echo", { Unary = function(req, ctx)\n'
           '  ctx:set_header("x-consumer", ctx.request.consumer or "")\n'
           '  return req end }, { jwt = true })\n')
    rdir, pdir = write_routes(tmp_path, lua)
    body = ('plugin "rest" { jwt = { secret = "%s" } }\n' % secret +
            CONF.format(proto=pdir, routes=rdir, extra=""))
    d = portico(body, plugins_dir=PLUGINS)
    with grpc.insecure_channel("127.0.0.1:%d" % d.port) as ch:
        u = ch.unary_unary("/t.v1.Echo/Unary")
        with pytest.raises(grpc.RpcError) as e:
            u(msg(b"x"), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        tok = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, secret, "HS256")
        r, call = u.with_call(msg(b"x"), metadata=[("authorization", "Bearer " + tok)], timeout=5)
        assert r == msg(b"x")
        assert dict(call.initial_metadata())["x-consumer"] == "alice"


def split_frames(data):
    out = []
    while data:
        flag, n = struct.unpack(">BI", data[:5])
        out.append((flag, data[5:5 + n]))
        data = data[5 + n:]
    return out


def test_interop_server_compressed_streaming(interop):
    """Per-message compression: the flag of each reply, from raw frames."""
    import gzip
    M = interop.M
    body = M.StreamingOutputCallRequest(response_parameters=[
        M.ResponseParameters(size=31415, compressed=M.BoolValue(value=True)),
        M.ResponseParameters(size=92653, compressed=M.BoolValue(value=False))]).SerializeToString()
    st = h2_call(interop.d.port, "/grpc.testing.TestService/StreamingOutputCall", frame(body),
                 extra=[("grpc-accept-encoding", "identity, deflate, gzip")], timeout=10)
    assert st.status == "0", st
    frames = split_frames(st.data)
    assert [f for f, _ in frames] == [1, 0]
    sizes = [len(M.StreamingOutputCallResponse.FromString(
        gzip.decompress(p) if f else p).payload.body) for f, p in frames]
    assert sizes == [31415, 92653]


def test_methods_in_the_openapi_document(portico, tmp_path):
    rdir, pdir = write_routes(tmp_path)
    body = 'openapi = { path = "/openapi.json" }\n' + CONF.format(proto=pdir, routes=rdir, extra="")
    d = portico(body, plugins_dir=PLUGINS)
    import json
    import urllib.request
    doc = json.load(urllib.request.urlopen(d.url + "/openapi.json", timeout=5))
    op = doc["paths"]["/t.v1.Echo/Unary"]["post"]
    assert op["tags"] == ["gRPC"] and "application/grpc" in op["summary"]


def test_a_service_served_twice_names_both_lines(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, start=False)
    (tmp_path / "routes" / "zz.lua").write_text(
        '\ngrpc.service("t.v1.Echo", { Unary = function(req) return req end })\n')
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "zz.lua:2: grpc.service: t.v1.Echo is already served by the grpc.service at " \
        in d.log() and "echo.lua:" in d.log(), d.log()


def test_default_limit_and_compress_min_zero(portico, tmp_path):
    d = echo_daemon(portico, tmp_path, extra="compress_min = 0")
    # 4 MiB is the default: one byte more is refused from the prefix alone
    st = h2_call(d.port, "/t.v1.Echo/Unary", struct.pack(">BI", 0, 4194305), end=False)
    assert st.status == "8", st
    st = h2_call(d.port, "/t.v1.Echo/Unary", struct.pack(">BI", 0, 4194304) + b"\x0a", timeout=5)
    assert st.status == "13" and "truncated" in st.message, st
    # compress_min = 0: replies go plain even when the client accepts gzip
    big = msg(b"z", b"\0" * 50000)
    st = h2_call(d.port, "/t.v1.Echo/Unary", frame(big), extra=[("grpc-accept-encoding", "gzip")])
    assert st.status == "0" and st.data == frame(big) and "grpc-encoding" not in st.headers
