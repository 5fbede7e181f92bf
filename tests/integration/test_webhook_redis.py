"""The webhook plugin's Redis store (webhook = { store = "redis" }) with a
real redis-server on a free loopback port and two Portico instances sharing
one inbox: events sent alternately to both are each processed exactly once,
a duplicate sent to the other instance is answered X-Portico-Duplicate: 1,
an instance killed with SIGKILL while running jobs has them claimed and run
by the other, Redis down is 503 with Retry-After (and stores again once it
is back), a failing handler is retried with backoff and then done, a dead
job is replayed with the doc's redis-cli recipe, and kill -9 of one
instance under load loses no acknowledged event.

Each instance counts what its handler ran in its shared dictionary
(GET /count/ID); exactly once means the two counts add up to 1. Redis is
read with a small RESP client here (no Python redis package in Debian's
base)."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import BUILDDIR, HERE, Daemon, free_port, wait_port
from test_webhook import STRIPE, stripe_event, stripe_headers

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")


def abi_minor():
    with open(os.path.join(HERE, "..", "..", "sdk", "include", "portico", "plugin.h")) as f:
        return int(re.search(r"#define PT_ABI_MINOR (\d+)", f.read()).group(1))


pytestmark = [
    pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "webhook.so")),
                       reason="plugins/webhook is not built"),
    pytest.mark.skipif(abi_minor() < 8, reason="the webhook plugin needs plugin ABI 1.8"),
]

ROUTES = r"""
webhook.source("stripe", {
  path = "/hooks/stripe", scheme = "stripe", secrets = { "%(stripe)s" },
  retry = { max = 4, base = 0.2, cap = 0.5 },
}, function(event)
  local kind = event.json and event.json.type or ""
  shared.incr("started:" .. event.id, 1, 0)
  if kind == "test.slow" then sleep(%(slow)s) end
  if kind == "test.fail_twice" and event.attempt < 3 then
    return false, "not yet (attempt " .. event.attempt .. ")"
  end
  if kind == "test.broken" and not shared.get("fixed") then
    return false, "broken until fixed"
  end
  shared.incr("n:" .. event.id, 1, 0)
  shared.set("attempt:" .. event.id, event.attempt)
end)

route.post("/fix", function() shared.set("fixed", true); return { ok = true } end)

route.get("/count/:id", function(req)
  local id = req.params.id
  return { n = shared.get("n:" .. id) or 0, started = shared.get("started:" .. id) or 0,
           attempt = shared.get("attempt:" .. id) or 0 }
end)
"""


# ---- Redis ----------------------------------------------------------------------------

class Resp:
    """A minimal RESP client: commands in, decoded replies out."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")

    def __call__(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError(f"bad reply {line!r}")

    def close(self):
        self.s.close()


def redis_start(tmp_path, port=None):
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = port or free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_port(port, proc=proc), "redis-server did not start"
    return {"port": port, "proc": proc}


def redis_stop(srv):
    if srv["proc"].poll() is None:
        srv["proc"].terminate()
        srv["proc"].wait(10)


@pytest.fixture
def redis_server(tmp_path):
    srv = redis_start(tmp_path)
    yield srv
    redis_stop(srv)


# ---- instances ------------------------------------------------------------------------

def instance(tmp_path, name, port, slow=0, claim_idle=1, timeout=1):
    d = tmp_path / name
    rdir = d / "routes"
    rdir.mkdir(parents=True)
    (rdir / "hooks.lua").write_text(ROUTES % {"stripe": STRIPE, "slow": slow})
    body = (f'var_dir = "{d}/var"\nshutdown_timeout = 2\n'
            f'redis = {{ host = "127.0.0.1", port = {port}, timeout = {timeout} }}\n'
            f'plugin "webhook" {{ store = "redis", claim_idle = {claim_idle}, '
            f'redis_prefix = "t:" }}\n'
            f'routes "{rdir}"\n')
    return Daemon(str(d), body, plugins_dir=PLUGINS, workers=2)


@pytest.fixture
def pair(tmp_path, redis_server):
    a = instance(tmp_path, "a", redis_server["port"]).start()
    b = instance(tmp_path, "b", redis_server["port"]).start()
    yield a, b
    a.stop()
    b.stop()


def send(d, eid=None, kind="payment_intent.succeeded"):
    eid, body = stripe_event(kind=kind, eid=eid)
    r = requests.post(d.url + "/hooks/stripe", data=body, headers=stripe_headers(body),
                      timeout=10)
    return eid, r


def counts(d, eid):
    return requests.get(f"{d.url}/count/{eid}", timeout=5).json()


def wait_total(ds, eid, want=1, timeout=15.0, key="n"):
    deadline = time.monotonic() + timeout
    total = 0
    while time.monotonic() < deadline:
        total = sum(counts(d, eid)[key] for d in ds)
        if total >= want:
            return total
        time.sleep(0.05)
    return total


def job_of(r, eid):
    """The job hash of event EID (through its dedup key)."""
    jid = r("GET", f"t:dedup:in:stripe:{eid}")
    assert jid, f"no dedup key for {eid}"
    flat = r("HGETALL", b"t:job:" + jid)
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}, jid.decode()


# ---- tests ----------------------------------------------------------------------------

def test_two_instances_process_each_event_once(pair, redis_server):
    a, b = pair
    ids = []
    for i in range(40):
        eid, r = send(a if i % 2 else b)
        assert r.status_code == 200, r.text
        assert "x-portico-duplicate" not in r.headers
        ids.append(eid)
    for eid in ids:
        assert wait_total((a, b), eid) == 1, eid
    time.sleep(0.5)   # nothing runs twice later either
    ran = {"a": 0, "b": 0}
    for eid in ids:
        ca, cb = counts(a, eid)["n"], counts(b, eid)["n"]
        assert ca + cb == 1, (eid, ca, cb)
        ran["a"] += ca
        ran["b"] += cb
    r = Resp(redis_server["port"])
    try:
        assert r("XLEN", "t:stream") == 0
        job, _ = job_of(r, ids[0])
        assert job["state"] == b"done" and job["attempts"] == b"1"
        assert json.loads(job["body"])["id"] == ids[0]
        assert 0 < r("TTL", f"t:dedup:in:stripe:{ids[0]}") <= 7 * 86400
    finally:
        r.close()
    assert ran["a"] + ran["b"] == 40
    assert ran["a"] and ran["b"], ran   # both instances took jobs from the one inbox


def test_duplicate_on_the_other_instance_is_answered_duplicate(pair):
    a, b = pair
    eid, body = stripe_event()
    r1 = requests.post(a.url + "/hooks/stripe", data=body, headers=stripe_headers(body), timeout=10)
    assert r1.status_code == 200 and "x-portico-duplicate" not in r1.headers
    r2 = requests.post(b.url + "/hooks/stripe", data=body, headers=stripe_headers(body), timeout=10)
    assert r2.status_code == 200, r2.text
    assert r2.headers.get("x-portico-duplicate") == "1"
    assert wait_total((a, b), eid) == 1
    time.sleep(0.5)
    assert counts(a, eid)["n"] + counts(b, eid)["n"] == 1


def test_killed_instance_jobs_are_claimed_by_the_other(tmp_path, redis_server):
    port = redis_server["port"]
    a = instance(tmp_path, "a", port, slow=60).start()   # holds its jobs a minute
    b = None
    try:
        ids = []
        for _ in range(3):
            eid, r = send(a, kind="test.slow")
            assert r.status_code == 200, r.text
            ids.append(eid)
        for eid in ids:
            assert wait_total((a,), eid, key="started") == 1, a.log()[-2000:]
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        b = instance(tmp_path, "b", port).start()
        for eid in ids:
            assert wait_total((b,), eid, timeout=20) == 1, (eid, b.log()[-3000:])
        r = Resp(port)
        try:
            for eid in ids:
                job, jid = job_of(r, eid)
                assert job["state"] == b"done", job
                # the run lost with A counts: B's was the second
                assert job["attempts"] == b"2", job
                assert counts(b, eid)["attempt"] == 2
                outcomes = [json.loads(x)["outcome"] for x in r("LRANGE", f"t:attempts:{jid}", 0, -1)]
                assert outcomes == ["done", "lost"], outcomes
            assert r("XPENDING", "t:stream", "portico")[0] == 0
        finally:
            r.close()
    finally:
        if a.proc.poll() is None:
            a.stop()
        if b:
            b.stop()


def test_redis_down_is_503_with_retry_after_then_recovers(tmp_path):
    srv = redis_start(tmp_path)
    d = instance(tmp_path, "a", srv["port"], timeout=0.3).start()
    try:
        eid, r = send(d)
        assert r.status_code == 200, r.text
        redis_stop(srv)
        eid2, body = stripe_event()
        r = requests.post(d.url + "/hooks/stripe", data=body, headers=stripe_headers(body),
                          timeout=10)
        assert r.status_code == 503, r.text
        assert int(r.headers["retry-after"]) >= 1
        assert d.wait_log("not stored, answered 503")
        # back on the same port: the sender's retry is stored and processed
        srv = redis_start(tmp_path, port=srv["port"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = requests.post(d.url + "/hooks/stripe", data=body, headers=stripe_headers(body),
                              timeout=10)
            if r.status_code == 200:
                break
            assert r.status_code == 503
            time.sleep(0.3)
        assert r.status_code == 200, r.text
        assert wait_total((d,), eid2) == 1, d.log()[-3000:]
    finally:
        d.stop()
        redis_stop(srv)


def test_failing_handler_retried_with_backoff_then_done(pair, redis_server):
    a, b = pair
    t0 = time.monotonic()
    eid, r = send(a, kind="test.fail_twice")
    assert r.status_code == 200, r.text
    assert wait_total((a, b), eid, timeout=20) == 1
    assert time.monotonic() - t0 >= 0.2   # two backoffs of at least base/2 each
    rr = Resp(redis_server["port"])
    try:
        job, jid = job_of(rr, eid)
        assert job["state"] == b"done" and job["attempts"] == b"3", job
        attempts = [json.loads(x) for x in rr("LRANGE", f"t:attempts:{jid}", 0, -1)]
        assert [x["outcome"] for x in attempts] == ["done", "retry", "retry"]
        assert "not yet (attempt 1)" in attempts[2]["error"]
        assert rr("ZCARD", "t:retry") == 0
        assert 0 < rr("TTL", f"t:job:{jid}") <= 30 * 86400
    finally:
        rr.close()


def test_dead_after_max_then_replayed_with_redis_cli(pair, redis_server):
    """The doc's redis-cli recipe replays a dead job: it runs again, attempt 1."""
    a, b = pair
    eid, r = send(b, kind="test.broken")
    assert r.status_code == 200, r.text
    rr = Resp(redis_server["port"])
    try:
        deadline = time.monotonic() + 20
        job = {}
        while time.monotonic() < deadline:
            job, jid = job_of(rr, eid)
            if job.get("state") == b"dead":
                break
            time.sleep(0.1)
        assert job["state"] == b"dead" and job["attempts"] == b"4", job
        assert rr("ZSCORE", "t:dead", jid) is not None
        assert 0 < rr("TTL", f"t:job:{jid}")
        for d in (a, b):
            requests.post(d.url + "/fix", timeout=5)
        p = "t:"
        script = "\n".join(["MULTI", f"HSET {p}job:{jid} state retrying attempts 0",
                             f"PERSIST {p}job:{jid}", f"ZREM {p}dead {jid}",
                             f"ZADD {p}retry 0 {jid}", "EXEC"]) + "\n"
        out = subprocess.run(["redis-cli", "-p", str(redis_server["port"])], input=script,
                             capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        assert wait_total((a, b), eid, timeout=10) == 1
        assert max(counts(d, eid)["attempt"] for d in (a, b)) == 1
        job, _ = job_of(rr, eid)
        assert job["state"] == b"done" and rr("TTL", f"t:job:{jid}") > 0
        assert rr("ZSCORE", "t:dead", jid) is None
    finally:
        rr.close()


def test_kill_9_under_load_loses_no_acknowledged_event(tmp_path, redis_server):
    """Clients send to both instances and count every 2xx; A is killed with
    SIGKILL mid-load; every acknowledged event ends done (B runs A's)."""
    port = redis_server["port"]
    a = instance(tmp_path, "a", port).start()
    b = instance(tmp_path, "b", port).start()
    acked, lock, stop, errors = [], threading.Lock(), threading.Event(), []

    def client(n):
        s = requests.Session()
        for i in range(400):
            if stop.is_set():
                break
            d = (a, b)[(n + i) % 2]
            eid, body = stripe_event(eid=f"evt_k{n}_{i}")
            try:
                r = s.post(d.url + "/hooks/stripe", data=body, headers=stripe_headers(body),
                           timeout=5)
            except requests.RequestException:
                continue   # A died under it: not acknowledged
            if r.status_code == 200:
                with lock:
                    acked.append(eid)
            elif r.status_code != 503:
                errors.append(r.status_code)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 10
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait(10)
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    r = Resp(port)
    try:
        assert not errors, errors
        assert len(acked) >= 50, f"only {len(acked)} events acknowledged"
        deadline = time.monotonic() + 20
        missing = set(acked)
        while missing and time.monotonic() < deadline:
            for eid in list(missing):
                job, _ = job_of(r, eid)
                if job.get("state") == b"done":
                    missing.discard(eid)
            if missing:
                time.sleep(0.2)
        assert not missing, f"{len(missing)} acknowledged events not done: {list(missing)[:5]}"
        # stored but not acknowledged (A died before its 2xx left) runs too
        while r("XLEN", "t:stream") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r("XLEN", "t:stream") == 0
    finally:
        r.close()
        b.stop()


def test_redis_store_without_redis_config_answers_503_and_says_why(tmp_path):
    d = tmp_path / "a"
    rdir = d / "routes"
    rdir.mkdir(parents=True)
    (rdir / "hooks.lua").write_text(ROUTES % {"stripe": STRIPE, "slow": 0})
    body = (f'var_dir = "{d}/var"\nshutdown_timeout = 2\n'
            f'plugin "webhook" {{ store = "redis" }}\nroutes "{rdir}"\n')
    dm = Daemon(str(d), body, plugins_dir=PLUGINS, workers=1).start()
    try:
        eid, r = send(dm)
        assert r.status_code == 503, r.text
        assert r.headers.get("retry-after")
        assert dm.wait_log('needs the config\'s redis = { host = ..., port = ... }'), dm.log()[-2000:]
    finally:
        dm.stop()
