"""The per-field case (a plain Lua resolver per field, as a new user writes
them first): the differential run of graphql_corpus_perfield/ against
graphql-js, what resolvers see of their arguments and info, and the
default limits that let a dashboard-sized query through while refusing
hostile ones with the setting to raise."""
import json
import os
import subprocess

import pytest

from test_graphql import (CORPUS, HERE, PLUGINS, graphql_js, normalize, post,  # noqa: F401
                          pytestmark, sort_types)

PERFIELD = os.path.join(HERE, "graphql_corpus_perfield")
BENCH_QUERY = ("{ users(first: 12) { id name friends(first: 5) { id name "
               "posts(first: 3) { id title author { id name } } } } }")


def perfield_daemon(portico, tmp_path, plugin_opts="", extra=""):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "10resolvers.lua").write_text(open(os.path.join(PERFIELD, "resolvers.lua")).read()
                                          + extra)
    return portico(f'''
plugin "graphql" {{ schema = "{PERFIELD}/schema.graphql" {plugin_opts} }}
routes "{rdir}"
''', plugins_dir=PLUGINS)


@pytest.fixture
def perfield(portico, tmp_path):
    return perfield_daemon(portico, tmp_path)


def test_differential_perfield_corpus_against_graphql_js(perfield):
    where, why = graphql_js()
    if not where:
        pytest.skip(why)
    ref = subprocess.run(["node", os.path.join(HERE, "graphql_ref.mjs"), PERFIELD],
                         capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, GRAPHQL_JS_DIR=where))
    assert ref.returncode == 0, ref.stderr
    expected = json.loads(ref.stdout)
    queries = json.load(open(os.path.join(PERFIELD, "queries.json")))
    queries.append({"name": "introspection",
                    "query": open(os.path.join(CORPUS, "introspection.graphql")).read()})
    assert len(expected) == len(queries)
    diffs = []
    for q, exp in zip(queries, expected):
        got = post(perfield, q["query"], q.get("variables"), q.get("operationName"),
                   accept="application/json").json()
        if normalize(sort_types(got)) != normalize(sort_types(exp)):
            diffs.append((q["name"], normalize(sort_types(got)), normalize(sort_types(exp))))
    assert not diffs, "\n".join("%s:\n portico  %s\n graphqljs %s" % (
        d[0], json.dumps(d[1])[:2000], json.dumps(d[2])[:2000]) for d in diffs)


def test_the_bench_answer_is_byte_for_byte_graphql_js_json(perfield):
    """JSON.stringify of graphql-js's result, key order and all."""
    r = post(perfield, BENCH_QUERY, accept="application/json")
    assert r.status_code == 200
    assert r.content.startswith(b'{"data":{"users":[{"id":"1","name":"user 1","friends":[{"id":')
    assert b" " not in r.content.replace(b"user ", b"").replace(b"post ", b"")
    assert r.content.count(b'"author":') == 12 * 5 * 3


def test_resolvers_get_what_they_declare_and_info_reads_through(perfield):
    j = post(perfield, '{ user(id: "2") { argc kind posts(first: 1) { where } } }').json()
    u = j["data"]["user"]
    assert u["argc"] == 4   # a vararg resolver gets parent, args, ctx, info
    assert u["kind"] == "User.kind:String!:query:nil"
    assert u["posts"][0]["where"] == "user.posts.0.where"


def test_info_is_a_table_of_its_own_per_call(portico, tmp_path):
    """info.path is the call's own; a resolver writing to info does not
    change what another call sees; fieldName comes through the metatable."""
    extra = '''
graphql.resolvers {
  User = {
    kind = function(u, a, ctx, info)
      local seen = info.fieldName .. "|" .. tostring(rawget(info, "scribble"))
      info.scribble = u.id
      info.fieldName = "changed"
      return seen .. "|" .. #info.path
    end,
  },
}
'''
    d = perfield_daemon(portico, tmp_path, extra=extra)
    j = post(d, "{ users(first: 3) { kind } }").json()
    assert [u["kind"] for u in j["data"]["users"]] == ["kind|nil|3"] * 3


def test_default_limits_let_a_dashboard_through(perfield):
    """The issue's shape (12 users, their friends, 3 posts each, authors),
    complexity ~2,600, passes with the defaults."""
    r = post(perfield, BENCH_QUERY)
    assert r.status_code == 200 and "errors" not in r.json()
    r = post(perfield, "{ users(first: 12) { id name email: name friends(first: 8) { id name "
                       "posts(first: 5) { id title author { id name } } } } }")
    assert r.status_code == 200 and "errors" not in r.json(), r.text[:300]


@pytest.mark.parametrize("query", [
    "{ users(first: 100) { friends(first: 100) { name } } }",
    "{ users(first: 1000) { friends(first: 10) { posts(first: 10) { title } } } }",
    "{ users { id } }",   # a missing first: the validator's error, not a crash
])
def test_hostile_fanout_is_refused_naming_the_setting(perfield, query):
    r = post(perfield, query)
    assert r.status_code == 400
    msg = " ".join(e["message"] for e in r.json()["errors"])
    if "first" in query.split("{")[2]:
        assert "exceeds max_complexity 5000" in msg, msg
    else:
        assert "argument \"first\"" in msg, msg


def test_max_complexity_can_be_lowered_and_raised(portico, tmp_path):
    d = perfield_daemon(portico, tmp_path, plugin_opts=", max_complexity = 100")
    r = post(d, BENCH_QUERY)
    assert r.status_code == 400
    assert "exceeds max_complexity 100" in r.json()["errors"][0]["message"]
    (tmp_path / "raised").mkdir()
    d2 = perfield_daemon(portico, tmp_path / "raised", plugin_opts=", max_complexity = 2000000")
    r = post(d2, "{ users(first: 100) { friends(first: 100) { name } } }")
    assert r.status_code == 200 and len(r.json()["data"]["users"]) == 100
