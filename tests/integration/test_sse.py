"""SSE endpoints of the websocket plugin (sse.endpoint), fed by hub.publish:
framing, ids, Last-Event-ID resume, heartbeats, filters, clients leaving,
fan-out across workers. Clients are raw sockets (HTTP/1.1, chunked) and curl -N."""
import json
import os
import re
import shutil
import socket
import subprocess
import time

import jwt
import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "websocket.so")),
                                reason="plugins/websocket is not built")

SECRET = "sse-test-secret-0123456789abcdef0123"

ROUTES = r"""
local sse = require "sse"
sse.endpoint("/events", { channels = { "orders" } })
sse.endpoint("/short", { channels = { "short" }, replay = 3, heartbeat = 0 })
sse.endpoint("/tiny", { channels = { "tiny" }, replay = 100, replay_bytes = 10 })
sse.endpoint("/multi", { channels = { "a", "b" }, heartbeat = 0 })
sse.endpoint("/beat", { channels = { "quiet" }, heartbeat = 0.2 })
sse.endpoint("/secure", { channels = { "orders" }, jwt = true })
route.post("/pub/:ch", function(req)
  return { n = hub.publish(req.params.ch, req.body or "") }
end)
"""


def daemon(portico, tmp_path, routes=ROUTES, workers=2, extra=""):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "10sse.lua").write_text(routes)
    body = f'''shutdown_timeout = 1
plugin "websocket" {{}}
plugin "rest" {{ jwt = {{ secret = "{SECRET}" }} }}
routes "{rdir}"
{extra}
'''
    return portico(body, plugins_dir=PLUGINS, workers=workers)


def publish(d, ch, msg):
    r = requests.post(f"{d.url}/pub/{ch}", data=msg.encode() if isinstance(msg, str) else msg,
                      timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["n"]


class Stream:
    """An SSE stream over a raw socket; events come back as dicts with the
    fields of one event (data lines joined with \\n, as a browser does)."""

    def __init__(self, d, path, headers=None):
        self.s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        headers = {"Host": "x", **(headers or {})}
        h = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.s.sendall(f"GET {path} HTTP/1.1\r\nAccept: text/event-stream\r\n"
                       f"{h}\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.status = int(self.head.split()[1])
        self.text = ""
        self.comments = 0

    def _recv(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("stream closed")
        self.buf += b

    def _dechunk(self):
        while b"\r\n" in self.buf:
            size_line, rest = self.buf.split(b"\r\n", 1)
            n = int(size_line, 16)
            if len(rest) < n + 2:
                return
            self.text += rest[:n].decode()
            self.buf = rest[n + 2:]
            if n == 0:
                self.text += "\0"
                return

    def event(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            while "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                lines = block.split("\n")
                self.comments += sum(1 for ln in lines if ln.startswith(":"))
                lines = [ln for ln in lines if ln and not ln.startswith(":")]
                if not lines:
                    continue
                ev = {}
                for ln in lines:
                    k, _, v = ln.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    ev[k] = ev[k] + "\n" + v if k == "data" and k in ev else v
                return ev
            if "\0" in self.text:
                raise EOFError("stream ended")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no event")
            self.s.settimeout(left)
            self._recv()

    def no_event(self, wait=0.3):
        try:
            ev = self.event(timeout=wait)
        except (TimeoutError, socket.timeout):
            return True
        raise AssertionError(f"unexpected event {ev}")

    def close(self):
        self.s.close()


def streams_on(d, path, want_workers=2, limit=40):
    """Opens streams on PATH until both workers serve one (per the log)."""
    out = []
    for _ in range(limit):
        out.append(Stream(d, path))
        time.sleep(0.02)
        seen = set(re.findall(r"sse stream on %s started on worker (\d+)" % re.escape(path),
                              d.log()))
        if len(seen) >= want_workers:
            return out
    raise AssertionError("the streams all landed on one worker")


def test_content_type_and_first_comment(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/events")
    assert st.status == 200
    assert "content-type: text/event-stream" in st.head.lower()
    assert "cache-control: no-cache" in st.head.lower()
    st.no_event()
    st.close()


def test_access_log_has_the_stream(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1,
               extra=f'access_log = {{ file = "{tmp_path}/access.log", format = "json" }}')
    st = Stream(d, "/events", {"X-Request-Id": "sse-req-42"})
    publish(d, "orders", "x")
    st.event()
    st.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = open(tmp_path / "access.log").read() if (tmp_path / "access.log").exists() else ""
        if "/events" in text:
            break
        time.sleep(0.05)
    line = [ln for ln in text.splitlines() if "/events" in ln]
    assert line, text
    rec = json.loads(line[0])
    # 499: the client left before the stream's end (the access log's convention)
    assert rec["status"] == 499 and rec.get("request_id"), rec


def test_multiline_messages_are_split_into_data_lines(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    st = Stream(d, "/events")
    publish(d, "orders", "one\ntwo\r\nthree\rfour")
    publish(d, "orders", "")
    publish(d, "orders", "trailing\n")
    publish(d, "orders", "id: 999\nevent: evil\n\ndata: x")
    ev = st.event()
    assert ev["data"] == "one\ntwo\nthree\nfour" and "event" not in ev
    assert st.event()["data"] == ""
    assert st.event()["data"] == "trailing\n"
    ev = st.event()
    # a message cannot forge fields: each of its lines is a data: line
    assert ev["data"] == "id: 999\nevent: evil\n\ndata: x"
    assert "event" not in ev and int(ev["id"]) < 999
    st.close()


def test_raw_framing_bytes(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    p = subprocess.Popen(["curl", "-sN", "--max-time", "2", d.url + "/events"],
                         stdout=subprocess.PIPE)
    time.sleep(0.5)
    publish(d, "orders", "a\nb")
    out = p.communicate(timeout=10)[0].decode()
    assert re.search(r"id: (\d+)\ndata: a\ndata: b\n\n", out), out


def test_channel_named_twice_is_one_channel(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1,
               routes=ROUTES + 'sse.endpoint("/twice", { channels = { "a", "a" } })\n')
    st = Stream(d, "/twice")
    publish(d, "a", "once")
    ev = st.event()
    assert ev["data"] == "once" and "event" not in ev
    st.no_event(0.2)
    st.close()


def test_handwritten_route_with_bad_options_is_a_500(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1,
               routes=ROUTES + 'route.get("/hand", "sse", { channels = { "x.*" } })\n'
                               'route.get("/none", "sse")\n')
    assert requests.get(d.url + "/hand", timeout=5).status_code == 500
    assert d.wait_log("sse endpoint /hand: channels[1] is a pattern")
    assert requests.get(d.url + "/none", timeout=5).status_code == 500
    assert d.wait_log("sse endpoint /none: channels must be a list")


def test_ids_increase_and_multi_channel_names_events(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    st = Stream(d, "/multi")
    one = Stream(d, "/events")
    for i in range(5):
        publish(d, "a", "a%d" % i)
        publish(d, "orders", "o%d" % i)
        publish(d, "b", "b%d" % i)
    ids = []
    for i in range(5):
        for ch in ("a", "b"):
            ev = st.event()
            assert ev["event"] == ch and ev["data"] == "%s%d" % (ch, i)
            ids.append(int(ev["id"]))
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    oids = [int(one.event()["id"]) for _ in range(5)]
    assert oids == sorted(oids) and len(set(oids)) == 5
    st.close()
    one.close()


def test_last_event_id_fresh_partial_too_old(portico, tmp_path):
    d = daemon(portico, tmp_path)
    ids = []
    st = Stream(d, "/short")
    for i in range(6):
        publish(d, "short", "m%d" % i)
    for i in range(6):
        ev = st.event()
        assert ev["data"] == "m%d" % i
        ids.append(int(ev["id"]))
    st.close()
    for _ in range(6):   # both workers answer the same, whichever takes it
        # fresh: no header, no replay
        s = Stream(d, "/short")
        s.no_event(0.2)
        s.close()
        # partial: the last two after ids[3]
        s = Stream(d, "/short", {"Last-Event-ID": str(ids[3])})
        assert [s.event()["data"] for _ in range(2)] == ["m4", "m5"]
        s.no_event(0.2)
        s.close()
        # up to date: nothing
        s = Stream(d, "/short", {"Last-Event-ID": str(ids[5])})
        s.no_event(0.2)
        s.close()
        # too old: the buffer holds the last 3 only: a reset first, then those
        s = Stream(d, "/short", {"Last-Event-ID": str(ids[0])})
        ev = s.event()
        assert ev == {"event": "reset", "data": "short"}
        assert [s.event()["data"] for _ in range(3)] == ["m3", "m4", "m5"]
        s.no_event(0.2)
        s.close()
        # exactly at the edge: ids[2] is the newest evicted, nothing lost
        s = Stream(d, "/short", {"Last-Event-ID": str(ids[2])})
        assert [s.event()["data"] for _ in range(3)] == ["m3", "m4", "m5"]
        s.close()
    # an id from the future (the daemon restarted): a reset and the buffer
    s = Stream(d, "/short", {"Last-Event-ID": str(ids[5] + 1000)})
    assert s.event() == {"event": "reset", "data": "short"}
    assert [s.event()["data"] for _ in range(3)] == ["m3", "m4", "m5"]
    s.close()
    # not a number: as a fresh connection
    for bad in ("abc", "-1", "1" * 30, "12x"):
        s = Stream(d, "/short", {"Last-Event-ID": bad})
        s.no_event(0.2)
        s.close()
    assert "websocket" in d.log()
    workers = set(re.findall(r"sse stream on /short started on worker (\d+)", d.log()))
    assert workers == {"0", "1"}, "resume was not tried on both workers"


def test_resume_keeps_going_live(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/events")
    publish(d, "orders", "x1")
    first = int(st.event()["id"])
    st.close()
    publish(d, "orders", "x2")
    s = Stream(d, "/events", {"Last-Event-ID": str(first)})
    assert s.event()["data"] == "x2"
    publish(d, "orders", "x3")
    assert s.event()["data"] == "x3"
    s.close()


def test_replay_bytes_bound(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    st = Stream(d, "/tiny")
    for i in range(4):
        publish(d, "tiny", "abcd%d" % i)   # 5 bytes each, 10 bytes kept
    ids = [int(st.event()["id"]) for _ in range(4)]
    publish(d, "tiny", "x" * 11)             # over the bound: sent live, never kept
    assert st.event()["data"] == "x" * 11
    st.close()
    s = Stream(d, "/tiny", {"Last-Event-ID": str(ids[0])})
    assert s.event() == {"event": "reset", "data": "tiny"}
    s.no_event(0.3)   # the oversize one evicted everything and is not kept
    s.close()
    publish(d, "tiny", "p1")
    publish(d, "tiny", "p2")
    s = Stream(d, "/tiny", {"Last-Event-ID": str(ids[3])})
    assert s.event() == {"event": "reset", "data": "tiny"}
    assert [s.event()["data"] for _ in range(2)] == ["p1", "p2"]
    s.close()


def test_heartbeat_comment(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    st = Stream(d, "/beat")
    time.sleep(0.7)
    with pytest.raises(TimeoutError):
        st.event(timeout=0.3)
    assert st.comments >= 3   # the first ":" and two beats at least
    st.close()
    st = Stream(d, "/short")   # heartbeat = 0: none
    time.sleep(0.5)
    with pytest.raises(TimeoutError):
        st.event(timeout=0.1)
    assert st.comments == 1
    st.close()


def test_jwt_filter_on_endpoint(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    r = requests.get(d.url + "/secure", timeout=5)
    assert r.status_code == 401
    bad = jwt.encode({"sub": "eve", "exp": int(time.time()) + 60}, "wrong-secret-wrong-secret-0123",
                     algorithm="HS256")
    st = Stream(d, "/secure", {"Authorization": "Bearer " + bad})
    assert st.status == 401
    st.close()
    good = jwt.encode({"sub": "carol", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256")
    st = Stream(d, "/secure", {"Authorization": "Bearer " + good})
    assert st.status == 200
    publish(d, "orders", "for carol")
    assert st.event()["data"] == "for carol"
    st.close()


def test_client_leaving_frees_its_stream(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1)
    sts = [Stream(d, "/events") for _ in range(3)]
    assert d.wait_log("(3 stream(s))")
    for st in sts:
        st.close()
    assert d.wait_log("0 stream(s) left on worker 0")
    # nothing is written to the gone clients, and the daemon is fine
    assert publish(d, "orders", "after") == 1
    st = Stream(d, "/events")
    publish(d, "orders", "again")
    assert st.event()["data"] == "again"
    st.close()


def test_curl_leaving_mid_stream(portico, tmp_path):
    if not shutil.which("curl"):
        pytest.skip("no curl")
    d = daemon(portico, tmp_path, workers=1)
    p = subprocess.Popen(["curl", "-sN", d.url + "/events"], stdout=subprocess.PIPE)
    assert d.wait_log("sse stream on /events started")
    p.kill()
    p.wait()
    assert d.wait_log("ended (the client left)")


def test_publish_reaches_clients_on_every_worker(portico, tmp_path):
    d = daemon(portico, tmp_path)
    sts = streams_on(d, "/events")
    n = publish(d, "orders", "to all")
    assert n == 2   # one subscription per worker, whatever its number of clients
    for st in sts:
        assert st.event()["data"] == "to all"
        st.close()


def test_many_clients_receive_one_publish(portico, tmp_path):
    d = daemon(portico, tmp_path)
    sts = [Stream(d, "/events") for _ in range(200)]
    publish(d, "orders", "fan-out")
    ids = set()
    for st in sts:
        ev = st.event()
        assert ev["data"] == "fan-out"
        ids.add(ev["id"])
        st.close()
    assert len(ids) == 1   # the same id on every worker


@pytest.mark.parametrize("opts,why", [
    ("{}", "channels must be a list"),
    ("{ channels = {} }", "channels must be a list"),
    ("{ channels = 'orders' }", "channels must be a list"),
    ("{ channels = { 42 } }", "channels[1] must be a string"),
    ("{ channels = { '' } }", "channels[1] must be 1 to 256 bytes"),
    ("{ channels = { 'a\\nb' } }", "channels[1] must be 1 to 256 bytes"),
    ("{ channels = { ('x'):rep(257) } }", "channels[1] must be 1 to 256 bytes"),
    ("{ channels = { 'a' }, replay = -1 }", "replay must be a whole number"),
    ("{ channels = { 'a' }, replay = 1.5 }", "replay must be a whole number"),
    ("{ channels = { 'a' }, replay = 1e9 }", "replay must be a whole number"),
    ("{ channels = { 'a' }, replay_bytes = 1e12 }", "replay_bytes must be"),
    ("{ channels = { 'a' }, heartbeat = -1 }", "heartbeat must be"),
    ("{ channels = { 'a' }, heartbeat = 'x' }", "heartbeat must be"),
    ("nil", "the options (argument 2) must be a table"),
    ("{ channels = { 'orders.*' } }", 'channels[1]: "orders.*" is a pattern'),
])
def test_bad_endpoint_options_refuse_the_scripts(portico, tmp_path, opts, why):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "10bad.lua").write_text('local sse = require "sse"\n\nsse.endpoint("/e", %s)\n' % opts)
    d = portico(f'plugin "websocket" {{}}\nroutes "{rdir}"\n', plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    d.proc.wait(timeout=10)
    assert d.proc.returncode != 0
    out = d.proc.stdout.read().decode() + d.log()
    assert why in out, out
    assert "10bad.lua:3: sse.endpoint: " in out, out


def test_route_line_is_the_scripts(portico, tmp_path):
    """A route error names the script's line, not the module's."""
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "10dup.lua").write_text('local sse = require "sse"\nsse.endpoint("/e", '
                                    '{ channels = { "a" }, nosuchfilter = true, '
                                    'jwt = { nope = 1 } })\n')
    d = portico(f'plugin "websocket" {{}}\nplugin "rest" {{ jwt = {{ secret = "{SECRET}" }} }}\n'
                f'routes "{rdir}"\n', plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    try:
        d.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pytest.skip("the jwt filter takes unknown options")
    out = d.proc.stdout.read().decode() + d.log()
    assert "10dup.lua:2" in out, out


def test_endpoint_added_by_reload(portico, tmp_path):
    """A channel first named on a reload: its buffer starts on each worker
    with the first request there; a resume from before that gets a reset,
    never a silent gap; streams opened before the reload keep going."""
    import signal
    d = daemon(portico, tmp_path)
    old = Stream(d, "/events")
    publish(d, "late", "before the endpoint")   # nobody buffers "late" yet
    (tmp_path / "routes" / "10sse.lua").write_text(
        ROUTES + 'sse.endpoint("/late", { channels = { "late" }, heartbeat = 0 })\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("is live")
    deadline = time.monotonic() + 5
    while requests.get(d.url + "/late", timeout=0.5, stream=True).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    sts = streams_on(d, "/late")
    first = publish(d, "late", "after")
    assert first == 2
    ids = set()
    for st in sts:
        ev = st.event()
        assert ev["data"] == "after"
        ids.add(int(ev["id"]))
        st.close()
    (the_id,) = ids
    # from before the buffer started: a reset, then what it has
    s = Stream(d, "/late", {"Last-Event-ID": str(the_id - 2)})
    assert s.event() == {"event": "reset", "data": "late"}
    assert s.event()["data"] == "after"
    s.close()
    # from its first message: exact
    publish(d, "late", "next")
    s = Stream(d, "/late", {"Last-Event-ID": str(the_id)})
    assert s.event()["data"] == "next"
    s.close()
    publish(d, "orders", "old stream lives")
    assert old.event()["data"] == "old stream lives"
    old.close()


def test_shutdown_with_open_streams(portico, tmp_path):
    d = daemon(portico, tmp_path)
    sts = streams_on(d, "/events")
    publish(d, "orders", "last")
    for st in sts:
        assert st.event()["data"] == "last"
    assert d.stop(timeout=15) == 0
    assert "ended (the worker stops)" in d.log()
    for st in sts:
        with pytest.raises((EOFError, OSError)):
            for _ in range(10):
                st.event(timeout=2)
        st.close()


def test_http2_stream_and_reset(portico, tmp_path):
    """Over HTTP/2 (h2c): the same events; a client that goes (curl
    killed: the connection ends) frees its stream at once."""
    if not shutil.which("curl"):
        pytest.skip("no curl")
    d = daemon(portico, tmp_path, workers=1)
    p = subprocess.Popen(["curl", "-sN", "--http2-prior-knowledge", "--max-time", "10",
                          "-H", "Last-Event-ID: 0", d.url + "/events"],
                         stdout=subprocess.PIPE)
    assert d.wait_log("sse stream on /events started")
    publish(d, "orders", "over\nh2")
    deadline = time.monotonic() + 5
    out = b""
    os.set_blocking(p.stdout.fileno(), False)
    while b"data: h2\n\n" not in out and time.monotonic() < deadline:
        out += p.stdout.read() or b""
        time.sleep(0.05)
    assert re.search(rb"id: \d+\ndata: over\ndata: h2\n\n", out), out
    p.kill()
    p.wait()
    assert d.wait_log("ended (the client left)")
    assert "0 stream(s) left on worker 0" in d.log()


def test_group_prefix_and_host_apply(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1, routes=ROUTES + r'''
group("/g", function() sse.endpoint("/ev", { channels = { "grp" } }) end)
sse.endpoint("/hosted", { channels = { "grp" }, host = "a.test" })
''')
    st = Stream(d, "/g/ev")
    assert st.status == 200
    assert requests.get(d.url + "/ev", timeout=5).status_code == 404
    assert requests.get(d.url + "/hosted", timeout=5).status_code == 404
    hs = Stream(d, "/hosted", {"Host": "a.test"})
    assert hs.status == 200
    publish(d, "grp", "grouped")
    assert st.event()["data"] == "grouped"
    assert hs.event()["data"] == "grouped"
    st.close()
    hs.close()


def test_multi_channel_resume_in_id_order(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/multi")
    for m in ("a1", "b1", "a2", "b2"):
        publish(d, m[0], m)
    evs = [st.event() for _ in range(4)]
    st.close()
    assert [e["data"] for e in evs] == ["a1", "b1", "a2", "b2"]
    for _ in range(4):   # whichever worker answers
        s = Stream(d, "/multi", {"Last-Event-ID": evs[0]["id"]})
        got = [s.event() for _ in range(3)]
        assert [(e["event"], e["data"], e["id"]) for e in got] == \
            [(e["event"], e["data"], e["id"]) for e in evs[1:]]
        s.no_event(0.1)
        s.close()


def test_replay_zero_keeps_nothing(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=1, routes=ROUTES +
               'sse.endpoint("/live", { channels = { "live" }, replay = 0 })\n')
    st = Stream(d, "/live")
    publish(d, "live", "l1")
    publish(d, "live", "l2")
    ids = [st.event()["id"] for _ in range(2)]
    st.close()
    s = Stream(d, "/live", {"Last-Event-ID": ids[1]})   # up to date: nothing lost
    s.no_event(0.2)
    s.close()
    s = Stream(d, "/live", {"Last-Event-ID": ids[0]})   # l2 is gone: say so
    assert s.event() == {"event": "reset", "data": "live"}
    s.no_event(0.2)
    s.close()


def test_plugin_modules_are_globals_by_their_name(portico, tmp_path):
    # the issue writes sse.endpoint(...) with no require: a plugin's module is
    # there under its own name, the same table require gives; a script's own
    # global of that name wins
    d = daemon(portico, tmp_path, routes=r"""
sse.endpoint("/bare", { channels = { "bare" }, heartbeat = 0 })
local same = (sse == require "sse")
route.get("/same", function() return { same = same, runtime = (sse == require "sse") } end)
route.post("/pub/:ch", function(req) return { n = hub.publish(req.params.ch, req.body or "") } end)
""", workers=1)
    assert requests.get(d.url + "/same", timeout=5).json() == {"same": True, "runtime": True}
    s = Stream(d, "/bare")
    try:
        assert s.status == 200
        assert publish(d, "bare", "hi") >= 1
        assert s.event()["data"] == "hi"
    finally:
        s.close()


def test_a_global_named_like_a_plugin_module_wins(portico, tmp_path):
    d = daemon(portico, tmp_path, routes=r"""
sse = { mine = true }
route.get("/which", function() return { mine = sse.mine == true } end)
""", workers=1)
    assert requests.get(d.url + "/which", timeout=5).json() == {"mine": True}
