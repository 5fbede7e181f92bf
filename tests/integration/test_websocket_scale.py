"""10,000 idle WebSocket connections held by one worker: every handshake
answered, the daemon's resident set measured per connection (printed, and
bounded loosely so a leak per connection fails), one hub message reaching
all of them, and the memory given back when they leave."""
import base64
import os
import resource
import selectors
import socket
import time

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
N = 10000

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "websocket.so")),
                                reason="plugins/websocket is not built")

ROUTES = r"""
websocket.endpoint("/ws/idle", { channels = { "all" }, ping_interval = 0 })
route.post("/pub", function(req) return { n = hub.publish("all", req.body) } end)
"""


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < need:
        pytest.skip(f"the hard limit of open files ({hard}) is below {need}")
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need if hard == resource.RLIM_INFINITY
                                                    else hard, hard))


def open_many(port, n, path):
    key = base64.b64encode(os.urandom(16)).decode()
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
           f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
    socks, sel = [], selectors.DefaultSelector()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
        sel.register(s, selectors.EVENT_READ, [b""])
        if i % 500 == 499:
            drain(sel, 0)
    drain(sel, 30)
    return socks, sel


def drain(sel, timeout):
    """Reads handshake answers until every socket has one (or TIMEOUT)."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [k for k in sel.get_map().values() if b"\r\n\r\n" not in k.data[0]]
        if not pending or time.monotonic() > deadline:
            return
        for k, _ in sel.select(0.2):
            try:
                b = k.fileobj.recv(4096)
            except BlockingIOError:
                continue
            k.data[0] += b


def test_ten_thousand_idle_connections(portico, tmp_path):
    raise_nofile(N + 500)
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "ws.lua").write_text(ROUTES)
    d = portico(f'shutdown_timeout = 1\nplugin "websocket" {{}}\nroutes "{rdir}"\n',
                plugins_dir=PLUGINS, workers=1)
    pid = d.proc.pid
    # warm up: the Lua state, the channel, the allocator's first arenas
    socks, sel = open_many(d.port, 50, "/ws/idle")
    for s in socks:
        s.close()
    sel.close()
    time.sleep(0.3)
    before = rss_kib(pid)
    socks, sel = open_many(d.port, N, "/ws/idle")
    try:
        ok = sum(1 for k in sel.get_map().values() if k.data[0].startswith(b"HTTP/1.1 101"))
        assert ok == N, f"{ok} of {N} upgraded"
        time.sleep(0.5)
        after = rss_kib(pid)
        per = (after - before) * 1024 / N
        print(f"\n{N} idle connections: daemon RSS {before} KiB -> {after} KiB, "
              f"{per:.0f} bytes per connection")
        assert per < 16384, f"{per:.0f} bytes per idle connection"

        t0 = time.monotonic()
        r = requests.post(f"{d.url}/pub", data="tick", timeout=30)
        assert r.status_code == 200 and r.json()["n"] >= 1
        for k in sel.get_map().values():
            k.data[0] = k.data[0].split(b"\r\n\r\n", 1)[1]
        want = b"\x81\x04tick"
        deadline = time.monotonic() + 30
        got = sum(1 for k in sel.get_map().values() if k.data[0].startswith(want))
        while got < N and time.monotonic() < deadline:
            for k, _ in sel.select(0.2):
                if k.data[0].startswith(want):
                    continue
                try:
                    k.data[0] += k.fileobj.recv(64)
                except BlockingIOError:
                    continue
                if k.data[0].startswith(want):
                    got += 1
        print(f"one publish reached {got} of {N} in {time.monotonic() - t0:.3f} s "
              f"(this Python client reading them included)")
        assert got == N
    finally:
        for s in socks:
            s.close()
        sel.close()
    time.sleep(1.0)
    assert requests.get(f"{d.url}/ws/idle", timeout=5).status_code == 426
    assert d.proc.poll() is None
