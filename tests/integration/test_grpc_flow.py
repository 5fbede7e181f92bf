"""The grpc plugin's streaming handlers under a slow client and a long life
(ABI 1.10: exchange_queued / exchange_on_drain, lua_budget_renew).

- a server-streaming handler writing to an HTTP/2 client that does not read
  (its flow-control window stays closed) waits in ctx:send once
  PT_EXCHANGE_HIGH bytes are queued: the daemon's memory stays bounded, and
  the handler goes on when the client reads again; the call's deadline or the
  client's reset still end a waiting handler;
- the instruction budget counts per message: a 10,000-message bidi stream
  whose handler does real work per message passes, a handler looping without
  waiting is still stopped.

Raw HTTP/2 with python3-h2 (the grpcio client always reads).
"""
import os
import shutil
import socket
import struct
import time
import urllib.request

import pytest

from conftest import BUILDDIR

h2conn = pytest.importorskip("h2.connection", reason="python3-h2 is not installed")
import h2.config  # noqa: E402
import h2.events  # noqa: E402

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "grpc.so")),
                       reason="the grpc plugin is not built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is not installed (Debian protobuf-compiler)"),
]

PROTO = """syntax = "proto3";
package f.v1;
message M { string s = 1; bytes b = 2; }
service Flow {
  rpc Feed(M) returns (stream M);
  rpc Chat(stream M) returns (stream M);
  rpc Spin(stream M) returns (stream M);
}
"""

LUA = r"""
local p = { sent = 0, done = false, err = "none" }
route.get("/progress", function(req)
  return 200, string.format("%d %s %s", p.sent, tostring(p.done), tostring(p.err))
end)
grpc.service("f.v1.Flow", {
  -- server streaming: x-n copies of the request
  Feed = function(req, ctx)
    p.sent, p.done, p.err = 0, false, "none"
    local n = tonumber(ctx.metadata["x-n"])
    if ctx.metadata["x-sort"] then
      -- a comparator cannot wait: ctx:send queues, up to a bound
      local t = {}
      for i = 1, n do t[i] = n - i end
      table.sort(t, function(a, b)
        if p.err == "none" then
          local ok, why = ctx:send(req)
          if ok then p.sent = p.sent + 1 else p.err = why end
        end
        return a < b
      end)
      return
    end
    for i = 1, n do
      local ok, why
      if ctx.metadata["x-pcall"] then
        local okc, r1, r2 = pcall(ctx.send, ctx, req)   -- waits inside pcall
        ok, why = r1, r2
      else
        ok, why = ctx:send(req)
      end
      if not ok then p.err = why; return end
      p.sent = i
    end
    p.done = true
  end,
  -- bidi echo with some work per message (about 10,000 instructions)
  Chat = function(ctx)
    local n = 0
    for m in ctx:recv() do
      local x = 0
      for i = 1, 5000 do x = x + i end
      n = n + 1
      ctx:send(m)
    end
    ctx:set_trailer("x-count", tostring(n))
  end,
  -- bidi: answers the first message, then loops without waiting
  Spin = function(ctx)
    for m in ctx:recv() do
      ctx:send(m)
      local x = 0
      while true do x = x + 1 end
    end
  end,
})
"""


def msg(b=b""):
    """f.v1.M { b = B } on the wire."""
    n, v = len(b), b""
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            v += bytes([byte | 0x80])
        else:
            v += bytes([byte])
            break
    return (b"\x12" + v + b) if b else b""


def frame(payload):
    return struct.pack(">BI", 0, len(payload)) + payload


@pytest.fixture
def d(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "flow.lua").write_text(LUA)
    pdir = tmp_path / "proto"
    pdir.mkdir()
    (pdir / "flow.proto").write_text(PROTO)
    body = ('plugin "grpc" { protos = { "flow.proto" }, import_paths = { "%s" } }\n'
            'routes "%s"\nlua = { max_instructions = 1000000 }\n'
            'http = { write_timeout = 4 }\n' % (pdir, rdir))
    return portico(body, plugins_dir=PLUGINS)


def progress(d):
    with urllib.request.urlopen(d.url + "/progress", timeout=5) as r:
        sent, done, err = r.read().decode().split(" ", 2)
        return int(sent), done == "true", err


def rss_kb(pid):
    """Resident set of PID and its children (workers may be processes)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            pass
    return total


class Client:
    """An h2c client that reads frames only when told to give credit."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.c = h2conn.H2Connection(config=h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8"))
        self.c.initiate_connection()
        self.data, self.trailers, self.reset, self.ended = bytearray(), {}, None, False
        self.unacked = 0
        self.flush()

    def flush(self):
        out = self.c.data_to_send()
        if out:
            self.s.sendall(out)

    def send(self, sid, data):
        """DATA in frames the peer's limits allow; reads while its window
        is closed."""
        while data:
            room = min(self.c.max_outbound_frame_size, self.c.local_flow_control_window(sid))
            if room <= 0:
                self.flush()
                self.pump(0.05)
                continue
            self.c.send_data(sid, data[:room])
            data = data[room:]
        self.flush()

    def call(self, path, body, md=(), end=True):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                                  (":authority", "127.0.0.1"),
                                  ("content-type", "application/grpc"), ("te", "trailers")]
                            + list(md))
        self.flush()
        if body:
            self.send(sid, body)
        if end:
            self.c.end_stream(sid)
        self.flush()
        self.sid = sid
        return sid

    def pump(self, seconds, ack=True):
        """Reads for SECONDS (or to the stream's end); ACK: give the window
        back as data arrives (a reading client), else keep it closed."""
        end = time.monotonic() + seconds
        self.s.settimeout(0.2)
        while time.monotonic() < end and not self.ended and self.reset is None:
            try:
                b = self.s.recv(1 << 20)
            except socket.timeout:
                continue
            if not b:
                break
            for ev in self.c.receive_data(b):
                if isinstance(ev, h2.events.DataReceived):
                    self.data += ev.data
                    if ack:
                        self.c.acknowledge_received_data(ev.flow_controlled_length,
                                                         ev.stream_id)
                    else:
                        self.unacked += ev.flow_controlled_length
                elif isinstance(ev, h2.events.TrailersReceived):
                    self.trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.StreamReset):
                    self.reset = ev.error_code
                elif isinstance(ev, h2.events.StreamEnded):
                    self.ended = True
            self.flush()

    def open_window(self):
        """The client reads again: credit for what came, and a wide window."""
        if self.unacked:
            self.c.acknowledge_received_data(self.unacked, self.sid)
            self.unacked = 0
        self.c.increment_flow_control_window(16 << 20)
        self.c.increment_flow_control_window(16 << 20, stream_id=self.sid)
        self.flush()

    def close(self):
        self.s.close()


N, SIZE = 2000, 16 << 10     # 32 MiB of replies if nothing held the handler back


def test_a_client_that_does_not_read_holds_the_handler_back(d):
    base = rss_kb(d.proc.pid)
    cl = Client(d.port)
    cl.call("/f.v1.Flow/Feed", frame(msg(b"x" * SIZE)), md=[("x-n", str(N))])
    cl.pump(1.5, ack=False)            # reads what fits in 64 KiB, gives nothing back
    sent, done, err = progress(d)
    # 64 KiB in flight + PT_EXCHANGE_HIGH (256 KiB) queued, one message over
    assert 4 <= sent <= 30, (sent, err)
    assert not done and err == "none"
    time.sleep(1)
    assert progress(d)[0] == sent       # held: it waits in ctx:send, not spinning
    grown = rss_kb(d.proc.pid) - base
    print("h2, window closed: held after %d of %d replies, RSS +%d KiB" % (sent, N, grown))
    assert grown < 8 * 1024
    # the client reads again: the handler goes on to the end
    cl.open_window()
    cl.pump(20)
    sent, done, err = progress(d)
    assert (sent, done, err) == (N, True, "none"), (len(cl.data), cl.reset)
    assert cl.ended and cl.trailers.get("grpc-status") == "0", cl.trailers
    assert len(cl.data) == N * (5 + len(msg(b"x" * SIZE)))
    cl.close()


def test_a_send_waiting_inside_pcall_is_held_and_goes_on(d):
    cl = Client(d.port)
    cl.call("/f.v1.Flow/Feed", frame(msg(b"x" * SIZE)), md=[("x-n", "200"), ("x-pcall", "1")])
    cl.pump(1, ack=False)
    sent, done, err = progress(d)
    assert sent < 40 and not done and err == "none"
    cl.open_window()
    cl.pump(20)
    assert progress(d) == (200, True, "none")
    assert cl.trailers.get("grpc-status") == "0"
    cl.close()


def test_a_send_that_cannot_wait_is_bounded(d):
    """ctx:send from a table.sort comparator cannot yield: it queues, and
    past 16 MiB the call ends RESOURCE_EXHAUSTED instead of growing."""
    base = rss_kb(d.proc.pid)
    cl = Client(d.port)
    cl.call("/f.v1.Flow/Feed", frame(msg(b"x" * SIZE)), md=[("x-n", "3000"), ("x-sort", "1")])
    cl.pump(1.5, ack=False)
    sent, done, err = progress(d)
    assert err == "the call has ended", (sent, err)
    assert (15 << 20) // SIZE <= sent <= (17 << 20) // SIZE   # ~16 MiB, then the end
    assert d.wait_log("replies queued past the bound")
    assert rss_kb(d.proc.pid) - base < 64 * 1024
    cl.close()
    assert progress(d)[0] == sent


def test_the_deadline_ends_a_handler_held_by_a_slow_client(d):
    cl = Client(d.port)
    t0 = time.monotonic()
    cl.call("/f.v1.Flow/Feed", frame(msg(b"x" * SIZE)), md=[("x-n", str(N)),
                                                            ("grpc-timeout", "1S")])
    cl.pump(0.5, ack=False)
    while progress(d)[2] == "none" and time.monotonic() - t0 < 5:
        time.sleep(0.1)
    sent, done, err = progress(d)
    assert err == "cancelled" and not done and sent < 40
    assert time.monotonic() - t0 < 3
    # the stalled stream is reset by the write timeout (4 s): nothing is left
    cl.pump(8, ack=False)
    assert cl.reset is not None or cl.trailers.get("grpc-status") == "4"
    cl.close()
    assert progress(d)[0] == sent


def test_a_reset_ends_a_handler_held_by_a_slow_client(d):
    cl = Client(d.port)
    sid = cl.call("/f.v1.Flow/Feed", frame(msg(b"x" * SIZE)), md=[("x-n", str(N))])
    cl.pump(1, ack=False)
    assert progress(d)[2] == "none"
    cl.c.reset_stream(sid, 8)            # CANCEL
    cl.flush()
    t0 = time.monotonic()
    while progress(d)[2] == "none" and time.monotonic() - t0 < 3:
        time.sleep(0.05)
    assert progress(d)[2] == "cancelled"
    assert time.monotonic() - t0 < 1
    cl.close()
    assert d.wait_log("the client cancelled the call")


def test_a_10000_message_bidi_stream_passes_the_per_message_budget(d):
    """Each message costs ~10,000 instructions: 100 million over the stream,
    a hundred times lua.max_instructions (1,000,000), which bounds each
    message, not the stream."""
    n = 10000
    one = frame(msg(b"ping"))
    cl = Client(d.port)
    sid = cl.call("/f.v1.Flow/Chat", b"", end=False)
    sent = 0
    deadline = time.monotonic() + 60
    while sent < n and time.monotonic() < deadline:
        batch = min(500, n - sent)
        cl.send(sid, one * batch)
        sent += batch
        if sent == n:
            cl.c.end_stream(sid)
        cl.flush()
        cl.pump(0.05)
    cl.pump(60)
    assert cl.ended, (cl.reset, cl.trailers, d.log()[-2000:])
    assert cl.trailers.get("grpc-status") == "0", cl.trailers
    assert cl.trailers.get("x-count") == str(n)
    assert cl.data == one * n
    assert "instruction budget exceeded" not in d.log()
    cl.close()


def test_a_handler_looping_without_waiting_is_still_stopped(d):
    cl = Client(d.port)
    sid = cl.call("/f.v1.Flow/Spin", frame(msg(b"go")), end=False)
    t0 = time.monotonic()
    cl.pump(10)
    assert cl.trailers.get("grpc-status") == "13", (cl.trailers, cl.reset)   # INTERNAL
    assert cl.data == frame(msg(b"go"))      # the one reply before the loop
    assert time.monotonic() - t0 < 5
    assert d.wait_log("instruction budget exceeded")
    assert "x = x + 1" not in cl.trailers.get("grpc-message", "")   # not sent
    cl.close()
    del sid


def test_grpc_web_over_http1_is_held_back_by_a_slow_reader(d):
    """gRPC-Web runs the same handler through the plugin's adapter: over
    HTTP/1.1 a client that does not read holds it back too (the socket's
    buffers, then PT_EXCHANGE_HIGH in the daemon), and it finishes once the
    client reads."""
    body = frame(msg(b"x" * SIZE))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", d.port))
    s.sendall(b"POST /f.v1.Flow/Feed HTTP/1.1\r\nHost: x\r\n"
              b"content-type: application/grpc-web+proto\r\nx-n: %d\r\n"
              b"content-length: %d\r\n\r\n%s" % (N, len(body), body))
    time.sleep(1.5)
    sent, done, err = progress(d)
    assert sent < N // 4 and not done and err == "none", (sent, done, err)
    print("gRPC-Web over HTTP/1.1: held after %d of %d replies" % (sent, N))
    time.sleep(0.5)
    assert progress(d)[0] == sent
    got = bytearray()
    end = time.monotonic() + 30
    while time.monotonic() < end and not got.endswith(b"0\r\n\r\n"):
        b = s.recv(1 << 20)
        if not b:
            break
        got += b
    s.close()
    assert progress(d) == (N, True, "none")
    assert b"\x80\x00\x00\x00\x10grpc-status: 0\r\n" in bytes(got[-200:])
    assert got.count(b"x" * SIZE) == N
