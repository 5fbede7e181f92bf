"""The SOAP plugin's client against real SOAP servers the tests start:
node-soap (npm `soap`, serving tests/data/soap/ledger.wsdl) and spyne
(Debian python3-spyne, whose own generated WSDL Portico loads), each over
SOAP 1.1 and SOAP 1.2. Route scripts call the Ledger through
soap.client(...) and answer JSON; the tests check every value type of the
pinned Lua mapping (plugins/soap/soap.h), arrays of none, one and many,
xsi:nil, types across namespaces, faults of both versions, what went on the
wire, and a REST route and a GraphQL resolver backed by a SOAP call.

Needs: node + `npm ci` in tests/integration/node/soap (node-soap), and
python3-spyne (spyne); each half skips with a message when its server is
missing.
"""
import json
import os
import re
import select
import shutil
import subprocess
import time
import urllib.request

import pytest
import requests

from conftest import BUILDDIR, free_port

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.abspath(os.path.join(HERE, "..", "data", "soap"))
LEDGER_WSDL = os.path.join(DATA, "ledger.wsdl")
SERVERS = os.path.join(HERE, "soap_servers")
NODE_DIR = os.path.join(HERE, "node", "soap")
PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
PY = "/usr/bin/python3"

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "soap.so")),
                                reason="plugins/soap is not built")

PHOTO = bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80])


def node_missing():
    if not shutil.which("node"):
        return "node is not installed (Debian: nodejs npm)"
    if not os.path.exists(os.path.join(NODE_DIR, "node_modules", "soap", "package.json")):
        return "node-soap is not installed: npm ci --prefix tests/integration/node/soap"
    return None


def spyne_missing():
    r = subprocess.run([PY, "-c", "import spyne, lxml"], capture_output=True)
    if r.returncode != 0:
        return "spyne is not installed (Debian: python3-spyne python3-lxml)"
    return None


# ---- the SOAP servers ------------------------------------------------------------

class Peer:
    """A SOAP server in a child process: READY on stdout, stops on stdin EOF."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.port = free_port()
        self.log_path = os.path.join(workdir, name + ".log")
        self.log_file = open(self.log_path, "w")
        self.proc = subprocess.Popen(argv + [str(self.port)], cwd=SERVERS,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log_file, env=dict(os.environ, **(env or {})))
        deadline = time.monotonic() + 60
        line = b""
        while time.monotonic() < deadline and self.proc.poll() is None:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                line = self.proc.stdout.readline()
                break
        if not line.startswith(b"READY"):
            self.stop()
            raise RuntimeError("%s did not start:\n%s" % (name, self.log()))

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def log(self):
        self.log_file.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.log_file.close()


@pytest.fixture(scope="module")
def node_peer(tmp_path_factory):
    why = node_missing()
    if why:
        pytest.skip(why)
    p = Peer("node-soap", ["node", os.path.join(SERVERS, "node_ledger.js")],
             str(tmp_path_factory.mktemp("node")))
    yield p
    p.stop()


@pytest.fixture(scope="module")
def spyne_peer(tmp_path_factory):
    why = spyne_missing()
    if why:
        pytest.skip(why)
    d = tmp_path_factory.mktemp("spyne")
    p = Peer("spyne", [PY, os.path.join(SERVERS, "spyne_ledger.py")], str(d))
    # spyne makes its own WSDL; Portico loads local files only: fetch each.
    p.wsdl = {}
    for v in ("11", "12"):
        with urllib.request.urlopen("%s/ledger/soap%s?wsdl" % (p.url, v), timeout=30) as r:
            text = r.read()
        path = d / ("spyne-ledger-soap%s.wsdl" % v)
        path.write_bytes(text)
        p.wsdl[v] = str(path)
    yield p
    p.stop()


# ---- the daemon and its scripts ------------------------------------------------------

# A tagged view of any Lua value, so the tests see Lua's types through JSON:
# {integer = 1}, {float = 1.5}, {s = hex bytes}, {b = true}, {a = [...]} for
# a sequence (an empty table too), {o = {...}} for other tables.
VIEW_LUA = r'''
local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end
function VIEW(v)
  local t = type(v)
  if t == "nil" then return json.null end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return { float = tostring(v) } end
    return { [math.type(v)] = v }
  end
  if t == "string" then return { s = hex(v) } end
  if t == "boolean" then return { b = v } end
  if t == "table" then
    local n = 0
    for _ in pairs(v) do n = n + 1 end
    if n == #v then
      local a = {}
      for i = 1, n do a[i] = VIEW(v[i]) end
      return { a = json.array(a) }
    end
    local o = {}
    for k, x in pairs(v) do o[tostring(k)] = VIEW(x) end
    return { o = o }
  end
  return { other = tostring(v) }
end
'''

# /call/<service>/<Operation>: the JSON body is the input table; answers
# { r = VIEW(result), f = VIEW(fault) }.
CALL_LUA = r'''
local clients = {}
route.post("/call/:svc/:op", function(req, res)
  local c = clients[req.params.svc]
  if not c then
    c = soap.client(req.params.svc)
    clients[req.params.svc] = c
  end
  local input = req:json()
  local ok, r, f = pcall(function() return c[req.params.op](c, input) end)
  if not ok then return 500, { error = tostring(r) } end
  return 200, { r = VIEW(r), f = VIEW(f) }
end)
'''

# Transfer with memo = soap.null (xsi:nil), which JSON bodies cannot say.
NULL_LUA = r'''
route.post("/nullmemo/:svc", function(req, res)
  local c = soap.client(req.params.svc)
  local r, f = c:Transfer({ from = 1, to = 3, amount = 1, memo = soap.null })
  return 200, { r = VIEW(r), f = VIEW(f) }
end)
'''

# soap.describe as JSON.
DESCRIBE_LUA = r'''
route.get("/describe/:svc", function(req)
  return 200, soap.describe(req.params.svc)
end)
'''

# A hand-written REST route: the adapter a user writes, reshaping the
# account and mapping faults to HTTP errors.
REST_LUA = r'''
local ledger = soap.client("ledger")
route.get("/v1/accounts/:id", function(req, res)
  local r, fault = ledger:GetAccount({ accountId = tonumber(req.params.id) })
  if fault then
    if fault.kind == "soap" and fault.code:match("Client") or
       fault.kind == "soap" and fault.code:match("Sender") then
      return 404, { error = fault.reason, code = fault.code }
    end
    return 502, { error = fault.reason, kind = fault.kind }
  end
  local a = r.account
  return 200, {
    id = a.id, owner = a.owner, balance = a.balance, currency = a.currency,
    active = a.active, tags = json.array(a.tags), note = a.note or json.null,
    city = a.address.city, country = a.address.country,
    photo_bytes = a.photo and #a.photo or 0,
  }
end)
'''

GRAPHQL_SDL = '''
type Query {
  account(id: Int!): Account
  accounts(ownerPrefix: String!, limit: Int): [Account!]!
}
type Mutation {
  transfer(from: ID!, to: ID!, amount: Float!): Receipt!
}
enum Currency { EUR USD GBP }
type Address { street: String! city: String! postalCode: String country: String! }
type Account {
  id: ID!
  owner: String!
  balance: Float!
  currency: Currency!
  active: Boolean!
  tags: [String!]!
  note: String
  address: Address!
}
type Receipt { reference: String! status: String from: ID! to: ID! amount: Float! }
'''

GRAPHQL_LUA = r'''
local ledger = soap.client("ledger12")
local function failed(f)
  error({ message = f.reason, extensions = { code = f.kind == "soap" and "LEDGER_FAULT" or "LEDGER_DOWN",
                                             soapCode = f.code } })
end
graphql.resolvers {
  Query = {
    account = function(_, args)
      local r, f = ledger:GetAccount({ accountId = args.id })
      if f then failed(f) end
      return r.account
    end,
    accounts = function(_, args)
      local r, f = ledger:ListAccounts({ ownerPrefix = args.ownerPrefix, limit = args.limit })
      if f then failed(f) end
      return r.account
    end,
  },
  Mutation = {
    transfer = function(_, args)
      local r, f = ledger:Transfer({ from = math.tointeger(tonumber(args.from)),
                                     to = math.tointeger(tonumber(args.to)), amount = args.amount })
      if f then failed(f) end
      return r.receipt
    end,
  },
}
route.post("/graphql", "graphql")
'''


def start_portico(portico, tmp_path, services, upstreams="", extra_lua="", graphql=False,
                  extra_conf=""):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "00view.lua").write_text(VIEW_LUA)
    (rdir / "10call.lua").write_text(CALL_LUA + NULL_LUA + DESCRIBE_LUA + extra_lua)
    plugins = 'plugin "soap" { services = { %s } }\n' % services
    if graphql:
        schema = tmp_path / "ledger.graphql"
        schema.write_text(GRAPHQL_SDL)
        plugins += 'plugin "graphql" { schema = "%s" }\n' % schema
        (rdir / "20graphql.lua").write_text(GRAPHQL_LUA)
    body = '%s\n%s%sroutes "%s"\n' % (upstreams, extra_conf, plugins, rdir)
    return portico(body, plugins_dir=PLUGINS)


def node_daemon(portico, tmp_path, peer, **kw):
    """ledger: SOAP 1.1 through an upstream, the path from soap:address;
    ledger12: the SOAP 1.2 port through the same upstream; ledger12url: the
    SOAP 1.2 port by url."""
    ups = 'upstream "ledger_up" { servers = { "127.0.0.1:%d" }, timeout = { read = 20 } }' % peer.port
    services = (
        'ledger = { wsdl = "%s", upstream = "ledger_up" }, '
        'ledger12 = { wsdl = "%s", upstream = "ledger_up", port = "LedgerSoap12" }, '
        'ledger12url = { wsdl = "%s", url = "%s/ledger/soap12", port = "LedgerSoap12" }'
        % (LEDGER_WSDL, LEDGER_WSDL, LEDGER_WSDL, peer.url))
    return start_portico(portico, tmp_path, services, upstreams=ups, **kw)


def spyne_daemon(portico, tmp_path, peer, **kw):
    """ledger: spyne's SOAP 1.1 WSDL, called at its soap:address; ledger12:
    its SOAP 1.2 WSDL by url."""
    services = ('ledger = { wsdl = "%s" }, ledger12 = { wsdl = "%s", url = "%s/ledger/soap12" }'
                % (peer.wsdl["11"], peer.wsdl["12"], peer.url))
    return start_portico(portico, tmp_path, services, **kw)


def unview(x):
    if x is None:
        return None
    (k, v), = x.items()
    if k == "integer":
        assert isinstance(v, int), x
        return v
    if k == "float":
        return float(v)
    if k == "s":
        b = bytes.fromhex(v)
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return b
    if k == "b":
        return v
    if k == "a":
        return [unview(e) for e in v]
    if k == "o":
        return {kk: unview(vv) for kk, vv in v.items()}
    raise AssertionError("unexpected Lua value %r" % (x,))


def typed(v):
    """V with each leaf's Python type beside it, so == also compares types."""
    if isinstance(v, dict):
        return {k: typed(x) for k, x in v.items()}
    if isinstance(v, list):
        return [typed(x) for x in v]
    return (type(v).__name__, v)


def call(d, svc, op, args):
    """(result, fault) of soap.client(svc):op(args), as Python values."""
    r = requests.post("%s/call/%s/%s" % (d.url, svc, op), data=json.dumps(args),
                      headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 200, (r.status_code, r.text, d.log()[-3000:])
    j = r.json()
    return unview(j["r"]), unview(j["f"])


def ok(d, svc, op, args):
    r, f = call(d, svc, op, args)
    assert f is None, (f, d.log()[-3000:])
    assert r is not None
    return r


# ---- the expected data ----------------------------------------------------------------

def accounts(peer_name):
    """The servers' accounts as the Lua mapping shapes them. dateTime stays
    the string each server sent."""
    spyne = peer_name == "spyne"
    return {
        1: {"id": 1, "owner": "Ada Lovelace", "balance": 1250.75, "currency": "EUR",
            "opened": "2019-03-01T09:30:00+00:00" if spyne else "2019-03-01T09:30:00Z",
            "active": True, "tags": ["vip", "savings"], "note": 'prefers <email> & "letters"',
            "address": {"street": "12 St James's Square", "city": "London",
                        "postalCode": "SW1Y 4JH", "country": "GB"},
            "photo": PHOTO},
        # one tag: still a sequence; note is xsi:nil: absent; no postalCode, no photo
        2: {"id": 2, "owner": "Alan Turing", "balance": -20.5, "currency": "GBP",
            "opened": "2020-06-23T00:00:00+00:00" if spyne else "2020-06-23T00:00:00Z",
            "active": False, "tags": ["overdrawn"],
            "address": {"street": "Hollymeade", "city": "Wilmslow", "country": "GB"}},
        # no tags: an empty table; an empty note is "", not nil
        3: {"id": 3, "owner": "Grace Hopper", "balance": 1000000.01, "currency": "USD",
            "opened": "2021-12-09T17:45:30.500000+00:00" if spyne else "2021-12-09T17:45:30.5Z",
            "active": True, "tags": [], "note": "",
            "address": {"street": "1 Navy Way", "city": "Arlington", "postalCode": "22202",
                        "country": "US"}},
        # non-ASCII both ways, whitespace kept, an empty base64Binary is ""
        5: {"id": 5, "owner": "\u00c9milie du Ch\u00e2telet", "balance": 99.99, "currency": "EUR",
            "opened": "1745-01-01T00:00:00+00:00" if spyne else "1745-01-01T00:00:00Z",
            "active": False, "tags": ["physique", "\u540d\u524d", "\U0001f680"],
            "note": "na\u00efve caf\u00e9 \u2013 \u2211 \u00a0",
            "address": {"street": "Rue de la Ferronnerie", "city": "Lun\u00e9ville",
                        "country": "FR"},
            "photo": b""},
        # a long past 2^53: an exact integer; balance "0" is still a number (float)
        9007199254740993: {
            "id": 9007199254740993, "owner": "Alonzo Church", "balance": 0.0, "currency": "USD",
            "opened": "1936-04-01T12:00:00+00:00" if spyne else "1936-04-01T12:00:00Z",
            "active": True, "tags": ["legacy", "migrated", "lambda"],
            "note": "migrated from the mainframe",
            "address": {"street": "Fine Hall", "city": "Princeton", "postalCode": "08544",
                        "country": "US"}},
    }


def last_request(peer):
    with urllib.request.urlopen(peer.url + "/__last", timeout=10) as r:
        return json.loads(r.read())


SERVICES = {  # (peer, service) -> SOAP version
    ("node", "ledger"): "1.1", ("node", "ledger12"): "1.2", ("node", "ledger12url"): "1.2",
    ("spyne", "ledger"): "1.1", ("spyne", "ledger12"): "1.2",
}


@pytest.fixture(params=["node", "spyne"])
def peer_daemon(request, portico, tmp_path):
    """(peer name, its server, a daemon calling it) for each server."""
    if request.param == "node":
        peer = request.getfixturevalue("node_peer")
        return "node", peer, node_daemon(portico, tmp_path, peer)
    peer = request.getfixturevalue("spyne_peer")
    return "spyne", peer, spyne_daemon(portico, tmp_path, peer)


def services_of(name):
    return [s for (p, s) in SERVICES if p == name]


# ---- calls: every value type, both versions, both servers ---------------------------

def test_get_account_converts_every_type(peer_daemon):
    name, peer, d = peer_daemon
    want = accounts(name)
    for svc in services_of(name):
        for i in (1, 2, 3):
            r = ok(d, svc, "GetAccount", {"accountId": i})
            assert typed(r) == typed({"account": want[i]}), (name, svc, i)


def test_unicode_whitespace_and_empty_binary(peer_daemon):
    name, peer, d = peer_daemon
    want = accounts(name)[5]
    for svc in services_of(name):
        r = ok(d, svc, "GetAccount", {"accountId": 5})
        got = r["account"]
        # an empty base64Binary decodes to "" (JSON-viewed as the empty str)
        assert got.get("photo") in ("", b""), got
        got["photo"] = b""
        assert typed(got) == typed(want), svc
        r = ok(d, svc, "ListAccounts", {"ownerPrefix": "\u00c9milie"})
        assert [a["owner"] for a in r["account"]] == [want["owner"]], svc


def test_list_accounts_arrays_of_none_one_and_many(peer_daemon):
    name, peer, d = peer_daemon
    want = accounts(name)
    for svc in services_of(name):
        assert typed(ok(d, svc, "ListAccounts", {"ownerPrefix": "Zed"})) == \
            typed({"account": []}), svc
        assert typed(ok(d, svc, "ListAccounts", {"ownerPrefix": "Alan"})) == \
            typed({"account": [want[2]]}), svc
        r = ok(d, svc, "ListAccounts", {"ownerPrefix": "A"})
        assert typed(r) == typed({"account": [want[1], want[2], want[9007199254740993]]}), svc
        r = ok(d, svc, "ListAccounts", {"ownerPrefix": "A", "limit": 1})
        assert [a["id"] for a in r["account"]] == [1], svc
        r = ok(d, svc, "ListAccounts", {"ownerPrefix": "A", "limit": 0})
        assert r == {"account": []}, svc


def test_transfer_receipt_attributes_and_longs(peer_daemon):
    name, peer, d = peer_daemon
    for svc in services_of(name):
        r = ok(d, svc, "Transfer", {"from": 1, "to": 9007199254740993, "amount": 12.5})
        rc = r["receipt"]
        assert re.fullmatch(r"TX-\d{6}", rc.pop("reference")), r
        assert isinstance(rc.pop("executed"), str)
        assert typed(rc) == typed({"status": "settled", "from": 1, "to": 9007199254740993,
                                   "amount": 12.5}), svc
        r = ok(d, svc, "Transfer", {"from": 2, "to": 3, "amount": 25000})
        assert r["receipt"]["status"] == "pending"


# ---- faults ------------------------------------------------------------------------

def test_fault_not_found_both_versions(peer_daemon):
    name, peer, d = peer_daemon
    for svc in services_of(name):
        version = SERVICES[(name, svc)]
        r, f = call(d, svc, "GetAccount", {"accountId": 4242})
        assert r is None, (svc, r)
        assert f["kind"] == "soap", f
        assert f["version"] == version, f
        assert f["operation"] == "GetAccount", f
        assert f["reason"] == "account 4242 does not exist", f
        assert f["status"] == 500, f
        if version == "1.1":
            code = {"node": "soap:Client", "spyne": "soap11env:Client.AccountNotFound"}[name]
            assert f["code"] == code, f
            assert f.get("subcode") is None, f
        else:
            code = {"node": "soap:Sender", "spyne": "soap12env:Sender"}[name]
            sub = {"node": "tns:AccountNotFound", "spyne": "AccountNotFound"}[name]
            assert (f["code"], f.get("subcode")) == (code, sub), f
        # the detail: a table keyed by its child element's name
        if name == "node":
            # ledger.wsdl names this element in wsdl:fault: decoded per its schema
            want = {"accountId": 4242, "message": "no account 4242"}
        else:
            # spyne's WSDL declares no fault: decoded generically, text stays text
            want = {"accountId": "4242", "message": "no account 4242"}
        assert typed(f["detail"]) == typed({"AccountNotFound": want}), f


def test_fault_without_detail_and_from_transfer(peer_daemon):
    name, peer, d = peer_daemon
    for svc in services_of(name):
        r, f = call(d, svc, "Transfer", {"from": 1, "to": 2, "amount": -5})
        assert r is None
        assert f["kind"] == "soap" and f["reason"] == "amount must be positive", f
        assert f.get("detail") is None, f
        r, f = call(d, svc, "Transfer", {"from": 1, "to": 77, "amount": 1})
        assert f["kind"] == "soap" and f["reason"] == "account 77 does not exist", f


def test_input_errors_are_refused_before_sending(node_peer, portico, tmp_path):
    d = node_daemon(portico, tmp_path, node_peer)
    before = last_request(node_peer)
    for args, field in (({"accountId": "abc"}, "accountId"),
                        ({"accountID": 1}, "accountID"),
                        ({}, "accountId"),
                        ({"accountId": 2 ** 40}, "accountId")):
        r, f = call(d, "ledger", "GetAccount", args)
        assert r is None
        assert f["kind"] == "invalid", (args, f)
        assert field in f["reason"], (args, f)
    r, f = call(d, "ledger", "Transfer", {"from": 1, "to": 2, "amount": "lots"})
    assert f["kind"] == "invalid" and "amount" in f["reason"], f
    assert last_request(node_peer) == before, "an invalid input reached the server"


# ---- what goes on the wire --------------------------------------------------------------

def test_wire_soap11_and_soap12_requests(node_peer, portico, tmp_path):
    d = node_daemon(portico, tmp_path, node_peer)
    ok(d, "ledger", "Transfer", {"amount": 1.5, "to": 3, "from": 1})
    w = last_request(node_peer)
    assert w["path"] == "/ledger/soap11", w
    assert w["contentType"].lower().startswith("text/xml"), w
    assert w["soapAction"] == '"http://example.com/ledger/2024/Transfer"', w
    assert "http://schemas.xmlsoap.org/soap/envelope/" in w["body"], w
    body = w["body"]
    # the schema's order whatever the table's; no memo: not sent
    assert body.index("from>") < body.index("to>") < body.index("amount>"), body
    assert "memo" not in body, body

    ok(d, "ledger12", "GetAccount", {"accountId": 2})
    w = last_request(node_peer)
    assert w["path"] == "/ledger/soap12", w
    ct = w["contentType"].lower()
    assert ct.startswith("application/soap+xml"), w
    assert 'action="http://example.com/ledger/2024/getaccount"' in ct, w
    assert "http://www.w3.org/2003/05/soap-envelope" in w["body"], w
    assert w["soapAction"] is None, w

    ok(d, "ledger12url", "GetAccount", {"accountId": 2})
    assert last_request(node_peer)["path"] == "/ledger/soap12"


def test_nil_and_text_memo_round_trip(peer_daemon):
    """memo = soap.null goes as xsi:nil and comes back as nil; text comes
    back as it went (the servers echo it in the receipt)."""
    name, peer, d = peer_daemon
    for svc in services_of(name):
        r = requests.post("%s/nullmemo/%s" % (d.url, svc), timeout=30)
        assert r.status_code == 200, (r.text, d.log()[-2000:])
        j = r.json()
        assert unview(j["f"]) is None, j
        rc = unview(j["r"])["receipt"]
        assert "memo" not in rc, rc
        if name == "node":
            body = last_request(peer)["body"]
            m = re.search(r"<(\w+:)?memo [^>]*nil=\"true\"", body)
            assert m, body
            assert "http://www.w3.org/2001/XMLSchema-instance" in body, body
        rc = ok(d, svc, "Transfer", {"from": 1, "to": 3, "amount": 1,
                                     "memo": "rent <May> & \u00e9t\u00e9"})["receipt"]
        assert rc["memo"] == "rent <May> & \u00e9t\u00e9", rc


def test_describe_shapes_from_both_wsdls(peer_daemon):
    """soap.describe reads ledger.wsdl and spyne's own WSDL alike."""
    name, peer, d = peer_daemon
    for svc in services_of(name):
        r = requests.get("%s/describe/%s" % (d.url, svc), timeout=10)
        assert r.status_code == 200, (r.text, d.log()[-2000:])
        j = r.json()
        assert j["version"] == SERVICES[(name, svc)], j
        ops = j["operations"]
        assert sorted(ops) == ["GetAccount", "ListAccounts", "Transfer"], ops
        ga = ops["GetAccount"]
        assert ga["input"]["properties"]["accountId"]["type"] == "integer", ga
        assert ga["input"]["required"] == ["accountId"], ga
        acct = ga["output"]["properties"]["account"]["properties"]
        assert acct["id"]["type"] == "integer" and acct["balance"]["type"] == "number", acct
        assert acct["active"]["type"] == "boolean", acct
        assert acct["tags"]["type"] == "array", acct
        assert acct["currency"]["enum"] == ["EUR", "USD", "GBP"], acct
        assert acct["photo"]["format"] == "byte", acct
        assert "null" in acct["note"]["type"], acct
        addr = acct["address"]["properties"]
        assert sorted(addr) == ["city", "country", "postalCode", "street"], addr
        lst = ops["ListAccounts"]["output"]["properties"]["account"]
        assert lst["type"] == "array", lst
        if name == "node":
            assert ga["faults"] == ["AccountNotFound"], ga


def test_client_port_option(node_peer, portico, tmp_path):
    """soap.client(name, { port = ... }) picks the port in the script."""
    extra = r'''
local c12 = soap.client("ledger", { port = "LedgerSoap12" })
route.get("/port12", function(req, res)
  local r, f = c12:GetAccount({ accountId = 1 })
  return 200, { owner = r and r.account.owner, fault = f and f.reason }
end)
'''
    d = node_daemon(portico, tmp_path, node_peer, extra_lua=extra)
    r = requests.get(d.url + "/port12", timeout=30)
    assert r.json() == {"owner": "Ada Lovelace"}, (r.text, d.log()[-2000:])
    w = last_request(node_peer)
    # through the upstream, the path of that port's soap:address
    assert w["path"] == "/ledger/soap12", w
    assert w["contentType"].lower().startswith("application/soap+xml"), w


def test_many_calls_at_once(peer_daemon):
    """Waiting calls overlap and each answer goes to its own request."""
    import concurrent.futures
    name, peer, d = peer_daemon
    jobs = [("ledger", 1), ("ledger12", 2), ("ledger", 3), ("ledger12", 4242)] * 5
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(lambda j: call(d, j[0], "GetAccount", {"accountId": j[1]}), jobs))
    for (svc, i), (r, f) in zip(jobs, got):
        if i == 4242:
            assert r is None and f["kind"] == "soap", (svc, f)
        else:
            assert f is None and r["account"]["id"] == i, (svc, i, r, f)


def test_pooled_connection_closed_by_the_server(node_peer, portico, tmp_path):
    """node closes an idle keep-alive connection after 5 s: the next call
    through the upstream (a Transfer, never retried) must not fail on the
    dead pooled connection."""
    d = node_daemon(portico, tmp_path, node_peer)
    for svc in ("ledger", "ledger12"):
        ok(d, svc, "GetAccount", {"accountId": 1})
    time.sleep(5.6)
    for svc in ("ledger", "ledger12"):
        r, f = call(d, svc, "Transfer", {"from": 1, "to": 2, "amount": 3})
        assert f is None, (svc, f)
        assert r["receipt"]["amount"] == 3.0


def test_server_gone_is_a_transport_fault(node_peer, portico, tmp_path):
    """The legacy side goes away: calls answer a transport fault, the
    daemon keeps serving, and calls work again when it is back."""
    gone = Peer("node-soap-gone", ["node", os.path.join(SERVERS, "node_ledger.js")],
                str(tmp_path))
    services = ('ledger = { wsdl = "%s", url = "%s/ledger/soap11" }, '
                'ledger12 = { wsdl = "%s", url = "%s/ledger/soap12", port = "LedgerSoap12" }'
                % (LEDGER_WSDL, gone.url, LEDGER_WSDL, gone.url))
    d = start_portico(portico, tmp_path, services)
    try:
        assert ok(d, "ledger", "GetAccount", {"accountId": 1})["account"]["id"] == 1
    finally:
        gone.stop()
    for svc, version in (("ledger", "1.1"), ("ledger12", "1.2")):
        t0 = time.monotonic()
        r, f = call(d, svc, "GetAccount", {"accountId": 1})
        assert r is None and f["kind"] == "transport", f
        assert f["version"] == version and f["operation"] == "GetAccount", f
        assert f["reason"], f
        assert time.monotonic() - t0 < 10
    # the daemon is fine, and other services still answer
    assert requests.get(d.url + "/nothing-here", timeout=10).status_code == 404


def test_node_soap_undeclared_xsi_prefix_is_malformed(node_peer, portico, tmp_path):
    """node-soap 1.13 as it is writes xsi:nil="true" without declaring xsi
    (node_ledger.js declares it unless NODE_LEDGER_RAW_XSI is set): that
    answer is not namespace-well-formed, and is refused as zeep refuses it,
    saying why; answers without a nil still work."""
    raw = Peer("node-soap-raw", ["node", os.path.join(SERVERS, "node_ledger.js")],
               str(tmp_path), env={"NODE_LEDGER_RAW_XSI": "1"})
    try:
        services = 'ledger = { wsdl = "%s", url = "%s/ledger/soap11" }' % (LEDGER_WSDL, raw.url)
        d = start_portico(portico, tmp_path, services)
        r, f = call(d, "ledger", "GetAccount", {"accountId": 2})
        assert r is None and f["kind"] == "malformed", f
        assert "xsi" in f["reason"], f
        assert d.wait_log("Namespace prefix xsi"), d.log()[-2000:]
        assert ok(d, "ledger", "GetAccount", {"accountId": 1})["account"]["id"] == 1
    finally:
        raw.stop()


# ---- a REST route, generated routes and a GraphQL resolver backed by SOAP ---------------------------------

def rest_daemon(name, peer, portico, tmp_path, graphql=False):
    if name == "node":
        return node_daemon(portico, tmp_path, peer, extra_lua=REST_LUA, graphql=graphql)
    return spyne_daemon(portico, tmp_path, peer, extra_lua=REST_LUA, graphql=graphql)


@pytest.mark.parametrize("name", ["node", "spyne"])
def test_rest_route_backed_by_soap(name, request, portico, tmp_path):
    peer = request.getfixturevalue(name + "_peer")
    d = rest_daemon(name, peer, portico, tmp_path)
    r = requests.get(d.url + "/v1/accounts/1", timeout=30)
    assert r.status_code == 200, (r.text, d.log()[-2000:])
    assert r.headers["content-type"].startswith("application/json")
    j = r.json()
    assert typed(j) == typed({"id": 1, "owner": "Ada Lovelace", "balance": 1250.75,
                              "currency": "EUR", "active": True, "tags": ["vip", "savings"],
                              "note": 'prefers <email> & "letters"', "city": "London",
                              "country": "GB", "photo_bytes": 12})
    j = requests.get(d.url + "/v1/accounts/2", timeout=30).json()
    assert j["tags"] == ["overdrawn"] and j["note"] is None and j["active"] is False
    assert requests.get(d.url + "/v1/accounts/3", timeout=30).json()["tags"] == []
    r = requests.get(d.url + "/v1/accounts/31337", timeout=30)
    assert r.status_code == 404, r.text
    assert r.json()["error"] == "account 31337 does not exist"
    assert "<" not in r.text, "XML leaked to the REST client"


@pytest.mark.parametrize("name", ["node", "spyne"])
def test_exposed_routes_against_real_servers(name, request, portico, tmp_path):
    """soap.expose's generated JSON routes, SOAP 1.1 and 1.2, and their
    OpenAPI document, in front of each real server."""
    peer = request.getfixturevalue(name + "_peer")
    expose = ('soap.expose("ledger", "/v1/ledger")\n'
              'soap.expose("ledger12", "/v1/ledger12")\n')
    conf = 'openapi = { path = "/openapi.json", title = "ledger" }\n'
    daemon = node_daemon if name == "node" else spyne_daemon
    d = daemon(portico, tmp_path, peer, extra_lua=expose, extra_conf=conf)
    want = accounts(name)

    def post(path, body):
        return requests.post(d.url + path, data=json.dumps(body), timeout=30,
                             headers={"content-type": "application/json"})

    for prefix in ("/v1/ledger", "/v1/ledger12"):
        r = post(prefix + "/GetAccount", {"accountId": 1})
        assert r.status_code == 200, (r.text, d.log()[-2000:])
        a = r.json()["account"]
        exp = dict(want[1], photo="iVBORw0KGgoA/xCA")   # bytes as base64 text
        assert typed(a) == typed(exp), prefix
        a = post(prefix + "/GetAccount", {"accountId": 2}).json()["account"]
        assert "note" not in a and a["tags"] == ["overdrawn"], a
        assert post(prefix + "/GetAccount", {"accountId": 3}).json()["account"]["tags"] == []
        assert post(prefix + "/ListAccounts", {"ownerPrefix": "Zed"}).json() == {"account": []}
        r = post(prefix + "/Transfer", {"from": 1, "to": 3, "amount": 2.5, "memo": None})
        assert r.status_code == 200, r.text
        assert "memo" not in r.json()["receipt"], r.text
        r = post(prefix + "/GetAccount", {"accountId": 4242})
        assert r.status_code == 400, r.text       # a Client / Sender fault
        e = r.json()["error"]
        assert e["kind"] == "soap" and e["reason"] == "account 4242 does not exist", e
        assert e["detail"]["AccountNotFound"]["message"] == "no account 4242", e
        r = post(prefix + "/GetAccount", {"accountId": "one"})
        assert r.status_code == 400 and r.json()["error"]["kind"] == "invalid", r.text
        assert "<" not in r.text
    doc = requests.get(d.url + "/openapi.json", timeout=10).json()
    op = doc["paths"]["/v1/ledger/GetAccount"]["post"]
    req = op["requestBody"]["content"]["application/json"]["schema"]
    assert req["properties"]["accountId"]["type"] == "integer", req
    assert "/v1/ledger12/Transfer" in doc["paths"], sorted(doc["paths"])


@pytest.mark.parametrize("name", ["node", "spyne"])
def test_graphql_resolver_backed_by_soap(name, request, portico, tmp_path):
    if not os.path.exists(os.path.join(PLUGINS, "graphql.so")):
        pytest.skip("plugins/graphql is not built")
    peer = request.getfixturevalue(name + "_peer")
    d = rest_daemon(name, peer, portico, tmp_path, graphql=True)

    def gql(query, variables=None):
        r = requests.post(d.url + "/graphql", timeout=30,
                          headers={"content-type": "application/json",
                                   "accept": "application/json"},
                          data=json.dumps({"query": query, "variables": variables or {}}))
        assert r.status_code == 200, (r.text, d.log()[-2000:])
        return r.json()

    j = gql("query($id: Int!) { account(id: $id) { id owner balance currency active tags note "
            "address { city country postalCode } } }", {"id": 1})
    assert j == {"data": {"account": {
        "id": "1", "owner": "Ada Lovelace", "balance": 1250.75, "currency": "EUR",
        "active": True, "tags": ["vip", "savings"], "note": 'prefers <email> & "letters"',
        "address": {"city": "London", "country": "GB", "postalCode": "SW1Y 4JH"}}}}, j
    j = gql("{ a: account(id: 2) { note tags address { postalCode } } "
            "b: account(id: 3) { note tags } "
            "none: accounts(ownerPrefix: \"Zed\") { id } "
            "some: accounts(ownerPrefix: \"A\", limit: 2) { owner } }")
    assert j == {"data": {"a": {"note": None, "tags": ["overdrawn"], "address": {"postalCode": None}},
                          "b": {"note": "", "tags": []},
                          "none": [],
                          "some": [{"owner": "Ada Lovelace"}, {"owner": "Alan Turing"}]}}, j
    j = gql("mutation { transfer(from: \"1\", to: \"3\", amount: 2.5) { status from to amount } }")
    assert j == {"data": {"transfer": {"status": "settled", "from": "1", "to": "3",
                                       "amount": 2.5}}}, j
    j = gql("{ account(id: 31337) { id } }")
    assert j["data"] == {"account": None}, j
    err = j["errors"][0]
    assert err["message"] == "account 31337 does not exist", j
    assert err["extensions"]["code"] == "LEDGER_FAULT", j
    assert err["path"] == ["account"], j
