"""Every piece of Lua the GraphQL executor runs counts against the request's
instruction budget, not only the resolvers it runs as tasks: an abstract
type's __resolveType (called directly, outside any task), under pcall too,
and a field resolver. A runaway one ends that request, and the worker
answers the next one."""
import json
import os
import time

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                                reason="plugins/graphql is not built")

SCHEMA = """
type Query { thing(kind: String!): Thing, spin: Plain, ok: String }
interface Thing { name: String }
type A implements Thing { name: String }
type Plain { v: String, m: String }
"""

ROUTES = r"""
local graphql = require "graphql"
graphql.resolvers {
  Query = {
    thing = function(_, args) return { kind = args.kind, name = "n" } end,
    spin = function(_, args)
      return setmetatable({}, { __index = function(t, k)
        while true do pcall(function() while true do end end) end
      end })
    end,
    ok = function() return "fine" end,
  },
  Thing = {
    __resolveType = function(value)
      if value.kind == "loop" then while true do end end
      if value.kind == "ploop" then
        while true do pcall(function() while true do end end) end
      end
      return "A"
    end,
  },
  Plain = {
    m = function(parent) while true do end end,
  },
}
route.post("/graphql", "graphql")
"""


@pytest.fixture(params=["exact", "default"])
def gql(portico, tmp_path, request):
    """A budget of 2,000,000 is counted from every run's first instruction;
    the default one (10,000,000) from a run's first CPU tick on."""
    (tmp_path / "schema.graphql").write_text(SCHEMA)
    (tmp_path / "app.lua").write_text(ROUTES)
    budget = "lua = { max_instructions = 2000000 }" if request.param == "exact" else ""
    body = f'''
{budget}
plugin "graphql" {{ schema = "{tmp_path}/schema.graphql" }}
routes "{tmp_path}/app.lua"
'''
    return portico(body, plugins_dir=PLUGINS)


def post(d, query, timeout=10):
    return requests.post(d.url + "/graphql", data=json.dumps({"query": query}),
                         headers={"content-type": "application/json"}, timeout=timeout)


def still_serves(d):
    r = post(d, "{ ok }")
    assert r.json() == {"data": {"ok": "fine"}}


def test_resolve_type_is_budgeted(gql):
    assert post(gql, '{ thing(kind: "a") { name } }').json() == {"data": {"thing": {"name": "n"}}}
    t0 = time.monotonic()
    r = post(gql, '{ thing(kind: "loop") { name } }')
    assert time.monotonic() - t0 < 8
    assert r.json()["data"] == {"thing": None} or r.status_code >= 500
    still_serves(gql)


def test_resolve_type_under_pcall_is_budgeted(gql):
    t0 = time.monotonic()
    r = post(gql, '{ thing(kind: "ploop") { name } }')
    assert time.monotonic() - t0 < 8
    assert r.status_code >= 500 or r.json()["data"]["thing"] is None
    still_serves(gql)


def test_default_resolver_runs_no_index_metamethod(gql):
    # parent[fieldName] is a raw read: a looping __index is never entered
    t0 = time.monotonic()
    r = post(gql, "{ spin { v } }")
    assert time.monotonic() - t0 < 8
    assert r.json() == {"data": {"spin": {"v": None}}}
    still_serves(gql)


def test_field_resolver_loop_is_budgeted(gql):
    t0 = time.monotonic()
    r = post(gql, "{ spin { m } }")
    assert time.monotonic() - t0 < 8
    assert r.json()["data"] == {"spin": {"m": None}}
    assert "budget" in r.json()["errors"][0]["message"]
    still_serves(gql)
