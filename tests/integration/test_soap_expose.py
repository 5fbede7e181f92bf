"""soap.expose end to end: the generated JSON routes (POST <prefix>/<Operation>)
calling a SOAP service (a soap.endpoint in the same daemon, over loopback),
their request/response JSON Schemas in /openapi.json checked structurally and
against real answers, faults as JSON errors with their statuses (400 input or
Client fault, 502 Server fault or transport, 504 timeout), route filters
(key-auth) applying, and bodies that are not a JSON object refused with 400."""
import base64
import os

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, free_port

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
CALC = os.path.join(SRCDIR, "tests", "data", "soap", "endpoint", "calc.wsdl")

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "soap.so")),
                                reason="plugins/soap is not built")

ROUTES = r"""
soap.endpoint("/soap/calc", {
  wsdl = "%(wsdl)s",
  handlers = {
    Add = function(req) return { AddResult = req.intA + req.intB } end,
    Echo = function(req)
      local p = req.person
      if p.age == nil then p.age = soap.null end
      return { person = p, count = #p.tags }
    end,
    Fail = function(req)
      if req.how == "client" then
        soap.fault({ code = "Client", reason = "bad how",
                     detail = { field = "how", hint = "server" } })
      elseif req.how == "server" then
        soap.fault({ code = "Server", reason = "the ledger is closed" })
      elseif req.how == "error" then
        error("boom in the handler")
      end
      return { ok = true }
    end,
    Slow = function(req) sleep(req.ms / 1000) return { ms = req.ms } end,
  },
})
soap.expose("calc", "/v1/calc")
soap.expose("calc", "/v1/keyed", { ["key-auth"] = true, operations = { "Add" },
                                   port = "CalcSoap12", tags = { "keyed" } })
soap.expose("down", "/v1/down", { operations = { "Add" } })
soap.expose("slowsvc", "/v1/slow/", { operations = { "Slow" } })
"""


@pytest.fixture
def gw(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "api.lua").write_text(ROUTES % {"wsdl": CALC})
    closed = free_port()
    body = f'''
plugin "rest" {{ consumers = {{ {{ name = "alice", keys = {{ "alice-key-0001" }} }} }} }}
plugin "soap" {{ services = {{
  calc = {{ wsdl = "{CALC}", url = "http://127.0.0.1:@PORT@/soap/calc", timeout = 3 }},
  down = {{ wsdl = "{CALC}", url = "http://127.0.0.1:{closed}/soap/calc", timeout = 2 }},
  slowsvc = {{ wsdl = "{CALC}", url = "http://127.0.0.1:@PORT@/soap/calc", timeout = 0.3 }},
}} }}
openapi = {{ path = "/openapi.json", title = "SOAP expose test" }}
routes "{rdir}"
'''
    d = portico(body, plugins_dir=PLUGINS, workers=2, start=False)
    d.text = d.text.replace("@PORT@", str(d.port))
    d.write(d.text)
    return d.start()


def call(d, path, body=None, data=None, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if body is not None:
        return requests.post(d.url + path, json=body, headers=h, timeout=10)
    return requests.post(d.url + path, data=data, headers=h, timeout=10)


# ---- a tiny JSON Schema checker (the subset schema.c writes) --------------------

def check_schema_shape(s, where="$"):
    """Structure: objects where objects belong, non-empty lists where lists do."""
    assert isinstance(s, dict), where
    t = s.get("type")
    assert t is None or isinstance(t, str) or (isinstance(t, list) and t), where
    if "properties" in s:
        assert isinstance(s["properties"], dict), where + ".properties"
        for k, v in s["properties"].items():
            check_schema_shape(v, f"{where}.properties.{k}")
    if "required" in s:
        assert isinstance(s["required"], list) and s["required"], where + ".required"
        assert all(r in s.get("properties", {}) for r in s["required"]), where
    if "enum" in s:
        assert isinstance(s["enum"], list) and s["enum"], where + ".enum"
    if "items" in s:
        check_schema_shape(s["items"], where + ".items")
    for k in ("additionalProperties",):
        if k in s:
            assert isinstance(s[k], (bool, dict)), where


def validate(v, s, where="$"):
    t = s.get("type")
    types = t if isinstance(t, list) else ([t] if t else [])
    ok = {"object": lambda x: isinstance(x, dict), "array": lambda x: isinstance(x, list),
          "string": lambda x: isinstance(x, str), "boolean": lambda x: isinstance(x, bool),
          "integer": lambda x: isinstance(x, int) and not isinstance(x, bool),
          "number": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
          "null": lambda x: x is None}
    if types:
        assert any(ok[x](v) for x in types), f"{where}: {v!r} is not {types}"
    if "enum" in s:
        assert v in s["enum"], where
    if isinstance(v, dict):
        for r in s.get("required", []):
            assert r in v, f"{where}: {r} is required"
        props = s.get("properties", {})
        for k, x in v.items():
            if k in props:
                validate(x, props[k], f"{where}.{k}")
            else:
                assert s.get("additionalProperties", True) is not False, f"{where}: extra {k}"
    if isinstance(v, list) and "items" in s:
        for i, x in enumerate(v):
            validate(x, s["items"], f"{where}[{i}]")
    if "minimum" in s and isinstance(v, (int, float)):
        assert v >= s["minimum"], where


def openapi(d):
    r = requests.get(d.url + "/openapi.json", timeout=5)
    assert r.status_code == 200
    return r.json()


def op_of(doc, path):
    return doc["paths"][path]["post"]


def request_schema(doc, path):
    return op_of(doc, path)["requestBody"]["content"]["application/json"]["schema"]


def response_schema(doc, path, status="200"):
    return op_of(doc, path)["responses"][status]["content"]["application/json"]["schema"]


# ---- the routes -------------------------------------------------------------------

def test_add_and_its_openapi_schemas(gw):
    r = call(gw, "/v1/calc/Add", {"intA": 2, "intB": 40})
    assert r.status_code == 200, r.text
    assert r.json() == {"AddResult": 42}
    doc = openapi(gw)
    for op in ("Add", "Echo", "Fail", "Slow", "Missing"):
        assert f"/v1/calc/{op}" in doc["paths"], doc["paths"].keys()
    req = request_schema(doc, "/v1/calc/Add")
    check_schema_shape(req)
    assert req["type"] == "object" and sorted(req["required"]) == ["intA", "intB"]
    assert req["properties"]["intA"]["type"] == "integer"
    assert req["additionalProperties"] is False
    res = response_schema(doc, "/v1/calc/Add")
    check_schema_shape(res)
    validate(r.json(), res)
    o = op_of(doc, "/v1/calc/Add")
    assert o["summary"] == "Adds two integers." and o["tags"] == ["calc"]
    assert o["operationId"] == "calc_Add"
    for st in ("400", "502", "504"):
        err = response_schema(doc, "/v1/calc/Add", st)
        check_schema_shape(err)
        assert err["properties"]["error"]["properties"]["kind"]["type"] == "string"


def test_echo_nested_arrays_null_bytes_round_trip(gw):
    person = {"name": "Ada", "age": None, "tags": [], "level": "high", "id": 7,
              "address": [{"street": "1 Main", "city": "X"}],
              "photo": base64.b64encode(b"\x00\x01\xfe\xff").decode()}
    r = call(gw, "/v1/calc/Echo", {"person": person})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["count"] == 0
    p = out["person"]
    assert p["tags"] == []                        # an empty sequence stays an array
    assert "age" not in p                         # xsi:nil -> absent
    assert p["address"] == [{"street": "1 Main", "city": "X"}]
    assert base64.b64decode(p["photo"]) == b"\x00\x01\xfe\xff"
    assert p["level"] == "high" and p["id"] == 7
    doc = openapi(gw)
    req = request_schema(doc, "/v1/calc/Echo")
    check_schema_shape(req)
    pp = req["properties"]["person"]["properties"]
    assert pp["tags"]["type"] == "array" and pp["tags"]["items"]["type"] == "string"
    assert pp["age"]["type"] == ["integer", "null"]
    assert pp["photo"]["format"] == "byte"
    assert pp["level"]["enum"] == ["low", "high"]
    assert pp["address"]["items"]["required"] == ["street", "city"] or \
        sorted(pp["address"]["items"]["required"]) == ["city", "street"]
    validate(out, response_schema(doc, "/v1/calc/Echo"))
    validate({"person": person}, req)


def test_faults_become_json_errors_with_statuses(gw):
    r = call(gw, "/v1/calc/Fail", {"how": "client"})
    assert r.status_code == 400, r.text
    e = r.json()["error"]
    assert e["kind"] == "soap" and e["reason"] == "bad how" and e["code"].endswith("Client")
    assert e["detail"]["field"] == "how"
    r = call(gw, "/v1/calc/Fail", {"how": "server"})
    assert r.status_code == 502 and r.json()["error"]["reason"] == "the ledger is closed"
    r = call(gw, "/v1/calc/Fail", {"how": "error"})
    assert r.status_code == 502 and r.json()["error"]["reason"] == "boom in the handler"
    r = call(gw, "/v1/calc/Missing", {"x": 1})
    assert r.status_code == 400 and "not implemented" in r.json()["error"]["reason"]
    # SOAP 1.2 port: Sender is a 400 too
    doc = openapi(gw)
    validate(r.json(), response_schema(doc, "/v1/calc/Missing", "400"))


def test_transport_and_timeout(gw):
    r = call(gw, "/v1/down/Add", {"intA": 1, "intB": 2})
    assert r.status_code == 502 and r.json()["error"]["kind"] == "transport", r.text
    r = call(gw, "/v1/slow/Slow", {"ms": 1500})
    assert r.status_code == 504 and r.json()["error"]["kind"] == "timeout", r.text
    r = call(gw, "/v1/slow/Slow", {"ms": 10})
    assert r.status_code == 200 and r.json() == {"ms": 10}


def test_bad_input_is_a_400(gw):
    cases = [
        ({"intA": "x", "intB": 1}, "intA"),
        ({"intA": 1, "intB": 2, "intC": 3}, "intC"),
        ({"intA": 1}, "intB"),
    ]
    for body, needle in cases:
        r = call(gw, "/v1/calc/Add", body)
        assert r.status_code == 400, (body, r.text)
        e = r.json()["error"]
        assert e["kind"] == "invalid" and needle in e["reason"], (body, e)
    for raw in (b"{", b"[1, 2]", b'"3"', b"42", b"null", b"\xff\xfe"):
        r = call(gw, "/v1/calc/Add", data=raw)
        assert r.status_code == 400, (raw, r.text)
        assert r.json()["error"]["kind"] == "input"
    r = call(gw, "/v1/calc/Echo", {"person": {"name": "x", "age": 1, "photo": "!!!"}})
    assert r.status_code == 400 and "person.photo" in r.json()["error"]["reason"], r.text
    assert requests.get(gw.url + "/v1/calc/Add", timeout=5).status_code == 405
    # still serving
    assert call(gw, "/v1/calc/Add", {"intA": 1, "intB": 1}).json() == {"AddResult": 2}


def test_route_filters_apply(gw):
    r = call(gw, "/v1/keyed/Add", {"intA": 1, "intB": 2})
    assert r.status_code == 401
    r = call(gw, "/v1/keyed/Add", {"intA": 1, "intB": 2}, headers={"apikey": "alice-key-0001"})
    assert r.status_code == 200 and r.json() == {"AddResult": 3}
    assert call(gw, "/v1/keyed/Echo", {}).status_code == 404   # only Add is exposed
    o = op_of(openapi(gw), "/v1/keyed/Add")
    assert o["security"] == [{"apiKeyAuth": []}] and "401" in o["responses"]
    assert o["tags"] == ["keyed"]


def test_bad_expose_calls_name_the_script_line(portico, tmp_path):
    rdir = tmp_path / "routes"
    rdir.mkdir()
    cases = [
        ('soap.expose("nope", "/v1/x")', 'no service "nope"'),
        ('soap.expose("calc", "/v1/x", { jwtt = true })', 'unknown option "jwtt"'),
        ('soap.expose("calc", "/v1/x", { operations = { "Nope" } })', 'no operation "Nope"'),
        ('soap.expose("calc", "v1")', "starting with /"),
        ('soap.expose("calc", "/v1/x", { port = "Zz" })', "Zz"),
    ]
    for script, needle in cases:
        (rdir / "api.lua").write_text("\n" + script + "\n")
        d = portico(f'plugin "soap" {{ services = {{ calc = {{ wsdl = "{CALC}" }} }} }}\n'
                    f'routes "{rdir}"\n', plugins_dir=PLUGINS, start=False)
        d.start(expect_ok=False)
        d.proc.wait(10)
        out = d.proc.stdout.read().decode(errors="replace") + d.log()
        assert d.proc.returncode != 0 and needle in out, out
        assert "api.lua:2" in out, out


def deep_wsdl(levels):
    """A service whose input nests LEVELS complex types, each a sequence."""
    types = []
    for i in range(levels):
        child = (f'<xsd:element name="next" type="tns:L{i + 1}" minOccurs="0" '
                 f'maxOccurs="unbounded"/>' if i + 1 < levels else "")
        types.append(f'<xsd:complexType name="L{i}"><xsd:sequence>'
                     f'<xsd:element name="v{i}" type="xsd:int" nillable="true"/>{child}'
                     f'</xsd:sequence></xsd:complexType>')
    return f'''<?xml version="1.0"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema"
  xmlns:tns="urn:deep" targetNamespace="urn:deep">
 <wsdl:types><xsd:schema targetNamespace="urn:deep" elementFormDefault="qualified">
  {"".join(types)}
  <xsd:element name="Go"><xsd:complexType><xsd:sequence>
    <xsd:element name="root" type="tns:L0"/></xsd:sequence></xsd:complexType></xsd:element>
  <xsd:element name="GoResponse"><xsd:complexType><xsd:sequence>
    <xsd:element name="root" type="tns:L0"/></xsd:sequence></xsd:complexType></xsd:element>
 </xsd:schema></wsdl:types>
 <wsdl:message name="In"><wsdl:part name="p" element="tns:Go"/></wsdl:message>
 <wsdl:message name="Out"><wsdl:part name="p" element="tns:GoResponse"/></wsdl:message>
 <wsdl:portType name="PT"><wsdl:operation name="Go"><wsdl:input message="tns:In"/>
  <wsdl:output message="tns:Out"/></wsdl:operation></wsdl:portType>
 <wsdl:binding name="B" type="tns:PT"><soap:binding style="document"
   transport="http://schemas.xmlsoap.org/soap/http"/>
  <wsdl:operation name="Go"><soap:operation soapAction="urn:deep#Go"/>
   <wsdl:input><soap:body use="literal"/></wsdl:input>
   <wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation></wsdl:binding>
 <wsdl:service name="S"><wsdl:port name="P" binding="tns:B">
  <soap:address location="http://127.0.0.1:9/deep"/></wsdl:port></wsdl:service>
</wsdl:definitions>
'''


def test_deep_schemas_fit_the_route_options(portico, tmp_path):
    # route options reach the OpenAPI document through the config tree (16
    # levels of tables): a deep schema is cut, never a refused script
    wsdl = tmp_path / "deep.wsdl"
    wsdl.write_text(deep_wsdl(20))
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "api.lua").write_text('soap.expose("deep", "/v1/deep")\n')
    d = portico(f'plugin "soap" {{ services = {{ deep = {{ wsdl = "{wsdl}" }} }} }}\n'
                f'openapi = {{ path = "/openapi.json" }}\nroutes "{rdir}"\n',
                plugins_dir=PLUGINS)
    doc = openapi(d)
    req = request_schema(doc, "/v1/deep/Go")
    res = response_schema(doc, "/v1/deep/Go")
    check_schema_shape(req)
    check_schema_shape(res)
    s, n = req["properties"]["root"], 0
    while "properties" in s:
        n += 1
        assert s["properties"]["v%d" % (n - 1)]["type"] in ("integer", ["integer", "null"])
        if "next" not in s["properties"]:
            break
        s = s["properties"]["next"].get("items", {})
    assert 2 <= n < 20
    # the service is down: a 502, the route is there
    r = call(d, "/v1/deep/Go", {"root": {"v0": 1}})
    assert r.status_code == 502 and r.json()["error"]["kind"] == "transport"


def test_concurrent_calls_keep_their_own_answers(gw):
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        with requests.Session() as s:
            out = []
            for j in range(10):
                r = s.post(gw.url + "/v1/calc/Add", json={"intA": i, "intB": j}, timeout=10)
                out.append((r.status_code, r.json().get("AddResult"), i + j))
            return out

    with ThreadPoolExecutor(8) as ex:
        for res in ex.map(one, range(8)):
            for status, got, want in res:
                assert status == 200 and got == want
