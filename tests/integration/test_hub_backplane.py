"""The hub's Redis backplane (hub = { backplane = "redis" }): two Portico
instances and a redis-server of the test's own; SSE clients of the websocket
plugin see what a route on either instance publishes, exactly once; Redis
killed and restarted mid-test; hostile payloads published straight into Redis;
reload and stop; config errors refused with file:line."""
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid

import pytest
import requests

from conftest import BIN, BUILDDIR, Daemon, free_port, wait_port
from test_sse import Stream, streams_on

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"
ZEROS = "0" * 32

pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "websocket.so")),
                       reason="plugins/websocket is not built"),
    pytest.mark.skipif(not os.path.exists(REDIS),
                       reason="redis-server is not installed (apt-get install redis-server)"),
]

ROUTES = r"""
sse.endpoint("/events", { channels = { "orders" }, heartbeat = 0 })
if websocket and websocket.endpoint then
  websocket.endpoint("/ws/orders", { channels = { "orders" } })
end
route.post("/pub/:ch", function(req)
  return { n = hub.publish(req.params.ch, req.body or "") }
end)
route.post("/burst/:n", function(req)
  for i = 1, tonumber(req.params.n) do hub.publish("orders", "b" .. i .. (req.body or "")) end
  return "ok"
end)
"""

LOST = "backplane: lost Redis"
BACK = "backplane: Redis at"
CONNECTED = "backplane: connected to Redis"


class RedisServer:
    """A redis-server on a fixed loopback port, killed and restarted by PID."""

    def __init__(self, workdir):
        self.dir = workdir
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_port(self.port, proc=self.proc), "redis-server did not start"

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def command(self, *args):
        """One command in RESP; returns the first reply line."""
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(out)
            buf = b""
            while b"\r\n" not in buf:
                buf += s.recv(4096)
        return buf.split(b"\r\n")[0].decode()


@pytest.fixture
def redis(tmp_path):
    r = RedisServer(tmp_path)
    r.start()
    yield r
    r.kill()


@pytest.fixture
def instances(tmp_path):
    """Factory: instances(redis_port, names, ...) -> started Daemons, each in
    its own folder (own config and log); stopped at the end."""
    started = []

    def make(redis_port, names=("a", "b"), workers=2, hub="", routes=ROUTES, wait=True,
             redis_opts=""):
        rdir = tmp_path / "routes"
        rdir.mkdir(exist_ok=True)
        (rdir / "10bp.lua").write_text(routes)
        out = []
        for name in names:
            wd = tmp_path / name
            wd.mkdir(exist_ok=True)
            body = (f'shutdown_timeout = 1\nplugin "websocket" {{}}\nroutes "{rdir}"\n'
                    f'redis = {{ host = "127.0.0.1", port = {redis_port}, timeout = 0.25, '
                    f'connect_timeout = 0.5{redis_opts} }}\n'
                    f'hub = {{ backplane = "redis"{hub} }}\n')
            d = Daemon(str(wd), body, plugins_dir=PLUGINS, workers=workers)
            started.append(d)
            d.start()
            out.append(d)
        if wait:
            for d in out:
                assert d.wait_log(CONNECTED, 10), d.log()
        return out

    yield make
    for d in started:
        d.stop()


def publish(d, ch, msg):
    r = requests.post(f"{d.url}/pub/{ch}", data=msg.encode(), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["n"]


def datas(stream, want, timeout=5.0):
    """The data of the next WANT events of STREAM."""
    return [stream.event(timeout)["data"] for _ in range(want)]


def test_messages_cross_instances_exactly_once(redis, instances):
    a, b = instances(redis.port)
    sa = streams_on(a, "/events")   # streams on both workers of each
    sb = streams_on(b, "/events")
    # from A: A's clients once (locally), B's once (through Redis)
    publish(a, "orders", "from-a")
    for st in sa + sb:
        assert datas(st, 1) == ["from-a"]
    # from B: B's clients once, no echo back from Redis; A's once
    publish(b, "orders", "from-b")
    for st in sa + sb:
        assert datas(st, 1) == ["from-b"]
    for st in sa + sb:
        st.no_event(0.5)
    # ids are each instance's own, increasing
    publish(a, "orders", "x")
    ev = sb[0].event()
    assert ev["data"] == "x" and int(ev["id"]) >= 3
    # another channel's publish reaches nobody here, in either instance
    publish(a, "other", "not for /events")
    sb[0].no_event(0.3)
    for st in sa + sb:
        st.close()
    # one line when connected, no warning
    for d in (a, b):
        log = d.log()
        assert log.count(CONNECTED) == 1 and LOST not in log, log


def test_websocket_clients_of_both_instances(redis, instances):
    websockets = pytest.importorskip("websockets")
    import asyncio
    a, b = instances(redis.port)

    async def go():
        ca = [await websockets.connect(f"ws://127.0.0.1:{a.port}/ws/orders") for _ in range(6)]
        cb = [await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/orders") for _ in range(6)]
        await asyncio.sleep(0.2)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, publish, a, "orders", "ws from a")
        await loop.run_in_executor(None, publish, b, "orders", "ws from b")
        for c in ca + cb:
            got = [await asyncio.wait_for(c.recv(), 5) for _ in range(2)]
            # two publishers on two instances: a client of b may get b's own
            # message (local) before a's (through Redis); each once is the promise
            assert sorted(got) == ["ws from a", "ws from b"]
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.recv(), 0.2)   # no echo duplicate
        for c in ca + cb:
            await c.close()

    asyncio.run(asyncio.wait_for(go(), 60))


def test_many_messages_keep_their_order(redis, instances):
    a, b = instances(redis.port, workers=1)
    sb = Stream(b, "/events")
    for i in range(200):
        publish(a, "orders", f"m{i}")
    assert datas(sb, 200) == [f"m{i}" for i in range(200)]
    sb.no_event(0.3)
    sb.close()


def test_a_burst_crosses_whole_and_in_order(redis, instances):
    a, b = instances(redis.port, workers=1, hub=", backplane_queue = 100000")
    sb = Stream(b, "/events")
    n = 5000
    r = requests.post(f"{a.url}/burst/{n}", data=b"-" + b"p" * 200, timeout=30)
    assert r.status_code == 200, r.text
    got = [ev for ev in datas(sb, n, timeout=10)]
    assert got == [f"b{i}-" + "p" * 200 for i in range(1, n + 1)]
    sb.no_event(0.3)
    sb.close()
    for d in (a, b):
        assert "[warn] hub:" not in d.log(), d.log()


def test_redis_down_then_back(redis, instances):
    a, b = instances(redis.port)
    sa, sb = Stream(a, "/events"), Stream(b, "/events")
    publish(a, "orders", "before")
    assert datas(sa, 1) == ["before"] and datas(sb, 1) == ["before"]

    redis.kill()
    for d in (a, b):
        assert d.wait_log(LOST, 5), d.log()
    # local delivery goes on, on each instance, for every message
    for i in range(20):
        publish(a, "orders", f"down-a{i}")
        publish(b, "orders", f"down-b{i}")
    assert datas(sa, 20) == [f"down-a{i}" for i in range(20)]
    assert datas(sb, 20) == [f"down-b{i}" for i in range(20)]
    time.sleep(1.5)   # a few reconnect attempts fail meanwhile
    for d in (a, b):
        log = d.log()
        assert log.count(LOST) == 1, log               # one warning, not one per message
        assert log.count("[warn] hub:") == 1, log

    redis.start()   # the same port
    for d in (a, b):
        assert d.wait_log(BACK, 10), d.log()
    # across instances again: poll with fresh messages until one arrives
    deadline = time.monotonic() + 10
    got = False
    while not got and time.monotonic() < deadline:
        tag = "after-" + uuid.uuid4().hex[:8]
        publish(a, "orders", tag)
        try:
            while True:
                data = sb.event(0.5)["data"]
                if data == tag:
                    got = True
                    break
        except (TimeoutError, socket.timeout):
            pass
    assert got, b.log()
    # and from B to A, exactly once
    publish(b, "orders", "b-again")
    seen = []
    try:
        while True:
            seen.append(sa.event(1.0)["data"])
    except (TimeoutError, socket.timeout):
        pass
    assert seen.count("b-again") == 1, seen
    for d in (a, b):
        log = d.log()
        assert log.count(LOST) == 1 and log.count(BACK) == 1, log
    sa.close()
    sb.close()

    # Redis gone again: stopping neither hangs nor fails
    redis.kill()
    for d in (a, b):
        t0 = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - t0 < 5
        assert "hub: backplane: stopped" in d.log()


def test_outage_queue_is_bounded_and_keeps_the_newest(redis, instances):
    a, b = instances(redis.port, workers=1, hub=", backplane_queue = 5")
    redis.kill()
    assert a.wait_log(LOST, 5), a.log()
    for i in range(20):
        publish(a, "orders", f"q{i}")
    redis.start()
    assert a.wait_log("is back: delivery across instances resumed; 15 message(s) published "
                      "meanwhile were dropped, the queue being full", 10), a.log()


def test_redis_frozen_then_thawed(redis, instances):
    """SIGSTOP: the connections stay open but nothing answers. The PUBLISH
    timeout and the heartbeat find it; local delivery never waits."""
    a, b = instances(redis.port, workers=1)
    sa, sb = Stream(a, "/events"), Stream(b, "/events")
    redis.proc.send_signal(signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        for i in range(10):
            publish(a, "orders", f"frozen{i}")
        assert time.monotonic() - t0 < 2          # hub.publish does not wait for Redis
        assert datas(sa, 10) == [f"frozen{i}" for i in range(10)]
        assert a.wait_log(LOST, 5), a.log()
        assert "no reply to PUBLISH" in a.log() or "no heartbeat" in a.log()
        assert b.wait_log(LOST, 8), b.log()       # B only listens: its heartbeat finds it
        time.sleep(2)
        for d in (a, b):
            assert d.log().count("[warn] hub:") == 1, d.log()
    finally:
        redis.proc.send_signal(signal.SIGCONT)
    for d in (a, b):
        assert d.wait_log(BACK, 10), d.log()
    deadline = time.monotonic() + 10
    got = False
    while not got and time.monotonic() < deadline:
        tag = "thawed-" + uuid.uuid4().hex[:8]
        publish(a, "orders", tag)
        try:
            while not got:
                got = sb.event(0.5)["data"] == tag
        except (TimeoutError, socket.timeout):
            pass
    assert got, b.log()
    sa.close()
    sb.close()


def test_wrong_password_is_said_once(redis, instances):
    redis.command("CONFIG", "SET", "requirepass", "right")
    a, = instances(redis.port, names=("a",), workers=1, wait=False,
                   redis_opts=', password = "wrong"')
    assert a.wait_log("backplane: cannot reach Redis", 5), a.log()
    assert "AUTH/SELECT/PING refused" in a.log()
    time.sleep(1)
    assert a.log().count("[warn] hub:") == 1
    sa = Stream(a, "/events")
    publish(a, "orders", "local")
    assert datas(sa, 1) == ["local"]
    sa.close()


def test_password_and_db(redis, instances):
    redis.command("CONFIG", "SET", "requirepass", "s3cret")
    a, b = instances(redis.port, workers=1, redis_opts=', password = "s3cret", db = 3')
    sb = Stream(b, "/events")
    publish(a, "orders", "authenticated")
    assert datas(sb, 1) == ["authenticated"]
    sb.close()


def test_redis_absent_at_start(tmp_path, instances):
    r = RedisServer(tmp_path)   # not started yet
    a, b = instances(r.port, workers=1, wait=False)
    sa = Stream(a, "/events")
    publish(a, "orders", "alone")
    assert datas(sa, 1) == ["alone"]   # the hub works without Redis
    for d in (a, b):
        assert d.wait_log("backplane: cannot reach Redis", 5), d.log()
    time.sleep(1)
    for d in (a, b):
        assert d.log().count("[warn] hub:") == 1, d.log()
    r.start()
    try:
        for d in (a, b):
            assert d.wait_log(CONNECTED, 10), d.log()
        sb = Stream(b, "/events")
        publish(a, "orders", "together")
        assert datas(sb, 1) == ["together"]
        sb.close()
    finally:
        r.kill()
    sa.close()


def test_hostile_payloads_from_redis_are_dropped(redis, instances):
    # glob characters in the prefix stand for themselves in the PSUBSCRIBE
    a, = instances(redis.port, names=("a",), workers=1, hub=', prefix = "app*[1]:"')
    sa = Stream(a, "/events")
    # a stranger publishing straight into Redis: each one dropped
    p = "app*[1]:"
    hostile = [
        (p + "orders", b"short"),
        (p + "orders", b"pt2:" + ZEROS.encode() + b":wrong magic"),
        (p + "orders", b"pt1:" + b"Z" * 32 + b":bad id"),
        (p + "orders", b"pt1:" + ZEROS.encode() + b":" + b"x" * 70000),   # over 65536
        (p, b"pt1:" + ZEROS.encode() + b":empty channel"),
        (p + "a\nb", b"pt1:" + ZEROS.encode() + b":control character"),
        (p + "c" * 300, b"pt1:" + ZEROS.encode() + b":long channel"),
        (p + "orders", b"\x00" * 37),
    ]
    for ch, payload in hostile:
        assert redis.command("PUBLISH", ch, payload) == ":1"   # our subscription had it
    # a well-formed frame from outside Portico (any id not ours) is delivered
    assert redis.command("PUBLISH", p + "orders", "pt1:" + ZEROS + ":from outside") == ":1"
    ev = sa.event()
    assert ev["data"] == "from outside"
    sa.no_event(0.3)
    log = a.log()
    assert "backplane: dropped a message from Redis on channel \"orders\": shorter than" in log, log
    assert a.proc.poll() is None
    for other in ("app1:orders", "appX[1]:orders", "app*1:orders"):
        assert redis.command("PUBLISH", other, "pt1:" + ZEROS + ":no") == ":0"
    # our own frames (our id) coming back are not delivered twice
    own = re.search(r"instance ([0-9a-f]{32})", log).group(1)
    redis.command("PUBLISH", p + "orders", "pt1:" + own + ":echo")
    sa.no_event(0.3)
    sa.close()


def test_prefix_separates_deployments(redis, instances):
    a, = instances(redis.port, names=("a",), workers=1, hub=', prefix = "one:"')
    b, = instances(redis.port, names=("b",), workers=1, hub=', prefix = "two:"')
    sb = Stream(b, "/events")
    publish(a, "orders", "for one")
    sb.no_event(0.5)
    sb.close()


def test_reload_keeps_or_restarts_the_backplane(redis, instances):
    a, b = instances(redis.port, workers=1)
    sb = Stream(b, "/events")
    # the same settings: kept (no new connection)
    a.signal(signal.SIGHUP)
    assert a.wait_log("reload: generation 2 is live")
    publish(a, "orders", "after reload")
    assert datas(sb, 1) == ["after reload"]
    assert a.log().count(CONNECTED) == 1
    # another prefix: restarted on it
    a.write(a.text.replace('backplane = "redis"', 'backplane = "redis", prefix = "other:"'))
    a.signal(signal.SIGHUP)
    assert a.wait_log("reload: generation 3 is live")
    assert a.wait_log("channels other:*", 5), a.log()
    publish(a, "orders", "elsewhere")
    sb.no_event(0.5)
    # backplane off: stopped
    a.write(a.text.replace('hub = { backplane = "redis" }', ""))
    a.signal(signal.SIGHUP)
    assert a.wait_log("reload: generation 4 is live")
    assert a.wait_log("backplane: stopped", 5) or "hub: backplane: stopped" in a.log()
    # back to the first settings: B hears A again
    a.write(a.text)
    a.signal(signal.SIGHUP)
    assert a.wait_log("reload: generation 5 is live")
    deadline = time.monotonic() + 5
    while a.log().count(CONNECTED) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    publish(a, "orders", "together again")
    assert datas(sb, 1) == ["together again"]
    sb.close()


@pytest.mark.parametrize("hub,extra,line,needle", [
    ('hub = { backplane = "kafka" }', 'redis = { port = 6379 }', 7,
     'hub.backplane must be "redis" or "none", not "kafka"'),
    ('hub = { backplane = "redis" }', '', 7,
     'hub.backplane = "redis" needs the Redis server: add redis = {'),
    ('hub = { backplane = "redis", prefix = "" }', 'redis = { port = 6379 }', 7,
     'hub.prefix must be 1 to 128 bytes'),
])
def test_config_errors_are_refused_at_start(tmp_path, hub, extra, line, needle):
    conf = tmp_path / "portico.conf"
    port = free_port()
    conf.write_text(f'log = {{ file = "{tmp_path}/error.log" }}\n'
                    f'listen {{ address = "127.0.0.1", port = {port} }}\n'
                    f'plugins_dir = "{PLUGINS}"\n'
                    f'plugin "websocket" {{}}\n'
                    f'shutdown_timeout = 1\n'
                    f'{extra}\n{hub}\n')
    out = subprocess.run([BIN, "-t", "-c", str(conf)], capture_output=True, text=True,
                         timeout=20)
    assert out.returncode == 1
    assert f"{conf}:{line}: {needle}" in out.stderr, out.stderr
    p = subprocess.run([BIN, "-c", str(conf)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    log = (tmp_path / "error.log").read_text() if (tmp_path / "error.log").exists() else ""
    assert f"{conf}:{line}: {needle}" in p.stderr + p.stdout + log
