"""GraphQL subscriptions over Server-Sent Events on the in-process hub: a
stream per subscription, events published by a mutation through
graphql.publish, disconnects, limits and shutdown."""
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                                reason="plugins/graphql is not built")

SCHEMA = """
type Query { hello: String }
interface Node { id: ID! }
type Author implements Node { id: ID!  name: String!  slowName: String! }
type Post implements Node {
  id: ID!
  title: String!
  author: Author!
  related: Node
}
type Mutation {
  addPost(author: String!, title: String!): Post!
  publishRaw(channel: String!, text: String!): Int!
  burst(author: String!, n: Int!): Int!
}
type Subscription {
  postAdded(author: String!): Post!
  everything: Post
  broken: Post
  failing: Post
}
"""

RESOLVERS = r"""
local graphql = require "graphql"
local next_id = 0
graphql.resolvers {
  Query = { hello = function() return "hi" end },
  Mutation = {
    addPost = function(_, a)
      next_id = next_id + 1
      local post = { id = tostring(next_id), title = a.title, author = a.author,
                     related = { kind = "Author", id = a.author } }
      local n = graphql.publish("posts." .. a.author, post)
      graphql.publish("posts.all", post)
      post.subscribers = n
      return post
    end,
    publishRaw = function(_, a) return graphql.publish(a.channel, a.text) end,
    burst = function(_, a)
      for i = 1, a.n do
        graphql.publish("posts." .. a.author, { id = tostring(i), title = "b" .. i,
                                                author = a.author })
      end
      return a.n
    end,
  },
  Post = {
    author = function(p) return { id = p.author, name = string.upper(p.author) } end,
    title = function(p, _, ctx) return p.title end,
  },
  Author = {
    slowName = function(a) sleep(0.05) return a.name .. "!" end,
  },
  Node = { __resolveType = function(v) return v.kind end },
  Subscription = {
    postAdded = function(_, a, ctx)
      sleep(0.01)
      return "posts." .. a.author
    end,
    everything = function() return { channel = "posts.all" } end,
    broken = function() return 42 end,
    failing = function() error({ message = "not allowed", extensions = { code = "NO" } }) end,
  },
}
route.post("/graphql", "graphql")
route.get("/graphql", "graphql")
"""


def daemon(portico, tmp_path, plugin_opts="", extra="shutdown_timeout = 1"):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (rdir / "10gql.lua").write_text(RESOLVERS)
    body = f'''{extra}
plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" {plugin_opts} }}
routes "{rdir}"
'''
    return portico(body, plugins_dir=PLUGINS)


def gql(d, query, variables=None):
    r = requests.post(d.url + "/graphql", json={"query": query, "variables": variables or {}},
                      timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def add_post(d, author, title):
    return gql(d, 'mutation($a: String!, $t: String!) { addPost(author: $a, title: $t) '
                  '{ id title } }', {"a": author, "t": title})["data"]["addPost"]


def subscribers(d, channel):
    return gql(d, 'mutation($c: String!) { publishRaw(channel: $c, text: "null") }',
               {"c": channel})["data"]["publishRaw"]


class Stream:
    """An SSE stream over a raw socket (HTTP/1.1, chunked)."""

    def __init__(self, d, query, variables=None, method="POST"):
        self.s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        body = json.dumps({"query": query, "variables": variables or {}})
        if method == "POST":
            req = (f"POST /graphql HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                   + body)
        else:
            from urllib.parse import urlencode
            q = urlencode({"query": query, "variables": json.dumps(variables or {})})
            req = f"GET /graphql?{q} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"
        self.s.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()
        self.status = int(self.head.split()[1])
        self.text = ""

    def _recv(self):
        b = self.s.recv(65536)
        if not b:
            raise EOFError("stream closed")
        self.buf += b

    def _dechunk(self):
        while True:
            if b"\r\n" not in self.buf:
                return
            size_line, rest = self.buf.split(b"\r\n", 1)
            n = int(size_line, 16)
            if len(rest) < n + 2:
                return
            self.text += rest[:n].decode()
            self.buf = rest[n + 2:]
            if n == 0:
                self.text += "\0"   # end of the body
                return

    def event(self, timeout=5.0):
        """The next event as (name, data); comments are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            self._dechunk()
            while "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                lines = [ln for ln in block.split("\n") if ln and not ln.startswith(":")]
                if not lines:
                    continue
                ev = dict(ln.split(": ", 1) if ": " in ln else (ln.rstrip(":"), "")
                          for ln in lines)
                data = ev.get("data", "")
                return ev.get("event"), json.loads(data) if data else None
            if "\0" in self.text:
                raise EOFError("stream ended")
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            self._recv()

    def close(self):
        self.s.close()


SUB = "subscription($a: String!) { postAdded(author: $a) { title author { name } } }"


def test_subscription_streams_selected_fields_in_order(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, SUB, {"a": "ada"})
    assert st.status == 200
    assert "content-type: text/event-stream" in st.head.lower()
    assert "cache-control: no-cache" in st.head.lower()
    for i in range(5):
        add_post(d, "ada", "t%d" % i)
    for i in range(5):
        assert st.event() == ("next", {"data": {"postAdded": {
            "title": "t%d" % i, "author": {"name": "ADA"}}}})
    st.close()


def test_subscription_by_argument_gets_only_its_channel(portico, tmp_path):
    d = daemon(portico, tmp_path)
    ada = Stream(d, SUB, {"a": "ada"})
    bob = Stream(d, "subscription { postAdded(author: \"bob\") { id title } }", method="GET")
    assert bob.status == 200
    add_post(d, "ada", "a1")
    add_post(d, "bob", "b1")
    add_post(d, "ada", "a2")
    assert ada.event()[1]["data"]["postAdded"]["title"] == "a1"
    assert ada.event()[1]["data"]["postAdded"]["title"] == "a2"
    assert bob.event()[1]["data"]["postAdded"] == {"id": "2", "title": "b1"}
    with pytest.raises(socket.timeout):
        bob.event(timeout=0.3)


def test_nested_waiting_resolvers_and_abstract_types(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, """subscription { everything { id author { slowName }
                      related { __typename ... on Author { id } } } }""")
    add_post(d, "ada", "x")
    add_post(d, "cy", "y")
    ev = [st.event()[1]["data"]["everything"] for _ in range(2)]
    assert ev == [{"id": "1", "author": {"slowName": "ADA!"},
                   "related": {"__typename": "Author", "id": "ada"}},
                  {"id": "2", "author": {"slowName": "CY!"},
                   "related": {"__typename": "Author", "id": "cy"}}]


def test_bad_events_and_bad_channels_are_errors(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, SUB, {"a": "zed"})
    assert subscribers(d, "posts.zed") == 1   # publishes null
    gql(d, 'mutation { publishRaw(channel: "posts.zed", text: "{not json") }')
    # null for a non-null root field: a field error, the stream goes on
    name, data = st.event()
    assert name == "next" and data["data"] is None and data["errors"]
    name, data = st.event()
    assert name == "next" and "not JSON" in data["errors"][0]["message"]
    add_post(d, "zed", "z")
    assert st.event()[1] == {"data": {"postAdded": {"title": "z", "author": {"name": "ZED"}}}}
    r = requests.post(d.url + "/graphql", json={"query": "subscription { broken { id } }"},
                      headers={"accept": "text/event-stream"}, timeout=5)
    assert r.status_code == 500 and "channel" in r.json()["errors"][0]["message"]
    assert "returned number" in d.log()


def test_a_slow_subscriber_drops_the_oldest_events_and_says_so(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "subscription { postAdded(author: \"hal\") { title author { slowName } } }")
    gql(d, 'mutation { burst(author: "hal", n: 100) }')
    events = [st.event() for _ in range(66)]
    assert all(name == "next" for name, _ in events)
    assert events[0][1]["data"]["postAdded"]["title"] == "b1"
    assert "35 event(s) were dropped" in events[1][1]["errors"][0]["message"]
    assert [e[1]["data"]["postAdded"]["title"] for e in events[2:]] == \
        ["b%d" % i for i in range(37, 101)]


def test_a_failing_source_resolver_is_a_request_error(portico, tmp_path):
    d = daemon(portico, tmp_path)
    r = requests.post(d.url + "/graphql", json={"query": "subscription { failing { id } }"},
                      headers={"accept": "text/event-stream"}, timeout=5)
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["message"] == "not allowed" and err["extensions"] == {"code": "NO"}
    assert err["path"] == ["failing"]
    assert "data" not in r.json()


def test_invalid_subscriptions_answer_400_before_any_stream(portico, tmp_path):
    d = daemon(portico, tmp_path)
    h = {"accept": "text/event-stream"}
    for q in ["subscription { everything { id } postAdded(author: \"a\") { id } }",
              "subscription { nope }",
              "subscription { postAdded { id } }"]:
        r = requests.post(d.url + "/graphql", json={"query": q}, headers=h, timeout=5)
        assert r.status_code == 400, q
        assert r.headers["content-type"].startswith("application/graphql-response+json")
        assert r.json()["errors"]
    r = requests.post(d.url + "/graphql", json={"query": "subscription { everything { id } }"},
                      timeout=5)
    assert r.status_code == 400
    assert "text/event-stream" in r.json()["errors"][0]["message"]
    assert "WebSocket" in r.json()["errors"][0]["message"]


def test_query_over_sse_is_one_event(portico, tmp_path):
    d = daemon(portico, tmp_path)
    r = requests.post(d.url + "/graphql", json={"query": "{ hello }"},
                      headers={"accept": "text/event-stream"}, timeout=5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text == 'event: next\ndata: {"data":{"hello":"hi"}}\n\nevent: complete\ndata:\n\n'


def test_disconnect_unsubscribes(portico, tmp_path):
    d = daemon(portico, tmp_path, plugin_opts=", sse_heartbeat = 0.1")
    st = Stream(d, SUB, {"a": "dee"})
    st2 = Stream(d, SUB, {"a": "dee"})
    assert subscribers(d, "posts.dee") == 2
    st.close()
    deadline = time.monotonic() + 5
    while subscribers(d, "posts.dee") != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert subscribers(d, "posts.dee") == 1
    assert d.wait_log("subscription to posts.dee ended")
    # heartbeats are comment lines
    st2.s.settimeout(2)
    st2._recv()
    st2._dechunk()
    assert ":\n\n" in st2.text


def wait_ended(d, channel, t0, timeout=3):
    """Seconds from T0 until the log says the subscription to CHANNEL ended."""
    assert d.wait_log("subscription to %s ended" % channel, timeout=timeout), \
        "the subscription to %s did not end" % channel
    return time.monotonic() - t0


@pytest.mark.parametrize("how", ["close", "half-close"])
def test_http1_client_leaving_ends_the_subscription_at_once(portico, tmp_path, how):
    # a 60 s heartbeat and nothing published: only the client leaving can end it
    d = daemon(portico, tmp_path, plugin_opts=", sse_heartbeat = 60")
    st = Stream(d, SUB, {"a": "hal"})
    assert st.status == 200
    deadline = time.monotonic() + 5
    while "subscription to posts.hal started" not in d.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.monotonic()
    if how == "half-close":
        st.s.shutdown(socket.SHUT_WR)   # an EOF is leaving, as in nginx
    else:
        st.close()
    assert wait_ended(d, "posts.hal", t0) < 1.0
    assert subscribers(d, "posts.hal") == 0
    st.close()


def test_http2_client_leaving_ends_the_subscription_at_once(portico, tmp_path):
    d = daemon(portico, tmp_path, plugin_opts=", sse_heartbeat = 60")
    body = json.dumps({"query": SUB, "variables": {"a": "ida"}})
    p = subprocess.Popen(["curl", "-sS", "-N", "--http2-prior-knowledge", "--max-time", "20",
                          "-H", "accept: text/event-stream", "-H",
                          "content-type: application/json", "-d", body, d.url + "/graphql"],
                         stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith(":")   # the stream is open
    t0 = time.monotonic()
    p.terminate()
    p.wait(5)
    assert wait_ended(d, "posts.ida", t0) < 1.0
    assert subscribers(d, "posts.ida") == 0


def test_max_events_and_max_duration_complete_the_stream(portico, tmp_path):
    d = daemon(portico, tmp_path, plugin_opts=", max_events = 2, max_duration = 1")
    st = Stream(d, SUB, {"a": "eve"})
    for i in range(3):
        add_post(d, "eve", "e%d" % i)
    assert st.event()[0] == "next"
    assert st.event()[0] == "next"
    assert st.event() == ("complete", None)
    t0 = time.monotonic()
    st2 = Stream(d, SUB, {"a": "eve"})
    assert st2.event(timeout=3) == ("complete", None)
    assert 0.8 < time.monotonic() - t0 < 2.5


def test_sigterm_with_open_streams_stops_cleanly(portico, tmp_path):
    d = daemon(portico, tmp_path, extra="shutdown_timeout = 2")
    streams = [Stream(d, SUB, {"a": "fay"}) for _ in range(3)]
    add_post(d, "fay", "f")
    assert streams[0].event()[0] == "next"
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 < 5
    for st in streams:
        st.close()


def test_http2_stream(portico, tmp_path):
    d = daemon(portico, tmp_path)
    body = json.dumps({"query": SUB, "variables": {"a": "gus"}})
    p = subprocess.Popen(["curl", "-sS", "-N", "--http2-prior-knowledge", "--max-time", "5",
                          "-H", "accept: text/event-stream", "-H",
                          "content-type: application/json", "-d", body, d.url + "/graphql"],
                         stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 5
    while subscribers(d, "posts.gus") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    add_post(d, "gus", "g1")
    line = ""
    while '"title"' not in line:
        line = p.stdout.readline()
        assert line
    assert json.loads(line[6:]) == {"data": {"postAdded": {"title": "g1",
                                                           "author": {"name": "GUS"}}}}
    p.terminate()
    p.wait(5)
    deadline = time.monotonic() + 5
    while subscribers(d, "posts.gus") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert subscribers(d, "posts.gus") == 0
