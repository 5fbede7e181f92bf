"""The soap plugin's client: soap.client, client:Operation, soap.describe.

A small SOAP server runs in the test (http.server on 127.0.0.1, a thread),
answering canned envelopes for tests/data/soap/client/ledger.wsdl (one
portType, a SOAP 1.1 and a SOAP 1.2 binding) and recording what it got, so
the tests check the requests too: SOAPAction or the action parameter,
Content-Type, envelope namespaces, element order, WS-Security text and
digest (verified by the server), the request id and trace context. Then:
faults of both versions, HTTP errors, a refused connection, a slow server,
retries of idempotent operations only, input refused before sending, the
XML attack documents answered by the server, a broken WSDL at start and at
reload, the access log's upstream fields, a client leaving mid-call.
Interop with real SOAP stacks (node-soap, spyne) is test_soap_interop.py.
"""
import base64
import glob
import hashlib
import http.server
import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request

import pytest
from lxml import etree

from conftest import BUILDDIR, SRCDIR, free_port, wait_port

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
SOAP_SO = os.path.join(PLUGINS, "soap.so")
DATA = os.path.join(SRCDIR, "tests", "data", "soap", "client")
WSDL = os.path.join(DATA, "ledger.wsdl")
BROKEN = os.path.join(DATA, "broken.wsdl")
ATTACKS = os.path.join(SRCDIR, "tests", "data", "soap", "attacks")

pytestmark = pytest.mark.skipif(not os.path.exists(SOAP_SO), reason="the soap plugin is not built")

S11 = "http://schemas.xmlsoap.org/soap/envelope/"
S12 = "http://www.w3.org/2003/05/soap-envelope"
TNS = "urn:portico:test:ledger"
WSSE = ("http://docs.oasis-open.org/wss/2004/01/"
        "oasis-200401-wss-wssecurity-secext-1.0.xsd")
WSU = ("http://docs.oasis-open.org/wss/2004/01/"
       "oasis-200401-wss-wssecurity-utility-1.0.xsd")
DIGEST = ("http://docs.oasis-open.org/wss/2004/01/"
          "oasis-200401-wss-username-token-profile-1.0#PasswordDigest")

# ---- the SOAP server -----------------------------------------------------------------------


def envelope(ns, body):
    return (f'<?xml version="1.0" encoding="utf-8"?>'
            f'<e:Envelope xmlns:e="{ns}"><e:Body>{body}</e:Body></e:Envelope>').encode()


def fault11(detail=True):
    d = (f'<detail><t:AccountNotFound xmlns:t="{TNS}"><t:accountId>404</t:accountId>'
         f'</t:AccountNotFound></detail>') if detail else ""
    return envelope(S11, f'<e:Fault><faultcode>e:Client</faultcode>'
                         f'<faultstring>no such account</faultstring>{d}</e:Fault>')


def fault12():
    return envelope(S12, '<e:Fault><e:Code><e:Value>e:Sender</e:Value>'
                         '<e:Subcode><e:Value xmlns:app="urn:app">app:NotFound</e:Value>'
                         '</e:Subcode></e:Code>'
                         '<e:Reason><e:Text xml:lang="en">no such account</e:Text></e:Reason>'
                         f'<e:Detail><t:AccountNotFound xmlns:t="{TNS}">'
                         '<t:accountId>404</t:accountId></t:AccountNotFound></e:Detail>'
                         '</e:Fault>')


def account(ns, acc_id):
    return envelope(ns, f'<t:GetAccountResponse xmlns:t="{TNS}"><t:account>'
                        f'<t:id>{acc_id}</t:id><t:owner>Ada &amp; co</t:owner>'
                        '<t:balance>12.5</t:balance><t:active>true</t:active>'
                        '<t:tags>gold</t:tags><t:tags>eu</t:tags>'
                        '</t:account></t:GetAccountResponse>')


class Seen:
    def __init__(self, path, headers, body):
        self.path, self.headers, self.body = path, headers, body
        self.doc = None
        try:
            self.doc = etree.fromstring(body)
        except etree.XMLSyntaxError:
            pass

    @property
    def ns(self):
        return etree.QName(self.doc).namespace

    def body_el(self):
        return self.doc.find("{%s}Body" % self.ns)[0]

    def header_el(self):
        return self.doc.find("{%s}Header" % self.ns)


class SoapServer:
    """Answers per `mode` (set by the tests); records every request."""

    def __init__(self):
        self.requests = []
        self.mode = "normal"
        self.delay = 0.0
        self.attack = b""
        self.lock = threading.Lock()
        srv = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(n)
                seen = Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with srv.lock:
                    srv.requests.append(seen)
                status, ctype, out = srv.answer(seen)
                if srv.delay:
                    time.sleep(srv.delay)
                try:
                    self.send_response(status)
                    if ctype:
                        self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                except OSError:
                    pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128                     # bursts of calls: no refused connects

        self.httpd = Server(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def clear(self, mode="normal", delay=0.0):
        with self.lock:
            self.requests = []
        self.mode, self.delay = mode, delay

    def count(self):
        with self.lock:
            return len(self.requests)

    def last(self):
        with self.lock:
            return self.requests[-1]

    def answer(self, seen):
        if self.mode == "http500":
            return 500, "text/plain", b"internal error, no envelope here"
        if self.mode == "http503":
            return 503, "text/plain", b"busy"
        if self.mode == "attack":
            return 200, "text/xml; charset=utf-8", self.attack
        if self.mode == "notxml":
            return 200, "text/html", b"<html>a login page</html>"
        if seen.doc is None:
            return 400, "text/plain", b"not XML"
        ns = seen.ns
        if self.mode == "wrongversion":   # a server that picked the other binding
            ns = S12 if ns == S11 else S11
        ctype = "text/xml; charset=utf-8" if ns == S11 else "application/soap+xml; charset=utf-8"
        op = etree.QName(seen.body_el()).localname
        if op == "GetAccount":
            acc = int(seen.body_el().findtext("{%s}accountId" % TNS))
            if acc == 404:
                return 500, ctype, fault11() if ns == S11 else fault12()
            return 200, ctype, account(ns, acc)
        if op == "Transfer":
            return 200, ctype, envelope(ns, f'<TransferResponse xmlns="{TNS}"><ok>1</ok>'
                                            '</TransferResponse>')
        if op == "Notify":
            return 202, None, b""
        return 500, ctype, fault11(False)

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    s = SoapServer()
    yield s
    s.stop()


# ---- the daemon -----------------------------------------------------------------------------

ROUTES = r"""
-- a client made while the scripts load, kept in a global for every request
kept = soap.client("ledger")
local ok, err = pcall(function() return kept:GetAccount({ accountId = 7 }) end)
load_err = err

local clients = {}
local function client(name, port)
  local key = name .. "/" .. (port or "")
  if not clients[key] then clients[key] = soap.client(name, port and { port = port } or nil) end
  return clients[key]
end

route.post("/call/:svc/:op", function(req)
  local body = req:json() or {}
  local c = client(req.params.svc, req.query.port)
  local r, f = c[req.params.op](c, body.input)
  return { result = r, fault = f }
end)

route.post("/pcall/:op", function(req)
  local body = req:json() or {}
  local ok, r, f = pcall(kept[req.params.op], kept, body.input)
  return { ok = ok, result = r, fault = f }
end)

route.get("/errors", function(req)
  local out = {}
  out.noself = select(2, pcall(kept.GetAccount, { accountId = 1 }))
  out.unknown_op = select(2, pcall(function() return kept.NoSuchOp end))
  out.unknown_svc = select(2, pcall(soap.client, "nope"))
  out.unknown_port = select(2, pcall(soap.client, "ledger", { port = "Nope" }))
  out.bad_opt = select(2, pcall(soap.client, "ledger", { prot = "x" }))
  out.not_table = select(2, pcall(function() return kept:GetAccount(5) end))
  out.load_err = load_err
  out.in_coroutine = select(2, pcall(coroutine.wrap(function()
    return kept:GetAccount({ accountId = 1 })
  end)))
  return out
end)

local short = soap.client("ledger12", { timeout = 0.3, wsse = { username = "carol", password = "pw" } })
route.post("/short", function(req)
  local r, f = short:GetAccount({ accountId = 31 })
  return { result = r, fault = f }
end)

route.get("/describe/:svc", function(req)
  return soap.describe(req.params.svc, req.query.port)
end)
"""


def conf(server, tmp_path, extra_services="", ledger_wsdl=WSDL, extra=""):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "soap.lua").write_text(ROUTES)
    dead = free_port()
    return f"""
upstream "ledger" {{ servers = {{ "127.0.0.1:{server.port}" }}, timeout = {{ connect = 1, read = 5 }} }}
access_log = {{ file = "{tmp_path}/access.log", format = "json" }}
plugin "soap" {{ services = {{
  ledger = {{ wsdl = "{ledger_wsdl}", upstream = "ledger", timeout = 2, retries = 2,
             idempotent = {{ "GetAccount" }} }},
  ledger12 = {{ wsdl = "{WSDL}", port = "LedgerSoap12", url = "http://127.0.0.1:{server.port}/v12" }},
  slow = {{ wsdl = "{WSDL}", url = "http://127.0.0.1:{server.port}/slow", timeout = 0.5,
           retries = 0 }},
  dead = {{ wsdl = "{WSDL}", url = "http://127.0.0.1:{dead}/x", timeout = 2 }},
  ghost = {{ wsdl = "{WSDL}", upstream = "ghost" }},
  secure = {{ wsdl = "{WSDL}", url = "http://127.0.0.1:{server.port}/secure",
             wsse = {{ username = "alice", password = "pa<ss>&word" }},
             headers = {{ ["X-Api-Key"] = "k-123" }} }},
  digest = {{ wsdl = "{WSDL}", port = "LedgerSoap12", url = "http://127.0.0.1:{server.port}/digest",
             wsse = {{ username = "bob", password = "s3cret", digest = true }} }},
  {extra_services}
}} }}
routes "{rdir}"
{extra}
"""


@pytest.fixture
def d(portico, tmp_path, server):
    server.clear()
    return portico(conf(server, tmp_path), plugins_dir=PLUGINS)


def call(d, svc, op, inp, port=None, headers=None, timeout=20, path="/call"):
    url = f"{d.url}{path}/{svc}/{op}" if path == "/call" else f"{d.url}{path}/{op}"
    if port:
        url += "?port=" + port
    h = {"content-type": "application/json"}
    h.update(headers or {})
    r = urllib.request.Request(url, data=json.dumps({"input": inp}).encode(), method="POST",
                               headers=h)
    try:
        with urllib.request.urlopen(r, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        raise AssertionError("%s: %d %s\n%s" % (url, e.code, e.read(), d.log()[-3000:]))


def get(d, path):
    with urllib.request.urlopen(d.url + path, timeout=20) as resp:
        return json.loads(resp.read())


# ---- calls -----------------------------------------------------------------------------------

def test_soap11_call_and_request(d, server):
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    out = call(d, "ledger", "GetAccount", {"accountId": 7},
               headers={"traceparent": tp, "x-request-id": "req-soap-1"})
    assert out.get("fault") is None, out
    acc = out["result"]["account"]
    assert acc["id"] == 7 and acc["owner"] == "Ada & co"
    assert acc["balance"] == 12.5 and acc["active"] is True
    assert acc["tags"] == ["gold", "eu"]
    seen = server.last()
    assert seen.path == "/ledger.asmx"                  # soap:address's path, via the upstream
    assert seen.headers["soapaction"] == '"urn:portico:test:ledger/GetAccount"'
    assert seen.headers["content-type"].startswith("text/xml")
    assert "charset=utf-8" in seen.headers["content-type"].lower()
    assert seen.ns == S11
    el = seen.body_el()
    assert el.tag == "{%s}GetAccount" % TNS
    assert [c.tag for c in el] == ["{%s}accountId" % TNS] and el[0].text == "7"
    assert seen.headers.get("traceparent") == tp
    assert seen.headers.get("x-request-id")             # the request's id, passed on


def test_an_answer_in_the_other_soap_version_is_malformed(d, server):
    server.clear(mode="wrongversion")
    for svc, got, sent in (("ledger", "1.2", "1.1"), ("ledger12", "1.1", "1.2")):
        out = call(d, svc, "GetAccount", {"accountId": 7})
        f = out["fault"]
        assert out.get("result") is None and f["kind"] == "malformed", out
        assert f"SOAP {got} envelope; the request was SOAP {sent}" in f["reason"], f
    server.clear()


def test_soap12_call_and_request(d, server):
    out = call(d, "ledger12", "GetAccount", {"accountId": 9})
    assert out["result"]["account"]["id"] == 9, out
    seen = server.last()
    assert seen.path == "/v12"
    ct = seen.headers["content-type"]
    assert ct.startswith("application/soap+xml")
    assert 'action="urn:portico:test:ledger/GetAccount"' in ct
    assert "soapaction" not in seen.headers
    assert seen.ns == S12
    # the port can also be chosen per client
    out = call(d, "ledger", "GetAccount", {"accountId": 10}, port="LedgerSoap12")
    assert out["result"]["account"]["id"] == 10, out
    assert server.last().ns == S12


def test_element_order_follows_the_schema(d, server):
    out = call(d, "ledger", "Transfer", {"amount": 5.25, "to": 2, "from": 1})
    assert out["result"] == {"ok": True}, out
    el = server.last().body_el()
    assert [etree.QName(c).localname for c in el] == ["from", "to", "amount"]
    assert [c.text for c in el][:2] == ["1", "2"]


def test_one_way_returns_true(d, server):
    out = call(d, "ledger", "Notify", {"message": "hi <there>"})
    assert out == {"result": True}, out
    assert server.last().body_el().findtext("{%s}message" % TNS) == "hi <there>"


def test_wsse_text_and_headers(d, server):
    out = call(d, "secure", "GetAccount", {"accountId": 3})
    assert out["result"]["account"]["id"] == 3, out
    seen = server.last()
    assert seen.headers.get("x-api-key") == "k-123"
    tok = seen.header_el().find("{%s}Security/{%s}UsernameToken" % (WSSE, WSSE))
    assert tok is not None, seen.body
    assert tok.findtext("{%s}Username" % WSSE) == "alice"
    assert tok.findtext("{%s}Password" % WSSE) == "pa<ss>&word"


def test_wsse_digest_verified(d, server):
    out = call(d, "digest", "GetAccount", {"accountId": 4})
    assert out["result"]["account"]["id"] == 4, out
    seen = server.last()
    assert seen.ns == S12
    tok = seen.header_el().find("{%s}Security/{%s}UsernameToken" % (WSSE, WSSE))
    pw = tok.find("{%s}Password" % WSSE)
    assert pw.get("Type") == DIGEST
    nonce = base64.b64decode(tok.findtext("{%s}Nonce" % WSSE))
    created = tok.findtext("{%s}Created" % WSU)
    assert len(nonce) == 16 and created
    want = base64.b64encode(hashlib.sha1(nonce + created.encode() + b"s3cret").digest())
    assert pw.text.strip().encode() == want
    assert b"s3cret" not in seen.body
    # a fresh nonce each call
    call(d, "digest", "GetAccount", {"accountId": 4})
    tok2 = server.last().header_el().find("{%s}Security/{%s}UsernameToken" % (WSSE, WSSE))
    assert base64.b64decode(tok2.findtext("{%s}Nonce" % WSSE)) != nonce


# ---- faults -----------------------------------------------------------------------------------

def test_fault_soap11(d, server):
    out = call(d, "ledger", "GetAccount", {"accountId": 404})
    f = out["fault"]
    assert "result" not in out or out["result"] is None
    assert f["kind"] == "soap" and f["code"].endswith("Client")
    assert f["reason"] == "no such account"
    assert f["status"] == 500 and f["version"] == "1.1" and f["operation"] == "GetAccount"
    # keyed by the detail's element, decoded per the wsdl:fault's schema
    assert f["detail"]["AccountNotFound"]["accountId"] == 404


def test_fault_soap12(d, server):
    out = call(d, "ledger12", "GetAccount", {"accountId": 404})
    f = out["fault"]
    assert f["kind"] == "soap" and f["code"].endswith("Sender")
    assert f["subcode"] == "app:NotFound"
    assert f["reason"] == "no such account" and f["version"] == "1.2"
    assert f["detail"]["AccountNotFound"]["accountId"] == 404


def test_http_500_without_envelope(d, server):
    server.clear("http500")
    f = call(d, "ledger", "Transfer", {"from": 1, "to": 2, "amount": 1})["fault"]
    assert f["kind"] == "http" and f["status"] == 500, f
    server.clear("notxml")
    f = call(d, "ledger", "GetAccount", {"accountId": 1})["fault"]
    assert f["kind"] == "http" and f["status"] == 200, f


def test_connect_refused_is_transport(d, server):
    f = call(d, "dead", "GetAccount", {"accountId": 1})["fault"]
    assert f["kind"] == "transport", f
    # what happened, in the core's words (ABI 1.11 pt_upstream_res.error)
    assert "cannot reach dead: connection refused" in f["reason"], f


def test_unknown_upstream_is_a_clear_fault(d, server):
    f = call(d, "ghost", "GetAccount", {"accountId": 1})["fault"]
    assert f["kind"] == "transport" and "no upstream named ghost" in f["reason"], f


def test_slow_server_times_out(d, server):
    server.clear(delay=2.0)
    t0 = time.monotonic()
    f = call(d, "slow", "GetAccount", {"accountId": 1})["fault"]
    assert f["kind"] == "timeout", f
    assert time.monotonic() - t0 < 1.8
    server.clear()


def test_retries_only_idempotent_operations(d, server):
    server.clear("http503")
    f = call(d, "ledger", "GetAccount", {"accountId": 1})["fault"]
    assert f["kind"] == "http" and f["status"] == 503, f
    assert server.count() == 3                       # 1 + retries = 2
    server.clear("http503")
    f = call(d, "ledger", "Transfer", {"from": 1, "to": 2, "amount": 1})["fault"]
    assert f["kind"] == "http" and f["status"] == 503, f
    assert server.count() == 1                       # not marked idempotent
    assert d.wait_log("GetAccount attempt 1 failed")
    server.clear()


def test_invalid_input_names_the_field_and_sends_nothing(d, server):
    server.clear()
    f = call(d, "ledger", "GetAccount", {"accountId": "seven"})["fault"]
    assert f["kind"] == "invalid" and "accountId" in f["reason"], f
    f = call(d, "ledger", "GetAccount", {"acountId": 7})["fault"]
    assert f["kind"] == "invalid" and "acountId" in f["reason"], f
    f = call(d, "ledger", "Transfer", {"from": 1, "to": 2})["fault"]
    assert f["kind"] == "invalid" and "amount" in f["reason"], f
    assert server.count() == 0


# ---- the Lua side ----------------------------------------------------------------------------

def test_kept_client_pcall_and_errors(d, server):
    out = call(d, None, "GetAccount", {"accountId": 5}, path="/pcall")
    assert out["ok"] is True and out["result"]["account"]["id"] == 5, out
    e = get(d, "/errors")
    assert "colon" in e["noself"], e
    assert "NoSuchOp" in e["unknown_op"] and "GetAccount" in e["unknown_op"], e
    assert "nope" in e["unknown_svc"] and "ledger" in e["unknown_svc"], e
    assert "Nope" in e["unknown_port"] and "LedgerSoap12" in e["unknown_port"], e
    assert "prot" in e["bad_opt"], e
    assert "table" in e["not_table"], e
    assert "while serving" in e["load_err"], e
    assert "coroutine" in e["in_coroutine"], e
    # the same kept client still works for later requests
    out = call(d, None, "GetAccount", {"accountId": 6}, path="/pcall")
    assert out["result"]["account"]["id"] == 6


def test_client_options_timeout_and_wsse(d, server):
    server.clear()
    r = urllib.request.Request(d.url + "/short", data=b"{}", method="POST")
    with urllib.request.urlopen(r, timeout=20) as resp:
        out = json.loads(resp.read())
    assert out["result"]["account"]["id"] == 31, out
    tok = server.last().header_el().find("{%s}Security/{%s}UsernameToken" % (WSSE, WSSE))
    assert tok.findtext("{%s}Username" % WSSE) == "carol"
    server.clear(delay=1.0)
    with urllib.request.urlopen(r, timeout=20) as resp:
        out = json.loads(resp.read())
    assert out["fault"]["kind"] == "timeout", out
    server.clear()


def test_describe(d, server):
    out = get(d, "/describe/ledger")
    assert out["service"] == "ledger" and out["port"] == "LedgerSoap" and out["version"] == "1.1"
    ops = out["operations"]
    assert set(ops) == {"GetAccount", "Transfer", "Notify"}
    ga = ops["GetAccount"]
    assert ga["action"] == "urn:portico:test:ledger/GetAccount"
    assert ga["style"] == "document" and ga["wrapped"] is True
    assert ga["faults"] == ["AccountNotFound"]
    assert ga["doc"] == "One account by its id."
    assert ga["input"]["type"] == "object" and "accountId" in ga["input"]["properties"]
    assert ga["output"]["type"] == "object"
    assert ops["Notify"]["one_way"] is True
    out = get(d, "/describe/ledger?port=LedgerSoap12")
    assert out["version"] == "1.2"


# ---- hostile answers -------------------------------------------------------------------------

INLINE_ATTACKS = {
    "xxe_file": b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b'<e:Envelope xmlns:e="' + S11.encode() + b'"><e:Body><GetAccountResponse '
                b'xmlns="urn:portico:test:ledger"><account><id>1</id><owner>&x;</owner>'
                b'<balance>1</balance><active>true</active></account></GetAccountResponse>'
                b'</e:Body></e:Envelope>',
    "laughs": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;'
              b'&b;&b;&b;">]><l>&c;</l>',
    "deep": b"<a>" * 5000 + b"</a>" * 5000,
    "truncated": envelope(S11, "<GetAccountResponse>")[:-20],
}


def test_xml_attacks_are_malformed(d, server):
    docs = dict(INLINE_ATTACKS)
    for path in sorted(glob.glob(os.path.join(ATTACKS, "*.xml"))):
        if os.path.isfile(path) and os.path.getsize(path) < (8 << 20):
            with open(path, "rb") as f:
                docs[os.path.basename(path)] = f.read()
    for name, doc in docs.items():
        server.clear("attack")
        server.attack = doc
        t0 = time.monotonic()
        out = call(d, "ledger", "GetAccount", {"accountId": 1})
        f = out.get("fault") or {}
        assert f.get("kind") == "malformed", (name, out)
        assert time.monotonic() - t0 < 5, name
        text = json.dumps(out)
        assert "root:" not in text and "/bin/" not in text, name
    server.clear()
    out = call(d, "ledger", "GetAccount", {"accountId": 2})       # alive and well
    assert out["result"]["account"]["id"] == 2


def test_answers_that_do_not_fit_the_schema(d, server):
    bad_type = envelope(S11, f'<t:GetAccountResponse xmlns:t="{TNS}"><t:account><t:id>seven</t:id>'
                             '<t:owner>x</t:owner><t:balance>1</t:balance><t:active>true</t:active>'
                             '</t:account></t:GetAccountResponse>')
    wrong_el = envelope(S11, f'<t:TransferResponse xmlns:t="{TNS}"><t:ok>true</t:ok>'
                             '</t:TransferResponse>')
    not_soap = b'<?xml version="1.0"?><html><body>hello</body></html>'
    big = envelope(S11, "<x>" + "a" * (5 << 20) + "</x>")          # over max_response (4 MiB)
    huge = envelope(S11, "<x>" + "a" * (9 << 20) + "</x>")         # over the HTTP client's 8 MiB
    for doc in (bad_type, wrong_el, not_soap, big, huge):
        server.clear("attack")
        server.attack = doc
        f = call(d, "ledger", "GetAccount", {"accountId": 1})["fault"]
        assert f["kind"] == "malformed" and f["reason"], (doc[:200], f)
    server.clear()


def test_client_leaves_mid_call(d, server):
    server.clear(delay=1.0)
    body = json.dumps({"input": {"accountId": 1}}).encode()
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", d.port))
        s.sendall(b"POST /call/ledger/GetAccount HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                  + body)
        time.sleep(0.2)
        s.close()
    time.sleep(1.5)
    assert d.wait_log("the client went away")
    server.clear()
    out = call(d, "ledger", "GetAccount", {"accountId": 8})
    assert out["result"]["account"]["id"] == 8
    assert d.proc.poll() is None


# ---- the access log --------------------------------------------------------------------------

def test_access_log_upstream_fields(d, server, tmp_path):
    call(d, "ledger", "GetAccount", {"accountId": 7}, headers={"x-request-id": "soap-log-1"})
    path = tmp_path / "access.log"
    deadline = time.monotonic() + 5
    line = None
    while time.monotonic() < deadline and line is None:
        if path.exists():
            for ln in path.read_text().splitlines():
                rec = json.loads(ln)
                if rec.get("path") == "/call/ledger/GetAccount":
                    line = rec
        time.sleep(0.05)
    assert line, path.read_text() if path.exists() else "no access log"
    assert line["upstream_addr"] == f"127.0.0.1:{server.port}"
    assert line["upstream_latency_ms"] is not None
    assert server.last().headers.get("x-request-id") == line["request_id"]


# ---- config: start and reload ----------------------------------------------------------------

def test_broken_wsdl_refuses_the_start(portico, tmp_path, server):
    dm = portico(conf(server, tmp_path, ledger_wsdl=BROKEN), plugins_dir=PLUGINS, start=False)
    dm.start(expect_ok=False)
    assert dm.proc.wait(20) != 0
    log = dm.log() + dm.proc.stdout.read().decode(errors="replace")
    assert "broken.wsdl:" in log and "NoSuchElement" in log, log[-3000:]
    assert "service ledger" in log
    # the plugin's own reason, not a misleading "no plugin of that name" after it
    assert "no plugin of that name" not in log, log[-3000:]


def test_unknown_option_refuses_the_start(portico, tmp_path, server):
    extra = f'odd = {{ wsdl = "{WSDL}", url = "http://127.0.0.1:1/", retires = 3 }},'
    dm = portico(conf(server, tmp_path, extra_services=extra), plugins_dir=PLUGINS, start=False)
    dm.start(expect_ok=False)
    assert dm.proc.wait(20) != 0
    log = dm.log() + dm.proc.stdout.read().decode(errors="replace")
    assert "service odd: unknown option 'retires'" in log, log[-3000:]


def test_unknown_port_refuses_the_start(portico, tmp_path, server):
    extra = f'odd = {{ wsdl = "{WSDL}", url = "http://127.0.0.1:1/", port = "NoPort" }},'
    dm = portico(conf(server, tmp_path, extra_services=extra), plugins_dir=PLUGINS, start=False)
    dm.start(expect_ok=False)
    assert dm.proc.wait(20) != 0
    log = dm.log() + dm.proc.stdout.read().decode(errors="replace")
    assert "NoPort" in log and "LedgerSoap12" in log, log[-3000:]


def test_reload_with_a_broken_wsdl_is_refused(portico, tmp_path, server):
    server.clear()
    aport = free_port()
    admin = f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }} }}\n'
    dm = portico(conf(server, tmp_path, extra=admin), plugins_dir=PLUGINS, start=False)
    dm.start()
    assert wait_port(aport, proc=dm.proc)
    assert call(dm, "ledger", "GetAccount", {"accountId": 7})["result"]["account"]["id"] == 7
    dm.write(dm.text.replace(f'wsdl = "{WSDL}", upstream = "ledger"',
                             f'wsdl = "{BROKEN}", upstream = "ledger"'))
    with open(dm.conf_path) as f:
        assert "broken.wsdl" in f.read()
    r = urllib.request.Request(f"http://127.0.0.1:{aport}/reload", data=b"", method="POST")
    try:
        with urllib.request.urlopen(r, timeout=20) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read()
    assert status == 422, body
    assert b"soap" in body
    # the plugin's own words reach the answer: the file and line
    assert b"broken.wsdl:" in body, body
    assert dm.wait_log("broken.wsdl:")
    assert "the running services stay" in dm.log()
    # the old services keep serving
    assert call(dm, "ledger", "GetAccount", {"accountId": 11})["result"]["account"]["id"] == 11


# ---- metrics, a good reload, many calls at once ----------------------------------------------

def test_metrics_count_outcomes(portico, tmp_path, server):
    server.clear()
    aport = free_port()
    admin = f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }} }}\n'
    dm = portico(conf(server, tmp_path, extra=admin), plugins_dir=PLUGINS, start=False)
    dm.start()
    assert wait_port(aport, proc=dm.proc)
    call(dm, "ledger", "GetAccount", {"accountId": 7})
    call(dm, "ledger", "GetAccount", {"accountId": 404})
    call(dm, "ledger", "GetAccount", {"accountId": "x"})
    with urllib.request.urlopen(f"http://127.0.0.1:{aport}/metrics", timeout=10) as r:
        text = r.read().decode()
    lines = [ln for ln in text.splitlines() if ln.startswith("portico_soap_calls_total{")
             and 'service="ledger"' in ln and 'operation="GetAccount"' in ln]
    got = {ln.split('outcome="')[1].split('"')[0]: float(ln.rsplit(" ", 1)[1]) for ln in lines}
    assert got.get("ok") == 1 and got.get("soap") == 1 and got.get("invalid") == 1, lines
    assert "portico_soap_call_duration_seconds_total{" in text


def test_reload_keeps_calls_working(portico, tmp_path, server):
    server.clear()
    aport = free_port()
    admin = f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }} }}\n'
    dm = portico(conf(server, tmp_path, extra=admin), plugins_dir=PLUGINS, start=False)
    dm.start()
    assert wait_port(aport, proc=dm.proc)
    server.clear(delay=1.0)
    results = []
    th = threading.Thread(target=lambda: results.append(
        call(dm, "ledger", "GetAccount", {"accountId": 21})))
    th.start()
    time.sleep(0.3)                                       # the call is in flight
    dm.write(dm.text.replace("timeout = 2, retries = 2", "timeout = 3, retries = 1"))
    r = urllib.request.Request(f"http://127.0.0.1:{aport}/reload", data=b"", method="POST")
    with urllib.request.urlopen(r, timeout=20) as resp:
        assert resp.status == 200
    th.join(20)
    assert results and results[0]["result"]["account"]["id"] == 21, results
    server.clear()
    assert call(dm, "ledger", "GetAccount", {"accountId": 22})["result"]["account"]["id"] == 22
    assert dm.wait_log("reload: 7 SOAP services loaded")


def test_many_calls_at_once(portico, tmp_path, server):
    server.clear(delay=0.05)
    dm = portico(conf(server, tmp_path), plugins_dir=PLUGINS, workers=2)
    out = {}

    def one(i):
        svc = "ledger" if i % 2 else "ledger12"
        out[i] = call(dm, svc, "GetAccount", {"accountId": 1000 + i})

    ths = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    assert len(out) == 24
    for i, r in out.items():
        assert r.get("result", {}).get("account", {}).get("id") == 1000 + i, r
    server.clear()
