"""The Lua runtime end to end: route scripts, coroutines that wait, sandbox,
limits, filters, shared state, hot reload."""
import asyncio
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BIN


def scripts(tmp_path, **files):
    d = tmp_path / "routes"
    d.mkdir(exist_ok=True)
    for name, text in files.items():
        (d / (name + ".lua")).write_text(text)
    return d


def lua_daemon(portico, tmp_path, extra="", workers=1, **files):
    d = scripts(tmp_path, **files)
    return portico(f'routes "{d}"\n{extra}', workers=workers)


BASIC = r'''
route.get("/users/:id", function(req)
  return { id = tonumber(req.params.id), name = "ada", q = req.query.q,
           ua = req.headers["X-Test"], method = req.method, path = req.path }
end)
route.post("/echo", function(req)
  local body, err = req:json()
  if not body then return 400, { error = err } end
  return 201, body
end)
route.put("/raw", function(req) return 200, req.body, { ["content-type"] = "application/octet-stream" } end)
route.get("/text", function() return "hi" end)
route.get("/status", function() return 418, "teapot", { ["x-extra"] = "1" } end)
route.get("/empty", function() end)
route.get("/stream", function(req, res)
  res:header("content-type", "text/plain")
  for i = 1, 5 do res:write("line " .. i .. "\n") end
  res:finish()
end)
route.get("/files/*rest", function(req) return { rest = req.params.rest } end)
route.get("/arr", function() return json.array({}) end)
route.get("/null", function() return { v = json.null } end)
route.any("/any", function(req) return { m = req.method } end)
route.get("/boom", function() local t = nil; return t.field end)
route.get("/id", function(req) return { id = req.id, remote = req.remote_addr } end)
'''


def test_params_query_headers_json(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    r = requests.get(d.url + "/users/42?q=a%20b", headers={"x-test": "yes"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"id": 42, "name": "ada", "q": "a b", "ua": "yes", "method": "GET",
                        "path": "/users/42"}


def test_json_round_trip_and_bad_json(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    doc = {"a": [1, 2.5, "x", None, True, {}], "b": {"c": []}, "u": "\u00e9\u4e2d"}
    r = requests.post(d.url + "/echo", json=doc, timeout=5)
    assert r.status_code == 201 and r.json() == doc
    r = requests.post(d.url + "/echo", data=b"{bad", timeout=5)
    assert r.status_code == 400 and "json" in r.json()["error"]


def test_body_bytes_and_return_forms(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    blob = bytes(range(256)) * 100
    r = requests.put(d.url + "/raw", data=blob, timeout=5)
    assert r.content == blob and r.headers["content-type"] == "application/octet-stream"
    r = requests.get(d.url + "/text", timeout=5)
    assert r.text == "hi" and r.headers["content-type"].startswith("text/plain")
    r = requests.get(d.url + "/status", timeout=5)
    assert (r.status_code, r.text, r.headers["x-extra"]) == (418, "teapot", "1")
    assert requests.get(d.url + "/empty", timeout=5).status_code == 204
    assert requests.get(d.url + "/arr", timeout=5).text == "[]"
    assert requests.get(d.url + "/null", timeout=5).json() == {"v": None}
    assert requests.get(d.url + "/files/a/b/c", timeout=5).json() == {"rest": "a/b/c"}
    assert requests.delete(d.url + "/any", timeout=5).json() == {"m": "DELETE"}
    r = requests.get(d.url + "/id", timeout=5).json()
    assert r["id"] and r["remote"].startswith("127.0.0.1:")


def test_streaming_is_chunked(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    r = requests.get(d.url + "/stream", timeout=5)
    assert r.headers.get("transfer-encoding") == "chunked"
    assert r.text == "".join(f"line {i}\n" for i in range(1, 6))


SLOW_STREAM = r'''
route.get("/slow", function(req, res)
  res:header("content-type", "text/plain")
  res:write("first\n")
  sleep(3)
  res:write("second\n")
end)
'''


def access_lines(log):
    return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []


def wait_access(log, path, timeout):
    """The access log line for PATH once it is written, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ln in access_lines(log):
            if ln["path"] == path:
                return ln
        time.sleep(0.02)
    return None


def open_slow_stream(port, extra=b""):
    """A raw HTTP/1.1 request for /slow, read until its first line arrived."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" + extra)
    got = b""
    while b"first" not in got:
        b = s.recv(4096)
        assert b, got
        got += b
    return s


@pytest.mark.parametrize("how", ["close", "half-close", "close-after-pipelining",
                                 "close-past-the-input-limit"])
def test_client_leaving_mid_stream_is_noticed_at_once(portico, tmp_path, how):
    # the handler writes again only after 3 s: the exchange must end (499 in
    # the access log) when the client goes, not when that write fails
    log = tmp_path / "access.log"
    d = lua_daemon(portico, tmp_path, extra=f'access_log = {{ file = "{log}", format = "json" }}',
                   slow=SLOW_STREAM)
    pipelined = b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n" * {
        "close-after-pipelining": 1,
        # more than the input limit (~104 KiB): reading stops, the FIN is
        # still seen (EV_CLOSED). Not much more: what the daemon's socket
        # buffer cannot take holds the FIN back in the client's kernel
        "close-past-the-input-limit": 3500}.get(how, 0)
    s = open_slow_stream(d.port, pipelined)
    t0 = time.monotonic()
    if how == "half-close":
        s.shutdown(socket.SHUT_WR)   # EOF aborts too (as nginx): see doc/architecture.md
    else:
        s.close()
    line = wait_access(log, "/slow", 2)
    assert line is not None, "the exchange did not end when the client left"
    assert line["status"] == 499
    assert time.monotonic() - t0 < 1.5
    assert d.wait_log("the client closed the connection before its answer was complete")
    if how == "half-close":
        s.settimeout(2)
        assert s.recv(4096) == b""   # the connection is closed, the stream not ended
        s.close()
    time.sleep(0.2)
    assert len(access_lines(log)) == 1   # the pipelined request never ran
    assert requests.get(d.url + "/slow", timeout=10, stream=True).status_code == 200


def test_handler_waiting_when_its_client_left_stops_at_once(portico, tmp_path):
    """The client leaves while the handler sleeps: the handler ends then, in
    one info line, and is never resumed (no write, no script error when the
    sleep is over); the worker serves the next request as before."""
    d = lua_daemon(portico, tmp_path, slow=SLOW_STREAM)
    s = open_slow_stream(d.port)
    t0 = time.monotonic()
    s.close()
    assert d.wait_log("stopped while it waited: the client went away", 2)
    assert time.monotonic() - t0 < 1.5
    line = next(ln for ln in d.log().splitlines() if "stopped while it waited" in ln)
    assert "[info]" in line and "handler of GET /slow" in line
    time.sleep(3.2)   # the sleep is over: the coroutine is let go, not resumed
    log = d.log()
    assert "res:write" not in log and "stack traceback" not in log and "[error]" not in log
    r = requests.get(d.url + "/slow", timeout=10)
    assert r.status_code == 200 and r.text == "first\nsecond\n"


def test_handler_abandoned_in_http_request_drops_the_call(portico, tmp_path):
    """The client leaves while the handler waits on http.request to an upstream
    that never answers: the call is dropped then (the upstream sees its
    connection close), not at its 10 s timeout."""
    up = socket.socket()
    up.bind(("127.0.0.1", 0))
    up.listen(4)
    port = up.getsockname()[1]
    d = lua_daemon(portico, tmp_path, far=f'''
route.get("/slow", function(req, res)
  res:write("first\\n")
  local r, err = http.request{{ url = "http://127.0.0.1:{port}/never", timeout = 10 }}
  res:write(r and r.body or err)
end)
''')
    s = open_slow_stream(d.port)
    up.settimeout(5)
    conn, _ = up.accept()
    conn.settimeout(5)
    assert b"GET /never" in conn.recv(4096)
    t0 = time.monotonic()
    s.close()
    assert conn.recv(4096) == b""        # the daemon closed the upstream connection
    assert time.monotonic() - t0 < 1.5
    assert d.wait_log("stopped while it waited: the client went away", 2)
    conn.close()
    up.close()


def test_answer_complete_before_the_client_left_is_logged_normally(portico, tmp_path):
    log = tmp_path / "access.log"
    d = lua_daemon(portico, tmp_path, extra=f'access_log = {{ file = "{log}", format = "json" }}',
                   basic=BASIC)
    # request and close at once: the answer is made before the EOF is read
    s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    s.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    s.close()
    line = wait_access(log, "/stream", 3)
    assert line is not None and line["status"] == 200
    # a stream read to its end, then closed
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"GET /stream?2 HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"0\r\n\r\n"):
            b = s.recv(4096)
            assert b, got
            got += b
    time.sleep(0.3)
    assert [ln["status"] for ln in access_lines(log)] == [200, 200]


def test_same_routes_over_h2c(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-H", "x-test: h2",
                          d.url + "/users/7?q=z"], capture_output=True, text=True, timeout=10)
    assert json.loads(out.stdout)["ua"] == "h2"
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", d.url + "/stream"],
                         capture_output=True, text=True, timeout=10)
    assert out.stdout.count("line") == 5
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--data-binary",
                          '{"k":[1]}', d.url + "/echo"], capture_output=True, text=True,
                         timeout=10)
    assert json.loads(out.stdout) == {"k": [1]}


def test_script_error_is_500_with_traceback_in_log(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, basic=BASIC)
    r = requests.get(d.url + "/boom", timeout=5)
    assert r.status_code == 500
    assert "basic.lua" not in r.text and "field" not in r.text
    assert d.wait_log("attempt to index a nil value")
    assert re.search(r"basic\.lua:\d+: attempt to index a nil value", d.log())
    assert "stack traceback" in d.log()
    assert requests.get(d.url + "/text", timeout=5).text == "hi"


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hits = 0

    def do_GET(self):
        Upstream.hits += 1
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        body = json.dumps({"path": self.path, "hdr": self.headers.get("x-from")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def upstream():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_outbound_http_request_yields(portico, tmp_path, upstream):
    d = lua_daemon(portico, tmp_path, up=r'''
route.get("/proxy/*rest", function(req)
  local res, err = http.request{ url = "http://127.0.0.1:%d/" .. req.params.rest,
                                 headers = { ["x-from"] = "portico" }, timeout = 5 }
  if not res then return 502, { error = err } end
  return res.status, json.decode(res.body)
end)
route.get("/fast", function() return "fast" end)
route.get("/down", function()
  local res, err = http.request{ url = "http://127.0.0.1:1/", timeout = 2 }
  return { res = res, err = err }
end)
''' % upstream)
    assert requests.get(d.url + "/proxy/a/b", timeout=5).json() == {"path": "/a/b",
                                                                     "hdr": "portico"}
    # a slow upstream call does not delay another request on the same worker
    result = {}

    def slow():
        result["slow"] = requests.get(d.url + "/proxy/slow", timeout=5).status_code
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.1)
    t0 = time.monotonic()
    assert requests.get(d.url + "/fast", timeout=5).text == "fast"
    assert time.monotonic() - t0 < 0.3
    t.join()
    assert result["slow"] == 200
    down = requests.get(d.url + "/down", timeout=5).json()
    assert "res" not in down and down["err"]


def test_thousand_sleeping_requests_complete_together(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, s='route.get("/sleep", function() sleep(1); return "ok" end)')

    async def one():
        r, w = await asyncio.open_connection("127.0.0.1", d.port)
        w.write(b"GET /sleep HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await w.drain()
        data = await r.read()
        w.close()
        return data

    async def many():
        return await asyncio.gather(*(one() for _ in range(1000)))

    t0 = time.monotonic()
    out = asyncio.run(asyncio.wait_for(many(), 30))
    elapsed = time.monotonic() - t0
    assert all(o.startswith(b"HTTP/1.1 200") and o.endswith(b"ok") for o in out)
    assert elapsed < 6, elapsed      # 1000 x 1 s of sleep, together


SANDBOX = r'''
route.get("/probe", function()
  local r = {}
  r.os_execute = tostring(os.execute)
  r.io = tostring(io)
  r.debug = tostring(debug)
  r.package = tostring(package)
  r.dofile = tostring(dofile)
  r.loadfile = tostring(loadfile)
  r.dump = tostring(string.dump)
  local f, err = load("\27Lua\84\0")
  r.bytecode = f == nil and "refused" or "loaded"
  r.require_os = select(2, pcall(require, "os")) and "error" or "?"
  local ok = pcall(require, "../../etc/passwd")
  r.require_escape = ok and "loaded" or "refused"
  r.getenv = tostring(os.getenv)
  r.time = type(os.time())
  return r
end)
route.get("/loop", function() while true do end end)
route.get("/bomb", function()
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
end)
route.get("/ok", function() return "alive" end)
'''


def test_sandbox_refuses_escapes(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, sb=SANDBOX)
    r = requests.get(d.url + "/probe", timeout=5).json()
    for k in ("os_execute", "io", "debug", "package", "dofile", "loadfile", "dump", "getenv"):
        assert r[k] == "nil", k
    assert r["bytecode"] == "refused"
    assert r["require_escape"] == "refused"
    assert r["time"] == "number"


def test_runaway_loop_and_memory_bomb_are_contained(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, sb=SANDBOX,
                   extra="lua = { max_instructions = 2000000, max_memory = 33554432 }")
    t0 = time.monotonic()
    r = requests.get(d.url + "/loop", timeout=10)
    assert r.status_code == 500 and time.monotonic() - t0 < 5
    assert d.wait_log("instruction budget exceeded")
    assert re.search(r"sb\.lua:\d+", d.log())
    r = requests.get(d.url + "/bomb", timeout=20)
    assert r.status_code == 500
    assert d.wait_log("not enough memory")
    for _ in range(3):
        assert requests.get(d.url + "/ok", timeout=5).text == "alive"
    assert d.proc.poll() is None


FILTERS = r'''
filter("key", function(req, res, opts)
  if req.headers["x-api-key"] ~= opts then
    return 401, { error = "bad key" }
  end
  req.consumer = { name = "alice" }
end)
filter("slow_ok", function(req) sleep(0.05) end)
use("slow_ok")
route.get("/private", function(req) return { who = req.consumer.name } end, { key = "s3cret" })
route.get("/public", function() return "open" end)
'''


def test_filters_short_circuit_and_pass_data(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, f=FILTERS)
    r = requests.get(d.url + "/private", timeout=5)
    assert r.status_code == 401 and r.json() == {"error": "bad key"}
    r = requests.get(d.url + "/private", headers={"x-api-key": "s3cret"}, timeout=5)
    assert r.json() == {"who": "alice"}
    assert requests.get(d.url + "/public", timeout=5).text == "open"


def test_use_of_unknown_filter_is_refused(portico, tmp_path):
    d = scripts(tmp_path, u='use("nope")\nroute.get("/x", function() return 1 end)')
    dd = portico(f'routes "{d}"', start=False)
    out = subprocess.run([BIN, "-t", "-c", dd.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1 and 'use("nope"): no filter' in out.stderr


def test_shared_dict_across_workers(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, workers=2, c='''
route.get("/incr", function() return { n = shared.incr("hits", 1, 0) } end)
route.get("/set", function(req) shared.set("k", req.query.v, 60); return "ok" end)
route.get("/get", function() return { v = shared.get("k") } end)
''')
    seen = set()
    for _ in range(50):
        with requests.get(d.url + "/incr", headers={"connection": "close"}, timeout=5) as r:
            seen.add(r.json()["n"])
    assert seen == set(range(1, 51))
    requests.get(d.url + "/set?v=hello", timeout=5)
    assert requests.get(d.url + "/get", timeout=5).json() == {"v": "hello"}


def test_check_flag_reports_script_error_with_line(portico, tmp_path):
    d = scripts(tmp_path, bad='route.get("/x", function()\n  return 1 +\nend)\n')
    dd = portico(f'routes "{d}"', start=False)
    out = subprocess.run([BIN, "-t", "-c", dd.conf_path], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    assert "bad.lua:3:" in out.stderr


def test_broken_reload_keeps_old_routes(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, r='route.get("/v", function() return "one" end)')
    (tmp_path / "routes" / "r.lua").write_text('route.get("/v", function() return "two" end\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused")
    assert "r.lua:" in d.log()
    assert requests.get(d.url + "/v", timeout=5).text == "one"
    (tmp_path / "routes" / "r.lua").write_text('route.get("/v", function() return "two" end)\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("is live")
    deadline = time.monotonic() + 5
    while requests.get(d.url + "/v", timeout=5).text != "two" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert requests.get(d.url + "/v", timeout=5).text == "two"


def test_reload_under_load_drops_nothing(portico, tmp_path):
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install wrk)")
    d = lua_daemon(portico, tmp_path, workers=2,
                   r='route.get("/v", function() return "one" end)')
    wrk = subprocess.Popen(["wrk", "-t1", "-c20", "-d3s", d.url + "/v"],
                           stdout=subprocess.PIPE, text=True)
    for i in range(5):
        time.sleep(0.4)
        (tmp_path / "routes" / "r.lua").write_text(
            'route.get("/v", function() return "v%d" end)\n' % i)
        d.signal(signal.SIGHUP)
    out, _ = wrk.communicate(timeout=30)
    assert "Non-2xx" not in out, out
    assert "Socket errors" not in out, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 100
    assert d.log().count("is live") >= 5


def test_plugin_lua_module_waits_without_blocking(portico, tmp_path):
    from test_daemon import fixture_plugins
    plugins = fixture_plugins(tmp_path, "luamod")
    d = scripts(tmp_path, p='''
local luamod = require("luamod")
route.get("/later", function(req) return { v = luamod.later(300, tonumber(req.query.v)) } end)
route.get("/now", function() return "now" end)
''')
    dd = portico(f'routes "{d}"', plugins_dir=plugins)
    out = {}
    t = threading.Thread(target=lambda: out.update(r=requests.get(dd.url + "/later?v=7",
                                                                  timeout=5).json()))
    t0 = time.monotonic()
    t.start()
    time.sleep(0.05)
    assert requests.get(dd.url + "/now", timeout=5).text == "now"
    assert time.monotonic() - t0 < 0.25
    t.join()
    assert out["r"] == {"v": 7}


def test_graceful_stop_finishes_sleeping_request(portico, tmp_path):
    d = lua_daemon(portico, tmp_path, s='route.get("/sleep", function() sleep(1); return "done" end)')
    out = {}
    t = threading.Thread(target=lambda: out.update(r=requests.get(d.url + "/sleep", timeout=10)))
    t.start()
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    t.join()
    assert out["r"].status_code == 200 and out["r"].text == "done"
    assert out["r"].headers.get("connection") == "close"
    assert d.proc.wait(10) == 0


def test_outbound_h2_request_to_itself(portico, tmp_path):
    d = scripts(tmp_path, h='''
route.get("/target", function(req) return { via = req.headers["x-via"] } end)
route.get("/call", function(req)
  local res, err = http.request{ url = "http://127.0.0.1:" .. req.query.port .. "/target",
                                 headers = { ["x-via"] = "h2" }, h2 = true, timeout = 5 }
  if not res then return 502, { error = err } end
  return { status = res.status, version = res.version, body = json.decode(res.body) }
end)
''')
    dd = portico(f'routes "{d}"', workers=2)
    r = requests.get(dd.url + "/call?port=%d" % dd.port, timeout=10).json()
    assert r == {"status": 200, "version": 20, "body": {"via": "h2"}}
