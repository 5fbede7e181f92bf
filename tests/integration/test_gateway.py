"""The gateway's policies end to end (plugins/rest and the core's access log,
OpenAPI document and body limits): real clients against the running daemon,
tokens made with PyJWT and keys with python3-cryptography."""
import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import time
import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt   # password hashes for the consumers, as an operator would make them
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from conftest import BUILDDIR, SRCDIR

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
SECRET = "0123456789abcdef0123456789abcdef-hs"

pytestmark = pytest.mark.skipif(not os.path.exists(os.path.join(PLUGINS, "rest.so")),
                                reason="plugins/rest is not built")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # PyJWT before 2.9 writes a coordinate with a leading zero byte short (one
    # key in 128), which RFC 7518 and the rest plugin refuse: draw another
    while True:
        ec_key = ec.generate_private_key(ec.SECP256R1())
        nums = ec_key.public_key().public_numbers()
        if nums.x.bit_length() > 248 and nums.y.bit_length() > 248:
            break
    rsa_pub = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    jwk_rsa = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk_ec = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    jwk_rsa.update(kid="r1", use="sig", alg="RS256")
    jwk_ec.update(kid="e1", use="sig", alg="ES256")
    (d / "jwks.json").write_text(json.dumps({"keys": [jwk_rsa, jwk_ec]}))
    return {"rsa": rsa_key, "ec": ec_key, "rsa_pub": rsa_pub, "jwks": str(d / "jwks.json")}


ROUTES = r'''
use("cors", { origins = { "https://app.example" }, credentials = true,
              expose = { "x-request-id" }, headers = { "authorization", "content-type" } })
local function who(req) return { consumer = req.consumer } end
route.get("/key", who, { ["key-auth"] = true })
route.get("/basic", who, { basic = true })
route.get("/jwt", who, { jwt = true })
route.get("/jwt/orders", who, { jwt = { aud = "orders" } })
route.get("/either", who, { auth = { "jwt", "key-auth" } })
route.post("/items", function(req) return 201, { ok = true } end,
           { ["key-auth"] = true, summary = "Create an item",
             request = { type = "object", properties = { name = { type = "string" } },
                         required = { "name" } },
             response = { type = "object", properties = { ok = { type = "boolean" } } } })
route.get("/limited", function() return "ok" end, { rate = "5/m" })
route.get("/per-consumer", who, { ["key-auth"] = true,
          rate = { limit = 3, period = 60, key = "consumer" } })
route.get("/internal", function() return "ok" end, { ip = { allow = { "10.0.0.0/8" } } })
route.get("/local", function() return "ok" end, { ip = { allow = { "127.0.0.1", "::1" } } })
route.post("/small", function(req) return { n = #req.body } end, { body_limit = 16 })
route.get("/v1/users/:id", function(req) return { id = req.params.id } end,
          { summary = "A user", tags = { "users" } })
filter("team", function(req)
  if req.headers["x-team"] ~= "blue" then return 401, { error = "team" } end
  req.consumer = "team-blue"
end)
route.get("/custom", who, { team = true })
'''


def gateway(portico, tmp_path, keys, extra="", routes=ROUTES, workers=1):
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "gw.lua").write_text(routes)
    alice = crypt.crypt("alice-pw", crypt.mksalt(crypt.METHOD_SHA512))
    bob = crypt.crypt("bob-pw", crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 8))
    body = f'''
plugin "rest" {{
  consumers = {{
    {{ name = "alice", keys = {{ "alice-key-0001" }}, password = "{alice}" }},
    {{ name = "bob", keys = {{ "bob-key-00002" }}, password = "{bob}" }},
  }},
  jwt = {{ secret = "{SECRET}", jwks = "{keys['jwks']}", iss = "https://issuer.test",
           leeway = 5 }},
}}
access_log = {{ file = "{tmp_path}/access.log", format = "json" }}
openapi = {{ path = "/openapi.json", title = "Gateway test", version = "1.2.3" }}
routes "{rdir}"
{extra}
'''
    return portico(body, plugins_dir=PLUGINS, workers=workers)


def token(key="hs", **claims):
    now = int(time.time())
    base = {"sub": "carol", "iss": "https://issuer.test", "exp": now + 60, "iat": now}
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    return base


def sign(claims, key, alg, kid=None):
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


def get(d, path, **kw):
    return requests.get(d.url + path, timeout=5, **kw)


def bearer(t):
    return {"Authorization": "Bearer " + t}


# ---- key-auth ------------------------------------------------------------------

def test_key_auth(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    r = get(d, "/key", headers={"apikey": "alice-key-0001"})
    assert r.status_code == 200 and r.json() == {"consumer": "alice"}
    r = get(d, "/key")
    assert r.status_code == 401 and "apikey" in r.headers["www-authenticate"].lower()
    assert r.json()["error"]["message"] == "credentials required"
    r = get(d, "/key", headers={"apikey": "alice-key-0002"})
    assert r.status_code == 401 and r.json()["error"]["message"] == "unknown API key"
    r = get(d, "/key", headers={"apikey": "alice-key-0001x"})
    assert r.status_code == 401
    assert d.wait_log("401 GET /key from 127.0.0.1")


# ---- basic -------------------------------------------------------------------------

def test_basic_auth_sha512_and_bcrypt(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    assert get(d, "/basic", auth=("alice", "alice-pw")).json() == {"consumer": "alice"}
    assert get(d, "/basic", auth=("bob", "bob-pw")).json() == {"consumer": "bob"}
    # again: served by the per-worker cache, same answer
    assert get(d, "/basic", auth=("bob", "bob-pw")).json() == {"consumer": "bob"}
    r = get(d, "/basic", auth=("bob", "alice-pw"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic realm=")
    assert get(d, "/basic", auth=("nobody", "x")).status_code == 401
    bad = {"Authorization": "Basic !!!not-base64"}
    r = get(d, "/basic", headers=bad)
    assert r.status_code == 401 and "malformed" in r.json()["error"]["message"]
    nocolon = {"Authorization": "Basic " + base64.b64encode(b"alicealice-pw").decode()}
    assert get(d, "/basic", headers=nocolon).status_code == 401


# ---- jwt ---------------------------------------------------------------------------

def test_jwt_hs_rs_es_accepted(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    for t in (sign(token(), SECRET, "HS256"), sign(token(), SECRET, "HS512"),
              sign(token(), keys["rsa"], "RS256", "r1"), sign(token(), keys["ec"], "ES256", "e1")):
        r = get(d, "/jwt", headers=bearer(t))
        assert r.status_code == 200, (t, r.text)
        assert r.json() == {"consumer": "carol"}


@pytest.mark.parametrize("case", ["expired", "not_yet", "tampered", "wrong_key", "alg_none",
                                  "rs_hs_confusion", "wrong_iss", "no_exp", "garbage"])
def test_jwt_refused(portico, tmp_path, keys, case):
    d = gateway(portico, tmp_path, keys)
    now = int(time.time())
    if case == "expired":
        t = sign(token(exp=now - 60), SECRET, "HS256")
    elif case == "not_yet":
        t = sign(token(nbf=now + 120), SECRET, "HS256")
    elif case == "tampered":
        h, p, s = sign(token(), SECRET, "HS256").split(".")
        p = base64.urlsafe_b64encode(json.dumps(token(sub="admin")).encode()).decode().rstrip("=")
        t = ".".join([h, p, s])
    elif case == "wrong_key":
        t = sign(token(), "another-secret-of-enough-length-1234", "HS256")
    elif case == "alg_none":
        h = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
        p = base64.urlsafe_b64encode(json.dumps(token()).encode()).decode().rstrip("=")
        t = h + "." + p + "."
    elif case == "rs_hs_confusion":
        # HMAC keyed with the RSA public key's PEM, as an attacker who knows it would
        import hmac, hashlib
        h = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT","kid":"r1"}').decode().rstrip("=")
        p = base64.urlsafe_b64encode(json.dumps(token()).encode()).decode().rstrip("=")
        sig = hmac.new(keys["rsa_pub"], (h + "." + p).encode(), hashlib.sha256).digest()
        t = h + "." + p + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")
    elif case == "wrong_iss":
        t = sign(token(iss="https://evil.test"), SECRET, "HS256")
    elif case == "no_exp":
        t = sign(token(exp=None), SECRET, "HS256")
    else:
        t = "not.a.jwt"
    r = get(d, "/jwt", headers=bearer(t))
    assert r.status_code == 401, r.text
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    assert d.wait_log("401 GET /jwt from")


def test_jwt_leeway_and_audience(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    now = int(time.time())
    within = sign(token(exp=now - 2), SECRET, "HS256")        # leeway is 5 s
    assert get(d, "/jwt", headers=bearer(within)).status_code == 200
    ok = sign(token(aud=["billing", "orders"]), SECRET, "HS256")
    assert get(d, "/jwt/orders", headers=bearer(ok)).status_code == 200
    other = sign(token(aud="billing"), SECRET, "HS256")
    r = get(d, "/jwt/orders", headers=bearer(other))
    assert r.status_code == 401 and "audience" in r.json()["error"]["message"]


def test_auth_any_of_and_custom_lua(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    assert get(d, "/either", headers={"apikey": "bob-key-00002"}).json() == {"consumer": "bob"}
    t = sign(token(), SECRET, "HS256")
    assert get(d, "/either", headers=bearer(t)).json() == {"consumer": "carol"}
    r = get(d, "/either")
    assert r.status_code == 401 and len(r.raw.headers.getlist("www-authenticate")) == 2
    assert get(d, "/custom", headers={"x-team": "blue"}).json() == {"consumer": "team-blue"}
    assert get(d, "/custom").status_code == 401


def test_auth_config_errors(portico, tmp_path, keys):
    d = portico('plugin "rest" { consumers = { { name = "x", keys = { "short" } } } }',
                plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "at least 8 characters" in d.log()
    d = portico('plugin "rest" { consumers = { { name = "x", password = "plain" } } }',
                plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "never plain text" in d.log()


def test_jwt_route_without_keys_is_refused_at_load(portico, tmp_path):
    rdir = tmp_path / "r"
    rdir.mkdir()
    (rdir / "a.lua").write_text('route.get("/x", function() return "" end, { jwt = true })\n')
    d = portico(f'routes "{rdir}"', plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    assert "a.lua:1: filter 'jwt': jwt needs keys" in d.log()


# ---- rate limiting -------------------------------------------------------------------

def test_rate_limit_headers_and_429(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    seen = []
    for _ in range(7):
        r = get(d, "/limited")
        seen.append(r.status_code)
        assert r.headers["ratelimit-limit"] == "5"
    assert seen == [200] * 5 + [429] * 2
    assert int(r.headers["retry-after"]) >= 1 and r.headers["ratelimit-remaining"] == "0"
    assert r.json()["error"]["message"] == "rate limit exceeded"


def test_rate_limit_exact_under_concurrency(portico, tmp_path, keys):
    routes = 'route.get("/c", function() return "ok" end, { rate = "100/h" })\n'
    d = gateway(portico, tmp_path, keys, routes=routes, workers=2)
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(lambda _: requests.get(d.url + "/c", timeout=10).status_code,
                            range(300)))
    assert codes.count(200) == 100 and codes.count(429) == 200


def test_rate_limit_per_consumer(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    a = [get(d, "/per-consumer", headers={"apikey": "alice-key-0001"}).status_code
         for _ in range(4)]
    b = [get(d, "/per-consumer", headers={"apikey": "bob-key-00002"}).status_code
         for _ in range(4)]
    assert a == [200, 200, 200, 429] and b == [200, 200, 200, 429]


def test_rate_config_errors(portico, tmp_path, keys):
    for bad, msg in (('"ten per second"', "write LIMIT/UNIT"),
                     ('{ limit = 5, key = "cookie" }', "key must be"),
                     ('{ limit = 5, scope = "redis" }', "needs redis")):
        rdir = tmp_path / ("r" + str(abs(hash(bad))))
        rdir.mkdir()
        (rdir / "a.lua").write_text(f'route.get("/x", function() return "" end, {{ rate = {bad} }})\n')
        d = portico(f'routes "{rdir}"', plugins_dir=PLUGINS, start=False)
        d.start(expect_ok=False)
        assert d.proc.wait(10) != 0
        assert msg in d.log(), d.log()


# ---- CORS, IP lists, body limits ------------------------------------------------------

def test_cors_preflight_and_actual_request(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization"}
    # a preflight to an auth-protected route is answered before auth runs
    r = requests.options(d.url + "/jwt", headers=pre, timeout=5)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "GET" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-max-age"] == "600"
    assert "Origin" in r.headers["vary"]
    evil = dict(pre, Origin="https://evil.example")
    assert requests.options(d.url + "/jwt", headers=evil, timeout=5).status_code == 403
    bad_hdr = dict(pre, **{"Access-Control-Request-Headers": "x-secret"})
    assert requests.options(d.url + "/jwt", headers=bad_hdr, timeout=5).status_code == 403
    r = get(d, "/key", headers={"Origin": "https://app.example", "apikey": "alice-key-0001"})
    assert r.headers["access-control-allow-origin"] == "https://app.example"
    assert r.headers["access-control-expose-headers"] == "x-request-id"
    # errors carry CORS headers too, so the page can read the 401
    r = get(d, "/key", headers={"Origin": "https://app.example"})
    assert r.status_code == 401 and "access-control-allow-origin" in r.headers
    r = get(d, "/key", headers={"Origin": "https://evil.example", "apikey": "alice-key-0001"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    # a plain OPTIONS (not a preflight) still gets the router's answer
    r = requests.options(d.url + "/key", timeout=5)
    assert r.status_code == 204 and "GET" in r.headers["allow"]


def test_cors_star_with_credentials_refused(portico, tmp_path):
    rdir = tmp_path / "r"
    rdir.mkdir()
    (rdir / "a.lua").write_text('use("cors", { origins = "*", credentials = true })\n'
                                'route.get("/x", function() return "" end)\n')
    d = portico(f'routes "{rdir}"', plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0 and "list the origins" in d.log()


def test_ip_allow_and_deny(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    r = get(d, "/internal")
    assert r.status_code == 403 and r.json()["error"]["message"] == "forbidden"
    assert get(d, "/local").status_code == 200
    assert d.wait_log("ip: 127.0.0.1 refused")


def test_route_body_limit(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    r = requests.post(d.url + "/small", data=b"x" * 16, timeout=5)
    assert r.status_code == 200 and r.json() == {"n": 16}
    r = requests.post(d.url + "/small", data=b"x" * 17, timeout=5)
    assert r.status_code == 413
    # chunked: no length up front, refused once past the limit
    r = requests.post(d.url + "/small", data=iter([b"x" * 10, b"y" * 10]), timeout=5)
    assert r.status_code == 413


# ---- access log ------------------------------------------------------------------------

def test_access_log_json(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    get(d, "/key?x=1", headers={"apikey": "alice-key-0001", "User-Agent": 'ua "quoted"'})
    get(d, "/nope")
    d.stop()
    lines = [json.loads(l) for l in open(tmp_path / "access.log")]
    a, b = lines[-2], lines[-1]
    assert a["method"] == "GET" and a["path"] == "/key" and a["query"] == "x=1"
    assert a["status"] == 200 and a["consumer"] == "alice" and a["bytes"] > 0
    assert a["user_agent"] == 'ua "quoted"' and a["request_id"]
    assert isinstance(a["latency_ms"], float) and a["upstream_addr"] is None
    assert b["status"] == 404 and b["consumer"] is None


def test_access_log_template_and_bad_field(portico, tmp_path):
    log = tmp_path / "a.log"
    d = portico(f'access_log = {{ file = "{log}", format = "$method $path $status $consumer" }}\n'
                'route { path = "/s", handler = "static", body = "x" }')
    requests.get(d.url + "/s", timeout=5)
    d.stop()
    assert open(log).read().splitlines()[-1] == "GET /s 200 -"
    d = portico('access_log = { format = "$method $nonsense" }', start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0 and "unknown field '$nonsense'" in d.log()


# ---- OpenAPI ----------------------------------------------------------------------------

def test_openapi_document(portico, tmp_path, keys):
    d = gateway(portico, tmp_path, keys)
    r = get(d, "/openapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    doc = r.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["version"] == "1.2.3"
    op = doc["paths"]["/v1/users/{id}"]["get"]
    assert op["summary"] == "A user" and op["tags"] == ["users"]
    assert op["parameters"][0]["name"] == "id" and op["parameters"][0]["in"] == "path"
    post = doc["paths"]["/items"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["required"] == ["name"]
    assert post["security"] == [{"apiKeyAuth": []}]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"
    assert "429" in doc["paths"]["/limited"]["get"]["responses"]
    assert "/openapi.json" not in doc["paths"]


def oas_validator():
    """npm's @seriousme/openapi-schema-validator (the official 3.1 JSON schemas),
    installed once into a cache folder; None when npm cannot fetch it."""
    cache = os.environ.get("PORTICO_NPM_CACHE",
                           os.path.join(os.path.expanduser("~"), ".cache", "portico-npm"))
    cli = os.path.join(cache, "node_modules", ".bin", "validate-api")
    if not os.path.exists(cli) and shutil.which("npm"):
        os.makedirs(cache, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--prefix", cache,
                        "@seriousme/openapi-schema-validator@2"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=180)
    return cli if os.path.exists(cli) else None


def test_openapi_valid_against_the_3_1_schema(portico, tmp_path, keys):
    cli = oas_validator()
    if not cli:
        pytest.skip("npm could not install @seriousme/openapi-schema-validator")
    d = gateway(portico, tmp_path, keys)
    path = tmp_path / "doc.json"
    path.write_text(get(d, "/openapi.json").text)
    out = subprocess.run([cli, str(path)], capture_output=True, text=True, timeout=60)
    assert '"valid": true' in out.stdout, out.stdout + out.stderr


# ---- rate limiting through Redis ---------------------------------------------------------

@pytest.fixture
def redis_server(tmp_path):
    """A redis-server of our own on a free loopback port, stopped by its PID."""
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    from conftest import free_port, wait_port
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_port(port, proc=proc), "redis-server did not start"
    yield {"port": port, "proc": proc}
    if proc.poll() is None:
        proc.terminate()
        proc.wait(10)


def redis_routes(limit):
    return ('route.get("/r", function() return "ok" end, '
            f'{{ rate = {{ limit = {limit}, period = 3600, scope = "redis", name = "shared" }} }})\n')


def test_rate_limit_in_redis_shared_by_two_instances(portico, tmp_path, keys, redis_server):
    extra = f'redis = {{ host = "127.0.0.1", port = {redis_server["port"]}, timeout = 1 }}'
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = gateway(portico, tmp_path / "a", keys, extra=extra, routes=redis_routes(60), workers=2)
    b = gateway(portico, tmp_path / "b", keys, extra=extra, routes=redis_routes(60), workers=2)

    def hit(i):
        d = a if i % 2 else b
        return requests.get(d.url + "/r", timeout=10)

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rs = list(ex.map(hit, range(200)))
    codes = [r.status_code for r in rs]
    assert codes.count(200) == 60 and codes.count(429) == 140
    refused = next(r for r in rs if r.status_code == 429)
    assert refused.headers["ratelimit-limit"] == "60" and int(refused.headers["retry-after"]) >= 1


def test_rate_limit_redis_down_lets_requests_through(portico, tmp_path, keys, redis_server):
    extra = f'redis = {{ host = "127.0.0.1", port = {redis_server["port"]}, timeout = 0.3 }}'
    d = gateway(portico, tmp_path, keys, extra=extra, routes=redis_routes(1))
    assert get(d, "/r").status_code == 200
    assert get(d, "/r").status_code == 429
    redis_server["proc"].terminate()
    redis_server["proc"].wait(10)
    t0 = time.monotonic()
    r = get(d, "/r")
    assert r.status_code == 200 and "ratelimit-limit" not in r.headers
    assert time.monotonic() - t0 < 2
    assert d.wait_log("rate: Redis did not answer")


# ---- issue 11: challenges never carry stack bytes ---------------------------------

def test_basic_realm_longer_than_the_challenge_buffer(portico, tmp_path, keys):
    # the stack buffer is 256 bytes: a key header name past it used to send
    # whatever followed the buffer; now the value is whole and exact
    long_header = "x-" + "k" * 300
    realm = "R" * 200
    routes = ROUTES + (f'route.get("/realm", who, {{ basic = {{ realm = "{realm}" }} }})\n'
                       f'route.get("/longkey", who, {{ ["key-auth"] = {{ header = "{long_header}" }} }})\n')
    d = gateway(portico, tmp_path, keys, routes=routes)
    r = get(d, "/realm")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == f'Basic realm="{realm}", charset="UTF-8"'
    r = get(d, "/longkey")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == f'ApiKey header="{long_header}"'
    r = get(d, "/longkey", headers={long_header: "alice-key-0001"})
    assert r.status_code == 200 and r.json() == {"consumer": "alice"}


@pytest.mark.parametrize("realm, why", [
    ("R" * 300, "realm must be a string of 1 to 200"),
    ('ops\\" , evil=\\"1', "without '\"'"),
    ("", "realm must be a string of 1 to 200"),
])
def test_basic_realm_that_cannot_be_quoted_is_refused(portico, tmp_path, keys, realm, why):
    routes = ('local function who(req) return { consumer = req.consumer } end\n'
              f'route.get("/realm", who, {{ basic = {{ realm = "{realm}" }} }})\n')
    rdir = tmp_path / "routes"
    rdir.mkdir(exist_ok=True)
    (rdir / "gw.lua").write_text(routes)
    d = portico(f'plugin "rest" {{ consumers = {{ {{ name = "a", keys = {{ "a-key-0001" }} }} }} }}\n'
                f'routes "{rdir}"\n', plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    assert d.proc.wait(10) != 0
    log = d.log()
    assert why in log and "gw.lua:2" in log, log
