"""The demo's legacy SOAP ledger behind JSON and GraphQL (issue 15's "done
when"): scripts/demo-ledger runs as scripts/demo starts it (a separate
process speaking SOAP 1.1/1.2), and the daemon runs the shipped
conf/routes/soap.lua and graphql.lua with the `upstream "ledger"` and
`plugin "soap"` blocks taken from conf/portico.conf (only the port
changed). The caller sees JSON only, never XML, and the ledger's faults
come back as JSON errors."""
import os
import re
import shutil
import signal
import subprocess

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, free_port, wait_port  # noqa: E402

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
CONF = os.path.join(SRCDIR, "conf")
HAVE = all(os.path.exists(os.path.join(PLUGINS, p)) for p in ("soap.so", "graphql.so"))
pytestmark = pytest.mark.skipif(not HAVE, reason="plugins/soap.la or graphql.la is not built")


def block(text, head):
    """The `head { ... }` block of TEXT, braces balanced."""
    i = text.index(head)
    depth, j = 0, text.index("{", i)
    while True:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
        if depth == 0:
            return text[i:j]


@pytest.fixture
def ledger():
    """scripts/demo-ledger on a free port; stopped after the test."""
    port = free_port()
    p = subprocess.Popen(["/usr/bin/python3", os.path.join(SRCDIR, "scripts", "demo-ledger"),
                          "--port", str(port)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    assert wait_port(port, proc=p), "scripts/demo-ledger did not start"
    yield p, port
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        p.wait(10)


@pytest.fixture
def demo(portico, ledger, tmp_path):
    """The daemon with the demo's SOAP and GraphQL pieces, as shipped."""
    _, port = ledger
    with open(os.path.join(CONF, "portico.conf")) as f:
        text = f.read()
    up = block(text, 'upstream "ledger"')
    assert "127.0.0.1:9003" in up
    up = up.replace("127.0.0.1:9003", f"127.0.0.1:{port}")
    soap = block(text, 'plugin "soap"')
    os.symlink(CONF, tmp_path / "conf")            # conf/soap/ledger.wsdl, relative
    rdir = tmp_path / "routes"
    rdir.mkdir()
    for f in ("soap.lua", "graphql.lua"):
        shutil.copy(os.path.join(CONF, "routes", f), rdir / f)
    return portico(f'{up}\n{soap}\nplugin "graphql" {{ schema = "conf/schema.graphql" }}\n'
                   f'routes "{rdir}"\n', plugins_dir=PLUGINS)


def get(d, path):
    r = requests.get(d.url + path, timeout=10)
    assert r.headers["content-type"].startswith("application/json"), r.headers
    assert "<" not in r.text, r.text                # no XML reaches the caller
    return r.status_code, r.json()


def gql(d, query):
    r = requests.post(d.url + "/graphql", json={"query": query},
                      headers={"accept": "application/json"}, timeout=10)
    assert r.status_code == 200, r.text
    assert "<" not in r.text, r.text
    return r.json()


def test_account_as_json(demo):
    status, a = get(demo, "/v1/accounts/2")
    assert status == 200, a
    assert a == {"id": 2, "owner": "Charles Babbage", "balance": 2017.1, "currency": "EUR",
                 "status": "OPEN", "opened": "2012-02-12T09:30:00Z"}
    status, a = get(demo, "/v1/accounts/4")
    assert status == 200 and a["status"] == "FROZEN" and a["owner"] == "Alan Turing"


def test_transactions_are_a_list_and_nil_is_absent(demo):
    status, t = get(demo, "/v1/accounts/1/transactions?limit=4")
    assert status == 200, t
    tx = t["transactions"]
    assert [x["id"] for x in tx] == [1001, 1002, 1003, 1004]
    assert [x["amount"] for x in tx] == [10.5, -20.5, 30.5, -40.5]
    assert tx[0]["memo"] == "payment 1" and "memo" not in tx[2]     # xsi:nil
    assert tx[0]["at"] == "2026-11-28T12:00:00Z"
    # none at all: still a list (encoded as JSON [] or {} by the JSON writer)
    status, t = get(demo, "/v1/accounts/1/transactions?limit=0")
    assert status == 200 and not t["transactions"], t


def test_faults_are_clear_json_errors(demo):
    # the ledger's AccountNotFound fault
    assert get(demo, "/v1/accounts/404") == (404, {"error": "account 404 not found"})
    # a soap:Server fault: the ledger's own words, as a 502
    status, e = get(demo, "/v1/accounts/500")
    assert status == 502 and e == {"error": "ledger: ledger database is offline",
                                   "kind": "soap"}, e
    # refused before anything is sent: not an integer, not an xsd:int
    status, e = get(demo, "/v1/accounts/abc")
    assert status == 400 and "integer" in e["error"], e
    status, e = get(demo, "/v1/accounts/99999999999")
    assert status == 400 and e["kind"] == "invalid" and "accountId" in e["error"], e
    status, e = get(demo, "/v1/accounts/1/transactions?limit=1000")
    assert status == 400, e
    # careless ids: never a call, never a 500
    for bad in ("-3", "0", "2.5", "1e3x", "9" * 4000, "%00", "0x10"):
        status, e = get(demo, "/v1/accounts/" + bad)
        assert status in (400, 404) and "error" in e, (bad, status, e)
    assert get(demo, "/v1/accounts/2?x=<a>")[0] == 200


def test_graphql_field_backed_by_soap(demo):
    got = gql(demo, '{ account(id: 2) { id owner balance currency status opened '
                    'transactions(limit: 3) { id amount at memo } } }')
    assert "errors" not in got, got
    a = got["data"]["account"]
    assert a["id"] == "2" and a["owner"] == "Charles Babbage" and a["balance"] == 2017.1
    assert a["status"] == "OPEN" and a["opened"] == "2012-02-12T09:30:00Z"
    assert [t["id"] for t in a["transactions"]] == ["2001", "2002", "2003"]
    assert a["transactions"][2]["memo"] is None
    # several accounts in one query, calls overlapping; an unknown one is null
    got = gql(demo, '{ a: account(id: 1) { owner } b: account(id: 404) { owner } '
                    'c: account(id: 5) { owner } }')
    assert got == {"data": {"a": {"owner": "Ada Lovelace"}, "b": None,
                            "c": {"owner": "Edsger Dijkstra"}}}, got
    # not an account number: null, no call
    assert gql(demo, '{ account(id: "abc") { owner } }') == {"data": {"account": None}}
    # a server fault: the field is null with the ledger's reason, the rest stands
    got = gql(demo, '{ bad: account(id: 500) { owner } ok: account(id: 3) { owner } }')
    assert got["data"] == {"bad": None, "ok": {"owner": "Grace Hopper"}}, got
    assert got["errors"][0]["message"] == "ledger: ledger database is offline", got
    assert got["errors"][0]["path"] == ["bad"]


def test_legacy_service_down_is_a_503(demo, ledger):
    p, _ = ledger
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    status, e = get(demo, "/v1/accounts/2")
    assert status == 503 and e["kind"] == "transport", e
    assert e["error"].startswith("ledger: "), e
    got = gql(demo, "{ account(id: 2) { owner } }")
    assert got["data"] == {"account": None} and got["errors"][0]["message"].startswith("ledger:")
    # the daemon keeps serving
    assert requests.get(demo.url + "/graphql?query={hello}", timeout=5).status_code == 200


def test_demo_ledger_speaks_soap_12_and_serves_its_wsdl(ledger):
    """The legacy side really is SOAP: its WSDL and a 1.2 fault, without Portico."""
    _, port = ledger
    r = requests.get(f"http://127.0.0.1:{port}/ledger?wsdl", timeout=5)
    assert r.status_code == 200 and b"LedgerSoap12" in r.content
    env = ('<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>'
           '<GetAccount xmlns="urn:example:ledger"><accountId>7</accountId></GetAccount>'
           '</e:Body></e:Envelope>')
    r = requests.post(f"http://127.0.0.1:{port}/ledger", data=env, timeout=5,
                      headers={"content-type": "application/soap+xml; charset=utf-8"})
    assert r.status_code == 400 and b"AccountNotFound" in r.content
    assert re.search(rb"<soap:Value>soap:Sender</soap:Value>", r.content)
