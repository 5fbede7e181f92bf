"""res:write in a Lua route against a client that does not read: the
handler waits once 256 KiB are queued (and goes on under 64 KiB), so the
daemon's memory stays bounded; the client reading gets every byte; a client
that leaves, or stops reading past http.write_timeout, ends the handler."""
import os
import socket
import time

import requests

from test_abi17 import rss_kb

ROUTES = r'''
local CHUNK = string.rep("0123456789abcdef", 4096)   -- 64 KiB
route.get("/stream", function(req, res)
  local n = tonumber(req.query.n) or 400
  res:status(200)
  res:header("content-type", "application/octet-stream")
  for i = 1, n do res:write(CHUNK) end
  shared.set("stream_done", "yes")
end)
route.get("/chained", function(req, res)
  res:status(200)
  for i = 1, 20 do res:write(CHUNK):write("x") end
end)
route.get("/nowait", function(req, res)
  -- where res:write cannot wait: a coroutine the script made, a C callback
  res:status(200)
  local w = coroutine.wrap(function() for i = 1, 8 do res:write(CHUNK) end end)
  w()
  local t = { 3, 1, 2 }
  table.sort(t, function(a, b) res:write(CHUNK) return a < b end)
  res:write("end")
end)
route.get("/done", function() return shared.get("stream_done") or "no" end)
route.get("/ok", function() return "alive" end)
'''


# under AddressSanitizer freed memory sits in its quarantine: RSS says
# nothing about what the daemon holds (the bound is checked in the plain run)
SANITIZED = "ASAN_OPTIONS" in os.environ


def daemon(portico, tmp_path, extra=""):
    rd = tmp_path / "routes"
    rd.mkdir(exist_ok=True)
    (rd / "s.lua").write_text(ROUTES)
    return portico(f'routes "{rd}"\n{extra}')


def test_a_stalled_reader_holds_a_bounded_buffer_then_gets_everything(portico, tmp_path):
    d = daemon(portico, tmp_path)
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"
    base = rss_kb(d.proc.pid)
    s = socket.create_connection(("127.0.0.1", d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /stream?n=400 HTTP/1.1\r\nHost: x\r\n\r\n")   # 25 MiB
    time.sleep(1.5)   # the client reads nothing meanwhile
    grown = rss_kb(d.proc.pid) - base
    assert SANITIZED or grown < 8 * 1024, f"RSS grew {grown} KiB while the client read nothing"
    # the worker is not blocked by the waiting handler
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"
    assert requests.get(d.url + "/done", timeout=5).text == "no"
    got = 0
    s.settimeout(20)
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(65536)
    hdr, rest = head.split(b"\r\n\r\n", 1)
    got = len(rest)
    chunked = b"chunked" in hdr.lower()
    data = [rest]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        b = s.recv(1 << 20)
        if not b:
            break
        data.append(b)
        got += len(b)
        if chunked and b"".join(data[-2:]).endswith(b"0\r\n\r\n"):
            break
        if not chunked and got >= 400 * 65536:
            break
    s.close()
    body = b"".join(data)
    if chunked:
        assert body.count(b"0123456789abcdef") == 400 * 4096
    else:
        assert len(body) == 400 * 65536
    deadline = time.monotonic() + 5
    while requests.get(d.url + "/done", timeout=5).text != "yes" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests.get(d.url + "/done", timeout=5).text == "yes"


def test_chained_writes_still_return_res(portico, tmp_path):
    d = daemon(portico, tmp_path)
    r = requests.get(d.url + "/chained", timeout=20)
    assert r.status_code == 200 and len(r.content) == 20 * (65536 + 1)


def test_writes_that_cannot_wait_queue_without_an_error(portico, tmp_path):
    """res:write from a script's coroutine or a table.sort comparator, past
    256 KiB queued: no "yield across a C-call boundary", the whole body."""
    d = daemon(portico, tmp_path)
    r = requests.get(d.url + "/nowait", timeout=20)
    assert r.status_code == 200
    assert r.content.endswith(b"end") and len(r.content) >= 10 * 65536 + 3
    assert "yield" not in d.log()
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"


def test_a_reader_that_leaves_ends_the_waiting_handler(portico, tmp_path):
    d = daemon(portico, tmp_path)
    s = socket.create_connection(("127.0.0.1", d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /stream?n=4000 HTTP/1.1\r\nHost: x\r\n\r\n")   # 250 MiB, never read
    time.sleep(0.8)
    s.close()
    assert d.wait_log("stopped while it waited", timeout=10), d.log()[-2000:]
    assert requests.get(d.url + "/done", timeout=5).text == "no"   # never ran on
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"


def test_write_timeout_ends_a_handler_whose_client_stopped_reading(portico, tmp_path):
    d = daemon(portico, tmp_path, extra="http = { write_timeout = 1 }")
    s = socket.create_connection(("127.0.0.1", d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /stream?n=4000 HTTP/1.1\r\nHost: x\r\n\r\n")
    base = rss_kb(d.proc.pid)
    assert d.wait_log("stopped while it waited", timeout=15), d.log()[-2000:]
    assert SANITIZED or rss_kb(d.proc.pid) - base < 8 * 1024
    s.close()
    assert requests.get(d.url + "/done", timeout=5).text == "no"
    assert requests.get(d.url + "/ok", timeout=5).text == "alive"
