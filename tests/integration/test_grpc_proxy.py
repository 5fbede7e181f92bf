"""proxy(upstream, { grpc = true }) passes gRPC calls of all four kinds to an
h2c upstream: a python3-grpcio server implementing grpc.testing.TestService
(Debian grpc-proto), driven by a grpcio client through Portico -- the interop
cases of grpc's interop-test-descriptions.md that make sense through a proxy,
plus what the proxy itself answers (deadline, upstream down, a jwt filter)
and the access log's $grpc_status.

The message classes are generated at test time with protoc --python_out from
/usr/share/grpc-proto; the service is wired with grpcio's generic handlers
(no grpc protoc plugin needed). Needs Debian python3-grpcio, python3-protobuf,
grpc-proto and protobuf-compiler; skipped with a message otherwise.
"""
import importlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent import futures

import pytest

from conftest import BUILDDIR, free_port

PROTO_DIR = "/usr/share/grpc-proto"
PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
SERVICE = "grpc.testing.TestService"

try:
    import grpc
except ImportError:  # pragma: no cover
    grpc = None

pytestmark = [
    pytest.mark.skipif(grpc is None, reason="python3-grpcio is not installed "
                       "(apt-get install python3-grpcio python3-protobuf)"),
    pytest.mark.skipif(not os.path.exists(os.path.join(PROTO_DIR, "grpc/testing/test.proto")),
                       reason="grpc-proto is not installed (apt-get install grpc-proto)"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is not installed (apt-get install protobuf-compiler)"),
]


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    """The generated messages and empty modules."""
    out = tmp_path_factory.mktemp("pb")
    subprocess.run(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                    "grpc/testing/messages.proto", "grpc/testing/empty.proto"], check=True)
    sys.path.insert(0, str(out))
    try:
        for k in [m for m in sys.modules if m == "grpc.testing" or m.startswith("grpc.testing.")]:
            del sys.modules[k]
        # grpc is a package already (grpcio): load the generated files by path
        spec = importlib.util.spec_from_file_location(
            "grpc_testing_empty_pb2", out / "grpc/testing/empty_pb2.py")
        empty = importlib.util.module_from_spec(spec)
        sys.modules["grpc.testing.empty_pb2"] = empty
        spec.loader.exec_module(empty)
        spec = importlib.util.spec_from_file_location(
            "grpc_testing_messages_pb2", out / "grpc/testing/messages_pb2.py")
        messages = importlib.util.module_from_spec(spec)
        sys.modules["grpc.testing.messages_pb2"] = messages
        spec.loader.exec_module(messages)
    finally:
        sys.path.remove(str(out))
    return messages, empty


# ---- the upstream: grpc.testing.TestService on grpcio ------------------------------

class GrpcTestService:
    """The interop server's behaviour, plus what the proxy tests watch."""

    def __init__(self, m, e):
        self.m, self.e = m, e
        self.calls = []                  # method names, as they came
        self.cancelled = threading.Event()
        self.time_remaining = None       # what grpc-timeout said, at the server
        self.metadata = {}

    def watch(self, ctx):
        """Sets self.cancelled when the call stops being active before its
        handler reached its end (sets done["ok"]): grpcio marks a call
        inactive when the client's RST_STREAM came. Polled: a handler
        suspended at a yield never hears of it otherwise."""
        done = {"ok": False}

        def poll():
            end = time.monotonic() + 30
            while ctx.is_active() and not done["ok"] and time.monotonic() < end:
                time.sleep(0.01)
            if not done["ok"] and not ctx.is_active():
                self.cancelled.set()
        threading.Thread(target=poll, daemon=True).start()
        return done

    def payload(self, size):
        return self.m.Payload(body=b"\0" * size)

    def echo_metadata(self, ctx):
        md = dict(ctx.invocation_metadata())
        self.metadata = md
        if "x-grpc-test-echo-initial" in md:
            ctx.send_initial_metadata((("x-grpc-test-echo-initial",
                                        md["x-grpc-test-echo-initial"]),))
        if "x-grpc-test-echo-trailing-bin" in md:
            ctx.set_trailing_metadata((("x-grpc-test-echo-trailing-bin",
                                        md["x-grpc-test-echo-trailing-bin"]),))
        return md

    def status(self, req, ctx):
        if req.HasField("response_status") and req.response_status.code:
            ctx.set_code(grpc.StatusCode(next(c for c in grpc.StatusCode
                                              if c.value[0] == req.response_status.code)))
            ctx.set_details(req.response_status.message)
            return True
        return False

    def EmptyCall(self, req, ctx):
        self.calls.append("EmptyCall")
        self.echo_metadata(ctx)
        return self.e.Empty()

    def UnaryCall(self, req, ctx):
        self.calls.append("UnaryCall")
        done = self.watch(ctx)
        md = self.echo_metadata(ctx)
        self.time_remaining = ctx.time_remaining()
        if "x-sleep" in md:
            end = time.monotonic() + float(md["x-sleep"])
            while time.monotonic() < end and ctx.is_active():
                time.sleep(0.02)
        done["ok"] = ctx.is_active()
        if self.status(req, ctx):
            return self.m.SimpleResponse()
        return self.m.SimpleResponse(payload=self.payload(req.response_size))

    def StreamingOutputCall(self, req, ctx):
        self.calls.append("StreamingOutputCall")
        for p in req.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            yield self.m.StreamingOutputCallResponse(payload=self.payload(p.size))

    def StreamingInputCall(self, it, ctx):
        self.calls.append("StreamingInputCall")
        done = self.watch(ctx)
        n = 0
        slow = float(dict(ctx.invocation_metadata()).get("x-slow-read", "0"))
        try:
            for req in it:
                n += len(req.payload.body)
                time.sleep(slow)
        except grpc.RpcError:         # grpcio's request iterator: the call was cancelled
            self.cancelled.set()
            raise
        done["ok"] = True
        return self.m.StreamingInputCallResponse(aggregated_payload_size=n)

    def FullDuplexCall(self, it, ctx):
        self.calls.append("FullDuplexCall")
        done = self.watch(ctx)
        self.echo_metadata(ctx)
        try:
            for req in it:
                if self.status(req, ctx):
                    done["ok"] = True
                    return
                for p in req.response_parameters:
                    yield self.m.StreamingOutputCallResponse(payload=self.payload(p.size))
        except grpc.RpcError:
            self.cancelled.set()
            return
        done["ok"] = True

    def handler(self):
        m, e = self.m, self.e

        def uu(fn, req, res):
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.FromString, response_serializer=res.SerializeToString)
        return grpc.method_handlers_generic_handler(SERVICE, {
            "EmptyCall": uu(self.EmptyCall, e.Empty, e.Empty),
            "UnaryCall": uu(self.UnaryCall, m.SimpleRequest, m.SimpleResponse),
            "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(
                self.StreamingOutputCall, request_deserializer=m.StreamingOutputCallRequest.FromString,
                response_serializer=m.StreamingOutputCallResponse.SerializeToString),
            "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
                self.StreamingInputCall, request_deserializer=m.StreamingInputCallRequest.FromString,
                response_serializer=m.StreamingInputCallResponse.SerializeToString),
            "FullDuplexCall": grpc.stream_stream_rpc_method_handler(
                self.FullDuplexCall, request_deserializer=m.StreamingOutputCallRequest.FromString,
                response_serializer=m.StreamingOutputCallResponse.SerializeToString),
        })


MAX_MSG = 32 << 20
OPTS = [("grpc.max_send_message_length", MAX_MSG), ("grpc.max_receive_message_length", MAX_MSG)]


@pytest.fixture
def upstream(pb):
    svc = GrpcTestService(*pb)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), options=OPTS)
    server.add_generic_rpc_handlers((svc.handler(),))
    svc.port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield svc
    server.stop(0)


def gateway(portico, tmp_path, port, extra_routes="", plugin="", opts=""):
    routes = tmp_path / "routes"
    routes.mkdir(exist_ok=True)
    (routes / "gw.lua").write_text(
        f'route.post("/{SERVICE}/:method", proxy(upstream "up", {{ grpc = true, {opts} }}))\n'
        + extra_routes)
    return portico(f'upstream "up" {{ servers = {{ "127.0.0.1:{port}" }}, protocol = "h2c" }}\n'
                   f'access_log = {{ file = "{tmp_path}/access.log", format = "json" }}\n'
                   f'{plugin}\nroutes "{routes}"', plugins_dir=PLUGINS)


class FrameWatch:
    """A TCP relay in front of the upstream that reads the HTTP/2 frame
    headers Portico sends through it: proof of an RST_STREAM that does not
    depend on how soon grpcio's server notices one."""

    def __init__(self, target_port):
        self.target = target_port
        self.rst = threading.Event()
        self.ls = socket.socket()
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(8)
        self.port = self.ls.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                a, _ = self.ls.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self.pipe, args=(b, a, False), daemon=True).start()
            threading.Thread(target=self.pipe, args=(a, b, True), daemon=True).start()

    def pipe(self, src, dst, watch):
        buf = b""
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
                if watch:
                    buf += d
                    if buf.startswith(b"PRI * HTTP/2.0"):
                        buf = buf[24:]
                    while len(buf) >= 9 and not buf.startswith(b"PRI"):
                        n = int.from_bytes(buf[:3], "big")
                        if len(buf) < 9 + n:
                            break
                        if buf[3] == 3:       # RST_STREAM
                            self.rst.set()
                        buf = buf[9 + n:]
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.ls.close()


class Client:
    """grpcio stubs for TestService on CHANNEL."""

    def __init__(self, channel, m, e):
        def mk(kind, name, req, res):
            return getattr(channel, kind)(f"/{SERVICE}/{name}",
                                          request_serializer=req.SerializeToString,
                                          response_deserializer=res.FromString)
        self.empty = mk("unary_unary", "EmptyCall", e.Empty, e.Empty)
        self.unary = mk("unary_unary", "UnaryCall", m.SimpleRequest, m.SimpleResponse)
        self.server_stream = mk("unary_stream", "StreamingOutputCall",
                                m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        self.client_stream = mk("stream_unary", "StreamingInputCall",
                                m.StreamingInputCallRequest, m.StreamingInputCallResponse)
        self.bidi = mk("stream_stream", "FullDuplexCall",
                       m.StreamingOutputCallRequest, m.StreamingOutputCallResponse)
        self.unimplemented = mk("unary_unary", "UnimplementedCall", e.Empty, e.Empty)


@pytest.fixture
def gw(portico, tmp_path, upstream, pb, request):
    name = request.node.name
    watch = FrameWatch(upstream.port) if "cancel" in name or "timeout" in name else None
    d = gateway(portico, tmp_path, watch.port if watch else upstream.port)
    channel = grpc.insecure_channel(f"127.0.0.1:{d.port}", options=OPTS)
    c = Client(channel, *pb)
    c.d, c.svc, c.m, c.e, c.tmp, c.watch = d, upstream, pb[0], pb[1], tmp_path, watch
    yield c
    channel.close()
    if watch:
        watch.close()


def access_log(c, n_expected, timeout=5.0):
    """The access log's lines once it has N_EXPECTED (each is written when
    the transport lets go of the exchange, a moment after the client saw
    the end). C: a Client, or the test's tmp_path."""
    path = (c.tmp if isinstance(c, Client) else c) / "access.log"
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in open(path)]
            if len(lines) >= n_expected:
                break
        time.sleep(0.05)
    return lines


# ---- the interop cases -------------------------------------------------------------

def test_empty_unary_and_large_unary(gw):
    assert gw.empty(gw.e.Empty(), timeout=5) == gw.e.Empty()
    r = gw.unary(gw.m.SimpleRequest(response_size=314159, payload=gw.m.Payload(body=b"\0" * 271828)),
                 timeout=5)
    assert len(r.payload.body) == 314159
    lines = access_log(gw, 2)
    assert [l["grpc_status"] for l in lines[-2:]] == ["0", "0"]
    assert lines[-1]["status"] == 200 and lines[-1]["upstream_addr"]


def test_client_streaming(gw):
    sizes = [27182, 8, 1828, 45904]
    r = gw.client_stream(iter(gw.m.StreamingInputCallRequest(payload=gw.m.Payload(body=b"\0" * s))
                              for s in sizes), timeout=5)
    assert r.aggregated_payload_size == 74922


def test_server_streaming(gw):
    sizes = [31415, 9, 2653, 58979]
    req = gw.m.StreamingOutputCallRequest(
        response_parameters=[gw.m.ResponseParameters(size=s) for s in sizes])
    assert [len(r.payload.body) for r in gw.server_stream(req, timeout=5)] == sizes


def test_server_streaming_arrives_as_sent(gw):
    """Each message reaches the client while the upstream is still sleeping
    before the next one: nothing waits for the end of the response."""
    req = gw.m.StreamingOutputCallRequest(response_parameters=[
        gw.m.ResponseParameters(size=10, interval_us=0),
        gw.m.ResponseParameters(size=10, interval_us=800000)])
    t0 = time.monotonic()
    it = gw.server_stream(req, timeout=5)
    next(it)
    first = time.monotonic() - t0
    next(it)
    assert first < 0.6 and time.monotonic() - t0 >= 0.75


def test_ping_pong_interleaved(gw):
    """Full duplex: each response comes back before the next request is sent."""
    sizes = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
    import queue
    q = queue.Queue()
    call = gw.bidi(iter(q.get, None), timeout=10)
    for resp_size, req_size in sizes:
        q.put(gw.m.StreamingOutputCallRequest(
            response_parameters=[gw.m.ResponseParameters(size=resp_size)],
            payload=gw.m.Payload(body=b"\0" * req_size)))
        r = next(call)
        assert len(r.payload.body) == resp_size
    q.put(None)
    assert list(call) == []
    assert call.code() == grpc.StatusCode.OK


def test_empty_stream(gw):
    assert list(gw.bidi(iter([]), timeout=5)) == []


def test_custom_metadata_initial_and_trailing_bin(gw):
    md = (("x-grpc-test-echo-initial", "test_initial_metadata_value"),
          ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"))
    r, call = gw.unary.with_call(gw.m.SimpleRequest(response_size=314159), metadata=md, timeout=5)
    assert len(r.payload.body) == 314159
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()
    # streaming too
    call = gw.bidi(iter([gw.m.StreamingOutputCallRequest(
        response_parameters=[gw.m.ResponseParameters(size=314159)])]), metadata=md, timeout=5)
    assert [len(r.payload.body) for r in call] == [314159]
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()
    # the upstream got te: trailers and the client's metadata
    assert gw.svc.metadata.get("x-grpc-test-echo-initial") == "test_initial_metadata_value"


@pytest.mark.parametrize("message", ["test status message",
                                     "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n"])
def test_status_code_and_message(gw, message):
    status = gw.m.EchoStatus(code=2, message=message)
    with pytest.raises(grpc.RpcError) as e:
        gw.unary(gw.m.SimpleRequest(response_status=status), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == message
    call = gw.bidi(iter([gw.m.StreamingOutputCallRequest(response_status=status)]), timeout=5)
    with pytest.raises(grpc.RpcError) as e:
        list(call)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and e.value.details() == message
    lines = access_log(gw, 2)
    assert [l["grpc_status"] for l in lines[-2:]] == ["2", "2"]


def test_unimplemented_method(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.unimplemented(gw.e.Empty(), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert access_log(gw, 1)[-1]["grpc_status"] == "12"


def test_large_messages_both_ways(gw):
    """Several MB each way through the windows: flow control, not buffering."""
    big = 8 << 20
    r = gw.unary(gw.m.SimpleRequest(response_size=big, payload=gw.m.Payload(body=b"\0" * big)),
                 timeout=20)
    assert len(r.payload.body) == big
    r = gw.client_stream(iter([gw.m.StreamingInputCallRequest(
        payload=gw.m.Payload(body=b"\0" * (4 << 20)))] * 4), timeout=20)
    assert r.aggregated_payload_size == 16 << 20
    req = gw.m.StreamingOutputCallRequest(
        response_parameters=[gw.m.ResponseParameters(size=4 << 20)] * 4)
    assert sum(len(r.payload.body) for r in gw.server_stream(req, timeout=20)) == 16 << 20


def test_slow_upstream_holds_the_client_back(gw):
    """64 MiB of client streaming to an upstream that reads slowly: the
    gateway stops reading the client instead of queueing the difference."""
    def rss():
        with open(f"/proc/{gw.d.proc.pid}/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
    gw.unary(gw.m.SimpleRequest(payload=gw.m.Payload(body=b"\0" * (1 << 20))), timeout=5)
    before, peak = rss(), [0]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(0.01)
    t = threading.Thread(target=sample, daemon=True)
    t.start()
    msg = gw.m.StreamingInputCallRequest(payload=gw.m.Payload(body=b"\0" * (1 << 20)))
    r = gw.client_stream(iter([msg] * 64), metadata=(("x-slow-read", "0.01"),), timeout=60)
    stop.set()
    t.join()
    assert r.aggregated_payload_size == 64 << 20
    limit = 24 << 20
    if "ASAN_OPTIONS" in os.environ:
        limit += 512 << 20
    assert peak[0] - before < limit, f"the gateway grew by {(peak[0] - before) >> 20} MiB"


# ---- deadlines and cancellation -------------------------------------------------------

def test_timeout_on_sleeping_server(gw):
    with pytest.raises(grpc.RpcError) as e:
        gw.unary(gw.m.SimpleRequest(response_size=10), metadata=(("x-sleep", "8"),), timeout=0.5)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the proxy reset the stream, or the upstream ended it at the deadline it was given
    assert gw.watch.rst.wait(3) or gw.svc.cancelled.is_set(), "the upstream's call went on"
    # the upstream was told the deadline, reduced by the time spent
    assert gw.svc.time_remaining is not None and gw.svc.time_remaining <= 0.5


def raw_call(gw, extra_headers, method="UnaryCall", wait=4.0):
    """One call over HTTP/2 by hand (the h2 library), so the client enforces
    nothing itself: (the header blocks received, whether the stream ended,
    seconds taken)."""
    h2 = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events
    msg = gw.m.SimpleRequest(response_size=10).SerializeToString()
    body = b"\0" + len(msg).to_bytes(4, "big") + msg
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    s = socket.create_connection(("127.0.0.1", gw.d.port), timeout=5)
    conn.send_headers(1, [(":method", "POST"), (":scheme", "http"),
                          (":authority", "127.0.0.1"), (":path", f"/{SERVICE}/{method}"),
                          ("content-type", "application/grpc"), ("te", "trailers")]
                      + extra_headers)
    conn.send_data(1, body, end_stream=True)
    s.sendall(conn.data_to_send())
    t0 = time.monotonic()
    headers, ended = [], False
    while not ended and time.monotonic() - t0 < wait:
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers.append(dict((k.decode(), v.decode()) for k, v in ev.headers))
            if isinstance(ev, h2.events.StreamEnded):
                ended = True
        s.sendall(conn.data_to_send())
    s.close()
    return headers, ended, time.monotonic() - t0


def test_the_proxy_enforces_grpc_timeout_itself(gw):
    """A client that does not enforce its own deadline (raw HTTP/2) gets
    DEADLINE_EXCEEDED from the proxy, trailers-only, and the upstream's
    stream is reset."""
    headers, ended, took = raw_call(gw, [("grpc-timeout", "400m"), ("x-sleep", "8")])
    assert ended and 0.35 < took < 1.5
    assert len(headers) == 1, headers      # trailers-only
    h = headers[0]
    assert h[":status"] == "200" and h["content-type"] == "application/grpc"
    # ours, or the upstream's own (it got the time left): either says so
    assert h["grpc-status"] == "4" and "deadline" in h["grpc-message"].lower()
    assert gw.watch.rst.wait(3) or gw.svc.cancelled.is_set(), "the upstream's call went on"
    assert 0 < gw.svc.time_remaining <= 0.4
    assert access_log(gw, 1)[-1]["grpc_status"] == "4"


@pytest.mark.parametrize("value", ["abc", "1", "123456789S", "-1S", "1s", "10 S"])
def test_invalid_grpc_timeout_is_ignored_not_forwarded(gw, value):
    headers, ended, _ = raw_call(gw, [("grpc-timeout", value)])
    assert ended and headers[-1]["grpc-status"] == "0"
    assert gw.svc.time_remaining > 1e6          # no deadline reached the upstream
    assert "invalid grpc-timeout" in gw.d.log()


def test_zero_grpc_timeout_is_deadline_exceeded_at_once(gw):
    headers, ended, took = raw_call(gw, [("grpc-timeout", "0S")])
    assert ended and took < 1 and headers[-1]["grpc-status"] == "4"


def test_slow_client_holds_the_upstream_back(gw):
    """64 MiB of server streaming to a client that reads slowly: the gateway
    keeps a bounded part of it, the rest waits upstream (flow control)."""
    def rss():
        with open(f"/proc/{gw.d.proc.pid}/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
    gw.unary(gw.m.SimpleRequest(response_size=1 << 20), timeout=5)   # warm up
    before, peak = rss(), 0
    req = gw.m.StreamingOutputCallRequest(
        response_parameters=[gw.m.ResponseParameters(size=1 << 20)] * 64)
    n = 0
    for r in gw.server_stream(req, timeout=60):
        n += len(r.payload.body)
        peak = max(peak, rss())
        time.sleep(0.01)
    assert n == 64 << 20
    limit = 24 << 20
    if "ASAN_OPTIONS" in os.environ:
        limit += 512 << 20
    assert peak - before < limit, f"the gateway grew by {(peak - before) >> 20} MiB"


def test_cancel_after_begin(gw):
    import queue
    q = queue.Queue()
    fut = gw.client_stream.future(iter(q.get, None), timeout=10)
    q.put(gw.m.StreamingInputCallRequest(payload=gw.m.Payload(body=b"x")))
    deadline = time.monotonic() + 3
    while "StreamingInputCall" not in gw.svc.calls and time.monotonic() < deadline:
        time.sleep(0.02)
    fut.cancel()
    assert fut.cancelled()
    q.put(None)
    assert gw.watch.rst.wait(3), "no RST_STREAM went to the upstream:\n" + gw.d.log()[-3000:]
    assert access_log(gw, 1)[-1]["grpc_status"] == "1"


def test_cancel_after_first_response(gw):
    import queue
    q = queue.Queue()
    call = gw.bidi(iter(q.get, None), timeout=10)
    q.put(gw.m.StreamingOutputCallRequest(response_parameters=[gw.m.ResponseParameters(size=31415)],
                                          payload=gw.m.Payload(body=b"\0" * 27182)))
    assert len(next(call).payload.body) == 31415
    call.cancel()
    with pytest.raises(grpc.RpcError) as e:
        next(call)
    assert e.value.code() == grpc.StatusCode.CANCELLED
    q.put(None)
    assert gw.watch.rst.wait(3), "no RST_STREAM went to the upstream:\n" + gw.d.log()[-3000:]


# ---- what the proxy answers --------------------------------------------------------------

def test_upstream_down_is_unavailable(portico, tmp_path, pb):
    d = gateway(portico, tmp_path, free_port())
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        c = Client(ch, *pb)
        with pytest.raises(grpc.RpcError) as e:
            c.unary(pb[0].SimpleRequest(response_size=1), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "upstream up" in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            list(c.bidi(iter([pb[0].StreamingOutputCallRequest()]), timeout=5))
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    lines = access_log(tmp_path, 2)
    assert [l["grpc_status"] for l in lines[-2:]] == ["14", "14"]
    assert all(l["status"] == 200 for l in lines[-2:])


def test_upstream_gone_mid_stream_is_unavailable_in_trailers(portico, tmp_path, pb):
    """The upstream dies after the response started: the client gets the
    failure as the call's status (trailers), not a reset stream."""
    svc = GrpcTestService(*pb)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((svc.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    d = gateway(portico, tmp_path, port)
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        c = Client(ch, *pb)
        import queue
        q = queue.Queue()
        call = c.bidi(iter(q.get, None), timeout=10)
        q.put(pb[0].StreamingOutputCallRequest(response_parameters=[pb[0].ResponseParameters(size=5)]))
        assert len(next(call).payload.body) == 5
        server.stop(0)
        with pytest.raises(grpc.RpcError) as e:
            next(call)
        q.put(None)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value


def test_jwt_filter_answers_unauthenticated_without_the_upstream(portico, tmp_path, upstream, pb):
    if not os.path.exists(os.path.join(PLUGINS, "rest.so")):
        pytest.skip("plugins/rest is not built")
    d = gateway(portico, tmp_path, upstream.port,
                extra_routes='route.post("/grpc.testing.ReconnectService/:m", '
                             'proxy(upstream "up", { grpc = true }), { jwt = true })\n',
                plugin='plugin "rest" { jwt = { secret = "0123456789abcdef0123456789abcdef-hs" } }')
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        start = ch.unary_unary("/grpc.testing.ReconnectService/Start",
                               request_serializer=pb[0].ReconnectParams.SerializeToString,
                               response_deserializer=pb[1].Empty.FromString)
        with pytest.raises(grpc.RpcError) as e:
            start(pb[0].ReconnectParams(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert upstream.calls == []
    lines = access_log(tmp_path, 1)
    assert lines[-1]["status"] == 401 and lines[-1]["grpc_status"] == "16"


def test_not_grpc_is_415_and_other_requests_log_no_grpc_status(gw):
    import requests
    r = requests.post(f"{gw.d.url}/{SERVICE}/UnaryCall", data=b"{}",
                      headers={"content-type": "application/json"}, timeout=5)
    assert r.status_code == 415
    assert gw.svc.calls == []
    assert access_log(gw, 1)[-1]["grpc_status"] is None


def test_lua_handler_calling_proxy_and_http1_clients(portico, tmp_path, upstream, pb):
    """proxy{grpc=true} called from a Lua function (the body buffered first)
    answers a unary call; an HTTP/1.1 client of a gRPC route gets the status
    in the chunked body's trailers, and nothing breaks."""
    d = gateway(portico, tmp_path, upstream.port, extra_routes=(
        'local p = proxy(upstream "up", { grpc = true, strip_prefix = "/lua" })\n'
        'route.post("/lua/:svc/:m", function(req, res) return p(req, res) end)\n'))
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        unary = ch.unary_unary(f"/lua/{SERVICE}/UnaryCall",
                               request_serializer=pb[0].SimpleRequest.SerializeToString,
                               response_deserializer=pb[0].SimpleResponse.FromString)
        r, call = unary.with_call(pb[0].SimpleRequest(response_size=7), timeout=5,
                                  metadata=(("x-grpc-test-echo-trailing-bin", b"\x01"),))
        assert len(r.payload.body) == 7
        assert ("x-grpc-test-echo-trailing-bin", b"\x01") in call.trailing_metadata()
    assert upstream.calls == ["UnaryCall"]
    msg = pb[0].SimpleRequest(response_size=3).SerializeToString()
    frame = b"\0" + len(msg).to_bytes(4, "big") + msg
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"POST /grpc.testing.TestService/UnaryCall HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/grpc\r\nTE: trailers\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(frame) + frame)
        got = b""
        end = time.monotonic() + 5
        while b"\r\n0\r\n" not in got and time.monotonic() < end:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    assert got.startswith(b"HTTP/1.1 200"), got[:200]
    assert b"grpc-status: 0" in got.lower(), got
    # a Lua route proxying to a path the upstream lacks
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        x = ch.unary_unary("/lua/grpc.testing.XService/Nope", request_serializer=lambda b: b,
                           response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as e:
            x(b"", timeout=5)
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_http1_upstream_is_unavailable_and_logged(portico, tmp_path, pb):
    routes = tmp_path / "routes"
    routes.mkdir()
    (routes / "gw.lua").write_text(
        f'route.post("/{SERVICE}/:method", proxy(upstream "up", {{ grpc = true }}))\n')
    d = portico(f'upstream "up" {{ servers = {{ "127.0.0.1:{free_port()}" }} }}\n'
                f'routes "{routes}"')
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            Client(ch, *pb).empty(pb[1].Empty(), timeout=5)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "needs an HTTP/2 upstream" in d.log()


def test_silence_bounds_the_wait_for_the_head_not_a_long_stream(portico, tmp_path, upstream, pb):
    """The route's timeout (1 s here) is how long the upstream may stay
    silent before it answers; once it did, a stream may pause longer (a
    Watch), bounded by its deadline instead."""
    m = pb[0]
    d = gateway(portico, tmp_path, upstream.port, opts="timeout = 1")
    with grpc.insecure_channel(f"127.0.0.1:{d.port}") as ch:
        c = Client(ch, *pb)
        req = m.StreamingOutputCallRequest(response_parameters=[
            m.ResponseParameters(size=3), m.ResponseParameters(size=4, interval_us=2500000)])
        assert [len(r.payload.body) for r in c.server_stream(req, timeout=10)] == [3, 4]
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            c.unary(m.SimpleRequest(response_size=1), metadata=(("x-sleep", "5"),), timeout=10)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        assert 0.8 < time.monotonic() - t0 < 3
        assert "timed out" in e.value.details()
