"""gRPC-Web (application/grpc-web, +proto, -text) on grpc.service methods.

Byte-exact: request frames are built by hand, the answer is cut into its
length-prefixed frames and the 0x80 trailer frame is parsed, for binary and
base64 text, over HTTP/1.1 (requests, raw sockets) and HTTP/2 (python3-h2,
prior-knowledge h2c). CORS comes from the rest plugin's `cors` filter on the
service's options. Malformed bodies (bad base64, a truncated frame, a length
past the limit, an unknown grpc-web flavour) get their status.

Needs python3-requests, python3-h2 and protobuf-compiler.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest
import requests

from conftest import BUILDDIR, SRCDIR

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
package w.v1;
message M { string s = 1; }
service Echo {
  rpc Unary(M) returns (M);
  rpc Server(M) returns (stream M);
  rpc Missing(M) returns (M);
}
service Locked { rpc Unary(M) returns (M); }
"""

# Echo whatever comes (a table with the protobuf library, the bytes with
# its stand-in): the wire bytes are the same either way.
LUA = r"""
use("cors", { origins = { "https://app.example" },
              headers = { "content-type", "x-grpc-web", "x-user-agent", "x-mode" },
              expose = { "grpc-status", "grpc-message", "x-echo" } })
grpc.service("w.v1.Echo", {
  Unary = function(req, ctx)
    local mode = ctx.metadata["x-mode"]
    if mode == "nf" then error(grpc.error("NOT_FOUND", "no such thing: caf\u{e9}")) end
    if mode == "boom" then error("secret kaboom") end
    if mode == "sleep" then sleep(2) end
    local v = ctx.metadata["x-echo"]
    if v then ctx:set_header("x-echo", v); ctx:set_trailer("x-trailer", v) end
    return req
  end,
  Server = function(req, ctx)
    for i = 1, tonumber(ctx.metadata["x-n"] or "3") do ctx:send(req) end
  end,
})
grpc.service("w.v1.Locked", { Unary = function(req) return req end },
             { ip = { deny = { "127.0.0.1" } } })
"""

BIN = "application/grpc-web+proto"
TEXT = "application/grpc-web-text"


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def msg(s):
    """w.v1.M { s } on the wire."""
    return b"\x0a" + varint(len(s)) + s if s else b""


def frame(payload, flag=0):
    return bytes([flag]) + struct.pack(">I", len(payload)) + payload


def frames(body):
    """[(flag, payload)] of a gRPC-Web body; asserts it is whole."""
    out, i = [], 0
    while i < len(body):
        assert i + 5 <= len(body), "a truncated frame prefix at %d: %r" % (i, body)
        flag, n = body[i], struct.unpack(">I", body[i + 1:i + 5])[0]
        assert i + 5 + n <= len(body), "a truncated frame at %d" % i
        out.append((flag, body[i + 5:i + 5 + n]))
        i += 5 + n
    return out


def trailers(payload):
    """The trailer frame's lines as a dict (names lower-case)."""
    out = {}
    for line in payload.decode().split("\r\n"):
        if line:
            k, v = line.split(":", 1)
            out[k.strip()] = v.strip()
    return out


def b64_pieces(text):
    """Decodes base64 made of several padded pieces ("AAA=BBBB")."""
    out, i = b"", 0
    text = text.strip()
    while i < len(text):
        out += base64.b64decode(text[i:i + 4])
        i += 4
    return out


@pytest.fixture
def web(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "echo.lua").write_text(LUA)
    pdir = tmp_path / "proto"
    pdir.mkdir()
    (pdir / "echo.proto").write_text(PROTO)
    body = (f'plugin "rest" {{}}\n'
            f'plugin "grpc" {{ protos = {{ "echo.proto" }}, import_paths = {{ "{pdir}" }}, '
            f'max_receive_message = 1024 }}\nroutes "{rdir}"\n')
    return portico(body, plugins_dir=PLUGINS)


def post(d, path, body, ct=BIN, headers=None, **kw):
    h = {"content-type": ct, "x-grpc-web": "1", "x-user-agent": "grpc-web-javascript/0.1"}
    h.update(headers or {})
    return requests.post(d.url + path, data=body, headers=h, timeout=5, **kw)


# ---- binary over HTTP/1.1 ------------------------------------------------------------------

def test_unary_binary_is_byte_exact(web):
    m = msg(b"hello")
    r = post(web, "/w.v1.Echo/Unary", frame(m))
    assert r.status_code == 200
    assert r.headers["content-type"] == BIN
    assert r.content == frame(m) + frame(b"grpc-status: 0\r\n", 0x80)


def test_plain_grpc_web_answers_in_kind(web):
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"x")), ct="application/grpc-web")
    assert r.headers["content-type"] == "application/grpc-web"
    assert frames(r.content)[0] == (0, msg(b"x"))


def test_metadata_and_trailers(web):
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"x")), headers={"x-echo": "abc"})
    assert r.headers["x-echo"] == "abc"
    f = frames(r.content)
    assert f[0] == (0, msg(b"x"))
    assert f[1][0] == 0x80
    assert trailers(f[1][1]) == {"grpc-status": "0", "x-trailer": "abc"}


def test_empty_message(web):
    r = post(web, "/w.v1.Echo/Unary", frame(b""))
    assert frames(r.content) == [(0, b""), (0x80, b"grpc-status: 0\r\n")]


def test_server_streaming_binary(web):
    m = msg(b"s")
    r = post(web, "/w.v1.Echo/Server", frame(m), headers={"x-n": "4"})
    f = frames(r.content)
    assert f[:4] == [(0, m)] * 4
    assert f[4] == (0x80, b"grpc-status: 0\r\n") and len(f) == 5


def test_error_status_in_the_trailer_frame(web):
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"x")), headers={"x-mode": "nf"})
    assert r.status_code == 200
    f = frames(r.content)
    assert len(f) == 1 and f[0][0] == 0x80
    t = trailers(f[0][1])
    assert t["grpc-status"] == "5"
    assert t["grpc-message"] == "no such thing: caf%C3%A9"
    # a Lua error: INTERNAL without its text
    f = frames(post(web, "/w.v1.Echo/Unary", frame(msg(b"x")), headers={"x-mode": "boom"}).content)
    assert trailers(f[-1][1])["grpc-status"] == "13"
    assert b"kaboom" not in f[-1][1]


def test_unimplemented_method(web):
    f = frames(post(web, "/w.v1.Echo/Missing", frame(msg(b"x"))).content)
    t = trailers(f[-1][1])
    assert t["grpc-status"] == "12" and "not implemented" in t["grpc-message"]


def test_deadline(web):
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"x")),
             headers={"x-mode": "sleep", "grpc-timeout": "200m"})
    assert trailers(frames(r.content)[-1][1])["grpc-status"] == "4"


# ---- text (base64) ---------------------------------------------------------------------------

def test_unary_text_is_byte_exact(web):
    m = msg(b"hello text")
    r = post(web, "/w.v1.Echo/Unary", base64.b64encode(frame(m)), ct=TEXT)
    assert r.status_code == 200
    assert r.headers["content-type"] == TEXT
    assert base64.b64decode(r.content) == frame(m) + frame(b"grpc-status: 0\r\n", 0x80)


def test_text_request_in_padded_pieces_chunked(web):
    """Several base64 pieces, each padded, sent as separate HTTP/1.1 chunks
    that also split groups."""
    m = msg(b"pieces of text")
    raw = frame(m)
    pieces = [base64.b64encode(raw[:4]), base64.b64encode(raw[4:9]), base64.b64encode(raw[9:])]
    text = b"".join(pieces)
    assert b"=" in text[:-2]   # padding inside the body

    def gen():
        for i in range(0, len(text), 3):
            yield text[i:i + 3]
    r = post(web, "/w.v1.Echo/Unary", gen(), ct=TEXT + "+proto")
    assert r.headers["content-type"] == TEXT + "+proto"
    f = frames(b64_pieces(r.text))
    assert f == [(0, m), (0x80, b"grpc-status: 0\r\n")]


def test_server_streaming_text(web):
    m = msg(b"t")
    r = post(web, "/w.v1.Echo/Server", base64.b64encode(frame(m)), ct=TEXT, headers={"x-n": "3"})
    f = frames(b64_pieces(r.text))
    assert f == [(0, m)] * 3 + [(0x80, b"grpc-status: 0\r\n")]


# ---- malformed ---------------------------------------------------------------------------------

def status_of(r, text=False):
    body = b64_pieces(r.text) if text else r.content
    return trailers(frames(body)[-1][1])


def test_bad_base64_is_invalid_argument(web):
    r = post(web, "/w.v1.Echo/Unary", b"AAAA!!!!", ct=TEXT)
    t = status_of(r, text=True)
    assert t["grpc-status"] == "3" and "base64" in t["grpc-message"]
    assert web.wait_log("not base64")
    # a lone character at the end cannot be bytes
    t = status_of(post(web, "/w.v1.Echo/Unary", base64.b64encode(frame(b"")) + b"Q", ct=TEXT),
                  text=True)
    assert t["grpc-status"] == "3"


def test_truncated_frame(web):
    t = status_of(post(web, "/w.v1.Echo/Unary", frame(msg(b"hello"))[:-2]))
    assert t["grpc-status"] == "13" and "truncated" in t["grpc-message"]
    t = status_of(post(web, "/w.v1.Echo/Unary", b"\x00\x00"))
    assert t["grpc-status"] == "13"
    t = status_of(post(web, "/w.v1.Echo/Unary", base64.b64encode(frame(msg(b"hello"))[:-1]),
                       ct=TEXT), text=True)
    assert t["grpc-status"] == "13"


def test_length_past_the_limit(web):
    t = status_of(post(web, "/w.v1.Echo/Unary", b"\x00\x7f\xff\xff\xff"))
    assert t["grpc-status"] == "8"


def test_no_message(web):
    # over HTTP/2 (an empty HTTP/1.1 body on a stream_body route never
    # reaches the handler's body function: a core matter, see the report)
    h, data, _ = h2_post(web.port, "/w.v1.Echo/Unary", b"", BIN)
    assert trailers(frames(data)[-1][1])["grpc-status"] == "12"


def refused(r, code):
    """A 4xx of ours or of a filter: a 1.7 core tells a gRPC(-Web) client
    as Trailers-Only (200, grpc-status in the headers, no body)."""
    if r.status_code == 200:
        return r.headers["grpc-status"] == str(code) and r.content == b""
    return False


def test_unknown_flavour_is_refused(web):
    r = post(web, "/w.v1.Echo/Unary", b"{}", ct="application/grpc-web+json")
    assert r.status_code == 415 and b"grpc-web" in r.content or refused(r, 2), r.headers
    r = post(web, "/w.v1.Echo/Unary", b"{}", ct="application/grpc-webby")
    assert r.status_code == 415 or refused(r, 2)


def test_filters_of_the_service_run(web):
    r = post(web, "/w.v1.Locked/Unary", frame(msg(b"x")))
    assert r.status_code == 403 or refused(r, 7), (r.status_code, r.headers)


def test_daemon_survives_garbage(web):
    for body in (b"\xff" * 7, b"\x80\x00\x00\x00\x00", b"====", b"\x00" * 4):
        for ct in (BIN, TEXT):
            r = post(web, "/w.v1.Echo/Unary", body, ct=ct)
            assert r.status_code in (200, 415)
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"ok")))
    assert frames(r.content)[0] == (0, msg(b"ok"))


# ---- CORS ---------------------------------------------------------------------------------------

def test_cors_preflight_and_exposed_headers(web):
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type,x-grpc-web,x-user-agent"}
    r = requests.options(web.url + "/w.v1.Echo/Unary", headers=pre, timeout=5)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in r.headers["access-control-allow-methods"]
    r = post(web, "/w.v1.Echo/Unary", frame(msg(b"x")),
             headers={"Origin": "https://app.example", "x-echo": "v"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert "grpc-status" in r.headers["access-control-expose-headers"]
    assert frames(r.content)[0] == (0, msg(b"x"))


# ---- HTTP/2 ---------------------------------------------------------------------------------------

def h2_post(port, path, body, ct, extra=(), timeout=5.0):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    c = h2conn.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":path", path),
                         (":authority", "127.0.0.1"), ("content-type", ct),
                         ("x-grpc-web", "1")] + list(extra))
    c.send_data(sid, body, end_stream=True)
    s.sendall(c.data_to_send())
    headers, data, trailers_seen = {}, b"", None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            b = s.recv(65536)
            if not b:
                break
            done = False
            for ev in c.receive_data(b):
                if isinstance(ev, h2.events.ResponseReceived):
                    headers = dict(ev.headers)
                elif isinstance(ev, h2.events.TrailersReceived):
                    trailers_seen = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    data += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(c.data_to_send())
            if done:
                break
    finally:
        s.close()
    return headers, data, trailers_seen


def test_h2_binary_and_text(web):
    m = msg(b"over h2")
    h, data, tr = h2_post(web.port, "/w.v1.Echo/Unary", frame(m), BIN)
    assert h[":status"] == "200" and h["content-type"] == BIN
    assert data == frame(m) + frame(b"grpc-status: 0\r\n", 0x80)
    assert not tr   # gRPC-Web: no HTTP trailers, the status is in the body
    h, data, _ = h2_post(web.port, "/w.v1.Echo/Server", base64.b64encode(frame(m)), TEXT,
                         extra=[("x-n", "2")])
    assert h["content-type"] == TEXT
    assert frames(b64_pieces(data.decode())) == [(0, m), (0, m), (0x80, b"grpc-status: 0\r\n")]


def test_h2_error(web):
    h, data, _ = h2_post(web.port, "/w.v1.Echo/Unary", frame(msg(b"x")), BIN,
                         extra=[("x-mode", "nf")])
    assert trailers(frames(data)[-1][1])["grpc-status"] == "5"


# ---- the demo's browser page, its script run in Node -------------------------------------------

HAVE_PB = not os.path.exists(os.path.join(SRCDIR, "plugins", "grpc", "pbstub.c"))


@pytest.mark.skipif(not HAVE_PB, reason="the demo service needs the protobuf library")
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_demo_page_calls_the_service(portico, tmp_path):
    """conf/routes/grpc_web_demo.lua's page, its <script> run by Node with
    fake buttons and the real fetch: Create, Get, a NOT_FOUND, Watch (the
    order paid meanwhile through the transcoded MarkPaid); and
    the demo's REST routes from the contract's annotations."""
    rdir = tmp_path / "routes"
    rdir.mkdir()
    for f in ("orders_grpc.lua", "grpc_web_demo.lua"):
        shutil.copy(os.path.join(SRCDIR, "conf", "routes", f), rdir / f)
    proto = os.path.join(SRCDIR, "conf", "proto")
    d = portico(f'plugin "grpc" {{ protos = {{ "{proto}/orders.proto" }}, '
                f'import_paths = {{ "{proto}" }} }}\nroutes "{rdir}"\n', plugins_dir=PLUGINS)
    r = requests.get(d.url + "/grpc-web", timeout=5)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    out = subprocess.run(["node", os.path.join(SRCDIR, "tests", "integration", "node",
                                               "grpc_web_demo.mjs"), d.url,
                          str(rdir / "grpc_web_demo.lua")],
                         capture_output=True, timeout=30, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "Create:" and '"item":"book","quantity":2,"status":"PENDING"' in lines[1]
    assert lines[2] == "  grpc-status 0"
    assert lines[3] == "Get:" and '"id":"1"' in lines[4] and lines[5] == "  grpc-status 0"
    assert lines[6] == "Get:" and lines[7] == "  grpc-status 5 (no order 999)"
    assert lines[8] == "Watch:"
    events = [l for l in lines[9:] if "status" in l and "seq" in l]
    assert events == ['  {"id":"1","status":"PENDING","seq":1}',
                      '  {"id":"1","status":"PAID","seq":2}'], lines   # paid meanwhile
    assert lines[-1] == "  grpc-status 0"
    # the demo contract's google.api.http options: the same service over REST
    r = requests.post(d.url + "/rest/v1/orders", json={"item": "pen", "quantity": 3}, timeout=5)
    assert r.status_code == 200, r.text
    o = r.json()
    assert o["item"] == "pen" and o["quantity"] == 3 and o["status"] == "PENDING"
    assert requests.get(d.url + "/rest/v1/orders/" + o["id"], timeout=5).json()["item"] == "pen"
    r = requests.get(d.url + "/rest/v1/orders/999", timeout=5)
    assert r.status_code == 404 and r.json()["code"] == 5


# ---- the npm grpc-web client in Node ---------------------------------------------------------------

NPM_DIR = os.path.join(SRCDIR, "tests", "integration", "node", "grpc-web")


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("fmt", ["text", "binary"])
def test_npm_grpc_web_client(web, fmt):
    """grpc-web's GrpcWebClientBase (what protoc-gen-grpc-web stubs call):
    unary, server streaming, an error with its message, metadata."""
    if not os.path.isdir(os.path.join(NPM_DIR, "node_modules", "grpc-web")):
        pytest.skip("npm packages missing: run `npm ci --prefix tests/integration/node/grpc-web`")
    m = msg(b"from npm").hex()
    out = subprocess.run(["node", os.path.join(NPM_DIR, "client.mjs"), web.url, fmt,
                          f"unary:/w.v1.Echo/Unary:{m}:x-echo=hey",
                          f"stream:/w.v1.Echo/Server:{m}:x-n=3",
                          f"unary:/w.v1.Echo/Unary:{m}:x-mode=nf",
                          f"unary:/w.v1.Echo/Missing:{m}"],
                         capture_output=True, timeout=30, text=True)
    assert out.returncode == 0, out.stderr
    r = [json.loads(line) for line in out.stdout.splitlines()]
    assert r[0]["code"] == 0 and r[0]["messages"] == [m]
    assert r[0]["metadata"]["x-echo"] == "hey"
    assert r[1]["code"] == 0 and r[1]["messages"] == [m] * 3
    assert r[2]["code"] == 5 and r[2]["details"] == "no such thing: caf\u00e9"
    assert r[3]["code"] == 12
