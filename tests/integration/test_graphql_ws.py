"""GraphQL over WebSocket: the graphql-transport-ws subprotocol on the GraphQL
route (plugins/graphql/ws.c). Every message of the protocol and every close
code, with Python websockets as a client that misbehaves on purpose, and the
real npm graphql-ws client (tests/integration/node) fed by hub.publish."""
import asyncio
import json
import os
import shutil
import subprocess
import time

import pytest
import requests

from conftest import BUILDDIR, HERE

websockets = pytest.importorskip("websockets")

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
PROTO = "graphql-transport-ws"
NODE_DIR = os.path.join(HERE, "node")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                                reason="plugins/graphql is not built")

SCHEMA = """
type Query { hello: String  me: String  slow: String  param: String }
type Post { id: ID!  title: String!  author: String! }
type Mutation { addPost(author: String!, title: String!): Post! }
type Subscription {
  postAdded(author: String!): Post!
  failing: Post
}
"""

ROUTES = r"""
local graphql = require "graphql"
local next_id = 0
graphql.resolvers {
  Query = {
    hello = function() return "hi" end,
    me = function(_, _, ctx) return ctx.user end,
    slow = function() sleep(0.3) return "late" end,
    param = function(_, _, ctx)
      return ctx.connection_params and ctx.connection_params.extra or nil
    end,
  },
  Mutation = {
    addPost = function(_, a)
      next_id = next_id + 1
      local post = { id = tostring(next_id), title = a.title, author = a.author }
      hub.publish("posts." .. a.author, post)
      return post
    end,
  },
  Subscription = {
    postAdded = function(_, a) sleep(0.01) return "posts." .. a.author end,
    failing = function() error({ message = "not allowed", extensions = { code = "NO" } }) end,
  },
}
graphql.on_init(function(payload, ctx)
  if payload and payload.slow then sleep(0.3) end
  if payload and payload.boom then error("the hook broke") end
  if not payload or payload.token ~= "good" then return false, "bad token" end
  if payload.as_table then return { user = "table:" .. payload.user } end
  if payload.ack == "table" then return true, { server = "portico", n = 1 } end
  if payload.ack == "list" then return true, { 1, 2 } end
  ctx.user = payload.user
  return true
end)
route.post("/graphql", "graphql")
route.get("/graphql", "graphql")
route.post("/pub/:ch", function(req)
  return { n = hub.publish(req.params.ch, req.body) }
end)
"""


def daemon(portico, tmp_path, ws_opts="", extra="", workers=1):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (rdir / "10gql.lua").write_text(ROUTES)
    ws = f"ws = {{ {ws_opts} }}," if ws_opts else ""
    body = f'''shutdown_timeout = 1
{extra}
plugin "graphql" {{ {ws} schema = "{tmp_path}/schema.graphql" }}
routes "{rdir}"
'''
    return portico(body, plugins_dir=PLUGINS, workers=workers)


def ws_url(d):
    return f"ws://127.0.0.1:{d.port}/graphql"


def publish(d, channel, value):
    r = requests.post(f"{d.url}/pub/{channel}", data=json.dumps(value), timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["n"]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def connect(d, protos=(PROTO,), **kw):
    return await websockets.connect(ws_url(d), subprotocols=list(protos), **kw)


async def send(ws, msg):
    await ws.send(msg if isinstance(msg, (str, bytes)) else json.dumps(msg))


async def recv(ws, timeout=5):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def init(ws, payload=None):
    await send(ws, {"type": "connection_init", "payload": payload or {"token": "good",
                                                                     "user": "ada"}})
    assert await recv(ws) == {"type": "connection_ack"}


async def closed_with(ws, timeout=5):
    """Reads until the server closes; returns (code, reason)."""
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    except websockets.ConnectionClosed:
        pass
    return ws.close_code, ws.close_reason


async def operation(ws, oid, query, variables=None, name=None):
    """subscribe, then every message for OID up to complete or error."""
    payload = {"query": query}
    if variables is not None:
        payload["variables"] = variables
    if name is not None:
        payload["operationName"] = name
    await send(ws, {"id": oid, "type": "subscribe", "payload": payload})
    got = []
    while True:
        m = await recv(ws)
        assert m.get("id") == oid, m
        got.append(m)
        if m["type"] in ("complete", "error"):
            return got


def wait_subscribed(d, channel, count=1, timeout=5):
    needle = f"subscription to {channel} started"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if d.log().count(needle) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"no '{needle}' x{count} in the log:\n" + d.log()[-3000:])


def wait_subscribers(d, channel, n, timeout=5):
    """Publishes a probe on CHANNEL until N subscriptions take it (the
    probe reaches whoever is still subscribed: use it to see them gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if publish(d, channel, {"id": "x", "title": "probe", "author": "x"}) == n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{channel} did not reach {n} subscribers")


# ---- the handshake ------------------------------------------------------------


def test_ws_upgrade_chooses_the_subprotocol(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d, protos=("other", PROTO))
        assert ws.subprotocol == PROTO
        await ws.close()
    run(go())


def test_ws_upgrade_without_the_subprotocol_is_refused(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(protos):
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await connect(d, protos=protos)
        return e.value.status_code
    assert run(go(())) == 400
    # the legacy subscriptions-transport-ws protocol names itself "graphql-ws"
    assert run(go(("graphql-ws",))) == 400
    assert d.wait_log("upgrade refused")


def test_ws_off_answers_400(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (rdir / "10gql.lua").write_text(ROUTES)
    d = portico(f'plugin "graphql" {{ ws = false, schema = "{tmp_path}/schema.graphql" }}\n'
                f'routes "{rdir}"\n', plugins_dir=PLUGINS)

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await connect(d)
        return e.value.status_code
    assert run(go()) == 400
    # plain GraphQL over HTTP still works
    r = requests.get(d.url + "/graphql", params={"query": "{ hello }"}, timeout=5)
    assert r.json() == {"data": {"hello": "hi"}}


@pytest.mark.parametrize("opts,msg", [
    ("max_operations = 0", "max_operations must be an integer from 1"),
    ("pings = 3", "unknown option ws.pings"),
    ("connection_init_wait_timeout = -1", "connection_init_wait_timeout must be a number"),
])
def test_ws_bad_option_refuses_the_start(portico, tmp_path, opts, msg):
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    d = portico(f'plugin "graphql" {{ ws = {{ {opts} }}, schema = "{tmp_path}/schema.graphql" }}',
                plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert msg in d.log(), d.log()


# ---- connection_init, ack, ping, pong -------------------------------------------


def test_ws_init_ack_ping_pong(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        # ping is answered before the init too, with its payload
        await send(ws, {"type": "ping", "payload": {"n": 1}})
        assert await recv(ws) == {"type": "pong", "payload": {"n": 1}}
        await init(ws)
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        # an unsolicited pong is fine, nothing comes back
        await send(ws, {"type": "pong", "payload": {"t": 2}})
        await send(ws, {"type": "ping", "payload": None})
        assert await recv(ws) == {"type": "pong"}
        await ws.close()
    run(go())


def test_ws_init_hook_context(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws, {"token": "good", "user": "ada", "extra": "x1"})
        got = await operation(ws, "1", "{ me param }")
        assert got == [{"id": "1", "type": "next", "payload": {"data": {"me": "ada",
                                                                            "param": "x1"}}},
                       {"id": "1", "type": "complete"}]
        await ws.close()
        # a table returned by the hook becomes the ctx; the hook may wait
        ws = await connect(d)
        await init(ws, {"token": "good", "user": "bo", "as_table": True, "slow": True})
        got = await operation(ws, "1", "{ me param }")
        assert got[0]["payload"] == {"data": {"me": "table:bo", "param": None}}
        await ws.close()
    run(go())


def test_ws_init_ack_payload(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(ack):
        ws = await connect(d)
        await send(ws, {"type": "connection_init", "payload": {"token": "good", "ack": ack}})
        m = await recv(ws)
        await ws.close()
        return m
    assert run(go("table")) == {"type": "connection_ack",
                                "payload": {"server": "portico", "n": 1}}
    # not an object: acknowledged without it, and logged
    assert run(go("list")) == {"type": "connection_ack"}
    assert d.wait_log("the connection_ack payload must be a table")


def test_ws_init_refused_4403(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(payload):
        ws = await connect(d)
        await send(ws, {"type": "connection_init", "payload": payload})
        return await closed_with(ws)
    assert run(go({"token": "bad"})) == (4403, "Forbidden")
    assert run(go(None)) == (4403, "Forbidden")
    assert d.wait_log("graphql.on_init refused: bad token")
    assert d.wait_log("closing with 4403")


def test_ws_init_hook_error_4500(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await send(ws, {"type": "connection_init", "payload": {"token": "good", "boom": 1}})
        return await closed_with(ws)
    assert run(go()) == (4500, "Internal server error")
    assert d.wait_log("the hook broke")


def test_ws_init_timeout_4408(portico, tmp_path):
    d = daemon(portico, tmp_path, ws_opts="connection_init_wait_timeout = 0.3")

    async def go():
        ws = await connect(d)
        t0 = time.monotonic()
        res = await closed_with(ws)
        return res, time.monotonic() - t0
    (code, reason), took = run(go())
    assert (code, reason) == (4408, "Connection initialisation timeout")
    assert 0.2 < took < 3
    assert d.wait_log("closing with 4408")


def test_ws_init_stops_the_init_timeout(portico, tmp_path):
    d = daemon(portico, tmp_path, ws_opts="connection_init_wait_timeout = 0.5")

    async def go():
        ws = await connect(d)
        await init(ws)
        await asyncio.sleep(0.8)   # past the timeout: still open
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        await ws.close()
    run(go())


def test_ws_second_init_4429(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(slow):
        ws = await connect(d)
        p = {"token": "good", "user": "ada", "slow": slow}
        await send(ws, {"type": "connection_init", "payload": p})
        if not slow:
            assert await recv(ws) == {"type": "connection_ack"}
        await send(ws, {"type": "connection_init", "payload": p})
        return await closed_with(ws)
    assert run(go(False)) == (4429, "Too many initialisation requests")
    # a second init while the hook still waits counts as well
    assert run(go(True)) == (4429, "Too many initialisation requests")
    assert d.wait_log("closing with 4429")


# ---- subscribe: queries and mutations ---------------------------------------------


def test_ws_query_and_mutation(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        assert await operation(ws, "q1", "{ hello }") == [
            {"id": "q1", "type": "next", "payload": {"data": {"hello": "hi"}}},
            {"id": "q1", "type": "complete"}]
        got = await operation(ws, "m1", "mutation M($t: String!) { addPost(author: \"x\", "
                              "title: $t) { title author } }", {"t": "T"}, "M")
        assert got[0]["payload"] == {"data": {"addPost": {"title": "T", "author": "x"}}}
        assert got[1] == {"id": "m1", "type": "complete"}
        # the id is free again once complete
        got = await operation(ws, "q1", "query A { hello } query B { me }", name="B")
        assert got[0]["payload"] == {"data": {"me": "ada"}}
        # variables that do not coerce: a result with errors, then complete
        got = await operation(ws, "q2", "mutation($t: String!) { addPost(author: \"x\", "
                              "title: $t) { id } }", {"t": 5})
        assert got[0]["type"] == "next" and "errors" in got[0]["payload"]
        assert got[1]["type"] == "complete"
        # text in a binary frame is read the same way
        await ws.send(json.dumps({"id": "b", "type": "subscribe",
                                  "payload": {"query": "{ hello }"}}).encode())
        assert (await recv(ws))["payload"] == {"data": {"hello": "hi"}}
        assert await recv(ws) == {"id": "b", "type": "complete"}
        await ws.close()
    run(go())


def test_ws_validation_errors_are_an_error_message(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        got = await operation(ws, "v", "{ nope }")
        assert len(got) == 1 and got[0]["type"] == "error"
        errs = got[0]["payload"]
        assert isinstance(errs, list) and errs
        assert 'Cannot query field "nope"' in errs[0]["message"]
        assert errs[0]["locations"] == [{"line": 1, "column": 3}]
        got = await operation(ws, "s", "{ hello")
        assert got[0]["type"] == "error" and "Syntax Error" in got[0]["payload"][0]["message"]
        got = await operation(ws, "n", "query A { hello } query B { hello }", name="C")
        assert got[0]["type"] == "error" and 'Unknown operation named "C"' in \
            got[0]["payload"][0]["message"]
        # the connection goes on
        assert (await operation(ws, "v", "{ hello }"))[0]["payload"] == {"data": {"hello": "hi"}}
        await ws.close()
    run(go())


def test_ws_client_complete_drops_a_running_query(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        await send(ws, {"id": "slow", "type": "subscribe", "payload": {"query": "{ slow }"}})
        await send(ws, {"id": "slow", "type": "complete"})
        # a complete for an unknown id is ignored
        await send(ws, {"id": "never", "type": "complete"})
        got = await operation(ws, "after", "{ hello }")
        assert got[0]["payload"] == {"data": {"hello": "hi"}}
        await asyncio.sleep(0.5)   # the slow result would have come by now
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        await ws.close()
    run(go())


# ---- subscriptions on the hub -------------------------------------------------------


def test_ws_subscription_fed_by_hub_publish(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        await send(ws, {"id": "s1", "type": "subscribe", "payload": {
            "query": "subscription($a: String!) { postAdded(author: $a) { id title } }",
            "variables": {"a": "ada"}}})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, d, "posts.ada")
        assert publish(d, "posts.ada", {"id": "1", "title": "one", "author": "ada"}) == 1
        assert await recv(ws) == {"id": "s1", "type": "next",
                                  "payload": {"data": {"postAdded": {"id": "1",
                                                                     "title": "one"}}}}
        # a mutation's hub.publish reaches it too
        got = await operation(ws, "m", 'mutation { addPost(author: "ada", title: "two") '
                              '{ id } }')
        nxt = await recv(ws)
        assert nxt["id"] == "s1" and nxt["payload"]["data"]["postAdded"]["title"] == "two"
        assert [m["type"] for m in got] == ["next", "complete"]
        # the client completes: the server stops and frees it
        await send(ws, {"id": "s1", "type": "complete"})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribers, d,
                                                         "posts.ada", 0)
        # and the id can be used again
        await send(ws, {"id": "s1", "type": "subscribe", "payload": {
            "query": 'subscription { postAdded(author: "ada") { title } }'}})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, d,
                                                         "posts.ada", 2)
        assert publish(d, "posts.ada", {"id": "3", "title": "three", "author": "ada"}) == 1
        assert (await recv(ws))["payload"] == {"data": {"postAdded": {"title": "three"}}}
        await ws.close()
    run(go())


def test_ws_closing_frees_every_subscription(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        for i in range(5):
            await send(ws, {"id": f"s{i}", "type": "subscribe", "payload": {
                "query": 'subscription { postAdded(author: "bo") { id } }'}})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, d,
                                                         "posts.bo", 5)
        assert publish(d, "posts.bo", {"id": "1", "title": "t", "author": "bo"}) == 5
        ws.transport.abort()   # no close frame: the connection is just lost
    run(go())
    wait_subscribers(d, "posts.bo", 0)
    assert d.wait_log("5 operation(s) cancelled")


def test_ws_publish_reaches_every_worker(portico, tmp_path):
    d = daemon(portico, tmp_path, workers=2)

    async def go():
        conns = [await connect(d) for _ in range(6)]
        for i, ws in enumerate(conns):
            await init(ws)
            await send(ws, {"id": f"w{i}", "type": "subscribe", "payload": {
                "query": 'subscription { postAdded(author: "all") { title } }'}})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, d,
                                                         "posts.all", 6)
        assert publish(d, "posts.all", {"id": "1", "title": "everyone", "author": "all"}) == 6
        for i, ws in enumerate(conns):
            assert await recv(ws) == {"id": f"w{i}", "type": "next", "payload": {
                "data": {"postAdded": {"title": "everyone"}}}}
            await ws.close()
    run(go())


def test_ws_subscription_source_error(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        got = await operation(ws, "f", "subscription { failing { id } }")
        assert got[0]["type"] == "next"
        assert got[0]["payload"]["errors"][0]["message"] == "not allowed"
        assert got[1] == {"id": "f", "type": "complete"}
        await ws.close()
    run(go())


def test_ws_max_operations(portico, tmp_path):
    d = daemon(portico, tmp_path, ws_opts="max_operations = 2")

    async def go():
        ws = await connect(d)
        await init(ws)
        for i in range(2):
            await send(ws, {"id": f"s{i}", "type": "subscribe", "payload": {
                "query": 'subscription { postAdded(author: "cy") { id } }'}})
        await send(ws, {"id": "s2", "type": "subscribe", "payload": {"query": "{ hello }"}})
        m = await recv(ws)
        assert m["id"] == "s2" and m["type"] == "error"
        assert "Too many operations" in m["payload"][0]["message"]
        # one completes: room again
        await send(ws, {"id": "s0", "type": "complete"})
        got = await operation(ws, "s3", "{ hello }")
        assert got[0]["payload"] == {"data": {"hello": "hi"}}
        await ws.close()
    run(go())
    assert d.wait_log("ws.max_operations")


# ---- close codes for bad input ------------------------------------------------------------


@pytest.mark.parametrize("msg,why", [
    ("not json", "not JSON"),
    ("[]", "not a JSON object"),
    ('{"type": "hello"}', "unknown message type"),
    ('{"id": "1", "type": "next", "payload": {}}', "unknown message type"),
    ('{"type": "connection_ack"}', "unknown message type"),
    ('{"type": "subscribe", "payload": {"query": "{ hello }"}}', "'id'"),
    ('{"id": "1", "type": "subscribe", "payload": {"query": 1}}', "query"),
    ('{"type": "complete"}', "'id'"),
    ('{"type": "ping", "payload": "x"}', "payload"),
])
def test_ws_invalid_message_4400(portico, tmp_path, msg, why):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        await send(ws, msg)
        return await closed_with(ws)
    code, reason = run(go())
    assert code == 4400 and why in reason, (code, reason)
    assert d.wait_log("closing with 4400")


def test_ws_subscribe_before_ack_4401(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(with_init):
        ws = await connect(d)
        if with_init:   # the hook still waits: not acknowledged yet
            await send(ws, {"type": "connection_init",
                            "payload": {"token": "good", "slow": True}})
        await send(ws, {"id": "1", "type": "subscribe", "payload": {"query": "{ hello }"}})
        return await closed_with(ws)
    assert run(go(False)) == (4401, "Unauthorized")
    assert run(go(True)) == (4401, "Unauthorized")
    assert d.wait_log("closing with 4401")


def test_ws_duplicate_id_4409(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go(oid):
        ws = await connect(d)
        await init(ws)
        sub = {"id": oid, "type": "subscribe", "payload": {
            "query": 'subscription { postAdded(author: "dup") { id } }'}}
        await send(ws, sub)
        await send(ws, sub)
        return await closed_with(ws)
    assert run(go("a")) == (4409, "Subscriber for a already exists")
    code, reason = run(go("é" * 200))
    assert code == 4409 and reason.startswith("Subscriber for é") and \
        reason.endswith("... already exists") and len(reason.encode()) <= 123
    assert d.wait_log("closing with 4409")
    wait_subscribers(d, "posts.dup", 0)


def test_ws_oversize_message_1009(portico, tmp_path):
    d = daemon(portico, tmp_path, ws_opts="max_message = 1024")

    async def go():
        ws = await connect(d)
        await init(ws)
        await send(ws, {"id": "1", "type": "subscribe",
                        "payload": {"query": "{ hello }" + " " * 2000}})
        return await closed_with(ws)
    assert run(go())[0] == 1009


def test_ws_hostile_burst_never_crashes(portico, tmp_path):
    """Garbage of every kind on many connections, then the daemon still serves."""
    d = daemon(portico, tmp_path)
    bad = ["", "{", "null", "1", '"x"', '{"type":null}', '{"type":"subscribe","id":"1"}',
           '{"type":"subscribe","id":"1","payload":{"query":"' + "{" * 5000 + '"}}',
           '{"id":"1","type":"subscribe","payload":{"query":"{ hello }","variables":[1]}}',
           b"\xff\xfe\x00", '{"type":"connection_init","payload":{"token":"good"}}' * 2]

    async def one(m, i):
        ws = await connect(d)
        if i % 2:
            await init(ws)
        await send(ws, m)
        if i % 3 == 0:   # and a deep query if still open
            await send(ws, {"id": "d", "type": "subscribe",
                            "payload": {"query": "{" * 3000 + "}" * 3000}})
        try:   # answers (an error message for a document too deep) or a close
            return await closed_with(ws, timeout=2)
        except asyncio.TimeoutError:
            await ws.close()
            return "open"

    async def go():
        res = await asyncio.gather(*(one(m, i) for i, m in enumerate(bad * 2)),
                                   return_exceptions=True)
        for r in res:
            assert not isinstance(r, Exception), r
            assert r == "open" or r[0] in (4400, 4401, 4429), r
        assert res.count("open") <= 2, res   # only the deep document that parses as JSON
        ws = await connect(d)
        await init(ws)
        assert (await operation(ws, "ok", "{ hello }"))[0]["payload"] == \
            {"data": {"hello": "hi"}}
        await ws.close()
    run(go())
    assert d.proc.poll() is None


def test_ws_closing_while_lua_waits(portico, tmp_path):
    """The client leaves while the init hook, a query's resolver and a
    subscription's source resolver wait: they end later with nobody to
    tell, and free everything."""
    d = daemon(portico, tmp_path)

    async def go():
        for _ in range(3):
            ws = await connect(d)
            await send(ws, {"type": "connection_init",
                            "payload": {"token": "good", "slow": True}})
            ws.transport.abort()
            ws = await connect(d)
            await init(ws)
            await send(ws, {"id": "q", "type": "subscribe", "payload": {"query": "{ slow }"}})
            await send(ws, {"id": "s", "type": "subscribe", "payload": {
                "query": 'subscription { postAdded(author: "gone") { id } }'}})
            await ws.close()
        await asyncio.sleep(0.6)   # every wait is over
        ws = await connect(d)
        await init(ws)
        assert (await operation(ws, "ok", "{ hello }"))[0]["payload"] == \
            {"data": {"hello": "hi"}}
        await ws.close()
    run(go())
    wait_subscribers(d, "posts.gone", 0)
    assert d.proc.poll() is None


def test_ws_without_scripts_or_hook(portico, tmp_path):
    """No route scripts: no hook, the default resolvers, the worker's own state."""
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    d = portico(f'plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}\n'
                'route { method = "GET", path = "/graphql", handler = "graphql" }\n',
                plugins_dir=PLUGINS)

    async def go():
        ws = await connect(d)
        await send(ws, {"type": "connection_init"})
        assert await recv(ws) == {"type": "connection_ack"}
        got = await operation(ws, "1", "{ hello __typename }")
        assert got[0]["payload"] == {"data": {"hello": None, "__typename": "Query"}}
        await ws.close()
    run(go())


def test_ws_shutdown_with_open_subscriptions(portico, tmp_path):
    d = daemon(portico, tmp_path)

    async def go():
        ws = await connect(d)
        await init(ws)
        await send(ws, {"id": "s", "type": "subscribe", "payload": {
            "query": 'subscription { postAdded(author: "end") { id } }'}})
        await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, d, "posts.end")
        rc = await asyncio.get_running_loop().run_in_executor(None, d.stop)
        code, _ = await closed_with(ws)
        return rc, code
    rc, code = run(go())
    assert rc == 0, d.log()[-2000:]
    assert code in (1001, 1006)


def test_ws_subscription_across_instances_through_redis(tmp_path):
    """hub = { backplane = "redis" }: a publish on instance A reaches a
    graphql-ws subscriber of instance B, once."""
    from conftest import Daemon
    from test_hub_backplane import CONNECTED, REDIS, RedisServer
    if not os.path.exists(REDIS):
        pytest.skip("redis-server is not installed")
    redis = RedisServer(tmp_path)
    redis.start()
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (rdir / "10gql.lua").write_text(ROUTES)
    ds = []
    try:
        for name in ("a", "b"):
            wd = tmp_path / name
            wd.mkdir()
            d = Daemon(str(wd), f'shutdown_timeout = 1\n'
                       f'plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}\n'
                       f'routes "{rdir}"\n'
                       f'redis = {{ host = "127.0.0.1", port = {redis.port} }}\n'
                       f'hub = {{ backplane = "redis" }}\n', plugins_dir=PLUGINS)
            ds.append(d)
            d.start()
            assert d.wait_log(CONNECTED, 10), d.log()
        a, b = ds

        async def go():
            ws = await connect(b)
            await init(ws)
            await send(ws, {"id": "x", "type": "subscribe", "payload": {
                "query": 'subscription { postAdded(author: "far") { title } }'}})
            await asyncio.get_running_loop().run_in_executor(None, wait_subscribed, b,
                                                             "posts.far")
            publish(a, "posts.far", {"id": "1", "title": "from A", "author": "far"})
            assert await recv(ws) == {"id": "x", "type": "next", "payload": {
                "data": {"postAdded": {"title": "from A"}}}}
            with pytest.raises(asyncio.TimeoutError):   # exactly once
                await recv(ws, timeout=0.5)
            await ws.close()
        run(go())
    finally:
        for d in ds:
            d.stop()
        redis.kill()


# ---- the npm graphql-ws client -----------------------------------------------------------


def test_ws_npm_graphql_ws_client(portico, tmp_path):
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "graphql-ws")):
        pytest.skip("npm packages missing: run `npm ci --prefix tests/integration/node`")
    d = daemon(portico, tmp_path)
    p = subprocess.Popen([node, os.path.join(NODE_DIR, "gqlws_client.mjs"), ws_url(d), "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []

        def line():
            s = p.stdout.readline()
            assert s, "the node client ended early: " + p.stderr.read()
            lines.append(json.loads(s))
            return lines[-1]
        assert line() == {"connected": True}
        assert line() == {"query": {"data": {"hello": "hi", "me": "ada"}}}
        assert line() == {"subscribed": True}
        wait_subscribed(d, "posts.ada")
        assert publish(d, "posts.ada", {"id": "7", "title": "from REST", "author": "ada"}) == 1
        assert line() == {"next": {"data": {"postAdded": {"id": "7", "title": "from REST"}}}}
        r = requests.post(d.url + "/graphql", json={
            "query": 'mutation { addPost(author: "ada", title: "from HTTP") { id } }'},
            timeout=5)
        assert r.status_code == 200, r.text
        assert line()["next"]["data"]["postAdded"]["title"] == "from HTTP"
        assert line() == {"done": True}
        assert p.wait(10) == 0, p.stderr.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_ws_on_a_post_only_route(portico, tmp_path, monkeypatch):
    """route.post("/graphql", "graphql") alone takes the upgrade too (a GET
    with Upgrade: websocket); a plain GET there is still 405."""
    monkeypatch.setattr(__import__(__name__), "ROUTES",
                        ROUTES.replace('route.get("/graphql", "graphql")\n', ""))
    d = daemon(portico, tmp_path)
    assert requests.get(f"{d.url}/graphql?query=%7Bhello%7D", timeout=5).status_code == 405

    async def go():
        ws = await connect(d)
        assert ws.subprotocol == PROTO
        await init(ws)
        await send(ws, {"type": "ping"})
        assert await recv(ws) == {"type": "pong"}
        await ws.close()
    run(go())
