"""TLS listeners: HTTP/1.1 over TLS, ALPN, SNI certificate choice, and
clients that do not speak TLS or never finish the handshake.

Certificates are self-signed, made once per session with the openssl CLI.
"""
import json
import os
import shutil
import socket
import ssl
import subprocess
import time

import pytest

ROUTES = '''
http = { header_timeout = 1, idle_timeout = 2, body_timeout = 1 }
route { method = "GET", path = "/hello", handler = "static", body = "hello tls" }
'''

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not found")


def make_cert(directory, name, sans):
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=" + sans[0], "-addext",
                    "subjectAltName=" + ",".join("DNS:" + s for s in sans),
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """{'a': (cert, key) for localhost + a.test, 'b': (cert, key) for b.test}."""
    d = str(tmp_path_factory.mktemp("certs"))
    return {"a": make_cert(d, "a", ["localhost", "a.test"]),
            "b": make_cert(d, "b", ["b.test"])}


def tls_daemon(portico, tls, http2=None, body=ROUTES):
    """Starts portico with one TLS listener; TLS is the text of `tls = ...`."""
    d = portico(body, start=False)
    plain = 'listen { address = "127.0.0.1", port = %d }' % d.port
    h2 = "" if http2 is None else ", http2 = %s" % ("true" if http2 else "false")
    tls_listen = 'listen { address = "127.0.0.1", port = %d, tls = %s%s }' % (d.port, tls, h2)
    assert plain in d.text
    d.text = d.text.replace(plain, tls_listen)
    d.write(d.text)
    return d.start()


def one_cert(c):
    return '{ cert = "%s", key = "%s" }' % c


@pytest.fixture
def d(portico, certs):
    return tls_daemon(portico, one_cert(certs["a"]))


@pytest.fixture
def dsni(portico, certs):
    return tls_daemon(portico, "{ %s, %s }" % (one_cert(certs["a"]), one_cert(certs["b"])))


def curl(d, cafile, host, *args):
    r = subprocess.run(["curl", "-sS", "-v", "--max-time", "5", "--cacert", cafile,
                        "--resolve", "%s:%d:127.0.0.1" % (host, d.port),
                        "https://%s:%d/hello" % (host, d.port)] + list(args),
                       capture_output=True, timeout=15)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


def tls_connect(port, server_name, alpn=None, cafile=None):
    ctx = ssl.create_default_context(cafile=cafile) if cafile else \
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not cafile:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    return ctx.wrap_socket(raw, server_hostname=server_name)


def peer_sans(sock):
    der = sock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName"],
                       input=pem.encode(), capture_output=True, timeout=10, check=True)
    return r.stdout.decode()


def test_curl_https_http11(d, certs):
    rc, out, err = curl(d, certs["a"][0], "a.test", "--http1.1")
    assert rc == 0, err
    assert out == b"hello tls"
    assert "< HTTP/1.1 200" in err


def test_curl_https_localhost_name(d, certs):
    rc, out, err = curl(d, certs["a"][0], "localhost", "--http1.1")
    assert rc == 0, err
    assert out == b"hello tls"


def test_alpn_http11(d, certs):
    rc, _, err = curl(d, certs["a"][0], "a.test", "--http1.1")
    assert rc == 0, err
    assert "ALPN: server accepted http/1.1" in err or \
        "ALPN, server accepted to use http/1.1" in err, err
    with tls_connect(d.port, "a.test", alpn=["http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "http/1.1"


def test_no_alpn_is_http11(d):
    with tls_connect(d.port, "a.test") as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    assert data.startswith(b"HTTP/1.1 200")
    assert data.endswith(b"hello tls")


def test_alpn_h2_not_offered_when_http2_off(portico, certs):
    d = tls_daemon(portico, one_cert(certs["a"]), http2=False)
    with tls_connect(d.port, "a.test", alpn=["h2", "http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "http/1.1"


def test_alpn_h2_selected(d):
    with tls_connect(d.port, "a.test", alpn=["h2", "http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "h2"


def test_curl_https_h2(d, certs):
    rc, out, err = curl(d, certs["a"][0], "a.test", "--http2")
    assert "ALPN: server accepted h2" in err or "ALPN, server accepted to use h2" in err, err
    assert rc == 0, err
    assert out == b"hello tls"
    assert "< HTTP/2 200" in err


def test_sni_picks_certificate(dsni, certs):
    with tls_connect(dsni.port, "b.test", cafile=certs["b"][0]) as s:
        sans = peer_sans(s)
        assert "DNS:b.test" in sans and "a.test" not in sans
    with tls_connect(dsni.port, "a.test", cafile=certs["a"][0]) as s:
        sans = peer_sans(s)
        assert "DNS:a.test" in sans and "b.test" not in sans


def test_sni_unknown_name_gets_default_certificate(dsni):
    with tls_connect(dsni.port, "c.test") as s:
        assert "DNS:a.test" in peer_sans(s)


def test_sni_curl_both_names(dsni, certs):
    rc, out, err = curl(dsni, certs["b"][0], "b.test", "--http1.1")
    assert rc == 0, err
    assert out == b"hello tls"
    rc, out, err = curl(dsni, certs["a"][0], "a.test", "--http1.1")
    assert rc == 0, err
    assert out == b"hello tls"


def test_plaintext_on_tls_port_is_closed(d, certs):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n")
        s.settimeout(3)
        data = b""
        t0 = time.monotonic()
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                data += b
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 2.5, "not closed"
        assert not data.startswith(b"HTTP/"), data[:100]
    assert d.proc.poll() is None
    rc, out, err = curl(d, certs["a"][0], "a.test", "--http1.1")
    assert rc == 0 and out == b"hello tls", err


def test_stalled_handshake_is_closed(d, certs):
    # a ClientHello is never sent: the header timeout (1 s) closes it
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        t0 = time.monotonic()
        s.settimeout(4)
        try:
            assert s.recv(65536) == b""
        except ConnectionResetError:
            pass
        elapsed = time.monotonic() - t0
        assert 0.7 < elapsed < 2.5, elapsed
    # half a ClientHello: the same
    hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x11" * 32
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(hello)
        t0 = time.monotonic()
        s.settimeout(4)
        try:
            while s.recv(65536):
                pass
        except ConnectionResetError:
            pass
        assert time.monotonic() - t0 < 2.5
    assert d.proc.poll() is None
    rc, out, err = curl(d, certs["a"][0], "a.test", "--http1.1")
    assert rc == 0 and out == b"hello tls", err


def test_keepalive_over_tls(d):
    with tls_connect(d.port, "a.test", alpn=["http/1.1"]) as s:
        for _ in range(3):
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n")
            data = b""
            while not data.endswith(b"hello tls"):
                b = s.recv(65536)
                assert b, data
                data += b
            assert data.startswith(b"HTTP/1.1 200")


def test_tls_request_after_handshake_is_timed_out(d):
    # handshake done, then silence: closed by the server, not kept forever
    with tls_connect(d.port, "a.test", alpn=["http/1.1"]) as s:
        t0 = time.monotonic()
        s.settimeout(5)
        try:
            assert s.recv(65536) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
        assert time.monotonic() - t0 < 3.5


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_pipelined_input_past_the_limit_while_answering_does_not_spin(portico, certs, tmp_path):
    # a TLS client pipelines more than the input limit behind a request that
    # waits: reading stops without the worker spinning (libevent 2.1.11+ calls
    # the read callback in a loop while a bufferevent's input stays above its
    # high watermark), and every request is answered once it may go on
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "wait.lua").write_text('route.get("/wait", function() sleep(1.5); return "waited" end)')
    d = tls_daemon(portico, one_cert(certs["a"]), body=ROUTES + f'routes "{rdir}"\n')
    n = 4000   # ~140 KiB of requests: past the ~104 KiB input limit
    with tls_connect(d.port, "a.test", alpn=["http/1.1"]) as s:
        s.settimeout(10)
        s.sendall(b"GET /wait HTTP/1.1\r\nHost: a.test\r\n\r\n" +
                  b"GET /hello HTTP/1.1\r\nHost: a.test\r\n\r\n" * n)
        time.sleep(0.3)
        before = cpu_seconds(d.proc.pid)
        time.sleep(0.8)
        used = cpu_seconds(d.proc.pid) - before
        assert used < 0.3, "the daemon used %.2f s of CPU while waiting" % used
        data = b""
        while data.count(b"hello tls") < n:
            b = s.recv(1 << 20)
            assert b, "closed after %d answers" % data.count(b"hello tls")
            data += b
        assert data.startswith(b"HTTP/1.1 200") and b"waited" in data[:400]


SLOW_STREAM = r'''
route.get("/slow", function(req, res)
  res:write("first\n")
  sleep(3)
  res:write("second\n")
end)
'''


@pytest.mark.parametrize("pipelined", [0, 3300], ids=["close_notify", "fin-past-the-input-limit"])
def test_client_leaving_a_stream_over_tls_is_noticed_at_once(portico, certs, tmp_path,
                                                            pipelined):
    # TLS reads go through the bufferevent, not our own recv(): its EOF (and,
    # past the input limit, the FIN alone) must end the exchange just the same.
    # 3300 requests: past the limit, not past what the socket buffer takes
    rdir = tmp_path / "routes"
    rdir.mkdir()
    (rdir / "slow.lua").write_text(SLOW_STREAM)
    log = tmp_path / "access.log"
    d = tls_daemon(portico, one_cert(certs["a"]), body=ROUTES + f'routes "{rdir}"\n'
                   f'access_log = {{ file = "{log}", format = "json" }}\n')
    s = tls_connect(d.port, "a.test", alpn=["http/1.1"])
    s.sendall(b"GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n" * (1 + pipelined))
    got = b""
    while b"first" not in got:
        b = s.recv(4096)
        assert b, got
        got += b
    t0 = time.monotonic()
    if pipelined:
        # past the input limit the daemon reads nothing more: the FIN alone
        s.shutdown(socket.SHUT_WR)
    else:
        # a clean TLS EOF (close_notify; a FIN without it is an error to
        # OpenSSL 3, which already ended the connection)
        s.settimeout(0.5)
        try:
            s = s.unwrap()
        except (OSError, ssl.SSLError):
            pass
    line = None
    while line is None and time.monotonic() - t0 < 2:
        if log.exists() and log.read_text():
            line = json.loads(log.read_text().splitlines()[0])
        time.sleep(0.02)
    assert line is not None, "the exchange did not end when the client left"
    assert line["path"] == "/slow" and line["status"] == 499
    assert time.monotonic() - t0 < 1.5
    s.close()
