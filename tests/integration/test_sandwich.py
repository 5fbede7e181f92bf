"""The protocol sandwich end to end (issue 17): the shipped demo shop, one
order walked through every protocol with real clients.

The daemon runs conf/portico.conf as shipped, with only what a test must
change rewritten (ports, var_dir, pid file, plugins_dir, the error log, a
JSON access log to a file), beside scripts/demo-crm (the legacy SOAP CRM)
and scripts/demo-ledger on free ports, each writing its --log. The hops:

  REST POST /v1/orders (JWT, X-Request-Id, traceparent)
    -> SOAP GetCustomer to the CRM -> gRPC orders.v1.Orders/Create (grpc.call)
  GraphQL order(id) { customer } (grpc.call Get + one batched SOAP GetCustomers)
  a Stripe-signed webhook -> gRPC MarkPaid -> the hub channel "orders"
    -> a WebSocket on /ws/orders, SSE on /events/orders, the GraphQL
       orderUpdated subscription over graphql-transport-ws, a gRPC Watch stream
  a gRPC client's Get: PAID

and what ties them: the access log's request ids (the REST call's
X-Request-Id on the gRPC Create's line), the traceparent carried into the
gRPC call (seen on the wire by a TCP relay in front of the daemon's own gRPC
port, which upstream "orders" points at here, decoding the HEADERS frames
with hpack) and into the SOAP call (the CRM's log line). Then the hostile
steps: a replayed webhook, a tampered signature, a payment for an order that
does not exist, a WebSocket client that never reads while orders flow. And
scripts/demo-walk itself, run against this daemon.

Every wait is bounded polling; nothing sleeps a fixed long time.
"""
import asyncio
import hashlib
import hmac
import importlib.machinery
import importlib.util
import json
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import BUILDDIR, SRCDIR, Daemon, free_port, wait_port  # noqa: E402

websockets = pytest.importorskip("websockets")
grpc = pytest.importorskip("grpc")

PLUGINS = os.path.join(BUILDDIR, "plugins", ".libs")
CONF = os.path.join(SRCDIR, "conf")
SCRIPTS = os.path.join(SRCDIR, "scripts")
NEEDED = ("rest.so", "graphql.so", "websocket.so", "grpc.so", "webhook.so", "soap.so")
WHSEC = "whsec_portico_demo_0123456789abcdef"          # conf/routes/webhooks.lua's default
PY = "/usr/bin/python3"

pytestmark = [
    pytest.mark.skipif(not all(os.path.exists(os.path.join(PLUGINS, p)) for p in NEEDED),
                       reason="the six protocol plugins are not all built"),
    pytest.mark.skipif(shutil.which("protoc") is None,
                       reason="protoc is missing: apt-get install -y protobuf-compiler"),
    pytest.mark.skipif(not os.path.exists(os.path.join(SCRIPTS, "demo-crm")),
                       reason="scripts/demo-crm is not there yet"),
]


def load_walk():
    """scripts/demo-walk as a module: its gRPC message classes (built from
    conf/proto/orders.proto at run time) serve the test's gRPC client too."""
    path = os.path.join(SCRIPTS, "demo-walk")
    loader = importlib.machinery.SourceFileLoader("demo_walk", path)
    spec = importlib.util.spec_from_loader("demo_walk", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


# ---- the relay that shows what grpc.call puts on the wire -------------------------------

class H2Tap:
    """A TCP relay: every byte passes unchanged both ways; the client's
    HTTP/2 HEADERS (and CONTINUATION) frames are decoded with hpack and kept,
    one dict per request, so a test can read the metadata a gRPC call
    carried."""

    def __init__(self, target_port):
        import hpack
        self.hpack = hpack
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.headers = []
        self.errors = []
        self.lock = threading.Lock()
        self.socks = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, self._parser()), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, None), daemon=True).start()

    def _parser(self):
        dec = self.hpack.Decoder()
        dec.max_allowed_table_size = 1 << 16
        state = {"buf": b"", "preface": False, "block": b"", "broken": False}

        def feed(data):
            if state["broken"]:
                return
            state["buf"] += data
            buf = state["buf"]
            if not state["preface"]:
                if len(buf) < 24:
                    return
                buf, state["preface"] = buf[24:], True
            while len(buf) >= 9:
                n = int.from_bytes(buf[:3], "big")
                if len(buf) < 9 + n:
                    break
                ftype, flags, payload = buf[3], buf[4], buf[9:9 + n]
                buf = buf[9 + n:]
                if ftype == 1:                      # HEADERS
                    i, pad = 0, 0
                    if flags & 0x8:
                        pad, i = payload[0], 1
                    if flags & 0x20:
                        i += 5
                    state["block"] = payload[i:len(payload) - pad]
                elif ftype == 9:                    # CONTINUATION
                    state["block"] += payload
                else:
                    continue
                if flags & 0x4:                     # END_HEADERS
                    try:
                        h = dict(dec.decode(state["block"]))
                    except Exception as e:  # noqa: BLE001 -- shown by the test that reads it
                        state["broken"] = True
                        self.errors.append(repr(e))
                        return
                    with self.lock:
                        self.headers.append(h)
            state["buf"] = buf

        return feed

    def _pump(self, src, dst, feed):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if feed:
                    feed(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def requests_to(self, path):
        with self.lock:
            return [h for h in self.headers if h.get(":path") == path]

    def close(self):
        self.closed = True
        self.lsock.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass


# ---- the demo, started from the shipped config ---------------------------------------

def sub(pattern, repl, text, count=1):
    """re.sub that insists the shipped config still has what it rewrites."""
    out, n = re.subn(pattern, repl, text, flags=re.M)
    assert n == count, "conf/portico.conf changed: %r matched %d times" % (pattern, n)
    return out


def start_service(script, port, log):
    args = [PY, os.path.join(SCRIPTS, script), "--port", str(port)]
    helptext = subprocess.run([PY, os.path.join(SCRIPTS, script), "--help"],
                              capture_output=True, text=True, timeout=30).stdout
    if "--log" in helptext:
        args += ["--log", log]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_port(port, proc=p), "scripts/%s did not start" % script
    return p


class Shop:
    """The started demo and the clients' helpers."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.crm_port, self.ledger_port = free_port(), free_port()
        self.crm_log = os.path.join(tmp, "crm.log")
        self.ledger_log = os.path.join(tmp, "ledger.log")
        self.access_log = os.path.join(tmp, "access.log")
        self.procs = []
        self.d = Daemon(tmp, "", plugins_dir=PLUGINS, workers=2)
        self.tap = H2Tap(self.d.port) if _have_hpack() else None
        self.walk = load_walk()
        self.pb = self.walk.build_classes(self.walk.from_protoc())
        self.token = subprocess.run([os.path.join(SCRIPTS, "demo-token"), "alice"],
                                    capture_output=True, text=True,
                                    timeout=30).stdout.strip()
        self.channel = None

    def config(self):
        with open(os.path.join(CONF, "portico.conf")) as f:
            text = f.read()
        d = self.d
        text = sub(r'^plugins_dir = .*$', f'plugins_dir = "{PLUGINS}"', text)
        text = sub(r'^pid_file = .*$', f'pid_file = "{d.pid_file}"', text)
        text = sub(r'^var_dir = .*$', f'var_dir = "{self.tmp}/var"', text)
        text = sub(r'^log = \{[^}\n]*\}', f'log = {{ level = "info", file = "{d.log_path}" }}',
                   text)
        text = sub(r'^listen \{ address = "127.0.0.1", port = 8080 \}',
                   f'listen {{ address = "127.0.0.1", port = {d.port} }}', text)
        text = sub(r'^access_log = \{[^}\n]*\}',
                   f'access_log = {{ file = "{self.access_log}", format = "json" }}', text)
        # upstream "orders" is this daemon: through the relay when there is one
        orders = self.tap.port if self.tap else d.port
        text = sub(r'(upstream "orders" \{\s*servers = \{ )"127\.0\.0\.1:8080"',
                   rf'\g<1>"127.0.0.1:{orders}"', text)
        text = sub(r'"127\.0\.0\.1:9004"', f'"127.0.0.1:{self.crm_port}"', text)
        text = sub(r'"127\.0\.0\.1:9003"', f'"127.0.0.1:{self.ledger_port}"', text)
        return text

    def start(self):
        # the conf's relative paths (conf/schema.graphql, conf/proto, conf/soap,
        # routes "conf/routes") from the daemon's directory; the routes copied,
        # so the webhook retry schedule can be shortened (below)
        os.makedirs(os.path.join(self.tmp, "conf"))
        for name in os.listdir(CONF):
            if name != "routes":
                os.symlink(os.path.join(CONF, name), os.path.join(self.tmp, "conf", name))
        shutil.copytree(os.path.join(CONF, "routes"), os.path.join(self.tmp, "conf", "routes"))
        os.symlink(os.path.join(SRCDIR, "proto"), os.path.join(self.tmp, "proto"))
        hooks = os.path.join(self.tmp, "conf", "routes", "webhooks.lua")
        with open(hooks) as f:
            text = f.read()
        # the shipped schedule spends its attempts over tens of seconds; the
        # same number of attempts, quickly, so "retried, then dead" fits a test
        text = sub(r'retry = \{ max = (\d+), base = [\d.]+, cap = [\d.]+ \}',
                   r'retry = { max = \1, base = 0.2, cap = 0.4 }', text)
        with open(hooks, "w") as f:
            f.write(text)
        self.procs.append(start_service("demo-crm", self.crm_port, self.crm_log))
        self.procs.append(start_service("demo-ledger", self.ledger_port, self.ledger_log))
        self.d.write(self.config())
        self.d.start()
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.d.port}")
        # ready when the REST route, the CRM and the gRPC service answer
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(self.d.url + "/v1/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError("the demo did not answer /v1/health:\n" + self.d.log())

    def stop(self):
        if self.channel:
            self.channel.close()
        self.d.stop()
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.tap:
            self.tap.close()

    # ---- clients ----------------------------------------------------------------------

    @property
    def url(self):
        return self.d.url

    def create(self, item="book", quantity=2, customer_id=2, rid=None, traceparent=None,
               token=True):
        h = {}
        if token:
            h["Authorization"] = "Bearer " + self.token
        if rid:
            h["X-Request-Id"] = rid
        if traceparent:
            h["traceparent"] = traceparent
        for _ in range(50):        # the gateway's rate limit: wait for the next window
            r = requests.post(self.url + "/v1/orders", headers=h, timeout=15,
                              json={"item": item, "quantity": quantity,
                                    "customer_id": customer_id})
            if r.status_code != 429:
                return r
            time.sleep(min(float(r.headers.get("retry-after", "0.2") or 0.2), 1.0))
        return r

    def gql(self, query, rid=None):
        h = {"X-Request-Id": rid} if rid else {}
        r = requests.post(self.url + "/graphql", json={"query": query}, headers=h, timeout=15)
        assert r.status_code == 200, r.text
        return r.json()

    def rpc(self, method, req_name, resp_name, **fields):
        call = self.channel.unary_unary("/orders.v1.Orders/" + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=self.pb[resp_name].FromString)
        return call(self.pb[req_name](**fields), timeout=10)

    def get(self, oid):
        return self.rpc("Get", "orders.v1.GetRequest", "orders.v1.Order", id=oid)

    def grpc_create(self, item, quantity=1, customer_id=1):
        return self.rpc("Create", "orders.v1.CreateRequest", "orders.v1.Order", item=item,
                        quantity=quantity, customer_id=customer_id)

    def status_name(self, o):
        return self.pb["orders.v1.Order"].DESCRIPTOR.fields_by_name["status"] \
            .enum_type.values_by_number[o.status].name

    def pay_event(self, oid, event_id=None, payment_id=None, amount=1999):
        return {"id": event_id or "evt_" + secrets.token_hex(8),
                "type": "payment_intent.succeeded",
                "data": {"object": {"id": payment_id or "pi_" + secrets.token_hex(8),
                                    "amount": amount, "currency": "eur",
                                    "status": "succeeded",
                                    "metadata": {"order_id": str(oid)}}}}

    def post_webhook(self, body, ts=None, tamper=False):
        if isinstance(body, dict):
            body = json.dumps(body, separators=(",", ":")).encode()
        ts = int(time.time()) if ts is None else ts
        sig = hmac.new(WHSEC.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
        if tamper:
            sig = sig[:-1] + ("0" if sig[-1] != "0" else "1")
        return requests.post(self.url + "/hooks/stripe", data=body, timeout=10,
                             headers={"Content-Type": "application/json",
                                      "Stripe-Signature": f"t={ts},v1={sig}"})

    def jobs(self, event_id):
        path = os.path.join(self.tmp, "var", "webhooks.db")
        if not os.path.exists(path):
            return []
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM jobs WHERE event_id = ?",
                                                 (event_id,))]
        finally:
            con.close()

    def access(self):
        if not os.path.exists(self.access_log):
            return []
        out = []
        with open(self.access_log, errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def lines(self, path):
        if not os.path.exists(path):
            return []
        with open(path, errors="replace") as f:
            return f.read().splitlines()


def _have_hpack():
    try:
        import hpack  # noqa: F401
        return True
    except ImportError:
        return False


def until(what, fn, timeout=10.0, interval=0.05):
    """Polls FN until it returns something true; that value, or fails naming WHAT."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(interval)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    s = Shop(str(tmp_path_factory.mktemp("sandwich")))
    try:
        s.start()
        yield s
    finally:
        s.stop()


# ---- WebSocket clients on one background event loop --------------------------------------

class Loop:
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clients = []

    def run(self, coro, timeout=20):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self):
        """Closes every client of the loop, cancels what is left, stops it."""
        async def shutdown():
            for c in self.clients:
                try:
                    await asyncio.wait_for(c.ws.close(), 2)
                except Exception:  # noqa: BLE001 -- closed already, or the server went
                    pass
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(shutdown(), 10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def aloop():
    lp = Loop()
    yield lp
    lp.close()


class Client:
    """A WebSocket client whose messages (JSON) land in a queue, read from
    the moment it connects."""

    def __init__(self, lp, url, subprotocols=None):
        self.lp = lp
        self.q = queue.Queue()
        self.seen = []
        kw = {"open_timeout": 10, "close_timeout": 2}
        if subprotocols:
            kw["subprotocols"] = subprotocols
        async def connect():
            return await websockets.connect(url, **kw)
        self.ws = lp.run(connect())
        lp.clients.append(self)
        self.reader = asyncio.run_coroutine_threadsafe(self._read(), lp.loop)

    async def _read(self):
        try:
            async for raw in self.ws:
                self.q.put(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.q.put(None)

    def send(self, msg):
        self.lp.run(self.ws.send(json.dumps(msg)))

    def wait_for(self, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                m = self.q.get(timeout=left)
            except queue.Empty:
                break
            if m is None:
                raise AssertionError("connection closed while waiting for %s (saw %s)"
                                     % (what, self.seen[-5:]))
            self.seen.append(m)
            if pred(m):
                return m
        raise AssertionError("no %s within %ss (saw %s)" % (what, timeout, self.seen[-5:]))

    def close(self):
        try:
            self.lp.run(self.ws.close(), 10)
        except Exception:  # noqa: BLE001 -- closing a connection the server closed
            pass


class Sse:
    """A raw-socket SSE client: subscribed once the answer's head is in."""

    def __init__(self, port, path):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Accept: text/event-stream\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            b = self.s.recv(65536)
            assert b, "SSE connection closed before its head"
            self.buf += b
        assert self.buf.startswith(b"HTTP/1.1 200"), self.buf[:200]
        self.buf = self.buf.split(b"\r\n\r\n", 1)[1]

    def wait_for(self, pred, what, timeout=10.0):
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                if line.startswith(b"data: {"):
                    m = json.loads(line[6:])
                    seen.append(m)
                    if pred(m):
                        return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s on SSE within %ss (saw %s)" % (what, timeout,
                                                                         seen[-3:]))
            self.s.settimeout(left)
            try:
                b = self.s.recv(65536)
            except socket.timeout:
                continue
            if not b:
                raise AssertionError("SSE closed while waiting for " + what)
            self.buf += b

    def close(self):
        self.s.close()


def is_event(event, oid, status=None):
    def pred(m):
        o = m.get("order") if isinstance(m, dict) else None
        return (m.get("event") == event and isinstance(o, dict) and o.get("id") == oid
                and (status is None or o.get("status") == status))
    return pred


# ---- the walk ---------------------------------------------------------------------------

def test_an_order_walks_through_every_protocol(shop, aloop):
    # the dashboard's WebSocket, open before anything happens
    ws = Client(aloop, f"ws://127.0.0.1:{shop.d.port}/ws/orders?access_token={shop.token}")
    rid = "sandwich-" + secrets.token_hex(6)
    trace = secrets.token_hex(16)
    tp = f"00-{trace}-{secrets.token_hex(8)}-01"

    # 1. REST create through the gateway: SOAP GetCustomer, then gRPC Create
    r = shop.create("book", 2, 2, rid=rid, traceparent=tp)
    assert r.status_code == 201, r.text
    assert r.headers["content-type"].startswith("application/json")
    got = r.json()
    order, cust = got["order"], got["customer"]
    oid = order["id"]
    assert isinstance(oid, int) and oid > 0, got
    assert order["item"] == "book" and order["quantity"] == 2, got
    assert order["status"] == "PENDING" and order["customer_id"] == 2, got
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", order["created_at"]), got
    assert cust["id"] == 2 and cust["name"] == "Charles Babbage", got
    created = ws.wait_for(is_event("order.created", oid, "PENDING"), "order.created on /ws/orders")
    assert created["order"]["item"] == "book" and created["order"]["customer_id"] == 2
    # REST read
    r = requests.get(f"{shop.url}/v1/orders/{oid}", timeout=10,
                     headers={"Authorization": "Bearer " + shop.token})
    assert r.status_code == 200 and r.json()["order"]["id"] == oid, r.text
    assert r.json()["order"]["status"] == "PENDING"

    # 2. GraphQL: the order by grpc.call, its customer from SOAP
    got = shop.gql('{ order(id: "%d") { id item quantity status customerId createdAt '
                   'customer { id name email tier } } }' % oid)
    assert "errors" not in got, got
    o = got["data"]["order"]
    assert o["id"] == str(oid) and o["status"] == "PENDING" and o["quantity"] == 2, o
    assert o["customer"]["name"] == "Charles Babbage", o
    assert o["customer"]["email"] and o["customer"]["tier"], o
    # a second order of another customer: the customers of one level come in ONE
    # SOAP GetCustomers call (the CRM's log, by this GraphQL request's id)
    r2 = shop.create("lamp", 1, 3)
    assert r2.status_code == 201, r2.text
    oid2 = r2.json()["order"]["id"]
    grid = "sandwich-gql-" + secrets.token_hex(4)
    got = shop.gql('{ orders(ids: ["%d", "%d"]) { id customer { id name } } }' % (oid, oid2),
                   rid=grid)
    assert "errors" not in got, got
    assert [(x["id"], x["customer"]["name"]) for x in got["data"]["orders"]] == \
        [(str(oid), "Charles Babbage"), (str(oid2), "Grace Hopper")], got
    crm = until("the CRM's log line for " + grid,
                lambda: [ln for ln in shop.lines(shop.crm_log) if grid in ln])
    assert len(crm) == 1 and "GetCustomers" in crm[0], crm

    # the GraphQL subscription over graphql-transport-ws, and a gRPC Watch stream,
    # both listening before the payment
    gws = Client(aloop, f"ws://127.0.0.1:{shop.d.port}/graphql",
                 subprotocols=["graphql-transport-ws"])
    gws.send({"type": "connection_init", "payload": {}})
    assert gws.wait_for(lambda m: True, "connection_ack")["type"] == "connection_ack"
    gws.send({"id": "mine", "type": "subscribe", "payload": {
        "query": 'subscription { orderUpdated(id: "%d") { id status paymentId amount } }' % oid}})
    gws.send({"id": "all", "type": "subscribe", "payload": {
        "query": "subscription { orderUpdated { id status } }"}})
    # live once "all" (subscribed after "mine" on the same connection) sees a probe
    probe = None
    deadline = time.monotonic() + 10
    while probe is None:
        assert time.monotonic() < deadline, "the orderUpdated subscription never went live"
        p = shop.grpc_create("probe")
        try:
            gws.wait_for(lambda m, pid=str(p.id): m.get("id") == "all" and
                         m["payload"]["data"]["orderUpdated"]["id"] == pid,
                         "the probe order on orderUpdated", timeout=0.5)
            probe = p
        except AssertionError:
            pass
    watch = shop.channel.unary_stream(
        "/orders.v1.Orders/Watch",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=shop.pb["orders.v1.OrderEvent"].FromString)(
            shop.pb["orders.v1.WatchRequest"](id=oid), timeout=20)
    first = next(watch)
    assert first.id == oid and shop.pb["orders.v1.Order"].DESCRIPTOR.fields_by_name[
        "status"].enum_type.values_by_number[first.status].name == "PENDING"

    # and an SSE dashboard client
    sse = Sse(shop.d.port, f"/events/orders?access_token={shop.token}")

    # 3. pay: a Stripe-signed webhook; its handler calls gRPC MarkPaid
    pi = "pi_" + secrets.token_hex(8)
    evt = shop.pay_event(oid, payment_id=pi, amount=1999)
    r = shop.post_webhook(evt)
    assert r.status_code == 200, r.text
    assert r.json().get("id") == evt["id"], r.text

    # 4. the dashboard's WebSocket sees it PAID
    paid = ws.wait_for(is_event("order.paid", oid, "PAID"), "order.paid on /ws/orders")
    assert paid["order"]["payment_id"] == pi and paid["order"]["amount"] == 1999, paid
    # ... the GraphQL subscription (only this order's, on "mine")
    m = gws.wait_for(lambda m: m.get("id") == "mine", "orderUpdated for the order")
    assert m["type"] == "next", m
    assert m["payload"]["data"]["orderUpdated"] == {"id": str(oid), "status": "PAID",
                                                   "paymentId": pi, "amount": 1999}, m
    # ... the SSE client
    m = sse.wait_for(is_event("order.paid", oid, "PAID"), "order.paid")
    assert m["order"]["payment_id"] == pi, m
    sse.close()
    # ... and the gRPC Watch stream, which then ends
    rest = list(watch)
    assert [(e.id, e.status) for e in rest] == [(oid, 2)], rest

    # 5. a gRPC client reads it
    o = shop.get(oid)
    assert o.id == oid and shop.status_name(o) == "PAID", o
    assert o.payment_id == pi and o.amount == 1999 and o.customer_id == 2, o
    assert o.item == "book" and o.quantity == 2 and o.created_at.seconds > 0, o
    # the webhook's job is done, in one attempt
    job = until("the job done", lambda: [j for j in shop.jobs(evt["id"])
                                         if j["state"] == "done"])[0]
    assert job["attempts"] == 1, job
    # ... and GraphQL agrees
    got = shop.gql('{ order(id: "%d") { status paymentId amount } }' % oid)
    assert got == {"data": {"order": {"status": "PAID", "paymentId": pi, "amount": 1999}}}, got
    gws.send({"id": "all", "type": "complete"})
    gws.close()
    ws.close()


def test_the_request_id_ties_the_hops_in_the_access_log(shop):
    rid = "sandwich-rid-" + secrets.token_hex(6)
    r = shop.create("pen", 1, 1, rid=rid)
    assert r.status_code == 201, r.text
    assert r.headers.get("x-request-id") in (None, rid), r.headers

    def lines():
        got = [x for x in shop.access() if x.get("request_id") == rid]
        paths = {(x.get("method"), x.get("path")) for x in got}
        if ("POST", "/v1/orders") in paths and ("POST", "/orders.v1.Orders/Create") in paths:
            return got
        return None

    try:
        got = until("the REST and gRPC lines with " + rid, lines, timeout=5)
    except AssertionError:
        mine = [x for x in shop.access() if x.get("path") in ("/v1/orders",
                                                             "/orders.v1.Orders/Create")]
        raise AssertionError("no REST + gRPC Create pair with request_id %s; last lines: %s"
                             % (rid, mine[-4:]))
    rest = [x for x in got if x["path"] == "/v1/orders"][0]
    create = [x for x in got if x["path"] == "/orders.v1.Orders/Create"][0]
    assert int(rest["status"]) == 201, rest
    assert int(create["status"]) == 200 and str(create.get("grpc_status")) == "0", create
    assert "2" in str(create.get("protocol")), create          # HTTP/2: the gRPC call
    # the same id in the legacy CRM's log (the SOAP GetCustomer)
    crm = until("the CRM line", lambda: [ln for ln in shop.lines(shop.crm_log) if rid in ln])
    assert "GetCustomer" in crm[0], crm


def test_traceparent_goes_on_to_the_grpc_and_soap_calls(shop):
    trace = secrets.token_hex(16)
    tp = f"00-{trace}-{secrets.token_hex(8)}-01"
    rid = "sandwich-tp-" + secrets.token_hex(6)
    r = shop.create("cup", 1, 4, rid=rid, traceparent=tp)
    assert r.status_code == 201, r.text
    # the SOAP call: the CRM logs the traceparent it received
    crm = until("the CRM line", lambda: [ln for ln in shop.lines(shop.crm_log) if rid in ln])
    m = re.search(r"traceparent=(\S+)", crm[0])
    assert m and re.fullmatch(r"00-%s-[0-9a-f]{16}-[0-9a-f]{2}" % trace, m.group(1)), crm
    # the gRPC call, on the wire
    if shop.tap is None:
        pytest.skip("python3-hpack is missing: the gRPC call's metadata cannot be read")
    assert not shop.tap.errors, shop.tap.errors
    try:
        calls = until("the gRPC Create through the relay",
                      lambda: [h for h in shop.tap.requests_to("/orders.v1.Orders/Create")
                               if h.get("x-request-id") == rid], timeout=5)
    except AssertionError:
        raise AssertionError("no gRPC Create with x-request-id %s on the wire; the last: %s"
                             % (rid, shop.tap.requests_to("/orders.v1.Orders/Create")[-2:]))
    h = calls[0]
    assert h.get("content-type", "").startswith("application/grpc"), h
    assert re.fullmatch(r"00-%s-[0-9a-f]{16}-[0-9a-f]{2}" % trace, h.get("traceparent", "")), h


def test_without_a_traceparent_both_calls_share_one_made_for_the_request(shop):
    if shop.tap is None:
        pytest.skip("python3-hpack is missing: the gRPC call's metadata cannot be read")
    rid = "sandwich-notp-" + secrets.token_hex(6)
    r = shop.create("mug", 1, 5, rid=rid)
    assert r.status_code == 201, r.text
    crm = until("the CRM line", lambda: [ln for ln in shop.lines(shop.crm_log) if rid in ln])
    soap_tp = re.search(r"traceparent=(00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})", crm[0])
    assert soap_tp, crm
    wire = until("the gRPC Create through the relay",
                 lambda: [h for h in shop.tap.requests_to("/orders.v1.Orders/Create")
                          if h.get("x-request-id") == rid], timeout=5)
    grpc_tp = wire[0].get("traceparent", "")
    assert grpc_tp[3:35] == soap_tp.group(1)[3:35], (grpc_tp, soap_tp.group(1))


# ---- hostile steps ------------------------------------------------------------------------

def new_order(shop, customer_id=1):
    r = shop.create("hostile", 1, customer_id)
    assert r.status_code == 201, r.text
    return r.json()["order"]["id"]


def test_a_replayed_webhook_is_a_duplicate_and_pays_once(shop, aloop):
    oid = new_order(shop)
    ws = Client(aloop, f"ws://127.0.0.1:{shop.d.port}/ws/orders?access_token={shop.token}")
    evt = shop.pay_event(oid)
    body = json.dumps(evt, separators=(",", ":")).encode()
    ts = int(time.time())
    r = shop.post_webhook(body, ts=ts)
    assert r.status_code == 200, r.text
    ws.wait_for(is_event("order.paid", oid, "PAID"), "order.paid")
    # the very same request again (a provider's retry, or a replay attack within
    # the tolerance): acknowledged as a duplicate, never handled twice
    r = shop.post_webhook(body, ts=ts)
    assert r.status_code == 200 and r.headers.get("x-portico-duplicate") == "1", \
        (r.status_code, r.headers, r.text)
    # a marker after it: every order.paid for OID would have come before it
    marker = shop.grpc_create("marker")
    ws.wait_for(is_event("order.created", marker.id), "the marker")
    assert [m for m in ws.seen if is_event("order.paid", oid)(m)].__len__() == 1, ws.seen
    jobs = shop.jobs(evt["id"])
    assert len(jobs) == 1 and jobs[0]["attempts"] == 1, jobs
    o = shop.get(oid)
    assert shop.status_name(o) == "PAID" and o.payment_id == evt["data"]["object"]["id"]
    # the same payment under a new event id (the provider sent it again as a new
    # event): MarkPaid is idempotent by payment id, the order unchanged
    again = shop.pay_event(oid, payment_id=evt["data"]["object"]["id"])
    assert shop.post_webhook(again).status_code == 200
    until("the second event handled",
          lambda: [j for j in shop.jobs(again["id"]) if j["state"] == "done"])
    marker = shop.grpc_create("marker")
    ws.wait_for(is_event("order.created", marker.id), "the second marker")
    assert len([m for m in ws.seen if is_event("order.paid", oid)(m)]) == 1, ws.seen
    ws.close()


def test_a_tampered_signature_is_refused_and_the_order_stays_pending(shop):
    oid = new_order(shop)
    evt = shop.pay_event(oid)
    r = shop.post_webhook(evt, tamper=True)
    assert r.status_code == 401, (r.status_code, r.text)
    # the body changed after signing: refused too
    body = json.dumps(evt).encode()
    ts = int(time.time())
    sig = hmac.new(WHSEC.encode(), str(ts).encode() + b"." + body, hashlib.sha256).hexdigest()
    forged = body.replace(b"1999", b"1")
    r = requests.post(shop.url + "/hooks/stripe", data=forged, timeout=10,
                      headers={"Content-Type": "application/json",
                               "Stripe-Signature": f"t={ts},v1={sig}"})
    assert r.status_code == 401, r.text
    # an old timestamp, correctly signed: outside the tolerance
    assert shop.post_webhook(evt, ts=int(time.time()) - 3600).status_code in (400, 401)
    # no signature at all
    r = requests.post(shop.url + "/hooks/stripe", data=body, timeout=10,
                      headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 401), r.text
    assert shop.jobs(evt["id"]) == []                  # nothing stored
    assert shop.status_name(shop.get(oid)) == "PENDING"


def test_a_payment_for_an_order_that_does_not_exist_is_retried_then_dead(shop):
    evt = shop.pay_event(987654321)
    r = shop.post_webhook(evt)
    assert r.status_code == 200, r.text                # stored: the sender is done
    job = until("the job dead", lambda: [j for j in shop.jobs(evt["id"])
                                         if j["state"] == "dead"], timeout=30)[0]
    assert job["attempts"] == job["max_attempts"] and job["attempts"] > 1, job
    assert "NOT_FOUND" in (job["last_error"] or "") or "987654321" in (job["last_error"] or ""), \
        job
    # no crash: the daemon serves, the same workers, and orders still go through
    assert requests.get(shop.url + "/v1/health", timeout=5).status_code == 200
    assert shop.d.proc.poll() is None
    oid = new_order(shop)
    assert shop.status_name(shop.get(oid)) == "PENDING"


def raw_ws(port, path, rcvbuf=4096):
    """A WebSocket handshake on a raw socket with a small receive buffer; the
    caller then never reads (or reads later)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        assert b, "closed during the handshake"
        head += b
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def ws_frames(data):
    """(opcode, payload) of each complete server frame in DATA (unmasked)."""
    out, i = [], 0
    while i + 2 <= len(data):
        op, n, j = data[i] & 0x0F, data[i + 1] & 0x7F, i + 2
        if n == 126:
            n, j = int.from_bytes(data[j:j + 2], "big"), j + 2
        elif n == 127:
            n, j = int.from_bytes(data[j:j + 8], "big"), j + 8
        if j + n > len(data):
            break
        out.append((op, data[j:j + n]))
        i = j + n
    return out


def test_a_websocket_client_that_never_reads_while_orders_flow(shop, aloop):
    path = f"/ws/orders?access_token={shop.token}"
    stuck = [raw_ws(shop.d.port, path) for _ in range(2)]
    ws = Client(aloop, f"ws://127.0.0.1:{shop.d.port}{path}")
    # orders flow straight into the gRPC service (the REST route is rate
    # limited): big enough items to fill the stuck clients' queues
    n, item = 0, "x" * 180
    t0 = time.monotonic()
    futures = []
    create = shop.channel.unary_unary(
        "/orders.v1.Orders/Create", request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=shop.pb["orders.v1.Order"].FromString)
    ids = []
    before = shop.d.log().count("reads too slowly")

    def closed():
        return shop.d.log().count("reads too slowly") >= before + len(stuck)

    # until the server has given up on both (about 5000 such orders: 1 MiB
    # queued each, plus what the kernel holds), a bounded flow either way
    while not (n >= 1000 and n % 1000 == 0 and closed()) and n < 20000 \
            and time.monotonic() - t0 < 60:
        futures = [create.future(shop.pb["orders.v1.CreateRequest"](item=item, quantity=1,
                                                                     customer_id=1),
                                 timeout=10) for _ in range(50)]
        ids += [f.result().id for f in futures]
        n += len(futures)
    last = max(ids)
    # the reading client got every one of them
    missing = set(ids)

    def all_seen(m):
        if m.get("event") == "order.created":
            missing.discard(m["order"]["id"])
        return not missing
    ws.wait_for(all_seen, "all %d orders on the reading client" % n, timeout=20)
    # the daemon kept serving everything else meanwhile
    assert requests.get(shop.url + "/v1/health", timeout=5).status_code == 200
    assert shop.status_name(shop.get(last)) == "PENDING"
    # each stuck client, read now: what the kernel held, then the server's close
    for s in stuck:
        s.settimeout(2)
        data = b""
        try:
            while len(data) < 16 << 20:
                b = s.recv(1 << 20)
                if not b:
                    break
                data += b
        except socket.timeout:
            pass
        s.close()
        assert data, "a stuck client got nothing at all"
        frames = ws_frames(data)
        assert frames, data[:200]
        # the queue filled up (1 MiB by default, far less than what flowed):
        # whole messages, then a close 1008 -- not an endless buffer
        op, payload = frames[-1]
        assert op == 8 and int.from_bytes(payload[:2], "big") == 1008, (op, payload)
        texts = [json.loads(p) for o, p in frames[:-1] if o == 1]
        assert texts and all(m["event"] == "order.created" for m in texts), texts[:3]
        assert len(texts) < n
    assert shop.d.wait_log("reads too slowly", timeout=5), shop.d.log()[-2000:]
    assert shop.d.proc.poll() is None
    ws.close()


# ---- the gateway's refusals -----------------------------------------------------------------

def test_rest_refusals_are_json(shop):
    r = shop.create(token=False)
    assert r.status_code == 401, r.text
    r = shop.create(customer_id=4242)              # the CRM's CustomerNotFound
    assert r.status_code == 422 and "error" in r.json(), r.text
    r = requests.post(shop.url + "/v1/orders", data="{not json", timeout=10,
                      headers={"Authorization": "Bearer " + shop.token,
                               "Content-Type": "application/json"})
    assert r.status_code == 400 and "error" in r.json(), r.text
    r = requests.get(shop.url + "/v1/orders/99999999", timeout=10,
                     headers={"Authorization": "Bearer " + shop.token})
    assert r.status_code == 404 and "error" in r.json(), r.text


# ---- scripts/demo-walk ------------------------------------------------------------------------

def test_demo_walk_passes_against_the_demo(shop):
    r = subprocess.run([PY, os.path.join(SCRIPTS, "demo-walk"), "--base", shop.url,
                        "--timeout", "10"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    print(out)
    for hop in ("1. create", "2. read", "3. watch", "4. pay", "5. push", "6. grpc"):
        assert hop in out, out
    assert "201 order" in out and "PAID" in out and "every hop answered" in out, out
    assert "curl -sS -X POST %s/v1/orders" % shop.url in out, out
    rid = re.search(r"request id (walk-[0-9a-f]+)", out).group(1)
    # its request id is on the REST and the gRPC Create lines too
    until("the walk's REST line", lambda: [x for x in shop.access()
                                           if x.get("request_id") == rid
                                           and x.get("path") == "/v1/orders"])


def test_demo_walk_says_when_the_demo_is_not_running():
    port = free_port()
    r = subprocess.run([PY, os.path.join(SCRIPTS, "demo-walk"), "--base",
                        f"http://127.0.0.1:{port}", "--timeout", "2"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "not running" in r.stderr and "scripts/demo" in r.stderr, r.stderr


def test_demo_walk_names_the_failing_hop(shop):
    """A walk against a demo whose gRPC port is wrong fails at the grpc hop."""
    port = free_port()
    r = subprocess.run([PY, os.path.join(SCRIPTS, "demo-walk"), "--base", shop.url,
                        "--grpc", f"127.0.0.1:{port}", "--timeout", "3"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED at hop 6 (grpc)" in r.stderr and "UNAVAILABLE" in r.stderr, r.stderr


def test_demo_walk_with_the_wrong_secret_fails_at_the_payment(shop):
    r = subprocess.run([PY, os.path.join(SCRIPTS, "demo-walk"), "--base", shop.url,
                        "--secret", "whsec_not_the_demos", "--timeout", "3"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAILED at hop 4 (pay)" in r.stderr and "HTTP 401" in r.stderr, r.stderr
