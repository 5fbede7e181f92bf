"""hub.publish from Lua: arguments, JSON encoding, the size limit
(hub.max_message), and delivery to subscribers on every worker (SSE
endpoints of the websocket plugin, GraphQL subscriptions)."""
import json
import os
import re
import time

import pytest
import requests

from conftest import BUILDDIR
from test_sse import Stream, streams_on

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "websocket.so")),
                                reason="plugins/websocket is not built")

ROUTES = r"""
local sse = require "sse"
sse.endpoint("/events", { channels = { "orders" }, heartbeat = 0 })
sse.endpoint("/other", { channels = { "other" }, heartbeat = 0 })

route.post("/pub/:ch", function(req)
  return { n = hub.publish(req.params.ch, req.body or "") }
end)

-- the cases a careless script gets wrong, each caught to show its message
local cases = {
  nochannel = function() return hub.publish(nil, "x") end,
  numchannel = function() return hub.publish(42, "x") end,
  empty = function() return hub.publish("", "x") end,
  long = function() return hub.publish(("c"):rep(257), "x") end,
  longok = function() return hub.publish(("c"):rep(256), "x") end,
  newline = function() return hub.publish("a\nb", "x") end,
  nomsg = function() return hub.publish("orders") end,
  fn = function() return hub.publish("orders", print) end,
  cycle = function() local t = {} t.t = t return hub.publish("orders", t) end,
  big = function() return hub.publish("orders", ("x"):rep(65537)) end,
  bigok = function() return hub.publish("orders", ("x"):rep(65536)) end,
  bigtable = function() return hub.publish("orders", { s = ("x"):rep(65536) }) end,
  table = function() return hub.publish("orders", { id = 7, items = { "a", "b" } }) end,
  number = function() return hub.publish("orders", 1.5) end,
  bool = function() return hub.publish("orders", false) end,
}
route.get("/try/:case", function(req)
  local ok, res = pcall(cases[req.params.case])
  return { ok = ok, res = ok and res or tostring(res) }
end)

-- uncaught: a 500 and a log line
route.get("/raw", function() hub.publish("", "x") end)

-- from a filter
filter("announce", function(req) hub.publish("orders", "filter saw " .. req.path) end)
route.get("/filtered", function() return "ok" end, { announce = true })
"""


def daemon(portico, tmp_path, workers=1, extra=""):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "10hub.lua").write_text(ROUTES)
    body = f'''shutdown_timeout = 1
plugin "websocket" {{}}
routes "{rdir}"
{extra}
'''
    return portico(body, plugins_dir=PLUGINS, workers=workers)


def attempt(d, case):
    r = requests.get(f"{d.url}/try/{case}", timeout=5)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("case,why", [
    ("nochannel", "hub.publish: the channel (argument 1) must be a string, not nil"),
    ("numchannel", "hub.publish: the channel (argument 1) must be a string, not number"),
    ("empty", "hub.publish: a channel name is 1 to 256 bytes, not 0"),
    ("long", "hub.publish: a channel name is 1 to 256 bytes, not 257"),
    ("newline", "hub.publish: the channel name has a control character at byte 2"),
    ("nomsg", "hub.publish: the message (argument 2) must be a string, or a table, number "
              "or boolean (sent as JSON), not no value"),
    ("fn", "hub.publish: the message (argument 2) must be a string, or a table, number "
           "or boolean (sent as JSON), not function"),
    ("cycle", "hub.publish: the message cannot be JSON"),
    ("big", "hub.publish: the message is 65537 bytes, over hub.max_message (65536)"),
    ("bigtable", "over hub.max_message (65536)"),
])
def test_bad_arguments_raise_clear_errors(portico, tmp_path, case, why):
    d = daemon(portico, tmp_path)
    res = attempt(d, case)
    assert res["ok"] is False
    assert why in res["res"], res


def test_limits_are_inclusive(portico, tmp_path):
    d = daemon(portico, tmp_path)
    assert attempt(d, "longok") == {"ok": True, "res": 0}
    assert attempt(d, "bigok") == {"ok": True, "res": 1}


def test_uncaught_error_is_a_500_with_a_log_line(portico, tmp_path):
    d = daemon(portico, tmp_path)
    r = requests.get(d.url + "/raw", timeout=5)
    assert r.status_code == 500
    assert d.wait_log("hub.publish: a channel name is 1 to 256 bytes, not 0")
    line = next(i for i, ln in enumerate(ROUTES.split("\n"), 1) if '"/raw"' in ln)
    assert f"10hub.lua:{line}: hub.publish: a channel name" in d.log(), d.log()


def test_values_are_sent_as_json(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/events")
    assert attempt(d, "table") == {"ok": True, "res": 1}
    assert attempt(d, "number") == {"ok": True, "res": 1}
    assert attempt(d, "bool") == {"ok": True, "res": 1}
    assert json.loads(st.event()["data"]) == {"id": 7, "items": ["a", "b"]}
    assert json.loads(st.event()["data"]) == 1.5
    assert json.loads(st.event()["data"]) is False
    st.close()


def test_strings_go_as_they_are(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/events")
    other = Stream(d, "/other")
    r = requests.post(d.url + "/pub/orders", data="not json {", timeout=5)
    assert r.json() == {"n": 1}
    assert st.event()["data"] == "not json {"
    other.no_event(0.2)   # channels are apart
    # nobody on a channel: 0
    assert requests.post(d.url + "/pub/nobody", data="x", timeout=5).json() == {"n": 0}
    st.close()
    other.close()


def test_publish_from_a_filter(portico, tmp_path):
    d = daemon(portico, tmp_path)
    st = Stream(d, "/events")
    assert requests.get(d.url + "/filtered", timeout=5).text == "ok"
    assert st.event()["data"] == "filter saw /filtered"
    st.close()


def test_max_message_config(portico, tmp_path):
    d = daemon(portico, tmp_path, extra="hub = { max_message = 1000 }")
    st = Stream(d, "/events")
    r = requests.post(d.url + "/pub/orders", data="y" * 1000, timeout=5)
    assert r.json() == {"n": 1}
    assert st.event()["data"] == "y" * 1000
    r = requests.post(d.url + "/pub/orders", data="y" * 1001, timeout=5)
    assert r.status_code == 500
    assert d.wait_log("the message is 1001 bytes, over hub.max_message (1000)")
    st.no_event(0.2)
    st.close()


@pytest.mark.parametrize("value,why", [
    ("0", "'max_message' must be between 1 and"),
    ("-5", "'max_message' must be between 1 and"),
    ('"big"', "'max_message'"),
    ("1e12", "'max_message' must be between 1 and"),
])
def test_bad_max_message_config_is_refused(portico, tmp_path, value, why):
    d = portico(f"hub = {{ max_message = {value} }}", start=False)
    d.start(expect_ok=False)
    d.proc.wait(timeout=10)
    assert d.proc.returncode != 0
    out = d.proc.stdout.read().decode() + d.log()
    assert why in out, out


def test_publish_reaches_the_other_worker(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=2)
    sts = streams_on(d, "/events")
    # new connections each time: the publishing route runs on either worker
    pubs = 10
    for i in range(pubs):
        assert requests.post(d.url + "/pub/orders", data="m%d" % i, timeout=5).json() == {"n": 2}
    for st in sts:
        got = [st.event()["data"] for _ in range(pubs)]
        assert got == ["m%d" % i for i in range(pubs)]
        st.close()


def test_reaches_graphql_subscriptions_and_runs_in_resolvers(portico, tmp_path):
    import test_graphql_sub as g
    if not os.path.exists(os.path.join(PLUGINS, "graphql.so")):
        pytest.skip("plugins/graphql is not built")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "20hub.lua").write_text(r'''
local graphql = require "graphql"
graphql.resolvers { Mutation = {
  publishRaw = function(_, a) return hub.publish(a.channel, a.text) end } }
route.post("/rest/post", function(req)
  return { n = hub.publish("posts.ada", { id = "9", title = req.body, author = "ada" }) }
end)
''')
    d = g.daemon(portico, tmp_path)
    st = g.Stream(d, g.SUB, {"a": "ada"})
    assert st.status == 200
    # a REST route's hub.publish feeds the GraphQL subscription
    r = requests.post(d.url + "/rest/post", data="from rest", timeout=5)
    assert r.json() == {"n": 1}
    assert st.event() == ("next", {"data": {"postAdded": {
        "title": "from rest", "author": {"name": "ADA"}}}})
    # hub.publish inside a resolver; its errors are GraphQL errors
    res = g.gql(d, 'mutation { publishRaw(channel: "posts.ada", text: "{\\"id\\":\\"1\\",'
                   '\\"title\\":\\"from resolver\\",\\"author\\":\\"ada\\"}") }')
    assert res["data"]["publishRaw"] == 1
    assert st.event()[1]["data"]["postAdded"]["title"] == "from resolver"
    res = requests.post(d.url + "/graphql", json={
        "query": 'mutation { publishRaw(channel: "", text: "x") }'}, timeout=5).json()
    assert res["errors"][0]["message"] == "hub.publish: a channel name is 1 to 256 bytes, not 0"
    st.close()
