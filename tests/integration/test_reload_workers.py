"""Reload covers `workers` (issue 16 item 5): a reload that changes the
worker count starts new worker threads on the new generation or retires the
surplus ones (they hand their listening sockets over, finish what they run
and end) without failing a request: wrk (HTTP/1.1 keep-alive) and h2load
(HTTP/2) run while the count goes 2 -> 4 -> 1 -> 3 and round again; /status
shows the count; /metrics counters never go down; a WebSocket held by a
retired worker is closed cleanly (1001); hostile values are refused with
the running generation kept and the reason in POST /reload's answer."""
import asyncio
import os
import re
import shutil
import signal
import subprocess
import time

import pytest
import requests

from conftest import BUILDDIR, free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

ROUTES_LUA = r"""
route.get("/lua", function(req) return "l" end)
route.get("/spin", function(req)
  local n = 0
  for i = 1, 20000 do n = n + i end
  return tostring(n)
end)
"""


def start(portico, tmp_path, workers=2, extra="", plugins_dir=None, routes=ROUTES_LUA,
          **kw):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "10r.lua").write_text(routes)
    aport = free_port()
    body = ('shutdown_timeout = 5\n'
            'route { method = "GET", path = "/x", handler = "static", body = "x" }\n'
            f'routes "{rdir}"\n' + admin_block(aport) + extra)
    d = portico(body, start=False, workers=workers, plugins_dir=plugins_dir, **kw)
    d.admin = f"http://127.0.0.1:{aport}"
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    return d


def status(d):
    return requests.get(d.admin + "/status", headers=AUTH, timeout=5).json()


def set_workers(d, n, how="post"):
    """Rewrites `workers = N` and reloads; returns POST /reload's answer (or
    None for SIGHUP, then waits for the generation)."""
    d.text = re.sub(r"(?m)^workers = .*$", "workers = %s" % n, d.text)
    d.write(d.text)
    if how == "post":
        return requests.post(d.admin + "/reload", headers=AUTH, timeout=15)
    g = status(d)["generation"]
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and status(d)["generation"] == g:
        time.sleep(0.05)
    return None


def counters(d):
    ms = parse_metrics(requests.get(d.admin + "/metrics", headers=AUTH, timeout=5).text)
    return {k: v for k, v in ms.items()
            if k[0].endswith("_total") or k[0].endswith("_count") or k[0].endswith("_bucket")}


def assert_monotonic(before, after):
    for k, v in before.items():
        assert k in after, "a counter vanished: %r" % (k,)
        assert after[k] >= v, "a counter went down: %r %s -> %s" % (k, v, after[k])


def wait_retired(d, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if status(d)["workers_retiring"] == 0:
            return True
        time.sleep(0.05)
    return False


def test_workers_change_under_wrk_fails_nothing(portico, tmp_path):
    """The measure: 20 reloads going 2 -> 4 -> 1 -> 3 -> 2 ... under wrk,
    every other one by SIGHUP, zero non-2xx and zero socket errors."""
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install wrk)")
    d = start(portico, tmp_path, workers=2)
    assert status(d)["workers"] == 2
    assert status(d)["max_workers"] >= 64
    wrk = subprocess.Popen(["wrk", "-t2", "-c16", "-d14s", d.url + "/x"],
                           stdout=subprocess.PIPE, text=True)
    seq = [4, 1, 3, 2] * 5
    seen = counters(d)
    try:
        for i, n in enumerate(seq):
            time.sleep(0.3)
            r = set_workers(d, n, "post" if i % 2 == 0 else "sighup")
            if r is not None:
                assert r.status_code == 200, r.text
            st = status(d)
            assert st["workers"] == n, st
            assert requests.get(d.url + "/lua", timeout=5).text == "l"
            now = counters(d)
            assert_monotonic(seen, now)
            seen = now
            # the slots of retired workers come back once they ended: let the
            # shrinks finish before the next growth needs them
            assert wait_retired(d), d.log()[-3000:]
        out, _ = wrk.communicate(timeout=60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    assert "Non-2xx" not in out, out
    assert "Socket errors" not in out, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 1000, out
    log = d.log()
    assert log.count("is live") >= 20
    assert "worker 3 retired" in log and "worker 1 starts" in log, log[-3000:]
    assert "stuck" not in log
    # every request of wrk is counted: nothing lost with a retired worker
    total = sum(v for (n, _), v in counters(d).items() if n == "portico_http_requests_total")
    assert total >= int(re.search(r"(\d+) requests in", out).group(1))


def test_workers_change_under_h2load(portico, tmp_path):
    """HTTP/2 (prior knowledge): a retiring worker sends a shutdown notice
    (GOAWAY naming the last stream id possible), then the real GOAWAY, and
    finishes its streams. h2load counts as "failed" the requests it tries
    to submit on a connection after a GOAWAY (nghttp2 refuses to open the
    stream: they never leave h2load; RFC 9113 6.8 has a client open a new
    connection for them, as h2load then does). The measure is therefore:
    no answer but 2xx, none timed out, every answer h2load got counted by
    the daemon, and the few refused submissions stay within the streams
    the retired connections can have in flight. (-D ends with up to
    conns x streams requests in flight that h2load no longer counts.)"""
    if not shutil.which("h2load"):
        pytest.skip("h2load is not installed (apt-get install nghttp2-client)")
    port = free_port()
    d = start(portico, tmp_path, workers=2,
              extra_listen='listen { address = "127.0.0.1", port = %d, http2 = true }' % port)
    assert wait_port(port)
    conns, streams = 8, 4
    h2 = subprocess.Popen(["h2load", "-D", "6", "-c%d" % conns, "-m%d" % streams, "-t1",
                           "http://127.0.0.1:%d/x" % port],
                          stdout=subprocess.PIPE, text=True)
    shrinks = 0
    try:
        prev = 2
        for n in (4, 1, 3, 2):
            time.sleep(0.5)
            r = set_workers(d, n)
            assert r.status_code == 200, r.text
            assert status(d)["workers"] == n
            assert wait_retired(d), d.log()[-3000:]
            shrinks += n < prev
            prev = n
        out, _ = h2.communicate(timeout=60)
    finally:
        if h2.poll() is None:
            h2.kill()
            h2.wait()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    assert m, out
    ok, failed, timeouts = int(m.group(4)), int(m.group(5)), int(m.group(7))
    assert ok > 500 and timeouts == 0, out
    assert re.search(r"status codes: \d+ 2xx, 0 3xx, 0 4xx, 0 5xx", out), out
    assert failed <= shrinks * conns * streams, out
    served = sum(v for (n, lab), v in parse_metrics(
        requests.get(d.admin + "/metrics", headers=AUTH, timeout=5).text).items()
        if n == "portico_http_requests_total" and ("protocol", "h2") in lab)
    assert ok <= served <= ok + failed + conns * streams, (served, out)


@pytest.mark.parametrize("value", ["0", "-1", "100000", '"x"', "2.5", "65"])
def test_hostile_workers_values_refused(portico, tmp_path, value):
    d = start(portico, tmp_path, workers=2, extra="max_workers = 64\n")
    g = status(d)["generation"]
    r = set_workers(d, value)
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "workers" in err and "portico.conf:" in err, err
    st = status(d)
    assert st["generation"] == g and st["workers"] == 2, st
    assert requests.get(d.url + "/x", timeout=5).text == "x"
    assert "reload refused" in d.log()
    # and the right value applies afterwards
    assert set_workers(d, 3).status_code == 200
    assert status(d)["workers"] == 3


def lua_by_worker(d):
    ms = parse_metrics(requests.get(d.admin + "/metrics", headers=AUTH, timeout=5).text)
    return {dict(lab)["worker"]: v for (n, lab), v in ms.items()
            if n == "portico_lua_instructions_total"}


def test_new_workers_take_over_handed_sockets(portico, tmp_path):
    """After 2 -> 4 -> 1 -> 3, worker 0 holds the sockets the retired
    workers handed it; the new workers take those over (no fresh socket, so
    the kernel's spread stays even) and each accepts connections (a
    budget under 5,000,000 counts every run, /spin's too)."""
    d = start(portico, tmp_path, workers=2, extra="lua = { max_instructions = 2000000 }\n")
    for n in (4, 1):
        assert set_workers(d, n).status_code == 200
        assert wait_retired(d)
    deadline = time.monotonic() + 10
    while (r := set_workers(d, 3)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    time.sleep(0.3)
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        assert len(re.findall(r":%d\s" % d.port, out)) == 4, out   # 2 + 2, none added
    before = lua_by_worker(d)
    for _ in range(90):
        # a new connection each: the kernel spreads them over the sockets
        assert requests.get(d.url + "/spin", timeout=5,
                            headers={"Connection": "close"}).text == str(20000 * 20001 // 2)
    after = lua_by_worker(d)
    for w in ("0", "1", "2"):
        assert after.get(w, 0) > before.get(w, 0), (w, before, after)
    assert after.get("3", 0) == before.get("3", 0)   # retired: its count stays, no more


def test_max_workers_bounds_growth(portico, tmp_path):
    d = start(portico, tmp_path, workers=1, extra="max_workers = 3\n")
    assert status(d)["max_workers"] == 3
    assert set_workers(d, 3).status_code == 200
    r = set_workers(d, 4)
    assert r.status_code == 422 and "max_workers = 3" in r.json()["error"], r.text
    assert status(d)["workers"] == 3
    # shrink, then grow at once: the retired slots come back once their
    # workers ended and no generation they ran is in use any more
    assert set_workers(d, 1).status_code == 200
    assert wait_retired(d)
    deadline = time.monotonic() + 10
    while True:
        r = set_workers(d, 3)
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        assert "try again" in r.json()["error"], r.text
        time.sleep(0.2)
    assert r.status_code == 200, r.text
    assert status(d)["workers"] == 3
    for _ in range(20):
        assert requests.get(d.url + "/lua", timeout=5).text == "l"
    # a config whose workers exceed max_workers does not start
    bad = subprocess.run([os.environ.get("PORTICO_BIN", os.path.join(BUILDDIR, "core",
                                                                      "portico")),
                          "-t", "-c", d.conf_path], capture_output=True, text=True, timeout=20)
    assert bad.returncode == 0, bad.stdout + bad.stderr
    d.write(re.sub(r"(?m)^workers = 3$", "workers = 5", d.text))
    bad = subprocess.run([os.environ.get("PORTICO_BIN", os.path.join(BUILDDIR, "core",
                                                                      "portico")),
                          "-t", "-c", d.conf_path], capture_output=True, text=True, timeout=20)
    assert bad.returncode == 1 and "above max_workers = 3" in bad.stderr, bad.stderr


websockets = pytest.importorskip("websockets", reason="python3-websockets is not installed")
import websockets.exceptions  # noqa: E402


WS_ROUTES = r"""
websocket.endpoint("/ws/echo", {
  on_message = function(conn, msg, binary) conn:send(msg, binary) end,
})
route.get("/lua", function(req) return "l" end)
"""


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "websocket.so")),
                    reason="plugins/websocket is not built")
def test_websocket_on_a_retired_worker_is_closed_cleanly(portico, tmp_path):
    """A WebSocket held by a retired worker gets a close frame 1001 (going
    away) at once, as at shutdown; those on the workers that stay go on. A
    worker started by a reload serves WebSockets and the hub."""
    d = start(portico, tmp_path, workers=3, plugins_dir=PLUGINS, routes=WS_ROUTES,
              extra='plugin "websocket" {}\n')
    url = f"ws://127.0.0.1:{d.port}/ws/echo"

    async def scenario():
        conns = [await websockets.connect(url) for _ in range(16)]
        for c in conns:
            await c.send("hi")
            assert await c.recv() == "hi"
        r = await asyncio.get_running_loop().run_in_executor(None, set_workers, d, 1)
        assert r.status_code == 200, r.text
        closed, alive = [], 0
        for c in conns:
            try:
                await c.send("again")
                assert await asyncio.wait_for(c.recv(), 5) == "again"
                alive += 1
            except websockets.exceptions.ConnectionClosed as e:
                closed.append((e.rcvd.code if e.rcvd else None))
        for c in conns:
            await c.close()
        return closed, alive

    closed, alive = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert closed and alive, (closed, alive)
    assert set(closed) == {1001}, closed
    assert wait_retired(d)
    # grown again: new workers (new or reused ids) serve WebSockets
    assert set_workers(d, 4).status_code == 200

    async def again():
        cs = [await websockets.connect(url) for _ in range(12)]
        for i, c in enumerate(cs):
            await c.send("m%d" % i)
            assert await c.recv() == "m%d" % i
        for c in cs:
            await c.close()

    asyncio.run(asyncio.wait_for(again(), 60))
    assert "worker 2 retired" in d.log()


HOOK_ROUTES = r"""
webhook.source("custom", {
  path = "/hooks/custom", scheme = "lua", id_header = "x-event-id",
  verify = function(req) return true end,
  retry = { max = 3, base = 0.05, cap = 0.2 },
}, function(event) shared.incr("n:" .. event.id, 1, 0) end)
route.get("/lua", function(req) return "l" end)
route.get("/count/:id", function(req) return tostring(shared.get("n:" .. req.params.id)) end)
"""


@pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "webhook.so")),
                    reason="plugins/webhook is not built")
def test_webhook_source_on_a_worker_started_in_a_reused_slot(portico, tmp_path):
    """A worker started in the slot of a retired one gets a new identity: the
    webhook store, which remembers the retired worker as gone, still answers
    the new worker's events (they are stored and delivered)."""
    d = start(portico, tmp_path, workers=2, plugins_dir=PLUGINS, routes=HOOK_ROUTES,
              extra=f'var_dir = "{tmp_path}/var"\nplugin "webhook" {{}}\n')
    assert set_workers(d, 1).status_code == 200
    assert wait_retired(d)
    deadline = time.monotonic() + 10
    while (r := set_workers(d, 3)).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)   # the slot comes back once generation 1 is gone
    assert r.status_code == 200, r.text
    assert status(d)["workers"] == 3
    ids = ["e%d" % i for i in range(30)]
    for eid in ids:
        # a new connection each: the kernel spreads them over the workers
        r = requests.post(d.url + "/hooks/custom", data=b"{}", timeout=5,
                          headers={"x-event-id": eid, "Connection": "close"})
        assert r.status_code == 200 and r.json()["id"] == eid, r.text
    deadline = time.monotonic() + 15
    left = set(ids)
    while left and time.monotonic() < deadline:
        left = {e for e in left
                if requests.get(d.url + "/count/" + e, timeout=5).text != "1"}
        time.sleep(0.1)
    assert not left, (sorted(left), d.log()[-3000:])
