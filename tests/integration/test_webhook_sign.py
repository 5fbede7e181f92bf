"""scripts/webhook-sign, the demo's signing helper: its headers are exactly
what the providers' official libraries make (tests/integration/node/webhooks/
sign.js), its curl arguments parse back to them, and with a URL it POSTs the
body with them (to a throwaway HTTP server on loopback). That the C verifier
accepts its output is checked by tests/unit/test_wh_verify.c."""
import http.server
import json
import os
import shlex
import shutil
import subprocess
import threading

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SIGN = os.path.join(ROOT, "scripts", "webhook-sign")
NODE_DIR = os.path.join(ROOT, "tests", "integration", "node", "webhooks")
BODY = (b'{"id":"evt_1","type":"payment_intent.succeeded",'
        b'"data":{"object":{"id":"pi_1","amount":2000}}}')
SECRETS = {
    "stripe": "whsec_portico_stripe_current_0001",
    "github": "gh-secret-current",
    "shopify": "shpss_current_secret",
    "standard": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def run_sign(*args, stdin=None):
    return subprocess.run(["/usr/bin/python3", SIGN, *args], input=stdin, capture_output=True,
                          timeout=30)


@pytest.fixture
def body_file(tmp_path):
    p = tmp_path / "event.json"
    p.write_bytes(BODY)
    return str(p)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("scheme", sorted(SECRETS))
def test_headers_equal_the_official_libraries(scheme, body_file):
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "standardwebhooks")):
        pytest.skip("npm packages missing: run `npm ci --prefix tests/integration/node/webhooks`")
    for ts in ("1700000000", "1765100000"):
        mine = run_sign(scheme, SECRETS[scheme], body_file, "--json", "--timestamp", ts,
                        "--id", "msg_2Kq9xRkL")
        assert mine.returncode == 0, mine.stderr
        theirs = subprocess.run(["node", os.path.join(NODE_DIR, "sign.js"), scheme,
                                 SECRETS[scheme], body_file, ts, "msg_2Kq9xRkL"],
                                capture_output=True, timeout=60)
        assert theirs.returncode == 0, theirs.stderr
        got = json.loads(mine.stdout)
        assert got.pop("Content-Type") == "application/json"
        assert got == json.loads(theirs.stdout)


def test_curl_arguments_and_stdin(body_file):
    out = run_sign("stripe", SECRETS["stripe"], "--timestamp", "1700000000", stdin=BODY)
    assert out.returncode == 0, out.stderr
    words = shlex.split(out.stdout.decode())
    assert words[0::2] == ["-H"] * (len(words) // 2)
    headers = dict(w.split(": ", 1) for w in words[1::2])
    assert headers["Stripe-Signature"] == (
        "t=1700000000,v1=324e04271486bc00ac8de5ba45fb7d4f88a5c8df6262d75fcaf806f26e95fbee")
    # random ids differ from call to call
    a = json.loads(run_sign("standard", SECRETS["standard"], body_file, "--json").stdout)
    b = json.loads(run_sign("standard", SECRETS["standard"], body_file, "--json").stdout)
    assert a["webhook-id"] != b["webhook-id"] and a["webhook-id"].startswith("msg_")


def test_careless_input(body_file, tmp_path):
    r = run_sign("standard", "whsec_not base64!", body_file)
    assert r.returncode != 0 and b"whsec_ and base64" in r.stderr
    r = run_sign("stripe", "", body_file)
    assert r.returncode != 0 and b"secret is empty" in r.stderr
    r = run_sign("paypal", "x", body_file)
    assert r.returncode != 0 and b"invalid choice" in r.stderr
    r = run_sign("github", "x", str(tmp_path / "missing.json"))
    assert r.returncode != 0 and b"No such file" in r.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_posts_with_curl(body_file):
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            seen.append((self.path, dict(self.headers), self.rfile.read(n)))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        url = "http://127.0.0.1:%d/hooks/github" % srv.server_address[1]
        r = run_sign("github", SECRETS["github"], body_file, url, "--id", "d-1",
                     "--type", "ping")
        assert r.returncode == 0, r.stderr
        assert b"200" in r.stdout.split(b"\r\n", 1)[0] and r.stdout.endswith(b"ok")
    finally:
        srv.shutdown()
        srv.server_close()
    path, headers, body = seen[0]
    assert path == "/hooks/github" and body == BODY
    assert headers["X-Hub-Signature-256"] == (
        "sha256=d7cf27de1f03121e1c063527e3317cde9e937dea004001a24685eb832b595f68")
    assert headers["X-GitHub-Delivery"] == "d-1" and headers["X-GitHub-Event"] == "ping"
    assert headers["Content-Type"] == "application/json"
