"""/metrics for the graphql plugin: operations by type and outcome, refused
documents (through the ABI's labelled metrics)."""
import os

import requests

from conftest import free_port, wait_port
from test_admin import AUTH, admin_block, parse_metrics, metric
from test_graphql import CORPUS, PLUGINS, post, pytestmark  # noqa: F401


def test_operations_by_type_and_outcome(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    data = open(os.path.join(CORPUS, "data.json")).read()
    (rdir / "00data.lua").write_text("GQL_DATA = json.decode([==[%s]==])\n" % data)
    (rdir / "10resolvers.lua").write_text(open(os.path.join(CORPUS, "resolvers.lua")).read())
    aport = free_port()
    d = portico(f'plugin "graphql" {{ schema = "{CORPUS}/schema.graphql" }}\nroutes "{rdir}"\n'
                + admin_block(aport), plugins_dir=PLUGINS, start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    for _ in range(2):
        assert "errors" not in post(d, "{ floaty }").json()
    assert "errors" in post(d, "{ floaty users(first: 1) { id failing } }").json()
    assert post(d, "mutation { a: double(n: 2) }").json() == {"data": {"a": 4}}
    assert "errors" in post(d, "{ nosuchfield }").json()          # validation
    assert "errors" in post(d, "{ floaty").json()                  # syntax
    ms = parse_metrics(requests.get(f"http://127.0.0.1:{aport}/metrics", headers=AUTH,
                                    timeout=5).text)
    name = "portico_graphql_operations_total"
    assert metric(ms, name, type="query", outcome="ok") == 2
    assert metric(ms, name, type="query", outcome="field_errors") == 1
    assert metric(ms, name, type="mutation", outcome="ok") == 1
    assert metric(ms, name, type="query", outcome="request_error") == 0
    assert metric(ms, "portico_graphql_documents_refused_total") == 2
    assert metric(ms, "portico_graphql_subscriptions") == 0
