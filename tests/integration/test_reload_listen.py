"""Reload covers `listen` (issue 16 item 5): listeners added and removed by
a reload, without a restart and without a failed request on the listeners
that stay; a port taken refuses the reload; a TLS listener's certificate
renewed on disk is served after a reload, with its open connections kept."""
import signal
import socket
import ssl
import threading
import time

import pytest
import requests

from conftest import free_port, wait_port
from test_tls import certs, make_cert, one_cert  # noqa: F401

ROUTES = 'route { method = "GET", path = "/x", handler = "static", body = "x" }\n'


def reload_and_wait(d, text, gen):
    d.text = text
    d.write(text)
    d.signal(signal.SIGHUP)
    assert d.wait_log(f"generation {gen} is live", timeout=10), d.log()[-2000:]


class Load:
    """Requests on one keep-alive session, back to back, until stopped."""

    def __init__(self, url):
        self.url, self.ok, self.failed, self.stop = url, 0, [], False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        s = requests.Session()
        deadline = time.monotonic() + 60
        while not self.stop and time.monotonic() < deadline:
            try:
                r = s.get(self.url, timeout=5)
                if r.status_code == 200 and r.text == "x":
                    self.ok += 1
                else:
                    self.failed.append(r.status_code)
            except requests.RequestException as e:
                self.failed.append(repr(e))

    def end(self):
        self.stop = True
        self.t.join(10)


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except OSError:
        return True


def test_listeners_added_and_removed_by_reload(portico):
    d = portico(ROUTES, workers=2)
    base = d.text
    p2 = free_port()
    extra = 'listen { address = "127.0.0.1", port = %d, http2 = true }\n' % p2
    load = Load(d.url + "/x")
    try:
        time.sleep(0.3)
        reload_and_wait(d, base + extra, 2)
        assert wait_port(p2)
        assert requests.get(f"http://127.0.0.1:{p2}/x", timeout=5).text == "x"
        # a keep-alive connection on the new port, open across its removal
        s2 = requests.Session()
        assert s2.get(f"http://127.0.0.1:{p2}/x", timeout=5).text == "x"
        reload_and_wait(d, base, 3)
        deadline = time.monotonic() + 5
        while not refused(p2) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert refused(p2), "the removed listener still accepts"
        assert s2.get(f"http://127.0.0.1:{p2}/x", timeout=5).text == "x"   # goes on
        # the same port again: listening once more
        reload_and_wait(d, base + extra, 4)
        assert wait_port(p2)
        assert requests.get(f"http://127.0.0.1:{p2}/x", timeout=5).text == "x"
        time.sleep(0.3)
    finally:
        load.end()
    assert load.ok > 50 and load.failed == [], (load.ok, load.failed[:5])
    assert "listening on 127.0.0.1:%d" % p2 in d.log()


def test_a_port_taken_refuses_the_reload(portico):
    d = portico(ROUTES)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        d.write(d.text + 'listen { address = "127.0.0.1", port = %d }\n' % port)
        d.signal(signal.SIGHUP)
        assert d.wait_log("reload refused", timeout=10), d.log()[-2000:]
        assert ":%d" % port in d.log().split("reload refused")[-1]
        assert requests.get(d.url + "/x", timeout=5).text == "x"
        # the same reload works once the port is free
        taken.close()
        d.signal(signal.SIGHUP)
        assert d.wait_log("generation 2 is live", timeout=10)
        assert wait_port(port)
    finally:
        taken.close()


def peer_cert(port):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def test_a_renewed_certificate_is_served_after_reload(portico, tmp_path):
    a = make_cert(str(tmp_path), "one", ["localhost"])
    d = portico(ROUTES, start=False)
    plain = 'listen { address = "127.0.0.1", port = %d }' % d.port
    d.text = d.text.replace(plain, 'listen { address = "127.0.0.1", port = %d, tls = %s }'
                            % (d.port, one_cert(a)))
    d.write(d.text)
    d.start()
    first = peer_cert(d.port)
    # an open TLS keep-alive connection
    s = requests.Session()
    s.verify = False
    assert s.get(f"https://127.0.0.1:{d.port}/x", timeout=5, verify=False).text == "x"
    # the certificate renewed in place, the same file names
    make_cert(str(tmp_path), "one", ["localhost"])
    d.signal(signal.SIGHUP)
    assert d.wait_log("generation 2 is live", timeout=10), d.log()[-2000:]
    assert peer_cert(d.port) != first
    assert s.get(f"https://127.0.0.1:{d.port}/x", timeout=5, verify=False).text == "x"
    # switching the port to cleartext is refused with a reason
    d.write(d.text.replace(', tls = %s' % one_cert(a), ''))
    d.signal(signal.SIGHUP)
    assert d.wait_log("needs a restart", timeout=10)
    assert peer_cert(d.port)   # still TLS


def test_a_broken_certificate_refuses_the_reload(portico, tmp_path):
    a = make_cert(str(tmp_path), "one", ["localhost"])
    d = portico(ROUTES, start=False)
    plain = 'listen { address = "127.0.0.1", port = %d }' % d.port
    d.text = d.text.replace(plain, 'listen { address = "127.0.0.1", port = %d, tls = %s }'
                            % (d.port, one_cert(a)))
    d.write(d.text)
    d.start()
    first = peer_cert(d.port)
    with open(a[0], "w") as f:
        f.write("not a certificate\n")
    d.signal(signal.SIGHUP)
    assert d.wait_log("reload refused", timeout=10)
    assert peer_cert(d.port) == first


def test_twenty_reloads_under_wrk_fail_nothing(portico):
    """Issue 16 item 5's measure: wrk on the listener that stays while 20
    reloads add and remove a second listener and change the routes."""
    import re
    import shutil
    import subprocess
    if not shutil.which("wrk"):
        pytest.skip("wrk is not installed (apt-get install wrk)")
    d = portico(ROUTES, workers=2)
    base = d.text
    p2 = free_port()
    extra = 'listen { address = "127.0.0.1", port = %d }\n' % p2
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d8s", d.url + "/x"],
                           stdout=subprocess.PIPE, text=True)
    try:
        for i in range(20):
            time.sleep(0.3)
            text = (base + extra if i % 2 == 0 else base) + \
                'route { method = "GET", path = "/r%d", handler = "static", body = "r" }\n' % i
            reload_and_wait(d, text, i + 2)
        out, _ = wrk.communicate(timeout=60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    assert "Non-2xx" not in out, out
    assert "Socket errors" not in out, out
    assert int(re.search(r"(\d+) requests in", out).group(1)) > 1000, out
    assert d.log().count("is live") >= 20
