"""A reload refused by the route scripts leaves the plugins on the running
config's options.

The plugins take a reload's new options before the scripts run (the scripts
use them); when a script then fails, the running generation stays, and the
plugins must go back to its options too: here the GraphQL plugin's schema.
Before, the old routes went on serving with the refused config's schema.
"""
import os
import signal

import pytest
import requests

from conftest import BUILDDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "graphql.so")),
                                reason="plugins/graphql.la is not built")


def test_refused_reload_keeps_the_plugins_on_the_running_options(portico, tmp_path):
    (tmp_path / "a.graphql").write_text("type Query { a: String }\n")
    (tmp_path / "b.graphql").write_text("type Query { b: String }\n")
    rdir = tmp_path / "routes"
    rdir.mkdir()
    good = ('local graphql = require "graphql"\n'
            'graphql.resolvers { Query = { a = function() return "A" end } }\n'
            'route.post("/graphql", "graphql")\n')
    (rdir / "g.lua").write_text(good)
    d = portico(start=False, plugins_dir=PLUGINS)
    base = d.text + f'routes "{rdir}"\n'
    d.write(base + f'plugin "graphql" {{ schema = "{tmp_path}/a.graphql" }}\n')
    d.start()

    def q(text):
        r = requests.post(d.url + "/graphql", json={"query": text}, timeout=5)
        return r.json()

    assert q("{ a }") == {"data": {"a": "A"}}
    # the new config: another schema, and a script that fails to load
    d.write(base + f'plugin "graphql" {{ schema = "{tmp_path}/b.graphql" }}\n')
    (rdir / "g.lua").write_text(good + "this is not lua\n")
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused"), d.log()
    assert q("{ a }") == {"data": {"a": "A"}}, d.log()
    assert "errors" in q("{ b }")
    # and a good reload afterwards takes the new schema
    (rdir / "g.lua").write_text('local graphql = require "graphql"\n'
                                'graphql.resolvers { Query = { b = function() return "B" end } }\n'
                                'route.post("/graphql", "graphql")\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 3 is live") or d.wait_log("generation 2 is live"), d.log()
    assert q("{ b }") == {"data": {"b": "B"}}, d.log()
